"""What an email receiver can be configured with, checked when the configuration is read.

``EmailReceiverConfig`` (one ``[[notify.email]]`` receiver: server, TLS mode, credentials,
addresses) and ``EmailCredentialsMissing``, raised when its ``password_env`` is not set.
The channel that sends with it is ``_email.EmailChannel``.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["EmailCredentialsMissing", "EmailReceiverConfig"]

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def _check_address(address: str) -> str:
    _name, bare = email.utils.parseaddr(address)
    if not _ADDRESS.match(bare):
        raise ValueError(f"not an email address: {address!r}")
    if not bare.isascii():
        raise ValueError(f"{bare!r}: non-ASCII addresses need SMTPUTF8, which Tocsin does not use")
    return address


class EmailReceiverConfig(BaseModel):
    """Configure one email receiver; a bad field is named with the reason.

    ``port`` defaults to 465 with ``use_tls`` (TLS from the first byte), else 587 when
    STARTTLS is on, else 25. ``starttls`` defaults to on unless ``use_tls``; on means
    required (a server that does not offer it is a permanent failure: credentials and
    alerts never travel in clear by accident). ``ca_file`` trusts a private CA;
    ``validate_certs = false`` trusts anything (tests only). The password is
    ``password`` or, better, read from the environment variable ``password_env`` when
    the channel is built. ``from`` and ``to`` are addresses (``"Ops <ops@x.org>"`` is
    fine). ``timeout``: seconds for the connection and each SMTP command.
    ``message_id_domain`` defaults to the domain of ``from``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: Annotated[str, Field(min_length=1)]
    host: Annotated[str, Field(min_length=1)] = "localhost"
    port: Annotated[int, Field(gt=0, lt=65536)] | None = None
    use_tls: bool = False
    starttls: bool | None = None
    ca_file: Path | None = None
    validate_certs: bool = True
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = None
    from_: Annotated[str, Field(alias="from")]
    to: Annotated[tuple[str, ...], Field(min_length=1)]
    timeout: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 10.0
    subject_prefix: str = "[Tocsin]"
    local_hostname: str | None = None
    message_id_domain: str | None = None

    @field_validator("from_")
    @classmethod
    def _from_is_an_address(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("to")
    @classmethod
    def _to_are_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_address(address) for address in value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.use_tls and self.starttls:
            raise ValueError("use_tls and starttls exclude each other: TLS is already on")
        if self.password is not None and self.password_env is not None:
            raise ValueError("set password or password_env, not both")
        if (self.password is not None or self.password_env is not None) and not self.username:
            raise ValueError("a password needs a username")
        return self

    @property
    def uses_starttls(self) -> bool:
        """Return True when the connection upgrades with STARTTLS (required)."""
        return not self.use_tls if self.starttls is None else self.starttls

    @property
    def effective_port(self) -> int:
        """Return the configured port, or the conventional one for the TLS mode."""
        if self.port is not None:
            return self.port
        return 465 if self.use_tls else 587 if self.uses_starttls else 25

    def resolve_password(self, environ: Mapping[str, str]) -> str | None:
        """Return the password, reading ``password_env`` from ``environ`` if set.

        Raises ``EmailCredentialsMissing`` when that variable is not set.
        """
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_env is None:
            return None
        try:
            return environ[self.password_env]
        except KeyError:
            raise EmailCredentialsMissing(self.name, self.password_env) from None


class EmailCredentialsMissing(Exception):
    """The environment variable that holds an email receiver's password is not set."""

    def __init__(self, receiver: str, variable: str) -> None:
        super().__init__(
            f"email receiver {receiver!r}: password_env names {variable!r}, "
            "which is not set in the environment"
        )
        self.receiver = receiver
        self.variable = variable
