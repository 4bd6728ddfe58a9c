"""What happens when each hook fails, including CancelledError and fatal BaseExceptions.

Every scenario also checks that no task the runtime created is left unfinished.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from supervision import (
    Actor,
    ActorCrashed,
    ActorDead,
    ActorStartError,
    ActorSystem,
    ChildSpec,
    FakeClock,
    Restart,
    Supervisor,
    SystemFailed,
)
from tests.supervision.probes import Boom, Crash, Events, no_leaked_tasks, probe_spec


class Faulty(Actor):
    """Record every hook as ``<hook>:<name>`` and raise from the hooks named in ``fail``.

    ``fail`` maps a hook name ("start", "receive", "failure", "stop") to the exception to
    raise there; "start_once" raises only from the first restart's ``on_start``.
    """

    def __init__(self, name: str, events: Events, fail: dict[str, BaseException]) -> None:
        self.name = name
        self.events = events
        self.fail = fail

    def _maybe_raise(self, hook: str) -> None:
        error = self.fail.get(hook)
        if error is not None:
            raise error

    async def on_start(self) -> None:
        starts = self.events.count(f"start:{self.name}")
        self.events.record(f"start:{self.name}")
        self._maybe_raise("start")
        if starts == 1:
            self._maybe_raise("start_once")

    async def on_receive(self, message: Any) -> Any:
        self.events.record(f"receive:{self.name}:{message}")
        self._maybe_raise("receive")
        return message

    async def on_failure(self, error: BaseException, message: object) -> None:
        self.events.record(f"failure:{self.name}")
        self._maybe_raise("failure")

    async def on_stop(self) -> None:
        self.events.record(f"stop:{self.name}")
        self._maybe_raise("stop")


def faulty(
    name: str,
    events: Events,
    restart: Restart = Restart.PERMANENT,
    **fail: BaseException,
) -> ChildSpec:
    return ChildSpec(name, lambda: Faulty(name, events, fail), restart)


FATAL = [KeyboardInterrupt("ctrl-c"), SystemExit(3)]

# -- on_start ------------------------------------------------------------------------------------


async def test_on_start_failing_at_system_start_raises_actor_start_error_from_system_start() -> (
    None
):
    events = Events()
    error = Boom("no start")
    async with no_leaked_tasks():
        system = ActorSystem(
            [
                probe_spec("a", events),
                probe_spec("b", events),
                faulty("fails", events, start=error),
                probe_spec("never", events),
            ],
            clock=FakeClock(),
        )

        with pytest.raises(ActorStartError) as raised:
            await system.start()

        # The root's start failed because its child's did: the chain leads to the error.
        assert raised.value.path == "/"
        child_error = raised.value.error
        assert isinstance(child_error, ActorStartError)
        assert child_error.path == "/fails"
        assert child_error.error is error
        # Started children stop in reverse order; the failed one's on_stop is not called.
        assert events.log == ["start:a", "start:b", "start:fails", "stop:b", "stop:a"]
        assert system.paths() == []
        await system.wait_terminated()


async def test_on_start_failing_in_a_child_fails_the_start_of_its_run_time_supervisor() -> None:
    events = Events()
    error = Boom("no start")
    async with no_leaked_tasks(), ActorSystem(clock=FakeClock()) as system:
        team = ChildSpec(
            "team",
            lambda: Supervisor([probe_spec("ok", events), faulty("fails", events, start=error)]),
        )

        with pytest.raises(ActorStartError) as raised:
            await system.start_child(team)

        assert raised.value.path == "/team"
        assert isinstance(raised.value.error, ActorStartError)
        assert raised.value.error.error is error
        assert events.log == ["start:ok", "start:fails", "stop:ok"]
        assert system.paths() == ["/"]


async def test_on_start_failing_once_during_a_restart_is_retried_by_the_supervisor() -> None:
    events = Events()
    async with (
        no_leaked_tasks(),
        ActorSystem(
            [faulty("flaky", events, receive=Boom("crash"), start_once=Boom("not yet"))],
            clock=FakeClock(),
        ) as system,
    ):
        ref = system.lookup("flaky")
        ref.tell("x")
        await events.until("start:flaky", 3)

        assert events.log == [
            "start:flaky",
            "receive:flaky:x",
            "failure:flaky",
            "stop:flaky",
            "start:flaky",  # fails: on_stop is not called
            "start:flaky",
        ]
        assert ref.is_alive()
        assert system.running


# -- on_receive, on_failure, on_stop -------------------------------------------------------------


async def test_on_failure_raising_is_logged_and_the_actor_still_stops_and_restarts() -> None:
    events = Events()
    async with (
        no_leaked_tasks(),
        ActorSystem(
            [faulty("f", events, receive=Boom("crash"), failure=Boom("in on_failure"))],
            clock=FakeClock(),
        ) as system,
    ):
        system.lookup("f").tell("x")
        await events.until("start:f", 2)

        assert events.log == ["start:f", "receive:f:x", "failure:f", "stop:f", "start:f"]
        assert system.dead_letters.by_reason == {"crashed": 1}


async def test_on_stop_raising_after_a_crash_is_logged_and_the_actor_is_still_restarted() -> None:
    events = Events()
    async with (
        no_leaked_tasks(),
        ActorSystem(
            [faulty("f", events, receive=Boom("crash"), stop=Boom("in on_stop"))],
            clock=FakeClock(),
        ) as system,
    ):
        system.lookup("f").tell("x")
        await events.until("start:f", 2)

        assert events.log == ["start:f", "receive:f:x", "failure:f", "stop:f", "start:f"]


async def test_on_stop_raising_during_terminate_child_is_logged_and_the_stop_completes() -> None:
    events = Events()
    async with (
        no_leaked_tasks(),
        ActorSystem([faulty("f", events, stop=Boom("in on_stop"))], clock=FakeClock()) as system,
    ):
        ref = system.lookup("f")

        await system.terminate_child("f")

        assert not ref.is_alive()
        assert events.log == ["start:f", "stop:f"]
        assert system.running


async def test_on_stop_raising_during_shutdown_does_not_stop_the_shutdown() -> None:
    events = Events()
    async with no_leaked_tasks():
        system = ActorSystem(
            [probe_spec("a", events), faulty("f", events, stop=Boom("in on_stop"))],
            clock=FakeClock(),
        )
        await system.start()

        await system.shutdown()

        assert events.log == ["start:a", "start:f", "stop:f", "stop:a"]
        await system.wait_terminated()


# -- CancelledError that nobody requested --------------------------------------------------------


async def test_a_cancelled_error_raised_by_a_handler_is_an_ordinary_crash() -> None:
    events = Events()
    cancelled = asyncio.CancelledError("not a cancellation of the actor")
    async with (
        no_leaked_tasks(),
        ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system,
    ):
        ref = system.lookup("p")
        ref.tell(Crash(cancelled))
        ref.tell("after")

        await events.until("got:p:after")

        assert events.log == ["start:p", "crash:p", "stop:p", "start:p", "got:p:after"]
        [letter] = system.dead_letters.recent()
        assert (letter.reason, letter.error) == ("crashed", cancelled)
        assert system.running


async def test_an_asker_whose_handler_raised_cancelled_error_gets_actor_crashed() -> None:
    events = Events()
    cancelled = asyncio.CancelledError("not a cancellation of the asker")
    async with (
        no_leaked_tasks(),
        ActorSystem([probe_spec("p", events)], clock=FakeClock()) as system,
    ):
        ref = system.lookup("p")
        with pytest.raises(ActorCrashed) as raised:
            await ref.ask(Crash(cancelled))

        assert raised.value.__cause__ is cancelled
        ref.tell("after")
        await events.until("got:p:after")
        assert system.running


async def test_a_cancelled_error_raised_by_on_start_is_a_start_failure() -> None:
    events = Events()
    async with no_leaked_tasks(), ActorSystem(clock=FakeClock()) as system:
        with pytest.raises(ActorStartError) as raised:
            await system.start_child(faulty("f", events, start=asyncio.CancelledError()))

        assert isinstance(raised.value.error, asyncio.CancelledError)
        assert system.running


async def test_a_cancelled_error_raised_by_on_stop_does_not_stop_the_restart() -> None:
    events = Events()
    async with (
        no_leaked_tasks(),
        ActorSystem(
            [faulty("f", events, receive=Boom("crash"), stop=asyncio.CancelledError())],
            clock=FakeClock(),
        ) as system,
    ):
        system.lookup("f").tell("x")
        await events.until("start:f", 2)

        assert events.log == ["start:f", "receive:f:x", "failure:f", "stop:f", "start:f"]
        assert system.lookup("f").is_alive()


# -- KeyboardInterrupt and SystemExit ------------------------------------------------------------


@pytest.mark.parametrize("fatal", FATAL, ids=lambda e: type(e).__name__)
async def test_a_fatal_error_in_a_handler_shuts_the_system_down_in_order(
    fatal: BaseException,
) -> None:
    events = Events()
    async with no_leaked_tasks():
        system = ActorSystem(
            [
                probe_spec("a", events),
                ChildSpec("team", lambda: Supervisor([probe_spec("victim", events)])),
                probe_spec("c", events),
            ],
            clock=FakeClock(),
        )
        await system.start()
        refs = [system.lookup(path) for path in system.paths()]

        system.lookup("victim").tell(Crash(fatal))

        with pytest.raises(SystemFailed) as raised:
            await system.wait_terminated()
        assert raised.value.__cause__ is fatal
        assert system.failure is fatal
        # The victim's on_stop runs, then the whole tree stops in reverse start order.
        assert events.since(3) == ["crash:victim", "stop:victim", "stop:c", "stop:a"]
        assert not any(ref.is_alive() for ref in refs)
        assert not system.running


@pytest.mark.parametrize("fatal", FATAL, ids=lambda e: type(e).__name__)
async def test_the_asker_of_a_message_that_raised_a_fatal_error_gets_actor_dead(
    fatal: BaseException,
) -> None:
    events = Events()
    async with no_leaked_tasks():
        system = ActorSystem([probe_spec("victim", events)], clock=FakeClock())
        await system.start()

        # The fatal error itself must not surface in an arbitrary asking task.
        with pytest.raises(ActorDead) as raised:
            await system.lookup("victim").ask(Crash(fatal))

        assert raised.value.__cause__ is fatal
        with pytest.raises(SystemFailed):
            await system.wait_terminated()


@pytest.mark.parametrize("hook", ["start", "stop", "failure"])
@pytest.mark.parametrize("fatal", FATAL, ids=lambda e: type(e).__name__)
async def test_a_fatal_error_in_any_hook_shuts_the_system_down(
    hook: str, fatal: BaseException
) -> None:
    events = Events()
    fail = {hook: fatal}
    if hook == "failure":
        fail["receive"] = Boom("crash")
    async with no_leaked_tasks():
        system = ActorSystem(
            [probe_spec("bystander", events), faulty("f", events)],
            clock=FakeClock(),
        )
        await system.start()
        spec = ChildSpec("late", lambda: Faulty("late", events, fail))
        if hook == "start":
            with pytest.raises(ActorStartError):
                await system.start_child(spec)
        else:
            ref = await system.start_child(spec)
            if hook == "stop":
                await system.terminate_child("late")
            else:
                ref.tell("x")

        with pytest.raises(SystemFailed) as raised:
            await system.wait_terminated()

        assert raised.value.__cause__ is fatal
        assert events.log[-2:] == ["stop:f", "stop:bystander"]


async def test_a_fatal_error_in_on_start_at_system_start_fails_the_start_and_the_system() -> None:
    events = Events()
    fatal = KeyboardInterrupt()
    async with no_leaked_tasks():
        system = ActorSystem(
            [probe_spec("a", events), faulty("f", events, start=fatal)], clock=FakeClock()
        )

        with pytest.raises(ActorStartError):
            await system.start()

        with pytest.raises(SystemFailed) as raised:
            await system.wait_terminated()
        assert raised.value.__cause__ is fatal
        assert events.log == ["start:a", "start:f", "stop:a"]
