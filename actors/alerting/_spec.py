"""The alert manager's child spec: permanent, one ``Subscriptions`` for all its instances."""

from __future__ import annotations

from actors.alerting._config import AlertManagerConfig
from actors.alerting._manager import AlertManager
from actors.alerting._subscriptions import Subscriptions
from actors.store import Store
from supervision import ActorRef, ChildSpec, Restart

__all__ = ["alert_manager_spec"]


def alert_manager_spec(
    store: Store,
    *,
    name: str = "alert-manager",
    config: AlertManagerConfig | None = None,
    notifications: ActorRef | None = None,
    shutdown: float = 10.0,
) -> ChildSpec:
    """Return the permanent child spec of an ``AlertManager`` over ``store``.

    Permanent, as OTP means it: restarted after a crash and after a normal exit (the
    manager stops itself when the store fails for good, to reload what is durable).
    Every instance the supervisor starts shares one ``Subscriptions``, so subscribers
    keep receiving (with what they missed replayed) across restarts. ``store`` must be
    open before the system starts and closed after it stops.
    """
    subscriptions = Subscriptions()
    return ChildSpec(
        name,
        lambda: AlertManager(
            store, config=config, notifications=notifications, subscriptions=subscriptions
        ),
        restart=Restart.PERMANENT,
        shutdown=shutdown,
    )
