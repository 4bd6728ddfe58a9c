"""The durable outbox: each receiver's undelivered notifications and dead letters.

A record is a state document keyed ``<receiver>/<notification id>`` (receiver names
never contain ``/``). It is written before the first attempt: with the delivered marks
on, in the append's batch document with the other new records of that append
(collection ``outbox_batches``: actors/notify/_outbox_batches.py), otherwise as its own
document in the ``outbox`` collection. It is rewritten as its own ``outbox`` document
after each failed attempt (attempts, last error) and kept there as a dead letter
(``dead_at`` set) after the last retry. Once delivered, its own document is deleted
with, in the same append, the delivered mark (actors/notify/_delivered_marks.py); a
batch entry needs only the mark. The outbox writes documents only, no events: delivery
history is the alert manager's (it records the ``DeliveryReceipt``s), and its event
sequence stays its own. The writer is actors/notify/_outbox_writer.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from actors.notify._delivered_marks import batch_key
from actors.notify._outbox_batches import OUTBOX, OutboxBatches, load_outbox_batches
from actors.notify._payloads import notification_document
from actors.store import Snapshot, StateWrite, encode_payload
from messages import Notification

__all__ = [
    "OUTBOX",
    "OutboxRecord",
    "load_batched_records",
    "load_outbox",
    "outbox_key",
    "rewrite_of",
    "state_write",
]


def outbox_key(receiver: str, notification_id: str) -> str:
    """Return the document key of ``notification_id`` in ``receiver``'s outbox."""
    return f"{receiver}/{notification_id}"


@dataclass(slots=True)
class OutboxRecord:
    """One outbox document: a notification waiting for delivery, or a dead letter.

    ``recorded_at`` is wall-clock epoch seconds (ages survive a process restart);
    ``order`` is the receiver's arrival order, so a reload keeps each alert's order.
    Treat it as a value: ``dataclasses.replace`` makes a changed copy. (Not frozen: a
    frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``,
    five times the cost, and a notifier makes one per notification.)
    """

    receiver: str
    notification: Notification
    recorded_at: float
    order: int
    attempts: int = 0
    error: str | None = None
    dead_at: float | None = None

    @property
    def key(self) -> str:
        """Return the document key."""
        return outbox_key(self.receiver, self.notification.id)

    @property
    def dead(self) -> bool:
        """Return True for a dead letter."""
        return self.dead_at is not None

    def document(self) -> dict[str, Any]:
        """Return the JSON document stored for this record."""
        return {
            "receiver": self.receiver,
            "notification": notification_document(self.notification),
            "recorded_at": self.recorded_at,
            "order": self.order,
            "attempts": self.attempts,
            "error": self.error,
            "dead_at": self.dead_at,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> OutboxRecord:
        """Rebuild a record; raise ValueError (or a pydantic ValidationError) if bad."""
        try:
            return cls(
                receiver=str(document["receiver"]),
                notification=Notification.model_validate(document["notification"]),
                recorded_at=float(document["recorded_at"]),
                order=int(document["order"]),
                attempts=int(document["attempts"]),
                error=None if document.get("error") is None else str(document["error"]),
                dead_at=None if document.get("dead_at") is None else float(document["dead_at"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"not an outbox document: {error!r}") from error


def load_outbox(snapshot: Snapshot, receiver: str) -> tuple[list[OutboxRecord], list[str]]:
    """Return ``receiver``'s records in arrival order, and the problems found.

    A document that cannot be read is left in the store, reported (one line each, with
    its key) and skipped: one bad document must not stop a notifier from starting.
    """
    records: list[OutboxRecord] = []
    problems: list[str] = []
    prefix = receiver + "/"
    for key, document in snapshot.documents.get(OUTBOX, {}).items():
        if not key.startswith(prefix):
            continue
        try:
            record = OutboxRecord.from_document(document)
        except ValueError as error:
            problems.append(f"{key}: {error}")
            continue
        if record.key != key:
            problems.append(f"{key}: the document is {record.key!r}'s")
            continue
        records.append(record)
    records.sort(key=lambda record: (record.order, record.recorded_at, record.key))
    return records, problems


def rewrite_of(document: Mapping[str, Any], key: str) -> StateWrite:
    """Return the write of ``document`` as ``key``'s own outbox document.

    Encoded here in Rust (encode_payload: half the CPU of the store's json encoder, the
    same decoded values); what is not JSON is left to the append to refuse (the writer
    then reports it not durable), not raised to the caller.
    """
    try:
        text: str | None = encode_payload(document)
    except (TypeError, ValueError):
        text = None
    return state_write((OUTBOX, key, document, text))


def load_batched_records(
    snapshot: Snapshot,
    receiver: str,
    marks: Mapping[str, int],
    records: list[OutboxRecord],
    *,
    gather: bool = True,
) -> tuple[OutboxBatches, list[str]]:
    """Add ``receiver``'s undelivered batch entries to ``records`` (``load_outbox``'s),
    in arrival order; return the ``OutboxBatches`` that compacts them at the first
    append, and the problems found.

    ``marks``: the delivered marks as stored (``RememberedDeliveries.keys``). An entry
    that cannot be read is reported, and its batch left in the store (its readable
    entries are still rewritten on their own); of a key in two batches, the later one.
    """
    own = {record.key: record for record in records}
    found, problems = load_outbox_batches(snapshot, receiver, marks, own)
    damaged = set(found.damaged)
    batched: dict[str, tuple[OutboxRecord, Mapping[str, Any]]] = {}
    for number, document in found.records:
        try:
            record = OutboxRecord.from_document(document)
        except ValueError as error:
            problems.append(f"{batch_key(receiver, number)}: an entry: {error}")
            damaged.add(number)
            continue
        if record.receiver != receiver:
            problems.append(f"{batch_key(receiver, number)}: an entry of {record.receiver!r}")
            damaged.add(number)
            continue
        batched[record.key] = (record, document)  # a later batch's replaces an earlier's
    records += [record for record, _ in batched.values()]
    records.sort(key=lambda record: (record.order, record.recorded_at, record.key))
    batches = OutboxBatches(
        receiver,
        gather=gather,
        next_batch=found.next_batch,
        individual=list(own),
        compact=[number for number in found.numbers if number not in damaged],
        rewrite=[rewrite_of(document, key) for key, (_, document) in batched.items()],
    )
    return batches, problems


# StateWrite from a tuple without the NamedTuple's __new__, a Python function: a frame
# per write, and a notifier makes two per notification.
state_write = cast(
    "Callable[[tuple[str, str, Mapping[str, Any] | None, str | None]], StateWrite]",
    functools.partial(tuple.__new__, StateWrite),
)
