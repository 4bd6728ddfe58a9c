"""Ingest over the socket: backpressure from the router's bounded mailbox, end to end."""

from __future__ import annotations

import json

from messages import ErrorFrame, ReplyFrame, SampleRows, SnapshotFrame
from tests.gateway.harness import SinkBox, gateway_config, serving

T0 = 1_700_000_000.0


def batch(n: int, size: int = 3) -> dict[str, object]:
    samples = [
        {"name": "load", "value": float(i), "labels": {"batch": str(n)}, "timestamp": T0 + i}
        for i in range(size)
    ]
    return {"type": "ingest", "id": f"b{n}", "samples": samples}


async def test_ingest_stops_reading_while_the_routers_bounded_mailbox_is_full() -> None:
    box = SinkBox(held=True)
    async with serving(sink=box, sink_mailbox=1) as stack:
        client = await stack.connect("ingest")
        frames = 6
        for n in range(frames):
            await client.ws.send(json.dumps(batch(n)))
        metrics = stack.gateway.metrics.registry
        for handled in range(frames):
            await box.until_taken(handled + 1)
            # The sink holds batch `handled`; at most one more waits in its mailbox and
            # one in the session's `send`: the gateway has read no further.
            read = metrics.get_sample_value("tocsin_frames_received_total", {"type": "ingest"})
            assert read is not None
            assert read <= handled + 3
            assert stack.router.mailbox_size() <= 1
            box.release()
        replies = [await client.answer(f"b{n}") for n in range(frames)]
        assert all(isinstance(r, ReplyFrame) for r in replies)
        assert [r.data for r in replies] == [{"accepted": 3}] * frames
        assert [b.samples[0].labels["batch"] for b in box.batches] == [
            str(n) for n in range(frames)
        ]
        # Validated into plain dicts on the way (messages.parse_ingest_frame).
        assert box.kinds == [SampleRows] * frames
        assert stack.system.dead_letters.count == 0
        samples = metrics.get_sample_value("tocsin_samples_ingested_total", {"source": "websocket"})
        assert samples is None  # counted at scrape time only
        await client.close()


async def test_ingest_that_waits_too_long_for_the_router_gets_unavailable() -> None:
    box = SinkBox(held=True)
    config = gateway_config(ingest_timeout=0.05)
    async with serving(config=config, sink=box, sink_mailbox=1) as stack:
        client = await stack.connect("ingest")
        first = await client.request(batch(0))
        second = await client.request(batch(1))
        assert isinstance(first, ReplyFrame)
        assert isinstance(second, ReplyFrame)
        third = await client.request(batch(2))
        assert isinstance(third, ErrorFrame)
        assert third.code == "unavailable"
        assert "router stayed full" in third.message
        await client.close()


async def test_samples_ingested_over_the_socket_fire_an_alert_that_a_subscriber_sees() -> None:
    async with serving(rules=True) as stack:
        admin = await stack.connect("admin")
        rule = {"type": "threshold", "id": "hot", "selector": "temp", "op": ">", "threshold": 50}
        put = await admin.request({"type": "put_rule", "rule": rule})
        assert isinstance(put, ReplyFrame)
        assert put.data == {
            "type": "rule_changes",
            "added": ["hot"],
            "replaced": [],
            "removed": [],
            "unchanged": [],
        }
        viewer = await stack.connect()
        assert isinstance(await viewer.request({"type": "subscribe", "id": "s"}), SnapshotFrame)
        ingest = await stack.connect("ingest")
        samples = [
            {"name": "temp", "value": 20.0, "labels": {"room": "a"}, "timestamp": T0},
            {"name": "temp", "value": 90.0, "labels": {"room": "b"}, "timestamp": T0},
        ]
        reply = await ingest.request({"type": "ingest", "samples": samples})
        assert isinstance(reply, ReplyFrame)
        assert reply.data == {"accepted": 2}
        await viewer.read_until(lambda: len(viewer.events()) >= 1)
        event = viewer.events()[0].event
        assert event.kind.value == "alert_opened"
        assert event.payload["labels"] == {"alertname": "hot", "room": "b"}
        assert event.payload["value"] == 90.0
        for peer in (admin, viewer, ingest):
            await peer.close()
