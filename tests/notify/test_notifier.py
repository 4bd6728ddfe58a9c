"""The Notifier actor over a real webhook channel: retries, circuit, rate limit, order."""

from __future__ import annotations

import pytest

from actors.notify import CircuitState as Circuit
from messages import NotificationKind
from tests.notify.http_server import HANG, Gate, HttpServer, Respond, closed_port_url
from tests.notify.notifier_harness import (
    DEAD,
    DELIVERED,
    FAILED,
    TICK,
    item,
    keys_sent,
    policy,
    running,
    webhook,
)


async def test_a_notification_is_delivered_with_a_receipt_and_leaves_the_outbox(
    http_server: HttpServer,
) -> None:
    async with running(webhook(http_server.url)) as run:
        run.notifier.tell(item())
        receipt = await run.receipt(1)
        assert (receipt.notification_id, receipt.receiver) == ("a/firing", "ops")
        assert (receipt.outcome, receipt.attempts, receipt.error) == (DELIVERED, 1, None)
        assert receipt.latency_s == 0.0
        assert await run.outbox() == {}
        status = await run.status()
        assert (status.queued, status.delivered, status.dead_letters) == (0, 1, 0)
    assert keys_sent(http_server) == ["a/firing"]


async def test_a_503_then_200_is_retried_once_after_the_backoff_with_the_same_key(
    http_server: HttpServer,
) -> None:
    http_server.script(Respond(503))
    async with running(webhook(http_server.url)) as run:
        run.notifier.tell(item())
        failed = await run.receipt(1)
        assert (failed.outcome, failed.attempts) == (FAILED, 1)
        assert failed.error is not None
        assert "HTTP 503" in failed.error
        [document] = (await run.outbox()).values()
        assert document["attempts"] == 1
        await run.advance(0.5 - TICK)  # FixedRandom(0.5) * base 1.0
        assert (await run.status()).in_flight == 0
        assert len(http_server.requests) == 1
        await run.advance(TICK)
        delivered = await run.receipt(2)
        assert (delivered.outcome, delivered.attempts) == (DELIVERED, 2)
        assert delivered.latency_s == 0.5
    assert keys_sent(http_server) == ["a/firing", "a/firing"]


async def test_a_receiver_that_keeps_failing_gets_exactly_max_attempts_requests(
    http_server: HttpServer,
) -> None:
    http_server.default = Respond(500)
    async with running(webhook(http_server.url), policy=policy(max_attempts=4)) as run:
        run.notifier.tell(item())
        for attempt, backoff in enumerate([0.5, 1.0, 2.0], start=1):
            receipt = await run.receipt(attempt)
            assert (receipt.outcome, receipt.attempts) == (FAILED, attempt)
            await run.advance(backoff)
        dead = await run.receipt(4)
        assert (dead.outcome, dead.attempts) == (DEAD, 4)
        assert dead.error is not None
        assert "gave up after 4 attempts" in dead.error
        await run.advance(3600)
        assert len(http_server.requests) == 4
        [letter] = await run.dead_letters()
        assert letter.attempts == 4
    assert set(keys_sent(http_server)) == {"a/firing"}


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (429, {"Retry-After": "7"}, 7.0),
        (
            503,
            {
                "Date": "Tue, 14 Nov 2023 22:13:20 GMT",
                "Retry-After": "Tue, 14 Nov 2023 22:14:50 GMT",
            },
            90.0,
        ),
    ],
)
async def test_retry_after_schedules_the_next_attempt_exactly_that_much_later(
    http_server: HttpServer, status: int, headers: dict[str, str], wait: float
) -> None:
    http_server.script(Respond(status, headers=headers))
    async with running(webhook(http_server.url)) as run:
        run.notifier.tell(item())
        failed = await run.receipt(1)
        assert failed.outcome is FAILED
        await run.advance(wait - TICK)
        assert (await run.status()).in_flight == 0
        assert len(http_server.requests) == 1
        await run.advance(TICK)
        assert (await run.receipt(2)).outcome is DELIVERED
        assert run.clock.now() == wait


async def test_a_response_that_never_comes_times_out_and_is_retried(
    http_server: HttpServer,
) -> None:
    http_server.script(HANG)
    async with running(webhook(http_server.url, timeout=0.2, connect_timeout=10.0)) as run:
        run.notifier.tell(item())
        failed = await run.receipt(1)
        assert failed.error is not None
        assert "timed out" in failed.error
        await http_server.until(lambda: http_server.abandoned == 1)
        await run.advance(0.5)
        assert (await run.receipt(2)).outcome is DELIVERED
    assert keys_sent(http_server) == ["a/firing", "a/firing"]


async def test_a_refused_connection_is_retried_and_then_dead_lettered() -> None:
    async with running(webhook(closed_port_url()), policy=policy(max_attempts=2)) as run:
        run.notifier.tell(item())
        failed = await run.receipt(1)
        assert failed.error is not None
        assert "connection failed" in failed.error
        await run.advance(0.5)
        assert (await run.receipt(2)).outcome is DEAD


async def test_the_circuit_opens_sends_nothing_while_open_then_probes_once_and_closes(
    http_server: HttpServer,
) -> None:
    http_server.default = Respond(500)
    settings = policy(failure_threshold=2, cool_down=30.0, max_attempts=10)
    async with running(webhook(http_server.url), policy=settings) as run:
        run.notifier.tell(item("a"))
        run.notifier.tell(item("b"))
        await run.receipt(2)
        assert (await run.status()).circuit is Circuit.OPEN
        await run.advance(10.0)  # past both backoffs: the open circuit holds them
        run.notifier.tell(item("c"))
        status = await run.status()
        assert (status.queued, status.in_flight, len(http_server.requests)) == (3, 0, 2)
        probe = Gate()
        http_server.script(probe)
        http_server.default = Respond()
        await run.advance_to(30.0)
        await http_server.until(lambda: http_server.hanging == 1)
        status = await run.status()
        assert (status.circuit, status.in_flight, len(http_server.requests)) == (
            Circuit.HALF_OPEN,
            1,
            3,
        )
        probe.open()
        await run.receipt(5)
        assert sorted(r for r in run.outcomes() if r[1] is DELIVERED) == [
            ("a/firing", DELIVERED, 2),
            ("b/firing", DELIVERED, 2),
            ("c/firing", DELIVERED, 1),
        ]
        assert (await run.status()).circuit is Circuit.CLOSED
    assert len(http_server.requests) == 5


async def test_rate_limiting_holds_the_excess_in_order_and_drops_nothing(
    http_server: HttpServer,
) -> None:
    hosts = "abcdef"
    settings = policy(rate=1.0, burst=2, max_in_flight=1)  # one connection: arrival order
    async with running(webhook(http_server.url), policy=settings) as run:
        for host in hosts:
            run.notifier.tell(item(host))
        await run.receipt(2)
        status = await run.status()
        assert (status.queued, len(http_server.requests)) == (4, 2)
        for sent in range(3, 7):
            await run.advance(1.0)
            await run.receipt(sent)
            assert len(http_server.requests) == sent
    assert keys_sent(http_server) == [f"{host}/firing" for host in hosts]
    assert [outcome for _, outcome, _ in run.outcomes()] == [DELIVERED] * 6


async def test_when_rate_limited_waiting_notifications_are_batched_into_one_request(
    http_server: HttpServer,
) -> None:
    settings = policy(rate=1.0, burst=1, batch_max=3)
    async with running(webhook(http_server.url), policy=settings) as run:
        for host in "abcdefg":
            run.notifier.tell(item(host))
        await run.receipt(3)
        await run.advance(1.0)
        await run.receipt(6)
        await run.advance(1.0)
        await run.receipt(7)
    batches = [[n["id"] for n in r.json()["notifications"]] for r in http_server.requests]
    assert batches == [
        ["a/firing", "b/firing", "c/firing"],
        ["d/firing", "e/firing", "f/firing"],
        ["g/firing"],
    ]


async def test_an_alerts_resolution_waits_until_its_firing_notification_is_delivered(
    http_server: HttpServer,
) -> None:
    http_server.script(Respond(500))
    one_at_a_time = policy(max_in_flight=1)  # so that a reaches the server first
    async with running(webhook(http_server.url), policy=one_at_a_time) as run:
        run.notifier.tell(item("a"))
        run.notifier.tell(item("a", NotificationKind.RESOLVED))
        run.notifier.tell(item("b"))
        await run.receipt(2)  # a failed, b delivered: b did not wait for a
        assert len(http_server.requests) == 2
        assert (await run.status()).in_flight == 0
        await run.advance(0.5)
        await run.receipt(4)
    assert keys_sent(http_server) == ["a/firing", "b/firing", "a/firing", "a/resolved"]


async def test_the_same_notification_told_twice_is_sent_once(http_server: HttpServer) -> None:
    gate = Gate()
    http_server.script(gate)
    async with running(webhook(http_server.url)) as run:
        run.notifier.tell(item())
        await http_server.until(lambda: http_server.hanging == 1)
        run.notifier.tell(item())
        assert (await run.status()).queued == 1
        gate.open()
        await run.receipt(1)
        assert (await run.status()).queued == 0
    assert len(http_server.requests) == 1


async def test_what_waits_behind_an_open_circuit_past_max_age_dies_without_a_try(
    http_server: HttpServer,
) -> None:
    http_server.default = Respond(500)
    settings = policy(failure_threshold=1, cool_down=1000.0, max_age=60.0)
    async with running(webhook(http_server.url), policy=settings) as run:
        run.notifier.tell(item("a"))
        await run.receipt(1)
        run.notifier.tell(item("b"))
        await run.advance(60.0)
        outcomes = run.outcomes()
        assert outcomes[1:] == [("a/firing", DEAD, 1), ("b/firing", DEAD, 0)]
        assert len(await run.dead_letters()) == 2
    assert len(http_server.requests) == 1
