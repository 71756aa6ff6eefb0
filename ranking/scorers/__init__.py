"""Scorers: where a model plugs into a slot."""
