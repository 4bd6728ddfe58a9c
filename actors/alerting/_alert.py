"""One alert occurrence as the book holds it, and its durable document form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actors.store import NewEvent, encode_payload
from messages import AlertDetail, AlertState, AlertSummary, Severity, TransitionKind

__all__ = ["KIND", "SEVERITY", "STATE", "Alert", "alert_event", "match_labels", "payload_event"]

# Enum member -> its text, by dict lookup: ``member.value`` is a property, and these
# run several times per transition.
KIND: dict[TransitionKind, str] = {kind: kind.value for kind in TransitionKind}
SEVERITY: dict[Severity, str] = {severity: severity.value for severity in Severity}
STATE: dict[AlertState, str] = {state: state.value for state in AlertState}
# Enum members as module constants: ``AlertState.RESOLVED`` is a class attribute lookup
# through the enum's metaclass, several times dearer than a global.
_ACTIVE = AlertState.ACTIVE
_RESOLVED = AlertState.RESOLVED
_SUPPRESSED = AlertState.SUPPRESSED
_NOTHING: frozenset[str] = frozenset()


@dataclass(slots=True, eq=False)
class Alert:
    """Mutable record of one occurrence of a fingerprint; owned by ``AlertBook``.

    ``status`` is the underlying lifecycle state (ACTIVE, ACKNOWLEDGED or RESOLVED),
    kept apart from suppression so that an alert returns to it when its silences end.
    ``state`` is what operators see. ``resolution`` numbers the book's resolutions in
    order (which resolved alerts are forgotten first). ``held`` marks a manual resolution that holds
    until the rule itself resolves: firing events of the same episode (same
    ``starts_at``) do not reopen it.

    ``match_labels`` is what silences, inhibition rules, queries and routes match:
    the labels plus ``severity`` (unless a label of that name exists), since Tocsin
    keeps severity out of the fingerprint but operators route and mute by it.
    """

    alert_id: str
    number: int
    fingerprint: str
    rule_id: str
    labels: dict[str, str]
    annotations: dict[str, str]
    severity: Severity
    value: float | None
    no_data: bool
    starts_at: float
    opened_at: float
    last_seen_at: float
    status: AlertState = AlertState.ACTIVE
    updates: int = 0
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    acknowledge_comment: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    resolve_comment: str | None = None
    resolution: int | None = None
    held: bool = False
    silenced_by: frozenset[str] = _NOTHING
    inhibited_by: frozenset[str] = _NOTHING
    escalation_level: int | None = None
    previous_alert_id: str | None = None
    _match: dict[str, str] | None = field(default=None, init=False, repr=False)

    @property
    def match_labels(self) -> dict[str, str]:
        """Return the labels plus ``severity``: what silences, inhibition and routes match.

        Built on first use and kept: with no silence, inhibition rule or route to
        match, a new alert never needs it.
        """
        match = self._match
        if match is None:
            match = self._match = match_labels(self.labels, SEVERITY[self.severity])
        return match

    def refresh_match_labels(self) -> None:
        """Forget ``match_labels``; call after changing ``labels`` or ``severity``."""
        self._match = None

    @property
    def is_open(self) -> bool:
        """Return True until the alert is resolved."""
        return self.status is not _RESOLVED

    @property
    def is_suppressed(self) -> bool:
        """Return True while a silence or an inhibiting alert mutes this open alert."""
        return self.status is not _RESOLVED and bool(self.silenced_by or self.inhibited_by)

    @property
    def state(self) -> AlertState:
        """Return the state operators see: SUPPRESSED over ACTIVE and ACKNOWLEDGED."""
        status = self.status
        if status is not _RESOLVED and (self.silenced_by or self.inhibited_by):
            return _SUPPRESSED
        return status

    def event_payload(self, **extra: Any) -> dict[str, Any]:
        """Return the payload every alert event carries, plus ``extra``."""
        return _complete(self, extra)

    def summary(self) -> AlertSummary:
        """Return the alert as ``AlertSummary`` (the answer to queries)."""
        return AlertSummary(
            alert_id=self.alert_id,
            rule_id=self.rule_id,
            fingerprint=self.fingerprint,
            state=self.state,
            severity=self.severity,
            labels=self.labels,
            annotations=self.annotations,
            value=self.value,
            starts_at=self.starts_at,
            acknowledged_by=self.acknowledged_by,
            acknowledged_at=self.acknowledged_at,
            resolved_at=self.resolved_at,
        )

    def detail(self) -> AlertDetail:
        """Return the alert as ``AlertDetail`` (the answer to ``GetAlert``)."""
        return AlertDetail(
            alert=self.summary(),
            underlying_state=self.status,
            opened_at=self.opened_at,
            last_seen_at=self.last_seen_at,
            updates=self.updates,
            acknowledge_comment=self.acknowledge_comment,
            resolved_by=self.resolved_by,
            resolve_comment=self.resolve_comment,
            silenced_by=tuple(sorted(self.silenced_by)),
            inhibited_by=tuple(sorted(self.inhibited_by)),
            escalation_level=self.escalation_level,
            previous_alert_id=self.previous_alert_id,
        )

    def to_document(self) -> dict[str, Any]:
        """Return the JSON object stored in the ``alerts`` collection.

        Fields at their default are left out (the human-action fields while the alert
        is active): most alerts are open and untouched, and a checkpoint writes one
        document per changed alert.
        """
        document: dict[str, Any] = {
            "alert_id": self.alert_id,
            "number": self.number,
            "fingerprint": self.fingerprint,
            "rule_id": self.rule_id,
            "labels": self.labels,
            "annotations": self.annotations,
            "severity": SEVERITY[self.severity],
            "value": self.value,
            "starts_at": self.starts_at,
            "opened_at": self.opened_at,
            "last_seen_at": self.last_seen_at,
            "status": STATE[self.status],
        }
        # Plain ifs, not a loop over names: a checkpoint runs this once per changed alert.
        if self.no_data:
            document["no_data"] = True
        if self.updates:
            document["updates"] = self.updates
        if self.status is not _ACTIVE:
            document["acknowledged_by"] = self.acknowledged_by
            document["acknowledged_at"] = self.acknowledged_at
            document["acknowledge_comment"] = self.acknowledge_comment
            document["resolved_at"] = self.resolved_at
            document["resolved_by"] = self.resolved_by
            document["resolve_comment"] = self.resolve_comment
            document["resolution"] = self.resolution
            document["held"] = self.held
        if self.silenced_by:
            document["silenced_by"] = sorted(self.silenced_by)
        if self.inhibited_by:
            document["inhibited_by"] = sorted(self.inhibited_by)
        if self.escalation_level is not None:
            document["escalation_level"] = self.escalation_level
        if self.previous_alert_id is not None:
            document["previous_alert_id"] = self.previous_alert_id
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Alert:
        """Rebuild an alert from ``to_document``'s output; KeyError if a field is missing."""
        get = document.get
        return cls(
            alert_id=document["alert_id"],
            number=int(document["number"]),
            fingerprint=document["fingerprint"],
            rule_id=document["rule_id"],
            labels=dict(document["labels"]),
            annotations=dict(document["annotations"]),
            severity=Severity(document["severity"]),
            value=document["value"],
            no_data=bool(get("no_data", False)),
            starts_at=float(document["starts_at"]),
            opened_at=float(document["opened_at"]),
            last_seen_at=float(document["last_seen_at"]),
            status=AlertState(document["status"]),
            updates=int(get("updates", 0)),
            acknowledged_by=get("acknowledged_by"),
            acknowledged_at=get("acknowledged_at"),
            acknowledge_comment=get("acknowledge_comment"),
            resolved_at=get("resolved_at"),
            resolved_by=get("resolved_by"),
            resolve_comment=get("resolve_comment"),
            resolution=get("resolution"),
            held=bool(get("held", False)),
            silenced_by=frozenset(get("silenced_by", ())),
            inhibited_by=frozenset(get("inhibited_by", ())),
            escalation_level=get("escalation_level"),
            previous_alert_id=get("previous_alert_id"),
        )


def alert_event(kind: TransitionKind, alert: Alert, now: float, **extra: Any) -> NewEvent:
    """Return the history event ``kind`` of ``alert`` at ``now``, ``extra`` in its payload."""
    return payload_event(kind, alert, now, extra)


def payload_event(
    kind: TransitionKind, alert: Alert, now: float, payload: dict[str, Any]
) -> NewEvent:
    """Return ``alert_event(kind, alert, now, **payload)``, completing ``payload`` in place.

    For the hot paths: a dict passed as is costs less than keywords packed into one.
    """
    payload = _complete(alert, payload)
    return NewEvent(
        KIND[kind],
        now,
        payload,
        alert.alert_id,
        alert.fingerprint,
        alert.rule_id,
        # Encoded once, here, from JSON types only (validated messages, our own fields).
        encode_payload(payload),
    )


def _complete(alert: Alert, payload: dict[str, Any]) -> dict[str, Any]:
    # What every alert event's payload ends with; in place: ``payload`` is a fresh
    # keyword dict of the caller's, built once per event on the hot path.
    payload["labels"] = alert.labels
    payload["severity"] = SEVERITY[alert.severity]
    payload["state"] = STATE[alert.state]
    return payload


def match_labels(labels: dict[str, str], severity: str) -> dict[str, str]:
    """Return ``labels`` plus ``severity`` (unless they have it): what matchers see."""
    return labels if "severity" in labels else {**labels, "severity": severity}
