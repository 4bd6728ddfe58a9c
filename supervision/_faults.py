"""Fault injection for tests: make a real actor crash on a poison message in its mailbox.

Enabled only on a system built with ``ActorSystem(fault_injection=True)``; a production
system refuses with ``FaultInjectionDisabled``. The crash is a real one: the cell handles
it exactly as an exception raised by ``on_receive`` (dead letter, ``on_failure``,
``on_stop``, the supervisor's decision, the restart intensity), so the fault scenarios
exercise the same code path a bug would. The poison order takes its place in mailbox
order like any message, and it is the only message the crash loses.
"""

from __future__ import annotations

from supervision._errors import ActorError


class InjectedFault(ActorError):
    """The crash ``ActorSystem.inject_crash`` ordered; the actor's handler never ran."""

    def __init__(self, path: str) -> None:
        super().__init__(f"fault injected into {path}")
        self.path = path


class FaultInjectionDisabled(ActorError, RuntimeError):
    """``inject_crash`` on a system built without ``fault_injection=True``."""


class CrashOrder:
    """The poison message: the cell raises ``InjectedFault`` when it reaches it.

    It is the dead letter (reason ``"crashed"``) the injected crash leaves behind.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "CrashOrder()"
