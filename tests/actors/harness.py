"""What the actor tests share: an awaitable log, a recording actor, a rules tree.

Nothing here sleeps: tests wait on the log or on asks (which a mailbox answers in
order, after everything told before them), and drive time with ``FakeClock``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from actors import (
    ROUTER,
    RULE_SET,
    AlertLedger,
    EvaluatorFactory,
    EvaluatorStatsQuery,
    FiringAlerts,
    FiringAlertsQuery,
    LedgerStatsQuery,
    RouterStatsQuery,
    RuleEvaluator,
    RulesSupervisor,
)
from messages import AlertFiring, AlertResolved, AnyRule, ListRules, MetricSample, RuleError
from supervision import Actor, ActorRef, ActorSystem, ChildSpec, FakeClock

EPOCH = 1_700_000_000.0


class Log:
    """An ordered record of messages, with awaitable conditions."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def record(self, item: Any) -> None:
        """Append ``item`` and wake the waiters whose condition now holds."""
        self.items.append(item)
        for condition, future in tuple(self._waiters):
            if not future.done() and condition():
                future.set_result(None)

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds (checked now and after each record)."""
        if condition():
            return
        waiter = (condition, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await waiter[1]
        finally:
            self._waiters.remove(waiter)

    def of(self, kind: type) -> list[Any]:
        """Return the recorded items of type ``kind``."""
        return [item for item in self.items if isinstance(item, kind)]

    def firing(self) -> list[AlertFiring]:
        return self.of(AlertFiring)

    def resolved(self) -> list[AlertResolved]:
        return self.of(AlertResolved)

    def errors(self) -> list[RuleError]:
        return self.of(RuleError)


class Recorder(Actor):
    """Record every message told to it; answer ``FiringAlertsQuery`` with nothing firing."""

    def __init__(self, log: Log) -> None:
        self.log_ = log

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, FiringAlertsQuery):
            return FiringAlerts(rule_id=message.rule_id)
        self.log_.record(message)
        return None


@dataclass(frozen=True)
class Crash:
    """Make a test actor raise from ``on_receive``."""


class Boom(Exception):
    """The deliberate crash of a test actor."""


class CrashableEvaluator(RuleEvaluator):
    """A ``RuleEvaluator`` that crashes on ``Crash`` and logs its starts."""

    starts: list[str] = []

    async def on_start(self) -> None:
        CrashableEvaluator.starts.append(self.rule.id)
        await super().on_start()

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Crash):
            raise Boom("injected")
        return await super().on_receive(message)


def sample(name: str, value: float, timestamp: float, **labels: str) -> MetricSample:
    return MetricSample(name=name, value=value, labels=labels, timestamp=timestamp)


class RulesTree:
    """A running system: ``alert-ledger`` (with a log) then ``rules`` (RulesSupervisor)."""

    def __init__(self, system: ActorSystem, clock: FakeClock, log: Log) -> None:
        self.system = system
        self.clock = clock
        self.log = log
        self.ledger = system.lookup("/alert-ledger")
        self.router = system.lookup(f"/rules/{ROUTER}")
        self.rule_set = system.lookup(f"/rules/{RULE_SET}")

    def now(self) -> float:
        return self.clock.time()

    def evaluator(self, rule_id: str) -> ActorRef:
        return self.system.lookup(f"/rules/rule:{rule_id}")

    async def settle(self, *rule_ids: str) -> None:
        """Wait until the router, those evaluators and the ledger handled what they got."""
        await self.router.ask(RouterStatsQuery())
        for rule_id in rule_ids:
            await self.evaluator(rule_id).ask(EvaluatorStatsQuery())
        await self.ledger.ask(LedgerStatsQuery())

    async def put(self, *rules: AnyRule) -> Any:
        from actors import ApplyRules

        return await self.rule_set.ask(ApplyRules(rules=rules))


@asynccontextmanager
async def rules_tree(
    evaluator_factory: EvaluatorFactory = RuleEvaluator,
) -> AsyncIterator[RulesTree]:
    """Run a ledger and a rules subtree on a ``FakeClock``."""
    clock = FakeClock(epoch=EPOCH)
    log = Log()
    tree = [
        ChildSpec("alert-ledger", lambda: AlertLedger(listener=log.record)),
        ChildSpec(
            "rules",
            lambda: RulesSupervisor("/alert-ledger", evaluator_factory=evaluator_factory),
        ),
    ]
    async with ActorSystem(tree, clock=clock) as system:
        running = RulesTree(system, clock, log)
        await running.rule_set.ask(ListRules())  # its table is recovered by now
        yield running
