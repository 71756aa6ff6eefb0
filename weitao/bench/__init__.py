"""Benchmarks of the running service (they start it, so they sit above every other package)."""
