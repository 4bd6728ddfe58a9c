"""Receiver changes made over the protocol survive a kill -9 of ``tocsin serve``.

A real server (``ServerProcess``) routes every alert to its configured webhook ``ops``,
whose endpoint refuses connections, and has a spare configured webhook. An admin
replaces ``ops`` with a loopback HTTP server and deletes the spare; both are answered,
then the process is SIGKILLed (no shutdown code runs: what was answered must already be
in the store). The server started again on the same data delivers to the stored
endpoint, lists no spare, and logs which configured receivers the store overrides. The
store file it created is readable by its owner only: it holds the stored secrets.
"""

from __future__ import annotations

import hmac
import json
import stat
import time
from pathlib import Path
from typing import Any

from actors.notify import sign
from messages import ReplyFrame
from tests.faults.server import BOUND, running
from tests.notify.http_server import HttpServer, closed_port_url


def config(dead: str) -> str:
    return f"""
[collectors.host]
enabled = false

[[rules.inline]]
type = "threshold"
id = "hot"
selector = "load"
op = ">"
threshold = 50
severity = "critical"

[[receivers.webhook]]
name = "ops"
url = "{dead}"
trust_env = false

[[receivers.webhook]]
name = "spare"
url = "{dead}"
trust_env = false

[route]
receiver = "ops"
group_wait = 0
"""


def sample(name: str, value: float) -> dict[str, Any]:
    return {"name": name, "value": value, "labels": {"host": "h1"}, "timestamp": time.time()}


async def test_receiver_changes_answered_before_a_kill9_are_there_after_it(
    tmp_path: Path,
) -> None:
    endpoint = await HttpServer().start()
    dead = closed_port_url()
    try:
        async with running(tmp_path / "data", config(dead)) as server:
            async with server.client() as admin:
                ops = {
                    "name": "ops",
                    "url": endpoint.url,
                    "hmac_secret": "s3cret",
                    "trust_env": False,
                }
                put = {"type": "put_receiver", "kind": "webhook", "receiver": ops}
                answer = await admin.request(put)
                assert isinstance(answer, ReplyFrame), answer
                deleted = await admin.request({"type": "delete_receiver", "name": "spare"})
                assert isinstance(deleted, ReplyFrame), deleted
            await server.restart_after_kill9()

            async with server.client() as admin:
                listed = await admin.request({"type": "list_receivers"})
                assert isinstance(listed, ReplyFrame), listed
                assert isinstance(listed.data, list)
                names = [entry["name"] for entry in listed.data]  # type: ignore[index,call-overload]
                assert names == ["ops"]
                ingested = await admin.request({"type": "ingest", "samples": [sample("load", 99)]})
                assert isinstance(ingested, ReplyFrame), ingested
            await endpoint.until(lambda: bool(endpoint.requests), timeout=BOUND)
            request = endpoint.requests[0]
            assert request.json()["receiver"] == "ops"
            expected = sign(b"s3cret", request.body)
            assert hmac.compare_digest(request.headers["x-tocsin-signature"], expected)

            logged = [json.loads(line) for line in server.stderr_lines if "overridden" in line]
            assert [(entry["replaced"], entry["deleted"]) for entry in logged] == [
                (["ops"], ["spare"])
            ]
            [store_file] = (tmp_path / "data").glob("*.db")
            assert stat.S_IMODE(store_file.stat().st_mode) == 0o600
    finally:
        await endpoint.close()
