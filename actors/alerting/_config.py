"""The alert manager's configuration: one typed model with defaults that work."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from actors.alerting._escalation import EscalationPolicy
from actors.alerting._inhibition import InhibitRule
from actors.alerting._routing import RouteConfig, RouteInvalid, RouteTree

__all__ = ["AlertManagerConfig"]


class AlertManagerConfig(BaseModel):
    """Configure the alert manager; every field has a default that works.

    ``route``: the routing tree (Alertmanager's ``route``); None sends no notification.
    ``escalation_policies``: the policies routes name in ``escalation``.
    ``inhibit_rules``: as Alertmanager's. ``max_resolved``: resolved alerts kept
    queryable in memory (and in the store's state documents); older ones live on in
    the history only. ``max_ended_silences``: likewise for ended silences.
    ``store_retry_for``: seconds the commands waiting for a batch the store refuses
    (``StoreUnavailable``) wait before they are answered ``unavailable`` (not
    confirmed); the batch itself is retried until the store takes it. Keep it below
    the gateway's ``ask_timeout`` (10 s) so that clients get this answer, not a timeout.
    ``checkpoint_events`` / ``checkpoint_interval``: state documents are written at a
    checkpoint after that many events or seconds (and at a clean stop); a restart
    replays the events since the last one, so these bound the work of a restart.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    route: RouteConfig | None = None
    escalation_policies: tuple[EscalationPolicy, ...] = ()
    inhibit_rules: tuple[InhibitRule, ...] = ()
    max_resolved: Annotated[int, Field(ge=0)] = 10_000
    max_ended_silences: Annotated[int, Field(ge=0)] = 1_000
    store_retry_for: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 5.0
    checkpoint_events: Annotated[int, Field(ge=1)] = 20_000
    checkpoint_interval: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 5.0

    @model_validator(mode="after")
    def _routes_name_known_policies(self) -> Self:
        names = [policy.name for policy in self.escalation_policies]
        if len(names) != len(set(names)):
            raise ValueError(f"escalation policy names must be unique, got {names}")
        if self.route is not None:
            try:
                tree = RouteTree(self.route)
            except RouteInvalid as exc:
                raise ValueError(str(exc)) from None
            unknown = sorted(tree.escalations() - set(names))
            if unknown:
                raise ValueError(f"routes name unknown escalation policies: {unknown}")
        return self
