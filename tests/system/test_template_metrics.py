"""A user template that fails at run time shows on the server's own /metrics."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway.system import AlertSystem
from messages import MetricSample
from tests.notify.http_server import HttpServer
from tests.system.test_end_to_end import config

RENDER_FAILURE = (("channel", "webhook"), ("part", "summary"), ("stage", "render"))


def scraped(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_a_webhook_template_that_fails_to_render_is_counted_on_metrics(
    http_server: HttpServer,
) -> None:
    receivers = {
        "websocket": {},
        "webhook": [{"name": "ops-hook", "url": http_server.url, "trust_env": False}],
        # Compiles (so the configuration is accepted), fails each time it renders.
        "templates": {"webhook": {"firing": {"summary": "{{ labels.host }}: {{ 1 / 0 }}"}}},
    }
    route = {
        "receiver": "websocket",
        "routes": [{"receiver": "ops-hook", "matchers": ['severity="critical"'], "group_wait": 0}],
    }
    async with AlertSystem(config(receivers=receivers, route=route)) as system:
        assert system.http_url is not None
        async with httpx.AsyncClient(trust_env=False, timeout=10.0) as http:
            before = scraped((await http.get(f"{system.http_url}/metrics")).text)
            sample = MetricSample(
                name="disk_used_percent",
                value=99.0,
                labels={"host": "db-1"},
                timestamp=time.time(),
            )
            await system.ingest([sample])

            [request] = await http_server.wait_requests(1)
            [sent] = request.json()["notifications"]
            # The notification went out, with the default summary in place of the broken one.
            assert sent["kind"] == "firing"
            assert sent["summary"] == "[FIRING] disk-full (host=db-1)"
            after = scraped((await http.get(f"{system.http_url}/metrics")).text)

    assert ("tocsin_template_failures_total", RENDER_FAILURE) not in before
    assert after["tocsin_template_failures_total", RENDER_FAILURE] == 1
    assert not any(name == "tocsin_metrics_provider_errors_total" for name, _ in after)
