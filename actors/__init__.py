"""Tocsin's domain actors: metric router, rule evaluators, alert manager, notifiers."""

__all__: list[str] = []
