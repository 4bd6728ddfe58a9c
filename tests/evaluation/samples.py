"""Builders shared by the evaluation tests: samples, rules and event filters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from messages import AlertFiring, AlertResolved, MetricSample, RuleError, ThresholdRule

METRIC = "cpu_percent"
LABELS = {"host": "a"}

AlertEvent = AlertFiring | AlertResolved | RuleError


def sample(value: float, timestamp: float, **labels: str) -> MetricSample:
    """Return a sample of ``METRIC`` with ``labels`` (``host="a"`` by default)."""
    return MetricSample(
        name=METRIC, value=value, labels=labels or dict(LABELS), timestamp=timestamp
    )


def threshold_rule(**fields: Any) -> ThresholdRule:
    """Return ``cpu_percent > 90`` (id ``cpu-high``) with ``fields`` overriding."""
    values: dict[str, Any] = {
        "id": "cpu-high",
        "selector": METRIC,
        "op": ">",
        "threshold": 90.0,
    }
    values.update(fields)
    return ThresholdRule.model_validate(values)


def kinds(events: Sequence[AlertEvent]) -> list[str]:
    """Return the events' kinds in order: firing, resolved, error (no-data marked)."""
    names = []
    for event in events:
        if isinstance(event, AlertFiring):
            names.append("no-data firing" if event.no_data else "firing")
        elif isinstance(event, AlertResolved):
            names.append("no-data resolved" if event.labels.get("no_data") else "resolved")
        else:
            names.append("error")
    return names
