"""Run an AlertManager on a SQLite file and acknowledge alerts until killed (kill -9 test).

Usage: ``python -m tests.alerting.kill_target PATH [COUNT]``. For each of COUNT alerts
it tells a firing event, asks for an acknowledgement, and prints ``acked <alert id>``
only after the reply (so only after the acknowledgement is durable), flushing stdout.
The test kills it with SIGKILL part way and checks that nothing printed is lost.
"""

from __future__ import annotations

import asyncio
import sys

from actors.alerting import alert_manager_spec
from actors.store import SqliteStore
from messages import Acknowledge, AlertSummary
from supervision import ActorSystem, configure_logging
from tests.alerting.builders import firing


async def main(path: str, count: int) -> None:
    configure_logging("critical")
    store = SqliteStore(path)
    await store.open()
    try:
        async with ActorSystem([alert_manager_spec(store)]) as system:
            manager = system.lookup("alert-manager")
            print("ready", flush=True)
            for index in range(count):
                manager.tell(firing(host=f"h{index}"))
                reply = await manager.ask(Acknowledge(alert_id=f"alert-{index + 1}", by="ann"))
                assert isinstance(reply, AlertSummary), reply
                print(f"acked {reply.alert_id}", flush=True)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100_000))
