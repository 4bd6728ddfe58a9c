"""RuleSet: the rules that run, one evaluator child per rule, and the router's routes.

The rule set lives next to the router and the evaluators under one supervisor (see
``RulesSupervisor``).  It changes the running set on command: it validates the whole
change first (``RuleInvalid``/``RuleFileError``, nothing touched), then stops the
evaluators of replaced and removed rules (each resolves its firing alerts first),
starts the evaluators of added and replaced rules as children of its supervisor, and
keeps the router's index in sync.  With a ``RuleRecord``, a run-time ``PutRule`` or
``DeleteRule`` is validated, then stored (``RuleNotStored`` if the store refuses, nothing
touched), then applied: answered only once durable.  A ``RevertRule`` removes the
stored change first, then applies the configuration's version of the rule (or deletes a
rule only the store held).  The evaluators are the truth: a rule set that
restarts rebuilds its table by asking its supervisor's ``rule:<id>`` children which
rule they run, and pushes the full route table to the router again.

Route updates go to the router with ``tell_system``: past its mailbox bound, in order
with the samples.  A router whose bounded mailbox producers keep full (ingest
backpressure) must neither refuse a rule change's routes nor keep the rule set waiting
for room.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from actors._addressing import resolve
from actors._evaluator import DescribeRule, EvaluatorFactory, Retire, RuleEvaluator
from actors._router import EvaluatorRoute, RoutesWanted, RouteUpdate
from actors._rule_commands import (
    ApplyRules,
    LoadRuleFile,
    NoStoredRuleChange,
    RuleApplyFailed,
    RuleChanges,
    RuleFileError,
    RuleNotFound,
)
from actors._rule_plan import check_rules, plan_changes
from actors._rule_record import RuleNotStored, RuleRecord
from messages import (
    AnyRule,
    DeleteRule,
    ListRules,
    PutRule,
    RevertRule,
    RuleInvalid,
    parse_rules_toml,
)
from supervision import (
    Actor,
    ActorNotFound,
    ActorRef,
    ChildSpec,
    Restart,
    StartChild,
    TerminateChild,
    WhichChildren,
)

__all__ = ["EVALUATOR_PREFIX", "RuleSet"]

EVALUATOR_PREFIX = "rule:"
"""Evaluator children are named ``rule:<rule id>``."""


@dataclass(frozen=True, slots=True)
class _Recover:
    """Rebuild the table once started (asking the supervisor inside on_start would
    deadlock: it is busy starting us)."""


@dataclass(frozen=True, slots=True)
class _Running:
    rule: AnyRule
    ref: ActorRef


class RuleSet(Actor):
    """Add, replace and remove rule evaluators at run time; keep the router in sync.

    Asks: ``ApplyRules`` and ``PutRule`` (→ ``RuleChanges``), ``DeleteRule`` (→
    ``RuleChanges``; ``RuleNotFound`` if unknown), ``RevertRule`` (→ ``RuleChanges``;
    ``NoStoredRuleChange`` if no change of that id is stored), ``ListRules`` (→ the rules, in id
    order), ``LoadRuleFile`` (→ ``RuleChanges``; ``RuleFileError``).  Validation
    failures raise ``RuleInvalid`` in the asker and change nothing; a failure while
    evaluators stop or start raises ``RuleApplyFailed``.  With ``record``, ``PutRule``
    and ``DeleteRule`` are stored before they are applied (``RuleNotStored``: nothing
    changed), and ``configured`` ``ApplyRules``/``LoadRuleFile`` are overlaid with the
    stored changes (see ``RuleRecord``).  ``alert_sink`` is handed to
    every evaluator; ``router`` is a ref, path or sibling name.  Its parent must be a
    supervisor: evaluators are its children, so they are restarted like any other.
    """

    def __init__(
        self,
        alert_sink: ActorRef | str,
        *,
        router: ActorRef | str = "metric-router",
        evaluator_factory: EvaluatorFactory = RuleEvaluator,
        ask_timeout: float = 30.0,
        record: RuleRecord | None = None,
    ) -> None:
        self._record = record
        self._alert_sink = alert_sink
        self._router_name = router
        self._evaluator_factory = evaluator_factory
        self.ask_timeout = ask_timeout
        self._running: dict[str, _Running] | None = None

    async def on_start(self) -> None:
        self._router = resolve(self, self._router_name)
        self._parent = self.system.lookup(self.path.rsplit("/", 1)[0] or "/")
        self.ref.tell(_Recover())

    async def on_receive(self, message: Any) -> Any:
        if self._running is None:
            await self._recover()
        try:
            return await self._handle(message)
        except (RuleInvalid, RuleFileError, RuleNotFound, RuleApplyFailed, RuleNotStored) as error:
            # The asker's mistake (or a partial failure), not the rule set's: answer it
            # with the error and carry on.
            self.log.warning("rule change refused", error=str(error))
            self.defer_reply().fail(error)
            return None

    async def _handle(self, message: Any) -> Any:
        if isinstance(message, ApplyRules):
            rules = message.rules
            if message.configured and self._record is not None:
                rules = self._record.configured(rules)
            return await self._apply(rules, prune=message.prune)
        if isinstance(message, PutRule):
            check_rules((message.rule,))
            if self._record is not None:
                await self._record.put(message.rule)
            return await self._apply((message.rule,), prune=False)
        if isinstance(message, DeleteRule):
            return await self._delete(message.rule_id)
        if isinstance(message, RevertRule):
            return await self._revert(message.rule_id)
        if isinstance(message, ListRules):
            return tuple(running.rule for _, running in sorted(self._table().items()))
        if isinstance(message, LoadRuleFile):
            return await self._load(message)
        if isinstance(message, RoutesWanted):
            message.router.tell_system(RouteUpdate(put=self._routes(), replace=True))
            return None
        if isinstance(message, _Recover):
            return None
        return await super().on_receive(message)

    # -- changes ------------------------------------------------------------------------------

    def _table(self) -> dict[str, _Running]:
        if self._running is None:
            raise RuntimeError("the rule set has not recovered its table")
        return self._running

    async def _load(self, message: LoadRuleFile) -> RuleChanges:
        path = message.path
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise RuleFileError(path, f"cannot be read: {error}") from error
        try:
            rules = parse_rules_toml(text)
            check_rules(rules)
        except RuleInvalid as error:
            raise RuleFileError(path, str(error)) from error
        wanted: tuple[AnyRule, ...] = rules
        if message.configured and self._record is not None:
            wanted = self._record.configured(rules)
        return await self._apply(wanted, prune=message.prune)

    async def _delete(self, rule_id: str) -> RuleChanges:
        if rule_id not in self._table():
            raise RuleNotFound(rule_id)
        if self._record is not None:
            await self._record.delete(rule_id)
        self._router.tell_system(RouteUpdate(removed=(rule_id,)))
        try:
            await self._stop_evaluator(rule_id)
        except Exception as error:
            raise RuleApplyFailed(f"rule {rule_id!r} could not be deleted: {error}") from error
        return RuleChanges(removed=(rule_id,))

    async def _revert(self, rule_id: str) -> RuleChanges:
        record = self._record
        if record is None or not record.has_change(rule_id):
            raise NoStoredRuleChange(rule_id)
        configured = await record.revert(rule_id)
        if configured is not None:
            return await self._apply((configured,), prune=False)
        if rule_id not in self._table():
            return RuleChanges()
        self._router.tell_system(RouteUpdate(removed=(rule_id,)))
        try:
            await self._stop_evaluator(rule_id)
        except Exception as error:
            raise RuleApplyFailed(f"rule {rule_id!r} could not be removed: {error}") from error
        return RuleChanges(removed=(rule_id,))

    async def _apply(self, rules: tuple[AnyRule, ...], *, prune: bool) -> RuleChanges:
        check_rules(rules)
        table = self._table()
        plan = plan_changes({i: r.rule for i, r in table.items()}, rules, prune=prune)
        if plan.stop:
            self._router.tell_system(RouteUpdate(removed=plan.stop))
        started: list[EvaluatorRoute] = []
        try:
            for rule_id in plan.stop:
                await self._stop_evaluator(rule_id)
            for rule in plan.start:
                ref = await self._start_evaluator(rule)
                if rule.enabled:
                    started.append(EvaluatorRoute(rule.id, rule.selector, ref))
        except Exception as error:
            self._router.tell_system(RouteUpdate(put=self._routes(), replace=True))
            raise RuleApplyFailed(f"rule change stopped half-way: {error}") from error
        if started:
            self._router.tell_system(RouteUpdate(put=tuple(started)))
        self.log.info(
            "rules changed",
            added=len(plan.changes.added),
            replaced=len(plan.changes.replaced),
            removed=len(plan.changes.removed),
        )
        return plan.changes

    async def _stop_evaluator(self, rule_id: str) -> None:
        running = self._table().pop(rule_id)
        try:
            await running.ref.ask(Retire(), timeout=self.ask_timeout)
        except Exception as error:
            # It cannot resolve its alerts; stopping it is still right.
            self.log.warning("evaluator did not retire", rule=rule_id, error=repr(error))
        with contextlib.suppress(ActorNotFound):  # already gone
            await self._parent.ask(
                TerminateChild(EVALUATOR_PREFIX + rule_id), timeout=self.ask_timeout
            )

    async def _start_evaluator(self, rule: AnyRule) -> ActorRef:
        factory = self._evaluator_factory
        sink = self._alert_sink
        spec = ChildSpec(EVALUATOR_PREFIX + rule.id, lambda: factory(rule, sink), Restart.PERMANENT)
        ref: ActorRef = await self._parent.ask(StartChild(spec), timeout=self.ask_timeout)
        self._table()[rule.id] = _Running(rule, ref)
        return ref

    def _routes(self) -> tuple[EvaluatorRoute, ...]:
        return tuple(
            EvaluatorRoute(rule_id, running.rule.selector, running.ref)
            for rule_id, running in sorted(self._table().items())
            if running.rule.enabled
        )

    # -- recovery -----------------------------------------------------------------------------

    async def _recover(self) -> None:
        running: dict[str, _Running] = {}
        children = await self._parent.ask(WhichChildren(), timeout=self.ask_timeout)
        for child in children:
            if not child.name.startswith(EVALUATOR_PREFIX):
                continue
            try:
                rule = await child.ref.ask(DescribeRule(), timeout=self.ask_timeout)
            except Exception as error:
                self.log.warning(
                    "evaluator did not say its rule", child=child.name, error=repr(error)
                )
                continue
            if rule is None:
                # Retired by a change this rule set did not live to finish: remove it.
                with contextlib.suppress(ActorNotFound):
                    await self._parent.ask(TerminateChild(child.name), timeout=self.ask_timeout)
                continue
            running[rule.id] = _Running(rule, child.ref)
        self._running = running
        if running:
            self.log.info("rule table recovered from the evaluators", rules=len(running))
        self._router.tell_system(RouteUpdate(put=self._routes(), replace=True))
