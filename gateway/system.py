"""AlertSystem: the whole of Tocsin in one process, as DESIGN.md's supervision tree.

It lives in ``gateway`` because its ``edge`` subtree is the gateway's (dependencies
point one way: ``actors`` cannot import ``gateway``)::

    root (one_for_one)
    ├── store                  opens the store first, closes it last
    ├── alerting (one_for_one)
    │   ├── notifiers          one notifier per receiver
    │   ├── alert-manager
    │   └── rules              metric-router, rule-set, rule:<id> (one per rule)
    ├── collectors             host collector (when enabled)
    └── edge (one_for_one)
        ├── connection-registry
        └── gateway            (when config.server.enabled)

``notifiers`` starts before ``alert-manager`` because the manager is built with the
notifiers' ref (and the notifiers find the manager by name for their receipts).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from actors import (
    ROUTER,
    RULE_SET,
    ApplyRules,
    HostCollector,
    LoadRuleFile,
    RuleChanges,
    RulesSupervisor,
)
from actors.alerting import (
    AlertManager,
    Subscribe,
    Subscribed,
    Subscriptions,
    Unsubscribe,
)
from actors.notify import (
    ChannelFactory,
    DeleteReceiver,
    DeliveryPolicy,
    ListReceivers,
    NotifierSupervisor,
    PutReceiver,
    ReceiverChanged,
    ReceiverConfig,
    ReceiverInfo,
    default_channel,
)
from actors.store import MemoryStore, SqliteStore, Store
from gateway._config import TokenConfig
from gateway._edge import (
    GATEWAY,
    GatewayAddress,
    GatewayAddressQuery,
    gateway_spec,
    registry_spec,
)
from gateway._filters import SubscriptionFilter
from gateway._http import Readiness
from gateway._metrics import GatewayMetrics
from gateway._registry import CONNECTION_REGISTRY
from gateway._targets import GatewayTargets
from gateway._tree_metrics import NOTIFIERS_PATH, TreeMetrics
from gateway._view import AlertView
from gateway.config import MEMORY, TocsinConfig
from messages import (
    MAX_BATCH_SIZE,
    Acknowledge,
    AlertList,
    AlertState,
    AlertSummary,
    AlertTransition,
    AnyRule,
    CreateSilence,
    DeleteRule,
    ErrorReply,
    ExpireSilence,
    HistoryPage,
    LabelMatcher,
    ListRules,
    ListSilences,
    MetricSample,
    QueryAlerts,
    QueryHistory,
    Resolve,
    SampleBatch,
    Severity,
    SilenceList,
    SilenceStatus,
    SilenceSummary,
    parse_matchers,
)
from supervision import (
    Actor,
    ActorRef,
    ActorSystem,
    Backoff,
    ChildSpec,
    Clock,
    Restart,
    Strategy,
    Supervisor,
)

__all__ = ["AlertEvents", "AlertSystem", "AlertSystemNotRunning", "CommandRefused", "StoreKeeper"]

ALERT_MANAGER_PATH = "/alerting/alert-manager"
ROUTER_PATH = f"/alerting/rules/{ROUTER}"
RULE_SET_PATH = f"/alerting/rules/{RULE_SET}"
REGISTRY_PATH = f"/edge/{CONNECTION_REGISTRY}"
GATEWAY_PATH = f"/edge/{GATEWAY}"


ROOT_BACKOFF = Backoff(min=0.5, max=10.0, reset_after=30.0)
"""The root's restart delay for a subtree that escalated (exceeded its own intensity).

A subtree that crash-looped fast enough to give up is not restarted at once: it waits
0.5 s, then 1, 2... up to 10 s while it keeps failing (readiness says "restarting"
meanwhile), so a failing dependency does not turn into a busy loop of restarts.
"""

ROOT_INTENSITY, ROOT_PERIOD = 3, 60.0
"""More than 3 escalations within a minute and the root gives up: the tree stops and
``tocsin serve`` exits 1, for systemd or Kubernetes to start a fresh process. (The
period is long enough that a crash loop, slowed by ``ROOT_BACKOFF``, still reaches it:
escalations 0.5, 1 and 2 s apart.)"""


class AlertSystemNotRunning(RuntimeError):
    """The ``AlertSystem`` was used outside ``async with`` (or after it ended)."""


class CommandRefused(Exception):
    """The alert manager refused a command; ``reply`` says why (code, message, field)."""

    def __init__(self, reply: ErrorReply) -> None:
        super().__init__(f"{reply.code}: {reply.message}")
        self.reply = reply


class StoreKeeper(Actor):
    """Open the store when the tree starts and close it when the tree stops.

    First child of the root, so the store is open before anyone uses it and closed
    after everyone stopped (children stop in reverse order).
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    async def on_start(self) -> None:
        await self.store.open()

    async def on_stop(self) -> None:
        await self.store.close()


class _Forward(Actor):
    """Put every message it receives in a queue: a subscriber for ``subscribe``."""

    def __init__(self, queue: asyncio.Queue[AlertTransition]) -> None:
        self.queue = queue

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, AlertTransition):
            self.queue.put_nowait(message)
            return None
        return await super().on_receive(message)


class AlertSystem:
    """Run Tocsin inside an asyncio program: ``async with AlertSystem(config) as system:``.

    Entering opens the store, starts the tree (see the module docstring), applies the
    configured rules (inline, then files) and silences, and, when
    ``config.server.enabled``, starts the gateway (``url`` tells where it listens).
    Leaving stops the tree in reverse order: the gateway closes its connections with
    1001, the alert manager flushes to the store, the store closes last.

    ``store`` overrides ``config.store`` (pass a ``MemoryStore`` in tests); ``clock``
    drives every timer (pass a ``FakeClock`` in tests); ``extra_tokens`` are accepted by
    the gateway in addition to ``config.auth`` (``tocsin serve`` adds its admin token);
    ``channel_factory`` builds notifier channels (default: the real ones);
    ``fault_injection=True`` (tests only) enables ``inject_crash``.

    ``/metrics`` reports the runtime: restarts, crashes and escalations by actor, dead
    letters by reason, asyncio tasks, and the process (RSS, CPU, open files). ``/readyz``
    is unready while an actor waits for its restart.
    """

    def __init__(
        self,
        config: TocsinConfig | None = None,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
        extra_tokens: Sequence[TokenConfig] = (),
        channel_factory: ChannelFactory = default_channel,
        fault_injection: bool = False,
    ) -> None:
        self.config = config or TocsinConfig()
        self._data_file: Path | None = None
        if store is None:
            store, self._data_file = _store_of(self.config)
        self.store = store
        self._clock = clock
        self._extra_tokens = tuple(extra_tokens)
        self._channel_factory = channel_factory
        self._system: ActorSystem | None = None
        self._subscribers = itertools.count(1)
        self._api_samples = 0
        self._fault_injection = fault_injection
        providers = TreeMetrics(
            lambda: self._system, lambda: self.system, lambda: self._api_samples
        )
        self.metrics = GatewayMetrics(providers.providers())
        self.address: GatewayAddress | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the tree, apply the configured rules and silences, start the gateway.

        Raises ``ActorStartError`` if a part cannot start (e.g. the port is taken); the
        parts already started are stopped again.
        """
        if self._system is not None:
            raise RuntimeError("the AlertSystem is already started")
        if self._data_file is not None:
            self._data_file.parent.mkdir(parents=True, exist_ok=True)
        system = ActorSystem(
            self._tree(),
            clock=self._clock,
            intensity=ROOT_INTENSITY,
            period=ROOT_PERIOD,
            backoff=ROOT_BACKOFF,
            fault_injection=self._fault_injection,
        )
        self._system = system
        try:
            await system.start()
            await self._apply_configuration()
            if self.config.server.enabled:
                address = await system.lookup(GATEWAY_PATH).ask(GatewayAddressQuery())
                assert isinstance(address, GatewayAddress)
                self.address = address
        except BaseException:
            await system.shutdown()
            self._system = None
            raise

    async def stop(self) -> None:
        """Stop the tree in reverse order (gateway first, store last); idempotent."""
        system, self._system = self._system, None
        if system is not None:
            await system.shutdown()

    async def wait_terminated(self) -> None:
        """Wait until the tree stops; raises ``SystemFailed`` if its root failed."""
        await self.system.wait_terminated()

    @property
    def system(self) -> ActorSystem:
        """The running ``ActorSystem``; raises ``AlertSystemNotRunning`` outside ``async with``."""
        if self._system is None:
            raise AlertSystemNotRunning("use the AlertSystem inside 'async with'")
        return self._system

    @property
    def url(self) -> str | None:
        """The gateway's WebSocket URL (None without a server)."""
        return None if self.address is None else self.address.url

    @property
    def http_url(self) -> str | None:
        """The gateway's HTTP base URL (None without a server)."""
        return None if self.address is None else self.address.http_url

    def _tree(self) -> list[ChildSpec]:
        config = self.config
        store = self.store
        subscriptions = Subscriptions()

        def alert_manager() -> AlertManager:
            return AlertManager(
                store,
                config=config.alert_manager_config(),
                notifications=self.system.lookup(NOTIFIERS_PATH),
                subscriptions=subscriptions,
            )

        users = config.receiver_users()
        channel_factory = self._channel_factory
        alerting = [
            ChildSpec(
                "notifiers",
                lambda: NotifierSupervisor(
                    config.receivers,
                    store,
                    receipts=ALERT_MANAGER_PATH,
                    channel_factory=channel_factory,
                    users=users,
                ),
                Restart.PERMANENT,
                30.0,
            ),
            ChildSpec("alert-manager", alert_manager, Restart.PERMANENT, 10.0),
            ChildSpec(
                "rules",
                lambda: RulesSupervisor(
                    ALERT_MANAGER_PATH, router_mailbox=config.limits.router_mailbox
                ),
                Restart.PERMANENT,
            ),
        ]
        host = config.collectors.host
        collectors: list[ChildSpec] = []
        if host.enabled:
            collectors.append(
                ChildSpec(
                    "host-collector",
                    lambda: HostCollector(ROUTER_PATH, interval=host.interval, mounts=host.mounts),
                )
            )
        edge = [registry_spec(ALERT_MANAGER_PATH, config=config.registry)]
        if config.server.enabled:
            gateway_config = config.gateway_config(self._extra_tokens)
            edge.append(
                gateway_spec(
                    gateway_config, _targets, readiness=self._readiness, metrics=self.metrics
                )
            )
        return [
            ChildSpec("store", lambda: StoreKeeper(store), Restart.PERMANENT, 30.0),
            _supervisor("alerting", alerting, shutdown=60.0),
            _supervisor("collectors", collectors),
            _supervisor("edge", edge, shutdown=30.0),
        ]

    async def _readiness(self) -> Readiness:
        checks: dict[str, bool | str] = {}
        system = self._system
        if system is None or not system.running:
            checks["tree"] = "the tree is down"
        elif down := system.not_running():
            # A crashed actor waiting for its restart (a subtree that escalated waits for
            # ROOT_BACKOFF): the server cannot do all of its work until it is back.
            checks["tree"] = "restarting: " + ", ".join(down)
        else:
            checks["tree"] = True
        try:
            checks["store"] = True if await self.store.healthy() else "the store is not writable"
        except Exception as exc:
            checks["store"] = f"the store failed: {exc}"
        return Readiness(all(value is True for value in checks.values()), checks)

    def inject_crash(self, path: str) -> None:
        """Crash the actor at ``path`` on a poison message (tests: ``fault_injection=True``).

        See ``ActorSystem.inject_crash``; raises ``FaultInjectionDisabled`` otherwise.
        """
        self.system.inject_crash(path)

    async def _apply_configuration(self) -> None:
        rules = self.config.rules
        if rules.inline:
            await self._rule_set.ask(ApplyRules(rules=rules.inline))
        for path in rules.files:
            await self._rule_set.ask(LoadRuleFile(path=path))
        if self.config.silences:
            existing = await self._ask(ListSilences())
            assert isinstance(existing, SilenceList)
            held = {
                (tuple(s.matchers), s.comment)
                for s in existing.silences
                if s.status is not SilenceStatus.EXPIRED
            }
            now = self.system.clock.time()
            for silence in self.config.silences:
                if (tuple(silence.matchers), silence.comment) in held:
                    continue
                await self._command(
                    CreateSilence(
                        matchers=silence.matchers,
                        starts_at=now,
                        ends_at=now + silence.duration,
                        created_by="config",
                        comment=silence.comment,
                    )
                )

    # -- refs ----------------------------------------------------------------------------------

    @property
    def alert_manager(self) -> ActorRef:
        """The alert manager's ref."""
        return self.system.lookup(ALERT_MANAGER_PATH)

    @property
    def router(self) -> ActorRef:
        """The metric router's ref (takes ``SampleBatch``)."""
        return self.system.lookup(ROUTER_PATH)

    @property
    def _rule_set(self) -> ActorRef:
        return self.system.lookup(RULE_SET_PATH)

    async def _ask(self, message: object, timeout: float = 30.0) -> Any:
        answer = await self.alert_manager.ask(message, timeout=timeout)
        if isinstance(answer, ErrorReply):
            raise CommandRefused(answer)
        return answer

    async def _command(self, message: object) -> Any:
        return await self._ask(message)

    # -- samples and rules -------------------------------------------------------------------

    async def ingest(self, samples: Iterable[MetricSample] | SampleBatch) -> None:
        """Send samples to the rules, in batches; wait for room in the router's mailbox."""
        items = samples.samples if isinstance(samples, SampleBatch) else tuple(samples)
        router = self.router
        for start in range(0, len(items), MAX_BATCH_SIZE):
            batch = items[start : start + MAX_BATCH_SIZE]
            await router.send(SampleBatch(samples=batch))
            self._api_samples += len(batch)

    async def put_rule(self, rule: AnyRule) -> RuleChanges:
        """Create or replace ``rule`` (a ``CallableRule`` too); raise ``RuleInvalid``."""
        changes = await self._rule_set.ask(ApplyRules(rules=(rule,)), timeout=30.0)
        assert isinstance(changes, RuleChanges)
        return changes

    async def delete_rule(self, rule_id: str) -> RuleChanges:
        """Delete the rule ``rule_id`` (its alerts resolve); raise ``RuleNotFound``."""
        changes = await self._rule_set.ask(DeleteRule(rule_id=rule_id), timeout=30.0)
        assert isinstance(changes, RuleChanges)
        return changes

    async def list_rules(self) -> tuple[AnyRule, ...]:
        """Return the running rules, in id order."""
        rules: tuple[AnyRule, ...] = await self._rule_set.ask(ListRules(), timeout=30.0)
        return rules

    # -- receivers -----------------------------------------------------------------------------

    async def put_receiver(
        self, receiver: ReceiverConfig, delivery: DeliveryPolicy | None = None
    ) -> ReceiverChanged:
        """Add a receiver, or replace the one of the same name, until the system stops.

        Routes already naming it start reaching it; a replaced receiver's undelivered
        notifications go to the new one. Raises ``ReceiverNotStarted`` if its notifier
        cannot start (a replaced one is restored). Put it in the configuration to keep it
        across restarts.
        """
        changed = await self.system.lookup(NOTIFIERS_PATH).ask(
            PutReceiver(receiver, delivery), timeout=30.0
        )
        assert isinstance(changed, ReceiverChanged)
        return changed

    async def delete_receiver(self, name: str) -> ReceiverChanged:
        """Remove a receiver; raise ``UnknownReceiver``, or ``ReceiverInUse`` while the
        route or an escalation policy names it."""
        changed = await self.system.lookup(NOTIFIERS_PATH).ask(DeleteReceiver(name), timeout=30.0)
        assert isinstance(changed, ReceiverChanged)
        return changed

    async def list_receivers(self) -> tuple[ReceiverInfo, ...]:
        """Return the receivers in use, each with its delivery policy and users."""
        infos: tuple[ReceiverInfo, ...] = await self.system.lookup(NOTIFIERS_PATH).ask(
            ListReceivers(), timeout=30.0
        )
        return infos

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

    async def expire_silence(self, silence_id: str, by: str) -> SilenceSummary:
        """End a silence now; raise ``CommandRefused``."""
        answer = await self._command(ExpireSilence(silence_id=silence_id, by=by))
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
        snapshot: bool = False,
    ) -> AsyncIterator[AlertEvents]:
        """Subscribe to the alert manager's transitions that match a filter.

        ``async with system.subscribe(severities=["critical"]) as events:`` then
        ``async for event in events:``. Events come in sequence order, each once; an
        alert's event is yielded when the alert matches before or after it (so you see
        it leave the selection). ``snapshot=True`` first yields nothing but primes the
        filter with the open alerts (their later events are judged by their labels).
        Leaving the block ends the subscription.
        """
        parsed = parse_matchers(matchers) if isinstance(matchers, str) else tuple(matchers)
        selected = SubscriptionFilter(severities, states, parsed)
        queue: asyncio.Queue[AlertTransition] = asyncio.Queue()
        name = f"subscriber-{next(self._subscribers)}"
        system = self.system
        ref = await system.spawn(lambda: _Forward(queue), name, restart=Restart.TEMPORARY)
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


class AlertEvents:
    """The events of one subscription, as an async iterator (see ``AlertSystem.subscribe``)."""

    def __init__(
        self,
        queue: asyncio.Queue[AlertTransition],
        view: AlertView,
        selected: SubscriptionFilter,
        after: int,
    ) -> None:
        self._queue = queue
        self._view = view
        self._selected = selected
        self._after = after

    def __aiter__(self) -> AlertEvents:
        return self

    async def __anext__(self) -> AlertTransition:
        """Wait for the next matching event."""
        while True:
            transition = await self._queue.get()
            if transition.seq <= self._after:
                continue
            self._after = transition.seq
            before, after = self._view.apply(transition)
            if self._selected.matches_change(before, after):
                return transition


def _store_of(config: TocsinConfig) -> tuple[Store, Path | None]:
    path = config.store.resolved_path()
    if path == MEMORY:
        return MemoryStore(), None
    return SqliteStore(path, synchronous=config.store.synchronous), Path(path)


def _supervisor(name: str, children: list[ChildSpec], *, shutdown: float = 10.0) -> ChildSpec:
    return ChildSpec(
        name,
        lambda: Supervisor(children, strategy=Strategy.ONE_FOR_ONE, intensity=5, period=30.0),
        Restart.PERMANENT,
        shutdown,
    )


def _targets(system: ActorSystem) -> GatewayTargets:
    return GatewayTargets(
        router=system.lookup(ROUTER_PATH),
        alert_manager=system.lookup(ALERT_MANAGER_PATH),
        registry=system.lookup(REGISTRY_PATH),
        rules=system.lookup(RULE_SET_PATH),
        receivers=system.lookup(NOTIFIERS_PATH),
    )
