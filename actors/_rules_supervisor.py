"""RulesSupervisor: the ``rules`` subtree of DESIGN.md, ready to put in a tree."""

from __future__ import annotations

from actors._evaluator import EvaluatorFactory, RuleEvaluator
from actors._router import MetricRouter
from actors._rule_record import RuleRecord
from actors._rule_set import RuleSet
from supervision import ActorRef, Backoff, ChildSpec, Strategy, Supervisor

__all__ = ["ROUTER", "RULE_SET", "RulesSupervisor"]

ROUTER = "metric-router"
"""The router's child name under a ``RulesSupervisor``."""

RULE_SET = "rule-set"
"""The rule set's child name under a ``RulesSupervisor``."""


class RulesSupervisor(Supervisor):
    """Supervise the metric router, the rule set and one ``rule:<id>`` evaluator per rule.

    ``one_for_one``: a crashed evaluator restarts alone and recovers its firing alerts
    from ``alert_sink``; a restarted router asks the rule set for its routes; a
    restarted rule set rebuilds its table from the evaluators.  Send samples to the
    ``metric-router`` child and rule commands to the ``rule-set`` child::

        tree = [
            ChildSpec("alert-ledger", AlertLedger),
            ChildSpec("rules", lambda: RulesSupervisor("/alert-ledger")),
        ]
        async with ActorSystem(tree) as system:
            rule_set = system.lookup("/rules/rule-set")
            await rule_set.ask(LoadRuleFile(path=Path("rules.toml")))
            system.lookup("/rules/metric-router").tell(batch)

    ``alert_sink`` is a ref or an absolute path, and must start before this subtree.
    ``router_mailbox`` bounds the router's mailbox (None: unbounded): producers that
    ``send`` to it then wait for room (backpressure), while the rule set's route updates
    still pass (``tell_system``).  ``record`` makes run-time rule changes durable (see
    ``RuleRecord``).
    """

    def __init__(
        self,
        alert_sink: ActorRef | str,
        *,
        evaluator_factory: EvaluatorFactory = RuleEvaluator,
        intensity: int = 10,
        period: float = 60.0,
        backoff: Backoff | None = None,
        router_mailbox: int | None = None,
        record: RuleRecord | None = None,
    ) -> None:
        super().__init__(
            [
                ChildSpec(
                    ROUTER, lambda: MetricRouter(rule_set=RULE_SET), mailbox_size=router_mailbox
                ),
                ChildSpec(
                    RULE_SET,
                    lambda: RuleSet(
                        alert_sink,
                        router=ROUTER,
                        evaluator_factory=evaluator_factory,
                        record=record,
                    ),
                ),
            ],
            strategy=Strategy.ONE_FOR_ONE,
            intensity=intensity,
            period=period,
            backoff=backoff,
        )
