"""Tocsin's actor runtime: asyncio actors with Erlang/OTP-style supervision.

Knows nothing about alerts; reusable on its own. See docs/RUNTIME.md.
"""

from supervision._actor import Actor, Reply
from supervision._backoff import Backoff
from supervision._clock import Cancellable, Clock, FakeClock, RealClock
from supervision._deadletters import DeadLetter, DeadLetters
from supervision._errors import (
    ActorCrashed,
    ActorDead,
    ActorError,
    ActorNotFound,
    ActorStartError,
    AskTimeout,
    ChildExists,
    MailboxFull,
    RestartIntensityExceeded,
    SystemFailed,
)
from supervision._faults import CrashOrder, FaultInjectionDisabled, InjectedFault
from supervision._intensity import RestartIntensity
from supervision._logging import configure_logging
from supervision._messages import Terminated
from supervision._pykka import PykkaActorDied, PykkaBridge
from supervision._ref import ActorRef
from supervision._strategy import Restart, Strategy, affected_children, should_restart
from supervision._supervisor import (
    ChildInfo,
    ChildSpec,
    StartChild,
    Supervisor,
    TerminateChild,
    WhichChildren,
)
from supervision._system import ActorSystem
from supervision._timers import Timers

__all__ = [
    "Actor",
    "ActorCrashed",
    "ActorDead",
    "ActorError",
    "ActorNotFound",
    "ActorRef",
    "ActorStartError",
    "ActorSystem",
    "AskTimeout",
    "Backoff",
    "Cancellable",
    "ChildExists",
    "ChildInfo",
    "ChildSpec",
    "Clock",
    "CrashOrder",
    "DeadLetter",
    "DeadLetters",
    "FakeClock",
    "FaultInjectionDisabled",
    "InjectedFault",
    "MailboxFull",
    "PykkaActorDied",
    "PykkaBridge",
    "RealClock",
    "Reply",
    "Restart",
    "RestartIntensity",
    "RestartIntensityExceeded",
    "StartChild",
    "Strategy",
    "Supervisor",
    "SystemFailed",
    "TerminateChild",
    "Terminated",
    "Timers",
    "WhichChildren",
    "affected_children",
    "configure_logging",
    "should_restart",
]
