"""``tocsin serve`` and ``tocsin demo``: run an AlertSystem until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import secrets
import signal
import sys
from pathlib import Path

import structlog

from actors import apply_gc_policy
from gateway._config import TokenConfig
from gateway.config import TocsinConfig, data_dir
from gateway.system import AlertSystem
from messages import MetricSample, Role

__all__ = ["TOKEN_ENV", "admin_token", "demo_config", "run_server", "token_file"]

TOKEN_ENV = "TOCSIN_TOKEN"
"""The environment variable holding the admin token (server) or the token (clients)."""

log = structlog.get_logger("tocsin.serve")


def token_file() -> Path:
    """Return where ``tocsin serve`` writes the admin token it made: ``<data dir>/admin-token``."""
    return data_dir() / "admin-token"


def admin_token() -> tuple[str, str]:
    """Return the admin token for a config without tokens, and where it came from.

    ``$TOCSIN_TOKEN`` if set; else the token in ``<data dir>/admin-token``, made (random,
    mode 0600) on the first start, so clients on this machine find it.
    """
    from_env = os.environ.get(TOKEN_ENV)
    if from_env:
        return from_env, f"${TOKEN_ENV}"
    path = token_file()
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if len(existing) >= 8:
        return existing, str(path)
    token = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    return token, str(path)


def _extra_tokens(config: TocsinConfig) -> tuple[TokenConfig, ...]:
    if config.auth.tokens or not config.server.enabled:
        return ()
    token, source = admin_token()
    log.info("no tokens configured: one admin token accepted", token_from=source)
    return (
        TokenConfig.model_validate(
            {"token": token, "user": "admin", "roles": [Role.ADMIN, Role.INGEST]}
        ),
    )


async def run_server(
    config: TocsinConfig,
    *,
    duration: float | None = None,
    demo: bool = False,
    demo_period: float = 60.0,
) -> None:
    """Serve until SIGTERM/SIGINT (or ``duration`` seconds), then shut down in order.

    Shutdown stops the tree in reverse: the gateway stops accepting and closes every
    connection with 1001, the alert manager flushes to the store, the store closes.
    ``demo``: also run the demo's feed (one cycle every ``demo_period`` seconds; pass
    the same period to ``demo_config``) and log every transition.
    Raises ``SystemFailed`` if the tree failed on its own (its root supervisor exceeded
    its restart intensity).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with AlertSystem(config, extra_tokens=_extra_tokens(config)) as system:
            thresholds = config.server.gc_thresholds()
            if thresholds is not None:
                apply_gc_policy(thresholds)
            if system.address is not None:
                log.info(
                    "tocsin serving",
                    websocket=system.address.url,
                    dashboard=system.address.http_url + "/",
                    store=config.store.resolved_path(),
                    event_loop=_loop_name(loop),
                    gc_thresholds=list(gc.get_threshold()),
                    gc_frozen=gc.get_freeze_count(),
                )
                # One plain line on stdout for people and scripts that wait for readiness.
                print(f"tocsin: serving {system.address.http_url}/", flush=True)
            tasks = (
                [
                    asyncio.create_task(_demo_feed(system, demo_period)),
                    asyncio.create_task(_narrate(system)),
                ]
                if demo
                else []
            )
            ended = asyncio.create_task(system.wait_terminated())
            waiter = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait([ended, waiter], timeout=duration, return_when="FIRST_COMPLETED")
            finally:
                for task in (*tasks, waiter, ended):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            if ended.done() and not ended.cancelled():
                failed = ended.exception()
                if failed is not None:
                    # The root supervisor gave up (escalation reached the top): exit non-zero
                    # so that systemd or Kubernetes restarts the process.
                    log.error("tocsin failed: the supervision tree gave up", error=str(failed))
                    raise failed
            log.info("tocsin stopping")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("tocsin stopped")
    sys.stdout.flush()


def _loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """Return the package whose event loop runs: ``uvloop`` or ``asyncio``."""
    return type(loop).__module__.partition(".")[0]


DEMO_METRIC = "demo_checkout_error_ratio"
DEMO_PERIOD = 60.0
"""Seconds of one demo cycle: errors rise for a third of it, then recover."""


def demo_config(base: TocsinConfig, period: float = DEMO_PERIOD) -> TocsinConfig:
    """Return ``base`` with the demo's rules, an escalation policy and a route.

    Every duration scales with ``period`` (one cycle; 60 s by default): an alert fires
    ``period/20`` after the errors rise, escalates a level ``period/6`` later unless
    acknowledged, and resolves when they recover, a third into the cycle.
    """
    scale = period / DEMO_PERIOD
    data = base.model_dump(mode="python", exclude_unset=True, round_trip=True)
    data["rules"] = {
        "inline": [
            {
                "type": "threshold",
                "id": "checkout-errors",
                "selector": DEMO_METRIC,
                "op": ">",
                "threshold": 0.05,
                "resolve_threshold": 0.02,
                "for": 3 * scale,
                "severity": "critical",
                "annotations": {"summary": "checkout errors at {{ value }} on {{ labels.shop }}"},
            }
        ]
    }
    data["escalation_policies"] = [
        {
            "name": "demo-oncall",
            "levels": [
                {"after": 0, "receivers": ["websocket"]},
                {"after": 10 * scale, "receivers": ["websocket"]},
            ],
        }
    ]
    data["route"] = {
        "receiver": "websocket",
        "group_wait": 1 * scale,
        "group_interval": 5 * scale,
        "escalation": "demo-oncall",
    }
    data.setdefault("store", {"path": ":memory:"})
    return TocsinConfig.model_validate(data)


def demo_value(t: float, shop: int, period: float = DEMO_PERIOD) -> float:
    """Return the demo's error ratio at ``t`` seconds for shop ``shop`` (0 or 1)."""
    phase = ((t / period) + shop * 0.5) % 1.0
    return 0.12 if phase < 1 / 3 else 0.005 + 0.005 * math.sin(t)


async def _demo_feed(system: AlertSystem, period: float) -> None:
    clock = system.system.clock
    start = clock.time()
    while True:
        now = clock.time()
        samples = [
            MetricSample(
                name=DEMO_METRIC,
                value=demo_value(now - start, shop, period),
                labels={"shop": f"shop-{shop}"},
                timestamp=now,
            )
            for shop in (0, 1)
        ]
        await system.ingest(samples)
        await asyncio.sleep(period / 120)


async def _narrate(system: AlertSystem) -> None:
    """Log every transition, so a newcomer watching the demo sees the lifecycle."""
    async with system.subscribe() as events:
        async for event in events:
            log.info(
                "demo: " + event.kind.value,
                alert_id=event.alert_id,
                rule_id=event.rule_id,
                labels=event.payload.get("labels"),
                state=event.payload.get("state"),
            )
