"""The edge subtree of DESIGN.md: registry and gateway as supervised children."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from actors.alerting import alert_manager_spec
from actors.store import MemoryStore
from gateway import (
    CONNECTION_REGISTRY,
    GATEWAY,
    GatewayAddress,
    GatewayAddressQuery,
    GatewayServer,
    GatewayTargets,
    gateway_spec,
    registry_spec,
)
from messages import PongFrame, WelcomeFrame
from supervision import ActorSystem, ChildSpec, Strategy, Supervisor
from tests.gateway.harness import READ_TIMEOUT, Client, SampleSink, SinkBox, gateway_config


def targets(system: ActorSystem) -> GatewayTargets:
    return GatewayTargets(
        router=system.lookup("/router"),
        alert_manager=system.lookup("/alert-manager"),
        registry=system.lookup(f"/edge/{CONNECTION_REGISTRY}"),
    )


async def test_the_gateway_serves_as_a_supervised_child_and_closes_with_1001_on_shutdown() -> None:
    store = MemoryStore()
    await store.open()
    edge = Supervisor(
        [registry_spec("/alert-manager"), gateway_spec(gateway_config(), targets)],
        strategy=Strategy.ONE_FOR_ONE,
    )
    tree = [
        alert_manager_spec(store),
        ChildSpec("router", lambda: SampleSink(SinkBox())),
        ChildSpec("edge", lambda: edge),
    ]
    try:
        async with ActorSystem(tree) as system:
            address = await system.lookup(f"/edge/{GATEWAY}").ask(GatewayAddressQuery())
            assert isinstance(address, GatewayAddress)
            assert address.url == f"ws://127.0.0.1:{address.port}/ws"
            ws = await connect(
                address.url + "?token=viewer-secret-token", proxy=None, open_timeout=READ_TIMEOUT
            )
            client = Client(ws)
            assert isinstance(await client.read(), WelcomeFrame)
            assert isinstance(await client.request({"type": "ping"}), PongFrame)
            await system.terminate_child("edge")
            with pytest.raises(ConnectionClosed) as closed:
                await client.read()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
    finally:
        await store.close()


def test_a_gateway_server_without_a_start_has_no_gateway() -> None:
    assert GatewayServer(gateway_config(), targets).gateway is None
