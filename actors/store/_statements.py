"""The SQL that applies a group commit: multi-row inserts, multi-key deletes, last writes.

The store's thread (``_writer.StoreWriter``) runs these inside its transaction; each
statement is one ``sqlite3_step`` for many rows, which releases the GIL once for all of
them rather than once per row, so the event loop runs meanwhile.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from actors.store._encoding import WriteRow

__all__ = ["INSERT_EVENTS", "MultiKeyDelete", "MultiRowInsert", "apply_writes"]

_CHUNKS = (64, 8, 1)
"""Rows per multi-row INSERT, largest first: every batch is cut into these few sizes, so
a handful of prepared statements serve every batch from the connection's cache."""


class MultiRowInsert:
    """Insert many rows with few statements: ``INSERT ... VALUES (...), (...), ...``.

    One statement of 64 rows costs about half the CPU of 64 ``executemany`` steps, and
    SQLite runs it in one ``sqlite3_step``, which releases the GIL once for all 64 rows
    rather than once per row, so the event loop runs meanwhile.
    """

    def __init__(self, head: str, width: int, tail: str = "") -> None:
        row = f"({', '.join('?' * width)})"
        self._width = width
        self._sql = {size: f"{head} VALUES {', '.join([row] * size)}{tail}" for size in _CHUNKS}

    def run(self, conn: sqlite3.Connection, values: list[Any]) -> None:
        """Insert the rows whose values, row after row, are ``values``, in order."""
        width, start, end = self._width, 0, len(values)
        for size in _CHUNKS:
            sql, step = self._sql[size], size * width
            while end - start >= step:
                conn.execute(sql, values[start : start + step])
                start += step


INSERT_EVENTS = MultiRowInsert(
    "INSERT INTO events (seq, kind, at, alert_id, fingerprint, rule_id, payload)", 7
)
_UPSERT_DOCUMENTS = MultiRowInsert(
    "INSERT INTO documents (collection, key, value)",
    3,
    # Rows apply in order, so a key written twice in one statement keeps the last value.
    " ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value",
)


class MultiKeyDelete:
    """Delete many documents of one collection with few statements: ``key IN (...)``.

    As ``MultiRowInsert``: one statement per 64 keys rather than a step per key (and a
    release of the GIL per key), cut into the same few sizes for the statement cache.
    (``(collection, key) IN (VALUES ...)`` would scan the table: SQLite does not use
    the primary key for it.)
    """

    def __init__(self) -> None:
        self._sql = {
            size: f"DELETE FROM documents WHERE collection = ? AND key IN ({', '.join('?' * size)})"
            for size in _CHUNKS
        }

    def run(self, conn: sqlite3.Connection, collection: str, keys: list[str]) -> None:
        """Delete ``collection``'s documents under ``keys`` (absent ones are no-ops)."""
        start, end = 0, len(keys)
        for size in _CHUNKS:
            sql = self._sql[size]
            while end - start >= size:
                conn.execute(sql, [collection, *keys[start : start + size]])
                start += size


_DELETE_DOCUMENTS = MultiKeyDelete()


def apply_writes(conn: sqlite3.Connection, writes: Iterable[WriteRow]) -> None:
    """Apply a transaction's document writes, given in the order made: each key's last
    write, the deletes and the upserts each in few statements.

    A transaction is atomic, so only each key's final state is seen: its last write.
    Writes to different keys commute, so they need not keep their order, and a
    notifier's delivered marks (delete, upsert, delete of three keys per delivery)
    become three statements per 64 deliveries rather than three per delivery.
    """
    last: dict[tuple[str, str], str | None] = {}
    for collection, key, value in writes:
        last[collection, key] = value
    deletes: dict[str, list[str]] = {}
    upserts: list[str] = []
    for (collection, key), value in last.items():
        if value is None:
            keys = deletes.get(collection)
            if keys is None:
                keys = deletes[collection] = []
            keys.append(key)
        else:
            upserts += (collection, key, value)
    for collection, keys in deletes.items():
        _DELETE_DOCUMENTS.run(conn, collection, keys)
    _UPSERT_DOCUMENTS.run(conn, upserts)
