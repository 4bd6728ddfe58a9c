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
import functools
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

from actors.notify._http1_connection import Connection
from actors.notify._http1_wire import (
    Origin,
    RawResponse,
    Stale,
    Timeouts,
    header_lines,
    request_head,
)
from actors.notify._slots import Slots

__all__ = [
    "Answered",
    "Http1Transport",
    "Origin",
    "RawResponse",
    "Timeouts",
    "header_lines",
    "request_head",
]

Answered = Callable[[RawResponse | None, BaseException | None], None]
"""What ``Http1Transport.start`` calls with the outcome: the response, or the error."""


def _closed() -> httpx.ReadError:
    return httpx.ReadError("the transport was closed during the exchange")


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
        self._slots = Slots(max_connections)
        self._keepalive = (
            max_connections if max_keepalive_connections is None else max_keepalive_connections
        )
        self._expiry = keepalive_expiry
        self._ssl_context = ssl_context
        self._max_response = max_response_bytes
        self._idle: dict[Origin, deque[Connection]] = {}
        # Exchanges begun by ``start``: what ``_started`` waits on (the response, or the
        # task that waits for a paused write, then for it).
        self._busy: dict[Connection, asyncio.Future[RawResponse]] = {}
        self._retries: set[asyncio.Future[Any]] = set()  # tasks
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
        await slots.take(timeouts.pool)
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

    def ready(self, origin: Origin) -> bool:
        """Say whether ``start`` would begin an exchange with ``origin`` now.

        True when a slot is free with nobody waiting for one and a kept-alive
        connection to ``origin`` is idle (``start`` connects anew, in a task, if it
        finds that one expired). Callers that build a request only to ``start`` it ask
        first, so that a request that goes by ``exchange`` instead is built once.
        """
        slots = self._slots  # Slots.available, inline: asked before every send
        if self._closed or slots.free <= 0 or slots.waiters:
            return False
        return bool(self._idle.get(origin))

    def start(self, origin: Origin, data: bytes, timeouts: Timeouts, answered: Answered) -> bool:
        """Begin ``exchange`` without awaiting it, if a slot is free; say whether it did.

        With a kept-alive connection to ``origin`` idle, ``data`` is written now, and
        no task or coroutine is made: the notifiers' sends are callbacks on the
        response. Without one (all expired), ``exchange`` connects in a task. Either
        way ``answered(response, None)`` or ``answered(None, error)`` is called later,
        never from inside ``start``, with what ``exchange`` would return or raise (a
        kept-alive connection found closed is retried once on a new one, as there),
        once the slot and the connection are given back: if ``answered`` raises, the
        loop's exception handler hears it and the pool is whole. False (no slot free,
        or closed): nothing was done; use ``exchange``.
        """
        slots = self._slots
        if self._closed or slots.free <= 0 or slots.waiters:  # Slots.try_take, inline
            return False
        slots.free -= 1
        connection = self._take_idle(origin)
        if connection is not None:
            try:
                waiter = connection.start(data, timeouts)
            except Stale:
                connection = None  # closed since it went idle: connect anew, below
            except BaseException:
                slots.release()
                raise
        if connection is None:
            slots.release()
            self._again(origin, data, timeouts, answered)
            return True
        done = functools.partial(self._started, origin, connection, data, timeouts, answered)
        if connection.paused:  # the write waits for room: a task waits with it
            task = asyncio.get_running_loop().create_task(connection.finish(waiter, timeouts))
            self._busy[connection] = task
            task.add_done_callback(done)
        else:
            # Told by the connection as the response completes, without a loop
            # iteration in between (a future's callbacks are scheduled, not called).
            self._busy[connection] = waiter
            connection.notify = done
        return True

    def _started(
        self,
        origin: Origin,
        connection: Connection,
        data: bytes,
        timeouts: Timeouts,
        answered: Answered,
        outcome: asyncio.Future[RawResponse],
    ) -> None:
        del self._busy[connection]
        slots = self._slots
        if slots.waiters:
            slots.release()
        else:
            slots.free += 1  # Slots.release, inline: nobody waits for a slot
        if not outcome.cancelled() and outcome.exception() is None:
            # The common case, settled inline (Connection.settle for a clean end).
            connection.clear()
            self._give_back(origin, connection)
            answered(outcome.result(), None)
            return
        if outcome.cancelled():
            error: BaseException | None = _closed() if self._closed else asyncio.CancelledError()
        else:
            error = outcome.exception()
        connection.settle(error is None)  # again after ``finish``: harmless
        if error is None:
            self._give_back(origin, connection)
            answered(outcome.result(), None)
        elif isinstance(error, Stale) and not self._closed:  # closed between requests
            self._again(origin, data, timeouts, answered)
        elif isinstance(error, Stale):
            answered(None, _closed())
        else:
            answered(None, error)

    def _again(self, origin: Origin, data: bytes, timeouts: Timeouts, answered: Answered) -> None:
        # ``exchange`` in a task (a new connection, a wait for a slot), answered when done.
        task = asyncio.get_running_loop().create_task(self.exchange(origin, data, timeouts))
        self._retries.add(task)
        task.add_done_callback(functools.partial(self._retried, answered))

    def _retried(self, answered: Answered, task: asyncio.Task[RawResponse]) -> None:
        self._retries.discard(task)
        if task.cancelled():
            answered(None, _closed() if self._closed else asyncio.CancelledError())
        elif (error := task.exception()) is not None:
            answered(None, error)
        else:
            answered(task.result(), None)

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
        """Close the connections; end the exchanges begun by ``start`` and wait for them.

        Their callers hear ``httpx.ReadError`` before this returns, and their slots are
        back by then. Exchanges awaited in ``exchange`` are their
        callers' to cancel.
        """
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()
        # Dropped, not closed: ``close`` would first wait for a paused write to flush,
        # and a server that stopped reading would hold the exchange, and its slot, for good.
        ending: list[asyncio.Future[Any]] = []
        for connection, outcome in list(self._busy.items()):
            connection.abort(_closed())  # a task waiting for a paused write hears it too
            ending.append(outcome)
        for task in list(self._retries):
            task.cancel()
            ending.append(task)
        if ending:
            # Their callbacks were added before ``wait``'s: they have run when it returns.
            await asyncio.wait(ending)

    # -- connections ---------------------------------------------------------------------

    def _take_idle(self, origin: Origin) -> Connection | None:
        connections = self._idle.get(origin)
        if not connections:
            return None
        now = time.monotonic()
        expiry = self._expiry
        while connections:
            connection = connections.pop()
            # Reusable: idle for less than the expiry, clean, and still open.
            transport = connection.transport
            if (
                now - connection.idle_since < expiry
                and not connection.dirty
                and not connection.lost
                and transport is not None
                and not transport.is_closing()
            ):
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
