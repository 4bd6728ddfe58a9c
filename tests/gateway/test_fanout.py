"""Fan-out: subscriptions grouped by filter, one frame's bytes written to every client."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from gateway._audience import Audiences
from gateway._auth import Identity
from gateway._connection import Connection, text_frame
from gateway._filters import Facts
from gateway._subscription import Subscription
from messages import EventFrame, Severity, SnapshotFrame, SubscribeFrame
from supervision import RealClock
from tests.alerting.builders import firing
from tests.gateway.harness import Client, serving

WEB: Facts = ({"alertname": "cpu", "team": "web"}, "warning", "active")
DB: Facts = ({"alertname": "cpu", "team": "db"}, "critical", "active")


def subscription(connection_id: str, sub_id: str = "s", **frame: Any) -> Subscription:
    connection = MagicMock()
    connection.connection_id = connection_id
    return Subscription(connection, SubscribeFrame(id=sub_id, **frame), 0)


def test_subscriptions_with_the_same_filter_share_one_audience_whatever_the_order() -> None:
    audiences = Audiences()
    first = subscription("c1", matchers=['team="db"', 'alertname="cpu"'])
    second = subscription("c2", matchers=['alertname="cpu"', 'team="db"'])
    third = subscription("c3", severities=["critical"], matchers=['team="db"'])
    everything = subscription("c4")
    for one in (first, second, third, everything):
        audiences.add(one)
    assert len(audiences) == 3
    assert list(audiences.selecting(None, DB)) == [first, second, third, everything]
    assert list(audiences.selecting(None, WEB)) == [everything]
    assert sorted(s.key for s in audiences) == [("c1", "s"), ("c2", "s"), ("c3", "s"), ("c4", "s")]


def test_a_change_reaches_the_filters_it_leaves_as_well_as_those_it_enters() -> None:
    audiences = Audiences()
    web = subscription("c1", matchers=['team="web"'])
    db = subscription("c2", matchers=['team="db"'])
    audiences.add(web)
    audiences.add(db)
    assert list(audiences.selecting(WEB, DB)) == [web, db]
    assert list(audiences.selecting(None, None)) == []
    assert list(audiences.matching(WEB)) == [web]


def test_discarding_the_last_subscription_of_a_filter_drops_its_audience() -> None:
    audiences = Audiences()
    first, second = subscription("c1", severities=["critical"]), subscription("c2")
    audiences.add(first)
    audiences.add(second)
    audiences.discard(first)
    audiences.discard(first)  # twice: nothing happens
    assert len(audiences) == 1
    assert list(audiences.selecting(None, DB)) == [second]
    audiences.discard(second)
    assert len(audiences) == 0
    assert list(audiences) == []


def test_a_text_frame_is_byte_for_byte_what_websockets_sends_for_the_payload() -> None:
    payload = '{"type":"event","note":"é"}'.encode()
    server = ServerProtocol(state=State.OPEN)
    server.send_text(payload)
    assert server.data_to_send() == [text_frame(payload)]
    parsed = Frame(Opcode.TEXT, payload)
    assert text_frame(payload) == parsed.serialize(mask=False, extensions=[])
    big = b"x" * 70_000  # a 64-bit length header
    assert text_frame(big)[:2] == b"\x81\x7f"


async def test_a_connection_that_negotiated_compression_is_refused_by_name() -> None:
    refused: list[ValueError] = []

    async def handler(ws: ServerConnection) -> None:
        with pytest.raises(ValueError, match="compression=None") as error:
            Connection(
                ws,
                "c1",
                Identity(user="ann", roles=frozenset()),
                max_pending_bytes=1024,
                close_timeout=5,
                clock=RealClock(),
            )
        refused.append(error.value)

    async with serve(handler, "127.0.0.1", 0, compression="deflate") as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", proxy=None) as ws:
            assert ws.protocol.extensions  # permessage-deflate was negotiated
            await ws.wait_closed()
    assert len(refused) == 1


async def test_each_client_gets_each_event_its_filter_selects_once_from_one_frame() -> None:
    filters: list[dict[str, Any]] = [
        {},
        {"matchers": 'team="db"'},
        {"matchers": ['alertname="cpu"', 'team="db"']},
        {"severities": ["critical"]},
    ]
    async with serving() as stack:
        clients: list[tuple[Client, dict[str, Any]]] = []
        for n in range(12):
            client = await stack.connect()
            selected = filters[n % len(filters)]
            frame = {"type": "subscribe", "id": "s", **selected}
            assert isinstance(await client.request(frame), SnapshotFrame)
            clients.append((client, selected))
        stack.manager.tell(firing(host="a", team="db", severity=Severity.WARNING))
        stack.manager.tell(firing(host="b", team="web", severity=Severity.CRITICAL))
        stack.manager.tell(firing(host="c", team="db", severity=Severity.CRITICAL))
        expected_hosts = {
            0: ["a", "b", "c"],
            1: ["a", "c"],
            2: ["a", "c"],
            3: ["b", "c"],
        }
        for n, (client, _) in enumerate(clients):
            hosts = expected_hosts[n % len(filters)]
            await client.until_events(len(hosts))
            events = client.events()
            assert [f.event.payload["labels"]["host"] for f in events] == hosts  # type: ignore[index, call-overload]
            assert all(isinstance(f, EventFrame) and f.subscription == "s" for f in events)
        # Every client that got the third alert got the same frame, once.
        everything = clients[0][0].events()
        assert all(c.events()[-1] == everything[-1] for c, _ in clients)
        stats = await stack.registry_stats()
        assert stats.events_pushed == 3 * 3 + 2 * 3 * 3
        for client, _ in clients:
            await client.close()
