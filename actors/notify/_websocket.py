"""The WebSocket channel: hand notifications to the gateway's connection registry.

The connection registry (an actor under ``edge``, built with the gateway) owns the live
WebSocket connections. This channel is the only thing the notifiers need from it, and
this is the interface it implements:

1. It is an actor, found by path or unique name (default ``connection-registry``); the
   channel looks it up at every send, so the registry may start after the notifiers,
   restart, or be replaced.
2. It handles ``messages.Notification`` messages, sent with ``ActorRef.send`` (which
   waits for room in a bounded mailbox), one per notification, in the notifier's order
   (one alert's notifications in order). It pushes each to the live connections whose
   subscriptions match, without blocking its mailbox (per-connection bounded queues;
   shed slow clients, see REFERENCE.md on websockets' missing backpressure).
3. It never replies, and never fails the sender: a notification no connection wants is
   simply not pushed. Delivered, for the notifier, means accepted into the registry's
   mailbox. Clients that are offline catch up from the alert manager (``Subscribe``
   with ``resume_from``), not from here.
4. Delivery is at least once: after a notifier restart (or a failure in the middle of a
   batch) a notification may arrive again with the same ``idempotency_key``; the
   registry (or the client) drops duplicates by that key.

Failures the notifier retries: the registry is not running (``ActorNotFound``), has
terminated (``ActorDead``), or its mailbox stayed full for ``timeout`` seconds
(``MailboxFull``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from actors.notify._channel import DeliveryError
from messages import Notification
from supervision import ActorDead, ActorNotFound, ActorRef, MailboxFull

__all__ = ["WebSocketChannel"]


class WebSocketChannel:
    """Deliver notifications to live WebSocket clients through the connection registry.

    ``registry`` is the registry's ref, or a function that returns it (called at each
    send; raise ``ActorNotFound`` while there is none), e.g.
    ``lambda: system.lookup("connection-registry")``. ``timeout``: seconds to wait for
    room in a full registry mailbox before the send fails (retryable).
    """

    def __init__(
        self,
        registry: ActorRef | Callable[[], ActorRef],
        *,
        name: str = "websocket",
        timeout: float = 5.0,
    ) -> None:
        self.name = name
        self._registry = registry
        self._timeout = timeout

    async def open(self) -> None:
        """Nothing to open: the registry is looked up at each send."""

    async def send(self, batch: Sequence[Notification]) -> None:
        """Send each notification of ``batch`` to the registry, in order."""
        try:
            registry = self._registry if isinstance(self._registry, ActorRef) else self._registry()
        except ActorNotFound as error:
            raise DeliveryError(
                f"the connection registry is not running: {error}", retryable=True
            ) from error
        for notification in batch:
            try:
                await registry.send(notification, timeout=self._timeout)
            except ActorDead as error:
                raise DeliveryError(
                    f"the connection registry has stopped: {error}", retryable=True
                ) from error
            except MailboxFull as error:
                raise DeliveryError(
                    f"the connection registry is not keeping up: {error}", retryable=True
                ) from error

    async def close(self) -> None:
        """Nothing to close."""
