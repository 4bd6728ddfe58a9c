"""Named failures of the alert lifecycle, and their ``ErrorReply`` at the actor boundary."""

from __future__ import annotations

from typing import ClassVar

from messages import ErrorCode, ErrorReply

__all__ = [
    "AlertNotFound",
    "AlertingError",
    "IllegalTransition",
    "InvalidSilence",
    "SilenceNotFound",
    "store_refusing",
    "unavailable",
]


class AlertingError(Exception):
    """Base class of the alert book's refusals; nothing was changed when one is raised.

    ``code`` is the ``ErrorCode`` the alert manager answers with; ``field`` names the
    offending command field, when there is one.
    """

    code: ClassVar[ErrorCode] = "internal"
    field: str | None = None

    def to_reply(self) -> ErrorReply:
        """Return the ``ErrorReply`` that answers the command that raised this."""
        return ErrorReply(code=self.code, message=str(self), field=self.field)


class AlertNotFound(AlertingError):
    """No alert has this id (or it was resolved so long ago that it was forgotten)."""

    code = "not_found"
    field = "alert_id"

    def __init__(self, alert_id: str) -> None:
        super().__init__(f"no alert with id {alert_id!r}")
        self.alert_id = alert_id


class SilenceNotFound(AlertingError):
    """No silence has this id."""

    code = "not_found"
    field = "silence_id"

    def __init__(self, silence_id: str) -> None:
        super().__init__(f"no silence with id {silence_id!r}")
        self.silence_id = silence_id


class IllegalTransition(AlertingError):
    """The alert's or silence's state does not allow the action (ack of a resolved alert).

    ``current`` is the state it is in, ``action`` what was attempted.
    """

    code = "illegal_transition"

    def __init__(self, what: str, current: str, action: str) -> None:
        super().__init__(f"cannot {action} {what}: it is {current}")
        self.what = what
        self.current = current
        self.action = action


class InvalidSilence(AlertingError):
    """A silence that would never mute anything: it ends before it could start."""

    code = "invalid"
    field = "ends_at"


def unavailable(error: BaseException) -> ErrorReply:
    """Return the ``unavailable`` reply to a command the store could not make durable.

    An error whose message starts with ``not confirmed`` or ``not done`` (the journal's)
    already says what became of the command; any other is a failure: not done.
    """
    message = str(error)
    if not message.startswith(("not confirmed", "not done")):
        message = f"not done, the store failed: {message}"
    return ErrorReply(code="unavailable", message=message)


def store_refusing(error: BaseException) -> ErrorReply:
    """Return the ``unavailable`` reply to a command refused because the store refuses writes.

    Nothing was applied: the client may send it again once ``/readyz`` is ready.
    """
    return ErrorReply(
        code="unavailable",
        message=f"not done: the store refuses writes ({error}); try again once it recovers",
    )
