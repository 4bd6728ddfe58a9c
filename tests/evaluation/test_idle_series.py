"""Forgetting idle series (``series_idle_ttl``): only inactive ones, only after the TTL."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.evaluation import DEFAULT_SERIES_IDLE_TTL, RuleEvaluation, SeriesState
from messages import AlertFiring
from tests.evaluation.samples import kinds, sample, threshold_rule

TTL = 100.0


def evaluation(**fields: Any) -> RuleEvaluation:
    return RuleEvaluation(threshold_rule(**fields), series_idle_ttl=TTL)


def test_an_idle_inactive_series_is_forgotten_after_the_ttl_and_comes_back_fresh() -> None:
    rule = evaluation(aggregation={"fn": "avg", "window": 60})
    rule.apply([sample(50.0, 1000.0, req="r1")], now=1000.0)
    rule.apply([sample(10.0, 1010.0, req="r1")], now=1010.0)
    assert rule.next_wakeup() == 1000.0 + TTL / 4  # the sweep's timer, nothing else due
    assert rule.next_deadline() is None
    for now in (1025.0, 1050.0, 1075.0, 1100.0):
        assert rule.tick(now) == []
        assert rule.state_of({"req": "r1"}) is SeriesState.INACTIVE, now
    # The last sample came at 1010; the first sweep to see it saw it at 1025.
    assert rule.tick(1124.0) == []
    assert rule.state_of({"req": "r1"}) is SeriesState.INACTIVE
    assert rule.tick(1125.0) == []
    assert rule.state_of({"req": "r1"}) is None
    stats = rule.stats()
    assert (stats.series, stats.series_forgotten) == (0, 1)
    assert rule.next_wakeup() is None  # no series: no sweep timer
    # A new sample starts a new series: empty window, no out-of-order horizon.
    events = rule.apply([sample(95.0, 1005.0, req="r1")], now=1130.0)
    assert kinds(events) == ["firing"]  # avg of 95 alone: the old 50 and 10 are gone
    assert rule.stats().out_of_order == 0


def test_a_series_that_keeps_sending_is_never_forgotten() -> None:
    rule = evaluation()
    for step in range(40):
        now = 1000.0 + 20.0 * step
        rule.apply([sample(10.0, now)], now=now)
        rule.tick(now + 10.0)
    assert rule.state_of({"host": "a"}) is SeriesState.INACTIVE
    assert rule.stats().series_forgotten == 0


def test_resolved_series_are_forgotten_like_inactive_ones() -> None:
    rule = evaluation()
    rule.apply([sample(95.0, 1000.0)], now=1000.0)
    assert kinds(rule.apply([sample(10.0, 1001.0)], now=1001.0)) == ["resolved"]
    rule.tick(1000.0 + 2 * TTL)
    rule.tick(1000.0 + 4 * TTL)
    assert rule.state_of({"host": "a"}) is None


def test_firing_and_pending_series_are_never_forgotten() -> None:
    rule = evaluation(for_=10 * TTL)
    other = evaluation(keep_firing_for=10 * TTL)
    rule.apply([sample(95.0, 1000.0)], now=1000.0)
    other.apply([sample(95.0, 1000.0)], now=1000.0)
    other.apply([sample(10.0, 1001.0)], now=1001.0)  # keep_firing_for counts down
    for now in range(1000, 1000 + 9 * int(TTL), 25):
        assert rule.tick(float(now)) == []
        assert other.tick(float(now)) == []
    assert rule.state_of({"host": "a"}) is SeriesState.PENDING
    assert other.state_of({"host": "a"}) is SeriesState.FIRING
    # Pending for 10 TTLs, it fires: it was not forgotten meanwhile.
    assert kinds(rule.tick(1000.0 + 10 * TTL)) == ["firing"]
    for now in range(1000 + 10 * int(TTL), 1000 + 20 * int(TTL), 25):
        rule.tick(float(now))
    assert rule.state_of({"host": "a"}) is SeriesState.FIRING
    assert rule.stats().series_forgotten == 0


def test_a_series_whose_no_data_alert_can_still_fire_is_kept_and_its_alert_fires() -> None:
    # The timeout is longer than the TTL: forgetting the silent series would disable
    # its no-data alert without a word.
    rule = evaluation(no_data_timeout=5 * TTL)
    rule.apply([sample(10.0, 1000.0)], now=1000.0)
    for now in range(1025, 1500, 25):
        assert rule.tick(float(now)) == []
    assert rule.state_of({"host": "a"}) is SeriesState.INACTIVE
    events = rule.tick(1500.0)
    assert kinds(events) == ["no-data firing"]
    assert isinstance(events[0], AlertFiring)
    # While its no-data alert fires, the series is kept too, and a sample resolves it.
    for now in range(1525, 3000, 25):
        assert rule.tick(float(now)) == []
    assert rule.no_data_firing({"host": "a"})
    assert kinds(rule.apply([sample(10.0, 3000.0)], now=3000.0)) == ["no-data resolved"]
    assert rule.stats().series_forgotten == 0


def test_a_restored_alert_waiting_for_its_first_sample_is_kept() -> None:
    before = evaluation(no_data_timeout=10.0)
    alerts = before.apply([sample(95.0, 1000.0)], now=1000.0)
    alerts += before.tick(1010.0)  # its no-data alert fires too
    assert kinds(alerts) == ["firing", "no-data firing"]
    restarted = evaluation(no_data_timeout=10.0)
    assert restarted.restore([a for a in alerts if isinstance(a, AlertFiring)], 2000.0) == 2
    for now in range(2000, 3000, 25):
        restarted.tick(float(now))
    assert restarted.state_of({"host": "a"}) is SeriesState.FIRING
    assert restarted.no_data_firing({"host": "a"})
    assert restarted.stats().series_forgotten == 0


def test_the_ttl_is_at_least_the_longest_window_and_none_keeps_every_series() -> None:
    rule = RuleEvaluation(
        threshold_rule(aggregation={"fn": "max", "window": 400}), series_idle_ttl=TTL
    )
    rule.apply([sample(10.0, 1000.0)], now=1000.0)
    for now in range(1025, 1400, 25):
        rule.tick(float(now))
    assert rule.state_of({"host": "a"}) is SeriesState.INACTIVE
    for now in range(1400, 1600, 25):
        rule.tick(float(now))
    assert rule.state_of({"host": "a"}) is None

    keeper = RuleEvaluation(threshold_rule(), series_idle_ttl=None)
    keeper.apply([sample(10.0, 1000.0)], now=1000.0)
    assert keeper.next_wakeup() is None
    keeper.tick(1000.0 + 100 * DEFAULT_SERIES_IDLE_TTL)
    assert keeper.state_of({"host": "a"}) is SeriesState.INACTIVE


@pytest.mark.parametrize("ttl", [0.0, -1.0, float("inf"), float("nan")])
def test_a_ttl_that_is_not_positive_and_finite_is_refused(ttl: float) -> None:
    with pytest.raises(ValueError, match="series_idle_ttl"):
        RuleEvaluation(threshold_rule(), series_idle_ttl=ttl)


HOSTS = ("a", "b", "c")
steps = st.lists(
    st.tuples(
        st.sampled_from((*HOSTS, "")),  # "" is a tick without a sample
        st.sampled_from([10.0, 95.0]),
        st.floats(min_value=0.0, max_value=80.0),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(
    steps=steps,
    for_=st.sampled_from([0.0, 30.0, 300.0]),
    keep_firing_for=st.sampled_from([0.0, 30.0, 300.0]),
    no_data_timeout=st.sampled_from([None, 50.0, 400.0]),
)
def test_only_inactive_series_idle_for_the_ttl_are_ever_forgotten(
    steps: list[tuple[str, float, float]],
    for_: float,
    keep_firing_for: float,
    no_data_timeout: float | None,
) -> None:
    rule = evaluation(for_=for_, keep_firing_for=keep_firing_for, no_data_timeout=no_data_timeout)
    now = 1000.0
    heard: dict[str, float] = {}
    for host, value, advance in steps:
        now += advance
        before = {
            name: (rule.state_of({"host": name}), rule.no_data_firing({"host": name}))
            for name in heard
        }
        if host:
            rule.apply([sample(value, now, host=host)], now=now)
            heard[host] = now
        else:
            rule.tick(now)
        for name, (state, no_data) in before.items():
            if rule.state_of({"host": name}) is not None:
                continue
            assert state in (SeriesState.INACTIVE, SeriesState.RESOLVED), (name, state)
            assert not no_data
            assert now - heard[name] >= TTL
            if no_data_timeout is not None:
                # Its no-data alert would have fired before the TTL ran out.
                pytest.fail(f"{name} forgotten on a rule with a no-data timeout")
            del heard[name]
