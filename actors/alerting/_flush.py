"""What a group's flush reports: each alert's state, the firing set, the flush itself.

``GroupedAlert`` (one alert as a flush reports it), ``FiringSet`` (a group's firing alerts
as of one flush, sharing the group's change log) and ``Flush`` (notify a receiver about
one group). ``_grouping.GroupScheduler`` decides when a group is flushed and builds them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NamedTuple

__all__ = ["FiringSet", "Flush", "GroupedAlert"]


class GroupedAlert(NamedTuple):
    """One alert as a flush reports it: the caller's key, its labels, its state then."""

    key: str
    labels: Mapping[str, str]
    state: str


class FiringSet(Mapping[str, GroupedAlert]):
    """The firing alerts of a group as of one flush: an immutable mapping, key -> alert.

    Taking it costs O(1) (it shares an append-only change log with the group); ``len``
    is O(1); the first lookup or iteration builds the mapping once, in O(size).  Order is
    unspecified: sort if the receiver needs an order.
    """

    __slots__ = ("_base", "_end", "_items", "_log", "_size")

    def __init__(
        self,
        base: Mapping[str, GroupedAlert],
        log: list[tuple[str, GroupedAlert | None]],
        end: int,
        size: int,
    ) -> None:
        self._base = base
        self._log = log
        self._end = end
        self._size = size
        self._items: dict[str, GroupedAlert] | None = None

    def _built(self) -> dict[str, GroupedAlert]:
        items = self._items
        if items is None:
            items = dict(self._base)
            for index in range(self._end):
                key, alert = self._log[index]
                if alert is None:
                    del items[key]
                else:
                    items[key] = alert
            self._items = items
        return items

    def __getitem__(self, key: str) -> GroupedAlert:
        return self._built()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return self._size


class Flush(NamedTuple):
    """Notify ``receiver`` about one group: what changed, and what is firing now.

    ``changed`` lists each alert whose state differs from the group's previous flush, in
    the order they first changed since then, with its state at flush time (several
    changes between flushes collapse into one).  ``firing`` is the group's firing set after those
    changes.  A repeat (``is_repeat``) has no changes and re-sends ``firing``.  ``at`` is
    the tick the flush belongs to (<= the ``now`` passed to ``due``).  ``number`` counts
    this group's flushes from 1 (a group that is removed and created again starts
    over): ``(route_id, group_key, at, number)`` names a flush uniquely, for an
    idempotency key.

    A NamedTuple (like ``GroupedAlert``) rather than a frozen dataclass: it is built on
    the hot path, and a frozen dataclass costs four times as much to construct.
    """

    receiver: str
    route_id: str
    group_key: str
    group_labels: Mapping[str, str]
    changed: tuple[GroupedAlert, ...]
    firing: FiringSet
    is_repeat: bool
    at: float
    number: int
