"""AlertSystem: the whole of Tocsin in one process, as DESIGN.md's supervision tree.

The public names of the embedding API; the code lives in private modules by concept:
``gateway._tree`` (the tree's shape, paths and root limits), ``gateway._alert_system``
(starting and stopping it; rules, receivers, samples), ``gateway._alert_commands``
(the alert manager's commands and queries) and ``gateway._alert_events`` (a
subscription's events).
"""

from gateway._alert_commands import CommandRefused
from gateway._alert_events import AlertEvents
from gateway._alert_system import AlertSystem, AlertSystemNotRunning
from gateway._tree import ROOT_BACKOFF, ROOT_INTENSITY, ROOT_PERIOD, StoreKeeper

__all__ = [
    "ROOT_BACKOFF",
    "ROOT_INTENSITY",
    "ROOT_PERIOD",
    "AlertEvents",
    "AlertSystem",
    "AlertSystemNotRunning",
    "CommandRefused",
    "StoreKeeper",
]
