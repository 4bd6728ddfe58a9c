"""The ``tocsin`` client commands and the demo's parts, against a real AlertSystem."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gateway._client import ClientError, ack, list_alerts, tail
from gateway._serve import DEMO_PERIOD, demo_config, demo_value
from gateway.config import TocsinConfig
from gateway.system import AlertSystem
from messages import MetricSample
from tests.gateway.harness import READ_TIMEOUT, TOKENS
from tests.system.test_end_to_end import config

OPERATOR = TOKENS["operator"][0]


async def test_alerts_lists_ack_acknowledges_and_tail_streams_the_transition() -> None:
    async with AlertSystem(config()) as system:
        assert system.url is not None
        async with system.subscribe() as events, asyncio.timeout(READ_TIMEOUT):
            sample = MetricSample(
                name="disk_used_percent", value=99.0, labels={"host": "db-1"}, timestamp=time.time()
            )
            await system.ingest([sample])
            await anext(events)
        [listed] = await list_alerts(system.url, OPERATOR, timeout=READ_TIMEOUT)
        assert (listed["rule_id"], listed["state"]) == ("disk-full", "active")

        streamed: list[dict[str, Any]] = []
        snapshot = asyncio.Event()

        def emit(item: dict[str, Any]) -> None:
            streamed.append(item)
            snapshot.set()

        tailing = asyncio.create_task(
            tail(system.url, OPERATOR, emit, count=1, timeout=READ_TIMEOUT)
        )
        async with asyncio.timeout(READ_TIMEOUT):
            await snapshot.wait()  # subscribed: the event we cause comes after it
            answer = await ack(system.url, OPERATOR, listed["alert_id"], "on it")
            await tailing
        assert answer["state"] == "acknowledged"
        assert streamed[0]["snapshot"] is True
        assert streamed[-1]["kind"] == "alert_acknowledged"


async def test_a_client_with_a_wrong_token_gets_a_named_error() -> None:
    async with AlertSystem(config()) as system:
        assert system.url is not None
        with pytest.raises(ClientError, match="refused"):
            await list_alerts(system.url, "not-a-valid-token", timeout=READ_TIMEOUT)


def test_the_demo_config_is_valid_and_its_feed_crosses_the_threshold_both_ways() -> None:
    config = demo_config(TocsinConfig())
    [rule] = config.rules.inline
    assert [policy.name for policy in config.escalation_policies] == ["demo-oncall"]
    values = [demo_value(t, 0) for t in range(int(DEMO_PERIOD))]
    assert max(values) > 0.05 > 0.02 > min(values)
    assert rule.id == "checkout-errors"
