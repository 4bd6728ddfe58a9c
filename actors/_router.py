"""MetricRouter: send each sample only to the evaluators whose selector matches it.

The router keeps an index metric name → evaluator routes (each with its rule's
selector) and filters with the *whole* selector: the metric name through the index,
then every label matcher (``=``, ``!=``, ``=~``, ``!~``), so no evaluator ever sees a
sample it cannot match.  Matching is done once per series, not per sample: the
result is cached per metric and label set (a series seen again costs one dict lookup),
together with the series' canonical key, which evaluators use as is.  A route change
drops the cache of the metrics it touches.

Each batch is split per evaluator: one ``RoutedSamples`` message per evaluator per
batch, in the batch's order.  Under backlog the router coalesces: while more messages
wait in its mailbox it keeps filling the evaluators' outboxes and sends them when the
mailbox is empty, when another kind of message comes (a route change, a stats query:
they always see every earlier sample sent), or once ``max_coalesced_samples`` samples
are pending.  This costs no latency (an evaluator cannot run before the router yields
the event loop anyway, and the router yields only once its mailbox is empty or its
turn is over), and it saves per-message work exactly when the system is busiest: one
message per evaluator per backlog instead of per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from actors._addressing import resolve
from actors.evaluation import SampleEntries, SeriesKey
from messages import MetricSample, SampleBatch, SampleRow, SampleRows, Selector, to_sample
from supervision import Actor, ActorRef

__all__ = [
    "EvaluatorRoute",
    "MetricRouter",
    "RouteUpdate",
    "RoutedSamples",
    "RouterStats",
    "RouterStatsQuery",
    "RoutesWanted",
]


@dataclass(frozen=True, slots=True)
class EvaluatorRoute:
    """Where the samples that ``selector`` selects go: the evaluator of ``rule_id``."""

    rule_id: str
    selector: Selector
    ref: ActorRef


@dataclass(frozen=True, slots=True)
class RouteUpdate:
    """Change the router's index: drop ``removed`` rule ids, then add or replace ``put``.

    With ``replace=True`` the index becomes exactly ``put``.
    """

    put: tuple[EvaluatorRoute, ...] = ()
    removed: tuple[str, ...] = ()
    replace: bool = False


@dataclass(frozen=True, slots=True)
class RoutesWanted:
    """Told by a router that (re)started to whoever owns the rules: send me every route.

    The answer is a ``RouteUpdate(replace=True)`` told to ``router``.
    """

    router: ActorRef


@dataclass(slots=True)
class RoutedSamples:
    """Samples for one evaluator, in arrival order, as flat ``SampleEntries``.

    Four items per sample: series key, timestamp, value, sample.  The router reads a
    sample's fields once, for every evaluator it feeds (see ``SampleEntries``).
    """

    entries: SampleEntries

    @property
    def keys(self) -> list[SeriesKey]:
        """Return the samples' series keys, in order."""
        return self.entries[0::4]

    @property
    def samples(self) -> list[MetricSample]:
        """Return the samples, in order (rows of a ``SampleRows`` as ``MetricSample``)."""
        return [
            sample if isinstance(sample, MetricSample) else to_sample(sample)
            for sample in self.entries[3::4]
        ]


@dataclass(frozen=True, slots=True)
class RouterStatsQuery:
    """Ask a ``MetricRouter`` for its ``RouterStats``."""


@dataclass(frozen=True, slots=True)
class RouterStats:
    """What a router has done.

    ``deliveries`` counts (sample, evaluator) pairs sent; ``unrouted`` samples that no
    evaluator selects; ``dropped_waiting`` samples dropped while the router waited for
    its routes after a restart (beyond ``max_waiting_samples``).
    """

    batches: int
    samples: int
    deliveries: int
    unrouted: int
    routes: int
    cached_series: int
    dropped_waiting: int


class _Outbox:
    """The entries of the current batch (or backlog) bound for one evaluator.

    Its list lives as long as the route, so the per-series cache can hold its
    ``extend`` method: each delivery is one call, no lookup.  The list is copied into
    the message and cleared when it is sent.
    """

    __slots__ = ("entries", "extend", "route")

    def __init__(self, route: EvaluatorRoute) -> None:
        self.route = route
        self.entries: SampleEntries = []
        self.extend = self.entries.extend


_CacheEntry = tuple[SeriesKey, tuple[Callable[[Iterable[Any]], None], ...]]


class MetricRouter(Actor):
    """Route ``SampleBatch``, ``SampleRows`` and ``MetricSample`` messages to evaluators.

    Routes come as ``RouteUpdate`` messages from the rule set.  Given ``rule_set`` (a
    ref, an absolute path or a sibling name), a router that starts tells it
    ``RoutesWanted`` and holds the samples it receives (up to ``max_waiting_samples``;
    more are dropped and counted) until the full route table arrives, so a restarted
    router loses nothing.  Ask ``RouterStatsQuery`` for counters.  Batches queued back
    to back reach each evaluator as one message of at most about
    ``max_coalesced_samples`` samples (see the module docstring).
    """

    def __init__(
        self,
        rule_set: ActorRef | str | None = None,
        *,
        max_series_per_metric: int = 100_000,
        max_waiting_samples: int = 100_000,
        max_coalesced_samples: int = 10_000,
    ) -> None:
        self._rule_set = rule_set
        self.max_series_per_metric = max_series_per_metric
        self.max_waiting_samples = max_waiting_samples
        self.max_coalesced_samples = max_coalesced_samples
        self._pending: set[str] = set()  # metrics whose outboxes hold unsent samples
        self._pending_samples = 0
        self._outboxes: dict[str, _Outbox] = {}
        self._index: dict[str, list[_Outbox]] = {}
        self._cache: dict[str, dict[object, _CacheEntry]] = {}
        self._cached_series: dict[str, int] = {}  # per metric, for the stats
        self._waiting: list[tuple[Sequence[MetricSample] | Sequence[SampleRow], bool]] | None = None
        self._waiting_samples = 0
        self._batches = 0
        self._samples = 0
        self._deliveries = 0
        self._unrouted = 0
        self._dropped_waiting = 0

    async def on_start(self) -> None:
        if self._rule_set is not None:
            self._waiting = []
            resolve(self, self._rule_set).tell_system(RoutesWanted(self.ref))

    async def on_stop(self) -> None:
        self._flush()

    async def on_receive(self, message: Any) -> Any:
        if message.__class__ is SampleRows:
            self._receive(message.rows, True)
            return None
        if isinstance(message, SampleBatch):
            self._receive(message.samples, False)
            return None
        if isinstance(message, MetricSample):
            self._receive((message,), False)
            return None
        # Whatever else comes sees every sample received before it already sent.
        self._flush()
        if isinstance(message, RouteUpdate):
            self._update(message)
        elif isinstance(message, RouterStatsQuery):
            return RouterStats(
                batches=self._batches,
                samples=self._samples,
                deliveries=self._deliveries,
                unrouted=self._unrouted,
                routes=len(self._outboxes),
                cached_series=sum(self._cached_series.values()),
                dropped_waiting=self._dropped_waiting,
            )
        else:
            return await super().on_receive(message)
        return None

    # -- routing ------------------------------------------------------------------------------

    def _receive(self, samples: Sequence[MetricSample] | Sequence[SampleRow], rows: bool) -> None:
        waiting = self._waiting
        if waiting is None:
            self._route(samples, rows)
            if self._pending_samples >= self.max_coalesced_samples or not self.ref.mailbox_size():
                self._flush()
        elif self._waiting_samples + len(samples) <= self.max_waiting_samples:
            waiting.append((samples, rows))
            self._waiting_samples += len(samples)
        else:
            self._dropped_waiting += len(samples)

    def _route(self, samples: Sequence[MetricSample] | Sequence[SampleRow], rows: bool) -> None:
        """Route ``samples``: ``SampleRow`` dicts if ``rows``, else ``MetricSample`` models."""
        cache = self._cache
        index = self._index
        seen: set[str] = set()
        unrouted = 0
        last_name: str | None = None
        entries: dict[object, _CacheEntry] | None = None
        for sample in samples:
            # One read of the model's fields (its __dict__: reading attributes of a
            # Pydantic model one by one costs several times more); a row is its fields.
            fields: Any = sample if rows else sample.__dict__
            name = fields["name"]
            if name != last_name:
                last_name = name
                entries = cache.get(name)
                if entries is None and name in index:
                    entries = cache[name] = {}
                if entries is not None:
                    seen.add(name)
            if entries is None:
                unrouted += 1
                continue
            labels = fields["labels"]
            # Cached by the labels in arrival order first (names then values: cheap to
            # build and unambiguous); a new order of a known label set finds the same
            # entry through its frozen key.
            raw = (*labels, *labels.values())
            entry = entries.get(raw)
            if entry is None:
                entry = self._resolve(name, labels, raw, entries)
            key, extends = entry
            if not extends:
                unrouted += 1
                continue
            # One short-lived tuple, copied into each outbox (see SampleEntries).
            routed = (key, fields["timestamp"], fields["value"], sample)
            for extend in extends:
                extend(routed)
        self._pending.update(seen)
        self._pending_samples += len(samples) - unrouted
        self._batches += 1
        self._samples += len(samples)
        self._unrouted += unrouted

    def _flush(self) -> None:
        """Send every outbox that holds samples, one message per evaluator."""
        pending = self._pending
        if not pending:
            return
        index = self._index
        deliveries = 0
        for name in pending:
            for outbox in index.get(name, ()):
                if outbox.entries:
                    deliveries += len(outbox.entries) // 4
                    outbox.route.ref.tell(RoutedSamples(outbox.entries.copy()))
                    outbox.entries.clear()
        pending.clear()
        self._pending_samples = 0
        self._deliveries += deliveries

    def _resolve(
        self,
        name: str,
        labels: dict[str, str],
        raw: tuple[str, ...],
        entries: dict[object, _CacheEntry],
    ) -> _CacheEntry:
        key: SeriesKey = frozenset(labels.items())
        entry = entries.get(key)
        if entry is None:
            cached = self._cached_series.get(name, 0)
            if cached >= self.max_series_per_metric:
                entries.clear()  # unbounded label churn: start the cache over
                cached = 0
            self._cached_series[name] = cached + 1
            extends = tuple(
                outbox.extend
                for outbox in self._index.get(name, ())
                if outbox.route.selector.matches_labels(labels)
            )
            entry = (key, extends)
            entries[key] = entry
        entries[raw] = entry
        return entry

    # -- the index ----------------------------------------------------------------------------

    def _update(self, update: RouteUpdate) -> None:
        outboxes = self._outboxes
        touched: set[str] = set()
        removed = list(outboxes) if update.replace else update.removed
        for rule_id in removed:
            outbox = outboxes.pop(rule_id, None)
            if outbox is not None:
                touched.add(outbox.route.selector.metric)
        for route in update.put:
            previous = outboxes.get(route.rule_id)
            if previous is not None:
                touched.add(previous.route.selector.metric)
            outboxes[route.rule_id] = _Outbox(route)
            touched.add(route.selector.metric)
        for metric in touched:
            self._cache.pop(metric, None)
            self._cached_series.pop(metric, None)
            self._index.pop(metric, None)
        for outbox in outboxes.values():
            metric = outbox.route.selector.metric
            if metric in touched:
                self._index.setdefault(metric, []).append(outbox)
        waiting = self._waiting
        if waiting is not None and update.replace:
            self._waiting = None
            self._waiting_samples = 0
            for samples, rows in waiting:
                self._route(samples, rows)
            self._flush()
