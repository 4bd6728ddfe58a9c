"""The per-series state machine, one transition at a time (observe and expire)."""

from __future__ import annotations

import pytest

from actors.evaluation import Series, SeriesState, Transition, expire, observe, series_key

INACTIVE, PENDING, FIRING, RESOLVED = (
    SeriesState.INACTIVE,
    SeriesState.PENDING,
    SeriesState.FIRING,
    SeriesState.RESOLVED,
)


def series_in(state: SeriesState, deadline: float | None = None) -> Series:
    series = Series(series_key({"host": "a"}), {"host": "a"}, [])
    series.state = state
    series.deadline = deadline
    return series


@pytest.mark.parametrize("state", [INACTIVE, RESOLVED])
def test_an_active_verdict_fires_at_once_without_for(state: SeriesState) -> None:
    series = series_in(state)
    assert observe(series, True, 100.0, 0.0, 0.0) is Transition.FIRED
    assert series.state is FIRING
    assert series.since == 100.0
    assert series.deadline is None


@pytest.mark.parametrize("state", [INACTIVE, RESOLVED])
def test_an_active_verdict_with_for_makes_the_series_pending_until_a_deadline(
    state: SeriesState,
) -> None:
    series = series_in(state)
    assert observe(series, True, 100.0, 30.0, 0.0) is Transition.NONE
    assert series.state is PENDING
    assert series.deadline == 130.0


@pytest.mark.parametrize("state", [INACTIVE, RESOLVED])
def test_an_inactive_verdict_leaves_a_quiet_series_alone(state: SeriesState) -> None:
    series = series_in(state)
    assert observe(series, False, 100.0, 30.0, 0.0) is Transition.NONE
    assert series.state is state


def test_a_pending_series_stays_pending_before_its_deadline() -> None:
    series = series_in(PENDING, 130.0)
    assert observe(series, True, 129.0, 30.0, 0.0) is Transition.NONE
    assert series.state is PENDING
    assert series.deadline == 130.0


def test_a_pending_series_fires_when_observed_at_its_deadline_starting_at_the_deadline() -> None:
    series = series_in(PENDING, 130.0)
    assert observe(series, True, 135.0, 30.0, 0.0) is Transition.FIRED
    assert series.state is FIRING
    assert series.since == 130.0


def test_a_pending_series_whose_condition_stops_holding_goes_back_to_inactive() -> None:
    series = series_in(PENDING, 130.0)
    assert observe(series, False, 120.0, 30.0, 0.0) is Transition.NONE
    assert series.state is INACTIVE
    assert series.deadline is None


def test_a_firing_series_stays_firing_while_active() -> None:
    series = series_in(FIRING)
    assert observe(series, True, 100.0, 0.0, 0.0) is Transition.NONE
    assert series.state is FIRING


def test_a_firing_series_resolves_at_once_without_keep_firing_for() -> None:
    series = series_in(FIRING)
    assert observe(series, False, 100.0, 0.0, 0.0) is Transition.RESOLVED
    assert series.state is RESOLVED
    assert series.deadline is None


def test_a_firing_series_keeps_firing_for_a_while_after_it_clears() -> None:
    series = series_in(FIRING)
    assert observe(series, False, 100.0, 0.0, 60.0) is Transition.NONE
    assert series.state is FIRING
    assert series.deadline == 160.0
    # Clearing again does not push the deadline back.
    assert observe(series, False, 110.0, 0.0, 60.0) is Transition.NONE
    assert series.deadline == 160.0


def test_an_active_verdict_during_keep_firing_for_cancels_the_countdown() -> None:
    series = series_in(FIRING)
    observe(series, False, 100.0, 0.0, 60.0)
    assert observe(series, True, 110.0, 0.0, 60.0) is Transition.NONE
    assert series.deadline is None
    observe(series, False, 120.0, 0.0, 60.0)
    assert series.deadline == 180.0


def test_a_clearing_series_observed_past_keep_firing_for_resolves() -> None:
    series = series_in(FIRING, 160.0)
    assert observe(series, False, 161.0, 0.0, 60.0) is Transition.RESOLVED
    assert series.state is RESOLVED


def test_expire_fires_a_pending_series_at_its_deadline() -> None:
    series = series_in(PENDING, 130.0)
    assert expire(series, 129.9) is Transition.NONE
    assert expire(series, 140.0) is Transition.FIRED
    assert series.since == 130.0
    assert series.state is FIRING


def test_expire_resolves_a_firing_series_at_the_end_of_keep_firing_for() -> None:
    series = series_in(FIRING, 160.0)
    assert expire(series, 160.0) is Transition.RESOLVED
    assert series.state is RESOLVED


@pytest.mark.parametrize("state", [INACTIVE, PENDING, FIRING, RESOLVED])
def test_expire_does_nothing_without_a_deadline(state: SeriesState) -> None:
    series = series_in(state)
    assert expire(series, 1e9) is Transition.NONE
    assert series.state is state


@pytest.mark.parametrize("state", [INACTIVE, RESOLVED])
def test_expire_drops_a_stray_deadline_of_a_quiet_series(state: SeriesState) -> None:
    series = series_in(state, 10.0)
    assert expire(series, 20.0) is Transition.NONE
    assert series.deadline is None
