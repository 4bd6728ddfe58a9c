"""Forgetting idle series: the evaluation's bound on memory for unbounded label values.

A series whose labels include an unbounded value (a request id) sends a few samples
and never again; kept forever, such series grow an evaluator without bound.  As
Prometheus marks a series stale, the evaluation forgets a series that is *inactive*
and has had no sample for ``ttl`` seconds of evaluation time.  Inactive means: not
pending, not firing (so no ``keep_firing_for`` countdown either), no deadline, no
no-data alert firing, no no-data timeout armed (the series is still watched for
silence, so its no-data alert could still fire), and not a restored alert waiting for
its first sample.  A series that is anything else is never forgotten, however idle.

Cost.  Nothing is done per sample: the hot loops already store each series' newest
accepted timestamp (``Series.newest``).  A sweep runs on the evaluation's timer every
``ttl / 4`` seconds; it notes, per series, the ``newest`` it saw and since when that
has not changed (``quiet_since``, the time of the sweep that first saw it unchanged
or first saw the series).  A series whose ``newest`` has not changed for ``ttl``
seconds of sweeps had its last sample at least ``ttl`` ago: it is forgotten, between
``ttl`` and ``ttl * 5/4`` after its last sample, never earlier.  A sweep is O(series).

What is lost.  A forgotten series' windows and its out-of-order horizon: its next
sample starts a new series, inactive, with empty windows.  The effective ``ttl`` is at
least the rule's longest window, so a series that comes back on the clock's pace has
nothing left in its windows anyway.
"""

from __future__ import annotations

import math
from collections.abc import Container

from actors.evaluation._deadlines import SilenceWatch
from actors.evaluation._series import Series, SeriesKey, SeriesState
from actors.evaluation._windows import Window

__all__ = ["DEFAULT_SERIES_IDLE_TTL", "IdleSweep"]

DEFAULT_SERIES_IDLE_TTL = 3600.0
"""Seconds without a sample before an inactive series is forgotten, by default.

One hour: far longer than any scrape interval or short outage of a target (a series
that comes back within it keeps its windows and out-of-order horizon), short enough
that request-id-like series are dropped within the hour; raised to the rule's longest
window when that is longer.
"""

_INACTIVE = SeriesState.INACTIVE
_RESOLVED = SeriesState.RESOLVED


class IdleSweep:
    """When to sweep, and the sweep itself; ``forgotten`` counts the series it dropped."""

    __slots__ = ("forgotten", "interval", "next_at", "ttl")

    def __init__(self, ttl: float, windows: list[Window]) -> None:
        if not ttl > 0 or math.isinf(ttl):
            raise ValueError(f"series_idle_ttl must be positive and finite, not {ttl!r}")
        self.ttl = max([ttl, *(window.span for window in windows)])
        self.interval = self.ttl / 4
        self.next_at = -math.inf
        self.forgotten = 0

    def sweep(
        self,
        table: dict[SeriesKey, Series],
        now: float,
        watched: SilenceWatch | None,
        unclaimed: Container[SeriesKey],
    ) -> int:
        """Forget the inactive series of ``table`` idle for ``ttl`` at ``now``; return how many.

        ``watched`` holds the series whose no-data timeout is armed (if any),
        ``unclaimed`` the restored series still waiting for their first sample: neither
        is forgotten.
        """
        self.next_at = now + self.interval
        cutoff = now - self.ttl
        idle: list[SeriesKey] = []
        for key, series in table.items():
            newest = series.newest
            if newest != series.swept_newest or series.quiet_since > now:
                series.swept_newest = newest
                series.quiet_since = now
                continue
            if (
                series.quiet_since <= cutoff
                and (series.state is _INACTIVE or series.state is _RESOLVED)
                and series.deadline is None
                and not series.no_data
                and (watched is None or key not in watched)
                and key not in unclaimed
            ):
                idle.append(key)
        for key in idle:
            del table[key]
        self.forgotten += len(idle)
        return len(idle)
