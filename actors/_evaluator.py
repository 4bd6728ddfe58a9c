"""RuleEvaluator: one actor per rule, a thin loop around ``RuleEvaluation``.

It feeds the evaluation the samples the router sends and the clock's time, tells the
events it returns to the alert sink, and keeps ONE timer (a fixed key) set for the
evaluation's next deadline, so ``for``, ``keep_firing_for`` and no-data timeouts fire
without samples, and the sweep that forgets idle inactive series
(``series_idle_ttl``, None to keep every series) runs.  ``max_series`` caps its series
(None: no cap): past it, samples of new series are refused, and logged once.  Nothing here decides
anything: see ``actors.evaluation``.

Recovery.  On start, before any sample, it asks its alert sink which alerts of its
rule are firing (``FiringAlertsQuery``) and restores them: a restart by its supervisor
neither re-announces nor forgets a firing alert.  Pending series, windows and the
out-of-order horizon are not recovered: they start over.  If the sink does not
answer within ``recovery_timeout`` seconds (or answers something else), the
evaluator logs it and starts empty; the alert manager's deduplication by fingerprint
then absorbs any alert announced twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from actors._addressing import resolve
from actors._firing_alerts import FiringAlerts, FiringAlertsQuery
from actors._router import RoutedSamples
from actors.evaluation import DEFAULT_SERIES_IDLE_TTL, AlertEvent, RuleEvaluation
from messages import AnyRule, MetricSample, SampleBatch, SampleRows
from supervision import Actor, ActorRef

__all__ = [
    "DescribeRule",
    "EvaluatorFactory",
    "EvaluatorStatsQuery",
    "Retire",
    "RuleEvaluator",
    "SeriesCountsQuery",
]


@dataclass(frozen=True, slots=True)
class Retire:
    """Ask an evaluator to resolve all its firing alerts and stop evaluating.

    Sent before its rule is deleted or replaced; the reply is how many alerts it
    resolved.  The evaluator ignores samples afterwards.
    """


@dataclass(frozen=True, slots=True)
class DescribeRule:
    """Ask an evaluator for the rule it runs (None once it has retired)."""


@dataclass(frozen=True, slots=True)
class EvaluatorStatsQuery:
    """Ask an evaluator for its ``EvaluationStats`` (None while its rule is disabled)."""


@dataclass(frozen=True, slots=True)
class SeriesCountsQuery:
    """Ask an evaluator for its ``SeriesCounts``, O(1) (None while its rule is disabled).

    ``/metrics`` asks it of every evaluator at every scrape: cheaper than the stats.
    """


@dataclass(frozen=True, slots=True)
class _DeadlineDue:
    """The evaluator's one timer went off."""


_DEADLINE_DUE = _DeadlineDue()
_TIMER_KEY = "next-deadline"

EvaluatorFactory = Callable[[AnyRule, ActorRef | str], Actor]
"""Build the evaluator actor of a rule, given its alert sink: ``RuleEvaluator`` itself."""


class RuleEvaluator(Actor):
    """Evaluate one rule: samples in, ``AlertFiring``/``AlertResolved``/``RuleError`` out.

    ``alert_sink`` (a ref or an absolute path) receives every event, told in order,
    and must answer ``FiringAlertsQuery`` (the ``AlertLedger`` or the alert manager).
    Samples normally come from the router as ``RoutedSamples``; a ``SampleBatch``,
    ``SampleRows`` or ``MetricSample`` told directly is filtered by the rule's selector first.  A
    disabled rule's evaluator only answers ``DescribeRule``.  Time is the system
    clock's ``time()``.
    """

    def __init__(
        self,
        rule: AnyRule,
        alert_sink: ActorRef | str,
        *,
        recovery_timeout: float = 5.0,
        future_tolerance: float = 600.0,
        series_idle_ttl: float | None = DEFAULT_SERIES_IDLE_TTL,
        max_series: int | None = None,
    ) -> None:
        self.rule = rule
        self._alert_sink = alert_sink
        self.recovery_timeout = recovery_timeout
        self._evaluation = (
            RuleEvaluation(
                rule,
                future_tolerance=future_tolerance,
                series_idle_ttl=series_idle_ttl,
                max_series=max_series,
                on_series_limit=self._series_limit_reached,
            )
            if rule.enabled
            else None
        )
        self._scheduled: float | None = None
        self._retired = False

    async def on_start(self) -> None:
        self._sink = resolve(self, self._alert_sink)
        self._time = self.clock.time
        if self._evaluation is not None:
            await self._recover(self._evaluation)
            self._schedule(self._evaluation)

    async def _recover(self, evaluation: RuleEvaluation) -> None:
        rule_id = self.rule.id
        try:
            reply = await self._sink.ask(
                FiringAlertsQuery(rule_id=rule_id), timeout=self.recovery_timeout
            )
        except Exception as error:
            self.log.warning("firing alerts not recovered", rule=rule_id, error=repr(error))
            return
        if not isinstance(reply, FiringAlerts):
            self.log.warning(
                "firing alerts not recovered: the alert sink does not answer the query",
                rule=rule_id,
                reply=type(reply).__name__,
            )
            return
        restored = evaluation.restore(reply.alerts, self._time())
        if restored:
            self.log.info("firing alerts restored", rule=rule_id, count=restored)

    async def on_receive(self, message: Any) -> Any:
        evaluation = self._evaluation
        if message.__class__ is RoutedSamples:
            if evaluation is not None:
                self._emit(evaluation.apply_entries(message.entries, self._time()))
                self._schedule(evaluation)
            return None
        if message is _DEADLINE_DUE:
            self._scheduled = None
            if evaluation is not None:
                self._emit(evaluation.tick(self._time()))
                self._schedule(evaluation)
            return None
        if isinstance(message, SampleBatch | SampleRows | MetricSample):
            if isinstance(message, SampleRows):
                message = message.to_batch()
            samples = message.samples if isinstance(message, SampleBatch) else (message,)
            selector = self.rule.selector
            selected = [sample for sample in samples if selector.matches(sample)]
            if evaluation is not None and selected:
                self._emit(evaluation.apply(selected, self._time()))
                self._schedule(evaluation)
            return None
        if isinstance(message, Retire):
            return self._retire()
        if isinstance(message, DescribeRule):
            return None if self._retired else self.rule
        if isinstance(message, EvaluatorStatsQuery):
            return None if evaluation is None else evaluation.stats()
        if isinstance(message, SeriesCountsQuery):
            return None if evaluation is None else evaluation.series_counts()
        return await super().on_receive(message)

    def _series_limit_reached(self, limit: int) -> None:
        # Called once per evaluation, at its first refused sample: one line per rule.
        self.log.warning(
            "series limit reached: samples of new series are refused",
            rule=self.rule.id,
            max_series=limit,
        )

    def _retire(self) -> int:
        self._retired = True
        evaluation = self._evaluation
        if evaluation is None:
            return 0
        events = evaluation.retire(self._time())
        self._emit(events)
        self._evaluation = None
        self.timers.cancel(_TIMER_KEY)
        self._scheduled = None
        return len(events)

    def _emit(self, events: Sequence[AlertEvent]) -> None:
        sink = self._sink
        for event in events:
            sink.tell(event)

    def _schedule(self, evaluation: RuleEvaluation) -> None:
        # One timer, for the earliest deadline.  A deadline that moves later (a no-data
        # deadline moves with every sample) leaves the earlier timer alone: when it
        # fires, the tick does nothing and sets the timer again, which costs far less
        # than resetting it on every batch.
        deadline = evaluation.next_wakeup()
        if deadline is None:
            if self._scheduled is not None:
                self.timers.cancel(_TIMER_KEY)
                self._scheduled = None
            return
        if self._scheduled is not None and self._scheduled <= deadline:
            return
        self.timers.send_after(max(0.0, deadline - self._time()), _DEADLINE_DUE, key=_TIMER_KEY)
        self._scheduled = deadline
