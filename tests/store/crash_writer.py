"""Append to a SqliteStore until killed, printing every acknowledged append.

Run as ``python tests/store/crash_writer.py PATH full|normal``. Eight writers append
concurrently (so appends are group-committed, and a kill lands mid-batch); after each
append returns, one line ``<seq> <writer> <n>`` goes to stdout, flushed. Every printed
seq was acknowledged, so it must survive kill -9. Logs go to stderr.
"""

from __future__ import annotations

import asyncio
import sys

from actors.store import NewEvent, SqliteStore, StateWrite
from supervision import configure_logging

WRITERS = 8


async def write(store: SqliteStore, name: str) -> None:
    n = 0
    while True:
        (seq,) = await store.append(
            [NewEvent("tick", float(n), {"writer": name, "n": n}, alert_id=name)],
            [StateWrite("writers", name, {"n": n})],
        )
        print(f"{seq} {name} {n}", flush=True)
        n += 1


async def main(path: str, synchronous: str) -> None:
    assert synchronous in ("full", "normal")
    async with SqliteStore(path, synchronous=synchronous) as store:  # type: ignore[arg-type]
        print("ready", flush=True)
        await asyncio.gather(*(write(store, f"w{i}") for i in range(WRITERS)))


if __name__ == "__main__":
    configure_logging("warning", stream=sys.stderr)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
