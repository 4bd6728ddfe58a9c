"""The series cap (``max_series``): new series past it are refused, existing ones work."""

from __future__ import annotations

from typing import Any

import pytest

from actors.evaluation import RuleEvaluation, SeriesState
from messages import AlertFiring
from tests.evaluation.samples import kinds, sample, threshold_rule

# Each takes a different loop of apply_entries: threshold, windowed, general.
LOOPS: dict[str, dict[str, Any]] = {
    "threshold": {},
    "windowed": {"aggregation": {"fn": "max", "window": 60}},
    "general": {"no_data_timeout": 600.0},
}


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_new_series_past_the_cap_are_refused_and_the_others_keep_alerting(loop: str) -> None:
    notices: list[int] = []
    rule = RuleEvaluation(
        threshold_rule(**LOOPS[loop]), max_series=3, on_series_limit=notices.append
    )
    events = rule.apply([sample(10.0, 1000.0, req=f"r{n}") for n in range(5)], now=1000.0)
    assert events == []
    stats = rule.stats()
    assert (stats.series, stats.samples, stats.over_series_limit) == (3, 3, 2)
    assert rule.state_of({"req": "r3"}) is None
    # A refused series' crossing fires nothing; a held series' fires as ever.
    events = rule.apply(
        [sample(99.0, 1010.0, req="r4"), sample(99.0, 1010.0, req="r1")], now=1010.0
    )
    assert kinds(events) == ["firing"]
    assert isinstance(events[0], AlertFiring)
    assert events[0].labels["req"] == "r1"
    counts = rule.series_counts()
    assert (counts.series, counts.refused) == (3, 3)
    assert notices == [3]  # told once, at the first refusal, not per sample


def test_without_a_cap_every_series_is_kept() -> None:
    rule = RuleEvaluation(threshold_rule())
    rule.apply([sample(10.0, 1000.0, req=f"r{n}") for n in range(50)], now=1000.0)
    assert (rule.stats().series, rule.stats().over_series_limit) == (50, 0)


def test_a_forgotten_series_makes_room_for_a_new_one() -> None:
    rule = RuleEvaluation(threshold_rule(), max_series=2, series_idle_ttl=100.0)
    rule.apply([sample(10.0, 1000.0, req="old"), sample(95.0, 1000.0, req="hot")], now=1000.0)
    for now in range(1025, 1200, 25):
        rule.apply([sample(95.0, float(now), req="hot")], now=float(now))
    assert rule.state_of({"req": "old"}) is None  # forgotten: idle and inactive
    rule.apply([sample(10.0, 1200.0, req="new")], now=1200.0)
    assert rule.state_of({"req": "new"}) is SeriesState.INACTIVE
    assert rule.stats().over_series_limit == 0


def test_restored_alerts_are_taken_back_past_the_cap() -> None:
    before = RuleEvaluation(threshold_rule())
    alerts = before.apply([sample(95.0, 1000.0, req=f"r{n}") for n in range(3)], now=1000.0)
    restarted = RuleEvaluation(threshold_rule(), max_series=1)
    firing = [a for a in alerts if isinstance(a, AlertFiring)]
    assert restarted.restore(firing, 2000.0) == 3
    assert restarted.stats().firing == 3
    # Their own samples claim them; a series never seen is refused.
    restarted.apply([sample(95.0, 2010.0, req="r0"), sample(95.0, 2010.0, req="x")], now=2010.0)
    assert (restarted.stats().series, restarted.stats().over_series_limit) == (3, 1)


@pytest.mark.parametrize("cap", [0, -1])
def test_a_cap_below_one_is_refused(cap: int) -> None:
    with pytest.raises(ValueError, match="max_series"):
        RuleEvaluation(threshold_rule(), max_series=cap)
