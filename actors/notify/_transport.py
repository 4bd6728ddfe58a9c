"""A lean HTTP/1.1 transport for httpx: h11 over asyncio streams, with a keep-alive pool.

httpx's default transport (httpcore over anyio) cost about 2 ms of CPU per request on
the benchmark machine, more than everything else a notification costs; this one speaks
the same ``httpx.Request``/``httpx.Response`` through h11 (the HTTP/1.1 state machine
httpcore uses) on plain asyncio streams.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from typing import Any

import h11
import httpx

__all__ = ["H11Transport"]

_READ_SIZE = 64 * 1024
_DEFAULT_TIMEOUT = 5.0


class _Connection:
    __slots__ = ("h11", "idle_since", "reader", "used", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0
        self.used = False

    def reusable(self, now: float, expiry: float) -> bool:
        # A keep-alive connection the server closed, or that sent something unasked (such
        # as the 408 some servers send before closing an idle connection), is dead: its
        # bytes must not be read as the answer to the next request.
        return (
            now - self.idle_since < expiry
            and not self.writer.is_closing()
            and not self.reader.at_eof()
            and self.reader.exception() is None
            and not getattr(self.reader, "_buffer", b"")
        )

    def close(self) -> None:
        self.writer.close()


class _Stale(Exception):
    """A reused connection was closed by the server before any byte of the response."""


class H11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio streams with a small keep-alive pool; an httpx transport.

    At most ``max_connections`` requests are under way at once (a request waits up to the
    pool timeout for a slot, then fails with ``httpx.PoolTimeout``), and up to
    ``max_keepalive_connections`` idle connections per origin are kept for at most
    ``keepalive_expiry`` seconds. The timeouts are the request's (httpx's ``timeout``
    extension: connect, read, write, pool; 5 s each without it), real network time.

    A request that finds its reused keep-alive connection closed by the server (reset
    while writing, or end of stream before any byte of the response) is sent once more
    on a new connection, as browsers and httpcore do: the server never saw it.
    Responses are read whole (at most ``max_response_bytes``; webhook answers are small)
    and errors are httpx's: ``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``,
    ``WriteTimeout``, ``ReadError``, ``WriteError``, ``RemoteProtocolError``.
    ``https`` uses ``ssl_context`` (httpx's default context when None). No proxies.
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
        self._idle: dict[tuple[bytes, bytes, int], deque[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport is closed")
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        if self._slots.locked():  # else acquire() returns at once: no timer needed
            try:
                async with asyncio.timeout(timeouts.get("pool", _DEFAULT_TIMEOUT)):
                    await self._slots.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout(
                    "no connection slot free in time", request=request
                ) from None
        else:
            await self._slots.acquire()
        try:
            body = await request.aread()
            connection = self._take_idle(request)
            if connection is not None:
                try:
                    return await self._exchange(connection, request, body, timeouts)
                except _Stale:
                    pass  # the server closed it between requests: once more, on a new one
            connection = await self._connect(request, timeouts)
            try:
                return await self._exchange(connection, request, body, timeouts)
            except _Stale as stale:
                raise httpx.RemoteProtocolError(
                    "server closed the connection without a response", request=request
                ) from stale.__cause__
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    # -- connections ---------------------------------------------------------------------

    def _take_idle(self, request: httpx.Request) -> _Connection | None:
        connections = self._idle.get(_origin(request))
        now = time.monotonic()
        while connections:
            connection = connections.pop()
            if connection.reusable(now, self._expiry):
                return connection
            connection.close()
        return None

    def _give_back(self, request: httpx.Request, connection: _Connection) -> None:
        state = connection.h11
        if (
            self._closed
            or state.our_state is not h11.DONE
            or state.their_state is not h11.DONE
            or any(state.trailing_data)  # bytes after the response, or its end of stream
        ):
            connection.close()
            return
        state.start_next_cycle()
        connection.idle_since = time.monotonic()
        connection.used = True
        connections = self._idle.setdefault(_origin(request), deque())
        connections.append(connection)
        while len(connections) > self._keepalive:
            connections.popleft().close()

    async def _connect(
        self, request: httpx.Request, timeouts: dict[str, float | None]
    ) -> _Connection:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {scheme!r}", request=request)
        host = url.host
        port = url.port or (443 if scheme == "https" else 80)
        context: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context()
            context = self._ssl_context
        try:
            async with asyncio.timeout(timeouts.get("connect", _DEFAULT_TIMEOUT)):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                    limit=_READ_SIZE,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"connecting to {host}:{port} timed out", request=request
            ) from None
        except (OSError, ssl.SSLError) as error:
            raise httpx.ConnectError(
                f"cannot connect to {host}:{port}: {error}", request=request
            ) from error
        return _Connection(reader, writer)

    # -- one request ---------------------------------------------------------------------

    async def _exchange(
        self,
        connection: _Connection,
        request: httpx.Request,
        body: bytes,
        timeouts: dict[str, float | None],
    ) -> httpx.Response:
        done = False
        try:
            response = await self._send_and_read(connection, request, body, timeouts)
            done = True
        finally:
            if not done:  # failed or cancelled: the connection's state is unknown
                connection.close()
        self._give_back(request, connection)
        return response

    async def _send_and_read(
        self,
        connection: _Connection,
        request: httpx.Request,
        body: bytes,
        timeouts: dict[str, float | None],
    ) -> httpx.Response:
        state = connection.h11
        reused = connection.used
        try:
            head = state.send(
                h11.Request(
                    method=request.method,
                    target=request.url.raw_path,
                    headers=list(request.headers.raw),
                )
            )
            data = (head or b"") + (state.send(h11.Data(data=body)) or b"") if body else head
            data = (data or b"") + (state.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as error:
            raise httpx.LocalProtocolError(str(error), request=request) from error
        writer = connection.writer
        try:
            writer.write(data)
            if writer.transport.get_write_buffer_size():  # the socket did not take it all
                async with asyncio.timeout(timeouts.get("write", _DEFAULT_TIMEOUT)):
                    await writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("writing the request timed out", request=request) from None
        except OSError as error:
            if reused:
                raise _Stale from error
            raise httpx.WriteError(
                f"writing the request failed: {error}", request=request
            ) from error

        received = 0
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        size = 0
        read_timeout = timeouts.get("read", _DEFAULT_TIMEOUT)
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as error:
                raise httpx.RemoteProtocolError(str(error), request=request) from error
            if event is h11.NEED_DATA:
                try:
                    async with asyncio.timeout(read_timeout):
                        chunk = await connection.reader.read(_READ_SIZE)
                except TimeoutError:
                    raise httpx.ReadTimeout(
                        "reading the response timed out", request=request
                    ) from None
                except OSError as error:
                    if reused and received == 0:
                        raise _Stale from error
                    raise httpx.ReadError(
                        f"reading the response failed: {error}", request=request
                    ) from error
                if not chunk and received == 0 and reused:
                    raise _Stale
                received += len(chunk)
                state.receive_data(chunk)
            elif isinstance(event, h11.InformationalResponse):
                continue
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = list(event.headers)
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > self._max_response:
                    raise httpx.RemoteProtocolError(
                        f"response body over {self._max_response} bytes", request=request
                    )
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            else:  # ConnectionClosed before the end of the response
                raise httpx.RemoteProtocolError(
                    "server closed the connection mid-response", request=request
                )
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        return httpx.Response(
            status,
            headers=headers,
            content=b"".join(chunks),
            request=request,
            extensions=extensions,
        )


def _origin(request: httpx.Request) -> tuple[bytes, bytes, int]:
    url = request.url
    scheme = url.raw_scheme
    return scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80)
