"""AlertBook: the alert lifecycle with dedup, silences and inhibition; no I/O, time passed in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from actors.alerting._alert import Alert, alert_event, payload_event
from actors.alerting._errors import AlertNotFound, IllegalTransition
from actors.alerting._silences import Silence
from actors.alerting._state import ALERTS, META, META_KEY, SILENCES, BookState, checkpoint_seq
from actors.store import NewEvent
from messages import (
    AlertFiring,
    AlertResolved,
    AlertState,
    CreateSilence,
    LabelMatcher,
    RuleError,
    TransitionKind,
)

__all__ = ["ALERTS", "META", "META_KEY", "SILENCES", "AlertBook", "checkpoint_seq"]

_K = TransitionKind
# Enum members as globals: attribute access on an enum class is slow, and these are
# used once per transition.
_OPENED = _K.ALERT_OPENED
_UPDATED = _K.ALERT_UPDATED


class AlertBook(BookState):
    """Own every alert and silence; turn inputs into transitions (``NewEvent``s).

    Each input method validates before it changes anything: it either raises a named
    ``AlertingError`` (and nothing changed) or applies the change and returns the
    events it produced, in order. The documents those changes touched accumulate until
    ``drain_writes`` or ``checkpoint`` (see ``BookState``, which holds the data).

    ``now`` is wall-clock epoch seconds, supplied by the caller for every input.
    """

    def reconcile(self, now: float) -> list[NewEvent]:
        """Bring restored state up to ``now``: end and start silences, recompute muting."""
        return self._muting.reconcile(now)

    # -- alerts from evaluators --------------------------------------------------------------

    def fire(self, event: AlertFiring, now: float) -> list[NewEvent]:
        """Open a new occurrence for ``event``'s fingerprint, or update the open one (dedup).

        A firing event of the episode an operator resolved by hand (same ``starts_at``)
        changes nothing: the manual resolution holds until the rule resolves.
        """
        alert = self._open.get(event.fingerprint)
        if alert is not None:
            alert.value = event.value
            alert.annotations = event.annotations
            alert.last_seen_at = now
            alert.updates += 1
            self._dirty[alert.alert_id] = alert
            relabel = alert.severity is not event.severity
            if relabel:  # what silences, inhibition and routes match changed
                alert.severity = event.severity
                alert.refresh_match_labels()
            update: dict[str, Any] = {"value": event.value, "annotations": event.annotations}
            events = [payload_event(_UPDATED, alert, now, update)]
            if relabel:
                self._muting.relabel(alert, now, events)
            return events
        previous = self._last.get(event.fingerprint)
        if previous is not None and previous.held:
            if previous.starts_at == event.starts_at:
                return []
            previous.held = False
            self._dirty[previous.alert_id] = previous
        number = self._next_alert
        self._next_alert = number + 1
        self._meta_dirty = True
        alert_id = f"alert-{number}"
        fingerprint = event.fingerprint
        value, annotations, starts_at, no_data = (
            event.value,
            event.annotations,
            event.starts_at,
            event.no_data,
        )
        # Positional: Alert has 26 fields, and matching keywords to them costs more
        # than the rest of its construction (this runs once per new alert).
        alert = Alert(
            alert_id,
            number,
            fingerprint,
            event.rule_id,
            event.labels,
            annotations,
            event.severity,
            value,
            no_data,
            starts_at,
            now,
            now,
        )
        previous_id = None
        if previous is not None:
            alert.previous_alert_id = previous_id = previous.alert_id
        self._alerts[alert_id] = alert
        self._open[fingerprint] = alert
        self._last[fingerprint] = alert
        self._dirty[alert_id] = alert
        affected = self._muting.admit(alert)
        payload: dict[str, Any] = {
            "value": value,
            "annotations": annotations,
            "starts_at": starts_at,
            "no_data": no_data,
            "previous_alert_id": previous_id,
            "silenced_by": sorted(alert.silenced_by) if alert.silenced_by else [],
            "inhibited_by": sorted(alert.inhibited_by) if alert.inhibited_by else [],
        }
        events = [payload_event(_OPENED, alert, now, payload)]
        if affected:
            self._muting.reinhibit(affected, now, events)
        return events

    def resolve_automatically(self, event: AlertResolved, now: float) -> list[NewEvent]:
        """Close the open alert of ``event``'s fingerprint because its rule cleared.

        Nothing open: no event, unless an operator resolved it by hand, whose hold on
        the fingerprint is then released (``alert_rule_resolved``). A suppressed alert resolves
        like any other (Alertmanager #226: it is recorded, not left muted forever).
        """
        alert = self._open.get(event.fingerprint)
        if alert is not None:
            return self._close(alert, now, by=None, comment=None, value=event.value)
        previous = self._last.get(event.fingerprint)
        if previous is None or not previous.held:
            return []
        previous.held = False
        self._dirty[previous.alert_id] = previous
        return [alert_event(_K.ALERT_RULE_RESOLVED, previous, now, value=event.value)]

    def record_rule_error(self, event: RuleError, now: float) -> list[NewEvent]:
        """Record that a rule failed to evaluate; no alert changes state."""
        alert = None if event.fingerprint is None else self._open.get(event.fingerprint)
        payload: dict[str, Any] = {"error": event.error, "reported_at": event.at}
        if alert is not None:
            payload["labels"] = alert.labels
        return [
            NewEvent(
                kind=_K.RULE_ERROR.value,
                at=now,
                payload=payload,
                alert_id=None if alert is None else alert.alert_id,
                fingerprint=event.fingerprint,
                rule_id=event.rule_id,
            )
        ]

    # -- operator actions ----------------------------------------------------------------------

    def acknowledge(self, alert_id: str, by: str, comment: str, now: float) -> list[NewEvent]:
        """Record that ``by`` took the alert; raise AlertNotFound or IllegalTransition.

        Only an ACTIVE alert (muted or not) can be acknowledged.
        """
        alert = self.get(alert_id)
        if alert.status is not AlertState.ACTIVE:
            raise IllegalTransition(f"alert {alert_id!r}", alert.status.value, "acknowledge")
        alert.status = AlertState.ACKNOWLEDGED
        alert.acknowledged_by = by
        alert.acknowledged_at = now
        alert.acknowledge_comment = comment
        self._dirty[alert_id] = alert
        return [alert_event(_K.ALERT_ACKNOWLEDGED, alert, now, by=by, comment=comment)]

    def resolve(self, alert_id: str, by: str, comment: str, now: float) -> list[NewEvent]:
        """Resolve an open alert by hand; raise AlertNotFound or IllegalTransition."""
        alert = self.get(alert_id)
        if not alert.is_open:
            raise IllegalTransition(f"alert {alert_id!r}", alert.status.value, "resolve")
        return self._close(alert, now, by=by, comment=comment, value=alert.value)

    def escalate(
        self, alert_id: str, level: int, receivers: Sequence[str], now: float
    ) -> list[NewEvent]:
        """Record that the alert's escalation reached ``level``; raise if it is not open."""
        alert = self.get(alert_id)
        if not alert.is_open:
            raise IllegalTransition(f"alert {alert_id!r}", alert.status.value, "escalate")
        alert.escalation_level = level
        self._dirty[alert_id] = alert
        extra = {"level": level, "receivers": list(receivers)}
        return [alert_event(_K.ALERT_ESCALATED, alert, now, **extra)]

    def create_silence(self, command: CreateSilence, now: float) -> tuple[Silence, list[NewEvent]]:
        """Create a silence; it mutes matching alerts from its start (at once if due).

        Raises InvalidSilence if it would already be over at ``now``.
        """
        created = self._muting.create_silence(command, now)
        self._meta_dirty = True
        return created

    def expire_silence(self, silence_id: str, by: str, comment: str, now: float) -> list[NewEvent]:
        """End a silence now; raise SilenceNotFound or IllegalTransition (already over)."""
        return self._muting.expire_silence(silence_id, by, comment, now)

    def tick(self, now: float) -> list[NewEvent]:
        """Start the silences whose start has come and end those whose end has."""
        return self._muting.tick(now)

    def next_silence_change(self) -> float | None:
        """Return when ``tick`` next has something to do (epoch seconds), or None."""
        return self._muting.silences.next_change()

    # -- queries -------------------------------------------------------------------------------

    def get(self, alert_id: str) -> Alert:
        """Return the alert with this id; raise AlertNotFound."""
        alert = self._alerts.get(alert_id)
        if alert is None:
            raise AlertNotFound(alert_id)
        return alert

    def open_alert(self, fingerprint: str) -> Alert | None:
        """Return the open alert of ``fingerprint``, if any."""
        return self._open.get(fingerprint)

    def open_alerts(self) -> list[Alert]:
        """Return the open alerts, oldest first."""
        return sorted(self._open.values(), key=lambda alert: alert.number)

    def resolved_since(self, since: float) -> list[Alert]:
        """Return the kept resolved alerts with ``resolved_at >= since``, oldest first."""
        recent = (self._alerts[alert_id] for alert_id in reversed(self._resolved))
        found: list[Alert] = []
        for alert in recent:
            if alert.resolved_at is None or alert.resolved_at < since:
                break
            found.append(alert)
        return found[::-1]

    def firing(self, rule_id: str) -> list[Alert]:
        """Return the alerts of ``rule_id`` that its evaluator still considers firing.

        Every open alert of the rule, plus those resolved by hand whose rule has not
        resolved yet (its evaluator will say when it does), oldest first.
        """
        held = [a for a in self._last.values() if a.held and not a.is_open]
        return sorted(
            (a for a in [*self._open.values(), *held] if a.rule_id == rule_id),
            key=lambda alert: alert.number,
        )

    def query(
        self,
        states: Iterable[AlertState] = (),
        matchers: Sequence[LabelMatcher] = (),
        limit: int | None = None,
    ) -> list[Alert]:
        """Return the alerts in any of ``states`` (all if empty) matching every matcher.

        Newest first, at most ``limit``.
        """
        wanted = frozenset(states)
        found: list[Alert] = []
        for alert in sorted(self._alerts.values(), key=lambda a: a.number, reverse=True):
            if wanted and alert.state not in wanted:
                continue
            if all(m.matches(alert.match_labels) for m in matchers):
                found.append(alert)
                if limit is not None and len(found) >= limit:
                    break
        return found

    def silence(self, silence_id: str) -> Silence:
        """Return the silence with this id; raise SilenceNotFound."""
        return self._muting.silences.get(silence_id)

    def silences(self, now: float, *, include_expired: bool = False) -> list[Silence]:
        """Return the silences, oldest first; the expired ones only if asked."""
        return self._muting.silences.listing(now, include_expired=include_expired)

    def __len__(self) -> int:
        return len(self._alerts)

    # -- internals -------------------------------------------------------------------------

    def _close(
        self, alert: Alert, now: float, *, by: str | None, comment: str | None, value: float | None
    ) -> list[NewEvent]:
        silenced_by, inhibited_by = sorted(alert.silenced_by), sorted(alert.inhibited_by)
        alert.status = AlertState.RESOLVED
        alert.resolved_at = now
        alert.resolved_by = by
        alert.resolve_comment = comment
        alert.held = by is not None
        alert.value = value
        alert.silenced_by = frozenset()
        alert.inhibited_by = frozenset()
        del self._open[alert.fingerprint]
        self._dirty[alert.alert_id] = alert
        events = [
            alert_event(
                _K.ALERT_RESOLVED,
                alert,
                now,
                manual=by is not None,
                by=by,
                comment=comment,
                value=value,
                was_silenced_by=silenced_by,
                was_inhibited_by=inhibited_by,
            )
        ]
        self._muting.release(alert, now, events)
        self._remember_resolved(alert)
        return events
