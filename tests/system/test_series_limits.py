"""The evaluators' series limits come from the configuration (fake clock, no sleeps)."""

from __future__ import annotations

from typing import Any

import httpx
import structlog
from prometheus_client.parser import text_string_to_metric_families

from actors import EvaluatorStatsQuery, RouterStatsQuery
from actors.evaluation import EvaluationStats
from gateway.config import TocsinConfig
from gateway.system import AlertSystem
from messages import MetricSample
from supervision import FakeClock

RULE = {
    "type": "threshold",
    "id": "cpu-high",
    "selector": "cpu_percent",
    "op": ">",
    "threshold": 90,
}


def config(
    *inline: dict[str, Any], server: dict[str, Any] | None = None, **rules: Any
) -> TocsinConfig:
    """Memory store, no host collector, no gateway unless ``server``; ``RULE`` by default."""
    return TocsinConfig.model_validate(
        {
            "server": server or {"enabled": False},
            "store": {"path": ":memory:"},
            "collectors": {"host": {"enabled": False}},
            "rules": {"inline": list(inline or (RULE,)), **rules},
        }
    )


def requests(clock: FakeClock, count: int) -> list[MetricSample]:
    """One series per request id: the unbounded label an idle TTL is for."""
    return [
        MetricSample(
            name="cpu_percent", value=10.0, labels={"req": f"r{n}"}, timestamp=clock.time()
        )
        for n in range(count)
    ]


async def stats(system: AlertSystem) -> EvaluationStats:
    """The rule's evaluation stats once the router and the evaluator handled their mail."""
    await system.system.lookup("/alerting/rules/metric-router").ask(RouterStatsQuery())
    reply = await system.system.lookup("/alerting/rules/rule:cpu-high").ask(EvaluatorStatsQuery())
    assert isinstance(reply, EvaluationStats)
    return reply


async def test_a_configured_series_idle_ttl_reaches_the_evaluators() -> None:
    clock = FakeClock()
    async with AlertSystem(config(series_idle_ttl=100), clock=clock) as system:
        await system.ingest(requests(clock, 20))
        assert (await stats(system)).series == 20
        # The default TTL (an hour) would keep them all: 100 s is the configured one.
        for _ in range(4):
            clock.advance(25.0)
            assert (await stats(system)).series == 20
        for _ in range(2):
            clock.advance(25.0)
            await stats(system)
        after = await stats(system)
        assert (after.series, after.series_forgotten) == (0, 20)


async def test_without_the_setting_the_hour_long_default_applies() -> None:
    clock = FakeClock()
    async with AlertSystem(config(), clock=clock) as system:
        await system.ingest(requests(clock, 20))
        assert (await stats(system)).series == 20
        for _ in range(6):
            clock.advance(25.0)
            await stats(system)
        assert (await stats(system)).series == 20
        for _ in range(6):
            clock.advance(900.0)
            await stats(system)
        after = await stats(system)
        assert (after.series, after.series_forgotten) == (0, 20)


def scraped(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_report_each_rules_series_and_forgotten_series() -> None:
    clock = FakeClock()
    other = {**RULE, "id": "mem-high", "selector": "mem_percent"}
    off = {**RULE, "id": "cpu-off", "enabled": False}
    served = config(RULE, other, off, server={"port": 0}, series_idle_ttl=100)
    async with AlertSystem(served, clock=clock) as system:
        assert system.http_url is not None
        await system.ingest(requests(clock, 20))
        await stats(system)
        for _ in range(6):
            clock.advance(25.0)
            await stats(system)
        await system.ingest(requests(clock, 3))
        await stats(system)
        async with httpx.AsyncClient(trust_env=False, timeout=10.0) as http:
            text = (await http.get(f"{system.http_url}/metrics")).text
    samples = scraped(text)
    cpu, mem = (("rule", "cpu-high"),), (("rule", "mem-high"),)
    assert samples["tocsin_rule_series", cpu] == 3
    assert samples["tocsin_rule_series_forgotten_total", cpu] == 20
    assert samples["tocsin_rule_series", mem] == 0
    assert samples["tocsin_rule_series_forgotten_total", mem] == 0
    # A disabled rule evaluates nothing: it has no series to report.
    assert not any(labels == (("rule", "cpu-off"),) for _, labels in samples)
    assert not any(name == "tocsin_metrics_provider_errors_total" for name, _ in samples)


async def test_the_series_cap_refuses_new_series_logs_once_and_shows_in_metrics() -> None:
    clock = FakeClock()
    served = config(server={"port": 0}, max_series_per_rule=5)
    with structlog.testing.capture_logs() as logs:
        async with AlertSystem(served, clock=clock) as system:
            assert system.http_url is not None
            await system.ingest(requests(clock, 8))
            clock.advance(10.0)
            await system.ingest(requests(clock, 12))
            after = await stats(system)
            async with httpx.AsyncClient(trust_env=False, timeout=10.0) as http:
                text = (await http.get(f"{system.http_url}/metrics")).text
    # The five series held keep their samples; the others' 3 + 7 samples are refused.
    assert (after.series, after.samples, after.over_series_limit) == (5, 10, 10)
    samples = scraped(text)
    cpu = (("rule", "cpu-high"),)
    assert samples["tocsin_rule_series", cpu] == 5
    assert samples["tocsin_rule_samples_over_series_limit_total", cpu] == 10
    reached = [entry for entry in logs if entry["event"].startswith("series limit reached")]
    assert [(e["rule"], e["max_series"], e["log_level"]) for e in reached] == [
        ("cpu-high", 5, "warning")
    ]
