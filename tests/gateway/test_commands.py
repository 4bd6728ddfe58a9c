"""Operator and admin commands through real sockets, answered by the real actors."""

from __future__ import annotations

from typing import Any

from gateway import Gateway, GatewayTargets
from messages import ErrorFrame, PongFrame, ReplyFrame
from supervision import Actor
from tests.alerting.builders import T0, firing
from tests.gateway.harness import Client, Stack, gateway_config, serving


async def open_alert(stack: Stack, host: str) -> str:
    """Fire an alert and return its id, once a subscriber has seen it."""
    watcher = await stack.connect()
    await watcher.request({"type": "subscribe", "id": "w"})
    stack.manager.tell(firing(host=host))
    await watcher.until_events(1)
    alert_id = watcher.events()[0].event.alert_id
    await watcher.close()
    assert alert_id is not None
    return alert_id


async def test_an_acknowledgement_is_made_in_the_authenticated_users_name() -> None:
    async with serving() as stack:
        alert_id = await open_alert(stack, "a")
        operator = await stack.connect("operator")
        reply = await operator.request({"type": "ack", "alert_id": alert_id, "comment": "on it"})
        assert isinstance(reply, ReplyFrame)
        assert isinstance(reply.data, dict)
        assert (reply.data["state"], reply.data["acknowledged_by"]) == ("acknowledged", "operator")
        spoof = await operator.request({"type": "ack", "alert_id": alert_id, "by": "someone"})
        assert isinstance(spoof, ErrorFrame)
        assert (spoof.code, spoof.field) == ("invalid", "by")
        await operator.close()


async def test_commands_the_alert_manager_refuses_come_back_as_typed_errors() -> None:
    async with serving() as stack:
        alert_id = await open_alert(stack, "a")
        operator = await stack.connect("operator")
        resolved = await operator.request({"type": "resolve", "alert_id": alert_id})
        assert isinstance(resolved, ReplyFrame)
        again = await operator.request({"type": "ack", "alert_id": alert_id})
        assert isinstance(again, ErrorFrame)
        assert again.code == "illegal_transition"
        missing = await operator.request({"type": "resolve", "alert_id": "alert-404"})
        assert isinstance(missing, ErrorFrame)
        assert missing.code == "not_found"
        await operator.close()


async def test_a_silence_is_created_listed_and_expired_and_queries_list_alerts() -> None:
    async with serving() as stack:
        await open_alert(stack, "a")
        operator = await stack.connect("operator")
        frame: dict[str, Any] = {
            "type": "silence",
            "matchers": 'alertname="cpu"',
            "starts_at": T0,
            "ends_at": T0 + 10 * 365 * 86400,
            "comment": "maintenance",
        }
        created = await operator.request(frame)
        assert isinstance(created, ReplyFrame)
        assert isinstance(created.data, dict)
        assert created.data["created_by"] == "operator"
        silence_id = created.data["silence_id"]
        viewer = await stack.connect("viewer")
        silences = await viewer.request({"type": "list_silences"})
        assert isinstance(silences, ReplyFrame)
        assert isinstance(silences.data, list)
        assert [s["silence_id"] for s in silences.data] == [silence_id]  # type: ignore[index,call-overload]
        listed = await operator.request({"type": "query", "states": ["suppressed"]})
        assert isinstance(listed, ReplyFrame)
        assert isinstance(listed.data, list)
        assert [a["labels"]["host"] for a in listed.data] == ["a"]  # type: ignore[index,call-overload]
        expire = {"type": "expire_silence", "silence_id": silence_id, "comment": "done"}
        expired = await operator.request(expire)
        assert isinstance(expired, ReplyFrame)
        assert isinstance(expired.data, dict)
        assert [expired.data[k] for k in ("status", "expired_by", "expire_comment")] == [
            "expired",
            "operator",
            "done",
        ]
        assert (await viewer.request({"type": "list_silences"})).data == []
        ended = await viewer.request({"type": "list_silences", "include_expired": True})
        assert isinstance(ended.data, list)
        assert [(s["silence_id"], s["status"]) for s in ended.data] == [(silence_id, "expired")]
        await viewer.close()
        await operator.close()


async def test_admins_put_list_and_delete_rules() -> None:
    async with serving(rules=True) as stack:
        admin = await stack.connect("admin")
        rule = {"type": "threshold", "id": "up", "selector": "up", "op": "<", "threshold": 1}
        assert isinstance(await admin.request({"type": "put_rule", "rule": rule}), ReplyFrame)
        listed = await admin.request({"type": "list_rules"})
        assert isinstance(listed, ReplyFrame)
        assert isinstance(listed.data, list)
        assert [r["id"] for r in listed.data] == ["up"]  # type: ignore[index,call-overload]
        deleted = await admin.request({"type": "delete_rule", "rule_id": "up"})
        assert isinstance(deleted, ReplyFrame)
        assert isinstance(deleted.data, dict)
        assert deleted.data["removed"] == ["up"]
        missing = await admin.request({"type": "delete_rule", "rule_id": "up"})
        assert isinstance(missing, ErrorFrame)
        assert (missing.code, missing.field) == ("not_found", "rule_id")
        bad = {**rule, "annotations": {"summary": "{{ unclosed"}}
        invalid = await admin.request({"type": "put_rule", "rule": bad})
        assert isinstance(invalid, ErrorFrame)
        # The field is named as the client sent it: inside the frame's "rule".
        assert (invalid.code, invalid.field) == ("invalid", "rule.annotations.summary")
        still = await admin.request({"type": "list_rules"})
        assert isinstance(still, ReplyFrame)
        assert still.data == []
        await admin.close()


async def test_rule_frames_are_unavailable_when_the_server_manages_no_rules() -> None:
    async with serving() as stack:
        admin = await stack.connect("admin")
        error = await admin.request({"type": "list_rules"})
        assert isinstance(error, ErrorFrame)
        assert error.code == "unavailable"
        await admin.close()


class Mute(Actor):
    """An alert manager that never answers."""

    async def on_receive(self, message: Any) -> Any:
        self.defer_reply()
        return None


async def test_an_alert_manager_that_does_not_answer_in_time_gives_unavailable() -> None:
    async with serving() as stack:
        mute = await stack.system.spawn(Mute, "mute")
        targets = GatewayTargets(router=stack.router, alert_manager=mute, registry=stack.registry)
        config = gateway_config(ask_timeout=0.05)
        async with Gateway(config, targets) as gateway:
            ws_stack = Stack(
                stack.system, gateway, mute, stack.registry, stack.router, None, stack.store
            )
            operator: Client = await ws_stack.connect("operator")
            error = await operator.request({"type": "ack", "alert_id": "alert-1"})
            assert isinstance(error, ErrorFrame)
            assert error.code == "unavailable"
            assert "did not answer" in error.message
            assert isinstance(await operator.request({"type": "ping"}), PongFrame)
            await operator.close()
