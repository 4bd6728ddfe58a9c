"""The /metrics provider of per-rule series: an evaluator behind a backlog is left out.

A scrape asks every evaluator at once, each for ``EVALUATOR_TIMEOUT`` at most: one that
is still busy with earlier mail must not take the other rules' counts with it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from actors import AlertLedger, ApplyRules, EvaluatorStatsQuery, RuleEvaluator, RulesSupervisor
from gateway._metrics import RuleSeries
from gateway._tree_metrics import EVALUATOR_TIMEOUT, TreeMetrics
from messages import AnyRule, MetricSample, SampleBatch, ThresholdRule
from supervision import ActorRef, ActorSystem, Cancellable, ChildSpec, FakeClock, Supervisor

BOUND = 10.0
"""The longest any step waits: a bound, never a pause."""


@dataclass(frozen=True)
class Stall:
    """Keep the evaluator inside this message until the test lets it go (a backlog)."""


class StallingEvaluator(RuleEvaluator):
    """A ``RuleEvaluator`` that can be held in the middle of a message."""

    entered = asyncio.Event()
    resume = asyncio.Event()

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Stall):
            StallingEvaluator.entered.set()
            await StallingEvaluator.resume.wait()
            return None
        return await super().on_receive(message)


class ScrapeClock(FakeClock):
    """A FakeClock that tells when the scrape's asks have all set their timeouts."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.armed = asyncio.Event()

    def call_later(self, delay: float, callback: Any) -> Cancellable:
        if delay == EVALUATOR_TIMEOUT:
            self.expected -= 1
            if self.expected == 0:
                self.armed.set()
        return super().call_later(delay, callback)


def evaluator(rule: AnyRule, sink: ActorRef | str) -> RuleEvaluator:
    kind = StallingEvaluator if rule.id == "slow" else RuleEvaluator
    return kind(rule, sink)


def alerting() -> Supervisor:
    """The paths of AlertSystem's tree: /alerting/rules/rule:<id>, with an AlertLedger."""

    def rules() -> RulesSupervisor:
        return RulesSupervisor("/alerting/alert-ledger", evaluator_factory=evaluator)

    return Supervisor([ChildSpec("alert-ledger", AlertLedger), ChildSpec("rules", rules)])


def rule(rule_id: str, metric: str) -> ThresholdRule:
    return ThresholdRule.model_validate(
        {"id": rule_id, "selector": metric, "op": ">", "threshold": 90.0}
    )


async def test_an_evaluator_behind_a_backlog_is_left_out_and_the_others_are_reported() -> None:
    StallingEvaluator.entered, StallingEvaluator.resume = asyncio.Event(), asyncio.Event()
    clock = ScrapeClock(expected=2)
    async with ActorSystem([ChildSpec("alerting", alerting)], clock=clock) as system:
        metrics = TreeMetrics(lambda: system, lambda: system, lambda: 0).providers()
        assert metrics.rule_series is not None
        await system.lookup("/alerting/rules/rule-set").ask(
            ApplyRules(rules=(rule("fast", "cpu"), rule("slow", "mem")))
        )
        fast = system.lookup("/alerting/rules/rule:fast")
        slow = system.lookup("/alerting/rules/rule:slow")
        now = clock.time()
        fast.tell(
            SampleBatch(
                samples=tuple(
                    MetricSample(name="cpu", value=1.0, labels={"n": str(n)}, timestamp=now)
                    for n in range(4)
                )
            )
        )
        slow.tell(Stall())
        async with asyncio.timeout(BOUND):
            await StallingEvaluator.entered.wait()
            scrape = asyncio.ensure_future(metrics.rule_series())
            await clock.armed.wait()  # both asks are queued, their timeouts set
            # Mail is handled in order: the scrape's ask to fast is answered by now.
            await fast.ask(EvaluatorStatsQuery())
            clock.advance(EVALUATOR_TIMEOUT)
            assert await scrape == {"fast": RuleSeries(4, 0, 0)}
            StallingEvaluator.resume.set()
            clock.expected = 2
            assert await metrics.rule_series() == {
                "fast": RuleSeries(4, 0, 0),
                "slow": RuleSeries(0, 0, 0),
            }
