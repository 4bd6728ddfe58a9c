"""Authentication at the handshake and authorization per frame, through real sockets."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from gateway import Authenticator, Identity, TokenConfig, Unauthorized
from gateway._auth import presented_token
from messages import CLIENT_FRAME_ADAPTER, ErrorFrame, PongFrame, Role
from tests.gateway.harness import TOKENS, serving


async def test_a_bearer_token_in_the_authorization_header_authenticates() -> None:
    async with serving() as stack:
        client = await stack.connect("operator", via="header")
        assert client.welcome is not None
        assert (client.welcome.user, client.welcome.roles) == ("operator", (Role.OPERATOR,))
        assert isinstance(await client.request({"type": "ping"}), PongFrame)
        await client.close()


async def test_a_token_query_parameter_authenticates_for_browsers() -> None:
    async with serving() as stack:
        client = await stack.connect("viewer", via="query")
        assert client.welcome is not None
        assert client.welcome.user == "viewer"
        await client.close()


@pytest.mark.parametrize(
    ("suffix", "headers", "reason"),
    [
        ("?token=not-a-real-token", {}, "invalid token"),
        ("", {}, "missing token"),
        ("", {"Authorization": "Bearer wrong-token-value"}, "invalid token"),
        ("", {"Authorization": "Basic dXNlcjpwYXNz"}, "missing token"),
    ],
    ids=["bad-query-token", "no-token", "bad-header-token", "not-bearer"],
)
async def test_a_handshake_without_a_valid_token_is_closed_with_1008(
    suffix: str, headers: dict[str, str], reason: str
) -> None:
    async with serving() as stack:
        async with connect(
            stack.gateway.url + suffix, proxy=None, additional_headers=headers
        ) as ws:
            with pytest.raises(ConnectionClosedError) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
        assert reason in closed.value.rcvd.reason
        assert stack.gateway.connections == 0


@pytest.mark.parametrize(
    ("user", "frame", "needs"),
    [
        ("viewer", {"type": "ack", "alert_id": "alert-1"}, "admin or operator"),
        (
            "viewer",
            {"type": "ingest", "samples": [{"name": "up", "value": 1, "timestamp": 1e9}]},
            "ingest",
        ),
        ("operator", {"type": "list_rules"}, "admin"),
        ("ingest", {"type": "subscribe"}, "admin or operator or viewer"),
        ("ingest", {"type": "query"}, "admin or operator or viewer"),
        (
            "admin",
            {"type": "ingest", "samples": [{"name": "up", "value": 1, "timestamp": 1e9}]},
            "ingest",
        ),
    ],
)
async def test_a_frame_the_role_does_not_allow_gets_a_forbidden_error_and_the_connection_survives(
    user: str, frame: dict[str, object], needs: str
) -> None:
    async with serving() as stack:
        client = await stack.connect(user)
        error = await client.request(frame)
        assert isinstance(error, ErrorFrame)
        assert error.code == "forbidden"
        assert needs in error.message
        assert isinstance(await client.request({"type": "ping"}), PongFrame)
        await client.close()


def test_the_authenticator_maps_each_token_to_its_identity_and_refuses_others() -> None:
    authenticator = Authenticator(
        TokenConfig.model_validate({"token": token, "user": user, "roles": roles})
        for user, (token, roles) in TOKENS.items()
    )
    assert len(authenticator) == 4
    assert authenticator.authenticate("admin-secret-token") == Identity(
        "admin", frozenset({Role.ADMIN})
    )
    for bad in ("admin-secret-toke", "admin-secret-token ", "x" * 1000):
        with pytest.raises(Unauthorized, match="invalid token"):
            authenticator.authenticate(bad)
    with pytest.raises(Unauthorized, match="missing token"):
        authenticator.authenticate(None)


def test_an_identity_allows_what_its_roles_allow_and_operators_include_viewers() -> None:
    operator = Identity("o", frozenset({Role.OPERATOR}))
    assert operator.may_send("subscribe")
    assert operator.may_send("ack")
    assert not operator.may_send("put_rule")
    assert not operator.may_send("ingest")
    assert not operator.may_send("no_such_frame")
    both = Identity("b", frozenset({Role.VIEWER, Role.INGEST}))
    assert both.may_send("ingest")
    assert both.may_send("query")
    assert not both.may_send("ack")


VIEWS = {"subscribe", "unsubscribe", "query", "list_silences", "ping"}
OPERATES = VIEWS | {"ack", "resolve", "silence", "expire_silence"}
OPERATES |= {"list_dead_letters", "replay_dead_letters"}
ADMINISTERS = OPERATES | {"put_rule", "delete_rule", "revert_rule", "list_rules"}
ADMINISTERS |= {"put_receiver", "delete_receiver", "revert_receiver", "list_receivers"}


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, VIEWS),
        (Role.OPERATOR, OPERATES),
        (Role.ADMIN, ADMINISTERS),
        (Role.INGEST, {"ingest", "ping"}),
    ],
)
def test_each_role_may_send_exactly_its_frames_of_the_protocol(
    role: Role, allowed: set[str]
) -> None:
    every_frame = set(CLIENT_FRAME_ADAPTER.json_schema()["discriminator"]["mapping"])
    assert allowed <= every_frame
    identity = Identity(role.value, frozenset({role}))
    assert {frame for frame in every_frame if identity.may_send(frame)} == allowed


def test_the_header_wins_over_the_query_parameter() -> None:
    from websockets.datastructures import Headers

    assert presented_token("/ws?token=q", Headers({"Authorization": "Bearer h"})) == "h"
    assert presented_token("/ws?token=q", Headers()) == "q"
    assert presented_token("/ws", Headers()) is None
