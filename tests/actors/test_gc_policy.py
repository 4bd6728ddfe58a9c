"""apply_gc_policy: the opt-in process-wide collector policy the benchmark measures."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from actors import GC_THRESHOLDS, apply_gc_policy


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_policy_freezes_what_is_alive_and_sets_the_thresholds() -> None:
    survivor = [object() for _ in range(10)]
    policy = apply_gc_policy()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert policy.thresholds == GC_THRESHOLDS
    assert policy.frozen == gc.get_freeze_count() > len(survivor)
    assert GC_THRESHOLDS[0] > policy.previous_thresholds[0]


def test_garbage_cycles_made_after_the_policy_are_still_collected() -> None:
    apply_gc_policy((50, 10, 10))

    class Node:
        def __init__(self) -> None:
            self.me = self

    collected_before = sum(generation["collected"] for generation in gc.get_stats())
    for _ in range(200):
        Node()
    gc.collect()
    collected_after = sum(generation["collected"] for generation in gc.get_stats())
    assert collected_after - collected_before >= 200


def test_a_caller_may_raise_the_thresholds() -> None:
    assert apply_gc_policy((50_000, 20, 10)).thresholds == gc.get_threshold() == (50_000, 20, 10)


@pytest.mark.parametrize("thresholds", [(0, 10, 10), (700, -1, 10), (700, 10)])
def test_thresholds_below_one_or_not_three_are_refused(thresholds: tuple[int, ...]) -> None:
    before = gc.get_threshold()
    with pytest.raises(ValueError, match="gc thresholds"):
        apply_gc_policy(thresholds)  # type: ignore[arg-type]
    assert gc.get_threshold() == before
