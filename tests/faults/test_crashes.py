"""Scenario 2 of issue 7: actor crashes injected at random under load, then past the limits.

The server is an in-process ``AlertSystem`` with its real gateway on 127.0.0.1 (clients,
``/readyz`` and ``/metrics`` over real sockets, a real webhook receiver), built with
``fault_injection=True`` so that ``inject_crash`` can reach the actors: each injected
fault is a poison order in the actor's mailbox that makes the real actor crash on it,
through the runtime's real failure path (dead letter, on_failure, on_stop, supervisor,
restart intensity). Set ``TOCSIN_CHAOS_SEED`` to replay a run; the seed is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest
import structlog.testing

from actors.notify import GetNotifierStatus, NotifierStatus
from gateway.config import TocsinConfig
from gateway.system import ROOT_BACKOFF, AlertSystem
from messages import AlertState, ErrorFrame, QueryHistory, ReplyFrame, TransitionKind
from supervision import (
    ActorDead,
    ActorSystem,
    Cancellable,
    CrashOrder,
    FakeClock,
    InjectedFault,
    RestartIntensityExceeded,
    SystemFailed,
)
from tests.faults.chaos import (
    BOUND,
    Session,
    Subscriber,
    Waitable,
    gapless,
    http_get,
    scrape,
)
from tests.notify.http_server import HttpServer

TOKEN = "chaos-admin-token"
METRIC = "chaos_load"
HOSTS = 12
ROUNDS = 60
SUBSCRIBERS = 3
NOTIFIED = {
    TransitionKind.ALERT_OPENED: "firing",
    TransitionKind.ALERT_ACKNOWLEDGED: "acknowledged",
    TransitionKind.ALERT_RESOLVED: "resolved",
}

# Injection targets and the supervisor whose intensity each crash counts against.
TARGETS: dict[str, str] = {
    "/alerting/alert-manager": "/alerting",
    "/alerting/rules/metric-router": "/alerting/rules",
    "/alerting/rules/rule:load-high": "/alerting/rules",
    "/alerting/notifiers/notifier:webhook:hook": "/alerting/notifiers",
    "/alerting/notifiers/notifier:websocket": "/alerting/notifiers",
    "/edge/connection-registry": "/edge",
}
# Crashes allowed per supervisor in one run: below each one's intensity (alerting,
# notifiers, edge: 5 in 30 s; rules: 10 in 60 s), so every crash must be restarted.
BUDGET = {"/alerting": 3, "/alerting/rules": 6, "/alerting/notifiers": 4, "/edge": 3}


def chaos_config(webhook: str, **sections: Any) -> TocsinConfig:
    data: dict[str, Any] = {
        "server": {"port": 0},
        "auth": {
            "tokens": [{"user": "chaos", "token": TOKEN, "roles": ["admin", "ingest"]}],
        },
        "store": {"path": ":memory:"},
        "collectors": {"host": {"enabled": False}},
        "rules": {
            "inline": [
                {
                    "type": "threshold",
                    "id": "load-high",
                    "selector": METRIC,
                    "op": ">",
                    "threshold": 50,
                    "severity": "critical",
                }
            ]
        },
        "receivers": {
            "websocket": {},
            "webhook": [{"name": "hook", "url": webhook, "trust_env": False}],
        },
        # One group per alert, sent at once: every transition is one webhook request.
        "route": {
            "receiver": "hook",
            "group_by": ["..."],
            "group_wait": 0,
            "group_interval": 0.05,
        },
        **sections,
    }
    return TocsinConfig.model_validate(data)


def value(host: int, round_: int) -> float:
    """Each host flips between firing (90) and fine (10) at its own pace."""
    period = 2 + host % 5
    return 90.0 if (round_ // period) % 2 == 0 else 10.0


def samples(round_: int) -> list[dict[str, Any]]:
    now = time.time()
    return [
        {"name": METRIC, "value": value(h, round_), "labels": {"host": f"h{h}"}, "timestamp": now}
        for h in range(HOSTS)
    ]


async def notifiers_idle(system: AlertSystem) -> bool:
    statuses = await system.system.lookup("/alerting/notifiers").ask(GetNotifierStatus())
    assert all(isinstance(s, NotifierStatus) for s in statuses)
    return all(s.queued == 0 and s.in_flight == 0 for s in statuses)


async def quiesce(system: AlertSystem, webhook: HttpServer) -> int:
    """Wait until every notification went out; return the alert manager's last seq.

    Deliveries add ``notification_outcome`` events, so the last seq settles only once
    the notifiers are idle and their receipts were recorded. Idle notifiers and a still
    seq are not enough on their own: a group's next flush (``group_interval`` away) may
    not have handed the last resolutions to a notifier yet, so it also waits until the
    webhook holds every transition the history says it must, or until ``BOUND`` has
    passed, then the caller's assertions name what is missing.
    """
    loop = asyncio.get_running_loop()
    give_up = loop.time() + BOUND
    async with asyncio.timeout(2 * BOUND):
        while True:
            last = await last_seq(system)
            settled = await notifiers_idle(system) and await last_seq(system) == last
            if settled and (loop.time() >= give_up or await webhook_complete(system, webhook)):
                return last
            # Something is still under way: wait for the receiver's next request (a
            # bounded wait: the last one may already have come, then the loop re-checks).
            seen = len(webhook.requests)

            def more(seen: int = seen) -> bool:
                return len(webhook.requests) > seen

            with contextlib.suppress(TimeoutError):
                await webhook.until(more, timeout=0.5)


async def webhook_complete(system: AlertSystem, webhook: HttpServer) -> bool:
    """Whether the webhook got, in order, every transition the history asks it to."""
    expected = expected_kinds(await all_events(system))
    received, _ = webhook_kinds(webhook)
    return not any(out_of_order(received.get(a, []), k) for a, k in expected.items())


def expected_kinds(events: list[Any]) -> dict[str, list[str]]:
    """Alert id → the notification kinds its history events call for, in order."""
    expected: dict[str, list[str]] = defaultdict(list)
    for event in events:
        kind = NOTIFIED.get(event.kind)
        if kind is not None:
            assert event.alert_id is not None
            expected[event.alert_id].append(kind)
    return expected


async def last_seq(system: AlertSystem) -> int:
    last, page_since = 0, 0
    while True:
        page = await system.history(since_seq=page_since, limit=1000)
        if page.events:
            last = page.events[-1].seq
        if not page.more:
            return last
        page_since = page.last_seq


async def all_events(system: AlertSystem) -> list[Any]:
    events: list[Any] = []
    since = 0
    while True:
        page = await system.history(QueryHistory(since_seq=since, limit=1000))
        events.extend(page.events)
        if not page.more:
            return events
        since = page.last_seq


def webhook_kinds(webhook: HttpServer) -> tuple[dict[str, list[str]], int]:
    """Return alert id → notification kinds in first-arrival order, and the duplicates."""
    seen: set[str] = set()
    duplicates = 0
    kinds: dict[str, list[str]] = defaultdict(list)
    for request in webhook.requests:
        for notification in request.json()["notifications"]:
            key = notification["idempotency_key"]
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            alert_id, _receiver, kind = notification["id"].rsplit("/", 2)
            assert kind == notification["kind"]
            kinds[alert_id].append(kind)
    return kinds, duplicates


def out_of_order(received: list[str], expected: list[str]) -> bool:
    """Whether ``received`` breaks the order of ``expected`` or leaves out what it may not.

    Grouping (as Alertmanager) folds what happens between two flushes of a group: an
    acknowledgement followed by the resolution sends only the resolution, and an alert
    that opens and then resolves, or is acknowledged, before its group's first flush is
    never notified at all (the grouping core drops a member first reported in a state
    other than firing; the operator load here acknowledges alerts moments after they
    open, and a crash of the manager or a notifier delays that first flush).
    What may never happen: a receiver told an alert fires, and not told it ended; or
    told things out of order.
    """
    remaining = iter(expected)
    if not all(kind in remaining for kind in received):  # not a subsequence, in order
        return True
    if not received:  # only an alert closed or taken before it was told may go unnotified
        return expected[-1:] != ["resolved"] and expected != ["firing", "acknowledged"]
    return expected[-1] == "resolved" and received[-1] != "resolved"


class SignallingClock(FakeClock):
    """The fake clock, telling ``scheduled`` whenever a callback is scheduled on it."""

    def __init__(self) -> None:
        super().__init__()
        self.scheduled = Waitable()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        handle = super().call_later(delay, callback)
        self.scheduled.changed()
        return handle


async def restart_scheduled(runtime: ActorSystem, clock: SignallingClock) -> None:
    """Return once the root has scheduled the restart of /alerting, which escalated.

    /alerting is STOPPED once its on_stop (stopping its children) is done, and then tells
    the root, whose backoff schedules the restart on the clock; the ask is answered after
    the root handled that exit.
    """
    await clock.scheduled.until(lambda: "/alerting" in runtime.not_running())
    await runtime.which_children()


async def test_random_crashes_under_load_are_restarted_and_lose_or_reorder_nothing() -> None:
    seed = int(os.environ.get("TOCSIN_CHAOS_SEED", "0")) or random.randrange(1, 2**31)
    rng = random.Random(seed)
    webhook = await HttpServer().start()
    injected: Counter[str] = Counter()
    spent: Counter[str] = Counter()
    started = time.monotonic()
    try:
        async with AlertSystem(chaos_config(webhook.url), fault_injection=True) as system:
            assert system.url is not None
            assert system.http_url is not None
            subscribers = [Subscriber(system.url, TOKEN, f"s{i}") for i in range(SUBSCRIBERS)]
            for subscriber in subscribers:
                subscriber.start()
            feeder, operator = Session(system.url, TOKEN), Session(system.url, TOKEN)
            acks: Counter[str] = Counter()
            try:
                await subscribers[0].changes.until(lambda: subscribers[0].first is not None)
                for round_ in range(ROUNDS):
                    reply = await feeder.request({"type": "ingest", "samples": samples(round_)})
                    assert isinstance(reply, ReplyFrame), reply
                    if rng.random() < 0.25:
                        # A crash at a random point of the load, in a random actor.
                        choices = [p for p, s in TARGETS.items() if spent[s] < BUDGET[s]]
                        if choices:
                            path = rng.choice(choices)
                            system.inject_crash(path)
                            injected[path] += 1
                            spent[TARGETS[path]] += 1
                    if round_ % 3 == 0:
                        active = await system.alerts(states=[AlertState.ACTIVE])
                        if active:
                            target = rng.choice(active).alert_id
                            answer = await operator.request({"type": "ack", "alert_id": target})
                            # Resolved meanwhile is a typed refusal, never a lost command.
                            if isinstance(answer, ErrorFrame):
                                assert answer.code == "illegal_transition", answer
                                acks["refused"] += 1
                            else:
                                acks["done"] += 1
                final = await quiesce(system, webhook)
                for subscriber in subscribers:
                    await subscriber.until_seq(final)
            finally:
                for subscriber in subscribers:
                    await subscriber.stop()
                await feeder.close()
                await operator.close()

            runtime = system.system
            # Every crash was a real one of the named actor, and each was restarted.
            assert dict(runtime.failures) == dict(injected), (runtime.failures, injected)
            restarts = runtime.restart_counts()
            for path, count in injected.items():
                assert restarts.get(path, 0) == count, (path, restarts)
            assert runtime.escalations == {}
            assert runtime.not_running() == []
            # No message but the poison orders was lost.
            letters = runtime.dead_letters.recent()
            lost = [
                letter
                for letter in letters
                if not (isinstance(letter.message, CrashOrder) and letter.reason == "crashed")
            ]
            assert lost == [], lost[:5]
            assert runtime.dead_letters.count == sum(injected.values())
            assert all(isinstance(letter.error, InjectedFault) for letter in letters)

            # Every subscriber saw every event once, in order, across its reconnections.
            problems = [p for s in subscribers for p in gapless(s, final)]
            assert problems == [], problems

            # Every transition reached the webhook, in order per alert.
            expected = expected_kinds(await all_events(system))
            received, duplicates = webhook_kinds(webhook)
            assert set(received) <= set(expected)
            wrong = {
                a: (received.get(a, []), k)
                for a, k in expected.items()
                if out_of_order(received.get(a, []), k)
            }
            assert wrong == {}, wrong

            # The server reports what happened: ready again, counters on /metrics.
            ready = await http_get(system.http_url, "/readyz")
            assert ready.status_code == 200, ready.text
            metrics = await scrape(system.http_url)
            for path, count in injected.items():
                label = f'{{actor="{path}"}}'
                assert metrics[("tocsin_actor_crashes_total", label)] == count
                assert metrics[("tocsin_actor_restarts_total", label)] == count
            assert metrics[("tocsin_dead_letters_total", '{reason="crashed"}')] == sum(
                injected.values()
            )
            transitions = sum(len(kinds) for kinds in expected.values())
            print(
                f"\nscenario 2 (seed {seed}): {ROUNDS} rounds x {HOSTS} hosts, "
                f"{transitions} alert transitions, {final} events, acks {dict(acks)}; "
                f"injected {sum(injected.values())} crashes {dict(injected)}; "
                f"restarted {sum(restarts.get(p, 0) for p in injected)}; lost 0 messages "
                f"besides the poison orders; subscriber reconnections "
                f"{[s.reconnects for s in subscribers]}, all gapless and in order; "
                f"webhook requests {len(webhook.requests)}, duplicates {duplicates}; "
                f"commands resent after a close {feeder.resent + operator.resent}; "
                f"{time.monotonic() - started:.1f} s"
            )
    finally:
        await webhook.close()


async def test_crashes_past_the_intensity_escalate_go_unready_and_finally_stop_the_server() -> None:
    clock = SignallingClock()
    webhook = await HttpServer().start()
    escalated = Waitable()
    try:
        with structlog.testing.capture_logs() as logs:
            system = AlertSystem(chaos_config(webhook.url), clock=clock, fault_injection=True)
            await system.start()
            try:
                runtime = system.system
                runtime.dead_letters.subscribe(lambda letter: escalated.changed())
                assert system.http_url is not None
                assert (await http_get(system.http_url, "/readyz")).status_code == 200

                # Six crashes of the alert manager in no time: /alerting allows 5 in 30 s.
                for _ in range(6):
                    system.inject_crash("/alerting/alert-manager")
                await escalated.until(lambda: runtime.escalations["/alerting"] == 1)
                await escalated.until(lambda: runtime.failures["/alerting"] == 1)
                [letter] = [d for d in runtime.dead_letters.recent() if d.recipient == "/alerting"]
                assert isinstance(letter.error, RestartIntensityExceeded)

                await restart_scheduled(runtime, clock)
                # The root restarts /alerting only after its backoff (fake time stands still):
                # meanwhile the server says it is not ready, and why, and counts it all.
                answer = await http_get(system.http_url, "/readyz")
                assert answer.status_code == 503, answer.text
                assert "restarting: /alerting" in answer.json()["checks"]["tree"]
                metrics = await scrape(system.http_url)
                assert metrics[("tocsin_supervisor_escalations_total", '{supervisor="/alerting"}')]
                manager = '{actor="/alerting/alert-manager"}'
                assert metrics[("tocsin_actor_crashes_total", manager)] == 6
                assert metrics[("tocsin_actor_restarts_total", manager)] == 5

                # After the backoff the subtree is back, and so is readiness. The root handles
                # the due restart before this ask, and restarts /alerting inside that handler.
                clock.advance(ROOT_BACKOFF.max)
                await runtime.which_children()
                assert runtime.not_running() == []
                assert (await http_get(system.http_url, "/readyz")).status_code == 200
                assert await system.alerts() == ()

                # A crash loop that does not stop: every restart of /alerting escalates again,
                # until the root exceeds its own intensity (3 in 60 s) and the whole tree stops.
                for round_ in range(1, 8):
                    for _ in range(6):
                        system.inject_crash("/alerting/alert-manager")

                    def escalated_again(target: int = 1 + round_) -> bool:
                        return runtime.escalations["/alerting"] == target

                    await escalated.until(escalated_again)
                    try:
                        await restart_scheduled(runtime, clock)
                    except ActorDead:
                        break  # the root gave up instead of scheduling a restart
                    # The longest backoff this attempt may draw (jitter included).
                    clock.advance(ROOT_BACKOFF.min * ROOT_BACKOFF.factor**round_ * 1.25)
                    await runtime.which_children()
                with pytest.raises(SystemFailed) as failed:
                    async with asyncio.timeout(BOUND):
                        await system.wait_terminated()
                cause = failed.value.__cause__
                assert isinstance(cause, RestartIntensityExceeded)
                assert cause.path == "/"
                assert runtime.escalations == {"/alerting": round_ + 1, "/": 1}
                # The log says so, with the supervisor's path (as an operator sees it).
                escalations = [
                    entry
                    for entry in logs
                    if entry["event"] == "restart intensity exceeded, escalating"
                ]
                assert [e["actor"] for e in escalations] == ["/alerting"] * (round_ + 1) + ["/"]
                assert any(e["event"] == "actor crashed" and e["actor"] == "/" for e in logs)
                print(
                    f"\nscenario 2 escalation: 6 crashes in the window -> /alerting escalated, "
                    f"/readyz 503 until the root's backoff restarted it; a crash loop escalated "
                    f"{round_ + 1} times and stopped the tree (SystemFailed, root intensity)"
                )
            finally:
                await system.stop()
    finally:
        await webhook.close()
