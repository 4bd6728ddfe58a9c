"""AlertSystem's subscriptions: the filter, the snapshot, and the events in order."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gateway.system import AlertEvents, AlertSystem
from messages import RULE_ADAPTER, MetricSample
from supervision import ActorRef
from tests.gateway.harness import READ_TIMEOUT
from tests.system.test_end_to_end import RULES, config

LOAD_HIGH = {
    "type": "threshold",
    "id": "load-high",
    "selector": "load1",
    "op": ">",
    "threshold": 8,
    "severity": "warning",
}


def sample(name: str, host: str, team: str, value: float) -> MetricSample:
    labels = {"host": host, "team": team}
    return MetricSample(name=name, value=value, labels=labels, timestamp=time.time())


def embedded() -> AlertSystem:
    """Return a system with no server: a critical disk rule and a warning load rule."""
    return AlertSystem(config(server={"enabled": False}, rules={"inline": [*RULES, LOAD_HIGH]}))


async def seen(events: AlertEvents, count: int) -> list[tuple[str, str, str]]:
    """Return the next ``count`` events as (kind, rule, host)."""
    got = []
    async with asyncio.timeout(READ_TIMEOUT):
        for _ in range(count):
            event = await anext(events)
            labels = event.payload["labels"]
            assert isinstance(labels, dict)
            got.append((event.kind.value, str(labels["alertname"]), str(labels["host"])))
    return got


async def test_each_subscription_yields_the_events_its_filter_selects_in_order() -> None:
    async with (
        embedded() as system,
        system.subscribe() as everything,
        system.subscribe(matchers='{team="db"}') as db,
        system.subscribe(severities=["warning"]) as warnings,
        system.subscribe(states=["acknowledged"]) as acknowledged,
    ):
        await system.ingest(
            [
                sample("disk_used_percent", "web-1", "web", 95),
                sample("disk_used_percent", "db-1", "db", 97),
            ]
        )
        opened = await seen(everything, 2)
        assert sorted(opened) == [
            ("alert_opened", "disk-full", "db-1"),
            ("alert_opened", "disk-full", "web-1"),
        ]
        [disk_db] = await system.alerts(matchers='{host="db-1"}')
        await system.acknowledge(disk_db.alert_id, by="alice")
        await system.resolve(disk_db.alert_id, by="alice")
        # Last, a warning on db-1 that every filter but the acknowledged one selects, then
        # its acknowledgement: what a subscription yields before it is all it ever will.
        await system.ingest([sample("load1", "db-1", "db", 12)])
        assert await seen(everything, 3) == [
            ("alert_acknowledged", "disk-full", "db-1"),
            ("alert_resolved", "disk-full", "db-1"),
            ("alert_opened", "load-high", "db-1"),
        ]
        [load_db] = await system.alerts(matchers='{alertname="load-high"}')
        await system.acknowledge(load_db.alert_id, by="bob")

        assert await seen(db, 5) == [
            ("alert_opened", "disk-full", "db-1"),
            ("alert_acknowledged", "disk-full", "db-1"),
            ("alert_resolved", "disk-full", "db-1"),
            ("alert_opened", "load-high", "db-1"),
            ("alert_acknowledged", "load-high", "db-1"),
        ]
        assert await seen(warnings, 2) == [
            ("alert_opened", "load-high", "db-1"),
            ("alert_acknowledged", "load-high", "db-1"),
        ]
        # An alert is yielded as it enters the state and as it leaves it.
        assert await seen(acknowledged, 3) == [
            ("alert_acknowledged", "disk-full", "db-1"),
            ("alert_resolved", "disk-full", "db-1"),
            ("alert_acknowledged", "load-high", "db-1"),
        ]


async def test_a_subscription_starts_with_a_snapshot_of_the_open_alerts_it_selects() -> None:
    async with embedded() as system:
        async with system.subscribe() as everything:
            await system.ingest(
                [
                    sample("disk_used_percent", h, t, 99)
                    for h, t in (("web-1", "web"), ("db-1", "db"))
                ]
            )
            await seen(everything, 2)
        async with (
            system.subscribe(matchers='{team="db"}') as db,
            system.subscribe(severities=["warning"]) as warnings,
        ):
            assert [alert.labels["host"] for alert in db.snapshot] == ["db-1"]
            assert warnings.snapshot == ()
            [disk_db] = db.snapshot
            await system.acknowledge(disk_db.alert_id, by="alice")
            # The first event is the one after the snapshot: its alert_opened is not repeated.
            assert await seen(db, 1) == [("alert_acknowledged", "disk-full", "db-1")]


async def tree(system: AlertSystem, parent: ActorRef | None = None) -> dict[str, Any]:
    """Return the supervision tree under ``parent`` as nested dicts, children in start order."""
    shape: dict[str, Any] = {}
    for child in await system.system.which_children(parent):
        supervises = child.name in {"alerting", "notifiers", "rules", "collectors", "edge"}
        shape[child.name] = await tree(system, child.ref) if supervises else None
    return shape


def in_order(shape: dict[str, Any]) -> list[str]:
    """Return every name of ``shape``, depth first, children in order."""
    return [n for name, sub in shape.items() for n in (name, *(in_order(sub) if sub else ()))]


async def test_the_system_runs_the_designs_supervision_tree_and_rules_are_its_children() -> None:
    receivers = {"websocket": {}, "webhook": [{"name": "ops", "url": "http://127.0.0.1:9/"}]}
    collectors = {"host": {"enabled": True, "interval": 3600}}
    async with AlertSystem(config(receivers=receivers, collectors=collectors)) as system:
        rules = {"metric-router": None, "rule-set": None, "rule:disk-full": None}
        expected = {
            "store": None,
            "alerting": {
                "notifiers": {"notifier:webhook:ops": None, "notifier:websocket": None},
                "alert-manager": None,
                "rules": rules,
            },
            "collectors": {"host-collector": None},
            "edge": {"connection-registry": None, "gateway": None},
        }
        running = await tree(system)
        assert running == expected
        assert in_order(running) == in_order(expected)  # children start in the design's order
        load_high = RULE_ADAPTER.validate_python(LOAD_HIGH)
        await system.put_rule(load_high)
        assert list(await tree(system, system.system.lookup("/alerting/rules"))) == [
            *rules,
            "rule:load-high",
        ]
        await system.delete_rule("disk-full")
        assert list(await tree(system, system.system.lookup("/alerting/rules"))) == [
            "metric-router",
            "rule-set",
            "rule:load-high",
        ]


async def test_iterating_a_subscription_ends_when_the_system_stops() -> None:
    system = embedded()
    await system.start()
    try:
        async with system.subscribe() as events:
            kinds: list[str] = []
            first = asyncio.Event()

            async def read() -> None:
                async for event in events:
                    kinds.append(event.kind.value)
                    first.set()

            reader = asyncio.create_task(read())
            await system.ingest([sample("disk_used_percent", "db-1", "db", 99)])
            async with asyncio.timeout(READ_TIMEOUT):
                await first.wait()
                await system.stop()
                await reader  # the iteration ends: nobody waits for events that cannot come
            assert kinds == ["alert_opened"]
    finally:
        await system.stop()
