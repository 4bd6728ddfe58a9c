"""Loopback receivers for bench/notifiers.py, each run as a separate process.

``python bench/_sinks.py webhook`` serves HTTP/1.1 on 127.0.0.1: every POST is answered
``200`` and counted under its path (with the number of alerts or notifications its
JSON body carries, and its size); ``GET /count?path=/x&at_least=N`` answers, once ``/x``
has had N requests (or after ``wait`` seconds, default 60),
``{"requests": r, "items": i, "bytes": b, "connections": c}`` (``bytes``: the bodies'
total; ``connections``: the connections whose first request was to ``/x``).

``python bench/_sinks.py smtp`` serves SMTP (aiosmtpd) on 127.0.0.1 and accepts every
message.

Either prints ``PORT <n>`` on its first line of output, then serves until its standard
input closes (the benchmark that started it exited, or closed the pipe) or SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qs, urlsplit

_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
_MAX_HEAD = 64 * 1024


class _Counts:
    """Requests and items per path, and the waiters for a count to be reached."""

    def __init__(self) -> None:
        self.requests: defaultdict[str, int] = defaultdict(int)
        self.items: defaultdict[str, int] = defaultdict(int)
        self.bytes: defaultdict[str, int] = defaultdict(int)
        self.connections: defaultdict[str, int] = defaultdict(int)
        """Connections per path: each counted under the path of its first request."""
        self._waiters: list[tuple[str, int, asyncio.Future[None]]] = []

    def add(self, path: str, items: int, size: int) -> None:
        self.requests[path] += 1
        self.items[path] += items
        self.bytes[path] += size
        if self._waiters:
            for waiter in [w for w in self._waiters if self.requests[w[0]] >= w[1]]:
                self._waiters.remove(waiter)
                if not waiter[2].done():
                    waiter[2].set_result(None)

    async def wait(self, path: str, at_least: int, seconds: float) -> None:
        if self.requests[path] >= at_least:
            return
        reached = asyncio.get_running_loop().create_future()
        waiter = (path, at_least, reached)
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(reached, seconds)
        except TimeoutError:
            # add() may have taken it off the list just as the wait ran out.
            if waiter in self._waiters:
                self._waiters.remove(waiter)


def _items(body: bytes) -> int:
    try:
        document = json.loads(body)
    except ValueError:
        return 1
    if isinstance(document, dict):
        for key in ("alerts", "notifications"):
            value = document.get(key)
            if isinstance(value, list):
                return len(value)
    return 1


class _HttpConnection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: what httpx and Go send."""

    def __init__(self, counts: _Counts) -> None:
        self.counts = counts
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.first_path: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, error: Exception | None) -> None:
        for task in self.tasks:
            task.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > _MAX_HEAD:
                    self.transport.close()
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            url = urlsplit(target)
            if method == "GET" and url.path == "/count":
                task = asyncio.get_running_loop().create_task(self._count(url.query))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            else:
                if self.first_path is None:
                    self.first_path = url.path
                    self.counts.connections[url.path] += 1
                self.counts.add(url.path, _items(body) if body else 1, len(body))
                self.transport.write(_OK)

    async def _count(self, query: str) -> None:
        arguments = parse_qs(query)
        path = arguments.get("path", ["/"])[0]
        at_least = int(arguments.get("at_least", ["0"])[0])
        await self.counts.wait(path, at_least, float(arguments.get("wait", ["60"])[0]))
        body = json.dumps(
            {
                "requests": self.counts.requests[path],
                "items": self.counts.items[path],
                "bytes": self.counts.bytes[path],
                "connections": self.counts.connections[path],
            }
        ).encode()
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
        if self.transport is not None:
            self.transport.write(head.encode() + b"\r\n\r\n" + body)


class _SmtpHandler:
    def __init__(self) -> None:
        self.messages = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        return "250 OK"


async def _serve(kind: str) -> None:
    loop = asyncio.get_running_loop()
    server: asyncio.Server
    if kind == "webhook":
        counts = _Counts()
        server = await loop.create_server(lambda: _HttpConnection(counts), "127.0.0.1", 0)
    elif kind == "smtp":
        import aiosmtpd.smtp

        handler = _SmtpHandler()
        server = await loop.create_server(
            lambda: aiosmtpd.smtp.SMTP(handler, hostname="localhost", loop=loop), "127.0.0.1", 0
        )
    else:
        raise SystemExit(f"unknown sink {kind!r}: webhook or smtp")
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    eof = loop.create_task(reader.read())
    stopped = loop.create_task(stop.wait())
    await asyncio.wait([eof, stopped], return_when=asyncio.FIRST_COMPLETED)
    eof.cancel()
    stopped.cancel()
    server.close()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1] if len(sys.argv) > 1 else "webhook"))
