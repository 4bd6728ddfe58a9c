"""Receiver frames at the edge: validate a ``put_receiver`` into a ``PutReceiver`` request.

The wire carries a receiver as a JSON object next to its ``kind`` (``messages`` knows
nothing of the notifiers' configuration models); it is validated here, with the same
models as the configuration file, and a bad field is named as the frame has it
(``receiver.url``, ``delivery.rate``).
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel, ValidationError

from actors.notify import (
    DEFAULT_DELIVERY,
    DeliveryPolicy,
    EmailReceiverConfig,
    PutReceiver,
    ReceiverConfig,
    ReceiverKind,
    SlackReceiverConfig,
    WebhookReceiverConfig,
    WebSocketReceiverConfig,
)
from messages import ErrorReply, PutReceiverFrame

__all__ = ["RECEIVER_MODELS", "ReceiverRefused", "put_receiver_request"]

RECEIVER_MODELS: dict[ReceiverKind, type[BaseModel]] = {
    "email": EmailReceiverConfig,
    "slack": SlackReceiverConfig,
    "webhook": WebhookReceiverConfig,
    "websocket": WebSocketReceiverConfig,
}
"""The configuration model of each receiver kind."""

_FROM_ENVIRONMENT = ("password_env", "url_env", "hmac_secret_env", "headers_env")
"""Fields that read the server's environment: a config file may use them, a client not."""


class ReceiverRefused(Exception):
    """A ``put_receiver`` frame does not describe a usable receiver; ``reply`` says why."""

    def __init__(self, reply: ErrorReply) -> None:
        super().__init__(f"{reply.field}: {reply.message}")
        self.reply = reply


def _invalid(exc: ValidationError, prefix: str) -> ReceiverRefused:
    reply = ErrorReply.from_validation_error(exc)
    problems = reply.message
    field = f"{prefix}.{reply.field}" if reply.field else prefix
    return ReceiverRefused(ErrorReply(code="invalid", message=f"{prefix}: {problems}", field=field))


def put_receiver_request(frame: PutReceiverFrame) -> PutReceiver:
    """Return the request ``frame`` asks for; raise ``ReceiverRefused`` naming the field."""
    data: dict[str, Any] = dict(frame.receiver)
    for name in _FROM_ENVIRONMENT:
        if name in data:
            message = f"{name} reads the server's environment: send the secret itself"
            raise ReceiverRefused(
                ErrorReply(code="invalid", message=message, field=f"receiver.{name}")
            )
    try:
        model = RECEIVER_MODELS[frame.kind]
        receiver = cast(ReceiverConfig, model.model_validate(data))
    except ValidationError as exc:
        raise _invalid(exc, "receiver") from None
    if "/" in receiver.name:
        message = "a receiver name must not contain '/'"
        raise ReceiverRefused(ErrorReply(code="invalid", message=message, field="receiver.name"))
    delivery: DeliveryPolicy | None = None
    if frame.delivery:
        base = DEFAULT_DELIVERY[frame.kind].model_dump()
        try:
            delivery = DeliveryPolicy.model_validate({**base, **frame.delivery})
        except ValidationError as exc:
            raise _invalid(exc, "delivery") from None
    return PutReceiver(receiver, delivery)
