"""SqliteStore's I/O thread: group commit, batch limits, and an event loop that never waits."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from actors.store import EventQuery, NewEvent, SqliteStore, StateWrite, StoreError


def event(n: int) -> NewEvent:
    return NewEvent(kind="fired", at=float(n), payload={"n": n})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "store.db") as opened:
        yield opened


class Gate:
    """Hold the store's thread inside its next transaction until ``release()``.

    A temporary trigger calls a Python function on the store's connection for every
    inserted event; the first call tells the loop (``entered``) and waits for the test.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.entered = asyncio.Event()
        self._loop = loop
        self._release = threading.Event()
        self._held = False

    async def install(self, store: SqliteStore) -> None:
        await store._call(self._install)

    def release(self) -> None:
        self._release.set()

    def _install(self, conn: sqlite3.Connection) -> None:
        conn.create_function("hold_here", 0, self._hold)
        conn.execute(
            "CREATE TEMP TRIGGER hold BEFORE INSERT ON events BEGIN SELECT hold_here(); END"
        )

    def _hold(self) -> None:
        if not self._held:
            self._held = True
            self._loop.call_soon_threadsafe(self.entered.set)
            self._release.wait(timeout=20)


@pytest.fixture
async def gate(store: SqliteStore) -> AsyncIterator[Gate]:
    held = Gate(asyncio.get_running_loop())
    await held.install(store)
    try:
        yield held
    finally:
        held.release()


async def test_a_thousand_concurrent_appends_share_far_fewer_transactions(
    store: SqliteStore,
) -> None:
    before = store.transactions

    results = await asyncio.gather(*(store.append([event(n)]) for n in range(1000)))

    assert sorted(seq for (seq,) in results) == list(range(1, 1001))
    assert store.transactions - before <= 100


async def test_appends_queued_while_a_transaction_runs_commit_together_in_the_next(
    store: SqliteStore, gate: Gate
) -> None:
    first = asyncio.create_task(store.append([event(0)]))
    await gate.entered.wait()  # the thread is inside the first transaction
    queued = [asyncio.create_task(store.append([event(n)])) for n in range(1, 501)]
    await asyncio.sleep(0)  # one loop turn: each task runs up to its await, queued
    transactions = store.transactions

    gate.release()

    assert await first == [1]
    assert [await task for task in queued] == [[n] for n in range(2, 502)]
    assert store.transactions - transactions == 2  # the held one, then all 500 queued


async def test_batch_max_caps_the_rows_of_one_transaction(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "store.db", batch_max=100) as store:
        gate = Gate(asyncio.get_running_loop())
        await gate.install(store)
        first = asyncio.create_task(store.append([event(0)]))
        await gate.entered.wait()
        queued = asyncio.gather(
            *(store.append([event(n)], [StateWrite("c", str(n), {})]) for n in range(500))
        )
        await asyncio.sleep(0)  # one loop turn: the gathered appends queue themselves
        transactions = store.transactions
        gate.release()
        await first
        await queued

        assert store.transactions - transactions == 1 + 500 * 2 // 100


async def test_an_append_bigger_than_batch_max_still_commits_whole(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "store.db", batch_max=10) as store:
        seqs = await store.append([event(n) for n in range(250)])

        assert seqs == list(range(1, 251))
        assert store.transactions == 1


@pytest.mark.parametrize("count", [1, 2, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1000, 1301])
async def test_appends_of_any_size_cut_into_statements_keep_every_row_and_the_last_write(
    tmp_path: Path, count: int
) -> None:
    # Rows go in statements of powers of two (the largest 128 events, 256 documents, 512
    # deleted keys): every count must land whole, in order, each key with its last write.
    async with SqliteStore(tmp_path / "store.db", batch_max=100_000) as store:
        writes = [StateWrite("c", f"k{n}", {"n": n}) for n in range(count)]
        writes += [StateWrite("c", f"k{n}", {"n": -n}) for n in range(0, count, 3)]  # rewritten
        writes += [StateWrite("c", f"k{n}", None) for n in range(1, count, 3)]  # deleted
        writes += [StateWrite("gone", f"x{n}", None) for n in range(count)]  # never there
        seqs = await store.append([event(n) for n in range(count)], writes)
        snapshot = await store.load()
        events = await store.query_events(EventQuery(limit=count + 1))

    assert seqs == list(range(1, count + 1))
    assert [stored.payload["n"] for stored in events] == list(range(count))
    expected = {f"k{n}": {"n": -n if n % 3 == 0 else n} for n in range(count) if n % 3 != 1}
    assert snapshot.documents.get("c", {}) == expected
    assert "gone" not in snapshot.documents


async def test_the_loop_runs_other_coroutines_while_the_thread_is_inside_a_transaction(
    store: SqliteStore, gate: Gate
) -> None:
    append = asyncio.create_task(store.append([event(1)]))
    await gate.entered.wait()

    pong = asyncio.Event()
    ticks = 0

    async def other_work() -> None:
        nonlocal ticks
        for _ in range(100):
            ticks += 1
            await asyncio.sleep(0)
        pong.set()

    async with asyncio.TaskGroup() as group:
        group.create_task(other_work())
        await pong.wait()
        assert ticks == 100
        assert not append.done()
        gate.release()

    assert await append == [1]


async def test_the_loop_stays_responsive_while_a_big_batch_commits(store: SqliteStore) -> None:
    big = [NewEvent("fired", float(n), {"n": n, "labels": {"i": str(n)}}) for n in range(10_000)]
    append = asyncio.create_task(store.append(big))
    await asyncio.sleep(0)  # one loop turn: the append encodes its rows and queues them
    loop = asyncio.get_running_loop()
    ticks, longest, last = 0, 0.0, loop.time()

    while not append.done():
        await asyncio.sleep(0)
        now = loop.time()
        ticks, longest, last = ticks + 1, max(longest, now - last), now

    assert await append == list(range(1, 10_001))
    assert ticks >= 10, "the loop hardly ran while the thread committed"
    assert longest < 1.0, f"the loop stalled for {longest:.3f} s"


async def test_a_read_issued_after_an_append_returned_sees_it(store: SqliteStore) -> None:
    for n in range(1, 21):
        await store.append([event(n)], [StateWrite("c", "last", {"n": n})])
        assert (await store.load()).documents["c"]["last"] == {"n": n}
        assert (await store.query_events(EventQuery(since_seq=n - 1)))[0].seq == n


async def test_reads_queue_behind_the_appends_issued_before_them(store: SqliteStore) -> None:
    first = [asyncio.create_task(store.append([event(n)])) for n in range(50)]
    first_load = asyncio.create_task(store.load())
    second = [asyncio.create_task(store.append([event(n)])) for n in range(50)]
    second_load = asyncio.create_task(store.load())

    await asyncio.gather(*first, *second)

    assert (await first_load).last_seq == 50
    assert (await second_load).last_seq == 100


async def test_an_append_whose_caller_was_cancelled_is_still_committed(
    store: SqliteStore, gate: Gate
) -> None:
    held = asyncio.create_task(store.append([event(0)]))
    await gate.entered.wait()
    cancelled = asyncio.create_task(store.append([event(1)]))
    await asyncio.sleep(0)  # one loop turn: it queues its request
    cancelled.cancel()
    gate.release()

    assert await held == [1]
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert (await store.load()).last_seq == 2


@pytest.mark.parametrize("synchronous", ["full", "normal"])
async def test_both_synchronous_modes_commit_and_reopen(tmp_path: Path, synchronous: str) -> None:
    path = tmp_path / "store.db"
    async with SqliteStore(path, synchronous=synchronous) as store:  # type: ignore[arg-type]
        await asyncio.gather(*(store.append([event(n)]) for n in range(100)))
        (mode,) = await store._call(_fetch_one("PRAGMA synchronous"))
        assert mode == {"full": 2, "normal": 1}[synchronous]

    async with SqliteStore(path) as reopened:
        assert (await reopened.load()).last_seq == 100


def test_bad_options_are_refused_when_the_store_is_made() -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SqliteStore(":memory:", synchronous="off")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_max"):
        SqliteStore(":memory:", batch_max=0)


async def test_a_memory_sqlite_store_works_and_forgets_on_close() -> None:
    store = SqliteStore(":memory:")
    async with store:
        assert await store.append([event(1)]) == [1]
        assert store.path is None
    async with store:
        assert (await store.load()).last_seq == 0


def _fetch_one(sql: str) -> Callable[[sqlite3.Connection], tuple[object, ...]]:
    def fetch(conn: sqlite3.Connection) -> tuple[object, ...]:
        row: tuple[object, ...] = conn.execute(sql).fetchone()
        return row

    return fetch


async def test_two_concurrent_opens_of_one_store_open_it_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")

    results = await asyncio.gather(store.open(), store.open(), return_exceptions=True)

    try:
        assert results[0] is None
        assert isinstance(results[1], StoreError)
        assert await store.append([event(1)]) == [1]
    finally:
        await store.close()


async def test_an_append_issued_while_the_store_opens_waits_for_it(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    opening = asyncio.create_task(store.open())
    await asyncio.sleep(0)  # one loop turn: open() has started its thread

    try:
        assert await store.append([event(1)]) == [1]
        await opening
    finally:
        await store.close()
