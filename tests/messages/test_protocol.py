from __future__ import annotations

import json

import pytest
from pydantic import JsonValue, ValidationError

from messages import (
    CLIENT_FRAME_ADAPTER,
    SERVER_FRAME_ADAPTER,
    AckFrame,
    Acknowledge,
    AlertFiring,
    AlertState,
    AlertSummary,
    AlertTransition,
    CreateSilence,
    DeleteReceiverFrame,
    DeleteRule,
    DeleteRuleFrame,
    ErrorFrame,
    ErrorReply,
    EventFrame,
    ExpireSilence,
    ExpireSilenceFrame,
    IngestFrame,
    LabelMatcher,
    ListDeadLettersFrame,
    ListReceiversFrame,
    ListRules,
    ListRulesFrame,
    Notification,
    NotificationFrame,
    NotificationKind,
    PingFrame,
    PongFrame,
    PutReceiverFrame,
    PutRule,
    PutRuleFrame,
    QueryAlerts,
    QueryFrame,
    ReplayDeadLettersFrame,
    ReplyFrame,
    Resolve,
    ResolveFrame,
    RevertReceiverFrame,
    Role,
    Severity,
    SilenceFrame,
    SnapshotFrame,
    SubscribeFrame,
    ThresholdRule,
    TransitionKind,
    UnsubscribeFrame,
    WelcomeFrame,
    alert_labels,
    fingerprint,
)
from tests.messages.invalid import assert_invalid

RULE = {"type": "threshold", "id": "r", "selector": "up", "op": "<", "threshold": 1}


def frame(data: dict[str, object]) -> bytes:
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "subscribe", "id": "1"}, SubscribeFrame),
        ({"type": "unsubscribe", "id": "2", "subscription": "1"}, UnsubscribeFrame),
        (
            {
                "type": "ingest",
                "id": "3",
                "samples": [{"name": "up", "value": 1, "timestamp": 1}],
            },
            IngestFrame,
        ),
        ({"type": "ack", "id": "4", "alert_id": "a"}, AckFrame),
        ({"type": "resolve", "id": "5", "alert_id": "a"}, ResolveFrame),
        (
            {
                "type": "silence",
                "id": "6",
                "matchers": 'alertname="x"',
                "starts_at": 1,
                "ends_at": 2,
            },
            SilenceFrame,
        ),
        ({"type": "expire_silence", "id": "7", "silence_id": "s"}, ExpireSilenceFrame),
        ({"type": "query", "id": "8", "states": ["active"]}, QueryFrame),
        ({"type": "put_rule", "id": "9", "rule": RULE}, PutRuleFrame),
        ({"type": "delete_rule", "id": "10", "rule_id": "r"}, DeleteRuleFrame),
        ({"type": "list_rules", "id": "11"}, ListRulesFrame),
        ({"type": "ping", "id": "12"}, PingFrame),
        (
            {"type": "put_receiver", "id": "13", "kind": "webhook", "receiver": {"name": "x"}},
            PutReceiverFrame,
        ),
        ({"type": "delete_receiver", "id": "14", "name": "x"}, DeleteReceiverFrame),
        ({"type": "list_receivers", "id": "15"}, ListReceiversFrame),
        ({"type": "list_dead_letters", "id": "16"}, ListDeadLettersFrame),
        ({"type": "list_dead_letters", "id": "17", "receiver": "x"}, ListDeadLettersFrame),
        ({"type": "replay_dead_letters", "id": "18", "receiver": "x"}, ReplayDeadLettersFrame),
        (
            {"type": "replay_dead_letters", "id": "19", "receiver": "x", "notification_id": "n"},
            ReplayDeadLettersFrame,
        ),
        ({"type": "revert_receiver", "id": "20", "name": "x"}, RevertReceiverFrame),
    ],
)
def test_client_frames_dispatch_from_json_bytes_on_type(
    data: dict[str, object], expected: type[object]
) -> None:
    parsed = CLIENT_FRAME_ADAPTER.validate_json(frame(data))
    assert type(parsed) is expected
    assert parsed.id == data["id"]
    assert CLIENT_FRAME_ADAPTER.validate_json(CLIENT_FRAME_ADAPTER.dump_json(parsed)) == parsed


def test_a_subscribe_frame_carries_its_filters() -> None:
    parsed = CLIENT_FRAME_ADAPTER.validate_json(
        frame(
            {
                "type": "subscribe",
                "id": "s1",
                "severities": ["critical"],
                "states": ["active", "acknowledged"],
                "matchers": ['team="db"'],
                "resume_from": 41,
            }
        )
    )
    assert isinstance(parsed, SubscribeFrame)
    assert parsed.severities == (Severity.CRITICAL,)
    assert parsed.states == (AlertState.ACTIVE, AlertState.ACKNOWLEDGED)
    assert parsed.matchers == (LabelMatcher(name="team", op="=", value="db"),)
    assert parsed.resume_from == 41


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"type": "ping"}, "ping.id", "Field required"),
        ({"type": "ping", "id": ""}, "ping.id", "at least 1"),
        ({"type": "ping", "id": "x" * 129}, "ping.id", "at most 128"),
        (
            {"type": "subscribe", "id": "1", "resume_from": -1},
            "subscribe.resume_from",
            "greater than or equal to 0",
        ),
        ({"type": "ingest", "id": "1", "samples": []}, "ingest.samples", "at least 1"),
        ({"type": "ack", "id": "1", "alert_id": "a", "by": "mallory"}, "ack.by", "Extra inputs"),
        (
            {"type": "silence", "id": "1", "matchers": 'a="b"', "starts_at": 5, "ends_at": 4},
            "silence.ends_at",
            "must be after starts_at",
        ),
        ({"type": "query", "id": "1", "limit": 0}, "query.limit", "greater than or equal to 1"),
        ({"type": "teleport", "id": "1"}, "", "does not match any of the expected tags"),
        ({"id": "1"}, "", "'type'"),
    ],
)
def test_invalid_client_frames_name_the_field_and_reason(
    data: dict[str, object], field: str, reason: str
) -> None:
    assert_invalid(lambda: CLIENT_FRAME_ADAPTER.validate_json(frame(data)), field, reason)


def test_an_invalid_frame_becomes_an_error_frame_echoing_the_id() -> None:
    with pytest.raises(ValidationError) as caught:
        CLIENT_FRAME_ADAPTER.validate_json(frame({"type": "ack", "id": "7"}))
    reply = ErrorReply.from_validation_error(caught.value, tagged=True)
    error = ErrorFrame.from_reply("7", reply)
    assert (error.id, error.code, error.field) == ("7", "invalid", "alert_id")
    assert error.message == "alert_id: Field required"


def test_command_frames_become_commands_in_the_authenticated_name() -> None:
    assert AckFrame(id="1", alert_id="a", comment="mine").to_command("alice") == Acknowledge(
        alert_id="a", by="alice", comment="mine"
    )
    assert ResolveFrame(id="1", alert_id="a").to_command("bob") == Resolve(alert_id="a", by="bob")
    silence = SilenceFrame.model_validate(
        {"id": "1", "matchers": 'alertname="x"', "starts_at": 1, "ends_at": 2, "comment": "m"}
    )
    assert silence.to_command("carol") == CreateSilence.model_validate(
        {
            "matchers": 'alertname="x"',
            "starts_at": 1,
            "ends_at": 2,
            "comment": "m",
            "created_by": "carol",
        }
    )
    assert ExpireSilenceFrame(id="1", silence_id="s").to_command("dan") == ExpireSilence(
        silence_id="s", by="dan"
    )


def test_admin_and_query_frames_become_commands() -> None:
    query = QueryFrame(id="1", states=(AlertState.ACTIVE,), limit=3)
    assert query.to_command() == QueryAlerts(states=(AlertState.ACTIVE,), limit=3)
    put = PutRuleFrame.model_validate({"id": "1", "rule": RULE})
    assert put.to_command() == PutRule(rule=ThresholdRule.model_validate(RULE))
    assert DeleteRuleFrame(id="1", rule_id="r").to_command() == DeleteRule(rule_id="r")
    assert ListRulesFrame(id="1").to_command() == ListRules()


def firing() -> AlertFiring:
    labels = alert_labels("r", {}, {"env": "prod"})
    return AlertFiring(
        rule_id="r",
        labels=labels,
        fingerprint=fingerprint(labels),
        value=0.0,
        severity=Severity.WARNING,
        starts_at=100.0,
    )


def transition(seq: int = 42) -> AlertTransition:
    event = firing()
    labels: dict[str, JsonValue] = dict(event.labels)
    return AlertTransition(
        seq=seq,
        kind=TransitionKind.ALERT_OPENED,
        at=100.0,
        alert_id="a1",
        fingerprint=event.fingerprint,
        rule_id=event.rule_id,
        payload={"labels": labels, "severity": "warning", "state": "active"},
    )


def test_server_frames_dispatch_from_json_bytes_on_type() -> None:
    event = firing()
    summary = AlertSummary(
        alert_id="a1",
        rule_id="r",
        fingerprint=event.fingerprint,
        state=AlertState.ACTIVE,
        severity=Severity.WARNING,
        labels=event.labels,
        starts_at=100.0,
    )
    notification = Notification(
        id="n1",
        receiver="websocket",
        kind=NotificationKind.FIRING,
        fingerprint=event.fingerprint,
        labels=event.labels,
        severity=Severity.WARNING,
        created_at=100.0,
        idempotency_key="k1",
    )
    frames: list[
        ReplyFrame
        | ErrorFrame
        | EventFrame
        | SnapshotFrame
        | NotificationFrame
        | PongFrame
        | WelcomeFrame
    ] = [
        ReplyFrame(id="1", data={"alerts": [1, 2], "ok": None}),
        ErrorFrame(id=None, code="rate_limited", message="slow down"),
        EventFrame(subscription="s1", seq=42, event=transition(42)),
        SnapshotFrame(subscription="s1", seq=41, alerts=(summary,)),
        NotificationFrame(subscription="s1", notification=notification),
        PongFrame(id="9"),
        WelcomeFrame(
            connection_id="c1",
            user="ann",
            roles=(Role.VIEWER, Role.OPERATOR),
            max_frame_bytes=1024,
            rate=10.0,
            burst=20,
        ),
    ]
    for sent in frames:
        received = SERVER_FRAME_ADAPTER.validate_json(SERVER_FRAME_ADAPTER.dump_json(sent))
        assert received == sent
        assert type(received) is type(sent)


def test_an_event_frame_carries_an_alert_transition_with_the_same_seq() -> None:
    raw = EventFrame(subscription="s", seq=1, event=transition(1)).model_dump_json()
    parsed = SERVER_FRAME_ADAPTER.validate_json(raw)
    assert isinstance(parsed, EventFrame)
    assert isinstance(parsed.event, AlertTransition)
    assert_invalid(
        lambda: EventFrame(subscription="s", seq=2, event=transition(1)),
        "event",
        "must equal the frame's seq",
    )


def test_event_sequence_numbers_start_at_one() -> None:
    assert_invalid(
        lambda: EventFrame(subscription="s", seq=0, event=transition(1)),
        "seq",
        "greater than or equal to 1",
    )
