"""A write that fails (disk full, read-only) fails whole, leaves nothing, and passes.

The tests run as root, where chmod does not stop writes; they make SQLite itself refuse
on the store's own connection: ``PRAGMA max_page_count`` at the current size is a full
disk (SQLITE_FULL), ``PRAGMA query_only`` a read-only database (SQLITE_READONLY).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from actors.store import EventQuery, NewEvent, Snapshot, SqliteStore, StateWrite, StoreUnavailable

BIG = "x" * 20_000  # larger than a page: every such event needs new pages


def event(n: int, text: str = "") -> NewEvent:
    return NewEvent(kind="fired", at=float(n), payload={"n": n, "text": text})


def pragma(sql: str) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute(sql).fetchall()

    return run


def fill_the_disk(conn: sqlite3.Connection) -> None:
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}").fetchall()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "store.db") as opened:
        await opened.append([event(1)], [StateWrite("alerts", "a1", {"state": "active"})])
        yield opened


async def state(store: SqliteStore) -> tuple[Snapshot, list[int]]:
    events = await store.query_events(EventQuery(limit=10_000))
    return await store.load(), [e.seq for e in events]


async def test_a_full_disk_fails_every_append_of_the_batch_and_stores_nothing(
    store: SqliteStore,
) -> None:
    before = await state(store)
    await store._call(fill_the_disk)

    results = await asyncio.gather(
        *(
            store.append([event(n, BIG)], [StateWrite("alerts", f"a{n}", {"text": BIG})])
            for n in range(2, 12)
        ),
        return_exceptions=True,
    )

    assert all(isinstance(result, StoreUnavailable) for result in results), results
    assert "full" in str(results[0])
    assert str(store.path) in str(results[0])
    assert store.failed_transactions >= 1
    assert await state(store) == before


async def test_after_a_full_disk_is_fixed_the_next_append_succeeds_without_a_gap(
    store: SqliteStore,
) -> None:
    await store._call(fill_the_disk)
    with pytest.raises(StoreUnavailable, match="full"):
        await store.append([event(2, BIG), event(3, BIG)])

    await store._call(pragma("PRAGMA max_page_count = 1073741823"))

    assert await store.append([event(2, BIG), event(3, BIG)]) == [2, 3]
    assert (await state(store))[1] == [1, 2, 3]


async def test_a_read_only_database_fails_appends_and_reports_unhealthy_until_writable(
    store: SqliteStore,
) -> None:
    before = await state(store)
    await store._call(pragma("PRAGMA query_only = ON"))

    results = await asyncio.gather(
        *(store.append([event(n)], [StateWrite("alerts", "a1", None)]) for n in range(2, 22)),
        return_exceptions=True,
    )

    assert all(isinstance(result, StoreUnavailable) for result in results), results
    assert "readonly" in str(results[0])
    assert isinstance(results[0], StoreUnavailable)
    assert isinstance(results[0].__cause__, sqlite3.Error)
    assert await store.healthy() is False
    assert await state(store) == before

    await store._call(pragma("PRAGMA query_only = OFF"))

    assert await store.healthy() is True
    assert await store.append([event(2)]) == [2]
    assert (await store.load()).documents == {"alerts": {"a1": {"state": "active"}}}


async def test_reads_keep_working_while_writes_fail(store: SqliteStore) -> None:
    await store._call(pragma("PRAGMA query_only = ON"))
    with pytest.raises(StoreUnavailable):
        await store.append([event(2)])

    assert (await store.load()).last_seq == 1
    assert [e.seq for e in await store.query_events(EventQuery())] == [1]


async def test_a_failed_transaction_leaves_the_file_consistent_after_reopen(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    async with SqliteStore(path) as store:
        await store.append([event(1)], [StateWrite("c", "k", {"v": 1})])
        await store._call(fill_the_disk)
        with pytest.raises(StoreUnavailable):
            await store.append([event(2, BIG)], [StateWrite("c", "k", {"v": 2})])

    async with SqliteStore(path) as reopened:
        assert await reopened.load() == Snapshot(last_seq=1, documents={"c": {"k": {"v": 1}}})
        assert await reopened.append([event(2)]) == [2]
