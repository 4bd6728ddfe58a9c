"""Outbox batches: the new records of one append, kept in the store as one document.

A notification is recorded before its first attempt. Recording each in its own
``outbox`` document cost the store a row inserted and, once delivered, a row deleted:
two B-tree seeks and a page or two per notification, about half of the store thread's
CPU per webhook notification. A burst's new records share an append anyway; they now
share a document too, and a delivery writes nothing of its own but its delivered mark
(actors/notify/_delivered_marks.py), which the append was writing already.

Format: collection ``outbox_batches`` (``OUTBOX_BATCHES``), key ``<receiver>/<n>``
(``batch_key``: n zero-padded to 12 digits, increasing per receiver), value
``{"marks_from": m, "records": [outbox record documents, in arrival order]}``. An entry
of a batch is delivered once its key has a delivered mark in a marks batch numbered
``m`` or later (its deliveries come after the batch is durable, and the marks batch
gathering then is ``m``): a mark from an earlier delivery of the same key does not
count. An entry is superseded by an ``outbox`` document under its key (a failed
attempt rewrites the record there, a dead letter stays there). The batch document is
deleted in the append that settles its last entry.

Marks are forgotten oldest first: before a marks batch numbered ``m`` or later is
deleted, the batches with ``marks_from`` ``m`` are compacted in that same append (their
undelivered entries rewritten as ``outbox`` documents, the batch deleted), so no
delivered entry ever loses its mark while its batch holds it. A notifier that starts
compacts every batch it finds. Batching needs the marks: with ``remember_delivered``
0, every record is its own document, as before.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from actors.notify._delivered_marks import batch_key, numbered_documents
from actors.store import Snapshot, StateWrite

__all__ = ["OUTBOX", "OUTBOX_BATCHES", "LoadedBatches", "OutboxBatches", "load_outbox_batches"]

OUTBOX = "outbox"
"""The store collection of outbox documents (a record's own: see actors/notify/_outbox.py)."""

OUTBOX_BATCHES = "outbox_batches"
"""The store collection of outbox batch documents."""

# As in _outbox: a StateWrite from a tuple, without the NamedTuple's Python __new__.
_state_write = cast(
    "Callable[[tuple[str, str, Mapping[str, Any] | None, str | None]], StateWrite]",
    functools.partial(tuple.__new__, StateWrite),
)


@dataclass(slots=True)
class _Batch:
    marks_from: int
    entries: dict[str, str]
    """Undelivered entries: key -> its record's JSON (the text only: a backlog of
    thousands would hold each record's document twice)."""


@dataclass(slots=True)
class LoadedBatches:
    """What ``load_outbox_batches`` found of one receiver's batches."""

    records: list[tuple[int, Mapping[str, Any]]] = field(default_factory=list)
    """The undelivered, not superseded entries: (batch number, document), in order."""
    numbers: list[int] = field(default_factory=list)
    """The readable batch documents' numbers (compacted at start)."""
    next_batch: int = 0
    """The number after every batch document's, readable or not (none is overwritten)."""
    damaged: set[int] = field(default_factory=set)
    """Batches with an entry that cannot be read: left in the store for an operator."""


def load_outbox_batches(
    snapshot: Snapshot,
    receiver: str,
    marks: Mapping[str, int],
    superseding: Mapping[str, object],
) -> tuple[LoadedBatches, list[str]]:
    """Return ``receiver``'s undelivered batch entries, and the problems found.

    ``marks``: each remembered delivered key -> the number of its latest marks batch,
    as the store holds them (``RememberedDeliveries.keys``, before any is forgotten);
    ``superseding``: the keys that have an ``outbox`` document. A batch document that
    cannot be read is left in the store, reported (one line, with its key) and skipped;
    its number is still used up. An entry is not checked here: ``OutboxRecord`` reads it.
    """
    found = LoadedBatches()
    documents, found.next_batch, problems = numbered_documents(
        snapshot, OUTBOX_BATCHES, receiver, "an outbox batch"
    )
    for number, key, document in documents:
        marks_from, records = document.get("marks_from"), document.get("records")
        if type(marks_from) is not int or not isinstance(records, list):
            problems.append(f"{key}: not an outbox batch (marks_from and records)")
            continue
        found.numbers.append(number)
        for record in records:
            entry = _entry_key(record)
            if entry is None:
                problems.append(f"{batch_key(receiver, number)}: an entry without its key")
                found.damaged.add(number)
                continue
            if entry in superseding or marks.get(entry, -1) >= marks_from:
                continue  # rewritten on its own since, or delivered
            found.records.append((number, record))
    return found, problems


def _entry_key(record: Any) -> str | None:
    # The outbox key of a record document: ``<receiver>/<notification id>``.
    if not isinstance(record, Mapping):
        return None
    receiver, notification = record.get("receiver"), record.get("notification")
    if not isinstance(receiver, str) or not isinstance(notification, Mapping):
        return None
    notification_id = notification.get("id")
    return f"{receiver}/{notification_id}" if isinstance(notification_id, str) else None


class OutboxBatches:
    """Which of a receiver's records live in batch documents; the writes that keep them.

    No I/O, as ``DeliveredMarks``: the ``OutboxWriter`` asks ``batch`` for the document
    of an append's new records, ``settle``s an entry when it is delivered or rewritten
    on its own, and at each append ``take``s the deletes of settled batches and the
    compactions the marks call for. ``individual`` holds the keys with an ``outbox``
    document of their own (a new record for one is written there, replacing it).
    """

    def __init__(
        self,
        receiver: str,
        *,
        gather: bool = True,
        next_batch: int = 0,
        individual: Sequence[str] = (),
        compact: Sequence[int] = (),
        rewrite: Sequence[StateWrite] = (),
    ) -> None:
        """``gather`` False: no new batches (what ``compact`` and ``rewrite`` say is still
        done); ``compact``: batch numbers to delete at the first append; ``rewrite``:
        the writes of their undelivered entries (each its own document from then on)."""
        self.receiver = receiver
        self.gather = gather
        self.individual: set[str] = set(individual)
        self._next = next_batch
        self._batches: dict[int, _Batch] = {}
        self._where: dict[str, int] = {}  # an undelivered entry's key -> its batch
        self._due: list[StateWrite] = list(rewrite)
        self._due += [self._delete(number) for number in compact]
        self.individual.update(write.key for write in rewrite)

    @property
    def due(self) -> bool:
        """Return True when ``take`` has writes to give."""
        return bool(self._due)

    def __contains__(self, key: object) -> bool:
        return key in self._where

    def batch(self, entries: list[StateWrite], marks_from: int) -> tuple[int, StateWrite]:
        """Return the number and document write of a new batch of ``entries``.

        ``entries``: new records' ``outbox`` writes, each with its JSON text;
        ``marks_from``: the number of the marks batch gathering after this append.
        """
        number = self._next
        self._next = number + 1
        where = self._where
        kept: dict[str, str] = {}
        for entry in entries:
            kept[entry.key] = cast(str, entry.value_json)
            where[entry.key] = number
        self._batches[number] = _Batch(marks_from, kept)
        # The texts are the records' JSON already: joined, not encoded again.
        texts = ",".join(kept.values())
        value = {"marks_from": marks_from, "records": [entry.value for entry in entries]}
        text = f'{{"marks_from":{marks_from},"records":[{texts}]}}'
        return number, _state_write((OUTBOX_BATCHES, batch_key(self.receiver, number), value, text))

    def settle(self, key: str) -> bool:
        """End ``key``'s entry (delivered, or rewritten on its own); False if it has none."""
        number = self._where.pop(key, None)
        if number is None:
            return False
        batch = self._batches[number]
        del batch.entries[key]
        if not batch.entries:
            del self._batches[number]
            self._due.append(self._delete(number))
        return True

    def again(self, writes: list[StateWrite]) -> None:
        """Give back ``writes`` that ``take`` gave (their append failed) for the next one."""
        self._due[:0] = writes

    def lost(self, number: int) -> None:
        """Forget batch ``number``: its append failed, so the store does not hold it."""
        batch = self._batches.pop(number, None)
        if batch is not None:
            for key in batch.entries:
                del self._where[key]

    def take(self, marks_kept_from: int) -> list[StateWrite]:
        """Return the writes due: deletes of settled batches, and compactions.

        ``marks_kept_from``: the lowest marks batch number the store keeps after this
        append; a batch with ``marks_from`` below it would lose delivered entries' marks.
        """
        writes, self._due = self._due, []
        batches = self._batches
        # Made in number order with marks_from never decreasing, and a dict keeps its
        # order: the batches to compact come first, and the first one kept ends the scan.
        while batches:
            number, batch = next(iter(batches.items()))
            if batch.marks_from >= marks_kept_from:
                break
            del batches[number]
            for key, text in batch.entries.items():
                del self._where[key]
                self.individual.add(key)
                writes.append(_state_write((OUTBOX, key, json.loads(text), text)))
            writes.append(self._delete(number))
        return writes

    def _delete(self, number: int) -> StateWrite:
        return _state_write((OUTBOX_BATCHES, batch_key(self.receiver, number), None, None))
