"""Scenario 2, past the root's limit, as operators meet it: ``tocsin serve`` exits 1.

A real ``tocsin serve`` subprocess (``tests.faults.crash_loop``: the real command line
with fault injection on) serves and is ready; then its alert manager crashes again and
again. The alerting supervisor exceeds its intensity and escalates, the root restarts the
subtree after a growing backoff (``/readyz`` answers 503 meanwhile), the crash loop goes
on, and once the root exceeds its own intensity the tree stops and the process exits
with status 1, its log naming every escalation, so that systemd or Kubernetes starts a
fresh process. (The same path under the fake clock, with metrics, is in
``test_crashes.py``.)
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.system import ROOT_INTENSITY
from tests.faults.probe import until_ready
from tests.faults.server import ServerProcess

CONFIG = """
[collectors.host]
enabled = false
"""


def _json_lines(text: str) -> list[dict[str, Any]]:
    entries = []
    for line in text.splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue  # the final plain line ("tocsin serve: failed: ...")
    return entries


@pytest.mark.timeout(120)
async def test_serve_exits_1_when_the_supervision_tree_gives_up(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data",
        CONFIG,
        entry="tests.faults.crash_loop",
        env={"TOCSIN_CRASH_LOOP": "/alerting/alert-manager"},
    )
    await server.start()
    try:
        await until_ready(server.http, True)
        started = time.monotonic()
        assert server.process is not None
        server.process.send_signal(signal.SIGUSR1)
        _, body = await until_ready(server.http, False)  # /alerting waits for its restart
        code = await server.exited()
        elapsed = time.monotonic() - started
    finally:
        await server.stop()

    logs = _json_lines(server.stderr())
    assert code == 1, server.stderr()[-4000:]
    escalated = [e["actor"] for e in logs if e["event"] == "restart intensity exceeded, escalating"]
    # /alerting escalated once more than the root allows in its period, then the root did.
    assert escalated == ["/alerting"] * (ROOT_INTENSITY + 1) + ["/"], escalated
    assert any(e["event"] == "tocsin failed: the supervision tree gave up" for e in logs)
    assert "tocsin serve: failed:" in server.stderr()
    crashes = sum(1 for e in logs if e["event"] == "actor crashed")
    print(
        f"\nscenario 2 (tree gives up): /readyz unready ({body}), {crashes} crashes, "
        f"{len(escalated)} escalations, exit status {code} {elapsed:.1f} s after the loop began"
    )
