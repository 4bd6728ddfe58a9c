"""AlertLedger: a small real owner of alert state, until the AlertManager takes over.

It records the events evaluators emit, by fingerprint (open or closed), and answers
``FiringAlertsQuery`` so that a restarted evaluator recovers its firing series.  It is
a stand-in: it keeps everything in memory (a restarted ledger forgets), has no
lifecycle beyond open/closed, and will be replaced by, or folded into, the
``AlertManager``, which must answer the same query.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actors._firing_alerts import FiringAlerts, FiringAlertsQuery
from messages import AlertFiring, AlertResolved, RuleError
from supervision import Actor

__all__ = ["AlertLedger", "AlertRecord", "LedgerStats", "LedgerStatsQuery"]

AlertEvent = AlertFiring | AlertResolved | RuleError


@dataclass(frozen=True, slots=True)
class LedgerStatsQuery:
    """Ask an ``AlertLedger`` for its ``LedgerStats``."""


@dataclass(frozen=True, slots=True)
class LedgerStats:
    """What a ledger has recorded.

    ``duplicates`` counts firings for an alert already open (ignored, as the alert
    manager deduplicates); ``unknown_resolves`` resolutions of an alert not open.
    """

    open: int
    opened: int
    closed: int
    duplicates: int
    unknown_resolves: int
    rule_errors: int


class AlertRecord:
    """Open and closed alerts by fingerprint: the ledger's decisions, without an actor."""

    def __init__(self, keep_errors: int = 100) -> None:
        self.open: dict[str, AlertFiring] = {}
        self.closed: dict[str, AlertResolved] = {}
        self.errors: deque[RuleError] = deque(maxlen=keep_errors)
        self.opened = 0
        self.duplicates = 0
        self.unknown_resolves = 0
        self.rule_errors = 0

    def record(self, event: AlertEvent) -> bool:
        """Record ``event``; return False if it changed nothing (duplicate, unknown)."""
        if isinstance(event, AlertFiring):
            if event.fingerprint in self.open:
                self.duplicates += 1
                return False
            self.open[event.fingerprint] = event
            self.closed.pop(event.fingerprint, None)
            self.opened += 1
            return True
        if isinstance(event, AlertResolved):
            if self.open.pop(event.fingerprint, None) is None:
                self.unknown_resolves += 1
                return False
            self.closed[event.fingerprint] = event
            return True
        self.errors.append(event)
        self.rule_errors += 1
        return True

    def firing(self, rule_id: str) -> tuple[AlertFiring, ...]:
        """Return the open alerts of ``rule_id``, oldest first."""
        alerts = [alert for alert in self.open.values() if alert.rule_id == rule_id]
        return tuple(sorted(alerts, key=lambda alert: alert.starts_at))

    def stats(self) -> LedgerStats:
        """Return the counters."""
        return LedgerStats(
            open=len(self.open),
            opened=self.opened,
            closed=len(self.closed),
            duplicates=self.duplicates,
            unknown_resolves=self.unknown_resolves,
            rule_errors=self.rule_errors,
        )


class AlertLedger(Actor):
    """Record alert events by fingerprint and answer which alerts of a rule fire.

    Tell it ``AlertFiring``, ``AlertResolved`` and ``RuleError``; ask it
    ``FiringAlertsQuery`` (→ ``FiringAlerts``) or ``LedgerStatsQuery`` (→
    ``LedgerStats``).  ``listener``, if given, is called with every event after it is
    recorded (an embedding program's hook; it must not block).  State is in memory
    only: this is a stand-in, to be replaced by or folded into the ``AlertManager``.
    """

    def __init__(
        self,
        *,
        listener: Callable[[AlertEvent], None] | None = None,
        keep_errors: int = 100,
    ) -> None:
        self.record = AlertRecord(keep_errors)
        self._listener = listener

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, AlertFiring | AlertResolved | RuleError):
            self.record.record(message)
            if self._listener is not None:
                try:
                    self._listener(message)
                except Exception:
                    # The embedder's hook failing must not cost the ledger its memory.
                    self.log.exception("alert listener raised", event_type=message.type)
            return None
        if isinstance(message, FiringAlertsQuery):
            return FiringAlerts(rule_id=message.rule_id, alerts=self.record.firing(message.rule_id))
        if isinstance(message, LedgerStatsQuery):
            return self.record.stats()
        return await super().on_receive(message)
