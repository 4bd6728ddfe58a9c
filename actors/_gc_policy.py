"""The garbage-collector policy of a Tocsin process: freeze what startup built.

Why.  On the sample path almost every object dies by reference counting (a sample, its
batch, the per-evaluator message), but CPython's cyclic collector still runs a young
collection every 700 net allocations of container objects, and every so often a full
collection that walks every live object: the rules, their compiled templates, every
series' state.  Measured on the evaluation benchmark (bench/evaluation.py, JSON batches,
10,000 series, 1,000 rules) the collector took up to half of the process's CPU, and a
full collection in the middle of a batch is a latency spike of tens of milliseconds.

What.  ``apply_gc_policy()`` collects once and moves everything alive into the permanent
generation (``gc.freeze()``): what startup built (rules, compiled templates, the actor
tree, imported modules) is never traversed again.  ``gc.freeze`` exists (since CPython
3.7) for exactly this kind of long-running service.  The collector's thresholds stay
CPython's (``GC_THRESHOLDS``): a higher young-generation threshold (50,000) doubled the
benchmark's JSON throughput per CPU-second (46% of its CPU was the collector, 15% with
it), but it also lets garbage cycles pile up longer: fault scenario 7 (tests/faults/
test_soak.py) measured the server's RSS growing at 12 MB/min over its 30-second soak
with it, against 4 MB/min without, past the scenario's bound.  Raising the thresholds
is a trade of memory for CPU that ``apply_gc_policy(thresholds)`` leaves to the caller.

Who.  ``tocsin serve`` applies it once the system has started (its rules loaded).  An
embedding program owns its process, so ``AlertSystem`` does not change the collector
behind its back: call ``apply_gc_policy()`` yourself after startup if the program is
mostly Tocsin.  The evaluation benchmark applies it the same way, so it measures what
``tocsin serve`` runs.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

__all__ = ["GC_THRESHOLDS", "GcPolicy", "apply_gc_policy"]

GC_THRESHOLDS = (700, 10, 10)
"""The collector thresholds the policy sets by default: young, middle, old (CPython's own).

See the module docstring for why ``tocsin serve`` does not raise them (memory) and what
raising them buys (CPU on bursts of JSON batches).
"""


@dataclass(frozen=True, slots=True)
class GcPolicy:
    """What ``apply_gc_policy`` did: the thresholds before and after, objects frozen."""

    previous_thresholds: tuple[int, int, int]
    thresholds: tuple[int, int, int]
    frozen: int


def apply_gc_policy(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> GcPolicy:
    """Collect, freeze every live object, and set the collector's ``thresholds``.

    Call it once, after startup (configuration parsed, rules loaded, actors started),
    from the program that owns the process.  Calling it again freezes what was built
    since, which is harmless.  Raises ``ValueError`` for a threshold below 1 (0 would
    disable the collector: use ``gc.disable()`` for that, knowingly).
    """
    if len(thresholds) != 3 or any(value < 1 for value in thresholds):
        raise ValueError(f"gc thresholds must be three integers >= 1, got {thresholds!r}")
    young, middle, old = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    return GcPolicy(
        previous_thresholds=(young, middle, old),
        thresholds=(thresholds[0], thresholds[1], thresholds[2]),
        frozen=gc.get_freeze_count(),
    )
