"""TLS: wss:// and https:// on one port when the config names a certificate and key."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from websockets.asyncio.client import connect

from gateway import GatewayConfig
from messages import PongFrame, WelcomeFrame
from tests.conftest import require_binary
from tests.gateway.harness import READ_TIMEOUT, TOKENS, Client, gateway_config, serving


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Make a throwaway certificate for 127.0.0.1 with openssl (skip if it is missing)."""
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
    return cert, key


async def test_the_gateway_serves_wss_and_https_with_a_certificate(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    trust = ssl.create_default_context(cafile=cert)
    async with serving(config=gateway_config(tls_cert=cert, tls_key=key)) as stack:
        assert stack.gateway.url.startswith("wss://127.0.0.1:")
        ws = await connect(
            stack.gateway.url,
            ssl=trust,
            proxy=None,
            open_timeout=READ_TIMEOUT,
            additional_headers={"Authorization": f"Bearer {TOKENS['viewer'][0]}"},
        )
        client = Client(ws)
        assert isinstance(await client.read(), WelcomeFrame)
        assert isinstance(await client.request({"type": "ping"}), PongFrame)
        await client.close()
        async with httpx.AsyncClient(verify=trust, trust_env=False, timeout=15.0) as http:
            response = await http.get(stack.gateway.http_url + "/healthz")
            assert response.status_code == 200


def test_a_certificate_without_its_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="tls_cert and tls_key go together"):
        GatewayConfig(tls_cert=Path("cert.pem"))
