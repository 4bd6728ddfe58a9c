"""A store written by an older schema is migrated at open, in one transaction."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from actors.store import EventQuery, NewEvent, SqliteStore, StoreUnavailable, _schema
from actors.store._schema import APPLICATION_ID, CREATE_V1, MIGRATIONS, Migration, latest_version


def write_v1_store(path: Path) -> None:
    """Create a store as the first Tocsin release did: the v1 DDL, some events, documents."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for statement in CREATE_V1:
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [("application", "tocsin"), ("schema_version", "1")],
    )
    conn.executemany(
        "INSERT INTO events (seq, kind, at, alert_id, fingerprint, rule_id, payload)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (n, "fired", float(n), f"a{n}", f"f{n}", "cpu", json.dumps({"labels": {"n": str(n)}}))
            for n in range(1, 11)
        ],
    )
    conn.execute(
        "INSERT INTO documents (collection, key, value) VALUES ('alerts', 'a1', '{\"s\":1}')"
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()


def inspect(path: Path) -> tuple[int, str, set[str]]:
    """Return (user_version, meta.schema_version, index names) through a read-only peek."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        (meta,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        indexes = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
    finally:
        conn.close()
    return version, meta, indexes


def schema_sql(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()
    finally:
        conn.close()


def test_the_latest_version_counts_one_per_migration_step() -> None:
    assert latest_version() == 1 + len(MIGRATIONS) == 2
    assert [step.from_version for step in MIGRATIONS] == list(range(1, latest_version()))


async def test_a_v1_store_is_migrated_at_open_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    write_v1_store(path)
    assert inspect(path)[:2] == (1, "1")

    async with SqliteStore(path) as store:
        snapshot = await store.load()
        events = await store.query_events(EventQuery(labels={"n": "3"}))
        appended = await store.append([NewEvent("acknowledged", 11.0, {})])

    assert snapshot.last_seq == 10
    assert snapshot.documents == {"alerts": {"a1": {"s": 1}}}
    assert [(e.seq, e.alert_id, e.payload) for e in events] == [(3, "a3", {"labels": {"n": "3"}})]
    assert appended == [11]
    version, meta, indexes = inspect(path)
    assert (version, meta) == (2, "2")
    assert "events_kind_at" in indexes


async def test_a_migrated_store_has_the_same_schema_as_a_new_one(tmp_path: Path) -> None:
    migrated, new = tmp_path / "migrated.db", tmp_path / "new.db"
    write_v1_store(migrated)
    async with SqliteStore(migrated), SqliteStore(new):
        pass

    assert schema_sql(migrated) == schema_sql(new)


async def test_a_failed_migration_leaves_the_store_at_its_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.db"
    write_v1_store(path)
    broken = Migration(2, "refers to a table that does not exist", ("CREATE INDEX x ON nope (y)",))
    monkeypatch.setattr(_schema, "MIGRATIONS", (*MIGRATIONS, broken))

    with pytest.raises(StoreUnavailable, match=r"schema v1, this Tocsin writes v3.*no such table"):
        await SqliteStore(path).open()

    version, meta, indexes = inspect(path)
    assert (version, meta) == (1, "1")
    assert "events_kind_at" not in indexes  # step 1→2 succeeded, then rolled back with 2→3
    monkeypatch.undo()
    async with SqliteStore(path) as store:
        assert (await store.load()).last_seq == 10
