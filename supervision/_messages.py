"""System messages the runtime delivers to actors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supervision._ref import ActorRef


@dataclass(frozen=True, slots=True)
class Terminated:
    """A watched actor terminated for good (it will not be restarted).

    ``error`` is the exception that ended it, or None after a normal stop. A restart is not
    a termination: the ref stays valid and watchers hear nothing.
    """

    ref: ActorRef
    error: BaseException | None = None
