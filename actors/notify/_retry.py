"""RetryPolicy: whether and when to try a failed delivery again."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from actors.notify._channel import DeliveryError

__all__ = ["GiveUp", "Retry", "RetryDecision", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again ``delay`` seconds from now."""

    delay: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop trying: the delivery becomes a dead letter, for ``reason``."""

    reason: str


RetryDecision = Retry | GiveUp


class RetryPolicy:
    """Exponential backoff with full jitter, bounded by an attempt count and an age.

    After the n-th failed attempt the next one waits a uniformly random time in
    ``[0, min(cap, base * 2 ** (n - 1)))`` ("full jitter": retries from many notifiers
    spread out instead of arriving together), unless the receiver said how long to wait
    (``DeliveryError.retry_after``): that is honoured exactly, even above ``cap``.
    ``DeliveryError.retryable`` False gives up at once. A plain class: the caller passes
    the attempt count and age; ``rng`` (seed it in tests) is the only source of jitter.
    """

    __slots__ = ("_rng", "base", "cap", "max_age", "max_attempts")

    def __init__(
        self,
        *,
        max_attempts: int = 10,
        max_age: float = 3600.0,
        base: float = 1.0,
        cap: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        for name, value in (("max_age", max_age), ("base", base), ("cap", cap)):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        if cap < base:
            raise ValueError(f"cap ({cap}) must be >= base ({base})")
        self.max_attempts = max_attempts
        self.max_age = float(max_age)
        self.base = float(base)
        self.cap = float(cap)
        self._rng = rng or random.Random()

    def ceiling(self, attempts: int) -> float:
        """Return the largest backoff after ``attempts`` failed attempts (>= 1)."""
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        # 2 ** 1100 overflows a float; past the cap the exponent no longer matters.
        exponent = min(attempts - 1, 1023)
        return min(self.cap, self.base * 2.0**exponent)

    def expired(self, age: float) -> bool:
        """Return True once a delivery ``age`` seconds old must not be tried any more."""
        return age >= self.max_age

    def decide(self, error: DeliveryError, attempts: int, age: float) -> RetryDecision:
        """Decide what follows the failure ``error`` of attempt number ``attempts``.

        ``age``: seconds since the delivery was first recorded. Gives up when the error
        is permanent, after ``max_attempts`` attempts, or when the next attempt would
        start past ``max_age``; otherwise returns the delay before the next attempt.
        """
        if not error.retryable:
            return GiveUp(f"permanent failure: {error}")
        if attempts >= self.max_attempts:
            return GiveUp(f"gave up after {attempts} attempts: {error}")
        if error.retry_after is not None:
            delay = max(0.0, error.retry_after)
        else:
            delay = self._rng.random() * self.ceiling(attempts)
        if age + delay >= self.max_age:
            return GiveUp(
                f"gave up after {attempts} attempts: the next would start "
                f"{age + delay:.3f}s after the first, past max_age {self.max_age:g}s: {error}"
            )
        return Retry(delay)
