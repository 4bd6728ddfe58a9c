"""Fixtures for the notify tests: real SMTP and HTTP servers on loopback, a test certificate."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.notify.http_server import HttpServer
from tests.notify.smtp_server import SmtpServer


@dataclass(frozen=True)
class LoopbackCertificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCertificate:
    """Make a throwaway certificate with the openssl command line (skip if it is missing)."""
    openssl = require_binary("openssl")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return LoopbackCertificate(cert, key)


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    """Serve plain SMTP (no TLS, no AUTH) on 127.0.0.1."""
    server = await SmtpServer().start()
    yield server
    await server.close()


@pytest.fixture
async def http_server() -> AsyncIterator[HttpServer]:
    """Serve scripted HTTP/1.1 on 127.0.0.1 (200 "ok" unless a test scripts otherwise)."""
    server = await HttpServer().start()
    yield server
    await server.close()
