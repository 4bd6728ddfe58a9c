"""A real HTTP/1.1 server on 127.0.0.1 whose answers a test scripts, request by request.

``HttpServer`` records every request (method, path, headers, body) and answers with the
replies a test queued (``Respond``, ``Gate``, ``HANG``, ``CLOSE``), then with ``default``. Tests
wait on what the server observed (``until``), never on sleeps; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

WAIT = 10.0
"""Seconds any wait on the server may take before the test fails (a bound, not a sleep)."""


@dataclass(frozen=True)
class Respond:
    """Answer with ``status``, ``headers`` and ``body``."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


@dataclass(frozen=True)
class _Hang:
    """Never answer: hold the request until the client gives up or the server closes."""


@dataclass(frozen=True)
class _Close:
    """Close the connection without answering."""


class Gate:
    """Hold the request until the test calls ``open()``, then answer with ``reply``."""

    def __init__(self, reply: Respond | None = None) -> None:
        self.reply = reply or Respond()
        self._opened = asyncio.Event()

    def open(self) -> None:
        self._opened.set()

    async def wait(self) -> None:
        await self._opened.wait()


HANG = _Hang()
CLOSE = _Close()
Reply = Respond | Gate | _Hang | _Close


@dataclass(frozen=True)
class Request:
    """One request as the server read it; header names are lowercase."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def idempotency_key(self) -> str:
        return self.headers["idempotency-key"]


class HttpServer:
    """Serve HTTP/1.1 with keep-alive on 127.0.0.1 (an ephemeral port) until ``close``.

    ``hanging`` counts requests being held (``HANG``, a closed ``Gate``); ``abandoned``
    counts ``HANG`` requests whose client went away (a timeout, a cancelled send).
    """

    def __init__(self, default: Reply | None = None) -> None:
        self.default: Reply = default or Respond()
        self.requests: list[Request] = []
        self.hanging = 0
        self.abandoned = 0
        self.connections = 0
        self._script: deque[Reply] = deque()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._handlers: set[asyncio.Task[Any]] = set()
        self._release = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> HttpServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order, then with ``default``."""
        self._script.extend(replies)

    async def until(self, condition: Callable[[], bool], timeout: float = WAIT) -> None:
        """Wait until ``condition()`` holds (checked now and after each observation)."""
        if condition():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (condition, future)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await future
        finally:
            self._waiters.remove(waiter)

    async def wait_requests(self, count: int) -> list[Request]:
        """Wait until ``count`` requests arrived; return the first ``count``."""
        await self.until(lambda: len(self.requests) >= count)
        return self.requests[:count]

    async def close(self) -> None:
        self._release.set()
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers))
        if server is not None:
            await server.wait_closed()

    def _observed(self) -> None:
        for condition, future in tuple(self._waiters):
            if not future.done() and condition():
                future.set_result(None)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        try:
            while (request := await _read_request(reader)) is not None:
                self.requests.append(request)
                reply = self._script.popleft() if self._script else self.default
                self._observed()
                if isinstance(reply, _Close):
                    break
                if isinstance(reply, _Hang):
                    await self._hold(reader)
                    break
                if isinstance(reply, Gate):
                    self.hanging += 1
                    self._observed()
                    try:
                        await reply.wait()
                    finally:
                        self.hanging -= 1
                    reply = reply.reply
                writer.write(_response(reply))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
            self._handlers.discard(task)

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        self.hanging += 1
        self._observed()
        gone = asyncio.ensure_future(reader.read(1))  # b"" once the client hangs up
        released = asyncio.ensure_future(self._release.wait())
        try:
            await asyncio.wait({gone, released}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in (gone, released):
                waiting.cancel()
            await asyncio.wait({gone, released})
            self.hanging -= 1
        if gone.done() and not gone.cancelled() and gone.exception() is None:
            self.abandoned += 1
            self._observed()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the client closed the connection between requests
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return Request(method, path, headers, body)


def _response(reply: Respond) -> bytes:
    reason = HTTPStatus(reply.status).phrase
    head = [f"HTTP/1.1 {reply.status} {reason}", f"Content-Length: {len(reply.body)}"]
    head += [f"{name}: {value}" for name, value in reply.headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + reply.body


def closed_port() -> int:
    """Return a loopback port nothing listens on (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def closed_port_url() -> str:
    """Return a loopback URL where nothing listens (connections are refused)."""
    return f"http://127.0.0.1:{closed_port()}/hook"
