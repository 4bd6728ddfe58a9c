"""Session: one connection's frame loop: validate, rate-limit, authorize, dispatch, answer.

Frames are handled one at a time, in order: the next is not read before the current one
is answered. That is the ingest backpressure: while the router's bounded mailbox is full
the session waits in ``send`` and stops reading, websockets stops reading the socket once
its own small queue is full, and TCP slows the client down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic import BaseModel, JsonValue, ValidationError
from pydantic_core import from_json
from websockets.exceptions import ConnectionClosed

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
from gateway._limits import RateLimiter, Verdict
from gateway._metrics import GatewayMetrics
from gateway._receivers import ReceiverRefused, put_receiver_request
from gateway._registry_requests import AddSubscription, RemoveSubscription
from gateway._targets import GatewayTargets
from messages import (
    CLIENT_FRAME_ADAPTER,
    AckFrame,
    AlertList,
    ClientFrame,
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
    parse_ingest_frame,
)
from supervision import ActorDead, ActorRef, AskTimeout, Clock, MailboxFull

__all__ = ["FLOODING", "MAX_ERROR_MESSAGE", "Session", "invalid_frame_error"]

FLOODING = "too many frames: the rate limit was exceeded repeatedly"

MAX_ERROR_MESSAGE = 2000
"""An invalid frame's error lists its problems up to about this many characters."""

_Answer = ReplyFrame | ErrorFrame | PongFrame | None


def _error(
    frame_id: str | None, code: ErrorCode, message: str, field: str | None = None
) -> ErrorFrame:
    return ErrorFrame(id=frame_id, code=code, message=message, field=field)


def _frame_id(raw: str | bytes) -> str | None:
    """Return the ``id`` of a frame that failed validation, if it has a usable one.

    Parsed by the parser that validated the frame (pydantic's, not ``json``): what it
    refuses (lone surrogates, nesting past its recursion limit) has no usable id, so the
    error echoes only a string it can send back.
    """
    try:
        data = from_json(raw)
    except ValueError:
        return None
    frame_id = data.get("id") if isinstance(data, dict) else None
    return frame_id if isinstance(frame_id, str) and 1 <= len(frame_id) <= 128 else None


def invalid_frame_error(raw: str, exc: ValidationError) -> ErrorFrame:
    """Return the ``invalid`` error answering ``raw``, which failed validation with ``exc``.

    It names the first bad field, lists the problems up to about ``MAX_ERROR_MESSAGE``
    characters, and echoes the frame's id when it has a usable one.
    """
    reply = ErrorReply.from_validation_error(exc, tagged=True)
    if len(reply.message) > MAX_ERROR_MESSAGE:
        cut = reply.message[:MAX_ERROR_MESSAGE].rsplit("; ", 1)[0]
        more = f"; ... ({exc.error_count()} problems in all)"
        reply = reply.model_copy(update={"message": cut + more})
    return ErrorFrame.from_reply(_frame_id(raw), reply)


def _json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, tuple | list):
        return [_json(item) for item in value]
    return value


class Session:
    """Serve one authenticated connection until it closes; see the module docstring.

    Every client frame gets exactly one answer with its ``id`` (``reply``, ``error`` or
    ``pong``), except ``subscribe``, which the registry answers (``snapshot``, ``reply``
    or ``error``) so that the answer comes in order with the events. Bad frames get an
    ``invalid`` error and the connection carries on; only flooding closes it (1008).
    """

    def __init__(
        self,
        connection: Connection,
        targets: GatewayTargets,
        config: GatewayConfig,
        metrics: GatewayMetrics,
        clock: Clock,
    ) -> None:
        self._connection = connection
        self._identity = connection.identity
        self._targets = targets
        self._config = config
        self._metrics = metrics
        self._clock = clock
        self._limiter = RateLimiter(config.rate, config.burst, config.abuse_burst)
        self._log = structlog.get_logger("tocsin.gateway").bind(
            connection=connection.connection_id, user=self._identity.user
        )
        self._handlers: dict[type, Callable[[Any], Awaitable[_Answer]]] = {
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

    async def run(self) -> None:
        """Read and answer frames until the connection closes or is closed for abuse."""
        ws = self._connection.ws
        connection = self._connection
        try:
            while connection.is_open:
                raw = await ws.recv()
                if connection.close_code is not None:
                    # The server began closing it (1001 at shutdown, 1008, 1013) while
                    # this frame was on its way: its answer could not be sent, so it is
                    # not handled either (the client sends it again after reconnecting).
                    return
                answer = await self.handle(raw)
                if answer is not None:
                    await self._send(answer)
        except ConnectionClosed:
            return

    async def handle(self, raw: str | bytes) -> _Answer:
        """Return the answer to one raw frame (None: none, or the connection is closing)."""
        verdict = self._limiter.check(self._clock.now())
        if verdict is Verdict.ABUSE:
            self._metrics.closed_for_abuse.labels("flooding").inc()
            self._log.warning("closing a flooding connection")
            self._connection.close(1008, FLOODING)
            return None
        if isinstance(raw, bytes):
            self._metrics.frames.labels("binary").inc()
            return _error(None, "invalid", "send JSON in text frames, not binary frames")
        # Ingest frames, most of the traffic, are validated into plain dicts (see
        # messages.parse_ingest_frame); every other frame, and an invalid one, by the union.
        frame: ClientFrame | IngestRows | None = parse_ingest_frame(raw)
        if frame is None:
            try:
                frame = CLIENT_FRAME_ADAPTER.validate_json(raw)
            except ValidationError as exc:
                self._metrics.frames.labels("invalid").inc()
                return invalid_frame_error(raw, exc)
        self._metrics.frames.labels(frame.type).inc()
        if verdict is Verdict.LIMITED:
            rate = self._config.rate
            return _error(frame.id, "rate_limited", f"more than {rate:g} frames per second")
        if not self._identity.may_send(frame.type):
            roles = " or ".join(self._identity.roles_for(frame.type))
            message = f"{frame.type!r} frames need the role {roles}"
            return _error(frame.id, "forbidden", message)
        try:
            return await self._handlers[type(frame)](frame)
        except Exception:
            self._log.exception("frame handler failed", frame_type=frame.type)
            return _error(frame.id, "internal", "the server failed; it logged why")

    async def _send(self, answer: ReplyFrame | ErrorFrame | PongFrame) -> None:
        if isinstance(answer, ErrorFrame):
            self._metrics.errors.labels(answer.code).inc()
        await self._connection.ws.send(answer.model_dump_json())

    # -- handlers ------------------------------------------------------------------------

    async def _ping(self, frame: PingFrame) -> _Answer:
        return PongFrame(id=frame.id)

    async def _subscribe(self, frame: SubscribeFrame) -> _Answer:
        registry = self._targets.registry
        if not registry.is_alive():
            return _error(frame.id, "unavailable", "the connection registry is not running")
        limit = self._config.max_subscriptions
        registry.tell(AddSubscription(self._connection.connection_id, frame, limit))
        return None

    async def _unsubscribe(self, frame: UnsubscribeFrame) -> _Answer:
        request = RemoveSubscription(self._connection.connection_id, frame.subscription)
        removed = await self._ask(self._targets.registry, request, "the connection registry")
        if isinstance(removed, ErrorReply):
            return ErrorFrame.from_reply(frame.id, removed)
        if not removed:
            message = f"no subscription {frame.subscription!r} on this connection"
            return _error(frame.id, "not_found", message, "subscription")
        return ReplyFrame(id=frame.id, data={"subscription": frame.subscription})

    async def _query(self, frame: QueryFrame | ListSilencesFrame) -> _Answer:
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
    ) -> _Answer:
        command = frame.to_command(by=self._identity.user)
        answer = await self._ask(self._targets.alert_manager, command, "the alert manager")
        return self._answer(frame.id, answer)

    async def _rules(
        self, frame: PutRuleFrame | DeleteRuleFrame | RevertRuleFrame | ListRulesFrame
    ) -> _Answer:
        rules = self._targets.rules
        if rules is None:
            return _error(frame.id, "unavailable", "this server does not manage rules")
        try:
            answer = await self._ask(rules, frame.to_command(), "the rule set")
        except RuleInvalid as error:
            # The rule set names fields within the rule; the client sent them under "rule".
            field = error.field
            if isinstance(frame, PutRuleFrame):
                field = f"rule.{field}" if field else "rule"
            return _error(frame.id, "invalid", str(error), field)
        except RuleNotFound as error:
            return _error(frame.id, "not_found", str(error), "rule_id")
        except RuleNotStored as error:
            return _error(frame.id, "unavailable", str(error))
        except RuleApplyFailed as error:
            return _error(frame.id, "internal", f"the rule change was not completed: {error}")
        return self._answer(frame.id, answer)

    async def _receivers(
        self,
        frame: PutReceiverFrame | DeleteReceiverFrame | RevertReceiverFrame | ListReceiversFrame,
    ) -> _Answer:
        receivers = self._targets.receivers
        if receivers is None:
            return _error(frame.id, "unavailable", "this server does not manage receivers")
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
            return _error(frame.id, "not_found", str(error), "name")
        except ReceiverInUse as error:
            return _error(frame.id, "conflict", str(error), "name")
        except ReceiverNotStarted as error:
            return _error(frame.id, "invalid", str(error), "receiver")
        except ReceiverNotStored as error:
            return _error(frame.id, "unavailable", str(error))
        if isinstance(answer, ErrorReply):
            return ErrorFrame.from_reply(frame.id, answer)
        if isinstance(answer, tuple):
            infos = [info.summary() for info in answer if isinstance(info, ReceiverInfo)]
            return ReplyFrame(id=frame.id, data=_json(infos))
        data = {"receiver": answer.name, "kind": answer.kind, "change": answer.change}
        return ReplyFrame(id=frame.id, data=data)

    async def _dead_letters(self, frame: ListDeadLettersFrame | ReplayDeadLettersFrame) -> _Answer:
        receivers = self._targets.receivers
        if receivers is None:
            return _error(frame.id, "unavailable", "this server does not manage receivers")
        request: ListDeadLetters | ReplayDeadLetter
        if isinstance(frame, ListDeadLettersFrame):
            request = ListDeadLetters(frame.receiver)
        else:
            request = ReplayDeadLetter(frame.receiver, frame.notification_id)
        try:
            answer = await self._ask(receivers, request, "the notifiers")
        except UnknownReceiver as error:
            return _error(frame.id, "not_found", str(error), "receiver")
        except DeadLetterNotFound as error:
            return _error(frame.id, "not_found", str(error), "notification_id")
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

    async def _ingest(self, frame: IngestFrame | IngestRows) -> _Answer:
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
            return _error(frame.id, "unavailable", f"the router stayed full for {waited:g}s")
        except ActorDead:
            return _error(frame.id, "unavailable", "the metric router is not running")
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
