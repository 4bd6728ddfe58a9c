"""Per-connection frame rate limiting, with the line between a burst and abuse."""

from __future__ import annotations

from enum import Enum

from actors.notify import TokenBucket

__all__ = ["RateLimiter", "Verdict"]

ABUSE_REFILL = 0.1
"""Refused frames are forgiven at this fraction of the allowed rate."""


class Verdict(Enum):
    """What to do with one frame: handle it, refuse it (``rate_limited``), or close (1008)."""

    ALLOW = "allow"
    LIMITED = "limited"
    ABUSE = "abuse"


class RateLimiter:
    """Decide, frame by frame, whether a connection stays within its rate.

    A token bucket of ``burst`` refilling at ``rate`` per second admits frames. A frame it
    refuses takes a token from a second bucket of ``abuse_burst`` that refills at a tenth
    of ``rate``: while that one has tokens the frame is only refused (LIMITED); once it
    is empty the client is abusing the server (ABUSE), and the connection is closed.
    Time is an argument (monotonic seconds), as in ``TokenBucket``.
    """

    __slots__ = ("_admitted", "_refused")

    def __init__(self, rate: float, burst: int, abuse_burst: int) -> None:
        self._admitted = TokenBucket(rate, burst)
        self._refused = TokenBucket(rate * ABUSE_REFILL, abuse_burst)

    def check(self, now: float) -> Verdict:
        """Return the verdict for one frame arriving at ``now``."""
        if self._admitted.take(now):
            return Verdict.ALLOW
        if self._refused.take(now):
            return Verdict.LIMITED
        return Verdict.ABUSE
