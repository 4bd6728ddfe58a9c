"""The alert manager: alert lifecycle, silences, inhibition, routing, escalation, history.

``AlertManager`` is the actor (build its child spec with ``alert_manager_spec``); the
decisions it makes live in plain synchronous classes that take time as an argument:
``AlertBook`` (lifecycle, dedup, silences, inhibition), ``RouteTree`` and
``GroupScheduler`` (Alertmanager routing and grouping), ``EscalationTracker`` and
``NotificationPlanner`` (who is notified of what, when). See docs/ALERTS.md.
"""

from actors.alerting._alert import Alert
from actors.alerting._book import ALERTS, SILENCES, AlertBook
from actors.alerting._config import AlertManagerConfig
from actors.alerting._dispatch import ESCALATIONS, NotificationPlanner
from actors.alerting._errors import (
    AlertingError,
    AlertNotFound,
    IllegalTransition,
    InvalidSilence,
    SilenceNotFound,
)
from actors.alerting._escalation import (
    EscalationAlreadyStarted,
    EscalationLevel,
    EscalationPolicy,
    EscalationStateInvalid,
    EscalationStep,
    EscalationTracker,
)
from actors.alerting._grouping import (
    FIRING,
    RESOLVED,
    FiringSet,
    Flush,
    GroupedAlert,
    GroupScheduler,
)
from actors.alerting._inhibition import Inhibitor, InhibitRule
from actors.alerting._journal import JournalBroken
from actors.alerting._manager import AlertManager
from actors.alerting._requests import (
    GetStatus,
    ManagerStatus,
    Subscribe,
    Subscribed,
    Unsubscribe,
)
from actors.alerting._routing import (
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    GROUP_BY_ALL,
    Route,
    RouteConfig,
    RouteInvalid,
    RouteNotFound,
    RouteTree,
)
from actors.alerting._silences import Silence
from actors.alerting._spec import alert_manager_spec
from actors.alerting._subscriptions import Subscriptions

__all__ = [
    "ALERTS",
    "DEFAULT_GROUP_INTERVAL",
    "DEFAULT_GROUP_WAIT",
    "DEFAULT_REPEAT_INTERVAL",
    "ESCALATIONS",
    "FIRING",
    "GROUP_BY_ALL",
    "RESOLVED",
    "SILENCES",
    "Alert",
    "AlertBook",
    "AlertManager",
    "AlertManagerConfig",
    "AlertNotFound",
    "AlertingError",
    "EscalationAlreadyStarted",
    "EscalationLevel",
    "EscalationPolicy",
    "EscalationStateInvalid",
    "EscalationStep",
    "EscalationTracker",
    "FiringSet",
    "Flush",
    "GetStatus",
    "GroupScheduler",
    "GroupedAlert",
    "IllegalTransition",
    "InhibitRule",
    "Inhibitor",
    "InvalidSilence",
    "JournalBroken",
    "ManagerStatus",
    "NotificationPlanner",
    "Route",
    "RouteConfig",
    "RouteInvalid",
    "RouteNotFound",
    "RouteTree",
    "Silence",
    "SilenceNotFound",
    "Subscribe",
    "Subscribed",
    "Subscriptions",
    "Unsubscribe",
    "alert_manager_spec",
]
