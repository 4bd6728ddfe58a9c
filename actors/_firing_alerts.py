"""The question an evaluator asks the alert owner when it starts: what of mine fires?

An evaluator restarted by its supervisor has lost its series' state.  Before it
evaluates anything it asks the owner of alert state (its ``alert_sink``: today the
``AlertLedger``, later the ``AlertManager``) for the alerts of its rule that are open,
and restores those series as firing: nothing is announced twice and nothing is
forgotten.  Whoever owns alerts must answer ``FiringAlertsQuery`` with ``FiringAlerts``.
"""

from __future__ import annotations

from typing import Literal

from messages import AlertFiring, Message

__all__ = ["FiringAlerts", "FiringAlertsQuery"]


class FiringAlertsQuery(Message):
    """Ask the alert owner for the open alerts of rule ``rule_id``; see ``FiringAlerts``."""

    type: Literal["firing_alerts_query"] = "firing_alerts_query"
    rule_id: str


class FiringAlerts(Message):
    """Answer ``FiringAlertsQuery``: the rule's open alerts, as they were announced.

    Each is the ``AlertFiring`` that opened it (labels, fingerprint, ``starts_at``,
    ``no_data``), in ``starts_at`` order.
    """

    type: Literal["firing_alerts"] = "firing_alerts"
    rule_id: str
    alerts: tuple[AlertFiring, ...] = ()
