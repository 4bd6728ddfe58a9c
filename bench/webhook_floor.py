"""How much of a webhook notification's CPU is Tocsin's pipeline, and how much the work.

Run from the repository root in the project's environment::

    python bench/webhook_floor.py [--quick] [--json PATH] [--runtime served|embedded]

bench/notifiers.py compares Tocsin's notifiers with Alertmanager; this benchmark tells
where the gap to its 2x target lies. In the same run, against the same loopback
receiver (bench/_sinks.py, a separate process), it delivers rounds of one-alert
webhook notifications twice:

- notifier: Tocsin's notifiers as bench/notifiers.py runs them (``NotifierSupervisor`` →
  ``Notifier`` → ``WebhookChannel``), default webhook policy;
- floor: the same durable work with none of the pipeline around it: each round's
  outbox records written (``SqliteStore``, synchronous=full, the same documents, in one
  batch document as the notifier's ``OutboxBatches`` write a burst) and committed
  before their requests are sent; the same JSON body (``tocsin_payload``, the default
  summary) and headers, one request per notification on 32 keep-alive connections
  parsed with httptools; on the answer the key remembered (the marks wait
  ``OUTBOX_LINGER`` to share an append, their keys in one batch document, as the
  notifier's ``DeliveredMarks`` write them; the last answer of a batch deletes it) and
  a ``DeliveryReceipt`` made (``DeliveryReceipt.delivered``, as the notifier). No
  actors, no scheduler (no rate limit, circuit breaker, retries or per-alert order), no
  task per send: callbacks only.

The floor is not a product: it drops every guarantee but durability. Its CPU per
notification is what this process cannot go below in Python with the store as it is;
the notifier's above it is what the pipeline costs. Both figures are this process's
CPU (the loop and the store's thread) from the first notification to the last one
answered, divided by the notifications; medians of rounds, interleaved (floor, then
notifier) so both see the same machine.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httptools

# Run as a script, this directory comes first on sys.path and its gateway.py would
# shadow the gateway package: the repository root goes first, as in bench/gateway.py.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors import apply_gc_policy
from actors.notify import OUTBOX_LINGER
from actors.notify._delivered_marks import batch_key, batch_write
from actors.notify._outbox import OutboxRecord, outbox_key
from actors.notify._outbox_batches import OUTBOX_BATCHES
from actors.notify._payloads import encode, tocsin_payload
from actors.notify._template_defaults import default_summary
from actors.store import SqliteStore, StateWrite, encode_payload
from bench._report import (
    Deadline,
    format_rate,
    median,
    parse_arguments,
    render_table,
    run_metadata,
    write_json,
)
from bench.notifiers import (
    TOCSIN_PATH,
    WEBHOOK_RECEIVER,
    Sink,
    TocsinNotifiers,
    notifications,
    run_as,
)
from gateway.config import ServerConfig
from messages import DeliveryReceipt, Notification
from supervision import configure_logging

FLOOR_PATH = "/floor"
CONNECTIONS = 32

QUICK = {"notifications": 1000, "rounds": 5, "seconds": 20.0}
FULL = {"notifications": 3000, "rounds": 7, "seconds": 120.0}


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer parsed by httptools."""

    def __init__(self, answered: Callable[[_Connection, Notification, int], None]) -> None:
        self._answered = answered
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.current: Notification | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio's or uvloop's

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_complete(self) -> None:
        notification, self.current = self.current, None
        assert notification is not None
        self._answered(self, notification, self._parser.get_status_code())


class Floor:
    """Durable webhook delivery with nothing around it (see the module docstring)."""

    def __init__(self, store: SqliteStore, url_path: str) -> None:
        self._store = store
        self._head = (
            f"POST {url_path} HTTP/1.1\r\nhost: 127.0.0.1\r\nuser-agent: tocsin\r\n"
            "content-type: application/json\r\n"
        ).encode()
        self._idle: list[_Connection] = []
        self._ready: list[Notification] = []
        self._marks: list[StateWrite] = []  # the outbox batch deletes due so far
        self._outbox_batches = 0
        self._outstanding: dict[int, int] = {}  # outbox batch -> its unanswered records
        self._batch_of: dict[str, int] = {}  # notification id -> its outbox batch
        self._flush: asyncio.TimerHandle | None = None
        self._marked: list[str] = []  # their keys, for the burst's batch of marks
        self._marked_at = 0.0
        self._batches = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.delivered = 0
        self.failed = 0
        self._waiter: tuple[int, asyncio.Future[None]] | None = None

    async def connect(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(CONNECTIONS):
            _, connection = await loop.create_connection(
                lambda: _Connection(self._answered), "127.0.0.1", port
            )
            self._idle.append(connection)

    def close(self) -> None:
        for connection in self._idle:
            if connection.transport is not None:
                connection.transport.close()

    async def deliver(self, batch: Sequence[Notification], wait_for: int) -> None:
        """Record ``batch`` (durable), send it, and return once ``wait_for`` were answered."""
        future = asyncio.get_running_loop().create_future()
        self._waiter = (wait_for, future)
        now = time.time()
        number = self._outbox_batches
        self._outbox_batches += 1
        documents, texts = [], []
        for order, notification in enumerate(batch):
            document = OutboxRecord(WEBHOOK_RECEIVER, notification, now, order).document()
            documents.append(document)
            texts.append(encode_payload(document))
            self._batch_of[notification.id] = number
        self._outstanding[number] = len(batch)
        marks_from = self._batches  # the marks batch gathering: as OutboxBatches
        value = {"marks_from": marks_from, "records": documents}
        text = f'{{"marks_from":{marks_from},"records":[{",".join(texts)}]}}'
        key = batch_key(WEBHOOK_RECEIVER, number)
        await self._store.append([], [StateWrite(OUTBOX_BATCHES, key, value, text)])
        self._ready.extend(reversed(batch))
        self._send()
        await future

    def _send(self) -> None:
        ready, idle = self._ready, self._idle
        while ready and idle:
            notification = ready.pop()
            connection = idle.pop()
            body = encode(
                tocsin_payload([notification], WEBHOOK_RECEIVER, [default_summary(notification)])
            )
            connection.current = notification
            assert connection.transport is not None
            connection.transport.write(
                b"".join(
                    (
                        self._head,
                        b"idempotency-key: ",
                        notification.idempotency_key.encode(),
                        b"\r\ncontent-length: %d\r\n\r\n" % len(body),
                        body,
                    )
                )
            )

    def _answered(self, connection: _Connection, notification: Notification, status: int) -> None:
        self._idle.append(connection)
        if not 200 <= status < 300:
            self.failed += 1
        key = outbox_key(WEBHOOK_RECEIVER, notification.id)
        at = time.time()
        if not self._marks:  # they wait OUTBOX_LINGER for company, as the notifier's
            self._flush = asyncio.get_running_loop().call_later(OUTBOX_LINGER, self._flush_marks)
        number = self._batch_of.pop(notification.id)
        self._outstanding[number] -= 1
        if not self._outstanding[number]:  # the last of its batch: the batch goes
            del self._outstanding[number]
            self._marks.append(
                StateWrite(OUTBOX_BATCHES, batch_key(WEBHOOK_RECEIVER, number), None)
            )
        self._marked.append(key)
        self._marked_at = at
        DeliveryReceipt.delivered(
            notification.id, WEBHOOK_RECEIVER, 1, max(0.0, at - notification.created_at)
        )
        self.delivered += 1
        waiter = self._waiter
        if waiter is not None and self.delivered >= waiter[0]:
            self._waiter = None
            waiter[1].set_result(None)
        self._send()

    def _flush_marks(self) -> None:
        self._flush = None
        marks, self._marks = self._marks, []
        marks.append(batch_write(WEBHOOK_RECEIVER, self._batches, self._marked, self._marked_at))
        self._batches += 1
        self._marked = []
        task = asyncio.get_running_loop().create_task(self._store.append([], marks))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Write the delivered marks still waiting, and wait for those under way (not timed)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush_marks()
        while self._tasks:
            await asyncio.wait(list(self._tasks))


async def _run(sizes: dict[str, float], served: bool) -> dict[str, Any]:
    n = int(sizes["notifications"])
    phase = Deadline(sizes["seconds"])
    floor_cpu: list[float] = []
    floor_rates: list[float] = []
    ours_cpu: list[float] = []
    ours_rates: list[float] = []
    load_start = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="tocsin-bench-floor-") as name,
        Sink("webhook") as sink,
        Sink("smtp") as smtp,
    ):
        directory = Path(name)
        store = SqliteStore(directory / "floor.db", synchronous="full")
        await store.open()
        floor = Floor(store, FLOOR_PATH)
        try:
            await floor.connect(sink.port)
            # The notifiers' email receiver needs an SMTP server; nothing is mailed here.
            async with TocsinNotifiers(directory, sink.url + TOCSIN_PATH, smtp.port) as tocsin:
                thresholds = ServerConfig().gc_thresholds()
                if served and thresholds is not None:  # as tocsin serve does once its tree is up
                    apply_gc_policy(thresholds)
                warm = notifications(min(20, n), WEBHOOK_RECEIVER, "warm")
                await floor.deliver(warm, len(warm))
                await tocsin.tell(warm)
                done = await tocsin.delivered(WEBHOOK_RECEIVER, len(warm), 30.0)
                for round_ in range(int(sizes["rounds"])):
                    if phase.remaining() < 1.0:
                        break
                    batch = notifications(n, WEBHOOK_RECEIVER, f"F{round_}")
                    cpu, wall = time.process_time(), time.perf_counter()
                    await asyncio.wait_for(floor.deliver(batch, floor.delivered + n), 60.0)
                    floor_cpu.append((time.process_time() - cpu) * 1000.0 / n)
                    floor_rates.append(n / (time.perf_counter() - wall))
                    await floor.drain()
                    batch = notifications(n, WEBHOOK_RECEIVER, f"T{round_}")
                    cpu, wall = time.process_time(), time.perf_counter()
                    await tocsin.tell(batch)
                    done = await tocsin.delivered(WEBHOOK_RECEIVER, done + n, 60.0)
                    ours_cpu.append((time.process_time() - cpu) * 1000.0 / n)
                    ours_rates.append(n / (time.perf_counter() - wall))
        finally:
            floor.close()
            await store.close()
    floor_ms, ours_ms = median(floor_cpu), median(ours_cpu)
    return {
        "floor_cpu_ms_per_notification": floor_ms,
        "notifier_cpu_ms_per_notification": ours_ms,
        "notifier_cpu_over_floor": ours_ms / floor_ms if floor_ms > 0 else math.nan,
        "floor_per_s": median(floor_rates),
        "notifier_per_s": median(ours_rates),
        "floor_failed_requests": floor.failed,
        "rounds": {
            "floor_cpu_ms_per_notification": floor_cpu,
            "notifier_cpu_ms_per_notification": ours_cpu,
            "floor_per_s": floor_rates,
            "notifier_per_s": ours_rates,
        },
        "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
    }


def run(sizes: dict[str, float], *, quick: bool = False, runtime: str = "served") -> dict[str, Any]:
    """Run both paths and return the figures; the caller's collector is given back."""
    figures = run_as(runtime, lambda served: _run(sizes, served))
    figures["metadata"] = run_metadata(quick, {"webhook": int(sizes["rounds"])}, sizes=sizes)
    return figures


def render(figures: dict[str, Any]) -> str:
    """Return the table and its notes."""
    rows = [
        (
            "floor: durable outbox + request, nothing around it",
            format_rate(figures["floor_per_s"]),
            f"{figures['floor_cpu_ms_per_notification']:.3f} ms",
        ),
        (
            "Tocsin's notifier (bench/notifiers.py's path)",
            format_rate(figures["notifier_per_s"]),
            f"{figures['notifier_cpu_ms_per_notification']:.3f} ms",
        ),
    ]
    table = render_table(["webhook delivery", "notifications/s", "CPU per notification"], rows)
    return (
        table
        + f"\nThe notifier spends {figures['notifier_cpu_over_floor']:.2f}x the floor's CPU per "
        f"notification; runtime: {figures['runtime']}; medians of "
        f"{len(figures['rounds']['floor_per_s'])} interleaved rounds of "
        f"{int(figures['metadata']['sizes']['notifications']):,}; load average at start "
        + " ".join(f"{value:.2f}" for value in figures["load_average"]["start"])
        + "."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print the table, write JSON if asked."""
    arguments = parse_arguments(
        "Tocsin's webhook notifier against the floor of the same durable work.",
        argv,
        runtime="served",
    )
    configure_logging("critical")
    began = time.perf_counter()
    figures = run(
        QUICK if arguments.quick else FULL, quick=arguments.quick, runtime=arguments.runtime
    )
    figures["metadata"]["seconds"] = round(time.perf_counter() - began, 1)
    print(render(figures))
    print(f"Run took {figures['metadata']['seconds']} s.")
    if arguments.json is not None:
        write_json(arguments.json, figures)
        print(f"Wrote {arguments.json}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
