"""Restoring firing alerts after a restart, and retiring a rule's alerts."""

from __future__ import annotations

from actors.evaluation import RuleEvaluation, SeriesState
from messages import AlertFiring, AlertResolved
from tests.evaluation.samples import LABELS, kinds, sample, threshold_rule


def fired(rule_fields: dict[str, object], *samples_at: tuple[float, float]) -> list[AlertFiring]:
    """Return the firing events a fresh evaluation of the rule emits for the samples."""
    evaluation = RuleEvaluation(threshold_rule(**rule_fields))
    events = []
    for value, timestamp in samples_at:
        events += evaluation.apply([sample(value, timestamp)], timestamp)
    return [event for event in events if isinstance(event, AlertFiring)]


def test_a_restored_firing_series_is_not_announced_again() -> None:
    (alert,) = fired({}, (95.0, 100.0))
    evaluation = RuleEvaluation(threshold_rule())
    assert evaluation.restore([alert], 200.0) == 1
    assert evaluation.state_of(LABELS) is SeriesState.FIRING
    assert evaluation.apply([sample(97.0, 201.0)], 201.0) == []


def test_a_restored_firing_series_resolves_with_its_original_fingerprint() -> None:
    (alert,) = fired({}, (95.0, 100.0))
    evaluation = RuleEvaluation(threshold_rule())
    evaluation.restore([alert], 200.0)
    (event,) = evaluation.apply([sample(10.0, 201.0)], 201.0)
    assert isinstance(event, AlertResolved)
    assert event.fingerprint == alert.fingerprint


def test_a_restored_alert_keeps_its_start_time() -> None:
    (alert,) = fired({"keep_firing_for": 0}, (95.0, 100.0))
    evaluation = RuleEvaluation(threshold_rule())
    evaluation.restore([alert], 200.0)
    evaluation.apply([sample(10.0, 201.0)], 201.0)
    (again,) = evaluation.apply([sample(95.0, 202.0)], 202.0)
    assert isinstance(again, AlertFiring)
    assert again.starts_at == 202.0
    assert alert.starts_at == 100.0


def test_a_restored_no_data_alert_resolves_on_the_next_sample() -> None:
    first = RuleEvaluation(threshold_rule(no_data_timeout=60))
    first.apply([sample(10.0, 100.0)], 100.0)
    (alert,) = first.tick(160.0)
    assert isinstance(alert, AlertFiring)
    evaluation = RuleEvaluation(threshold_rule(no_data_timeout=60))
    evaluation.restore([alert], 300.0)
    assert evaluation.no_data_firing(LABELS)
    assert evaluation.tick(10_000.0) == []  # not raised twice
    (event,) = evaluation.apply([sample(10.0, 301.0)], 301.0)
    assert isinstance(event, AlertResolved)
    assert event.fingerprint == alert.fingerprint


def test_a_restored_series_that_stays_silent_raises_no_data_after_the_timeout() -> None:
    (alert,) = fired({"no_data_timeout": 60}, (95.0, 100.0))
    evaluation = RuleEvaluation(threshold_rule(no_data_timeout=60))
    evaluation.restore([alert], 200.0)
    assert evaluation.next_deadline() == 260.0
    assert kinds(evaluation.tick(260.0)) == ["no-data firing"]


def test_a_series_whose_label_a_rule_label_overrides_is_found_by_fingerprint() -> None:
    rule_fields: dict[str, object] = {"labels": {"team": "ops"}}
    first = RuleEvaluation(threshold_rule(**rule_fields))
    (alert,) = first.apply([sample(95.0, 100.0, host="a", team="dev")], 100.0)
    assert isinstance(alert, AlertFiring)
    assert alert.labels["team"] == "ops"  # the series' team=dev is hidden
    evaluation = RuleEvaluation(threshold_rule(**rule_fields))
    evaluation.restore([alert], 200.0)
    assert evaluation.apply([sample(96.0, 201.0, host="a", team="dev")], 201.0) == []
    assert evaluation.state_of({"host": "a", "team": "dev"}) is SeriesState.FIRING
    assert evaluation.stats().series == 1
    (event,) = evaluation.apply([sample(1.0, 202.0, host="a", team="dev")], 202.0)
    assert event.fingerprint == alert.fingerprint


def test_alerts_of_another_rule_are_not_restored() -> None:
    (alert,) = fired({"id": "other"}, (95.0, 100.0))
    evaluation = RuleEvaluation(threshold_rule())
    assert evaluation.restore([alert], 200.0) == 0
    assert evaluation.state_of(LABELS) is None


def test_pending_series_are_not_restored_and_start_over() -> None:
    first = RuleEvaluation(threshold_rule(**{"for": 30}))
    first.apply([sample(95.0, 100.0)], 100.0)
    assert first.state_of(LABELS) is SeriesState.PENDING
    evaluation = RuleEvaluation(threshold_rule(**{"for": 30}))
    evaluation.restore([], 110.0)
    evaluation.apply([sample(95.0, 120.0)], 120.0)
    assert evaluation.next_deadline() == 150.0


def test_retire_resolves_every_firing_alert_without_a_value() -> None:
    evaluation = RuleEvaluation(threshold_rule(no_data_timeout=60))
    evaluation.apply([sample(95.0, 100.0, host="a"), sample(1.0, 100.0, host="b")], 100.0)
    evaluation.apply([sample(96.0, 150.0, host="a")], 150.0)
    evaluation.tick(160.0)  # b's no-data alert
    events = evaluation.retire(170.0)
    assert sorted(kinds(events)) == ["no-data resolved", "resolved"]
    assert all(event.value is None and event.resolved_at == 170.0 for event in events)
    assert evaluation.stats().series == 0
    assert evaluation.next_deadline() is None


def test_a_restored_no_data_alert_resolves_even_if_the_rule_lost_its_timeout() -> None:
    first = RuleEvaluation(threshold_rule(no_data_timeout=60))
    first.apply([sample(10.0, 100.0)], 100.0)
    (alert,) = first.tick(160.0)
    assert isinstance(alert, AlertFiring)
    evaluation = RuleEvaluation(threshold_rule())
    evaluation.restore([alert], 300.0)
    assert kinds(evaluation.apply([sample(10.0, 301.0)], 301.0)) == ["no-data resolved"]
