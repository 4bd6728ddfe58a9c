"""kill -9 a process that is appending: every acknowledged append is there after reopen."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from actors.store import EventQuery, SqliteStore

ROOT = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("crash_writer.py")
ACKS_BEFORE_KILL = 500
READ_TIMEOUT_S = 20.0


def parse(line: bytes) -> tuple[int, str, int]:
    seq, writer, n = line.decode().split()
    return int(seq), writer, int(n)


@pytest.mark.parametrize("synchronous", ["full", "normal"])
async def test_every_acknowledged_append_survives_kill_9(tmp_path: Path, synchronous: str) -> None:
    path = tmp_path / "store.db"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WRITER),
        str(path),
        synchronous,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    acked: dict[int, tuple[str, int]] = {}
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            assert await process.stdout.readline() == b"ready\n"
            while len(acked) < ACKS_BEFORE_KILL:
                line = await process.stdout.readline()
                assert line.endswith(b"\n"), f"the writer stopped early: {line!r}"
                seq, writer, n = parse(line)
                acked[seq] = (writer, n)

            process.send_signal(signal.SIGKILL)
            # Lines already in the pipe were acknowledged before the kill: they count too.
            rest = await process.stdout.read()
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    for line in rest.splitlines(keepends=True):
        if line.endswith(b"\n"):  # a line cut by the kill was never a whole acknowledgement
            seq, writer, n = parse(line)
            acked[seq] = (writer, n)
    assert process.returncode == -signal.SIGKILL

    async with SqliteStore(path) as store:
        events = await store.query_events(EventQuery(limit=10_000_000))
        snapshot = await store.load()

    seqs = [event.seq for event in events]
    assert seqs == list(range(1, len(seqs) + 1)), "the stored seqs have a gap"
    assert snapshot.last_seq == len(seqs) >= max(acked)
    for seq, (writer, n) in acked.items():
        assert events[seq - 1].payload == {"writer": writer, "n": n}
        assert events[seq - 1].alert_id == writer
    # Each writer's document was written with its event, so it is at least as new as the
    # writer's last acknowledged append, and exactly as new as its last stored event.
    last_stored: dict[str, int] = {}
    for event in events:
        last_stored[event.payload["writer"]] = event.payload["n"]
    assert {name: doc["n"] for name, doc in snapshot.documents["writers"].items()} == last_stored
    for writer, n in acked.values():
        assert last_stored[writer] >= n
