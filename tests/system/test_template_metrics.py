"""A user template that fails at run time shows on the server's own /metrics; one that
does not compile never gets that far."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from actors.notify import GetTemplateFailures
from gateway.system import AlertSystem
from messages import MetricSample
from tests.notify.http_server import HttpServer
from tests.system.test_end_to_end import config

RENDER_FAILURE = (("channel", "webhook"), ("part", "summary"), ("stage", "render"))
RENDER_FAILURE_KEY = ("tocsin_template_failures_total", RENDER_FAILURE)


def scraped(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def broken_summary(http_server: HttpServer) -> dict[str, Any]:
    """A webhook receiver whose summary template compiles but fails each time it renders."""
    return broken_summary_url(http_server.url)


def broken_summary_url(url: str) -> dict[str, Any]:
    """``broken_summary`` for a receiver at ``url``."""
    receivers = {
        "websocket": {},
        "webhook": [{"name": "ops-hook", "url": url, "trust_env": False}],
        "templates": {"webhook": {"firing": {"summary": "{{ labels.host }}: {{ 1 / 0 }}"}}},
    }
    route = {
        "receiver": "websocket",
        "routes": [{"receiver": "ops-hook", "matchers": ['severity="critical"'], "group_wait": 0}],
    }
    return {"receivers": receivers, "route": route}


def disk_full() -> MetricSample:
    return MetricSample(
        name="disk_used_percent", value=99.0, labels={"host": "db-1"}, timestamp=time.time()
    )


async def test_a_webhook_template_that_fails_to_render_is_counted_on_metrics(
    http_server: HttpServer,
) -> None:
    async with AlertSystem(config(**broken_summary(http_server))) as system:
        assert system.http_url is not None
        async with httpx.AsyncClient(trust_env=False, timeout=10.0) as http:
            before = scraped((await http.get(f"{system.http_url}/metrics")).text)
            await system.ingest([disk_full()])

            [request] = await http_server.wait_requests(1)
            [sent] = request.json()["notifications"]
            # The notification went out, with the default summary in place of the broken one.
            assert sent["kind"] == "firing"
            assert sent["summary"] == "[FIRING] disk-full (host=db-1)"
            after = scraped((await http.get(f"{system.http_url}/metrics")).text)
            counted = await system.system.lookup("/alerting/notifiers").ask(GetTemplateFailures())

    assert RENDER_FAILURE_KEY not in before
    assert counted == {("webhook", "summary", "render"): after[RENDER_FAILURE_KEY]}
    assert after[RENDER_FAILURE_KEY] == 1
    assert not any(name == "tocsin_metrics_provider_errors_total" for name, _ in after)


async def test_one_delivered_notification_counts_its_template_failure_once(
    http_server: HttpServer,
) -> None:
    async with AlertSystem(config(**broken_summary(http_server))) as system:
        await system.ingest([disk_full()])
        await http_server.wait_requests(1)
        counted = await system.system.lookup("/alerting/notifiers").ask(GetTemplateFailures())
    assert len(http_server.requests) == 1
    assert counted == {("webhook", "summary", "render"): 1}


def test_an_alert_system_cannot_be_given_a_template_that_does_not_compile(
    tmp_path: Path,
) -> None:
    data_file = tmp_path / "tocsin.db"
    sections = broken_summary_url("http://127.0.0.1:9/hook")
    sections["receivers"]["templates"] = {"webhook": {"firing": {"summary": "{{ oops"}}}
    with pytest.raises(ValidationError) as caught:
        AlertSystem(config(**sections, store={"path": str(data_file)}))
    [error] = caught.value.errors()
    assert error["loc"] == ("receivers", "templates")
    assert "template webhook.firing.summary does not compile" in error["msg"]
    # Refused while the configuration was read: no store opened, nothing ran.
    assert not data_file.exists()
