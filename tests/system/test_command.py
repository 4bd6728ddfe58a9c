"""The ``tocsin`` command: check-config in process, serve as a real subprocess."""

from __future__ import annotations

import asyncio
import io
import json
import os
import pty
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from actors.store import SqliteStore
from actors.store._schema import latest_version
from gateway._serve import admin_token
from gateway.cli import json_logs, main
from gateway.config import ServerConfig, StoreConfig, load_config
from gateway.system import AlertSystem
from messages import AlertState

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


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[store]\npath = ":memory:"\n[rules]\nseries_idle_ttl = 0\n',
            "rules.series_idle_ttl: Input should be greater than 0",
        ),
        (
            "[server]\ngc_gen0_threshold = -1\n",
            "server.gc_gen0_threshold: Input should be greater than or equal to 0",
        ),
        (
            '[server]\nevent_loop = "trio"\n',
            "server.event_loop: Input should be 'uvloop' or 'asyncio'",
        ),
    ],
)
def test_check_config_names_the_bad_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, message: str
) -> None:
    path = tmp_path / "tocsin.toml"
    path.write_text(toml)
    assert main(["check-config", str(path)]) == 1
    assert message in capsys.readouterr().err


def test_check_config_names_a_notification_template_that_does_not_compile_and_exits_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tocsin.toml"
    path.write_text(
        '[store]\npath = ":memory:"\n'
        "[receivers.templates.email.resolved]\n"
        'subject = "{{ alertname }} resolved"\n'
        'html = "{% for x in %}"\n'
    )
    assert main(["check-config", str(path)]) == 1
    captured = capsys.readouterr()
    assert "OK" not in captured.out
    assert (
        "receivers.templates: template email.resolved.html does not compile: "
        "TemplateSyntaxError: " in captured.err
    )
    assert "email.resolved.subject" not in captured.err


def test_check_config_names_secrets_whose_environment_variable_is_not_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TOCSIN_TEST_SMTP", "TOCSIN_TEST_HOOK", "TOCSIN_TEST_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "tocsin.toml"
    path.write_text(
        """
[[auth.tokens]]
user = "admin"
roles = ["admin"]
token_env = "TOCSIN_TEST_TOKEN"

[[receivers.webhook]]
name = "hook"
url = "http://127.0.0.1:9/"
hmac_secret_env = "TOCSIN_TEST_HOOK"

[[receivers.email]]
name = "mail"
username = "tocsin"
password_env = "TOCSIN_TEST_SMTP"
from = "tocsin@example.com"
to = ["oncall@example.com"]
"""
    )
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "auth.tokens.0: environment variable TOCSIN_TEST_TOKEN is not set" in err
    assert "receivers.webhook.0: hmac_secret_env: environment variable TOCSIN_TEST_HOOK" in err
    # The email password is read only when its channel starts: checked once the models pass.
    for name in ("TOCSIN_TEST_HOOK", "TOCSIN_TEST_TOKEN"):
        monkeypatch.setenv(name, "a-secret-value")
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "receivers.email.0.password_env: environment variable TOCSIN_TEST_SMTP" in err
    monkeypatch.setenv("TOCSIN_TEST_SMTP", "a-secret-value")
    assert main(["check-config", str(path)]) == 0


@pytest.mark.parametrize(
    ("command", "server", "expected"),
    [
        ("serve", "", "uvloop"),
        ("serve", 'event_loop = "uvloop"', "uvloop"),
        ("serve", 'event_loop = "asyncio"', "asyncio"),
        ("demo", "", "uvloop"),
    ],
)
async def test_serve_runs_on_the_configured_event_loop_and_logs_which(
    tmp_path: Path, command: str, server: str, expected: str
) -> None:
    serving = await _serving_record(tmp_path, command, server)
    assert serving["event_loop"] == expected


@pytest.mark.parametrize(
    ("server", "gen0", "frozen"),
    [
        ("", 10_000, True),
        ("gc_gen0_threshold = 50000", 50_000, True),
        ("gc_gen0_threshold = 0", 700, False),
    ],
)
async def test_serve_tunes_the_garbage_collector_once_up_unless_told_not_to(
    tmp_path: Path, server: str, gen0: int, frozen: bool
) -> None:
    serving = await _serving_record(tmp_path, "serve", server)
    assert serving["gc_thresholds"][0] == gen0  # 700: CPython's own default
    assert (serving["gc_frozen"] > 0) is frozen


async def _serving_record(tmp_path: Path, command: str, server: str) -> dict[str, Any]:
    """Start ``tocsin COMMAND`` with ``server`` in its [server] section, stop it with
    SIGTERM, and return its one 'tocsin serving' log record."""
    config = tmp_path / "tocsin.toml"
    config.write_text(f'[server]\n{server}\n[store]\npath = ":memory:"\n')
    env = {
        **os.environ,
        "TOCSIN_DATA_DIR": str(tmp_path / "data"),
        "TOCSIN_TOKEN": "t0ken-for-tests",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "--log-json", command, "--config", str(config),
        "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(BOUND):
            line = (await process.stdout.readline()).decode()
        assert line.startswith("tocsin: serving http://127.0.0.1:"), line
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(BOUND):
            _, err = await process.communicate()
        assert process.returncode == 0, err.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    serving = [
        record
        for record in map(json.loads, err.decode().splitlines())
        if record.get("event") == "tocsin serving"
    ]
    assert len(serving) == 1, serving
    record: dict[str, Any] = serving[0]
    return record


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


async def test_serve_with_no_config_makes_an_admin_token_that_the_client_commands_use(
    tmp_path: Path,
) -> None:
    env = {name: value for name, value in os.environ.items() if name != "TOCSIN_TOKEN"}
    env["TOCSIN_DATA_DIR"] = str(tmp_path / "data")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "--log-json", "serve", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(BOUND):
            line = (await process.stdout.readline()).decode()
        assert line.startswith("tocsin: serving http://127.0.0.1:"), line
        url = "ws" + line.split()[-1].rstrip("/").removeprefix("http") + "/ws"
        token_file = tmp_path / "data" / "admin-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        token = token_file.read_text().strip()
        async with connect(f"{url}?token={token}", proxy=None, open_timeout=BOUND) as ws:
            async with asyncio.timeout(BOUND):
                welcome = json.loads(await ws.recv())
        assert (welcome["user"], sorted(welcome["roles"])) == ("admin", ["admin", "ingest"])
        # A client command on the same machine finds the token without being given it.
        client = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "alerts", "--url", url, "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        async with asyncio.timeout(BOUND):
            out, err = await client.communicate()
        assert client.returncode == 0, err.decode()
        assert out == b""  # no rules are configured, so no alerts
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(BOUND):
            await process.communicate()
        assert process.returncode == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_the_admin_token_is_made_once_and_found_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOCSIN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TOCSIN_TOKEN", raising=False)
    token, source = admin_token()
    assert (source, len(token) >= 8) == (str(tmp_path / "admin-token"), True)
    assert admin_token() == (token, source)
    monkeypatch.setenv("TOCSIN_TOKEN", "from-the-environment")
    assert admin_token() == ("from-the-environment", "$TOCSIN_TOKEN")


@pytest.mark.parametrize(
    ("choice", "tty", "expected"),
    [(None, True, False), (None, False, True), (True, True, True), (False, False, False)],
)
def test_logs_are_json_unless_a_person_watches_or_a_flag_says_otherwise(
    choice: bool | None, tty: bool, expected: bool
) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    assert json_logs(choice, Stream()) is expected


RULES_TOML = """
[collectors.host]
enabled = false

[[rules.inline]]
type = "threshold"
id = "disk-full"
selector = "disk_used_percent"
op = ">"
threshold = 90
"""


async def test_serve_on_a_terminal_logs_for_people_and_sigint_leaves_the_alert_in_the_store(
    tmp_path: Path,
) -> None:
    config_file = tmp_path / "tocsin.toml"
    config_file.write_text(RULES_TOML)
    env = {**os.environ, "TOCSIN_DATA_DIR": str(tmp_path / "data"), "TOCSIN_TOKEN": "t0ken-tty"}
    master, slave = pty.openpty()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "serve", "--port", "0", "--config", str(config_file),
        stdout=asyncio.subprocess.PIPE, stderr=slave, env=env,
    )  # fmt: skip
    os.close(slave)
    # Read the terminal in a thread until the child closes it (EIO), so it never blocks.
    terminal = asyncio.create_task(asyncio.to_thread(_read_all, master))
    assert process.stdout is not None
    try:
        async with asyncio.timeout(BOUND):
            line = (await process.stdout.readline()).decode()
        port = int(line.split()[-1].rstrip("/").rsplit(":", 1)[1])
        url = f"ws://127.0.0.1:{port}/ws?token=t0ken-tty"
        async with connect(url, proxy=None, open_timeout=BOUND) as ws, asyncio.timeout(BOUND):
            await ws.recv()  # the welcome
            await ws.send(json.dumps({"type": "subscribe", "id": "s"}))
            sample = {"name": "disk_used_percent", "value": 99.0, "labels": {"host": "db-1"}}
            sample["timestamp"] = time.time()
            await ws.send(json.dumps({"type": "ingest", "id": "i", "samples": [sample]}))
            while '"alert_opened"' not in await ws.recv():
                pass
            process.send_signal(signal.SIGINT)
            # Any event still queued comes first; then the server's close.
            await ws.wait_closed()
            assert ws.close_code == 1001
        async with asyncio.timeout(BOUND):
            await process.wait()
            output = (await terminal).decode(errors="replace")
        assert process.returncode == 0, output
        assert "tocsin stopped" in output
        assert not any(line.startswith("{") for line in output.splitlines()), output
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    # What the server flushed on its way out is in the store for the next start.
    store = StoreConfig(path=str(tmp_path / "data" / "tocsin.db"))
    config = load_config(config_file).model_copy(
        update={"server": ServerConfig(enabled=False), "store": store}
    )
    async with AlertSystem(config) as system:
        [alert] = await system.alerts()
    assert alert.state is AlertState.ACTIVE
    assert alert.labels["host"] == "db-1"


def _read_all(fd: int) -> bytes:
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def not_sqlite(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 64)


def foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.commit()
    conn.close()


async def new_store(path: Path) -> None:
    async with SqliteStore(path):
        pass


def from_a_newer_tocsin(path: Path) -> None:
    asyncio.run(new_store(path))  # in a thread of its own (to_thread): its own loop
    future = latest_version() + 1
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {future}")
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(future),))
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (not_sqlite, "is not a usable Tocsin store: not an SQLite database"),
        (foreign_sqlite, "is not a usable Tocsin store: an SQLite database of another application"),
        (from_a_newer_tocsin, f"has schema version {latest_version() + 1}, newer than"),
    ],
    ids=["not-sqlite", "foreign-sqlite", "newer-tocsin"],
)
async def test_serve_on_a_file_that_is_not_its_store_exits_one_naming_it_and_leaves_it_alone(
    tmp_path: Path, make: Callable[[Path], None], problem: str
) -> None:
    path = tmp_path / "tocsin.db"
    await asyncio.to_thread(make, path)
    before = path.read_bytes()
    config = tmp_path / "tocsin.toml"
    config.write_text(f'[store]\npath = "{path}"\n[collectors.host]\nenabled = false\n')
    env = {**os.environ, "TOCSIN_DATA_DIR": str(tmp_path), "TOCSIN_TOKEN": "t0ken-for-tests"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        async with asyncio.timeout(BOUND):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 1, err.decode()
    assert out == b""  # it never said it was serving
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith(f"tocsin serve: cannot start: {path} {problem}"), last
    assert path.read_bytes() == before
