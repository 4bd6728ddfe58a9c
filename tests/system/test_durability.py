"""What an AlertSystem on SQLite knows survives leaving it and starting again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gateway.system import AlertSystem
from messages import AlertState, MetricSample
from tests.gateway.harness import READ_TIMEOUT
from tests.system.test_end_to_end import config


async def test_an_acknowledged_alert_and_a_silence_come_back_after_a_restart(
    tmp_path: Path,
) -> None:
    settings = config(
        store={"path": str(tmp_path / "data" / "tocsin.db")}, server={"enabled": False}
    )
    async with AlertSystem(settings) as system:
        async with system.subscribe() as events, asyncio.timeout(READ_TIMEOUT):
            sample = MetricSample(
                name="disk_used_percent", value=99.0, labels={"host": "db-1"}, timestamp=time.time()
            )
            await system.ingest([sample])
            opened = await anext(events)
        assert opened.alert_id is not None
        await system.acknowledge(opened.alert_id, by="alice", comment="replacing the disk")
        silence = await system.silence('host="web-1"', duration=3600, by="alice")

    async with AlertSystem(settings) as system:
        [alert] = await system.alerts()
        assert (alert.alert_id, alert.state) == (opened.alert_id, AlertState.ACKNOWLEDGED)
        assert alert.acknowledged_by == "alice"
        page = await system.history(alert_id=opened.alert_id)
        assert [event.kind.value for event in page.events] == [
            "alert_opened",
            "alert_acknowledged",
        ]
        assert [s.silence_id for s in await system.silences()] == [silence.silence_id]


async def test_a_configured_silence_mutes_from_the_start_and_is_made_once(tmp_path: Path) -> None:
    settings = config(
        store={"path": str(tmp_path / "tocsin.db")},
        server={"enabled": False},
        silences=[{"matchers": ['host="db-1"'], "comment": "decommissioned", "duration": 3600}],
    )
    async with AlertSystem(settings) as system:
        [configured] = await system.silences()
        assert (configured.matchers[0].value, configured.comment) == ("db-1", "decommissioned")
        async with system.subscribe() as events, asyncio.timeout(READ_TIMEOUT):
            sample = MetricSample(
                name="disk_used_percent", value=99.0, labels={"host": "db-1"}, timestamp=time.time()
            )
            await system.ingest([sample])
            assert (await anext(events)).kind.value == "alert_opened"
        [alert] = await system.alerts()
        assert alert.state is AlertState.SUPPRESSED

    # Started again on the same store: the silence is there, not made a second time.
    async with AlertSystem(settings) as system:
        assert [s.silence_id for s in await system.silences()] == [configured.silence_id]
        # Expired by an operator, it is listed only with the expired ones.
        await system.expire_silence(configured.silence_id, by="alice")
        assert await system.silences() == ()
        [expired] = await system.silences(include_expired=True)
        assert (expired.silence_id, expired.expired_by) == (configured.silence_id, "alice")
