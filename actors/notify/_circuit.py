"""CircuitBreaker: stop sending to a receiver that keeps failing, then probe it."""

from __future__ import annotations

import math
from enum import StrEnum

__all__ = ["CircuitBreaker", "CircuitState"]


class CircuitState(StrEnum):
    """Where a circuit breaker is; values are the lowercase names."""

    CLOSED = "closed"
    """Sends go through; consecutive failures are counted."""
    OPEN = "open"
    """Nothing is sent until the cool-down has passed."""
    HALF_OPEN = "half_open"
    """One probe send is allowed; its result closes or reopens the circuit."""


class CircuitBreaker:
    """Closed → open after ``failure_threshold`` consecutive failures → half-open after
    ``cool_down`` seconds (one probe) → closed on success, open again on failure.

    A plain class: the caller passes its monotonic ``now``. Call ``allow(now)`` right
    before each send (in half-open it hands out the single probe, so only call it when
    the send will happen), then ``record_success`` or ``record_failure`` with the result.
    A success recorded in any state closes the circuit (the receiver answered); a failure
    recorded while open (a send that started before the circuit opened) changes nothing.
    """

    __slots__ = ("_opened_at", "_state", "cool_down", "failure_threshold", "failures")

    def __init__(self, failure_threshold: int, cool_down: float) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        if not (cool_down >= 0 and math.isfinite(cool_down)):
            raise ValueError(f"cool_down must be a finite number >= 0, got {cool_down}")
        self.failure_threshold = failure_threshold
        self.cool_down = float(cool_down)
        self.failures = 0
        """Consecutive failures counted while closed."""
        self._state = CircuitState.CLOSED
        self._opened_at = 0.0

    def __repr__(self) -> str:
        return f"CircuitBreaker({self._state.value}, failures={self.failures})"

    @property
    def state(self) -> CircuitState:
        """Return the state as of the last call (open turns half-open only in ``allow``)."""
        return self._state

    def probe_at(self) -> float | None:
        """Return when an open circuit will allow its probe; None unless open."""
        if self._state is CircuitState.OPEN:
            return self._opened_at + self.cool_down
        return None

    def allow(self, now: float) -> bool:
        """Return whether a send may start at ``now``; hand out the probe when due.

        Closed: always. Open: not before the cool-down has passed; then the circuit turns
        half-open and this call is the probe. Half-open: not while the probe is out.
        """
        state = self._state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.OPEN:
            if now < self._opened_at + self.cool_down:
                return False
            self._state = CircuitState.HALF_OPEN
            return True
        return False  # half-open: the probe is out

    def record_success(self, now: float) -> CircuitState:
        """Record that a send succeeded (or the receiver answered); return the new state."""
        self._state = CircuitState.CLOSED
        self.failures = 0
        return self._state

    def record_failure(self, now: float) -> CircuitState:
        """Record that a send failed; return the new state.

        Closed: count it, and open at ``failure_threshold`` consecutive failures.
        Half-open: the probe failed, so open again for another cool-down from ``now``.
        """
        state = self._state
        if state is CircuitState.CLOSED:
            self.failures += 1
            if self.failures >= self.failure_threshold:
                self._open(now)
        elif state is CircuitState.HALF_OPEN:
            self._open(now)
        return self._state

    def _open(self, now: float) -> None:
        self._state = CircuitState.OPEN
        self._opened_at = now
