"""``tocsin serve`` that crash-loops one actor on SIGUSR1: ``python -m tests.faults.crash_loop``.

The real command line (``gateway.cli.main``) with one change: its ``AlertSystem`` is built
with ``fault_injection=True`` and, once the process gets SIGUSR1, crashes the actor at
``$TOCSIN_CRASH_LOOP`` (a path such as ``/alerting/alert-manager``) again and again, each
crash a real exception in the real actor, until the process ends. A supervision tree
that gives up has to end the process with exit status 1; this is how a test gets one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from typing import Any

import gateway._serve
from gateway.cli import main
from gateway.system import AlertSystem
from supervision import ActorDead, ActorNotFound

CRASH_EVERY = 0.01
"""Seconds between two crash orders: far faster than any supervisor's intensity allows."""


class CrashLoopSystem(AlertSystem):
    """An ``AlertSystem`` whose actor at ``$TOCSIN_CRASH_LOOP`` crash-loops after SIGUSR1."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, fault_injection=True, **kwargs)
        self._looping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, self._begin)

    def _begin(self) -> None:
        if self._looping is None:
            self._looping = asyncio.create_task(self._crash_loop(os.environ["TOCSIN_CRASH_LOOP"]))

    async def _crash_loop(self, path: str) -> None:
        while True:
            # Restarting (or its supervisor is): the next order finds the new one.
            with contextlib.suppress(ActorDead, ActorNotFound):
                self.inject_crash(path)
            await asyncio.sleep(CRASH_EVERY)  # a load generator's pace, not a wait

    async def stop(self) -> None:
        if self._looping is not None:
            self._looping.cancel()
        await super().stop()


if __name__ == "__main__":
    gateway._serve.AlertSystem = CrashLoopSystem  # type: ignore[attr-defined]
    sys.exit(main(sys.argv[1:]))
