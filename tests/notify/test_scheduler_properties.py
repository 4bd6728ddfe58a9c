"""DeliveryScheduler under any interleaving of arrivals, outcomes and time (hypothesis)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.notify import (
    CircuitBreaker,
    DeadLettered,
    DeliveryScheduler,
    RetryPolicy,
    Send,
    TokenBucket,
)
from tests.notify.builders import notification
from tests.notify.test_scheduler import REJECTED, SERVER_DOWN

operation = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 3)),
    st.tuples(st.just("ok"), st.integers(0, 7)),
    st.tuples(st.just("fail"), st.integers(0, 7)),
    st.tuples(st.just("reject"), st.integers(0, 7)),
    st.tuples(st.just("wait"), st.floats(0.0, 5.0)),
)


@settings(max_examples=100, deadline=None)
@given(
    operations=st.lists(operation, max_size=60),
    rate=st.sampled_from([None, 1.0, 4.0]),
    batch_max=st.integers(1, 3),
    max_in_flight=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_under_any_interleaving_per_alert_order_holds_and_nothing_is_lost(
    operations: list[tuple[str, float]],
    rate: float | None,
    batch_max: int,
    max_in_flight: int,
    seed: int,
) -> None:
    s = DeliveryScheduler(
        policy=RetryPolicy(max_attempts=4, max_age=50.0, rng=random.Random(seed)),
        breaker=CircuitBreaker(3, 5.0),
        bucket=None if rate is None else TokenBucket(rate, 2),
        max_in_flight=max_in_flight,
        batch_max=batch_max,
    )
    now = 0.0
    added: dict[str, list[str]] = {}
    first_sent: dict[str, list[str]] = {}
    finished: set[str] = set()
    in_flight: list[Send] = []
    counter = 0

    def start(sends: list[Send]) -> None:
        for send in sends:
            alerts = [item.notification.fingerprint for item in send.items]
            assert len(set(alerts)) == len(alerts), "one alert twice in a batch"
            busy = {i.notification.fingerprint for other in in_flight for i in other.items}
            assert not busy & set(alerts), "two sends of one alert at once"
            for item in send.items:
                sent = first_sent.setdefault(item.notification.fingerprint, [])
                if item.key not in sent:
                    sent.append(item.key)
        in_flight.extend(sends)

    def finish(items: tuple[object, ...]) -> None:
        for item in items:
            key = item.key  # type: ignore[attr-defined]
            assert key not in finished
            finished.add(key)

    def settle() -> None:
        for dead in s.expire(now):
            finish(dead.items)
        start(s.due(now))

    for op, value in operations:
        if op == "add":
            counter += 1
            item = notification(host=f"h{int(value)}", key=f"k{counter}")
            s.add(item, item.id, now, recorded=True)
            added.setdefault(item.fingerprint, []).append(item.id)
        elif op == "wait":
            now += value
        elif in_flight:
            send = in_flight.pop(int(value) % len(in_flight))
            if op == "ok":
                finish(s.completed(send, now))
            else:
                outcome = s.failed(send, SERVER_DOWN if op == "fail" else REJECTED, now)
                if isinstance(outcome, DeadLettered):
                    finish(outcome.items)
        settle()
        assert len(s) == sum(map(len, added.values())) - len(finished)

    # Drain: everything ends delivered or dead, never lost.
    for _ in range(10_000):
        if not len(s):
            break
        while in_flight:
            finish(s.completed(in_flight.pop(0), now))
        settle()
        wake = s.wake_at(now)
        if wake is not None and not in_flight:
            now = max(now, wake)
            settle()
    assert len(s) == 0
    assert finished == {key for keys_ in added.values() for key in keys_}
    for fingerprint, sent in first_sent.items():
        expected = [key for key in added[fingerprint] if key in sent]
        assert sent == expected, "an alert's notifications went out of order"
