"""What a stopped or running server holds durably: its history and its outbox."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from messages import ErrorFrame, EventFrame, ReplyFrame
from tests.faults.server import ServerProcess


def outbox_keys(database: Path) -> set[str]:
    """Return the keys of the undelivered notifications in a stopped server's store."""
    uri = f"file:{database}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        rows = conn.execute(
            "SELECT key, json_extract(value, '$.dead_at') FROM documents"
            " WHERE collection = 'outbox'"
        ).fetchall()
    conn.close()
    return {str(key).split("/", 1)[1] for key, dead_at in rows if dead_at is None}


async def history(server: ServerProcess) -> list[EventFrame]:
    """Return every event of the server's durable history (a resume from seq 0)."""
    async with server.client() as client:
        welcome_seq = await last_seq(server)
        answer = await client.request({"type": "subscribe", "id": "history", "resume_from": 0})
        assert isinstance(answer, ReplyFrame), answer
        await client.read_until(
            lambda: (
                bool(client.events("history")) and client.events("history")[-1].seq >= welcome_seq
            )
        )
        return client.events("history")


async def last_seq(server: ServerProcess) -> int:
    """Return the last seq of the server's history (a new subscription's snapshot)."""
    async with server.client() as client:
        answer = await client.request({"type": "subscribe", "id": "last"})
        assert not isinstance(answer, ErrorFrame), answer
        return int(answer.seq)


def last_durable_seq(database: Path) -> int:
    """Return the seq of the last event in a stopped server's store (0 if none)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        (seq,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
    conn.close()
    return int(seq)
