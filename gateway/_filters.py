"""What a subscription selects: severities, states and label matchers, all of them."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

from messages import AlertState, LabelMatcher, Severity, SubscribeFrame

__all__ = ["Facts", "SubscriptionFilter"]

Facts = tuple[Mapping[str, str], str, str]
"""What a filter looks at in an alert: its labels, its severity and its state."""


class SubscriptionFilter:
    """Select alerts by severity, state and labels; an empty part selects everything.

    As the alert manager matches silences and queries, matchers see the alert's labels
    plus ``severity`` (unless the labels have a label of that name).
    """

    __slots__ = ("everything", "key", "matchers", "severities", "states")

    def __init__(
        self,
        severities: Iterable[Severity | str] = (),
        states: Iterable[AlertState | str] = (),
        matchers: Iterable[LabelMatcher] = (),
    ) -> None:
        self.severities = frozenset(str(s) for s in severities)
        self.states = frozenset(str(s) for s in states)
        self.matchers = tuple(matchers)
        self.everything = not (self.severities or self.states or self.matchers)
        self.key: Hashable = (
            self.severities,
            self.states,
            tuple(sorted((m.name, m.op, m.value) for m in self.matchers)),
        )
        """Equal for filters that select the same alerts (the registry groups by it)."""

    @classmethod
    def of(cls, frame: SubscribeFrame) -> SubscriptionFilter:
        """Return the filter of a subscribe frame."""
        return cls(frame.severities, frame.states, frame.matchers)

    def matches(self, facts: Facts | None) -> bool:
        """Return whether an alert with these facts is selected (None: no alert).

        Events about no alert (silences) are selected only by a filter that selects
        everything.
        """
        if self.everything:
            return True
        if facts is None:
            return False
        labels, severity, state = facts
        if self.severities and severity not in self.severities:
            return False
        if self.states and state not in self.states:
            return False
        if self.matchers:
            seen = labels if "severity" in labels else {**labels, "severity": severity}
            return all(matcher.matches(seen) for matcher in self.matchers)
        return True

    def matches_change(self, before: Facts | None, after: Facts | None) -> bool:
        """Return whether a change from ``before`` to ``after`` concerns the subscriber.

        It does when the alert is selected before or after it, so a subscriber sees
        alerts enter and leave what it selects.
        """
        if self.everything:
            return True
        return self.matches(after) or (before is not None and self.matches(before))
