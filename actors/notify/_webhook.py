"""The webhook channel: POST a batch as JSON, signed and keyed, to one receiver's URL."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

import httpx

from actors.notify._config import WebhookReceiverConfig
from actors.notify._http import HttpPoster
from actors.notify._payloads import (
    alertmanager_payload,
    batch_idempotency_key,
    encode,
    tocsin_payload,
)
from actors.notify._templates import TemplateChannel, TemplateSet
from messages import Notification
from supervision import Clock

__all__ = ["IDEMPOTENCY_HEADER", "WebhookChannel", "sign"]

IDEMPOTENCY_HEADER = "Idempotency-Key"


def sign(secret: bytes, body: bytes) -> str:
    """Return the signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """Deliver notifications to one webhook receiver (see ``WebhookReceiverConfig``).

    Every request is a POST of ``application/json`` with an ``Idempotency-Key`` header:
    the notification's idempotency key (for a batch, a digest of its keys in order), so
    a retry carries the same key as the first attempt. With ``hmac_secret`` set, the
    ``signature_header`` holds ``sha256=<hex>`` over the exact body bytes: receivers
    recompute it and compare in constant time.

    Failures raise ``DeliveryError``: connection errors, timeouts, 5xx and 429 are
    retryable, with Retry-After (429, 503) honoured; other statuses are permanent.
    One ``httpx.AsyncClient`` per channel (``open``/``close``, idempotent), with the
    configured timeout and connection limit; ``transport`` replaces the network.
    """

    def __init__(
        self,
        config: WebhookReceiverConfig,
        *,
        templates: TemplateSet | None = None,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self.templates = templates if templates is not None else TemplateSet()
        self._url = str(config.url)
        secret = config.hmac_secret
        self._secret = None if secret is None else secret.get_secret_value().encode()
        # The headers every request carries are the poster's (written once); a configured
        # header named like a per-request one gives way to it, as a later dict key would.
        per_request = {IDEMPOTENCY_HEADER}
        if self._secret is not None:
            per_request.add(config.signature_header)
        fixed = {**config.headers, "content-type": "application/json"}
        self._http = HttpPoster(
            timeout=config.timeout,
            connect_timeout=config.connect_timeout,
            max_connections=config.max_connections,
            trust_env=config.trust_env,
            clock=clock,
            transport=transport,
            headers={name: value for name, value in fixed.items() if name not in per_request},
        )

    async def open(self) -> None:
        """Build the HTTP client (connections are made by the first send)."""
        await self._http.open()

    def body(self, batch: Sequence[Notification]) -> bytes:
        """Return the request body for ``batch`` in the configured payload format."""
        if self.config.payload == "alertmanager":
            payload = alertmanager_payload(batch, self.name, external_url=self.config.external_url)
        else:
            render = self.templates.render_part
            if len(batch) == 1:  # the common case, without a comprehension
                summaries = [render(TemplateChannel.WEBHOOK, "summary", batch[0])]
            else:
                summaries = [render(TemplateChannel.WEBHOOK, "summary", n) for n in batch]
            payload = tocsin_payload(batch, self.name, summaries)
        return encode(payload)

    async def send(self, batch: Sequence[Notification]) -> None:
        """POST ``batch`` as one request; raise ``DeliveryError`` unless answered 2xx."""
        if not batch:
            return
        body, headers = self._request(batch)
        await self._http.post(self._url, body, headers)

    def start_send(
        self, batch: Sequence[Notification], done: Callable[[BaseException | None], None]
    ) -> bool:
        """``send`` by callback if it can start at once (``StartSend``); say whether it did."""
        if not batch or not self._http.can_start(self._url):
            return False  # before the body is made: ``send`` makes it, once
        body, headers = self._request(batch)
        return self._http.start_post(self._url, body, headers, done)

    def _request(self, batch: Sequence[Notification]) -> tuple[bytes, dict[str, str]]:
        body = self.body(batch)
        key = batch[0].idempotency_key if len(batch) == 1 else batch_idempotency_key(batch)
        headers = {IDEMPOTENCY_HEADER: key}
        if self._secret is not None:
            headers[self.config.signature_header] = sign(self._secret, body)
        return body, headers

    async def close(self) -> None:
        """Close the HTTP client; idempotent."""
        await self._http.close()
