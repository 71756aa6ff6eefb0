"""The thin top: settings tree and CLI that tie the packages together."""
