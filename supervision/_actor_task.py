"""The asyncio task behind an ActorCell: one incarnation's lifecycle and mailbox loop.

``ActorCell`` owns the state (mailbox, instance, children); this module runs it:
``on_start``, then messages in arrival order (``THROUGHPUT`` at a time), then
``on_failure`` after a crash and ``on_stop``, then the report to the supervisor.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from supervision._actor import Actor
from supervision._cell_state import CellState
from supervision._errors import ActorCrashed, ActorDead, ActorStartError
from supervision._faults import CrashOrder, InjectedFault
from supervision._ref import _Ask
from supervision._timers import _Timed

if TYPE_CHECKING:
    from supervision._cell import ActorCell

# Messages handled before yielding to the event loop when the mailbox stays non-empty, so
# that one busy actor cannot starve the others (Akka's "throughput" setting).
THROUGHPUT = 300


def is_fatal(error: BaseException) -> bool:
    """Tell whether ``error`` must shut the whole system down rather than crash one actor."""
    # KeyboardInterrupt, SystemExit and friends shut the whole system down; an unrequested
    # CancelledError raised inside a handler is an ordinary failure.
    return not isinstance(error, Exception | asyncio.CancelledError)


async def run_incarnation(
    cell: ActorCell, instance: Actor, started: asyncio.Future[None] | None
) -> None:
    """Run one incarnation of ``cell``'s actor: ``on_start``, the mailbox, ``on_stop``.

    The body of the cell's task. ``started`` (None for a dormant actor roused by its
    first message) completes once ``on_start`` returned, or fails with
    ``ActorStartError``. A crash runs ``on_failure`` and is reported to the supervisor;
    a fatal error (KeyboardInterrupt, SystemExit) shuts the system down.
    """
    if started is not None:
        try:
            await instance.on_start()
        except BaseException as start_error:
            _start_failed(cell, start_error, started)
            if isinstance(start_error, asyncio.CancelledError) and _cancel_requested(cell):
                raise
            return
        cell.state = CellState.RUNNING
        if not started.done():
            started.set_result(None)
    crash: tuple[BaseException, object] | None = None
    try:
        crash = await _process_mailbox(cell, instance)
    except asyncio.CancelledError:
        # Only a shutdown timeout cancels the task: skip on_stop, just clean up.
        cell._stopped(instance)
        raise
    failure: BaseException | None = None
    if crash is not None:
        failure, message = crash
        _record_crash(cell, failure, message)
        try:
            await instance.on_failure(failure, message)
        except asyncio.CancelledError:
            if _cancel_requested(cell):
                cell._stopped(instance)
                raise
        except BaseException as failure_error:
            cell.log.exception("on_failure raised")
            if is_fatal(failure_error) and not is_fatal(failure):
                failure = failure_error
    try:
        await instance.on_stop()
    except asyncio.CancelledError:
        if _cancel_requested(cell):
            cell._stopped(instance)
            raise
        cell.log.exception("on_stop was cancelled")
    except BaseException as stop_error:
        cell.log.exception("on_stop raised")
        if is_fatal(stop_error) and failure is None:
            failure = stop_error
    cell._stopped(instance)
    if failure is not None and is_fatal(failure):
        cell.system._fatal(failure)
    elif failure is not None or cell.self_stop:
        cell._exited(failure)


async def _process_mailbox(cell: ActorCell, instance: Actor) -> tuple[BaseException, object] | None:
    queue = cell.queue
    receive = instance.on_receive
    budget = THROUGHPUT
    while True:
        if cell.stop_requested:
            return None
        if not queue:
            # An idle actor must not keep its last message alive: a batch of samples
            # would stay in memory, and reach the collector's old generation, in
            # every evaluator until its next message.
            message = None
            # Waited for inline, not in a helper coroutine: one coroutine fewer per
            # wait and per idle actor (faster asks, smaller actors).
            waiter: asyncio.Future[None] = cell.loop.create_future()
            cell.waiter = waiter
            try:
                await waiter
            finally:
                cell.waiter = None
            continue
        message = queue.popleft()
        if cell.putters:
            cell._release_putter()
        if message.__class__ is _Ask:
            ask: _Ask = message  # type: ignore[assignment,unused-ignore]
            cell.current_ask = ask
            try:
                result = await receive(ask.message)
            except BaseException as error:
                cell.current_ask = None
                if isinstance(error, asyncio.CancelledError) and _cancel_requested(cell):
                    # The shutdown timeout cut the handler off: no reply will come.
                    if not ask.future.done():
                        ask.future.set_exception(ActorDead(cell.path))
                    raise
                return error, ask
            if cell.current_ask is ask:
                cell.current_ask = None
                if not ask.future.done():
                    ask.future.set_result(result)
        else:
            if message.__class__ is _Timed:
                message = message.message
            elif message.__class__ is CrashOrder:
                # ActorSystem.inject_crash: a real crash, handled as a raising handler.
                return InjectedFault(cell.path), message
            try:
                await receive(message)
            except BaseException as error:
                if isinstance(error, asyncio.CancelledError) and _cancel_requested(cell):
                    raise
                return error, message
        budget -= 1
        if not budget:
            budget = THROUGHPUT
            await asyncio.sleep(0)


def _cancel_requested(cell: ActorCell) -> bool:
    task = cell.task
    return task is not None and task.cancelling() > 0


def _start_failed(cell: ActorCell, error: BaseException, started: asyncio.Future[None]) -> None:
    cell.log.error("on_start failed", exc_info=error)
    if cell._timers is not None:
        cell._timers.cancel_all()
    cell.instance = None
    cell.state = CellState.STOPPED
    if not started.done():
        start_error = ActorStartError(cell.path, error)
        start_error.__cause__ = error
        started.set_exception(start_error)
    if is_fatal(error):
        cell.system._fatal(error)


def _record_crash(cell: ActorCell, error: BaseException, message: object) -> None:
    if isinstance(message, _Ask):
        if not message.future.done():
            if is_fatal(error):
                # Raised in the asking task, KeyboardInterrupt or SystemExit would escape
                # to the event loop; the system is shutting down, the actor with it.
                dead = ActorDead(cell.path)
                dead.__cause__ = error
                message.future.set_exception(dead)
            elif isinstance(error, asyncio.CancelledError):
                # Handed over as is, it would look like a cancellation of the asker.
                crashed = ActorCrashed(cell.path, error)
                crashed.__cause__ = error
                message.future.set_exception(crashed)
            else:
                message.future.set_exception(error)
        message = message.message
    if not is_fatal(error):
        cell.log.error("actor crashed", message_type=type(message).__name__, exc_info=error)
        cell.system.failures[cell.path] += 1
    cell.dead_letter(message, "crashed", error)
