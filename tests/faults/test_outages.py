"""Scenario 3 of issue 7: receivers go down, then come back.

An in-process ``AlertSystem`` (real notifiers, real store, real clock with short
configured delays) delivers every alert to three real receivers on 127.0.0.1:

- a webhook whose port refuses connections (nothing listens) for a while, then listens;
- an aiosmtpd server answering ``421`` to every MAIL for a while, then accepting;
- a Slack-style HTTP server answering ``429`` with ``Retry-After: 1`` twice, then ``200``.

Alerts fire and resolve during the outage. The test counts every attempt against the
configured policy (no request storm: the circuit opens after ``failure_threshold``
consecutive failures, then one probe per ``cool_down``; Slack's Retry-After is honoured),
then checks that everything is delivered after recovery, in order per alert.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from typing import Any

import aiosmtpd.smtp

from actors.notify import CircuitState, GetNotifierStatus, NotifierStatus
from gateway.config import TocsinConfig
from gateway.system import AlertSystem
from messages import MetricSample, TransitionKind
from tests.faults.chaos import BOUND
from tests.notify.http_server import HttpServer, Respond, closed_port
from tests.notify.smtp_server import ScriptedHandler, SmtpServer

HOSTS = 4
RECEIVERS = ("hook", "mail", "chat")
COOL_DOWN = 0.4
THRESHOLD = 3
IN_FLIGHT = 2
RETRY_AFTER = 1
POLICY = {
    "failure_threshold": THRESHOLD,
    "cool_down": COOL_DOWN,
    "backoff_base": 0.02,
    "backoff_cap": 0.1,
    "max_attempts": 1000,
    "max_in_flight": IN_FLIGHT,
}


class OutageHandler(ScriptedHandler):
    """An SMTP handler that answers 421 to every MAIL while ``down``, and counts them."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True
        self.refused: list[float] = []

    async def handle_MAIL(
        self,
        server: aiosmtpd.smtp.SMTP,
        session: aiosmtpd.smtp.Session,
        envelope: aiosmtpd.smtp.Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.down:
            self.refused.append(time.monotonic())
            return "421 4.3.2 service shutting down, try again later"
        return await super().handle_MAIL(server, session, envelope, address, mail_options)


class TimedHttpServer(HttpServer):
    """The scripted HTTP server, noting when each request arrived (monotonic seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []

    def _observed(self) -> None:
        while len(self.arrivals) < len(self.requests):
            self.arrivals.append(time.monotonic())
        super()._observed()


def outage_config(webhook_port: int, smtp_port: int, slack_url: str) -> TocsinConfig:
    receivers: dict[str, Any] = {
        "webhook": [
            {"name": "hook", "url": f"http://127.0.0.1:{webhook_port}/hook", "trust_env": False}
        ],
        "email": [
            {
                "name": "mail",
                "host": "127.0.0.1",
                "port": smtp_port,
                "starttls": False,
                "from": "tocsin@example.com",
                "to": ["oncall@example.com"],
            }
        ],
        "slack": [{"name": "chat", "url": slack_url, "trust_env": False}],
        "delivery": {
            "hook": POLICY,
            "mail": POLICY,
            # One request per notification, one at a time (Slack's default), no rate
            # limit: every request is countable and the Retry-After gaps measurable.
            "chat": {**POLICY, "rate": None, "batch_max": 1, "max_in_flight": 1},
        },
    }
    every = {"matchers": [], "group_by": ["..."], "group_wait": 0, "group_interval": 0.05}
    route = {
        **every,
        "receiver": "hook",
        "routes": [
            {**every, "receiver": "hook", "continue": True},
            {**every, "receiver": "mail", "continue": True},
            {**every, "receiver": "chat"},
        ],
    }
    return TocsinConfig.model_validate(
        {
            "server": {"enabled": False},
            "store": {"path": ":memory:"},
            "collectors": {"host": {"enabled": False}},
            "rules": {
                "inline": [
                    {
                        "type": "threshold",
                        "id": "outage",
                        "selector": "outage_load",
                        "op": ">",
                        "threshold": 50,
                        "severity": "critical",
                    }
                ]
            },
            "receivers": receivers,
            "route": route,
        }
    )


def load(value: float) -> list[MetricSample]:
    now = time.time()
    return [
        MetricSample(name="outage_load", value=value, labels={"host": f"h{h}"}, timestamp=now)
        for h in range(HOSTS)
    ]


async def statuses(system: AlertSystem) -> dict[str, NotifierStatus]:
    answer = await system.system.lookup("/alerting/notifiers").ask(GetNotifierStatus())
    return {status.receiver: status for status in answer}


class Outcomes:
    """Every delivery receipt the alert manager records, as it records them."""

    def __init__(self) -> None:
        self.failed: dict[str, list[float]] = defaultdict(list)
        self.delivered: dict[str, list[str]] = defaultdict(list)
        self.changed = asyncio.Event()

    def record(self, payload: dict[str, Any]) -> None:
        receiver = str(payload["receiver"])
        if payload["outcome"] == "failed":
            self.failed[receiver].append(time.monotonic())
        elif payload["outcome"] == "delivered":
            self.delivered[receiver].append(str(payload["notification_id"]))
        else:
            raise AssertionError(f"a notification was given up: {payload}")
        self.changed.set()


async def follow(system: AlertSystem, outcomes: Outcomes) -> None:
    """Record every notification outcome, from the alert manager's own event stream."""
    async with system.subscribe() as events:
        async for event in events:
            if event.kind is TransitionKind.NOTIFICATION_OUTCOME:
                outcomes.record(event.payload)


async def until(outcomes: Outcomes, condition: Any) -> None:
    async with asyncio.timeout(BOUND):
        while not await condition():
            outcomes.changed.clear()
            await outcomes.changed.wait()


def kinds_by_alert(keys: list[str]) -> dict[str, list[str]]:
    """alert id → notification kinds, in first-delivery order (keys are id/receiver/kind)."""
    found: dict[str, list[str]] = defaultdict(list)
    for key in dict.fromkeys(keys):
        alert_id, _receiver, kind = key.rsplit("/", 2)
        found[alert_id].append(kind)
    return found


async def test_receivers_down_then_up_open_the_circuit_without_a_storm_and_get_everything_in_order() -> (  # noqa: E501
    None
):
    webhook_port = closed_port()
    smtp = await SmtpServer(OutageHandler()).start()
    handler = smtp.handler
    assert isinstance(handler, OutageHandler)
    limited = Respond(429, {"Retry-After": str(RETRY_AFTER)}, b"rate_limited")
    slack = TimedHttpServer()
    await slack.start()
    slack.script(limited, limited)
    webhook = HttpServer()
    outcomes = Outcomes()
    started = time.monotonic()
    try:
        system = AlertSystem(outage_config(webhook_port, smtp.port, slack.url))
        async with system:
            follower = asyncio.create_task(follow(system, outcomes))
            try:
                await system.ingest(load(90.0))
                await until(outcomes, lambda: circuits_open(system))
                opened = time.monotonic()
                await system.ingest(load(10.0))  # resolved during the outage
                # Let the outage last two probes of each receiver, then end it.
                failed_at_open = {r: len(outcomes.failed[r]) for r in ("hook", "mail")}

                async def probed() -> bool:
                    failed = outcomes.failed
                    return all(len(failed[r]) >= failed_at_open[r] + 2 for r in failed_at_open)

                await until(outcomes, probed)
                webhook.port = webhook_port
                webhook._server = await asyncio.start_server(
                    webhook._handle, "127.0.0.1", webhook_port
                )
                handler.down = False
                recovered = time.monotonic()

                expected = 2 * HOSTS  # a firing and a resolution per alert

                async def all_delivered() -> bool:
                    delivered = outcomes.delivered
                    return all(len(set(delivered[r])) >= expected for r in RECEIVERS)

                await until(outcomes, all_delivered)
                final = await statuses(system)
            finally:
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)

        # No storm: until the circuit opened, at most THRESHOLD consecutive failures plus
        # the sends already in flight; while open (at most from the first failure until
        # the receiver came back), one probe per cool-down.
        def allowed(first_failure: float) -> int:
            open_for = recovered - first_failure
            return THRESHOLD + IN_FLIGHT - 1 + math.floor(open_for / COOL_DOWN) + 1

        hook_failed = len(outcomes.failed["hook"])
        mail_refused = len(handler.refused)
        hook_bound = allowed(outcomes.failed["hook"][0])
        mail_bound = allowed(handler.refused[0])
        assert hook_failed <= hook_bound, (hook_failed, hook_bound)
        assert mail_refused <= mail_bound, (mail_refused, mail_bound)
        assert final["hook"].failed_attempts == hook_failed
        # Slack: the two 429s were retried after exactly Retry-After, never sooner, and
        # they did not open the circuit (a Retry-After proves the receiver answers).
        arrivals = slack.arrivals
        assert len(outcomes.failed["chat"]) == 2
        assert len(arrivals) == 2 + expected, len(arrivals)
        gaps = [arrivals[1] - arrivals[0], arrivals[2] - arrivals[1]]
        assert min(gaps) >= RETRY_AFTER, gaps
        assert final["chat"].failed_attempts == 2

        # Everything delivered, each notification once per key, in order per alert.
        for receiver, keys in (
            ("hook", [r.idempotency_key for r in webhook.requests]),
            ("chat", [r.idempotency_key for r in slack.requests[2:]]),
            ("mail", [str(m.message["X-Tocsin-Idempotency-Key"]) for m in handler.received]),
        ):
            by_alert = kinds_by_alert(keys)
            assert len(by_alert) == HOSTS, (receiver, by_alert)
            assert all(kinds == ["firing", "resolved"] for kinds in by_alert.values()), (
                receiver,
                by_alert,
            )
            assert final[receiver].circuit is CircuitState.CLOSED
            assert final[receiver].dead_letters == 0
        print(
            f"\nscenario 3: {HOSTS} alerts fired and resolved during the outage; webhook "
            f"refused {hook_failed} attempts (policy bound {hook_bound}) and SMTP answered "
            f"421 to {mail_refused} (bound {mail_bound}) in an outage of "
            f"{recovered - opened:.2f} s after both circuits opened (bound: threshold "
            f"{THRESHOLD} + {IN_FLIGHT - 1} in flight + 1 probe per {COOL_DOWN} s open); "
            f"Slack 429 x2, next "
            f"requests {min(gaps):.2f} s and {max(gaps):.2f} s later (Retry-After "
            f"{RETRY_AFTER} s, nothing sent meanwhile); delivered {expected} per receiver "
            f"after recovery, "
            f"in order per alert, 0 dead letters; webhook duplicates "
            f"{len(webhook.requests) - len(set(r.idempotency_key for r in webhook.requests))}; "
            f"{time.monotonic() - started:.1f} s"
        )
    finally:
        await webhook.close()
        await slack.close()
        await smtp.close()


async def circuits_open(system: AlertSystem) -> bool:
    found = await statuses(system)
    return all(found[r].circuit is CircuitState.OPEN for r in ("hook", "mail"))
