"""Sends begun by callback at their edges, on loopback: what test_send_callbacks leaves out.

A server that stops reading (a paused write, a write timeout, the transport closed under
it, on TCP and TLS), an error answer the send cannot even describe, a ``done`` that raises,
a slot freed by a started exchange while another waits for one, and the notifier's retry
timing and circuit breaker when its sends go by callback (a kept-alive connection warmed
first). Waits are bounded; time that the notifier reads is a FakeClock's.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from actors.notify import (
    Channel,
    DeliveryError,
    NotifiersConfig,
    PutReceiver,
    ReceiverChanged,
    SlackChannel,
    WebhookChannel,
)
from actors.notify import CircuitState as Circuit
from actors.notify._channel import SendDone
from actors.notify._http1_wire import RawResponse, Timeouts
from actors.notify._transport import Http1Transport
from actors.store import MemoryStore
from messages import Notification
from tests.notify.builders import notification
from tests.notify.conftest import LoopbackCertificate
from tests.notify.http_server import HANG, WAIT, Gate, HttpServer, Respond
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
from tests.notify.test_receiver_revert import supervisor
from tests.notify.test_receiver_revert import webhook as revert_webhook
from tests.notify.test_send_callbacks import Outcome, origin, request, started, webhook_channel
from tests.notify.test_slack import slack
from tests.notify.test_transport import CLOSE_AFTER, RawServer, _ok

pytestmark = pytest.mark.timeout(30)

TIMEOUTS = Timeouts(10.0, 10.0, 10.0, 10.0)
HUGE = b"x" * (32 * 1024 * 1024)
"""A body no loopback socket buffers hold: writing it pauses until the server reads."""
GARBLED = Respond(500, headers={"content-encoding": "gzip"}, body=b"not gzip at all")
"""An error answer whose body cannot be decoded (httpx raises DecodingError describing it)."""


class StallServer:
    """Answer each connection's first request, then stop reading it until the test ends.

    ``early``: read the second request's head and answer it with these bytes, unasked for
    the rest, before it stops reading.
    """

    def __init__(self, context: ssl.SSLContext | None = None, early: bytes = b"") -> None:
        self.context = context
        self.early = early
        self.connections = 0
        self._release = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> StallServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._release.set()  # the handlers end on their own (cancelling them logs errors)
        self._server.close()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=WAIT)
        for task in list(self._handlers):
            task.cancel()
        await self._server.wait_closed()

    def url(self, scheme: str = "http") -> str:
        assert self._server is not None
        return f"{scheme}://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            writer.write(_ok(b"ok"))
            await writer.drain()
            if self.early:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(self.early)
                await writer.drain()
            await self._release.wait()  # reads nothing more: the client's writes pile up
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, asyncio.CancelledError):
                await writer.wait_closed()
            self._handlers.discard(task)


async def yielded(condition: Callable[[], bool], passes: int = 200) -> None:
    """Let the loop run up to ``passes`` times until ``condition()`` holds."""
    for _ in range(passes):
        if condition():
            return
        await asyncio.sleep(0)
    assert condition()


def assert_whole(transport: Http1Transport, slots: int) -> None:
    """Every slot is back and no exchange begun by ``start`` is left."""
    assert transport._slots.free == slots
    assert not transport._slots.waiters
    assert not transport._busy
    assert not transport._retries


async def test_a_started_write_the_server_never_reads_times_out_and_drops_the_connection() -> None:
    async with StallServer() as server:
        transport = Http1Transport(max_connections=1)
        where = origin(server.url())
        short = Timeouts(10.0, 10.0, 0.2, 10.0)
        try:
            await transport.exchange(where, request(), short)
            [connection] = transport._idle[where]
            outcome = Outcome()
            assert transport.start(where, request(body=HUGE), short, outcome.answered)
            assert connection.paused  # the branch that waits for the write in a task
            raw, error = await outcome.wait()
            assert raw is None
            assert isinstance(error, httpx.WriteTimeout)
            assert_whole(transport, 1)
            # Dropped with its unsent bytes: closing would wait for the server to read
            # them, and keep the socket for good.
            await yielded(lambda: connection.lost)
        finally:
            await transport.aclose()


@pytest.mark.parametrize("by_start", [True, False], ids=["started", "awaited"])
async def test_an_answer_that_fails_a_write_still_under_way_leaves_no_unretrieved_error(
    by_start: bool,
) -> None:
    # The server answers garbage before reading the body: the response fails while the
    # write waits for room, and that failure is the outcome. Nothing may be left for the
    # garbage collector to report ("Future exception was never retrieved").
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    caught: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: caught.append(context))
    try:
        await answered_early_while_paused(by_start)
        gc.collect()  # the exchange's futures, frames and errors are all garbage now
    finally:
        loop.set_exception_handler(previous)
    assert [context["message"] for context in caught] == []


async def answered_early_while_paused(by_start: bool) -> None:
    async with StallServer(early=b"NOT HTTP AT ALL\r\n\r\n") as server:
        transport = Http1Transport(max_connections=1)
        where = origin(server.url())
        short = Timeouts(10.0, 10.0, 0.2, 10.0)
        try:
            await transport.exchange(where, request(), short)
            if by_start:
                [connection] = transport._idle[where]
                outcome = Outcome()
                assert transport.start(where, request(body=HUGE), short, outcome.answered)
                assert connection.paused
                raw, error = await outcome.wait()
                assert raw is None
                assert isinstance(error, httpx.RemoteProtocolError)
            else:
                with pytest.raises(httpx.RemoteProtocolError):
                    await transport.exchange(where, request(body=HUGE), short)
            assert_whole(transport, 1)
        finally:
            await transport.aclose()


@pytest.mark.parametrize("by_start", [True, False], ids=["started", "awaited"])
async def test_an_answer_before_the_body_is_read_is_the_outcome_and_the_connection_is_dropped(
    by_start: bool,
) -> None:
    # A 413 sent after the head, the body left unread: that answer is the outcome (a
    # permanent failure for the notifier), not the write timeout that would follow it,
    # and the half-written connection is dropped, never reused or left flushing.
    early = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 3\r\n\r\nbig"
    async with StallServer(early=early) as server:
        transport = Http1Transport(max_connections=1)
        where = origin(server.url())
        timeouts = Timeouts(10.0, 10.0, 10.0, 10.0)
        try:
            await transport.exchange(where, request(), timeouts)
            [connection] = transport._idle[where]
            if by_start:
                outcome = Outcome()
                assert transport.start(where, request(body=HUGE), timeouts, outcome.answered)
                assert connection.paused
                raw, error = await outcome.wait()
                assert error is None
            else:
                raw = await transport.exchange(where, request(body=HUGE), timeouts)
            assert isinstance(raw, RawResponse)
            assert (raw.status, raw.body) == (413, b"big")
            assert connection.unsent
            assert connection.transport is not None
            assert connection.transport.is_closing()
            assert not transport._idle.get(where)
            assert_whole(transport, 1)
        finally:
            await transport.aclose()


async def closing_ends_stalled_exchanges(url: str, context: ssl.SSLContext | None) -> None:
    transport = Http1Transport(max_connections=2, ssl_context=context)
    where = origin(url)
    try:
        # Two kept-alive connections, each to a server that has stopped reading.
        await asyncio.gather(*(transport.exchange(where, request(), TIMEOUTS) for _ in "ab"))
        paused, waiting = Outcome(), Outcome()
        assert transport.start(where, request(body=HUGE), TIMEOUTS, paused.answered)
        assert transport.start(where, request(), TIMEOUTS, waiting.answered)
        connections = list(transport._busy)
        if context is None:  # TLS encrypts and holds back its writes later, unpaused
            assert sorted(connection.paused for connection in connections) == [False, True]
    finally:
        await transport.aclose()
    # Both heard of it before aclose returned, and nothing is left of them.
    for outcome in (paused, waiting):
        assert len(outcome.calls) == 1
        raw, error = outcome.calls[0]
        assert raw is None
        assert isinstance(error, httpx.ReadError)
    assert_whole(transport, 2)
    await yielded(lambda: all(connection.lost for connection in connections))


async def test_closing_the_transport_ends_and_waits_for_started_exchanges_a_server_stalls() -> None:
    async with StallServer() as server:
        await closing_ends_stalled_exchanges(server.url(), None)


async def test_closing_the_transport_ends_started_exchanges_a_tls_server_stalls(
    certificate: LoopbackCertificate,
) -> None:
    trusted = ssl.create_default_context(cafile=str(certificate.cert))
    async with StallServer(certificate.server_context()) as server:
        await closing_ends_stalled_exchanges(server.url("https"), trusted)


async def test_a_started_exchange_over_tls_reuses_the_kept_alive_connection(
    certificate: LoopbackCertificate,
) -> None:
    trusted = ssl.create_default_context(cafile=str(certificate.cert))
    context = certificate.server_context()
    async with RawServer(_ok(b"one"), _ok(b"two"), context=context) as server:
        transport = Http1Transport(max_connections=1, ssl_context=trusted)
        where = origin(server.url("https"))
        try:
            await transport.exchange(where, request(), TIMEOUTS)
            outcome = Outcome()
            assert transport.start(where, request(body=b"again"), TIMEOUTS, outcome.answered)
            raw, error = await outcome.wait()
            assert isinstance(raw, RawResponse)
            assert (raw.body, error) == (b"two", None)
            assert_whole(transport, 1)
        finally:
            await transport.aclose()
    assert server.connections == 1


async def test_a_started_send_whose_error_answer_cannot_be_decoded_reports_what_send_raises(
    http_server: HttpServer,
) -> None:
    # Describing a failure builds an httpx.Response, which decodes the body by its
    # content-encoding: for a gzip that is not, it raises DecodingError. send turns it
    # into a DeliveryError; a send begun by callback must too, not go unanswered.
    channel = await webhook_channel(http_server.url)
    try:
        http_server.script(GARBLED)
        with pytest.raises(DeliveryError) as awaited:
            await channel.send([notification(receiver="ops", key="k1")])
        http_server.script(GARBLED)
        begun = await started(channel, [notification(receiver="ops", key="k2")])
    finally:
        await channel.close()
    assert isinstance(begun, DeliveryError)
    assert (str(begun), begun.retryable) == (str(awaited.value), awaited.value.retryable)
    assert "DecodingError" in str(begun)


async def test_a_notifier_dead_letters_an_undecodable_answer_to_a_started_send(
    http_server: HttpServer,
) -> None:
    async with running(webhook(http_server.url)) as run:
        run.notifier.tell(item("warm"))
        assert (await run.receipt(1)).outcome is DELIVERED
        http_server.script(GARBLED)
        run.notifier.tell(item("a"))
        dead = await run.receipt(2)
        assert (dead.notification_id, dead.outcome) == ("a/firing", DEAD)
        assert dead.error is not None
        assert "DecodingError" in dead.error
        assert (await run.status()).in_flight == 0
    assert keys_sent(http_server) == ["warm/firing", "a/firing"]


async def test_a_done_that_raises_is_reported_to_the_loop_and_leaves_the_transport_whole(
    http_server: HttpServer,
) -> None:
    # The slot and the connection are given back before ``done`` is called: a bug in
    # ``done`` goes to the loop's exception handler and the next send reuses both.
    channel = await webhook_channel(http_server.url)
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    caught: list[dict[str, Any]] = []
    reported = asyncio.Event()

    def handler(_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        caught.append(context)
        reported.set()

    def done(error: BaseException | None) -> None:
        raise RuntimeError("a bug in done")

    loop.set_exception_handler(handler)
    try:
        assert channel.start_send([notification(receiver="ops", key="k1")], done)
        await asyncio.wait_for(reported.wait(), WAIT)
        assert await started(channel, [notification(receiver="ops", key="k2")]) is None
        transport = channel._http._direct
        assert transport is not None
        assert_whole(transport, channel.config.max_connections)
    finally:
        loop.set_exception_handler(previous)
        await channel.close()
    [context] = caught
    assert isinstance(context["exception"], RuntimeError)
    assert http_server.connections == 1
    assert keys_sent(http_server) == ["warm", "k1", "k2"]


async def test_a_slot_a_started_exchange_frees_goes_to_the_exchange_waiting_for_one(
    http_server: HttpServer,
) -> None:
    transport = Http1Transport(max_connections=1)
    where = origin(http_server.url)
    try:
        await transport.exchange(where, request(body=b"w"), TIMEOUTS)
        gate = Gate(Respond(body=b"first"))
        http_server.script(gate)
        first = Outcome()
        seen: list[tuple[bool, int]] = []

        def answered(raw: RawResponse | None, error: BaseException | None) -> None:
            seen.append((transport.ready(where), transport._slots.free))
            first.answered(raw, error)

        assert transport.start(where, request(body=b"1"), TIMEOUTS, answered)
        await http_server.until(lambda: http_server.hanging == 1)
        waiting = asyncio.ensure_future(transport.exchange(where, request(body=b"2"), TIMEOUTS))
        await yielded(lambda: len(transport._slots.waiters) == 1)
        assert not transport.ready(where)
        assert not transport.start(where, request(body=b"3"), TIMEOUTS, Outcome().answered)
        gate.open()
        raw, error = await first.wait()
        assert isinstance(raw, RawResponse)
        assert (raw.body, error) == (b"first", None)
        # When it was answered, its slot had gone to the exchange that waited, not back
        # to the count for a start to take.
        assert seen == [(False, 0)]
        assert (await asyncio.wait_for(waiting, WAIT)).status == 200
        assert_whole(transport, 1)
    finally:
        await transport.aclose()
    assert [r.body for r in http_server.requests] == [b"w", b"1", b"2"]
    assert http_server.connections == 1


Factory = Callable[[], Channel]


def counting(factory: Factory, began: list[bool]) -> Factory:
    """Wrap ``factory``'s channels so that ``began`` records what each start_send said."""

    def make() -> Channel:
        channel = factory()
        assert isinstance(channel, WebhookChannel | SlackChannel)
        start = channel.start_send

        def start_send(batch: Sequence[Notification], done: SendDone) -> bool:
            began.append(start(batch, done))
            return began[-1]

        channel.start_send = start_send  # type: ignore[method-assign]
        return channel

    return make


@pytest.mark.parametrize("kind", ["webhook", "slack"])
async def test_retry_after_on_a_started_send_schedules_the_retry_exactly_that_much_later(
    http_server: HttpServer, kind: str
) -> None:
    began: list[bool] = []
    make = webhook(http_server.url) if kind == "webhook" else slack(http_server.url)
    async with running(counting(make, began)) as run:
        run.notifier.tell(item("warm"))
        assert (await run.receipt(1)).outcome is DELIVERED
        http_server.script(Respond(429, headers={"Retry-After": "7"}))
        run.notifier.tell(item("a"))
        failed = await run.receipt(2)
        assert failed.outcome is FAILED
        await run.advance(7.0 - TICK)
        assert (await run.status()).in_flight == 0
        assert len(http_server.requests) == 2
        await run.advance(TICK)
        assert (await run.receipt(3)).outcome is DELIVERED
        assert run.clock.now() == 7.0
    assert began == [False, True, True]  # the first connects; the rest go by callback
    assert keys_sent(http_server) == ["warm/firing", "a/firing", "a/firing"]
    assert http_server.connections == 1


async def test_the_circuit_opens_and_probes_once_when_sends_go_by_callback(
    http_server: HttpServer,
) -> None:
    began: list[bool] = []
    settings = policy(failure_threshold=2, cool_down=30.0, max_attempts=10)
    async with running(counting(webhook(http_server.url), began), policy=settings) as run:
        run.notifier.tell(item("warm"))
        assert (await run.receipt(1)).outcome is DELIVERED
        http_server.default = Respond(500)
        run.notifier.tell(item("a"))
        await run.receipt(2)
        run.notifier.tell(item("b"))
        await run.receipt(3)
        assert (await run.status()).circuit is Circuit.OPEN
        await run.advance(10.0)  # past both backoffs: the open circuit holds them
        run.notifier.tell(item("c"))
        status = await run.status()
        assert (status.queued, status.in_flight, len(http_server.requests)) == (3, 0, 3)
        probe = Gate()
        http_server.script(probe)
        http_server.default = Respond()
        await run.advance_to(30.0)
        await http_server.until(lambda: http_server.hanging == 1)
        status = await run.status()
        assert (status.circuit, status.in_flight, len(http_server.requests)) == (
            Circuit.HALF_OPEN,
            1,
            4,
        )
        probe.open()
        await run.receipt(6)
        assert (await run.status()).circuit is Circuit.CLOSED
    assert len(http_server.requests) == 6
    # The first send connects; a, b and the probe go on the kept-alive connection; of
    # the two let through together once the circuit closed, one gets it, one connects.
    assert began == [False, True, True, True, True, False]
    assert http_server.connections == 2


async def test_more_due_sends_than_connections_all_go_out_by_callback_or_task(
    http_server: HttpServer,
) -> None:
    began: list[bool] = []
    gate = Gate()
    make = counting(webhook(http_server.url, max_connections=1), began)
    async with running(make) as run:
        run.notifier.tell(item("warm"))
        assert (await run.receipt(1)).outcome is DELIVERED
        http_server.script(gate)
        for host in "bcd":
            run.notifier.tell(item(host))
        await http_server.until(lambda: http_server.hanging == 1)
        assert (await run.status()).in_flight == 3
        gate.open()
        await run.receipt(4)
        assert all(outcome is DELIVERED for _, outcome, _ in run.outcomes())
    assert began[:2] == [False, True]  # then the pool is full: the others wait in tasks
    assert False in began[2:]
    assert sorted(keys_sent(http_server)[1:]) == ["b/firing", "c/firing", "d/firing"]
    assert http_server.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"NOT HTTP AT ALL\r\n\r\n", id="garbage"),
        pytest.param(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", id="cut-short"),
    ],
)
async def test_a_started_exchange_answered_wrongly_fails_and_gives_its_slot_back(
    answer: bytes,
) -> None:
    async with RawServer(_ok(b"one"), answer, CLOSE_AFTER, _ok(b"two")) as server:
        transport = Http1Transport(max_connections=1)
        where = origin(server.url())
        try:
            await transport.exchange(where, request(), TIMEOUTS)
            outcome = Outcome()
            assert transport.start(where, request(), TIMEOUTS, outcome.answered)
            raw, error = await outcome.wait()
            assert raw is None
            assert isinstance(error, httpx.RemoteProtocolError)
            assert_whole(transport, 1)
            assert not transport.ready(where)  # that connection is not kept
            assert (await transport.exchange(where, request(), TIMEOUTS)).body == b"two"
        finally:
            await transport.aclose()
    assert server.connections == 2


async def test_a_notifier_stopped_during_a_started_send_sends_it_again_once_started_anew(
    http_server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The process stops with a send begun by callback hanging: the stop ends it (the
    # server sees the client go), nothing complains, and the next notifier over the
    # same store sends the same request again, idempotency key and all.
    store = MemoryStore()
    await store.open()
    try:
        async with running(webhook(http_server.url), store=store) as run:
            run.notifier.tell(item("warm"))
            assert (await run.receipt(1)).outcome is DELIVERED
            http_server.script(HANG)
            run.notifier.tell(item("a"))
            await http_server.until(lambda: http_server.hanging == 1)
        await http_server.until(lambda: http_server.abandoned == 1)
        async with running(webhook(http_server.url), store=store) as run:
            receipt = await run.receipt(1)
            assert (receipt.notification_id, receipt.outcome) == ("a/firing", DELIVERED)
            assert await run.outbox() == {}
    finally:
        await store.close()
    assert keys_sent(http_server) == ["warm/firing", "a/firing", "a/firing"]
    abandoned, again = http_server.requests[1:]
    assert abandoned.body == again.body
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


async def test_a_receiver_replaced_during_a_started_send_sends_it_to_the_new_url_with_its_key(
    tmp_path: Path, http_server: HttpServer
) -> None:
    # PutReceiver stops the notifier, whose send by callback hangs at the old URL: that
    # send is abandoned, and the new notifier sends it again from the outbox.
    config = NotifiersConfig.model_validate(
        {"webhook": [{"name": "ops", "url": http_server.url, "trust_env": False}]}
    )
    moved = await HttpServer().start()
    try:
        async with supervisor(tmp_path / "tocsin.db", config, {}) as (notifiers, _):
            notifiers.tell(notification(receiver="ops", key="warm"))
            await http_server.wait_requests(1)
            http_server.script(HANG)
            notifiers.tell(notification(receiver="ops", key="late"))
            await http_server.until(lambda: http_server.hanging == 1)
            changed = await notifiers.ask(PutReceiver(revert_webhook("ops", moved.url)))
            assert changed == ReceiverChanged("ops", "webhook", "replaced")
            await http_server.until(lambda: http_server.abandoned == 1)
            [again] = await moved.wait_requests(1)
        abandoned = http_server.requests[1]
        assert again.idempotency_key == abandoned.idempotency_key
        assert again.body == abandoned.body
        assert http_server.connections == 1  # kept alive after warm: the notifier sent by callback
    finally:
        await moved.close()
