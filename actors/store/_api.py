"""The Store interface: an append-only event log plus materialised state documents.

The alert manager (and later the notifiers' outbox) persist through this interface only.
Every transition is an event with a store-assigned, gap-free, monotonically increasing
sequence number; alongside the events, the same transaction upserts or deletes state
documents (JSON objects keyed by collection and key: ``alerts``, ``silences``,
``escalations``, ``outbox``, ...) so a restart reloads current state without replaying
the whole history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol


class StoreError(Exception):
    """Base class of the store's errors."""


class StoreCorrupt(StoreError):
    """The database file is damaged or is not a Tocsin store; nothing was changed.

    The message names the file and what was found.
    """


class StoreVersionError(StoreError):
    """The file's schema version is newer than this Tocsin understands."""


class StoreUnavailable(StoreError):
    """A write failed (disk full, read-only, I/O error); nothing of it is durable.

    The caller must treat the command as not done. The store keeps working once the
    cause is gone.
    """


class StoreClosed(StoreError):
    """The store is closed."""


class NewEvent(NamedTuple):
    """An event to append; the store assigns ``seq``.

    ``payload_json``, when given, is ``payload`` already encoded by ``encode_payload``
    (the caller built the payload from JSON types only, and may reuse the text): the
    store keeps it as is instead of encoding ``payload`` again.

    A NamedTuple rather than a frozen dataclass: one is built per transition on the
    alert manager's hot path, and a frozen dataclass costs about three times as much
    to construct (its ``__init__`` goes through ``object.__setattr__`` per field).
    """

    kind: str
    at: float
    payload: Mapping[str, Any]
    alert_id: str | None = None
    fingerprint: str | None = None
    rule_id: str | None = None
    payload_json: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored, with its sequence number."""

    seq: int
    kind: str
    at: float
    payload: Mapping[str, Any]
    alert_id: str | None = None
    fingerprint: str | None = None
    rule_id: str | None = None


class StateWrite(NamedTuple):
    """Upsert (``value`` a JSON object) or delete (``value`` None) one state document.

    ``value_json``, when given, is ``value`` already encoded by ``encode_payload``: the
    store keeps it as is. A NamedTuple, as ``NewEvent``: a checkpoint builds one per
    changed alert.
    """

    collection: str
    key: str
    value: Mapping[str, Any] | None
    value_json: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a restart reloads: the last sequence number and every state document."""

    last_seq: int
    documents: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    """collection -> key -> document"""


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filter for ``Store.query_events``; every field narrows the result (AND)."""

    since_seq: int = 0
    """only events with seq > since_seq"""
    start: float | None = None
    """at >= start"""
    end: float | None = None
    """at < end"""
    kinds: tuple[str, ...] = ()
    rule_id: str | None = None
    alert_id: str | None = None
    fingerprint: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    """payload["labels"][name] == value for each item"""
    limit: int = 1000


class Store(Protocol):
    """Durable state for the alert manager; every method is safe to await on the loop.

    ``append`` returns only once its events and writes are durable (committed), and
    batches concurrent appends into one transaction (group commit). Nothing blocks the
    event loop: I/O runs on a dedicated thread.
    """

    async def open(self) -> None:
        """Open or create the store.

        Raises StoreCorrupt (damaged, or not a Tocsin store), StoreVersionError (written
        by a newer Tocsin), StoreUnavailable (cannot be read, created or migrated now):
        in every case the existing data is unchanged.
        """
        ...

    async def close(self) -> None:
        """Flush pending appends and close; idempotent."""
        ...

    async def append(
        self, events: Sequence[NewEvent], writes: Sequence[StateWrite] = ()
    ) -> list[int]:
        """Durably append ``events`` and apply ``writes`` atomically; return the seqs.

        Raises StoreUnavailable if the transaction failed (nothing of it applied),
        StoreClosed if the store is not open, TypeError or ValueError if an event payload
        or a document is not JSON (checked before anything is queued).
        """
        ...

    async def load(self) -> Snapshot:
        """Return the last sequence number and every state document."""
        ...

    async def query_events(self, query: EventQuery) -> list[StoredEvent]:
        """Return matching events in sequence order (at most ``query.limit``)."""
        ...

    async def healthy(self) -> bool:
        """Return True if a write would succeed now (used by /readyz)."""
        ...
