"""A garbage-collector policy for a process that is mostly Tocsin: freeze, collect rarely.

Why.  On the sample path almost every object dies by reference counting (a sample, its
batch, the per-evaluator message), but CPython's cyclic collector still runs a young
collection every 700 net allocations of container objects, and every so often a full
collection that walks every live object: the rules, their compiled templates, every
series' state.  Measured on the evaluation benchmark (bench/evaluation.py, JSON batches,
10,000 series, 1,000 rules) the collector took up to half of the process's CPU, and a
full collection in the middle of a batch is a latency spike of tens of milliseconds.

What.  ``apply_gc_policy()`` collects once, moves everything alive into the permanent
generation (``gc.freeze()``: startup objects are never traversed again) and raises the
collector's thresholds (``GC_THRESHOLDS``: a young collection per 50,000 net container
allocations instead of 700).  On the benchmark's JSON path that cut the collector's
share of the CPU from 46% to 15% and doubled throughput per CPU-second.

Who, and why nobody by default.  ``tocsin serve`` does not apply it, and neither does
``AlertSystem``: garbage cycles pile up longer, and fault scenario 7 (tests/faults/
test_soak.py) measured the server's RSS growing 12 MB/min over its 30-second soak with
it, against 4-7 MB/min without, past the scenario's bound.  Freezing alone, with
CPython's thresholds, is worse than nothing: after a freeze the old generation holds
only what was built since, so CPython's guard against full collections (wait until the
objects promoted since the last one exceed a quarter of the old generation) stops
protecting, and full collections over every series' state come every 70,000
allocations (measured: the collector took half of the embedded benchmark's CPU).  A
program that is mostly Tocsin and has memory to spare may call it after startup; the
evaluation benchmark measures it with ``--gc-policy``.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

__all__ = ["GC_THRESHOLDS", "GcPolicy", "apply_gc_policy"]

GC_THRESHOLDS = (50_000, 20, 10)
"""The collector thresholds the policy sets: young, middle, old (CPython's are 700, 10, 10)."""


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
