"""The gateway's heartbeats: pings find a peer that stopped answering; live peers stay."""

from __future__ import annotations

import asyncio

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from messages import PongFrame
from tests.gateway.harness import READ_TIMEOUT, TOKENS, gateway_config, serving


async def silent_peer(url: str, token: str) -> tuple[list[Frame], int | None]:
    """Connect, then never send a byte more (not even pongs) until the server hangs up.

    Returns the frames the server sent and the close code it sent.
    """
    protocol = ClientProtocol(parse_uri(url))
    request = protocol.connect()
    request.headers["Authorization"] = f"Bearer {token}"
    protocol.send_request(request)
    uri = parse_uri(url)
    reader, writer = await asyncio.open_connection(uri.host, uri.port)
    try:
        writer.write(b"".join(protocol.data_to_send()))
        async with asyncio.timeout(READ_TIMEOUT):
            while data := await reader.read(65536):
                protocol.receive_data(data)
                protocol.data_to_send()  # the pongs a live peer would send: dropped
        protocol.receive_eof()
    finally:
        writer.close()
    frames = [event for event in protocol.events_received() if isinstance(event, Frame)]
    return frames, protocol.close_rcvd.code if protocol.close_rcvd else None


async def test_a_peer_that_stops_answering_pings_is_closed_and_a_live_one_stays() -> None:
    # A ping every 50 ms; the live client gets half a second to answer each, a busy machine too.
    config = gateway_config(heartbeat_interval=0.05, heartbeat_timeout=0.5)
    async with serving(config=config) as stack:
        live = await stack.connect("viewer")
        frames, code = await silent_peer(stack.gateway.url, TOKENS["operator"][0])
        assert Opcode.PING in [frame.opcode for frame in frames]
        assert code == 1011  # websockets' "keepalive ping timeout"
        # The live client answered every ping meanwhile (its library does) and is still served.
        assert isinstance(await live.request({"type": "ping"}), PongFrame)
        assert stack.gateway.connections == 1
        await live.close()
