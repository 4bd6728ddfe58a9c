"""Notifier actors and their channels (email, webhook, Slack, WebSocket)."""

from actors.notify._channel import Channel, DeliveryError

__all__ = ["Channel", "DeliveryError"]
