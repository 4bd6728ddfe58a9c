"""The Channel interface: how a notifier actor hands notifications to one transport.

A notifier actor (one per configured receiver) owns rate limiting, the circuit breaker,
retries, the durable outbox and receipts; a channel only knows how to send. Channels:
email (SMTP), webhook, Slack, WebSocket (the connection registry).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from messages import Notification


class DeliveryError(Exception):
    """A send failed; the notifier decides from the fields whether to retry.

    ``retryable``: connection errors, timeouts, HTTP 5xx and 429, SMTP 4xx are; other
    HTTP 4xx and SMTP 5xx (permanent failures) are not. ``retry_after``: seconds the
    receiver asked us to wait (HTTP Retry-After), honoured exactly when set.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(Protocol):
    """One transport to one receiver.

    ``send`` delivers a batch (one notification, or several when the notifier batches
    under rate limiting) as one message where the transport allows it, and raises
    ``DeliveryError`` on failure. It must be safe to call again with the same batch:
    the idempotency keys travel with it so receivers can drop duplicates.
    """

    name: str

    async def open(self) -> None:
        """Acquire connections/clients; called from the notifier's on_start."""
        ...

    async def send(self, batch: Sequence[Notification]) -> None:
        """Deliver ``batch``; raise DeliveryError."""
        ...

    async def close(self) -> None:
        """Release connections/clients; called from the notifier's on_stop. Idempotent."""
        ...


SendDone = Callable[[BaseException | None], None]
"""Called once with the outcome of a send begun by ``start_send``: None, or the error."""


class StartSend(Protocol):
    """What a channel may add to ``Channel``: a send without a task, by callback.

    ``start_send(batch, done)`` begins what ``send(batch)`` does if it can start at
    once, and returns True; ``done`` is then called once, later (never from inside
    ``start_send``), with None or what ``send`` would raise. False: nothing was done,
    the notifier awaits ``send`` instead. The webhook and Slack channels have it: a
    task and its coroutines per send cost more than the rest of the send.
    """

    def start_send(self, batch: Sequence[Notification], done: SendDone) -> bool:
        """Begin sending ``batch``; say whether it began."""
        ...
