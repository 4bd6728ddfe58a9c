"""When something must happen to a series without a sample: the evaluation's timers.

Two structures, both plain data driven by ``now`` arguments:

- ``DeadlineQueue``: each series' one deadline (``for`` elapsed, ``keep_firing_for``
  over) in a heap.  Entries are never removed when a deadline changes; a popped entry
  whose series no longer has that deadline is stale and skipped (lazy deletion keeps
  every update O(log n)).
- ``SilenceWatch``: the no-data timeout.  Every series gets the same timeout and
  evaluation time never goes backwards, so the order in which series last sent a
  sample is the order of their no-data deadlines: an insertion-ordered dict, with the
  series that has been silent longest first, makes each sample O(1) and the next
  deadline a look at the first entry.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict

from actors.evaluation._series import Series, SeriesKey

__all__ = ["DeadlineQueue", "SilenceWatch"]


class DeadlineQueue:
    """Pending deadlines of series, earliest first, with lazy deletion."""

    __slots__ = ("_heap", "_order")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Series]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, series: Series) -> None:
        """Remember ``series.deadline`` (which must be set)."""
        deadline = series.deadline
        if deadline is None:
            raise ValueError(f"{series!r} has no deadline to schedule")
        heapq.heappush(self._heap, (deadline, next(self._order), series))

    def next_deadline(self) -> float | None:
        """Return the earliest live deadline, dropping stale entries on the way."""
        heap = self._heap
        while heap:
            deadline, _, series = heap[0]
            if series.deadline == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float) -> list[Series]:
        """Remove and return the series whose live deadline is ``<= now``, earliest first."""
        heap = self._heap
        due: list[Series] = []
        while heap and heap[0][0] <= now:
            deadline, _, series = heapq.heappop(heap)
            if series.deadline == deadline:
                due.append(series)
        return due

    def clear(self) -> None:
        """Forget every deadline."""
        self._heap.clear()


class SilenceWatch:
    """Series in order of their last sample, to find those silent for ``timeout``."""

    __slots__ = ("_order", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._order: OrderedDict[SeriesKey, Series] = OrderedDict()

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, key: SeriesKey) -> bool:
        return key in self._order

    def heard(self, series: Series) -> None:
        """Note that ``series`` just sent a sample (``series.last_seen`` is set)."""
        try:
            self._order.move_to_end(series.key)
        except KeyError:
            self._order[series.key] = series

    def forget(self, series: Series) -> None:
        """Stop watching ``series``."""
        self._order.pop(series.key, None)

    def next_deadline(self) -> float | None:
        """Return when the longest-silent series times out, or None if none is watched."""
        for series in self._order.values():
            return series.last_seen + self.timeout
        return None

    def pop_silent(self, now: float) -> list[Series]:
        """Remove and return the series silent since ``now - timeout`` or longer."""
        order = self._order
        timeout = self.timeout
        silent: list[Series] = []
        while order:
            series = next(iter(order.values()))
            if series.last_seen + timeout > now:
                break
            order.popitem(last=False)
            silent.append(series)
        return silent

    def clear(self) -> None:
        """Stop watching every series."""
        self._order.clear()
