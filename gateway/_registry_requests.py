"""What sessions ask of the connection registry, and what it answers (never on a wire)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway._connection import Connection
from messages import SubscribeFrame

__all__ = [
    "AddSubscription",
    "Register",
    "Registered",
    "RegistryStats",
    "RegistryStatsQuery",
    "RemoveSubscription",
    "Unregister",
]


@dataclass(frozen=True, slots=True)
class Register:
    """Ask the registry to push events to ``connection``; answered with ``Registered``."""

    connection: Connection


@dataclass(frozen=True, slots=True)
class Registered:
    """Answer ``Register``: the last seq the registry has seen."""

    seq: int


@dataclass(frozen=True, slots=True)
class Unregister:
    """Tell the registry to forget a connection and its subscriptions (idempotent)."""

    connection_id: str


@dataclass(frozen=True, slots=True)
class AddSubscription:
    """Tell the registry to start a subscription; it answers the client itself.

    The registry pushes the ``snapshot`` (or, for a resume, the ``reply`` and the replayed
    ``event`` frames), or an ``error`` frame with the subscribe frame's id, onto the
    connection, so that they come in order with the live events. A connection holding
    ``max_subscriptions`` already is refused (``invalid``).
    """

    connection_id: str
    frame: SubscribeFrame
    max_subscriptions: int = 16


@dataclass(frozen=True, slots=True)
class RemoveSubscription:
    """Ask the registry to end a subscription; answered with whether it existed."""

    connection_id: str
    subscription: str


@dataclass(frozen=True, slots=True)
class RegistryStatsQuery:
    """Ask the registry for its ``RegistryStats``."""


@dataclass(frozen=True, slots=True)
class RegistryStats:
    """What the registry holds and has done.

    ``seq``: the last transition it received. ``alerts_by_state``: its view of the open
    alerts. ``shed``: slow consumers disconnected. ``replays``: resumes served from
    ``memory`` or from ``history``, and ``snapshot`` for resumes too far behind.
    """

    connections: int
    subscriptions: int
    seq: int
    alerts_by_state: dict[str, int] = field(default_factory=dict)
    events_pushed: int = 0
    notifications_pushed: int = 0
    duplicates_dropped: int = 0
    shed: int = 0
    replays: dict[str, int] = field(default_factory=dict)
