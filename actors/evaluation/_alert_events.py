"""The alert events one rule emits: identities, annotations, and throttled rule errors."""

from __future__ import annotations

import math
import sys
from typing import Any

from actors.evaluation._annotations import AnnotationTemplates
from actors.evaluation._series import Series
from messages import (
    AlertFiring,
    AlertResolved,
    AnyRule,
    RuleError,
    alert_labels,
    fingerprint,
)

__all__ = ["ERROR_REPORT_INTERVAL", "AlertEvent", "AlertEventBuilder"]

AlertEvent = AlertFiring | AlertResolved | RuleError
"""What an evaluation emits."""

ERROR_REPORT_INTERVAL = 60.0
"""Seconds during which the same rule error text is reported once (the rest counted)."""

_MAX_FLOAT = sys.float_info.max
_MAX_ERROR_TEXTS = 1000


class AlertEventBuilder:
    """Build one rule's alert events for its series.

    A series' alert labels and fingerprint are computed on first use and kept on the
    series (a fingerprint costs microseconds).  Annotations are rendered when an alert
    fires; a template failure adds a ``RuleError`` after the firing event.  Rule errors
    are throttled: each distinct text once per ``ERROR_REPORT_INTERVAL`` seconds, so
    that a failure on every sample of every series cannot drown the alert owner.
    """

    def __init__(self, rule: AnyRule) -> None:
        self.rule = rule
        self.templates = AnnotationTemplates(rule.annotations)
        self.template_errors = 0
        self.errors_suppressed = 0
        self._reported_at: dict[str, float] = {}

    def identity(self, series: Series, no_data: bool) -> tuple[dict[str, str], str]:
        """Return the alert labels and fingerprint of the series' value or no-data alert."""
        identity = series.no_data_identity if no_data else series.alert_identity
        if identity is None:
            rule = self.rule
            labels = alert_labels(rule.id, rule.labels, series.labels, no_data=no_data)
            identity = (labels, fingerprint(labels))
            if no_data:
                series.no_data_identity = identity
            else:
                series.alert_identity = identity
        return identity

    def fire(
        self,
        events: list[AlertEvent],
        series: Series,
        no_data: bool,
        now: float,
        starts_at: float | None = None,
    ) -> None:
        """Append the series' ``AlertFiring`` (and a ``RuleError`` if a template failed).

        The alert starts at ``starts_at``, or ``series.since`` by default; its value is
        the last evaluated value, or for a no-data alert the last sample's.
        """
        rule = self.rule
        labels, print_ = self.identity(series, no_data)
        value = finite(series.last_sample if no_data else series.value)
        annotations: dict[str, str] = {}
        errors: list[str] = []
        if self.templates:
            context: dict[str, Any] = {
                "labels": dict(labels),
                "value": value,
                "rule_id": rule.id,
                "severity": rule.severity.value,
                "no_data": no_data,
            }
            annotations, errors = self.templates.render(context)
        events.append(
            AlertFiring(
                rule_id=rule.id,
                labels=labels,
                fingerprint=print_,
                no_data=no_data,
                value=value,
                annotations=annotations,
                severity=rule.severity,
                starts_at=series.since if starts_at is None else starts_at,
            )
        )
        if errors:
            self.template_errors += 1
            self.error(events, "; ".join(errors), now, series, no_data)

    def resolved(
        self, series: Series, no_data: bool, value: float | None, at: float
    ) -> AlertResolved:
        """Return the ``AlertResolved`` of the series' value or no-data alert."""
        labels, print_ = self.identity(series, no_data)
        return AlertResolved(
            rule_id=self.rule.id,
            labels=labels,
            fingerprint=print_,
            value=finite(value),
            resolved_at=at,
        )

    def error(
        self,
        events: list[AlertEvent],
        text: str,
        now: float,
        series: Series,
        no_data: bool = False,
    ) -> None:
        """Append a ``RuleError`` about the series' alert, unless reported lately."""
        reported = self._reported_at
        last = reported.get(text)
        if last is not None and now - last < ERROR_REPORT_INTERVAL:
            self.errors_suppressed += 1
            return
        if len(reported) >= _MAX_ERROR_TEXTS:
            reported.clear()
        reported[text] = now
        _, print_ = self.identity(series, no_data)
        events.append(RuleError(rule_id=self.rule.id, error=text, at=now, fingerprint=print_))


def finite(value: float | None) -> float | None:
    """Return ``value`` as alert events carry it: finite, or None when undefined.

    NaN (an undefined aggregate) is None; an aggregate that overflowed to infinity is
    reported as the largest float rather than rejected.
    """
    if value is None or value != value:
        return None
    if math.isinf(value):
        return math.copysign(_MAX_FLOAT, value)
    return value
