"""What ``/metrics`` reads from a running supervision tree: the AlertSystem's providers.

Each scrape awaits these; they read counters the runtime and the notifiers keep, and
never change anything.
"""

from __future__ import annotations

from collections.abc import Callable

from actors.notify import GetNotifierStatus, NotifierStatus
from gateway._metrics import MetricsProviders
from supervision import ActorRef, ActorSystem

NOTIFIERS_PATH = "/alerting/notifiers"


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


def _per_item(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith(("rule:", "subscriber-"))
