"""CellState: where an actor is in its life (NEW, STARTING, RUNNING, STOPPED, DEAD)."""

from enum import Enum


class CellState(Enum):
    """Where an actor is in its life. STOPPED can be restarted; DEAD is final."""

    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"
    DEAD = "dead"
