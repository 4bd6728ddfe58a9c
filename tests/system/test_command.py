"""The ``tocsin`` command: check-config in process, serve as a real subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gateway.cli import main

BOUND = 30.0
"""The longest any step of these tests waits: a bound, never a pause."""


def test_check_config_accepts_a_good_file_and_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tocsin.toml"
    path.write_text('[server]\nport = 9000\n[store]\npath = ":memory:"\n')
    assert main(["check-config", str(path)]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_config_explains_each_bad_field_and_exits_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tocsin.toml"
    path.write_text('[server]\nport = "high"\n[limits]\nrate = -1\n')
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "server.port: Input should be a valid integer" in err
    assert "limits.rate: Input should be greater than 0" in err


async def test_serve_answers_healthz_and_shuts_down_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TOCSIN_DATA_DIR": str(tmp_path / "data"),
        "TOCSIN_TOKEN": "t0ken-for-tests",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "--log-json", "serve", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        async with asyncio.timeout(BOUND):
            line = (await process.stdout.readline()).decode()
        assert line.startswith("tocsin: serving http://127.0.0.1:"), line
        base = line.split()[-1].rstrip("/")
        port = int(base.rsplit(":", 1)[1])

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        async with asyncio.timeout(BOUND):
            status = await reader.readline()
            await reader.read()  # the server closes after the answer
        writer.close()
        await writer.wait_closed()
        assert status.startswith(b"HTTP/1.1 200"), status

        ws = await connect(
            f"ws://127.0.0.1:{port}/ws?token=t0ken-for-tests", proxy=None, open_timeout=BOUND
        )
        await ws.recv()  # the welcome
        process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(BOUND):
                await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001
        async with asyncio.timeout(BOUND):
            _, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        assert b'"tocsin stopped"' in err
        assert (tmp_path / "data" / "tocsin.db").exists()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
