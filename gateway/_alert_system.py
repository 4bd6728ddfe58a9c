"""AlertSystem: the whole of Tocsin in one process, as ``gateway._tree`` builds it.

It lives in ``gateway`` because its ``edge`` subtree is the gateway's (dependencies
point one way: ``actors`` cannot import ``gateway``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog

from actors import ApplyRules, LoadRuleFile, RuleChanges, RuleRecord
from actors.notify import (
    ChannelFactory,
    ReceiverRecord,
    default_channel,
)
from actors.store import Store
from gateway._alert_commands import AlertCommands
from gateway._config import TokenConfig
from gateway._edge import GatewayAddress, GatewayAddressQuery
from gateway._http import Readiness
from gateway._metrics import GatewayMetrics
from gateway._receiver_commands import ReceiverCommands
from gateway._tree import (
    GATEWAY_PATH,
    ROOT_BACKOFF,
    ROOT_INTENSITY,
    ROOT_PERIOD,
    ROUTER_PATH,
    RULE_SET_PATH,
    alert_tree,
    store_of,
)
from gateway._tree_metrics import TreeMetrics
from gateway.config import TocsinConfig
from messages import (
    MAX_BATCH_SIZE,
    AnyRule,
    CallableRule,
    CreateSilence,
    DeleteRule,
    ListRules,
    ListSilences,
    MetricSample,
    PutRule,
    RevertRule,
    SampleBatch,
    SilenceList,
    SilenceStatus,
)
from supervision import ActorRef, ActorSystem, Clock

_log = structlog.get_logger("tocsin.rules")


class AlertSystemNotRunning(RuntimeError):
    """The ``AlertSystem`` was used outside ``async with`` (or after it ended)."""


class AlertSystem(AlertCommands, ReceiverCommands):
    """Run Tocsin inside an asyncio program: ``async with AlertSystem(config) as system:``.

    Entering opens the store, starts the tree (see ``gateway._tree``), applies the
    configured rules (inline, then files) with the stored run-time rule changes over
    them (see ``RuleRecord``), then the stored run-time rules, then the silences, and, when
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
            store, self._data_file = store_of(self.config)
        self.store = store
        self._clock = clock
        self._extra_tokens = tuple(extra_tokens)
        self._channel_factory = channel_factory
        self._system: ActorSystem | None = None
        self._rule_record: RuleRecord | None = None
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
        self._rule_record = RuleRecord(self.store)
        system = ActorSystem(
            alert_tree(
                self.config,
                self.store,
                system=lambda: self.system,
                channel_factory=self._channel_factory,
                extra_tokens=self._extra_tokens,
                readiness=self._readiness,
                metrics=self.metrics,
                record=self._rule_record,
                receiver_record=ReceiverRecord(
                    self.store, [r.name for r in self.config.receivers.receivers()]
                ),
            ),
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
        await self._apply_rules()
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

    async def _apply_rules(self) -> None:
        """The configured rules with the stored run-time changes over them, then the
        stored run-time rules; log once which configured rules the store overrides."""
        record = self._rule_record
        assert record is not None
        stored = await record.load()
        rules = self.config.rules
        if rules.inline:
            await self._rule_set.ask(ApplyRules(rules=rules.inline, configured=True))
        for path in rules.files:
            await self._rule_set.ask(LoadRuleFile(path=path, configured=True))
        if runtime := record.runtime_rules():
            await self._rule_set.ask(ApplyRules(rules=runtime))
        replaced, deleted = record.overridden()
        if replaced or deleted:
            _log.warning(
                "configured rules overridden by run-time changes kept in the store: "
                "edits of these rules in the configuration do not apply; put or delete "
                "them again at run time",
                replaced=list(replaced),
                deleted=list(deleted),
            )
        elif stored.rules:
            _log.info("run-time rules restored from the store", rules=len(stored.rules))

    # -- refs ----------------------------------------------------------------------------------

    @property
    def router(self) -> ActorRef:
        """The metric router's ref (takes ``SampleBatch``)."""
        return self.system.lookup(ROUTER_PATH)

    @property
    def _rule_set(self) -> ActorRef:
        return self.system.lookup(RULE_SET_PATH)

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
        """Create or replace ``rule`` (a ``CallableRule`` too); raise ``RuleInvalid``.

        The change is stored before it applies, and so lasts across restarts (raises
        ``RuleNotStored`` if the store refuses it: nothing changed). A ``CallableRule``
        is code, not stored: it lives until the system stops.
        """
        command: ApplyRules | PutRule = (
            ApplyRules(rules=(rule,)) if isinstance(rule, CallableRule) else PutRule(rule=rule)
        )
        changes = await self._rule_set.ask(command, timeout=30.0)
        assert isinstance(changes, RuleChanges)
        return changes

    async def delete_rule(self, rule_id: str) -> RuleChanges:
        """Delete the rule ``rule_id`` (its alerts resolve); raise ``RuleNotFound``.

        The deletion is stored first and lasts across restarts, a configured rule's too
        (``RuleNotStored`` if the store refuses it: nothing changed).
        """
        changes = await self._rule_set.ask(DeleteRule(rule_id=rule_id), timeout=30.0)
        assert isinstance(changes, RuleChanges)
        return changes

    async def revert_rule(self, rule_id: str) -> RuleChanges:
        """Drop the stored run-time change of ``rule_id``; the configuration's version applies.

        The stored document goes first (``RuleNotStored`` if the store refuses it: nothing
        changed), then the configured rule of that id runs again (replacing the stored
        one, or back after a deletion), or, if the configuration has no such rule, the
        rule created at run time is deleted. ``NoStoredRuleChange`` (a ``RuleNotFound``)
        if no change of ``rule_id`` is stored.
        """
        changes = await self._rule_set.ask(RevertRule(rule_id=rule_id), timeout=30.0)
        assert isinstance(changes, RuleChanges)
        return changes

    async def list_rules(self) -> tuple[AnyRule, ...]:
        """Return the running rules, in id order."""
        rules: tuple[AnyRule, ...] = await self._rule_set.ask(ListRules(), timeout=30.0)
        return rules
