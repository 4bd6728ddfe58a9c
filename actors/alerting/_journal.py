"""Journal: persist the alert manager's transitions in order, in batches, before telling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from actors.store import NewEvent, StateWrite, Store, StoreUnavailable
from supervision import Clock

__all__ = ["Journal", "JournalBroken", "JournalStalled"]

_FIRST_RETRY_DELAY = 0.05
_MAX_RETRY_DELAY = 1.0


class JournalBroken(Exception):
    """The store refused a batch for good; what it held is not durable.

    ``__cause__`` is the store's error. The owner restarts and reloads what is durable.
    """


class JournalStalled(Exception):
    """The store refuses writes; what waited for durability is not confirmed.

    The events are kept, in order, and appended once the store takes writes again
    (unless the process stops first). ``__cause__`` is the store's last refusal.
    """


@dataclass(slots=True, eq=False)
class _Completion:
    position: int
    done: Callable[[int], None]
    failed: Callable[[BaseException], None] | None


@dataclass(slots=True, eq=False)
class _Batch:
    events: list[NewEvent] = field(default_factory=list)
    completions: list[_Completion] = field(default_factory=list)
    touched: bool = False


class Journal:
    """Append transitions through a ``Store`` one batch at a time, in order (group commit).

    The owner ``add``s the events of each message as it handles it and registers what
    must wait for durability with ``after``. One writer task (owned here, started by
    ``start``, ended by ``close``) seals everything added so far into one batch, collects
    the state writes of that batch (``collect_writes``), appends both in one
    transaction, then runs the batch's completions in order and hands the committed
    events to ``committed``. Messages keep being handled while a batch is in flight:
    they accumulate in the next batch, which is what makes group commit work.

    Checkpoints: state documents are not written with every batch. When ``checkpoint``
    is given and ``checkpoint_events`` events or ``checkpoint_interval`` seconds have
    passed since the last one (or ``request_checkpoint`` was called), it is called at
    the seal of a batch: it snapshots the owner's state as of that batch and returns a
    function that, given the seq of the batch's last event, returns the writes; they
    go out with the next append (at once if nothing else is pending). After a crash,
    the owner reloads the last checkpoint and replays the events after its seq.

    One batch is in flight at a time, so a failed batch never lets a later one commit
    ahead of it. A batch the store refuses with ``StoreUnavailable`` (disk full,
    read-only, I/O error) is kept and retried with backoff (at most a second apart)
    until the store takes it: nothing is dropped, and the owner is not restarted (a
    restart cannot mend a disk, and would forget what the evaluators told it). While
    it is refused, ``failing`` holds the store's error, so the owner can refuse new
    commands before applying them; once ``retry_for`` seconds (of ``clock``) have
    passed, every completion waiting (in flight or pending) fails with
    ``JournalStalled``, and so does each one added later, at the next retry. Any other
    error breaks the journal: every pending completion fails with ``JournalBroken`` and
    ``broken`` is called once, so the owner restarts from what is durable.
    """

    def __init__(
        self,
        store: Store,
        last_seq: int,
        *,
        clock: Clock,
        collect_writes: Callable[[], list[StateWrite]],
        committed: Callable[[list[tuple[int, NewEvent]]], None],
        broken: Callable[[BaseException], None],
        checkpoint: Callable[[], Callable[[int], list[StateWrite]]] | None = None,
        checkpoint_events: int = 20_000,
        checkpoint_interval: float = 5.0,
        retry_for: float = 10.0,
        log: Any = None,
    ) -> None:
        self.last_seq = last_seq
        """The sequence number of the last durable event (the store's, at start)."""
        self._store = store
        self._clock = clock
        self._collect_writes = collect_writes
        self._committed = committed
        self._broken = broken
        self._retry_for = retry_for
        self._log = log
        self._pending = _Batch()
        self._in_flight: _Batch | None = None
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._failing: StoreUnavailable | None = None
        self._checkpoint = checkpoint
        self._checkpoint_events = checkpoint_events
        self._checkpoint_interval = checkpoint_interval
        self._since_checkpoint = 0
        self._checkpoint_at = clock.now()
        self._checkpoint_wanted = False
        self._carry: Callable[[int], list[StateWrite]] | None = None
        self.batches = 0
        """Batches committed (for tests and benchmarks)."""

    @property
    def error(self) -> BaseException | None:
        """Return the error that broke the journal, or None while it works."""
        return self._error

    @property
    def failing(self) -> StoreUnavailable | None:
        """Return the store's last refusal while a batch waits to be retried, else None."""
        return self._failing

    def start(self) -> None:
        """Start the writer task; call once, from the owner's ``on_start``."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="alert-journal")

    def add(self, events: Sequence[NewEvent]) -> None:
        """Queue the events of one message (possibly none: its writes still count)."""
        pending = self._pending
        pending.events.extend(events)
        pending.touched = True
        self._kick()

    def after(
        self, done: Callable[[int], None], failed: Callable[[BaseException], None] | None = None
    ) -> None:
        """Call ``done(seq)`` once everything added so far is durable.

        ``seq`` is the sequence number of the last event added before this call (or of
        the last durable event if none was). With nothing pending or in flight, ``done``
        runs at once. If the journal breaks first, ``failed(error)`` runs instead.
        """
        if self._error is not None:
            if failed is not None:
                failed(self._error)
            return
        pending = self._pending
        if not pending.touched and self._in_flight is None and not pending.completions:
            done(self.last_seq)
            return
        pending.completions.append(_Completion(len(pending.events), done, failed))
        self._kick()

    def request_checkpoint(self) -> None:
        """Write a checkpoint with the next batch (now, if nothing is pending)."""
        self._checkpoint_wanted = True
        self._pending.touched = True
        self._kick()

    async def drain(self) -> None:
        """Wait until everything added so far is durable (or the journal broke, or the
        store refuses writes)."""
        while (
            self._error is None
            and self._failing is None
            and (self._in_flight is not None or self._pending.touched or self._pending.completions)
        ):
            self._idle.clear()
            self._kick()
            await self._idle.wait()

    async def close(self) -> None:
        """Persist what is pending, then end the writer task."""
        if self._task is None:
            return
        if self._error is None and not self._task.done():
            await self.drain()
            if self._checkpoint is not None and (self._since_checkpoint or self._carry):
                self.request_checkpoint()  # a clean stop leaves nothing to replay
                await self.drain()
        task, self._task = self._task, None
        task.cancel()
        await asyncio.wait([task])
        if self._failing is not None:
            in_flight = self._in_flight.events if self._in_flight is not None else []
            held = len(self._pending.events) + len(in_flight)
            if self._log is not None:
                self._log.error("stopped while the store refuses writes", lost_events=held)
        stopped = JournalBroken("the alert manager stopped")
        if self._in_flight is not None:
            self._fail(self._in_flight, stopped)
        self._fail(self._pending, stopped)

    # -- the writer task ---------------------------------------------------------------------

    def _kick(self) -> None:
        if self._in_flight is None and not self._wakeup.is_set():
            self._wakeup.set()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending.touched or self._pending.completions:
                batch, self._pending = self._pending, _Batch()
                self._in_flight = batch
                try:
                    seqs = await self._append(batch.events, self._seal(batch))
                except Exception as error:
                    self._break(batch, error)
                    return
                self._in_flight = None
                self.batches += 1
                previous = self.last_seq
                if seqs:
                    self.last_seq = seqs[-1]
                for completion in batch.completions:
                    position = completion.position
                    self._call(completion.done, seqs[position - 1] if position else previous)
                if batch.events:
                    self._call(self._committed, list(zip(seqs, batch.events, strict=True)))
            self._idle.set()

    def _seal(self, batch: _Batch) -> list[StateWrite]:
        writes = self._collect_writes()
        if self._carry is not None:
            writes.extend(self._carry(self.last_seq))
            self._carry = None
        if self._checkpoint is None:
            return writes
        self._since_checkpoint += len(batch.events)
        due = self._checkpoint_wanted or (
            self._since_checkpoint > 0
            and (
                self._since_checkpoint >= self._checkpoint_events
                or self._clock.now() - self._checkpoint_at >= self._checkpoint_interval
            )
        )
        if due:
            # The state as of this batch; its writes need the batch's last seq, so
            # they go out with the next append.
            self._carry = self._checkpoint()
            self._pending.touched = True
            self._since_checkpoint = 0
            self._checkpoint_at = self._clock.now()
            self._checkpoint_wanted = False
        return writes

    async def _append(self, events: list[NewEvent], writes: list[StateWrite]) -> list[int]:
        if not events and not writes:
            return []
        delay = _FIRST_RETRY_DELAY
        failing_since = self._clock.now()
        while True:
            try:
                seqs = await self._store.append(events, writes)
            except StoreUnavailable as error:
                if self._failing is None and self._log is not None:
                    self._log.warning("the store refuses writes: retrying", error=str(error))
                self._failing = error
                self._idle.set()  # a drain() gives up: nothing comes of waiting
                if self._clock.now() - failing_since >= self._retry_for:
                    self._stall(error)
                await self._clock.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_DELAY)
                continue
            if self._failing is not None:
                self._failing = None
                if self._log is not None:
                    self._log.info("the store takes writes again")
            return seqs

    def _stall(self, error: StoreUnavailable) -> None:
        stalled = JournalStalled(
            f"not confirmed: the store refuses writes ({error}); the change is held in "
            "memory and stored once the store takes writes again, unless the server "
            "stops first"
        )
        stalled.__cause__ = error
        if self._in_flight is not None:
            self._fail(self._in_flight, stalled)
        self._fail(self._pending, stalled)

    def _call(self, callback: Callable[[Any], None], argument: object) -> None:
        # What runs after a commit must not stop the journal: the events are durable.
        try:
            callback(argument)
        except Exception:
            if self._log is not None:
                self._log.exception("after-commit callback raised")

    def _break(self, batch: _Batch, error: BaseException) -> None:
        broken = JournalBroken(f"the store refused a batch of {len(batch.events)} events: {error}")
        broken.__cause__ = error
        self._error = broken
        self._in_flight = None
        self._fail(batch, broken)
        self._fail(self._pending, broken)
        self._idle.set()
        if self._log is not None:
            self._log.error("journal broken", error=str(error), lost_events=len(batch.events))
        self._broken(broken)

    def _fail(self, batch: _Batch, error: BaseException) -> None:
        completions, batch.completions = batch.completions, []
        for completion in completions:
            if completion.failed is not None:
                completion.failed(error)
