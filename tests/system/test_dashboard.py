"""The dashboard end to end in headless Chromium, against a real AlertSystem."""

from __future__ import annotations

import time

from gateway.system import AlertSystem
from messages import AlertState, MetricSample
from tests.conftest import require_binary
from tests.gateway.harness import TOKENS
from tests.system.test_end_to_end import config

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


async def test_an_operator_sees_an_alert_appear_live_and_acknowledges_it_in_the_browser() -> None:
    chromium = require_binary("chromium")
    from playwright.async_api import async_playwright

    async with AlertSystem(config()) as system, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            assert system.http_url is not None
            await page.goto(f"{system.http_url}/?token={TOKENS['operator'][0]}")
            await page.wait_for_selector('#status[data-status="open"]', timeout=WAIT_MS)
            assert await page.text_content("#user") == "operator"

            sample = MetricSample(
                name="disk_used_percent",
                value=97.0,
                labels={"host": "db-1", "team": "db"},
                timestamp=time.time(),
            )
            await system.ingest([sample])
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
        finally:
            await browser.close()
