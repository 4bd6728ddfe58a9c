"""Muting: which open alerts silences and inhibiting alerts suppress, and when that changes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet

from actors.alerting._alert import Alert, alert_event
from actors.alerting._inhibition import Inhibitor, InhibitRule
from actors.alerting._silences import Silence, SilenceRegistry
from actors.store import NewEvent
from messages import CreateSilence, TransitionKind

__all__ = ["Muting"]

_K = TransitionKind
_NONE: frozenset[str] = frozenset()


class Muting:
    """Keep every open alert's ``silenced_by`` and ``inhibited_by`` right; pure, synchronous.

    Suppression is tracked apart from the lifecycle state: an alert keeps its
    underlying ACTIVE or ACKNOWLEDGED status while muted and shows it again once the
    last silence or inhibiting alert is gone. Every change appends an
    ``alert_suppressed`` (still muted, by what) or ``alert_unsuppressed`` event.

    ``alerts`` maps alert ids to every alert the book knows and ``open_alerts``
    fingerprints to the open ones; both are the book's own dicts, read live.
    ``changed`` is called with every alert whose muting changed (to persist it).
    """

    def __init__(
        self,
        alerts: Mapping[str, Alert],
        open_alerts: Mapping[str, Alert],
        changed: Callable[[Alert], None],
        *,
        inhibit_rules: Sequence[InhibitRule] = (),
        max_ended_silences: int = 1_000,
    ) -> None:
        self._alerts = alerts
        self._open = open_alerts
        self._changed = changed
        self.silences = SilenceRegistry(max_ended=max_ended_silences)
        self._inhibitor = Inhibitor(inhibit_rules)

    # -- alerts opening and closing ------------------------------------------------------------

    def admit(self, alert: Alert) -> AbstractSet[str]:
        """Set a newly opened alert's muting; return the other alerts it may inhibit.

        Pass the result to ``reinhibit`` after recording the alert's own event.
        """
        if self.silences.has_live():
            alert.silenced_by = frozenset(
                s.silence_id for s in self.silences.applied() if s.matches(alert.match_labels)
            )
        if not self._inhibitor:
            return _NONE
        affected = self._inhibitor.add(alert.alert_id, alert.match_labels)
        if alert.alert_id in affected:
            alert.inhibited_by = self._inhibitor.inhibitors(alert.alert_id)
            affected.discard(alert.alert_id)
        return affected

    def relabel(self, alert: Alert, now: float, events: list[NewEvent]) -> None:
        """Recompute the muting of an open alert whose match labels changed (severity)."""
        affected: set[str] = set()
        if self._inhibitor:
            affected = self._inhibitor.remove(alert.alert_id)
            affected |= self._inhibitor.add(alert.alert_id, alert.match_labels)
        silenced = frozenset(
            s.silence_id for s in self.silences.applied() if s.matches(alert.match_labels)
        )
        inhibited = self._inhibitor.inhibitors(alert.alert_id) if self._inhibitor else frozenset()
        self._set(alert, silenced, inhibited, now, events)
        affected.discard(alert.alert_id)
        if affected:
            self.reinhibit(affected, now, events)

    def track(self, alert: Alert) -> None:
        """Track a restored open alert for inhibition (``reconcile`` recomputes muting)."""
        if self._inhibitor:
            self._inhibitor.add(alert.alert_id, alert.match_labels)

    def release(self, alert: Alert, now: float, events: list[NewEvent]) -> None:
        """Forget a resolved alert; the alerts it inhibited are recomputed."""
        if self._inhibitor:
            self.reinhibit(self._inhibitor.remove(alert.alert_id), now, events)

    def reinhibit(self, alert_ids: Iterable[str], now: float, events: list[NewEvent]) -> None:
        """Recompute the inhibitors of ``alert_ids`` (open alerts), oldest first."""
        for alert in sorted((self._alerts[i] for i in alert_ids), key=lambda a: a.number):
            inhibited = self._inhibitor.inhibitors(alert.alert_id)
            self._set(alert, alert.silenced_by, inhibited, now, events)

    def reconcile(self, now: float) -> list[NewEvent]:
        """Bring restored muting up to ``now``: end and start silences, recompute all."""
        events = self.tick(now)
        applied = self.silences.applied()
        for alert in sorted(self._open.values(), key=lambda a: a.number):
            silenced = frozenset(s.silence_id for s in applied if s.matches(alert.match_labels))
            self._set(alert, silenced, self._inhibitor.inhibitors(alert.alert_id), now, events)
        return events

    # -- silences ----------------------------------------------------------------------------

    def create_silence(self, command: CreateSilence, now: float) -> tuple[Silence, list[NewEvent]]:
        """Create a silence; it mutes matching alerts from its start (at once if due).

        Raises InvalidSilence if it would already be over at ``now``.
        """
        silence = self.silences.create(command, now)
        payload = silence.event_payload(comment=silence.comment)
        events = [NewEvent(kind=_K.SILENCE_CREATED.value, at=now, payload=payload)]
        if silence.starts_at <= now:
            self._apply(silence, now, events)
        return silence, events

    def expire_silence(self, silence_id: str, by: str, comment: str, now: float) -> list[NewEvent]:
        """End a silence now; raise SilenceNotFound or IllegalTransition (already over)."""
        silence = self.silences.expire(silence_id, by, comment, now)
        payload = silence.event_payload(by=by, comment=comment)
        events = [NewEvent(kind=_K.SILENCE_EXPIRED.value, at=now, payload=payload)]
        self._end(silence, now, events)
        return events

    def tick(self, now: float) -> list[NewEvent]:
        """End the silences whose end has come, then start those whose start has."""
        events: list[NewEvent] = []
        starting, ending = self.silences.due(now)
        for silence in ending:
            payload = silence.event_payload()
            events.append(NewEvent(kind=_K.SILENCE_ENDED.value, at=now, payload=payload))
            self._end(silence, now, events)
        for silence in starting:
            payload = silence.event_payload()
            events.append(NewEvent(kind=_K.SILENCE_STARTED.value, at=now, payload=payload))
            self._apply(silence, now, events)
        return events

    # -- internals -----------------------------------------------------------------------------

    def _apply(self, silence: Silence, now: float, events: list[NewEvent]) -> None:
        self.silences.mark_applied(silence)
        for alert in sorted(self._open.values(), key=lambda a: a.number):
            if silence.matches(alert.match_labels):
                silenced = alert.silenced_by | {silence.silence_id}
                self._set(alert, silenced, alert.inhibited_by, now, events)

    def _end(self, silence: Silence, now: float, events: list[NewEvent]) -> None:
        self.silences.end(silence)
        for alert in sorted(self._open.values(), key=lambda a: a.number):
            if silence.silence_id in alert.silenced_by:
                silenced = alert.silenced_by - {silence.silence_id}
                self._set(alert, silenced, alert.inhibited_by, now, events)

    def _set(
        self,
        alert: Alert,
        silenced: frozenset[str],
        inhibited: frozenset[str],
        now: float,
        events: list[NewEvent],
    ) -> None:
        if silenced == alert.silenced_by and inhibited == alert.inhibited_by:
            return
        alert.silenced_by = silenced
        alert.inhibited_by = inhibited
        self._changed(alert)
        kind = _K.ALERT_SUPPRESSED if alert.is_suppressed else _K.ALERT_UNSUPPRESSED
        events.append(
            alert_event(
                kind, alert, now, silenced_by=sorted(silenced), inhibited_by=sorted(inhibited)
            )
        )
