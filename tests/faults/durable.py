"""What a stopped or running server holds durably: its history and its outbox."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from actors.notify import OUTBOX
from actors.notify._delivered_marks import load_delivered
from actors.notify._outbox_batches import OUTBOX_BATCHES, load_outbox_batches
from actors.store import Snapshot
from messages import ErrorFrame, EventFrame, ReplyFrame
from tests.faults.server import ServerProcess


def outbox_keys(database: Path) -> set[str]:
    """Return the keys of the undelivered notifications in a stopped server's store.

    The records with a document of their own (not dead letters) and the undelivered
    entries of the outbox batches, as a restarted notifier finds them.
    """
    uri = f"file:{database}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        rows = conn.execute(
            "SELECT collection, key, value FROM documents WHERE collection IN"
            " ('outbox', 'outbox_batches', 'delivered', 'delivered_batches')"
        ).fetchall()
    conn.close()
    documents: dict[str, dict[str, Any]] = {}
    for collection, key, value in rows:
        documents.setdefault(collection, {})[key] = json.loads(value)
    snapshot = Snapshot(last_seq=0, documents=documents)
    own = documents.get(OUTBOX, {})
    keys = {key.split("/", 1)[1] for key, document in own.items() if document["dead_at"] is None}
    for receiver in {key.split("/", 1)[0] for key in documents.get(OUTBOX_BATCHES, {})}:
        marks, _ = load_delivered(snapshot, receiver)
        found, problems = load_outbox_batches(snapshot, receiver, marks.keys, own)
        assert not problems, problems
        keys |= {document["notification"]["id"] for _, document in found.records}
    return keys


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
