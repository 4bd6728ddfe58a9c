"""What ``/metrics`` reads from a running supervision tree: the AlertSystem's providers.

Each scrape awaits these; they read counters the runtime and the notifiers keep, and
never change anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from actors import SeriesCountsQuery
from actors.evaluation import SeriesCounts
from actors.notify import GetNotifierStatus, GetTemplateFailures, NotifierStatus
from gateway._metrics import MetricsProviders, RuleSeries
from supervision import ActorRef, ActorSystem

NOTIFIERS_PATH = "/alerting/notifiers"
EVALUATOR_PREFIX = "/alerting/rules/rule:"

EVALUATOR_TIMEOUT = 1.0
"""Seconds a scrape waits for one evaluator's series counts before leaving it out.

Shorter than the provider's own timeout (2 s): an evaluator behind a backlog of
samples is missing from that scrape instead of taking every rule's counts with it.
"""


class TreeMetrics:
    """The metrics providers of one AlertSystem.

    ``system()`` returns its tree or None, ``running()`` its tree or raises (the
    AlertSystem's own error), ``api_samples()`` the samples ingested through its API.
    """

    def __init__(
        self,
        system: Callable[[], ActorSystem | None],
        running: Callable[[], ActorSystem],
        api_samples: Callable[[], int],
    ) -> None:
        self._system = system
        self._running = running
        self._api_samples = api_samples

    def providers(self) -> MetricsProviders:
        return MetricsProviders(
            notifications=self._notification_counts,
            actor_restarts=self._actor_restarts,
            mailbox_depths=self._mailbox_depths,
            samples_ingested=self._samples_ingested,
            actor_crashes=self._crash_counts,
            escalations=self._escalation_counts,
            dead_letters=self._dead_letter_counts,
            rule_series=self._rule_series,
            template_failures=self._template_failures,
        )

    async def _notification_counts(self) -> dict[tuple[str, str], float]:
        notifiers = self._running().lookup(NOTIFIERS_PATH)
        statuses = await notifiers.ask(GetNotifierStatus(), timeout=2.0)
        counts: dict[tuple[str, str], float] = {}
        for status in statuses:
            if isinstance(status, NotifierStatus):
                counts[status.receiver, "delivered"] = status.delivered
                counts[status.receiver, "failed"] = status.failed_attempts
                counts[status.receiver, "dead_lettered"] = status.dead_letters
        return counts

    async def _template_failures(self) -> dict[tuple[str, str, str], float]:
        # The notifier supervisor owns the templates every channel renders with; its
        # counts start again from 0 if it restarts (a counter reset, as Prometheus reads).
        notifiers = self._running().lookup(NOTIFIERS_PATH)
        counts = await notifiers.ask(GetTemplateFailures(), timeout=2.0)
        return {key: float(count) for key, count in counts.items()}

    def _actors(self) -> list[ActorRef]:
        # Per-rule evaluators and per-subscriber forwarders would be one series each:
        # they are left out of the per-actor families (their restarts are counted).
        system = self._running()
        return [system.lookup(path) for path in sorted(system.paths())]

    async def _actor_restarts(self) -> dict[str, float]:
        return {
            ref.path: ref.restarts()
            for ref in self._actors()
            if ref.restarts() or not _per_item(ref.path)
        }

    async def _mailbox_depths(self) -> dict[str, float]:
        return {ref.path: ref.mailbox_size() for ref in self._actors() if not _per_item(ref.path)}

    async def _samples_ingested(self) -> dict[str, float]:
        return {"api": self._api_samples()}

    async def _crash_counts(self) -> dict[str, float]:
        system = self._system()
        return {} if system is None else dict(system.failures)

    async def _escalation_counts(self) -> dict[str, float]:
        system = self._system()
        return {} if system is None else dict(system.escalations)

    async def _dead_letter_counts(self) -> dict[str, float]:
        system = self._system()
        return {} if system is None else dict(system.dead_letters.by_reason)

    async def _rule_series(self) -> dict[str, RuleSeries]:
        # One O(1) question per evaluator, all at once: it waits behind the samples
        # already in that evaluator's mailbox and adds nothing to how they are handled.
        system = self._running()
        paths = sorted(p for p in system.paths() if p.startswith(EVALUATOR_PREFIX))
        replies = await asyncio.gather(
            *(
                system.lookup(path).ask(SeriesCountsQuery(), timeout=EVALUATOR_TIMEOUT)
                for path in paths
            ),
            return_exceptions=True,
        )
        return {
            path.removeprefix(EVALUATOR_PREFIX): RuleSeries(
                reply.series, reply.forgotten, reply.refused
            )
            for path, reply in zip(paths, replies, strict=True)
            if isinstance(reply, SeriesCounts)  # not disabled, not gone or too slow
        }


def _per_item(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith(("rule:", "subscriber-"))
