"""The supervision decisions as plain code: intensity, backoff, strategy, restart type."""

from __future__ import annotations

import random

import pytest

from supervision import (
    Actor,
    Backoff,
    ChildSpec,
    Restart,
    RestartIntensity,
    Strategy,
    Supervisor,
    affected_children,
    should_restart,
)

# -- RestartIntensity ---------------------------------------------------------------------------


def test_restarts_up_to_the_intensity_within_the_period_do_not_exceed_it() -> None:
    intensity = RestartIntensity(3, 5.0)

    assert [intensity.record(t) for t in (0.0, 1.0, 2.0)] == [False, False, False]


def test_one_restart_more_than_the_intensity_within_the_period_exceeds_it() -> None:
    intensity = RestartIntensity(3, 5.0)
    for t in (0.0, 1.0, 2.0):
        intensity.record(t)

    assert intensity.record(4.999) is True


def test_a_restart_exactly_one_period_later_has_left_the_window() -> None:
    intensity = RestartIntensity(3, 5.0)
    for t in (0.0, 1.0, 2.0):
        intensity.record(t)

    # The window is (now - period, now]: the restart at 0.0 no longer counts at 5.0.
    assert intensity.record(5.0) is False
    assert intensity.recent(5.0) == 3


def test_restarts_spread_wider_than_the_period_never_exceed_the_intensity() -> None:
    intensity = RestartIntensity(1, 5.0)

    assert [intensity.record(t) for t in (0.0, 5.0, 10.0, 15.0, 20.0)] == [False] * 5


def test_intensity_zero_is_exceeded_by_the_first_restart() -> None:
    assert RestartIntensity(0, 5.0).record(0.0) is True


def test_recent_counts_only_the_restarts_inside_the_window() -> None:
    intensity = RestartIntensity(10, 5.0)
    for t in (0.0, 1.0, 2.0, 3.0):
        intensity.record(t)

    assert intensity.recent(3.0) == 4
    assert intensity.recent(6.0) == 2
    assert intensity.recent(8.0) == 0


def test_reset_forgets_every_recorded_restart() -> None:
    intensity = RestartIntensity(1, 5.0)
    intensity.record(0.0)
    intensity.reset()

    assert intensity.recent(0.0) == 0
    assert intensity.record(0.0) is False


@pytest.mark.parametrize(("value", "period"), [(-1, 5.0), (1, 0.0), (1, -1.0)])
def test_restart_intensity_rejects_a_negative_intensity_or_a_non_positive_period(
    value: int, period: float
) -> None:
    with pytest.raises(ValueError, match="must be"):
        RestartIntensity(value, period)


# -- Backoff --------------------------------------------------------------------------------------


def test_backoff_grows_by_the_factor_from_the_minimum() -> None:
    backoff = Backoff(min=0.1, max=30.0, factor=2.0, jitter=0.0)

    assert [backoff.delay(n) for n in range(5)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6])


def test_backoff_is_capped_at_the_maximum() -> None:
    backoff = Backoff(min=1.0, max=10.0, factor=3.0, jitter=0.0)

    assert [backoff.delay(n) for n in range(4)] == [1.0, 3.0, 9.0, 10.0]
    assert backoff.delay(10_000) == 10.0


def test_backoff_with_factor_one_stays_at_the_minimum() -> None:
    backoff = Backoff(min=0.5, max=30.0, factor=1.0, jitter=0.0)

    assert {backoff.delay(n) for n in range(20)} == {0.5}


def test_backoff_with_minimum_zero_never_waits() -> None:
    backoff = Backoff(min=0.0, max=30.0, jitter=0.5)

    assert {backoff.delay(n, random.Random(1)) for n in range(10)} == {0.0}


@pytest.mark.parametrize("jitter", [0.1, 0.5, 1.0])
def test_backoff_jitter_stays_within_its_bounds_and_under_the_maximum(jitter: float) -> None:
    backoff = Backoff(min=0.1, max=5.0, factor=2.0, jitter=jitter)
    rng = random.Random(1234)

    for attempt in range(12):
        base = min(5.0, 0.1 * 2.0**attempt)
        for _ in range(200):
            delay = backoff.delay(attempt, rng)
            assert base * (1 - jitter) <= delay <= min(5.0, base * (1 + jitter))


def test_backoff_jitter_actually_spreads_the_delays() -> None:
    backoff = Backoff(min=1.0, max=100.0, jitter=0.2)
    rng = random.Random(7)

    assert len({backoff.delay(0, rng) for _ in range(50)}) > 1


def test_backoff_with_the_same_seed_gives_the_same_delays() -> None:
    backoff = Backoff(min=0.1, max=30.0, jitter=0.3)
    first = [backoff.delay(n, random.Random(42)) for n in range(8)]
    second = [backoff.delay(n, random.Random(42)) for n in range(8)]

    assert first == second


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"min": -0.1}, "min"),
        ({"min": 2.0, "max": 1.0}, "max"),
        ({"factor": 0.5}, "factor"),
        ({"jitter": -0.1}, "jitter"),
        ({"jitter": 1.5}, "jitter"),
    ],
)
def test_backoff_rejects_invalid_settings_naming_the_field(
    options: dict[str, float], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        Backoff(**options)


# -- strategies and restart types ------------------------------------------------------------

ORDER = ["a", "b", "c"]


@pytest.mark.parametrize(
    ("strategy", "exited", "expected"),
    [
        (Strategy.ONE_FOR_ONE, "a", ["a"]),
        (Strategy.ONE_FOR_ONE, "b", ["b"]),
        (Strategy.ONE_FOR_ONE, "c", ["c"]),
        (Strategy.ONE_FOR_ALL, "a", ["a", "b", "c"]),
        (Strategy.ONE_FOR_ALL, "b", ["a", "b", "c"]),
        (Strategy.ONE_FOR_ALL, "c", ["a", "b", "c"]),
        (Strategy.REST_FOR_ONE, "a", ["a", "b", "c"]),
        (Strategy.REST_FOR_ONE, "b", ["b", "c"]),
        (Strategy.REST_FOR_ONE, "c", ["c"]),
    ],
)
def test_affected_children_follow_the_strategy_in_start_order(
    strategy: Strategy, exited: str, expected: list[str]
) -> None:
    assert affected_children(strategy, ORDER, exited) == expected


@pytest.mark.parametrize("strategy", list(Strategy))
def test_affected_children_of_an_only_child_is_that_child(strategy: Strategy) -> None:
    assert affected_children(strategy, ["solo"], "solo") == ["solo"]


@pytest.mark.parametrize("strategy", list(Strategy))
def test_affected_children_rejects_a_name_that_is_not_a_child(strategy: Strategy) -> None:
    with pytest.raises(ValueError, match="not a child"):
        affected_children(strategy, ORDER, "z")


def test_affected_children_does_not_modify_the_order_it_is_given() -> None:
    order = ["a", "b", "c"]
    affected_children(Strategy.ONE_FOR_ALL, order, "b").append("x")

    assert order == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("restart", "abnormal", "expected"),
    [
        (Restart.PERMANENT, True, True),
        (Restart.PERMANENT, False, True),
        (Restart.TRANSIENT, True, True),
        (Restart.TRANSIENT, False, False),
        (Restart.TEMPORARY, True, False),
        (Restart.TEMPORARY, False, False),
    ],
)
def test_should_restart_follows_the_otp_restart_type(
    restart: Restart, abnormal: bool, expected: bool
) -> None:
    assert should_restart(restart, abnormal) is expected


def test_strategies_and_restart_types_use_the_otp_names() -> None:
    assert [s.value for s in Strategy] == ["one_for_one", "one_for_all", "rest_for_one"]
    assert [r.value for r in Restart] == ["permanent", "transient", "temporary"]
    assert Strategy("rest_for_one") is Strategy.REST_FOR_ONE


# -- child specs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "a/b"}, "name"),
        ({"shutdown": -1.0}, "shutdown"),
        ({"mailbox_size": 0}, "mailbox_size"),
    ],
)
def test_child_spec_rejects_invalid_settings_naming_the_field(
    options: dict[str, object], field: str
) -> None:
    settings: dict[str, object] = {"name": "child", "factory": Actor, **options}
    with pytest.raises(ValueError, match=field):
        ChildSpec(**settings)  # type: ignore[arg-type]


def test_supervisor_rejects_duplicate_child_names() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Supervisor([ChildSpec("a", Actor), ChildSpec("a", Actor)])


def test_supervisor_rejects_an_invalid_intensity() -> None:
    with pytest.raises(ValueError, match="intensity"):
        Supervisor(intensity=-1)
