"""Session: one connection's frame loop: validate, rate-limit, authorize, dispatch, answer.

Here are the loop and what every frame goes through before its handler (the rate limit
and flooding, binary and invalid frames, roles); what each frame does, its handler, is in
``gateway._frame_handlers``.

Frames are handled one at a time, in order: the next is not read before the current one
is answered. That is the ingest backpressure: while the router's bounded mailbox is full
the session waits in ``send`` and stops reading, websockets stops reading the socket once
its own small queue is full, and TCP slows the client down.
"""

from __future__ import annotations

import structlog
from pydantic import ValidationError
from pydantic_core import from_json
from websockets.exceptions import ConnectionClosed

from gateway._config import GatewayConfig
from gateway._connection import Connection
from gateway._frame_handlers import Answer, FrameHandlers, error_frame
from gateway._limits import RateLimiter, Verdict
from gateway._metrics import GatewayMetrics
from gateway._targets import GatewayTargets
from messages import (
    CLIENT_FRAME_ADAPTER,
    ClientFrame,
    ErrorFrame,
    ErrorReply,
    IngestRows,
    PongFrame,
    ReplyFrame,
    parse_ingest_frame,
)
from supervision import Clock

__all__ = ["FLOODING", "MAX_ERROR_MESSAGE", "Session", "invalid_frame_error"]

FLOODING = "too many frames: the rate limit was exceeded repeatedly"

MAX_ERROR_MESSAGE = 2000
"""An invalid frame's error lists its problems up to about this many characters."""


def _frame_id(raw: str | bytes) -> str | None:
    """Return the ``id`` of a frame that failed validation, if it has a usable one.

    Parsed by the parser that validated the frame (pydantic's, not ``json``): what it
    refuses (lone surrogates, nesting past its recursion limit) has no usable id, so the
    error echoes only a string it can send back.
    """
    try:
        data = from_json(raw)
    except ValueError:
        return None
    frame_id = data.get("id") if isinstance(data, dict) else None
    return frame_id if isinstance(frame_id, str) and 1 <= len(frame_id) <= 128 else None


def invalid_frame_error(raw: str, exc: ValidationError) -> ErrorFrame:
    """Return the ``invalid`` error answering ``raw``, which failed validation with ``exc``.

    It names the first bad field, lists the problems up to about ``MAX_ERROR_MESSAGE``
    characters, and echoes the frame's id when it has a usable one.
    """
    reply = ErrorReply.from_validation_error(exc, tagged=True)
    if len(reply.message) > MAX_ERROR_MESSAGE:
        cut = reply.message[:MAX_ERROR_MESSAGE].rsplit("; ", 1)[0]
        more = f"; ... ({exc.error_count()} problems in all)"
        reply = reply.model_copy(update={"message": cut + more})
    return ErrorFrame.from_reply(_frame_id(raw), reply)


class Session:
    """Serve one authenticated connection until it closes; see the module docstring.

    Every client frame gets exactly one answer with its ``id`` (``reply``, ``error`` or
    ``pong``), except ``subscribe``, which the registry answers (``snapshot``, ``reply``
    or ``error``) so that the answer comes in order with the events. Bad frames get an
    ``invalid`` error and the connection carries on; only flooding closes it (1008).
    """

    def __init__(
        self,
        connection: Connection,
        targets: GatewayTargets,
        config: GatewayConfig,
        metrics: GatewayMetrics,
        clock: Clock,
    ) -> None:
        self._connection = connection
        self._identity = connection.identity
        self._config = config
        self._metrics = metrics
        self._clock = clock
        self._limiter = RateLimiter(config.rate, config.burst, config.abuse_burst)
        self._log = structlog.get_logger("tocsin.gateway").bind(
            connection=connection.connection_id, user=self._identity.user
        )
        self._handlers = FrameHandlers(connection, targets, config, metrics).table

    async def run(self) -> None:
        """Read and answer frames until the connection closes or is closed for abuse."""
        ws = self._connection.ws
        connection = self._connection
        try:
            while connection.is_open:
                raw = await ws.recv()
                if connection.close_code is not None:
                    # The server began closing it (1001 at shutdown, 1008, 1013) while
                    # this frame was on its way: its answer could not be sent, so it is
                    # not handled either (the client sends it again after reconnecting).
                    return
                answer = await self.handle(raw)
                if answer is not None:
                    await self._send(answer)
        except ConnectionClosed:
            return

    async def handle(self, raw: str | bytes) -> Answer:
        """Return the answer to one raw frame (None: none, or the connection is closing)."""
        verdict = self._limiter.check(self._clock.now())
        if verdict is Verdict.ABUSE:
            self._metrics.closed_for_abuse.labels("flooding").inc()
            self._log.warning("closing a flooding connection")
            self._connection.close(1008, FLOODING)
            return None
        if isinstance(raw, bytes):
            self._metrics.frames.labels("binary").inc()
            return error_frame(None, "invalid", "send JSON in text frames, not binary frames")
        # Ingest frames, most of the traffic, are validated into plain dicts (see
        # messages.parse_ingest_frame); every other frame, and an invalid one, by the union.
        frame: ClientFrame | IngestRows | None = parse_ingest_frame(raw)
        if frame is None:
            try:
                frame = CLIENT_FRAME_ADAPTER.validate_json(raw)
            except ValidationError as exc:
                self._metrics.frames.labels("invalid").inc()
                return invalid_frame_error(raw, exc)
        self._metrics.frames.labels(frame.type).inc()
        if verdict is Verdict.LIMITED:
            rate = self._config.rate
            return error_frame(frame.id, "rate_limited", f"more than {rate:g} frames per second")
        if not self._identity.may_send(frame.type):
            roles = " or ".join(self._identity.roles_for(frame.type))
            message = f"{frame.type!r} frames need the role {roles}"
            return error_frame(frame.id, "forbidden", message)
        try:
            return await self._handlers[type(frame)](frame)
        except Exception:
            self._log.exception("frame handler failed", frame_type=frame.type)
            return error_frame(frame.id, "internal", "the server failed; it logged why")

    async def _send(self, answer: ReplyFrame | ErrorFrame | PongFrame) -> None:
        if isinstance(answer, ErrorFrame):
            self._metrics.errors.labels(answer.code).inc()
        await self._connection.ws.send(answer.model_dump_json())
