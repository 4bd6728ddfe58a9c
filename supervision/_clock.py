"""Injected time: a protocol, the real clock and a fake clock for tests."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Cancellable(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None:
        """Cancel the callback; a no-op if it already ran."""


class Clock(Protocol):
    """Where the runtime and the domain read time and schedule work.

    ``now`` is monotonic seconds (for durations); ``time`` is wall-clock epoch seconds (for
    timestamps people read). Every timeout, timer and backoff in Tocsin goes through
    ``call_later`` so that a ``FakeClock`` drives them in tests.
    """

    def now(self) -> float:
        """Return monotonic seconds."""
        ...

    def time(self) -> float:
        """Return wall-clock seconds since the epoch."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        """Call ``callback`` (synchronously, in the event loop) after ``delay`` seconds."""
        ...

    async def sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds of this clock's time."""
        ...


class RealClock:
    """The event loop's clock; the default."""

    def now(self) -> float:
        """Return ``time.monotonic()``: the clock asyncio's loop keeps time with.

        Not ``loop.time()``: finding the running loop costs a ``getpid`` system call on
        Python 3.11 (asyncio's check for a fork), a notifier reads the time for every
        notification, and uvloop's ``time()`` is only the time of the loop's iteration
        (milliseconds). Callers pass delays, not deadlines, to ``call_later``, so both
        loops' timers agree with it.
        """
        return time.monotonic()

    def time(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        """Schedule with ``loop.call_later``."""
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)

    async def sleep(self, delay: float) -> None:
        """Sleep with ``asyncio.sleep``."""
        await asyncio.sleep(delay)


class _FakeHandle:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that moves only when a test calls ``advance``.

    Callbacks run synchronously inside ``advance`` in due order (ties in scheduling order).
    ``advance`` does not run the event loop: await whatever the callbacks set in motion
    (an event, a reply) afterwards.
    """

    def __init__(self, start: float = 0.0, epoch: float = 1_700_000_000.0) -> None:
        self._now = start
        self._epoch_offset = epoch - start
        self._heap: list[tuple[float, int, _FakeHandle]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        """Return the fake monotonic time."""
        return self._now

    def time(self) -> float:
        """Return the fake epoch time (moves with ``now``)."""
        return self._now + self._epoch_offset

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        """Schedule ``callback`` at ``now() + delay``; it runs in a later ``advance``."""
        handle = _FakeHandle(self._now + max(0.0, delay), callback)
        heapq.heappush(self._heap, (handle.when, next(self._seq), handle))
        return handle

    async def sleep(self, delay: float) -> None:
        """Wait until ``advance`` moves past ``now() + delay``."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        handle = self.call_later(delay, wake)
        try:
            await future
        finally:
            handle.cancel()

    def advance(self, seconds: float) -> int:
        """Move time forward, running every callback that falls due; return how many ran.

        A callback scheduled by another callback runs in the same call when it is due.
        """
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        target = self._now + seconds
        ran = 0
        while self._heap and self._heap[0][0] <= target:
            when, _, handle = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            self._now = max(self._now, when)
            handle.callback()
            ran += 1
        self._now = target
        return ran

    def pending(self) -> int:
        """Return how many scheduled callbacks have not run nor been cancelled."""
        return sum(1 for _, _, h in self._heap if not h.cancelled)

    def next_due(self) -> float | None:
        """Return the time of the earliest pending callback, or None."""
        for when, _, handle in sorted(self._heap):
            if not handle.cancelled:
                return when
        return None
