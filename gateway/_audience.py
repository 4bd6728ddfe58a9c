"""Audiences: the registry's subscriptions grouped by what they select.

Thousands of dashboards usually subscribe with a handful of distinct filters. Grouping
subscriptions by filter matches an event once per distinct filter, not once per
subscription, so fanning an event out costs O(filters + recipients), not
O(subscriptions * matchers).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

from gateway._filters import Facts, SubscriptionFilter
from gateway._subscription import Subscription

__all__ = ["Audiences"]


class _Audience:
    """The subscriptions that share one filter, in the order they subscribed."""

    __slots__ = ("selected", "subscriptions")

    def __init__(self, selected: SubscriptionFilter) -> None:
        self.selected = selected
        self.subscriptions: dict[tuple[str, str], Subscription] = {}


class Audiences:
    """Every subscription of the registry, grouped by its filter's ``key``."""

    __slots__ = ("_by_key",)

    def __init__(self) -> None:
        self._by_key: dict[Hashable, _Audience] = {}

    def __len__(self) -> int:
        """Return how many distinct filters there are."""
        return len(self._by_key)

    def add(self, subscription: Subscription) -> None:
        """Add ``subscription`` to the audience of its filter."""
        selected = subscription.selected
        audience = self._by_key.get(selected.key)
        if audience is None:
            audience = self._by_key[selected.key] = _Audience(selected)
        audience.subscriptions[subscription.key] = subscription

    def discard(self, subscription: Subscription) -> None:
        """Remove ``subscription`` if present; an audience left empty goes too."""
        key = subscription.selected.key
        audience = self._by_key.get(key)
        if audience is None:
            return
        audience.subscriptions.pop(subscription.key, None)
        if not audience.subscriptions:
            del self._by_key[key]

    def selecting(self, before: Facts | None, after: Facts | None) -> Iterator[Subscription]:
        """Yield every subscription a change from ``before`` to ``after`` concerns.

        Each filter is matched once (see ``SubscriptionFilter.matches_change``). Do not
        add or remove subscriptions while iterating.
        """
        for audience in self._by_key.values():
            if audience.selected.matches_change(before, after):
                yield from audience.subscriptions.values()

    def matching(self, facts: Facts) -> Iterator[Subscription]:
        """Yield every subscription whose filter selects an alert with ``facts``."""
        for audience in self._by_key.values():
            if audience.selected.matches(facts):
                yield from audience.subscriptions.values()

    def __iter__(self) -> Iterator[Subscription]:
        """Yield every subscription, audience by audience."""
        for audience in self._by_key.values():
            yield from audience.subscriptions.values()
