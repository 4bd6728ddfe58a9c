"""Build the restart tests' state on a SQLite file, print it, and wait to be killed.

Usage: ``python -m tests.alerting.kill_state_target PATH [replay]``. It runs an
AlertManager on a FakeClock, runs ``build_state``, prints ``picture`` as one JSON line
(every query behind it is answered only once what it shows is durable), then waits
until the test kills it with SIGKILL. The last event (an update) always comes after the
last checkpoint; with ``replay``, no checkpoint is written at all, so the next start
rebuilds everything from the history.
"""

from __future__ import annotations

import asyncio
import json
import sys

from actors.store import SqliteStore
from supervision import configure_logging
from tests.alerting.builders import firing
from tests.alerting.harness import running
from tests.alerting.restart_state import CONFIG, build_state, picture

NEVER = 10**9
"""A checkpoint threshold (events and seconds) that this run never reaches."""


async def main(path: str, replay: bool) -> None:
    configure_logging("critical")
    config = CONFIG
    if replay:
        never = {"checkpoint_events": NEVER, "checkpoint_interval": NEVER}
        config = CONFIG.model_copy(update=never)
    async with SqliteStore(path) as store, running(store, config=config) as run:
        await build_state(run)
        # The first batch after the clock moved is a checkpoint's (unless ``replay``); the
        # update after it is in the history only, and the restart must replay it.
        run.manager.tell(firing(host="b", value=2.0))
        await run.settle()
        run.manager.tell(firing(host="b", value=3.0))
        print(json.dumps(await picture(run)), flush=True)
        await asyncio.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:] == ["replay"]))
