"""Operators list and replay dead letters of a running server, through real sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.notify import DeadLetterNotFound, Replayed, UnknownReceiver
from gateway.system import AlertSystem
from messages import ErrorFrame, MetricSample, ReplyFrame
from tests.gateway.harness import READ_TIMEOUT
from tests.notify.http_server import HttpServer, Respond
from tests.system.test_end_to_end import client, config, disk


def hooked(http_server: HttpServer) -> dict[str, Any]:
    """Return the sections of a system whose critical alerts go to webhook ``ops-hook``."""
    return {
        "receivers": {
            "websocket": {},
            "webhook": [{"name": "ops-hook", "url": http_server.url, "trust_env": False}],
        },
        "route": {
            "receiver": "websocket",
            "routes": [
                {"receiver": "ops-hook", "matchers": ['severity="critical"'], "group_wait": 0}
            ],
        },
    }


async def dead_letter_of_a_critical_alert(system: AlertSystem) -> str:
    """Raise a critical alert that the webhook refuses (a 410: permanent) and return the
    id of its notification once it is dead-lettered."""
    async with system.subscribe() as events, asyncio.timeout(READ_TIMEOUT):
        await system.ingest([MetricSample.model_validate(disk("db-1", "db", 99.0))])
        async for event in events:
            if event.kind.value == "notification_outcome":
                assert event.payload["outcome"] == "dead_lettered", event.payload
                notification_id = event.payload["notification_id"]
                assert isinstance(notification_id, str)
                return notification_id
    raise AssertionError("the events ended before the notification's outcome")


async def test_an_operator_lists_a_dead_letter_and_replays_it_with_the_same_key(
    http_server: HttpServer,
) -> None:
    http_server.script(Respond(410, body=b"gone"))
    async with (
        AlertSystem(config(**hooked(http_server))) as system,
        client(system, "operator") as operator,
    ):
        notification_id = await dead_letter_of_a_critical_alert(system)

        listed = await operator.request({"type": "list_dead_letters"})
        assert isinstance(listed, ReplyFrame), listed
        assert isinstance(listed.data, list)
        [letter] = listed.data
        assert isinstance(letter, dict)
        assert (letter["receiver"], letter["attempts"]) == ("ops-hook", 1)
        assert letter["error"] == "permanent failure: HTTP 410: gone"
        notification = letter["notification"]
        assert isinstance(notification, dict)
        assert notification["id"] == notification_id
        assert notification["labels"]["host"] == "db-1"  # type: ignore[index,call-overload]
        same = await operator.request({"type": "list_dead_letters", "receiver": "ops-hook"})
        assert isinstance(same, ReplyFrame)
        assert same.data == listed.data

        replay = {"type": "replay_dead_letters", "receiver": "ops-hook"}
        replayed = await operator.request(replay)
        assert isinstance(replayed, ReplyFrame), replayed
        assert replayed.data == {"receiver": "ops-hook", "notification_ids": [notification_id]}
        async with asyncio.timeout(READ_TIMEOUT):
            first, second = await http_server.wait_requests(2)
        assert first.idempotency_key == second.idempotency_key
        assert first.body == second.body

        emptied = await operator.request({"type": "list_dead_letters"})
        assert isinstance(emptied, ReplyFrame)
        assert emptied.data == []


async def test_an_unknown_receiver_or_dead_letter_is_not_found(http_server: HttpServer) -> None:
    async with (
        AlertSystem(config(**hooked(http_server))) as system,
        client(system, "operator") as operator,
    ):
        frames: list[tuple[dict[str, Any], str, str]] = [
            ({"type": "list_dead_letters", "receiver": "nobody"}, "receiver", "nobody"),
            ({"type": "replay_dead_letters", "receiver": "nobody"}, "receiver", "nobody"),
            (
                {"type": "replay_dead_letters", "receiver": "ops-hook", "notification_id": "x/y"},
                "notification_id",
                "x/y",
            ),
        ]
        for frame, field, named in frames:
            answer = await operator.request(frame)
            assert isinstance(answer, ErrorFrame), (frame, answer)
            assert (answer.code, answer.field) == ("not_found", field)
            assert named in answer.message
        nothing = await operator.request({"type": "replay_dead_letters", "receiver": "ops-hook"})
        assert isinstance(nothing, ReplyFrame)
        assert nothing.data == {"receiver": "ops-hook", "notification_ids": []}


@pytest.mark.parametrize("user", ["viewer", "ingest"])
async def test_only_operators_and_admins_may_list_or_replay_dead_letters(
    http_server: HttpServer, user: str
) -> None:
    http_server.script(Respond(410))
    async with (
        AlertSystem(config(**hooked(http_server))) as system,
        client(system, user) as someone,
    ):
        await dead_letter_of_a_critical_alert(system)
        for frame in (
            {"type": "list_dead_letters"},
            {"type": "replay_dead_letters", "receiver": "ops-hook"},
        ):
            answer = await someone.request(frame)
            assert isinstance(answer, ErrorFrame)
            assert answer.code == "forbidden"
        assert len(await system.dead_letters()) == 1
    assert len(http_server.requests) == 1


async def test_an_embedding_program_lists_and_replays_dead_letters(
    http_server: HttpServer,
) -> None:
    http_server.script(Respond(410))
    async with AlertSystem(config(**hooked(http_server), server={"enabled": False})) as system:
        notification_id = await dead_letter_of_a_critical_alert(system)
        [letter] = await system.dead_letters()
        assert (letter.receiver, letter.notification.id) == ("ops-hook", notification_id)
        assert await system.dead_letters("ops-hook") == (letter,)
        with pytest.raises(UnknownReceiver):
            await system.dead_letters("nobody")
        with pytest.raises(DeadLetterNotFound):
            await system.replay_dead_letters("ops-hook", "x/y")

        async with system.subscribe() as events, asyncio.timeout(READ_TIMEOUT):
            replayed = await system.replay_dead_letters("ops-hook", notification_id)
            assert replayed == Replayed("ops-hook", (notification_id,))
            async for event in events:
                if event.kind.value == "notification_outcome":
                    assert event.payload["notification_id"] == notification_id
                    assert event.payload["outcome"] == "delivered"
                    break
        assert await system.dead_letters() == ()
    assert len(http_server.requests) == 2
