"""The gateway's wire protocol: the JSON frames the server sends to clients.

Answers (``reply``, ``error``, ``pong``, each echoing a client frame's ``id``), pushes
(``event``, ``notification``, ``snapshot``) and the ``welcome`` that opens a connection.
The frames clients send are in ``_protocol``; docs/PROTOCOL.md is the reference.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, JsonValue, TypeAdapter, ValidationInfo, field_validator

from messages._alerting import AlertTransition
from messages._base import Message, NonEmptyStr
from messages._commands import AlertSummary, ErrorCode, ErrorReply
from messages._notifications import Notification
from messages._protocol import FrameId, Role

__all__ = [
    "SERVER_FRAME_ADAPTER",
    "ErrorFrame",
    "EventFrame",
    "NotificationFrame",
    "PongFrame",
    "ReplyFrame",
    "ServerFrame",
    "SnapshotFrame",
    "WelcomeFrame",
]


class ReplyFrame(Message):
    """Answer the client frame ``id`` successfully; ``data`` depends on the request."""

    type: Literal["reply"] = "reply"
    id: FrameId
    ok: bool = True
    data: JsonValue = None


class ErrorFrame(Message):
    """Answer a client frame that failed; ``id`` is None if the frame had no usable id."""

    type: Literal["error"] = "error"
    id: FrameId | None
    code: ErrorCode
    message: NonEmptyStr
    field: str | None = None

    @classmethod
    def from_reply(cls, frame_id: str | None, reply: ErrorReply) -> ErrorFrame:
        """Return ``reply`` as the answer to the client frame ``frame_id``."""
        return cls(id=frame_id, code=reply.code, message=reply.message, field=reply.field)


class EventFrame(Message):
    """Push one alert transition to a subscription.

    ``seq`` is the event's position in the server's alert history (the same as
    ``event.seq``): strictly increasing, so a reconnecting client resumes with
    ``resume_from`` = the last ``seq`` it received.
    """

    type: Literal["event"] = "event"
    subscription: FrameId
    seq: Annotated[int, Field(ge=1)]
    event: AlertTransition

    @field_validator("event")
    @classmethod
    def _same_seq(cls, event: AlertTransition, info: ValidationInfo) -> AlertTransition:
        seq = info.data.get("seq")
        if seq is not None and event.seq != seq:
            raise ValueError(f"event.seq {event.seq} must equal the frame's seq {seq}")
        return event


class NotificationFrame(Message):
    """Push one notification routed to the WebSocket receiver to a subscription.

    Sent only to subscriptions made with ``notifications: true``; at least once, so
    drop a repeated ``notification.idempotency_key``.  Not part of the ``seq`` order.
    """

    type: Literal["notification"] = "notification"
    subscription: FrameId
    notification: Notification


class SnapshotFrame(Message):
    """Give a new subscription the alerts that match it now.

    ``seq`` is the last history position the snapshot includes: the ``event`` frames
    that follow have larger ones.
    """

    type: Literal["snapshot"] = "snapshot"
    subscription: FrameId
    seq: Annotated[int, Field(ge=0)]
    alerts: tuple[AlertSummary, ...] = ()


class PongFrame(Message):
    """Answer a ``ping`` with its ``id``."""

    type: Literal["pong"] = "pong"
    id: FrameId


class WelcomeFrame(Message):
    """Greet an authenticated connection first: who it is, what it may do, its limits.

    ``rate`` and ``burst``: frames per second on average and at once (beyond them a
    frame is answered ``rate_limited``).  ``max_frame_bytes``: larger frames close
    the connection (1009).  ``heartbeat_interval``: seconds between the server's
    WebSocket pings (None: no pings).  ``seq``: the last history position the server
    has seen, for information.
    """

    type: Literal["welcome"] = "welcome"
    connection_id: NonEmptyStr
    user: NonEmptyStr
    roles: tuple[Role, ...]
    max_frame_bytes: Annotated[int, Field(ge=1)]
    rate: Annotated[float, Field(gt=0)]
    burst: Annotated[int, Field(ge=1)]
    heartbeat_interval: Annotated[float, Field(gt=0)] | None = None
    seq: Annotated[int, Field(ge=0)] = 0


_ServerFrames = (
    ReplyFrame
    | ErrorFrame
    | EventFrame
    | SnapshotFrame
    | NotificationFrame
    | PongFrame
    | WelcomeFrame
)
"""The union ``ServerFrame`` discriminates (the adapter's type)."""

ServerFrame = Annotated[_ServerFrames, Field(discriminator="type")]
"""Every frame the server sends, told apart by ``type``."""

SERVER_FRAME_ADAPTER: TypeAdapter[_ServerFrames] = TypeAdapter(ServerFrame)
"""Validate a server frame, as a client (or a test) reads it."""
