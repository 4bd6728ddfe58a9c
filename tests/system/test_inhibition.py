"""Inhibition rules from the TOML configuration mute alerts in a running AlertSystem."""

from __future__ import annotations

import asyncio
import time
import tomllib

from gateway.config import parse_config
from gateway.system import AlertEvents, AlertSystem
from messages import AlertState, AlertTransition, MetricSample, TransitionKind
from tests.gateway.harness import READ_TIMEOUT

CONFIG = """
[server]
enabled = false

[store]
path = ":memory:"

[collectors.host]
enabled = false

[[rules.inline]]
type = "threshold"
id = "host-down"
selector = "up"
op = "<"
threshold = 1
severity = "critical"

[[rules.inline]]
type = "threshold"
id = "disk-full"
selector = "disk_used_percent"
op = ">"
threshold = 90
severity = "warning"

[[inhibit_rules]]
source_matchers = ['alertname="host-down"']
target_matchers = ['severity="warning"']
equal = ["host"]
"""


def sample(name: str, value: float, host: str) -> MetricSample:
    return MetricSample(name=name, value=value, labels={"host": host}, timestamp=time.time())


async def next_of(events: AlertEvents, kind: TransitionKind) -> AlertTransition:
    """Return the next event of ``kind`` from ``events``."""
    async with asyncio.timeout(READ_TIMEOUT):
        async for event in events:
            if event.kind is kind:
                return event
    raise AssertionError(f"the events ended before a {kind}")


async def test_a_down_host_mutes_its_own_warnings_until_it_is_up_again() -> None:
    config = parse_config(tomllib.loads(CONFIG))
    async with AlertSystem(config) as system, system.subscribe() as events:
        await system.ingest([sample("up", 0, "db-1")])
        down = await next_of(events, TransitionKind.ALERT_OPENED)
        await system.ingest([sample("disk_used_percent", 99, "db-1")])
        muted = await next_of(events, TransitionKind.ALERT_OPENED)
        assert muted.payload["state"] == "suppressed"
        assert muted.payload["inhibited_by"] == [down.alert_id]
        await system.ingest([sample("disk_used_percent", 99, "web-1")])
        other = await next_of(events, TransitionKind.ALERT_OPENED)
        assert other.payload["state"] == "active"  # another host: not muted

        await system.ingest([sample("up", 1, "db-1")])
        released = await next_of(events, TransitionKind.ALERT_UNSUPPRESSED)
        assert (released.alert_id, released.payload["state"]) == (muted.alert_id, "active")
        states = {a.alert_id: a.state for a in await system.alerts()}
        assert states == {
            down.alert_id: AlertState.RESOLVED,
            muted.alert_id: AlertState.ACTIVE,
            other.alert_id: AlertState.ACTIVE,
        }
