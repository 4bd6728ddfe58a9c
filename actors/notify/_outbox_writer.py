"""The outbox writer: one append at a time of a notifier's outbox documents and marks.

See actors/notify/_outbox.py for the documents, _outbox_batches.py for the batches of
new records, and _delivered_marks.py for the marks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import structlog

from actors.notify._delivered_marks import DeliveredMarks
from actors.notify._outbox import OUTBOX, OutboxRecord, rewrite_of, state_write
from actors.notify._outbox_batches import OutboxBatches
from actors.store import StateWrite, Store, StoreError, StoreUnavailable
from supervision import Clock

__all__ = ["OutboxWriter"]

_FIRST_RETRY_DELAY = 0.05
_MAX_RETRY_DELAY = 1.0

_log = structlog.get_logger("tocsin.notify.outbox")


class OutboxWriter:
    """Persist outbox documents through a ``Store`` in order, one append at a time.

    ``write`` queues a document (``delivered`` deletes one) with an optional token; one writer
    task (``start``; ended by ``close``) appends everything queued so far in one
    transaction, then calls ``on_written(tokens, durable)`` with the tokens of that
    append. Writes to one key therefore reach the store in the order they were made.
    ``marks`` (None: no delivered marks) gives, at each append, the writes of the
    delivered marks made since the last one (``DeliveredMarks.take``): one batch
    document, in the same append as the deletes of those deliveries' outbox documents.
    With ``batches`` (it needs ``marks``), the new records written with a token share
    one document per append (actors/notify/_outbox_batches.py): a delivery of one of
    them deletes nothing of its own, its mark says it.

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
        batches: OutboxBatches | None = None,
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
        if batches is not None and marks is None:
            raise ValueError("outbox batches need delivered marks")
        self._batches = batches
        self._gathered: list[StateWrite] = []  # new records for the next append's batch
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
        if self._due():  # marks forgotten, batches found on loading
            self._idle.clear()
            self._wakeup.set()

    async def idle(self) -> None:
        """Return once everything queued so far is appended (or given up)."""
        await self._idle.wait()

    async def compact_found(self) -> None:
        """Compact the batches loading found, in one append, before any delivery.

        Their undelivered entries become documents of their own, and the batches go.
        If the store refuses, the writer's first append tries again.
        """
        batches = self._batches
        if batches is None or not batches.due:
            return
        writes = batches.take(marks_kept_from=-1)  # no batch made yet: only what was found
        try:
            await self._store.append([], writes)
        except StoreError as error:
            batches.again(writes)
            self._log.warning("outbox batches not compacted, will retry", error=str(error))

    def write(self, record: OutboxRecord, key: str, token: Any = None) -> None:
        """Queue ``record``'s document under ``key``; ``delivered`` is what deletes one.

        A new record (with a token) goes into the append's batch when there are
        batches; any other write is ``key``'s own document, which ends its batch entry.
        (No plain delete: a batch entry deleted without a mark would come back from its
        batch at the next start.)
        """
        batches = self._batches
        write = rewrite_of(record.document(), key)
        if batches is not None:
            if (
                token is not None
                and batches.gather
                and write.value_json is not None
                and key not in batches.individual
            ):
                batches.settle(key)  # an entry of an earlier batch (not normally) is old now
                self._gathered.append(write)
                self._tokens.append(token)
                if self._linger:
                    self._urgent.set()
                self._poke()
                return
            batches.settle(key)
            batches.individual.add(key)
        self._queue(write, token)

    def delivered(self, key: str, at: float) -> None:
        """Queue the delete of ``key``'s document and, in the same append, its mark.

        ``at``: the delivery's wall-clock time (epoch seconds). An entry of a batch has
        no document of its own to delete: its mark is all (and the batch's delete, with
        its last entry's).
        """
        batches = self._batches
        if batches is not None and batches.settle(key):
            self._poke()
        else:
            self._queue(state_write((OUTBOX, key, None, None)), None)
            if batches is not None:
                batches.individual.discard(key)
        if self._marks is not None:
            self._marks.remember(key, at)

    def _due(self) -> bool:
        marks, batches = self._marks, self._batches
        return bool(
            self._pending
            or self._gathered
            or (marks is not None and marks.due)
            or (batches is not None and batches.due)
        )

    def _poke(self) -> None:
        # Something other than a pending write is due (a batch entry, a mark): wake the
        # writer if it waits. One that is not idle checks what is due after its append
        # (nothing awaits between that check and setting idle), so a burst costs this
        # test only.
        if self._idle.is_set():
            self._idle.clear()
            self._wakeup.set()

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
        if retrying or self._pending or self._gathered:
            queued = len(self._pending) + len(self._gathered)
            self._log.error("outbox writes not durable at stop", queued=queued)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            marks, batches = self._marks, self._batches
            while self._due():
                if self._linger and not self._closing and not self._urgent.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._linger):
                            await self._urgent.wait()
                self._urgent.clear()
                writes, self._pending = self._pending, []
                tokens, self._tokens = self._tokens, []
                batch: int | None = None
                if marks is not None:  # taken with the outbox deletes they go with
                    writes += marks.take()
                    if batches is not None:
                        # First: a key's last write in an append is the one applied,
                        # and a compaction's rewrite is older than any write queued (a
                        # delivery's delete after a compaction at start that failed).
                        writes[:0] = batches.take(marks.kept_from)
                        gathered, self._gathered = self._gathered, []
                        # A record rewritten on its own before this append is not batched.
                        individual = batches.individual
                        entries = [w for w in gathered if w.key not in individual]
                        if entries:
                            batch, document = batches.batch(entries, marks.next_batch)
                            writes.append(document)
                durable = await self._append(writes)
                if not durable and batch is not None and batches is not None:
                    batches.lost(batch)
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
