"""One client subscription: its filter, how far it has been told, and its frames' bytes.

Frames are assembled from bytes: the transition is serialised once per event, and each
subscription adds its own prefix, so fanning one event out to many clients costs one
``model_dump_json`` and a concatenation per client.
"""

from __future__ import annotations

import json

from gateway._connection import Connection
from gateway._filters import Facts, SubscriptionFilter
from messages import AlertTransition, Notification, NotificationKind, SubscribeFrame

__all__ = ["NOTIFICATION_STATES", "Record", "Subscription"]

NOTIFICATION_STATES: dict[NotificationKind, str] = {
    NotificationKind.FIRING: "active",
    NotificationKind.ESCALATED: "active",
    NotificationKind.ACKNOWLEDGED: "acknowledged",
    NotificationKind.RESOLVED: "resolved",
}
"""The alert state a notification of each kind speaks of, for state filters."""


class Record:
    """One transition as the registry fans it out: the facts of its alert before and after.

    ``before`` is None when the alert was not open (or is unknown), ``after`` None for
    an event about no alert. ``body`` is the transition's JSON, made on first use.
    """

    __slots__ = ("_body", "after", "before", "seq", "transition")

    def __init__(
        self, transition: AlertTransition, before: Facts | None, after: Facts | None
    ) -> None:
        self.transition = transition
        self.seq = transition.seq
        self.before = before
        self.after = after
        self._body: bytes | None = None

    @property
    def body(self) -> bytes:
        """Return the transition's JSON (computed once)."""
        body = self._body
        if body is None:
            body = self._body = self.transition.model_dump_json().encode()
        return body


class Subscription:
    """A subscription of one connection, named by the id of its subscribe frame.

    ``cursor`` is the last seq it has been told (or skipped): nothing at or below it is
    pushed again, which is what makes a resume free of duplicates. ``live`` is False
    while a history replay is being fetched; live events then wait in ``held``.
    """

    __slots__ = (
        "_event_prefix",
        "_notification_prefix",
        "connection",
        "cursor",
        "held",
        "id",
        "live",
        "notifications",
        "selected",
    )

    def __init__(self, connection: Connection, frame: SubscribeFrame, cursor: int) -> None:
        self.id = frame.id
        self.connection = connection
        self.selected = SubscriptionFilter.of(frame)
        self.notifications = frame.notifications
        self.cursor = cursor
        self.live = True
        self.held: list[Record] = []
        quoted = json.dumps(frame.id).encode()
        self._event_prefix = b'{"type":"event","subscription":' + quoted + b',"seq":'
        self._notification_prefix = (
            b'{"type":"notification","subscription":' + quoted + b',"notification":'
        )

    @property
    def key(self) -> tuple[str, str]:
        """Return (connection id, subscription id): unique in the registry."""
        return self.connection.connection_id, self.id

    def wants(self, record: Record) -> bool:
        """Advance the cursor past ``record``; return whether it should be pushed."""
        if record.seq <= self.cursor:
            return False
        self.cursor = record.seq
        selected = self.selected
        return selected.everything or selected.matches_change(record.before, record.after)

    def event_frame(self, record: Record) -> bytes:
        """Return the ``event`` frame of ``record`` for this subscription."""
        return b'%s%d,"event":%s}' % (self._event_prefix, record.seq, record.body)

    def deliver(self, record: Record, *, burst: bool = False) -> bool:
        """Push ``record`` if it is new and selected; False if the client was shed.

        ``burst``: part of a replay pushed all at once, which the client cannot have read
        yet; it may exceed the unsent-bytes limit by its own size (see ``push``).
        """
        if not self.wants(record):
            return True
        return self.connection.push(self.event_frame(record), large=burst)

    def wants_notification(self, notification: Notification) -> bool:
        """Return whether this subscription asked for notifications like this one."""
        if not self.notifications:
            return False
        facts = (
            notification.labels,
            notification.severity.value,
            NOTIFICATION_STATES[notification.kind],
        )
        return self.selected.matches(facts)

    def notification_frame(self, body: bytes) -> bytes:
        """Return the ``notification`` frame carrying the notification JSON ``body``."""
        return self._notification_prefix + body + b"}"
