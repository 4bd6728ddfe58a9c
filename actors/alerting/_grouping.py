"""Notification grouping: when each aggregation group is flushed, and with what.

Alertmanager's timing (dispatch/dispatch.go, notify/notify.go DedupStage), as a plain
synchronous class that takes time as an argument, with one difference that is the point:
a flush costs what changed since the last one, not the size of the group.

Per (route id, group key) one group.  Timing, for a group created at ``c`` (its first
alert) with ``group_wait`` W, ``group_interval`` I and ``repeat_interval`` R:

- the group ticks at ``c + W + k*I`` (k = 0, 1, ...), as Alertmanager's group timer; a
  tick is only scheduled when there is something to decide, so idle groups cost nothing;
- at a tick, the alerts whose state differs from what the group last reported are
  flushed (``Flush.changed``), with the group's current firing set (``Flush.firing``);
- the first flush needs at least one firing alert (Alertmanager: "notify right away
  unless we only have resolved alerts");
- with nothing changed and alerts still firing, the first tick at or after
  ``last flush + R`` repeats the whole firing set (``is_repeat``): R is rounded up to the
  tick grid, as Alertmanager documents;
- an alert that resolves (or stops firing) before any flush reported it is dropped
  silently: the receiver never knew it;
- a reported alert that resolves is reported once, then leaves the group; a group with no
  alerts left is removed (a later alert starts a new one, with a new group_wait).

States are strings: ``"firing"`` puts an alert in the firing set, ``"resolved"`` ends it,
any other (``"acknowledged"``, ``"suppressed"``, ...) keeps it in the group, reported
when it changes but outside the firing set (so it does not keep repeats going).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from typing import Final

from actors.alerting._flush import FiringSet, Flush, GroupedAlert
from actors.alerting._routing import Route

__all__ = [
    "FIRING",
    "RESOLVED",
    "FiringSet",
    "Flush",
    "GroupScheduler",
    "GroupedAlert",
]

FIRING: Final = "firing"
"""The state of an alert receivers should be told is firing."""
RESOLVED: Final = "resolved"
"""The state of an alert that is over: reported once if it was reported before, then gone."""

_COMPACT_SLACK = 32


class _Member:
    __slots__ = ("labels", "reported", "restored", "state")

    def __init__(self, labels: Mapping[str, str], state: str) -> None:
        self.labels = labels
        self.state = state
        self.reported: str | None = None  # the state the last flush told, None if never
        # Re-fed after a restart: the receiver may have been told before it (unknown).
        self.restored = False


class _Group:
    __slots__ = (
        "anchor",
        "base",
        "deadline",
        "dirty",
        "firing",
        "flushes",
        "id",
        "labels",
        "last_sent",
        "last_tick",
        "log",
        "members",
        "route",
        "token",
    )

    def __init__(self, route: Route, key: str, labels: Mapping[str, str], now: float) -> None:
        self.route = route
        self.id = (route.id, key)
        self.labels = labels
        self.anchor = now + route.group_wait  # the time of tick 0
        self.last_tick = -1  # index of the last tick decided, -1 before the first
        self.last_sent: int | None = None  # index of the tick of the last flush
        self.members: dict[str, _Member] = {}
        self.dirty: dict[str, None] = {}  # keys changed since the last tick, in order
        self.firing: dict[str, GroupedAlert] = {}
        self.base: Mapping[str, GroupedAlert] = {}
        self.log: list[tuple[str, GroupedAlert | None]] = []
        self.deadline: float | None = None
        self.token = 0  # matches the heap entry that is current; -1 once removed
        self.flushes = 0

    def tick_time(self, index: int) -> float:
        # Always computed the same way from the integer index, so equal ticks are equal
        # floats and tests can pass the exact deadlines back as ``now``.
        return self.anchor + index * self.route.group_interval

    def first_tick_at_or_after(self, t: float) -> int:
        """Return the smallest tick index after ``last_tick`` whose time is >= t."""
        interval = self.route.group_interval
        index = max(self.last_tick + 1, math.ceil((t - self.anchor) / interval))
        while index > self.last_tick + 1 and self.tick_time(index - 1) >= t:
            index -= 1
        while self.tick_time(index) < t:
            index += 1
        return index

    def last_tick_at_or_before(self, t: float) -> int:
        index = max(0, math.floor((t - self.anchor) / self.route.group_interval))
        while index > 0 and self.tick_time(index) > t:
            index -= 1
        while self.tick_time(index + 1) <= t:
            index += 1
        return index

    def snapshot(self) -> FiringSet:
        # Compact when the log outgrows the base: the copy costs O(size) once per
        # O(size) logged changes, so O(1) per change amortised.  Older snapshots keep
        # the old base and log, which are never mutated again.
        if len(self.log) > len(self.base) + _COMPACT_SLACK:
            self.base = dict(self.firing)
            self.log = []
        return FiringSet(self.base, self.log, len(self.log), len(self.firing))


class GroupScheduler:
    """Aggregate alert changes per group and say when each group must be notified.

    Feed it every state change with ``alert_changed`` (per route the alert takes, see
    ``RouteTree.match``); arm a timer for ``next_deadline()`` and call ``due(now)`` when
    it expires (or whenever convenient: a late call flushes once, not once per missed
    tick); send the returned flushes.  Costs: ``alert_changed`` O(1) plus O(log groups)
    when it (re)arms a deadline; ``due`` O(changes flushed) plus O(log groups) per flush.
    """

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], _Group] = {}
        self._heap: list[tuple[float, int, _Group]] = []
        self._counter = 0
        self._stale = 0

    def __len__(self) -> int:
        """Return the number of live groups."""
        return len(self._groups)

    def alert_changed(
        self,
        route: Route,
        alert_key: str,
        labels: Mapping[str, str],
        state: str,
        now: float,
        *,
        group_key: str | None = None,
        started_at: float | None = None,
    ) -> None:
        """Record that alert ``alert_key`` of ``route``'s group for ``labels`` is now ``state``.

        ``alert_key`` identifies the alert within the group (its fingerprint, or the
        occurrence id: the caller picks, consistently).  A state equal to the current
        one is a no-op, so calling this on every update is fine.  A resolved alert the
        group does not hold is ignored (no group is created for it).  ``group_key``,
        when given, must be ``route.group_key(labels)`` (pass it to skip recomputing).
        ``started_at``: as Alertmanager, an alert that started more than group_wait ago
        flushes a group that has not had its first tick yet right away (re-fed alerts
        after a restart).  Labels are kept as given: do not mutate them afterwards.
        """
        key = route.group_key(labels) if group_key is None else group_key
        group = self._groups.get((route.id, key))
        if group is None:
            if state == RESOLVED:
                return
            group = _Group(route, key, route.group_labels(labels), now)
            self._groups[group.id] = group
            self._schedule(group, group.anchor)
        member = group.members.get(alert_key)
        if member is None:
            if state == RESOLVED:
                return
            group.members[alert_key] = _Member(labels, state)
        elif member.state == state:
            return
        else:
            member.state = state
        dirty = group.dirty
        was_dirty = bool(dirty)
        dirty[alert_key] = None
        if group.last_tick < 0:
            late = started_at is not None and started_at + route.group_wait < now
            if late and group.anchor > now:
                group.anchor = now
                self._schedule(group, now)
            return
        if was_dirty:
            return  # the first change since the last tick already scheduled the next one
        tick = group.tick_time(group.first_tick_at_or_after(now))
        if group.deadline is None or tick < group.deadline:
            self._schedule(group, tick)

    def restored(self, route_id: str, group_key: str, alert_key: str) -> None:
        """Mark a member re-fed after a restart: its resolution is told even unflushed.

        A member never reported is normally dropped when it resolves (the receiver never
        knew it); one restored from before a restart may have been reported then, so its
        resolution is sent (at least once: a receiver may hear of an end it never saw
        begin, never miss one).
        """
        group = self._groups.get((route_id, group_key))
        member = None if group is None else group.members.get(alert_key)
        if member is not None and member.reported is None:
            member.restored = True

    def told_firing(self, route_id: str, group_key: str, alert_key: str) -> None:
        """Mark a member re-fed after a restart as told it fires (before the restart).

        Its current state, if it is not firing, is then told at the next flush: the
        acknowledgement committed just before a crash, whose flush never happened.
        """
        group = self._groups.get((route_id, group_key))
        member = None if group is None else group.members.get(alert_key)
        if member is not None and member.reported is None and member.state != FIRING:
            member.reported = FIRING

    def due(self, now: float) -> list[Flush]:
        """Decide every tick due at or before ``now``; return the flushes to send.

        Flushes come in deadline order (ties in scheduling order).  Each group is
        decided at most once per call: a call after several missed ticks decides the
        latest of them, once.
        """
        flushes: list[Flush] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _deadline, token, group = heapq.heappop(heap)
            if token != group.token:
                self._stale -= 1
                continue
            group.deadline = None
            flush = self._tick(group, now)
            if flush is not None:
                flushes.append(flush)
        return flushes

    def next_deadline(self) -> float | None:
        """Return when ``due`` next has something to decide, or None if nothing is pending."""
        heap = self._heap
        while heap and heap[0][1] != heap[0][2].token:
            heapq.heappop(heap)
            self._stale -= 1
        return heap[0][0] if heap else None

    def groups(self) -> list[tuple[str, str]]:
        """Return the (route id, group key) of every live group."""
        return list(self._groups)

    def members(self, route_id: str, group_key: str) -> dict[str, str]:
        """Return alert key -> current state for one group ({} if there is no such group)."""
        group = self._groups.get((route_id, group_key))
        if group is None:
            return {}
        return {key: member.state for key, member in group.members.items()}

    def _schedule(self, group: _Group, deadline: float) -> None:
        if group.deadline is not None:
            self._stale += 1
        self._counter += 1
        group.token = self._counter
        group.deadline = deadline
        heapq.heappush(self._heap, (deadline, self._counter, group))
        if self._stale > _COMPACT_SLACK and self._stale * 2 > len(self._heap):
            # Lazy invalidation leaves superseded entries behind; rebuild past half, in
            # place: due() may be iterating over this very list.
            self._heap[:] = [
                (g.deadline, g.token, g) for g in self._groups.values() if g.deadline is not None
            ]
            heapq.heapify(self._heap)
            self._stale = 0

    def _tick(self, group: _Group, now: float) -> Flush | None:
        index = group.last_tick_at_or_before(now)
        group.last_tick = index
        changed: list[GroupedAlert] = []
        members, firing, log = group.members, group.firing, group.log
        for key in group.dirty:
            member = members[key]
            state = member.state
            if state == member.reported:
                continue
            if member.reported is None and state != FIRING:
                if state != RESOLVED:
                    continue
                if not member.restored:
                    del members[key]  # never reported: the receiver never knew it
                    continue
                # Restored and resolved before its first flush: the receiver may have
                # been told it fires before the restart, so tell it that it ended.
            alert = GroupedAlert(key, member.labels, state)
            changed.append(alert)
            if state == FIRING:
                firing[key] = alert
                log.append((key, alert))
            elif member.reported == FIRING and firing.pop(key, None) is not None:
                log.append((key, None))  # (one ``told_firing`` marked was never in the set)
            member.reported = state
            if state == RESOLVED:
                del members[key]
        group.dirty.clear()
        route = group.route
        flush: Flush | None = None
        repeat = (
            not changed
            and firing
            and group.last_sent is not None
            and group.tick_time(index) >= group.tick_time(group.last_sent) + route.repeat_interval
        )
        if changed or repeat:
            group.flushes += 1
            group.last_sent = index
            flush = Flush(
                route.receiver,
                route.id,
                group.id[1],
                group.labels,
                tuple(changed),
                group.snapshot(),
                not changed,
                group.tick_time(index),
                group.flushes,
            )
        if not members:
            del self._groups[group.id]
            group.token = -1
        elif firing and group.last_sent is not None:
            sent_at = group.tick_time(group.last_sent)
            self._schedule(
                group,
                group.tick_time(group.first_tick_at_or_after(sent_at + route.repeat_interval)),
            )
        return flush
