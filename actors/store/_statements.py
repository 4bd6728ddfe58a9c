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

_MAX_VARIABLES = 999
"""Bound parameters per statement: SQLite's limit before 3.32 (32766 since), so any build."""


def _chunks(width: int) -> tuple[int, ...]:
    """Return the statement sizes (rows of ``width`` parameters) a batch is cut into.

    The powers of two from the largest that fits ``_MAX_VARIABLES`` down to 1, largest
    first: n rows take at most one statement per bit of n (popcount), from a dozen
    prepared statements that stay in the connection's cache. Each statement is one
    ``sqlite3_step``, and each releases the GIL and takes it back: when the event loop
    holds it, taking it back is a forced switch between the threads (two context
    switches and a wake-up), so the statements per append are what the store's thread
    costs the loop, more than the rows. (Sizes 64, 8 and 1 took up to 13 statements per
    kind for 300 rows; these take 4.)
    """
    largest = 1
    while largest * 2 * width <= _MAX_VARIABLES:
        largest *= 2
    sizes = []
    while largest >= 1:
        sizes.append(largest)
        largest //= 2
    return tuple(sizes)


class MultiRowInsert:
    """Insert many rows with few statements: ``INSERT ... VALUES (...), (...), ...``.

    One statement of 64 rows costs about half the CPU of 64 ``executemany`` steps, and
    SQLite runs it in one ``sqlite3_step``, which releases the GIL once for all its rows
    rather than once per row, so the event loop runs meanwhile (sizes: ``_chunks``).
    """

    def __init__(self, head: str, width: int, tail: str = "") -> None:
        row = f"({', '.join('?' * width)})"
        self._width = width
        self._chunks = _chunks(width)
        self._sql = {
            size: f"{head} VALUES {', '.join([row] * size)}{tail}" for size in self._chunks
        }

    def run(self, conn: sqlite3.Connection, values: list[Any]) -> None:
        """Insert the rows whose values, row after row, are ``values``, in order."""
        width, start, end = self._width, 0, len(values)
        for size in self._chunks:
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

    As ``MultiRowInsert``: one statement per many keys rather than a step per key (and a
    release of the GIL per key), cut into powers of two for the statement cache.
    (``(collection, key) IN (VALUES ...)`` would scan the table: SQLite does not use
    the primary key for it.)
    """

    def __init__(self) -> None:
        self._chunks = _chunks(1)  # and the collection: 513 parameters at most
        self._sql = {
            size: f"DELETE FROM documents WHERE collection = ? AND key IN ({', '.join('?' * size)})"
            for size in self._chunks
        }

    def run(self, conn: sqlite3.Connection, collection: str, keys: list[str]) -> None:
        """Delete ``collection``'s documents under ``keys`` (absent ones are no-ops)."""
        start, end = 0, len(keys)
        for size in self._chunks:
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
