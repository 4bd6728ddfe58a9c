"""Notifications to receivers, and the receipts notifiers send back."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from messages._base import Fingerprint, Labels, Message, NonEmptyStr, Seconds, Timestamp
from messages._rules import Severity

__all__ = [
    "DeliveryOutcome",
    "DeliveryReceipt",
    "DeliveryReceipts",
    "Notification",
    "NotificationBatch",
    "NotificationKind",
]


class NotificationKind(StrEnum):
    """Why a receiver is told about an alert; values are the lowercase names."""

    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


class DeliveryOutcome(StrEnum):
    """How a delivery ended: ``failed`` may be retried, ``dead_lettered`` will not be."""

    DELIVERED = "delivered"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"


class Notification(Message):
    """Deliver one alert update to one receiver, at least once.

    ``idempotency_key`` is the same on every retry of the same notification (it is
    stored in the outbox with it): receivers and notifiers use it to drop duplicates.
    ``labels`` and ``annotations`` are the alert's, annotations already rendered.
    ``created_at`` is when the notification was made; ``starts_at`` is when the alert
    (this occurrence of it) started, the Alertmanager payload's ``startsAt``. It is
    optional so that notifications recorded before it existed (outbox rows) still
    load: None means unknown, and ``alert_started_at`` falls back to ``created_at``.
    """

    type: Literal["notification"] = "notification"
    id: NonEmptyStr
    receiver: NonEmptyStr
    kind: NotificationKind
    fingerprint: Fingerprint
    labels: Labels
    annotations: dict[str, str] = Field(default_factory=dict)
    severity: Severity
    created_at: Timestamp
    idempotency_key: NonEmptyStr
    starts_at: Timestamp | None = None

    @property
    def alert_started_at(self) -> float:
        """Return when the alert started: ``starts_at``, or ``created_at`` if unknown."""
        return self.created_at if self.starts_at is None else self.starts_at


class DeliveryReceipt(Message):
    """Report how delivering one notification to one receiver ended.

    ``attempts`` counts the sends tried (0 when the notification was dead-lettered
    without a try, e.g. a circuit breaker stayed open); ``latency_s`` is from the
    notification's creation to this outcome.  ``error`` is required for ``failed``
    and ``dead_lettered`` and forbidden for ``delivered``.
    """

    type: Literal["delivery_receipt"] = "delivery_receipt"
    notification_id: NonEmptyStr
    receiver: NonEmptyStr
    outcome: DeliveryOutcome
    attempts: Annotated[int, Field(ge=0)]
    latency_s: Seconds
    error: str | None = Field(default=None, validate_default=True)

    @field_validator("error")
    @classmethod
    def _error_matches_outcome(cls, error: str | None, info: ValidationInfo) -> str | None:
        outcome = info.data.get("outcome")
        if outcome is DeliveryOutcome.DELIVERED and error is not None:
            raise ValueError("error must be None when the outcome is delivered")
        if outcome in (DeliveryOutcome.FAILED, DeliveryOutcome.DEAD_LETTERED) and not error:
            raise ValueError(f"error is required when the outcome is {outcome.value}")
        return error

    @field_validator("attempts")
    @classmethod
    def _delivered_took_a_try(cls, attempts: int, info: ValidationInfo) -> int:
        if info.data.get("outcome") is DeliveryOutcome.DELIVERED and attempts < 1:
            raise ValueError("attempts must be >= 1 when the outcome is delivered")
        return attempts


class NotificationBatch(Message):
    """Deliver several notifications to one receiver: one message instead of one each.

    The alert manager sends one per receiver per flush; the notifier records them all
    in one outbox append, then delivers each as if it had come alone, in this order.
    Every notification's ``receiver`` must be ``receiver``.
    """

    type: Literal["notification_batch"] = "notification_batch"
    receiver: NonEmptyStr
    notifications: Annotated[tuple[Notification, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _one_receiver(self) -> NotificationBatch:
        receiver = self.receiver
        for index, notification in enumerate(self.notifications):
            if notification.receiver != receiver:
                raise ValueError(
                    f"notifications[{index}].receiver is {notification.receiver!r}, "
                    f"not the batch's receiver {receiver!r}"
                )
        return self


class DeliveryReceipts(Message):
    """Report several delivery outcomes at once, in the order they happened.

    A notifier sends one per scheduling pass instead of one ``DeliveryReceipt`` per
    outcome; the alert manager records each receipt as if it had come alone.
    """

    type: Literal["delivery_receipts"] = "delivery_receipts"
    receipts: Annotated[tuple[DeliveryReceipt, ...], Field(min_length=1)]
