"""The gateway's wire protocol: the JSON frames clients send (``_server_frames``: to them).

One frame per WebSocket text message, each with a ``type``.  Every client frame has
an ``id`` that the server's ``reply``, ``error``, ``snapshot`` or ``pong`` echoes.
Frames that carry an operator command name no operator: the gateway adds the
authenticated identity with ``to_command(by)``, so a client cannot act in someone
else's name.  docs/PROTOCOL.md is the reference.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, JsonValue, TypeAdapter

from messages._alerting import ListSilences
from messages._base import Message, NonEmptyStr, RuleId
from messages._commands import (
    MAX_QUERY_LIMIT,
    Acknowledge,
    AlertState,
    CreateSilence,
    DeleteRule,
    ExpireSilence,
    ListRules,
    PutRule,
    QueryAlerts,
    Resolve,
    RevertRule,
    _SilenceFields,
)
from messages._matchers import Matchers
from messages._rules import Rule, Severity
from messages._samples import MAX_BATCH_SIZE, MetricSample

__all__ = [
    "CLIENT_FRAME_ADAPTER",
    "AckFrame",
    "ClientFrame",
    "DeleteReceiverFrame",
    "DeleteRuleFrame",
    "ExpireSilenceFrame",
    "FrameId",
    "IngestFrame",
    "ListDeadLettersFrame",
    "ListReceiversFrame",
    "ListRulesFrame",
    "ListSilencesFrame",
    "PingFrame",
    "PutReceiverFrame",
    "PutRuleFrame",
    "QueryFrame",
    "ReplayDeadLettersFrame",
    "ResolveFrame",
    "RevertReceiverFrame",
    "RevertRuleFrame",
    "Role",
    "SilenceFrame",
    "SubscribeFrame",
    "UnsubscribeFrame",
]

FrameId = Annotated[str, Field(min_length=1, max_length=128)]


class Role(StrEnum):
    """What an authenticated client may do; a token carries one or more roles.

    ``viewer``: subscribe and query.  ``operator``: a viewer that also acknowledges,
    resolves, silences, and lists and replays dead letters.  ``admin``: an operator
    that also changes rules and receivers.
    ``ingest``: sends samples, nothing else.  Every role may ``ping``.
    """

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    INGEST = "ingest"


class _ClientFrame(Message):
    id: FrameId


class SubscribeFrame(_ClientFrame):
    """Subscribe to alert events; the frame's ``id`` names the subscription.

    Empty filters select everything; non-empty ones must all match (severity in
    ``severities``, state in ``states``, labels satisfying every matcher).  The
    server answers with a ``snapshot`` of the matching open alerts, then ``event``
    frames.  ``resume_from``: the last ``seq`` the client saw before reconnecting; the
    server answers with a ``reply`` and replays the events after it instead, when it
    still can (else it sends a snapshot).  ``notifications``: also push the
    ``notification`` frames routed to the WebSocket receiver that match the filters.
    """

    type: Literal["subscribe"] = "subscribe"
    severities: tuple[Severity, ...] = ()
    states: tuple[AlertState, ...] = ()
    matchers: Matchers = ()
    resume_from: Annotated[int, Field(ge=0)] | None = None
    notifications: bool = False


class UnsubscribeFrame(_ClientFrame):
    """End the subscription whose subscribe frame had the id ``subscription``."""

    type: Literal["unsubscribe"] = "unsubscribe"
    subscription: FrameId


class IngestFrame(_ClientFrame):
    """Send 1 to 10 000 samples (ingest role); the reply comes once they are routed."""

    type: Literal["ingest"] = "ingest"
    samples: Annotated[tuple[MetricSample, ...], Field(min_length=1, max_length=MAX_BATCH_SIZE)]


class AckFrame(_ClientFrame):
    """Acknowledge an alert (operator role)."""

    type: Literal["ack"] = "ack"
    alert_id: NonEmptyStr
    comment: str = ""

    def to_command(self, by: str) -> Acknowledge:
        """Return the command, acknowledged by the authenticated ``by``."""
        return Acknowledge(alert_id=self.alert_id, by=by, comment=self.comment)


class ResolveFrame(_ClientFrame):
    """Resolve an alert by hand (operator role)."""

    type: Literal["resolve"] = "resolve"
    alert_id: NonEmptyStr
    comment: str = ""

    def to_command(self, by: str) -> Resolve:
        """Return the command, resolved by the authenticated ``by``."""
        return Resolve(alert_id=self.alert_id, by=by, comment=self.comment)


class SilenceFrame(_ClientFrame, _SilenceFields):
    """Create a silence (operator role); checked as ``CreateSilence`` is."""

    type: Literal["silence"] = "silence"

    def to_command(self, by: str) -> CreateSilence:
        """Return the command, created by the authenticated ``by``."""
        return CreateSilence(
            matchers=self.matchers,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            comment=self.comment,
            created_by=by,
        )


class ExpireSilenceFrame(_ClientFrame):
    """Expire a silence now (operator role)."""

    type: Literal["expire_silence"] = "expire_silence"
    silence_id: NonEmptyStr
    comment: str = ""

    def to_command(self, by: str) -> ExpireSilence:
        """Return the command, expired by the authenticated ``by``."""
        return ExpireSilence(silence_id=self.silence_id, by=by, comment=self.comment)


class QueryFrame(_ClientFrame):
    """Query alerts (viewer role); the reply's data is a list of ``AlertSummary``."""

    type: Literal["query"] = "query"
    states: tuple[AlertState, ...] = ()
    matchers: Matchers = ()
    limit: Annotated[int, Field(ge=1, le=MAX_QUERY_LIMIT)] = 100

    def to_command(self) -> QueryAlerts:
        """Return the query command."""
        return QueryAlerts(states=self.states, matchers=self.matchers, limit=self.limit)


class ListSilencesFrame(_ClientFrame):
    """List the silences, oldest first (viewer role); the reply's data is a list of
    ``SilenceSummary``. Expired ones are left out unless ``include_expired``."""

    type: Literal["list_silences"] = "list_silences"
    include_expired: bool = False

    def to_command(self) -> ListSilences:
        """Return the query."""
        return ListSilences(include_expired=self.include_expired)


class PutRuleFrame(_ClientFrame):
    """Create or replace a rule (admin role)."""

    type: Literal["put_rule"] = "put_rule"
    rule: Rule

    def to_command(self) -> PutRule:
        """Return the command."""
        return PutRule(rule=self.rule)


class DeleteRuleFrame(_ClientFrame):
    """Delete a rule (admin role)."""

    type: Literal["delete_rule"] = "delete_rule"
    rule_id: RuleId

    def to_command(self) -> DeleteRule:
        """Return the command."""
        return DeleteRule(rule_id=self.rule_id)


class RevertRuleFrame(_ClientFrame):
    """Drop the stored run-time change of a rule so the configuration's version applies
    again (admin role); ``not_found`` if no change of that id is stored."""

    type: Literal["revert_rule"] = "revert_rule"
    rule_id: RuleId

    def to_command(self) -> RevertRule:
        """Return the command."""
        return RevertRule(rule_id=self.rule_id)


class ListRulesFrame(_ClientFrame):
    """List the rules (admin role); the reply's data is a list of rules."""

    type: Literal["list_rules"] = "list_rules"

    def to_command(self) -> ListRules:
        """Return the command."""
        return ListRules()


class PutReceiverFrame(_ClientFrame):
    """Add a receiver, or replace the one of the same name (admin role).

    ``kind`` says which fields ``receiver`` has: those of the ``[[receivers.<kind>]]``
    tables of the configuration (docs/CONFIGURATION.md, docs/NOTIFIERS.md), ``name``
    included; the server validates them and names a bad one (``receiver.url``).
    Secrets go inline (``password``, ``hmac_secret``): ``*_env`` fields, which read the
    server's environment, are refused over the wire. ``delivery`` overrides fields of
    the kind's default delivery policy. The reply's data: ``{"receiver": name, "kind":
    kind, "change": "added" | "replaced"}``. A replaced receiver's notifier hands its
    undelivered notifications to the new one.
    """

    type: Literal["put_receiver"] = "put_receiver"
    kind: Literal["email", "slack", "webhook", "websocket"]
    receiver: dict[str, JsonValue]
    delivery: dict[str, JsonValue] = Field(default_factory=dict)


class DeleteReceiverFrame(_ClientFrame):
    """Remove a receiver (admin role); ``conflict`` while a route or policy names it."""

    type: Literal["delete_receiver"] = "delete_receiver"
    name: NonEmptyStr


class RevertReceiverFrame(_ClientFrame):
    """Drop the stored run-time change of a receiver so the configuration's version runs
    again (admin role); ``not_found`` if no change of that name is stored, ``conflict``
    for a receiver put at run time that a route or policy names."""

    type: Literal["revert_receiver"] = "revert_receiver"
    name: NonEmptyStr


class ListReceiversFrame(_ClientFrame):
    """List the receivers (admin role); the reply's data is a list of
    ``{name, kind, config, delivery, used_by}`` with every secret masked."""

    type: Literal["list_receivers"] = "list_receivers"


class ListDeadLettersFrame(_ClientFrame):
    """List the notifications that delivery gave up on (operator role): ``receiver``'s,
    or every receiver's when omitted. The reply's data is a list of ``{receiver,
    notification, attempts, error, dead_at}``, oldest first per receiver; an unknown
    receiver is ``not_found``."""

    type: Literal["list_dead_letters"] = "list_dead_letters"
    receiver: NonEmptyStr | None = None


class ReplayDeadLettersFrame(_ClientFrame):
    """Deliver dead letters of ``receiver`` again (operator role): the one of
    ``notification_id``, or all of them when omitted. Each goes through the outbox from
    attempt 1 with its idempotency key. The reply's data: ``{receiver,
    notification_ids}``; an unknown receiver or id is ``not_found``."""

    type: Literal["replay_dead_letters"] = "replay_dead_letters"
    receiver: NonEmptyStr
    notification_id: NonEmptyStr | None = None


class PingFrame(_ClientFrame):
    """Ask for a ``pong`` with the same id: an application-level liveness check."""

    type: Literal["ping"] = "ping"


_ClientFrames = (
    SubscribeFrame
    | UnsubscribeFrame
    | IngestFrame
    | AckFrame
    | ResolveFrame
    | SilenceFrame
    | ExpireSilenceFrame
    | QueryFrame
    | ListSilencesFrame
    | PutRuleFrame
    | DeleteRuleFrame
    | RevertRuleFrame
    | ListRulesFrame
    | PutReceiverFrame
    | DeleteReceiverFrame
    | RevertReceiverFrame
    | ListReceiversFrame
    | ListDeadLettersFrame
    | ReplayDeadLettersFrame
    | PingFrame
)
"""The union ``ClientFrame`` discriminates (the adapter's type)."""

ClientFrame = Annotated[_ClientFrames, Field(discriminator="type")]
"""Every frame a client may send, told apart by ``type``."""

CLIENT_FRAME_ADAPTER: TypeAdapter[_ClientFrames] = TypeAdapter(ClientFrame)
"""Validate a client frame: ``CLIENT_FRAME_ADAPTER.validate_json(frame_bytes)``.

On ``ValidationError`` answer ``ErrorFrame.from_reply(frame_id,
ErrorReply.from_validation_error(exc, tagged=True))`` and keep the connection open.
"""
