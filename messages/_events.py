"""Alert events: what rule evaluators tell the alert manager about each series."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationInfo, field_validator

from messages._base import (
    Fingerprint,
    FiniteFloat,
    Labels,
    Message,
    NonEmptyStr,
    RuleId,
    Timestamp,
)
from messages._fingerprint import fingerprint
from messages._rules import Severity

__all__ = [
    "ALERT_EVENT_ADAPTER",
    "AlertEvent",
    "AlertFiring",
    "AlertResolved",
    "RuleError",
    "alert_labels",
]


def alert_labels(
    rule_id: str,
    rule_labels: Mapping[str, str],
    series_labels: Mapping[str, str],
    *,
    no_data: bool = False,
) -> dict[str, str]:
    """Return an alert's label set: the series' labels, then the rule's, then Tocsin's.

    As Prometheus: a rule label overrides a series label of the same name, and
    ``alertname`` is the rule id whatever either says.  A no-data alert also gets
    ``no_data="true"``, so it has its own fingerprint and never deduplicates with
    the same series' value alert; a series label ``no_data`` is dropped otherwise.
    The fingerprint of the alert is ``fingerprint(alert_labels(...))``.
    """
    labels = {**series_labels, **rule_labels, "alertname": rule_id}
    if no_data:
        labels["no_data"] = "true"
    else:
        labels.pop("no_data", None)
    return labels


_VERIFIED: dict[str, frozenset[tuple[str, str]]] = {}
"""Fingerprints already checked against their label set (bounded: cleared when full)."""
_MAX_VERIFIED = 100_000


class _AlertIdentity(Message):
    """Rule, labels and fingerprint of one alert, checked against each other."""

    rule_id: RuleId
    labels: Labels
    fingerprint: Fingerprint

    @field_validator("labels")
    @classmethod
    def _alertname_is_rule_id(cls, labels: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        rule_id = info.data.get("rule_id")
        if rule_id is not None and labels.get("alertname") != rule_id:
            raise ValueError(
                f"alertname must be the rule id {rule_id!r}, got {labels.get('alertname')!r};"
                " build labels with alert_labels()"
            )
        return labels

    @field_validator("fingerprint")
    @classmethod
    def _fingerprint_matches_labels(cls, value: str, info: ValidationInfo) -> str:
        labels = info.data.get("labels")
        if labels is None:
            return value
        # A fingerprint is a pure function of the label set: a pair checked once is
        # not hashed again (an evaluator emits the same series' identity on every
        # transition, and hashing costs far more than the rest of the event).
        items = frozenset(labels.items())
        if _VERIFIED.get(value) == items:
            return value
        if value != (expected := fingerprint(labels)):
            raise ValueError(
                f"fingerprint {value!r} does not match the labels: expected {expected!r}"
            )
        if len(_VERIFIED) >= _MAX_VERIFIED:
            _VERIFIED.clear()
        _VERIFIED[value] = items
        return value


class AlertFiring(_AlertIdentity):
    """Tell the alert manager that one series of one rule started firing.

    ``labels`` are ``alert_labels(rule.id, rule.labels, series_labels, no_data=...)``
    and ``fingerprint`` is their ``fingerprint()``: both are checked.  ``annotations``
    are the rule's templates already rendered.  ``value`` is the value that fired
    (the aggregate when the rule aggregates); for a no-data alert it is the last value
    seen, or None.  ``starts_at`` is when the alert fired (after any ``for``).
    """

    type: Literal["alert_firing"] = "alert_firing"
    no_data: bool = Field(default=False, validate_default=True)
    value: FiniteFloat | None = Field(default=None, validate_default=True)
    annotations: dict[str, str] = Field(default_factory=dict)
    severity: Severity
    starts_at: Timestamp

    @field_validator("no_data")
    @classmethod
    def _no_data_label_agrees(cls, no_data: bool, info: ValidationInfo) -> bool:
        labels = info.data.get("labels")
        if labels is not None and (labels.get("no_data") == "true") != no_data:
            raise ValueError(
                'no_data must be true exactly when the labels carry no_data="true";'
                " build labels with alert_labels()"
            )
        return no_data

    @field_validator("value")
    @classmethod
    def _value_unless_no_data(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None and info.data.get("no_data") is False:
            raise ValueError("value is required unless no_data is true")
        return value


class AlertResolved(_AlertIdentity):
    """Tell the alert manager that a firing series of a rule resolved.

    ``value`` is the value that cleared the condition (for a no-data alert, the first
    sample back); None when no value did, e.g. the rule was deleted or disabled.
    """

    type: Literal["alert_resolved"] = "alert_resolved"
    value: FiniteFloat | None = None
    resolved_at: Timestamp


class RuleError(Message):
    """Report that a rule failed to evaluate: a template or a callable condition raised.

    ``fingerprint`` names the alert concerned, when there is one.  The series keeps
    its state; the alert manager records the error and shows it to operators.
    """

    type: Literal["rule_error"] = "rule_error"
    rule_id: RuleId
    error: NonEmptyStr
    at: Timestamp
    fingerprint: Fingerprint | None = None


AlertEvent = Annotated[AlertFiring | AlertResolved | RuleError, Field(discriminator="type")]
"""What an evaluator emits: ``AlertFiring``, ``AlertResolved`` or ``RuleError``."""

ALERT_EVENT_ADAPTER: TypeAdapter[AlertFiring | AlertResolved | RuleError] = TypeAdapter(AlertEvent)
"""Validate an alert event from JSON bytes or Python data, dispatching on ``type``."""
