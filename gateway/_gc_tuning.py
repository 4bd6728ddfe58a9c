"""How ``tocsin serve`` sets up Python's cyclic garbage collector once the tree is up.

A running server holds a few hundred thousand long-lived objects (modules, the
models' validators, templates, the configuration, the actors) and allocates many
short-lived ones per notification and sample. With CPython's defaults (a young
collection every 700 net allocations, a full one when the long-lived objects grew by a
quarter) the collector walked those long-lived objects again and again: in a Tocsin-only
webhook run (bench/notifiers.py's notifier, 16,000 notifications) it took 11-19 us per
notification, and each full collection paused the event loop for ~60 ms.

``gc.freeze()`` after start-up moves everything alive then into a permanent generation
that collections skip (what Instagram's servers do; those objects live as long as the
process anyway), and a young generation of ``gen0_threshold`` allocations makes young
collections rarer: the same run then spent 2-4 us per notification in the collector
and no full collection ran. Reference counting still frees everything that is not in
a cycle at once, so memory does not grow; cycles wait a little longer to be found.

An embedded ``AlertSystem`` leaves the collector as its host program set it.
"""

from __future__ import annotations

import gc

__all__ = ["tune_garbage_collector"]


def tune_garbage_collector(gen0_threshold: int) -> tuple[int, int, int]:
    """Freeze what is alive now and collect the young generation every ``gen0_threshold``
    allocations; 0 leaves the collector as it is. Return the thresholds in force.

    Call it once start-up is done (everything it made is then frozen).
    """
    if gen0_threshold < 0:
        raise ValueError(f"gen0_threshold must be >= 0, not {gen0_threshold}")
    if gen0_threshold:
        gc.collect()  # what start-up left as garbage goes now, not into the frozen set
        gc.freeze()
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gen0_threshold, gen1, gen2)
    threshold: tuple[int, int, int] = gc.get_threshold()
    return threshold
