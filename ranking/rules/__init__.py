"""Business rules (rescoring, capping, re-ranking): one per file, each passing the shared rule contract tests."""
