"""The routing tree: which receivers hear about an alert, and how its notifications group.

Alertmanager's semantics (dispatch/route.go), as plain synchronous code: a tree of routes,
each with label matchers; an alert enters at the root and descends depth-first, left to
right, into the first child whose matchers it satisfies (and further siblings too when that
child has ``continue = true``); where no child matches, the node itself is the match.
Children inherit every option they do not set from their parent; the root's unset options
take Alertmanager's defaults.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from messages import LabelMatcher, Matchers, fingerprint

__all__ = [
    "DEFAULT_GROUP_INTERVAL",
    "DEFAULT_GROUP_WAIT",
    "DEFAULT_REPEAT_INTERVAL",
    "GROUP_BY_ALL",
    "Route",
    "RouteConfig",
    "RouteInvalid",
    "RouteNotFound",
    "RouteTree",
]

DEFAULT_GROUP_WAIT = 30.0
"""Seconds to wait before the first notification of a new group (Alertmanager: 30s)."""
DEFAULT_GROUP_INTERVAL = 300.0
"""Seconds between notifications about changes to a group (Alertmanager: 5m)."""
DEFAULT_REPEAT_INTERVAL = 14400.0
"""Seconds before an unchanged, still-firing group is notified again (Alertmanager: 4h)."""
GROUP_BY_ALL = "..."
"""``group_by = ["..."]``: group by every label, i.e. one group per alert."""

_ROOT_ID = "root"
_INHERITED = ("receiver", "group_by", "group_wait", "group_interval", "repeat_interval")


class RouteInvalid(ValueError):
    """Raised when a routing tree is invalid; the message names the route and the field."""


class RouteNotFound(KeyError):
    """Raised by ``RouteTree.get`` for an id that names no route of the tree."""


_LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]


class RouteConfig(BaseModel):
    """Configure one route of the tree and, through ``routes``, its children.

    A field left unset is inherited from the parent route (the root's from the
    defaults shown here): ``receiver``, ``group_by``, ``group_wait``, ``group_interval``,
    ``repeat_interval`` and ``escalation``.  ``matchers`` and ``continue`` are never
    inherited.  ``matchers`` takes Alertmanager's text forms
    (``['severity="critical"', 'team=~"db|infra"']`` or ``'{severity="critical"}'``)
    as well as ``LabelMatcher`` objects.  ``group_by = ["..."]`` groups by all labels;
    ``group_by = []`` puts every alert of the route in one group.  Durations are
    seconds.  ``continue`` is spelled ``continue_`` in Python.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    receiver: Annotated[str, Field(min_length=1)] | None = None
    matchers: Matchers = ()
    group_by: tuple[_LabelName | Annotated[str, Field(pattern=r"^\.\.\.$")], ...] = ()
    group_wait: Annotated[float, Field(ge=0, allow_inf_nan=False)] = DEFAULT_GROUP_WAIT
    group_interval: Annotated[float, Field(gt=0, allow_inf_nan=False)] = DEFAULT_GROUP_INTERVAL
    repeat_interval: Annotated[float, Field(gt=0, allow_inf_nan=False)] = DEFAULT_REPEAT_INTERVAL
    continue_: bool = Field(
        default=False, validation_alias="continue", serialization_alias="continue"
    )
    routes: tuple[RouteConfig, ...] = ()
    escalation: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("group_by")
    @classmethod
    def _group_by_is_a_set(cls, group_by: tuple[str, ...]) -> tuple[str, ...]:
        # As Alertmanager's config validation: "..." stands alone, no label twice.
        if GROUP_BY_ALL in group_by and len(group_by) > 1:
            raise ValueError('"..." groups by all labels and cannot be combined with others')
        seen: set[str] = set()
        for name in group_by:
            if name in seen:
                raise ValueError(f"label {name!r} is listed twice")
            seen.add(name)
        return group_by


@functools.lru_cache(maxsize=65536)
def _group_key(items: tuple[tuple[str, str], ...]) -> str:
    # fingerprint() is pure Python and costs ~10 µs per label: cache per group label set.
    return fingerprint(dict(items))


@dataclass(frozen=True, eq=False, slots=True)
class Route:
    """One resolved node of a ``RouteTree``: its options with inheritance applied.

    ``id`` is the node's path in the tree (``"root"``, ``"root/0"``, ``"root/0/2"``: child
    indices in config order), stable across restarts for the same configuration.
    ``group_by`` is None when grouping by all labels (``["..."]``).
    """

    id: str
    receiver: str
    matchers: tuple[LabelMatcher, ...]
    group_by: frozenset[str] | None
    group_wait: float
    group_interval: float
    repeat_interval: float
    continue_: bool
    escalation: str | None
    routes: tuple[Route, ...] = field(default=())

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether ``labels`` satisfies every matcher of this route (not its parents')."""
        return all(matcher.matches(labels) for matcher in self.matchers)

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """Return the labels that identify the alert's group on this route.

        As Alertmanager: the ``group_by`` labels the alert has (a missing label is left
        out, not set to ""), or all of them for ``["..."]``.
        """
        if self.group_by is None:
            return dict(labels)
        return {name: labels[name] for name in self.group_by if name in labels}

    def group_key(self, labels: Mapping[str, str]) -> str:
        """Return the id of the alert's group on this route: the group labels' fingerprint.

        Equal group labels give equal keys, in every process (``messages.fingerprint``,
        as Alertmanager keys its aggregation groups).  With ``["..."]`` it is the alert's
        own fingerprint.  Results are cached per group label set; still, call it once per
        alert (labels never change for a fingerprint), not once per update.
        """
        return _group_key(tuple(sorted(self.group_labels(labels).items())))

    def walk(self) -> Iterator[Route]:
        """Yield this route and its descendants, depth-first in config order."""
        yield self
        for child in self.routes:
            yield from child.walk()


def _resolve(config: RouteConfig, parent: Route | None, route_id: str) -> Route:
    explicit = config.model_fields_set

    def pick(name: str) -> Any:
        if parent is None or name in explicit:
            return getattr(config, name)
        return getattr(parent, name)

    receiver = pick("receiver")
    if receiver is None:
        raise RouteInvalid(f"route {route_id}: the root route needs a receiver")
    if parent is not None and "group_by" not in explicit:
        group_by = parent.group_by
    else:
        group_by = None if config.group_by == (GROUP_BY_ALL,) else frozenset(config.group_by)
    node = Route(
        id=route_id,
        receiver=receiver,
        matchers=config.matchers,
        group_by=group_by,
        group_wait=pick("group_wait"),
        group_interval=pick("group_interval"),
        repeat_interval=pick("repeat_interval"),
        continue_=config.continue_,
        escalation=pick("escalation"),
    )
    children = tuple(
        _resolve(child, node, f"{route_id}/{index}") for index, child in enumerate(config.routes)
    )
    object.__setattr__(node, "routes", children)
    return node


class RouteTree:
    """Decide which routes an alert's labels take through a routing tree.

    Build it once per configuration (``RouteTree(config)``; a mapping is validated as a
    ``RouteConfig``).  Raises ``RouteInvalid`` when the config does not validate or, as
    Alertmanager refuses it, when the root has no receiver, has matchers (an alert it
    does not match would be dropped silently) or sets ``continue``.
    """

    def __init__(self, config: RouteConfig | Mapping[str, Any]) -> None:
        if not isinstance(config, RouteConfig):
            try:
                config = RouteConfig.model_validate(config)
            except ValidationError as exc:
                raise RouteInvalid(f"route config: {exc}") from None
        if config.matchers:
            raise RouteInvalid(f"route {_ROOT_ID}: the root route must not have matchers")
        if config.continue_:
            raise RouteInvalid(f"route {_ROOT_ID}: the root route cannot set continue")
        self.config = config
        self.root = _resolve(config, None, _ROOT_ID)
        self._by_id = {route.id: route for route in self.root.walk()}

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """Return the routes an alert with ``labels`` takes, in depth-first order.

        As Alertmanager's ``Route.Match``: descend into the first matching child and stop
        there unless it has ``continue``; a node none of whose children match is itself
        the match.  The root matches everything, so the list is never empty.  Call it
        once per alert (its labels never change) and keep the result.
        """
        return _match(self.root, labels) or [self.root]

    def get(self, route_id: str) -> Route:
        """Return the route with this id; raise ``RouteNotFound`` if there is none."""
        try:
            return self._by_id[route_id]
        except KeyError:
            raise RouteNotFound(route_id) from None

    def routes(self) -> list[Route]:
        """Return every route of the tree, depth-first in config order, root first."""
        return list(self._by_id.values())

    def receivers(self) -> frozenset[str]:
        """Return the names of every receiver the tree can route to."""
        return frozenset(route.receiver for route in self._by_id.values())

    def escalations(self) -> frozenset[str]:
        """Return the escalation policy names the tree refers to (check they exist)."""
        return frozenset(r.escalation for r in self._by_id.values() if r.escalation is not None)


def _match(route: Route, labels: Mapping[str, str]) -> list[Route]:
    if not route.matches(labels):
        return []
    found: list[Route] = []
    for child in route.routes:
        matches = _match(child, labels)
        found.extend(matches)
        if matches and not child.continue_:
            break
    return found or [route]
