"""What the crash and soak scenarios share: a subscriber that survives restarts, HTTP probes.

``Subscriber`` is a real WebSocket client that subscribes to everything, reconnects when the
server closes it (1012: the connection registry restarted; 1013: try again later) and
resumes from the last seq it saw, recording every event seq it receives so a test can
check order and gaps. Nothing sleeps: waits are on conditions, each bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from messages import SERVER_FRAME_ADAPTER, ErrorFrame, EventFrame, ReplyFrame, SnapshotFrame

BOUND = 30.0
"""The longest any single wait may take: a bound, never a pause."""

RECONNECTS = 200
"""Reconnections a client may make before the test fails (each is a real round trip)."""


class Waitable:
    """A condition re-checked whenever ``changed()`` is called; ``until`` waits for it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def changed(self) -> None:
        self._event.set()

    async def until(self, condition: Callable[[], bool], timeout: float = BOUND) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._event.clear()
                await self._event.wait()


class Subscriber:
    """Subscribe to every event over WebSocket, resuming after every close, and record seqs.

    ``seqs`` is every event seq received, in arrival order (duplicates included, so a test
    can see them); ``first`` the snapshot's seq; ``reconnects`` how often it resumed.
    """

    def __init__(self, url: str, token: str, name: str) -> None:
        self.url = url
        self.token = token
        self.name = name
        self.first: int | None = None
        self.last: int | None = None
        self.seqs: list[int] = []
        self.kinds: list[str] = []
        self.open_alerts: dict[str, None] = {}
        """Alert ids opened and not resolved yet, oldest first."""
        self.reconnects = 0
        self.close_codes: list[int] = []
        self.changes = Waitable()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"subscriber-{self.name}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def until_seq(self, seq: int, timeout: float = BOUND) -> None:
        """Wait until an event with ``seq`` (or later) arrived; raise if the task died."""

        def reached() -> bool:
            if self.task is not None and self.task.done():
                self.task.result()  # raises what killed it
                raise AssertionError(f"subscriber {self.name} ended")
            return self.last is not None and self.last >= seq

        await self.changes.until(reached, timeout)

    async def _run(self) -> None:
        for _ in range(RECONNECTS):
            try:
                await self._session()
            except (ConnectionClosed, InvalidStatus, OSError) as closed:
                code = getattr(getattr(closed, "rcvd", None), "code", None)
                self.close_codes.append(code or 0)
                self.reconnects += 1
                self.changes.changed()
                continue
        raise AssertionError(f"subscriber {self.name} reconnected {RECONNECTS} times")

    async def _session(self) -> None:
        async with connect(f"{self.url}?token={self.token}", proxy=None, open_timeout=BOUND) as ws:
            await ws.recv()  # the welcome
            frame: dict[str, Any] = {"type": "subscribe", "id": "all"}
            if self.last is not None:
                frame["resume_from"] = self.last
            await ws.send(json.dumps(frame))
            async for raw in ws:
                message = SERVER_FRAME_ADAPTER.validate_json(raw)
                if isinstance(message, SnapshotFrame):
                    if self.first is None:
                        self.first = self.last = message.seq
                elif isinstance(message, EventFrame):
                    self.seqs.append(message.seq)
                    kind = message.event.kind.value
                    self.kinds.append(kind)
                    alert_id = message.event.alert_id
                    if kind == "alert_opened" and alert_id is not None:
                        self.open_alerts[alert_id] = None
                    elif kind == "alert_resolved":
                        self.open_alerts.pop(str(alert_id), None)
                    self.last = message.seq
                elif isinstance(message, ErrorFrame):
                    raise AssertionError(f"subscriber {self.name} refused: {message}")
                elif not isinstance(message, ReplyFrame):
                    continue
                self.changes.changed()


def gapless(subscriber: Subscriber, final: int) -> list[str]:
    """Return what is wrong with ``subscriber``'s seqs (empty: all of first+1..final, once,
    in order)."""
    problems: list[str] = []
    assert subscriber.first is not None
    expected = list(range(subscriber.first + 1, final + 1))
    seqs = [s for s in subscriber.seqs if s <= final]
    if seqs != expected:
        missing = sorted(set(expected) - set(seqs))
        repeated = len(seqs) - len(set(seqs))
        backwards = sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
        problems.append(
            f"{subscriber.name}: {len(missing)} missing (e.g. {missing[:5]}), "
            f"{repeated} repeated, {backwards} out of order"
        )
    return problems


async def http_get(base: str, path: str) -> httpx.Response:
    """GET ``base + path`` on loopback (no proxy), bounded."""
    async with httpx.AsyncClient(trust_env=False, timeout=BOUND) as client:
        return await client.get(base + path)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def parse_metrics(text: str) -> dict[tuple[str, str], float]:
    """Return (metric name, label text) → value from a Prometheus exposition."""
    values: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            values[(match.group(1), match.group(2) or "")] = float(match.group(3))
    return values


async def scrape(base: str) -> dict[tuple[str, str], float]:
    """Scrape ``/metrics`` of the server at ``base``."""
    response = await http_get(base, "/metrics")
    assert response.status_code == 200, response.text
    return parse_metrics(response.text)


class Session:
    """A request/response client that reconnects when the server closes it.

    ``request`` sends a frame and returns its answer (reply or error); when the connection
    closes before the answer, it reconnects and sends the frame again (``resent`` counts
    those: the server may have handled the first copy, so a retried command must be one
    whose repetition is harmless or answered with a typed error).
    """

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.resent = 0
        self.reconnects = 0
        self._ws: Any = None
        self._ids = 0

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    async def request(self, frame: dict[str, Any]) -> ReplyFrame | ErrorFrame:
        self._ids += 1
        frame = {**frame, "id": f"q{self._ids}"}
        for attempt in range(RECONNECTS):
            try:
                if self._ws is None:
                    self._ws = await connect(
                        f"{self.url}?token={self.token}", proxy=None, open_timeout=BOUND
                    )
                    await asyncio.wait_for(self._ws.recv(), BOUND)  # the welcome
                if attempt:
                    self.resent += 1
                await self._ws.send(json.dumps(frame))
                while True:
                    raw = await asyncio.wait_for(self._ws.recv(), BOUND)
                    answer = SERVER_FRAME_ADAPTER.validate_json(raw)
                    if isinstance(answer, ReplyFrame | ErrorFrame) and answer.id == frame["id"]:
                        return answer
            except (ConnectionClosed, InvalidStatus, OSError):
                self._ws = None
                self.reconnects += 1
        raise AssertionError(f"no answer to {frame['type']} after {RECONNECTS} reconnections")
