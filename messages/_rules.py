"""Alert rules: what to watch (selector), when it is wrong (conditions), how to say so."""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationInfo, field_validator

from messages._base import (
    FiniteFloat,
    LabelName,
    Labels,
    Message,
    PositiveSeconds,
    RuleId,
    Seconds,
)
from messages._matchers import SelectorInput

__all__ = [
    "ALERT_LABEL_NAMES",
    "RULE_ADAPTER",
    "Aggregation",
    "AggregationFn",
    "AnyRule",
    "CallableRule",
    "Combine",
    "Comparison",
    "CompositeRule",
    "Condition",
    "Rule",
    "RuleBase",
    "Severity",
    "ThresholdRule",
    "WindowCondition",
]

Comparison = Literal[">", ">=", "<", "<=", "==", "!="]
"""How a value is compared with a threshold: ``value <op> threshold``."""

AggregationFn = Literal["avg", "min", "max", "sum", "count", "rate"]
"""Functions over a series' sliding window; see ``Aggregation``."""

Combine = Literal["all", "any"]
"""How a composite rule combines its conditions: AND (``all``) or OR (``any``)."""

ALERT_LABEL_NAMES = frozenset({"alertname", "no_data"})
"""Labels that Tocsin sets on every alert; a rule's static labels may not use them."""

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class Severity(StrEnum):
    """How urgent an alert is; values are the lowercase names on the wire."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Aggregation(Message):
    """Aggregate one series' samples over a sliding window of ``window`` seconds.

    The window holds the samples with ``now - window < timestamp <= now``.  ``avg``,
    ``min``, ``max``, ``sum`` and ``count`` are the plain functions of the values;
    ``rate`` is the change per second between the first and the last sample of the
    window, ``(v_last - v_first) / (t_last - t_first)``: a gauge's slope, with no
    counter-reset handling, and undefined (no value, nothing fires) with fewer than
    two samples.
    """

    type: Literal["aggregation"] = "aggregation"
    fn: AggregationFn
    window: PositiveSeconds


class _ConditionFields(Message):
    """The shared part of a condition: op, threshold, hysteresis, aggregation."""

    aggregation: Aggregation | None = None
    op: Comparison
    threshold: FiniteFloat
    resolve_threshold: FiniteFloat | None = None

    @field_validator("resolve_threshold")
    @classmethod
    def _resolve_threshold_on_safe_side(
        cls, resolve: float | None, info: ValidationInfo
    ) -> float | None:
        op, threshold = info.data.get("op"), info.data.get("threshold")
        if resolve is None or op is None or threshold is None:
            return resolve
        if op in ("==", "!="):
            raise ValueError(f"resolve_threshold is meaningless with op {op!r}; remove it")
        if op in (">", ">=") and resolve > threshold:
            raise ValueError(
                f"resolve_threshold {resolve} must be <= threshold {threshold} for op {op!r}:"
                " an alert on high values resolves at a lower value"
            )
        if op in ("<", "<=") and resolve < threshold:
            raise ValueError(
                f"resolve_threshold {resolve} must be >= threshold {threshold} for op {op!r}:"
                " an alert on low values resolves at a higher value"
            )
        return resolve

    def compare(self, value: float) -> bool:
        """Return whether ``value <op> threshold``: the condition holds (NaN never does)."""
        return not math.isnan(value) and _COMPARE[self.op](value, self.threshold)

    def resolved_by(self, value: float) -> bool:
        """Return whether ``value`` clears the condition, honouring hysteresis.

        Without a ``resolve_threshold`` this is ``not compare(value)``.  With one, the
        value must also fail ``value <op> resolve_threshold``: for ``> 90`` with
        ``resolve_threshold = 80``, a firing alert resolves at 80 or below, not at 89.
        NaN never resolves.
        """
        if math.isnan(value):
            return False
        limit = self.threshold if self.resolve_threshold is None else self.resolve_threshold
        return not _COMPARE[self.op](value, limit)


class Condition(_ConditionFields):
    """One condition of a composite rule: ``aggregate(window) <op> threshold``.

    With no ``aggregation`` the value is the series' latest sample.
    """

    type: Literal["condition"] = "condition"


class RuleBase(Message):
    """Hold the fields every rule has; subclass it, never send it on its own.

    ``for_`` (``for`` on the wire and in TOML): how long a condition must hold before
    the alert fires (pending state), in seconds.  ``keep_firing_for``: how long a
    firing alert keeps firing after its condition clears.  ``no_data_timeout``: when
    set, a series that sends no sample for that long raises a distinct no-data alert
    (label ``no_data="true"``).  ``labels`` are added to the alert's labels and may not
    use ``alertname`` or ``no_data``.  ``annotations`` are Jinja2 templates (by
    convention ``summary`` and ``description``) rendered by the evaluator, not here.
    A disabled rule is kept but not evaluated.
    """

    id: RuleId
    selector: SelectorInput
    for_: Seconds = Field(default=0.0, validation_alias="for", serialization_alias="for")
    keep_firing_for: Seconds = 0.0
    no_data_timeout: PositiveSeconds | None = None
    severity: Severity = Severity.WARNING
    labels: Labels = Field(default_factory=dict)
    annotations: dict[LabelName, str] = Field(default_factory=dict)
    enabled: bool = True

    @field_validator("labels")
    @classmethod
    def _labels_leave_alert_labels_alone(cls, labels: dict[str, str]) -> dict[str, str]:
        clash = sorted(ALERT_LABEL_NAMES.intersection(labels))
        if clash:
            raise ValueError(f"label {clash[0]!r} is set by Tocsin on every alert; remove it")
        return labels


@functools.lru_cache(maxsize=4096)
def _one_condition(
    aggregation: Aggregation | None, op: Comparison, threshold: float, resolve: float | None
) -> tuple[Condition, ...]:
    # Cached by value rather than on the rule: an instance cache would go stale under
    # model_copy(update=...), and pydantic's private attributes are slow to read.
    return (
        Condition(aggregation=aggregation, op=op, threshold=threshold, resolve_threshold=resolve),
    )


class ThresholdRule(_ConditionFields, RuleBase):
    """Fire when a series' value (or its windowed aggregate) crosses a threshold.

    ``compare`` and ``resolved_by`` are the pure decisions the evaluator applies to
    each series' value; ``conditions``, ``fires_on`` and ``resolves_on`` give the same
    decisions in the shape ``CompositeRule`` has, so an evaluator can treat both alike.
    """

    type: Literal["threshold"] = "threshold"

    @property
    def conditions(self) -> tuple[Condition, ...]:
        """Return this rule's single condition, as a one-element tuple."""
        return _one_condition(self.aggregation, self.op, self.threshold, self.resolve_threshold)

    @property
    def combine(self) -> Combine:
        """Return ``"all"``: one condition, combined trivially."""
        return "all"

    def fires_on(self, values: Sequence[float]) -> bool:
        """Return ``compare(values[0])``; raises ``ValueError`` unless there is one value."""
        (value,) = values
        return self.compare(value)

    def resolves_on(self, values: Sequence[float]) -> bool:
        """Return ``resolved_by(values[0])``; raises ``ValueError`` unless there is one value."""
        (value,) = values
        return self.resolved_by(value)


class CompositeRule(RuleBase):
    """Fire on a combination of conditions over the same series.

    Example: the 1-minute average above 80 AND the 5-minute maximum above 95 is
    ``combine = "all"`` with two conditions.  Each condition may carry its own
    ``resolve_threshold``; the rule resolves when the combination no longer holds
    under hysteresis: for ``all``, when any condition is resolved; for ``any``, when
    every condition is.
    """

    type: Literal["composite"] = "composite"
    conditions: Annotated[tuple[Condition, ...], Field(min_length=1, max_length=32)]
    combine: Combine = "all"

    def fires_on(self, values: Sequence[float]) -> bool:
        """Return whether the combined conditions hold; one value per condition, in order.

        Raises ``ValueError`` if ``values`` does not have one value per condition.
        """
        self._check_arity(values)
        results = (c.compare(v) for c, v in zip(self.conditions, values, strict=True))
        return all(results) if self.combine == "all" else any(results)

    def resolves_on(self, values: Sequence[float]) -> bool:
        """Return whether a firing alert resolves; one value per condition, in order.

        Raises ``ValueError`` if ``values`` does not have one value per condition.
        """
        self._check_arity(values)
        results = (c.resolved_by(v) for c, v in zip(self.conditions, values, strict=True))
        return any(results) if self.combine == "all" else all(results)

    def _check_arity(self, values: Sequence[float]) -> None:
        # Checked up front: all() and any() stop early, so zip(strict=True) alone would
        # let a wrong count through whenever the first conditions decide.
        if len(values) != len(self.conditions):
            raise ValueError(
                f"rule {self.id!r} has {len(self.conditions)} conditions, got {len(values)}"
                " values: pass one value per condition, in order"
            )


WindowCondition = Callable[[Sequence[tuple[float, float]]], bool]
"""``(window) -> bool``: the condition of a ``CallableRule``.

``window`` is the series' ``(timestamp, value)`` pairs of the last ``window``
seconds, oldest first, never empty.  Return True while the alert condition holds.
"""


class CallableRule(RuleBase):
    """A rule whose condition is Python code: for the embedded API only.

    Not a wire model: it is in no union, has no JSON schema, cannot be serialised,
    and cannot come from TOML or a client.  ``condition`` receives the series' window
    (see ``WindowCondition``) each time a sample arrives; if it raises, the evaluator
    reports a ``RuleError`` and the series keeps its state.  There is no hysteresis
    beyond what ``condition`` implements itself.
    """

    type: Literal["callable"] = "callable"
    window: PositiveSeconds
    condition: WindowCondition


Rule = Annotated[ThresholdRule | CompositeRule, Field(discriminator="type")]
"""A wire rule: ``ThresholdRule`` or ``CompositeRule``, told apart by ``type``."""

RULE_ADAPTER: TypeAdapter[ThresholdRule | CompositeRule] = TypeAdapter(Rule)
"""Validate a wire rule: ``RULE_ADAPTER.validate_json(data)`` or ``.validate_python(obj)``."""

AnyRule = ThresholdRule | CompositeRule | CallableRule
"""Every kind of rule an evaluator runs, including the embedded-only ``CallableRule``."""
