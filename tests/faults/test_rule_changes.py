"""Rule changes made over the protocol survive a kill -9 of ``tocsin serve``.

A real server (``ServerProcess``) runs two configured rules. An admin puts a new rule
and deletes a configured one; both are answered, then the process is SIGKILLed (no
shutdown code runs: what was answered must already be in the store). The server started
again on the same data runs the put rule (a sample fires it) and not the deleted one
(its sample opens nothing), and its log says which configured rule the store overrides.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from messages import ReplyFrame, SnapshotFrame
from tests.faults.server import BOUND, running

CONFIG = """
[collectors.host]
enabled = false

[[rules.inline]]
type = "threshold"
id = "hot"
selector = "load"
op = ">"
threshold = 50
severity = "critical"

[[rules.inline]]
type = "threshold"
id = "cold"
selector = "temperature"
op = "<"
threshold = 0
severity = "warning"
"""

WARM = {
    "type": "threshold",
    "id": "warm",
    "selector": "temperature",
    "op": ">",
    "threshold": 30,
    "severity": "critical",
}


def sample(name: str, value: float) -> dict[str, Any]:
    return {"name": name, "value": value, "labels": {"host": "h1"}, "timestamp": time.time()}


async def rule_ids(server: Any) -> list[str]:
    async with server.client() as admin:
        listed = await admin.request({"type": "list_rules"})
    assert isinstance(listed, ReplyFrame), listed
    assert isinstance(listed.data, list)
    return [str(rule["id"]) for rule in listed.data]  # type: ignore[index,call-overload]


async def test_rule_changes_answered_before_a_kill9_are_there_after_it(tmp_path: Path) -> None:
    async with running(tmp_path / "data", CONFIG) as server:
        async with server.client() as admin:
            put = await admin.request({"type": "put_rule", "rule": WARM})
            assert isinstance(put, ReplyFrame), put
            deleted = await admin.request({"type": "delete_rule", "rule_id": "hot"})
            assert isinstance(deleted, ReplyFrame), deleted
        await server.restart_after_kill9()

        assert await rule_ids(server) == ["cold", "warm"]
        async with server.client() as admin, asyncio.timeout(BOUND):
            subscribed = await admin.request({"type": "subscribe", "id": "all"})
            assert isinstance(subscribed, SnapshotFrame), subscribed
            # "hot"'s sample first: had the rule come back, its alert would open too.
            samples = [sample("load", 99.0), sample("temperature", 45.0)]
            ingested = await admin.request({"type": "ingest", "samples": samples})
            assert isinstance(ingested, ReplyFrame), ingested
            await admin.until_events(1, "all")
            [opened] = admin.events("all")
            labels = opened.event.payload["labels"]
            assert isinstance(labels, dict)
            assert labels["alertname"] == "warm"
            alerts = await admin.request({"type": "query"})
            assert isinstance(alerts, ReplyFrame), alerts
        assert isinstance(alerts.data, list)
        assert [alert["rule_id"] for alert in alerts.data] == ["warm"]  # type: ignore[index,call-overload]

        logged = [json.loads(line) for line in server.stderr_lines if "overridden" in line]
        assert [(entry["replaced"], entry["deleted"]) for entry in logged] == [([], ["hot"])]
