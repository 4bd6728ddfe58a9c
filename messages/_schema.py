"""JSON Schemas of every wire message, for the protocol documentation and clients."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from messages._alerting import (
    AlertDetail,
    AlertList,
    AlertTransition,
    GetAlert,
    ListSilences,
    SilenceList,
    SilenceSummary,
)
from messages._commands import (
    COMMAND_ADAPTER,
    Acknowledge,
    AlertSummary,
    CreateSilence,
    DeleteRule,
    ErrorReply,
    ExpireSilence,
    ListRules,
    PutRule,
    QueryAlerts,
    Resolve,
    RevertRule,
)
from messages._events import ALERT_EVENT_ADAPTER, AlertFiring, AlertResolved, RuleError
from messages._history import (
    AlertStats,
    FlappingAlert,
    FlappingReport,
    HistoryPage,
    NoisiestRules,
    QueryAlertStats,
    QueryFlapping,
    QueryHistory,
    QueryNoisiestRules,
    RuleCount,
    RuleStats,
)
from messages._matchers import LabelMatcher, Selector
from messages._notifications import DeliveryReceipt, DeliveryReceipts, Notification
from messages._protocol import (
    CLIENT_FRAME_ADAPTER,
    AckFrame,
    DeleteReceiverFrame,
    DeleteRuleFrame,
    ExpireSilenceFrame,
    IngestFrame,
    ListDeadLettersFrame,
    ListReceiversFrame,
    ListRulesFrame,
    ListSilencesFrame,
    PingFrame,
    PutReceiverFrame,
    PutRuleFrame,
    QueryFrame,
    ReplayDeadLettersFrame,
    ResolveFrame,
    RevertReceiverFrame,
    RevertRuleFrame,
    SilenceFrame,
    SubscribeFrame,
    UnsubscribeFrame,
)
from messages._rules import RULE_ADAPTER, Aggregation, CompositeRule, Condition, ThresholdRule
from messages._samples import MetricSample, SampleBatch
from messages._server_frames import (
    SERVER_FRAME_ADAPTER,
    ErrorFrame,
    EventFrame,
    NotificationFrame,
    PongFrame,
    ReplyFrame,
    SnapshotFrame,
    WelcomeFrame,
)

__all__ = ["WIRE_MODELS", "json_schemas"]

WIRE_MODELS: tuple[type[BaseModel], ...] = (
    MetricSample,
    SampleBatch,
    LabelMatcher,
    Selector,
    Aggregation,
    Condition,
    ThresholdRule,
    CompositeRule,
    AlertFiring,
    AlertResolved,
    RuleError,
    Acknowledge,
    Resolve,
    CreateSilence,
    ExpireSilence,
    PutRule,
    DeleteRule,
    RevertRule,
    ListRules,
    QueryAlerts,
    AlertSummary,
    ErrorReply,
    Notification,
    DeliveryReceipt,
    DeliveryReceipts,
    SubscribeFrame,
    UnsubscribeFrame,
    IngestFrame,
    AckFrame,
    ResolveFrame,
    SilenceFrame,
    ExpireSilenceFrame,
    QueryFrame,
    ListSilencesFrame,
    PutRuleFrame,
    DeleteRuleFrame,
    RevertRuleFrame,
    ListRulesFrame,
    PutReceiverFrame,
    DeleteReceiverFrame,
    RevertReceiverFrame,
    ListReceiversFrame,
    ListDeadLettersFrame,
    ReplayDeadLettersFrame,
    PingFrame,
    ReplyFrame,
    ErrorFrame,
    EventFrame,
    SnapshotFrame,
    NotificationFrame,
    PongFrame,
    WelcomeFrame,
    AlertTransition,
    AlertList,
    GetAlert,
    AlertDetail,
    SilenceSummary,
    ListSilences,
    SilenceList,
    QueryHistory,
    HistoryPage,
    QueryAlertStats,
    RuleStats,
    AlertStats,
    QueryFlapping,
    FlappingAlert,
    FlappingReport,
    QueryNoisiestRules,
    RuleCount,
    NoisiestRules,
)
"""Every model that travels on a wire or in a file (``CallableRule`` never does)."""

_UNIONS: dict[str, TypeAdapter[Any]] = {
    "Rule": RULE_ADAPTER,
    "AlertEvent": ALERT_EVENT_ADAPTER,
    "Command": COMMAND_ADAPTER,
    "ClientFrame": CLIENT_FRAME_ADAPTER,
    "ServerFrame": SERVER_FRAME_ADAPTER,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """Return the JSON Schema (draft 2020-12) of every wire model and union, by name.

    Keys are the class names of ``WIRE_MODELS`` and the union names ``Rule``,
    ``AlertEvent``, ``Command``, ``ClientFrame`` and ``ServerFrame``.  Schemas describe
    what is accepted on input (wire names such as ``"for"``, text forms of selectors
    and matchers); each is a fresh, JSON-serialisable dict.
    """
    schemas = {model.__name__: model.model_json_schema(mode="validation") for model in WIRE_MODELS}
    for name, adapter in _UNIONS.items():
        schemas[name] = adapter.json_schema(mode="validation")
    return schemas
