"""The gate decision log now lives in :mod:`ranking.gate.log` (the service writes it too)."""

from ranking.gate.log import COLUMNS, GateLog, read_post

__all__ = ["COLUMNS", "GateLog", "read_post"]
