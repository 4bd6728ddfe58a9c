"""The rules subtree wired in a real ActorSystem: rules change at run time, alerts flow."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors import (
    ApplyRules,
    LedgerStatsQuery,
    LoadRuleFile,
    RouterStatsQuery,
    RuleChanges,
    RuleFileError,
    RuleNotFound,
)
from messages import (
    AlertFiring,
    AlertResolved,
    CallableRule,
    DeleteRule,
    ListRules,
    PutRule,
    RuleInvalid,
    SampleBatch,
    ThresholdRule,
    parse_sample_batch,
)
from tests.actors.harness import rules_tree, sample


def cpu_rule(rule_id: str = "cpu-high", **fields: object) -> ThresholdRule:
    values: dict[str, object] = {
        "id": rule_id,
        "selector": 'cpu_percent{env="prod"}',
        "op": ">",
        "threshold": 90,
    }
    values.update(fields)
    return ThresholdRule.model_validate(values)


def batch(*samples: object) -> SampleBatch:
    return SampleBatch.model_validate({"samples": samples})


async def test_a_rule_put_at_run_time_fires_on_the_samples_it_selects() -> None:
    async with rules_tree() as tree:
        changes = await tree.rule_set.ask(PutRule(rule=cpu_rule()))
        assert changes == RuleChanges(added=("cpu-high",))
        now = tree.now()
        tree.router.tell(
            batch(
                sample("cpu_percent", 95.0, now, env="prod", host="a"),
                sample("cpu_percent", 99.0, now, env="dev", host="b"),
                sample("mem_percent", 99.0, now, env="prod", host="a"),
            )
        )
        await tree.log.until(lambda: len(tree.log.firing()) == 1)
        await tree.settle("cpu-high")
        (alert,) = tree.log.firing()
        assert alert.labels == {"env": "prod", "host": "a", "alertname": "cpu-high"}
        assert alert.starts_at == now


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"aggregation": {"fn": "avg", "window": 60}},
        {"no_data_timeout": 600},
    ],
    ids=["threshold", "windowed", "general"],
)
async def test_json_batches_parsed_into_rows_fire_as_the_same_batches_of_models(
    fields: dict[str, object],
) -> None:
    fired = []
    for as_rows in (False, True):
        async with rules_tree() as tree:
            await tree.put(cpu_rule("cpu-high", **fields))
            now = tree.now()
            models = batch(
                sample("cpu_percent", 95.0, now, env="prod", host="a"),
                sample("cpu_percent", 20.0, now, env="prod", host="b"),
                sample("cpu_percent", 99.0, now, env="dev", host="c"),
            )
            tree.router.tell(parse_sample_batch(models.model_dump_json()) if as_rows else models)
            await tree.log.until(lambda: len(tree.log.firing()) == 1)
            await tree.settle("cpu-high")
            fired.append(tree.log.firing())
    assert fired[0] == fired[1]
    (alert,) = fired[1]
    assert alert.labels == {"env": "prod", "host": "a", "alertname": "cpu-high"}


async def test_a_pending_alert_fires_when_the_fake_clock_reaches_its_deadline() -> None:
    async with rules_tree() as tree:
        await tree.put(cpu_rule(for_=60))
        tree.router.tell(batch(sample("cpu_percent", 95.0, tree.now(), env="prod")))
        await tree.settle("cpu-high")
        assert tree.log.firing() == []
        tree.clock.advance(59.0)
        await tree.settle("cpu-high")
        assert tree.log.firing() == []
        tree.clock.advance(1.0)
        await tree.log.until(lambda: len(tree.log.firing()) == 1)
        assert tree.log.firing()[0].starts_at == tree.now()


async def test_a_silent_series_raises_its_no_data_alert_on_the_fake_clock() -> None:
    async with rules_tree() as tree:
        await tree.put(cpu_rule(no_data_timeout=30))
        tree.router.tell(batch(sample("cpu_percent", 1.0, tree.now(), env="prod")))
        await tree.settle("cpu-high")
        tree.clock.advance(30.0)
        await tree.log.until(lambda: len(tree.log.firing()) == 1)
        assert tree.log.firing()[0].no_data
        tree.router.tell(batch(sample("cpu_percent", 2.0, tree.now(), env="prod")))
        await tree.log.until(lambda: len(tree.log.resolved()) == 1)


async def test_replacing_a_rule_resolves_its_alerts_and_starts_its_series_afresh() -> None:
    async with rules_tree() as tree:
        await tree.put(cpu_rule())
        tree.router.tell(batch(sample("cpu_percent", 95.0, tree.now(), env="prod")))
        await tree.log.until(lambda: len(tree.log.firing()) == 1)
        changes = await tree.put(cpu_rule(threshold=97))
        assert changes == RuleChanges(replaced=("cpu-high",))
        await tree.log.until(lambda: len(tree.log.resolved()) == 1)
        assert tree.log.resolved()[0].value is None
        tree.clock.advance(1.0)
        tree.router.tell(batch(sample("cpu_percent", 96.0, tree.now(), env="prod")))
        tree.router.tell(batch(sample("cpu_percent", 98.0, tree.now() + 0.5, env="prod")))
        await tree.log.until(lambda: len(tree.log.firing()) == 2)
        assert tree.log.firing()[1].value == 98.0


async def test_putting_an_unchanged_rule_again_changes_nothing() -> None:
    async with rules_tree() as tree:
        await tree.put(cpu_rule())
        tree.router.tell(batch(sample("cpu_percent", 95.0, tree.now(), env="prod")))
        await tree.log.until(lambda: len(tree.log.firing()) == 1)
        changes = await tree.put(cpu_rule())
        assert changes == RuleChanges(unchanged=("cpu-high",))
        await tree.settle("cpu-high")
        assert tree.log.resolved() == []


async def test_deleting_a_rule_resolves_its_alerts_and_stops_its_evaluator() -> None:
    async with rules_tree() as tree:
        await tree.put(cpu_rule(), cpu_rule("cpu-very-high", threshold=98))
        tree.router.tell(batch(sample("cpu_percent", 95.0, tree.now(), env="prod")))
        await tree.log.until(lambda: len(tree.log.firing()) == 1)
        evaluator = tree.evaluator("cpu-high")
        changes = await tree.rule_set.ask(DeleteRule(rule_id="cpu-high"))
        assert changes == RuleChanges(removed=("cpu-high",))
        await tree.log.until(lambda: len(tree.log.resolved()) == 1)
        assert not evaluator.is_alive()
        assert [rule.id for rule in await tree.rule_set.ask(ListRules())] == ["cpu-very-high"]
        stats = await tree.router.ask(RouterStatsQuery())
        assert stats.routes == 1


async def test_deleting_an_unknown_rule_is_a_named_error() -> None:
    async with rules_tree() as tree:
        with pytest.raises(RuleNotFound, match="nope"):
            await tree.rule_set.ask(DeleteRule(rule_id="nope"))
        assert await tree.rule_set.ask(ListRules()) == ()


async def test_rules_are_listed_in_id_order_and_a_disabled_one_gets_no_samples() -> None:
    async with rules_tree() as tree:
        await tree.put(cpu_rule("b"), cpu_rule("a", enabled=False))
        assert [rule.id for rule in await tree.rule_set.ask(ListRules())] == ["a", "b"]
        tree.router.tell(batch(sample("cpu_percent", 95.0, tree.now(), env="prod")))
        await tree.log.until(lambda: len(tree.log.firing()) == 1)
        assert tree.log.firing()[0].rule_id == "b"
        stats = await tree.router.ask(RouterStatsQuery())
        assert (stats.routes, stats.deliveries) == (1, 1)


async def test_applying_rules_with_a_bad_template_is_refused_and_changes_nothing() -> None:
    async with rules_tree() as tree:
        await tree.put(cpu_rule())
        bad = cpu_rule("other", annotations={"summary": "{{ oops"})
        with pytest.raises(RuleInvalid, match=r"annotations\.summary"):
            await tree.rule_set.ask(ApplyRules(rules=(cpu_rule(threshold=10), bad)))
        (running,) = await tree.rule_set.ask(ListRules())
        assert running == cpu_rule()


async def test_applying_rules_with_a_duplicate_id_is_refused() -> None:
    async with rules_tree() as tree:
        with pytest.raises(RuleInvalid, match="duplicate id"):
            await tree.put(cpu_rule(), cpu_rule(threshold=1))
        assert await tree.rule_set.ask(ListRules()) == ()


async def test_a_callable_rule_runs_in_an_embedded_tree() -> None:
    rule = CallableRule(
        id="custom",
        selector="cpu_percent",  # type: ignore[arg-type]
        window=60,
        condition=lambda window: len(window) >= 2,
    )
    async with rules_tree() as tree:
        await tree.put(rule)
        now = tree.now()
        tree.router.tell(
            batch(sample("cpu_percent", 1.0, now), sample("cpu_percent", 1.0, now + 1))
        )
        await tree.log.until(lambda: len(tree.log.firing()) == 1)


# -- rule files ---------------------------------------------------------------------------------

GOOD_FILE = """
[[rules]]
type = "threshold"
id = "cpu-high"
selector = 'cpu_percent{env="prod"}'
op = ">"
threshold = 90

[[rules]]
type = "threshold"
id = "disk-full"
selector = "disk_used_percent"
op = ">"
threshold = 95
"""

BAD_FILE = GOOD_FILE.replace("threshold = 95", 'threshold = "very"')


async def test_a_rule_file_is_loaded_and_reloading_it_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(GOOD_FILE)
    async with rules_tree() as tree:
        changes = await tree.rule_set.ask(LoadRuleFile(path=path))
        assert changes == RuleChanges(added=("cpu-high", "disk-full"))
        again = await tree.rule_set.ask(LoadRuleFile(path=path))
        assert again == RuleChanges(unchanged=("cpu-high", "disk-full"))


async def test_a_bad_rule_file_is_a_clear_error_and_nothing_changes(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(BAD_FILE)
    async with rules_tree() as tree:
        await tree.put(cpu_rule(threshold=50))
        with pytest.raises(RuleFileError) as caught:
            await tree.rule_set.ask(LoadRuleFile(path=path, prune=True))
        message = str(caught.value)
        assert str(path) in message
        assert "disk-full" in message
        assert "threshold" in message
        assert isinstance(caught.value.__cause__, RuleInvalid)
        (running,) = await tree.rule_set.ask(ListRules())
        assert running == cpu_rule(threshold=50)


async def test_an_unreadable_rule_file_is_a_clear_error(tmp_path: Path) -> None:
    async with rules_tree() as tree:
        with pytest.raises(RuleFileError, match="cannot be read"):
            await tree.rule_set.ask(LoadRuleFile(path=tmp_path / "missing.toml"))


async def test_loading_a_file_with_prune_makes_it_the_whole_rule_set(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(GOOD_FILE)
    async with rules_tree() as tree:
        await tree.put(cpu_rule("old"), cpu_rule(threshold=1))
        changes = await tree.rule_set.ask(LoadRuleFile(path=path, prune=True))
        assert changes == RuleChanges(
            added=("disk-full",), replaced=("cpu-high",), removed=("old",)
        )
        ids = [rule.id for rule in await tree.rule_set.ask(ListRules())]
        assert ids == ["cpu-high", "disk-full"]
        ledger = await tree.ledger.ask(LedgerStatsQuery())
        assert ledger.open == 0


async def test_alert_events_reach_the_ledger_in_order() -> None:
    async with rules_tree() as tree:
        await tree.put(cpu_rule())
        now = tree.now()
        tree.router.tell(
            batch(
                sample("cpu_percent", 95.0, now, env="prod"),
                sample("cpu_percent", 10.0, now + 1, env="prod"),
                sample("cpu_percent", 96.0, now + 2, env="prod"),
            )
        )
        await tree.log.until(lambda: len(tree.log.items) == 3)
        kinds = [type(event) for event in tree.log.items]
        assert kinds == [AlertFiring, AlertResolved, AlertFiring]
        stats = await tree.ledger.ask(LedgerStatsQuery())
        assert (stats.open, stats.opened, stats.duplicates) == (1, 2, 0)
