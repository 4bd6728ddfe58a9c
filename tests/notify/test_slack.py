"""SlackChannel against a real loopback HTTP server: message shape, colours, Retry-After."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from actors.notify import (
    RESOLVED_COLOUR,
    SEVERITY_COLOURS,
    Channel,
    DeliveryError,
    SlackChannel,
    SlackReceiverConfig,
    TemplatesConfig,
    TemplateSet,
)
from messages import NotificationKind, Severity
from supervision import FakeClock
from tests.notify.builders import notification
from tests.notify.http_server import HANG, HttpServer, Respond, closed_port_url
from tests.notify.notifier_harness import DEAD, DELIVERED, FAILED, keys_sent, policy, running

TICK = 1 / 1024


def config(url: str, **fields: Any) -> SlackReceiverConfig:
    return SlackReceiverConfig.model_validate(
        {"name": "chat", "url": url, "trust_env": False, **fields}
    )


def slack(url: str, templates: TemplateSet | None = None, **fields: Any) -> Callable[[], Channel]:
    return lambda: SlackChannel(config(url, **fields), templates=templates, clock=FakeClock())


async def send(url: str, *batches: list[Any], templates: TemplateSet | None = None) -> None:
    channel = SlackChannel(config(url), templates=templates)
    await channel.open()
    try:
        for batch in batches:
            await channel.send(batch)
    finally:
        await channel.close()


async def test_a_message_has_one_attachment_coloured_by_severity_with_the_template_text(
    http_server: HttpServer,
) -> None:
    batches = [
        [notification(receiver="chat", severity=severity)]
        for severity in (Severity.CRITICAL, Severity.WARNING, Severity.INFO)
    ]
    await send(http_server.url, *batches)
    colours = [r.json()["attachments"][0]["color"] for r in http_server.requests]
    assert colours == [
        SEVERITY_COLOURS[s] for s in (Severity.CRITICAL, Severity.WARNING, Severity.INFO)
    ]
    assert colours == ["#d40e0d", "#f2a100", "#439fe0"]  # red, orange, blue
    message = http_server.requests[0].json()
    [attachment] = message["attachments"]
    section, context = attachment["blocks"]
    assert section["type"] == "section"
    assert section["text"]["type"] == "mrkdwn"
    assert "HighCpu" in section["text"]["text"]
    assert "FIRING" in section["text"]["text"]
    assert message["text"] == section["text"]["text"] == attachment["fallback"]
    assert context["type"] == "context"
    assert batches[0][0].fingerprint in context["elements"][0]["text"]


async def test_a_resolution_is_green_whatever_its_severity(http_server: HttpServer) -> None:
    await send(
        http_server.url,
        [notification(NotificationKind.RESOLVED, receiver="chat", severity=Severity.CRITICAL)],
    )
    [attachment] = http_server.requests[0].json()["attachments"]
    assert attachment["color"] == RESOLVED_COLOUR


async def test_a_batch_is_one_message_with_one_attachment_per_notification(
    http_server: HttpServer,
) -> None:
    batch = [notification(receiver="chat", host=host) for host in "abc"]
    await send(http_server.url, batch)
    [request] = http_server.requests
    message = request.json()
    assert len(message["attachments"]) == 3
    assert message["text"] == "3 alert notifications"
    assert request.idempotency_key.startswith("batch-")


async def test_a_user_template_writes_the_text(http_server: HttpServer) -> None:
    templates = TemplateSet(
        TemplatesConfig.model_validate(
            {"slack": {"all": {"text": "{{ alertname }} on {{ labels.host }}"}}}
        )
    )
    await send(http_server.url, [notification(receiver="chat")], templates=templates)
    assert http_server.requests[0].json()["text"] == "HighCpu on a"


async def test_slacks_error_answers_are_classified(http_server: HttpServer) -> None:
    http_server.script(
        Respond(400, body=b"invalid_payload"),
        Respond(429, headers={"Retry-After": "30"}),
        Respond(500, body=b"oops"),
    )
    channel = SlackChannel(config(http_server.url))
    errors: list[DeliveryError] = []
    for _ in range(3):
        try:
            await channel.send([notification(receiver="chat")])
        except DeliveryError as error:
            errors.append(error)
    await channel.close()
    assert [(e.retryable, e.retry_after) for e in errors] == [
        (False, None),
        (True, 30.0),
        (True, None),
    ]
    assert "invalid_payload" in str(errors[0])


async def test_a_429_retry_after_is_honoured_exactly_by_the_notifier(
    http_server: HttpServer,
) -> None:
    http_server.script(Respond(429, headers={"Retry-After": "12"}, body=b"rate_limited"))
    async with running(slack(http_server.url)) as run:
        run.notifier.tell(notification(receiver="ops"))
        failed = await run.receipt(1)
        assert failed.outcome is FAILED
        await run.advance(12 - TICK)
        assert (await run.status()).in_flight == 0
        assert len(http_server.requests) == 1
        await run.advance(TICK)
        assert (await run.receipt(2)).outcome is DELIVERED
        assert run.clock.now() == 12.0


async def test_an_invalid_payload_answer_is_a_dead_letter(http_server: HttpServer) -> None:
    http_server.script(Respond(400, body=b"invalid_payload"))
    async with running(slack(http_server.url)) as run:
        run.notifier.tell(notification(receiver="ops"))
        dead = await run.receipt(1)
        assert (dead.outcome, dead.attempts) == (DEAD, 1)
        assert dead.error == "permanent failure: HTTP 400: invalid_payload"


# The loopback cases for Slack as for webhooks (test_notifier.py): the two share
# HttpPoster, but a Slack channel that built its own client, or lost its timeouts,
# would pass every test above.


@pytest.mark.parametrize("status", [500, 503])
async def test_a_server_error_then_200_is_retried_after_the_backoff_with_the_same_key(
    http_server: HttpServer, status: int
) -> None:
    http_server.script(Respond(status, body=b"oops"))
    note = notification(receiver="ops")
    async with running(slack(http_server.url)) as run:
        run.notifier.tell(note)
        failed = await run.receipt(1)
        assert (failed.outcome, failed.attempts) == (FAILED, 1)
        assert failed.error is not None
        assert f"HTTP {status}" in failed.error
        await run.advance(0.5 - TICK)  # FixedRandom(0.5) * backoff_base 1.0
        assert (await run.status()).in_flight == 0
        assert len(http_server.requests) == 1
        await run.advance(TICK)
        delivered = await run.receipt(2)
        assert (delivered.outcome, delivered.attempts, delivered.latency_s) == (
            DELIVERED,
            2,
            0.5,
        )
    assert keys_sent(http_server) == [note.idempotency_key] * 2


async def test_a_slack_answer_that_never_comes_times_out_and_is_retried(
    http_server: HttpServer,
) -> None:
    http_server.script(HANG)
    async with running(slack(http_server.url, timeout=0.2, connect_timeout=10.0)) as run:
        run.notifier.tell(notification(receiver="ops"))
        failed = await run.receipt(1)
        assert failed.outcome is FAILED
        assert failed.error is not None
        assert "timed out" in failed.error
        await http_server.until(lambda: http_server.abandoned == 1)
        await run.advance(0.5)
        assert (await run.receipt(2)).outcome is DELIVERED
    assert len(http_server.requests) == 2


async def test_a_closed_slack_port_is_retried_and_then_dead_lettered() -> None:
    async with running(slack(closed_port_url()), policy=policy(max_attempts=2)) as run:
        run.notifier.tell(notification(receiver="ops"))
        failed = await run.receipt(1)
        assert failed.outcome is FAILED
        assert failed.error is not None
        assert "connection failed" in failed.error
        await run.advance(0.5)
        dead = await run.receipt(2)
        assert (dead.outcome, dead.attempts) == (DEAD, 2)
        [letter] = await run.dead_letters()
        assert letter.attempts == 2
