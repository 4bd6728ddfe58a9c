"""Subscriptions through real sockets: snapshot then live, filters, resume, unsubscribe.

The alert manager is the real one; alert events are told to it as evaluators would.
"""

from __future__ import annotations

from gateway import RegistryConfig
from messages import (
    AlertList,
    ErrorFrame,
    EventFrame,
    QueryAlerts,
    ReplyFrame,
    Severity,
    SnapshotFrame,
)
from tests.alerting.builders import firing, resolved
from tests.gateway.harness import Client, GatedQueryStore, Stack, kinds, serving


async def watch(stack: Stack) -> Client:
    """Return a viewer subscribed to everything: it sees each transition as it happens."""
    watcher = await stack.connect()
    assert isinstance(await watcher.request({"type": "subscribe", "id": "all"}), SnapshotFrame)
    return watcher


async def test_a_subscription_gets_a_snapshot_of_open_alerts_then_live_events_in_order() -> None:
    async with serving() as stack:
        watcher = await watch(stack)
        for host in ("a", "b", "c"):
            stack.manager.tell(firing(host=host))
        await watcher.until_events(3)
        client = await stack.connect()
        snapshot = await client.request({"type": "subscribe", "id": "s"})
        assert isinstance(snapshot, SnapshotFrame)
        assert snapshot.seq == watcher.seqs()[-1]
        listed = await stack.manager.ask(QueryAlerts())
        assert isinstance(listed, AlertList)
        assert sorted(snapshot.alerts, key=lambda a: a.alert_id) == sorted(
            listed.alerts, key=lambda a: a.alert_id
        )
        stack.manager.tell(firing(host="d"))
        stack.manager.tell(resolved(host="a"))
        await client.until_events(2)
        seqs = client.seqs()
        assert seqs[0] > snapshot.seq
        assert seqs == sorted(set(seqs))
        assert kinds(client.events()) == ["alert_opened", "alert_resolved"]
        for peer in (client, watcher):
            await peer.close()


async def test_a_narrower_filter_sees_only_what_matches() -> None:
    async with serving() as stack:
        everything = await watch(stack)
        narrow = await stack.connect()
        frame = {
            "type": "subscribe",
            "id": "db",
            "severities": ["critical"],
            "matchers": 'team="db"',
        }
        assert isinstance(await narrow.request(frame), SnapshotFrame)
        stack.manager.tell(firing(host="a", team="db", severity=Severity.WARNING))
        stack.manager.tell(firing(host="b", team="web", severity=Severity.CRITICAL))
        stack.manager.tell(firing(host="c", team="db", severity=Severity.CRITICAL))
        await everything.until_events(3)
        wanted = everything.events()[2].event.alert_id
        operator = await stack.connect("operator")
        ack = await operator.request({"type": "ack", "alert_id": wanted, "comment": "mine"})
        assert isinstance(ack, ReplyFrame)
        await narrow.until_events(2)
        assert [f.event.alert_id for f in narrow.events()] == [wanted, wanted]
        assert kinds(narrow.events()) == ["alert_opened", "alert_acknowledged"]
        await everything.until_events(4)
        assert len(everything.events()) == 4
        for peer in (everything, narrow, operator):
            await peer.close()


async def test_a_state_filter_shows_alerts_entering_and_leaving_it() -> None:
    async with serving() as stack:
        everything = await watch(stack)
        active = await stack.connect()
        await active.request({"type": "subscribe", "id": "active", "states": ["active"]})
        stack.manager.tell(firing(host="a"))
        await everything.until_events(1)
        alert_id = everything.events()[0].event.alert_id
        operator = await stack.connect("operator")
        await operator.request({"type": "ack", "alert_id": alert_id})
        await operator.request({"type": "resolve", "alert_id": alert_id})
        stack.manager.tell(firing(host="b"))
        await everything.until_events(4)
        await active.until_events(3)
        # The resolution of an acknowledged alert concerns neither side of the filter.
        assert kinds(active.events()) == ["alert_opened", "alert_acknowledged", "alert_opened"]
        for peer in (everything, active, operator):
            await peer.close()


async def test_a_snapshot_holds_only_the_alerts_the_filter_selects() -> None:
    async with serving() as stack:
        watcher = await watch(stack)
        stack.manager.tell(firing(host="a", severity=Severity.CRITICAL))
        stack.manager.tell(firing(host="b", severity=Severity.INFO))
        await watcher.until_events(2)
        client = await stack.connect()
        frame = {"type": "subscribe", "id": "crit", "severities": ["critical"]}
        snapshot = await client.request(frame)
        assert isinstance(snapshot, SnapshotFrame)
        assert [a.labels["host"] for a in snapshot.alerts] == ["a"]
        for peer in (watcher, client):
            await peer.close()


async def resume_after_a_gap(stack: Stack) -> tuple[Client, int, list[int]]:
    """Subscribe, see two events, disconnect, miss two; return (watcher, last seen, missed)."""
    watcher = await watch(stack)
    client = await stack.connect()
    await client.request({"type": "subscribe", "id": "s"})
    stack.manager.tell(firing(host="a"))
    stack.manager.tell(firing(host="b"))
    await client.until_events(2)
    last_seen = client.seqs()[-1]
    await client.close()
    stack.manager.tell(firing(host="c"))
    stack.manager.tell(resolved(host="a"))
    await watcher.until_events(4)
    return watcher, last_seen, watcher.seqs()[2:]


async def test_a_resume_from_memory_replays_the_missed_events_without_gap_or_duplicate() -> None:
    async with serving() as stack:
        watcher, last_seen, missed = await resume_after_a_gap(stack)
        client = await stack.connect()
        reply = await client.request({"type": "subscribe", "id": "s", "resume_from": last_seen})
        assert isinstance(reply, ReplyFrame)
        assert reply.data == {"subscription": "s", "resumed_from": last_seen, "seq": missed[-1]}
        stack.manager.tell(firing(host="d"))
        await client.until_events(3)
        await watcher.until_events(5)
        assert client.seqs() == [*missed, watcher.seqs()[-1]]
        assert (await stack.registry_stats()).replays["memory"] == 1
        for peer in (watcher, client):
            await peer.close()


async def test_a_resume_from_history_switches_to_live_without_gap_or_duplicate() -> None:
    store = GatedQueryStore()
    async with serving(store=store, registry_config=RegistryConfig(replay_window=1)) as stack:
        watcher, last_seen, missed = await resume_after_a_gap(stack)
        client = await stack.connect()
        store.hold()
        await client.send({"type": "subscribe", "id": "s", "resume_from": last_seen})
        await store.until_waiting()
        # Committed while the history is being read: the registry holds them for the
        # subscription, and the history answer will contain them too.
        stack.manager.tell(firing(host="e"))
        stack.manager.tell(firing(host="f"))
        await watcher.until_events(6)
        store.release()
        reply = await client.answer("s")
        assert isinstance(reply, ReplyFrame)
        stack.manager.tell(firing(host="g"))
        await watcher.until_events(7)
        await client.until_events(5)
        assert client.seqs() == missed + watcher.seqs()[4:]
        stats = await stack.registry_stats()
        assert (stats.replays["history"], stats.replays["memory"]) == (1, 0)
        for peer in (watcher, client):
            await peer.close()


async def test_a_resume_too_far_behind_gets_a_snapshot_instead() -> None:
    config = RegistryConfig(replay_window=1, max_replay=1)
    async with serving(registry_config=config) as stack:
        watcher, last_seen, _missed = await resume_after_a_gap(stack)
        client = await stack.connect()
        answer = await client.request({"type": "subscribe", "id": "s", "resume_from": last_seen})
        assert isinstance(answer, SnapshotFrame)
        assert answer.seq == watcher.seqs()[-1]
        assert sorted(a.labels["host"] for a in answer.alerts) == ["b", "c"]
        for peer in (watcher, client):
            await peer.close()


async def test_a_resume_from_beyond_the_last_seq_is_invalid() -> None:
    async with serving() as stack:
        client = await stack.connect()
        error = await client.request({"type": "subscribe", "id": "s", "resume_from": 99})
        assert isinstance(error, ErrorFrame)
        assert (error.code, error.field) == ("invalid", "resume_from")
        await client.close()


async def test_unsubscribing_stops_the_events_of_that_subscription_only() -> None:
    async with serving() as stack:
        client = await stack.connect()
        await client.request({"type": "subscribe", "id": "one"})
        await client.request({"type": "subscribe", "id": "two"})
        reply = await client.request({"type": "unsubscribe", "subscription": "one"})
        assert isinstance(reply, ReplyFrame)
        missing = await client.request({"type": "unsubscribe", "subscription": "one"})
        assert isinstance(missing, ErrorFrame)
        assert (missing.code, missing.field) == ("not_found", "subscription")
        stack.manager.tell(firing(host="a"))
        await client.until_events(1, "two")
        assert [f.subscription for f in client.received if isinstance(f, EventFrame)] == ["two"]
        await client.close()


async def test_a_subscription_id_in_use_conflicts_and_the_count_is_limited() -> None:
    from tests.gateway.harness import gateway_config

    async with serving(config=gateway_config(max_subscriptions=2)) as stack:
        client = await stack.connect()
        await client.request({"type": "subscribe", "id": "one"})
        again = await client.request({"type": "subscribe", "id": "one"})
        assert isinstance(again, ErrorFrame)
        assert again.code == "conflict"
        await client.request({"type": "subscribe", "id": "two"})
        third = await client.request({"type": "subscribe", "id": "three"})
        assert isinstance(third, ErrorFrame)
        assert third.code == "invalid"
        assert "at most 2" in third.message
        await client.close()
