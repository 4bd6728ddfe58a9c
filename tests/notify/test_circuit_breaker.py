"""CircuitBreaker: every transition, legal or not, with explicit times."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.notify import CircuitBreaker, CircuitState

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def opened(at: float = 0.0, threshold: int = 3, cool_down: float = 10.0) -> CircuitBreaker:
    breaker = CircuitBreaker(threshold, cool_down)
    for _ in range(threshold):
        breaker.record_failure(at)
    assert breaker.state is OPEN
    return breaker


def test_a_new_circuit_is_closed_and_allows_every_send() -> None:
    breaker = CircuitBreaker(3, 10.0)
    assert breaker.state is CLOSED
    assert all(breaker.allow(float(t)) for t in range(5))
    assert breaker.probe_at() is None


def test_the_circuit_opens_at_exactly_the_threshold_of_consecutive_failures() -> None:
    breaker = CircuitBreaker(3, 10.0)
    assert breaker.record_failure(1.0) is CLOSED
    assert breaker.record_failure(2.0) is CLOSED
    assert breaker.record_failure(3.0) is OPEN
    assert breaker.probe_at() == 13.0


def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    breaker = CircuitBreaker(3, 10.0)
    breaker.record_failure(1.0)
    breaker.record_failure(2.0)
    breaker.record_success(3.0)
    breaker.record_failure(4.0)
    breaker.record_failure(5.0)
    assert breaker.state is CLOSED
    assert breaker.failures == 2


def test_an_open_circuit_refuses_every_send_until_the_cool_down_has_passed() -> None:
    breaker = opened(at=100.0, cool_down=10.0)
    assert not breaker.allow(100.0)
    assert not breaker.allow(109.999)
    assert breaker.state is OPEN


def test_after_the_cool_down_exactly_one_probe_is_allowed() -> None:
    breaker = opened(at=100.0, cool_down=10.0)
    assert breaker.allow(110.0)
    assert breaker.state is HALF_OPEN
    assert not breaker.allow(110.0)
    assert not breaker.allow(500.0)
    assert breaker.probe_at() is None


def test_a_successful_probe_closes_the_circuit() -> None:
    breaker = opened(at=0.0, cool_down=10.0)
    assert breaker.allow(10.0)
    assert breaker.record_success(10.5) is CLOSED
    assert breaker.failures == 0
    assert breaker.allow(10.5)


def test_a_failed_probe_opens_the_circuit_for_another_full_cool_down() -> None:
    breaker = opened(at=0.0, cool_down=10.0)
    assert breaker.allow(12.0)
    assert breaker.record_failure(13.0) is OPEN
    assert breaker.probe_at() == 23.0
    assert not breaker.allow(22.9)
    assert breaker.allow(23.0)


def test_a_late_failure_while_open_does_not_extend_the_cool_down() -> None:
    breaker = opened(at=0.0, cool_down=10.0)
    assert breaker.record_failure(5.0) is OPEN
    assert breaker.probe_at() == 10.0


def test_a_late_success_while_open_closes_the_circuit() -> None:
    breaker = opened(at=0.0, cool_down=10.0)
    assert breaker.record_success(5.0) is CLOSED
    assert breaker.allow(5.0)


def test_a_threshold_of_one_opens_on_the_first_failure() -> None:
    breaker = CircuitBreaker(1, 0.0)
    assert breaker.record_failure(0.0) is OPEN
    assert breaker.allow(0.0)  # a zero cool-down probes at once
    assert breaker.state is HALF_OPEN


@pytest.mark.parametrize(("threshold", "cool_down"), [(0, 1.0), (1, -1.0), (1, float("nan"))])
def test_a_breaker_refuses_settings_that_make_no_sense(threshold: int, cool_down: float) -> None:
    with pytest.raises(ValueError, match=r"failure_threshold|cool_down"):
        CircuitBreaker(threshold, cool_down)


@settings(max_examples=100, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.sampled_from(["allow", "ok", "fail"]), st.floats(0.0, 20.0)), max_size=80
    )
)
def test_the_breaker_matches_a_reference_model_over_any_history(
    events: list[tuple[str, float]],
) -> None:
    threshold, cool_down = 3, 10.0
    breaker = CircuitBreaker(threshold, cool_down)
    state, failures, opened_at, now = CLOSED, 0, 0.0, 0.0
    for event, step in events:
        now += step
        if event == "allow":
            expected = state is CLOSED or (state is OPEN and now >= opened_at + cool_down)
            if state is OPEN and expected:
                state = HALF_OPEN
            assert breaker.allow(now) is expected
        elif event == "ok":
            state, failures = CLOSED, 0
            assert breaker.record_success(now) is CLOSED
        else:
            if state is CLOSED:
                failures += 1
                if failures >= threshold:
                    state, opened_at = OPEN, now
            elif state is HALF_OPEN:
                state, opened_at = OPEN, now
            assert breaker.record_failure(now) is state
        assert breaker.state is state
