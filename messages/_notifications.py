"""Notifications to receivers, and the receipts notifiers send back."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import Field, ValidationInfo, field_validator

from messages._base import Fingerprint, Labels, Message, NonEmptyStr, Seconds, Timestamp
from messages._rules import Severity

__all__ = [
    "DeliveryOutcome",
    "DeliveryReceipt",
    "DeliveryReceipts",
    "Notification",
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

    @classmethod
    def delivered(
        cls, notification_id: str, receiver: str, attempts: int, latency_s: float
    ) -> Self:
        """Return the ``delivered`` receipt of values the caller vouches for, unvalidated.

        For a notifier, which makes one per delivery from what is already typed (STYLE
        rule 5): a non-empty id and receiver (a validated ``Notification``'s), attempts
        >= 1 and a finite latency >= 0. Equal to the validated receipt of the same
        values, at a third of its cost: validation (keyword arguments, two Python field
        validators) was the largest single item of a webhook delivery's CPU after the
        JSON encodings. Anything else (a receipt from outside, a failure) is validated.
        """
        receipt = cls.__new__(cls)
        # What BaseModel.model_construct sets, without its per-field loop in Python.
        _set(
            receipt,
            "__dict__",
            {
                "type": "delivery_receipt",
                "notification_id": notification_id,
                "receiver": receiver,
                "outcome": DeliveryOutcome.DELIVERED,
                "attempts": attempts,
                "latency_s": latency_s,
                "error": None,
            },
        )
        _set(receipt, "__pydantic_fields_set__", _DELIVERED_FIELDS)
        _set(receipt, "__pydantic_extra__", None)
        _set(receipt, "__pydantic_private__", None)
        return receipt


_set = object.__setattr__  # the model is frozen: its own __setattr__ refuses
_DELIVERED_FIELDS = frozenset(
    ("notification_id", "receiver", "outcome", "attempts", "latency_s", "error")
)


class DeliveryReceipts(Message):
    """Report several ``DeliveryReceipt``s at once, in the order the outcomes happened.

    Notifiers tell their receipts this way, one batch per message they handle: one
    mailbox message and one handler call for the whole batch, rather than one per
    notification. ``receipts`` is never empty; a receiver handles them in order, as if
    each had come alone.
    """

    type: Literal["delivery_receipts"] = "delivery_receipts"
    receipts: Annotated[tuple[DeliveryReceipt, ...], Field(min_length=1)]
