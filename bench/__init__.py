"""Benchmarks: ``python bench/NAME.py [--quick] [--json PATH]`` from the repository root."""
