"""Bad frames get typed errors and the connection survives; abuse closes it."""

from __future__ import annotations

import json
import re

import pytest
from websockets.exceptions import ConnectionClosedError

from messages import MAX_BATCH_SIZE, ErrorFrame, PongFrame
from supervision import FakeClock
from tests.gateway.harness import gateway_config, serving

SAMPLE = {"name": "up", "value": 1.0, "timestamp": 1_700_000_000.0}


@pytest.mark.parametrize(
    ("raw", "frame_id", "field", "words"),
    [
        ("{not json", None, None, "Invalid JSON"),
        ("[1, 2]", None, None, "Input should be an object"),
        ('{"type": "launch", "id": "a"}', "a", "type", "launch"),
        ('{"id": "b"}', "b", "type", "Field required"),
        ('{"type": "ping"}', None, "id", "Field required"),
        ('{"type": "ping", "id": ""}', None, "id", "at least 1 character"),
        ('{"type": "ping", "id": "c", "colour": "red"}', "c", "colour", "Extra inputs"),
        ('{"type": "ack", "id": "d", "alert_id": 7}', "d", "alert_id", "valid string"),
        ('{"type": "query", "id": "e", "limit": 0}', "e", "limit", "greater than or equal to 1"),
        ('{"type": "subscribe", "id": "f", "states": ["asleep"]}', "f", "states[0]", "active"),
        ('{"type": "subscribe", "id": "g", "matchers": "team=~\\"(\\""}', "g", "matchers", ""),
        (
            json.dumps({"type": "ingest", "id": "h", "samples": [{**SAMPLE, "value": "hot"}]}),
            "h",
            "samples[0].value",
            "valid number",
        ),
        (json.dumps({"type": "ingest", "id": "i", "samples": []}), "i", "samples", "at least 1"),
        (
            json.dumps({"type": "ingest", "id": "k", "samples": [SAMPLE] * (MAX_BATCH_SIZE + 1)}),
            "k",
            "samples",
            "at most 10000",
        ),
        ("[" * 5000, None, None, "recursion limit"),
        ('{"type": "ping", "id": "\\ud800"}', None, None, "Invalid JSON"),
        ('{"type": NaN, "id": "j"}', "j", "type", "'nan'"),
    ],
    ids=[
        "invalid-json",
        "not-an-object",
        "unknown-type",
        "no-type",
        "no-id",
        "empty-id",
        "unknown-field",
        "wrong-field-type",
        "out-of-range",
        "bad-enum",
        "bad-matcher",
        "bad-sample",
        "empty-batch",
        "batch-past-the-size-limit",
        "nested-past-the-recursion-limit",
        "lone-surrogate-id",
        "nan-type",
    ],
)
async def test_every_bad_frame_gets_a_typed_error_naming_the_field_and_the_connection_survives(
    raw: str, frame_id: str | None, field: str | None, words: str
) -> None:
    async with serving() as stack:
        client = await stack.connect("ingest")
        await client.ws.send(raw)
        error = await client.read()
        assert isinstance(error, ErrorFrame)
        assert (error.id, error.code, error.field) == (frame_id, "invalid", field)
        assert words in error.message
        assert isinstance(await client.request({"type": "ping", "id": "alive"}), PongFrame)
        await client.close()


async def test_a_binary_frame_gets_an_invalid_error_and_the_connection_survives() -> None:
    async with serving() as stack:
        client = await stack.connect()
        await client.ws.send(b'{"type": "ping", "id": "x"}')
        error = await client.read()
        assert isinstance(error, ErrorFrame)
        assert (error.code, error.id) == ("invalid", None)
        assert "text frames" in error.message
        assert isinstance(await client.request({"type": "ping"}), PongFrame)
        await client.close()


async def test_a_frame_over_the_size_limit_closes_the_connection_with_1009() -> None:
    async with serving(config=gateway_config(max_frame_bytes=4096)) as stack:
        client = await stack.connect("ingest")
        assert client.welcome is not None
        assert client.welcome.max_frame_bytes == 4096
        await client.ws.send(json.dumps({"type": "ping", "id": "x", "pad": "y" * 5000}))
        with pytest.raises(ConnectionClosedError) as closed:
            await client.read()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009


async def test_a_flood_is_rate_limited_then_closed_with_1008() -> None:
    config = gateway_config(rate=1.0, burst=2, abuse_burst=3)
    async with serving(config=config, clock=FakeClock()) as stack:
        client = await stack.connect()
        for n in range(7):
            await client.ws.send(json.dumps({"type": "ping", "id": f"p{n}"}))
        answers = [await client.read() for _ in range(5)]
        assert [type(a) for a in answers] == [PongFrame] * 2 + [ErrorFrame] * 3
        assert all(a.code == "rate_limited" for a in answers[2:])
        assert [a.id for a in answers] == ["p0", "p1", "p2", "p3", "p4"]
        with pytest.raises(ConnectionClosedError) as closed:
            await client.read()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            1008,
            "too many frames: the rate limit was exceeded repeatedly",
        )


async def test_the_rate_limit_refills_with_time() -> None:
    clock = FakeClock()
    config = gateway_config(rate=1.0, burst=1, abuse_burst=5)
    async with serving(config=config, clock=clock) as stack:
        client = await stack.connect()
        assert isinstance(await client.request({"type": "ping"}), PongFrame)
        limited = await client.request({"type": "ping"})
        assert isinstance(limited, ErrorFrame)
        assert limited.code == "rate_limited"
        clock.advance(1.0)
        assert isinstance(await client.request({"type": "ping"}), PongFrame)
        await client.close()


async def test_a_connection_past_max_connections_is_closed_with_1013() -> None:
    async with serving(config=gateway_config(max_connections=2)) as stack:
        first = await stack.connect()
        second = await stack.connect("operator")
        third = await stack.connect("admin", welcome=False)
        with pytest.raises(ConnectionClosedError) as closed:
            await third.read()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1013
        assert "too many connections" in closed.value.rcvd.reason
        assert isinstance(await first.request({"type": "ping"}), PongFrame)
        await first.close()
        await second.request({"type": "ping"})
        assert stack.gateway.connections <= 2
        await second.close()


async def test_the_error_for_a_batch_of_many_bad_samples_stays_short() -> None:
    async with serving() as stack:
        client = await stack.connect("ingest")
        samples = [{**SAMPLE, "value": "hot"} for _ in range(2000)]
        error = await client.request({"type": "ingest", "samples": samples})
        assert isinstance(error, ErrorFrame)
        assert error.field == "samples[0].value"
        assert len(error.message) < 2100
        assert re.search(r"; \.\.\. \(20\d\d problems in all\)$", error.message)
        await client.close()
