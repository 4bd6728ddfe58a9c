"""The ``edge`` children of DESIGN.md's tree: the connection registry and the gateway."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway._config import GatewayConfig, RegistryConfig
from gateway._http import ReadinessCheck
from gateway._metrics import GatewayMetrics
from gateway._registry import CONNECTION_REGISTRY, ConnectionRegistry
from gateway._server import Gateway
from gateway._targets import GatewayTargets
from supervision import Actor, ActorRef, ActorSystem, ChildSpec, Restart

__all__ = [
    "GATEWAY",
    "GatewayAddress",
    "GatewayAddressQuery",
    "GatewayServer",
    "gateway_spec",
    "registry_spec",
]

GATEWAY = "gateway"
"""The gateway's child name under ``edge``."""

TargetsFactory = Callable[[ActorSystem], GatewayTargets]


@dataclass(frozen=True, slots=True)
class GatewayAddressQuery:
    """Ask a ``GatewayServer`` where it listens; answered with ``GatewayAddress``."""


@dataclass(frozen=True, slots=True)
class GatewayAddress:
    """Where a running gateway listens (``port`` is the bound one, also for port 0)."""

    url: str
    http_url: str
    port: int
    connections: int


class GatewayServer(Actor):
    """Run a ``Gateway`` as a supervised child: it serves from ``on_start`` to ``on_stop``.

    ``targets`` may be a function of the system (refs looked up when the child starts,
    so it may start after them). ``gateway`` is the running ``Gateway`` (None before the
    start and after the stop); ask ``GatewayAddressQuery`` for where it listens. Stopping
    closes every connection with 1001.
    """

    def __init__(
        self,
        config: GatewayConfig,
        targets: GatewayTargets | TargetsFactory,
        *,
        readiness: ReadinessCheck | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._config = config
        self._targets = targets
        self._readiness = readiness
        self._metrics = metrics
        self.gateway: Gateway | None = None

    async def on_start(self) -> None:
        """Look the targets up and start serving."""
        targets = self._targets
        if not isinstance(targets, GatewayTargets):
            targets = targets(self.system)
        gateway = Gateway(
            self._config,
            targets,
            readiness=self._readiness,
            metrics=self._metrics,
            clock=self.clock,
        )
        await gateway.start()
        self.gateway = gateway
        self.log.info("gateway serving", url=gateway.url)

    async def on_receive(self, message: Any) -> Any:
        """Answer ``GatewayAddressQuery``."""
        if isinstance(message, GatewayAddressQuery) and self.gateway is not None:
            gateway = self.gateway
            return GatewayAddress(gateway.url, gateway.http_url, gateway.port, gateway.connections)
        return await super().on_receive(message)

    async def on_stop(self) -> None:
        """Close every connection with 1001 and stop serving."""
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            await gateway.close()


def registry_spec(
    alert_manager: ActorRef | str,
    *,
    config: RegistryConfig | None = None,
    name: str = CONNECTION_REGISTRY,
) -> ChildSpec:
    """Return the permanent child spec of a ``ConnectionRegistry`` (unbounded mailbox).

    ``alert_manager`` is its ref or absolute path (e.g. ``/alerting/alert-manager``); it
    must be running when the registry starts.
    """
    return ChildSpec(
        name, lambda: ConnectionRegistry(alert_manager, config=config), restart=Restart.PERMANENT
    )


def gateway_spec(
    config: GatewayConfig,
    targets: GatewayTargets | TargetsFactory,
    *,
    readiness: ReadinessCheck | None = None,
    metrics: GatewayMetrics | None = None,
    name: str = GATEWAY,
    shutdown: float | None = None,
) -> ChildSpec:
    """Return the permanent child spec of a ``GatewayServer``.

    Pass ``metrics`` to keep counters across restarts of the child. ``shutdown``
    defaults to the close timeout plus a second, the time closing all connections takes.
    """
    return ChildSpec(
        name,
        lambda: GatewayServer(config, targets, readiness=readiness, metrics=metrics),
        restart=Restart.PERMANENT,
        shutdown=config.close_timeout + 1.0 if shutdown is None else shutdown,
    )
