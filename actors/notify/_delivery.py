"""What a DeliveryScheduler queues and reports: deliveries, sends and their outcomes.

A ``Delivery`` is one notification in a notifier's queue; a ``Send`` is what the notifier
performs now; ``Retrying`` and ``DeadLettered`` say what followed a failure or an age
limit. The scheduler (actors/notify/_scheduler.py) makes the decisions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from actors.notify._channel import DeliveryError
from messages import Notification

__all__ = ["DeadLettered", "Delivery", "Retrying", "Send"]


@dataclass(eq=False, slots=True)
class Delivery:
    """One notification in a notifier's queue, from recorded until delivered or dead."""

    notification: Notification
    key: str
    """The outbox key (unique per receiver)."""
    seq: int
    """Arrival order in this scheduler."""
    since: float
    """The monotonic time its age counts from (when it was first recorded)."""
    attempts: int = 0
    recorded: bool = False
    """True once durable in the outbox; only recorded deliveries are sent."""
    error: str | None = None
    """The last failure, if any."""
    unit: _Unit | None = field(default=None, repr=False)
    """What it is sent with while queued; None once it is finished (delivered, dead)."""


@dataclass(eq=False, slots=True)
class _Unit:
    """What is sent together: one delivery, or a batch (which retries as a whole)."""

    items: list[Delivery]
    seq: int
    since: float
    attempts: int = 0
    not_before: float = -math.inf
    in_flight: bool = False
    done: bool = False
    where: str | None = None  # "ready" or "delayed" while in that heap


class Send:
    """One send to perform now: ``items`` go to the channel as one batch."""

    __slots__ = ("_unit", "attempt", "items", "probe")

    def __init__(self, unit: _Unit, probe: bool) -> None:
        self._unit = unit
        self.items = tuple(unit.items)
        self.attempt = unit.attempts + 1
        """Which attempt this is for these items (1 for the first)."""
        self.probe = probe
        """True if this is the circuit breaker's half-open probe."""

    def __repr__(self) -> str:
        keys = [item.key for item in self.items]
        return f"Send({keys}, attempt={self.attempt}, probe={self.probe})"


@dataclass(frozen=True, slots=True)
class Retrying:
    """A send failed and will be tried again ``delay`` seconds later."""

    items: tuple[Delivery, ...]
    attempts: int
    delay: float
    error: DeliveryError


@dataclass(frozen=True, slots=True)
class DeadLettered:
    """Deliveries given up on (permanent error, attempts or age spent), with why."""

    items: tuple[Delivery, ...]
    attempts: int
    reason: str
