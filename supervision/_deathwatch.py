"""Death watch: a cell's end for good, and who hears of it (Akka's DeathWatch).

``watch`` asks for a ``Terminated`` message when another actor terminates; ``finalize``
is the last step of ``ActorCell.terminate``: it fails or dead-letters what the mailbox
still holds and tells the watchers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from supervision._cell_state import CellState
from supervision._errors import ActorDead
from supervision._messages import ChildExited, Terminated
from supervision._ref import _Ask

if TYPE_CHECKING:
    from supervision._cell import ActorCell


def watch(watcher: ActorCell, target: ActorCell) -> None:
    """Deliver ``Terminated`` to ``watcher`` when ``target`` terminates (now, if dead)."""
    if target.state is CellState.DEAD:
        watcher.ref.tell_system(Terminated(target.ref, target.termination_error))
        return
    if target.watchers is None:
        target.watchers = set()
    target.watchers.add(watcher)
    if watcher.watching is None:
        watcher.watching = set()
    watcher.watching.add(target)


def unwatch(watcher: ActorCell, target: ActorCell) -> None:
    """Make ``watcher`` stop watching ``target``."""
    if target.watchers is not None:
        target.watchers.discard(watcher)
    if watcher.watching is not None:
        watcher.watching.discard(target)


def finalize(cell: ActorCell, error: BaseException | None) -> None:
    """Mark ``cell`` DEAD and settle its accounts; idempotent.

    Queued asks and senders waiting for room fail with ActorDead, other queued messages
    become dead letters, the path is unregistered, watchers receive ``Terminated`` and
    ``wait_terminated`` callers wake with ``error``.
    """
    if cell.state is CellState.DEAD:
        return
    cell.state = CellState.DEAD
    cell.accepting = False
    cell.dormant = False
    cell.termination_error = error
    while cell.queue:
        message = cell.queue.popleft()
        if isinstance(message, ChildExited):
            continue
        if isinstance(message, _Ask):
            if not message.future.done():
                message.future.set_exception(ActorDead(cell.path))
            message = message.message
        cell.dead_letter(message, "stopped", None)
    for putter in cell.putters or ():
        if not putter.done():
            putter.set_exception(ActorDead(cell.path))
    siblings = None if cell.parent is None else cell.parent.children
    if siblings is not None and siblings.get(cell.name) is cell:
        del siblings[cell.name]
    cell.system._unregister(cell)
    if cell.watching is not None:
        for target in cell.watching:
            if target.watchers is not None:
                target.watchers.discard(cell)
        cell.watching = None
    if cell.watchers is not None:
        for watcher in cell.watchers:
            if watcher.watching is not None:
                watcher.watching.discard(cell)
            # Past the watcher's bound, as Akka's system messages: a full mailbox
            # must not lose a death.
            watcher.ref.tell_system(Terminated(cell.ref, error))
        cell.watchers = None
    if cell._terminated_waiters is not None:
        for waiter in cell._terminated_waiters:
            if not waiter.done():
                waiter.set_result(error)
        cell._terminated_waiters = None
