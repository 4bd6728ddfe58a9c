"""Build a receiver's channel, and name its notifier: what the notifier supervisor needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from actors.notify._channel import Channel
from actors.notify._config import (
    ReceiverConfig,
    SlackReceiverConfig,
    WebhookReceiverConfig,
    WebSocketReceiverConfig,
    receiver_kind,
)
from actors.notify._email import EmailChannel
from actors.notify._slack import SlackChannel
from actors.notify._templates import TemplateSet
from actors.notify._webhook import WebhookChannel
from actors.notify._websocket import WebSocketChannel
from supervision import ActorSystem, Clock

__all__ = ["ChannelContext", "ChannelFactory", "default_channel", "notifier_name"]


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What a channel factory may need from the running tree."""

    clock: Clock
    system: ActorSystem
    templates: TemplateSet


ChannelFactory = Callable[[ReceiverConfig, ChannelContext], Channel]
"""Build a fresh channel for a receiver; called at every (re)start of its notifier."""


def default_channel(receiver: ReceiverConfig, context: ChannelContext) -> Channel:
    """Return the channel of ``receiver``'s kind: webhook, Slack, email or WebSocket."""
    if isinstance(receiver, WebhookReceiverConfig):
        return WebhookChannel(receiver, templates=context.templates, clock=context.clock)
    if isinstance(receiver, SlackReceiverConfig):
        return SlackChannel(receiver, templates=context.templates, clock=context.clock)
    if isinstance(receiver, WebSocketReceiverConfig):
        system, registry = context.system, receiver.registry
        return WebSocketChannel(
            lambda: system.lookup(registry), name=receiver.name, timeout=receiver.timeout
        )
    return EmailChannel(receiver, context.templates)


def notifier_name(receiver: ReceiverConfig) -> str:
    """Return the child name of ``receiver``'s notifier: ``notifier:<kind>:<name>``.

    (``notifier:websocket`` for the WebSocket receiver under its default name.)
    """
    kind = receiver_kind(receiver)
    return f"notifier:{kind}" if receiver.name == kind else f"notifier:{kind}:{receiver.name}"
