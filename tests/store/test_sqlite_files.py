"""A file that is not a healthy Tocsin store is refused by name, and left byte for byte."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from actors.store import (
    NewEvent,
    SqliteStore,
    StateWrite,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
    StoreVersionError,
)
from actors.store._schema import APPLICATION_ID, latest_version


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def make_store(path: Path, events: int = 1000) -> None:
    """Write a real store with enough events to span many pages, and close it."""
    async with SqliteStore(path, synchronous="normal") as store:
        await store.append(
            [NewEvent("fired", float(n), {"n": n, "text": "y" * 200}) for n in range(events)],
            [StateWrite("alerts", str(n), {"n": n}) for n in range(100)],
        )


def names(directory: Path) -> list[str]:
    """The files in ``directory``, but SQLite's shared-memory index (-shm), which may stay."""
    return sorted(p.name for p in directory.iterdir() if not p.name.endswith("-shm"))


def random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(64 * 1024))


def sqlite_magic_then_garbage(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + random.Random(8).randbytes(8192))


def empty(path: Path) -> None:
    path.write_bytes(b"")


def foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.commit()
    conn.close()


def foreign_wal_sqlite_with_another_application_id(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE events (x)")
    conn.commit()
    conn.close()


def empty_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("VACUUM")
    conn.close()


def our_id_but_foreign_tables(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (random_bytes, "not an SQLite database"),
        (sqlite_magic_then_garbage, "another application"),
        (empty, "empty"),
        (foreign_sqlite, "another application"),
        (foreign_wal_sqlite_with_another_application_id, "another application"),
        (empty_sqlite, "another application"),
        (our_id_but_foreign_tables, "tables"),
    ],
    ids=lambda value: (
        getattr(value, "__name__", "") if callable(value) else value.replace(" ", "-")
    ),
)
async def test_a_file_that_is_not_a_tocsin_store_is_refused_as_corrupt_and_left_unchanged(
    tmp_path: Path, make: Callable[[Path], None], problem: str
) -> None:
    path = tmp_path / "store.db"
    make(path)
    before = digest(path)

    with pytest.raises(StoreCorrupt, match=problem) as refused:
        await SqliteStore(path).open()

    assert str(path) in str(refused.value)
    assert digest(path) == before


@pytest.mark.parametrize("keep", [0.5, 0.1, 4096, 100, 50], ids=lambda keep: f"keep-{keep}")
async def test_a_truncated_store_file_is_refused_as_corrupt_and_left_unchanged(
    tmp_path: Path, keep: float
) -> None:
    path = tmp_path / "store.db"
    await make_store(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    before = digest(path)

    with pytest.raises(StoreCorrupt, match=r"damaged|truncated") as refused:
        await SqliteStore(path).open()

    assert str(path) in str(refused.value)
    assert digest(path) == before


async def test_a_store_file_with_a_damaged_page_is_refused_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await make_store(path)
    with path.open("r+b") as file:
        page_size = 4096
        file.seek(page_size * 40)
        file.write(random.Random(9).randbytes(page_size))
    before = digest(path)

    with pytest.raises(StoreCorrupt, match="damaged"):
        await SqliteStore(path).open()

    assert digest(path) == before


async def test_a_store_from_a_newer_tocsin_is_refused_with_a_version_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    await make_store(path, events=10)
    future = latest_version() + 1
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {future}")
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(future),))
    conn.execute("CREATE TABLE added_by_the_future (x)")
    conn.commit()
    conn.close()
    before = digest(path)

    with pytest.raises(StoreVersionError, match=f"schema version {future}, newer") as refused:
        await SqliteStore(path).open()

    assert str(path) in str(refused.value)
    assert digest(path) == before


async def test_a_refused_file_can_be_opened_once_it_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    random_bytes(path)
    store = SqliteStore(path)
    with pytest.raises(StoreCorrupt):
        await store.open()

    path.unlink()
    async with store:
        assert await store.append([NewEvent("fired", 1.0, {})]) == [1]


async def test_a_second_store_on_the_same_file_is_refused_while_the_first_is_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    async with SqliteStore(path) as first:
        await first.append([NewEvent("fired", 1.0, {})])
        with pytest.raises(StoreUnavailable, match="in use"):
            await SqliteStore(path).open()
        assert await first.append([NewEvent("fired", 2.0, {})]) == [2]

    async with SqliteStore(path) as second:
        assert (await second.load()).last_seq == 2


async def test_a_store_in_a_missing_directory_cannot_be_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "store.db"

    with pytest.raises(StoreUnavailable, match="cannot create"):
        await SqliteStore(path).open()

    assert not path.parent.exists()


async def test_creating_a_store_leaves_only_the_store_file(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    (tmp_path / "store.db.creating").write_bytes(b"left by a crash during creation")

    async with SqliteStore(path):
        pass

    assert names(tmp_path) == ["store.db"]


async def test_a_leftover_of_an_interrupted_creation_is_removed_at_the_next_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    async with SqliteStore(path):
        pass
    (tmp_path / "store.db.creating").write_bytes(b"left by a crash after the link")

    async with SqliteStore(path):
        pass

    assert names(tmp_path) == ["store.db"]


async def test_another_sqlite_connection_can_read_and_back_up_a_live_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    async with SqliteStore(path) as store:
        await store.append([NewEvent("fired", 1.0, {"n": 1})], [StateWrite("c", "k", {})])
        reader = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        copy = sqlite3.connect(tmp_path / "copy.db")
        try:
            assert reader.execute("SELECT seq, kind FROM events").fetchall() == [(1, "fired")]
            reader.backup(copy)
        finally:
            reader.close()
            copy.close()
        assert await store.append([NewEvent("fired", 2.0, {})]) == [2]

    async with SqliteStore(tmp_path / "copy.db") as restored:
        assert (await restored.load()).documents == {"c": {"k": {}}}
        assert (await restored.load()).last_seq == 1


async def test_a_new_store_file_carries_the_tocsin_application_id_and_latest_version(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    async with SqliteStore(path):
        pass

    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert conn.execute("PRAGMA user_version").fetchone() == (latest_version(),)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert dict(conn.execute("SELECT key, value FROM meta")) == {
            "application": "tocsin",
            "schema_version": str(latest_version()),
        }
    finally:
        conn.close()
    assert path.read_bytes()[68:72] == b"Tocs"


async def test_every_open_error_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    random_bytes(path)
    with pytest.raises(StoreError):
        await SqliteStore(path).open()
    assert len(path.read_bytes()) == 64 * 1024


async def test_a_new_store_is_private_and_a_readable_one_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with capture_logs() as logs:
        async with SqliteStore(path) as store:
            await store.append([], [StateWrite("receivers", "ops", {"secret": "s3cret"})])
            for file in (path, Path(f"{path}-wal")):
                assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert not [entry for entry in logs if "readable by other users" in entry["event"]]
    path.chmod(0o644)
    with capture_logs() as logs:
        async with SqliteStore(path):
            pass
    [warning] = [entry for entry in logs if "readable by other users" in entry["event"]]
    assert warning["path"] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # reported, not changed
