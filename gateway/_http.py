"""Plain HTTP on the WebSocket port: health, readiness, metrics and the dashboard.

websockets hands every request to ``process_request`` before the handshake; a
WebSocket upgrade to the configured path goes on to the handshake (None), anything else
is answered here. Only GET exists (websockets refuses request bodies).
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from gateway._dashboard import DASHBOARD_HEADERS, dashboard_html
from gateway._metrics import METRICS_CONTENT_TYPE

__all__ = ["HttpRoutes", "Readiness", "ReadinessCheck"]


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether the server can do its work now, and what each check found.

    ``checks`` maps a check's name (``store``, ``tree``...) to True, or to the reason it
    failed. ``/readyz`` answers 200 when ``ready``, else 503, with both as JSON.
    """

    ready: bool
    checks: Mapping[str, bool | str] = field(default_factory=dict)


ReadinessCheck = Callable[[], Awaitable[Readiness]]
"""An injected readiness probe: the assembler's (tree up, store writable)."""


def _response(
    status: HTTPStatus,
    body: bytes,
    content_type: str,
    extra: tuple[tuple[str, str], ...] = (),
) -> Response:
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            *extra,
        ]
    )
    return Response(status.value, status.phrase, headers, body)


def _text(status: HTTPStatus, text: str) -> Response:
    return _response(status, text.encode(), "text/plain; charset=utf-8")


class HttpRoutes:
    """Answer the HTTP endpoints; pass WebSocket upgrades to ``ws_path`` through.

    - ``GET /healthz``: 200 while the process serves (liveness).
    - ``GET /readyz``: ``readiness()``; 200 or 503 with ``{"ready": ..., "checks": ...}``.
    - ``GET /metrics``: ``metrics()``, the Prometheus text exposition.
    - ``GET /``: the dashboard (HTML); it reads ``?token=`` from its own URL.

    Anything else is 404; a WebSocket upgrade to another path too.
    """

    def __init__(
        self,
        ws_path: str,
        readiness: ReadinessCheck,
        metrics: Callable[[], Awaitable[bytes]],
    ) -> None:
        self._ws_path = ws_path
        self._readiness = readiness
        self._metrics = metrics
        self._dashboard = dashboard_html(ws_path)

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Return the HTTP response to ``request``, or None to continue the handshake."""
        path = urlsplit(request.path).path
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if path == self._ws_path:
                return None
            return _text(HTTPStatus.NOT_FOUND, f"WebSocket connections go to {self._ws_path}\n")
        if path == "/healthz":
            return _text(HTTPStatus.OK, "ok\n")
        if path == "/readyz":
            return await self._ready()
        if path == "/metrics":
            return _response(HTTPStatus.OK, await self._metrics(), METRICS_CONTENT_TYPE)
        if path in ("/", "/index.html"):
            return _response(
                HTTPStatus.OK, self._dashboard, "text/html; charset=utf-8", DASHBOARD_HEADERS
            )
        return _text(HTTPStatus.NOT_FOUND, "not found: try /, /healthz, /readyz or /metrics\n")

    async def _ready(self) -> Response:
        try:
            readiness = await self._readiness()
        except Exception as error:
            readiness = Readiness(False, {"readiness": f"the check failed: {error!r}"})
        body = json.dumps({"ready": readiness.ready, "checks": dict(readiness.checks)})
        status = HTTPStatus.OK if readiness.ready else HTTPStatus.SERVICE_UNAVAILABLE
        return _response(status, body.encode() + b"\n", "application/json")
