"""Benchmark notification delivery against Prometheus Alertmanager, on loopback.

Run from the repository root in the project's environment::

    python bench/notifiers.py [--quick] [--json PATH] [--runtime served|embedded]

Tocsin's side runs as ``tocsin serve`` runs it (``--runtime served``, the default: on
uvloop, with the garbage collector tuned once the notifiers are up, the ``[server]``
defaults), or as an ``AlertSystem`` embedded in a program that chose neither
(``--runtime embedded``: asyncio's loop, Python's collector).

Workloads, each repeated for a few rounds (medians reported), every load loop bounded
in count and time:

- webhook: Tocsin delivers N notifications, each about a different alert, to a real
  HTTP receiver running as a separate process (bench/_sinks.py, counting requests):
  the notifications are told to the ``NotifierSupervisor`` (the alert manager's entry
  point), whose webhook ``Notifier`` records each in its durable outbox (``SqliteStore``,
  synchronous=full, in a temporary directory) before sending it through the
  ``WebhookChannel`` with the default webhook delivery policy; the clock runs from the
  first notification told to the receiver counting N.
- alertmanager: Prometheus Alertmanager (Debian's ``prometheus-alertmanager``, run as
  docs say: loopback only, gossip off) receives N alerts with distinct alertnames,
  grouped by alertname with ``group_wait: 0s``, so it sends N one-alert webhook
  notifications to the same receiver process; the clock runs from the first POST to
  /api/v2/alerts to the receiver counting N.
- email: the same tree's email ``Notifier`` sends M notifications through the
  ``EmailChannel`` to an aiosmtpd server in a separate process, one message each over
  one SMTP connection; the clock runs to the M-th ``delivered`` receipt.

How the webhook comparison is kept fair:

- the same receiver: one sink process serves both, on the same HTTP/1.1 keep-alive
  server code, counting each side's requests under its own path; both rates are
  requests arrived per second of wall time;
- the same work: N alerts with distinct names on each side, so N one-alert
  notifications each: Alertmanager makes N one-alert groups (grouped by alertname,
  group_wait 0s); Tocsin's default webhook policy has no rate limit, so it never
  batches. The sink counts the alerts each request carries and the JSON reports
  ``alerts_per_request`` per side (1.0 both, or the comparison is void);
- the same payload size class: Tocsin's default JSON payload and Alertmanager's
  version-4 payload for one alert with the same labels and annotation are both a few
  hundred bytes; the JSON reports the mean ``request_bytes`` per side;
- the same run and the same machine: each round runs Alertmanager then Tocsin, back to
  back, so both see the same load; ``load_average`` (1, 5, 15 minutes) is recorded at
  the start and the end;
- durability on Tocsin's side only: each notification is committed (fsynced) to the
  outbox before its first attempt and deleted once delivered, while Alertmanager keeps
  alerts in memory. Tocsin's notifications are told in-process (its alert manager is
  measured by bench/alert_manager.py), while Alertmanager's alerts come over its HTTP
  API in batches of 100, as a Prometheus server sends them: that ingest is part of its
  pipeline, as the alert manager is part of Tocsin's.

The table says which Tocsin path was measured. The benchmark installs nothing: without
the ``prometheus-alertmanager`` binary it prints how to install it and reports the
Alertmanager figures as missing (null in the JSON).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvloop

# Run as a script, this directory comes first on sys.path and its gateway.py would
# shadow the gateway package: the repository root goes first, as in bench/gateway.py.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors import apply_gc_policy
from actors.notify import DEFAULT_DELIVERY, NotifiersConfig, notifier_supervisor_spec
from actors.store import SqliteStore
from bench._report import (
    Deadline,
    Target,
    format_rate,
    format_ratio,
    median,
    parse_arguments,
    render_table,
    run_metadata,
    write_json,
)
from gateway.config import ServerConfig
from messages import (
    DeliveryOutcome,
    DeliveryReceipt,
    DeliveryReceipts,
    Notification,
    NotificationKind,
    Severity,
    fingerprint,
)
from supervision import (
    Actor,
    ActorRef,
    ActorSystem,
    AskTimeout,
    ChildSpec,
    Reply,
    configure_logging,
)

ALERTMANAGER = "prometheus-alertmanager"
INSTALL_HINT = (
    "Alertmanager is not installed; to compare with it, run (as root):\n"
    "  apt-get install -y --no-install-recommends prometheus-alertmanager"
)
SINKS = Path(__file__).with_name("_sinks.py")
TOCSIN_PATH = "/tocsin"
ALERTMANAGER_PATH = "/alertmanager"
WEBHOOK_RECEIVER = "bench-webhook"
EMAIL_RECEIVER = "bench-mail"
TOCSIN_WEBHOOK_PATH = (
    "NotifierSupervisor → Notifier (durable SQLite outbox, synchronous=full; default webhook "
    f"policy: {DEFAULT_DELIVERY['webhook'].max_in_flight} in flight) → WebhookChannel "
    "(Http1Transport: request bytes, httptools' parser on asyncio protocols, keep-alive pool)"
)
RUNTIMES = {
    "served": "as tocsin serve runs: uvloop, the garbage collector tuned once up",
    "embedded": "asyncio's loop and Python's collector, as an AlertSystem in a plain host",
}
TOCSIN_EMAIL_PATH = (
    "NotifierSupervisor → Notifier (durable SQLite outbox) → EmailChannel (aiosmtplib, "
    "one connection, one message per notification)"
)


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much each round does, how many rounds, and the time budgets.

    ``budget``: seconds for one load loop (a round counts what arrived within it) and
    for the untimed drain after it. ``webhook_seconds`` and ``email_seconds`` bound
    each workload as a whole, warm-up and drains included: no round starts once they
    are spent, so a slow machine yields fewer rounds, never a longer run.
    """

    notifications: int
    emails: int
    rounds: int
    budget: float
    webhook_seconds: float
    email_seconds: float


# Rounds: enough for a median the shared machine's swings do not decide alone (each
# side's rounds moved 5k-11k/s within one run at times); 5 and 3 before 2026-11-28.
QUICK = Sizes(
    notifications=1000, emails=100, rounds=9, budget=3.0, webhook_seconds=14.0, email_seconds=4.0
)
FULL = Sizes(
    notifications=3000,
    emails=1000,
    rounds=7,
    budget=30.0,
    webhook_seconds=240.0,
    email_seconds=120.0,
)


# ---- processes ----------------------------------------------------------------------------


class Sink:
    """A bench/_sinks.py process (``webhook`` or ``smtp``) on 127.0.0.1."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sink:
        self._process = subprocess.Popen(
            [sys.executable, str(SINKS), self.kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "PORT":
            self.__exit__(None, None, None)
            raise RuntimeError(f"the {self.kind} sink did not start (said {line!r})")
        self.port = int(line[1])
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.close()  # the sink exits at end of input
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """Return the sink process's CPU time so far (user + system)."""
        assert self._process is not None
        return process_cpu_seconds(self._process.pid)


async def received(
    client: httpx.AsyncClient, sink: Sink, path: str, at_least: int, wait: float
) -> int:
    """Return how many requests ``path`` had, once at least ``at_least`` or after ``wait`` s."""
    response = await client.get(
        f"{sink.url}/count",
        params={"path": path, "at_least": at_least, "wait": max(wait, 0.0)},
        timeout=wait + 10,
    )
    response.raise_for_status()
    count: int = response.json()["requests"]
    return count


async def sink_counts(client: httpx.AsyncClient, sink: Sink, path: str) -> dict[str, int]:
    """Return ``path``'s ``requests``, ``items`` (alerts carried) and ``bytes`` so far."""
    response = await client.get(
        f"{sink.url}/count", params={"path": path, "at_least": 0, "wait": 0}, timeout=10.0
    )
    response.raise_for_status()
    counts: dict[str, int] = response.json()
    return counts


def _shape(counts: dict[str, int]) -> dict[str, float]:
    requests = counts["requests"]
    if not requests:
        return {"alerts_per_request": math.nan, "request_bytes": math.nan, "connections": 0}
    return {
        "alerts_per_request": counts["items"] / requests,
        "request_bytes": counts["bytes"] / requests,
        "connections": counts["connections"],
    }


def process_cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system, every thread) process ``pid`` has used so far.

    The sum of its threads' /proc/PID/task/TID/schedstat, in nanoseconds: /proc/PID/stat
    counts clock ticks (10 ms here), too coarse for the receiver's share of a round of a
    few tens of milliseconds. A thread that ended is not counted (neither side's receiver
    or Alertmanager ends threads mid-run); without schedstat, the ticks.
    """
    total = 0
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            try:
                with open(f"{task.path}/schedstat") as stats:
                    total += int(stats.read().split()[0])
            except FileNotFoundError:  # the thread ended since the listing
                continue
    except FileNotFoundError:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total / 1e9


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Alertmanager:
    """A Prometheus Alertmanager process on loopback with gossip off, as REFERENCE.md says."""

    def __init__(self, binary: str, receiver_url: str, directory: Path) -> None:
        self.binary = binary
        self.receiver_url = receiver_url
        self.directory = directory
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """Return the Alertmanager process's CPU time so far (user + system)."""
        assert self._process is not None
        return process_cpu_seconds(self._process.pid)

    def __enter__(self) -> Alertmanager:
        config = self.directory / "alertmanager.yml"
        config.write_text(
            "route:\n"
            "  receiver: bench\n"
            "  group_by: ['alertname']\n"
            "  group_wait: 0s\n"
            "  group_interval: 5m\n"
            "  repeat_interval: 4h\n"
            "receivers:\n"
            "  - name: bench\n"
            "    webhook_configs:\n"
            f"      - url: '{self.receiver_url}'\n"
            "        send_resolved: false\n"
        )
        self._log = (self.directory / "alertmanager.log").open("wb")
        self._process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.path={self.directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                f"--web.external-url={self.url}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready(Deadline(30.0))
        return self

    def _wait_ready(self, deadline: Deadline) -> None:
        # Setup, not measurement: poll its readiness endpoint.
        with httpx.Client(timeout=2.0) as client:
            while not deadline.expired():
                assert self._process is not None
                if self._process.poll() is not None:
                    break
                try:
                    if client.get(f"{self.url}/-/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        log = (self.directory / "alertmanager.log").read_text(errors="replace")[-2000:]
        self.__exit__(None, None, None)
        raise RuntimeError(f"Alertmanager did not become ready; its log ends:\n{log}")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def alertmanager_version(binary: str) -> str:
    """Return e.g. ``0.25.0``, or ``unknown``."""
    try:
        output = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    words = output.split()
    return words[2] if len(words) > 2 and words[1] == "version" else "unknown"


# ---- workloads ----------------------------------------------------------------------------


def notifications(count: int, receiver: str, tag: str) -> list[Notification]:
    """Return ``count`` firing notifications, each about a different alert."""
    made = []
    for index in range(count):
        labels = {"alertname": f"Bench{tag}N{index}", "instance": "host-1", "job": "bench"}
        key = f"{tag}/{index}/{receiver}/firing"
        made.append(
            Notification(
                id=key,
                receiver=receiver,
                kind=NotificationKind.FIRING,
                fingerprint=fingerprint(labels),
                labels=labels,
                annotations={"summary": "bench alert"},
                severity=Severity.WARNING,
                created_at=time.time(),
                idempotency_key=key,
            )
        )
    return made


def alertmanager_alerts(count: int, tag: str) -> list[dict[str, Any]]:
    """Return ``count`` firing alerts for /api/v2/alerts, each its own group."""
    now = time.time()
    starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    ends = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600))
    return [
        {
            "labels": {"alertname": f"Bench{tag}N{index}", "instance": "host-1", "job": "bench"},
            "annotations": {"summary": "bench alert"},
            "startsAt": starts,
            "endsAt": ends,
        }
        for index in range(count)
    ]


class WaitDelivered:
    """Ask ``ReceiptCounter``: answered once ``receiver`` has ``at_least`` delivered receipts."""

    def __init__(self, receiver: str, at_least: int) -> None:
        self.receiver = receiver
        self.at_least = at_least


class ReceiptCounter(Actor):
    """Count ``delivered`` receipts per receiver, batches receipt by receipt (as the manager)."""

    def __init__(self) -> None:
        self.delivered: dict[str, int] = {}
        self.other = 0
        self.waiting: list[tuple[WaitDelivered, Reply]] = []

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, DeliveryReceipts):
            self._count(message.receipts)
            return None
        if isinstance(message, DeliveryReceipt):
            self._count((message,))
            return None
        if isinstance(message, WaitDelivered):
            self.waiting.append((message, self.defer_reply()))
            self._answer()
            return None
        return await super().on_receive(message)

    def _count(self, receipts: tuple[DeliveryReceipt, ...]) -> None:
        delivered = self.delivered
        for receipt in receipts:
            if receipt.outcome is DeliveryOutcome.DELIVERED:
                delivered[receipt.receiver] = delivered.get(receipt.receiver, 0) + 1
            else:
                self.other += 1
        if self.waiting:
            self._answer()

    def _answer(self) -> None:
        still = []
        for request, reply in self.waiting:
            count = self.delivered.get(request.receiver, 0)
            if count >= request.at_least:
                reply.set(count)
            else:
                still.append((request, reply))
        self.waiting = still


class TocsinNotifiers:
    """The notifiers subtree as ``AlertSystem`` runs it, on a durable SQLite store."""

    def __init__(self, directory: Path, webhook_url: str, smtp_port: int) -> None:
        self.config = NotifiersConfig.model_validate(
            {
                "webhook": [{"name": WEBHOOK_RECEIVER, "url": webhook_url, "trust_env": False}],
                "email": [
                    {
                        "name": EMAIL_RECEIVER,
                        "host": "127.0.0.1",
                        "port": smtp_port,
                        "starttls": False,
                        "from": "tocsin@bench.example.org",
                        "to": ["oncall@bench.example.org"],
                        "local_hostname": "tocsin.bench",
                    }
                ],
            }
        )
        self.store = SqliteStore(directory / "notifiers.db", synchronous="full")
        self.system: ActorSystem | None = None

    async def __aenter__(self) -> TocsinNotifiers:
        await self.store.open()
        self.system = ActorSystem(
            [
                ChildSpec("receipts", ReceiptCounter),
                notifier_supervisor_spec(self.config, self.store, receipts="receipts"),
            ]
        )
        await self.system.__aenter__()
        self.notifiers: ActorRef = self.system.lookup("notifiers")
        self.receipts: ActorRef = self.system.lookup("receipts")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.system is not None
        await self.system.__aexit__(None, None, None)
        await self.store.close()

    async def delivered(self, receiver: str, at_least: int, wait: float) -> int:
        """Return ``receiver``'s delivered count once it reaches ``at_least`` (or raise)."""
        count = await self.receipts.ask(WaitDelivered(receiver, at_least), timeout=max(wait, 0.001))
        assert isinstance(count, int)
        return count

    async def tell(self, batch: Sequence[Notification]) -> None:
        """Hand ``batch`` to the notifiers, yielding every 100 as a steady producer would."""
        for index, notification in enumerate(batch, 1):
            self.notifiers.tell(notification)
            if index % 100 == 0:
                await asyncio.sleep(0)


async def timed_rate(
    sending: Awaitable[None],
    arrived: Callable[[float], Awaitable[int]],
    expected: int,
    budget: float,
) -> float:
    """Return arrivals per second: from the start of ``sending`` to ``expected`` arrived.

    ``arrived(wait)`` returns the arrivals once there are ``expected``, or after ``wait``
    seconds (the budget) with what arrived by then.
    """
    deadline = Deadline(budget)
    start = time.perf_counter()
    task = asyncio.ensure_future(sending)
    try:
        count = await arrived(deadline.remaining())
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    elapsed = time.perf_counter() - start
    return min(count, expected) / elapsed if elapsed > 0 else math.nan


async def webhook_rounds(
    sizes: Sizes, sink: Sink, tocsin: TocsinNotifiers, alertmanager: Alertmanager | None
) -> dict[str, Any]:
    """Run the webhook workloads, Alertmanager then Tocsin, for ``sizes.rounds`` rounds."""
    ours: list[float] = []
    theirs: list[float] = []
    cpu_ms: list[float] = []
    their_cpu_ms: list[float] = []
    sink_ms: dict[str, list[float]] = {"tocsin": [], "alertmanager": []}
    n = sizes.notifications
    phase = Deadline(sizes.webhook_seconds)

    def budget() -> float:
        return min(sizes.budget, phase.remaining())

    async with httpx.AsyncClient(timeout=30.0, trust_env=False) as client:
        # Warm-up (not measured): connections, first compilations, the store's first writes.
        warm = notifications(min(20, n), WEBHOOK_RECEIVER, "warm")
        await tocsin.tell(warm)
        done = await tocsin.delivered(WEBHOOK_RECEIVER, len(warm), max(phase.remaining(), 1.0))
        if alertmanager is not None:
            await _post_alerts(client, alertmanager.url, alertmanager_alerts(20, "warm"))
            await received(client, sink, ALERTMANAGER_PATH, 20, 30.0)
        for round_ in range(sizes.rounds):
            if phase.remaining() < 1.0:
                break
            tag = f"R{round_}"
            if alertmanager is not None:
                # Alertmanager first: a Tocsin backlog that does not drain ends the rounds.
                alerts = alertmanager_alerts(n, tag)
                before = await received(client, sink, ALERTMANAGER_PATH, 0, 0)
                arrived = functools.partial(_arrivals, client, sink, ALERTMANAGER_PATH, before, n)
                posting = _post_alerts(client, alertmanager.url, alerts)
                their_cpu, sink_cpu = alertmanager.cpu_seconds(), sink.cpu_seconds()
                theirs.append(await timed_rate(posting, arrived, n, max(budget(), 1.0)))
                # Its process's CPU over the round (all its threads), as Tocsin's below.
                their_cpu_ms.append((alertmanager.cpu_seconds() - their_cpu) * 1000.0 / n)
                sink_ms["alertmanager"].append((sink.cpu_seconds() - sink_cpu) * 1000.0 / n)
            batch = notifications(n, WEBHOOK_RECEIVER, tag)
            before = await received(client, sink, TOCSIN_PATH, 0, 0)
            arrived = functools.partial(_arrivals, client, sink, TOCSIN_PATH, before, n)
            cpu, sink_cpu = time.process_time(), sink.cpu_seconds()
            ours.append(await timed_rate(tocsin.tell(batch), arrived, n, max(budget(), 1.0)))
            sink_ms["tocsin"].append((sink.cpu_seconds() - sink_cpu) * 1000.0 / n)
            # Not timed: every notification confirmed (its receipt) before going on; a
            # backlog past the budget would load the next measurement, so stop there.
            try:
                done = await tocsin.delivered(WEBHOOK_RECEIVER, done + n, budget())
            except AskTimeout:
                break
            # This process's CPU (the sink and Alertmanager run elsewhere) from the first
            # notification told to the last receipt: the notifiers' cost, which the
            # machine's load moves much less than the rates.
            cpu_ms.append((time.process_time() - cpu) * 1000.0 / n)
        shapes = {"tocsin": _shape(await sink_counts(client, sink, TOCSIN_PATH))}
        if alertmanager is not None:
            shapes["alertmanager"] = _shape(await sink_counts(client, sink, ALERTMANAGER_PATH))
    return {
        "path": TOCSIN_WEBHOOK_PATH,
        "ours": ours,
        "theirs": theirs,
        "cpu_ms": cpu_ms,
        "their_cpu_ms": their_cpu_ms,
        "sink_ms": sink_ms,
        "shapes": shapes,
    }


async def _arrivals(
    client: httpx.AsyncClient, sink: Sink, path: str, before: int, expected: int, wait: float
) -> int:
    return await received(client, sink, path, before + expected, wait) - before


async def _post_alerts(client: httpx.AsyncClient, url: str, alerts: list[dict[str, Any]]) -> None:
    # Batches of 100, as a Prometheus server sends them.
    for start in range(0, len(alerts), 100):
        response = await client.post(f"{url}/api/v2/alerts", json=alerts[start : start + 100])
        response.raise_for_status()


async def email_rounds(sizes: Sizes, tocsin: TocsinNotifiers) -> dict[str, Any]:
    """Send ``sizes.emails`` notifications per round through the email notifier."""
    rates: list[float] = []
    n = sizes.emails
    phase = Deadline(sizes.email_seconds)
    warm = notifications(min(5, n), EMAIL_RECEIVER, "warm")
    await tocsin.tell(warm)
    done = await tocsin.delivered(EMAIL_RECEIVER, len(warm), max(phase.remaining(), 1.0))
    for round_ in range(sizes.rounds):
        if phase.remaining() < 1.0:
            break
        batch = notifications(n, EMAIL_RECEIVER, f"M{round_}")
        arrived = functools.partial(_delivered, tocsin, EMAIL_RECEIVER, done, n)
        wait = min(sizes.budget, phase.remaining())
        rates.append(await timed_rate(tocsin.tell(batch), arrived, n, wait))
        try:  # not timed: the backlog drained before the next round (bounded, as above)
            done = await tocsin.delivered(
                EMAIL_RECEIVER, done + n, min(sizes.budget, phase.remaining())
            )
        except AskTimeout:
            break
    return {"path": TOCSIN_EMAIL_PATH, "rates": rates}


async def _delivered(
    tocsin: TocsinNotifiers, receiver: str, before: int, expected: int, wait: float
) -> int:
    try:
        return await tocsin.delivered(receiver, before + expected, wait) - before
    except AskTimeout:  # the budget ran out: report what was delivered within it
        return await tocsin.delivered(receiver, 0, 10.0) - before


# ---- the run ------------------------------------------------------------------------------


def run(
    sizes: Sizes, *, quick: bool = False, alertmanager: bool = True, runtime: str = "served"
) -> dict[str, Any]:
    """Run every workload and return the figures (NaN where Alertmanager was not run).

    ``runtime``: ``served`` runs this process (Tocsin's notifiers, and the client posting
    to Alertmanager) as ``tocsin serve`` runs: on uvloop, with the garbage collector
    tuned once the notifiers are up (``[server]`` defaults); ``embedded`` on asyncio's
    loop with Python's collector, as an ``AlertSystem`` in a host that chose neither.
    """
    binary = shutil.which(ALERTMANAGER) if alertmanager else None
    if alertmanager and binary is None:
        print(INSTALL_HINT, file=sys.stderr)
    return run_as(runtime, lambda served: _run(sizes, quick, binary, served))


def run_as(
    runtime: str, main: Callable[[bool], Coroutine[Any, Any, dict[str, Any]]]
) -> dict[str, Any]:
    """Run ``main(served)`` on the ``runtime``'s loop and return its figures, with
    ``runtime`` added: ``served`` (uvloop; ``main`` applies serve's collector policy once
    up) or ``embedded`` (asyncio's loop). The caller (a test) gets its collector back."""
    served = runtime == "served"
    runner = uvloop.run if served else asyncio.run
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    try:
        figures = runner(main(served))
    finally:
        gc.set_threshold(*thresholds)
        if not frozen:
            gc.unfreeze()
    figures["runtime"] = runtime
    return figures


async def _run(sizes: Sizes, quick: bool, binary: str | None, served: bool) -> dict[str, Any]:
    load_start = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="tocsin-bench-notifiers-") as name,
        Sink("webhook") as webhook_sink,
        Sink("smtp") as smtp_sink,
    ):
        directory = Path(name)
        url = webhook_sink.url
        async with TocsinNotifiers(directory, url + TOCSIN_PATH, smtp_sink.port) as tocsin:
            thresholds = ServerConfig().gc_thresholds()
            if served and thresholds is not None:  # as tocsin serve does once its tree is up
                apply_gc_policy(thresholds)
            if binary is None:
                webhook = await webhook_rounds(sizes, webhook_sink, tocsin, None)
            else:
                with Alertmanager(binary, url + ALERTMANAGER_PATH, directory) as alertmanager:
                    webhook = await webhook_rounds(sizes, webhook_sink, tocsin, alertmanager)
            email = await email_rounds(sizes, tocsin)
    load_end = os.getloadavg()
    ours = median(webhook["ours"])
    theirs = median(webhook["theirs"])
    ours_cpu = median(webhook["cpu_ms"])
    their_cpu = median(webhook["their_cpu_ms"])
    ratio = ours / theirs if theirs > 0 else math.nan
    paired = [a / b for a, b in zip(webhook["ours"], webhook["theirs"], strict=False) if b > 0]
    shapes = webhook["shapes"]
    missing = {"alerts_per_request": math.nan, "request_bytes": math.nan, "connections": 0}
    figures: dict[str, Any] = {
        "webhook_per_s": ours,
        "alertmanager_webhook_per_s": theirs,
        "webhook_ratio_vs_alertmanager": ratio,
        "email_per_s": median(email["rates"]),
        "webhook_cpu_ms_per_notification": ours_cpu,
        "alertmanager_cpu_ms_per_notification": their_cpu,
        "cpu_ratio_alertmanager_over_tocsin": their_cpu / ours_cpu if ours_cpu > 0 else math.nan,
        "receiver_cpu_ms_per_request": {
            side: median(values) for side, values in webhook["sink_ms"].items()
        },
        "webhook_path": webhook["path"],
        "email_path": email["path"],
        "round_ratios": paired,
        "alerts_per_request": {
            "tocsin": shapes["tocsin"]["alerts_per_request"],
            "alertmanager": shapes.get("alertmanager", missing)["alerts_per_request"],
        },
        "connections": {
            "tocsin": shapes["tocsin"]["connections"],
            "alertmanager": shapes.get("alertmanager", missing)["connections"],
        },
        "request_bytes": {
            "tocsin": shapes["tocsin"]["request_bytes"],
            "alertmanager": shapes.get("alertmanager", missing)["request_bytes"],
        },
        "load_average": {"start": list(load_start), "end": list(load_end)},
        "rounds": {
            "webhook_per_s": webhook["ours"],
            "alertmanager_webhook_per_s": webhook["theirs"],
            "email_per_s": email["rates"],
            "webhook_cpu_ms_per_notification": webhook["cpu_ms"],
            "alertmanager_cpu_ms_per_notification": webhook["their_cpu_ms"],
        },
        "alertmanager_version": None if binary is None else alertmanager_version(binary),
        "metadata": run_metadata(quick, {"rounds": sizes.rounds}, sizes=asdict(sizes)),
    }
    figures["targets"] = {
        "webhook_ratio_vs_alertmanager": Target.at_least(ratio, 2.0, "≥ 2x Alertmanager").as_json(),
    }
    return figures


def render(figures: dict[str, Any]) -> str:
    """Return the table ``main`` prints for ``figures``."""
    sizes = Sizes(**figures["metadata"]["sizes"])
    target = Target(**figures["targets"]["webhook_ratio_vs_alertmanager"])
    version = figures["alertmanager_version"]
    missing = version is None
    rows = [
        (
            f"webhook notifications/s ({sizes.notifications:,} one-alert notifications)",
            format_rate(figures["webhook_per_s"]),
            "missing" if missing else format_rate(figures["alertmanager_webhook_per_s"]),
            "n/a" if missing else format_ratio(figures["webhook_ratio_vs_alertmanager"]),
            target.text,
            "n/a" if missing else target.mark,
        ),
        (
            f"email/s to aiosmtpd ({sizes.emails:,} messages, one connection)",
            format_rate(figures["email_per_s"]),
            "n/a",
            "",
            "",
            "",
        ),
    ]
    peer = "Alertmanager" if missing else f"Alertmanager {version}"
    table = render_table(["workload", "Tocsin", peer, "ratio", "target", ""], rows)
    notes = [
        f"Tocsin webhook path: {figures['webhook_path']}; runtime: {figures['runtime']} "
        f"({RUNTIMES[figures['runtime']]}).",
        f"Tocsin email path: {figures['email_path']}.",
        "CPU per webhook notification (medians of rounds): Tocsin "
        f"{figures['webhook_cpu_ms_per_notification']:.3f} ms (this process: notifiers, "
        "outbox, HTTP client; one event loop and the store's thread), Alertmanager "
        + (
            "n/a"
            if missing
            else f"{figures['alertmanager_cpu_ms_per_notification']:.3f} ms (its process, "
            f"every thread, including its API ingest): "
            f"{format_ratio(figures['cpu_ratio_alertmanager_over_tocsin'])} Tocsin's"
        )
        + "; the receiver's per request: "
        + _pair(figures["receiver_cpu_ms_per_request"], ".3f")
        + " ms (Tocsin's, Alertmanager's). On 2 cores shared with the receiver, "
        "Alertmanager's threads spread over both; Tocsin's event loop is one thread.",
        f"Alerts per request (Tocsin, Alertmanager): {_pair(figures['alerts_per_request'])}; "
        f"mean request body bytes: {_pair(figures['request_bytes'], '.0f')}; "
        f"connections to the receiver over the run: {_pair(figures['connections'], 'd')}; "
        f"load average (1, 5, 15 min) at start {_loads(figures['load_average']['start'])}, "
        f"at end {_loads(figures['load_average']['end'])}.",
        f"Medians of {len(figures['rounds']['webhook_per_s'])} webhook and "
        f"{len(figures['rounds']['email_per_s'])} email rounds (of {sizes.rounds}; a round "
        f"counts what arrived within {sizes.budget:g} s); receivers are separate processes "
        "on 127.0.0.1.",
    ]
    if missing:
        notes.append(INSTALL_HINT)
    return table + "\n" + "\n".join(notes)


def _pair(values: dict[str, float], spec: str = ".2f") -> str:
    return ", ".join(
        "n/a" if math.isnan(values[side]) else format(values[side], spec)
        for side in ("tocsin", "alertmanager")
    )


def _loads(values: Sequence[float]) -> str:
    return " ".join(f"{value:.2f}" for value in values)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table, write JSON if asked; a missed target is not fatal."""
    arguments = parse_arguments(
        "Benchmark notification delivery against Alertmanager.", argv, runtime="served"
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
