"""Prometheus metrics of one gateway: its own counters plus hooks for the rest of the tree.

Each ``Gateway`` has its own ``CollectorRegistry`` (two servers in one process never
share counters). What the gateway sees itself (connections, frames, errors, samples it
ingested, slow consumers shed) it counts; what other actors know comes from
``MetricsProviders``, async callables the assembler wires and ``/metrics`` awaits at
every scrape (a provider that fails or times out is left out of that scrape and counted
in ``tocsin_metrics_provider_errors_total``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = [
    "METRICS_CONTENT_TYPE",
    "GatewayMetrics",
    "MetricsProviders",
    "RuleSeries",
    "Scrape",
]

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format's content type."""

T = TypeVar("T")
Provider = Callable[[], Awaitable[T]]


@dataclass(frozen=True, slots=True)
class MetricsProviders:
    """Where ``/metrics`` gets what the gateway cannot count; every field is optional.

    - ``alerts_by_state``: state → open alerts (default: the registry's view).
    - ``notifications``: (receiver, outcome) → deliveries so far (from delivery receipts).
    - ``actor_restarts``: actor path → restarts so far.
    - ``mailbox_depths``: actor path → queued messages (merged with the gateway's own
      targets, which it measures itself).
    - ``samples_ingested``: source → samples so far, for sources other than the gateway's
      WebSocket (``websocket`` is counted by the gateway).
    - ``actor_crashes``: actor path → crashes so far (a restart follows unless escalated).
    - ``escalations``: supervisor path → times it exceeded its restart intensity.
    - ``dead_letters``: reason → messages that reached no handler so far.
    - ``rule_series``: rule id → its evaluator's ``RuleSeries``.
    - ``template_failures``: (channel, part, stage) → user notification templates that
      failed so far and fell back to the default.
    """

    alerts_by_state: Provider[Mapping[str, float]] | None = None
    notifications: Provider[Mapping[tuple[str, str], float]] | None = None
    actor_restarts: Provider[Mapping[str, float]] | None = None
    mailbox_depths: Provider[Mapping[str, float]] | None = None
    samples_ingested: Provider[Mapping[str, float]] | None = None
    actor_crashes: Provider[Mapping[str, float]] | None = None
    escalations: Provider[Mapping[str, float]] | None = None
    dead_letters: Provider[Mapping[str, float]] | None = None
    rule_series: Provider[Mapping[str, RuleSeries]] | None = None
    template_failures: Provider[Mapping[tuple[str, str, str], float]] | None = None


@dataclass(frozen=True, slots=True)
class RuleSeries:
    """One rule's evaluator: the series it holds, those it forgot so far (idle), and the
    samples it refused so far because their new series would pass its series cap."""

    series: float
    forgotten: float
    refused: float


@dataclass(slots=True)
class Scrape:
    """The values of one scrape that come from outside the gateway's own counters."""

    alerts_by_state: Mapping[str, float] = field(default_factory=dict)
    notifications: Mapping[tuple[str, str], float] = field(default_factory=dict)
    actor_restarts: Mapping[str, float] = field(default_factory=dict)
    mailbox_depths: Mapping[str, float] = field(default_factory=dict)
    samples_ingested: Mapping[str, float] = field(default_factory=dict)
    subscriptions: float = 0
    events_pushed: float = 0
    notifications_pushed: float = 0
    resumes: Mapping[str, float] = field(default_factory=dict)
    actor_crashes: Mapping[str, float] = field(default_factory=dict)
    escalations: Mapping[str, float] = field(default_factory=dict)
    dead_letters: Mapping[str, float] = field(default_factory=dict)
    rule_series: Mapping[str, RuleSeries] = field(default_factory=dict)
    template_failures: Mapping[tuple[str, str, str], float] = field(default_factory=dict)
    tasks: float = 0


class _ScrapeCollector(Collector):
    """Yield the families of the last ``Scrape``."""

    def __init__(self) -> None:
        self.scrape = Scrape()

    def collect(self) -> Iterator[Metric]:
        scrape = self.scrape
        yield _family(
            CounterMetricFamily,
            "tocsin_samples_ingested",
            "Metric samples accepted, by source.",
            ["source"],
            {(k,): v for k, v in scrape.samples_ingested.items()},
        )
        yield _family(
            GaugeMetricFamily,
            "tocsin_alerts",
            "Open alerts, by state.",
            ["state"],
            {(k,): v for k, v in scrape.alerts_by_state.items()},
        )
        yield _family(
            CounterMetricFamily,
            "tocsin_notifications",
            "Notification deliveries, by receiver and outcome.",
            ["receiver", "outcome"],
            {(receiver, outcome): v for (receiver, outcome), v in scrape.notifications.items()},
        )
        yield _family(
            CounterMetricFamily,
            "tocsin_template_failures",
            "User notification templates that failed and fell back to the default, "
            "by channel, part and stage (compile, render).",
            ["channel", "part", "stage"],
            {
                (channel, part, stage): v
                for (channel, part, stage), v in scrape.template_failures.items()
            },
        )
        yield _family(
            CounterMetricFamily,
            "tocsin_actor_restarts",
            "Restarts of each actor.",
            ["actor"],
            {(k,): v for k, v in scrape.actor_restarts.items()},
        )
        yield _family(
            CounterMetricFamily,
            "tocsin_actor_crashes",
            "Crashes of each actor (its handler raised).",
            ["actor"],
            {(k,): v for k, v in scrape.actor_crashes.items()},
        )
        yield _family(
            CounterMetricFamily,
            "tocsin_supervisor_escalations",
            "Times each supervisor exceeded its restart intensity and failed to its parent.",
            ["supervisor"],
            {(k,): v for k, v in scrape.escalations.items()},
        )
        yield _family(
            CounterMetricFamily,
            "tocsin_dead_letters",
            "Messages that reached no handler, by reason.",
            ["reason"],
            {(k,): v for k, v in scrape.dead_letters.items()},
        )
        yield _family(
            GaugeMetricFamily,
            "tocsin_rule_series",
            "Series each rule's evaluator holds.",
            ["rule"],
            {(k,): v.series for k, v in scrape.rule_series.items()},
        )
        yield _family(
            CounterMetricFamily,
            "tocsin_rule_series_forgotten",
            "Idle series each rule's evaluator forgot (series_idle_ttl).",
            ["rule"],
            {(k,): v.forgotten for k, v in scrape.rule_series.items()},
        )
        yield _family(
            CounterMetricFamily,
            "tocsin_rule_samples_over_series_limit",
            "Samples each rule's evaluator refused: their new series would pass its cap.",
            ["rule"],
            {(k,): v.refused for k, v in scrape.rule_series.items()},
        )
        yield GaugeMetricFamily(
            "tocsin_asyncio_tasks", "Unfinished asyncio tasks in the process.", value=scrape.tasks
        )
        yield _family(
            GaugeMetricFamily,
            "tocsin_mailbox_depth",
            "Messages queued in each actor's mailbox.",
            ["actor"],
            {(k,): v for k, v in scrape.mailbox_depths.items()},
        )
        yield _family(
            CounterMetricFamily,
            "tocsin_resumes",
            "Subscriptions resumed, by where the missed events came from.",
            ["source"],
            {(k,): v for k, v in scrape.resumes.items()},
        )
        yield GaugeMetricFamily(
            "tocsin_subscriptions", "Live subscriptions.", value=scrape.subscriptions
        )
        yield CounterMetricFamily(
            "tocsin_events_pushed", "Event frames pushed to clients.", value=scrape.events_pushed
        )
        yield CounterMetricFamily(
            "tocsin_notifications_pushed",
            "Notification frames pushed to clients.",
            value=scrape.notifications_pushed,
        )


def _family(
    kind: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    documentation: str,
    labels: list[str],
    values: Mapping[tuple[str, ...], float],
) -> Metric:
    family = kind(name, documentation, labels=labels)
    for label_values, value in sorted(values.items()):
        family.add_metric(list(label_values), value)
    return family


class GatewayMetrics:
    """The gateway's metrics in its own registry; ``render`` gives the exposition text."""

    def __init__(
        self,
        providers: MetricsProviders | None = None,
        *,
        registry: CollectorRegistry | None = None,
        provider_timeout: float = 2.0,
    ) -> None:
        self.providers = providers or MetricsProviders()
        self.registry = registry or CollectorRegistry()
        self.provider_timeout = provider_timeout
        r = self.registry
        self.connections = Gauge("tocsin_connections", "Open WebSocket connections.", registry=r)
        self.connections_opened = Counter(
            "tocsin_connections_opened", "WebSocket connections accepted.", registry=r
        )
        self.connections_refused = Counter(
            "tocsin_connections_refused",
            "WebSocket connections closed at once, by reason.",
            ["reason"],
            registry=r,
        )
        self.frames = Counter(
            "tocsin_frames_received", "Client frames received, by type.", ["type"], registry=r
        )
        self.errors = Counter(
            "tocsin_frame_errors", "Error frames sent, by code.", ["code"], registry=r
        )
        self.closed_for_abuse = Counter(
            "tocsin_connections_closed_for_abuse",
            "Connections closed for flooding (1008) or oversized frames (1009).",
            ["reason"],
            registry=r,
        )
        self.shed = Counter(
            "tocsin_slow_consumers_shed",
            "Connections closed with 1013 because the client did not read.",
            registry=r,
        )
        self.ingest_waits = Counter(
            "tocsin_ingest_waits",
            "Ingest frames that found the router's mailbox full and waited (backpressure).",
            registry=r,
        )
        self.provider_errors = Counter(
            "tocsin_metrics_provider_errors",
            "Metrics providers that failed or timed out, by provider.",
            ["provider"],
            registry=r,
        )
        self.websocket_samples = 0
        # process_resident_memory_bytes, process_open_fds, CPU seconds (Linux /proc).
        ProcessCollector(registry=r)
        self._collector = _ScrapeCollector()
        r.register(self._collector)

    async def provided(self, name: str, provider: Provider[T] | None, default: T) -> T:
        """Await ``provider`` within the timeout; ``default`` (and a count) if it fails."""
        if provider is None:
            return default
        try:
            return await asyncio.wait_for(provider(), self.provider_timeout)
        except Exception:
            self.provider_errors.labels(name).inc()
            return default

    def render(self, scrape: Scrape) -> bytes:
        """Return the exposition text of the gateway's counters plus ``scrape``."""
        samples: dict[str, float] = {"websocket": float(self.websocket_samples)}
        samples.update({k: v for k, v in scrape.samples_ingested.items() if k != "websocket"})
        scrape.samples_ingested = samples
        self._collector.scrape = scrape
        return generate_latest(self.registry)
