from __future__ import annotations

import pytest

from messages import (
    DeliveryOutcome,
    DeliveryReceipt,
    DeliveryReceipts,
    Notification,
    NotificationKind,
    Severity,
    fingerprint,
)
from tests.messages.invalid import assert_invalid

LABELS = {"alertname": "cpu-high", "env": "prod"}


def notification_data(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "id": "n-1",
        "receiver": "email:oncall",
        "kind": "firing",
        "fingerprint": fingerprint(LABELS),
        "labels": LABELS,
        "annotations": {"summary": "CPU high"},
        "severity": "critical",
        "created_at": 1_700_000_000.0,
        "idempotency_key": "cpu-high/abc/firing/1",
    }
    data.update(changes)
    return data


def test_a_valid_notification_round_trips_through_json() -> None:
    notification = Notification.model_validate(notification_data())
    assert notification.kind is NotificationKind.FIRING
    assert notification.severity is Severity.CRITICAL
    assert Notification.model_validate_json(notification.model_dump_json()) == notification


def test_a_notification_carries_when_its_alert_started() -> None:
    notification = Notification.model_validate(notification_data(starts_at=1_699_999_400.0))
    assert notification.starts_at == notification.alert_started_at == 1_699_999_400.0
    assert Notification.model_validate_json(notification.model_dump_json()) == notification


def test_a_notification_stored_before_starts_at_existed_still_loads() -> None:
    # notification_data() has no starts_at: the JSON an older Tocsin wrote.
    notification = Notification.model_validate(notification_data())
    assert notification.starts_at is None
    assert notification.alert_started_at == notification.created_at


@pytest.mark.parametrize("kind", ["firing", "acknowledged", "escalated", "resolved"])
def test_every_notification_kind_is_accepted(kind: str) -> None:
    assert Notification.model_validate(notification_data(kind=kind)).kind.value == kind


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"kind": "silenced"}, "kind", "'firing'"),
        ({"idempotency_key": ""}, "idempotency_key", "at least 1"),
        ({"receiver": ""}, "receiver", "at least 1"),
        ({"fingerprint": "abc"}, "fingerprint", "pattern"),
        ({"created_at": 0}, "created_at", "seconds since the Unix epoch"),
        ({"starts_at": -1.0}, "starts_at", "seconds since the Unix epoch"),
        ({"starts_at": 1_700_000_000_000}, "starts_at", "milliseconds are not accepted"),
        ({"starts_at": "soon"}, "starts_at", "seconds since the Unix epoch"),
    ],
)
def test_invalid_notifications_name_the_field_and_reason(
    changes: dict[str, object], field: str, reason: str
) -> None:
    assert_invalid(lambda: Notification.model_validate(notification_data(**changes)), field, reason)


def test_a_delivered_receipt_has_no_error() -> None:
    receipt = DeliveryReceipt(
        notification_id="n-1",
        receiver="r",
        outcome=DeliveryOutcome.DELIVERED,
        attempts=1,
        latency_s=0.25,
    )
    assert receipt.error is None
    assert DeliveryReceipt.model_validate_json(receipt.model_dump_json()) == receipt


def test_a_trusted_delivered_receipt_is_the_validated_one() -> None:
    validated = DeliveryReceipt(
        notification_id="n-1",
        receiver="r",
        outcome=DeliveryOutcome.DELIVERED,
        attempts=2,
        latency_s=0.25,
        error=None,
    )
    trusted = DeliveryReceipt.delivered("n-1", "r", 2, 0.25)
    assert type(trusted) is DeliveryReceipt
    assert trusted == validated
    assert trusted.model_dump() == validated.model_dump()
    assert trusted.model_dump_json() == validated.model_dump_json()
    assert trusted.model_fields_set == validated.model_fields_set
    assert hash(trusted) == hash(validated)
    assert DeliveryReceipts(receipts=(trusted,)).receipts == (validated,)
    with pytest.raises(ValueError, match="frozen"):
        trusted.attempts = 3


@pytest.mark.parametrize("outcome", [DeliveryOutcome.FAILED, DeliveryOutcome.DEAD_LETTERED])
def test_an_unsuccessful_receipt_needs_an_error(outcome: DeliveryOutcome) -> None:
    assert_invalid(
        lambda: DeliveryReceipt(
            notification_id="n-1", receiver="r", outcome=outcome, attempts=3, latency_s=1
        ),
        "error",
        "error is required",
    )
    receipt = DeliveryReceipt(
        notification_id="n-1",
        receiver="r",
        outcome=outcome,
        attempts=3,
        latency_s=1,
        error="HTTP 503",
    )
    assert receipt.error == "HTTP 503"


def test_a_delivered_receipt_with_an_error_is_rejected() -> None:
    assert_invalid(
        lambda: DeliveryReceipt(
            notification_id="n",
            receiver="r",
            outcome=DeliveryOutcome.DELIVERED,
            attempts=1,
            latency_s=0,
            error="x",
        ),
        "error",
        "must be None",
    )


def test_a_delivered_receipt_needs_an_attempt() -> None:
    assert_invalid(
        lambda: DeliveryReceipt(
            notification_id="n",
            receiver="r",
            outcome=DeliveryOutcome.DELIVERED,
            attempts=0,
            latency_s=0,
        ),
        "attempts",
        ">= 1",
    )


def test_a_dead_letter_without_any_attempt_is_allowed() -> None:
    receipt = DeliveryReceipt(
        notification_id="n",
        receiver="r",
        outcome=DeliveryOutcome.DEAD_LETTERED,
        attempts=0,
        latency_s=0,
        error="circuit open",
    )
    assert receipt.attempts == 0


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"attempts": -1}, "attempts", "greater than or equal to 0"),
        ({"latency_s": -0.1}, "latency_s", "greater than or equal to 0"),
        ({"outcome": "bounced"}, "outcome", "'delivered'"),
    ],
)
def test_invalid_receipts_name_the_field_and_reason(
    changes: dict[str, object], field: str, reason: str
) -> None:
    data: dict[str, object] = {
        "notification_id": "n",
        "receiver": "r",
        "outcome": "failed",
        "attempts": 1,
        "latency_s": 1,
        "error": "x",
    }
    data.update(changes)
    assert_invalid(lambda: DeliveryReceipt.model_validate(data), field, reason)


def receipt(notification_id: str, outcome: DeliveryOutcome, error: str | None) -> DeliveryReceipt:
    return DeliveryReceipt(
        notification_id=notification_id,
        receiver="r",
        outcome=outcome,
        attempts=1,
        latency_s=0.5,
        error=error,
    )


def test_a_batch_of_receipts_keeps_them_in_order_and_survives_json() -> None:
    receipts = (
        receipt("n-2", DeliveryOutcome.FAILED, "HTTP 503"),
        receipt("n-1", DeliveryOutcome.DELIVERED, None),
        receipt("n-2", DeliveryOutcome.DELIVERED, None),
    )
    batch = DeliveryReceipts(receipts=receipts)
    assert batch.type == "delivery_receipts"
    assert batch.receipts == receipts
    assert DeliveryReceipts.model_validate_json(batch.model_dump_json()) == batch


def test_a_batch_of_receipts_is_frozen() -> None:
    batch = DeliveryReceipts(receipts=(receipt("n", DeliveryOutcome.DELIVERED, None),))
    with pytest.raises(ValueError, match="frozen"):
        batch.receipts = ()


def test_an_empty_batch_of_receipts_is_rejected() -> None:
    assert_invalid(lambda: DeliveryReceipts(receipts=()), "receipts", "at least 1 item")


def test_a_batch_holding_something_else_than_a_receipt_is_rejected() -> None:
    good = receipt("n", DeliveryOutcome.DELIVERED, None)
    notification = Notification.model_validate(notification_data())
    assert_invalid(
        lambda: DeliveryReceipts.model_validate({"receipts": [good, notification]}),
        "receipts.1",
        "DeliveryReceipt",
    )


def test_a_batch_validates_each_receipt_it_is_given_as_data() -> None:
    data = receipt("n", DeliveryOutcome.DELIVERED, None).model_dump()
    bad = {**data, "outcome": "failed"}  # failed without an error
    assert_invalid(
        lambda: DeliveryReceipts.model_validate({"receipts": [data, bad]}),
        "receipts.1.error",
        "error is required",
    )
