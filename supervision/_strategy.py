"""Supervision decisions as plain functions: which children restart, and whether."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class Strategy(StrEnum):
    """How a child's failure affects its siblings (OTP names and meanings)."""

    ONE_FOR_ONE = "one_for_one"
    """Restart only the child that exited."""
    ONE_FOR_ALL = "one_for_all"
    """Stop all the other children, then restart all of them."""
    REST_FOR_ONE = "rest_for_one"
    """Stop the children started after it, then restart it and them."""


class Restart(StrEnum):
    """When a child is restarted (OTP names and meanings)."""

    PERMANENT = "permanent"
    """Always restarted, even after a normal exit."""
    TRANSIENT = "transient"
    """Restarted only after an abnormal exit (an exception)."""
    TEMPORARY = "temporary"
    """Never restarted; terminated when it exits."""


def should_restart(restart: Restart, abnormal: bool) -> bool:
    """Return whether a child of type ``restart`` that exited is restarted.

    ``abnormal`` is True when it exited with an exception, False after a normal stop.
    """
    if restart is Restart.PERMANENT:
        return True
    if restart is Restart.TRANSIENT:
        return abnormal
    return False


def affected_children(strategy: Strategy, order: Sequence[str], exited: str) -> list[str]:
    """Return the children to stop and restart, in start order, when ``exited`` exits.

    ``order`` is the supervisor's children in start order and must contain ``exited``.
    """
    if exited not in order:
        raise ValueError(f"{exited!r} is not a child")
    if strategy is Strategy.ONE_FOR_ONE:
        return [exited]
    if strategy is Strategy.ONE_FOR_ALL:
        return list(order)
    return list(order[order.index(exited) :])
