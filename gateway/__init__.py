"""Tocsin's edge: the websockets gateway, the connection registry, and the command line.

``Gateway`` serves the wire protocol of docs/PROTOCOL.md and plain HTTP (``/healthz``,
``/readyz``, ``/metrics``, the dashboard at ``/``) on one port; ``ConnectionRegistry``
holds the live connections and fans events out to them. In a supervision tree, put both
under ``edge``, after the alert manager and the rules have started::

    def targets(system: ActorSystem) -> GatewayTargets:
        return GatewayTargets(
            router=system.lookup("/alerting/rules/metric-router"),  # bounded mailbox
            alert_manager=system.lookup("/alerting/alert-manager"),
            registry=system.lookup("/edge/connection-registry"),
            rules=system.lookup("/alerting/rules/rule-set"),
        )

    edge = ChildSpec("edge", lambda: Supervisor([
        registry_spec("/alerting/alert-manager"),
        gateway_spec(config, targets, readiness=probe, metrics=GatewayMetrics(providers)),
    ], strategy=Strategy.ONE_FOR_ONE))
"""

from gateway._auth import PERMISSIONS, Authenticator, Identity, Unauthorized
from gateway._config import GatewayConfig, RegistryConfig, TokenConfig
from gateway._connection import Connection
from gateway._edge import (
    GATEWAY,
    GatewayAddress,
    GatewayAddressQuery,
    GatewayServer,
    gateway_spec,
    registry_spec,
)
from gateway._filters import SubscriptionFilter
from gateway._http import Readiness, ReadinessCheck
from gateway._limits import RateLimiter, Verdict
from gateway._metrics import GatewayMetrics, MetricsProviders, RuleSeries
from gateway._registry import CONNECTION_REGISTRY, ConnectionRegistry, SubscriptionRefused
from gateway._registry_requests import (
    AddSubscription,
    Register,
    Registered,
    RegistryStats,
    RegistryStatsQuery,
    RemoveSubscription,
    Unregister,
)
from gateway._schema import protocol_schema, write_protocol_schema
from gateway._server import Gateway, GatewayNotStarted
from gateway._targets import GatewayTargets
from gateway._view import AlertView

__all__ = [
    "CONNECTION_REGISTRY",
    "GATEWAY",
    "PERMISSIONS",
    "AddSubscription",
    "AlertView",
    "Authenticator",
    "Connection",
    "ConnectionRegistry",
    "Gateway",
    "GatewayAddress",
    "GatewayAddressQuery",
    "GatewayConfig",
    "GatewayMetrics",
    "GatewayNotStarted",
    "GatewayServer",
    "GatewayTargets",
    "Identity",
    "MetricsProviders",
    "RateLimiter",
    "Readiness",
    "ReadinessCheck",
    "Register",
    "Registered",
    "RegistryConfig",
    "RegistryStats",
    "RegistryStatsQuery",
    "RemoveSubscription",
    "RuleSeries",
    "SubscriptionFilter",
    "SubscriptionRefused",
    "TokenConfig",
    "Unauthorized",
    "Unregister",
    "Verdict",
    "gateway_spec",
    "protocol_schema",
    "registry_spec",
    "write_protocol_schema",
]
