"""Candidate sources: one per file, each passing the shared source contract tests."""
