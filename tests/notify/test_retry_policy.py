"""RetryPolicy: full-jitter backoff, Retry-After, classification, attempt and age limits."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.notify import DeliveryError, GiveUp, Retry, RetryPolicy


class FixedRandom(random.Random):
    """A random source whose ``random()`` always returns ``value``."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def retryable(retry_after: float | None = None) -> DeliveryError:
    return DeliveryError("HTTP 503", retryable=True, retry_after=retry_after)


def test_the_backoff_ceiling_doubles_from_base_up_to_the_cap() -> None:
    policy = RetryPolicy(base=0.5, cap=5.0)
    assert [policy.ceiling(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.ceiling(10_000) == 5.0


def test_the_delay_is_the_random_fraction_of_the_ceiling_full_jitter() -> None:
    policy = RetryPolicy(base=1.0, cap=100.0, rng=FixedRandom(0.25))
    assert policy.decide(retryable(), 1, 0.0) == Retry(0.25)
    assert policy.decide(retryable(), 3, 0.0) == Retry(1.0)


def test_a_seeded_rng_gives_the_same_delays_every_time() -> None:
    def delays(seed: int) -> list[Retry | GiveUp]:
        policy = RetryPolicy(max_attempts=20, rng=random.Random(seed))
        return [policy.decide(retryable(), n, 0.0) for n in range(1, 10)]

    assert delays(7) == delays(7)
    assert delays(7) != delays(8)


def test_retry_after_is_honoured_exactly_even_above_the_cap() -> None:
    policy = RetryPolicy(base=1.0, cap=2.0, rng=FixedRandom(0.9))
    assert policy.decide(retryable(retry_after=7.0), 1, 0.0) == Retry(7.0)
    assert policy.decide(retryable(retry_after=0.0), 1, 0.0) == Retry(0.0)


def test_a_negative_retry_after_means_now() -> None:
    policy = RetryPolicy()
    assert policy.decide(retryable(retry_after=-3.0), 1, 0.0) == Retry(0.0)


def test_a_permanent_error_gives_up_at_once() -> None:
    policy = RetryPolicy()
    decision = policy.decide(DeliveryError("HTTP 404", retryable=False), 1, 0.0)
    assert isinstance(decision, GiveUp)
    assert "permanent" in decision.reason
    assert "HTTP 404" in decision.reason


def test_the_last_attempt_gives_up_and_says_how_many_were_made() -> None:
    policy = RetryPolicy(max_attempts=3, rng=FixedRandom(0.5))
    assert isinstance(policy.decide(retryable(), 2, 0.0), Retry)
    decision = policy.decide(retryable(), 3, 0.0)
    assert isinstance(decision, GiveUp)
    assert "3 attempts" in decision.reason


def test_a_retry_that_would_start_past_max_age_gives_up() -> None:
    policy = RetryPolicy(max_age=60.0, rng=FixedRandom(0.5))
    assert policy.decide(retryable(retry_after=9.0), 1, 50.0) == Retry(9.0)
    decision = policy.decide(retryable(retry_after=10.0), 1, 50.0)
    assert isinstance(decision, GiveUp)
    assert "max_age" in decision.reason


def test_expired_is_true_from_max_age_on() -> None:
    policy = RetryPolicy(max_age=60.0)
    assert not policy.expired(59.9)
    assert policy.expired(60.0)


@pytest.mark.parametrize(
    "settings_",
    [
        {"max_attempts": 0},
        {"max_age": 0.0},
        {"base": -1.0},
        {"cap": float("inf")},
        {"base": 10.0, "cap": 1.0},
    ],
)
def test_a_policy_refuses_settings_that_make_no_sense(settings_: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must be"):
        RetryPolicy(**settings_)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    base=st.floats(0.01, 10.0),
    factor=st.floats(1.0, 100.0),
    attempts=st.integers(1, 200),
)
def test_every_jittered_delay_lies_between_zero_and_the_ceiling(
    seed: int, base: float, factor: float, attempts: int
) -> None:
    policy = RetryPolicy(
        max_attempts=1000, max_age=1e9, base=base, cap=base * factor, rng=random.Random(seed)
    )
    decision = policy.decide(retryable(), attempts, 0.0)
    assert isinstance(decision, Retry)
    assert 0.0 <= decision.delay <= policy.ceiling(attempts) <= base * factor
