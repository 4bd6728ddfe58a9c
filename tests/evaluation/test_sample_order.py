"""Out-of-order, duplicate and far-future samples are dropped and counted."""

from __future__ import annotations

from actors.evaluation import RuleEvaluation, SeriesState
from tests.evaluation.samples import LABELS, kinds, sample, threshold_rule


def test_a_sample_older_than_the_newest_is_dropped_and_counted() -> None:
    evaluation = RuleEvaluation(threshold_rule())
    evaluation.apply([sample(10.0, 100.0)], 100.0)
    assert evaluation.apply([sample(99.0, 99.0)], 101.0) == []
    stats = evaluation.stats()
    assert stats.out_of_order == 1
    assert stats.samples == 1
    assert evaluation.state_of(LABELS) is SeriesState.INACTIVE


def test_a_duplicate_timestamp_is_dropped_so_the_first_value_wins() -> None:
    evaluation = RuleEvaluation(threshold_rule())
    evaluation.apply([sample(10.0, 100.0), sample(99.0, 100.0)], 100.0)
    assert evaluation.state_of(LABELS) is SeriesState.INACTIVE
    assert evaluation.stats().duplicates == 1


def test_out_of_order_samples_do_not_enter_the_window() -> None:
    evaluation = RuleEvaluation(threshold_rule(aggregation={"fn": "max", "window": 60}))
    evaluation.apply([sample(10.0, 100.0)], 100.0)
    evaluation.apply([sample(99.0, 95.0)], 101.0)
    assert evaluation.apply([sample(11.0, 105.0)], 105.0) == []


def test_order_is_kept_per_series_not_across_series() -> None:
    evaluation = RuleEvaluation(threshold_rule())
    events = evaluation.apply([sample(10.0, 100.0, host="a"), sample(95.0, 50.0, host="b")], 100.0)
    assert kinds(events) == ["firing"]
    assert evaluation.stats().out_of_order == 0


def test_a_sample_too_far_in_the_future_is_dropped_so_it_cannot_block_its_series() -> None:
    evaluation = RuleEvaluation(threshold_rule(), future_tolerance=600.0)
    evaluation.apply([sample(10.0, 100.0 + 3600.0)], 100.0)
    assert evaluation.stats().too_far_ahead == 1
    assert kinds(evaluation.apply([sample(95.0, 101.0)], 101.0)) == ["firing"]


def test_evaluation_time_never_goes_backwards() -> None:
    evaluation = RuleEvaluation(threshold_rule(**{"for": 30}))
    evaluation.apply([sample(95.0, 100.0)], 100.0)
    # A clock stepping back does not delay the deadline computed from the latest time.
    evaluation.apply([sample(96.0, 101.0)], 50.0)
    assert evaluation.next_deadline() == 130.0
    assert kinds(evaluation.tick(20.0)) == []
    assert kinds(evaluation.tick(130.0)) == ["firing"]


def test_the_stats_count_series_and_states() -> None:
    evaluation = RuleEvaluation(threshold_rule(**{"for": 30}))
    evaluation.apply([sample(95.0, 100.0, host="a"), sample(1.0, 100.0, host="b")], 100.0)
    stats = evaluation.stats()
    assert (stats.series, stats.pending, stats.firing, stats.samples) == (2, 1, 0, 2)
