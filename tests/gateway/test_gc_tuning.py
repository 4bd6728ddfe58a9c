"""gateway._gc_tuning: what tocsin serve does to the cyclic garbage collector once up."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gateway._gc_tuning import tune_garbage_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    """Give the test process its collector back as it was, whatever the test did."""
    thresholds = gc.get_threshold()
    frozen = gc.get_freeze_count()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not frozen:
            gc.unfreeze()


@pytest.mark.usefixtures("restored_collector")
def test_tuning_freezes_what_is_alive_and_raises_only_the_young_threshold() -> None:
    _, gen1, gen2 = gc.get_threshold()
    survivor: list[object] = [[]]  # a list is always tracked by the collector
    assert tune_garbage_collector(12_345) == (12_345, gen1, gen2)
    assert gc.get_threshold() == (12_345, gen1, gen2)
    assert gc.is_tracked(survivor)
    assert gc.get_freeze_count() > 0
    # What was alive is in the permanent generation: a full collection skips it.
    assert not any(obj is survivor for obj in gc.get_objects())
    made_after: list[object] = [[]]
    assert any(obj is made_after for obj in gc.get_objects())


@pytest.mark.usefixtures("restored_collector")
def test_zero_leaves_the_collector_as_it_was() -> None:
    gc.unfreeze()
    before = gc.get_threshold()
    assert tune_garbage_collector(0) == before
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_negative_threshold_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="gen0_threshold must be >= 0, not -1"):
        tune_garbage_collector(-1)
