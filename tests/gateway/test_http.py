"""Plain HTTP on the WebSocket port: /healthz, /readyz, /metrics and the dashboard."""

from __future__ import annotations

import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway import Readiness
from messages import SnapshotFrame
from tests.alerting.builders import firing
from tests.gateway.harness import serving


def http(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=15.0)


async def test_healthz_answers_while_the_process_serves() -> None:
    async with serving() as stack, http(stack.gateway.http_url) as client:
        response = await client.get("/healthz")
        assert (response.status_code, response.text) == (200, "ok\n")


async def test_readyz_is_200_with_every_check_when_the_tree_is_up() -> None:
    async def store_writable() -> Readiness:
        return Readiness(True, {"store": True})

    async with serving(readiness=store_writable) as stack, http(stack.gateway.http_url) as client:
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "ready": True,
            "checks": {
                "gateway": True,
                "registry": True,
                "alert_manager": True,
                "router": True,
                "store": True,
            },
        }


async def test_readyz_is_503_when_the_injected_check_says_not_ready_or_fails() -> None:
    async def read_only_store() -> Readiness:
        return Readiness(False, {"store": "read-only file system"})

    async with serving(readiness=read_only_store) as stack, http(stack.gateway.http_url) as client:
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["store"] == "read-only file system"

    async def broken() -> Readiness:
        raise RuntimeError("probe crashed")

    async with serving(readiness=broken) as stack, http(stack.gateway.http_url) as client:
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert "probe crashed" in response.json()["checks"]["readiness"]


async def test_metrics_expose_connections_alerts_frames_samples_and_mailboxes() -> None:
    async with serving() as stack, http(stack.gateway.http_url) as client:
        viewer = await stack.connect()
        assert isinstance(await viewer.request({"type": "subscribe", "id": "s"}), SnapshotFrame)
        stack.manager.tell(firing(host="a"))
        await viewer.until_events(1)
        ingest = await stack.connect("ingest")
        sample = {"name": "up", "value": 1.0, "timestamp": 1_700_000_000.0}
        await ingest.request({"type": "ingest", "samples": [sample, sample]})
        await ingest.ws.send("{oops")
        await ingest.read()
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }
        assert samples["tocsin_connections", ()] == 2
        assert samples["tocsin_alerts", (("state", "active"),)] == 1
        assert samples["tocsin_samples_ingested_total", (("source", "websocket"),)] == 2
        assert samples["tocsin_frames_received_total", (("type", "ingest"),)] == 1
        assert samples["tocsin_frames_received_total", (("type", "invalid"),)] == 1
        assert samples["tocsin_frame_errors_total", (("code", "invalid"),)] == 1
        assert samples["tocsin_subscriptions", ()] == 1
        assert samples["tocsin_events_pushed_total", ()] == 1
        assert ("tocsin_mailbox_depth", (("actor", "/alert-manager"),)) in samples
        for peer in (viewer, ingest):
            await peer.close()


async def test_metrics_providers_feed_what_the_gateway_cannot_count() -> None:
    from gateway import GatewayMetrics, MetricsProviders

    async def notifications() -> dict[tuple[str, str], float]:
        return {("ops-mail", "delivered"): 3.0, ("ops-mail", "failed"): 1.0}

    async def restarts() -> dict[str, float]:
        return {"/alerting/alert-manager": 2.0}

    async def broken() -> dict[str, float]:
        raise RuntimeError("no stats")

    providers = MetricsProviders(
        notifications=notifications, actor_restarts=restarts, samples_ingested=broken
    )
    metrics = GatewayMetrics(providers)
    async with serving() as stack:
        stack.gateway.metrics = metrics
        text = (await stack.gateway.render_metrics()).decode()
    assert 'tocsin_notifications_total{outcome="delivered",receiver="ops-mail"} 3.0' in text
    assert 'tocsin_actor_restarts_total{actor="/alerting/alert-manager"} 2.0' in text
    assert 'tocsin_metrics_provider_errors_total{provider="samples_ingested"} 1.0' in text


async def test_the_dashboard_is_one_self_contained_page_with_a_strict_policy() -> None:
    async with serving() as stack, http(stack.gateway.http_url) as client:
        response = await client.get("/?token=viewer-secret-token")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["referrer-policy"] == "no-referrer"
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'", policy)
        page = response.text
        for marker in ('id="status"', 'id="alerts"', 'id="count"', 'content="/ws"'):
            assert marker in page
        assert not re.search(r"""(src|href)=["']?https?:""", page)


async def test_unknown_paths_are_404_and_upgrades_elsewhere_are_refused() -> None:
    async with serving() as stack, http(stack.gateway.http_url) as client:
        assert (await client.get("/nope")).status_code == 404
        upgrade = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        }
        assert (await client.get("/other", headers=upgrade)).status_code == 404
