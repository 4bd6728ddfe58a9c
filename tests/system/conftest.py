"""Fixtures for the end-to-end tests: the notify suite's real SMTP and HTTP servers."""

from tests.notify.conftest import http_server, smtp_server

__all__ = ["http_server", "smtp_server"]
