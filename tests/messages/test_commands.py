from __future__ import annotations

import pytest
from pydantic import ValidationError

from messages import (
    COMMAND_ADAPTER,
    Acknowledge,
    AlertState,
    AlertSummary,
    CreateSilence,
    DeleteRule,
    ErrorReply,
    ExpireSilence,
    LabelMatcher,
    ListRules,
    PutRule,
    QueryAlerts,
    Resolve,
    Severity,
    ThresholdRule,
    alert_labels,
    fingerprint,
)
from tests.messages.invalid import assert_invalid

AnyCommand = (
    Acknowledge
    | Resolve
    | CreateSilence
    | ExpireSilence
    | PutRule
    | DeleteRule
    | ListRules
    | QueryAlerts
)


def test_alert_states_are_lowercase_on_the_wire() -> None:
    assert [state.value for state in AlertState] == [
        "active",
        "acknowledged",
        "resolved",
        "suppressed",
    ]


def test_acknowledge_and_resolve_need_an_alert_and_an_operator() -> None:
    ack = Acknowledge(alert_id="a1", by="alice", comment="on it")
    assert (ack.type, ack.comment) == ("acknowledge", "on it")
    assert Resolve(alert_id="a1", by="bob").comment == ""
    assert_invalid(lambda: Acknowledge(alert_id="", by="alice"), "alert_id", "at least 1")
    assert_invalid(lambda: Resolve(alert_id="a1", by=""), "by", "at least 1")


def silence_data(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "matchers": '{alertname="cpu-high",env=~"prod|staging"}',
        "starts_at": 1_700_000_000.0,
        "ends_at": 1_700_003_600.0,
        "created_by": "alice",
        "comment": "maintenance",
    }
    data.update(changes)
    return data


def test_a_silence_accepts_matchers_as_text() -> None:
    silence = CreateSilence.model_validate(silence_data())
    assert silence.matchers[0] == LabelMatcher(name="alertname", op="=", value="cpu-high")


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"ends_at": 1_700_000_000.0}, "ends_at", "must be after starts_at"),
        ({"ends_at": 1_600_000_000.0}, "ends_at", "must be after starts_at"),
        ({"matchers": []}, "matchers", "at least 1 item"),
        ({"matchers": '{env=~".*"}'}, "matchers", "would mute every alert"),
        ({"matchers": ['env=""', 'job!="x"']}, "matchers", "would mute every alert"),
        ({"created_by": ""}, "created_by", "at least 1"),
        ({"starts_at": -1}, "starts_at", "seconds since the Unix epoch"),
    ],
)
def test_invalid_silences_name_the_field_and_reason(
    changes: dict[str, object], field: str, reason: str
) -> None:
    assert_invalid(lambda: CreateSilence.model_validate(silence_data(**changes)), field, reason)


def test_a_silence_with_one_selective_matcher_is_accepted() -> None:
    silence = CreateSilence.model_validate(silence_data(matchers=['env=~".*"', 'team="db"']))
    assert len(silence.matchers) == 2


def test_rule_commands_carry_a_wire_rule_or_an_id() -> None:
    put = PutRule.model_validate(
        {"rule": {"type": "threshold", "id": "r", "selector": "up", "op": "<", "threshold": 1}}
    )
    assert isinstance(put.rule, ThresholdRule)
    assert DeleteRule(rule_id="r").rule_id == "r"
    assert ListRules().type == "list_rules"
    assert_invalid(lambda: DeleteRule(rule_id="no spaces"), "rule_id", "pattern")
    assert_invalid(
        lambda: PutRule.model_validate({"rule": {"type": "threshold", "id": "r"}}),
        "rule.threshold.selector",
        "Field required",
    )


def test_expire_silence_needs_the_silence_and_the_operator() -> None:
    assert ExpireSilence(silence_id="s1", by="alice").silence_id == "s1"
    assert_invalid(lambda: ExpireSilence(silence_id="", by="alice"), "silence_id", "at least 1")


def test_a_query_defaults_to_everything_with_a_limit() -> None:
    query = QueryAlerts()
    assert (query.states, query.matchers, query.limit) == ((), (), 100)
    query = QueryAlerts.model_validate({"states": ["active"], "matchers": 'env="prod"'})
    assert query.states == (AlertState.ACTIVE,)
    assert_invalid(lambda: QueryAlerts(limit=0), "limit", "greater than or equal to 1")
    assert_invalid(lambda: QueryAlerts(limit=10_001), "limit", "less than or equal to 10000")
    assert_invalid(
        lambda: QueryAlerts.model_validate({"states": ["firing"]}), "states.0", "'active'"
    )


@pytest.mark.parametrize(
    "command",
    [
        Acknowledge(alert_id="a", by="b"),
        Resolve(alert_id="a", by="b", comment="fixed"),
        CreateSilence.model_validate(silence_data()),
        ExpireSilence(silence_id="s", by="b"),
        PutRule.model_validate(
            {"rule": {"type": "threshold", "id": "r", "selector": "up", "op": "<", "threshold": 1}}
        ),
        DeleteRule(rule_id="r"),
        ListRules(),
        QueryAlerts(states=(AlertState.SUPPRESSED,), limit=5),
    ],
)
def test_the_command_adapter_dispatches_json_on_type(command: AnyCommand) -> None:
    assert COMMAND_ADAPTER.validate_json(COMMAND_ADAPTER.dump_json(command)) == command


def test_an_alert_summary_describes_an_alert() -> None:
    labels = alert_labels("r", {}, {"env": "prod"})
    summary = AlertSummary(
        alert_id="a1",
        rule_id="r",
        fingerprint=fingerprint(labels),
        state=AlertState.ACKNOWLEDGED,
        severity=Severity.WARNING,
        labels=labels,
        starts_at=10.0,
        acknowledged_by="alice",
        acknowledged_at=11.0,
    )
    assert AlertSummary.model_validate_json(summary.model_dump_json()) == summary


@pytest.mark.parametrize(
    "code",
    [
        "invalid",
        "not_found",
        "conflict",
        "illegal_transition",
        "unauthorized",
        "forbidden",
        "rate_limited",
        "unavailable",
        "internal",
    ],
)
def test_every_error_code_makes_a_reply(code: str) -> None:
    reply = ErrorReply.model_validate({"code": code, "message": "details"})
    assert (reply.type, reply.code, reply.field) == ("error", code, None)


def test_an_unknown_error_code_is_rejected() -> None:
    assert_invalid(
        lambda: ErrorReply.model_validate({"code": "oops", "message": "m"}), "code", "'invalid'"
    )


def test_an_error_reply_from_a_validation_error_names_every_field() -> None:
    with pytest.raises(ValidationError) as caught:
        CreateSilence.model_validate(silence_data(ends_at=1.0, created_by=""))
    reply = ErrorReply.from_validation_error(caught.value)
    assert reply.code == "invalid"
    assert reply.field == "ends_at"
    assert "ends_at: ends_at 1.0 must be after starts_at" in reply.message
    assert "created_by:" in reply.message


def test_an_error_reply_from_a_union_drops_the_tag() -> None:
    with pytest.raises(ValidationError) as caught:
        COMMAND_ADAPTER.validate_json(b'{"type": "acknowledge", "by": "x"}')
    reply = ErrorReply.from_validation_error(caught.value, tagged=True)
    assert reply.field == "alert_id"
    assert reply.message == "alert_id: Field required"


def test_an_error_reply_for_bad_json_has_no_field() -> None:
    with pytest.raises(ValidationError) as caught:
        COMMAND_ADAPTER.validate_json(b"{not json")
    reply = ErrorReply.from_validation_error(caught.value, tagged=True)
    assert reply.field is None
    assert reply.message.startswith("Invalid JSON")
