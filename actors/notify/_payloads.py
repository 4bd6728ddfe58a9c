"""Webhook payloads: Tocsin's own JSON, and Alertmanager's (version 4), from a batch.

Pure functions from notifications to JSON-ready dicts; ``encode`` makes the bytes that
are sent (and signed).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic_core

from messages import Notification, NotificationKind, Severity

__all__ = [
    "ALERTMANAGER_ZERO_TIME",
    "alertmanager_payload",
    "batch_idempotency_key",
    "encode",
    "notification_document",
    "tocsin_payload",
]

ALERTMANAGER_ZERO_TIME = "0001-01-01T00:00:00Z"
"""Alertmanager's ``endsAt`` for an alert that has not ended (Go's zero time)."""


def encode(payload: Mapping[str, Any]) -> bytes:
    """Return the compact UTF-8 JSON body for ``payload``.

    pydantic-core's encoder (Rust): the same bytes as ``json.dumps`` with compact
    separators and ``ensure_ascii=False`` for what payloads hold (strings, finite
    floats in the timestamp range, ints, None), at a fifth of the cost.
    """
    return pydantic_core.to_json(payload)


# An enum's ``.value`` goes through a descriptor; a dict lookup is a fraction of it.
_KIND_VALUES: dict[NotificationKind, str] = {kind: kind.value for kind in NotificationKind}
_SEVERITY_VALUES: dict[Severity, str] = {severity: severity.value for severity in Severity}


def notification_document(notification: Notification) -> dict[str, Any]:
    """Return ``notification.model_dump(mode="json")``, built directly (half the cost).

    Every field, in the model's order (tests/notify/test_payloads.py checks that it
    stays equal to pydantic's dump as the model changes). Its ``labels`` and
    ``annotations`` are the notification's own dicts: encode it, do not change it.
    """
    # The fields from the instance's __dict__, where pydantic keeps them: an attribute
    # of a model goes through its class's lookup first, three times a dict's cost.
    # The labels and annotations are the model's own dicts, not copies: the document is
    # encoded at once, and a message's dicts are read only (messages/_base.py).
    fields = notification.__dict__
    return {
        "type": fields["type"],
        "id": fields["id"],
        "receiver": fields["receiver"],
        "kind": _KIND_VALUES[fields["kind"]],
        "fingerprint": fields["fingerprint"],
        "labels": fields["labels"],
        "annotations": fields["annotations"],
        "severity": _SEVERITY_VALUES[fields["severity"]],
        "created_at": fields["created_at"],
        "idempotency_key": fields["idempotency_key"],
        "starts_at": fields["starts_at"],
    }


def batch_idempotency_key(batch: Sequence[Notification]) -> str:
    """Return the ``Idempotency-Key`` of a send: the notification's own for one, else
    ``batch-`` and a digest of the keys in order (the same batch, the same key)."""
    if len(batch) == 1:
        return batch[0].idempotency_key
    digest = hashlib.sha256("\n".join(n.idempotency_key for n in batch).encode()).hexdigest()
    return f"batch-{digest[:32]}"


def _status(batch: Sequence[Notification]) -> str:
    if len(batch) == 1:  # the common case, without a generator
        return "resolved" if batch[0].kind is NotificationKind.RESOLVED else "firing"
    resolved = all(n.kind is NotificationKind.RESOLVED for n in batch)
    return "resolved" if resolved else "firing"


def tocsin_payload(
    batch: Sequence[Notification], receiver: str, summaries: Sequence[str]
) -> dict[str, Any]:
    """Return Tocsin's webhook payload (documented in docs/NOTIFIERS.md).

    ``summaries``: one rendered line per notification (the webhook ``summary`` template).
    """
    # notification_document without "type", built directly (one per webhook request).
    if len(batch) == 1 and len(summaries) == 1:  # the common case, without a comprehension
        notifications = [_item(batch[0].__dict__, summaries[0])]
    else:
        notifications = [
            _item(notification.__dict__, summary)
            for notification, summary in zip(batch, summaries, strict=True)
        ]
    return {
        "version": "1",
        "receiver": receiver,
        "status": _status(batch),
        "notifications": notifications,
    }


def _item(fields: dict[str, Any], summary: str) -> dict[str, Any]:
    # One notification of tocsin_payload, from its __dict__: notification_document's
    # fields without "type", with "summary", written out again on purpose (building it
    # from that document would copy a dict per webhook request).
    return {
        "id": fields["id"],
        "receiver": fields["receiver"],
        "kind": _KIND_VALUES[fields["kind"]],
        "fingerprint": fields["fingerprint"],
        "labels": fields["labels"],
        "annotations": fields["annotations"],
        "severity": _SEVERITY_VALUES[fields["severity"]],
        "created_at": fields["created_at"],
        "idempotency_key": fields["idempotency_key"],
        "starts_at": fields["starts_at"],
        "summary": summary,
    }


def alertmanager_payload(
    batch: Sequence[Notification], receiver: str, *, external_url: str = ""
) -> dict[str, Any]:
    """Return Prometheus Alertmanager's webhook payload (version 4) for ``batch``.

    The fields and their shapes are Alertmanager's, so receivers written for it work
    unchanged. Each notification is one of ``alerts``: ``status`` is ``resolved`` for a
    resolution and ``firing`` otherwise (acknowledged and escalated alerts still fire);
    ``startsAt`` is when the alert started (``Notification.alert_started_at``: its
    ``starts_at``, or ``created_at`` for a notification recorded without one);
    ``endsAt`` is the resolution's ``created_at`` once resolved, Alertmanager's zero
    time before. The group is what the batch has in
    common: ``groupLabels`` and ``commonLabels`` are the labels every alert shares,
    ``groupKey`` is ``{}:{name="value", ...}`` over them, as Alertmanager prints it.
    """
    common_labels = _common([n.labels for n in batch])
    common_annotations = _common([n.annotations for n in batch])
    alerts = []
    for notification in batch:
        resolved = notification.kind is NotificationKind.RESOLVED
        alerts.append(
            {
                "status": "resolved" if resolved else "firing",
                "labels": dict(notification.labels),
                "annotations": dict(notification.annotations),
                "startsAt": _rfc3339(notification.alert_started_at),
                "endsAt": (
                    _rfc3339(notification.created_at) if resolved else ALERTMANAGER_ZERO_TIME
                ),
                "generatorURL": "",
                "fingerprint": notification.fingerprint,
            }
        )
    return {
        "version": "4",
        "groupKey": "{}:" + _label_set(common_labels),
        "truncatedAlerts": 0,
        "status": _status(batch),
        "receiver": receiver,
        "groupLabels": common_labels,
        "commonLabels": common_labels,
        "commonAnnotations": common_annotations,
        "externalURL": external_url,
        "alerts": alerts,
    }


def _common(mappings: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not mappings:
        return {}
    first, *rest = mappings
    return {
        name: value
        for name, value in sorted(first.items())
        if all(other.get(name) == value for other in rest)
    }


def _label_set(labels: Mapping[str, str]) -> str:
    # As Prometheus' LabelSet.String(): sorted, name="value" with Go-quoted values.
    return "{" + ", ".join(f"{name}={json.dumps(labels[name])}" for name in sorted(labels)) + "}"


def _rfc3339(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.isoformat().replace("+00:00", "Z")
