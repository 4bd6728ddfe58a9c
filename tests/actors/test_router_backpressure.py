"""A bounded router mailbox: producers wait for room, rule changes' routes still pass."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from actors import (
    ROUTER,
    AlertLedger,
    MetricRouter,
    RouterStatsQuery,
    RuleChanges,
    RuleSet,
    RulesSupervisor,
)
from messages import ListRules, PutRule, SampleBatch, ThresholdRule
from supervision import ActorSystem, ChildSpec, FakeClock, Supervisor
from tests.actors.harness import EPOCH, Log, sample


@dataclass(frozen=True)
class Hold:
    """Make a ``HeldRouter`` wait in its handler until ``gate`` is set."""

    gate: asyncio.Event
    holding: asyncio.Event


class HeldRouter(MetricRouter):
    """The real router, which a test can park in a handler to keep its mailbox full."""

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Hold):
            message.holding.set()
            await message.gate.wait()
            return None
        return await super().on_receive(message)


def hot_rule() -> ThresholdRule:
    return ThresholdRule.model_validate(
        {"id": "hot", "selector": "temp", "op": ">", "threshold": 50}
    )


async def test_a_rule_change_reaches_a_router_whose_bounded_mailbox_is_full() -> None:
    clock = FakeClock(epoch=EPOCH)
    log = Log()
    rules = [
        ChildSpec("router", lambda: HeldRouter(rule_set="rule-set"), mailbox_size=1),
        ChildSpec("rule-set", lambda: RuleSet("/alert-ledger", router="router")),
    ]
    tree = [
        ChildSpec("alert-ledger", lambda: AlertLedger(listener=log.record)),
        ChildSpec("rules", lambda: Supervisor(rules)),
    ]
    async with ActorSystem(tree, clock=clock) as system:
        router, rule_set = system.lookup("/rules/router"), system.lookup("/rules/rule-set")
        await rule_set.ask(ListRules())
        gate, holding = asyncio.Event(), asyncio.Event()
        router.tell(Hold(gate, holding))
        await asyncio.wait_for(holding.wait(), timeout=30.0)
        router.tell(SampleBatch(samples=(sample("temp", 99.0, clock.time(), room="early"),)))
        assert router.mailbox_size() == router.mailbox_capacity() == 1

        # The rule set must not wait for room (it would stall every rule change behind
        # ingest) nor lose the update (the new rule would never get a sample).
        changes = await rule_set.ask(PutRule(rule=hot_rule()), timeout=30.0)
        assert changes == RuleChanges(added=("hot",))
        late = SampleBatch(samples=(sample("temp", 99.0, clock.time(), room="late"),))
        sending = asyncio.create_task(router.send(late))
        gate.set()
        await asyncio.wait_for(sending, timeout=30.0)

        await log.until(lambda: len(log.firing()) == 1)
        stats = await router.ask(RouterStatsQuery(), timeout=30.0)
        # The early sample was queued before the route existed; the late one after.
        assert [alert.labels["room"] for alert in log.firing()] == ["late"]
        assert (stats.samples, stats.unrouted, stats.routes) == (2, 1, 1)
        assert system.dead_letters.count == 0


async def test_rules_supervisor_bounds_the_router_mailbox_only_when_asked() -> None:
    tree = [
        ChildSpec("alert-ledger", AlertLedger),
        ChildSpec("bounded", lambda: RulesSupervisor("/alert-ledger", router_mailbox=3)),
        ChildSpec("unbounded", lambda: RulesSupervisor("/alert-ledger")),
    ]
    async with ActorSystem(tree, clock=FakeClock(epoch=EPOCH)) as system:
        assert system.lookup(f"/bounded/{ROUTER}").mailbox_capacity() == 3
        assert system.lookup(f"/unbounded/{ROUTER}").mailbox_capacity() is None
