"""A rule's conditions compiled for the hot path: one verdict per sample, no allocation.

``compile_judge(rule)`` returns what an evaluation applies to every accepted sample
of a series: a ``ThresholdJudge`` (applied inline) or a ``Judge`` (called).  Either
pushes the sample into the series' windows, stores the value it evaluated in
``series.value``, and gives the verdict ``observe`` expects:
for a series that is not firing, whether the rule fires on the value(s); for a firing
series, whether it is *not* resolved, so that hysteresis (``resolve_threshold``) is
applied exactly as ``messages``' ``fires_on``/``resolves_on`` define it.  NaN (an
undefined aggregate, e.g. ``rate`` over one sample) never fires and never resolves.

A ``CallableRule``'s condition is user code: whatever it raises is wrapped in
``ConditionFailed``, which the evaluation reports as a ``RuleError`` while the series
keeps its state.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Protocol, cast

from actors.evaluation._series import Series, SeriesState
from actors.evaluation._windows import SampleWindow, Window, make_window
from messages import Aggregation, CallableRule, CompositeRule, Condition, ThresholdRule

__all__ = [
    "CallableJudge",
    "CompositeJudge",
    "ConditionFailed",
    "Judge",
    "ThresholdCheck",
    "ThresholdJudge",
    "compile_judge",
]

_FIRING = SeriesState.FIRING

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class ConditionFailed(Exception):
    """Raised by a judge when a rule's Python condition raised; ``__cause__`` is why."""


class Judge(Protocol):
    """Evaluate one rule for one series, one sample at a time."""

    def new_windows(self) -> list[Window]:
        """Return the empty windows a new series of this rule needs."""
        ...

    def __call__(self, series: Series, timestamp: float, value: float) -> bool:
        """Push the sample, set ``series.value``, return the verdict (see module doc)."""
        ...


class ThresholdCheck:
    """One condition's comparison: the operator, the threshold, the resolve limit."""

    __slots__ = ("compare", "resolve_limit", "threshold")

    def __init__(self, condition: Condition) -> None:
        self.compare = _OPERATORS[condition.op]
        self.threshold = condition.threshold
        # Without a resolve threshold a firing series resolves when the condition stops
        # holding: "still active" is the plain comparison against the threshold.
        self.resolve_limit = (
            condition.threshold
            if condition.resolve_threshold is None
            else condition.resolve_threshold
        )

    def verdict(self, value: float, firing: bool) -> bool:
        """Return the verdict on ``value`` for a series that is (not) firing."""
        if value != value:  # NaN: never fires, never resolves
            return firing
        if firing:
            return self.compare(value, self.resolve_limit)
        return self.compare(value, self.threshold)


class ThresholdJudge:
    """A ``ThresholdRule`` compiled: its check, on the raw value or one aggregate.

    Not a ``Judge``: the evaluation applies it inline (``ThresholdCheck.verdict`` on
    the sample value, or on ``series.windows[0].push(...)``), because a call per sample
    costs as much as the rest of the work on the hot path.
    """

    __slots__ = ("aggregation", "check")

    def __init__(self, rule: ThresholdRule) -> None:
        (condition,) = rule.conditions
        self.check = ThresholdCheck(condition)
        self.aggregation = condition.aggregation

    def new_windows(self) -> list[Window]:
        """Return the window a new series needs: none, or one for the aggregation."""
        return [] if self.aggregation is None else [make_window(self.aggregation)]


class CompositeJudge:
    """Several conditions over one series, combined with all/any.

    Conditions that share an aggregation share one window.  ``series.value`` is the
    first condition's value.  Verdicts follow ``CompositeRule``: ``all`` fires when
    every condition holds and resolves when any condition is resolved; ``any`` fires
    when one holds and resolves when every one is resolved.
    """

    __slots__ = ("_aggregations", "_all", "_checks")

    def __init__(self, rule: CompositeRule) -> None:
        aggregations: list[Aggregation] = []
        checks: list[tuple[int, Callable[[float, float], bool], float, float]] = []
        for condition in rule.conditions:
            index = -1  # the raw sample value
            if condition.aggregation is not None:
                if condition.aggregation not in aggregations:
                    aggregations.append(condition.aggregation)
                index = aggregations.index(condition.aggregation)
            check = ThresholdCheck(condition)
            checks.append((index, check.compare, check.threshold, check.resolve_limit))
        self._aggregations = tuple(aggregations)
        self._checks = tuple(checks)
        self._all = rule.combine == "all"

    def new_windows(self) -> list[Window]:
        return [make_window(aggregation) for aggregation in self._aggregations]

    def __call__(self, series: Series, timestamp: float, value: float) -> bool:
        # One or two windows (the usual composite: a short average and a long extreme)
        # are pushed without building a list; more take the loop.
        windows = series.windows
        count = len(windows)
        if count == 0:
            aggregates: tuple[float, ...] | list[float] = ()
        elif count == 1:
            aggregates = (windows[0].push(timestamp, value),)
        elif count == 2:
            aggregates = (windows[0].push(timestamp, value), windows[1].push(timestamp, value))
        else:
            aggregates = [window.push(timestamp, value) for window in windows]
        firing = series.state is _FIRING
        combine_all = self._all
        # Not firing: ``all`` fires when every condition holds, ``any`` when one does.
        # Firing (each verdict means "this condition is not resolved"): ``all`` resolves
        # when any condition is resolved, so it stays active only while none is; ``any``
        # resolves when every condition is resolved, so it stays active while one is not.
        # Either way the first verdict that settles it ends the loop.
        checks = self._checks
        index = checks[0][0]
        series.value = value if index < 0 else aggregates[index]
        for index, compare, threshold, resolve_limit in checks:
            condition_value = value if index < 0 else aggregates[index]
            if condition_value != condition_value:  # NaN: never fires, never resolves
                verdict = firing
            else:
                verdict = compare(condition_value, resolve_limit if firing else threshold)
            if verdict is not combine_all:
                return verdict
        return combine_all


class CallableJudge:
    """A ``CallableRule``: its condition gets the series' window of samples.

    The verdict is ``bool(condition(window))`` whatever the series' state (no
    hysteresis beyond what the condition implements).  Anything the condition raises
    (including from ``__bool__``) becomes ``ConditionFailed``; the sample stays in the
    window.
    """

    __slots__ = ("_condition", "_span")

    def __init__(self, rule: CallableRule) -> None:
        self._condition = rule.condition
        self._span = rule.window

    def new_windows(self) -> list[Window]:
        return [SampleWindow(self._span)]

    def __call__(self, series: Series, timestamp: float, value: float) -> bool:
        window = cast(SampleWindow, series.windows[0])
        window.push(timestamp, value)
        series.value = value
        try:
            return bool(self._condition(window.samples()))
        except Exception as error:
            raise ConditionFailed(f"condition raised {type(error).__name__}: {error}") from error


def compile_judge(rule: ThresholdRule | CompositeRule | CallableRule) -> Judge | ThresholdJudge:
    """Return how ``rule`` is evaluated sample by sample."""
    if isinstance(rule, CallableRule):
        return CallableJudge(rule)
    if isinstance(rule, CompositeRule):
        return CompositeJudge(rule)
    return ThresholdJudge(rule)
