"""ReceiverRecord: run-time receiver changes kept in the store, so a restart keeps them.

The notifier supervisor records a ``PutReceiver``/``DeleteReceiver`` here after checking
it and before applying it: a change is answered only once durable.  Documents live in
the ``receivers`` collection, keyed by receiver name:

- ``{"kind": ..., "receiver": {...}, "delivery": {...} | null}``: a receiver put at run
  time, its configuration as the configuration file would hold it, secrets included
  (``hmac_secret``, ``password``, header values, Slack URLs: the store file then holds
  them, as the TOML file does; an email ``password_env`` stays a variable's name);
- ``{"deleted": true}``: a tombstone, for a deleted receiver that comes from the
  configuration (without it the receiver would come back at the next start).

Deleting a receiver created at run time removes its document instead, and so does a
revert (``revert``): the configuration's version of that name counts again.  At the first
start of the supervisor (before any notifier starts: a replaced configured receiver
must not deliver its outbox to its old endpoint first) ``merge`` overlays the
configured receivers with the stored changes, by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import structlog
from pydantic import BaseModel, SecretStr, ValidationError

from actors.notify._config import (
    DEFAULT_DELIVERY,
    DeliveryPolicy,
    ReceiverConfig,
    SlackReceiverConfig,
    WebhookReceiverConfig,
    WebSocketReceiverConfig,
    receiver_kind,
)
from actors.notify._email import EmailReceiverConfig
from actors.notify._requests import NotifyError
from actors.store import StateWrite, Store, StoreError

__all__ = [
    "RECEIVERS_COLLECTION",
    "ReceiverNotStored",
    "ReceiverRecord",
    "StoredReceiver",
    "StoredReceivers",
]

RECEIVERS_COLLECTION = "receivers"
"""The store's document collection of run-time receiver changes."""

_MODELS: dict[str, type[BaseModel]] = {
    "email": EmailReceiverConfig,
    "slack": SlackReceiverConfig,
    "webhook": WebhookReceiverConfig,
    "websocket": WebSocketReceiverConfig,
}

_log = structlog.get_logger("tocsin.notify")


class ReceiverNotStored(NotifyError):
    """Raised when a run-time receiver change could not be stored; nothing changed.

    ``__cause__`` is the store's error (``StoreUnavailable``: disk full, read-only...).
    The gateway answers it ``unavailable``: the same change may succeed later.
    """


@dataclass(frozen=True, slots=True)
class StoredReceiver:
    """A receiver put at run time, and the delivery policy it was put with (None: default)."""

    receiver: ReceiverConfig
    delivery: DeliveryPolicy | None = None


@dataclass(frozen=True, slots=True)
class StoredReceivers:
    """The stored run-time changes: receivers put, and names deleted (tombstones)."""

    receivers: dict[str, StoredReceiver] = field(default_factory=dict)
    deleted: frozenset[str] = frozenset()


def encode(receiver: ReceiverConfig, delivery: DeliveryPolicy | None) -> dict[str, Any]:
    """Return the document of a put receiver: its fields as JSON, secrets in clear."""
    data = receiver.model_dump(mode="json", by_alias=True)
    for name, info in type(receiver).model_fields.items():
        value = getattr(receiver, name)
        if isinstance(value, SecretStr):
            data[info.alias or name] = value.get_secret_value()
    return {
        "kind": receiver_kind(receiver),
        "receiver": data,
        "delivery": None if delivery is None else delivery.model_dump(mode="json"),
    }


def decode(document: Mapping[str, Any]) -> StoredReceiver:
    """Return the receiver a document holds; raise ValueError/ValidationError if bad."""
    kind = document.get("kind")
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ValueError(f"unknown receiver kind {kind!r}")
    receiver = cast(ReceiverConfig, model.model_validate(document.get("receiver")))
    delivery = document.get("delivery")
    policy = None if delivery is None else DeliveryPolicy.model_validate(delivery)
    return StoredReceiver(receiver, policy)


class ReceiverRecord:
    """Store run-time receiver changes in ``store``'s ``receivers`` collection.

    ``config_names`` are the configuration's receivers: deleting one stores a tombstone.
    """

    def __init__(self, store: Store, config_names: Sequence[str] = ()) -> None:
        self.store = store
        self.config_names = frozenset(config_names)
        self.stored = StoredReceivers()
        """What ``load`` found at start (kept as the changes are made)."""
        self.skipped: set[str] = set()
        """Names of stored documents ``load`` skipped (invalid); ``revert`` drops them."""

    async def load(self) -> StoredReceivers:
        """Read the stored changes; a document that no longer validates is skipped, logged."""
        snapshot = await self.store.load()
        receivers: dict[str, StoredReceiver] = {}
        deleted: set[str] = set()
        for key, document in snapshot.documents.get(RECEIVERS_COLLECTION, {}).items():
            if document.get("deleted") is True:
                deleted.add(key)
                continue
            try:
                stored = decode(document)
                if stored.receiver.name != key:
                    raise ValueError(f"the document of {key!r} holds {stored.receiver.name!r}")
            except (ValidationError, ValueError) as error:
                _log.error(
                    "stored receiver skipped: it does not validate", receiver=key, error=str(error)
                )
                self.skipped.add(key)
                continue
            receivers[key] = stored
        self.stored = StoredReceivers(receivers, frozenset(deleted))
        return self.stored

    async def put(self, receiver: ReceiverConfig, delivery: DeliveryPolicy | None) -> None:
        """Store ``receiver``; raise ``ReceiverNotStored`` if the store refuses.

        Raises ValueError (nothing stored) if the receiver would not load back as it is.
        """
        document = encode(receiver, delivery)
        if decode(document) != StoredReceiver(receiver, delivery):
            raise ValueError(f"receiver {receiver.name!r} does not survive its own storing")
        await self._write(receiver.name, document)
        self.skipped.discard(receiver.name)
        self.stored = StoredReceivers(
            {**self.stored.receivers, receiver.name: StoredReceiver(receiver, delivery)},
            self.stored.deleted - {receiver.name},
        )

    async def delete(self, name: str) -> None:
        """Record the deletion of ``name``; raise ``ReceiverNotStored`` if the store refuses."""
        from_config = name in self.config_names
        await self._write(name, {"deleted": True} if from_config else None)
        self.skipped.discard(name)
        receivers = {k: v for k, v in self.stored.receivers.items() if k != name}
        deleted = self.stored.deleted | {name} if from_config else self.stored.deleted
        self.stored = StoredReceivers(receivers, deleted)

    def has_change(self, name: str) -> bool:
        """Whether a change of ``name`` is stored (a receiver, a tombstone, a skipped document)."""
        stored = self.stored
        return name in stored.receivers or name in stored.deleted or name in self.skipped

    async def revert(self, name: str) -> None:
        """Remove the stored change of ``name``: the configuration's version counts again.

        Raises ``ReceiverNotStored`` if the store refuses (nothing changed); the caller
        checks ``has_change`` first, and ``restore`` puts the document back.
        """
        await self._write(name, None)
        receivers = {k: v for k, v in self.stored.receivers.items() if k != name}
        self.stored = StoredReceivers(receivers, self.stored.deleted - {name})
        self.skipped.discard(name)

    async def restore(self, name: str, previous: StoredReceivers) -> None:
        """Put back ``name``'s document as ``previous`` had it (a change that did not apply)."""
        if name in previous.deleted:
            value: dict[str, Any] | None = {"deleted": True}
        elif (stored := previous.receivers.get(name)) is not None:
            value = encode(stored.receiver, stored.delivery)
        else:
            value = None
        await self._write(name, value)
        self.stored = previous

    async def _write(self, name: str, value: dict[str, Any] | None) -> None:
        try:
            await self.store.append([], [StateWrite(RECEIVERS_COLLECTION, name, value)])
        except (StoreError, TypeError, ValueError) as error:
            message = f"the change of receiver {name!r} was not stored: {error}"
            raise ReceiverNotStored(message) from error


def merge(
    configured: Sequence[ReceiverConfig],
    stored: StoredReceivers,
    users: Mapping[str, tuple[str, ...]],
) -> tuple[list[tuple[ReceiverConfig, DeliveryPolicy | None]], list[str], list[str]]:
    """Overlay ``configured`` with ``stored``: (receivers, replaced names, deleted names).

    Each receiver comes with its stored delivery policy, or None (configured: the
    configuration's; put: the kind's default). A stored receiver replaces the configured
    one of the same name; a tombstone removes it, unless ``users`` (the configuration's
    routes) name it now: a route never points at a missing receiver. The stored
    receivers of other names follow, in name order.
    """
    result: list[tuple[ReceiverConfig, DeliveryPolicy | None]] = []
    replaced: list[str] = []
    deleted: list[str] = []
    names = {receiver.name for receiver in configured}
    for receiver in configured:
        name = receiver.name
        if name in stored.receivers:
            replaced.append(name)
            put = stored.receivers[name]
            result.append((put.receiver, put.delivery or _default(put.receiver)))
        elif name in stored.deleted and not users.get(name):
            deleted.append(name)
        else:
            if name in stored.deleted:
                _log.warning(
                    "a receiver deleted at run time is back: the configuration uses it",
                    receiver=name,
                    used_by=list(users.get(name, ())),
                )
            result.append((receiver, None))
    for name, put in sorted(stored.receivers.items()):
        if name not in names:
            result.append((put.receiver, put.delivery or _default(put.receiver)))
    return result, replaced, deleted


def _default(receiver: ReceiverConfig) -> DeliveryPolicy:
    return DEFAULT_DELIVERY[receiver_kind(receiver)]
