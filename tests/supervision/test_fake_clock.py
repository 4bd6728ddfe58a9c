"""FakeClock: time that moves only when the test says so."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from supervision import Clock, FakeClock, RealClock


def test_fake_clock_starts_where_it_is_told_and_moves_only_on_advance() -> None:
    clock = FakeClock(start=5.0, epoch=1_000.0)

    assert (clock.now(), clock.time()) == (5.0, 1_000.0)
    clock.advance(2.5)
    assert (clock.now(), clock.time()) == (7.5, 1_002.5)


def test_advance_runs_due_callbacks_in_due_order_and_ties_in_scheduling_order() -> None:
    clock = FakeClock()
    ran: list[tuple[str, float]] = []

    def recorder(name: str) -> Callable[[], None]:
        return lambda: ran.append((name, clock.now()))

    for name, delay in [("c", 3.0), ("a", 1.0), ("b1", 2.0), ("b2", 2.0), ("late", 9.0)]:
        clock.call_later(delay, recorder(name))

    assert clock.advance(3.0) == 4

    assert ran == [("a", 1.0), ("b1", 2.0), ("b2", 2.0), ("c", 3.0)]
    assert clock.now() == 3.0
    assert clock.pending() == 1
    assert clock.next_due() == 9.0


def test_a_callback_scheduled_by_a_callback_runs_in_the_same_advance_when_due() -> None:
    clock = FakeClock()
    ran: list[float] = []

    def tick() -> None:
        ran.append(clock.now())
        if len(ran) < 10:
            clock.call_later(1.0, tick)

    clock.call_later(1.0, tick)

    assert clock.advance(3.5) == 3
    assert ran == [1.0, 2.0, 3.0]


def test_a_cancelled_callback_never_runs_and_is_not_pending() -> None:
    clock = FakeClock()
    ran: list[str] = []
    handle = clock.call_later(1.0, lambda: ran.append("x"))

    handle.cancel()
    handle.cancel()

    assert clock.pending() == 0
    assert clock.next_due() is None
    assert clock.advance(5.0) == 0
    assert ran == []


def test_a_negative_delay_is_due_at_once() -> None:
    clock = FakeClock(start=1.0)
    ran: list[float] = []
    clock.call_later(-3.0, lambda: ran.append(clock.now()))

    clock.advance(0.0)

    assert ran == [1.0]


def test_advance_rejects_going_back_in_time() -> None:
    with pytest.raises(ValueError, match="seconds"):
        FakeClock().advance(-1.0)


async def test_fake_sleep_returns_only_once_the_clock_has_advanced_past_it() -> None:
    clock = FakeClock()
    sleeping = asyncio.create_task(clock.sleep(2.0))
    await asyncio.sleep(0)

    clock.advance(1.0)
    await asyncio.sleep(0)
    assert not sleeping.done()

    clock.advance(1.0)
    await sleeping


async def test_a_cancelled_fake_sleep_leaves_nothing_scheduled() -> None:
    clock = FakeClock()
    sleeping = asyncio.create_task(clock.sleep(2.0))
    await asyncio.sleep(0)

    sleeping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeping

    assert clock.pending() == 0


async def test_the_real_clock_follows_the_event_loop() -> None:
    clock: Clock = RealClock()
    fired = asyncio.Event()

    clock.call_later(0.0, fired.set)
    await fired.wait()
    await clock.sleep(0)

    # The loop's own clock (uvloop's is the time of the iteration, in milliseconds).
    assert abs(clock.now() - asyncio.get_running_loop().time()) < 0.5
    assert clock.time() > 1_600_000_000


def test_the_real_clock_reads_the_monotonic_clock_without_a_loop() -> None:
    # No running loop to find (on Python 3.11, finding it is a getpid system call).
    clock = RealClock()
    before = time.monotonic()
    now = clock.now()
    assert before <= now <= time.monotonic()
