"""The dashboard end to end in headless Chromium, against a real AlertSystem."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from gateway.system import AlertSystem
from messages import AlertState, MetricSample
from tests.conftest import require_binary
from tests.gateway.harness import TOKENS
from tests.system.test_end_to_end import config

if TYPE_CHECKING:
    from playwright.async_api import Page

WAIT_MS = 20_000
"""The longest the browser waits for one thing on the page: a bound, not a pause."""

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@asynccontextmanager
async def dashboard(system: AlertSystem, token: str) -> AsyncIterator[Page]:
    """Open the dashboard of ``system`` with ``token`` in headless Chromium."""
    chromium = require_binary("chromium")
    from playwright.async_api import async_playwright

    assert system.http_url is not None
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{system.http_url}/?token={token}")
            yield page
        finally:
            await browser.close()


def disk_sample(host: str, value: float = 97.0) -> MetricSample:
    return MetricSample(
        name="disk_used_percent",
        value=value,
        labels={"host": host, "team": "db"},
        timestamp=time.time(),
    )


async def test_an_operator_sees_an_alert_appear_live_then_acknowledges_and_resolves_it() -> None:
    async with AlertSystem(config()) as system, dashboard(system, TOKENS["operator"][0]) as page:
        await page.wait_for_selector('#status[data-status="open"]', timeout=WAIT_MS)
        assert await page.text_content("#user") == "operator"

        await system.ingest([disk_sample("db-1")])
        row = await page.wait_for_selector(
            '#alerts tr[data-state="active"][data-severity="critical"]', timeout=WAIT_MS
        )
        assert row is not None
        alert_id = await row.get_attribute("data-alert-id")
        assert alert_id is not None

        await page.click(f'button[data-action="ack"][data-alert-id="{alert_id}"]')
        await page.wait_for_selector(
            f'#alerts tr[data-alert-id="{alert_id}"][data-state="acknowledged"]',
            timeout=WAIT_MS,
        )
        [alert] = await system.alerts()
        assert (alert.alert_id, alert.state) == (alert_id, AlertState.ACKNOWLEDGED)
        assert alert.acknowledged_by == "operator"

        await page.click(f'button[data-action="resolve"][data-alert-id="{alert_id}"]')
        await page.wait_for_selector(f'#alerts tr[data-alert-id="{alert_id}"]', state="detached")
        assert await page.text_content("#count") == "0"
        [alert] = await system.alerts()
        assert (alert.alert_id, alert.state) == (alert_id, AlertState.RESOLVED)


async def test_a_viewer_sees_alerts_without_buttons_and_a_bad_token_is_told_so() -> None:
    async with AlertSystem(config()) as system:
        async with dashboard(system, TOKENS["viewer"][0]) as page:
            await page.wait_for_selector('#status[data-status="open"]', timeout=WAIT_MS)
            await system.ingest([disk_sample("db-1")])
            await page.wait_for_selector('#alerts tr[data-state="active"]', timeout=WAIT_MS)
            assert await page.text_content("#roles") == "viewer"
            assert await page.query_selector_all("#alerts button") == []
        async with dashboard(system, "not-a-token") as page:
            await page.wait_for_selector('#status[data-status="closed"]', timeout=WAIT_MS)
            assert "1008" in (await page.text_content("#status") or "")
            assert (await page.text_content("#message") or "").startswith("not authorised")


async def test_the_page_shows_a_lost_connection_reconnects_and_keeps_updating() -> None:
    async with (
        AlertSystem(config(), fault_injection=True) as system,
        dashboard(system, TOKENS["viewer"][0]) as page,
    ):
        await page.wait_for_selector('#status[data-status="open"]', timeout=WAIT_MS)
        await system.ingest([disk_sample("db-1")])
        await page.wait_for_selector('#alerts tr[data-state="active"]', timeout=WAIT_MS)
        # Record every status the page shows: "closed" may last only the reconnect's delay.
        await page.evaluate(
            """() => {
                const el = document.getElementById("status");
                window.statuses = [];
                new MutationObserver(() => window.statuses.push(el.textContent))
                    .observe(el, {attributes: true, childList: true, characterData: true});
            }"""
        )
        system.inject_crash("/edge/connection-registry")  # its restart closes with 1012
        await page.wait_for_function(
            """() => window.statuses.some((s) => s.startsWith("closed (1012"))
                     && document.getElementById("status").dataset.status === "open" """,
            timeout=WAIT_MS,
        )
        await system.ingest([disk_sample("db-2")])
        await page.wait_for_selector('#alerts tr[data-state="active"] >> nth=1', timeout=WAIT_MS)
        assert await page.text_content("#count") == "2"
        assert await page.text_content("#message") == ""
