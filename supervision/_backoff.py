"""Exponential backoff with jitter between restarts of a failing child."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay the n-th consecutive restart of a child by ``min * factor**n`` (capped).

    ``jitter`` spreads each delay uniformly by ±(jitter * delay) so that children failing
    together do not restart in lockstep. A child that ran for ``reset_after`` seconds
    since its last start counts as healthy again: its next restart starts from ``min``.
    """

    min: float = 0.1
    max: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2
    reset_after: float = 30.0

    def __post_init__(self) -> None:
        if self.min < 0 or self.max < self.min:
            raise ValueError(f"need 0 <= min <= max, got min={self.min} max={self.max}")
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1, got {self.factor}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter}")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Return the delay before restart number ``attempt`` (0 for the first)."""
        base = min(self.max, self.min * self.factor ** min(attempt, 64))
        if self.jitter == 0 or base == 0:
            return base
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, min(self.max, base * (1 + spread)))
