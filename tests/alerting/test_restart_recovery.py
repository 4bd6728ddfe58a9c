"""State survives a crash of the actor, a restart of the process, and kill -9.

After each, active alerts, acknowledgements, silences, escalation positions and the
event sequence come back exactly.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from actors.alerting import AlertManager, AlertManagerConfig, Subscribe, Subscriptions
from actors.alerting._book import checkpoint_seq
from actors.store import EventQuery, SqliteStore
from messages import AlertDetail, AlertState, GetAlert
from supervision import ActorRef, ChildSpec, FakeClock, Restart
from tests.alerting.builders import T0, firing
from tests.alerting.harness import running
from tests.alerting.restart_state import BUILT_AT, CONFIG, build_state, check_continues, picture

ROOT = Path(__file__).resolve().parents[2]
ACKS_BEFORE_KILL = 200
READ_TIMEOUT_S = 30.0


class Crash:
    """Make a ``CrashingManager`` raise from its handler."""


class Boom(Exception):
    """The injected crash."""


class CrashingManager(AlertManager):
    """An AlertManager that crashes on ``Crash``: a bug in a handler, for the supervisor."""

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Crash):
            raise Boom("injected")
        return await super().on_receive(message)


def crashing_spec(store: SqliteStore, config: AlertManagerConfig, notifications: ActorRef) -> Any:
    subscriptions = Subscriptions()
    return ChildSpec(
        "alert-manager",
        lambda: CrashingManager(
            store, config=config, notifications=notifications, subscriptions=subscriptions
        ),
        restart=Restart.PERMANENT,
    )


async def test_a_crashed_manager_restarts_with_the_same_state_and_sequence(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "tocsin.db") as store:
        clock = FakeClock()
        async with running(store, config=CONFIG, clock=clock) as run:
            spec = crashing_spec(store, CONFIG, run.system.lookup("notifications"))
            await run.system.terminate_child("alert-manager")
            run.manager = await run.system.start_child(spec)
            await build_state(run)
            sub, box = await run.subscriber("sub")
            await run.manager.ask(Subscribe(sub))
            before = await picture(run)
            with pytest.raises(Boom):
                await run.manager.ask(Crash())
            await check_continues(run, before)
            await box.until(lambda: len(box.transitions()) >= 1)
            seqs = [t.seq for t in box.transitions()]
            assert seqs == list(range(before["last_seq"] + 1, before["last_seq"] + 1 + len(seqs)))


async def test_a_new_system_on_the_same_file_restores_the_state_and_sequence(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tocsin.db"
    async with SqliteStore(path) as store, running(store, config=CONFIG) as run:
        await build_state(run)
        before = await picture(run)
    clock = FakeClock(epoch=BUILT_AT)  # the new process starts where the old one stopped
    async with SqliteStore(path) as store, running(store, config=CONFIG, clock=clock) as run:
        await check_continues(run, before)


async def test_a_subscriber_resumes_across_a_process_restart_without_gap_or_duplicate(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tocsin.db"
    async with SqliteStore(path) as store, running(store) as run:
        sub, box = await run.subscriber("sub")
        await run.manager.ask(Subscribe(sub))
        for host in "abc":
            run.manager.tell(firing(host=host))
        await box.until(lambda: len(box.transitions()) == 3)
        last_seen = box.transitions()[-1].seq
        for host in "de":  # these happen while the subscriber is away
            run.manager.tell(firing(host=host))
        await run.settle()
    async with SqliteStore(path) as store, running(store) as run:
        sub, box = await run.subscriber("sub")
        await run.manager.ask(Subscribe(sub, resume_from=last_seen))
        run.manager.tell(firing(host="f"))
        await box.until(lambda: len(box.transitions()) == 3)
        await run.settle()
        assert [t.seq for t in box.transitions()] == [4, 5, 6]


@pytest.mark.parametrize("replay", [False, True], ids=["checkpoint-and-replay", "replay-only"])
async def test_after_kill_9_the_state_and_sequence_come_back_exactly(
    tmp_path: Path, replay: bool
) -> None:
    path = tmp_path / "tocsin.db"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.alerting.kill_state_target",
        str(path),
        *(["replay"] if replay else []),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            line = await process.stdout.readline()
            assert line.endswith(b"\n"), f"the target stopped early: {line!r}"
            process.send_signal(signal.SIGKILL)
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == -signal.SIGKILL
    before = json.loads(line)

    async with SqliteStore(path) as store:
        checkpoint = checkpoint_seq((await store.load()).documents)
        assert checkpoint < before["last_seq"]  # the restart has events to replay
        assert (checkpoint == 0) is replay
        async with running(store, config=CONFIG, clock=FakeClock(epoch=BUILT_AT)) as run:
            await check_continues(run, before)


async def test_nothing_acknowledged_is_lost_after_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.db"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.alerting.kill_target",
        str(path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    acked: list[str] = []
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            assert await process.stdout.readline() == b"ready\n"
            while len(acked) < ACKS_BEFORE_KILL:
                line = await process.stdout.readline()
                assert line.endswith(b"\n"), f"the target stopped early: {line!r}"
                acked.append(line.decode().split()[1])
            process.send_signal(signal.SIGKILL)
            rest = await process.stdout.read()  # acknowledged before the kill: they count
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    acked += [
        line.split()[1].decode() for line in rest.splitlines(keepends=True) if line[-1:] == b"\n"
    ]
    assert process.returncode == -signal.SIGKILL

    clock = FakeClock(epoch=T0 + 1_000_000)
    async with SqliteStore(path) as store, running(store, clock=clock) as run:
        status = await run.status()
        events = await store.query_events(EventQuery(limit=10_000_000))
        assert [e.seq for e in events] == list(range(1, status.last_seq + 1))
        for alert_id in acked:
            detail = await run.manager.ask(GetAlert(alert_id=alert_id))
            assert isinstance(detail, AlertDetail), alert_id
            assert detail.alert.state is AlertState.ACKNOWLEDGED
            assert detail.alert.acknowledged_by == "ann"
        run.manager.tell(firing(host="after-restart"))
        assert (await run.status()).last_seq == status.last_seq + 1
