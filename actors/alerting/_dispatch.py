"""NotificationPlanner: routing, grouping and escalation turned into ``Notification``s."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from actors.alerting._alert import Alert
from actors.alerting._escalation import EscalationPolicy, EscalationStep, EscalationTracker
from actors.alerting._grouping import FIRING, RESOLVED, Flush, GroupScheduler
from actors.alerting._routing import Route, RouteConfig, RouteTree
from actors.store import NewEvent, StateWrite
from messages import AlertState, DeliveryReceipt, Notification, NotificationKind, TransitionKind

__all__ = ["ESCALATIONS", "NotificationPlanner", "notification", "receipt_event"]

ESCALATIONS = "escalations"
"""The store collection of escalation positions, keyed by alert id."""

# The alert's state (as operators see it) -> its state in a notification group.
RESTART_SLACK = 30.0
"""Seconds a restart may take, added to the window of resolutions notified again."""

_GROUP_STATE = {
    AlertState.ACTIVE.value: FIRING,
    AlertState.ACKNOWLEDGED.value: AlertState.ACKNOWLEDGED.value,
    AlertState.SUPPRESSED.value: AlertState.SUPPRESSED.value,
    AlertState.RESOLVED.value: RESOLVED,
}
# A group member's reported state -> the notification it gives (suppressed gives none).
_NOTIFY = {
    FIRING: NotificationKind.FIRING,
    AlertState.ACKNOWLEDGED.value: NotificationKind.ACKNOWLEDGED,
    RESOLVED: NotificationKind.RESOLVED,
}


class NotificationPlanner:
    """Decide who is notified of what and when; pure and synchronous, time passed in.

    Routing and grouping follow Alertmanager (``RouteTree``, ``GroupScheduler``): each
    alert occurrence is a member (keyed by alert id) of one group per route it takes;
    a flush notifies the route's receiver of each member whose state changed: FIRING
    (active and unmuted), ACKNOWLEDGED, RESOLVED (only if the receiver was told it was
    firing). A muted (SUPPRESSED) alert notifies nobody; when it comes back it fires
    again. A repeat re-sends FIRING for the group's firing set.

    Escalation (``EscalationTracker``) runs while the alert is ACTIVE and unmuted, with
    the policy named by the first route it takes that names one; it starts from level 0
    whenever the alert enters that state and stops when it leaves it (acknowledged,
    resolved, muted). Positions are state documents (``drain_writes``) persisted with
    the transition that moved them.

    Feed ``state_changed`` before the transition is persisted (it moves escalations)
    and ``committed`` after (grouping only ever reports durable state).
    """

    def __init__(
        self,
        route: RouteConfig | None = None,
        policies: Sequence[EscalationPolicy] = (),
    ) -> None:
        self._tree = None if route is None else RouteTree(route)
        self._policies = {policy.name: policy for policy in policies}
        self.groups = GroupScheduler()
        self.escalations = EscalationTracker()
        self._routes: dict[str, tuple[str, list[tuple[Route, str]]]] = {}
        # alert id -> (severity, routes) of the groups its last durable state went to.
        self._joined: dict[str, tuple[str, list[tuple[Route, str]]]] = {}
        self._dirty: set[str] = set()

    @property
    def enabled(self) -> bool:
        """Return True if a routing tree is configured (otherwise nothing is notified)."""
        return self._tree is not None

    def restore(self, documents: Mapping[str, Mapping[str, Any]], now: float) -> None:
        """Reload escalation positions (``ESCALATIONS`` documents) after a restart."""
        if documents:
            self.escalations.restore(documents, now)

    def refeed(self, alerts: Sequence[Alert], now: float) -> None:
        """Put restored open alerts back in their groups (they re-notify: same keys).

        They are marked restored in their groups: one that resolves before its group's
        next flush still notifies the resolution (the receiver may have heard it fire
        before the restart), where a new alert would be dropped unnotified. One
        acknowledged within ``resolution_window`` is notified acknowledged again: its
        flush may not have happened before the restart (same idempotency key).
        """
        recent = now - self.resolution_window()
        for alert in alerts:
            self.committed(alert.alert_id, alert.fingerprint, alert.match_labels, alert.state, now)
            if self._tree is not None:
                acked = alert.state is AlertState.ACKNOWLEDGED and (
                    alert.acknowledged_at is not None and alert.acknowledged_at >= recent
                )
                for route, key in self.routes(alert.fingerprint, alert.match_labels):
                    self.groups.restored(route.id, key, alert.alert_id)
                    if acked:
                        self.groups.told_firing(route.id, key, alert.alert_id)

    def resolution_window(self) -> float:
        """Return how far back a resolution may still wait for its group's flush.

        The longest ``group_wait + group_interval`` of the routes, plus
        ``RESTART_SLACK`` for the time a restart itself takes.
        """
        if self._tree is None:
            return 0.0
        longest = max(r.group_wait + r.group_interval for r in self._tree.routes())
        return longest + RESTART_SLACK

    def refeed_resolved(self, alerts: Sequence[Alert], now: float) -> None:
        """Notify again the resolutions of ``alerts`` (resolved just before a restart).

        A resolution committed before a crash whose group had not flushed yet would be
        lost with the old instance's groups: the receiver, told the alert fires, would
        never hear it ended. Each is put back as a restored member that resolved, so
        its group tells the resolution (same idempotency key: a receiver that already
        had it drops the repeat).
        """
        if self._tree is None:
            return
        for alert in alerts:
            labels = alert.match_labels
            for route, key in self.routes(alert.fingerprint, labels):
                self.groups.alert_changed(route, alert.alert_id, labels, FIRING, now, group_key=key)
                self.groups.restored(route.id, key, alert.alert_id)
                self.groups.alert_changed(
                    route, alert.alert_id, labels, RESOLVED, now, group_key=key
                )
            self._routes.pop(alert.fingerprint, None)

    def routes(self, fingerprint: str, labels: Mapping[str, str]) -> list[tuple[Route, str]]:
        """Return (route, group key) for every route the alert's match labels take.

        Cached per fingerprint while its severity (the one match label that can
        change) stays the same.
        """
        cached = self._routes.get(fingerprint)
        severity = labels.get("severity", "")
        if cached is None or cached[0] != severity:
            assert self._tree is not None
            routes = [(route, route.group_key(labels)) for route in self._tree.match(labels)]
            cached = self._routes[fingerprint] = (severity, routes)
        return cached[1]

    @property
    def escalating(self) -> bool:
        """Return True if routes name escalation policies (``state_changed`` matters)."""
        return self._tree is not None and bool(self._policies)

    def state_changed(self, alert: Alert, now: float) -> bool:
        """Start or stop the alert's escalation after a change of its state.

        Return whether an escalation started or stopped (re-arm the timer then).
        """
        if self._tree is None or not self._policies:
            return False
        if alert.state is AlertState.ACTIVE:
            if alert.alert_id in self.escalations:
                return False
            policy = self._policy(alert)
            if policy is None:
                return False
            self.escalations.start(alert.alert_id, policy, now)
            self._dirty.add(alert.alert_id)
            return True
        return self.forget(alert.alert_id)

    def relabeled(self, alert: Alert, now: float) -> bool:
        """Re-decide the escalation of an open alert whose severity may have changed.

        Nothing happens unless its match labels' severity differs from the one it was
        last routed with (an update that changed nothing else costs a lookup). Its
        routes may then name another policy, or none: a running escalation whose policy
        the new routes do not name stops, and the new one (if any) starts from level 0,
        as when an alert becomes ACTIVE; one whose policy they still name goes on.
        Return whether anything started or stopped (re-arm the timer then).
        """
        if self._tree is None or not self._policies:
            return False
        cached = self._routes.get(alert.fingerprint)
        if cached is None or cached[0] == alert.match_labels.get("severity", ""):
            return False  # never routed (muted since it opened), or routed the same
        running = self.escalations.policy(alert.alert_id)
        if running is None:
            return self.state_changed(alert, now)
        policy = self._policy(alert)
        if policy is not None and policy.name == running.name:
            return False
        self.forget(alert.alert_id)
        self.state_changed(alert, now)
        return True

    def forget(self, alert_id: str) -> bool:
        """Stop the escalation of an alert (closed, or no longer held); return if one ran."""
        if self.escalations.resolve(alert_id):
            self._dirty.add(alert_id)
            return True
        return False

    def moved(self, alert_id: str, severity: str) -> bool:
        """Return whether ``severity`` (of the match labels) differs from the grouped one.

        Then the alert's durable update must go to ``committed``: it may leave groups
        and join others. Cheap, for every update of an open alert.
        """
        joined = self._joined.get(alert_id)
        return joined is not None and joined[0] != severity

    def committed(
        self,
        alert_id: str,
        fingerprint: str,
        labels: Mapping[str, str],
        state: str,
        now: float,
    ) -> None:
        """Record a durable state of an alert (``labels``: its match labels) in its groups.

        An alert whose labels now take other routes or group keys (its severity
        changed) leaves the groups it no longer belongs to as if it had resolved there,
        as in Alertmanager, where severity is a label and a new value is a new alert:
        a group that told its receiver the alert was firing tells it that it ended,
        and stops repeating it.
        """
        if self._tree is None:
            return
        group_state = _GROUP_STATE[state]
        routes = self.routes(fingerprint, labels)
        joined = self._joined.get(alert_id)
        if joined is not None and joined[1] is not routes:
            staying = {(route.id, key) for route, key in routes}
            for route, key in joined[1]:
                if (route.id, key) not in staying:
                    self.groups.alert_changed(route, alert_id, labels, RESOLVED, now, group_key=key)
        for route, key in routes:
            self.groups.alert_changed(route, alert_id, labels, group_state, now, group_key=key)
        if group_state == RESOLVED:
            self._routes.pop(fingerprint, None)
            self._joined.pop(alert_id, None)
        else:
            self._joined[alert_id] = (labels.get("severity", ""), routes)

    def due_flushes(
        self, now: float, alert_of: Callable[[str], Alert | None]
    ) -> list[Notification]:
        """Return the notifications of every group flush due at ``now``."""
        notifications: list[Notification] = []
        for flush in self.groups.due(now):
            notifications.extend(self._notifications(flush, now, alert_of))
        return notifications

    def due_escalations(self, now: float) -> list[EscalationStep]:
        """Return the escalation steps due at ``now`` (their positions become dirty)."""
        steps = self.escalations.due(now)
        self._dirty.update(step.alert_id for step in steps)
        return steps

    def escalation_pages(
        self, alert: Alert, step: EscalationStep, now: float
    ) -> list[Notification]:
        """Return the ESCALATED notifications of ``step`` (send once it is recorded)."""
        return [
            notification(
                alert,
                receiver,
                NotificationKind.ESCALATED,
                f"{alert.alert_id}/{receiver}/escalated/{step.loop}.{step.level}",
                now,
            )
            for receiver in step.receivers
        ]

    def next_deadline(self) -> float | None:
        """Return when a flush or an escalation step is next due, or None."""
        deadlines = (self.groups.next_deadline(), self.escalations.next_deadline())
        times = [t for t in deadlines if t is not None]
        return min(times) if times else None

    def drain_writes(self) -> list[StateWrite]:
        """Return the escalation documents changed since the last call."""
        dirty, self._dirty = self._dirty, set()
        return [
            StateWrite(ESCALATIONS, alert_id, self.escalations.document(alert_id))
            for alert_id in sorted(dirty)
        ]

    def _policy(self, alert: Alert) -> EscalationPolicy | None:
        for route, _key in self.routes(alert.fingerprint, alert.match_labels):
            if route.escalation is not None:
                return self._policies.get(route.escalation)
        return None

    def _notifications(
        self, flush: Flush, now: float, alert_of: Callable[[str], Alert | None]
    ) -> list[Notification]:
        if flush.is_repeat:
            members = [(key, FIRING) for key in sorted(flush.firing)]
            suffix = f"repeat/{flush.at:.0f}"
        else:
            members = [(member.key, member.state) for member in flush.changed]
            suffix = ""
        notifications: list[Notification] = []
        for alert_id, state in members:
            kind = _NOTIFY.get(state)
            alert = alert_of(alert_id)
            if kind is None or alert is None:
                continue
            key = f"{alert_id}/{flush.receiver}/{suffix or kind.value}"
            notifications.append(notification(alert, flush.receiver, kind, key, now))
        return notifications


def notification(
    alert: Alert, receiver: str, kind: NotificationKind, key: str, now: float
) -> Notification:
    """Return the notification ``kind`` about ``alert`` for ``receiver``, keyed ``key``."""
    return Notification(
        id=key,
        receiver=receiver,
        kind=kind,
        fingerprint=alert.fingerprint,
        labels=alert.labels,
        annotations=alert.annotations,
        severity=alert.severity,
        created_at=now,
        idempotency_key=key,
        starts_at=alert.starts_at,
    )


def receipt_event(receipt: DeliveryReceipt, now: float) -> NewEvent:
    """Return the ``notification_outcome`` history event of a notifier's receipt.

    The alert id is the first part of the notification id (``alert-7/team/firing``),
    as ``NotificationPlanner`` builds them.
    """
    alert_id = receipt.notification_id.split("/", 1)[0]
    return NewEvent(
        kind=TransitionKind.NOTIFICATION_OUTCOME.value,
        at=now,
        payload={
            "notification_id": receipt.notification_id,
            "receiver": receipt.receiver,
            "outcome": receipt.outcome.value,
            "attempts": receipt.attempts,
            "latency_s": receipt.latency_s,
            "error": receipt.error,
        },
        alert_id=alert_id if alert_id.startswith("alert-") else None,
    )
