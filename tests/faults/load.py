"""A steady, bounded load on a ``ServerProcess`` that survives the server's kill -9.

``AlertLoad`` plays an ingest feed and an operator on one connection: each step it
opens an alert (a new host's ``load`` above the rule's threshold), sends the values of
every host it drives, acknowledges each alert once the webhook receiver has its firing
notification, and brings each acknowledged alert back under the threshold once the
receiver has its acknowledged notification, so every alert goes through
firing -> acknowledged -> resolved with one notification per transition and no two
transitions of one alert in one notification group flush. It records every command the
server acknowledged (a ``reply``), which is what a crash must not lose.

``Viewer`` is a client subscribed to every event; after a kill it reconnects and resumes
from the last seq it saw, so it sees each event once, in order, across the restarts.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed

from messages import SERVER_FRAME_ADAPTER, ErrorFrame, EventFrame, ReplyFrame, ServerFrame
from tests.faults.server import BOUND, ServerProcess
from tests.gateway.harness import Client
from tests.notify.http_server import HttpServer

THRESHOLD = 50.0
FIRING_VALUE = 90.0
CLEAR_VALUE = 10.0


class NotificationLog:
    """The idempotency keys a real webhook receiver (``HttpServer``) was sent, in order."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self._parsed = 0
        self._keys: list[str] = []

    def keys(self) -> list[str]:
        """Return every key received so far (each request's body is parsed once)."""
        for request in self.server.requests[self._parsed :]:
            self._keys.extend(item["idempotency_key"] for item in request.json()["notifications"])
        self._parsed = len(self.server.requests)
        return self._keys


def host_of(payload: Any) -> str:
    """Return the ``host`` label of an alert event's payload (JSON)."""
    return str(payload["labels"]["host"])


@dataclass
class Host:
    """One alert the load drives: its host label, the alert id once known, its stage."""

    name: str
    added_at: float = field(default_factory=time.monotonic)
    alert_id: str | None = None
    acked: bool = False
    acked_at: float = 0.0
    clearing: bool = False


@dataclass
class AlertLoad:
    """The feed and the operator (see the module docstring); ``max_hosts`` bounds it."""

    server: ServerProcess
    receiver: NotificationLog
    rng: random.Random
    max_hosts: int = 400
    patience: float = 15.0
    """seconds an acknowledged alert waits for its notification before it is cleared
    anyway, and half of what an unacknowledged one waits for its firing notification (the
    check at the end reports a notification that never came). In seconds, not
    load steps: steps run faster on a quiet machine, and an alert cleared before its
    acknowledgement's group flushed has it folded into the resolution (only the
    resolution is sent, as Alertmanager would), which the check would call lost."""
    hosts: list[Host] = field(default_factory=list)
    acked: dict[str, float] = field(default_factory=dict)
    """alert id -> when the server acknowledged the ``ack`` (a reply came)"""
    refused: list[ErrorFrame] = field(default_factory=list)
    steps: int = 0
    samples: int = 0
    interrupted: int = 0
    """requests sent whose answer never came (the server was killed meanwhile)"""
    impatient: list[str] = field(default_factory=list)
    """the notifications the load stopped waiting for (it cleared their alert anyway)"""
    finished: bool = False
    """every host is done (all ``max_hosts`` opened and clearing): no more steps come"""
    _stepped: asyncio.Event = field(default_factory=asyncio.Event)

    def by_alert(self) -> dict[str, Host]:
        return {host.alert_id: host for host in self.hosts if host.alert_id is not None}

    async def until_steps(self, steps: int) -> None:
        """Wait until the load has made ``steps`` steps in all (bounded)."""
        async with asyncio.timeout(BOUND):
            while self.steps < steps:
                assert not self.finished, f"the load finished at step {self.steps} < {steps}"
                self._stepped.clear()
                await self._stepped.wait()

    async def run(self, alert_ids: dict[str, str]) -> None:
        """Step until the connection breaks (the server died) or every host is done.

        ``alert_ids``: host -> alert id, as the ``Viewer`` learns them.
        """
        try:
            async with self.server.client() as client:
                while await self._step(client, alert_ids):
                    pass
        except (ConnectionClosed, OSError):
            self.interrupted += 1

    async def _step(self, client: Client, alert_ids: dict[str, str]) -> bool:
        if len(self.hosts) < self.max_hosts:
            self.hosts.append(Host(f"host-{len(self.hosts):04d}"))
        keys = set(self.receiver.keys())
        for host in self.hosts:
            if host.alert_id is None:
                host.alert_id = alert_ids.get(host.name)
        now = time.time()
        samples = []
        for host in self.hosts:
            if host.clearing:
                pass
            elif host.acked and f"{host.alert_id}/hook/acknowledged" in keys:
                host.clearing = True
            elif host.acked and time.monotonic() - host.acked_at >= self.patience:
                host.clearing = True
                self.impatient.append(f"{host.alert_id}/hook/acknowledged")
            elif not host.acked and time.monotonic() - host.added_at >= 2 * self.patience:
                host.clearing = True  # its firing notification never came: the check says so
                self.impatient.append(f"{host.alert_id or host.name}/hook/firing")
            value = CLEAR_VALUE if host.clearing else FIRING_VALUE
            labels = {"host": host.name}
            samples.append({"name": "load", "value": value, "labels": labels, "timestamp": now})
        if samples:
            reply = await client.request({"type": "ingest", "samples": samples})
            assert isinstance(reply, ReplyFrame), reply
            self.samples += len(samples)
        for host in self.hosts:
            if host.acked or host.clearing or host.alert_id is None:
                continue
            if f"{host.alert_id}/hook/firing" not in keys:
                continue
            answer = await client.request({"type": "ack", "alert_id": host.alert_id})
            if isinstance(answer, ReplyFrame):
                host.acked = True
                host.acked_at = time.monotonic()
                self.acked[host.alert_id] = time.monotonic()
            else:
                self.refused.append(answer)
        self.steps += 1
        self.finished = len(self.hosts) >= self.max_hosts and all(h.clearing for h in self.hosts)
        self._stepped.set()
        return not self.finished


@dataclass
class Viewer:
    """Every event, in order, across restarts: ``events`` maps seq -> (kind, alert id)."""

    server: ServerProcess
    events: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    alert_ids: dict[str, str] = field(default_factory=dict)
    """host -> alert id, from the ``alert_opened`` events"""
    resolved: set[str] = field(default_factory=set)
    """alert ids of the ``alert_resolved`` events"""
    last_seq: int = 0
    runs: int = 0
    resumes: int = 0
    out_of_order: list[tuple[int, int]] = field(default_factory=list)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    """set once the current run's subscription is answered: what happens after it is seen"""
    _seen: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Follow the events until the connection breaks."""
        self.subscribed.clear()
        self.runs += 1
        try:
            async with self.server.client() as client:
                request: dict[str, Any] = {"type": "subscribe", "id": "all"}
                if self.runs > 1:  # resume even from 0: a kill may come before the first event
                    request["resume_from"] = self.last_seq
                    self.resumes += 1
                answer = await client.request(request)
                assert not isinstance(answer, ErrorFrame), answer
                self.subscribed.set()
                for early in client.received:  # read while the answer was awaited
                    self._take(early)
                client.received.clear()
                while True:
                    self._take(SERVER_FRAME_ADAPTER.validate_json(await client.ws.recv()))
        except (ConnectionClosed, OSError):
            pass

    def _take(self, frame: ServerFrame) -> None:
        if not isinstance(frame, EventFrame):
            return
        if frame.seq <= self.last_seq:
            self.out_of_order.append((self.last_seq, frame.seq))
            return
        self.last_seq = frame.seq
        event = frame.event
        self.events[frame.seq] = (event.kind.value, event.alert_id)
        if event.kind.value == "alert_opened" and event.alert_id is not None:
            self.alert_ids[host_of(event.payload)] = event.alert_id
        if event.kind.value == "alert_resolved" and event.alert_id is not None:
            self.resolved.add(event.alert_id)
        self._seen.set()

    async def caught_up(self, seq: int) -> None:
        """Wait until the viewer has seen ``seq`` (the caller bounds the wait)."""
        await self.until(lambda: self.last_seq >= seq)

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds, checked after each event (the caller bounds it)."""
        while not condition():
            self._seen.clear()
            await self._seen.wait()
