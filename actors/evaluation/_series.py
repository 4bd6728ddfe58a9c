"""One series of one rule: its state, windows and deadline, and the transitions.

Per series the state machine is Prometheus' (inactive → pending → firing), plus an
explicit ``resolved`` state for a series that fired and cleared (it behaves as
``inactive``), ``keep_firing_for`` and hysteresis:

- ``active`` is the verdict of one evaluation.  For a series that is not firing it
  means "the condition holds"; for a firing series it means "not resolved yet", which is
  where hysteresis lives (``resolve_threshold``: a firing series stays active in the
  band between the resolve threshold and the threshold).
- inactive/resolved + active: pending until ``now + for``, or firing at once when
  ``for`` is 0.  pending + inactive: back to inactive (the pending alert is dropped).
- firing + inactive: resolved at once, or after ``keep_firing_for`` seconds during which
  the verdict stays inactive; an active verdict meanwhile cancels the countdown.

Each series has at most one deadline at a time (pending → firing, or the end of
``keep_firing_for``); the no-data timeout is tracked separately by the evaluation.
"""

from __future__ import annotations

import math
from enum import Enum, StrEnum

from actors.evaluation._windows import Window

__all__ = ["Series", "SeriesKey", "SeriesState", "Transition", "expire", "observe"]

SeriesKey = frozenset[tuple[str, str]]
"""A series' identity within one rule: its label set, frozen (order never matters)."""


class SeriesState(StrEnum):
    """Where a series is in its lifecycle; ``resolved`` behaves as ``inactive``."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class Transition(Enum):
    """What one evaluation or deadline did to a series' alert."""

    NONE = 0
    FIRED = 1
    RESOLVED = 2


class Series:
    """The state of one series of one rule; plain slots, mutated by the evaluation.

    ``value`` is the evaluated value (the aggregate when the rule aggregates, NaN while
    undefined) as of the last evaluation that could change the alert: threshold rules
    skip storing it while nothing can happen (quiet, or firing and still active), since
    only a transition reports it.  ``last_sample`` is the last raw sample value (kept
    only when the rule can raise no-data alerts, which report it).  ``since`` is when
    the current alert started firing.  ``deadline`` is the series' one pending deadline, or
    None.  ``no_data`` is True while its no-data alert fires; ``last_seen`` is when its
    last accepted sample arrived (evaluation time).  The alert label sets and
    fingerprints are computed on first use and kept.  ``swept_newest`` and
    ``quiet_since`` belong to the idle sweep (``_idle``): ``newest`` as the last sweep
    saw it, and since when it has not changed.
    """

    __slots__ = (
        "alert_identity",
        "deadline",
        "key",
        "labels",
        "last_sample",
        "last_seen",
        "newest",
        "no_data",
        "no_data_identity",
        "quiet_since",
        "since",
        "state",
        "swept_newest",
        "value",
        "windows",
    )

    def __init__(self, key: SeriesKey, labels: dict[str, str], windows: list[Window]) -> None:
        self.key = key
        self.labels = labels
        self.windows = windows
        self.state = SeriesState.INACTIVE
        self.newest = -math.inf
        self.value: float = math.nan
        self.last_sample: float | None = None
        self.since = 0.0
        self.deadline: float | None = None
        self.no_data = False
        self.last_seen = -math.inf
        self.alert_identity: tuple[dict[str, str], str] | None = None
        self.no_data_identity: tuple[dict[str, str], str] | None = None
        self.swept_newest = -math.inf
        self.quiet_since = math.inf

    def __repr__(self) -> str:
        return f"<Series {dict(sorted(self.labels.items()))} {self.state.value}>"


def observe(
    series: Series, active: bool, now: float, for_: float, keep_firing_for: float
) -> Transition:
    """Apply one verdict at ``now``; return what happened to the series' alert.

    On ``FIRED`` the alert starts at ``now`` (``series.since``); on ``RESOLVED`` it
    ends at ``now``.  A series that becomes pending, or starts its ``keep_firing_for``
    countdown, gets a ``deadline`` the caller must schedule.
    """
    state = series.state
    if state is SeriesState.FIRING:
        if active:
            series.deadline = None  # condition back: keep_firing_for starts over later
            return Transition.NONE
        if keep_firing_for <= 0:
            return _resolve(series)
        if series.deadline is None:
            series.deadline = now + keep_firing_for
        if now >= series.deadline:
            return _resolve(series)
        return Transition.NONE
    if active:
        if state is SeriesState.PENDING:
            if series.deadline is not None and now >= series.deadline:
                return _fire(series, series.deadline)
            return Transition.NONE
        if for_ <= 0:
            return _fire(series, now)
        series.state = SeriesState.PENDING
        series.deadline = now + for_
        return Transition.NONE
    if state is SeriesState.PENDING:
        series.state = SeriesState.INACTIVE
        series.deadline = None
    return Transition.NONE


def expire(series: Series, now: float) -> Transition:
    """Apply the series' deadline if it is due at ``now``; return what happened.

    A pending series fires with ``since`` = its deadline (when ``for`` elapsed, however
    late the caller is); a firing series past ``keep_firing_for`` resolves.
    """
    deadline = series.deadline
    if deadline is None or deadline > now:
        return Transition.NONE
    if series.state is SeriesState.PENDING:
        return _fire(series, deadline)
    if series.state is SeriesState.FIRING:
        return _resolve(series)
    series.deadline = None
    return Transition.NONE


def _fire(series: Series, at: float) -> Transition:
    series.state = SeriesState.FIRING
    series.since = at
    series.deadline = None
    return Transition.FIRED


def _resolve(series: Series) -> Transition:
    series.state = SeriesState.RESOLVED
    series.deadline = None
    return Transition.RESOLVED
