"""In-process requests to the alert manager that carry actor refs (never on a wire)."""

from __future__ import annotations

from dataclasses import dataclass

from messages import AlertSummary
from supervision import ActorRef

__all__ = ["GetStatus", "ManagerStatus", "Subscribe", "Subscribed", "Unsubscribe"]


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Ask the alert manager to tell ``subscriber`` every ``AlertTransition``, in seq order.

    ``resume_from``: the last seq the subscriber received before; the events after it
    are replayed from the store, then live ones follow, with no gap and no duplicate.
    Without it, events start after the reply's ``seq``; ``snapshot=True`` makes the
    reply carry the alerts as of that seq (open ones, and those resolved recently).
    Re-subscribing replaces the subscription. Subscriptions survive restarts of the
    alert manager (not of the process); a subscriber that terminates loses its own.

    The subscriber's mailbox should be unbounded: a transition that cannot be queued
    is a dead letter, i.e. a gap (resume to recover).
    """

    subscriber: ActorRef
    resume_from: int | None = None
    snapshot: bool = False


@dataclass(frozen=True, slots=True)
class Subscribed:
    """Answer ``Subscribe``: transitions with seq > ``seq`` follow, in order."""

    seq: int
    alerts: tuple[AlertSummary, ...] = ()


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """End ``subscriber``'s subscription (a no-op if it has none); answered with True."""

    subscriber: ActorRef


@dataclass(frozen=True, slots=True)
class GetStatus:
    """Ask the alert manager for its ``ManagerStatus`` (answered once all is durable)."""


@dataclass(frozen=True, slots=True)
class ManagerStatus:
    """How far the alert manager is: last durable seq, counts, batches committed."""

    last_seq: int
    open_alerts: int
    alerts: int
    silences: int
    escalations: int
    subscribers: int
    batches: int
