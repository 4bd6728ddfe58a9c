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

__all__ = [
    "EventQuery",
    "NewEvent",
    "Snapshot",
    "StateWrite",
    "Store",
    "StoreClosed",
    "StoreCorrupt",
    "StoreError",
    "StoreUnavailable",
    "StoreVersionError",
    "StoredEvent",
]
