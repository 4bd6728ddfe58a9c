"""Reverting a receiver drops its stored run-time change: the configuration's version runs.

As in test_receiver_durability.py, every test runs an AlertSystem on a real SQLite file
in ``tmp_path`` and starts a new one on the same file for a restart; webhooks are real
loopback HTTP servers (tests/notify/http_server.py); a store that refuses writes is
SQLite told ``PRAGMA query_only`` on the store's own connection.
"""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest

from actors.notify import (
    NoStoredReceiverChange,
    ReceiverChanged,
    ReceiverNotStored,
    UnknownReceiver,
    WebhookReceiverConfig,
    sign,
)
from actors.store import SqliteStore
from gateway._tree_metrics import NOTIFIERS_PATH
from gateway.system import AlertSystem
from messages import ErrorFrame, MetricSample, ReplyFrame
from tests.notify.builders import notification
from tests.notify.http_server import HttpServer, Respond
from tests.system.test_end_to_end import client, disk
from tests.system.test_receiver_durability import (
    SECRET,
    hook,
    names,
    settings,
    stored_receivers,
    to_ops,
)
from tests.system.test_rule_durability import query_only


def tell(system: AlertSystem, receiver: str, host: str) -> None:
    """Hand the notifiers a notification for ``receiver`` directly (routes are config)."""
    system.system.lookup(NOTIFIERS_PATH).tell(notification(receiver=receiver, host=host))


async def test_reverting_a_replaced_config_receiver_delivers_the_waiting_and_next_to_the_config(
    tmp_path: Path, http_server: HttpServer
) -> None:
    configured = await HttpServer().start()  # the configuration's endpoint: it answers 200
    try:
        ops = [hook("ops", configured.url, hmac_secret=SECRET)]
        http_server.default = Respond(503)  # the stored endpoint is down
        async with AlertSystem(settings(tmp_path, ops, route=to_ops())) as system:
            await system.put_receiver(
                WebhookReceiverConfig.model_validate(hook("ops", http_server.url))
            )
        async with AlertSystem(settings(tmp_path, ops, route=to_ops())) as system:
            await system.ingest([MetricSample.model_validate(disk("db-1", "db", 99.0))])
            await http_server.wait_requests(1)  # tried, refused: it waits in the outbox
            assert configured.requests == []

            changed = await system.revert_receiver("ops")
            assert changed == ReceiverChanged("ops", "webhook", "replaced")
            # The waiting notification is handed over to the configured notifier, which
            # signs with the configured secret as the server read it at start.
            [waiting] = await configured.wait_requests(1)
            assert waiting.json()["receiver"] == "ops"
            assert b"disk-full" in waiting.body
            expected = sign(SECRET.encode(), waiting.body)
            assert hmac.compare_digest(waiting.headers["x-tocsin-signature"], expected)
            [info] = [info for info in await system.list_receivers() if info.name == "ops"]
            assert str(info.receiver.url) == configured.url  # type: ignore[union-attr]
            assert await stored_receivers(system) == {}

            tell(system, "ops", "next")
            await configured.wait_requests(2)
            assert configured.requests[1].json()["receiver"] == "ops"

        # Restarted: the store no longer overrides the configured receiver.
        async with AlertSystem(settings(tmp_path, ops, route=to_ops())) as system:
            [info] = [info for info in await system.list_receivers() if info.name == "ops"]
            assert str(info.receiver.url) == configured.url  # type: ignore[union-attr]
            tell(system, "ops", "after-restart")
            await configured.wait_requests(3)
    finally:
        await configured.close()


async def test_reverting_a_deleted_config_receiver_starts_it_again_and_after_a_restart(
    tmp_path: Path, http_server: HttpServer
) -> None:
    legacy = [hook("legacy", http_server.url, headers={"Authorization": "Bearer cfg"})]
    async with AlertSystem(settings(tmp_path, legacy)) as system:
        await system.delete_receiver("legacy")
    async with AlertSystem(settings(tmp_path, legacy)) as system:
        assert await names(system) == ["websocket"]
        changed = await system.revert_receiver("legacy")
        assert changed == ReceiverChanged("legacy", "webhook", "added")
        assert sorted(await names(system)) == ["legacy", "websocket"]
        assert await stored_receivers(system) == {}
        tell(system, "legacy", "a")
        [request] = await http_server.wait_requests(1)
        assert request.headers["authorization"] == "Bearer cfg"
    async with AlertSystem(settings(tmp_path, legacy)) as system:
        assert await names(system) == ["legacy", "websocket"]


async def test_reverting_a_receiver_put_at_run_time_deletes_it(tmp_path: Path) -> None:
    audit = WebhookReceiverConfig.model_validate(hook("audit", "http://127.0.0.1:9/"))
    async with AlertSystem(settings(tmp_path, [])) as system:
        await system.put_receiver(audit)
    async with AlertSystem(settings(tmp_path, [])) as system:
        assert await names(system) == ["websocket", "audit"]
        changed = await system.revert_receiver("audit")
        assert changed == ReceiverChanged("audit", "webhook", "removed")
        assert await names(system) == ["websocket"]
        assert await stored_receivers(system) == {}
    async with AlertSystem(settings(tmp_path, [])) as system:
        assert await names(system) == ["websocket"]


async def test_reverting_with_no_stored_change_is_unknown(tmp_path: Path) -> None:
    legacy = [hook("legacy", "http://127.0.0.1:9/")]
    async with AlertSystem(settings(tmp_path, legacy)) as system:
        for name in ("legacy", "websocket", "nobody"):
            with pytest.raises(NoStoredReceiverChange) as raised:
                await system.revert_receiver(name)
            assert isinstance(raised.value, UnknownReceiver)
            assert raised.value.receiver == name
        # Once reverted, there is nothing left to revert.
        await system.delete_receiver("legacy")
        await system.revert_receiver("legacy")
        with pytest.raises(NoStoredReceiverChange):
            await system.revert_receiver("legacy")
        assert await names(system) == ["websocket", "legacy"]


async def test_a_revert_the_store_refuses_changes_nothing(tmp_path: Path) -> None:
    hooks = [hook("ops", "http://127.0.0.1:9/"), hook("legacy", "http://127.0.0.1:9/")]
    replaced = WebhookReceiverConfig.model_validate(hook("ops", "http://127.0.0.1:8/"))
    audit = WebhookReceiverConfig.model_validate(hook("audit", "http://127.0.0.1:7/"))
    async with AlertSystem(settings(tmp_path, hooks)) as system:
        await system.put_receiver(replaced)
        await system.put_receiver(audit)
        await system.delete_receiver("legacy")
        before = await stored_receivers(system)
        running = await system.list_receivers()
        assert isinstance(system.store, SqliteStore)
        await system.store._call(query_only(True))
        for name in ("ops", "audit", "legacy"):
            with pytest.raises(ReceiverNotStored):
                await system.revert_receiver(name)
        assert await system.list_receivers() == running
        await system.store._call(query_only(False))
        assert await stored_receivers(system) == before
        # The store recovered: the revert applies, and the record still knew the changes.
        changed = await system.revert_receiver("ops")
        assert changed == ReceiverChanged("ops", "webhook", "replaced")
    async with AlertSystem(settings(tmp_path, hooks)) as system:
        infos = {info.name: info for info in await system.list_receivers()}
        assert sorted(infos) == ["audit", "ops", "websocket"]
        assert str(infos["ops"].receiver.url) == "http://127.0.0.1:9/"  # type: ignore[union-attr]


async def test_the_revert_receiver_frame_answers_changes_not_found_unavailable_and_forbidden(
    tmp_path: Path, http_server: HttpServer
) -> None:
    legacy = [hook("legacy", http_server.url, headers={"Authorization": "Bearer cfg"})]
    first = settings(tmp_path, legacy, server={"port": 0})
    async with (
        AlertSystem(first) as system,
        client(system, "admin") as admin,
        client(system, "operator") as operator,
    ):
        await system.delete_receiver("legacy")
        forbidden = await operator.request({"type": "revert_receiver", "name": "legacy"})
        assert isinstance(forbidden, ErrorFrame)
        assert forbidden.code == "forbidden"

        assert isinstance(system.store, SqliteStore)
        await system.store._call(query_only(True))
        refused = await admin.request({"type": "revert_receiver", "name": "legacy"})
        assert isinstance(refused, ErrorFrame)
        assert refused.code == "unavailable"
        await system.store._call(query_only(False))
        assert await names(system) == ["websocket"]

        reverted = await admin.request({"type": "revert_receiver", "name": "legacy"})
        assert isinstance(reverted, ReplyFrame), reverted
        assert reverted.data == {"receiver": "legacy", "kind": "webhook", "change": "added"}
        listed = await admin.request({"type": "list_receivers"})
        assert isinstance(listed, ReplyFrame)
        assert isinstance(listed.data, list)
        by_name = {entry["name"]: entry for entry in listed.data if isinstance(entry, dict)}
        config = by_name["legacy"]["config"]
        assert isinstance(config, dict)
        assert config["headers"] == {"Authorization": "**********"}
        assert "Bearer cfg" not in str(listed.data)

        missing = await admin.request({"type": "revert_receiver", "name": "legacy"})
        assert isinstance(missing, ErrorFrame)
        assert (missing.code, missing.field) == ("not_found", "name")
        assert "no stored run-time change" in missing.message
    async with AlertSystem(settings(tmp_path, legacy)) as system:
        assert await names(system) == ["legacy", "websocket"]
