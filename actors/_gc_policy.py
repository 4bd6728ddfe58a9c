"""The garbage-collector policy of a Tocsin process: freeze what startup built, collect rarely.

Why.  On the sample path almost every object dies by reference counting (a sample, its
batch, the per-evaluator message), but CPython's cyclic collector still runs a young
collection every 700 net allocations of container objects, and every so often a full
collection that walks every live object: the rules, their compiled templates, every
series' state.  Measured on the evaluation benchmark (bench/evaluation.py, JSON batches,
10,000 series, 1,000 rules) the collector took up to half of the process's CPU, and a
full collection in the middle of a batch is a latency spike of tens of milliseconds.

What.  ``apply_gc_policy()`` collects once, moves everything alive into the permanent
generation (``gc.freeze()``: startup objects are never traversed again), and raises the
young-generation threshold so that a collection runs once per tens of thousands of
allocations instead of per 700.  Garbage cycles are still collected, only later: memory
held by a cycle lives a little longer, which is bounded by the threshold.  ``gc.freeze``
exists (since CPython 3.7) for exactly this kind of long-running service whose startup
builds a large heap that never becomes garbage.

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

GC_THRESHOLDS = (50_000, 20, 10)
"""The collector thresholds the policy sets: young, middle, old (CPython's are 700, 10, 10).

A young collection every 50,000 net container allocations (about 12,000 samples of a
JSON batch) instead of every 700; the middle generation every 20 of those.  The old
generation keeps CPython's own guard: a full collection only when the objects promoted
since the last one exceed a quarter of the old generation.
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
