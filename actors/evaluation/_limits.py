"""A hard cap on the series of one evaluation: the bound that forgetting idle series is not.

Forgetting (``_idle``) never drops a pending, firing or no-data-watched series, and
takes a TTL to act: a burst of unbounded label values within the TTL, or on a rule
with a ``no_data_timeout``, still grows an evaluator.  ``max_series`` bounds it: a
sample that would start a series past the cap is refused (dropped and counted in
``refused``); the series already held keep working, and a series forgotten makes room.

Cost.  The check runs only where a new series is made (``RuleEvaluation._new_series``,
from the sample loops' new-series branch): a sample of an existing series pays nothing.
Restored alerts are never refused (``restore`` makes its series without the cap).

``notify`` is called once, at the first refusal, with the cap: the evaluator logs it
there, once per rule rather than once per sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["SeriesCap"]


class SeriesCap:
    """At most ``limit`` series (inf: no cap); ``refused`` counts the samples refused."""

    __slots__ = ("limit", "notify", "refused")

    def __init__(self, limit: int | None, notify: Callable[[int], None] | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"max_series must be at least 1, not {limit!r}")
        self.limit: float = math.inf if limit is None else limit
        self.notify = notify
        self.refused = 0

    def refuse(self) -> None:
        """Count a refused sample; tell ``notify`` the first time."""
        self.refused += 1
        if self.refused == 1 and self.notify is not None:
            self.notify(int(self.limit))
