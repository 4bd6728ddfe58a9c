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

Who.  ``tocsin serve`` and ``tocsin demo`` apply it once their tree is up, with a young
generation of ``[server] gc_gen0_threshold`` allocations (10,000 by default, CPython's
700 and 10 for the rest; 0: not at all), the thresholds ``ServerConfig.gc_thresholds``
returns. In a Tocsin-only webhook run (16,000 notifications through the notifier) the
collector took 11-19 us per notification with CPython's defaults, most of it in full
collections over the ~130k objects start-up left, each pausing the loop ~60 ms; with
the policy, 2-4 us and no full collection. ``AlertSystem`` does not apply it: an
embedded system leaves the collector to its host program.

Memory.  Garbage cycles wait longer to be found. With ``GC_THRESHOLDS`` (a young
generation of 50,000) fault scenario 7 (tests/faults/test_soak.py, a real ``tocsin
serve``) measured its RSS growing 12 MB/min over a 30-second soak, against 4-7 MB/min
without; with serve's 10,000 (and uvloop) a 300-second soak measured +0.09 MB/min
after its warm-up, under the 1 MB/min bound (docs/RELIABILITY.md, scenario 7). Freezing
alone, with CPython's thresholds, is worse than nothing: after a freeze the old
generation holds only what was built since, so CPython's guard against full collections
(wait until the objects promoted since the last one exceed a quarter of the old
generation) stops protecting, and full collections over every series' state come every
70,000 allocations (measured: the collector took half of the embedded benchmark's CPU).
The evaluation benchmark measures ``GC_THRESHOLDS`` with ``--gc-policy``.
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
