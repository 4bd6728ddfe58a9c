"""The whole system through real sockets on 127.0.0.1: clients, commands, notifications."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from gateway.config import TocsinConfig
from gateway.system import AlertSystem
from messages import AlertState, EventFrame, MetricSample, ReplyFrame, SnapshotFrame
from tests.gateway.harness import READ_TIMEOUT, TOKENS, Client
from tests.notify.http_server import HttpServer
from tests.notify.smtp_server import SmtpServer

RULES = [
    {
        "type": "threshold",
        "id": "disk-full",
        "selector": "disk_used_percent",
        "op": ">",
        "threshold": 90,
        "severity": "critical",
    }
]


def config(**sections: Any) -> TocsinConfig:
    """Return a loopback config: memory store, no host collector, the four test users."""
    tokens = [
        {"user": user, "token": token, "roles": list(roles)}
        for user, (token, roles) in TOKENS.items()
    ]
    data: dict[str, Any] = {
        "server": {"port": 0},
        "auth": {"tokens": tokens},
        "store": {"path": ":memory:"},
        "collectors": {"host": {"enabled": False}},
        "rules": {"inline": RULES},
        **sections,
    }
    return TocsinConfig.model_validate(data)


@asynccontextmanager
async def client(system: AlertSystem, user: str) -> AsyncIterator[Client]:
    assert system.url is not None
    token = TOKENS[user][0]
    ws = await connect(
        system.url,
        additional_headers={"Authorization": f"Bearer {token}"},
        proxy=None,
        open_timeout=READ_TIMEOUT,
    )
    connected = Client(ws)
    try:
        await connected.read()  # the welcome
        connected.received.clear()
        yield connected
    finally:
        await connected.close()


def host_of(frame: EventFrame) -> str:
    labels = frame.event.payload["labels"]
    assert isinstance(labels, dict)
    return str(labels["host"])


def lifecycle(client: Client) -> list[EventFrame]:
    """Return the alert lifecycle events ``client`` received (no notification outcomes)."""
    return [f for f in client.events() if f.event.kind.value.startswith("alert_")]


def disk(host: str, team: str, value: float) -> dict[str, Any]:
    labels = {"host": host, "team": team}
    return MetricSample(
        name="disk_used_percent", value=value, labels=labels, timestamp=time.time()
    ).model_dump(mode="json")


def paging(http_server: HttpServer, smtp_server: SmtpServer, matcher: str) -> dict[str, Any]:
    """Return receivers and a route sending what ``matcher`` selects to a webhook and a mailbox."""
    receivers = {
        "websocket": {},
        "webhook": [{"name": "ops-hook", "url": http_server.url, "trust_env": False}],
        "email": [
            {
                "name": "ops-mail",
                "host": "127.0.0.1",
                "port": smtp_server.port,
                "starttls": False,
                "from": "tocsin@example.com",
                "to": ["oncall@example.com"],
            }
        ],
    }
    route = {
        "receiver": "websocket",
        "routes": [
            {"receiver": "ops-hook", "matchers": [matcher], "group_wait": 0, "continue": True},
            {"receiver": "ops-mail", "matchers": [matcher], "group_wait": 0},
        ],
    }
    return {"receivers": receivers, "route": route}


async def test_a_sample_alerts_a_viewer_an_operator_acks_and_a_narrow_filter_sees_its_own(
    http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    async with (
        AlertSystem(config(**paging(http_server, smtp_server, 'team="db"'))) as system,
        client(system, "ingest") as feeder,
        client(system, "viewer") as everyone,
        client(system, "viewer") as db_only,
        client(system, "operator") as operator,
    ):
        assert isinstance(await everyone.request({"type": "subscribe", "id": "all"}), SnapshotFrame)
        narrow = {"type": "subscribe", "id": "db", "matchers": ['team="db"']}
        assert isinstance(await db_only.request(narrow), SnapshotFrame)

        samples = [disk("web-1", "web", 95.0), disk("db-1", "db", 97.0)]
        assert isinstance(await feeder.request({"type": "ingest", "samples": samples}), ReplyFrame)

        await everyone.read_until(lambda: len(lifecycle(everyone)) >= 2)
        opened = {host_of(frame): frame for frame in lifecycle(everyone)}
        assert set(opened) == {"web-1", "db-1"}
        db_alert = opened["db-1"].event.alert_id
        assert db_alert is not None

        reply = await operator.request({"type": "ack", "alert_id": db_alert, "comment": "mine"})
        assert isinstance(reply, ReplyFrame)
        await everyone.read_until(lambda: len(lifecycle(everyone)) >= 3)
        assert lifecycle(everyone)[2].event.kind.value == "alert_acknowledged"

        await db_only.read_until(lambda: len(lifecycle(db_only)) >= 2)
        db_events = lifecycle(db_only)
        assert [f.event.kind.value for f in db_events] == ["alert_opened", "alert_acknowledged"]
        assert {f.event.alert_id for f in db_events} == {db_alert}

        [acknowledged] = await system.alerts(states=[AlertState.ACKNOWLEDGED])
        assert (acknowledged.alert_id, acknowledged.acknowledged_by) == (db_alert, "operator")
        # A frame more through the narrow subscriber's socket: nothing of web-1 was queued
        # (the db alert's notification outcomes may be, as the route pages the db team).
        assert (await db_only.request({"type": "ping"})).type == "pong"
        assert len(lifecycle(db_only)) == 2
        assert {f.event.alert_id for f in db_only.events()} == {db_alert}

        # The route pages the db team: its alert reaches the webhook and the mailbox.
        async with asyncio.timeout(READ_TIMEOUT):
            [request] = await http_server.wait_requests(1)
            [mail] = await smtp_server.handler.wait_for_messages(1)
        assert "db-1" in str(request.json())
        assert "web-1" not in str(request.json())
        assert mail.recipients == ["oncall@example.com"]
        assert "disk-full" in str(mail.message["Subject"])


async def test_a_viewer_may_not_acknowledge_and_the_alert_stays_active() -> None:
    async with AlertSystem(config()) as system, client(system, "viewer") as viewer:
        async with system.subscribe() as events, asyncio.timeout(READ_TIMEOUT):
            await system.ingest([MetricSample.model_validate(disk("db-1", "db", 99.0))])
            await anext(events)
        [alert] = await system.alerts()
        answer = await viewer.request({"type": "ack", "alert_id": alert.alert_id})
        assert answer.type == "error"
        assert answer.code == "forbidden"
        [still] = await system.alerts()
        assert still.state is AlertState.ACTIVE


async def test_an_alert_reaches_a_webhook_and_an_email_inbox_through_the_route(
    http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    paged = paging(http_server, smtp_server, 'severity="critical"')
    async with AlertSystem(config(**paged, server={"enabled": False})) as system:
        assert system.url is None
        await system.ingest([MetricSample.model_validate(disk("db-1", "db", 99.0))])
        async with asyncio.timeout(READ_TIMEOUT):
            [request] = await http_server.wait_requests(1)
            [mail] = await smtp_server.handler.wait_for_messages(1)
        body = request.json()
        assert "db-1" in str(body)
        assert mail.recipients == ["oncall@example.com"]
        assert "disk-full" in str(mail.message["Subject"])


async def test_metrics_of_the_assembled_system_cover_notifications_restarts_and_mailboxes(
    http_server: HttpServer,
) -> None:
    receivers = {
        "websocket": {},
        "webhook": [{"name": "ops-hook", "url": http_server.url, "trust_env": False}],
    }
    route = {
        "receiver": "websocket",
        "routes": [{"receiver": "ops-hook", "matchers": ['severity="critical"'], "group_wait": 0}],
    }
    async with AlertSystem(config(receivers=receivers, route=route)) as system:
        assert system.http_url is not None
        async with system.subscribe() as events, asyncio.timeout(READ_TIMEOUT):
            await system.ingest([MetricSample.model_validate(disk("db-1", "db", 99.0))])
            # The notifier counts a delivery before it tells the alert manager its receipt.
            async for event in events:
                if event.kind.value == "notification_outcome":
                    break
        async with httpx.AsyncClient(trust_env=False, timeout=READ_TIMEOUT) as http:
            text = (await http.get(f"{system.http_url}/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    delivered = (("outcome", "delivered"), ("receiver", "ops-hook"))
    assert samples["tocsin_notifications_total", delivered] == 1
    assert samples["tocsin_alerts", (("state", "active"),)] == 1
    assert samples["tocsin_samples_ingested_total", (("source", "api"),)] == 1
    assert samples["tocsin_actor_restarts_total", (("actor", "/alerting/alert-manager"),)] == 0
    depths = {dict(labels)["actor"] for name, labels in samples if name == "tocsin_mailbox_depth"}
    assert {"/alerting/rules/metric-router", "/alerting/notifiers/notifier:webhook:ops-hook"} <= (
        depths
    )
    assert not any("rule:" in actor for actor in depths)
    assert samples["tocsin_connections", ()] == 0
