"""RevertReceiver at the notifier supervisor: what the configuration alone cannot reach.

A route can only name a configured receiver in a TocsinConfig, so a receiver put at run
time that ``users`` name is set up here with the supervisor's own ``users``; the store
is SqliteStore on a temporary file, the webhooks real loopback HTTP servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from actors.notify import (
    RECEIVERS_COLLECTION,
    ListReceivers,
    NotifiersConfig,
    PutReceiver,
    ReceiverChanged,
    ReceiverInfo,
    ReceiverInUse,
    ReceiverRecord,
    RevertReceiver,
    WebhookReceiverConfig,
    notifier_supervisor_spec,
)
from actors.store import SqliteStore, StateWrite
from supervision import ActorRef, ActorSystem
from tests.notify.builders import notification
from tests.notify.http_server import HttpServer


@asynccontextmanager
async def supervisor(
    path: Path, notifiers: NotifiersConfig, users: dict[str, tuple[str, ...]]
) -> AsyncIterator[tuple[ActorRef, SqliteStore]]:
    store = SqliteStore(path)
    await store.open()
    record = ReceiverRecord(store, [receiver.name for receiver in notifiers.receivers()])
    try:
        async with ActorSystem(
            [notifier_supervisor_spec(notifiers, store, users=users, record=record)]
        ) as system:
            yield system.lookup("notifiers"), store
    finally:
        await store.close()


async def stored(store: SqliteStore) -> dict[str, Any]:
    return dict((await store.load()).documents.get(RECEIVERS_COLLECTION, {}))


async def names(notifiers: ActorRef) -> list[str]:
    infos: tuple[ReceiverInfo, ...] = await notifiers.ask(ListReceivers())
    return [info.name for info in infos]


def webhook(name: str, url: str) -> WebhookReceiverConfig:
    return WebhookReceiverConfig.model_validate({"name": name, "url": url, "trust_env": False})


async def test_a_receiver_put_at_run_time_that_a_route_names_is_not_reverted_away(
    tmp_path: Path,
) -> None:
    config = NotifiersConfig.model_validate({"websocket": {}})
    users: dict[str, tuple[str, ...]] = {"audit": ("the route",)}
    async with supervisor(tmp_path / "tocsin.db", config, users) as (notifiers, store):
        await notifiers.ask(PutReceiver(webhook("audit", "http://127.0.0.1:9/")))
        before = await stored(store)
        with pytest.raises(ReceiverInUse) as raised:
            await notifiers.ask(RevertReceiver("audit"))
        assert raised.value.users == ("the route",)
        assert await names(notifiers) == ["websocket", "audit"]
        assert await stored(store) == before
        assert set(before) == {"audit"}


async def test_a_stored_document_that_does_not_validate_can_be_reverted_away(
    tmp_path: Path, http_server: HttpServer
) -> None:
    path = tmp_path / "tocsin.db"
    store = SqliteStore(path)
    await store.open()
    bad: dict[str, Any] = {"kind": "pigeon", "receiver": {}, "delivery": None}
    await store.append(
        [],
        [
            StateWrite(RECEIVERS_COLLECTION, "ops", bad),
            StateWrite(RECEIVERS_COLLECTION, "ghost", bad),
        ],
    )
    await store.close()
    config = NotifiersConfig.model_validate(
        {"webhook": [{"name": "ops", "url": http_server.url, "trust_env": False}]}
    )
    async with supervisor(path, config, {}) as (notifiers, store):
        # Skipped at start: the configured "ops" runs, and keeps running through the revert.
        assert await names(notifiers) == ["ops"]
        changed = await notifiers.ask(RevertReceiver("ops"))
        assert changed == ReceiverChanged("ops", "webhook", "unchanged")
        changed = await notifiers.ask(RevertReceiver("ghost"))
        assert changed == ReceiverChanged("ghost", None, "unchanged")
        assert await stored(store) == {}
        notifiers.tell(notification(receiver="ops"))
        [request] = await http_server.wait_requests(1)
        assert request.json()["receiver"] == "ops"
