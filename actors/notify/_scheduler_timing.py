"""When a DeliveryScheduler has something to do again: deadlines, expiry, wake-ups.

``ScheduleTiming`` is ``DeliveryScheduler``'s base class (actors/notify/_scheduler.py):
the deadline of each unit (its ``max_age``), dead-lettering what outlived it, and the
next time ``due`` or ``expire`` may have work. Deadlines are a FIFO and a heap, as the
ready units are (see ``DeliveryScheduler.__init__``): a new delivery's deadline is almost
always the latest, so it goes to the FIFO's end, and the earlier of the two heads is
next.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable

from actors.notify._circuit import CircuitBreaker, CircuitState
from actors.notify._delivery import DeadLettered, _Unit
from actors.notify._retry import RetryPolicy
from actors.notify._token_bucket import TokenBucket

__all__ = ["ScheduleTiming"]


class ScheduleTiming:
    """Deadlines, expiry and wake-ups; the subclass (``DeliveryScheduler``) sets these."""

    policy: RetryPolicy
    breaker: CircuitBreaker
    bucket: TokenBucket | None
    max_in_flight: int
    in_flight: int
    resume_at: float
    _tie: itertools.count[int]
    _ready_live: int
    _delayed: list[tuple[float, int, _Unit]]
    _deadlines: list[tuple[float, int, _Unit]]
    _deadline_fifo: deque[tuple[float, int, _Unit]]
    _finish: Callable[[_Unit, float], None]

    def expire(self, now: float) -> list[DeadLettered]:
        """Dead-letter what waited ``policy.max_age`` without being delivered."""
        expired: list[DeadLettered] = []
        deadlines, fifo = self._deadlines, self._deadline_fifo
        while True:
            if fifo and (not deadlines or fifo[0] < deadlines[0]):
                if fifo[0][0] > now:
                    break
                _, _, unit = fifo.popleft()
            elif deadlines and deadlines[0][0] <= now:
                _, _, unit = heapq.heappop(deadlines)
            else:
                break
            if unit.done or unit.in_flight:
                continue  # an in-flight unit gets a new deadline if it fails
            self._finish(unit, now)
            reason = f"expired: not delivered within max_age {self.policy.max_age:g}s"
            reason += f" ({unit.attempts} attempts)"
            last_error = unit.items[0].error
            if last_error:
                reason += f": {last_error}"
            expired.append(DeadLettered(tuple(unit.items), unit.attempts, reason))
        return expired

    def wake_at(self, now: float) -> float | None:
        """Return when ``due``/``expire`` may have something to do again; None: nothing.

        Completions are not included: report them as they come and call ``due`` then.
        """
        candidates: list[float] = []
        gate = self._gate(now)
        if gate is not None:
            if self._ready_live:
                candidates.append(gate)
            delayed = self._delayed
            while delayed and delayed[0][2].where != "delayed":
                heapq.heappop(delayed)
            if delayed:
                candidates.append(max(gate, delayed[0][0]))
        deadlines, fifo = self._deadlines, self._deadline_fifo
        while deadlines and (deadlines[0][2].done or deadlines[0][2].in_flight):
            heapq.heappop(deadlines)
        while fifo and (fifo[0][2].done or fifo[0][2].in_flight):
            fifo.popleft()
        if deadlines:
            candidates.append(deadlines[0][0])
        if fifo:
            candidates.append(fifo[0][0])
        return min(candidates) if candidates else None

    def _gate(self, now: float) -> float | None:
        # The earliest time a ready unit could start; None if only a send's result can
        # open the way (every slot taken, or the half-open probe is out).
        if self.in_flight >= self.max_in_flight:
            return None
        if now < self.resume_at:
            return self.resume_at
        probe_at = self.breaker.probe_at()
        if probe_at is not None:
            return max(now, probe_at)
        if self.breaker.state is not CircuitState.CLOSED:
            return None
        return now if self.bucket is None else now + self.bucket.wait_time(now)

    def _push_deadline(self, unit: _Unit) -> None:
        entry = (unit.since + self.policy.max_age, next(self._tie), unit)
        fifo = self._deadline_fifo
        if not fifo or fifo[-1] < entry:
            fifo.append(entry)
        else:
            heapq.heappush(self._deadlines, entry)
