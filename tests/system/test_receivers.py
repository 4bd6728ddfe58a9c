"""Receivers changed at run time by an admin, through real sockets and real servers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.notify import (
    DeleteReceiver,
    ListReceivers,
    NotifiersConfig,
    NotifierSupervisor,
    PutReceiver,
    ReceiverChanged,
    ReceiverInUse,
    UnknownReceiver,
    WebhookReceiverConfig,
)
from actors.store import MemoryStore
from gateway.system import AlertSystem
from messages import ErrorFrame, MetricSample, Notification, ReplyFrame
from supervision import Actor, ActorRef, ActorSystem, ChildSpec, FakeClock, Strategy, Supervisor
from tests.gateway.harness import READ_TIMEOUT
from tests.notify.builders import notification
from tests.notify.http_server import HttpServer, closed_port
from tests.notify.smtp_server import SmtpServer
from tests.system.test_end_to_end import client, config, disk


def email(port: int, **fields: Any) -> dict[str, Any]:
    return {
        "name": "ops-mail",
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "from": "tocsin@example.com",
        "to": ["oncall@example.com"],
        **fields,
    }


ROUTE = {
    "receiver": "websocket",
    "routes": [{"receiver": "ops-mail", "matchers": ['severity="critical"'], "group_wait": 0}],
}


async def test_an_admin_fixes_a_broken_email_receiver_and_the_waiting_alert_is_mailed(
    smtp_server: SmtpServer,
) -> None:
    receivers = {"websocket": {}, "email": [email(closed_port())]}
    async with (
        AlertSystem(config(receivers=receivers, route=ROUTE)) as system,
        client(system, "admin") as admin,
    ):
        await system.ingest([MetricSample.model_validate(disk("db-1", "db", 99.0))])
        fixed = {
            "type": "put_receiver",
            "kind": "email",
            "receiver": email(smtp_server.port, subject_prefix="[fixed]"),
        }
        reply = await admin.request(fixed)
        assert isinstance(reply, ReplyFrame), reply
        assert reply.data == {"receiver": "ops-mail", "kind": "email", "change": "replaced"}

        # The new notifier takes over the outbox: the alert that could not be mailed is.
        async with asyncio.timeout(READ_TIMEOUT):
            [mail] = await smtp_server.handler.wait_for_messages(1)
        assert mail.recipients == ["oncall@example.com"]
        assert str(mail.message["Subject"]).startswith("[fixed]")
        assert "disk-full" in str(mail.message["Subject"])


async def test_an_admin_adds_lists_and_deletes_a_receiver_with_secrets_masked(
    http_server: HttpServer,
) -> None:
    async with AlertSystem(config()) as system, client(system, "admin") as admin:
        hook = {
            "name": "audit",
            "url": f"{http_server.url}?key=sekrit",
            "hmac_secret": "signing-secret",
            "headers": {"Authorization": "Bearer hook-token"},
            "trust_env": False,
        }
        put = {"type": "put_receiver", "kind": "webhook", "receiver": hook, "delivery": {"rate": 5}}
        reply = await admin.request(put)
        assert isinstance(reply, ReplyFrame), reply
        assert reply.data == {"receiver": "audit", "kind": "webhook", "change": "added"}

        listed = await admin.request({"type": "list_receivers"})
        assert isinstance(listed, ReplyFrame)
        assert isinstance(listed.data, list)
        by_name = {entry["name"]: entry for entry in listed.data if isinstance(entry, dict)}
        assert set(by_name) == {"websocket", "audit"}
        audit = by_name["audit"]
        assert audit["kind"] == "webhook"
        assert audit["used_by"] == []
        assert by_name["websocket"]["used_by"] == ["the route"]
        text = str(listed.data)
        for secret in ("sekrit", "signing-secret", "hook-token"):
            assert secret not in text
        assert isinstance(audit["delivery"], dict)
        assert audit["delivery"]["rate"] == 5

        [info] = [info for info in await system.list_receivers() if info.name == "audit"]
        assert isinstance(info.receiver, WebhookReceiverConfig)
        assert info.delivery.rate == 5

        deleted = await admin.request({"type": "delete_receiver", "name": "audit"})
        assert isinstance(deleted, ReplyFrame)
        assert deleted.data == {"receiver": "audit", "kind": "webhook", "change": "removed"}
        again = await admin.request({"type": "delete_receiver", "name": "audit"})
        assert isinstance(again, ErrorFrame)
        assert (again.code, again.field) == ("not_found", "name")
        assert "no receiver named 'audit'" in again.message
        assert [info.name for info in await system.list_receivers()] == ["websocket"]


async def test_a_receiver_the_route_names_cannot_be_deleted() -> None:
    async with AlertSystem(config()) as system, client(system, "admin") as admin:
        refused = await admin.request({"type": "delete_receiver", "name": "websocket"})
        assert isinstance(refused, ErrorFrame)
        assert (refused.code, refused.field) == ("conflict", "name")
        assert "the route" in refused.message
        with pytest.raises(ReceiverInUse):
            await system.delete_receiver("websocket")
        with pytest.raises(UnknownReceiver):
            await system.delete_receiver("nobody")
        assert [info.name for info in await system.list_receivers()] == ["websocket"]
        # Still delivering: an alert reaches a subscriber through the WebSocket receiver.
        async with system.subscribe() as events, asyncio.timeout(READ_TIMEOUT):
            await system.ingest([MetricSample.model_validate(disk("db-1", "db", 99.0))])
            await anext(events)


@pytest.mark.parametrize("user", ["viewer", "operator", "ingest"])
async def test_only_admins_may_change_or_list_receivers(user: str) -> None:
    async with AlertSystem(config()) as system, client(system, user) as someone:
        frames: list[dict[str, Any]] = [
            {"type": "put_receiver", "kind": "websocket", "receiver": {"name": "sneaky"}},
            {"type": "delete_receiver", "name": "websocket"},
            {"type": "list_receivers"},
        ]
        for frame in frames:
            answer = await someone.request(frame)
            assert isinstance(answer, ErrorFrame)
            assert answer.code == "forbidden"
            assert "admin" in answer.message
        assert [info.name for info in await system.list_receivers()] == ["websocket"]


@pytest.mark.parametrize(
    ("frame", "field", "words"),
    [
        (
            {"kind": "webhook", "receiver": {"name": "x", "url": "not a url"}},
            "receiver.url",
            "URL",
        ),
        ({"kind": "webhook", "receiver": {"url": "http://127.0.0.1:9"}}, "receiver.name", ""),
        (
            {"kind": "email", "receiver": email(25, username="u", password_env="HOME")},
            "receiver.password_env",
            "environment",
        ),
        (
            {"kind": "webhook", "receiver": {"name": "x", "hmac_secret_env": "HOME"}},
            "receiver.hmac_secret_env",
            "environment",
        ),
        ({"kind": "slack", "receiver": {"name": "x", "url_env": "HOME"}}, "receiver.url_env", ""),
        (
            {"kind": "webhook", "receiver": {"name": "x", "url": "http://127.0.0.1:9"}}
            | {"delivery": {"rate": -1}},
            "delivery.rate",
            "greater than 0",
        ),
        ({"kind": "pager", "receiver": {"name": "x"}}, "kind", ""),
        ({"kind": "websocket", "receiver": {"name": "a/b"}}, "receiver.name", "pattern"),
        ({"kind": "email", "receiver": email(25, name="a/b")}, "receiver.name", "'/'"),
    ],
)
async def test_a_bad_receiver_is_refused_naming_the_field_and_nothing_changes(
    frame: dict[str, Any], field: str, words: str
) -> None:
    async with AlertSystem(config()) as system, client(system, "admin") as admin:
        answer = await admin.request({"type": "put_receiver", **frame})
        assert isinstance(answer, ErrorFrame), answer
        assert (answer.code, answer.field) == ("invalid", field)
        assert words in answer.message
        assert [info.name for info in await system.list_receivers()] == ["websocket"]
        assert (await admin.request({"type": "ping"})).type == "pong"  # the connection lives


async def test_the_embedded_api_replaces_a_receiver_and_routes_reach_the_new_one(
    http_server: HttpServer,
) -> None:
    receivers = {
        "websocket": {},
        "webhook": [{"name": "ops-hook", "url": "http://127.0.0.1:9/", "trust_env": False}],
    }
    route = {
        "receiver": "websocket",
        "routes": [{"receiver": "ops-hook", "matchers": ['severity="critical"'], "group_wait": 0}],
    }
    async with AlertSystem(
        config(receivers=receivers, route=route, server={"enabled": False})
    ) as system:
        moved = WebhookReceiverConfig.model_validate(
            {"name": "ops-hook", "url": http_server.url, "trust_env": False}
            | {"headers": {"X-Moved": "yes"}}
        )
        changed = await system.put_receiver(moved)
        assert changed == ReceiverChanged("ops-hook", "webhook", "replaced")
        await system.ingest([MetricSample.model_validate(disk("db-1", "db", 99.0))])
        async with asyncio.timeout(READ_TIMEOUT):
            [request] = await http_server.wait_requests(1)
        assert request.headers["x-moved"] == "yes"


async def test_notifications_queued_for_a_receiver_being_replaced_reach_it_after_all(
    http_server: HttpServer,
) -> None:
    receivers = {
        "websocket": {},
        "webhook": [{"name": "ops-hook", "url": "http://127.0.0.1:9/", "trust_env": False}],
    }
    async with AlertSystem(config(receivers=receivers, server={"enabled": False})) as system:
        notifiers = system.system.lookup("/alerting/notifiers")
        keys = {f"k{n}" for n in range(5)}
        # Routed to the old notifier's mailbox, and the replacement right behind them.
        for key in sorted(keys):
            notifiers.tell(notification(receiver="ops-hook", key=key, host=key))
        moved = WebhookReceiverConfig.model_validate(
            {"name": "ops-hook", "url": http_server.url, "trust_env": False}
        )
        await system.put_receiver(moved)
        await http_server.until(lambda: {r.idempotency_key for r in http_server.requests} >= keys)
        letters = system.system.dead_letters.recent()
        assert not [d for d in letters if isinstance(d.message, Notification)]


class Crasher(Actor):
    """Crash on any message: its one_for_all supervisor then restarts its siblings too."""

    async def on_receive(self, message: Any) -> Any:
        raise RuntimeError("crash on purpose")


async def test_receivers_changed_at_run_time_survive_a_restart_of_the_notifier_supervisor() -> None:
    store = MemoryStore()
    await store.open()
    notifiers = NotifiersConfig.model_validate(
        {"websocket": {}, "webhook": [{"name": "old", "url": "http://127.0.0.1:9/"}]}
    )
    children = [
        ChildSpec("notifiers", lambda: NotifierSupervisor(notifiers, store)),
        ChildSpec("crasher", Crasher),
    ]
    tree = [ChildSpec("alerting", lambda: Supervisor(children, strategy=Strategy.ONE_FOR_ALL))]
    async with ActorSystem(tree, clock=FakeClock()) as system:
        ref = system.lookup("/alerting/notifiers")
        added = WebhookReceiverConfig.model_validate({"name": "new", "url": "http://127.0.0.1:9/"})
        await ref.ask(PutReceiver(added))
        await ref.ask(DeleteReceiver("old"))

        system.lookup("/alerting/crasher").tell("crash")
        await until_restarted(ref)

        listed = await ref.ask(ListReceivers())
        assert [info.name for info in listed] == ["websocket", "new"]
        assert [child.name for child in await system.which_children(ref)] == [
            "notifier:websocket",
            "notifier:webhook:new",
        ]
    await store.close()


async def until_restarted(ref: ActorRef) -> None:
    """Ask until the restarted supervisor answers (asks queue while it restarts)."""
    async with asyncio.timeout(READ_TIMEOUT):
        while ref.restarts() == 0:
            await ref.ask(ListReceivers())
