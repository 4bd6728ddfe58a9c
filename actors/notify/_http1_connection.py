"""One HTTP/1.1 connection of ``Http1Transport``: request bytes written by hand, the
response parsed by httptools (llhttp, C) on a plain ``asyncio.Protocol``.

The small types it speaks in (``Timeouts``, ``RawResponse``, ``Stale``) and the
request-head helpers are in actors/notify/_http1_wire.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httptools
import httpx

from actors.notify._http1_wire import RawResponse, Stale, Timeouts

__all__ = ["Connection"]


_new_tuple = tuple.__new__


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one exchange at a time, the response parsed as it comes.

    The parser callbacks (``on_*``) are httptools'; an exchange's outcome is a future
    that ``exchange`` awaits (with the read timeout checked by one timer). A caller that
    waits by callback sets ``notify`` instead (see ``start``).
    """

    def __init__(self, max_response: int) -> None:
        self.transport: asyncio.Transport | None = None
        self.max_response = max_response
        self.idle_since = 0.0
        self.used = False
        self.dirty = False  # bytes nobody asked for, or a response not fit for reuse
        self.lost = False
        self.unsent = False  # answered before the request was all written (_drain)
        self._loop = asyncio.get_running_loop()
        self._paused: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[RawResponse] | None = None
        self.notify: Callable[[asyncio.Future[RawResponse]], None] | None = None
        """Called once with the exchange's future when it is done (see ``start``)."""
        self._parser: httptools.HttpResponseParser | None = None
        # One parser for the connection's life: llhttp parses one response after the
        # other, and only a connection whose last response ended cleanly is reused.
        self._reader: httptools.HttpResponseParser | None = None
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
        # Any stream transport: uvloop's TCPTransport does not subclass asyncio.Transport.
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, error: Exception | None) -> None:
        self.lost = True
        paused, self._paused = self._paused, None
        if paused is not None and not paused.done():
            paused.set_result(None)
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        self._lose(waiter, error)
        if self.notify is not None:
            self._notify()

    def _lose(self, waiter: asyncio.Future[RawResponse], error: Exception | None) -> None:
        if self._headers_done and not self._delimited and error is None:
            self._finish()  # the body ran until the server closed: that is its end
        elif self._received == 0 and self.used:
            waiter.set_exception(Stale())
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
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server switched protocols"))
        except httptools.HttpParserError as error:
            # Garbage after a whole response only retires the connection (_fail does
            # nothing more once the response is complete).
            self._fail(httpx.RemoteProtocolError(f"invalid HTTP response: {error}"))
        if waiter.done():
            # Told now, after the parser returned (never from inside it: the callback
            # may give this connection back and start the next exchange on it).
            if self.notify is not None:
                self._notify()
        else:
            self._last_read = self._loop.time()  # the read timeout counts from here

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
        delimited = status == 204 or status == 304 or self._head
        if not delimited:
            for name, _ in self._headers:
                lowered = name.lower()
                if lowered == b"content-length" or lowered == b"transfer-encoding":
                    delimited = True
                    break
        self._delimited = delimited
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

    async def exchange(self, data: bytes, timeouts: Timeouts, *, head: bool = False) -> RawResponse:
        """Send ``data`` (a whole request), return the whole response.

        Raises httpx's errors, or ``Stale`` for a reused connection the server had
        closed. The connection is closed unless the exchange ended cleanly.
        """
        return await self.finish(self.start(data, timeouts, head=head), timeouts)

    def start(
        self, data: bytes, timeouts: Timeouts, *, head: bool = False
    ) -> asyncio.Future[RawResponse]:
        """Send ``data`` (a whole request); return the future of the whole response.

        ``exchange`` without its wait, for callers that wait by callback: unless
        ``paused`` (then ``finish`` must wait, for the write), the future is all there
        is to wait for, and ``settle`` must be called once it is done. Such a caller
        sets ``notify`` rather than adding a done callback to the future: it is called
        with the future as soon as it is done (from ``data_received`` once the parser
        has returned, ``connection_lost``, the read timeout or ``abort``), not one loop
        iteration later. Raises as ``exchange`` does when nothing could be sent.
        """
        transport = self.transport
        if transport is None or self.lost or transport.is_closing():
            if self.used:
                raise Stale
            raise httpx.WriteError("the connection is closed")
        self._waiter = waiter = self._loop.create_future()
        parser = self._reader
        if parser is None:
            parser = self._reader = httptools.HttpResponseParser(self)
        self._parser = parser
        self._head = head
        self._received = 0
        self._complete = False
        self._headers_done = False
        self._delimited = False
        self._read_timeout = timeouts.read
        try:
            transport.write(data)
        except BaseException:
            self.settle(False)
            raise
        if self._paused is None and (read := timeouts.read) is not None:
            self._arm_read(read)  # _watch_read, without its checks: just made true
        return waiter

    @property
    def paused(self) -> bool:
        """True while the transport holds back writes (``finish`` waits for them)."""
        return self._paused is not None

    async def finish(self, waiter: asyncio.Future[RawResponse], timeouts: Timeouts) -> RawResponse:
        """Wait for the exchange ``start`` began (the write, then ``waiter``); settle it."""
        done = False
        try:
            if self._paused is not None:
                await self._drain(timeouts.write)
                self._watch_read()
            response = await waiter
            done = True
            return response
        finally:
            self.settle(done)

    def settle(self, clean: bool) -> None:
        """End the exchange under way; the connection is dropped unless it ended ``clean``."""
        waiter = self._waiter
        if waiter is not None and waiter.done() and not waiter.cancelled():
            # The response may have failed while the write waited for room, and the
            # exchange ended on the write (a timeout) without awaiting it: mark that
            # error seen, or the collector reports it as never retrieved.
            waiter.exception()
        self.clear()
        if not clean:
            self.abort()

    def clear(self) -> None:
        """End an exchange whose future holds its response: ``settle(True)`` for it."""
        self._waiter = None
        self.notify = None
        self._parser = None
        self._chunks = []

    def _watch_read(self) -> None:
        read, waiter = self._read_timeout, self._waiter
        if read is None or waiter is None or waiter.done():
            return
        self._arm_read(read)

    def _arm_read(self, read: float) -> None:
        self._last_read = now = self._loop.time()
        # One timer outlives the exchanges: armed once per read timeout rather than
        # made and cancelled for every request (it re-arms itself while an exchange is
        # waiting, and lapses once the connection is idle).
        timer = self._timer
        if timer is None or timer.when() > now + read:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(now + read, self._check_read)

    async def _drain(self, timeout: float | None) -> None:
        paused, waiter = self._paused, self._waiter
        if paused is None:
            return
        try:
            async with asyncio.timeout(timeout):
                if waiter is None:
                    await asyncio.shield(paused)
                else:
                    # Whichever comes first: room to write, or the response. A server may
                    # answer before it has read the body (a 413, a 401) and stop reading:
                    # that answer is the outcome, not the write timeout that would follow.
                    await asyncio.wait((paused, waiter), return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise httpx.WriteTimeout("writing the request timed out") from None
        if waiter is not None and waiter.done() and self._paused is not None:
            # Answered with the request not all written: never reuse the connection, and
            # drop rather than close it (close would wait to flush the rest, for good if
            # the server stopped reading).
            self.dirty = True
            self.unsent = True
            return
        if self.lost and self._waiter is not None and not self._waiter.done():
            if self.used and self._received == 0:
                raise Stale
            raise httpx.WriteError("the connection closed while writing the request")

    def _check_read(self) -> None:
        self._timer = None
        waiter, timeout = self._waiter, self._read_timeout
        if waiter is None or waiter.done() or timeout is None:
            return
        due = self._last_read + timeout
        if self._loop.time() >= due:
            waiter.set_exception(httpx.ReadTimeout("reading the response timed out"))
            if self.notify is not None:
                self._notify()
        else:
            self._timer = self._loop.call_at(due, self._check_read)

    def _finish(self) -> None:
        self._complete = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
            # tuple.__new__ rather than RawResponse(...): a NamedTuple's own __new__ is
            # a Python function, a frame per response.
            response = _new_tuple(RawResponse, (self._status, self._headers, body))
            waiter.set_result(response)

    def _fail(self, error: Exception) -> None:
        self.dirty = True
        if self._complete:
            return
        self._complete = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def abort(self, error: Exception | None = None) -> None:
        """Drop the connection now, with what is left unsent; fail the exchange with ``error``.

        ``close`` would wait to flush the request first, for good if the server stopped
        reading (a write timeout): the socket, and an exchange waiting for its end, with it.
        """
        if error is not None:
            self._fail(error)
        self.dirty = True
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        if self.transport is not None:
            self.transport.abort()
        if self.notify is not None:
            self._notify()

    def _notify(self) -> None:
        # Tell ``notify`` (once) that the exchange's future is done, if it is.
        waiter, notify = self._waiter, self.notify
        if waiter is not None and notify is not None and waiter.done():
            self.notify = None
            try:
                notify(waiter)
            except Exception as error:
                # As for a future's callback: the loop's exception handler hears it;
                # raised from data_received, it would cost the connection.
                self._loop.call_exception_handler(
                    {
                        "message": "exception in an HTTP exchange's completion callback",
                        "exception": error,
                        "protocol": self,
                    }
                )

    def close(self) -> None:
        if self.unsent:
            self.abort()
            return
        self.dirty = True
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        if self.transport is not None:
            self.transport.close()
