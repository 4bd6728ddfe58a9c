"""The evaluators' series limits come from the configuration (fake clock, no sleeps)."""

from __future__ import annotations

from typing import Any

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


def config(**rules: Any) -> TocsinConfig:
    return TocsinConfig.model_validate(
        {
            "server": {"enabled": False},
            "store": {"path": ":memory:"},
            "collectors": {"host": {"enabled": False}},
            "rules": {"inline": [RULE], **rules},
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
