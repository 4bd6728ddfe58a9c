"""Sliding windows over one series' samples, each keeping one aggregate incrementally.

A window of ``span`` seconds holds the samples with ``newest - span < timestamp <=
newest``, where ``newest`` is the series' newest timestamp: windows slide with the
series' own clock, so a producer whose clock is minutes off still gets exact windows.
Every ``push`` must carry a timestamp strictly greater than the previous one (the
evaluation drops out-of-order and duplicate samples before they get here); ``push``
returns the aggregate over the window including the new sample, or NaN when it is
undefined (``rate`` over fewer than two samples).

Costs: ``push`` is O(1) amortised for every function: ``avg``, ``sum`` and ``count``
keep a running sum, ``min`` and ``max`` a monotonic deque (the classic sliding-window
extremum), ``rate`` only needs the first and last sample.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol

from messages import Aggregation

__all__ = [
    "ExtremumWindow",
    "RateWindow",
    "SampleWindow",
    "SumWindow",
    "Window",
    "make_window",
]

# A running sum drifts as values are added and subtracted; it is recomputed from the
# window's contents once this many evictions (plus the window's length) have happened,
# which keeps the error bounded at O(1) amortised cost.
_RESUM_SLACK = 64
_AVG, _SUM, _COUNT = "avg", "sum", "count"


class Window(Protocol):
    """A sliding window that keeps one aggregate of the samples pushed into it."""

    span: float

    def push(self, timestamp: float, value: float) -> float:
        """Add a sample (newer than every earlier one), evict, return the aggregate."""
        ...


class SumWindow:
    """``avg``, ``sum`` or ``count`` over the last ``span`` seconds, O(1) amortised."""

    __slots__ = ("_entries", "_evictions", "_function", "_sum", "span")

    def __init__(self, span: float, function: str) -> None:
        if function not in (_AVG, _SUM, _COUNT):
            raise ValueError(f"SumWindow computes avg, sum or count, not {function!r}")
        self.span = span
        # The interned constant, so that push can compare by identity.
        self._function = {_AVG: _AVG, _SUM: _SUM, _COUNT: _COUNT}[function]
        self._entries: deque[tuple[float, float]] = deque()
        self._sum = 0.0
        self._evictions = 0

    def push(self, timestamp: float, value: float) -> float:
        """Add a sample, evict what fell out of the window, return the aggregate."""
        entries = self._entries
        entries.append((timestamp, value))
        total = self._sum + value
        horizon = timestamp - self.span
        first = entries[0]
        if first[0] <= horizon:
            evicted = 0
            while first[0] <= horizon:
                total -= first[1]
                entries.popleft()
                evicted += 1
                first = entries[0]
            evictions = self._evictions + evicted
            if evictions > len(entries) + _RESUM_SLACK:
                total = self._resum()
                evictions = 0
            self._evictions = evictions
        self._sum = total
        function = self._function
        if function is _AVG:
            return total / len(entries)
        if function is _SUM:
            return total
        return float(len(entries))

    def _resum(self) -> float:
        # Plain sum, not math.fsum: fsum raises OverflowError where a running sum of
        # huge values would just be inf, and the window must never crash the evaluator.
        return sum(value for _, value in self._entries)


class ExtremumWindow:
    """``max`` (or ``min``) over the last ``span`` seconds with a monotonic deque.

    The deque holds only samples that can still become the extremum: for ``max``, each
    is larger than every later one, so the front is the answer and each sample is
    appended and removed once (O(1) amortised).
    """

    __slots__ = ("_candidates", "_largest", "span")

    def __init__(self, span: float, *, largest: bool) -> None:
        self.span = span
        self._largest = largest
        self._candidates: deque[tuple[float, float]] = deque()

    def push(self, timestamp: float, value: float) -> float:
        """Add a sample, evict what fell out of the window, return the extremum."""
        candidates = self._candidates
        if self._largest:
            while candidates and candidates[-1][1] <= value:
                candidates.pop()
        else:
            while candidates and candidates[-1][1] >= value:
                candidates.pop()
        candidates.append((timestamp, value))
        horizon = timestamp - self.span
        first = candidates[0]
        while first[0] <= horizon:
            candidates.popleft()
            first = candidates[0]
        return first[1]


class RateWindow:
    """Change per second between the first and last sample of the window.

    ``(v_last - v_first) / (t_last - t_first)``, as ``messages.Aggregation`` defines
    it: a gauge's slope, no counter-reset handling; NaN with fewer than two samples.
    """

    __slots__ = ("_entries", "span")

    def __init__(self, span: float) -> None:
        self.span = span
        self._entries: deque[tuple[float, float]] = deque()

    def push(self, timestamp: float, value: float) -> float:
        """Add a sample, evict what fell out of the window, return the rate."""
        entries = self._entries
        entries.append((timestamp, value))
        horizon = timestamp - self.span
        first = entries[0]
        while first[0] <= horizon:
            entries.popleft()
            first = entries[0]
        if len(entries) < 2:
            return math.nan
        return (value - first[1]) / (timestamp - first[0])


class SampleWindow:
    """Every sample of the last ``span`` seconds, for conditions written in Python.

    ``push`` returns the newest value; ``samples()`` returns the window as a tuple of
    ``(timestamp, value)`` pairs, oldest first (a copy: callers cannot corrupt it).
    """

    __slots__ = ("_entries", "span")

    def __init__(self, span: float) -> None:
        self.span = span
        self._entries: deque[tuple[float, float]] = deque()

    def push(self, timestamp: float, value: float) -> float:
        """Add a sample, evict what fell out of the window, return ``value``."""
        entries = self._entries
        entries.append((timestamp, value))
        horizon = timestamp - self.span
        while entries[0][0] <= horizon:
            entries.popleft()
        return value

    def samples(self) -> tuple[tuple[float, float], ...]:
        """Return the window's ``(timestamp, value)`` pairs, oldest first."""
        return tuple(self._entries)


def make_window(aggregation: Aggregation) -> Window:
    """Return an empty window computing ``aggregation``."""
    function, span = aggregation.fn, aggregation.window
    if function in ("avg", "sum", "count"):
        return SumWindow(span, function)
    if function == "max":
        return ExtremumWindow(span, largest=True)
    if function == "min":
        return ExtremumWindow(span, largest=False)
    return RateWindow(span)
