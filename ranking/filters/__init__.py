"""Filters: one per file, each passing the shared filter contract tests."""
