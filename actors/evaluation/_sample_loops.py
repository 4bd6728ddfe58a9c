"""The loops that judge a batch of samples for ``RuleEvaluation.apply_entries``.

The evaluation's hot path.  ``apply_general`` serves any rule in any state;
``apply_threshold`` (a threshold on the raw value) and ``apply_windowed`` (a threshold
on one aggregate) serve the common rules with nothing restored and no no-data alerts,
and do only that: a Python call or a branch per sample costs as much as the rest of
the work, so the two keep separate loops rather than share one with a per-sample test
(their difference is per sample: the window's push, and an undefined aggregate that
never fires nor resolves).  All three give the same events (a property test checks).

Each takes the evaluation whose series it updates and returns how many samples it
dropped (out of order, duplicate, too far ahead, or refused because a new series
would pass ``max_series``: checked in the new-series branch only, see ``_limits``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from actors.evaluation._alert_events import AlertEvent
from actors.evaluation._conditions import ConditionFailed, Judge, ThresholdCheck
from actors.evaluation._entries import SampleEntries, labels_of
from actors.evaluation._series import SeriesState

if TYPE_CHECKING:
    from actors.evaluation._evaluation import RuleEvaluation

_FIRING = SeriesState.FIRING
_PENDING = SeriesState.PENDING
_INACTIVE = SeriesState.INACTIVE
_RESOLVED = SeriesState.RESOLVED


def apply_threshold(
    evaluation: RuleEvaluation,
    entries: SampleEntries,
    now: float,
    horizon: float,
    events: list[AlertEvent],
    check: ThresholdCheck,
) -> int:
    """``apply`` for a threshold on the raw value; return how many samples were dropped."""
    get = evaluation._series.get
    compare, threshold, resolve_limit = check.compare, check.threshold, check.resolve_limit
    dropped = 0
    items = iter(entries)
    for key, timestamp, value, sample in zip(items, items, items, items, strict=True):
        series = get(key)
        if series is None:
            series = evaluation._new_series(key, labels_of(sample))
            if series is None:  # past the evaluation's max_series: refused
                dropped += 1
                continue
        if timestamp <= series.newest or timestamp > horizon:
            evaluation._count_dropped(series, timestamp, horizon)
            dropped += 1
            continue
        series.newest = timestamp
        # ThresholdCheck.verdict inlined, with the two outcomes of nearly every
        # sample (firing and still active; quiet and still quiet) decided first.
        state = series.state
        if state is _FIRING:
            if compare(value, resolve_limit):
                series.deadline = None
                continue
            active = False
        elif compare(value, threshold):
            active = True
        elif state is _PENDING:
            active = False
        else:
            continue
        series.value = value  # only a transition (or a countdown) reports it
        evaluation._observe(series, active, now, events)
    return dropped


def apply_windowed(
    evaluation: RuleEvaluation,
    entries: SampleEntries,
    now: float,
    horizon: float,
    events: list[AlertEvent],
    check: ThresholdCheck,
) -> int:
    """``apply`` for a threshold on one aggregate; return how many samples were dropped."""
    get = evaluation._series.get
    compare, threshold, resolve_limit = check.compare, check.threshold, check.resolve_limit
    dropped = 0
    items = iter(entries)
    for key, timestamp, value, sample in zip(items, items, items, items, strict=True):
        series = get(key)
        if series is None:
            series = evaluation._new_series(key, labels_of(sample))
            if series is None:  # past the evaluation's max_series: refused
                dropped += 1
                continue
        if timestamp <= series.newest or timestamp > horizon:
            evaluation._count_dropped(series, timestamp, horizon)
            dropped += 1
            continue
        series.newest = timestamp
        value = series.windows[0].push(timestamp, value)
        # As in _apply_threshold; an undefined aggregate (NaN) never fires and never
        # resolves: a firing series stays active, any other is not active.
        state = series.state
        if state is _FIRING:
            if value != value or compare(value, resolve_limit):
                series.deadline = None
                continue
            active = False
        elif value == value and compare(value, threshold):
            active = True
        elif state is _PENDING:
            active = False
        else:
            continue
        series.value = value
        evaluation._observe(series, active, now, events)
    return dropped


def apply_general(
    evaluation: RuleEvaluation,
    entries: SampleEntries,
    now: float,
    horizon: float,
    events: list[AlertEvent],
) -> int:
    """``apply`` for any rule and state; return how many samples were dropped."""
    table = evaluation._series
    silence = evaluation._silence
    unclaimed = evaluation._unclaimed
    threshold_judge = evaluation._threshold_judge
    judge = cast(Judge, evaluation._judge)
    # A no-data alert can fire only with a timeout, or if one was restored.
    no_data_possible = silence is not None or evaluation._restored_no_data
    windowed = threshold_judge is not None and threshold_judge.aggregation is not None
    if threshold_judge is not None:
        check = threshold_judge.check
        compare, threshold, resolve_limit = check.compare, check.threshold, check.resolve_limit
    dropped = 0
    items = iter(entries)
    for key, timestamp, value, sample in zip(items, items, items, items, strict=True):
        series = table.get(key)
        if series is None:
            series = evaluation._add_series(key, labels_of(sample))
            if series is None:  # past the evaluation's max_series: refused
                dropped += 1
                continue
        elif unclaimed and key in unclaimed:
            evaluation._claim(series)
        if timestamp <= series.newest or timestamp > horizon:
            evaluation._count_dropped(series, timestamp, horizon)
            dropped += 1
            continue
        series.newest = timestamp
        if no_data_possible:
            series.last_sample = value  # the value a no-data alert reports
            if series.no_data:
                series.no_data = False
                events.append(evaluation._events.resolved(series, True, value, now))
            if silence is not None:
                series.last_seen = now
                silence.heard(series)
        state = series.state
        firing = state is _FIRING
        # The verdict: ThresholdCheck.verdict, inlined.
        if threshold_judge is None:
            try:
                active = judge(series, timestamp, value)
            except ConditionFailed as error:
                evaluation._condition_errors += 1
                evaluation._events.error(events, str(error), now, series)
                continue
        elif windowed:
            value = series.windows[0].push(timestamp, value)
            if value != value:  # NaN: never fires, never resolves
                active = firing
            else:
                active = compare(value, resolve_limit if firing else threshold)
        else:
            active = compare(value, resolve_limit if firing else threshold)
        # The two outcomes of nearly every sample, decided without a call.
        if active:
            if firing:
                series.deadline = None
                continue
        elif state is _INACTIVE or state is _RESOLVED:
            continue
        if threshold_judge is not None:
            # Only a transition (or a countdown) reports the value: store it now.
            series.value = value
        evaluation._observe(series, active, now, events)
    return dropped
