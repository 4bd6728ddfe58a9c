"""SqliteStore: the embedded, durable Store: one SQLite file in WAL mode, one I/O thread."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, get_args

from actors.store import _schema
from actors.store._api import (
    EventQuery,
    NewEvent,
    Snapshot,
    StateWrite,
    StoreClosed,
    StoredEvent,
    StoreError,
)
from actors.store._encoding import decode_event, encode_events, encode_writes
from actors.store._query import check_query, query_sql
from actors.store._writer import (
    AppendRequest,
    CallRequest,
    StopRequest,
    StoreStats,
    StoreWriter,
    Synchronous,
)

T = TypeVar("T")

MEMORY = ":memory:"


class SqliteStore:
    """Keep Tocsin's events and state documents in one SQLite file (WAL mode).

    ``path`` is the file (created on first open) or ``":memory:"`` (for tests; gone on
    close). ``synchronous="full"`` (the default) fsyncs every commit, so an acknowledged
    append survives power loss; ``"normal"`` survives a crash of the process (kill -9)
    but may lose the last commits on power loss. ``batch_max`` caps the rows (events plus
    writes) of one group-committed transaction; a larger single append still commits
    whole, alone.

    All SQLite work (writes, reads, checks) runs on one thread the store owns, started by
    ``open()`` and joined by ``close()``; the event loop only queues and awaits. Reads
    queue behind the writes issued before them, so a read sees every append that
    returned before it was issued. Use the store from the loop that opened it, and close
    it (or use ``async with``). One store per file: a second one gets StoreUnavailable.
    """

    def __init__(
        self, path: str | Path, *, synchronous: Synchronous = "full", batch_max: int = 1000
    ) -> None:
        if synchronous not in get_args(Synchronous):
            raise ValueError(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
        if batch_max < 1:
            raise ValueError(f"batch_max must be >= 1, not {batch_max}")
        self._path: Path | None = None if str(path) == MEMORY else Path(path)
        self._synchronous: Synchronous = synchronous
        self._batch_max = batch_max
        self._stats = StoreStats()
        self._writer: StoreWriter | None = None
        self._closed: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"SqliteStore({str(self._path or MEMORY)!r}, synchronous={self._synchronous!r})"

    @property
    def path(self) -> Path | None:
        """The store file; None for ``:memory:``."""
        return self._path

    @property
    def transactions(self) -> int:
        """Append transactions committed so far (many appends share one: group commit)."""
        return self._stats.transactions

    @property
    def failed_transactions(self) -> int:
        """Append transactions rolled back so far (each failed all its appends)."""
        return self._stats.failed_transactions

    async def __aenter__(self) -> SqliteStore:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the file (creating it if missing), check it, migrate it, start the thread.

        Raises StoreCorrupt (not SQLite, damaged, or another application's database),
        StoreVersionError (written by a newer Tocsin) or StoreUnavailable (cannot be
        read, created or migrated; or another store has it open): the file is unchanged.
        Raises StoreError if this store is already open.
        """
        if self._writer is not None:
            raise StoreError(f"{self!r} is already open")
        writer = StoreWriter(
            self._path,
            synchronous=self._synchronous,
            batch_max=self._batch_max,
            loop=asyncio.get_running_loop(),
            migrations=_schema.MIGRATIONS,
            stats=self._stats,
        )
        # Set before awaiting: a concurrent open() is refused, and an append issued while
        # opening queues behind it (and fails with StoreClosed if opening fails).
        self._writer = writer
        opened = writer.start()
        try:
            await opened
        except asyncio.CancelledError:
            self._writer = None
            # The thread finishes opening, then this stops it; nobody waits for that.
            with contextlib.suppress(StoreClosed):
                writer.submit(StopRequest(writer.loop.create_future()))
            raise
        except BaseException:
            self._writer = None
            writer.join()  # it already ended: the failure was its last act
            raise

    async def close(self) -> None:
        """Commit every append queued so far, close the file and join the thread.

        Idempotent. Appends issued after close() began raise StoreClosed.
        """
        writer = self._writer
        if writer is None:
            return
        if self._closed is None:
            self._closed = writer.loop.create_future()
            try:
                writer.submit(StopRequest(self._closed))
            except StoreClosed:  # the thread already ended (it failed): nothing to flush
                self._closed.set_result(None)
        await asyncio.shield(self._closed)
        writer.join()
        if self._writer is writer:
            self._writer, self._closed = None, None

    async def append(
        self, events: Sequence[NewEvent], writes: Sequence[StateWrite] = ()
    ) -> list[int]:
        """Durably append ``events`` and apply ``writes`` in one transaction; return the seqs.

        Returns once committed (with synchronous="full", fsynced). Appends are sequenced
        in the order they are awaited (or their tasks start); an append's events get
        consecutive seqs. Raises
        StoreUnavailable if the transaction failed (nothing of it is stored; later
        appends are tried afresh), StoreClosed if the store is not open, and TypeError or
        ValueError, before anything is queued, if an event or document is not JSON (NaN
        and Infinity are not JSON). Cancelling the caller does not withdraw the append.
        """
        writer = self._open_writer()
        request = AppendRequest(
            encode_events(events), encode_writes(writes), writer.loop.create_future()
        )
        writer.submit(request)
        return await request.future

    async def load(self) -> Snapshot:
        """Return the last sequence number and every state document."""
        return await self._call(_load)

    async def query_events(self, query: EventQuery) -> list[StoredEvent]:
        """Return the events matching ``query`` in sequence order, at most ``query.limit``.

        Raises ValueError for a negative limit or since_seq.
        """
        check_query(query)
        sql, params = query_sql(query)

        def run(conn: sqlite3.Connection) -> list[StoredEvent]:
            return [decode_event(*row) for row in conn.execute(sql, params)]

        return await self._call(run)

    async def healthy(self) -> bool:
        """Return True if a small write commits now; False if closed or the write fails.

        The probe commits one meta row (``health_probe``), so it proves the file is
        writable and the disk took a commit; it cannot promise room for a large append.
        """
        if self._writer is None or self._closed is not None:
            return False
        try:
            return await self._call(_probe)
        except StoreError:
            return False

    def _open_writer(self) -> StoreWriter:
        writer = self._writer
        if writer is None or self._closed is not None:
            raise StoreClosed(f"{self!r} is not open")
        if asyncio.get_running_loop() is not writer.loop:
            raise RuntimeError(f"{self!r} is used from another event loop than opened it")
        return writer

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the store's thread, between transactions."""
        writer = self._open_writer()
        request = CallRequest(fn, writer.loop.create_future())
        writer.submit(request)
        result: T = await request.future
        return result


def _load(conn: sqlite3.Connection) -> Snapshot:
    (last_seq,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
    documents: dict[str, dict[str, Any]] = {}
    for collection, key, value in conn.execute(
        "SELECT collection, key, value FROM documents ORDER BY collection, key"
    ):
        documents.setdefault(collection, {})[key] = json.loads(value)
    return Snapshot(last_seq=last_seq, documents=documents)


def _probe(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('health_probe', '1') ON CONFLICT (key)"
            " DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
        )
        conn.execute("COMMIT")
    except sqlite3.Error:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return False
    return True
