"""Per-event columns derived for counting: entity keys, fan status and event codes, a chunk at a time.

:func:`features.offline.count_events` walks the events in chunks; each chunk's :class:`EventView` derives what
the counters test (an event's code of action × target type × source, with the actor's fan status where a fan
or non-fan counter needs it) and the packed (key, bucket) values of the events they select.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping

import numpy as np

from features.catalog import POST, PRODUCT, Catalog
from features.columns import EventArrays, pair_key
from features.contract import ENUMS
from features.counts import Packing
from features.definitions import Counter, FeatureError, FeatureSet
from features.keyfilter import KeyFilter

_N_SOURCES, _N_TYPES = len(ENUMS["source"]), len(ENUMS["target_type"])
_N_CODES = len(ENUMS["action"]) * _N_TYPES * _N_SOURCES
_INVALID = 2 * _N_CODES + 2  # event code (action × target type × source) × 2 + fan; this one counts nowhere

#: Events are counted in chunks of this many: the arrays of a chunk stay small enough for the allocator to
#: reuse memory, where 20M-element temporaries would each cost fresh pages (more than the arithmetic).
CHUNK = 1 << 20
#: Entities whose counts :func:`features.offline.count_events` may limit to the keys that will be read (many
#: keys, few of them read by a sample of rows). Not the account: repeats are found among all its events.
FILTERABLE = ("user", "post", "product", "user_account", "user_category")
#: A filter of wanted keys is used only with at least this many events per key: testing every event costs
#: about what counting it does, and pays only when most events are of keys no row reads.
EVENTS_PER_WANTED_KEY = 16


class EventView:
    """Per-event columns of a chunk of events, derived for counting (entity keys, fan status, codes)."""

    def __init__(self, ev: EventArrays, catalog: Catalog, bucket_ms: int,
                 packings: dict[str, Packing | None], fan_codes: np.ndarray | None = None,
                 wanted: Mapping[str, KeyFilter] | None = None) -> None:
        self.ev, self.catalog, self.packings, self.fan_codes = ev, catalog, packings, fan_codes
        self.wanted = wanted or {}
        self.bucket = ev.time // bucket_ms
        self.account = catalog.target_account(ev.ttype, ev.target)
        bad = (ev.action < 0) | (ev.ttype < 0) | (ev.source < 0)
        code = (ev.action.astype(np.int16) * _N_TYPES + ev.ttype) * _N_SOURCES + ev.source
        self._code = np.where(bad, _N_CODES, code).astype(np.int16)
        self._codes: dict[tuple[str, bool], np.ndarray] = {}
        self._keys: dict[str, np.ndarray] = {}
        self._packed: dict[str, np.ndarray] = {}
        self._fan: np.ndarray | None = None

    def fan(self) -> np.ndarray:
        """Fan status at event time, looked up only for events some audience counter may count."""
        if self._fan is None:
            ev, need = self.ev, np.ones(len(self.ev), bool) if self.fan_codes is None else self.fan_codes[self._code]
            idx = np.flatnonzero(need & (self.account >= 0))
            if len(idx) > 0.8 * len(ev):
                self._fan = self.catalog.follows.is_fan(ev.user, self.account, ev.time)
            else:
                self._fan = np.zeros(len(ev), dtype=bool)
                self._fan[idx] = self.catalog.follows.is_fan(ev.user[idx], self.account[idx], ev.time[idx])
        return self._fan

    def keys(self, entity: str) -> np.ndarray:
        """Each event's key for ``entity``, -1 where it has none or where no one wants the key counted."""
        if entity not in self._keys:
            keys, wanted = self._entity_keys(entity), self.wanted.get(entity)
            self._keys[entity] = keys if wanted is None else np.where(wanted.may_hold(keys), keys, -1)
        return self._keys[entity]

    def code(self, entity: str, with_fan: bool) -> np.ndarray:
        """Per event: code × 2 + fan (0 unless ``with_fan``), or the invalid code where it has no key."""
        if (entity, with_fan) not in self._codes:
            code = self._code * 2 + self.fan() if with_fan else self._code * 2
            self._codes[entity, with_fan] = np.where(self.keys(entity) >= 0, code, _INVALID).astype(np.int16)
        return self._codes[entity, with_fan]

    def select(self, entity: str, index: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The events at ``index`` as packed (key, bucket) values, or as (keys, buckets) if too wide to pack."""
        packing = self.packings[entity]
        if packing is None:
            return self.keys(entity)[index], self.bucket[index]
        if entity not in self._packed:
            self._packed[entity] = packing.pack(self.keys(entity), self.bucket)
        return self._packed[entity][index]

    def _entity_keys(self, entity: str) -> np.ndarray:
        ev = self.ev
        if entity == "user":
            return ev.user
        if entity == "account":
            return self.account
        if entity == "post":
            return np.where(ev.ttype == POST, ev.target, -1)
        if entity == "product":
            return np.where(ev.ttype == PRODUCT, ev.target, -1)
        if entity == "user_account":
            return pair_key(ev.user, self.account)
        if entity == "user_category":
            return pair_key(ev.user, self.catalog.target_category(ev.ttype, ev.target, self.account))
        if entity == "tier_kind_format":
            return np.where(ev.ttype == POST, self.catalog.tier_cell(ev.target), -1)
        raise FeatureError(f"events carry no key for entity {entity!r}")


def packings_of(ev: EventArrays, catalog: Catalog, bucket_ms: int) -> dict[str, Packing | None]:
    """One packing per entity for all chunks, from bounds of the keys (so chunks' packed values combine)."""
    if not len(ev):
        return dict.fromkeys(("user", "account", "post", "product", "user_account", "user_category",
                              "tier_kind_format"))
    bucket = np.array([ev.time.min(), ev.time.max()]) // bucket_ms
    users, targets = int(ev.user.max()), int(ev.target.max())
    accounts, categories = catalog.max_ids()
    bounds = {"user": users, "account": accounts, "post": targets, "product": targets,
              "user_account": int(pair_key(np.array([users]), np.array([accounts]))[0]),
              "user_category": int(pair_key(np.array([users]), np.array([categories]))[0]),
              "tier_kind_format": 16 * len(ENUMS["tier"])}
    return {entity: Packing.of(bucket, max(bound, 0)) for entity, bound in bounds.items()}


@functools.lru_cache(maxsize=1024)
def counter_lut(counter: Counter) -> np.ndarray:
    """Which event codes × fan status a counter counts (see :meth:`EventView.code`); built once per counter
    (online, every small event batch asks for every counter's), read-only."""
    lut = np.zeros((len(ENUMS["action"]), _N_TYPES, _N_SOURCES), dtype=bool)
    actions = [ENUMS["action"].index(a) for a in counter.actions]
    types = [ENUMS["target_type"].index(t) for t in counter.target_types]
    sources = [ENUMS["source"].index(s) for s in counter.sources] if counter.sources else range(_N_SOURCES)
    lut[np.ix_(actions, types, list(sources))] = True
    # Events with an invalid enum have code _N_CODES, events without a key _INVALID: never counted.
    base = np.append(lut.ravel(), False)
    out = np.zeros(_INVALID + 1, dtype=bool)
    fan = {"all": (0, 1), "fan": (1,), "nonfan": (0,)}[counter.audience]
    for bit in fan:
        out[bit:2 * len(base):2] = base
    out.flags.writeable = False
    return out


def event_chunks(ev: EventArrays, catalog: Catalog, bucket_ms: int, packings: dict[str, Packing | None],
            fan_codes: np.ndarray | None = None,
            wanted: Mapping[str, KeyFilter] | None = None) -> Iterator[tuple[int, EventView]]:
    for s in range(0, len(ev), CHUNK):
        chunk = ev.take(slice(s, s + CHUNK))  # type: ignore[arg-type]
        yield s, EventView(chunk, catalog, bucket_ms, packings, fan_codes, wanted)


def key_filters(wanted: Mapping[str, np.ndarray] | None, n_events: int) -> dict[str, KeyFilter]:
    """Key filters of the wanted keys of :data:`FILTERABLE` entities, where there are few enough to pay."""
    return {entity: KeyFilter(keys) for entity, keys in (wanted or {}).items()
            if entity in FILTERABLE and len(keys) * EVENTS_PER_WANTED_KEY <= n_events}


def fan_codes_of(fs: FeatureSet, luts: list[np.ndarray]) -> np.ndarray:
    """Event codes (without the fan bit) that some fan or non-fan counter counts: only they need fan status."""
    fan_codes = np.zeros(_N_CODES + 1, dtype=bool)
    for lut, c in zip(luts, fs.counters, strict=True):
        if c.audience != "all":
            fan_codes |= lut[0:2 * (_N_CODES + 1):2] | lut[1:2 * (_N_CODES + 1):2]
    return fan_codes
