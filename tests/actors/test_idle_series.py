"""An evaluator forgets idle inactive series on its own timer (fake clock, no sleeps)."""

from __future__ import annotations

from actors import EvaluatorStatsQuery, RuleEvaluator
from actors.evaluation import EvaluationStats
from messages import AnyRule, SampleBatch, ThresholdRule
from supervision import ActorRef
from tests.actors.harness import RulesTree, rules_tree, sample

TTL = 100.0


def idle_evaluator(rule: AnyRule, sink: ActorRef | str) -> RuleEvaluator:
    return RuleEvaluator(rule, sink, series_idle_ttl=TTL)


async def stats(tree: RulesTree) -> EvaluationStats:
    await tree.settle("cpu-high")
    reply = await tree.evaluator("cpu-high").ask(EvaluatorStatsQuery())
    assert isinstance(reply, EvaluationStats)
    return reply


async def test_an_evaluator_forgets_idle_request_series_but_keeps_the_firing_one() -> None:
    rule = ThresholdRule.model_validate(
        {"id": "cpu-high", "selector": "cpu_percent", "op": ">", "threshold": 90.0}
    )
    async with rules_tree(evaluator_factory=idle_evaluator) as tree:
        await tree.put(rule)
        now = tree.now()
        samples = [sample("cpu_percent", 10.0, now, req=f"r{n}") for n in range(50)]
        samples.append(sample("cpu_percent", 95.0, now, req="hot"))
        tree.router.tell(SampleBatch(samples=tuple(samples)))
        await tree.log.until(lambda: len(tree.log.firing()) == 1)
        assert (await stats(tree)).series == 51
        # Only the evaluator's timer runs the sweep: no sample arrives meanwhile.
        for _ in range(4):
            tree.clock.advance(TTL / 4)
            assert (await stats(tree)).series == 51
        for _ in range(2):
            tree.clock.advance(TTL / 4)
            await stats(tree)
        after = await stats(tree)
        assert (after.series, after.firing, after.series_forgotten) == (1, 1, 50)
        assert tree.log.resolved() == []
        # A forgotten series that comes back starts fresh, and alerts as any other.
        tree.router.tell(SampleBatch(samples=(sample("cpu_percent", 99.0, now, req="r7"),)))
        await tree.log.until(lambda: len(tree.log.firing()) == 2)
        assert tree.log.firing()[1].labels["req"] == "r7"
