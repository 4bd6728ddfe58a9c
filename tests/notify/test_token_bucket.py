"""TokenBucket: rate and burst, driven by explicit times."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.notify import TokenBucket


def test_a_new_bucket_is_full_and_allows_a_burst_then_refuses() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]


def test_tokens_come_back_at_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    for _ in range(3):
        bucket.take(0.0)
    assert not bucket.take(0.49)
    assert bucket.take(0.5)
    assert not bucket.take(0.5)
    assert bucket.take(1.0)


def test_wait_time_is_exactly_the_time_until_the_next_token() -> None:
    bucket = TokenBucket(rate=4.0, burst=1)
    assert bucket.wait_time(10.0) == 0.0
    assert bucket.take(10.0)
    assert bucket.wait_time(10.0) == pytest.approx(0.25)
    assert bucket.wait_time(10.1) == pytest.approx(0.15)
    assert bucket.take(10.1 + bucket.wait_time(10.1))


def test_waiting_exactly_wait_time_always_yields_a_token_despite_rounding() -> None:
    bucket = TokenBucket(rate=3.0, burst=1)
    now = 0.1
    for _ in range(1000):
        assert bucket.take(now)
        now += bucket.wait_time(now)


def test_tokens_never_exceed_the_burst() -> None:
    bucket = TokenBucket(rate=100.0, burst=2)
    assert bucket.available(0.0) == 2
    assert bucket.available(1000.0) == 2


def test_time_going_backwards_gives_no_tokens_and_takes_none() -> None:
    bucket = TokenBucket(rate=1.0, burst=1)
    assert bucket.take(5.0)
    assert not bucket.take(4.0)
    assert bucket.available(5.5) == pytest.approx(0.5)


def test_taking_several_tokens_at_once_counts_them_all() -> None:
    bucket = TokenBucket(rate=1.0, burst=5)
    assert bucket.take(0.0, 4)
    assert not bucket.take(0.0, 2)
    assert bucket.wait_time(0.0, 2) == pytest.approx(1.0)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (float("inf"), 1), (1, 0.5)])
def test_a_bucket_refuses_a_rate_or_burst_it_cannot_honour(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match=r"rate|burst"):
        TokenBucket(rate, burst)


def test_asking_for_more_than_the_burst_is_an_error_not_a_wait_forever() -> None:
    bucket = TokenBucket(rate=1.0, burst=2)
    with pytest.raises(ValueError, match="burst"):
        bucket.take(0.0, 3)
    with pytest.raises(ValueError, match="burst"):
        bucket.wait_time(0.0, 3)


@settings(max_examples=100, deadline=None)
@given(
    rate=st.floats(0.1, 1000.0),
    burst=st.integers(1, 50),
    steps=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=60),
)
def test_over_any_schedule_no_more_than_burst_plus_rate_times_elapsed_are_taken(
    rate: float, burst: int, steps: list[float]
) -> None:
    bucket = TokenBucket(rate, burst)
    now = 0.0
    taken = 0
    for step in steps:
        now += step
        while bucket.take(now):
            taken += 1
        assert bucket.wait_time(now) > 0
    assert taken <= burst + rate * now + 1e-6
