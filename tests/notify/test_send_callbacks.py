"""Sends begun by callback (``start_send``, ``Http1Transport.start``) against real servers.

The webhook and Slack channels send without a task once a kept-alive connection is idle;
these tests hold that path to what ``send``/``exchange`` promise: the same outcomes, the
same retry of a connection the server closed, timeouts, and an end for every exchange
when the transport closes. Everything on loopback; waits are bounded, never sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
import pytest

from actors.notify import DeliveryError, WebhookChannel
from actors.notify._channel import SendDone
from actors.notify._http1_wire import Origin, RawResponse, Timeouts
from actors.notify._slots import Slots
from actors.notify._transport import Http1Transport
from messages import Notification
from supervision import FakeClock
from tests.notify.builders import T0, notification
from tests.notify.http_server import HANG, WAIT, Gate, HttpServer, Respond
from tests.notify.notifier_harness import (
    DELIVERED,
    Crash,
    CrashableNotifier,
    item,
    keys_sent,
    running,
    webhook,
)
from tests.notify.test_transport import CLOSE_AFTER, DROP, RawServer, _ok
from tests.notify.test_webhook import config

pytestmark = pytest.mark.timeout(30)

TIMEOUTS = Timeouts(10.0, 10.0, 10.0, 10.0)


class Outcome:
    """Collect the one call an ``answered``/``done`` callback gets, and wait for it."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []
        self._called = asyncio.Event()

    def answered(self, raw: RawResponse | None, error: BaseException | None) -> None:
        self.calls.append((raw, error))
        self._called.set()

    def done(self, error: BaseException | None) -> None:
        self.calls.append((error,))
        self._called.set()

    async def wait(self) -> tuple[object, ...]:
        await asyncio.wait_for(self._called.wait(), WAIT)
        await asyncio.sleep(0)  # a second call would come in the same pass: let it show
        assert len(self.calls) == 1, f"called {len(self.calls)} times: {self.calls}"
        return self.calls[0]


def origin(url: str) -> Origin:
    return Origin.of(httpx.URL(url))


def request(path: bytes = b"/hook", body: bytes = b"x") -> bytes:
    return (
        b"POST %s HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: %d\r\n\r\n" % (path, len(body))
        + body
    )


async def test_start_needs_a_free_slot_and_writes_at_once_on_an_idle_connection() -> None:
    async with RawServer(_ok(b"one"), _ok(b"two"), _ok(b"three")) as server:
        transport = Http1Transport(max_connections=1)
        where = origin(server.url())
        try:
            assert not transport.ready(where)  # no connection yet
            assert (await transport.exchange(where, request(), TIMEOUTS)).body == b"one"
            assert transport.ready(where)
            began = Outcome()
            assert transport.start(where, request(body=b"y"), TIMEOUTS, began.answered)
            assert began.calls == []  # never from inside start
            # The one slot is taken by the exchange under way: start declines.
            assert not transport.ready(where)
            assert not transport.start(where, request(), TIMEOUTS, Outcome().answered)
            raw, error = await began.wait()
            assert error is None
            assert isinstance(raw, RawResponse)
            assert (raw.status, raw.body) == (200, b"two")
            # The connection went back to the pool: the next one starts on it again.
            assert transport.ready(where)
            again = Outcome()
            assert transport.start(where, request(body=b"z"), TIMEOUTS, again.answered)
            raw, error = await again.wait()
            assert isinstance(raw, RawResponse)
            assert raw.body == b"three"
        finally:
            await transport.aclose()
    assert server.connections == 1
    assert [body[-1:] for body in server.requests] == [b"x", b"y", b"z"]


async def test_start_without_an_idle_connection_connects_and_answers_later() -> None:
    async with RawServer(_ok(b"one")) as server:
        transport = Http1Transport(max_connections=1)
        where = origin(server.url())
        try:
            outcome = Outcome()
            assert transport.start(where, request(), TIMEOUTS, outcome.answered)
            assert outcome.calls == []
            raw, error = await outcome.wait()
            assert error is None
            assert isinstance(raw, RawResponse)
            assert raw.body == b"one"
            assert transport.ready(where)  # kept alive for the next one
        finally:
            await transport.aclose()
    assert server.connections == 1


async def test_a_webhook_send_that_cannot_start_at_once_is_not_rendered_for_it(
    http_server: HttpServer,
) -> None:
    # start_send declines before making the body, so a send that goes by ``send``
    # instead renders its templates once (a failing template is counted once).
    rendered: list[str] = []
    made = WebhookChannel(config(http_server.url), clock=FakeClock(epoch=T0))
    original = made.body

    def body(batch: Sequence[Notification]) -> bytes:
        rendered.extend(n.id for n in batch)
        return original(batch)

    made.body = body  # type: ignore[method-assign]
    await made.open()
    try:
        first = [notification(receiver="ops", key="first")]
        assert not made.start_send(first, Outcome().done)  # no connection yet
        assert rendered == []
        await made.send(first)
        assert rendered == ["first"]
    finally:
        await made.close()


async def test_a_kept_alive_connection_dropped_on_a_started_request_is_retried_once() -> None:
    # As exchange does: the server closed it without a byte of answer, so the same
    # request goes out once more on a new connection, and the callback hears the answer.
    async with RawServer(_ok(b"one"), DROP, _ok(b"two")) as server:
        transport = Http1Transport(max_connections=2)
        where = origin(server.url())
        try:
            await transport.exchange(where, request(), TIMEOUTS)
            outcome = Outcome()
            assert transport.start(where, request(body=b"same"), TIMEOUTS, outcome.answered)
            raw, error = await outcome.wait()
        finally:
            await transport.aclose()
    assert error is None
    assert isinstance(raw, RawResponse)
    assert raw.body == b"two"
    assert server.connections == 2
    assert server.requests[1] == server.requests[2]


async def test_a_connection_closed_after_its_answer_is_not_started_on() -> None:
    async with RawServer(_ok(b"one"), CLOSE_AFTER, _ok(b"two")) as server:
        transport = Http1Transport(max_connections=2)
        where = origin(server.url())
        try:
            await transport.exchange(where, request(), TIMEOUTS)
            outcome = Outcome()
            if transport.start(where, request(), TIMEOUTS, outcome.answered):
                raw, error = await outcome.wait()  # it raced the close: retried
            else:
                raw, error = await transport.exchange(where, request(), TIMEOUTS), None
        finally:
            await transport.aclose()
    assert error is None
    assert isinstance(raw, RawResponse)
    assert raw.body == b"two"
    assert server.connections == 2


async def test_a_started_request_that_gets_no_answer_times_out(http_server: HttpServer) -> None:
    transport = Http1Transport(max_connections=1)
    where = origin(http_server.url)
    short = Timeouts(10.0, 0.2, 10.0, 10.0)
    try:
        await transport.exchange(where, request(), short)
        http_server.script(HANG)
        outcome = Outcome()
        assert transport.start(where, request(), short, outcome.answered)
        raw, error = await outcome.wait()
        assert raw is None
        assert isinstance(error, httpx.ReadTimeout)
        await http_server.until(lambda: http_server.abandoned == 1)
        # The slot came back, the timed-out connection did not: a new one answers.
        assert (await transport.exchange(where, request(), short)).status == 200
    finally:
        await transport.aclose()
    assert http_server.connections == 2


async def test_closing_the_transport_ends_the_exchanges_begun_by_start(
    http_server: HttpServer,
) -> None:
    transport = Http1Transport(max_connections=2)
    where = origin(http_server.url)
    await transport.exchange(where, request(), TIMEOUTS)
    http_server.script(HANG)
    outcome = Outcome()
    assert transport.start(where, request(), TIMEOUTS, outcome.answered)
    await http_server.until(lambda: http_server.hanging == 1)
    await transport.aclose()
    raw, error = await outcome.wait()
    assert raw is None
    assert error is not None


async def webhook_channel(url: str) -> WebhookChannel:
    made = WebhookChannel(config(url), clock=FakeClock(epoch=T0))
    await made.open()
    await made.send([notification(receiver="ops", key="warm")])  # a connection to reuse
    return made


async def started(channel: WebhookChannel, batch: list[Notification]) -> BaseException | None:
    outcome = Outcome()
    done: SendDone = outcome.done
    assert channel.start_send(batch, done)
    (error,) = await outcome.wait()
    assert error is None or isinstance(error, BaseException)
    return error


async def test_a_started_webhook_send_reports_what_send_would_raise(
    http_server: HttpServer,
) -> None:
    channel = await webhook_channel(http_server.url)
    try:
        assert await started(channel, [notification(receiver="ops", key="k1")]) is None
        http_server.script(Respond(status=500))
        failed = await started(channel, [notification(receiver="ops", key="k2")])
        assert isinstance(failed, DeliveryError)
        assert failed.retryable
        assert failed.retry_after is None
        http_server.script(Respond(status=429, headers={"retry-after": "7"}))
        limited = await started(channel, [notification(receiver="ops", key="k3")])
        assert isinstance(limited, DeliveryError)
        assert limited.retryable
        assert limited.retry_after == 7.0
        http_server.script(Respond(status=400))
        refused = await started(channel, [notification(receiver="ops", key="k4")])
        assert isinstance(refused, DeliveryError)
        assert not refused.retryable
        assert not channel.start_send([], Outcome().done)
    finally:
        await channel.close()
    sent = [request.idempotency_key for request in http_server.requests]
    assert sent == ["warm", "k1", "k2", "k3", "k4"]
    assert http_server.connections == 1


async def test_a_started_webhook_send_is_the_same_request_as_send(
    http_server: HttpServer,
) -> None:
    channel = await webhook_channel(http_server.url)
    batch = [notification(receiver="ops", key="same")]
    try:
        await channel.send(batch)
        assert await started(channel, batch) is None
    finally:
        await channel.close()
    awaited, begun = http_server.requests[1:]
    assert (awaited.headers, awaited.body) == (begun.headers, begun.body)


async def test_a_notifier_killed_during_a_started_send_redelivers_it_after_restart(
    http_server: HttpServer,
) -> None:
    # As the awaited send (test_notifier_durability), but on a warm connection, where
    # the notifier sends by callback: the send under way at the crash is abandoned,
    # its outcome ignored, and the restarted notifier sends it again with the same key.
    async with running(webhook(http_server.url), notifier=CrashableNotifier) as run:
        run.notifier.tell(item("warm"))
        assert (await run.receipt(1)).outcome is DELIVERED
        http_server.script(HANG)
        run.notifier.tell(item("a"))
        await http_server.until(lambda: http_server.hanging == 1)
        run.notifier.tell(Crash())
        receipt = await run.receipt(2)
        assert (receipt.notification_id, receipt.outcome) == ("a/firing", DELIVERED)
        assert await run.outbox() == {}
        assert len(run.outcomes()) == 2  # the abandoned send made no receipt
    assert keys_sent(http_server) == ["warm/firing", "a/firing", "a/firing"]


async def test_sends_started_together_all_complete(http_server: HttpServer) -> None:
    gate = Gate(Respond(body=b"late"))
    async with running(webhook(http_server.url)) as run:
        run.notifier.tell(item("warm"))
        await run.receipt(1)
        http_server.script(gate)
        for host in "bcd":
            run.notifier.tell(item(host))
        await http_server.until(lambda: http_server.hanging == 1)
        gate.open()
        await run.receipt(4)
        assert sorted(key for key, outcome, _ in run.outcomes()[1:]) == [
            "b/firing",
            "c/firing",
            "d/firing",
        ]
        assert all(outcome is DELIVERED for _, outcome, _ in run.outcomes())


async def test_slots_go_to_waiters_in_order_and_a_timed_out_wait_takes_none() -> None:
    slots = Slots(1)
    assert slots.try_take()
    assert not slots.try_take()
    with pytest.raises(httpx.PoolTimeout):
        await slots.take(0.01)
    first = asyncio.ensure_future(slots.take(WAIT))
    second = asyncio.ensure_future(slots.take(WAIT))
    await asyncio.sleep(0)
    assert not slots.try_take()  # waiters go first, even with a slot released later
    slots.release()
    await asyncio.wait_for(first, WAIT)
    assert not second.done()
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)
    slots.release()
    assert slots.free == 1
    assert slots.try_take()


async def test_a_slot_handed_to_a_waiter_cancelled_in_the_same_instant_is_passed_on() -> None:
    slots = Slots(1)
    assert slots.try_take()
    waiting = asyncio.ensure_future(slots.take(WAIT))
    await asyncio.sleep(0)
    slots.release()  # hands the slot to ``waiting``...
    waiting.cancel()  # ...which is cancelled before it resumes
    await asyncio.gather(waiting, return_exceptions=True)
    assert slots.free == 1
