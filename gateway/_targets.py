"""GatewayTargets: the actors a gateway talks to, injected as refs."""

from __future__ import annotations

from dataclasses import dataclass

from supervision import ActorRef

__all__ = ["GatewayTargets"]


@dataclass(frozen=True, slots=True)
class GatewayTargets:
    """The refs behind the gateway's frames.

    ``router``: takes ``SampleRows`` (ingest frames), ideally with a bounded mailbox so
    that a fast producer waits instead of growing memory. ``alert_manager``: answers
    ``Acknowledge``, ``Resolve``, ``CreateSilence``, ``ExpireSilence`` and
    ``QueryAlerts`` (and the registry's ``Subscribe`` and ``QueryHistory``).
    ``registry``: the ``ConnectionRegistry``. ``rules``: answers ``PutRule``,
    ``DeleteRule`` and ``ListRules`` (a ``RuleSet``); None refuses rule frames with
    ``unavailable``. ``receivers``: answers ``PutReceiver``, ``DeleteReceiver`` and
    ``ListReceivers`` (a ``NotifierSupervisor``); None refuses receiver frames so.
    """

    router: ActorRef
    alert_manager: ActorRef
    registry: ActorRef
    rules: ActorRef | None = None
    receivers: ActorRef | None = None
