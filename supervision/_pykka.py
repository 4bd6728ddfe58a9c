"""Bridge: a pykka ThreadingActor as a supervised child of the asyncio tree."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pykka
from pykka.messages import ProxyGetAttr

from supervision._actor import Actor
from supervision._errors import ActorError


class PykkaActorDied(ActorError):
    """The bridged pykka actor stopped on its own (it crashed or called ``stop``)."""

    def __init__(self, path: str) -> None:
        super().__init__(f"the pykka actor behind {path} is no longer alive")
        self.path = path


class _CheckAlive:
    __slots__ = ()


_CHECK_ALIVE = _CheckAlive()


class PykkaBridge(Actor):
    """Run blocking code in a pykka ``ThreadingActor`` supervised like any other child.

    ``on_start`` starts the pykka actor in its own thread and waits (off the event loop)
    until its ``on_start`` has run; a failure there is this actor's start failure. Every
    message told or asked to the bridge is asked to the pykka actor and awaited in the
    default executor, so the event loop never blocks; an exception the pykka actor raises
    is raised by the bridge, which the supervisor then restarts with a fresh pykka actor.
    The bridge also checks every ``liveness_interval`` seconds that the pykka actor is
    alive, so one that stops on its own is noticed without traffic. ``on_stop`` stops the
    pykka actor and waits for its thread to finish its ``on_stop``.
    """

    def __init__(
        self,
        actor_class: type[pykka.ThreadingActor],
        *args: Any,
        liveness_interval: float = 1.0,
        call_timeout: float | None = 60.0,
        **kwargs: Any,
    ) -> None:
        self.actor_class = actor_class
        self._args = args
        self._kwargs = kwargs
        self._liveness_interval = liveness_interval
        self._call_timeout = call_timeout
        self.pykka_ref: pykka.ActorRef[Any] | None = None

    async def on_start(self) -> None:
        loop = asyncio.get_running_loop()
        ref = self.actor_class.start(*self._args, **self._kwargs)
        self.pykka_ref = ref
        # pykka runs on_start in the actor thread before the inbox; a ProxyGetAttr answered
        # means on_start is done, ActorDeadError means it failed.
        probe = ref.ask(ProxyGetAttr(attr_path=("actor_urn",)), block=False)
        try:
            await loop.run_in_executor(
                None, functools.partial(probe.get, timeout=self._call_timeout)
            )
        except pykka.ActorDeadError as error:
            raise PykkaActorDied(self.path) from error
        except BaseException:
            # A failed start gets no on_stop: stop the pykka actor here (once its on_start
            # returns), or its thread outlives the bridge (e.g. pykka.Timeout from a slow
            # on_start, or a shutdown cancelling the wait).
            self.pykka_ref = None
            ref.stop(block=False)
            raise
        self.timers.send_every(self._liveness_interval, _CHECK_ALIVE, key="liveness")

    async def on_receive(self, message: Any) -> Any:
        ref = self.pykka_ref
        if ref is None or not ref.is_alive():
            raise PykkaActorDied(self.path)
        if message is _CHECK_ALIVE:
            return None
        try:
            future = ref.ask(message, block=False)
        except pykka.ActorDeadError as error:
            raise PykkaActorDied(self.path) from error
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                None, functools.partial(future.get, timeout=self._call_timeout)
            )
        except pykka.ActorDeadError as error:
            raise PykkaActorDied(self.path) from error

    async def on_stop(self) -> None:
        ref, self.pykka_ref = self.pykka_ref, None
        if ref is not None and ref.is_alive():
            loop = asyncio.get_running_loop()
            # Bounded: pykka can drop a stop request that races with the actor stopping itself.
            await loop.run_in_executor(
                None, lambda: ref.stop(block=True, timeout=self._call_timeout)
            )
