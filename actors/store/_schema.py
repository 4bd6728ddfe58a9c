"""The SQLite schema of a Tocsin store and its versioned migrations.

A store file is marked twice: ``PRAGMA application_id`` holds :data:`APPLICATION_ID`
(so ``file(1)`` and Tocsin can tell it from any other SQLite file) and
``PRAGMA user_version`` holds the schema version, mirrored in ``meta.schema_version``.

Version 1 is created by :data:`CREATE_V1`; every later version is reached by the steps
in :data:`MIGRATIONS`, applied in one transaction. A new store is built the same way
(v1, then every step), so a migrated file and a new file always have the same schema.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

APPLICATION_ID = 0x546F6373
"""``PRAGMA application_id`` of every Tocsin store: the bytes ``b"Tocs"``."""

APPLICATION_NAME = "tocsin"
"""``meta.application``."""

CREATE_V1: tuple[str, ...] = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)",
    "CREATE TABLE events ("
    " seq INTEGER PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " at REAL NOT NULL,"
    " alert_id TEXT,"
    " fingerprint TEXT,"
    " rule_id TEXT,"
    " payload TEXT NOT NULL)",
    "CREATE INDEX events_at ON events (at)",
    "CREATE INDEX events_rule_id ON events (rule_id)",
    "CREATE INDEX events_alert_id ON events (alert_id)",
    "CREATE INDEX events_fingerprint ON events (fingerprint)",
    "CREATE TABLE documents ("
    " collection TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY (collection, key)) WITHOUT ROWID",
)
"""The DDL of schema version 1, as the first Tocsin release created it. Never edit."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One step from schema version ``from_version`` to ``from_version + 1``."""

    from_version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "index events by (kind, at): history queries by state within a time range",
        ("CREATE INDEX events_kind_at ON events (kind, at)",),
    ),
)
"""Every step, in order; ``MIGRATIONS[n]`` goes from version n + 1 to n + 2. Append only."""

CORE_TABLES = frozenset({"meta", "events", "documents"})
"""Tables every version has."""

KNOWN_TABLES = CORE_TABLES
"""Every table any version has; a store file with another table is not a Tocsin store."""


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Return the schema version this code writes: 1 plus one per migration step."""
    return 1 + len(migrations)


def create_schema(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> None:
    """Create the latest schema in an empty database, in the caller's open transaction."""
    for statement in CREATE_V1:
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [("application", APPLICATION_NAME), ("schema_version", "1")],
    )
    conn.execute("PRAGMA user_version = 1")
    migrate(conn, 1, migrations)


def migrate(
    conn: sqlite3.Connection, from_version: int, migrations: Sequence[Migration] = MIGRATIONS
) -> int:
    """Apply every step after ``from_version``, in the caller's open transaction.

    Return the new version. The caller commits, or rolls back if this raises, so a failed
    step leaves the file at ``from_version``.
    """
    version = from_version
    for step in migrations[from_version - 1 :]:
        for statement in step.statements:
            conn.execute(statement)
        version += 1
    # user_version lives in the file header, which SQLite writes inside the transaction.
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    return version
