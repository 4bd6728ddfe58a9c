"""A real gateway on 127.0.0.1 for tests: the alert manager, the registry, and clients.

Everything goes through real sockets. The alert manager is the real ``AlertManager`` on a
``MemoryStore``; the router is either the real rules tree (``RulesSupervisor``) or a
``SampleSink`` standing in for it when a test needs to hold batches. Nothing sleeps:
clients wait for frames (each read bounded by ``READ_TIMEOUT``), actors for messages.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from actors import RulesSupervisor
from actors.alerting import alert_manager_spec
from actors.store import EventQuery, MemoryStore, Store, StoredEvent
from gateway import (
    CONNECTION_REGISTRY,
    ConnectionRegistry,
    Gateway,
    GatewayConfig,
    GatewayTargets,
    ReadinessCheck,
    RegistryConfig,
    RegistryStats,
    RegistryStatsQuery,
    TokenConfig,
)
from messages import (
    SERVER_FRAME_ADAPTER,
    ErrorFrame,
    EventFrame,
    PongFrame,
    ReplyFrame,
    Role,
    SampleBatch,
    SampleRows,
    SnapshotFrame,
    WelcomeFrame,
)
from supervision import Actor, ActorRef, ActorSystem, ChildSpec, Clock

READ_TIMEOUT = 15.0
"""The longest a test waits for one frame: a bound on every loop, not a pause."""

UNPAUSED = None
"""The test clients' ``max_queue``: no client-side flow control. With websockets' default
(16 frames) a client that stops reading after a burst (it read what it waited for, the
rest stays queued) has its socket paused, never reads the server's close frame, and
``close()`` waits ``close_timeout`` (10 s) for nothing: fault scenario 1 took 10 s more
in 4 of 12 runs that way. Tests that simulate a slow reader pass ``max_queue`` themselves."""

TOKENS: dict[str, tuple[str, tuple[Role, ...]]] = {
    "viewer": ("viewer-secret-token", (Role.VIEWER,)),
    "operator": ("operator-secret-token", (Role.OPERATOR,)),
    "admin": ("admin-secret-token", (Role.ADMIN,)),
    "ingest": ("ingest-secret-token", (Role.INGEST,)),
}
"""User name → (token, roles)."""

ServerFrame = Any


def gateway_config(**overrides: Any) -> GatewayConfig:
    """Return a loopback config on a free port with the four test users."""
    tokens = tuple(
        TokenConfig.model_validate({"token": token, "user": user, "roles": roles})
        for user, (token, roles) in TOKENS.items()
    )
    settings: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "tokens": tokens}
    settings["close_timeout"] = 10.0
    settings.update(overrides)
    return GatewayConfig.model_validate(settings)


class SampleSink(Actor):
    """Stand in for the metric router: take each batch, handle it when allowed.

    ``SampleRows`` (what ingest frames become) are kept as the ``SampleBatch`` of the
    same samples, and the kind of each message received in ``SinkBox.kinds``.

    Each batch waits for one unit of ``SinkBox.release`` before it is handled, so a test
    sees the router's bounded mailbox fill up.
    """

    def __init__(self, box: SinkBox) -> None:
        self.box = box

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, SampleBatch | SampleRows):
            box = self.box
            box.kinds.append(type(message))
            if isinstance(message, SampleRows):
                message = message.to_batch()
            box.took(message)
            while box.allowance <= 0:
                box.gate.clear()
                await box.gate.wait()
            box.allowance -= 1
            box.batches.append(message)
        return None


@dataclass
class SinkBox:
    """What a ``SampleSink`` took and handled; it handles freely unless ``held``."""

    held: bool = False
    taken: list[SampleBatch] = field(default_factory=list)
    batches: list[SampleBatch] = field(default_factory=list)
    kinds: list[type] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    allowance: float = float("inf")
    _waiters: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.held:
            self.allowance = 0

    def release(self, count: float = 1) -> None:
        """Let ``count`` more batches be handled."""
        self.allowance += count
        self.gate.set()

    def took(self, batch: SampleBatch) -> None:
        self.taken.append(batch)
        for count, future in self._waiters:
            if len(self.taken) >= count and not future.done():
                future.set_result(None)

    async def until_taken(self, count: int) -> None:
        """Wait until the sink has taken ``count`` batches out of its mailbox."""
        if len(self.taken) >= count:
            return
        waiter = (count, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter[1], READ_TIMEOUT)
        finally:
            self._waiters.remove(waiter)


class Client:
    """A test client: reads frames into ``received`` and finds answers by id."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: list[ServerFrame] = []
        self.welcome: WelcomeFrame | None = None
        self._ids = 0

    async def close(self) -> None:
        await self.ws.close()

    async def read(self) -> ServerFrame:
        """Read one frame (bounded by ``READ_TIMEOUT``), validate it, record it."""
        raw = await asyncio.wait_for(self.ws.recv(), READ_TIMEOUT)
        frame = SERVER_FRAME_ADAPTER.validate_json(raw)
        self.received.append(frame)
        return frame

    async def read_until(self, condition: Callable[[], bool]) -> None:
        """Read frames until ``condition()`` holds (checked first)."""
        while not condition():
            await self.read()

    async def send(self, frame: dict[str, Any]) -> str:
        """Send ``frame`` as JSON (an ``id`` is added if missing); return its id."""
        if "id" not in frame:
            self._ids += 1
            frame = {**frame, "id": f"r{self._ids}"}
        await self.ws.send(json.dumps(frame))
        return str(frame["id"])

    async def request(self, frame: dict[str, Any]) -> ServerFrame:
        """Send ``frame`` and return the frame that answers its id."""
        frame_id = await self.send(frame)
        return await self.answer(frame_id)

    async def answer(self, frame_id: str) -> ServerFrame:
        """Return the first frame answering ``frame_id`` (reading until it comes)."""
        while True:
            for frame in self.received:
                if _answers(frame, frame_id):
                    self.received.remove(frame)
                    return frame
            await self.read()

    async def until_events(self, count: int, subscription: str | None = None) -> None:
        """Read frames until ``count`` event frames (of one subscription) have come."""
        await self.read_until(lambda: len(self.events(subscription)) >= count)

    def events(self, subscription: str | None = None) -> list[EventFrame]:
        """Return the event frames received so far (of one subscription)."""
        return [
            f
            for f in self.received
            if isinstance(f, EventFrame) and subscription in (None, f.subscription)
        ]

    def seqs(self, subscription: str | None = None) -> list[int]:
        return [f.seq for f in self.events(subscription)]


def _answers(frame: ServerFrame, frame_id: str) -> bool:
    if isinstance(frame, ReplyFrame | ErrorFrame | PongFrame):
        return frame.id == frame_id
    return isinstance(frame, SnapshotFrame) and frame.subscription == frame_id


@dataclass
class Stack:
    """A running system with a gateway in front of it."""

    system: ActorSystem
    gateway: Gateway
    manager: ActorRef
    registry: ActorRef
    router: ActorRef
    rules: ActorRef | None
    store: Store

    async def connect(
        self, user: str = "viewer", *, via: str = "header", welcome: bool = True, **kwargs: Any
    ) -> Client:
        """Connect as ``user`` (token in the header or the query); read the welcome."""
        token = TOKENS[user][0]
        url = self.gateway.url
        if via == "query":
            url += f"?token={token}"
        elif via == "header":
            kwargs["additional_headers"] = {"Authorization": f"Bearer {token}"}
        kwargs.setdefault("max_queue", UNPAUSED)
        ws = await connect(url, proxy=None, open_timeout=READ_TIMEOUT, **kwargs)
        client = Client(ws)
        if welcome:
            frame = await client.read()
            assert isinstance(frame, WelcomeFrame), frame
            client.received.remove(frame)
            client.welcome = frame
        return client

    async def registry_stats(self) -> RegistryStats:
        stats = await self.registry.ask(RegistryStatsQuery())
        assert isinstance(stats, RegistryStats)
        return stats


@asynccontextmanager
async def serving(
    *,
    config: GatewayConfig | None = None,
    registry_config: RegistryConfig | None = None,
    store: Store | None = None,
    sink: SinkBox | None = None,
    sink_mailbox: int | None = None,
    rules: bool = False,
    clock: Clock | None = None,
    readiness: ReadinessCheck | None = None,
    registry_class: type[ConnectionRegistry] = ConnectionRegistry,
) -> AsyncIterator[Stack]:
    """Run the alert manager, the registry and a router, and a gateway in front.

    ``rules=True`` runs the real rules tree (router, rule set, evaluators) feeding the
    alert manager; otherwise a ``SampleSink`` (``sink``, with ``sink_mailbox``) is the
    router.
    """
    store = store or MemoryStore()
    await store.open()
    children: list[ChildSpec] = [
        alert_manager_spec(store),
        ChildSpec(
            CONNECTION_REGISTRY,
            lambda: registry_class("/alert-manager", config=registry_config),
        ),
    ]
    box = sink or SinkBox()
    if rules:
        children.append(ChildSpec("rules", lambda: RulesSupervisor("/alert-manager")))
    else:
        children.append(ChildSpec("router", lambda: SampleSink(box), mailbox_size=sink_mailbox))
    try:
        async with ActorSystem(children) as system:
            router = system.lookup("/rules/metric-router" if rules else "/router")
            targets = GatewayTargets(
                router=router,
                alert_manager=system.lookup("/alert-manager"),
                registry=system.lookup("/connection-registry"),
                rules=system.lookup("/rules/rule-set") if rules else None,
            )
            gateway = Gateway(config or gateway_config(), targets, clock=clock, readiness=readiness)
            try:
                async with gateway:
                    yield Stack(
                        system,
                        gateway,
                        targets.alert_manager,
                        targets.registry,
                        router,
                        targets.rules,
                        store,
                    )
            finally:
                box.release(float("inf"))
    finally:
        await store.close()


def kinds(frames: Sequence[EventFrame]) -> list[str]:
    """Return the transition kinds of ``frames``."""
    return [f.event.kind.value for f in frames]


class GatedQueryStore(MemoryStore):
    """A ``MemoryStore`` whose history queries wait while ``hold`` is on.

    Makes a resume's history fetch observable: ``until_waiting`` returns once a query is
    held, so a test can commit live events before the history answer is read.
    """

    def __init__(self) -> None:
        super().__init__()
        self._gate = asyncio.Event()
        self._gate.set()
        self._arrived = asyncio.Event()
        self.waiting = 0

    def hold(self) -> None:
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    async def until_waiting(self) -> None:
        while self.waiting == 0:
            self._arrived.clear()
            await asyncio.wait_for(self._arrived.wait(), READ_TIMEOUT)

    async def query_events(self, query: EventQuery) -> list[StoredEvent]:
        if not self._gate.is_set():
            self.waiting += 1
            self._arrived.set()
            try:
                await self._gate.wait()
            finally:
                self.waiting -= 1
        return await super().query_events(query)
