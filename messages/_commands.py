"""Operator commands to the alert manager and rules supervisor, and their typed errors."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationError, ValidationInfo, field_validator

from messages._base import (
    Fingerprint,
    FiniteFloat,
    Labels,
    Message,
    NonEmptyStr,
    RuleId,
    Timestamp,
    describe_error,
)
from messages._matchers import LabelMatcher, Matchers
from messages._rules import Rule, Severity

__all__ = [
    "COMMAND_ADAPTER",
    "Acknowledge",
    "AlertState",
    "AlertSummary",
    "Command",
    "CreateSilence",
    "DeleteRule",
    "ErrorCode",
    "ErrorReply",
    "ExpireSilence",
    "ListRules",
    "PutRule",
    "QueryAlerts",
    "Resolve",
    "RevertRule",
]

MAX_QUERY_LIMIT = 10_000

ErrorCode = Literal[
    "invalid",
    "not_found",
    "conflict",
    "illegal_transition",
    "unauthorized",
    "forbidden",
    "rate_limited",
    "unavailable",
    "internal",
]
"""Why a command or frame failed.

``invalid``: the input does not validate (``field`` says where).  ``not_found``: no
such alert, silence or rule.  ``conflict``: it already exists.
``illegal_transition``: the alert's state does not allow it (acknowledging a resolved
alert).  ``unauthorized``: not authenticated.  ``forbidden``: the role does not allow
it.  ``rate_limited``: too many requests, retry later.  ``unavailable``: the service
is starting, stopping or overloaded.  ``internal``: a bug; the server logged it.
"""


class AlertState(StrEnum):
    """Where an alert is in its lifecycle; values are the lowercase names on the wire.

    ACTIVE → ACKNOWLEDGED → RESOLVED; SUPPRESSED while a silence or inhibition matches.
    """

    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    SUPPRESSED = "suppressed"


class Acknowledge(Message):
    """Acknowledge an active alert: who takes it, and why; stops its escalation."""

    type: Literal["acknowledge"] = "acknowledge"
    alert_id: NonEmptyStr
    by: NonEmptyStr
    comment: str = ""


class Resolve(Message):
    """Resolve an alert by hand, whatever its rule says now."""

    type: Literal["resolve"] = "resolve"
    alert_id: NonEmptyStr
    by: NonEmptyStr
    comment: str = ""


class _SilenceFields(Message):
    """The matchers and time range of a silence, checked; shared with the wire frame.

    ``ends_at`` must be after ``starts_at``.  As Alertmanager, at least one matcher
    must not match an empty label set, so that no silence can mute every alert.
    """

    matchers: Annotated[Matchers, Field(min_length=1)]
    starts_at: Timestamp
    ends_at: Timestamp
    comment: str = ""

    @field_validator("matchers")
    @classmethod
    def _not_everything(cls, matchers: tuple[LabelMatcher, ...]) -> tuple[LabelMatcher, ...]:
        if all(m.matches({}) for m in matchers):
            raise ValueError(
                "every matcher matches the empty label set, so the silence would mute every"
                ' alert: add a matcher such as alertname="..."'
            )
        return matchers

    @field_validator("ends_at")
    @classmethod
    def _ends_after_start(cls, ends_at: float, info: ValidationInfo) -> float:
        starts_at = info.data.get("starts_at")
        if starts_at is not None and ends_at <= starts_at:
            raise ValueError(f"ends_at {ends_at} must be after starts_at {starts_at}")
        return ends_at


class CreateSilence(_SilenceFields):
    """Suppress the alerts whose labels satisfy every matcher, from starts_at to ends_at.

    See ``_SilenceFields`` for the checks.
    """

    type: Literal["create_silence"] = "create_silence"
    created_by: NonEmptyStr


class ExpireSilence(Message):
    """End a silence now; the alerts it suppressed become active again."""

    type: Literal["expire_silence"] = "expire_silence"
    silence_id: NonEmptyStr
    by: NonEmptyStr
    comment: str = ""


class PutRule(Message):
    """Create a rule, or replace the rule with the same id (its series start afresh)."""

    type: Literal["put_rule"] = "put_rule"
    rule: Rule


class DeleteRule(Message):
    """Delete a rule; its firing alerts resolve."""

    type: Literal["delete_rule"] = "delete_rule"
    rule_id: RuleId


class RevertRule(Message):
    """Drop the stored run-time change of a rule; the configuration's version applies.

    The configured rule of that id comes back (replacing the stored one, or again after
    a deletion); a rule the configuration does not hold, created at run time, is deleted.
    """

    type: Literal["revert_rule"] = "revert_rule"
    rule_id: RuleId


class ListRules(Message):
    """Ask for every rule; the reply carries them in id order."""

    type: Literal["list_rules"] = "list_rules"


class QueryAlerts(Message):
    """Ask for the alerts in any of ``states`` (all if empty) matching every matcher.

    The reply holds at most ``limit`` ``AlertSummary`` items, newest first.
    """

    type: Literal["query_alerts"] = "query_alerts"
    states: tuple[AlertState, ...] = ()
    matchers: Matchers = ()
    limit: Annotated[int, Field(ge=1, le=MAX_QUERY_LIMIT)] = 100


class AlertSummary(Message):
    """Describe one alert as the alert manager holds it: the answer to queries.

    ``alert_id`` names this occurrence; ``fingerprint`` names its label set, which a
    later occurrence may share once this one is resolved.
    """

    type: Literal["alert"] = "alert"
    alert_id: NonEmptyStr
    rule_id: RuleId
    fingerprint: Fingerprint
    state: AlertState
    severity: Severity
    labels: Labels
    annotations: dict[str, str] = Field(default_factory=dict)
    value: FiniteFloat | None = None
    starts_at: Timestamp
    acknowledged_by: str | None = None
    acknowledged_at: Timestamp | None = None
    resolved_at: Timestamp | None = None


class ErrorReply(Message):
    """Answer a command that failed: a code from ``ErrorCode``, a message, a field.

    ``field`` is the dotted path of the offending input field, when there is one.
    """

    type: Literal["error"] = "error"
    code: ErrorCode
    message: NonEmptyStr
    field: str | None = None

    @classmethod
    def from_validation_error(cls, exc: ValidationError, *, tagged: bool = False) -> ErrorReply:
        """Return the ``invalid`` reply for ``exc``, naming its first field.

        The message lists every problem as ``field: reason``.  Pass ``tagged=True``
        when ``exc`` comes from a discriminated union adapter, whose locations start
        with the union's tag (``ack.alert_id``): the tag is dropped.
        """
        problems = [
            describe_error(error, skip=1 if tagged and len(error["loc"]) > 0 else 0)
            for error in exc.errors()
        ]
        message = "; ".join(f"{field}: {reason}" if field else reason for field, reason in problems)
        field = problems[0][0] if problems else ""
        return cls(code="invalid", message=message or "invalid input", field=field or None)


_Commands = (
    Acknowledge
    | Resolve
    | CreateSilence
    | ExpireSilence
    | PutRule
    | DeleteRule
    | RevertRule
    | ListRules
    | QueryAlerts
)
"""The union ``Command`` discriminates (the adapter's type)."""

Command = Annotated[_Commands, Field(discriminator="type")]
"""Every operator command, told apart by ``type``."""

COMMAND_ADAPTER: TypeAdapter[_Commands] = TypeAdapter(Command)
"""Validate an operator command from JSON bytes or Python data, dispatching on ``type``."""
