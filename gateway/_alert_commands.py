"""AlertCommands: what ``AlertSystem`` asks of its alert manager (commands and queries)."""

from __future__ import annotations

import asyncio
import itertools
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from actors.alerting import Subscribe, Subscribed, Unsubscribe
from gateway._alert_events import AlertEvents, TransitionForwarder
from gateway._filters import SubscriptionFilter
from gateway._tree import ALERT_MANAGER_PATH
from gateway._view import AlertView
from messages import (
    Acknowledge,
    AlertList,
    AlertState,
    AlertSummary,
    AlertTransition,
    CreateSilence,
    ErrorReply,
    ExpireSilence,
    HistoryPage,
    LabelMatcher,
    ListSilences,
    QueryAlerts,
    QueryHistory,
    Resolve,
    Severity,
    SilenceList,
    SilenceSummary,
    parse_matchers,
)
from supervision import ActorRef, ActorSystem, Restart


class CommandRefused(Exception):
    """The alert manager refused a command; ``reply`` says why (code, message, field)."""

    def __init__(self, reply: ErrorReply) -> None:
        super().__init__(f"{reply.code}: {reply.message}")
        self.reply = reply


class AlertCommands(ABC):
    """The alert manager's commands and queries, for ``AlertSystem`` (which runs the tree).

    A base class, not a component: ``AlertSystem`` provides ``system`` and keeps
    ``_system`` (None when stopped) and ``_subscribers`` (subscriber names).
    """

    _system: ActorSystem | None
    _subscribers: itertools.count[int]

    @property
    @abstractmethod
    def system(self) -> ActorSystem:
        """The running ``ActorSystem`` (``AlertSystem`` provides it)."""

    @property
    def alert_manager(self) -> ActorRef:
        """The alert manager's ref."""
        return self.system.lookup(ALERT_MANAGER_PATH)

    async def _ask(self, message: object, timeout: float = 30.0) -> Any:
        answer = await self.alert_manager.ask(message, timeout=timeout)
        if isinstance(answer, ErrorReply):
            raise CommandRefused(answer)
        return answer

    async def _command(self, message: object) -> Any:
        return await self._ask(message)

    # -- commands ------------------------------------------------------------------------------

    async def acknowledge(self, alert_id: str, by: str, comment: str = "") -> AlertSummary:
        """Acknowledge an alert (stops its escalation); raise ``CommandRefused``."""
        answer = await self._command(Acknowledge(alert_id=alert_id, by=by, comment=comment))
        assert isinstance(answer, AlertSummary)
        return answer

    async def resolve(self, alert_id: str, by: str, comment: str = "") -> AlertSummary:
        """Resolve an alert by hand; raise ``CommandRefused``."""
        answer = await self._command(Resolve(alert_id=alert_id, by=by, comment=comment))
        assert isinstance(answer, AlertSummary)
        return answer

    async def silence(
        self,
        matchers: Sequence[LabelMatcher] | str,
        *,
        duration: float,
        by: str,
        comment: str = "",
    ) -> SilenceSummary:
        """Silence alerts matching ``matchers`` (``'{team="db"}'`` or parsed) for
        ``duration`` seconds from now; raise ``CommandRefused``."""
        parsed = parse_matchers(matchers) if isinstance(matchers, str) else tuple(matchers)
        now = self.system.clock.time()
        answer = await self._command(
            CreateSilence(
                matchers=parsed,
                starts_at=now,
                ends_at=now + duration,
                created_by=by,
                comment=comment,
            )
        )
        assert isinstance(answer, SilenceSummary)
        return answer

    async def expire_silence(self, silence_id: str, by: str, comment: str = "") -> SilenceSummary:
        """End a silence now; raise ``CommandRefused``."""
        answer = await self._command(ExpireSilence(silence_id=silence_id, by=by, comment=comment))
        assert isinstance(answer, SilenceSummary)
        return answer

    # -- queries -------------------------------------------------------------------------------

    async def alerts(
        self,
        states: Sequence[AlertState] = (),
        matchers: Sequence[LabelMatcher] | str = (),
        limit: int = 100,
    ) -> tuple[AlertSummary, ...]:
        """Return the alerts in ``states`` (default: all) matching ``matchers``."""
        parsed = parse_matchers(matchers) if isinstance(matchers, str) else tuple(matchers)
        answer = await self._ask(QueryAlerts(states=tuple(states), matchers=parsed, limit=limit))
        assert isinstance(answer, AlertList)
        return answer.alerts

    async def silences(self, include_expired: bool = False) -> tuple[SilenceSummary, ...]:
        """Return the silences, oldest first; expired ones too if ``include_expired``."""
        answer = await self._ask(ListSilences(include_expired=include_expired))
        assert isinstance(answer, SilenceList)
        return answer.silences

    async def history(self, query: QueryHistory | None = None, **fields: Any) -> HistoryPage:
        """Return a page of the history: ``query``, or a ``QueryHistory(**fields)``."""
        answer = await self._ask(query if query is not None else QueryHistory(**fields))
        assert isinstance(answer, HistoryPage)
        return answer

    @asynccontextmanager
    async def subscribe(
        self,
        *,
        severities: Iterable[Severity | str] = (),
        states: Iterable[AlertState | str] = (),
        matchers: Sequence[LabelMatcher] | str = (),
    ) -> AsyncIterator[AlertEvents]:
        """Subscribe to the alert manager's transitions that match a filter.

        ``async with system.subscribe(severities=["critical"]) as events:`` then
        ``async for event in events:``. ``events.snapshot`` holds the open alerts the
        filter selects when the subscription starts; the events that follow are every
        later one, in sequence order, each once, so snapshot and events together miss
        nothing. An alert's event is yielded when the alert matches before or after it
        (so you see it leave the selection). Leaving the block ends the subscription; the
        iteration ends when the system stops.
        """
        parsed = parse_matchers(matchers) if isinstance(matchers, str) else tuple(matchers)
        selected = SubscriptionFilter(severities, states, parsed)
        queue: asyncio.Queue[AlertTransition | None] = asyncio.Queue()
        name = f"subscriber-{next(self._subscribers)}"
        system = self.system
        ref = await system.spawn(
            lambda: TransitionForwarder(queue), name, restart=Restart.TEMPORARY
        )
        try:
            reply = await self._ask(Subscribe(ref, snapshot=True))
            assert isinstance(reply, Subscribed)
            view = AlertView()
            view.load(reply.alerts)
            yield AlertEvents(queue, view, selected, reply.seq)
        finally:
            if self._system is system and system.running:
                await self.alert_manager.ask(Unsubscribe(ref), timeout=30.0)
                await system.terminate_child(name)
