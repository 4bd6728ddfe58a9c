"""How Tocsin's actors name each other: by ref, absolute path, or sibling name."""

from __future__ import annotations

from supervision import Actor, ActorRef

__all__ = ["resolve"]


def resolve(actor: Actor, target: ActorRef | str) -> ActorRef:
    """Return the ref that ``target`` names, seen from ``actor``.

    ``target`` is a ref (returned as is), an absolute path (``/alerting/alert-ledger``)
    or the name of a sibling under the same supervisor (``metric-router``).  Call it
    from ``on_start`` or later.  Raises ``ActorNotFound`` if nothing lives there.
    """
    if isinstance(target, ActorRef):
        return target
    if target.startswith("/"):
        return actor.system.lookup(target)
    parent = actor.path.rsplit("/", 1)[0]
    return actor.system.lookup(f"{parent}/{target}")
