"""The store's one I/O thread: it owns the SQLite connection and group-commits appends.

The event loop never touches SQLite. It puts requests on a queue and awaits their
futures; the thread takes every request queued so far, commits the appends among them in
one transaction (group commit: one fsync for the whole batch), and resolves the futures
with one ``call_soon_threadsafe`` per batch. Reads run on the same thread, between
transactions, in queue order, so a read issued after an append returned sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog

from actors.store._api import StoreClosed, StoreError, StoreUnavailable
from actors.store._encoding import EventRow, WriteRow
from actors.store._schema import Migration, create_schema, latest_version, migrate
from actors.store._statements import INSERT_EVENTS, apply_writes
from actors.store._storefile import (
    check_header,
    create_store_file,
    inspect_store_file,
    lock_store_file,
    readable_by_others,
    remove_staging,
)

Synchronous = Literal["full", "normal"]

_log = structlog.get_logger("tocsin.store")


@dataclass(slots=True, eq=False)
class AppendRequest:
    """Events and writes to commit together; the future gets their seqs."""

    events: list[EventRow]
    writes: list[WriteRow]
    future: asyncio.Future[list[int]]

    @property
    def rows(self) -> int:
        return max(1, len(self.events) + len(self.writes))


@dataclass(slots=True, eq=False)
class CallRequest:
    """A function to run with the connection, between transactions."""

    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]


@dataclass(slots=True, eq=False)
class StopRequest:
    """Finish what is queued before this, close the connection, end the thread."""

    future: asyncio.Future[None]


Request = AppendRequest | CallRequest | StopRequest
Outcome = tuple[asyncio.Future[Any], object, BaseException | None]


@dataclass(slots=True)
class StoreStats:
    """Counters a store keeps across reopens; written by the thread, read anywhere."""

    transactions: int = 0
    """append transactions committed"""
    failed_transactions: int = 0
    """append transactions rolled back (their appends got StoreUnavailable)"""
    events: int = 0
    """events committed"""


class StoreWriter:
    """Own one SQLite connection on one thread; serve queued requests until stopped.

    Create it, ``start()`` it and await the returned future (which raises what opening
    raised); then ``submit()`` requests. A StopRequest ends it; ``join()`` after that.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        synchronous: Synchronous,
        batch_max: int,
        loop: asyncio.AbstractEventLoop,
        migrations: Sequence[Migration],
        stats: StoreStats,
    ) -> None:
        self.path = path
        self.name = ":memory:" if path is None else str(path)
        self.loop = loop
        self.stats = stats
        self._synchronous = synchronous
        self._batch_max = batch_max
        self._migrations = migrations
        self._queue: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._accepting = True
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._next_seq = 1
        self._failing = False
        self._opened: asyncio.Future[None] = loop.create_future()
        self._pending: deque[Request] = deque()
        self._thread = threading.Thread(
            target=self._run, name=f"tocsin-store:{self.name}", daemon=True
        )

    def start(self) -> asyncio.Future[None]:
        """Start the thread; the future resolves once the store is open (or fails to)."""
        self._thread.start()
        return self._opened

    def submit(self, request: Request) -> None:
        """Queue ``request``; raise StoreClosed if the thread no longer takes requests."""
        with self._lock:
            if not self._accepting:
                raise StoreClosed(f"the store {self.name} is closed")
            self._queue.put(request)

    def join(self) -> None:
        """Wait for the thread to end (immediate once a StopRequest was answered)."""
        self._thread.join()

    # -- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._open()
        except BaseException as error:
            if not isinstance(error, StoreError):
                failure = StoreUnavailable(f"cannot open the store {self.name}: {error!r}")
                failure.__cause__ = error
                error = failure
            self._shutdown([(self._opened, None, error)])
            return
        self._settle([(self._opened, None, None)])
        crash: BaseException | None = None
        try:
            self._serve()
        except BaseException as error:  # a bug: fail what is queued rather than hang it
            crash = error
            _log.exception("store thread failed", store=self.name)
        self._shutdown([], crash)

    def _open(self) -> None:
        if self.path is None:
            self._conn = conn = sqlite3.connect(":memory:", isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            create_schema(conn, self._migrations)
            conn.execute("COMMIT")
        else:
            self._open_file(self.path)
        assert self._conn is not None
        (last_seq,) = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        self._next_seq = last_seq + 1
        _log.info("store opened", store=self.name, last_seq=last_seq, synchronous=self._synchronous)

    def _open_file(self, path: Path) -> None:
        if not path.exists():
            create_store_file(path, self._migrations)
        self._lock_fd = lock_store_file(path)
        remove_staging(path)  # a crash between creating the store and tidying up
        check_header(path, self._lock_fd)
        if readable_by_others(path):
            _log.warning(
                "the store file is readable by other users; it holds run-time receivers' "
                "secrets: chmod 600 it",
                store=self.name,
                path=str(path),
            )
        version = inspect_store_file(path, self._migrations)
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
        except sqlite3.Error as error:
            raise StoreUnavailable(f"cannot open the store {path}: {error}") from error
        self._conn = conn
        try:
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode != "wal":
                raise StoreUnavailable(f"{path} cannot use WAL mode (journal_mode is {mode})")
            conn.execute(f"PRAGMA synchronous = {self._synchronous.upper()}")
            latest = latest_version(self._migrations)
            if version < latest:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    migrate(conn, version, self._migrations)
                    conn.execute("COMMIT")
                except BaseException:
                    self._rollback(conn)
                    raise
                _log.info("store migrated", store=self.name, from_version=version, to=latest)
        except sqlite3.Error as error:
            raise StoreUnavailable(
                f"cannot open the store {path} (schema v{version}, this Tocsin writes "
                f"v{latest_version(self._migrations)}): {error}; the file is unchanged"
            ) from error

    def _serve(self) -> None:
        pending = self._pending
        while True:
            if not pending:
                pending.append(self._queue.get())
            while True:  # take everything queued so far: that is the group in group commit
                try:
                    pending.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            head = pending[0]
            if isinstance(head, AppendRequest):
                self._settle(self._commit(self._take_batch(pending)))
            elif isinstance(head, CallRequest):
                pending.popleft()
                self._settle([self._call(head)])
            else:  # a StopRequest: _shutdown answers it and whatever follows it
                return

    def _take_batch(self, pending: deque[Request]) -> list[AppendRequest]:
        first = pending.popleft()
        assert isinstance(first, AppendRequest)
        batch, rows = [first], first.rows
        while pending:
            head = pending[0]
            if not isinstance(head, AppendRequest) or rows + head.rows > self._batch_max:
                break
            batch.append(head)
            rows += head.rows
            pending.popleft()
        return batch

    def _commit(self, batch: list[AppendRequest]) -> list[Outcome]:
        conn = self._conn
        assert conn is not None
        seq = self._next_seq
        event_values: list[Any] = []
        assigned: list[list[int]] = []
        for request in batch:
            seqs = list(range(seq, seq + len(request.events)))
            for event_seq, row in zip(seqs, request.events, strict=True):
                event_values.append(event_seq)
                event_values.extend(row)
            assigned.append(seqs)
            seq += len(seqs)
        try:
            if conn.in_transaction:  # a ROLLBACK that failed last time: finish it first
                conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            INSERT_EVENTS.run(conn, event_values)
            apply_writes(conn, (row for request in batch for row in request.writes))
            conn.execute("COMMIT")
        except Exception as error:
            self._rollback(conn)
            self.stats.failed_transactions += 1
            if not self._failing:
                _log.warning("store append failed", store=self.name, error=str(error))
            self._failing = True
            return [(request.future, None, self._unavailable(error)) for request in batch]
        if self._failing:
            _log.info("store appends succeed again", store=self.name)
            self._failing = False
        self.stats.transactions += 1
        self.stats.events += seq - self._next_seq
        self._next_seq = seq
        return [(request.future, seqs, None) for request, seqs in zip(batch, assigned, strict=True)]

    def _rollback(self, conn: sqlite3.Connection) -> None:
        # SQLite rolls some failures (SQLITE_FULL, SQLITE_IOERR) back by itself; then
        # there is no transaction left to roll back.
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error as error:
                _log.warning("store rollback failed", store=self.name, error=str(error))

    def _unavailable(self, error: Exception) -> StoreUnavailable:
        name = getattr(error, "sqlite_errorname", type(error).__name__)
        unavailable = StoreUnavailable(
            f"append to {self.name} failed and was rolled back: {error} ({name}); "
            "nothing of it is stored"
        )
        unavailable.__cause__ = error
        return unavailable

    def _call(self, request: CallRequest) -> Outcome:
        assert self._conn is not None
        try:
            return (request.future, request.fn(self._conn), None)
        except sqlite3.Error as error:
            failure = StoreUnavailable(f"reading {self.name} failed: {error}")
            failure.__cause__ = error
            return (request.future, None, failure)
        except Exception as error:
            return (request.future, None, error)

    def _shutdown(self, outcomes: list[Outcome], crash: BaseException | None = None) -> None:
        """Stop taking requests, close the connection, answer everything still queued."""
        with self._lock:
            self._accepting = False
        left = list(self._pending)
        while True:
            try:
                left.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error as error:
                _log.warning("store close failed", store=self.name, error=str(error))
            self._conn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        stops: list[Outcome] = []
        for request in left:
            if isinstance(request, StopRequest):
                stops.append((request.future, None, None))
            elif crash is not None:
                failure = StoreUnavailable(f"the store {self.name} failed: {crash!r}")
                outcomes.append((request.future, None, failure))
            else:
                outcomes.append((request.future, None, StoreClosed(f"{self.name} is closed")))
        self._settle(outcomes + stops)

    def _settle(self, outcomes: list[Outcome]) -> None:
        # RuntimeError: the loop is closed, so nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(_resolve, outcomes)


def _resolve(outcomes: list[Outcome]) -> None:
    for future, result, error in outcomes:
        if future.done():  # its caller was cancelled; the outcome stands all the same
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
