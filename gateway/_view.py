"""The open alerts as the stream of transitions tells them: the registry's snapshots."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from gateway._filters import Facts, SubscriptionFilter
from messages import AlertState, AlertSummary, AlertTransition, Severity, TransitionKind

__all__ = ["AlertView"]

_RESOLVED = AlertState.RESOLVED.value
_OPENED = TransitionKind.ALERT_OPENED.value
_UPDATED = TransitionKind.ALERT_UPDATED.value
_ACKNOWLEDGED = TransitionKind.ALERT_ACKNOWLEDGED.value


class _Alert:
    """One open alert, mutable, in the fields of ``AlertSummary``."""

    __slots__ = (
        "acknowledged_at",
        "acknowledged_by",
        "alert_id",
        "annotations",
        "fingerprint",
        "labels",
        "rule_id",
        "severity",
        "starts_at",
        "state",
        "value",
    )

    def __init__(self, summary: dict[str, Any]) -> None:
        self.alert_id: str = summary["alert_id"]
        self.rule_id: str = summary["rule_id"]
        self.fingerprint: str = summary["fingerprint"]
        self.state: str = summary["state"]
        self.severity: str = summary["severity"]
        self.labels: dict[str, str] = summary["labels"]
        self.annotations: dict[str, str] = summary.get("annotations") or {}
        self.value: float | None = summary.get("value")
        self.starts_at: float = summary["starts_at"]
        self.acknowledged_by: str | None = summary.get("acknowledged_by")
        self.acknowledged_at: float | None = summary.get("acknowledged_at")

    def facts(self) -> Facts:
        return self.labels, self.severity, self.state

    def summary(self) -> AlertSummary:
        return AlertSummary(
            alert_id=self.alert_id,
            rule_id=self.rule_id,
            fingerprint=self.fingerprint,
            state=AlertState(self.state),
            severity=Severity(self.severity),
            labels=self.labels,
            annotations=self.annotations,
            value=self.value,
            starts_at=self.starts_at,
            acknowledged_by=self.acknowledged_by,
            acknowledged_at=self.acknowledged_at,
        )


class AlertView:
    """Keep the open alerts up to date from the alert manager's transitions, in order.

    Seed it with ``load`` (the alerts of a ``Subscribed`` reply), then ``apply`` every
    transition after that reply's seq: the view is then what the alert manager's book
    says of its open alerts as of the last transition applied, so a snapshot taken from
    it and the events after that seq fit together exactly. Resolved alerts leave it.
    """

    def __init__(self) -> None:
        self._alerts: dict[str, _Alert] = {}

    def __len__(self) -> int:
        return len(self._alerts)

    def load(self, alerts: Iterable[AlertSummary]) -> None:
        """Replace the view with the unresolved ``alerts``."""
        self._alerts = {
            alert.alert_id: _Alert(alert.model_dump(mode="json"))
            for alert in alerts
            if alert.state is not AlertState.RESOLVED
        }

    def apply(self, transition: AlertTransition) -> tuple[Facts | None, Facts | None]:
        """Apply one transition; return the facts of its alert before and after it.

        Both are None for an event about no alert (silences); an event that carries no
        new state for its alert (a rule error) returns the same facts twice.
        """
        alert_id = transition.alert_id
        if alert_id is None:
            return None, None
        payload = transition.payload
        entry = self._alerts.get(alert_id)
        before = None if entry is None else entry.facts()
        raw_labels = payload.get("labels")
        severity, state = payload.get("severity"), payload.get("state")
        if not (
            isinstance(raw_labels, dict) and isinstance(severity, str) and isinstance(state, str)
        ):
            return before, before
        labels = {str(k): str(v) for k, v in raw_labels.items()}
        after: Facts = (labels, severity, state)
        if state == _RESOLVED:
            self._alerts.pop(alert_id, None)
            return before, after
        if entry is None:
            entry = _Alert(
                {
                    "alert_id": alert_id,
                    "rule_id": transition.rule_id or "",
                    "fingerprint": transition.fingerprint or "",
                    "state": state,
                    "severity": severity,
                    "labels": labels,
                    "annotations": _strings(payload.get("annotations")),
                    "value": _number(payload.get("value")),
                    "starts_at": _number(payload.get("starts_at")) or transition.at,
                }
            )
            self._alerts[alert_id] = entry
            return before, after
        entry.state, entry.severity, entry.labels = state, severity, labels
        kind = transition.kind.value
        if kind in (_UPDATED, _OPENED):
            entry.value = _number(payload.get("value"))
            entry.annotations = _strings(payload.get("annotations"))
        elif kind == _ACKNOWLEDGED:
            by = payload.get("by")
            entry.acknowledged_by = by if isinstance(by, str) else None
            entry.acknowledged_at = transition.at
        return before, after

    def snapshot(self, selected: SubscriptionFilter) -> tuple[AlertSummary, ...]:
        """Return the open alerts ``selected`` matches, oldest opened first."""
        return tuple(
            alert.summary() for alert in self._alerts.values() if selected.matches(alert.facts())
        )

    def count_by_state(self) -> dict[str, int]:
        """Return how many open alerts are in each state."""
        return dict(Counter(alert.state for alert in self._alerts.values()))


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}
