from __future__ import annotations

import pytest
from hypothesis import given

from messages import (
    ALERT_EVENT_ADAPTER,
    AlertFiring,
    AlertResolved,
    RuleError,
    Severity,
    alert_labels,
    fingerprint,
)
from tests.messages.invalid import assert_invalid
from tests.messages.strategies import label_sets, no_deadline

SERIES = {"instance": "host-1:9100", "job": "node", "team": "dev"}
LABELS = alert_labels("cpu-high", {"team": "infra"}, SERIES)


def firing_data(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "rule_id": "cpu-high",
        "labels": LABELS,
        "fingerprint": fingerprint(LABELS),
        "annotations": {"summary": "CPU at 97%"},
        "value": 97.0,
        "severity": "critical",
        "starts_at": 1_700_000_000.0,
    }
    data.update(changes)
    return data


def test_alert_labels_merge_series_then_rule_labels_then_alertname() -> None:
    assert LABELS == {
        "instance": "host-1:9100",
        "job": "node",
        "team": "infra",
        "alertname": "cpu-high",
    }


def test_alertname_overrides_a_series_label_of_that_name() -> None:
    assert alert_labels("r", {}, {"alertname": "spoof"})["alertname"] == "r"


def test_a_no_data_alert_gets_its_own_label_and_fingerprint() -> None:
    no_data = alert_labels("cpu-high", {"team": "infra"}, SERIES, no_data=True)
    assert no_data["no_data"] == "true"
    assert fingerprint(no_data) != fingerprint(LABELS)


def test_a_value_alert_drops_a_series_no_data_label() -> None:
    assert "no_data" not in alert_labels("r", {}, {"no_data": "yes"})


@no_deadline
@given(label_sets, label_sets)
def test_alert_labels_always_name_the_rule(
    rule_labels: dict[str, str], series: dict[str, str]
) -> None:
    labels = alert_labels("some-rule", rule_labels, series)
    assert labels["alertname"] == "some-rule"
    assert "no_data" not in labels


def test_a_valid_firing_event_keeps_its_fields() -> None:
    event = AlertFiring.model_validate(firing_data())
    assert event.type == "alert_firing"
    assert event.severity is Severity.CRITICAL
    assert event.no_data is False
    assert event.value == 97.0


def test_a_no_data_firing_event_may_have_no_value() -> None:
    labels = alert_labels("cpu-high", {}, SERIES, no_data=True)
    event = AlertFiring.model_validate(
        firing_data(labels=labels, fingerprint=fingerprint(labels), no_data=True, value=None)
    )
    assert event.value is None


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"fingerprint": "0000000000000000"}, "fingerprint", "does not match the labels"),
        ({"fingerprint": "XYZ"}, "fingerprint", "pattern"),
        ({"labels": SERIES}, "labels", "alertname must be the rule id"),
        ({"rule_id": "other"}, "labels", "alertname must be the rule id"),
        ({"no_data": True}, "no_data", 'no_data="true"'),
        ({"value": None}, "value", "required unless no_data"),
        ({"value": float("inf")}, "value", "finite"),
        ({"severity": "page"}, "severity", "'info', 'warning' or 'critical'"),
        ({"starts_at": 0}, "starts_at", "seconds since the Unix epoch"),
    ],
)
def test_invalid_firing_events_name_the_field_and_reason(
    changes: dict[str, object], field: str, reason: str
) -> None:
    assert_invalid(lambda: AlertFiring.model_validate(firing_data(**changes)), field, reason)


def test_a_resolved_event_checks_its_labels_like_a_firing_one() -> None:
    event = AlertResolved(
        rule_id="cpu-high", labels=LABELS, fingerprint=fingerprint(LABELS), resolved_at=2.0
    )
    assert event.value is None
    assert_invalid(
        lambda: AlertResolved(
            rule_id="cpu-high", labels=LABELS, fingerprint="cbf29ce484222325", resolved_at=2.0
        ),
        "fingerprint",
        "does not match",
    )


def test_a_fingerprint_checked_once_still_binds_to_its_labels() -> None:
    # The check is cached per (fingerprint, label set): a verified fingerprint with
    # other labels, or other labels in another order, is judged on its own.
    AlertFiring.model_validate(firing_data())
    other = {**LABELS, "job": "other"}
    assert_invalid(
        lambda: AlertFiring.model_validate(firing_data(labels=other)),
        "fingerprint",
        "does not match the labels",
    )
    reordered = dict(reversed(list(LABELS.items())))
    assert AlertFiring.model_validate(firing_data(labels=reordered)).labels == LABELS


def test_a_rule_error_needs_a_message() -> None:
    assert RuleError(rule_id="r", error="template failed", at=5.0).fingerprint is None
    assert_invalid(lambda: RuleError(rule_id="r", error="", at=5.0), "error", "at least 1")


def test_the_event_adapter_dispatches_json_on_type() -> None:
    firing = AlertFiring.model_validate(firing_data())
    resolved = AlertResolved(
        rule_id="cpu-high", labels=LABELS, fingerprint=fingerprint(LABELS), value=3, resolved_at=9
    )
    error = RuleError(rule_id="cpu-high", error="boom", at=9)
    for event in (firing, resolved, error):
        assert ALERT_EVENT_ADAPTER.validate_json(event.model_dump_json()) == event


def test_the_event_adapter_names_the_missing_type() -> None:
    assert_invalid(lambda: ALERT_EVENT_ADAPTER.validate_json(b'{"rule_id": "x"}'), "", "'type'")
