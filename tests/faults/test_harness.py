"""The fault harness itself: a real server that survives SIGKILL and starts again."""

from __future__ import annotations

from pathlib import Path

from messages import ErrorFrame, ReplyFrame
from tests.faults.server import running


async def test_server_restarts_on_the_same_port_after_kill9(tmp_path: Path) -> None:
    async with running(tmp_path / "data") as server:
        port = server.port
        async with server.client() as client:
            reply = await client.request({"type": "list_rules"})
            assert isinstance(reply, ReplyFrame), reply
        await server.restart_after_kill9()
        assert server.port == port
        async with server.client() as client:
            reply = await client.request({"type": "list_rules"})
            assert not isinstance(reply, ErrorFrame), reply
