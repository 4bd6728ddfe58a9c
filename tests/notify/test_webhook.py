"""WebhookChannel against a real loopback HTTP server: payloads, headers, classification."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from actors.notify import DeliveryError, WebhookChannel, WebhookReceiverConfig
from messages import NotificationKind, Severity
from supervision import FakeClock
from tests.notify.builders import T0, notification
from tests.notify.http_server import CLOSE, HANG, HttpServer, Respond, closed_port_url

ALERTMANAGER_KEYS = {
    "version",
    "groupKey",
    "truncatedAlerts",
    "status",
    "receiver",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "alerts",
}
ALERTMANAGER_ALERT_KEYS = {
    "status",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
}


def config(url: str, **fields: Any) -> WebhookReceiverConfig:
    return WebhookReceiverConfig.model_validate(
        {"name": "ops", "url": url, "trust_env": False, **fields}
    )


@asynccontextmanager
async def channel(url: str, **fields: Any) -> AsyncIterator[WebhookChannel]:
    webhook = WebhookChannel(config(url, **fields), clock=FakeClock(epoch=T0))
    await webhook.open()
    try:
        yield webhook
    finally:
        await webhook.close()


async def failure(webhook: WebhookChannel) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await webhook.send([notification(receiver="ops")])
    return caught.value


async def test_the_default_payload_is_tocsin_json_with_every_notification_field(
    http_server: HttpServer,
) -> None:
    item = notification(receiver="ops")
    async with channel(http_server.url) as webhook:
        await webhook.send([item])
    [request] = http_server.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("tocsin")
    payload = request.json()
    assert payload["version"] == "1"
    assert payload["receiver"] == "ops"
    assert payload["status"] == "firing"
    [sent] = payload["notifications"]
    assert sent["id"] == item.id
    assert sent["idempotency_key"] == item.idempotency_key
    assert sent["fingerprint"] == item.fingerprint
    assert sent["labels"] == item.labels
    assert sent["annotations"] == item.annotations
    assert (sent["kind"], sent["severity"]) == ("firing", "critical")
    assert sent["created_at"] == T0
    assert "HighCpu" in sent["summary"]


async def test_every_request_carries_the_notifications_idempotency_key(
    http_server: HttpServer,
) -> None:
    item = notification(receiver="ops")
    async with channel(http_server.url) as webhook:
        await webhook.send([item])
        await webhook.send([item])
    first, second = http_server.requests
    assert first.idempotency_key == second.idempotency_key == item.idempotency_key


@pytest.mark.parametrize("key", ["k\r\nX-Injected: 1", "k\nX-Injected: 1", "k\x00"])
async def test_a_key_that_would_split_the_request_fails_for_good_and_sends_nothing(
    http_server: HttpServer, key: str
) -> None:
    async with channel(http_server.url) as webhook:
        with pytest.raises(DeliveryError) as caught:
            await webhook.send([notification(receiver="ops", key=key)])
        await webhook.send([notification(receiver="ops", key=" padded\t")])
    assert not caught.value.retryable
    assert "illegal header value" in str(caught.value)
    [request] = http_server.requests  # only the good one, its key trimmed as h11 does
    assert request.idempotency_key == "padded"


async def test_a_batch_has_one_key_derived_from_its_keys_in_order(
    http_server: HttpServer,
) -> None:
    a, b = notification(receiver="ops", host="a"), notification(receiver="ops", host="b")
    async with channel(http_server.url) as webhook:
        await webhook.send([a, b])
        await webhook.send([a, b])
        await webhook.send([b, a])
    keys = [request.idempotency_key for request in http_server.requests]
    assert keys[0] == keys[1] != keys[2]
    assert keys[0].startswith("batch-")
    assert len(http_server.requests[0].json()["notifications"]) == 2


async def test_the_alertmanager_payload_has_exactly_alertmanagers_fields(
    http_server: HttpServer,
) -> None:
    item = notification(receiver="ops", annotations={"summary": "CPU is high"})
    async with channel(
        http_server.url, payload="alertmanager", external_url="http://tocsin:8080"
    ) as webhook:
        await webhook.send([item])
    payload = http_server.requests[0].json()
    assert set(payload) == ALERTMANAGER_KEYS
    assert payload["version"] == "4"
    assert payload["status"] == "firing"
    assert payload["receiver"] == "ops"
    assert payload["externalURL"] == "http://tocsin:8080"
    assert payload["truncatedAlerts"] == 0
    assert payload["groupLabels"] == payload["commonLabels"] == item.labels
    assert payload["commonAnnotations"] == {"summary": "CPU is high"}
    assert payload["groupKey"] == '{}:{alertname="HighCpu", host="a"}'
    [alert] = payload["alerts"]
    assert set(alert) == ALERTMANAGER_ALERT_KEYS
    assert alert["status"] == "firing"
    assert alert["labels"] == item.labels
    assert alert["annotations"] == item.annotations
    assert alert["fingerprint"] == item.fingerprint
    assert alert["startsAt"] == "2023-11-14T22:13:20Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["generatorURL"] == ""


async def test_an_alertmanager_batch_groups_what_its_alerts_share(
    http_server: HttpServer,
) -> None:
    firing = notification(receiver="ops", host="a", job="node")
    resolved = notification(NotificationKind.RESOLVED, receiver="ops", host="b", job="node")
    async with channel(http_server.url, payload="alertmanager") as webhook:
        await webhook.send([firing, resolved])
        await webhook.send([resolved])
    grouped, alone = (request.json() for request in http_server.requests)
    assert grouped["status"] == "firing"
    assert grouped["commonLabels"] == {"alertname": "HighCpu", "job": "node"}
    assert grouped["groupKey"] == '{}:{alertname="HighCpu", job="node"}'
    assert [a["status"] for a in grouped["alerts"]] == ["firing", "resolved"]
    assert alone["status"] == "resolved"
    assert alone["alerts"][0]["endsAt"] == alone["alerts"][0]["startsAt"]


async def test_the_hmac_signature_covers_the_exact_body(http_server: HttpServer) -> None:
    async with channel(http_server.url, hmac_secret="s3cret") as webhook:
        await webhook.send([notification(receiver="ops")])
    [request] = http_server.requests
    expected = "sha256=" + hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-tocsin-signature"], expected)


async def test_without_a_secret_there_is_no_signature_and_configured_headers_are_sent(
    http_server: HttpServer,
) -> None:
    async with channel(http_server.url, headers={"Authorization": "Bearer t"}) as webhook:
        await webhook.send([notification(receiver="ops")])
    [request] = http_server.requests
    assert "x-tocsin-signature" not in request.headers
    assert request.headers["authorization"] == "Bearer t"


async def test_a_configured_header_named_like_a_per_request_one_gives_way_only_to_it(
    http_server: HttpServer,
) -> None:
    configured = {"Idempotency-Key": "static", "X-Tocsin-Signature": "configured"}
    async with channel(http_server.url, headers=configured) as webhook:
        await webhook.send([notification(receiver="ops")])
    async with channel(http_server.url, headers=configured, hmac_secret="s3cret") as webhook:
        await webhook.send([notification(receiver="ops")])
    unsigned, signed = http_server.requests
    assert unsigned.idempotency_key == signed.idempotency_key != "static"
    assert unsigned.headers["x-tocsin-signature"] == "configured"  # no secret: sent as is
    expected = "sha256=" + hmac.new(b"s3cret", signed.body, hashlib.sha256).hexdigest()
    assert signed.headers["x-tocsin-signature"] == expected


async def test_a_500_is_a_retryable_failure_without_retry_after(http_server: HttpServer) -> None:
    http_server.script(Respond(500, body=b"boom"))
    async with channel(http_server.url) as webhook:
        error = await failure(webhook)
    assert (error.retryable, error.retry_after) == (True, None)
    assert str(error) == "HTTP 500: boom"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422, 301])
async def test_other_client_errors_and_redirects_are_permanent(
    http_server: HttpServer, status: int
) -> None:
    http_server.script(Respond(status, headers={"Location": "http://elsewhere/"}))
    async with channel(http_server.url) as webhook:
        error = await failure(webhook)
    assert not error.retryable
    assert f"HTTP {status}" in str(error)


async def test_a_429_carries_its_retry_after_seconds(http_server: HttpServer) -> None:
    http_server.script(Respond(429, headers={"Retry-After": "7"}))
    async with channel(http_server.url) as webhook:
        error = await failure(webhook)
    assert (error.retryable, error.retry_after) == (True, 7.0)


async def test_a_503_retry_after_date_counts_from_the_responses_date(
    http_server: HttpServer,
) -> None:
    http_server.script(
        Respond(
            503,
            headers={
                "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
                "Retry-After": "Wed, 21 Oct 2015 07:29:30 GMT",
            },
        )
    )
    async with channel(http_server.url) as webhook:
        error = await failure(webhook)
    assert (error.retryable, error.retry_after) == (True, 90.0)


async def test_retry_after_on_a_500_is_not_a_promise_and_is_ignored(
    http_server: HttpServer,
) -> None:
    http_server.script(Respond(500, headers={"Retry-After": "7"}))
    async with channel(http_server.url) as webhook:
        error = await failure(webhook)
    assert error.retry_after is None


async def test_a_response_that_never_comes_times_out_as_a_retryable_failure(
    http_server: HttpServer,
) -> None:
    http_server.script(HANG)
    async with channel(http_server.url, timeout=0.2, connect_timeout=10.0) as webhook:
        error = await failure(webhook)
    assert error.retryable
    assert "timed out" in str(error)
    await http_server.until(lambda: http_server.abandoned == 1)


async def test_a_refused_connection_is_a_retryable_failure() -> None:
    async with channel(closed_port_url()) as webhook:
        error = await failure(webhook)
    assert error.retryable
    assert "connection failed" in str(error)


async def test_a_connection_closed_without_an_answer_is_a_retryable_failure(
    http_server: HttpServer,
) -> None:
    http_server.script(CLOSE)
    async with channel(http_server.url) as webhook:
        error = await failure(webhook)
    assert error.retryable


async def test_the_channel_reuses_one_connection_and_closes_idempotently(
    http_server: HttpServer,
) -> None:
    webhook = WebhookChannel(config(http_server.url))
    await webhook.open()
    for host in "abc":
        await webhook.send([notification(receiver="ops", host=host)])
    await webhook.close()
    await webhook.close()
    assert http_server.connections == 1
    assert len(http_server.requests) == 3


async def test_sending_nothing_makes_no_request(http_server: HttpServer) -> None:
    async with channel(http_server.url) as webhook:
        await webhook.send([])
    assert http_server.requests == []


async def test_severity_and_kind_travel_as_their_wire_values(http_server: HttpServer) -> None:
    item = notification(NotificationKind.ACKNOWLEDGED, receiver="ops", severity=Severity.INFO)
    async with channel(http_server.url) as webhook:
        await webhook.send([item])
    [sent] = http_server.requests[0].json()["notifications"]
    assert (sent["kind"], sent["severity"]) == ("acknowledged", "info")
