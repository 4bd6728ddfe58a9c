"""History and analytics queries to the alert manager, and their typed answers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from messages._alerting import AlertTransition, TransitionKind
from messages._base import Fingerprint, Labels, Message, RuleId, Timestamp
from messages._commands import AlertState

__all__ = [
    "AlertStats",
    "FlappingAlert",
    "FlappingReport",
    "HistoryPage",
    "NoisiestRules",
    "QueryAlertStats",
    "QueryFlapping",
    "QueryHistory",
    "QueryNoisiestRules",
    "RuleCount",
    "RuleStats",
]

MAX_HISTORY_LIMIT = 10_000


class _TimeRange(Message):
    """A half-open time range ``[start, end)`` of event times; None leaves a side open."""

    start: Timestamp | None = None
    end: Timestamp | None = None

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: float | None, info: ValidationInfo) -> float | None:
        start = info.data.get("start")
        if end is not None and start is not None and end <= start:
            raise ValueError(f"end {end} must be after start {start}")
        return end


class QueryHistory(_TimeRange):
    """Ask for history events, oldest first; every given filter narrows the result.

    ``labels``: the alert's labels include every item.  ``states``: the alert's state
    right after the event is one of these.  Page with ``since_seq`` = the previous
    page's ``last_seq`` while ``more`` is true.
    """

    type: Literal["query_history"] = "query_history"
    rule_id: RuleId | None = None
    alert_id: str | None = None
    fingerprint: Fingerprint | None = None
    labels: Labels = Field(default_factory=dict)
    kinds: tuple[TransitionKind, ...] = ()
    states: tuple[AlertState, ...] = ()
    since_seq: Annotated[int, Field(ge=0)] = 0
    limit: Annotated[int, Field(ge=1, le=MAX_HISTORY_LIMIT)] = 100


class HistoryPage(Message):
    """Answer ``QueryHistory``: up to ``limit`` events and where the next page starts."""

    type: Literal["history_page"] = "history_page"
    events: tuple[AlertTransition, ...] = ()
    last_seq: Annotated[int, Field(ge=0)]
    more: bool = False


class QueryAlertStats(_TimeRange):
    """Ask for counts and mean times of the alerts opened in the range (one rule or all).

    Acknowledgements and resolutions count whenever they happened (also after ``end``).
    """

    type: Literal["query_alert_stats"] = "query_alert_stats"
    rule_id: RuleId | None = None


class RuleStats(Message):
    """Counts and mean times of one rule's alerts; a mean is None when nothing counted.

    ``rule_id`` is ``"*"`` in ``AlertStats.total`` (every rule the query covered).

    ``mean_time_to_acknowledge_s`` runs from opening to the first acknowledgement,
    ``mean_time_to_resolve_s`` from opening to resolution (automatic or manual).
    """

    type: Literal["rule_stats"] = "rule_stats"
    rule_id: RuleId | Literal["*"]
    opened: Annotated[int, Field(ge=0)] = 0
    acknowledged: Annotated[int, Field(ge=0)] = 0
    resolved: Annotated[int, Field(ge=0)] = 0
    manually_resolved: Annotated[int, Field(ge=0)] = 0
    mean_time_to_acknowledge_s: float | None = None
    mean_time_to_resolve_s: float | None = None


class AlertStats(Message):
    """Answer ``QueryAlertStats``: per rule (by rule id) and for all of them together."""

    type: Literal["alert_stats"] = "alert_stats"
    rules: tuple[RuleStats, ...] = ()
    total: RuleStats


class QueryFlapping(_TimeRange):
    """Ask for the fingerprints that opened more than ``min_cycles`` times in the range.

    One cycle is one occurrence (opened, then resolved or still open).  The answer
    lists them most cycles first, at most ``limit``.
    """

    type: Literal["query_flapping"] = "query_flapping"
    min_cycles: Annotated[int, Field(ge=1)] = 3
    limit: Annotated[int, Field(ge=1, le=MAX_HISTORY_LIMIT)] = 100


class FlappingAlert(Message):
    """One flapping fingerprint: how often it opened, and when first and last."""

    type: Literal["flapping_alert"] = "flapping_alert"
    fingerprint: Fingerprint
    rule_id: RuleId
    labels: Labels
    cycles: Annotated[int, Field(ge=1)]
    first_opened_at: Timestamp
    last_opened_at: Timestamp


class FlappingReport(Message):
    """Answer ``QueryFlapping``."""

    type: Literal["flapping_report"] = "flapping_report"
    alerts: tuple[FlappingAlert, ...] = ()


class QueryNoisiestRules(_TimeRange):
    """Ask for the rules that opened the most alerts in the range, most first."""

    type: Literal["query_noisiest_rules"] = "query_noisiest_rules"
    limit: Annotated[int, Field(ge=1, le=MAX_HISTORY_LIMIT)] = 10


class RuleCount(Message):
    """How many alerts one rule opened, and how many firing updates it sent."""

    type: Literal["rule_count"] = "rule_count"
    rule_id: RuleId
    opened: Annotated[int, Field(ge=0)]
    updates: Annotated[int, Field(ge=0)] = 0


class NoisiestRules(Message):
    """Answer ``QueryNoisiestRules``."""

    type: Literal["noisiest_rules"] = "noisiest_rules"
    rules: tuple[RuleCount, ...] = ()
