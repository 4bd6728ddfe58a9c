"""Fault-injection scenarios against a real running server (issue 7): ``pytest -m faults``."""
