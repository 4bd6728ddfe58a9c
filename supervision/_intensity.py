"""Restart intensity: at most ``intensity`` restarts within ``period`` seconds."""

from __future__ import annotations

from collections import deque


class RestartIntensity:
    """Remember recent restart times and say when the limit is exceeded.

    As OTP: if more than ``intensity`` restarts happen within ``period`` seconds, the
    supervisor gives up (stops its children and fails, escalating to its parent).
    ``intensity=0`` means any restart exceeds it. Time is passed in, never read.
    """

    def __init__(self, intensity: int, period: float) -> None:
        if intensity < 0:
            raise ValueError(f"intensity must be >= 0, got {intensity}")
        if period <= 0:
            raise ValueError(f"period must be > 0, got {period}")
        self.intensity = intensity
        self.period = period
        self._restarts: deque[float] = deque()

    def record(self, now: float) -> bool:
        """Record a restart at ``now``; return True if this one exceeds the intensity."""
        restarts = self._restarts
        restarts.append(now)
        horizon = now - self.period
        while restarts and restarts[0] <= horizon:
            restarts.popleft()
        return len(restarts) > self.intensity

    def recent(self, now: float) -> int:
        """Return how many restarts fall within the period ending at ``now``."""
        horizon = now - self.period
        return sum(1 for t in self._restarts if t > horizon)

    def reset(self) -> None:
        """Forget every recorded restart."""
        self._restarts.clear()
