"""No-data timeouts: a distinct alert for a series that went silent."""

from __future__ import annotations

from actors.evaluation import RuleEvaluation, SeriesState
from messages import AlertFiring, AlertResolved, alert_labels, fingerprint
from tests.evaluation.samples import LABELS, kinds, sample, threshold_rule


def test_a_silent_series_raises_a_no_data_alert_when_the_timeout_passes() -> None:
    evaluation = RuleEvaluation(threshold_rule(no_data_timeout=60))
    evaluation.apply([sample(10.0, 100.0)], 100.0)
    assert evaluation.next_deadline() == 160.0
    assert evaluation.tick(159.0) == []
    (event,) = evaluation.tick(160.0)
    assert isinstance(event, AlertFiring)
    assert event.no_data
    labels = alert_labels("cpu-high", {}, LABELS, no_data=True)
    assert event.labels == labels
    assert event.fingerprint == fingerprint(labels)
    assert event.value == 10.0  # the last value seen
    assert event.starts_at == 160.0
    assert evaluation.no_data_firing(LABELS)


def test_the_no_data_alert_has_another_fingerprint_than_the_value_alert() -> None:
    evaluation = RuleEvaluation(threshold_rule(no_data_timeout=60))
    (value_alert,) = evaluation.apply([sample(95.0, 100.0)], 100.0)
    (no_data_alert,) = evaluation.tick(160.0)
    assert value_alert.fingerprint != no_data_alert.fingerprint
    # The value alert is left as it was: nobody knows the value any more.
    assert evaluation.state_of(LABELS) is SeriesState.FIRING


def test_the_next_sample_resolves_the_no_data_alert_with_its_value() -> None:
    evaluation = RuleEvaluation(threshold_rule(no_data_timeout=60))
    evaluation.apply([sample(10.0, 100.0)], 100.0)
    (fired,) = evaluation.tick(200.0)
    (event,) = evaluation.apply([sample(20.0, 205.0)], 205.0)
    assert isinstance(event, AlertResolved)
    assert event.fingerprint == fired.fingerprint
    assert event.value == 20.0
    assert event.resolved_at == 205.0
    assert not evaluation.no_data_firing(LABELS)


def test_a_no_data_alert_fires_once_however_long_the_silence() -> None:
    evaluation = RuleEvaluation(threshold_rule(no_data_timeout=60))
    evaluation.apply([sample(10.0, 100.0)], 100.0)
    assert kinds(evaluation.tick(160.0)) == ["no-data firing"]
    assert evaluation.next_deadline() is None
    assert evaluation.tick(10_000.0) == []


def test_every_sample_pushes_the_no_data_deadline_back() -> None:
    evaluation = RuleEvaluation(threshold_rule(no_data_timeout=60))
    evaluation.apply([sample(10.0, 100.0)], 100.0)
    evaluation.apply([sample(10.0, 150.0)], 150.0)
    assert evaluation.next_deadline() == 210.0
    assert evaluation.tick(200.0) == []


def test_each_series_times_out_on_its_own() -> None:
    evaluation = RuleEvaluation(threshold_rule(no_data_timeout=60))
    evaluation.apply([sample(1.0, 100.0, host="a"), sample(1.0, 100.0, host="b")], 100.0)
    evaluation.apply([sample(1.0, 130.0, host="b")], 130.0)
    (event,) = evaluation.tick(165.0)
    assert isinstance(event, AlertFiring)
    assert event.labels["host"] == "a"
    assert evaluation.next_deadline() == 190.0


def test_a_sample_after_a_missed_no_data_deadline_fires_then_resolves_it() -> None:
    evaluation = RuleEvaluation(threshold_rule(no_data_timeout=60))
    evaluation.apply([sample(1.0, 100.0)], 100.0)
    events = evaluation.apply([sample(2.0, 300.0)], 300.0)
    assert kinds(events) == ["no-data firing", "no-data resolved"]


def test_dropped_samples_are_not_data() -> None:
    evaluation = RuleEvaluation(threshold_rule(no_data_timeout=60))
    evaluation.apply([sample(1.0, 100.0)], 100.0)
    evaluation.apply([sample(1.0, 100.0), sample(1.0, 90.0)], 150.0)
    assert kinds(evaluation.tick(160.0)) == ["no-data firing"]


def test_a_rule_without_a_no_data_timeout_never_raises_one() -> None:
    evaluation = RuleEvaluation(threshold_rule())
    evaluation.apply([sample(1.0, 100.0)], 100.0)
    assert evaluation.next_deadline() is None
    assert evaluation.tick(1e9) == []
