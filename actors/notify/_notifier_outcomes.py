"""How a notifier settles a send's outcome: a retry, a dead letter, the receipts.

``NotifierOutcomes`` is a base class of ``Notifier`` (actors/notify/_notifier.py): it
records a failed attempt that will be retried and a notification given up on in the
outbox, and collects the ``DeliveryReceipt`` of every outcome, told as one
``DeliveryReceipts`` once the message that settled them is handled. The decisions are
the ``DeliveryScheduler``'s; these methods carry them out.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from actors.notify._outbox import OutboxRecord
from actors.notify._outbox_writer import OutboxWriter
from actors.notify._receipts import ReceiptSink
from actors.notify._scheduler import DeadLettered, Delivery, Retrying
from messages import DeliveryOutcome, DeliveryReceipt, DeliveryReceipts
from supervision import Actor, Clock

__all__ = ["NotifierOutcomes"]

_MAX_ERROR = 1000  # characters of an error kept in a receipt or a dead letter


class NotifierOutcomes(Actor):
    """Record retries and dead letters, and tell the receipts of every outcome.

    The subclass (``Notifier``) sets these attributes; ``_handling`` is true while it
    handles a message, whose receipts it tells (``_tell_receipts``) when done.
    """

    receiver: str
    _receipts: ReceiptSink
    _receipts_due: list[DeliveryReceipt]
    _handling: bool
    _records: dict[str, OutboxRecord]
    _dead: dict[str, OutboxRecord]
    _writer: OutboxWriter
    _clock: Clock
    _log: Any

    def _retrying(self, outcome: Retrying) -> None:
        reason = _clip(str(outcome.error))
        self._log.info(
            "delivery failed, will retry",
            notifications=[item.notification.id for item in outcome.items],
            attempts=outcome.attempts,
            delay=round(outcome.delay, 6),
            error=reason,
        )
        for delivery in outcome.items:
            record = self._records.get(delivery.key)
            if record is not None:
                record = dataclasses.replace(record, attempts=delivery.attempts, error=reason)
                self._records[delivery.key] = record
                self._writer.write(record, delivery.key)
            self._receipt(delivery, DeliveryOutcome.FAILED, reason)

    def _dead_letter(self, outcome: DeadLettered) -> None:
        reason = _clip(outcome.reason)
        self._log.warning(
            "notification dead-lettered",
            notifications=[item.notification.id for item in outcome.items],
            attempts=outcome.attempts,
            reason=reason,
        )
        dead_at = self._clock.time()
        for delivery in outcome.items:
            record = self._records.pop(delivery.key, None)
            if record is None:
                continue
            record = dataclasses.replace(
                record, attempts=delivery.attempts, error=reason, dead_at=dead_at
            )
            self._dead[delivery.key] = record
            self._writer.write(record, delivery.key)
            self._receipt(delivery, DeliveryOutcome.DEAD_LETTERED, reason)
        if not self._handling and self._receipts_due:
            # Outside a message (on_start's first pump expires what the outbox held for
            # too long): nothing would tell them later.
            self._tell_receipts()

    def _receipt(
        self,
        delivery: Delivery,
        outcome: DeliveryOutcome,
        error: str | None,
        wall: float | None = None,
    ) -> None:
        notification = delivery.notification
        if wall is None:
            wall = self._clock.time()
        self._receipts_due.append(
            DeliveryReceipt(
                notification_id=notification.id,
                receiver=self.receiver,
                outcome=outcome,
                attempts=delivery.attempts,
                latency_s=max(0.0, wall - notification.created_at),
                error=error,
            )
        )

    def _tell_receipts(self) -> None:
        due, self._receipts_due = self._receipts_due, []
        self._receipts.tell(DeliveryReceipts(receipts=tuple(due)), self.system, self._log)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"
