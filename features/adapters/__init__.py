"""Adapters that map public data sets into the data contract, by kind (the ``KIND`` of ``weitao data load``).

Each adapter only maps: ``read(path)`` returns every contract table (empty where the data set has none)
and leaves validation and quarantine to :func:`features.load.load_tables`. Mapping choices are written
in each module's docstring.
"""

from __future__ import annotations

from features.adapters import contract, hackernews, lastfm, movielens, open_bandit, taobao
from features.adapters.base import Adapter, AdapterError, RawTables

ADAPTERS: dict[str, Adapter] = {
    m.NAME: Adapter(name=m.NAME, description=m.DESCRIPTION, read=m.read)
    for m in (movielens, taobao, lastfm, hackernews, open_bandit, contract)
}


def get_adapter(kind: str) -> Adapter:
    """The adapter of ``kind``; an :class:`AdapterError` listing the known kinds otherwise."""
    try:
        return ADAPTERS[kind]
    except KeyError:
        raise AdapterError(f"unknown data set kind {kind!r}; known kinds: {', '.join(ADAPTERS)}") from None


__all__ = ["ADAPTERS", "Adapter", "AdapterError", "RawTables", "get_adapter"]
