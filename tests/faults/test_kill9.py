"""Scenario 1: kill -9 of ``tocsin serve`` under a steady load, several times.

A real server (``ServerProcess``) evaluates one threshold rule over a stream of samples,
opens alerts, takes acknowledgements, and posts a webhook for every transition to a real
HTTP receiver on loopback that records each notification's idempotency key. At random
points (seeded; the seed is printed) the test kills the process with SIGKILL, reads the
store's outbox as the kill left it (the notifications not yet confirmed), and starts the
server again on the same data and port. At the end it checks, against the durable
history (replayed from seq 0):

- every acknowledgement that got a reply is in the history (no acknowledged command lost);
- the history's seqs run 1..N without a gap, and every event a subscriber was pushed
  before a kill is in it unchanged (no alert event lost);
- every notification a transition called for reached the receiver, and each one that was
  not confirmed at a kill reached it after that kill with the same idempotency key;
- a notification reached the receiver twice only if it was in flight at a kill (received,
  but not yet confirmed in the outbox); those are counted and reported.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from messages import EventFrame
from tests.faults.durable import history, last_durable_seq, outbox_keys
from tests.faults.load import AlertLoad, NotificationLog, Viewer
from tests.faults.probe import until_ready
from tests.faults.server import BOUND, ServerProcess
from tests.notify.http_server import HttpServer

KILLS = int(os.environ.get("TOCSIN_FAULTS_KILLS", "3"))
"""How many times the server is killed (CI: 3)."""
SEED = int(os.environ.get("TOCSIN_FAULTS_SEED", str(random.randrange(1 << 30))))
MAX_HOSTS = 40
"""Alerts the load opens, one per step: it runs at least this many steps."""
KILL_SPAN = max(6, (MAX_HOSTS - 4) // KILLS)
"""Load steps between two kills are drawn from [KILL_SPAN // 3, KILL_SPAN], so every kill
lands while the load still runs (it cannot finish before ``MAX_HOSTS`` steps)."""

CONFIG = """
[collectors.host]
enabled = false

[[rules.inline]]
type = "threshold"
id = "hot"
selector = "load"
op = ">"
threshold = 50
severity = "critical"

[[receivers.webhook]]
name = "hook"
url = "{url}"

[route]
receiver = "hook"
group_by = ["host"]
group_wait = 0
group_interval = 0.05
repeat_interval = 86400

[limits]
rate = 100000
burst = 100000
"""

_NOTIFYING = {
    "alert_opened": "firing",
    "alert_acknowledged": "acknowledged",
    "alert_resolved": "resolved",
}


@dataclass
class Kill:
    """What one kill -9 left behind, and how long the server took to come back."""

    killed_at: float
    """``time.monotonic()`` at the kill"""
    at_step: int
    unconfirmed: set[str]
    """notification keys in the outbox (not confirmed) when the process died"""
    received_before: int
    """notifications the receiver had when the process died"""
    last_seq: int
    """the last durable event when the process died"""
    restart_s: float = 0.0
    """kill -9 to the new process serving"""
    ready_s: float = 0.0
    """kill -9 to ``/readyz`` answering 200"""


@asynccontextmanager
async def _tasks(*coroutines: Any) -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks = [asyncio.create_task(coroutine) for coroutine in coroutines]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)


@asynccontextmanager
async def _loaded(viewer: Viewer, load: AlertLoad) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Run the viewer, and the load once the viewer is subscribed: the viewer learns the
    alert ids from the ``alert_opened`` events, and a subscription without ``resume_from``
    (the first) would miss those of alerts the load opened before it."""
    async with _tasks(viewer.run()) as tasks:
        async with asyncio.timeout(BOUND):
            await viewer.subscribed.wait()
        tasks.append(asyncio.create_task(load.run(viewer.alert_ids)))
        yield tasks


@pytest.mark.timeout(180)
async def test_kill9_under_load_loses_no_acknowledged_command_event_or_notification(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    receiver = await HttpServer().start()
    log = NotificationLog(receiver)
    server = ServerProcess(tmp_path / "data", CONFIG.format(url=receiver.url))
    database = server.data_dir / "tocsin.db"
    load = AlertLoad(server, log, rng, max_hosts=MAX_HOSTS)
    viewer = Viewer(server)
    kills: list[Kill] = []
    started = time.monotonic()
    print(f"\nscenario 1 (kill -9 under load): seed {SEED} (TOCSIN_FAULTS_SEED replays it)")
    try:
        await server.start()
        for _ in range(KILLS):
            async with _loaded(viewer, load) as tasks:
                await load.until_steps(load.steps + rng.randint(KILL_SPAN // 3, KILL_SPAN))
                killed_at = time.monotonic()
                await server.kill9()
                kill = Kill(
                    killed_at,
                    load.steps,
                    outbox_keys(database),
                    len(log.keys()),
                    last_durable_seq(database),
                )
                async with asyncio.timeout(BOUND):
                    await asyncio.wait(tasks)
            await server.start()
            kill.restart_s = time.monotonic() - killed_at
            await until_ready(server.http, True)
            kill.ready_s = time.monotonic() - killed_at
            kills.append(kill)

        # No more kills: the load runs to its end, then everything settles.
        async with _loaded(viewer, load) as tasks:
            async with asyncio.timeout(BOUND + 3 * load.patience):  # see AlertLoad.patience
                await tasks[1]
            load_done_s = time.monotonic() - started
            async with asyncio.timeout(BOUND):  # every alert the load opened is resolved
                await viewer.until(lambda: viewer.resolved >= set(viewer.alert_ids.values()))
            resolved_s = time.monotonic() - started
            events = await history(server)
            owed = set(judge(events, kills, []).expected)
            owed |= set().union(*(kill.unconfirmed for kill in kills))
            with contextlib.suppress(TimeoutError):  # what never came is reported below
                await receiver.until(lambda: owed <= set(log.keys()), BOUND)
            notified_s = time.monotonic() - started
            async with asyncio.timeout(BOUND):
                await viewer.caught_up(events[-1].seq)
    except BaseException:
        print(f"tocsin serve's last log lines:\n{server.stderr()[-6000:]}")
        raise
    finally:
        await server.stop()
        await receiver.close()

    keys = list(log.keys())
    report = judge(events, kills, keys)
    figures = {
        "seed": SEED,
        "kills": len(kills),
        "steps": load.steps,
        "samples": load.samples,
        "events": len(events),
        "acks": len(load.acked),
        "waited_out": load.impatient,
        "notifications_expected": len(report.expected),
        "deliveries": len(keys),
        "unconfirmed_at_kills": [len(kill.unconfirmed) for kill in kills],
        "duplicates_in_flight": report.duplicates_in_flight,
        "lost": len(report.lost),
        "restart_s": [round(kill.restart_s, 2) for kill in kills],
        "ready_s": [round(kill.ready_s, 2) for kill in kills],
        "killed_at_s": [round(kill.killed_at - started, 2) for kill in kills],
        "load_done_s": round(load_done_s, 2),
        "all_resolved_s": round(resolved_s, 2),
        "all_notified_s": round(notified_s, 2),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(f"\nscenario 1 (kill -9 under load): {figures}")

    # Events: the history is gap-free, and holds every event a subscriber was pushed.
    seqs = [event.seq for event in events]
    assert seqs == list(range(1, len(seqs) + 1)), "the history has a gap"
    durable = {event.seq: (event.event.kind.value, event.event.alert_id) for event in events}
    seen = {seq: e for seq, e in viewer.events.items() if seq <= seqs[-1]}
    lost_events = {seq: e for seq, e in seen.items() if durable.get(seq) != e}
    assert not lost_events, f"events pushed to a subscriber and then lost: {lost_events}"
    assert not viewer.out_of_order, viewer.out_of_order
    missed = {seq: durable[seq] for seq in seqs if seq not in seen}
    assert not missed, f"the subscriber missed events across the restarts: {missed}"

    # Commands: every acknowledgement that got a reply is durable.
    acknowledged = {e.event.alert_id for e in events if e.event.kind.value == "alert_acknowledged"}
    lost_acks = sorted(set(load.acked) - acknowledged)
    assert not lost_acks, f"acknowledgements replied to and then lost: {lost_acks}"

    # Notifications: every one unconfirmed at a kill came after it, with the same key.
    for kill in kills:
        after = set(keys[kill.received_before :])
        assert kill.unconfirmed <= after, sorted(kill.unconfirmed - after)
    assert not report.lost, f"notifications never delivered: {report.lost}"
    assert not report.duplicates_unexplained, report.duplicates_unexplained


@dataclass
class Judgement:
    """The notifications the history called for, and what became of them."""

    expected: dict[str, int]
    """key -> seq of the transition that called for it"""
    lost: list[str]
    duplicates_unexplained: list[str]
    duplicates_in_flight: int = 0


def judge(events: list[EventFrame], kills: list[Kill], keys: list[str]) -> Judgement:
    """Find the lost notifications, and the duplicates no crash explains.

    Every transition that notifies (opened, acknowledged, resolved) calls for one
    notification, keyed ``<alert>/hook/<kind>``. A duplicate is explained only if it was
    in flight at a kill: in the outbox, not confirmed (though perhaps received: the
    receiver may read a request of the dead process after the kill returned). What a
    restart re-sends because it cannot know it was sent (the firing of open alerts, the
    last acknowledgements and resolutions) the notifier drops: it remembers the keys it
    delivered.
    """
    expected: dict[str, int] = {}
    for frame in events:
        kind, alert_id = frame.event.kind.value, frame.event.alert_id
        if kind in _NOTIFYING and alert_id is not None:
            expected.setdefault(f"{alert_id}/hook/{_NOTIFYING[kind]}", frame.seq)
    received = collections.Counter(keys)
    judgement = Judgement(expected, sorted(set(expected) - set(received)), [])
    for key, count in received.items():
        for _ in range(count - 1):
            if any(key in kill.unconfirmed for kill in kills):
                judgement.duplicates_in_flight += 1
            else:
                judgement.duplicates_unexplained.append(key)
    return judgement
