"""RuleEvaluation driven with explicit times: every transition and every edge case."""

from __future__ import annotations

import pytest

from actors.evaluation import RuleEvaluation, SeriesState, series_key
from messages import (
    AlertFiring,
    AlertResolved,
    CompositeRule,
    Severity,
    alert_labels,
    fingerprint,
)
from tests.evaluation.samples import LABELS, METRIC, kinds, sample, threshold_rule

# -- firing and resolving -------------------------------------------------------------------


def test_a_value_over_the_threshold_fires_at_once_without_for() -> None:
    evaluation = RuleEvaluation(threshold_rule(severity="critical", labels={"team": "ops"}))
    (event,) = evaluation.apply([sample(95.0, 100.0)], 100.0)
    assert isinstance(event, AlertFiring)
    expected_labels = alert_labels("cpu-high", {"team": "ops"}, LABELS)
    assert event.labels == expected_labels
    assert event.fingerprint == fingerprint(expected_labels)
    assert event.value == 95.0
    assert event.starts_at == 100.0
    assert event.severity is Severity.CRITICAL
    assert not event.no_data
    assert evaluation.state_of(LABELS) is SeriesState.FIRING


def test_a_value_at_the_threshold_does_not_fire_a_strict_comparison() -> None:
    evaluation = RuleEvaluation(threshold_rule())
    assert evaluation.apply([sample(90.0, 100.0)], 100.0) == []
    assert evaluation.state_of(LABELS) is SeriesState.INACTIVE


def test_a_firing_series_resolves_with_the_value_that_cleared_it() -> None:
    evaluation = RuleEvaluation(threshold_rule())
    (fired,) = evaluation.apply([sample(95.0, 100.0)], 100.0)
    (event,) = evaluation.apply([sample(50.0, 110.0)], 110.0)
    assert isinstance(event, AlertResolved)
    assert event.fingerprint == fired.fingerprint
    assert event.value == 50.0
    assert event.resolved_at == 110.0
    assert evaluation.state_of(LABELS) is SeriesState.RESOLVED


def test_a_resolved_series_fires_again_as_a_new_alert() -> None:
    evaluation = RuleEvaluation(threshold_rule())
    evaluation.apply([sample(95.0, 100.0), sample(50.0, 110.0)], 110.0)
    (event,) = evaluation.apply([sample(99.0, 120.0)], 120.0)
    assert isinstance(event, AlertFiring)
    assert event.starts_at == 120.0


def test_a_firing_series_does_not_fire_twice_while_the_condition_holds() -> None:
    evaluation = RuleEvaluation(threshold_rule())
    events = evaluation.apply([sample(95.0 + i, 100.0 + i) for i in range(5)], 105.0)
    assert kinds(events) == ["firing"]


def test_each_series_has_its_own_state() -> None:
    evaluation = RuleEvaluation(threshold_rule())
    events = evaluation.apply([sample(95.0, 100.0, host="a"), sample(10.0, 100.0, host="b")], 100.0)
    assert [event.labels["host"] for event in events if isinstance(event, AlertFiring)] == ["a"]
    assert evaluation.state_of({"host": "b"}) is SeriesState.INACTIVE


def test_precomputed_keys_give_the_same_result_as_labels() -> None:
    samples = [sample(95.0, 100.0, host="a"), sample(10.0, 100.0, host="b")]
    with_keys = RuleEvaluation(threshold_rule()).apply(
        samples, 100.0, [series_key(s.labels) for s in samples]
    )
    assert with_keys == RuleEvaluation(threshold_rule()).apply(samples, 100.0)


# -- for ------------------------------------------------------------------------------------


def test_a_rule_with_for_is_pending_and_reports_its_deadline() -> None:
    evaluation = RuleEvaluation(threshold_rule(**{"for": 30}))
    assert evaluation.apply([sample(95.0, 100.0)], 100.0) == []
    assert evaluation.state_of(LABELS) is SeriesState.PENDING
    assert evaluation.next_deadline() == 130.0


def test_a_pending_series_fires_on_the_tick_at_its_deadline() -> None:
    evaluation = RuleEvaluation(threshold_rule(**{"for": 30}))
    evaluation.apply([sample(95.0, 100.0)], 100.0)
    assert evaluation.tick(129.0) == []
    (event,) = evaluation.tick(130.0)
    assert isinstance(event, AlertFiring)
    assert event.starts_at == 130.0
    assert event.value == 95.0
    assert evaluation.next_deadline() is None


def test_a_late_tick_still_starts_the_alert_at_the_deadline() -> None:
    evaluation = RuleEvaluation(threshold_rule(**{"for": 30}))
    evaluation.apply([sample(95.0, 100.0)], 100.0)
    (event,) = evaluation.tick(175.0)
    assert isinstance(event, AlertFiring)
    assert event.starts_at == 130.0


def test_samples_arriving_after_a_missed_deadline_fire_it_first() -> None:
    evaluation = RuleEvaluation(threshold_rule(**{"for": 30}))
    evaluation.apply([sample(95.0, 100.0)], 100.0)
    events = evaluation.apply([sample(10.0, 140.0)], 140.0)
    assert kinds(events) == ["firing", "resolved"]
    assert isinstance(events[0], AlertFiring)
    assert events[0].starts_at == 130.0


def test_a_pending_series_whose_condition_clears_never_fires() -> None:
    evaluation = RuleEvaluation(threshold_rule(**{"for": 30}))
    evaluation.apply([sample(95.0, 100.0)], 100.0)
    assert evaluation.apply([sample(50.0, 110.0)], 110.0) == []
    assert evaluation.state_of(LABELS) is SeriesState.INACTIVE
    assert evaluation.next_deadline() is None
    assert evaluation.tick(200.0) == []


def test_pending_restarts_from_scratch_after_the_condition_cleared() -> None:
    evaluation = RuleEvaluation(threshold_rule(**{"for": 30}))
    evaluation.apply([sample(95.0, 100.0)], 100.0)
    evaluation.apply([sample(50.0, 110.0)], 110.0)
    evaluation.apply([sample(95.0, 120.0)], 120.0)
    assert evaluation.next_deadline() == 150.0
    assert evaluation.tick(140.0) == []
    assert kinds(evaluation.tick(150.0)) == ["firing"]


# -- keep_firing_for ----------------------------------------------------------------------


def test_keep_firing_for_holds_the_alert_after_the_condition_clears() -> None:
    evaluation = RuleEvaluation(threshold_rule(keep_firing_for=60))
    evaluation.apply([sample(95.0, 100.0)], 100.0)
    assert evaluation.apply([sample(50.0, 110.0)], 110.0) == []
    assert evaluation.state_of(LABELS) is SeriesState.FIRING
    assert evaluation.next_deadline() == 170.0
    (event,) = evaluation.tick(171.0)
    assert isinstance(event, AlertResolved)
    assert event.resolved_at == 170.0
    assert event.value == 50.0


def test_the_condition_returning_during_keep_firing_for_cancels_the_resolution() -> None:
    evaluation = RuleEvaluation(threshold_rule(keep_firing_for=60))
    evaluation.apply([sample(95.0, 100.0)], 100.0)
    evaluation.apply([sample(50.0, 110.0)], 110.0)
    assert evaluation.apply([sample(96.0, 120.0)], 120.0) == []
    assert evaluation.next_deadline() is None
    assert evaluation.tick(500.0) == []
    assert evaluation.state_of(LABELS) is SeriesState.FIRING


def test_keep_firing_for_starts_over_each_time_the_condition_clears() -> None:
    evaluation = RuleEvaluation(threshold_rule(keep_firing_for=60))
    evaluation.apply([sample(95.0, 100.0)], 100.0)
    evaluation.apply([sample(50.0, 110.0), sample(96.0, 111.0)], 120.0)
    evaluation.apply([sample(50.0, 130.0)], 130.0)
    assert evaluation.next_deadline() == 190.0


# -- hysteresis -----------------------------------------------------------------------------


def test_hysteresis_keeps_a_firing_alert_between_resolve_threshold_and_threshold() -> None:
    evaluation = RuleEvaluation(threshold_rule(resolve_threshold=80.0))
    evaluation.apply([sample(95.0, 100.0)], 100.0)
    assert evaluation.apply([sample(85.0, 110.0), sample(81.0, 120.0)], 120.0) == []
    (event,) = evaluation.apply([sample(80.0, 130.0)], 130.0)
    assert isinstance(event, AlertResolved)
    assert event.value == 80.0


def test_hysteresis_does_not_make_a_quiet_series_fire_in_the_band() -> None:
    evaluation = RuleEvaluation(threshold_rule(resolve_threshold=80.0))
    assert evaluation.apply([sample(85.0, 100.0)], 100.0) == []


def test_hysteresis_works_for_alerts_on_low_values() -> None:
    evaluation = RuleEvaluation(threshold_rule(op="<", threshold=10.0, resolve_threshold=20.0))
    assert kinds(evaluation.apply([sample(5.0, 100.0)], 100.0)) == ["firing"]
    assert evaluation.apply([sample(15.0, 110.0)], 110.0) == []
    assert kinds(evaluation.apply([sample(20.0, 120.0)], 120.0)) == ["resolved"]


# -- aggregations and composite rules ----------------------------------------------------


def test_an_aggregated_rule_fires_on_the_window_and_reports_the_aggregate() -> None:
    rule = threshold_rule(aggregation={"fn": "avg", "window": 60})
    evaluation = RuleEvaluation(rule)
    assert evaluation.apply([sample(80.0, 100.0), sample(100.0, 110.0)], 110.0) == []
    (event,) = evaluation.apply([sample(110.0, 120.0)], 120.0)
    assert isinstance(event, AlertFiring)
    assert event.value == pytest.approx(290.0 / 3)


def test_an_undefined_rate_neither_fires_nor_resolves() -> None:
    rule = threshold_rule(aggregation={"fn": "rate", "window": 30}, threshold=1.0)
    evaluation = RuleEvaluation(rule)
    assert evaluation.apply([sample(0.0, 100.0)], 100.0) == []  # one sample: undefined
    assert kinds(evaluation.apply([sample(100.0, 110.0)], 110.0)) == ["firing"]  # 10/s
    # A long gap leaves one sample in the window: undefined, so it keeps firing.
    assert evaluation.apply([sample(100.0, 500.0)], 500.0) == []
    assert evaluation.state_of(LABELS) is SeriesState.FIRING
    assert kinds(evaluation.apply([sample(100.0, 510.0)], 510.0)) == ["resolved"]


def composite(combine: str) -> CompositeRule:
    return CompositeRule.model_validate(
        {
            "id": "cpu-saturated",
            "selector": METRIC,
            "combine": combine,
            "conditions": [
                {"aggregation": {"fn": "avg", "window": 60}, "op": ">", "threshold": 80},
                {"aggregation": {"fn": "max", "window": 300}, "op": ">", "threshold": 95},
            ],
        }
    )


def test_a_composite_all_rule_fires_only_when_every_condition_holds() -> None:
    evaluation = RuleEvaluation(composite("all"))
    assert evaluation.apply([sample(90.0, 100.0)], 100.0) == []  # avg 90, max 90
    (event,) = evaluation.apply([sample(99.0, 110.0)], 110.0)  # avg 94.5, max 99
    assert isinstance(event, AlertFiring)
    assert event.value == pytest.approx(94.5)  # the first condition's value
    # avg drops under 80 while max stays 99: one condition resolved resolves "all".
    assert kinds(evaluation.apply([sample(0.0, 120.0)], 120.0)) == ["resolved"]


def test_a_composite_any_rule_fires_on_one_condition_and_resolves_when_all_clear() -> None:
    evaluation = RuleEvaluation(composite("any"))
    assert kinds(evaluation.apply([sample(85.0, 100.0)], 100.0)) == ["firing"]  # avg > 80
    assert evaluation.apply([sample(99.0, 110.0)], 110.0) == []
    # The 1-minute average is resolved (50) but the 5-minute max (99) still holds.
    assert evaluation.apply([sample(50.0, 200.0)], 200.0) == []
    assert evaluation.state_of(LABELS) is SeriesState.FIRING
    # Both resolved: the average is 50, the maximum of the last 5 minutes 50.
    assert kinds(evaluation.apply([sample(50.0, 420.0)], 420.0)) == ["resolved"]
