"""A swarm of WebSocket viewers in its own process, for the slow-client scenario.

``python -m tests.faults.viewer_swarm URL TOKEN --readers N --stalled M`` opens N
readers and M stalled viewers on one event loop (uvloop's). Every viewer is a plain
asyncio ``Protocol`` driving websockets' sans-I/O ``ClientProtocol`` for the opening
handshake: cheap enough for a thousand connections on one loop, and it lets a stalled
viewer really stop reading (``transport.pause_reading()`` on a socket with a small
``SO_RCVBUF``), so the server's write buffer fills for real.

Readers subscribe to ``READER_SUBSCRIPTION``'s filter and record, for each ``tick``
event, the seq and the latency from the monotonic time the sample was sent (its
``sent`` label) to the moment the frame is read. Once subscribed, a reader reads the
server's frames itself (unmasked, unfragmented: what the gateway sends) rather than
through the sans-I/O parser, and the swarm runs on uvloop: the clients are measuring
instruments and must cost little next to the server. With websockets' parser on
asyncio's loop, 950 readers took ~19 ms of this process's CPU per tick (0.95 s for 50),
more than the ~13 ms the server spent writing it, so the last readers' latency was
10-17 ms of the swarm's own backlog; now ~11-13 ms a tick, and with a core to itself
the last reader reads a tick within ~1 ms of the server's last write of it.
Stalled viewers subscribe to everything ``STALLED_SUBSCRIPTIONS`` times, then never
read.

It talks to its parent in JSON lines: it prints ``{"event": "ready", ...}`` once every
viewer has subscribed; on ``drain`` it starts reading the stalled viewers' sockets (to
see the close frame the server sent, if it is still there); on ``finish N`` it waits for
every reader to have N ticks (bounded), prints ``{"event": "result", ...}`` and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import socket
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import uvloop
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from bench._lean_client import split_frames

__all__ = ["READER_SUBSCRIPTION", "STALLED_SUBSCRIPTIONS", "main"]

READER_SUBSCRIPTION = {"type": "subscribe", "id": "ticks", "severities": ["info"]}
"""What a reader subscribes to: the small ``info`` tick alerts only."""
STALLED_SUBSCRIPTIONS = 4
"""Subscriptions to everything each stalled viewer makes (each event is sent that often)."""
BOUND = 30.0
STALLED_RCVBUF = 4096

_SEQ = re.compile(rb'"seq":(\d+)')
_SENT = re.compile(rb'"sent":"([0-9.]+)"')


class Viewer(asyncio.Protocol):
    """One WebSocket viewer; ``stalled`` ones stop reading once they have subscribed."""

    def __init__(self, swarm: Swarm, uri: str, stalled: bool) -> None:
        self.swarm = swarm
        self.stalled = stalled
        self.protocol = ClientProtocol(parse_uri(uri))
        self.transport: asyncio.Transport | None = None
        self.subscribed = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.last_seq = 0
        self.ticks = 0
        self.disorder = 0
        self.close_code: int | None = None
        self.problem: str | None = None
        self.bytes_read = 0
        self.lean = False  # reading frames by hand (a subscribed reader)
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport (uvloop's)
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def _flush(self) -> None:
        assert self.transport is not None
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def _send(self, frame: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(frame).encode())

    def data_received(self, data: bytes) -> None:
        self.bytes_read += len(data)
        if self.lean:
            self._read_frames(data)
            return
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                self._on_handshake(event)
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._on_text(bytes(event.data))
        if self.protocol.close_rcvd is not None and self.close_code is None:
            self.close_code = self.protocol.close_rcvd.code
        self._flush()
        if (
            not self.stalled
            and self.subscribed.done()
            and self.protocol.state is State.OPEN
            and not self.protocol.reader.buffer  # between two frames: nothing half-parsed
        ):
            self.lean = True

    def _read_frames(self, data: bytes) -> None:
        """Read the server's frames by hand: text, ping (answered) and close."""
        buffer = self._buffer + data if self._buffer else data
        frames, used = split_frames(buffer)
        self._buffer = buffer[used:]
        for opcode, payload in frames:
            if opcode == Opcode.TEXT:
                self._on_text(payload)
            elif opcode == Opcode.PING:
                self._write_frame(Opcode.PONG, payload)
            elif opcode == Opcode.CLOSE:
                close = Close.parse(payload)
                if self.close_code is None:
                    self.close_code = close.code
                self._write_frame(Opcode.CLOSE, close.serialize())
                assert self.transport is not None
                self.transport.close()
                break

    def _write_frame(self, opcode: Opcode, payload: bytes) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(Frame(opcode, payload).serialize(mask=True, extensions=()))

    def _on_handshake(self, response: Response) -> None:
        if response.status_code != 101:
            self.problem = f"handshake answered {response.status_code}"
            return
        if not self.stalled:
            self._send(READER_SUBSCRIPTION)
            return
        for n in range(STALLED_SUBSCRIPTIONS):
            self._send({"type": "subscribe", "id": f"all-{n}"})
        self._flush()
        assert self.transport is not None
        self.transport.pause_reading()  # from here on, nothing is read: a client that stalls
        self.subscribed.set_result(None)

    def _on_text(self, data: bytes) -> None:
        head = data[:40]
        if head.startswith(b'{"type":"snapshot"'):
            if not self.subscribed.done():
                self.subscribed.set_result(None)
            return
        if not head.startswith(b'{"type":"event"'):
            if head.startswith(b'{"type":"error"'):
                self.problem = data[:300].decode(errors="replace")
            return
        now = time.monotonic()
        seq_match = _SEQ.search(data, 0, 80)
        sent_match = _SENT.search(data)
        if seq_match is None or sent_match is None:
            return
        seq = int(seq_match.group(1))
        if seq <= self.last_seq:
            self.disorder += 1
        self.last_seq = seq
        self.ticks += 1
        if not self.stalled:  # a stalled viewer reads late on purpose
            sent = float(sent_match.group(1))
            self.swarm.latencies.append(now - sent)
            arrival = self.swarm.arrivals.get(seq)
            if arrival is None:
                self.swarm.arrivals[seq] = [sent, now, now]
            else:
                arrival[2] = now
            self.swarm.on_tick()

    def connection_lost(self, exc: Exception | None) -> None:
        with contextlib.suppress(EOFError):
            self.protocol.receive_eof()
        if self.protocol.close_rcvd is not None and self.close_code is None:
            self.close_code = self.protocol.close_rcvd.code
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(self.problem or "closed early"))

    def drain(self) -> None:
        """Start reading again, to find the close frame the server left in the socket."""
        if self.transport is not None and not self.transport.is_closing():
            # A bigger window reads the megabytes the kernels hold before the close frame
            # faster, within the server's close_timeout.
            sock = self.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            self.transport.resume_reading()


class Swarm:
    """The viewers and what they saw."""

    def __init__(self, url: str, token: str) -> None:
        self.url = f"{url}?token={token}"
        self.viewers: list[Viewer] = []
        self.latencies: list[float] = []
        self.arrivals: dict[int, list[float]] = {}
        """Per tick seq: when its sample was sent, first and last read by a reader."""
        self._target = 0
        self._done = asyncio.Event()

    async def open(self, count: int, *, stalled: bool, batch: int = 100) -> None:
        """Open ``count`` viewers, ``batch`` at a time (the server's accept backlog is 100)."""
        for start in range(0, count, batch):
            opened = await self._open(min(batch, count - start), stalled=stalled)
            async with asyncio.timeout(BOUND):
                await asyncio.gather(*(v.subscribed for v in opened))

    async def _open(self, count: int, *, stalled: bool) -> list[Viewer]:
        loop = asyncio.get_running_loop()
        parts = urlsplit(self.url)
        assert parts.hostname is not None
        assert parts.port is not None
        opened: list[Viewer] = []
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if stalled:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALLED_RCVBUF)
            sock.setblocking(False)
            await loop.sock_connect(sock, (parts.hostname, parts.port))
            viewer = Viewer(self, self.url, stalled)
            await loop.create_connection(lambda v=viewer: v, sock=sock)  # type: ignore[misc]
            self.viewers.append(viewer)
            opened.append(viewer)
        return opened

    def readers(self) -> list[Viewer]:
        return [v for v in self.viewers if not v.stalled]

    def stalled(self) -> list[Viewer]:
        return [v for v in self.viewers if v.stalled]

    def on_tick(self) -> None:
        if self._target and all(v.ticks >= self._target for v in self.readers()):
            self._done.set()

    async def until_ticks(self, count: int) -> bool:
        self._target = count
        self.on_tick()
        try:
            async with asyncio.timeout(BOUND):
                await self._done.wait()
        except TimeoutError:
            return False
        return True


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def _say(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


async def run(url: str, token: str, readers: int, stalled: int) -> None:
    swarm = Swarm(url, token)
    started = time.monotonic()
    await swarm.open(stalled, stalled=True)
    await swarm.open(readers, stalled=False)
    _say({"event": "ready", "connect_seconds": time.monotonic() - started})
    cpu_at_ready = time.process_time()
    commands = await _lines()
    reached = False
    while line := (await commands.readline()).decode().split():
        if line[0] == "drain":
            for viewer in swarm.stalled():
                viewer.drain()
        elif line[0] == "finish":
            reached = await swarm.until_ticks(int(line[1]))
            break
    cpu_after_ready = time.process_time() - cpu_at_ready
    stalled_viewers = swarm.stalled()
    for viewer in stalled_viewers:
        viewer.drain()
    try:
        async with asyncio.timeout(BOUND):
            await asyncio.gather(*(v.closed for v in stalled_viewers))
    except TimeoutError:
        pass
    latencies = swarm.latencies
    first = [a[1] - a[0] for a in swarm.arrivals.values()]
    last = [a[2] - a[0] for a in swarm.arrivals.values()]
    _say(
        {
            "event": "result",
            "all_ticks_received": reached,
            "ticks": sorted({v.ticks for v in swarm.readers()}),
            "disorder": sum(v.disorder for v in swarm.readers()),
            "reader_problems": [v.problem for v in swarm.readers() if v.problem][:5],
            "reader_closes": [v.close_code for v in swarm.readers() if v.closed.done()][:5],
            "stalled_close_codes": [v.close_code for v in stalled_viewers],
            "stalled_closed": sum(v.closed.done() for v in stalled_viewers),
            "stalled_bytes_read": sorted(v.bytes_read for v in stalled_viewers),
            "deliveries": len(latencies),
            "latency_p50": _percentile(latencies, 0.50),
            "latency_p99": _percentile(latencies, 0.99),
            "latency_max": max(latencies, default=None),
            # Per tick: the first reader's latency (the server's path up to its first
            # write) and the last one's (plus the fan-out to every reader).
            "first_reader_p50": _percentile(first, 0.50),
            "first_reader_max": max(first, default=None),
            "last_reader_p50": _percentile(last, 0.50),
            "last_reader_max": max(last, default=None),
            "swarm_cpu_seconds": cpu_after_ready,
        }
    )
    for viewer in swarm.viewers:
        if viewer.transport is not None:
            viewer.transport.abort()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--readers", type=int, default=950)
    parser.add_argument("--stalled", type=int, default=50)
    args = parser.parse_args()
    uvloop.run(run(args.url, args.token, args.readers, args.stalled))


if __name__ == "__main__":
    main()
