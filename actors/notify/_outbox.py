"""The durable outbox: each receiver's undelivered notifications and dead letters.

One state document per notification in the store's ``outbox`` collection, keyed
``<receiver>/<notification id>`` (receiver names never contain ``/``). A document is
written before the first attempt, rewritten after each failed attempt (attempts, last
error), deleted once delivered (with, in the same append, the delivered mark:
actors/notify/_delivered_marks.py), and kept as a dead letter (``dead_at`` set) after
the last retry. The outbox writes documents only, no events: delivery history is the
alert manager's (it records the ``DeliveryReceipt``s), and its event sequence stays its
own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import structlog

from actors.notify._delivered_marks import DeliveredMarks
from actors.notify._payloads import notification_document
from actors.store import Snapshot, StateWrite, Store, StoreUnavailable, encode_payload
from messages import Notification
from supervision import Clock

__all__ = [
    "OUTBOX",
    "OutboxRecord",
    "OutboxWriter",
    "load_outbox",
    "outbox_key",
]

OUTBOX = "outbox"
"""The store collection of outbox documents."""

_FIRST_RETRY_DELAY = 0.05
_MAX_RETRY_DELAY = 1.0

_log = structlog.get_logger("tocsin.notify.outbox")


def outbox_key(receiver: str, notification_id: str) -> str:
    """Return the document key of ``notification_id`` in ``receiver``'s outbox."""
    return f"{receiver}/{notification_id}"


@dataclass(slots=True)
class OutboxRecord:
    """One outbox document: a notification waiting for delivery, or a dead letter.

    ``recorded_at`` is wall-clock epoch seconds (ages survive a process restart);
    ``order`` is the receiver's arrival order, so a reload keeps each alert's order.
    Treat it as a value: ``dataclasses.replace`` makes a changed copy. (Not frozen: a
    frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``,
    five times the cost, and a notifier makes one per notification.)
    """

    receiver: str
    notification: Notification
    recorded_at: float
    order: int
    attempts: int = 0
    error: str | None = None
    dead_at: float | None = None

    @property
    def key(self) -> str:
        """Return the document key."""
        return outbox_key(self.receiver, self.notification.id)

    @property
    def dead(self) -> bool:
        """Return True for a dead letter."""
        return self.dead_at is not None

    def document(self) -> dict[str, Any]:
        """Return the JSON document stored for this record."""
        return {
            "receiver": self.receiver,
            "notification": notification_document(self.notification),
            "recorded_at": self.recorded_at,
            "order": self.order,
            "attempts": self.attempts,
            "error": self.error,
            "dead_at": self.dead_at,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> OutboxRecord:
        """Rebuild a record; raise ValueError (or a pydantic ValidationError) if bad."""
        try:
            return cls(
                receiver=str(document["receiver"]),
                notification=Notification.model_validate(document["notification"]),
                recorded_at=float(document["recorded_at"]),
                order=int(document["order"]),
                attempts=int(document["attempts"]),
                error=None if document.get("error") is None else str(document["error"]),
                dead_at=None if document.get("dead_at") is None else float(document["dead_at"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"not an outbox document: {error!r}") from error


def load_outbox(snapshot: Snapshot, receiver: str) -> tuple[list[OutboxRecord], list[str]]:
    """Return ``receiver``'s records in arrival order, and the problems found.

    A document that cannot be read is left in the store, reported (one line each, with
    its key) and skipped: one bad document must not stop a notifier from starting.
    """
    records: list[OutboxRecord] = []
    problems: list[str] = []
    prefix = receiver + "/"
    for key, document in snapshot.documents.get(OUTBOX, {}).items():
        if not key.startswith(prefix):
            continue
        try:
            record = OutboxRecord.from_document(document)
        except ValueError as error:
            problems.append(f"{key}: {error}")
            continue
        if record.key != key:
            problems.append(f"{key}: the document is {record.key!r}'s")
            continue
        records.append(record)
    records.sort(key=lambda record: (record.order, record.recorded_at, record.key))
    return records, problems


# StateWrite from a tuple without the NamedTuple's __new__, a Python function: a frame
# per write, and a notifier makes two per notification.
_state_write = cast(
    "Callable[[tuple[str, str, Mapping[str, Any] | None, str | None]], StateWrite]",
    functools.partial(tuple.__new__, StateWrite),
)


class OutboxWriter:
    """Persist outbox documents through a ``Store`` in order, one append at a time.

    ``write`` queues a document (None deletes it) with an optional token; one writer
    task (``start``; ended by ``close``) appends everything queued so far in one
    transaction, then calls ``on_written(tokens, durable)`` with the tokens of that
    append. Writes to one key therefore reach the store in the order they were made.
    ``marks`` (None: no delivered marks) gives, at each append, the writes of the
    delivered marks made since the last one (``DeliveredMarks.take``): one batch
    document, in the same append as the deletes of those deliveries' outbox documents.

    A ``StoreUnavailable`` append is retried with backoff for ``retry_for`` seconds of
    ``clock``; after that, or on any other error, the writes of that append are dropped
    and reported with ``durable=False`` (the caller decides; the notifier delivers
    anyway: availability first). The next append is tried afresh.

    ``linger`` (seconds, 0: off): when nothing queued has a token (nobody waits for it
    to be durable: a delivered mark, a forgotten key, a rewrite after a failed attempt),
    the append waits up to that long for more writes to share its transaction; a write
    with a token, or ``close``, ends the wait at once. Fewer, larger transactions cost
    less per write (one fsync and one hand-over to the store's thread each, and pages
    written once for all their rows). Real time on purpose, not ``clock``: it is a
    matter of throughput, and an injected clock would hold the writes until advanced.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        on_written: Callable[[list[Any], bool], None],
        retry_for: float = 10.0,
        log: Any = None,
        linger: float = 0.0,
        marks: DeliveredMarks | None = None,
    ) -> None:
        if not linger >= 0:
            raise ValueError(f"linger must be >= 0 seconds, not {linger}")
        self._linger = linger
        self._store = store
        self._clock = clock
        self._on_written = on_written
        self._retry_for = retry_for
        self._log = log if log is not None else _log
        # What the next append writes, and the tokens of those writes that had one:
        # two lists rather than pairs, so that an append takes both without a pass.
        self._pending: list[StateWrite] = []
        self._tokens: list[Any] = []
        self._marks = marks
        self._wakeup = asyncio.Event()
        self._urgent = asyncio.Event()  # a write with a token is queued
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._sleeping = False
        self._task: asyncio.Task[None] | None = None
        self.appends = 0
        """Appends that committed (for tests and benchmarks)."""

    def start(self) -> None:
        """Start the writer task; call once, from the owner's ``on_start``."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="notify-outbox")
        if self._marks is not None and self._marks.due:  # marks forgotten on loading
            self._idle.clear()
            self._wakeup.set()

    def write(self, record: OutboxRecord | None, key: str, token: Any = None) -> None:
        """Queue ``record``'s document under ``key`` (None: delete it)."""
        if record is None:
            self._queue(_state_write((OUTBOX, key, None, None)), token)
            return
        value = record.document()
        # Encoded here in Rust (encode_payload: half the CPU of the store's json encoder,
        # the same decoded values); what is not JSON is left to the append to refuse
        # (the writer then reports it not durable), not raised to the caller.
        try:
            text: str | None = encode_payload(value)
        except (TypeError, ValueError):
            text = None
        self._queue(_state_write((OUTBOX, key, value, text)), token)

    def delivered(self, key: str, at: float) -> None:
        """Queue the delete of ``key``'s document and, in the same append, its mark.

        ``at``: the delivery's wall-clock time (epoch seconds).
        """
        self._queue(_state_write((OUTBOX, key, None, None)), None)
        if self._marks is not None:
            self._marks.remember(key, at)

    def _queue(self, write: StateWrite, token: Any) -> None:
        pending = self._pending
        pending.append(write)
        if token is not None:
            self._tokens.append(token)
            if self._linger:
                self._urgent.set()
        if len(pending) == 1:  # the first since the last append took the queue
            self._idle.clear()
            self._wakeup.set()

    async def close(self) -> None:
        """Persist what is queued (one try each, no retry), then end the writer task.

        A writer waiting to retry a refused append is not waited for: the store is
        failing, and what it holds (logged) was not durable anyway.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._closing = True
        retrying = self._sleeping
        if not task.done() and not retrying:
            self._urgent.set()  # ends a linger
            self._wakeup.set()
            await self._idle.wait()
        task.cancel()
        await asyncio.wait([task])
        if retrying or self._pending:
            self._log.error("outbox writes not durable at stop", queued=len(self._pending))

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            marks = self._marks
            while self._pending or (marks is not None and marks.due):
                if self._linger and not self._closing and not self._urgent.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._linger):
                            await self._urgent.wait()
                self._urgent.clear()
                writes, self._pending = self._pending, []
                tokens, self._tokens = self._tokens, []
                if marks is not None:  # taken with the outbox deletes they go with
                    writes += marks.take()
                durable = await self._append(writes)
                if tokens:
                    try:
                        self._on_written(tokens, durable)
                    except Exception:
                        self._log.exception("outbox callback raised")
            self._idle.set()

    async def _append(self, writes: list[StateWrite]) -> bool:
        delay = _FIRST_RETRY_DELAY
        give_up_at = self._clock.now() + self._retry_for
        while True:
            try:
                await self._store.append([], writes)
            except StoreUnavailable as error:
                if self._closing or self._clock.now() + delay > give_up_at:
                    self._log.error(
                        "outbox write failed, not durable", writes=len(writes), error=str(error)
                    )
                    return False
                self._log.warning("outbox write failed, retrying", error=str(error), delay=delay)
                self._sleeping = True
                try:
                    await self._clock.sleep(delay)
                finally:
                    self._sleeping = False
                delay = min(delay * 2, _MAX_RETRY_DELAY)
            except Exception as error:
                self._log.error(
                    "outbox write failed, not durable", writes=len(writes), error=repr(error)
                )
                return False
            else:
                self.appends += 1
                return True
