"""The ``tocsin`` client commands: ``alerts``, ``ack``, ``tail``, over the wire protocol."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gateway._serve import TOKEN_ENV, token_file
from messages import (
    SERVER_FRAME_ADAPTER,
    ErrorFrame,
    EventFrame,
    ReplyFrame,
    SnapshotFrame,
    WelcomeFrame,
)

__all__ = ["ClientError", "ack", "default_token", "list_alerts", "tail"]

DEFAULT_URL = "ws://127.0.0.1:8765/ws"


class ClientError(Exception):
    """The server refused a request or could not be reached; the message says why."""


def default_token() -> str | None:
    """Return ``$TOCSIN_TOKEN``, else the admin token ``tocsin serve`` wrote, else None."""
    from_env = os.environ.get(TOKEN_ENV)
    if from_env:
        return from_env
    try:
        return token_file().read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


async def _open(url: str, token: str | None, timeout: float) -> ClientConnection:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        ws = await connect(url, additional_headers=headers, proxy=None, open_timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ClientError(f"cannot connect to {url}: {exc}") from exc
    except Exception as exc:  # websockets' handshake errors (401, 1008...)
        raise ClientError(f"{url} refused the connection: {exc}") from exc
    try:
        raw = await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as exc:
        reason = exc.rcvd.reason if exc.rcvd is not None else "closed"
        raise ClientError(f"{url} refused the connection: {reason}") from exc
    frame = SERVER_FRAME_ADAPTER.validate_json(raw)
    if not isinstance(frame, WelcomeFrame):
        await ws.close()
        raise ClientError(f"expected a welcome frame, got {frame.type}")
    return ws


async def _request(ws: ClientConnection, frame: dict[str, Any], timeout: float) -> Any:
    await ws.send(json.dumps({**frame, "id": "cli"}))
    while True:
        answer = SERVER_FRAME_ADAPTER.validate_json(await asyncio.wait_for(ws.recv(), timeout))
        if isinstance(answer, ErrorFrame) and answer.id == "cli":
            raise ClientError(f"{answer.code}: {answer.message}")
        if isinstance(answer, ReplyFrame) and answer.id == "cli":
            return answer.data


async def list_alerts(
    url: str, token: str | None, *, states: tuple[str, ...] = (), timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Return the alerts (in ``states``; default all) as JSON objects."""
    ws = await _open(url, token, timeout)
    try:
        data = await _request(ws, {"type": "query", "states": list(states)}, timeout)
    finally:
        await ws.close()
    alerts = data.get("alerts", []) if isinstance(data, dict) else data
    return list(alerts or [])


async def ack(
    url: str, token: str | None, alert_id: str, comment: str = "", timeout: float = 10.0
) -> Any:
    """Acknowledge ``alert_id``; return the server's reply data."""
    ws = await _open(url, token, timeout)
    try:
        return await _request(
            ws, {"type": "ack", "alert_id": alert_id, "comment": comment}, timeout
        )
    finally:
        await ws.close()


async def tail(
    url: str,
    token: str | None,
    emit: Callable[[dict[str, Any]], None],
    *,
    severities: tuple[str, ...] = (),
    count: int | None = None,
    timeout: float = 10.0,
) -> None:
    """Subscribe and call ``emit`` with the snapshot's alerts, then every event.

    Runs until the connection closes, or after ``count`` events.
    """
    ws = await _open(url, token, timeout)
    try:
        await ws.send(
            json.dumps({"type": "subscribe", "id": "tail", "severities": list(severities)})
        )
        seen = 0
        async for raw in ws:
            frame = SERVER_FRAME_ADAPTER.validate_json(raw)
            if isinstance(frame, ErrorFrame):
                raise ClientError(f"{frame.code}: {frame.message}")
            if isinstance(frame, SnapshotFrame):
                for alert in frame.alerts:
                    emit({"snapshot": True, **alert.model_dump(mode="json")})
            elif isinstance(frame, EventFrame):
                emit(frame.event.model_dump(mode="json"))
                seen += 1
                if count is not None and seen >= count:
                    return
    finally:
        await ws.close()
