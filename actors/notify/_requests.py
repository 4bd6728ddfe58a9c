"""Operator requests to notifiers (dead letters, status), their answers and errors.

Ask them of the ``NotifierSupervisor`` (which routes by ``receiver``, or asks every
notifier when ``receiver`` is None) or of one ``Notifier`` directly. In-process
requests: the gateway validates what operators send before building one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from actors.notify._circuit import CircuitState
from actors.notify._config import DeliveryPolicy, ReceiverConfig, ReceiverKind
from messages import Notification

__all__ = [
    "DeadLetterInfo",
    "DeadLetterNotFound",
    "DeleteReceiver",
    "GetNotifierStatus",
    "GetTemplateFailures",
    "ListDeadLetters",
    "ListReceivers",
    "NoStoredReceiverChange",
    "NotifierStatus",
    "NotifyError",
    "PutReceiver",
    "ReceiverChanged",
    "ReceiverInUse",
    "ReceiverInfo",
    "ReceiverNotStarted",
    "ReplayDeadLetter",
    "Replayed",
    "RevertReceiver",
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


class NoStoredReceiverChange(UnknownReceiver):
    """Raised by ``RevertReceiver`` when no run-time change of ``receiver`` is stored:
    there is nothing to revert (the receiver may run, as the configuration has it)."""

    def __init__(self, receiver: str) -> None:
        NotifyError.__init__(self, f"no stored run-time change of receiver {receiver!r} to revert")
        self.receiver = receiver
        self.known = ()


class ReceiverInUse(NotifyError):
    """The receiver cannot be removed: ``users`` (routes, escalation policies) name it."""

    def __init__(self, receiver: str, users: tuple[str, ...]) -> None:
        super().__init__(
            f"receiver {receiver!r} is still used by {', '.join(users)}: "
            "change the configuration first"
        )
        self.receiver = receiver
        self.users = users


class ReceiverNotStarted(NotifyError):
    """The notifier of a put receiver failed to start; the previous one (if any) is back."""

    def __init__(self, receiver: str, reason: str) -> None:
        super().__init__(f"the notifier of receiver {receiver!r} did not start: {reason}")
        self.receiver = receiver
        self.reason = reason


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
class GetTemplateFailures:
    """Ask the ``NotifierSupervisor`` how often user templates failed since it started.

    The answer is a dict (channel, part, stage) -> count, a copy of the
    ``TemplateSet.failure_counts`` that every notifier's channel shares: ``stage`` is
    ``render`` (once per rendering that fell back to the default), or ``compile`` for
    a ``TemplateSet`` passed in built from an unchecked ``TemplatesConfig`` (the
    ``NotifiersConfig`` refuses templates that do not compile). Only the supervisor
    answers it (templates are per channel, not per receiver).
    """


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


@dataclass(frozen=True, slots=True)
class PutReceiver:
    """Add a receiver, or replace the one of the same name, at run time.

    Its notifier (a new child of the ``NotifierSupervisor``) takes over the receiver's
    outbox: what the previous one had not delivered is delivered by the new one.
    ``delivery`` None is the kind's default policy. The answer is ``ReceiverChanged``;
    ``ReceiverNotStarted`` if the notifier cannot start (the previous one is restored).
    """

    receiver: ReceiverConfig
    delivery: DeliveryPolicy | None = None


@dataclass(frozen=True, slots=True)
class DeleteReceiver:
    """Remove a receiver and stop its notifier; its undelivered notifications stay in
    the store until a receiver of that name comes back.

    The answer is ``ReceiverChanged``; ``UnknownReceiver`` for an unknown name and
    ``ReceiverInUse`` for one that the routes or escalation policies name.
    """

    name: str


@dataclass(frozen=True, slots=True)
class RevertReceiver:
    """Drop the stored run-time change of a receiver; the configuration's version runs.

    The stored document (a put receiver, or a deletion's tombstone) is removed first
    (``ReceiverNotStored`` if the store refuses: nothing changed). Then the configured
    receiver of that name runs again, as the server read it at start: it replaces the
    stored one and takes over its outbox, as a ``PutReceiver`` replacement does, or
    starts again after a deletion. A receiver only the store had (put at run time) is
    removed instead, unless ``users`` name it: ``ReceiverInUse``, and nothing changes,
    the store included. The answer is ``ReceiverChanged``; ``NoStoredReceiverChange``
    (an ``UnknownReceiver``) if no change of that name is stored.
    """

    name: str


@dataclass(frozen=True, slots=True)
class ReceiverChanged:
    """Answer ``PutReceiver``/``DeleteReceiver``/``RevertReceiver``: which receiver, and
    what happened."""

    name: str
    kind: ReceiverKind | None
    """The receiver's kind; None only when a revert dropped a stored change of a
    receiver that does not run (a document that did not validate, a tombstone of a
    receiver no longer configured)."""
    change: str
    """``added``, ``replaced`` or ``removed``; ``unchanged`` when a revert changed no
    running receiver."""


@dataclass(frozen=True, slots=True)
class ListReceivers:
    """Ask for the receivers in use; the answer is a tuple of ``ReceiverInfo``."""


@dataclass(frozen=True, slots=True)
class ReceiverInfo:
    """One receiver: its config, delivery policy and who uses it (routes, policies)."""

    receiver: ReceiverConfig
    kind: ReceiverKind
    delivery: DeliveryPolicy
    used_by: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Return the receiver's name."""
        return self.receiver.name

    def summary(self) -> Mapping[str, object]:
        """Return it as JSON-ready data with every secret masked (for operators)."""
        config = self.receiver.model_dump(mode="json", by_alias=True)
        if "headers" in config:
            config["headers"] = {name: "**********" for name in config["headers"]}
        url = config.get("url")
        if isinstance(url, str):
            # A Slack webhook URL is itself the secret; other URLs may carry one in the
            # query string.
            config["url"] = "**********" if self.kind == "slack" else url.split("?", 1)[0]
        return {
            "name": self.name,
            "kind": self.kind,
            "config": config,
            "delivery": self.delivery.model_dump(mode="json"),
            "used_by": list(self.used_by),
        }
