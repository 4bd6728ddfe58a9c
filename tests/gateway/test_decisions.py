"""The gateway's decisions as plain classes: rate limits, filters, the alert view, frames."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import MagicMock

import pytest
from pydantic import JsonValue, ValidationError

from gateway import AlertView, GatewayConfig, RateLimiter, SubscriptionFilter, Verdict
from gateway._replay import replay
from gateway._subscription import Record, Subscription
from messages import (
    SERVER_FRAME_ADAPTER,
    AlertState,
    AlertSummary,
    AlertTransition,
    EventFrame,
    Severity,
    SubscribeFrame,
    TransitionKind,
    alert_labels,
    fingerprint,
    parse_matchers,
)

LABELS = alert_labels("cpu", {}, {"host": "a", "team": "db"})
FP = fingerprint(LABELS)


def transition(
    seq: int, kind: TransitionKind, state: str, *, severity: str = "warning", **extra: Any
) -> AlertTransition:
    payload: dict[str, JsonValue] = {
        "labels": dict(LABELS),
        "severity": severity,
        "state": state,
        **extra,
    }
    return AlertTransition(
        seq=seq,
        kind=kind,
        at=1_700_000_000.0 + seq,
        alert_id="alert-1",
        fingerprint=FP,
        rule_id="cpu",
        payload=payload,
    )


OPENED = transition(
    1, TransitionKind.ALERT_OPENED, "active", value=3.0, annotations={"s": "x"}, starts_at=1e9
)
ACKED = transition(2, TransitionKind.ALERT_ACKNOWLEDGED, "acknowledged", by="ann")
UPDATED = transition(
    3, TransitionKind.ALERT_UPDATED, "acknowledged", severity="critical", value=9.0
)
RESOLVED = transition(4, TransitionKind.ALERT_RESOLVED, "resolved", severity="critical")


def test_the_rate_limiter_allows_a_burst_then_limits_then_calls_it_abuse() -> None:
    limiter = RateLimiter(rate=10.0, burst=2, abuse_burst=2)
    verdicts = [limiter.check(0.0) for _ in range(6)]
    assert verdicts == [Verdict.ALLOW] * 2 + [Verdict.LIMITED] * 2 + [Verdict.ABUSE] * 2
    assert limiter.check(0.1) is Verdict.ALLOW  # one token back after 1/rate seconds
    # Refusals are forgiven at a tenth of the rate: one more after a second.
    assert limiter.check(0.1) is Verdict.ABUSE
    assert limiter.check(1.2) is Verdict.ALLOW


def test_a_client_at_the_rate_is_never_limited() -> None:
    limiter = RateLimiter(rate=100.0, burst=1, abuse_burst=1)
    assert all(limiter.check(n / 100) is Verdict.ALLOW for n in range(1000))


@pytest.mark.parametrize(
    ("frame", "facts", "expected"),
    [
        ({}, None, True),
        ({"severities": ["critical"]}, None, False),
        ({"severities": ["critical"]}, (LABELS, "critical", "active"), True),
        ({"severities": ["critical"]}, (LABELS, "warning", "active"), False),
        ({"states": ["active", "suppressed"]}, (LABELS, "info", "suppressed"), True),
        ({"states": ["active"]}, (LABELS, "info", "resolved"), False),
        ({"matchers": 'team="db",host=~"a|b"'}, (LABELS, "info", "active"), True),
        ({"matchers": 'team!="db"'}, (LABELS, "info", "active"), False),
        ({"matchers": 'severity="info"'}, (LABELS, "info", "active"), True),
        ({"matchers": 'severity="info"'}, ({"severity": "own"}, "info", "active"), False),
    ],
)
def test_a_filter_needs_every_non_empty_part_to_match(
    frame: dict[str, Any], facts: Any, expected: bool
) -> None:
    selected = SubscriptionFilter.of(SubscribeFrame.model_validate({"id": "s", **frame}))
    assert selected.matches(facts) is expected


def test_a_change_concerns_a_filter_that_selects_either_side() -> None:
    active = SubscriptionFilter(states=[AlertState.ACTIVE])
    before = (LABELS, "warning", "active")
    after = (LABELS, "warning", "acknowledged")
    assert active.matches_change(before, after)
    assert active.matches_change(None, before)
    assert not active.matches_change(after, (LABELS, "warning", "resolved"))


def test_the_view_follows_an_alert_through_its_lifecycle() -> None:
    view = AlertView()
    assert view.apply(OPENED) == (None, (LABELS, "warning", "active"))
    assert view.apply(ACKED)[0] == (LABELS, "warning", "active")
    assert view.apply(UPDATED)[1] == (LABELS, "critical", "acknowledged")
    [summary] = view.snapshot(SubscriptionFilter())
    assert summary == AlertSummary(
        alert_id="alert-1",
        rule_id="cpu",
        fingerprint=FP,
        state=AlertState.ACKNOWLEDGED,
        severity=Severity.CRITICAL,
        labels=LABELS,
        annotations={},
        value=9.0,
        starts_at=1e9,
        acknowledged_by="ann",
        acknowledged_at=ACKED.at,
    )
    assert view.count_by_state() == {"acknowledged": 1}
    assert view.apply(RESOLVED)[1] == (LABELS, "critical", "resolved")
    assert len(view) == 0


def test_the_view_ignores_events_about_no_alert_and_loads_only_open_alerts() -> None:
    view = AlertView()
    silence = AlertTransition(seq=1, kind=TransitionKind.SILENCE_CREATED, at=1e9, payload={})
    assert view.apply(silence) == (None, None)
    view.apply(OPENED)
    [open_alert] = view.snapshot(SubscriptionFilter())
    closed = open_alert.model_copy(update={"alert_id": "alert-0", "state": AlertState.RESOLVED})
    view.load([open_alert, closed])
    assert [a.alert_id for a in view.snapshot(SubscriptionFilter())] == ["alert-1"]


def subscription(**frame: Any) -> tuple[Subscription, list[bytes]]:
    pushed: list[bytes] = []

    def push(data: bytes, *, large: bool = False) -> bool:
        pushed.append(data)
        return True

    connection = MagicMock()
    connection.push.side_effect = push
    return Subscription(connection, SubscribeFrame(id="s\u00e9", **frame), 0), pushed


def test_an_event_frame_built_from_bytes_is_the_models_own_json() -> None:
    sub, pushed = subscription()
    assert sub.deliver(Record(OPENED, None, (LABELS, "warning", "active")))
    frame = SERVER_FRAME_ADAPTER.validate_json(pushed[0])
    assert frame == EventFrame(subscription="s\u00e9", seq=1, event=OPENED)
    assert json.loads(pushed[0]) == json.loads(frame.model_dump_json())


def test_a_subscription_never_pushes_a_seq_twice() -> None:
    sub, pushed = subscription()
    record = Record(OPENED, None, (LABELS, "warning", "active"))
    assert sub.deliver(record)
    assert sub.deliver(record)
    assert len(pushed) == 1
    assert sub.cursor == 1


def test_a_history_replay_sends_an_alerts_first_event_unless_it_opened_the_alert() -> None:
    critical_only, pushed = subscription(severities=["critical"])
    assert replay(critical_only, [ACKED, UPDATED, RESOLVED])
    # ACKED (warning) is sent: the client may have shown the alert before. UPDATED
    # turns it critical; RESOLVED was critical before.
    assert [EventFrame.model_validate_json(p).seq for p in pushed] == [2, 3, 4]
    fresh, pushed = subscription(severities=["critical"])
    assert replay(fresh, [OPENED, ACKED])
    assert pushed == []
    assert fresh.cursor == 2


def test_a_config_with_a_repeated_token_names_it() -> None:
    tokens = [
        {"token": "same-secret-1", "user": "a", "roles": ["viewer"]},
        {"token": "same-secret-1", "user": "b", "roles": ["admin"]},
    ]
    with pytest.raises(ValidationError, match=r"tokens\[1\] \(user 'b'\) repeats"):
        GatewayConfig.model_validate({"tokens": tokens})
    with pytest.raises(ValidationError, match="at least 8"):
        GatewayConfig.model_validate(
            {"tokens": [{"token": "short", "user": "a", "roles": ["viewer"]}]}
        )
    assert "short" not in repr(GatewayConfig())


def test_parse_matchers_is_what_subscribe_frames_use() -> None:
    frame = SubscribeFrame.model_validate({"id": "s", "matchers": 'team="db"'})
    assert frame.matchers == parse_matchers('team="db"')
