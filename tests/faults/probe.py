"""Ask a running server's HTTP side how it is: ``/readyz``, polled until it says something."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.faults.server import BOUND

POLL = 0.05
"""Seconds between two readiness probes while waiting for a change (a probe is cheap)."""


async def readyz(http: str) -> tuple[int, dict[str, Any]]:
    """Return ``/readyz``'s status and JSON body."""
    async with httpx.AsyncClient(trust_env=False, timeout=BOUND) as client:
        response = await client.get(f"{http}/readyz")
    body: dict[str, Any] = response.json()
    return response.status_code, body


async def until_ready(
    http: str, ready: bool, *, bound: float = BOUND
) -> tuple[float, dict[str, Any]]:
    """Probe ``/readyz`` until it says ``ready``; return the seconds it took and the body.

    A readiness change has no event to wait on from outside the process, so this polls
    (every ``POLL`` s) with a bound; it fails with TimeoutError after ``bound`` seconds.
    """
    return await until(http, lambda status, _body: (status == 200) == ready, bound=bound)


async def until(
    http: str, condition: Callable[[int, dict[str, Any]], bool], *, bound: float = BOUND
) -> tuple[float, dict[str, Any]]:
    """Probe ``/readyz`` until ``condition(status, body)``; return (seconds, body)."""
    started = time.monotonic()
    async with asyncio.timeout(bound):
        while True:
            status, body = await readyz(http)
            if condition(status, body):
                return time.monotonic() - started, body
            await asyncio.sleep(POLL)
