"""Crashes: evaluators, the router and the rule set restart without losing alerts or rules."""

from __future__ import annotations

import asyncio
from typing import Any

from actors import (
    ROUTER,
    RULE_SET,
    AlertLedger,
    ApplyRules,
    DescribeRule,
    EvaluatorStatsQuery,
    FiringAlerts,
    FiringAlertsQuery,
    LedgerStatsQuery,
    MetricRouter,
    Retire,
    RouterStatsQuery,
    RuleEvaluator,
    RuleSet,
)
from messages import ListRules, SampleBatch, ThresholdRule
from supervision import ActorSystem, ChildSpec, FakeClock, Strategy, Supervisor
from tests.actors.harness import (
    EPOCH,
    Boom,
    Crash,
    CrashableEvaluator,
    Log,
    Recorder,
    rules_tree,
    sample,
)


def rule(rule_id: str = "cpu-high", **fields: object) -> ThresholdRule:
    values: dict[str, object] = {"id": rule_id, "selector": "cpu", "op": ">", "threshold": 90}
    values.update(fields)
    return ThresholdRule.model_validate(values)


def batch(*samples: Any) -> SampleBatch:
    return SampleBatch(samples=samples)


async def test_a_crashed_evaluator_restarts_and_keeps_its_firing_alerts_without_re_alerting() -> (
    None
):
    CrashableEvaluator.starts.clear()
    async with rules_tree(CrashableEvaluator) as tree:
        await tree.put(rule(), rule("quiet", threshold=1000))
        now = tree.now()
        tree.router.tell(
            batch(sample("cpu", 95.0, now, host="a"), sample("cpu", 99.0, now, host="b"))
        )
        await tree.log.until(lambda: len(tree.log.firing()) == 2)
        evaluator = tree.evaluator("cpu-high")
        evaluator.tell(Crash())
        # Asked after the crash: answered by the restarted instance, once it recovered.
        stats = await evaluator.ask(EvaluatorStatsQuery())
        assert CrashableEvaluator.starts.count("cpu-high") == 2
        assert stats.firing == 2
        assert tree.system.dead_letters.by_reason.get("crashed") == 1
        # Still firing: no new alert.  Cleared: resolved under the same fingerprint.
        tree.router.tell(
            batch(sample("cpu", 97.0, now + 1, host="a"), sample("cpu", 5.0, now + 1, host="b"))
        )
        await tree.log.until(lambda: len(tree.log.resolved()) == 1)
        await tree.settle("cpu-high")
        assert len(tree.log.firing()) == 2
        (resolved,) = tree.log.resolved()
        assert resolved.labels["host"] == "b"
        ledger = await tree.ledger.ask(LedgerStatsQuery())
        assert (ledger.open, ledger.opened, ledger.duplicates, ledger.unknown_resolves) == (
            1,
            2,
            0,
            0,
        )


async def test_a_restarted_evaluator_loses_its_pending_series_which_start_over() -> None:
    async with rules_tree(CrashableEvaluator) as tree:
        await tree.put(rule(for_=60))
        tree.router.tell(batch(sample("cpu", 95.0, tree.now())))
        await tree.settle("cpu-high")
        tree.clock.advance(30.0)
        tree.evaluator("cpu-high").tell(Crash())
        stats = await tree.evaluator("cpu-high").ask(EvaluatorStatsQuery())
        assert (stats.series, stats.pending) == (0, 0)
        tree.clock.advance(30.0)
        await tree.settle("cpu-high")
        assert tree.log.firing() == []
        tree.router.tell(batch(sample("cpu", 95.0, tree.now())))
        await tree.settle("cpu-high")
        tree.clock.advance(60.0)
        await tree.log.until(lambda: len(tree.log.firing()) == 1)


class Silent(Recorder):
    """A sink that never answers ``FiringAlertsQuery`` (the reply is deferred forever)."""

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, FiringAlertsQuery):
            self.log_.record(message)
            self.defer_reply()
            return None
        return await super().on_receive(message)


class Confused(Recorder):
    """A sink that answers ``FiringAlertsQuery`` with something else."""

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, FiringAlertsQuery):
            return "not an answer"
        return await super().on_receive(message)


async def test_an_evaluator_whose_sink_answers_nonsense_starts_empty() -> None:
    log = Log()
    clock = FakeClock(epoch=EPOCH)
    specs = [
        ChildSpec("sink", lambda: Confused(log)),
        ChildSpec("rule", lambda: RuleEvaluator(rule(), "/sink")),
    ]
    async with ActorSystem(specs, clock=clock) as system:
        evaluator = system.lookup("/rule")
        evaluator.tell(batch(sample("cpu", 95.0, clock.time()), sample("mem", 99.0, clock.time())))
        await log.until(lambda: len(log.items) == 1)
        assert log.firing()[0].labels["alertname"] == "cpu-high"


async def test_an_evaluator_whose_sink_never_answers_starts_empty_after_its_timeout() -> None:
    log = Log()
    clock = FakeClock(epoch=EPOCH)
    async with ActorSystem([ChildSpec("sink", lambda: Silent(log))], clock=clock) as system:
        starting = asyncio.create_task(
            system.spawn(lambda: RuleEvaluator(rule(), "/sink", recovery_timeout=5.0), "rule")
        )
        await log.until(lambda: len(log.of(FiringAlertsQuery)) == 1)
        assert not starting.done()
        clock.advance(5.0)
        evaluator = await starting
        evaluator.tell(batch(sample("cpu", 95.0, clock.time())))
        await log.until(lambda: len(log.firing()) == 1)


async def test_a_restarted_router_gets_its_routes_back_and_keeps_the_samples_meanwhile() -> None:
    class CrashableRouter(MetricRouter):
        async def on_receive(self, message: Any) -> Any:
            if isinstance(message, Crash):
                raise Boom("injected")
            return await super().on_receive(message)

    log = Log()
    clock = FakeClock(epoch=EPOCH)
    rules = Supervisor(
        [
            ChildSpec(ROUTER, lambda: CrashableRouter(rule_set=RULE_SET)),
            ChildSpec(RULE_SET, lambda: RuleSet("/alert-ledger", router=ROUTER)),
        ],
        strategy=Strategy.ONE_FOR_ONE,
    )
    specs = [
        ChildSpec("alert-ledger", lambda: AlertLedger(listener=log.record)),
        ChildSpec("rules", lambda: rules),
    ]
    async with ActorSystem(specs, clock=clock) as system:
        router = system.lookup(f"/rules/{ROUTER}")
        rule_set = system.lookup(f"/rules/{RULE_SET}")
        await rule_set.ask(ApplyRules(rules=(rule(),)))
        router.tell(Crash())
        router.tell(batch(sample("cpu", 95.0, clock.time())))
        await log.until(lambda: len(log.firing()) == 1)
        stats = await router.ask(RouterStatsQuery())
        assert (stats.routes, stats.dropped_waiting) == (1, 0)


class CrashableRuleSet(RuleSet):
    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Crash):
            raise Boom("injected")
        return await super().on_receive(message)


def rules_with_crashable_rule_set(log: Log) -> list[ChildSpec]:
    rules = Supervisor(
        [
            ChildSpec(ROUTER, lambda: MetricRouter(rule_set=RULE_SET)),
            ChildSpec(RULE_SET, lambda: CrashableRuleSet("/alert-ledger", router=ROUTER)),
        ],
        strategy=Strategy.ONE_FOR_ONE,
    )
    return [
        ChildSpec("alert-ledger", lambda: AlertLedger(listener=log.record)),
        ChildSpec("rules", lambda: rules),
    ]


async def test_a_restarted_rule_set_rebuilds_its_table_from_the_evaluators() -> None:
    log = Log()
    clock = FakeClock(epoch=EPOCH)
    async with ActorSystem(rules_with_crashable_rule_set(log), clock=clock) as system:
        rule_set = system.lookup(f"/rules/{RULE_SET}")
        await rule_set.ask(ApplyRules(rules=(rule("a"), rule("b", enabled=False))))
        rule_set.tell(Crash())
        listed = await rule_set.ask(ListRules())
        assert [r.id for r in listed] == ["a", "b"]
        assert await system.lookup("/rules/rule:b").ask(DescribeRule()) == rule("b", enabled=False)
        system.lookup(f"/rules/{ROUTER}").tell(batch(sample("cpu", 95.0, clock.time())))
        await log.until(lambda: len(log.firing()) == 1)


async def test_a_restarted_rule_set_removes_an_evaluator_left_retired_by_a_broken_change() -> None:
    log = Log()
    clock = FakeClock(epoch=EPOCH)
    async with ActorSystem(rules_with_crashable_rule_set(log), clock=clock) as system:
        rule_set = system.lookup(f"/rules/{RULE_SET}")
        await rule_set.ask(ApplyRules(rules=(rule("a"), rule("b"))))
        evaluator = system.lookup("/rules/rule:a")
        await evaluator.ask(Retire())  # as if the rule set crashed right after this
        rule_set.tell(Crash())
        assert [r.id for r in await rule_set.ask(ListRules())] == ["b"]
        assert not evaluator.is_alive()


async def test_the_ledger_answers_which_alerts_of_a_rule_fire() -> None:
    async with rules_tree() as tree:
        await tree.put(rule(), rule("other", threshold=0))
        tree.router.tell(batch(sample("cpu", 95.0, tree.now(), host="a")))
        await tree.log.until(lambda: len(tree.log.firing()) == 2)
        answer = await tree.ledger.ask(FiringAlertsQuery(rule_id="cpu-high"))
        assert isinstance(answer, FiringAlerts)
        assert answer.alerts == tuple(a for a in tree.log.firing() if a.rule_id == "cpu-high")
