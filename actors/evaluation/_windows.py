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
extremum), ``rate`` only needs the first and last sample.  Times and values are kept in
two deques of floats rather than one deque of pairs: a pair per sample would be an
object for the cyclic garbage collector to track and traverse, and on the hot path the
collector cost more than the windows themselves.
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

    __slots__ = ("_evictions", "_function", "_sum", "_times", "_values", "span")

    def __init__(self, span: float, function: str) -> None:
        if function not in (_AVG, _SUM, _COUNT):
            raise ValueError(f"SumWindow computes avg, sum or count, not {function!r}")
        self.span = span
        # The interned constant, so that push can compare by identity.
        self._function = {_AVG: _AVG, _SUM: _SUM, _COUNT: _COUNT}[function]
        self._times: deque[float] = deque()
        self._values: deque[float] = deque()
        self._sum = 0.0
        self._evictions = 0

    def push(self, timestamp: float, value: float) -> float:
        """Add a sample, evict what fell out of the window, return the aggregate."""
        times, values = self._times, self._values
        times.append(timestamp)
        values.append(value)
        total = self._sum + value
        horizon = timestamp - self.span
        if times[0] <= horizon:
            evicted = 0
            while times[0] <= horizon:
                times.popleft()
                total -= values.popleft()
                evicted += 1
            evictions = self._evictions + evicted
            if evictions > len(times) + _RESUM_SLACK:
                # Plain sum, not math.fsum: fsum raises OverflowError where a running
                # sum of huge values is just inf, and a window must never raise.
                total = sum(values)
                evictions = 0
            self._evictions = evictions
        self._sum = total
        function = self._function
        if function is _AVG:
            return total / len(times)
        if function is _SUM:
            return total
        return float(len(times))


class ExtremumWindow:
    """``max`` (or ``min``) over the last ``span`` seconds with a monotonic deque.

    The deque holds only samples that can still become the extremum: for ``max``, each
    is larger than every later one, so the front is the answer and each sample is
    appended and removed once (O(1) amortised).
    """

    __slots__ = ("_largest", "_times", "_values", "span")

    def __init__(self, span: float, *, largest: bool) -> None:
        self.span = span
        self._largest = largest
        self._times: deque[float] = deque()
        self._values: deque[float] = deque()

    def push(self, timestamp: float, value: float) -> float:
        """Add a sample, evict what fell out of the window, return the extremum."""
        times, values = self._times, self._values
        if self._largest:
            while values and values[-1] <= value:
                values.pop()
                times.pop()
        else:
            while values and values[-1] >= value:
                values.pop()
                times.pop()
        times.append(timestamp)
        values.append(value)
        horizon = timestamp - self.span
        while times[0] <= horizon:
            times.popleft()
            values.popleft()
        return values[0]


class RateWindow:
    """Change per second between the first and last sample of the window.

    ``(v_last - v_first) / (t_last - t_first)``, as ``messages.Aggregation`` defines
    it: a gauge's slope, no counter-reset handling; NaN with fewer than two samples.
    """

    __slots__ = ("_times", "_values", "span")

    def __init__(self, span: float) -> None:
        self.span = span
        self._times: deque[float] = deque()
        self._values: deque[float] = deque()

    def push(self, timestamp: float, value: float) -> float:
        """Add a sample, evict what fell out of the window, return the rate."""
        times, values = self._times, self._values
        times.append(timestamp)
        values.append(value)
        horizon = timestamp - self.span
        while times[0] <= horizon:
            times.popleft()
            values.popleft()
        if len(times) < 2:
            return math.nan
        return (value - values[0]) / (timestamp - times[0])


class SampleWindow:
    """Every sample of the last ``span`` seconds, for conditions written in Python.

    ``push`` returns the newest value; ``samples()`` returns the window as a tuple of
    ``(timestamp, value)`` pairs, oldest first (a copy: callers cannot corrupt it).
    """

    __slots__ = ("_times", "_values", "span")

    def __init__(self, span: float) -> None:
        self.span = span
        self._times: deque[float] = deque()
        self._values: deque[float] = deque()

    def push(self, timestamp: float, value: float) -> float:
        """Add a sample, evict what fell out of the window, return ``value``."""
        times, values = self._times, self._values
        times.append(timestamp)
        values.append(value)
        horizon = timestamp - self.span
        while times[0] <= horizon:
            times.popleft()
            values.popleft()
        return value

    def samples(self) -> tuple[tuple[float, float], ...]:
        """Return the window's ``(timestamp, value)`` pairs, oldest first."""
        return tuple(zip(self._times, self._values, strict=True))


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
