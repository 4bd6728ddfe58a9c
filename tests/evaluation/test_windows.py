"""Sliding windows: each aggregate, its boundaries, and agreement with the naive result."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.evaluation import (
    ExtremumWindow,
    RateWindow,
    SampleWindow,
    SumWindow,
    make_window,
)
from messages import Aggregation, AggregationFn

FUNCTIONS: tuple[AggregationFn, ...] = ("avg", "min", "max", "sum", "count", "rate")


def naive(function: str, window: list[tuple[float, float]]) -> float:
    values = [value for _, value in window]
    if function == "avg":
        return sum(values) / len(values)
    if function == "sum":
        return sum(values)
    if function == "count":
        return float(len(values))
    if function == "min":
        return min(values)
    if function == "max":
        return max(values)
    if len(window) < 2:
        return math.nan
    (first_time, first_value), (last_time, last_value) = window[0], window[-1]
    return (last_value - first_value) / (last_time - first_time)


def test_the_window_holds_samples_newer_than_newest_minus_span() -> None:
    window = SumWindow(10.0, "count")
    assert window.push(100.0, 1.0) == 1.0
    assert window.push(105.0, 1.0) == 2.0
    # 110 - 10 = 100: the sample at exactly 100 is out (now - window < t <= now).
    assert window.push(110.0, 1.0) == 2.0


def test_avg_and_sum_follow_the_samples_in_the_window() -> None:
    average, total = SumWindow(60.0, "avg"), SumWindow(60.0, "sum")
    for timestamp, value in [(0.5, 10.0), (30.0, 20.0), (60.0, 30.0)]:
        last_average = average.push(timestamp, value)
        last_total = total.push(timestamp, value)
    assert last_average == pytest.approx(20.0)
    assert last_total == pytest.approx(60.0)
    assert average.push(61.0, 40.0) == pytest.approx(30.0)  # 0.5 fell out


def test_max_keeps_the_largest_value_until_it_leaves_the_window() -> None:
    window = ExtremumWindow(10.0, largest=True)
    assert window.push(1.0, 5.0) == 5.0
    assert window.push(2.0, 9.0) == 9.0
    assert window.push(3.0, 7.0) == 9.0
    assert window.push(12.0, 1.0) == 7.0  # 9 at t=2 left; 7 at t=3 is still inside
    assert window.push(13.0, 0.0) == 1.0


def test_min_keeps_the_smallest_value_until_it_leaves_the_window() -> None:
    window = ExtremumWindow(10.0, largest=False)
    assert window.push(1.0, 5.0) == 5.0
    assert window.push(2.0, 1.0) == 1.0
    assert window.push(3.0, 4.0) == 1.0
    assert window.push(12.5, 6.0) == 4.0


def test_rate_is_the_slope_between_the_first_and_last_sample() -> None:
    window = RateWindow(60.0)
    assert math.isnan(window.push(0.5, 100.0))
    assert window.push(10.5, 150.0) == pytest.approx(5.0)
    assert window.push(20.5, 150.0) == pytest.approx(2.5)


def test_rate_is_undefined_again_when_one_sample_is_left() -> None:
    window = RateWindow(5.0)
    window.push(1.0, 1.0)
    window.push(2.0, 2.0)
    assert math.isnan(window.push(100.0, 3.0))


def test_a_sample_window_returns_a_copy_of_its_samples_oldest_first() -> None:
    window = SampleWindow(10.0)
    window.push(1.0, 1.0)
    window.push(5.0, 2.0)
    window.push(12.0, 3.0)
    assert window.samples() == ((5.0, 2.0), (12.0, 3.0))


def test_a_sum_window_refuses_other_functions() -> None:
    with pytest.raises(ValueError, match="avg, sum or count"):
        SumWindow(1.0, "max")


def test_a_running_sum_does_not_drift_over_many_evictions() -> None:
    window = SumWindow(3.0, "sum")
    stream = [(float(step + 1), 0.1 if step % 2 else 1e12) for step in range(10_000)]
    for timestamp, value in stream:
        result = window.push(timestamp, value)
    # Without the periodic re-summation, adding and removing 1e12 thousands of times
    # leaves an error far above a millionth.
    assert abs(result - naive("sum", stream[-3:])) < 1e-3


def test_an_overflowing_sum_is_infinite_not_an_error() -> None:
    window = SumWindow(10.0, "sum")
    window.push(1.0, 1.7e308)
    assert window.push(2.0, 1.7e308) == math.inf


@st.composite
def streams(draw: st.DrawFn) -> tuple[float, list[tuple[float, float]]]:
    span = draw(st.floats(min_value=0.5, max_value=50.0))
    gaps = draw(st.lists(st.floats(min_value=0.01, max_value=20.0), min_size=1, max_size=80))
    values = draw(
        st.lists(
            st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
            min_size=len(gaps),
            max_size=len(gaps),
        )
    )
    timestamp = 1000.0
    stream = []
    for gap, value in zip(gaps, values, strict=True):
        timestamp += gap
        stream.append((timestamp, value))
    return span, stream


@pytest.mark.parametrize("function", FUNCTIONS)
@given(case=streams())
def test_incremental_aggregates_equal_the_naive_computation(
    function: AggregationFn, case: tuple[float, list[tuple[float, float]]]
) -> None:
    span, stream = case
    window = make_window(Aggregation(fn=function, window=span))
    for index, (timestamp, value) in enumerate(stream):
        got = window.push(timestamp, value)
        inside = [(t, v) for t, v in stream[: index + 1] if t > timestamp - span]
        expected = naive(function, inside)
        if math.isnan(expected):
            assert math.isnan(got)
        else:
            scale = max([1.0, *(abs(v) for _, v in inside)])
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-9 * scale * len(inside))
