"""Run-time rule changes are stored before they are answered and come back at start.

Every test runs an AlertSystem on a real SQLite file in ``tmp_path``, leaves it and
starts a new AlertSystem on the same file, as ``tocsin serve`` does after a restart.
A store that refuses writes is SQLite itself told ``PRAGMA query_only`` on the store's
own connection (as tests/store/test_sqlite_failures.py does).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from actors import RULES_COLLECTION, RuleNotStored
from actors.store import SqliteStore
from gateway.config import TocsinConfig
from gateway.system import AlertSystem
from messages import ErrorFrame, MetricSample, ReplyFrame, RuleInvalid, ThresholdRule
from tests.gateway.harness import READ_TIMEOUT
from tests.system.test_end_to_end import RULES, client, config

CPU_RULE = {
    "type": "threshold",
    "id": "cpu-high",
    "selector": "cpu_percent",
    "op": ">",
    "threshold": 90,
    "severity": "warning",
}

MEM_RULE = ThresholdRule.model_validate(
    {
        "type": "threshold",
        "id": "mem-high",
        "selector": "mem_used_percent",
        "op": ">",
        "threshold": 80,
        "severity": "critical",
    }
)


def settings(tmp_path: Path, rules: list[dict[str, Any]], **sections: Any) -> TocsinConfig:
    return config(
        store={"path": str(tmp_path / "tocsin.db")},
        rules={"inline": rules},
        **{"server": {"enabled": False}, **sections},
    )


def sample(name: str, value: float) -> MetricSample:
    return MetricSample(name=name, value=value, labels={"host": "db-1"}, timestamp=time.time())


async def stored_rules(system: AlertSystem) -> dict[str, Any]:
    snapshot = await system.store.load()
    return dict(snapshot.documents.get(RULES_COLLECTION, {}))


def query_only(on: bool) -> Any:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA query_only = {'ON' if on else 'OFF'}").fetchall()

    return run


async def test_a_put_rule_and_a_deleted_config_rule_stay_so_after_a_restart(
    tmp_path: Path,
) -> None:
    first = settings(tmp_path, [*RULES, CPU_RULE])
    async with AlertSystem(first) as system:
        await system.put_rule(MEM_RULE)
        await system.delete_rule("disk-full")
        replaced = ThresholdRule.model_validate({**CPU_RULE, "threshold": 50})
        await system.put_rule(replaced)

    # The operator edits the file meanwhile: the stored changes still win, and say so.
    edited = settings(tmp_path, [*RULES, {**CPU_RULE, "threshold": 70}])
    with capture_logs() as logs:
        async with AlertSystem(edited) as system:
            rules = {rule.id: rule for rule in await system.list_rules()}
            assert sorted(rules) == ["cpu-high", "mem-high"]
            assert rules["cpu-high"] == replaced
            assert rules["mem-high"] == MEM_RULE
            async with system.subscribe() as events, asyncio.timeout(READ_TIMEOUT):
                await system.ingest([sample("disk_used_percent", 99.0)])
                await system.ingest([sample("mem_used_percent", 95.0)])
                opened = await anext(events)
            assert opened.rule_id == "mem-high"
            assert [alert.rule_id for alert in await system.alerts()] == ["mem-high"]
    overridden = [e for e in logs if e["event"].startswith("configured rules overridden")]
    assert len(overridden) == 1
    assert (overridden[0]["replaced"], overridden[0]["deleted"]) == (["cpu-high"], ["disk-full"])


async def test_deleting_a_rule_created_at_run_time_forgets_it(tmp_path: Path) -> None:
    async with AlertSystem(settings(tmp_path, RULES)) as system:
        await system.put_rule(MEM_RULE)
        assert set(await stored_rules(system)) == {"mem-high"}
        await system.delete_rule("mem-high")
        assert await stored_rules(system) == {}

    # No tombstone: a configuration that adds the same id later runs it.
    later = settings(tmp_path, [*RULES, MEM_RULE.model_dump(mode="json")])
    async with AlertSystem(later) as system:
        assert sorted(rule.id for rule in await system.list_rules()) == ["disk-full", "mem-high"]


async def test_a_deleted_config_rule_put_again_comes_back(tmp_path: Path) -> None:
    async with AlertSystem(settings(tmp_path, RULES)) as system:
        await system.delete_rule("disk-full")
        assert await stored_rules(system) == {"disk-full": {"deleted": True}}
    async with AlertSystem(settings(tmp_path, RULES)) as system:
        assert await system.list_rules() == ()
        [rule] = RULES
        await system.put_rule(ThresholdRule.model_validate(rule))
    async with AlertSystem(settings(tmp_path, RULES)) as system:
        assert [rule.id for rule in await system.list_rules()] == ["disk-full"]


async def test_an_invalid_rule_is_refused_and_not_stored(tmp_path: Path) -> None:
    async with AlertSystem(settings(tmp_path, RULES)) as system:
        bad = MEM_RULE.model_copy(update={"annotations": {"summary": "{{ unclosed"}})
        with pytest.raises(RuleInvalid):
            await system.put_rule(bad)
        assert await stored_rules(system) == {}
    async with AlertSystem(settings(tmp_path, RULES)) as system:
        assert [rule.id for rule in await system.list_rules()] == ["disk-full"]


async def test_a_change_the_store_refuses_is_refused_and_applies_nothing(
    tmp_path: Path,
) -> None:
    async with AlertSystem(settings(tmp_path, RULES)) as system:
        assert isinstance(system.store, SqliteStore)
        await system.store._call(query_only(True))
        with pytest.raises(RuleNotStored):
            await system.put_rule(MEM_RULE)
        with pytest.raises(RuleNotStored):
            await system.delete_rule("disk-full")
        assert [rule.id for rule in await system.list_rules()] == ["disk-full"]
        await system.store._call(query_only(False))
        await system.put_rule(MEM_RULE)  # the store recovered: so does the change
        assert sorted(rule.id for rule in await system.list_rules()) == ["disk-full", "mem-high"]


async def test_rule_frames_are_stored_and_a_refused_write_answers_unavailable(
    tmp_path: Path,
) -> None:
    path = settings(tmp_path, RULES, server={"port": 0})
    rule = MEM_RULE.model_dump(mode="json")
    async with AlertSystem(path) as system, client(system, "admin") as admin:
        assert isinstance(system.store, SqliteStore)
        await system.store._call(query_only(True))
        refused = await admin.request({"type": "put_rule", "rule": rule})
        assert isinstance(refused, ErrorFrame)
        assert refused.code == "unavailable"
        await system.store._call(query_only(False))
        assert isinstance(await admin.request({"type": "put_rule", "rule": rule}), ReplyFrame)
        deleted = await admin.request({"type": "delete_rule", "rule_id": "disk-full"})
        assert isinstance(deleted, ReplyFrame)
    async with AlertSystem(settings(tmp_path, RULES)) as system:
        assert [rule.id for rule in await system.list_rules()] == ["mem-high"]
