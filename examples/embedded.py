"""Run Tocsin inside your own asyncio program: a rule, samples, live events, commands,
queries and a silence.

    python examples/embedded.py

No server, no file: the store is in memory and the gateway is off. Drop
``"server": {"enabled": False}`` to serve WebSocket clients as well.
"""

from __future__ import annotations

import asyncio
import time

from gateway.config import TocsinConfig
from gateway.system import AlertSystem
from messages import RULE_ADAPTER, AlertState, MetricSample


async def main() -> list[str]:
    """Fire an alert, acknowledge and resolve it, silence its queue; return what was seen."""
    config = TocsinConfig.model_validate(
        {
            "server": {"enabled": False},
            "store": {"path": ":memory:"},
            "collectors": {"host": {"enabled": False}},
        }
    )
    seen: list[str] = []
    async with AlertSystem(config) as system:
        rule = RULE_ADAPTER.validate_python(
            {
                "type": "threshold",
                "id": "queue-backlog",
                "selector": 'queue_depth{queue="orders"}',
                "op": ">",
                "threshold": 1000,
                "severity": "critical",
                "annotations": {"summary": "{{ labels.queue }} backlog is {{ value }}"},
            }
        )
        await system.put_rule(rule)
        async with system.subscribe(severities=["critical"]) as events:
            now = time.time()
            await system.ingest(
                [
                    MetricSample(
                        name="queue_depth", value=5000, labels={"queue": "orders"}, timestamp=now
                    )
                ]
            )
            opened = await anext(events)
            seen.append(opened.kind.value)
            alert_id = opened.alert_id
            assert alert_id is not None  # an alert_opened event is about an alert
            print(f"{opened.kind.value}: {opened.alert_id} {opened.payload['annotations']}")
            await system.acknowledge(alert_id, by="alice", comment="looking")
            seen.append((await anext(events)).kind.value)
            taken = await system.alerts(states=[AlertState.ACKNOWLEDGED])
            print(f"acknowledged: {[(a.alert_id, a.acknowledged_by) for a in taken]}")
            await system.resolve(alert_id, by="alice", comment="drained the queue")
            seen.append((await anext(events)).kind.value)
        page = await system.history(alert_id=alert_id)
        for event in page.events:
            print(f"history #{event.seq}: {event.kind.value}")
        seen.append("history: " + ", ".join(event.kind.value for event in page.events))
        # Mute the orders queue's alerts for an hour of maintenance.
        silence = await system.silence(
            '{queue="orders"}', duration=3600, by="alice", comment="maintenance window"
        )
        seen.append(f"silence {silence.status.value}")
    return seen


if __name__ == "__main__":
    print(asyncio.run(main()))
