"""Builders for the alert manager's tests: alert events, silences, a book at a fixed time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actors.store import NewEvent, StateWrite
from messages import (
    AlertFiring,
    AlertResolved,
    CreateSilence,
    Severity,
    alert_labels,
    fingerprint,
    parse_matchers,
)

T0 = 1_700_000_000.0
"""The FakeClock's default epoch: what ``clock.time()`` says before any advance."""


def labels_of(rule: str = "cpu", **series: str) -> dict[str, str]:
    """Return the alert labels of ``rule`` on the series ``series`` (default host=a)."""
    return alert_labels(rule, {}, series or {"host": "a"})


def fp(rule: str = "cpu", **series: str) -> str:
    """Return the fingerprint of ``labels_of(rule, **series)``."""
    return fingerprint(labels_of(rule, **series))


def firing(
    rule: str = "cpu",
    *,
    value: float = 1.0,
    starts_at: float = T0,
    severity: Severity = Severity.WARNING,
    annotations: dict[str, str] | None = None,
    **series: str,
) -> AlertFiring:
    """Return the firing event of ``rule`` on a series (default host=a)."""
    labels = labels_of(rule, **series)
    return AlertFiring(
        rule_id=rule,
        labels=labels,
        fingerprint=fingerprint(labels),
        value=value,
        severity=severity,
        starts_at=starts_at,
        annotations=annotations or {},
    )


def resolved(
    rule: str = "cpu", *, value: float | None = 0.0, resolved_at: float = T0, **series: str
) -> AlertResolved:
    """Return the resolved event of ``rule`` on a series (default host=a)."""
    labels = labels_of(rule, **series)
    return AlertResolved(
        rule_id=rule,
        labels=labels,
        fingerprint=fingerprint(labels),
        value=value,
        resolved_at=resolved_at,
    )


def silence(
    matchers: str = '{alertname="cpu"}',
    *,
    starts_at: float = T0,
    ends_at: float = T0 + 3600,
    created_by: str = "ops",
    comment: str = "maintenance",
) -> CreateSilence:
    """Return a CreateSilence command (matchers in Prometheus text form)."""
    return CreateSilence(
        matchers=parse_matchers(matchers),
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=created_by,
        comment=comment,
    )


def kinds(events: Sequence[NewEvent]) -> list[str]:
    """Return the kinds of ``events``, in order."""
    return [event.kind for event in events]


def documents(writes: Sequence[StateWrite]) -> dict[str, dict[str, dict[str, Any]]]:
    """Apply ``writes`` to empty collections, as a store would: collection -> key -> doc."""
    docs: dict[str, dict[str, dict[str, Any]]] = {}
    for write in writes:
        collection = docs.setdefault(write.collection, {})
        if write.value is None:
            collection.pop(write.key, None)
        else:
            collection[write.key] = dict(write.value)
    return docs
