"""Named exceptions of the actor runtime."""

from __future__ import annotations


class ActorError(Exception):
    """Base class of every error the runtime raises."""


class ActorDead(ActorError):
    """The actor has terminated for good: its mailbox no longer accepts messages.

    Raised by ``ask`` and ``send`` to a dead actor, and set on every ask that was still
    queued (or waiting for mailbox room) when its actor stopped.
    """

    def __init__(self, path: str) -> None:
        super().__init__(f"actor {path} is dead")
        self.path = path


class ActorCrashed(ActorError):
    """The handler of an ask raised something the asker cannot be handed as is.

    Today: an ``asyncio.CancelledError`` raised inside the handler (not a cancellation of
    the actor), which in the asker would look like its own cancellation. The original
    exception is the ``__cause__``; the actor went through its supervisor as usual.
    """

    def __init__(self, path: str, error: BaseException) -> None:
        super().__init__(f"actor {path} crashed handling the ask: {error!r}")
        self.path = path
        self.error = error


class AskTimeout(ActorError, TimeoutError):
    """No reply arrived within the ask's timeout.

    The message may still be processed later; its reply is then dropped.
    """

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__(f"no reply from {path} within {timeout:g} s")
        self.path = path
        self.timeout = timeout


class MailboxFull(ActorError):
    """A bounded mailbox had no room.

    ``send`` raises it when its timeout elapses before room appears; ``tell`` never raises
    it but records the message as a dead letter with this error.
    """

    def __init__(self, path: str, capacity: int) -> None:
        super().__init__(f"mailbox of {path} is full ({capacity} messages)")
        self.path = path
        self.capacity = capacity


class ActorStartError(ActorError):
    """An actor's ``on_start`` raised; the original exception is the ``__cause__``."""

    def __init__(self, path: str, error: BaseException) -> None:
        super().__init__(f"actor {path} failed to start: {error!r}")
        self.path = path
        self.error = error


class RestartIntensityExceeded(ActorError):
    """A supervisor saw more restarts than its intensity allows within its period.

    The supervisor has stopped its children and fails with this error, which its own
    supervisor handles (escalation, as OTP).
    """

    def __init__(self, path: str, intensity: int, period: float) -> None:
        super().__init__(f"supervisor {path}: more than {intensity} restarts within {period:g} s")
        self.path = path
        self.intensity = intensity
        self.period = period


class ActorNotFound(ActorError, LookupError):
    """No live actor has this path or name."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no actor at {path}")
        self.path = path


class ChildExists(ActorError):
    """A supervisor already has a child of this name."""

    def __init__(self, path: str) -> None:
        super().__init__(f"an actor already exists at {path}")
        self.path = path


class SystemFailed(ActorError):
    """The root supervisor failed or an actor raised a fatal BaseException.

    The system has shut down; the original exception is the ``__cause__``.
    """
