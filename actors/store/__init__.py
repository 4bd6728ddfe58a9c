"""Durable state: the Store interface and its implementations."""

from actors.store._api import (
    EventQuery,
    NewEvent,
    Snapshot,
    StateWrite,
    Store,
    StoreClosed,
    StoreCorrupt,
    StoredEvent,
    StoreError,
    StoreUnavailable,
    StoreVersionError,
)
from actors.store._encoding import encode_payload
from actors.store._memory import MemoryStore
from actors.store._sqlite import SqliteStore

__all__ = [
    "EventQuery",
    "MemoryStore",
    "NewEvent",
    "Snapshot",
    "SqliteStore",
    "StateWrite",
    "Store",
    "StoreClosed",
    "StoreCorrupt",
    "StoreError",
    "StoreUnavailable",
    "StoreVersionError",
    "StoredEvent",
    "encode_payload",
]
