"""A lean WebSocket client for holding thousands of subscribers in one benchmark process.

websockets' asyncio client runs a task and a queue per connection, and its Sans-I/O
parser costs tens of microseconds a frame; with 5,000 subscribers in one process on a
2-core machine the clients, not the server, would set the fan-out time.
``LeanSubscriber`` is an ``asyncio.Protocol``: websockets' Sans-I/O ``ClientProtocol``
does the opening handshake and the frames up to the subscription's snapshot; after that
the subscriber reads the server's frames itself (unmasked, unfragmented: what the
gateway sends), parses every text frame with ``json.loads`` in ``data_received``,
answers pings, and does the closing handshake, with no task, queue or future per message.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

__all__ = ["LeanSubscriber", "SubscriberGroup", "split_frames"]


def split_frames(buffer: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """Split the whole server frames (unmasked) off the front of ``buffer``.

    Returns each frame's opcode and payload, and how many bytes they took: a frame cut
    short by the read stays for the next one. Clients that read frames by hand (here and
    ``tests/faults/viewer_swarm.py``) skip websockets' parser, which would cost a
    thousand-client swarm more CPU than the server spends writing to it.
    """
    frames: list[tuple[int, bytes]] = []
    size, at = len(buffer), 0
    while size - at >= 2:
        length, header = buffer[at + 1] & 0x7F, 2
        if length == 126:
            if size - at < 4:
                break
            length, header = int.from_bytes(buffer[at + 2 : at + 4]), 4
        elif length == 127:
            if size - at < 10:
                break
            length, header = int.from_bytes(buffer[at + 2 : at + 10]), 10
        end = at + header + length
        if end > size:
            break
        frames.append((buffer[at] & 0x0F, buffer[at + header : end]))
        at = end
    return frames, at


class SubscriberGroup:
    """The subscribers of one worker process and the event they all wait for.

    ``arm()`` starts a round: each subscriber records the monotonic time at which it
    has received and parsed its next ``alert_opened`` event; ``done`` is set when every
    armed subscriber has one (or has lost its connection).
    """

    def __init__(self) -> None:
        self.subscribers: list[LeanSubscriber] = []
        self.arrivals: list[float] = []
        self.waiting = 0
        self.done = asyncio.Event()

    def arm(self) -> None:
        """Start a round over every subscriber that is still open."""
        self.arrivals = []
        self.done.clear()
        armed = [s for s in self.subscribers if s.open]
        for subscriber in armed:
            subscriber.armed = True
        self.waiting = len(armed)
        if not armed:
            self.done.set()

    def settled(self, at: float | None) -> None:
        """Record one armed subscriber's arrival (None: it was lost); set ``done`` last."""
        if at is not None:
            self.arrivals.append(at)
        self.waiting -= 1
        if self.waiting == 0:
            self.done.set()


def _client_frame(opcode: Opcode, payload: bytes) -> bytes:
    return Frame(opcode, payload).serialize(mask=True, extensions=())


class LeanSubscriber(asyncio.Protocol):
    """One subscriber: handshake, subscribe with ``matchers``, then time armed events.

    ``ready`` resolves once the subscription's snapshot has arrived (or fails with the
    reason the connection ended before it); ``closed`` once the socket is gone.
    """

    def __init__(self, url: str, token: str, matchers: list[str], group: SubscriberGroup) -> None:
        loop = asyncio.get_running_loop()
        self.protocol = ClientProtocol(parse_uri(url), max_size=None)
        self.token = token
        self.matchers = matchers
        self.group = group
        self.ready: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.open = False  # subscribed, reading frames itself
        self.armed = False
        self._buffer = b""
        self._closing = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        request = self.protocol.connect()
        request.headers["Authorization"] = f"Bearer {self.token}"
        self.protocol.send_request(request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        if self.open:
            self._read_frames(data)
        else:
            self._receive_opening(data)

    def _receive_opening(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self._on_message(json.loads(bytes(event.data)))
            elif isinstance(event, Response) and protocol.state is not State.OPEN:
                self._fail(f"handshake refused: {event.status_code}")
        self._flush()
        if self.open:
            # From here on the frames are read by hand; nothing may be left half-parsed.
            leftover = bytes(protocol.reader.buffer)
            if leftover:
                self._read_frames(leftover)

    def eof_received(self) -> bool | None:
        if not self.open:
            self.protocol.receive_eof()
            self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._fail(f"connection lost: {exc!r}")
        if self.armed:
            self.armed = False
            self.group.settled(None)
        if not self.closed.done():
            self.closed.set_result(None)

    # -- the subscriber --------------------------------------------------------------------

    def close(self) -> None:
        """Start the closing handshake (1000); ``closed`` resolves when the socket is gone."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.open and not self._closing:
            self._closing = True
            transport.write(_client_frame(Opcode.CLOSE, Close(1000, "").serialize()))
        else:
            transport.abort()

    def _read_frames(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        frames, used = split_frames(buffer)
        self._buffer = buffer[used:]
        for opcode, payload in frames:
            if opcode == Opcode.TEXT:
                self._on_message(json.loads(payload))
            elif opcode == Opcode.PING:
                assert self.transport is not None
                self.transport.write(_client_frame(Opcode.PONG, payload))
            elif opcode == Opcode.CLOSE:
                assert self.transport is not None
                if not self._closing:
                    self._closing = True
                    self.transport.write(_client_frame(Opcode.CLOSE, payload[:2]))
                self.transport.close()
                break

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "event":
            if self.armed and message["event"]["kind"] == "alert_opened":
                self.armed = False
                self.group.settled(time.monotonic())
        elif kind == "welcome":
            frame = {"type": "subscribe", "id": "s", "matchers": self.matchers}
            self.protocol.send_text(json.dumps(frame).encode())
        elif kind == "snapshot":
            self.open = True
            if not self.ready.done():
                self.ready.set_result(None)
        elif kind == "error":
            self._fail(f"error frame: {message}")

    def _fail(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason))

    def _flush(self) -> None:
        transport = self.transport
        assert transport is not None
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
