"""The registry's other duties: notifications from the WebSocket notifier, restarts."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.exceptions import ConnectionClosedError

from actors.alerting import alert_manager_spec
from actors.notify import WebSocketChannel
from actors.store import MemoryStore
from gateway import (
    CONNECTION_REGISTRY,
    ConnectionRegistry,
    Register,
    RegistryConfig,
    RegistryStatsQuery,
    registry_spec,
)
from messages import (
    Notification,
    NotificationFrame,
    NotificationKind,
    ReplyFrame,
    Severity,
    SnapshotFrame,
    alert_labels,
    fingerprint,
)
from supervision import ActorSystem, FakeClock
from tests.alerting.builders import firing
from tests.gateway.harness import serving


def notification(
    key: str, *, team: str = "db", kind: NotificationKind = NotificationKind.FIRING
) -> Notification:
    labels = alert_labels("cpu", {}, {"team": team})
    return Notification(
        id=f"n-{key}",
        receiver="websocket",
        kind=kind,
        fingerprint=fingerprint(labels),
        labels=labels,
        severity=Severity.CRITICAL,
        created_at=1_700_000_000.0,
        idempotency_key=key,
    )


async def test_notifications_reach_matching_subscriptions_that_asked_once_per_key() -> None:
    async with serving() as stack:
        wants = await stack.connect()
        frame = {"type": "subscribe", "id": "n", "notifications": True, "matchers": 'team="db"'}
        assert isinstance(await wants.request(frame), SnapshotFrame)
        plain = await stack.connect()
        assert isinstance(await plain.request({"type": "subscribe", "id": "p"}), SnapshotFrame)
        channel = WebSocketChannel(lambda: stack.system.lookup(CONNECTION_REGISTRY))
        await channel.send(
            [
                notification("k1"),
                notification("k1"),
                notification("k2", team="web"),
                notification("k3"),
            ]
        )
        await wants.read_until(
            lambda: len([f for f in wants.received if isinstance(f, NotificationFrame)]) >= 2
        )
        got = [f for f in wants.received if isinstance(f, NotificationFrame)]
        assert [f.notification.idempotency_key for f in got] == ["k1", "k3"]
        assert {f.subscription for f in got} == {"n"}
        # The plain subscriber sees the next event and no notification before it.
        stack.manager.tell(firing(host="fence"))
        await plain.until_events(1)
        assert not [f for f in plain.received if isinstance(f, NotificationFrame)]
        stats = await stack.registry_stats()
        assert (stats.notifications_pushed, stats.duplicates_dropped) == (2, 1)
        for peer in (wants, plain):
            await peer.close()


class StalledConnection:
    """A registered connection whose client stopped reading: ``check`` sheds it."""

    def __init__(self) -> None:
        self.connection_id = "stalled"
        self.is_open = True
        self.close_code: int | None = None
        self.checks = 0

    def check(self) -> bool:
        self.checks += 1
        self.is_open = False
        self.close_code = 1013
        return False


async def test_the_heartbeat_sheds_a_client_that_stopped_reading_while_no_event_flows() -> None:
    clock = FakeClock()
    store = MemoryStore()
    await store.open()
    tree = [
        alert_manager_spec(store),
        registry_spec("/alert-manager", config=RegistryConfig(heartbeat_interval=5.0)),
    ]
    try:
        async with ActorSystem(tree, clock=clock) as system:
            registry = system.lookup(CONNECTION_REGISTRY)
            stalled = StalledConnection()
            await registry.ask(Register(stalled))  # type: ignore[arg-type]
            assert (await registry.ask(RegistryStatsQuery())).connections == 1
            clock.advance(5.0)
            stats = await registry.ask(RegistryStatsQuery())
            assert (stats.connections, stats.shed, stalled.checks) == (0, 1, 1)
    finally:
        await store.close()


class Crash:
    """Makes a ``CrashingRegistry`` raise."""


class CrashingRegistry(ConnectionRegistry):
    """A registry that crashes on ``Crash``, as a bug would."""

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Crash):
            raise RuntimeError("a bug in the registry")
        return await super().on_receive(message)


async def test_a_registry_restart_closes_connections_with_1012_and_clients_resume() -> None:
    async with serving(registry_class=CrashingRegistry) as stack:
        client = await stack.connect()
        assert isinstance(await client.request({"type": "subscribe", "id": "s"}), SnapshotFrame)
        stack.manager.tell(firing(host="a"))
        await client.until_events(1)
        last_seen = client.seqs()[-1]
        stack.registry.tell(Crash())
        with pytest.raises(ConnectionClosedError) as closed:
            await client.read()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1012
        stack.manager.tell(firing(host="b"))
        watcher = await stack.connect()
        await watcher.request({"type": "subscribe", "id": "w", "resume_from": last_seen})
        await watcher.until_events(1)
        again = await stack.connect()
        reply = await again.request({"type": "subscribe", "id": "s", "resume_from": last_seen})
        assert isinstance(reply, ReplyFrame)
        stack.manager.tell(firing(host="c"))
        await again.until_events(2)
        hosts = [f.event.payload["labels"]["host"] for f in again.events()]  # type: ignore[index,call-overload]
        assert hosts == ["b", "c"]
        assert again.seqs()[0] == last_seen + 1
        for peer in (watcher, again):
            await peer.close()
