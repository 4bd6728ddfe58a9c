"""Run-time receiver changes are stored before they are answered and come back at start.

Every test runs an AlertSystem on a real SQLite file in ``tmp_path``, leaves it and
starts a new AlertSystem on the same file, as ``tocsin serve`` does after a restart.
Webhooks are real loopback HTTP servers (tests/notify/http_server.py). A store that
refuses writes is SQLite told ``PRAGMA query_only`` on the store's own connection, as
the rule durability tests do.
"""

from __future__ import annotations

import asyncio
import hmac
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from actors.notify import (
    RECEIVERS_COLLECTION,
    Channel,
    ChannelContext,
    ReceiverConfig,
    ReceiverNotStarted,
    ReceiverNotStored,
    WebhookReceiverConfig,
    default_channel,
    sign,
)
from actors.store import SqliteStore
from gateway._tree_metrics import NOTIFIERS_PATH
from gateway.config import TocsinConfig
from gateway.system import AlertSystem
from messages import ErrorFrame, MetricSample, ReplyFrame
from tests.gateway.harness import READ_TIMEOUT
from tests.notify.builders import notification
from tests.notify.http_server import HttpServer, Respond
from tests.system.test_end_to_end import client, config, disk
from tests.system.test_rule_durability import query_only

SECRET = "signing-secret"


def hook(name: str, url: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "url": url, "trust_env": False, **fields}


def settings(tmp_path: Path, hooks: list[dict[str, Any]], **sections: Any) -> TocsinConfig:
    return config(
        store={"path": str(tmp_path / "tocsin.db")},
        receivers={"websocket": {}, "webhook": hooks},
        **{"server": {"enabled": False}, **sections},
    )


def to_ops() -> dict[str, Any]:
    """Every alert to the configured webhook ``ops``, at once."""
    return {"receiver": "ops", "group_wait": 0}


async def stored_receivers(system: AlertSystem) -> dict[str, Any]:
    snapshot = await system.store.load()
    return dict(snapshot.documents.get(RECEIVERS_COLLECTION, {}))


async def names(system: AlertSystem) -> list[str]:
    return [info.name for info in await system.list_receivers()]


async def test_a_replaced_config_receiver_delivers_its_outbox_to_the_stored_endpoint_only(
    tmp_path: Path, http_server: HttpServer
) -> None:
    old = await HttpServer().start()  # the configuration's endpoint: it answers 200
    try:
        ops = [hook("ops", old.url)]
        http_server.default = Respond(503)  # the new endpoint is down at first
        async with AlertSystem(settings(tmp_path, ops, route=to_ops())) as system:
            new = WebhookReceiverConfig.model_validate(
                hook("ops", http_server.url, hmac_secret=SECRET)
            )
            changed = await system.put_receiver(new)
            assert changed.change == "replaced"
            await system.ingest([MetricSample.model_validate(disk("db-1", "db", 99.0))])
            await http_server.wait_requests(1)  # tried, refused: it waits in the outbox

        # Restarted with the same configuration: the notifier of "ops" starts with the
        # stored receiver, so the waiting notification goes to the new endpoint, signed
        # with the stored secret, and the configured endpoint never sees it.
        http_server.default = Respond(200)
        seen = len(http_server.requests)
        with capture_logs() as logs:
            async with AlertSystem(settings(tmp_path, ops, route=to_ops())) as system:
                [info] = [info for info in await system.list_receivers() if info.name == "ops"]
                assert info.receiver == new
                await http_server.until(lambda: len(http_server.requests) > seen)
                delivered = http_server.requests[seen]
                assert delivered.json()["receiver"] == "ops"
                assert b"disk-full" in delivered.body
                expected = sign(SECRET.encode(), delivered.body)
                assert hmac.compare_digest(delivered.headers["x-tocsin-signature"], expected)
        assert old.requests == []
        overridden = [e for e in logs if e["event"].startswith("configured receivers overridden")]
        assert len(overridden) == 1
        assert (overridden[0]["replaced"], overridden[0]["deleted"]) == (["ops"], [])
    finally:
        await old.close()


async def test_a_receiver_put_by_frame_survives_and_a_deleted_config_one_stays_deleted(
    tmp_path: Path, http_server: HttpServer
) -> None:
    legacy = [hook("legacy", "http://127.0.0.1:9/")]
    added = hook("audit", http_server.url, headers={"Authorization": "Bearer hook-token"})
    first = settings(tmp_path, legacy, server={"port": 0})
    async with AlertSystem(first) as system, client(system, "admin") as admin:
        put = {"type": "put_receiver", "kind": "webhook", "receiver": added}
        reply = await admin.request(put | {"delivery": {"max_attempts": 3}})
        assert isinstance(reply, ReplyFrame), reply
        deleted = await admin.request({"type": "delete_receiver", "name": "legacy"})
        assert isinstance(deleted, ReplyFrame), deleted
        stored = await stored_receivers(system)
        assert stored["legacy"] == {"deleted": True}
        # Stored as given, secrets included (the lead's decision; docs/STORE.md).
        assert stored["audit"]["receiver"]["headers"] == {"Authorization": "Bearer hook-token"}

    async with AlertSystem(settings(tmp_path, legacy)) as system:
        assert await names(system) == ["websocket", "audit"]
        [audit] = [info for info in await system.list_receivers() if info.name == "audit"]
        assert audit.delivery.max_attempts == 3
        # Routes are configuration: hand the restored notifier a notification directly.
        system.system.lookup(NOTIFIERS_PATH).tell(notification(receiver="audit"))
        [request] = await http_server.wait_requests(1)
        assert request.headers["authorization"] == "Bearer hook-token"
        assert request.json()["receiver"] == "audit"

    # Deleting a receiver created at run time forgets it: no tombstone.
    async with AlertSystem(settings(tmp_path, legacy)) as system:
        await system.delete_receiver("audit")
        assert await stored_receivers(system) == {"legacy": {"deleted": True}}
    async with AlertSystem(settings(tmp_path, legacy)) as system:
        assert await names(system) == ["websocket"]


async def test_a_deleted_config_receiver_the_route_names_now_comes_back(tmp_path: Path) -> None:
    legacy = [hook("legacy", "http://127.0.0.1:9/")]
    async with AlertSystem(settings(tmp_path, legacy)) as system:
        await system.delete_receiver("legacy")
    route = {"receiver": "legacy"}
    with capture_logs() as logs:
        async with AlertSystem(settings(tmp_path, legacy, route=route)) as system:
            assert await names(system) == ["legacy", "websocket"]
    assert [e["receiver"] for e in logs if e["event"].startswith("a receiver deleted")] == [
        "legacy"
    ]


async def test_an_invalid_receiver_is_refused_and_not_stored(tmp_path: Path) -> None:
    first = settings(tmp_path, [], server={"port": 0})
    async with AlertSystem(first) as system, client(system, "admin") as admin:
        bad = {"type": "put_receiver", "kind": "webhook", "receiver": hook("x", "not a url")}
        answer = await admin.request(bad)
        assert isinstance(answer, ErrorFrame)
        assert (answer.code, answer.field) == ("invalid", "receiver.url")
        with pytest.raises(ValidationError):
            WebhookReceiverConfig.model_validate(hook("y", "http://127.0.0.1:9/", timeout=-1))
        assert await stored_receivers(system) == {}
    async with AlertSystem(settings(tmp_path, [])) as system:
        assert await names(system) == ["websocket"]


async def test_a_change_the_store_refuses_is_refused_and_applies_nothing(
    tmp_path: Path,
) -> None:
    legacy = [hook("legacy", "http://127.0.0.1:9/")]
    new = WebhookReceiverConfig.model_validate(hook("audit", "http://127.0.0.1:9/"))
    first = settings(tmp_path, legacy, server={"port": 0})
    async with AlertSystem(first) as system, client(system, "admin") as admin:
        assert isinstance(system.store, SqliteStore)
        await system.store._call(query_only(True))
        with pytest.raises(ReceiverNotStored):
            await system.put_receiver(new)
        with pytest.raises(ReceiverNotStored):
            await system.delete_receiver("legacy")
        frame = {"type": "put_receiver", "kind": "webhook", "receiver": hook("audit", str(new.url))}
        refused = await admin.request(frame)
        assert isinstance(refused, ErrorFrame)
        assert refused.code == "unavailable"
        refused = await admin.request({"type": "delete_receiver", "name": "legacy"})
        assert isinstance(refused, ErrorFrame)
        assert refused.code == "unavailable"
        assert await names(system) == ["legacy", "websocket"]
        assert await stored_receivers(system) == {}
        await system.store._call(query_only(False))
        await system.put_receiver(new)  # the store recovered: so does the change
        assert await names(system) == ["legacy", "websocket", "audit"]
    async with AlertSystem(settings(tmp_path, legacy)) as system:
        assert await names(system) == ["legacy", "websocket", "audit"]


async def test_the_store_file_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    async with asyncio.timeout(READ_TIMEOUT), AlertSystem(settings(tmp_path, [])) as system:
        assert isinstance(system.store, SqliteStore)
        assert system.store.path is not None
        assert stat.S_IMODE(system.store.path.stat().st_mode) == 0o600


def refusing_channel(receiver: ReceiverConfig, context: ChannelContext) -> Channel:
    """The default channels, except for a webhook with an ``X-Break`` header."""
    if isinstance(receiver, WebhookReceiverConfig) and "X-Break" in receiver.headers:
        raise ValueError("this channel refuses to be built")
    return default_channel(receiver, context)


async def test_a_put_whose_notifier_does_not_start_leaves_the_stored_state_as_it_was(
    tmp_path: Path,
) -> None:
    legacy = [hook("legacy", "http://127.0.0.1:9/")]
    good = WebhookReceiverConfig.model_validate(hook("audit", "http://127.0.0.1:9/"))
    broken = {"headers": {"X-Break": "1"}}
    first = settings(tmp_path, legacy)
    async with AlertSystem(first, channel_factory=refusing_channel) as system:
        await system.put_receiver(good)
        before = await stored_receivers(system)
        with pytest.raises(ReceiverNotStarted):
            await system.put_receiver(good.model_copy(update=broken))
        with pytest.raises(ReceiverNotStarted):
            await system.put_receiver(
                WebhookReceiverConfig.model_validate(
                    hook("legacy", "http://127.0.0.1:8/")
                ).model_copy(update=broken)
            )
        assert await stored_receivers(system) == before
        assert set(before) == {"audit"}
    async with AlertSystem(settings(tmp_path, legacy)) as system:
        [legacy_info, _, audit_info] = await system.list_receivers()
        assert str(legacy_info.receiver.url) == "http://127.0.0.1:9/"  # type: ignore[union-attr]
        assert audit_info.receiver == good
