"""A lean HTTP/1.1 client for the notifiers: httptools' parser on asyncio protocols.

httpx's default transport (httpcore over anyio) cost about 2 ms of CPU per request on
the benchmark machine, and h11 (pure Python) with ``httpx.Request``/``httpx.Response``
around it still 0.3-0.4 ms: more than everything else a notification costs. Here a
request is bytes written by hand (method, target, ``host``, the headers, checked as h11
checks them, ``content-length``) and the response is parsed by httptools (llhttp, C),
on a plain ``asyncio.Protocol`` per connection. ``Http1Transport.exchange`` is the
bytes-level call the notifiers use; ``handle_async_request`` makes the same transport an
``httpx`` transport (``httpx.AsyncClient(transport=Http1Transport())``). One connection
(the protocol, request bytes, response parsing) is ``_http1_connection.Connection``.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque

import httpx

from actors.notify._http1_connection import (
    Connection,
    Origin,
    RawResponse,
    Stale,
    Timeouts,
    header_lines,
    request_head,
)

__all__ = ["Http1Transport", "Origin", "RawResponse", "Timeouts", "header_lines", "request_head"]


class Http1Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio with a small keep-alive pool; also an httpx transport.

    At most ``max_connections`` requests are under way at once (a request waits up to the
    pool timeout for a slot, then fails with ``httpx.PoolTimeout``), and up to
    ``max_keepalive_connections`` idle connections per origin are kept for at most
    ``keepalive_expiry`` seconds. The timeouts are the request's (``Timeouts``; for
    httpx requests, the ``timeout`` extension; 5 s each without it), real network time;
    the read timeout bounds each wait for bytes of the response.

    A request that finds its reused keep-alive connection closed by the server (reset
    while writing, or end of stream before any byte of the response) is sent once more
    on a new connection, as browsers and httpcore do: the server never saw it. A
    connection that received anything it did not ask for (such as the 408 some servers
    send before closing an idle connection), or whose response says ``connection:
    close``, is not reused. Responses are read whole (at most ``max_response_bytes``;
    webhook answers are small) and errors are httpx's: ``ConnectError``,
    ``ConnectTimeout``, ``ReadTimeout``, ``WriteTimeout``, ``ReadError``, ``WriteError``,
    ``RemoteProtocolError``, ``LocalProtocolError``. ``https`` uses ``ssl_context``
    (httpx's default context when None). No proxies.
    """

    def __init__(
        self,
        *,
        max_connections: int = 10,
        max_keepalive_connections: int | None = None,
        keepalive_expiry: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        max_response_bytes: int = 1024 * 1024,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, not {max_connections}")
        self._slots = asyncio.Semaphore(max_connections)
        self._keepalive = (
            max_connections if max_keepalive_connections is None else max_keepalive_connections
        )
        self._expiry = keepalive_expiry
        self._ssl_context = ssl_context
        self._max_response = max_response_bytes
        self._idle: dict[Origin, deque[Connection]] = {}
        self._closed = False

    async def exchange(
        self, origin: Origin, data: bytes, timeouts: Timeouts, *, head: bool = False
    ) -> RawResponse:
        """Send ``data``, a whole request (``request_head`` and the body), to ``origin``.

        Returns the whole response; raises httpx's errors (see the class). ``head``: the
        request is a HEAD (its response has no body).
        """
        if self._closed:
            raise RuntimeError("the transport is closed")
        slots = self._slots
        if slots.locked():  # else acquire() returns at once: no timer needed
            try:
                async with asyncio.timeout(timeouts.pool):
                    await slots.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout("no connection slot free in time") from None
        else:
            await slots.acquire()
        try:
            connection = self._take_idle(origin)
            if connection is not None:
                try:
                    response = await connection.exchange(data, timeouts, head=head)
                except Stale:
                    pass  # the server closed it between requests: once more, on a new one
                else:
                    self._give_back(origin, connection)
                    return response
            connection = await self._connect(origin, timeouts)
            try:
                response = await connection.exchange(data, timeouts, head=head)
            except Stale as stale:  # pragma: no cover - a new connection is never stale
                raise httpx.RemoteProtocolError(
                    "server closed the connection without a response"
                ) from stale
            self._give_back(origin, connection)
            return response
        finally:
            slots.release()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send an ``httpx.Request`` (its body read whole); return the whole response."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}", request=request)
        body = await request.aread()
        headers = list(request.headers.raw)
        if body and not request.headers.get("content-length"):
            headers.append((b"content-length", str(len(body)).encode()))
        try:
            data = request_head(request.method.encode(), url.raw_path, headers) + body
            raw = await self.exchange(
                Origin.of(url),
                data,
                Timeouts.of(request.extensions.get("timeout", {})),
                head=request.method == "HEAD",
            )
        except httpx.RequestError as error:
            error.request = request
            raise
        return httpx.Response(
            raw.status,
            headers=raw.headers,
            content=raw.body,
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    # -- connections ---------------------------------------------------------------------

    def _take_idle(self, origin: Origin) -> Connection | None:
        connections = self._idle.get(origin)
        if not connections:
            return None
        now = time.monotonic()
        while connections:
            connection = connections.pop()
            if connection.reusable(now, self._expiry):
                return connection
            connection.close()
        return None

    def _give_back(self, origin: Origin, connection: Connection) -> None:
        if self._closed or connection.dirty or connection.lost:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        connection.used = True
        connections = self._idle.get(origin)
        if connections is None:
            connections = self._idle[origin] = deque()
        connections.append(connection)
        while len(connections) > self._keepalive:
            connections.popleft().close()

    async def _connect(self, origin: Origin, timeouts: Timeouts) -> Connection:
        scheme, raw_host, port = origin
        host = raw_host.decode("ascii")
        context: ssl.SSLContext | None = None
        if scheme == b"https":
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context()
            context = self._ssl_context
        elif scheme != b"http":
            raise httpx.UnsupportedProtocol(f"unsupported scheme {scheme.decode()!r}")
        loop = asyncio.get_running_loop()
        max_response = self._max_response
        try:
            async with asyncio.timeout(timeouts.connect):
                _, connection = await loop.create_connection(
                    lambda: Connection(max_response),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except (OSError, ssl.SSLError) as error:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {error}") from error
        return connection
