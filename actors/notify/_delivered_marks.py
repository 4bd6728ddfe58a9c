"""Delivered marks: the keys of a receiver's last deliveries, kept in the store in batches.

A notifier remembers the outbox keys of its last ``remember_delivered`` deliveries and
ignores a notification it already delivered (a restarted alert manager re-sends what it
cannot know was sent). The marks are durable with the delete of the delivered outbox
document, in the same append.

Format: one document per append, not one per delivery. In collection
``delivered_batches`` (``DELIVERED_BATCHES``), key ``<receiver>/<n>`` (``batch_key``: n
zero-padded to 12 digits, increasing per receiver; receiver names never contain ``/``,
so receivers cannot collide and a receiver's batches sort in order), value
``{"at": <epoch seconds of the batch's last mark>, "keys": [outbox keys, in delivery
order]}``. A batch is deleted once every key it holds is older than the window (or
delivered again since, so in a later batch): the store holds at most the window plus
one batch's worth of keys. The order of the keys is all that forgetting needs (the
window is a count, not an age), so there is no time per key; ``at`` tells an operator
how far back the memory reaches. Why batches: a mark per delivery cost a row per
notification, ~11k instructions on the event loop and ~15k on the store's thread; a
batch costs one row per append, shared by every delivery of a burst.

Earlier versions wrote one document per delivery in collection ``delivered``
(``DELIVERED``, key the outbox key, ``{"at": epoch seconds}``). They are still read, as
older than every batch (a version writes one kind or the other), and deleted one by one
as they age out.

``load_delivered`` reads both from a snapshot; ``DeliveredMarks`` decides, without I/O,
which documents to write and delete; the ``OutboxWriter`` takes them at each append.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from actors.store import Snapshot, StateWrite, encode_payload

__all__ = [
    "DELIVERED",
    "DELIVERED_BATCHES",
    "LEGACY",
    "DeliveredMarks",
    "RememberedDeliveries",
    "batch_key",
    "batch_number",
    "batch_write",
    "load_delivered",
    "numbered_documents",
]

DELIVERED = "delivered"
"""The collection of earlier versions' marks: one per delivery, ``{"at": epoch seconds}``."""

DELIVERED_BATCHES = "delivered_batches"
"""The collection of batches of marks: ``{"at": epoch seconds, "keys": [outbox keys]}``."""

LEGACY = -1
"""The batch number of a key remembered from a ``DELIVERED`` (per-key) document."""

_DIGITS = 12  # 10^12 appends: three decades at a thousand appends a second


def batch_key(receiver: str, number: int) -> str:
    """Return the document key of ``receiver``'s batch ``number``."""
    return f"{receiver}/{number:0{_DIGITS}d}"


def batch_write(receiver: str, number: int, keys: list[str], at: float) -> StateWrite:
    """Return the write of ``receiver``'s batch ``number``: the marks of ``keys``.

    ``at`` is the time of the last mark. The JSON is made here (in Rust); a value that
    is not JSON (``at`` NaN) is left for the append to refuse, which reports it.
    """
    value = {"at": at, "keys": keys}
    try:
        text: str | None = encode_payload(value)
    except (TypeError, ValueError):
        text = None
    return StateWrite(DELIVERED_BATCHES, batch_key(receiver, number), value, text)


@dataclass(slots=True)
class RememberedDeliveries:
    """What ``load_delivered`` found of one receiver's marks."""

    keys: OrderedDict[str, int] = field(default_factory=OrderedDict)
    """Remembered outbox key -> the number of the batch holding it (``LEGACY``: its own
    ``DELIVERED`` document), oldest first; the numbers never decrease along it."""
    batches: list[int] = field(default_factory=list)
    """The numbers of the readable batch documents, ascending."""
    next_batch: int = 0
    """The number after every batch document's, readable or not (none is overwritten)."""
    superseded: list[str] = field(default_factory=list)
    """Keys whose ``DELIVERED`` document a batch supersedes (to delete)."""


def batch_number(key: str, prefix: str) -> int | None:
    """Return the number in batch key ``key`` (``prefix``: its receiver's); None if not one."""
    digits = key[len(prefix) :]
    if not (digits.isascii() and digits.isdigit()):
        return None
    number = int(digits)
    return number if key == f"{prefix}{number:0{_DIGITS}d}" else None


def numbered_documents(
    snapshot: Snapshot, collection: str, receiver: str, what: str
) -> tuple[list[tuple[int, str, Mapping[str, Any]]], int, list[str]]:
    """Return ``receiver``'s documents of ``collection`` keyed ``batch_key``.

    As ``(number, key, document)`` in number order; then the number after every one
    found (none is reused); then a problem for each of its keys that is not a
    ``batch_key`` (``what``: what the documents are, for the message).
    """
    prefix = receiver + "/"
    found: list[tuple[int, str, Mapping[str, Any]]] = []
    problems: list[str] = []
    next_number = 0
    for key, document in snapshot.documents.get(collection, {}).items():
        if not key.startswith(prefix):
            continue
        number = batch_number(key, prefix)
        if number is None:
            problems.append(f"{key}: not {what}'s key (<receiver>/<{_DIGITS} digits>)")
            continue
        next_number = max(next_number, number + 1)
        found.append((number, key, document))
    found.sort(key=lambda numbered: numbered[0])
    return found, next_number, problems


def _batch_keys(document: Mapping[str, Any], prefix: str) -> list[str]:
    at, keys = document.get("at"), document.get("keys")
    if type(at) not in (int, float):
        raise ValueError(f"not a delivered batch: 'at' is {at!r}, not a number")
    if not isinstance(keys, list):
        raise ValueError(f"not a delivered batch: 'keys' is {type(keys).__name__}, not a list")
    for key in keys:
        if not isinstance(key, str) or not key.startswith(prefix):
            raise ValueError(f"not a delivered batch: {key!r} is not one of its receiver's keys")
    return keys


def load_delivered(snapshot: Snapshot, receiver: str) -> tuple[RememberedDeliveries, list[str]]:
    """Return ``receiver``'s remembered deliveries, and the problems found.

    Per-key documents first (oldest first by their time), then the batches in number
    order, each one's keys in order; a key found twice is remembered at its later place.
    A batch document that cannot be read (or whose key is not a ``batch_key``) is left
    in the store, reported (one line each, with its key) and skipped: it must not stop
    a notifier from starting. Its number is still used up.
    """
    prefix = receiver + "/"
    legacy: list[tuple[float, str]] = []
    for key, document in snapshot.documents.get(DELIVERED, {}).items():
        if key.startswith(prefix):
            at = document.get("at")
            legacy.append((float(at) if isinstance(at, int | float) else 0.0, key))
    legacy.sort()
    found = RememberedDeliveries(OrderedDict((key, LEGACY) for _, key in legacy))
    documents, found.next_batch, problems = numbered_documents(
        snapshot, DELIVERED_BATCHES, receiver, "a delivered batch"
    )
    batches: list[tuple[int, list[str]]] = []
    for number, key, document in documents:
        try:
            batches.append((number, _batch_keys(document, prefix)))
        except ValueError as error:
            problems.append(f"{key}: {error}")
    remembered = found.keys
    for number, keys in batches:
        found.batches.append(number)
        for key in keys:
            if remembered.pop(key, None) == LEGACY:
                found.superseded.append(key)
            remembered[key] = number
    return found, problems


class DeliveredMarks:
    """Remember ``receiver``'s last ``remember`` delivered keys; decide their writes.

    No I/O: ``remember`` records a delivery (and forgets the oldest past the window);
    ``take`` returns the writes that make it durable: the batch document of the marks
    made since the last ``take`` and the deletes of what aged out. Call ``take`` once per
    append, with the writes taken for it (the ``OutboxWriter`` does), so that a mark is
    in the same append as its outbox document's delete, and a batch's delete always in
    a later append than the batch. ``remembered`` (key -> batch number) is what a
    notification's key is checked against. ``remember`` 0: no marks; what ``loaded``
    holds is all deleted. Takes ownership of ``loaded``.
    """

    def __init__(
        self, receiver: str, remember: int, loaded: RememberedDeliveries | None = None
    ) -> None:
        if remember < 0:
            raise ValueError(f"remember_delivered must be >= 0, not {remember}")
        loaded = RememberedDeliveries() if loaded is None else loaded
        self.receiver = receiver
        self._remember = remember
        self.remembered = loaded.keys
        self._batches = deque(loaded.batches)  # in the store (or being written), ascending
        self._next = loaded.next_batch  # the number of the batch gathering now
        self._keys: list[str] = []  # its keys
        self._at = 0.0
        self._deletes = [StateWrite(DELIVERED, key, None) for key in loaded.superseded]
        self._forget()

    @property
    def due(self) -> bool:
        """Return True when ``take`` has writes to give."""
        return bool(self._keys or self._deletes)

    @property
    def next_batch(self) -> int:
        """Return the number of the batch gathering now: every mark made from now is in it
        or a later one."""
        return self._next

    @property
    def kept_from(self) -> int:
        """Return the lowest batch number the store keeps once what ``take`` gave is
        written: every mark made in that batch or later is still in the store."""
        return self._batches[0] if self._batches else self._next

    def remember(self, key: str, at: float) -> None:
        """Record that ``key`` was delivered at ``at`` (epoch seconds)."""
        if not self._remember:
            return
        remembered = self.remembered
        if remembered.pop(key, None) == LEGACY:  # its per-key document is stale now
            self._deletes.append(StateWrite(DELIVERED, key, None))
        remembered[key] = self._next
        self._keys.append(key)
        self._at = at
        if len(remembered) > self._remember:
            self._forget()

    def take(self) -> list[StateWrite]:
        """Return the writes due: deletes of aged-out marks, then the gathered batch."""
        writes, self._deletes = self._deletes, []
        if self._keys:
            number = self._next
            self._next = number + 1
            self._batches.append(number)
            writes.append(batch_write(self.receiver, number, self._keys, self._at))
            self._keys = []
        return writes

    def _forget(self) -> None:
        remembered, deletes = self.remembered, self._deletes
        while len(remembered) > self._remember:
            key, number = remembered.popitem(last=False)  # O(1) in an OrderedDict
            if number == LEGACY:
                deletes.append(StateWrite(DELIVERED, key, None))
        batches = self._batches
        if not batches:
            return
        # The numbers never decrease along ``remembered``: a batch numbered below its
        # oldest key's holds only keys that aged out or were delivered again since.
        oldest = next(iter(remembered.values()), self._next)
        while batches and batches[0] < oldest:
            number = batches.popleft()
            deletes.append(StateWrite(DELIVERED_BATCHES, batch_key(self.receiver, number), None))
