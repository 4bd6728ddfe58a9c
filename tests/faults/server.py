"""A real ``tocsin serve`` in a subprocess, for the fault scenarios.

The process is the product as users run it (``python -m gateway.cli serve``) with a TOML
config written by the test. It can be killed with SIGKILL and started again on the same
data directory and the same port, which is what the crash scenarios need.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from tests.gateway.harness import UNPAUSED, Client

BOUND = 30.0
"""The longest any step waits for the server: a bound, never a pause."""

ADMIN_TOKEN = "admin-token-for-faults"
"""The admin token every ``ServerProcess`` accepts (also given ingest and operator rights)."""


class ServerProcess:
    """One ``tocsin serve`` subprocess on ``config`` (TOML text) with data in ``data_dir``.

    The config may leave out ``[server]``: the first start takes a free port, later starts
    reuse it, so clients and receivers can reconnect to the same address.
    """

    def __init__(
        self,
        data_dir: Path,
        config: str = "",
        *,
        env: dict[str, str] | None = None,
        entry: str = "gateway.cli",
    ):
        self.data_dir = data_dir
        self.entry = entry
        """the module run with ``python -m`` (the real command line unless a test says)"""
        self.config_text = config
        self.env = {
            **os.environ,
            "TOCSIN_DATA_DIR": str(data_dir),
            "TOCSIN_TOKEN": ADMIN_TOKEN,
            **(env or {}),
        }
        self.port = 0
        self.process: asyncio.subprocess.Process | None = None
        self.stderr_lines: list[str] = []
        self._stderr_task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start the process and return once it prints the address it serves."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.data_dir / "tocsin.toml"
        config_path.write_text(self.config_text)
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", self.entry, "--log-json", "serve",
            "--config", str(config_path), "--port", str(self.port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=self.env,
        )  # fmt: skip
        assert self.process.stdout is not None
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        async with asyncio.timeout(BOUND):
            line = (await self.process.stdout.readline()).decode()
        if not line.startswith("tocsin: serving http://127.0.0.1:"):
            await self._reap()
            raise RuntimeError(f"tocsin serve did not start: {line!r}\n{self.stderr()}")
        self.port = int(line.split()[-1].rstrip("/").rsplit(":", 1)[1])

    async def _drain_stderr(self) -> None:
        assert self.process is not None
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.stderr_lines.append(line.decode(errors="replace"))

    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    async def kill9(self) -> None:
        """SIGKILL the process (no shutdown code runs) and reap it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self._reap()

    async def exited(self) -> int:
        """Wait (bounded) until the process ends on its own; return its exit status."""
        return await self._reap()

    async def terminate(self) -> int:
        """SIGTERM the process (graceful shutdown) and return its exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await self._reap()

    async def restart_after_kill9(self) -> None:
        await self.kill9()
        await self.start()

    async def _reap(self) -> int:
        assert self.process is not None
        async with asyncio.timeout(BOUND):
            code = await self.process.wait()
            if self._stderr_task is not None:
                await self._stderr_task
        return code

    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def stop(self) -> None:
        """Make sure the process is gone (for ``finally`` blocks)."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self._reap()

    @asynccontextmanager
    async def client(self, token: str = ADMIN_TOKEN, **kwargs: Any) -> AsyncIterator[Client]:
        """A protocol client on this server (the welcome frame already read).

        ``max_queue`` defaults to None (see ``tests.gateway.harness.UNPAUSED``).
        """
        kwargs.setdefault("max_queue", UNPAUSED)
        ws = await connect(f"{self.url}?token={token}", proxy=None, open_timeout=BOUND, **kwargs)
        client = Client(ws)
        try:
            welcome = await client.read()
            client.received.remove(welcome)
            yield client
        finally:
            await client.close()


@asynccontextmanager
async def running(
    data_dir: Path, config: str = "", *, env: dict[str, str] | None = None
) -> AsyncIterator[ServerProcess]:
    """Start a ``ServerProcess`` and make sure it is gone afterwards."""
    server = ServerProcess(data_dir, config, env=env)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
