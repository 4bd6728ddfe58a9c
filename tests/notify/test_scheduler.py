"""DeliveryScheduler: ordering, rate limit, batching, retries, circuit and age, in plain time."""

from __future__ import annotations

import pytest

from actors.notify import (
    CircuitBreaker,
    CircuitState,
    DeadLettered,
    DeliveryError,
    DeliveryScheduler,
    Retrying,
    RetryPolicy,
    Send,
    TokenBucket,
)
from messages import Notification
from tests.notify.builders import notification
from tests.notify.test_retry_policy import FixedRandom

SERVER_DOWN = DeliveryError("connection refused", retryable=True)
REJECTED = DeliveryError("HTTP 400", retryable=False)


def scheduler(
    *,
    rate: float | None = None,
    burst: int = 1,
    batch_max: int = 1,
    max_in_flight: int = 4,
    threshold: int = 100,
    cool_down: float = 30.0,
    max_attempts: int = 5,
    max_age: float = 3600.0,
) -> DeliveryScheduler:
    return DeliveryScheduler(
        policy=RetryPolicy(
            max_attempts=max_attempts, max_age=max_age, base=1.0, cap=8.0, rng=FixedRandom(0.5)
        ),
        breaker=CircuitBreaker(threshold, cool_down),
        bucket=None if rate is None else TokenBucket(rate, burst),
        max_in_flight=max_in_flight,
        batch_max=batch_max,
    )


def alert(host: str, n: int = 0) -> Notification:
    """A notification about the alert on ``host``; ``n`` tells several about it apart."""
    return notification(host=host, key=f"{host}/{n}")


def add(s: DeliveryScheduler, *items: Notification, now: float = 0.0) -> None:
    for item in items:
        assert s.add(item, item.id, now, recorded=True) is not None


def state(s: DeliveryScheduler) -> CircuitState:
    """Return the circuit's state (a call, so that mypy does not narrow it for good)."""
    return s.breaker.state


def keys(sends: list[Send]) -> list[list[str]]:
    return [[item.key for item in send.items] for send in sends]


def test_a_recorded_notification_is_due_at_once_and_leaves_when_delivered() -> None:
    s = scheduler()
    add(s, alert("a"))
    [send] = s.due(0.0)
    assert (send.attempt, send.probe) == (1, False)
    assert len(s) == 1
    assert [d.key for d in s.completed(send, 0.1)] == ["a/0"]
    assert len(s) == 0
    assert s.wake_at(0.1) is None


def test_a_notification_is_not_sent_before_it_is_recorded() -> None:
    s = scheduler()
    delivery = s.add(alert("a"), "a/0", 0.0)
    assert delivery is not None
    assert s.due(0.0) == []
    s.recorded(delivery, 0.5)
    assert keys(s.due(0.5)) == [["a/0"]]


def test_adding_a_key_that_is_queued_again_is_refused() -> None:
    s = scheduler()
    add(s, alert("a"))
    assert s.add(alert("a"), "a/0", 0.0) is None
    assert len(s) == 1
    assert "a/0" in s


def test_notifications_of_one_alert_go_one_at_a_time_in_order() -> None:
    s = scheduler(max_in_flight=4)
    add(s, alert("a", 0), alert("a", 1), alert("a", 2))
    [first] = s.due(0.0)
    assert keys([first]) == [["a/0"]]
    assert s.due(0.0) == []
    s.completed(first, 0.1)
    [second] = s.due(0.1)
    assert keys([second]) == [["a/1"]]


def test_an_unrecorded_notification_holds_back_the_later_ones_of_its_alert_only() -> None:
    s = scheduler()
    first = s.add(alert("a", 0), "a/0", 0.0)
    assert first is not None
    add(s, alert("a", 1), alert("b"))
    assert keys(s.due(0.0)) == [["b/0"]]
    s.recorded(first, 0.0)
    assert keys(s.due(0.0)) == [["a/0"]]


def test_different_alerts_start_in_arrival_order_up_to_max_in_flight() -> None:
    s = scheduler(max_in_flight=2)
    add(s, alert("a"), alert("b"), alert("c"))
    sends = s.due(0.0)
    assert keys(sends) == [["a/0"], ["b/0"]]
    assert s.in_flight == 2
    assert s.due(0.0) == []
    assert s.wake_at(0.0) == 3600.0  # only a completion frees a slot; c expires then
    s.completed(sends[1], 0.1)
    assert keys(s.due(0.1)) == [["c/0"]]


def test_the_rate_limit_holds_the_excess_back_in_order_and_drops_nothing() -> None:
    s = scheduler(rate=2.0, burst=2)
    add(s, *(alert(h) for h in "abcde"))
    order: list[str] = []
    now = 0.0
    while len(s):
        for send in s.due(now):
            order += [item.key for item in send.items]
            s.completed(send, now)
        wake = s.wake_at(now)
        if wake is not None:
            assert wake > now
            now = wake
    assert order == ["a/0", "b/0", "c/0", "d/0", "e/0"]
    assert now == pytest.approx(1.5)  # a, b at once; then one every 0.5 s


def test_when_rate_limited_waiting_notifications_go_together_up_to_batch_max() -> None:
    s = scheduler(rate=1.0, burst=1, batch_max=3)
    add(s, *(alert(h) for h in "abcdefg"))
    assert keys(s.due(0.0)) == [["a/0", "b/0", "c/0"]]
    assert s.wake_at(0.0) == pytest.approx(1.0)
    assert keys(s.due(1.0)) == [["d/0", "e/0", "f/0"]]
    assert keys(s.due(2.0)) == [["g/0"]]


def test_notifications_are_not_batched_while_there_are_tokens_for_each() -> None:
    s = scheduler(rate=1.0, burst=5, batch_max=3)
    add(s, alert("a"), alert("b"), alert("c"))
    assert keys(s.due(0.0)) == [["a/0"], ["b/0"], ["c/0"]]


def test_a_batch_never_holds_two_notifications_of_one_alert() -> None:
    s = scheduler(rate=1.0, burst=1, batch_max=5)
    add(s, alert("a", 0), alert("a", 1), alert("b"))
    assert keys(s.due(0.0)) == [["a/0", "b/0"]]


def test_a_failed_batch_is_retried_as_the_same_batch() -> None:
    s = scheduler(rate=1.0, burst=1, batch_max=2, max_in_flight=1)
    add(s, alert("a"), alert("b"), alert("c"))
    [batch] = s.due(0.0)
    outcome = s.failed(batch, SERVER_DOWN, 0.0)
    assert isinstance(outcome, Retrying)
    assert outcome.delay == 0.5
    [again] = s.due(1.0)
    assert keys([again]) == [["a/0", "b/0"]]
    assert again.attempt == 2


def test_a_retryable_failure_is_retried_after_the_backoff_and_not_before() -> None:
    s = scheduler()
    add(s, alert("a"))
    [send] = s.due(0.0)
    outcome = s.failed(send, SERVER_DOWN, 2.0)
    assert isinstance(outcome, Retrying)
    assert (outcome.attempts, outcome.delay) == (1, 0.5)
    assert s.wake_at(2.0) == 2.5
    assert s.due(2.4) == []
    [retry] = s.due(2.5)
    assert retry.attempt == 2
    assert retry.items[0].error == "connection refused"


def test_retry_after_schedules_the_next_attempt_exactly_that_much_later() -> None:
    s = scheduler()
    add(s, alert("a"))
    [send] = s.due(0.0)
    s.failed(send, DeliveryError("HTTP 429", retryable=True, retry_after=7.0), 3.0)
    assert s.wake_at(3.0) == 10.0
    assert s.due(9.999) == []
    assert len(s.due(10.0)) == 1


def test_a_later_notification_of_a_retrying_alert_waits_but_other_alerts_do_not() -> None:
    s = scheduler()
    add(s, alert("a", 0), alert("a", 1), alert("b"))
    sends = s.due(0.0)
    assert keys(sends) == [["a/0"], ["b/0"]]
    s.failed(sends[0], SERVER_DOWN, 0.0)
    s.completed(sends[1], 0.0)
    add(s, alert("c"))
    assert keys(s.due(0.0)) == [["c/0"]]
    assert keys(s.due(0.5)) == [["a/0"]]


def test_a_permanent_failure_dead_letters_at_once_and_frees_the_alerts_next() -> None:
    s = scheduler()
    add(s, alert("a", 0), alert("a", 1))
    [send] = s.due(0.0)
    outcome = s.failed(send, REJECTED, 0.0)
    assert isinstance(outcome, DeadLettered)
    assert outcome.attempts == 1
    assert "permanent" in outcome.reason
    assert keys(s.due(0.0)) == [["a/1"]]


def test_the_last_attempt_dead_letters_with_the_number_of_attempts() -> None:
    s = scheduler(max_attempts=3)
    add(s, alert("a"))
    now = 0.0
    outcome: Retrying | DeadLettered | None = None
    for _ in range(3):
        [send] = s.due(now)
        outcome = s.failed(send, SERVER_DOWN, now)
        now += 10.0
    assert isinstance(outcome, DeadLettered)
    assert outcome.attempts == 3
    assert len(s) == 0


def test_consecutive_failures_open_the_circuit_and_nothing_is_sent_or_lost() -> None:
    s = scheduler(threshold=2, cool_down=30.0)
    add(s, alert("a"), alert("b"), alert("c"))
    a, b, c = s.due(0.0)
    s.failed(a, SERVER_DOWN, 1.0)
    s.failed(b, SERVER_DOWN, 1.0)
    assert state(s) is CircuitState.OPEN
    s.completed(c, 1.0)  # a late success closes it: the receiver answered
    assert state(s) is CircuitState.CLOSED
    a, b = s.due(2.0)
    s.failed(a, SERVER_DOWN, 2.0)
    s.failed(b, SERVER_DOWN, 2.0)
    add(s, alert("d"), now=2.0)
    assert s.due(20.0) == []
    assert len(s) == 3
    assert s.wake_at(20.0) == 32.0


def test_after_the_cool_down_a_single_probe_goes_and_its_success_lets_the_rest_flow() -> None:
    s = scheduler(threshold=1, cool_down=30.0, max_in_flight=4)
    add(s, alert("a"), alert("b"), alert("c"))
    first, *others = s.due(0.0)
    s.failed(first, SERVER_DOWN, 0.0)
    for other in others:
        s.failed(other, SERVER_DOWN, 0.0)
    [probe] = s.due(30.0)
    assert probe.probe
    assert s.due(30.0) == []
    assert s.wake_at(30.0) == 3600.0  # waiting for the probe's result (or max_age)
    s.completed(probe, 30.1)
    assert len(s.due(30.1)) == 2


def test_a_failed_probe_opens_the_circuit_for_another_cool_down() -> None:
    s = scheduler(threshold=1, cool_down=30.0)
    add(s, alert("a"))
    [send] = s.due(0.0)
    s.failed(send, SERVER_DOWN, 0.0)
    [probe] = s.due(30.0)
    s.failed(probe, SERVER_DOWN, 31.0)
    assert state(s) is CircuitState.OPEN
    assert s.wake_at(31.0) == 61.0


def test_a_retry_after_holds_every_notification_of_the_receiver_not_only_the_refused_one() -> None:
    s = scheduler(max_in_flight=1)
    add(s, alert("a"), alert("b"), alert("c"))
    [first] = s.due(0.0)
    s.failed(first, DeliveryError("HTTP 429", retryable=True, retry_after=5.0), 1.0)
    # b and c are about other alerts, and ready: they still wait, or each would meet the
    # same rate limit (fault scenario 3 counted the requests).
    assert s.due(1.0) == []
    assert s.due(5.999) == []
    assert s.wake_at(1.0) == 6.0
    [retry] = s.due(6.0)
    assert [item.notification.id for item in retry.items] == [alert("a").id]
    s.completed(retry, 6.1)
    assert len(s.due(6.1)) == 1


def test_a_shorter_retry_after_never_shortens_a_longer_one_still_running() -> None:
    s = scheduler(max_in_flight=2)
    add(s, alert("a"), alert("b"), alert("c"))
    first, second = s.due(0.0)
    s.failed(first, DeliveryError("HTTP 429", retryable=True, retry_after=10.0), 0.0)
    s.failed(second, DeliveryError("HTTP 503", retryable=True, retry_after=1.0), 0.5)
    assert s.due(5.0) == []
    assert s.wake_at(5.0) == 10.0


def test_failures_with_retry_after_or_permanent_ones_never_open_the_circuit() -> None:
    s = scheduler(threshold=1, max_attempts=10)
    add(s, alert("a"), alert("b"))
    a, b = s.due(0.0)
    s.failed(a, DeliveryError("HTTP 429", retryable=True, retry_after=1.0), 0.0)
    s.failed(b, REJECTED, 0.0)
    assert state(s) is CircuitState.CLOSED


def test_what_waits_past_max_age_is_dead_lettered_without_a_try() -> None:
    s = scheduler(threshold=1, cool_down=1000.0, max_age=60.0)
    add(s, alert("a"))
    [send] = s.due(0.0)
    s.failed(send, SERVER_DOWN, 0.0)
    add(s, alert("b"), now=10.0)
    assert s.wake_at(10.0) == 60.0
    assert s.expire(59.9) == []
    [expired] = s.expire(60.0)
    assert [d.key for d in expired.items] == ["a/0"]
    assert expired.attempts == 1
    assert "connection refused" in expired.reason
    [never_tried] = s.expire(70.0)
    assert never_tried.attempts == 0
    assert "expired" in never_tried.reason
    assert len(s) == 0


def test_a_delivery_in_flight_does_not_expire_but_gives_up_when_it_fails_too_old() -> None:
    s = scheduler(max_age=60.0)
    add(s, alert("a"))
    [send] = s.due(0.0)
    assert s.expire(100.0) == []
    outcome = s.failed(send, SERVER_DOWN, 100.0)
    assert isinstance(outcome, DeadLettered)
    assert "max_age" in outcome.reason


def test_a_reloaded_delivery_keeps_its_age_and_attempts() -> None:
    s = scheduler(max_age=60.0)
    delivery = s.add(alert("a"), "a/0", 100.0, age=50.0, attempts=2, recorded=True)
    assert delivery is not None
    assert delivery.since == 50.0
    [send] = s.due(100.0)
    assert send.attempt == 3
    assert s.expire(100.0) == []
    assert s.wake_at(100.0) is None


def test_reporting_a_send_twice_is_an_error() -> None:
    s = scheduler()
    add(s, alert("a"))
    [send] = s.due(0.0)
    s.completed(send, 0.0)
    with pytest.raises(ValueError, match="not in flight"):
        s.completed(send, 0.0)


def test_settings_that_make_no_sense_are_refused() -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        scheduler(max_in_flight=0)
    with pytest.raises(ValueError, match="batch_max"):
        scheduler(batch_max=0)
