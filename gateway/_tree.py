"""The shape of Tocsin's supervision tree: its paths, the root's limits and its children.

As DESIGN.md's supervision tree::

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

import functools
from collections.abc import Callable
from pathlib import Path

from actors import (
    ROUTER,
    RULE_SET,
    HostCollector,
    RuleEvaluator,
    RuleRecord,
    RulesSupervisor,
)
from actors.alerting import AlertManager, Subscriptions
from actors.notify import ChannelFactory, NotifierSupervisor, ReceiverRecord
from actors.store import MemoryStore, SqliteStore, Store
from gateway._config import TokenConfig
from gateway._edge import GATEWAY, gateway_spec, registry_spec
from gateway._http import ReadinessCheck
from gateway._metrics import GatewayMetrics
from gateway._registry import CONNECTION_REGISTRY
from gateway._targets import GatewayTargets
from gateway._tree_metrics import NOTIFIERS_PATH
from gateway.config import MEMORY, TocsinConfig
from supervision import (
    Actor,
    ActorSystem,
    Backoff,
    ChildSpec,
    Restart,
    Strategy,
    Supervisor,
)

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


def alert_tree(
    config: TocsinConfig,
    store: Store,
    *,
    system: Callable[[], ActorSystem],
    channel_factory: ChannelFactory,
    extra_tokens: tuple[TokenConfig, ...],
    readiness: ReadinessCheck,
    metrics: GatewayMetrics,
    record: RuleRecord | None = None,
    receiver_record: ReceiverRecord | None = None,
) -> list[ChildSpec]:
    """Return the root's children for ``config`` (see the module docstring).

    ``system`` returns the running ``ActorSystem``: the alert manager looks the notifiers
    up through it each time it is built, so a restarted manager finds the current ones.
    ``record`` keeps run-time rule changes in the store (see ``RuleRecord``),
    ``receiver_record`` run-time receiver changes (see ``ReceiverRecord``).
    """
    subscriptions = Subscriptions()

    def alert_manager() -> AlertManager:
        return AlertManager(
            store,
            config=config.alert_manager_config(),
            notifications=system().lookup(NOTIFIERS_PATH),
            subscriptions=subscriptions,
        )

    users = config.receiver_users()
    alerting = [
        ChildSpec(
            "notifiers",
            lambda: NotifierSupervisor(
                config.receivers,
                store,
                receipts=ALERT_MANAGER_PATH,
                channel_factory=channel_factory,
                users=users,
                record=receiver_record,
            ),
            Restart.PERMANENT,
            30.0,
        ),
        ChildSpec("alert-manager", alert_manager, Restart.PERMANENT, 10.0),
        ChildSpec(
            "rules",
            lambda: RulesSupervisor(
                ALERT_MANAGER_PATH,
                evaluator_factory=functools.partial(
                    RuleEvaluator,
                    series_idle_ttl=config.rules.series_idle_ttl,
                    max_series=config.rules.max_series_per_rule or None,
                ),
                router_mailbox=config.limits.router_mailbox,
                record=record,
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
        gateway_config = config.gateway_config(extra_tokens)
        edge.append(
            gateway_spec(gateway_config, gateway_targets, readiness=readiness, metrics=metrics)
        )
    return [
        ChildSpec("store", lambda: StoreKeeper(store), Restart.PERMANENT, 30.0),
        _supervisor("alerting", alerting, shutdown=60.0),
        _supervisor("collectors", collectors),
        _supervisor("edge", edge, shutdown=30.0),
    ]


def store_of(config: TocsinConfig) -> tuple[Store, Path | None]:
    """Return the store ``config`` names, and its data file (None in memory)."""
    path = config.store.resolved_path()
    if path == MEMORY:
        return MemoryStore(), None
    return SqliteStore(path, synchronous=config.store.synchronous), Path(path)


def gateway_targets(system: ActorSystem) -> GatewayTargets:
    """Return the refs the gateway sends to, looked up in the running tree."""
    return GatewayTargets(
        router=system.lookup(ROUTER_PATH),
        alert_manager=system.lookup(ALERT_MANAGER_PATH),
        registry=system.lookup(REGISTRY_PATH),
        rules=system.lookup(RULE_SET_PATH),
        receivers=system.lookup(NOTIFIERS_PATH),
    )


def _supervisor(name: str, children: list[ChildSpec], *, shutdown: float = 10.0) -> ChildSpec:
    return ChildSpec(
        name,
        lambda: Supervisor(children, strategy=Strategy.ONE_FOR_ONE, intensity=5, period=30.0),
        Restart.PERMANENT,
        shutdown,
    )
