"""A lean HTTP/1.1 client for the notifiers: httptools' parser on asyncio protocols.

httpx's default transport (httpcore over anyio) cost about 2 ms of CPU per request on
the benchmark machine, and h11 (pure Python) with ``httpx.Request``/``httpx.Response``
around it still 0.3-0.4 ms: more than everything else a notification costs. Here a
request is bytes written by hand (method, target, ``host``, the headers, checked as h11
checks them, ``content-length``) and the response is parsed by httptools (llhttp, C),
on a plain ``asyncio.Protocol`` per connection. ``Http1Transport.exchange`` is the
bytes-level call the notifiers use; ``handle_async_request`` makes the same transport an
``httpx`` transport (``httpx.AsyncClient(transport=Http1Transport())``).
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import httptools
import httpx

__all__ = ["Http1Transport", "Origin", "RawResponse", "Timeouts", "header_lines", "request_head"]

_DEFAULT_TIMEOUT = 5.0
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_BAD_VALUE = re.compile(rb"[\r\n\x00]")


class Origin(NamedTuple):
    """Where a request goes: scheme (``b"http"``/``b"https"``), host, port."""

    scheme: bytes
    host: bytes
    port: int

    @classmethod
    def of(cls, url: httpx.URL) -> Origin:
        """Return the origin of ``url`` (default port by scheme)."""
        scheme = url.raw_scheme
        return cls(scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80))


class Timeouts(NamedTuple):
    """Seconds for connect, read (between bytes), write and the wait for a pool slot."""

    connect: float | None = _DEFAULT_TIMEOUT
    read: float | None = _DEFAULT_TIMEOUT
    write: float | None = _DEFAULT_TIMEOUT
    pool: float | None = _DEFAULT_TIMEOUT

    @classmethod
    def of(cls, extension: Mapping[str, float | None]) -> Timeouts:
        """Return the timeouts of httpx's ``timeout`` request extension (5 s if absent)."""
        get = extension.get
        return cls(
            get("connect", _DEFAULT_TIMEOUT),
            get("read", _DEFAULT_TIMEOUT),
            get("write", _DEFAULT_TIMEOUT),
            get("pool", _DEFAULT_TIMEOUT),
        )


class RawResponse(NamedTuple):
    """A whole response: status, headers (as received), body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def request_head(method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Return the request line and header block, ending with the blank line.

    ``headers`` must include ``host`` and the body's framing (``content-length``).
    Raises ``httpx.LocalProtocolError`` as ``header_lines`` does.
    """
    return b"".join((method, b" ", target, b" HTTP/1.1\r\n", header_lines(headers), b"\r\n"))


def header_lines(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Return ``name: value\\r\\n`` for each header, in order.

    Raises ``httpx.LocalProtocolError`` for a name that is not a token, or a value
    holding CR, LF or NUL (what h11 refuses: they would split the request).
    """
    lines: list[bytes] = []
    for name, value in headers:
        if _TOKEN.fullmatch(name) is None:
            raise httpx.LocalProtocolError(f"illegal header name {name!r}")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value) is not None:
            raise httpx.LocalProtocolError(f"illegal header value {value!r}")
        lines += (name, b": ", value, b"\r\n")
    return b"".join(lines)


class _Stale(Exception):
    """A reused connection was closed by the server before any byte of the response."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one exchange at a time, the response parsed as it comes.

    The parser callbacks (``on_*``) are httptools'; an exchange's outcome is a future
    that ``exchange`` awaits (with the read timeout checked by one timer).
    """

    def __init__(self, max_response: int) -> None:
        self.transport: asyncio.Transport | None = None
        self.max_response = max_response
        self.idle_since = 0.0
        self.used = False
        self.dirty = False  # bytes nobody asked for, or a response not fit for reuse
        self.lost = False
        self._loop = asyncio.get_running_loop()
        self._paused: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[RawResponse] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._received = 0
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._read_timeout: float | None = None
        self._head = False
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._chunks: list[bytes] = []
        self._size = 0
        self._headers_done = False
        self._delimited = False  # the body's end is known (length, chunks, or none)
        self._complete = False

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, error: Exception | None) -> None:
        self.lost = True
        paused, self._paused = self._paused, None
        if paused is not None and not paused.done():
            paused.set_result(None)
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and not self._delimited and error is None:
            self._finish()  # the body ran until the server closed: that is its end
        elif self._received == 0 and self.used:
            waiter.set_exception(_Stale())
        elif error is not None:
            failure = httpx.ReadError(f"reading the response failed: {error}")
            failure.__cause__ = error
            waiter.set_exception(failure)
        else:
            waiter.set_exception(
                httpx.RemoteProtocolError("server closed the connection mid-response")
            )

    def data_received(self, data: bytes) -> None:
        waiter, parser = self._waiter, self._parser
        if waiter is None or parser is None or self._complete:
            self.dirty = True  # unasked bytes (such as a parting 408): never reuse
            return
        self._received += len(data)
        self._last_read = self._loop.time()
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server switched protocols"))
        except httptools.HttpParserError as error:
            # Garbage after a whole response only retires the connection (_fail does
            # nothing more once the response is complete).
            self._fail(httpx.RemoteProtocolError(f"invalid HTTP response: {error}"))

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost decides what the end means

    def pause_writing(self) -> None:
        if self._paused is None:
            self._paused = self._loop.create_future()

    def resume_writing(self) -> None:
        paused, self._paused = self._paused, None
        if paused is not None and not paused.done():
            paused.set_result(None)

    # -- httptools callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            self.dirty = True  # a second response: nobody asked for it
            return
        self._status = 0
        self._headers = []
        self._chunks = []
        self._size = 0
        self._headers_done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._complete:
            self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._complete:
            return
        assert self._parser is not None
        self._status = status = self._parser.get_status_code()
        if 100 <= status < 200:
            return  # informational: the real response follows
        self._headers_done = True
        names = {name.lower() for name, _ in self._headers}
        self._delimited = (
            b"content-length" in names
            or b"transfer-encoding" in names
            or status in (204, 304)
            or self._head
        )
        if self._head:  # no body follows, whatever the headers say
            self.dirty = True
            self._finish()

    def on_body(self, body: bytes) -> None:
        if self._complete:
            return
        self._size += len(body)
        if self._size > self.max_response:
            self._fail(httpx.RemoteProtocolError(f"response body over {self.max_response} bytes"))
            return
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if self._complete or not self._headers_done:
            return  # after an informational response, or after the end
        assert self._parser is not None
        if not self._parser.should_keep_alive():
            self.dirty = True
        self._finish()

    # -- exchanges ---------------------------------------------------------------------

    def reusable(self, now: float, expiry: float) -> bool:
        transport = self.transport
        return (
            now - self.idle_since < expiry
            and not self.dirty
            and not self.lost
            and transport is not None
            and not transport.is_closing()
        )

    async def exchange(self, data: bytes, timeouts: Timeouts, *, head: bool = False) -> RawResponse:
        """Send ``data`` (a whole request), return the whole response.

        Raises httpx's errors, or ``_Stale`` for a reused connection the server had
        closed. The connection is closed unless the exchange ended cleanly.
        """
        transport = self.transport
        if transport is None or self.lost or transport.is_closing():
            if self.used:
                raise _Stale
            raise httpx.WriteError("the connection is closed")
        loop = self._loop
        self._waiter = waiter = loop.create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._head = head
        self._received = 0
        self._complete = False
        self._headers_done = False
        self._delimited = False
        done = False
        try:
            transport.write(data)
            if self._paused is not None:
                await self._drain(timeouts.write)
            read = timeouts.read
            self._read_timeout = read
            if read is not None and not waiter.done():
                self._last_read = now = loop.time()
                # One timer outlives the exchanges: armed once per read timeout rather
                # than made and cancelled for every request (it re-arms itself while an
                # exchange is waiting, and lapses once the connection is idle).
                timer = self._timer
                if timer is None or timer.when() > now + read:
                    if timer is not None:
                        timer.cancel()
                    self._timer = loop.call_at(now + read, self._check_read)
            response = await waiter
            done = True
            return response
        finally:
            self._waiter = None
            self._parser = None
            self._chunks = []
            if not done:
                self.close()

    async def _drain(self, timeout: float | None) -> None:
        paused = self._paused
        if paused is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(paused)
        except TimeoutError:
            raise httpx.WriteTimeout("writing the request timed out") from None
        if self.lost and self._waiter is not None and not self._waiter.done():
            if self.used and self._received == 0:
                raise _Stale
            raise httpx.WriteError("the connection closed while writing the request")

    def _check_read(self) -> None:
        self._timer = None
        waiter, timeout = self._waiter, self._read_timeout
        if waiter is None or waiter.done() or timeout is None:
            return
        due = self._last_read + timeout
        if self._loop.time() >= due:
            waiter.set_exception(httpx.ReadTimeout("reading the response timed out"))
        else:
            self._timer = self._loop.call_at(due, self._check_read)

    def _finish(self) -> None:
        self._complete = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
            waiter.set_result(RawResponse(self._status, self._headers, body))

    def _fail(self, error: Exception) -> None:
        self.dirty = True
        if self._complete:
            return
        self._complete = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def close(self) -> None:
        self.dirty = True
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        if self.transport is not None:
            self.transport.close()


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
        self._idle: dict[Origin, deque[_Connection]] = {}
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
                except _Stale:
                    pass  # the server closed it between requests: once more, on a new one
                else:
                    self._give_back(origin, connection)
                    return response
            connection = await self._connect(origin, timeouts)
            try:
                response = await connection.exchange(data, timeouts, head=head)
            except _Stale as stale:  # pragma: no cover - a new connection is never stale
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

    def _take_idle(self, origin: Origin) -> _Connection | None:
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

    def _give_back(self, origin: Origin, connection: _Connection) -> None:
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

    async def _connect(self, origin: Origin, timeouts: Timeouts) -> _Connection:
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
                    lambda: _Connection(max_response),
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
