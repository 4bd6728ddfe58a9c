"""Reverting a rule drops its stored run-time change: the configuration's version counts.

As in test_rule_durability.py, every test runs an AlertSystem on a real SQLite file in
``tmp_path`` and starts a new one on the same file for a restart; a store that refuses
writes is SQLite told ``PRAGMA query_only`` on the store's own connection.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from actors import NoStoredRuleChange, RuleChanges, RuleNotFound, RuleNotStored
from actors.store import SqliteStore
from gateway.system import AlertSystem
from messages import ErrorFrame, ReplyFrame, ThresholdRule
from tests.system.test_end_to_end import RULES, client
from tests.system.test_rule_durability import (
    CPU_RULE,
    MEM_RULE,
    query_only,
    settings,
    stored_rules,
)

CONFIG = [*RULES, CPU_RULE]


async def running(system: AlertSystem) -> dict[str, ThresholdRule]:
    rules = {rule.id: rule for rule in await system.list_rules()}
    assert all(isinstance(rule, ThresholdRule) for rule in rules.values())
    return rules  # type: ignore[return-value]


async def test_reverting_a_replaced_config_rule_runs_the_configured_one_now_and_after_a_restart(
    tmp_path: Path,
) -> None:
    async with AlertSystem(settings(tmp_path, CONFIG)) as system:
        await system.put_rule(ThresholdRule.model_validate({**CPU_RULE, "threshold": 50}))

    # The operator edits the file; the stored change still wins until it is reverted.
    edited_cpu = {**CPU_RULE, "threshold": 70}
    edited = settings(tmp_path, [*RULES, edited_cpu])
    async with AlertSystem(edited) as system:
        assert (await running(system))["cpu-high"].threshold == 50
        changes = await system.revert_rule("cpu-high")
        assert changes == RuleChanges(replaced=("cpu-high",))
        assert (await running(system))["cpu-high"] == ThresholdRule.model_validate(edited_cpu)
        assert await stored_rules(system) == {}

    async with AlertSystem(edited) as system:
        rules = await running(system)
        assert sorted(rules) == ["cpu-high", "disk-full"]
        assert rules["cpu-high"].threshold == 70


async def test_reverting_a_deleted_config_rule_brings_it_back(tmp_path: Path) -> None:
    async with AlertSystem(settings(tmp_path, CONFIG)) as system:
        await system.delete_rule("disk-full")
    async with AlertSystem(settings(tmp_path, CONFIG)) as system:
        assert sorted(await running(system)) == ["cpu-high"]
        changes = await system.revert_rule("disk-full")
        assert changes == RuleChanges(added=("disk-full",))
        assert sorted(await running(system)) == ["cpu-high", "disk-full"]
        assert await stored_rules(system) == {}
    async with AlertSystem(settings(tmp_path, CONFIG)) as system:
        assert sorted(await running(system)) == ["cpu-high", "disk-full"]


async def test_reverting_a_rule_created_at_run_time_deletes_it(tmp_path: Path) -> None:
    async with AlertSystem(settings(tmp_path, CONFIG)) as system:
        await system.put_rule(MEM_RULE)
        changes = await system.revert_rule("mem-high")
        assert changes == RuleChanges(removed=("mem-high",))
        assert sorted(await running(system)) == ["cpu-high", "disk-full"]
        assert await stored_rules(system) == {}
    async with AlertSystem(settings(tmp_path, CONFIG)) as system:
        assert sorted(await running(system)) == ["cpu-high", "disk-full"]


async def test_reverting_with_no_stored_change_is_not_found(tmp_path: Path) -> None:
    async with AlertSystem(settings(tmp_path, CONFIG)) as system:
        for rule_id in ("disk-full", "no-such-rule"):
            with pytest.raises(NoStoredRuleChange) as raised:
                await system.revert_rule(rule_id)
            assert isinstance(raised.value, RuleNotFound)
            assert raised.value.rule_id == rule_id
        # Once reverted, there is nothing left to revert.
        await system.delete_rule("disk-full")
        await system.revert_rule("disk-full")
        with pytest.raises(NoStoredRuleChange):
            await system.revert_rule("disk-full")
        assert sorted(await running(system)) == ["cpu-high", "disk-full"]


async def test_a_revert_the_store_refuses_changes_nothing(tmp_path: Path) -> None:
    replaced = ThresholdRule.model_validate({**CPU_RULE, "threshold": 50})
    async with AlertSystem(settings(tmp_path, CONFIG)) as system:
        await system.put_rule(replaced)
        await system.put_rule(MEM_RULE)
        await system.delete_rule("disk-full")
        before = await stored_rules(system)
        assert isinstance(system.store, SqliteStore)
        await system.store._call(query_only(True))
        for rule_id in ("cpu-high", "mem-high", "disk-full"):
            with pytest.raises(RuleNotStored):
                await system.revert_rule(rule_id)
        rules = await running(system)
        assert sorted(rules) == ["cpu-high", "mem-high"]
        assert rules["cpu-high"] == replaced
        await system.store._call(query_only(False))
        assert await stored_rules(system) == before
        # The store recovered: the revert applies, and the record still knew the changes.
        assert await system.revert_rule("cpu-high") == RuleChanges(replaced=("cpu-high",))
    async with AlertSystem(settings(tmp_path, CONFIG)) as system:
        rules = await running(system)
        assert sorted(rules) == ["cpu-high", "mem-high"]
        assert rules["cpu-high"].threshold == 90


async def test_the_revert_rule_frame_answers_changes_not_found_and_unavailable(
    tmp_path: Path,
) -> None:
    async with (
        AlertSystem(settings(tmp_path, CONFIG, server={"port": 0})) as system,
        client(system, "admin") as admin,
        client(system, "operator") as operator,
    ):
        await system.delete_rule("disk-full")
        forbidden = await operator.request({"type": "revert_rule", "rule_id": "disk-full"})
        assert isinstance(forbidden, ErrorFrame)
        assert forbidden.code == "forbidden"

        assert isinstance(system.store, SqliteStore)
        await system.store._call(query_only(True))
        refused = await admin.request({"type": "revert_rule", "rule_id": "disk-full"})
        assert isinstance(refused, ErrorFrame)
        assert refused.code == "unavailable"
        await system.store._call(query_only(False))

        reverted = await admin.request({"type": "revert_rule", "rule_id": "disk-full"})
        assert isinstance(reverted, ReplyFrame)
        assert isinstance(reverted.data, dict)
        assert reverted.data["added"] == ["disk-full"]

        missing = await admin.request({"type": "revert_rule", "rule_id": "disk-full"})
        assert isinstance(missing, ErrorFrame)
        assert (missing.code, missing.field) == ("not_found", "rule_id")
        assert "no stored run-time change" in missing.message
    async with AlertSystem(settings(tmp_path, CONFIG)) as system:
        assert sorted(await running(system)) == ["cpu-high", "disk-full"]
