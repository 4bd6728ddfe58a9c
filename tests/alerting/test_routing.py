"""The routing tree as plain code: matching with continue, inheritance, grouping keys."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from actors.alerting._routing import (
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    Route,
    RouteConfig,
    RouteInvalid,
    RouteNotFound,
    RouteTree,
)
from messages import LabelMatcher, fingerprint


def tree(**config: Any) -> RouteTree:
    config.setdefault("receiver", "default")
    return RouteTree(RouteConfig.model_validate(config))


def ids(routes: list[Route]) -> list[str]:
    return [route.id for route in routes]


# A tree in the spirit of Alertmanager's route_test.go.
EXAMPLE = tree(
    group_by=["alertname"],
    routes=[
        {
            "receiver": "db",
            "matchers": ['team="db"'],
            "group_wait": 10,
            "routes": [
                {"receiver": "db-pager", "matchers": ['severity="critical"']},
                {"receiver": "db-mail", "matchers": ['severity=~"warning|info"']},
            ],
        },
        {"receiver": "audit", "matchers": ['env="prod"'], "continue": True},
        {"receiver": "web", "matchers": ['team="web"'], "group_by": ["..."]},
        {"receiver": "web-too", "matchers": ['team="web"']},
    ],
)

# -- configuration -----------------------------------------------------------------------------


def test_unset_timings_take_alertmanager_defaults() -> None:
    config = RouteConfig(receiver="r")

    assert (config.group_wait, config.group_interval, config.repeat_interval) == (
        DEFAULT_GROUP_WAIT,
        DEFAULT_GROUP_INTERVAL,
        DEFAULT_REPEAT_INTERVAL,
    )
    assert (DEFAULT_GROUP_WAIT, DEFAULT_GROUP_INTERVAL, DEFAULT_REPEAT_INTERVAL) == (
        30.0,
        300.0,
        14400.0,
    )


def test_continue_is_accepted_under_its_config_name_and_its_python_name() -> None:
    by_alias = RouteConfig.model_validate({"receiver": "r", "continue": True})
    by_name = RouteConfig(receiver="r", continue_=True)

    assert by_alias.continue_ is by_name.continue_ is True
    assert by_alias.model_dump()["continue"] is True


def test_matchers_are_accepted_as_strings_one_string_or_objects() -> None:
    expected = (
        LabelMatcher(name="severity", op="=", value="critical"),
        LabelMatcher(name="team", op="=~", value="db|infra"),
    )

    as_list = RouteConfig.model_validate(
        {"receiver": "r", "matchers": ['severity="critical"', 'team=~"db|infra"']}
    )
    as_text = RouteConfig.model_validate(
        {"receiver": "r", "matchers": '{severity="critical",team=~"db|infra"}'}
    )
    as_objects = RouteConfig(receiver="r", matchers=expected)

    assert as_list.matchers == as_text.matchers == as_objects.matchers == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("group_by", ["...", "alertname"]),
        ("group_by", ["alertname", "alertname"]),
        ("group_by", ["not-a-label"]),
        ("group_wait", -1),
        ("group_interval", 0),
        ("repeat_interval", 0),
        ("group_interval", float("inf")),
        ("matchers", ['severity=="critical"']),
        ("matchers", ['job=~"("']),
        ("receiver", ""),
        ("escalation", ""),
        ("unknown_field", 1),
    ],
)
def test_an_invalid_field_is_rejected_and_named(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as raised:
        RouteConfig.model_validate({"receiver": "r", field: value})

    assert field in str(raised.value)


def test_a_route_config_is_frozen() -> None:
    config = RouteConfig(receiver="r")

    with pytest.raises(ValidationError):
        config.receiver = "other"


def test_a_root_without_a_receiver_is_invalid() -> None:
    with pytest.raises(RouteInvalid, match="root route needs a receiver"):
        RouteTree(RouteConfig(routes=(RouteConfig(receiver="child"),)))


def test_a_root_with_matchers_is_invalid_as_in_alertmanager() -> None:
    with pytest.raises(RouteInvalid, match="must not have matchers"):
        tree(matchers=['env="prod"'])


def test_a_root_with_continue_is_invalid() -> None:
    with pytest.raises(RouteInvalid, match="cannot set continue"):
        tree(**{"continue": True})


def test_a_mapping_config_is_validated_and_errors_become_route_invalid() -> None:
    assert RouteTree({"receiver": "r"}).root.receiver == "r"
    with pytest.raises(RouteInvalid, match="group_interval"):
        RouteTree({"receiver": "r", "group_interval": -5})


# -- matching ----------------------------------------------------------------------------------


def test_a_tree_without_children_matches_everything_at_the_root() -> None:
    assert ids(tree().match({})) == ["root"]
    assert ids(tree().match({"anything": "at all"})) == ["root"]


def test_an_alert_no_child_matches_is_routed_to_the_root() -> None:
    assert ids(EXAMPLE.match({"team": "ops"})) == ["root"]


def test_the_first_matching_child_wins_without_continue() -> None:
    # Both web routes match; the first has no continue, so the second is never reached.
    # root/1 has continue but does not match: its continue changes nothing.
    assert ids(EXAMPLE.match({"team": "web"})) == ["root/2"]


def test_a_child_with_continue_lets_later_siblings_match_too() -> None:
    assert ids(EXAMPLE.match({"team": "web", "env": "prod"})) == ["root/1", "root/2"]


def test_a_matching_child_with_continue_and_no_later_match_is_the_only_match() -> None:
    assert ids(EXAMPLE.match({"env": "prod"})) == ["root/1"]


def test_matching_descends_depth_first_into_the_deepest_matching_node() -> None:
    assert ids(EXAMPLE.match({"team": "db", "severity": "warning"})) == ["root/0/1"]


def test_a_matching_node_none_of_whose_children_match_is_itself_the_match() -> None:
    assert ids(EXAMPLE.match({"team": "db", "severity": "page-me-maybe"})) == ["root/0"]


def test_a_first_child_without_continue_stops_the_search_before_a_continue_sibling() -> None:
    # root/0 matches (team=db) and does not continue: root/1 is never tried.
    assert ids(EXAMPLE.match({"team": "db", "env": "prod", "severity": "critical"})) == ["root/0/0"]


def test_continue_inside_a_subtree_collects_routes_in_depth_first_order() -> None:
    routes = tree(
        routes=[
            {
                "receiver": "a",
                "matchers": ['x="1"'],
                "continue": True,
                "routes": [
                    {"receiver": "a1", "matchers": ['y="1"'], "continue": True},
                    {"receiver": "a2", "matchers": ['z="1"']},
                ],
            },
            {"receiver": "b", "matchers": ['x="1"']},
        ]
    ).match({"x": "1", "y": "1", "z": "1"})

    assert [route.receiver for route in routes] == ["a1", "a2", "b"]


def test_negative_and_regex_matchers_follow_prometheus_semantics() -> None:
    routes = tree(
        routes=[
            {"receiver": "not-prod", "matchers": ['env!="prod"']},
            {"receiver": "prod", "matchers": ['env=~"prod"']},
        ]
    )

    assert routes.match({"env": "prod"})[0].receiver == "prod"
    assert routes.match({"env": "production"})[0].receiver == "not-prod"
    # A missing label is the empty string: it is not "prod".
    assert routes.match({})[0].receiver == "not-prod"


# -- inheritance -------------------------------------------------------------------------------


def test_children_inherit_every_unset_option_from_their_parent() -> None:
    routes = tree(
        receiver="top",
        group_by=["alertname", "env"],
        group_wait=5,
        group_interval=60,
        repeat_interval=600,
        escalation="on-call",
        routes=[{"matchers": ['team="db"'], "routes": [{"matchers": ['severity="critical"']}]}],
    )
    grandchild = routes.get("root/0/0")

    assert grandchild.receiver == "top"
    assert grandchild.group_by == frozenset({"alertname", "env"})
    assert (grandchild.group_wait, grandchild.group_interval, grandchild.repeat_interval) == (
        5,
        60,
        600,
    )
    assert grandchild.escalation == "on-call"


def test_a_child_overrides_what_it_sets_and_its_children_inherit_the_override() -> None:
    routes = tree(
        group_wait=5,
        routes=[
            {
                "receiver": "db",
                "group_by": ["instance"],
                "escalation": "db-policy",
                "repeat_interval": 60,
                "routes": [{"matchers": ['severity="critical"']}],
            }
        ],
    )
    child, grandchild = routes.get("root/0"), routes.get("root/0/0")

    for route in (child, grandchild):
        assert route.receiver == "db"
        assert route.group_by == frozenset({"instance"})
        assert route.escalation == "db-policy"
        assert route.repeat_interval == 60
        assert route.group_wait == 5
        assert route.group_interval == DEFAULT_GROUP_INTERVAL


def test_a_child_that_sets_the_default_value_explicitly_overrides_its_parent() -> None:
    routes = tree(group_wait=5, routes=[{"group_wait": DEFAULT_GROUP_WAIT}])

    assert routes.get("root/0").group_wait == DEFAULT_GROUP_WAIT


def test_matchers_and_continue_are_never_inherited() -> None:
    routes = tree(
        routes=[
            {
                "matchers": ['team="db"'],
                "continue": True,
                "routes": [{"receiver": "db"}],
            }
        ]
    )
    grandchild = routes.get("root/0/0")

    assert grandchild.matchers == ()
    assert grandchild.continue_ is False


def test_the_root_has_no_escalation_unless_it_names_one() -> None:
    assert tree().root.escalation is None
    assert tree(escalation="p").root.escalation == "p"


# -- group_by and group keys -------------------------------------------------------------------


def test_group_labels_are_the_group_by_labels_the_alert_has() -> None:
    route = tree(group_by=["alertname", "env"]).root

    assert route.group_labels({"alertname": "A", "env": "prod", "x": "1"}) == {
        "alertname": "A",
        "env": "prod",
    }
    # As Alertmanager: a missing label is left out, not set to the empty string.
    assert route.group_labels({"alertname": "A"}) == {"alertname": "A"}


def test_an_empty_group_by_puts_every_alert_of_the_route_in_one_group() -> None:
    route = tree().root

    assert route.group_by == frozenset()
    assert route.group_labels({"alertname": "A"}) == {}
    assert route.group_key({"alertname": "A"}) == route.group_key({"alertname": "B"})


def test_group_by_all_labels_gives_one_group_per_alert_keyed_by_its_fingerprint() -> None:
    route = tree(group_by=["..."]).root
    labels = {"alertname": "A", "instance": "h1"}

    assert route.group_by is None
    assert route.group_labels(labels) == labels
    assert route.group_key(labels) == fingerprint(labels)
    assert route.group_key(labels) != route.group_key({**labels, "instance": "h2"})


def test_group_by_all_labels_is_inherited_like_any_group_by() -> None:
    routes = tree(group_by=["..."], routes=[{"matchers": ['x="1"']}])

    assert routes.get("root/0").group_by is None


def test_the_group_key_is_the_fingerprint_of_the_group_labels() -> None:
    route = tree(group_by=["alertname", "env"]).root

    assert route.group_key({"alertname": "A", "env": "prod", "instance": "h1"}) == fingerprint(
        {"alertname": "A", "env": "prod"}
    )


def test_alerts_with_equal_group_labels_share_a_group_key_and_others_do_not() -> None:
    route = tree(group_by=["alertname"]).root

    assert route.group_key({"alertname": "A", "i": "1"}) == route.group_key(
        {"i": "2", "alertname": "A"}
    )
    assert route.group_key({"alertname": "A"}) != route.group_key({"alertname": "B"})


def test_the_same_group_labels_on_two_routes_give_the_same_key_but_route_ids_differ() -> None:
    labels = {"team": "web", "env": "prod", "alertname": "A"}
    audit, web = EXAMPLE.match(labels)

    assert audit.group_key(labels) == fingerprint({"alertname": "A"})
    assert web.group_key(labels) == fingerprint(labels)
    assert audit.id != web.id


# -- the tree as a whole -----------------------------------------------------------------------


def test_route_ids_are_paths_of_child_indices() -> None:
    assert ids(EXAMPLE.routes()) == [
        "root",
        "root/0",
        "root/0/0",
        "root/0/1",
        "root/1",
        "root/2",
        "root/3",
    ]


def test_route_ids_are_stable_across_builds_of_the_same_config() -> None:
    again = RouteTree(EXAMPLE.config)

    assert ids(again.routes()) == ids(EXAMPLE.routes())
    assert ids(again.match({"team": "web", "env": "prod"})) == ["root/1", "root/2"]


def test_get_finds_a_route_by_id_and_names_the_missing_one() -> None:
    assert EXAMPLE.get("root/0/1").receiver == "db-mail"
    with pytest.raises(RouteNotFound, match="root/9"):
        EXAMPLE.get("root/9")


def test_the_tree_lists_its_receivers_and_escalation_policies() -> None:
    routes = tree(escalation="p1", routes=[{"receiver": "x", "escalation": "p2"}, {}])

    assert routes.receivers() == {"default", "x"}
    assert routes.escalations() == {"p1", "p2"}
    assert EXAMPLE.escalations() == frozenset()


def test_walk_visits_a_subtree_depth_first() -> None:
    assert ids(list(EXAMPLE.get("root/0").walk())) == ["root/0", "root/0/0", "root/0/1"]


# -- properties --------------------------------------------------------------------------------

_values = st.sampled_from(["1", "2"])
_matcher_text = st.builds(
    lambda name, op, value: f'{name}{op}"{value}"',
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["=", "!="]),
    _values,
)


def _route_configs(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    children = st.lists(_route_configs(depth - 1), max_size=3) if depth else st.just([])
    return st.fixed_dictionaries(
        {
            "matchers": st.lists(_matcher_text, max_size=2),
            "continue": st.booleans(),
            "routes": children,
        }
    )


def _path_matches(routes: RouteTree, route: Route, labels: dict[str, str]) -> bool:
    parts = route.id.split("/")
    return all(routes.get("/".join(parts[:n])).matches(labels) for n in range(1, len(parts) + 1))


@settings(max_examples=60, deadline=None)
@given(
    children=st.lists(_route_configs(2), max_size=3),
    labels=st.fixed_dictionaries({"a": _values, "b": _values, "c": _values}),
)
def test_every_matched_route_matches_along_its_path_and_has_no_matching_child(
    children: list[dict[str, Any]], labels: dict[str, str]
) -> None:
    routes = tree(routes=children)

    matched = routes.match(labels)

    assert matched
    assert ids(matched) == sorted(ids(matched), key=lambda i: [int(p) for p in i.split("/")[1:]])
    for route in matched:
        assert _path_matches(routes, route, labels)
        assert not any(child.matches(labels) for child in route.routes)
