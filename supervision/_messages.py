"""System messages the runtime delivers to actors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supervision._cell import ActorCell
    from supervision._ref import ActorRef


@dataclass(frozen=True, slots=True)
class Terminated:
    """A watched actor terminated for good (it will not be restarted).

    ``error`` is the exception that ended it, or None after a normal stop. A restart is not
    a termination: the ref stays valid and watchers hear nothing.
    """

    ref: ActorRef
    error: BaseException | None = None


class ChildExited:
    """Sent by a child cell to its supervisor: the instance ended on its own.

    ``error`` is None after a normal self-stop. ``incarnation`` lets the supervisor ignore
    news about an instance it has already replaced.
    """

    __slots__ = ("cell", "error", "incarnation")

    def __init__(self, cell: ActorCell, incarnation: int, error: BaseException | None) -> None:
        self.cell = cell
        self.incarnation = incarnation
        self.error = error

    def __repr__(self) -> str:
        return f"ChildExited({self.cell.path}, {self.incarnation}, {self.error!r})"
