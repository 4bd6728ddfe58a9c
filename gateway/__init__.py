"""Tocsin's edge: the websockets gateway and the ``tocsin`` command line."""

__all__: list[str] = []
