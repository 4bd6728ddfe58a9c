"""Connection: one client socket as the registry and its session share it.

websockets has no backpressure on a push (``broadcast`` writes into the transport's
buffer however full it is), and its ping timeouts do not shed a client that stops reading
(ping and close wait for the buffer to drain, see REFERENCE.md). So every push checks the
transport's write buffer first: past ``max_pending_bytes`` the client is a slow consumer,
and it is disconnected with 1013 without anyone else waiting for it.

The kernel's send buffer counts too: on Linux it grows by itself up to ~4 MB per socket
(``tcp_wmem``), all of which a client that does not read lets the server fill (and spend
CPU copying into) before a single byte stays in the transport's buffer. A connection
made with ``send_buffer_bytes`` fixes ``SO_SNDBUF`` instead, so a stalled client is found
after that much (the kernel doubles it for its bookkeeping) plus ``max_pending_bytes``.

A push writes a whole WebSocket frame to the transport itself, as ``broadcast`` does
through websockets' Sans-I/O protocol but without building the frame again for every
client: a server's frames are not masked, so one frame's bytes (``text_frame``) serve
every connection. That holds only without extensions: the gateway serves with
``compression=None`` (permessage-deflate would compress per connection).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State

from gateway._auth import Identity
from supervision import Clock

__all__ = ["SLOW_CONSUMER", "Connection", "close_within", "text_frame"]

SLOW_CONSUMER = "slow consumer: the client is not reading its frames"


def text_frame(payload: bytes) -> bytes:
    """Return the UTF-8 JSON ``payload`` as a server's WebSocket text frame, ready to write.

    One unfragmented, unmasked frame with no extension bits: the same bytes for every
    connection of a server without compression, so serialize it once per event.
    """
    return Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=())


class Connection:
    """The server's handle on one authenticated client: push frames, shed it, close it.

    ``push`` writes a text frame at once (it never waits), or sheds the client if more
    than ``max_pending_bytes`` are still unsent; ``push_frame`` does the same with a
    frame serialized by ``text_frame``. ``send_buffer_bytes``: the socket's ``SO_SNDBUF``
    (0 leaves the kernel's autotuning on; see the module doc). ``ValueError`` if ``ws``
    negotiated an extension (serve with ``compression=None``): frames are written as
    they are.

    ``close`` starts the closing handshake in a task this object owns; the socket is
    aborted if the handshake does not finish within ``close_timeout`` (a client that
    does not read never answers it). Whoever created the connection awaits
    ``wait_closed`` before forgetting it.
    """

    __slots__ = (
        "_clock",
        "_close_timeout",
        "_closing",
        "_grace",
        "_limit",
        "_on_shed",
        "_protocol",
        "_transport",
        "close_code",
        "connection_id",
        "identity",
        "ws",
    )

    def __init__(
        self,
        ws: ServerConnection,
        connection_id: str,
        identity: Identity,
        *,
        max_pending_bytes: int,
        close_timeout: float,
        clock: Clock,
        on_shed: Callable[[], None] | None = None,
        send_buffer_bytes: int = 0,
    ) -> None:
        if ws.protocol.extensions:
            raise ValueError("a Connection writes frames as they are: serve with compression=None")
        if send_buffer_bytes:
            sock = ws.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
        self.ws = ws
        self._protocol = ws.protocol
        self._transport = ws.transport
        self.connection_id = connection_id
        self.identity = identity
        self.close_code: int | None = None
        self._limit = max_pending_bytes
        self._grace = 0
        self._close_timeout = close_timeout
        self._clock = clock
        self._closing: asyncio.Task[None] | None = None
        self._on_shed = on_shed

    def __repr__(self) -> str:
        return f"<Connection {self.connection_id} user={self.identity.user!r}>"

    @property
    def is_open(self) -> bool:
        """Return True while frames can be pushed (open, and not closing)."""
        return self._closing is None and self._protocol.state is State.OPEN

    def pending_bytes(self) -> int:
        """Return how many bytes are written but not yet sent to the client."""
        return self._transport.get_write_buffer_size()

    def check(self) -> bool:
        """Shed the client if it is a slow consumer; return whether it is still open."""
        if not self.is_open:
            return False
        pending = self.pending_bytes()
        if pending <= self._limit:
            self._grace = 0
            return True
        if pending <= self._limit + self._grace:
            return True
        self.shed()
        return False

    def push(self, frame: bytes, *, large: bool = False) -> bool:
        """Write one UTF-8 JSON text frame now; return False if it was not written.

        Not written: the connection is closing, or the client is a slow consumer and was
        just shed. ``large``: the frame (a snapshot) may exceed the limit by its own size
        until the client has read it, so a big snapshot does not shed a healthy client.
        """
        return self.push_frame(text_frame(frame), large=large)

    def push_frame(self, frame: bytes, *, large: bool = False) -> bool:
        """Write a frame made by ``text_frame``; see ``push``, which this is the core of.

        The fan-out path: one ``text_frame`` per event, written to every subscriber.
        """
        # check(), inlined: this runs once per subscriber per event.
        if self._closing is not None or self._protocol.state is not State.OPEN:
            return False
        pending = self._transport.get_write_buffer_size()
        if pending > self._limit:
            if pending > self._limit + self._grace:
                self.shed()
                return False
        elif self._grace:
            self._grace = 0
        if large:
            self._grace += len(frame)
        # Whole frames only, like websockets' own sends (it writes each frame in one call,
        # and the gateway never sends fragmented messages): frames never interleave.
        self._transport.write(frame)
        return True

    def shed(self) -> None:
        """Disconnect a slow consumer with 1013 (try again later); see the class doc."""
        if self._closing is None and self._on_shed is not None:
            self._on_shed()
        self.close(CloseCode.TRY_AGAIN_LATER, SLOW_CONSUMER)

    def close(self, code: int, reason: str) -> None:
        """Start closing with ``code`` unless closing already; never waits."""
        if self._closing is not None:
            return
        self.close_code = code
        self._closing = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def wait_closed(self) -> None:
        """Wait until the closing started by ``close`` is over (at once if none was)."""
        if self._closing is not None:
            await self._closing

    async def _close(self, code: int, reason: str) -> None:
        await close_within(self.ws, code, reason, self._close_timeout, self._clock)


async def close_within(
    ws: ServerConnection, code: int, reason: str, timeout: float, clock: Clock
) -> None:
    """Close ``ws`` with ``code``; abort the socket if that takes more than ``timeout``.

    ``ServerConnection.close`` waits for the write buffer to drain, which never happens
    with a client that does not read; the abort bounds it.
    """
    abort = clock.call_later(timeout, ws.transport.abort)
    try:
        await ws.close(code, reason)
    except ConnectionClosed:
        pass
    finally:
        abort.cancel()
