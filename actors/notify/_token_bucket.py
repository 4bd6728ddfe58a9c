"""TokenBucket: a per-receiver rate limit as a plain class that takes time as an argument."""

from __future__ import annotations

import math

__all__ = ["TokenBucket"]

# Refilling by ``elapsed * rate`` and waiting ``missing / rate`` can land a hair short of a
# whole token in floating point; without this slack a send scheduled for exactly the
# moment its token is due would be refused and rescheduled a nanosecond later.
_EPSILON = 1e-9


class TokenBucket:
    """Allow ``rate`` sends per second on average, and bursts of up to ``burst``.

    The bucket starts full. Each send ``take``s a token; tokens come back continuously at
    ``rate`` per second, up to ``burst``. Nothing here sleeps or reads a clock: the
    caller passes its (monotonic) ``now`` to every call and, when ``take`` refuses, asks
    ``wait_time`` how long to wait before trying again. Time that goes backwards is
    ignored (no tokens are taken back).
    """

    __slots__ = ("_tokens", "_updated", "burst", "rate")

    def __init__(self, rate: float, burst: float) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a finite number > 0, got {rate}")
        if not (burst >= 1 and math.isfinite(burst)):
            raise ValueError(f"burst must be a finite number >= 1, got {burst}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = self.burst
        self._updated: float | None = None

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate}, burst={self.burst}, tokens={self._tokens:.3f})"

    def available(self, now: float) -> float:
        """Return how many tokens there are at ``now`` (fractions included)."""
        self._refill(now)
        return self._tokens

    def take(self, now: float, count: float = 1.0) -> bool:
        """Take ``count`` tokens if there are that many at ``now``; return whether it did.

        Raises ValueError for a ``count`` above ``burst`` (it could never succeed).
        """
        self._check(count)
        self._refill(now)
        if self._tokens + _EPSILON < count:
            return False
        self._tokens = max(0.0, self._tokens - count)
        return True

    def wait_time(self, now: float, count: float = 1.0) -> float:
        """Return the seconds from ``now`` until ``count`` tokens are there (0 if they are).

        Raises ValueError for a ``count`` above ``burst``.
        """
        self._check(count)
        self._refill(now)
        missing = count - self._tokens
        if missing <= _EPSILON:
            return 0.0
        return missing / self.rate

    def _check(self, count: float) -> None:
        if not 0 < count <= self.burst:
            raise ValueError(f"count must be > 0 and <= burst ({self.burst}), got {count}")

    def _refill(self, now: float) -> None:
        updated = self._updated
        if updated is None or now <= updated:
            if updated is None:
                self._updated = now
            return
        self._tokens = min(self.burst, self._tokens + (now - updated) * self.rate)
        self._updated = now
