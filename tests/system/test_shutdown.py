"""What a served AlertSystem promises once stop() has begun, through real sockets.

The gateway stops first: it stops listening, then closes every connection with 1001
(docs/PROTOCOL.md, "Close codes"); what was answered before is in the SQLite file for
the next start. No sleeps: each step waits for what the server or the client observed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from gateway.system import AlertSystem, AlertSystemNotRunning
from messages import AlertState, MetricSample, ReplyFrame, WelcomeFrame
from tests.gateway.harness import READ_TIMEOUT, TOKENS
from tests.notify.http_server import HANG, HttpServer
from tests.notify.notifier_harness import keys_sent
from tests.system.test_end_to_end import client, config, disk

HOOK_ROUTE = {
    "receiver": "websocket",
    "routes": [{"receiver": "ops-hook", "matchers": ['severity="critical"'], "group_wait": 0}],
}


def sample(host: str) -> MetricSample:
    return MetricSample(
        name="disk_used_percent", value=99.0, labels={"host": host}, timestamp=time.time()
    )


@asynccontextmanager
async def stopping(system: AlertSystem) -> AsyncIterator[asyncio.Task[None]]:
    """Begin ``system.stop()`` in a task; wait for it to end when the block does."""
    task = asyncio.create_task(system.stop())
    try:
        yield task
    finally:
        async with asyncio.timeout(READ_TIMEOUT):
            await task


class RawClient:
    """A WebSocket client that reads and writes only when told (websockets' Sans-I/O
    protocol over a plain socket): unlike a ``connect`` client, which answers a close
    frame as soon as it arrives, it can still send a frame after the server's close
    reached it, as a client whose frame crossed that close on the wire did."""

    def __init__(self, url: str, token: str) -> None:
        self._uri = parse_uri(url)
        self.protocol = ClientProtocol(self._uri)
        self._request = self.protocol.connect()
        self._request.headers["Authorization"] = f"Bearer {token}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> Response:
        """Connect and return the server's handshake response."""
        self._reader, self._writer = await asyncio.open_connection(self._uri.host, self._uri.port)
        self.protocol.send_request(self._request)
        self.flush()
        event = await self.next_event()
        assert isinstance(event, Response), event
        return event

    async def next_event(self) -> Response | Frame:
        """Read until the protocol has an event (bounded by ``READ_TIMEOUT``); return it."""
        assert self._reader is not None
        async with asyncio.timeout(READ_TIMEOUT):
            while not (events := self.protocol.events_received()):
                data = await self._reader.read(65536)
                if data:
                    self.protocol.receive_data(data)
                else:
                    self.protocol.receive_eof()
                    assert self.protocol.events_received() == [], "EOF before an event"
                    raise EOFError
        [event, *rest] = events
        assert rest == [], rest
        assert isinstance(event, Response | Frame), event
        return event

    def send_text(self, text: str) -> None:
        """Write a text frame now, whatever state the protocol is in (masked, as a client's)."""
        assert self._writer is not None
        self._writer.write(Frame(Opcode.TEXT, text.encode()).serialize(mask=True))

    def flush(self) -> None:
        """Write what the protocol has to send (a close frame's answer, say)."""
        assert self._writer is not None
        for data in self.protocol.data_to_send():
            if data:
                self._writer.write(data)
            elif self._writer.can_write_eof():
                self._writer.write_eof()

    async def wait_eof(self) -> None:
        """Read until the server closes the TCP connection."""
        assert self._reader is not None
        assert self._writer is not None
        async with asyncio.timeout(READ_TIMEOUT):
            while await self._reader.read(65536):
                pass
        self._writer.close()


async def test_once_stop_begins_clients_get_1001_and_new_connections_are_refused() -> None:
    system = AlertSystem(config())
    await system.start()
    try:
        url = system.url
        assert url is not None
        async with client(system, "viewer") as viewer, stopping(system):
            with pytest.raises(ConnectionClosed) as closed:
                await viewer.read()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
            assert closed.value.rcvd.reason == "the server is shutting down"
            # The gateway stopped listening before it closed the connections.
            with pytest.raises(ConnectionRefusedError):
                await connect(url, proxy=None, open_timeout=READ_TIMEOUT)
            # The embedded API refuses too: the tree is no longer the system's.
            with pytest.raises(AlertSystemNotRunning):
                await system.ingest([sample("db-1")])
    finally:
        await system.stop()


async def test_an_ingest_frame_that_crosses_the_shutdown_close_is_not_handled() -> None:
    system = AlertSystem(config())
    await system.start()
    try:
        assert system.url is not None
        raw = RawClient(system.url, TOKENS["ingest"][0])
        assert (await raw.open()).status_code == 101
        welcome = await raw.next_event()
        assert isinstance(welcome, Frame)
        assert isinstance(WelcomeFrame.model_validate_json(bytes(welcome.data)), WelcomeFrame)

        async with stopping(system):
            close = await raw.next_event()
            assert isinstance(close, Frame)
            assert close.opcode is Opcode.CLOSE
            assert Close.parse(close.data).code == 1001
            # Sent after the server's close arrived, before the client answers it: the
            # server reads it while its close handshake is under way.
            frame = {"type": "ingest", "id": "late", "samples": [disk("db-1", "db", 99.0)]}
            raw.send_text(json.dumps(frame))
            raw.flush()  # the close frame's answer
            await raw.wait_eof()

        # Not handled: no sample reached the router, and the frame was not even counted.
        assert system.metrics.websocket_samples == 0
        counted = system.metrics.registry.get_sample_value(
            "tocsin_frames_received_total", {"type": "ingest"}
        )
        assert counted in (None, 0.0)
    finally:
        await system.stop()


async def test_what_was_answered_before_stop_is_in_the_store_for_the_next_start(
    tmp_path: Path, http_server: HttpServer
) -> None:
    receivers = {
        "websocket": {},
        "webhook": [{"name": "ops-hook", "url": http_server.url, "trust_env": False}],
    }
    settings = config(
        store={"path": str(tmp_path / "data" / "tocsin.db")},
        receivers=receivers,
        route=HOOK_ROUTE,
    )
    http_server.script(HANG)  # the firing notification is in flight when stop() begins
    async with (
        AlertSystem(settings) as system,
        client(system, "ingest") as feeder,
        client(system, "operator") as operator,
    ):
        accepted = await feeder.request({"type": "ingest", "samples": [disk("db-1", "db", 99.0)]})
        assert isinstance(accepted, ReplyFrame)
        assert accepted.data == {"accepted": 1}
        await http_server.until(lambda: http_server.hanging == 1)
        [alert] = await system.alerts()
        acked = await operator.request({"type": "ack", "alert_id": alert.alert_id, "comment": "x"})
        assert isinstance(acked, ReplyFrame), acked
        # Stop while the webhook still holds the firing notification.
        assert http_server.hanging == 1
    [firing] = keys_sent(http_server)
    await http_server.until(lambda: http_server.abandoned == 1)  # the send was cancelled

    async with AlertSystem(settings) as system:
        # The one in flight goes out again with the same key, then the acknowledgement
        # that waited behind it (one notification of an alert at a time, in order).
        await http_server.wait_requests(3)
        [again] = await system.alerts()
    sent = keys_sent(http_server)
    assert sent[1] == firing
    assert sent[2].endswith("/acknowledged"), sent
    assert (again.alert_id, again.state) == (alert.alert_id, AlertState.ACKNOWLEDGED)
    assert again.acknowledged_by == "operator"
