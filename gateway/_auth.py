"""Who a connection is: bearer tokens to identities, and what each role may send."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers

from gateway._config import TokenConfig
from messages import Role

__all__ = [
    "PERMISSIONS",
    "Authenticator",
    "Identity",
    "Unauthorized",
    "presented_token",
]

_VIEW = frozenset({Role.VIEWER, Role.OPERATOR, Role.ADMIN})
_OPERATE = frozenset({Role.OPERATOR, Role.ADMIN})
_ADMINISTER = frozenset({Role.ADMIN})
_EVERYONE = frozenset(Role)

PERMISSIONS: dict[str, frozenset[Role]] = {
    "subscribe": _VIEW,
    "unsubscribe": _VIEW,
    "query": _VIEW,
    "list_silences": _VIEW,
    "ack": _OPERATE,
    "resolve": _OPERATE,
    "silence": _OPERATE,
    "expire_silence": _OPERATE,
    "list_dead_letters": _OPERATE,
    "replay_dead_letters": _OPERATE,
    "put_rule": _ADMINISTER,
    "delete_rule": _ADMINISTER,
    "revert_rule": _ADMINISTER,
    "list_rules": _ADMINISTER,
    "put_receiver": _ADMINISTER,
    "delete_receiver": _ADMINISTER,
    "revert_receiver": _ADMINISTER,
    "list_receivers": _ADMINISTER,
    "ingest": frozenset({Role.INGEST}),
    "ping": _EVERYONE,
}
"""Client frame type → the roles that may send it (operator and admin include viewer)."""


class Unauthorized(Exception):
    """Raised when a handshake carries no token, or one that no configured token matches.

    The gateway closes such a connection with 1008; ``reason`` is safe to send.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated client: its user name and roles."""

    user: str
    roles: frozenset[Role]

    def may_send(self, frame_type: str) -> bool:
        """Return whether one of the roles allows frames of ``frame_type``."""
        allowed = PERMISSIONS.get(frame_type)
        return allowed is not None and not allowed.isdisjoint(self.roles)

    def roles_for(self, frame_type: str) -> list[str]:
        """Return the role names that would allow ``frame_type``, sorted (for errors)."""
        return sorted(role.value for role in PERMISSIONS.get(frame_type, ()))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Authenticator:
    """Map bearer tokens to identities, comparing in constant time.

    Every presented token is compared with every configured one (``hmac.compare_digest``
    over SHA-256 digests, so neither the position of a match nor the tokens' lengths
    show in the timing).
    """

    def __init__(self, tokens: Iterable[TokenConfig]) -> None:
        self._entries = [
            (_digest(entry.token.get_secret_value()), Identity(entry.user, frozenset(entry.roles)))
            for entry in tokens
        ]

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, token: str | None) -> Identity:
        """Return the identity of ``token``; raise ``Unauthorized`` if there is none."""
        if not token:
            raise Unauthorized("missing token: send 'Authorization: Bearer <token>' or ?token=")
        presented = _digest(token)
        found: Identity | None = None
        for digest, identity in self._entries:
            if hmac.compare_digest(digest, presented) and found is None:
                found = identity
        if found is None:
            raise Unauthorized("invalid token")
        return found


def presented_token(path: str, headers: Headers) -> str | None:
    """Return the bearer token of a handshake: the Authorization header, else ?token=.

    Browsers cannot set headers on a WebSocket, hence the query parameter; the header
    wins when both are present.
    """
    authorization = headers.get("Authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
        return None
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None
