"""Notifications for the notify tests."""

from __future__ import annotations

from messages import Notification, NotificationKind, Severity, fingerprint

T0 = 1_700_000_000.0


def notification(
    kind: NotificationKind = NotificationKind.FIRING,
    *,
    alertname: str = "HighCpu",
    receiver: str = "ops-mail",
    annotations: dict[str, str] | None = None,
    severity: Severity = Severity.CRITICAL,
    created_at: float = T0,
    key: str | None = None,
    starts_at: float | None = None,
    **series: str,
) -> Notification:
    """Return a ``kind`` notification about ``alertname`` on a series (default host=a)."""
    labels = {"alertname": alertname, **(series or {"host": "a"})}
    print_ = fingerprint(labels)
    idempotency_key = key or f"{print_}/{receiver}/{kind.value}"
    return Notification(
        id=idempotency_key,
        receiver=receiver,
        kind=kind,
        fingerprint=print_,
        labels=labels,
        annotations={"summary": "CPU is high"} if annotations is None else annotations,
        severity=severity,
        created_at=created_at,
        idempotency_key=idempotency_key,
        starts_at=starts_at,
    )
