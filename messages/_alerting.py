"""What the alert manager tells and answers: transitions, alert details and silences."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, JsonValue

from messages._base import Fingerprint, Message, NonEmptyStr, RuleId, Timestamp
from messages._commands import AlertState, AlertSummary
from messages._matchers import Matchers

__all__ = [
    "AlertDetail",
    "AlertList",
    "AlertTransition",
    "GetAlert",
    "ListSilences",
    "SilenceList",
    "SilenceStatus",
    "SilenceSummary",
    "TransitionKind",
]


class TransitionKind(StrEnum):
    """What happened to an alert or a silence; the ``kind`` of every history event.

    ``alert_opened``: a firing series opened a new occurrence (a new alert id).
    ``alert_updated``: a firing event for an open alert (dedup hit): value, annotations
    and last seen changed.  ``alert_acknowledged``: an operator took it.
    ``alert_resolved``: it closed, automatically (its rule) or manually (an operator;
    ``payload["manual"]`` and ``payload["by"]`` say which).  ``alert_suppressed`` /
    ``alert_unsuppressed``: the silences or inhibiting alerts that mute it changed.
    ``alert_rule_resolved``: the rule of an alert resolved by hand resolved too (a
    later firing of its series opens a new occurrence).
    ``alert_escalated``: an escalation level was reached.  ``silence_created``,
    ``silence_started`` (a silence created for later began), ``silence_expired`` (ended
    early by an operator), ``silence_ended`` (reached its end).  ``rule_error``: an
    evaluator reported a failure.  ``notification_outcome``: a notifier reported how
    delivering a notification ended (``payload["outcome"]``, ``receiver``, ...).
    """

    ALERT_OPENED = "alert_opened"
    ALERT_UPDATED = "alert_updated"
    ALERT_ACKNOWLEDGED = "alert_acknowledged"
    ALERT_RESOLVED = "alert_resolved"
    ALERT_SUPPRESSED = "alert_suppressed"
    ALERT_UNSUPPRESSED = "alert_unsuppressed"
    ALERT_RULE_RESOLVED = "alert_rule_resolved"
    ALERT_ESCALATED = "alert_escalated"
    SILENCE_CREATED = "silence_created"
    SILENCE_STARTED = "silence_started"
    SILENCE_EXPIRED = "silence_expired"
    SILENCE_ENDED = "silence_ended"
    RULE_ERROR = "rule_error"
    NOTIFICATION_OUTCOME = "notification_outcome"


class AlertTransition(Message):
    """One durable history event: what subscribers receive, in ``seq`` order.

    ``seq`` is the event's position in the history (strictly increasing, gap-free
    among the alert manager's events); a subscriber that reconnects resumes after the
    last ``seq`` it saw.  ``at`` is the alert manager's wall-clock time of the event.
    Alert events carry ``alert_id``, ``fingerprint`` and ``rule_id``, and ``payload``
    holds at least ``labels``, ``severity`` and ``state`` (the alert's state after the
    event); silence events carry ``payload["silence_id"]``.
    """

    type: Literal["alert_transition"] = "alert_transition"
    seq: Annotated[int, Field(ge=1)]
    kind: TransitionKind
    at: Timestamp
    alert_id: str | None = None
    fingerprint: Fingerprint | None = None
    rule_id: RuleId | None = None
    payload: dict[str, JsonValue] = Field(default_factory=dict)


class AlertList(Message):
    """Answer ``QueryAlerts``: the matching alerts, newest first."""

    type: Literal["alert_list"] = "alert_list"
    alerts: tuple[AlertSummary, ...] = ()


class GetAlert(Message):
    """Ask for everything the alert manager knows about one alert occurrence."""

    type: Literal["get_alert"] = "get_alert"
    alert_id: NonEmptyStr


class AlertDetail(Message):
    """Answer ``GetAlert``: the summary plus who did what, and what mutes it.

    ``underlying_state`` is the state the alert has beneath any suppression (ACTIVE,
    ACKNOWLEDGED or RESOLVED); ``alert.state`` is SUPPRESSED while ``silenced_by`` or
    ``inhibited_by`` is non-empty and it is not resolved.  ``resolved_by`` is None for
    an automatic resolution (its rule cleared).  ``previous_alert_id`` links to the
    earlier occurrence of the same fingerprint, when it is still known.
    """

    type: Literal["alert_detail"] = "alert_detail"
    alert: AlertSummary
    underlying_state: AlertState
    opened_at: Timestamp
    last_seen_at: Timestamp
    updates: Annotated[int, Field(ge=0)] = 0
    acknowledge_comment: str | None = None
    resolved_by: str | None = None
    resolve_comment: str | None = None
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    escalation_level: int | None = None
    previous_alert_id: str | None = None


class SilenceStatus(StrEnum):
    """Where a silence is in its life: not started yet, muting, or over."""

    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


class SilenceSummary(Message):
    """Describe one silence: the answer to ``CreateSilence``, ``ExpireSilence`` and lists.

    ``expired_by``, ``expired_at`` and ``expire_comment`` are set when an operator
    ended it early; a silence that reached ``ends_at`` is EXPIRED with all three None.
    """

    type: Literal["silence"] = "silence"
    silence_id: NonEmptyStr
    matchers: Matchers
    starts_at: Timestamp
    ends_at: Timestamp
    created_by: NonEmptyStr
    created_at: Timestamp
    comment: str = ""
    status: SilenceStatus
    expired_by: str | None = None
    expired_at: Timestamp | None = None
    expire_comment: str | None = None


class ListSilences(Message):
    """Ask for the silences, oldest first; expired ones only if ``include_expired``."""

    type: Literal["list_silences"] = "list_silences"
    include_expired: bool = False


class SilenceList(Message):
    """Answer ``ListSilences``."""

    type: Literal["silence_list"] = "silence_list"
    silences: tuple[SilenceSummary, ...] = ()
