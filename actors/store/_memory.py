"""MemoryStore: the Store in memory, for "durability off" benchmarks and for tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import TracebackType

from actors.store._api import (
    EventQuery,
    NewEvent,
    Snapshot,
    StateWrite,
    StoreClosed,
    StoredEvent,
    StoreError,
)
from actors.store._encoding import EventRow, decode_event, encode_events, encode_writes
from actors.store._query import check_query, matches


class MemoryStore:
    """Keep events and state documents in this object; nothing reaches a disk.

    Same semantics as SqliteStore: gap-free seqs from 1 in call order, the same checks on
    what is appended (TypeError or ValueError for what is not JSON), the same queries,
    StoreClosed when not open. Like SqliteStore it keeps the JSON text and decodes it on
    every read, so what a caller gets back is always its own copy. The data belongs to
    the object, not to an opening: close() then open() finds it again, as reopening a
    file would. Every append is its own transaction.
    """

    def __init__(self) -> None:
        self._open = False
        self._events: list[tuple[int, *EventRow]] = []
        """seq n is at index n - 1"""
        self._documents: dict[str, dict[str, str]] = {}
        """collection -> key -> JSON text"""
        self.transactions = 0
        """appends committed"""
        self.failed_transactions = 0
        """always 0: memory does not fail"""

    def __repr__(self) -> str:
        return f"MemoryStore(events={len(self._events)}, open={self._open})"

    async def __aenter__(self) -> MemoryStore:
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
        """Open the store; raise StoreError if it is already open."""
        if self._open:
            raise StoreError(f"{self!r} is already open")
        self._open = True

    async def close(self) -> None:
        """Close the store (idempotent); its data stays for the next open()."""
        self._open = False

    async def append(
        self, events: Sequence[NewEvent], writes: Sequence[StateWrite] = ()
    ) -> list[int]:
        """Append ``events`` and apply ``writes`` together; return the events' seqs.

        Raises StoreClosed if not open, TypeError or ValueError (nothing applied) if an
        event or document is not JSON.
        """
        self._check_open()
        event_rows = encode_events(events)
        write_rows = encode_writes(writes)
        first = len(self._events) + 1
        self._events.extend((seq, *row) for seq, row in enumerate(event_rows, start=first))
        for collection, key, value in write_rows:
            if value is not None:
                self._documents.setdefault(collection, {})[key] = value
            elif (documents := self._documents.get(collection)) is not None:
                documents.pop(key, None)
                if not documents:
                    del self._documents[collection]
        self.transactions += 1
        return list(range(first, len(self._events) + 1))

    async def load(self) -> Snapshot:
        """Return the last sequence number and every state document."""
        self._check_open()
        documents = {
            collection: {key: json.loads(value) for key, value in sorted(docs.items())}
            for collection, docs in sorted(self._documents.items())
        }
        return Snapshot(last_seq=len(self._events), documents=documents)

    async def query_events(self, query: EventQuery) -> list[StoredEvent]:
        """Return the events matching ``query`` in sequence order, at most ``query.limit``."""
        self._check_open()
        check_query(query)
        found: list[StoredEvent] = []
        if query.limit == 0:
            return found
        # seq n is at index n - 1, so the events after since_seq start at index since_seq.
        for row in self._events[query.since_seq :]:
            event = decode_event(*row)
            if matches(query, event):
                found.append(event)
                if len(found) == query.limit:
                    break
        return found

    async def healthy(self) -> bool:
        """Return True while open."""
        return self._open

    def _check_open(self) -> None:
        if not self._open:
            raise StoreClosed(f"{self!r} is not open")
