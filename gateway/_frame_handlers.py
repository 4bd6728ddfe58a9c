"""FrameHandlers: what the gateway does with each client frame, by type.

Each handler takes one valid, authorized frame, asks or tells the actor it is for (the
alert manager, the rule set, the notifiers, the connection registry, the metric router)
and turns its answer, or its failure, into the ``reply`` or ``error`` frame for the
client. ``Session`` reads, rate-limits, validates and authorizes the frames and looks
each one's handler up in ``FrameHandlers.table``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, JsonValue

from actors import RuleApplyFailed, RuleNotFound, RuleNotStored
from actors.notify import (
    DeadLetterInfo,
    DeadLetterNotFound,
    DeleteReceiver,
    ListDeadLetters,
    ListReceivers,
    ReceiverInfo,
    ReceiverInUse,
    ReceiverNotStarted,
    ReceiverNotStored,
    ReplayDeadLetter,
    Replayed,
    RevertReceiver,
    UnknownReceiver,
)
from gateway._config import GatewayConfig
from gateway._connection import Connection
from gateway._metrics import GatewayMetrics
from gateway._receivers import ReceiverRefused, put_receiver_request
from gateway._registry_requests import AddSubscription, RemoveSubscription
from gateway._targets import GatewayTargets
from messages import (
    AckFrame,
    AlertList,
    DeleteReceiverFrame,
    DeleteRuleFrame,
    ErrorCode,
    ErrorFrame,
    ErrorReply,
    ExpireSilenceFrame,
    IngestFrame,
    IngestRows,
    ListDeadLettersFrame,
    ListReceiversFrame,
    ListRulesFrame,
    ListSilencesFrame,
    PingFrame,
    PongFrame,
    PutReceiverFrame,
    PutRuleFrame,
    QueryFrame,
    ReplayDeadLettersFrame,
    ReplyFrame,
    ResolveFrame,
    RevertReceiverFrame,
    RevertRuleFrame,
    RuleInvalid,
    SampleBatch,
    SampleRows,
    SilenceFrame,
    SilenceList,
    SubscribeFrame,
    UnsubscribeFrame,
)
from supervision import ActorDead, ActorRef, AskTimeout, MailboxFull

__all__ = ["Answer", "FrameHandlers", "error_frame"]

Answer = ReplyFrame | ErrorFrame | PongFrame | None
"""A handler's answer to its frame; None: none now (the registry answers ``subscribe``)."""


def error_frame(
    frame_id: str | None, code: ErrorCode, message: str, field: str | None = None
) -> ErrorFrame:
    """Return the ``error`` frame answering the frame ``frame_id`` with ``code``."""
    return ErrorFrame(id=frame_id, code=code, message=message, field=field)


def _json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, tuple | list):
        return [_json(item) for item in value]
    return value


class FrameHandlers:
    """Answer one connection's frames, each by the handler ``table`` maps its type to.

    Every handler returns its frame's one answer (``reply``, ``error`` or ``pong``),
    except ``subscribe``'s, which returns None: the registry answers it (``snapshot``,
    ``reply`` or ``error``) so that the answer comes in order with the events. Handlers
    do not check roles or the rate limit (the session did); what one raises, the session
    logs and answers with an ``internal`` error.
    """

    def __init__(
        self,
        connection: Connection,
        targets: GatewayTargets,
        config: GatewayConfig,
        metrics: GatewayMetrics,
    ) -> None:
        self._connection = connection
        self._identity = connection.identity
        self._targets = targets
        self._config = config
        self._metrics = metrics
        self.table: dict[type, Callable[[Any], Awaitable[Answer]]] = {
            PingFrame: self._ping,
            SubscribeFrame: self._subscribe,
            UnsubscribeFrame: self._unsubscribe,
            QueryFrame: self._query,
            ListSilencesFrame: self._query,
            AckFrame: self._command,
            ResolveFrame: self._command,
            SilenceFrame: self._command,
            ExpireSilenceFrame: self._command,
            PutRuleFrame: self._rules,
            DeleteRuleFrame: self._rules,
            RevertRuleFrame: self._rules,
            ListRulesFrame: self._rules,
            PutReceiverFrame: self._receivers,
            DeleteReceiverFrame: self._receivers,
            RevertReceiverFrame: self._receivers,
            ListReceiversFrame: self._receivers,
            ListDeadLettersFrame: self._dead_letters,
            ReplayDeadLettersFrame: self._dead_letters,
            IngestFrame: self._ingest,
            IngestRows: self._ingest,
        }

    # -- handlers ------------------------------------------------------------------------

    async def _ping(self, frame: PingFrame) -> Answer:
        return PongFrame(id=frame.id)

    async def _subscribe(self, frame: SubscribeFrame) -> Answer:
        registry = self._targets.registry
        if not registry.is_alive():
            return error_frame(frame.id, "unavailable", "the connection registry is not running")
        limit = self._config.max_subscriptions
        registry.tell(AddSubscription(self._connection.connection_id, frame, limit))
        return None

    async def _unsubscribe(self, frame: UnsubscribeFrame) -> Answer:
        request = RemoveSubscription(self._connection.connection_id, frame.subscription)
        removed = await self._ask(self._targets.registry, request, "the connection registry")
        if isinstance(removed, ErrorReply):
            return ErrorFrame.from_reply(frame.id, removed)
        if not removed:
            message = f"no subscription {frame.subscription!r} on this connection"
            return error_frame(frame.id, "not_found", message, "subscription")
        return ReplyFrame(id=frame.id, data={"subscription": frame.subscription})

    async def _query(self, frame: QueryFrame | ListSilencesFrame) -> Answer:
        answer = await self._ask(
            self._targets.alert_manager, frame.to_command(), "the alert manager"
        )
        if isinstance(answer, AlertList):
            return ReplyFrame(id=frame.id, data=_json(answer.alerts))
        if isinstance(answer, SilenceList):
            return ReplyFrame(id=frame.id, data=_json(answer.silences))
        return self._answer(frame.id, answer)

    async def _command(
        self, frame: AckFrame | ResolveFrame | SilenceFrame | ExpireSilenceFrame
    ) -> Answer:
        command = frame.to_command(by=self._identity.user)
        answer = await self._ask(self._targets.alert_manager, command, "the alert manager")
        return self._answer(frame.id, answer)

    async def _rules(
        self, frame: PutRuleFrame | DeleteRuleFrame | RevertRuleFrame | ListRulesFrame
    ) -> Answer:
        rules = self._targets.rules
        if rules is None:
            return error_frame(frame.id, "unavailable", "this server does not manage rules")
        try:
            answer = await self._ask(rules, frame.to_command(), "the rule set")
        except RuleInvalid as error:
            # The rule set names fields within the rule; the client sent them under "rule".
            field = error.field
            if isinstance(frame, PutRuleFrame):
                field = f"rule.{field}" if field else "rule"
            return error_frame(frame.id, "invalid", str(error), field)
        except RuleNotFound as error:
            return error_frame(frame.id, "not_found", str(error), "rule_id")
        except RuleNotStored as error:
            return error_frame(frame.id, "unavailable", str(error))
        except RuleApplyFailed as error:
            return error_frame(frame.id, "internal", f"the rule change was not completed: {error}")
        return self._answer(frame.id, answer)

    async def _receivers(
        self,
        frame: PutReceiverFrame | DeleteReceiverFrame | RevertReceiverFrame | ListReceiversFrame,
    ) -> Answer:
        receivers = self._targets.receivers
        if receivers is None:
            return error_frame(frame.id, "unavailable", "this server does not manage receivers")
        try:
            if isinstance(frame, PutReceiverFrame):
                request: object = put_receiver_request(frame)
            elif isinstance(frame, DeleteReceiverFrame):
                request = DeleteReceiver(frame.name)
            elif isinstance(frame, RevertReceiverFrame):
                request = RevertReceiver(frame.name)
            else:
                request = ListReceivers()
            answer = await self._ask(receivers, request, "the notifiers")
        except ReceiverRefused as refused:
            return ErrorFrame.from_reply(frame.id, refused.reply)
        except UnknownReceiver as error:
            return error_frame(frame.id, "not_found", str(error), "name")
        except ReceiverInUse as error:
            return error_frame(frame.id, "conflict", str(error), "name")
        except ReceiverNotStarted as error:
            return error_frame(frame.id, "invalid", str(error), "receiver")
        except ReceiverNotStored as error:
            return error_frame(frame.id, "unavailable", str(error))
        if isinstance(answer, ErrorReply):
            return ErrorFrame.from_reply(frame.id, answer)
        if isinstance(answer, tuple):
            infos = [info.summary() for info in answer if isinstance(info, ReceiverInfo)]
            return ReplyFrame(id=frame.id, data=_json(infos))
        data = {"receiver": answer.name, "kind": answer.kind, "change": answer.change}
        return ReplyFrame(id=frame.id, data=data)

    async def _dead_letters(self, frame: ListDeadLettersFrame | ReplayDeadLettersFrame) -> Answer:
        receivers = self._targets.receivers
        if receivers is None:
            return error_frame(frame.id, "unavailable", "this server does not manage receivers")
        request: ListDeadLetters | ReplayDeadLetter
        if isinstance(frame, ListDeadLettersFrame):
            request = ListDeadLetters(frame.receiver)
        else:
            request = ReplayDeadLetter(frame.receiver, frame.notification_id)
        try:
            answer = await self._ask(receivers, request, "the notifiers")
        except UnknownReceiver as error:
            return error_frame(frame.id, "not_found", str(error), "receiver")
        except DeadLetterNotFound as error:
            return error_frame(frame.id, "not_found", str(error), "notification_id")
        if isinstance(answer, ErrorReply):
            return ErrorFrame.from_reply(frame.id, answer)
        if isinstance(answer, Replayed):
            ids: list[JsonValue] = list(answer.notification_ids)
            return ReplyFrame(
                id=frame.id, data={"receiver": answer.receiver, "notification_ids": ids}
            )
        letters: list[JsonValue] = [
            {
                "receiver": letter.receiver,
                "notification": letter.notification.model_dump(mode="json"),
                "attempts": letter.attempts,
                "error": letter.error,
                "dead_at": letter.dead_at,
            }
            for letter in answer
            if isinstance(letter, DeadLetterInfo)
        ]
        return ReplyFrame(id=frame.id, data=letters)

    async def _ingest(self, frame: IngestFrame | IngestRows) -> Answer:
        batch = (
            frame.samples if isinstance(frame, IngestRows) else SampleBatch(samples=frame.samples)
        )
        router = self._targets.router
        capacity = router.mailbox_capacity()
        if capacity is not None and router.mailbox_size() >= capacity:
            self._metrics.ingest_waits.inc()
        try:
            await router.send(batch, timeout=self._config.ingest_timeout)
        except MailboxFull:
            waited = self._config.ingest_timeout
            return error_frame(frame.id, "unavailable", f"the router stayed full for {waited:g}s")
        except ActorDead:
            return error_frame(frame.id, "unavailable", "the metric router is not running")
        count = len(batch.rows) if isinstance(batch, SampleRows) else len(batch.samples)
        self._metrics.websocket_samples += count
        return ReplyFrame(id=frame.id, data={"accepted": count})

    # -- helpers -------------------------------------------------------------------------

    async def _ask(self, target: ActorRef, message: object, name: str) -> Any:
        timeout = self._config.ask_timeout
        try:
            return await target.ask(message, timeout=timeout)
        except AskTimeout:
            return ErrorReply(code="unavailable", message=f"{name} did not answer in {timeout:g}s")
        except ActorDead:
            return ErrorReply(code="unavailable", message=f"{name} is not running")

    def _answer(self, frame_id: str, answer: Any) -> ReplyFrame | ErrorFrame:
        if isinstance(answer, ErrorReply):
            return ErrorFrame.from_reply(frame_id, answer)
        return ReplyFrame(id=frame_id, data=_json(answer))
