"""Selectors: choose the served page and write positions."""
