"""MetricRouter: every sample reaches exactly the evaluators whose selector matches it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import (
    EvaluatorRoute,
    MetricRouter,
    RoutedSamples,
    RouterStatsQuery,
    RoutesWanted,
    RouteUpdate,
)
from actors.evaluation import series_key
from messages import MetricSample, SampleBatch, Selector, parse_sample_batch, parse_selector
from supervision import Actor, ActorRef, ActorSystem, ChildSpec, FakeClock
from tests.actors.harness import EPOCH, Log, Recorder, sample

SELECTORS = {
    "prod": 'cpu{env="prod"}',
    "not-prod": 'cpu{env!="prod"}',
    "web": 'cpu{job=~"web-.*"}',
    "not-web-nor-db": 'cpu{job!~"web-.*|db"}',
    "prod-web": 'cpu{env="prod",job=~"web-.*"}',
    "no-zone": 'cpu{zone=""}',
    "all-cpu": "cpu",
    "mem": "mem",
}


class Harness:
    def __init__(self, system: ActorSystem, router: ActorRef, logs: dict[str, Log]) -> None:
        self.system = system
        self.router = router
        self.logs = logs

    async def settle(self) -> None:
        await self.router.ask(RouterStatsQuery())
        for name in self.logs:
            await self.system.lookup(f"/{name}").ask("sync")

    def received(self, name: str) -> list[RoutedSamples]:
        return self.logs[name].of(RoutedSamples)


def recorder(log: Log) -> Callable[[], Actor]:
    return lambda: Recorder(log)


@asynccontextmanager
async def router_with(selectors: dict[str, str]) -> AsyncIterator[Harness]:
    logs = {name: Log() for name in selectors}
    specs = [ChildSpec(name, recorder(log)) for name, log in logs.items()]
    specs.append(ChildSpec("router", MetricRouter))
    async with ActorSystem(specs, clock=FakeClock(epoch=EPOCH)) as system:
        router = system.lookup("/router")
        routes = tuple(
            EvaluatorRoute(name, parse_selector(text), system.lookup(f"/{name}"))
            for name, text in selectors.items()
        )
        router.tell(RouteUpdate(put=routes))
        yield Harness(system, router, logs)


LABEL_SETS = [
    dict(zip(("env", "job", "zone"), values, strict=True))
    for values in itertools.product(["prod", "dev", ""], ["web-1", "db", "api", ""], ["z1", ""])
]


def samples_for(label_sets: list[dict[str, str]], name: str = "cpu") -> list[MetricSample]:
    return [
        sample(name, float(index), EPOCH + index, **{k: v for k, v in labels.items() if v})
        for index, labels in enumerate(label_sets)
    ]


async def test_each_evaluator_gets_exactly_the_samples_its_selector_matches() -> None:
    batch = samples_for(LABEL_SETS) + samples_for(LABEL_SETS, "mem") + samples_for([{}], "disk")
    async with router_with(SELECTORS) as harness:
        harness.router.tell(SampleBatch(samples=tuple(batch)))
        await harness.settle()
        for name, text in SELECTORS.items():
            selector = parse_selector(text)
            got = [s for message in harness.received(name) for s in message.samples]
            assert got == [s for s in batch if selector.matches(s)], name
        stats = await harness.router.ask(RouterStatsQuery())
        assert stats.unrouted == 1  # the disk sample: no rule selects it


async def test_each_evaluator_gets_one_message_per_batch_with_the_series_keys() -> None:
    batch = samples_for(LABEL_SETS)
    async with router_with(SELECTORS) as harness:
        for _ in range(3):
            harness.router.tell(SampleBatch(samples=tuple(batch)))
            await harness.settle()
        for name in SELECTORS:
            messages = harness.received(name)
            assert len(messages) == (0 if name == "mem" else 3), name
            for message in messages:
                assert message.keys == [series_key(s.labels) for s in message.samples]


async def test_batches_queued_back_to_back_reach_each_evaluator_as_one_message_in_order() -> None:
    batches = [samples_for(LABEL_SETS[i : i + 6]) for i in range(0, len(LABEL_SETS), 6)]
    async with router_with(SELECTORS) as harness:
        for batch in batches:
            harness.router.tell(SampleBatch(samples=tuple(batch)))
        await harness.settle()
        for name, text in SELECTORS.items():
            selector = parse_selector(text)
            messages = harness.received(name)
            expected = [s for batch in batches for s in batch if selector.matches(s)]
            assert len(messages) == (1 if expected else 0), name
            got = [s for message in messages for s in message.samples]
            assert got == expected, name
            keys = [k for message in messages for k in message.keys]
            assert keys == [series_key(s.labels) for s in expected]


async def test_sample_rows_are_routed_as_the_same_samples_in_a_batch_would_be() -> None:
    batches = [samples_for(LABEL_SETS[i : i + 6]) for i in range(0, len(LABEL_SETS), 6)]
    async with router_with(SELECTORS) as harness:
        # Rows and models queued back to back, coalesced into one message per evaluator.
        for index, batch in enumerate(batches):
            models = SampleBatch(samples=tuple(batch))
            rows = parse_sample_batch(models.model_dump_json())
            harness.router.tell(rows if index % 2 else models)
        await harness.settle()
        for name, text in SELECTORS.items():
            selector = parse_selector(text)
            expected = [s for batch in batches for s in batch if selector.matches(s)]
            got = [s for message in harness.received(name) for s in message.samples]
            assert got == expected, name
            keys = [k for message in harness.received(name) for k in message.keys]
            assert keys == [series_key(s.labels) for s in expected]
        stats = await harness.router.ask(RouterStatsQuery())
        assert stats.samples == len(LABEL_SETS)


async def test_coalescing_stops_at_max_coalesced_samples() -> None:
    log = Log()
    specs = [
        ChildSpec("evaluator", lambda: Recorder(log)),
        ChildSpec("router", lambda: MetricRouter(max_coalesced_samples=10)),
    ]
    async with ActorSystem(specs, clock=FakeClock(epoch=EPOCH)) as system:
        router = system.lookup("/router")
        route = EvaluatorRoute("e", parse_selector("cpu"), system.lookup("/evaluator"))
        router.tell(RouteUpdate(put=(route,)))
        batches = [samples_for(LABEL_SETS[i : i + 4]) for i in range(0, 24, 4)]
        for batch in batches:
            router.tell(SampleBatch(samples=tuple(batch)))
        await router.ask(RouterStatsQuery())
        await system.lookup("/evaluator").ask("sync")
        sizes = [len(message.samples) for message in log.of(RoutedSamples)]
        # 4 + 4 + 4 reaches 10: sent; then again.
        assert sizes == [12, 12]
        got = [s for message in log.of(RoutedSamples) for s in message.samples]
        assert got == [s for batch in batches for s in batch]


async def test_samples_queued_before_a_route_change_go_where_the_old_routes_said() -> None:
    async with router_with({"a": "cpu", "b": "mem"}) as harness:
        b_ref = harness.system.lookup("/b")
        first = samples_for(LABEL_SETS[:3])
        second = samples_for(LABEL_SETS[3:6])
        harness.router.tell(SampleBatch(samples=tuple(first)))
        harness.router.tell(RouteUpdate(removed=("a",)))
        harness.router.tell(RouteUpdate(put=(EvaluatorRoute("b", parse_selector("cpu"), b_ref),)))
        harness.router.tell(SampleBatch(samples=tuple(second)))
        await harness.settle()
        assert [s for m in harness.received("a") for s in m.samples] == first
        assert [s for m in harness.received("b") for s in m.samples] == second


async def test_a_stats_query_queued_behind_batches_counts_every_delivery_sent() -> None:
    async with router_with({"a": "cpu"}) as harness:
        batch = samples_for(LABEL_SETS)
        harness.router.tell(SampleBatch(samples=tuple(batch)))
        harness.router.tell(SampleBatch(samples=tuple(batch)))
        stats = await harness.router.ask(RouterStatsQuery())
        assert stats.deliveries == 2 * len(batch)
        await harness.system.lookup("/a").ask("sync")
        assert sum(len(m.samples) for m in harness.received("a")) == 2 * len(batch)


async def test_a_label_set_in_another_order_is_the_same_series() -> None:
    first = MetricSample(name="cpu", value=1, labels={"env": "prod", "job": "x"}, timestamp=EPOCH)
    second = MetricSample(name="cpu", value=2, labels={"job": "x", "env": "prod"}, timestamp=EPOCH)
    async with router_with({"prod": 'cpu{env="prod"}'}) as harness:
        harness.router.tell(SampleBatch(samples=(first, second)))
        await harness.settle()
        (message,) = harness.received("prod")
        assert message.keys[0] == message.keys[1]
        assert message.keys[0] is message.keys[1]  # one canonical key per series


async def test_a_removed_route_gets_nothing_more_and_a_replaced_one_its_new_selector() -> None:
    async with router_with({"a": 'cpu{env="prod"}', "b": "cpu"}) as harness:
        b_ref = harness.system.lookup("/b")
        harness.router.tell(RouteUpdate(removed=("a",)))
        harness.router.tell(RouteUpdate(put=(EvaluatorRoute("b", parse_selector("mem"), b_ref),)))
        harness.router.tell(SampleBatch(samples=tuple(samples_for(LABEL_SETS))))
        harness.router.tell(SampleBatch(samples=tuple(samples_for(LABEL_SETS[:2], "mem"))))
        await harness.settle()
        assert harness.received("a") == []
        (message,) = harness.received("b")
        assert {s.name for s in message.samples} == {"mem"}


async def test_a_router_told_of_a_rule_set_holds_samples_until_its_routes_arrive() -> None:
    log, owner_log = Log(), Log()
    specs = [
        ChildSpec("owner", lambda: Recorder(owner_log)),
        ChildSpec("evaluator", lambda: Recorder(log)),
        ChildSpec("router", lambda: MetricRouter(rule_set="owner")),
    ]
    async with ActorSystem(specs, clock=FakeClock(epoch=EPOCH)) as system:
        router = system.lookup("/router")
        await owner_log.until(lambda: len(owner_log.of(RoutesWanted)) == 1)
        assert owner_log.of(RoutesWanted)[0].router is router
        router.tell(SampleBatch(samples=(sample("cpu", 1.0, EPOCH),)))
        await router.ask(RouterStatsQuery())
        assert log.items == []
        route = EvaluatorRoute("e", Selector(metric="cpu"), system.lookup("/evaluator"))
        router.tell(RouteUpdate(put=(route,), replace=True))
        await log.until(lambda: len(log.of(RoutedSamples)) == 1)


selectors_strategy = st.dictionaries(
    st.sampled_from(["r1", "r2", "r3", "r4"]),
    st.builds(
        lambda name, op, value: f'cpu{{{name}{op}"{value}"}}',
        st.sampled_from(["env", "job", "zone"]),
        st.sampled_from(["=", "!=", "=~", "!~"]),
        st.sampled_from(["prod", "", "web-.*", "db|api", ".*"]),
    ),
    min_size=1,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(selectors=selectors_strategy, picks=st.lists(st.sampled_from(LABEL_SETS), max_size=30))
async def test_no_evaluator_ever_sees_a_sample_it_cannot_match(
    selectors: dict[str, str], picks: list[dict[str, str]]
) -> None:
    batch = samples_for(picks)
    async with router_with(selectors) as harness:
        if batch:
            harness.router.tell(SampleBatch(samples=tuple(batch)))
        await harness.settle()
        for name, text in selectors.items():
            selector = parse_selector(text)
            got = [s for message in harness.received(name) for s in message.samples]
            assert got == [s for s in batch if selector.matches(s)]


async def test_the_series_cache_is_bounded_and_routing_stays_right_past_the_bound() -> None:
    log = Log()
    specs = [
        ChildSpec("evaluator", lambda: Recorder(log)),
        ChildSpec("router", lambda: MetricRouter(max_series_per_metric=2)),
    ]
    async with ActorSystem(specs, clock=FakeClock(epoch=EPOCH)) as system:
        router = system.lookup("/router")
        route = EvaluatorRoute("e", parse_selector('cpu{env="prod"}'), system.lookup("/evaluator"))
        router.tell(RouteUpdate(put=(route,)))
        batch = samples_for(LABEL_SETS)
        router.tell(SampleBatch(samples=tuple(batch)))
        router.tell(SampleBatch(samples=tuple(batch)))
        stats = await router.ask(RouterStatsQuery())
        assert stats.cached_series <= 2
        await system.lookup("/evaluator").ask("sync")
        got = [s for message in log.of(RoutedSamples) for s in message.samples]
        expected = [s for s in batch if s.labels.get("env") == "prod"]
        assert got == expected + expected


async def test_cached_series_follow_a_route_added_replaced_or_removed_on_their_metric() -> None:
    batch = samples_for(LABEL_SETS)
    prod = [s for s in batch if s.labels.get("env") == "prod"]
    dev = [s for s in batch if s.labels.get("env") == "dev"]
    async with router_with({"a": 'cpu{env="prod"}', "b": "cpu"}) as harness:
        a_ref, b_ref = harness.system.lookup("/a"), harness.system.lookup("/b")

        async def send() -> tuple[list[MetricSample], list[MetricSample]]:
            before_a, before_b = len(harness.received("a")), len(harness.received("b"))
            harness.router.tell(SampleBatch(samples=tuple(batch)))
            await harness.settle()
            return (
                [s for m in harness.received("a")[before_a:] for s in m.samples],
                [s for m in harness.received("b")[before_b:] for s in m.samples],
            )

        assert await send() == (prod, batch)  # every series now cached
        harness.router.tell(
            RouteUpdate(put=(EvaluatorRoute("a", parse_selector('cpu{env="dev"}'), a_ref),))
        )
        assert await send() == (dev, batch)  # replaced on the same metric
        harness.router.tell(RouteUpdate(removed=("b",)))
        assert await send() == (dev, [])  # removed
        harness.router.tell(
            RouteUpdate(put=(EvaluatorRoute("b", parse_selector('cpu{env="prod"}'), b_ref),))
        )
        assert await send() == (dev, prod)  # added
