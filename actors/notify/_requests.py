"""Operator requests to notifiers (dead letters, status), their answers and errors.

Ask them of the ``NotifierSupervisor`` (which routes by ``receiver``, or asks every
notifier when ``receiver`` is None) or of one ``Notifier`` directly. In-process
requests: the gateway validates what operators send before building one.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.notify._circuit import CircuitState
from messages import Notification

__all__ = [
    "DeadLetterInfo",
    "DeadLetterNotFound",
    "GetNotifierStatus",
    "ListDeadLetters",
    "NotifierStatus",
    "NotifyError",
    "ReplayDeadLetter",
    "Replayed",
    "UnknownReceiver",
]


class NotifyError(Exception):
    """Base class of the notifiers' named errors."""


class UnknownReceiver(NotifyError):
    """No receiver of that name is configured; ``known`` lists those that are."""

    def __init__(self, receiver: str, known: tuple[str, ...]) -> None:
        listed = ", ".join(repr(name) for name in known) or "none"
        super().__init__(f"no receiver named {receiver!r} is configured (configured: {listed})")
        self.receiver = receiver
        self.known = known


class DeadLetterNotFound(NotifyError):
    """The receiver has no dead letter for that notification id."""

    def __init__(self, receiver: str, notification_id: str) -> None:
        super().__init__(f"receiver {receiver!r} has no dead letter {notification_id!r}")
        self.receiver = receiver
        self.notification_id = notification_id


@dataclass(frozen=True, slots=True)
class ListDeadLetters:
    """Ask for dead letters: one receiver's, or every receiver's (None).

    The answer is a tuple of ``DeadLetterInfo``, oldest first per receiver.
    """

    receiver: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetterInfo:
    """One dead letter: the notification, how many attempts were made, and why it died."""

    receiver: str
    notification: Notification
    attempts: int
    error: str
    dead_at: float
    """Wall-clock epoch seconds."""


@dataclass(frozen=True, slots=True)
class ReplayDeadLetter:
    """Deliver a dead letter again, as a new notification with the same idempotency key.

    ``notification_id`` None replays every dead letter of ``receiver``. The answer is
    ``Replayed``; an unknown id fails the ask with ``DeadLetterNotFound``. The replay
    starts from attempt 1 with a fresh age, goes through the outbox like any
    notification, and ends with a new receipt.
    """

    receiver: str
    notification_id: str | None = None


@dataclass(frozen=True, slots=True)
class Replayed:
    """Answer ``ReplayDeadLetter``: these notifications are queued again."""

    receiver: str
    notification_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GetNotifierStatus:
    """Ask for ``NotifierStatus``: one receiver's, or every receiver's (None, a tuple)."""

    receiver: str | None = None


@dataclass(frozen=True, slots=True)
class NotifierStatus:
    """One notifier's state: queue, circuit, dead letters and counters since its start."""

    receiver: str
    queued: int
    """Notifications recorded and not yet delivered nor dead (in flight included)."""
    in_flight: int
    """Sends under way."""
    circuit: CircuitState
    dead_letters: int
    delivered: int
    failed_attempts: int
    outbox_appends: int
