"""The Slack channel: incoming-webhook messages, one coloured attachment per alert."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from actors.notify._config import SlackReceiverConfig
from actors.notify._http import HttpPoster
from actors.notify._payloads import batch_idempotency_key, encode
from actors.notify._templates import TemplateChannel, TemplateSet
from actors.notify._webhook import IDEMPOTENCY_HEADER
from messages import Notification, NotificationKind, Severity
from supervision import Clock

__all__ = ["RESOLVED_COLOUR", "SEVERITY_COLOURS", "SlackChannel", "slack_message"]

SEVERITY_COLOURS: Mapping[Severity, str] = {
    Severity.CRITICAL: "#d40e0d",  # red
    Severity.WARNING: "#f2a100",  # orange
    Severity.INFO: "#439fe0",  # blue
}
"""The attachment colour (the bar beside the message) of an alert by severity."""

RESOLVED_COLOUR = "#2eb886"
"""The colour of a resolution, whatever the severity was: green, as Slack's ``good``."""


def slack_message(batch: Sequence[Notification], texts: Sequence[str]) -> dict[str, Any]:
    """Return the incoming-webhook JSON for ``batch``; ``texts`` are the rendered mrkdwn.

    One attachment per notification, coloured by severity (resolutions green), holding
    a section block with the text and a context block with the fingerprint and the
    idempotency key; the top-level ``text`` is the notification's text (or a count for
    a batch) for notifications and clients without attachments.
    """
    attachments = []
    for notification, text in zip(batch, texts, strict=True):
        resolved = notification.kind is NotificationKind.RESOLVED
        colour = RESOLVED_COLOUR if resolved else SEVERITY_COLOURS[notification.severity]
        attachments.append(
            {
                "color": colour,
                "fallback": text,
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                    {
                        "type": "context",
                        "elements": [
                            {
                                "type": "mrkdwn",
                                "text": f"fingerprint `{notification.fingerprint}` · "
                                f"key `{notification.idempotency_key}`",
                            }
                        ],
                    },
                ],
            }
        )
    summary = texts[0] if len(texts) == 1 else f"{len(texts)} alert notifications"
    return {"text": summary, "attachments": attachments}


class SlackChannel:
    """Deliver notifications to one Slack incoming webhook (see ``SlackReceiverConfig``).

    The text of each notification is the Slack template's (``TemplateSet``, mrkdwn). A
    batch (several notifications held back by the rate limit) is one message with one
    attachment each. Slack's 429 answers carry ``Retry-After`` in seconds: it is
    raised as ``DeliveryError.retry_after`` and the notifier waits exactly that long.
    Other failures are classified as for webhooks (5xx retryable; 4xx such as
    ``invalid_payload`` or ``no_service`` permanent). Requests carry the
    ``Idempotency-Key`` header too (Slack ignores it; proxies may not).
    """

    def __init__(
        self,
        config: SlackReceiverConfig,
        *,
        templates: TemplateSet | None = None,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self.templates = templates if templates is not None else TemplateSet()
        self._url = str(config.url)
        self._http = HttpPoster(
            timeout=config.timeout,
            connect_timeout=config.connect_timeout,
            max_connections=config.max_connections,
            trust_env=config.trust_env,
            clock=clock,
            transport=transport,
            headers={"content-type": "application/json"},
        )

    async def open(self) -> None:
        """Build the HTTP client (connections are made by the first send)."""
        await self._http.open()

    def body(self, batch: Sequence[Notification]) -> bytes:
        """Return the request body for ``batch``."""
        texts = [self.templates.render(TemplateChannel.SLACK, n).parts["text"] for n in batch]
        return encode(slack_message(batch, texts))

    async def send(self, batch: Sequence[Notification]) -> None:
        """Post ``batch`` as one Slack message; raise ``DeliveryError`` unless 2xx."""
        if not batch:
            return
        headers = {IDEMPOTENCY_HEADER: batch_idempotency_key(batch)}
        await self._http.post(self._url, self.body(batch), headers)

    def start_send(
        self, batch: Sequence[Notification], done: Callable[[BaseException | None], None]
    ) -> bool:
        """``send`` by callback if it can start at once (``StartSend``); say whether it did."""
        if not batch or not self._http.can_start(self._url):
            return False  # before the body is made: ``send`` makes it, once
        headers = {IDEMPOTENCY_HEADER: batch_idempotency_key(batch)}
        return self._http.start_post(self._url, self.body(batch), headers, done)

    async def close(self) -> None:
        """Close the HTTP client; idempotent."""
        await self._http.close()
