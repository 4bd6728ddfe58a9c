"""Pure pieces of the HTTP channels: Retry-After parsing and the Alertmanager payload."""

from __future__ import annotations

import datetime
import email.utils
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.notify import alertmanager_payload, parse_retry_after, sign, tocsin_payload
from actors.notify._payloads import encode, notification_document
from messages import NotificationKind
from tests.notify.builders import T0, notification


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("Tue, 14 Nov 2023 22:14:50 GMT", 90.0),
        ("Tuesday, 14-Nov-23 22:14:50 GMT", 90.0),  # RFC 850, obsolete but allowed
        ("Tue Nov 14 22:14:50 2023", None),  # asctime has no zone: not trusted
        ("Tue, 14 Nov 2023 22:00:00 GMT", 0.0),  # in the past: now
        ("-5", None),
        ("²", None),
        ("١٢", None),  # Arabic-Indic digits: not delay-seconds
        ("1.5", None),
        ("", None),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=T0) == seconds


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**9))
def test_any_delay_seconds_value_is_honoured_exactly(seconds: int) -> None:
    assert parse_retry_after(str(seconds), now=T0) == float(seconds)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**7), st.integers(0, 10**9))
def test_any_http_date_counts_exactly_from_now(seconds: int, now: int) -> None:
    header = email.utils.formatdate(now + seconds, usegmt=True)
    assert parse_retry_after(header, now=float(now)) == float(seconds)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_no_header_value_makes_the_parser_raise(value: str) -> None:
    result = parse_retry_after(value, now=T0)
    assert result is None or result >= 0


def test_the_alertmanager_group_key_quotes_label_values_as_go_does() -> None:
    item = notification(receiver="ops", path='C:\\"x"')
    payload = alertmanager_payload([item], "ops")
    assert payload["groupKey"] == '{}:{alertname="HighCpu", path="C:\\\\\\"x\\""}'


def test_an_acknowledged_or_escalated_alert_is_still_firing_for_alertmanager() -> None:
    batch = [
        notification(kind, receiver="ops", host=kind.value)
        for kind in (NotificationKind.ACKNOWLEDGED, NotificationKind.ESCALATED)
    ]
    payload = alertmanager_payload(batch, "ops")
    assert [alert["status"] for alert in payload["alerts"]] == ["firing", "firing"]
    assert payload["status"] == "firing"


def test_alertmanager_timestamps_are_rfc3339_in_utc() -> None:
    item = notification(NotificationKind.RESOLVED, receiver="ops", created_at=T0 + 0.25)
    [alert] = alertmanager_payload([item], "ops")["alerts"]
    assert alert["startsAt"] == alert["endsAt"] == "2023-11-14T22:13:20.250000Z"
    assert datetime.datetime.fromisoformat(alert["endsAt"]).timestamp() == T0 + 0.25


def test_alertmanager_starts_at_is_the_alert_start_and_ends_at_its_resolution() -> None:
    started = T0 - 3600
    firing = notification(receiver="ops", created_at=T0, starts_at=started, host="a")
    resolved = notification(
        NotificationKind.RESOLVED, receiver="ops", created_at=T0 + 60, starts_at=started, host="b"
    )
    first, second = alertmanager_payload([firing, resolved], "ops")["alerts"]
    assert first["startsAt"] == second["startsAt"] == "2023-11-14T21:13:20Z"
    assert first["endsAt"] == "0001-01-01T00:00:00Z"
    assert second["endsAt"] == "2023-11-14T22:14:20Z"


def test_a_notification_without_a_start_is_taken_to_start_at_its_creation() -> None:
    legacy = notification(receiver="ops", created_at=T0)
    assert legacy.starts_at is None
    assert legacy.alert_started_at == T0
    [alert] = alertmanager_payload([legacy], "ops")["alerts"]
    assert alert["startsAt"] == "2023-11-14T22:13:20Z"


def test_the_tocsin_payload_carries_the_alert_start() -> None:
    item = notification(receiver="ops", starts_at=T0 - 5)
    [entry] = tocsin_payload([item], "ops", ["s"])["notifications"]
    assert (entry["starts_at"], entry["created_at"]) == (T0 - 5, T0)


@settings(max_examples=100, deadline=None)
@given(
    summary=st.text(max_size=30),
    label=st.text(max_size=30),
    created=st.floats(min_value=1.0, max_value=9e10, allow_nan=False),
)
def test_the_body_is_what_compact_json_dumps_gives(
    summary: str, label: str, created: float
) -> None:
    item = notification(
        annotations={"summary": summary}, created_at=created, starts_at=created, host=label
    )
    for payload in (
        tocsin_payload([item], "ops", [summary]),
        alertmanager_payload([item], "ops", external_url=label),
    ):
        body = encode(payload)
        assert body == json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        assert json.loads(body) == payload


@pytest.mark.parametrize("starts_at", [None, T0 - 5])
@pytest.mark.parametrize("kind", list(NotificationKind))
def test_the_direct_notification_document_is_exactly_pydantics_dump(
    kind: NotificationKind, starts_at: float | None
) -> None:
    item = notification(
        kind, annotations={"summary": "é ☃", "d": ""}, starts_at=starts_at, created_at=T0 + 0.1
    )
    document = notification_document(item)
    assert document == item.model_dump(mode="json")
    assert list(document) == list(item.model_dump(mode="json"))  # the same order, too
    # Shared, not copied: the document is encoded at once, and a message is read only.
    assert document["labels"] is item.labels


def test_the_tocsin_payload_is_resolved_only_when_every_notification_is() -> None:
    firing = notification(receiver="ops", host="a")
    resolved = notification(NotificationKind.RESOLVED, receiver="ops", host="b")
    assert tocsin_payload([firing, resolved], "ops", ["", ""])["status"] == "firing"
    assert tocsin_payload([resolved], "ops", [""])["status"] == "resolved"


def test_the_signature_is_hex_hmac_sha256_prefixed_with_the_algorithm() -> None:
    # The RFC 2104 construction, as any receiver recomputes it.
    assert (
        sign(b"key", b"body")
        == "sha256=515aae133b435d4000956731f68ae5cf5eb85d4f0dc6a546d2bfcd3595ec1ae1"
    )
