"""Counting events into features: the one computation behind offline training frames and online serving.

:func:`count_events` turns events into counts per (counter, entity key, bucket) (one
:class:`features.counts.CountTable` per counter); :func:`answer` reads every windowed count a feature set
needs for request rows; :func:`evaluate` turns counts and look-ups into the matrix
(:meth:`features.definitions.FeatureSet.assemble`). :func:`build_frame` runs this over the whole history,
in-process or on Dask (``features.offline_dask``); ``features.online`` runs the same functions batch by
batch against a store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.catalog import ACCOUNT, POST, PRODUCT, Catalog, DataSource
from features.columns import EventArrays, int_column, ms_column, pair_key
from features.contract import enum_codes
from features.counts import CountTable, Packing, argsort_ids
from features.definitions import ALL, Counter, FeatureError, FeatureSet, Inputs, window_buckets
from features.event_view import (
    FILTERABLE,
    counter_lut,
    event_chunks,
    fan_codes_of,
    key_filters,
    packings_of,
)
from features.follows import FollowState
from features.hugepages import numpy_hugepages
from features.settings import FeatureSettings

if TYPE_CHECKING:
    from distributed import Client

#: Reader of windowed sums: (counter index, keys, lo buckets, hi buckets) -> sums.
ReadFn = Callable[[int, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
#: Online "seen before" state: (space, members) -> whether each member was seen in an earlier batch.
SeenFn = Callable[[str, np.ndarray], np.ndarray]


def _repeats(ev: EventArrays, found: list[tuple[np.ndarray, np.ndarray, np.ndarray]], space: str,
             seen_before: SeenFn | None) -> np.ndarray:
    """For the events of a repeat space (``found``: their indices, users and accounts): True where the user had
    an earlier event of the space on the same account. "Earlier" is by (event time, event id); online, pairs
    first met in this batch ask ``seen_before``."""
    idx, users, accounts = (np.concatenate(x) for x in zip(*found, strict=True)) if found else (np.empty(0, int),) * 3
    pair = pair_key(users, accounts)
    order = np.lexsort((ev.event_id[idx], ev.time[idx], pair))
    p = pair[order]
    first = np.concatenate([[True], p[1:] != p[:-1]]) if len(p) else np.empty(0, bool)
    again = ~first
    if seen_before is not None and first.any():
        again[first] = seen_before(space, p[first])
    flags = np.zeros(len(ev), dtype=bool)
    flags[idx[order]] = again
    return flags


def count_events(fs: FeatureSet, ev: EventArrays, catalog: Catalog, bucket_ms: int,
                 seen_before: SeenFn | None = None,
                 wanted: Mapping[str, np.ndarray] | None = None) -> list[CountTable | None]:
    """Counts per (key, bucket) of every event counter of ``fs`` (None for the followers counter).

    ``wanted``: per entity, the only keys whose counts will be read (the request rows' keys, offline). Events
    of other keys may then go uncounted, which spares sorting them: their tables hold the wanted keys, counted
    exactly, and a few others that a one-hash filter lets through (see :class:`~features.keyfilter.KeyFilter`).

    One pass over the events in chunks: a chunk's keys and codes cost more to derive than to test. Counters
    of repeat events (a user's later events on the same account) keep the index of each event they select,
    and drop the first ones once the pass has seen every event of their repeat space.
    """
    packings = packings_of(ev, catalog, bucket_ms)
    luts = [counter_lut(c) for c in fs.counters]
    spaces = {c.repeat_space: counter_lut(Counter("account", c.actions, c.target_types))
              for c in fs.counters if c.repeat}
    found: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {space: [] for space in spaces}
    parts: list[list] = [[] for _ in fs.counters]
    at: list[list[np.ndarray]] = [[] for _ in fs.counters]
    for s, view in event_chunks(ev, catalog, bucket_ms, packings, fan_codes_of(fs, luts), key_filters(wanted, len(ev))):
        for space, lut in spaces.items():
            idx = np.flatnonzero(lut[view.code("account", False)])
            found[space].append((s + idx, view.ev.user[idx], view.account[idx]))
        for j, c in enumerate(fs.counters):
            if not c.followers:
                idx = np.flatnonzero(luts[j][view.code(c.entity, c.audience != "all")])
                parts[j].append(view.select(c.entity, idx))
                if c.repeat:
                    at[j].append(s + idx)
    repeats = {space: _repeats(ev, parts_, space, seen_before) for space, parts_ in found.items()}
    out: list[CountTable | None] = []
    for j, c in enumerate(fs.counters):
        keep = repeats[c.repeat_space][np.concatenate(at[j])] if c.repeat and at[j] else None
        out.append(None if c.followers else _table(parts[j], packings[c.entity], keep))
        parts[j] = []
    return out


def _table(parts: list, packing: Packing | None, keep: np.ndarray | None) -> CountTable:
    """The count table of one counter's selected events (chunk by chunk), those of ``keep`` only if given."""
    if packing is None:
        keys, buckets = (np.concatenate(x) for x in zip(*parts, strict=True)) if parts else ([], [])
        keys, buckets = np.asarray(keys, np.int64), np.asarray(buckets, np.int64)
        if keep is not None:
            keys, buckets = keys[keep], buckets[keep]
        return CountTable.aggregate(keys, buckets)
    packed = np.concatenate(parts) if parts else np.empty(0, np.int64)
    return CountTable.from_packed(packed if keep is None else packed[keep], packing)


def follower_table(follows: FollowState, bucket_ms: int, reads: tuple[int, int] | None = None) -> CountTable:
    """The followers counter of a follow state: +1 in the bucket a follow starts, -1 in the one it ends.

    ``reads`` = (lo, hi): every read of the table starts at bucket ``lo`` or earlier (or at the beginning) and
    ends before ``hi``. Changes from ``hi`` on are then never read and are left out, and changes before ``lo``
    are summed into bucket ``lo - 1``, where every read that covered them still does. Each read sums the same,
    and years of follow history before a training window shrink to one bucket per account.
    """
    accounts, times, deltas = follows.deltas()
    buckets = times // bucket_ms
    if reads is not None:
        lo, hi = reads
        keep = buckets < hi
        accounts, buckets, deltas = accounts[keep], np.maximum(buckets[keep], lo - 1), deltas[keep]
    return CountTable.aggregate(accounts, buckets, deltas, histogram=True)


def read_span(fs: FeatureSet, counter: int, hi: np.ndarray, bucket_ms: int) -> tuple[int, int] | None:
    """The ``reads`` of :func:`follower_table` for the reads of ``counter`` by requests in buckets ``hi``: from
    the earliest bucket a windowed read starts at (the earliest request, for a read from the beginning) to the
    last request's bucket. None without requests."""
    if not len(hi):
        return None
    first = int(hi.min())
    starts = [first if rd.window_hours is None else first - window_buckets(rd.window_hours, bucket_ms)
              for rd in fs.reads if rd.counter == counter]
    return min(starts, default=first), int(hi.max())


@dataclass(frozen=True)
class RowArrays:
    """Request rows: (user, candidate target, its account and category, request time) plus provided columns."""

    user: np.ndarray
    ttype: np.ndarray
    target: np.ndarray
    account: np.ndarray
    category: np.ndarray
    request_ms: np.ndarray
    provided: Mapping[str, np.ndarray]

    COLUMNS = ("user_id", "target_type", "target_id", "account_id", "category", "request_ms")

    @classmethod
    def from_table(cls, rows: pa.Table) -> RowArrays:
        missing = [c for c in cls.COLUMNS if c not in rows.column_names]
        if missing:
            raise FeatureError(f"request rows lack column(s): {', '.join(missing)}")
        tt = rows.column("target_type")
        ttype = (enum_codes(tt, "target_type") if not pa.types.is_integer(tt.type) else int_column(tt)).astype(np.int8)
        extra = {c: pc.cast(rows.column(c), pa.float64()).to_numpy(zero_copy_only=False)
                 for c in rows.column_names if c not in cls.COLUMNS}
        return cls(int_column(rows.column("user_id")), ttype, int_column(rows.column("target_id")),
                   int_column(rows.column("account_id")), int_column(rows.column("category")),
                   ms_column(rows.column("request_ms")), extra)

    def __len__(self) -> int:
        return len(self.user)

    def slice(self, start: int, stop: int) -> RowArrays:
        """Rows ``start`` to ``stop`` (views, no copy)."""
        return RowArrays(self.user[start:stop], self.ttype[start:stop], self.target[start:stop],
                         self.account[start:stop], self.category[start:stop], self.request_ms[start:stop],
                         {name: values[start:stop] for name, values in self.provided.items()})


@dataclass(frozen=True)
class RowQueries:
    """Request rows with their key for every entity (-1 where none) and the bucket of the request."""

    rows: RowArrays
    keys: dict[str, np.ndarray]
    hi: np.ndarray

    def slice(self, start: int, stop: int) -> RowQueries:
        """Rows ``start`` to ``stop`` with their keys and buckets (views, no copy)."""
        return RowQueries(self.rows.slice(start, stop), {e: k[start:stop] for e, k in self.keys.items()},
                          self.hi[start:stop])


def row_queries(rows: pa.Table | RowArrays, catalog: Catalog, bucket_ms: int) -> RowQueries:
    """Each request row's key for every entity (-1 where none) and the time bucket of its request.

    Raises :class:`FeatureError` for a target type other than post, product or account.
    """
    r = rows if isinstance(rows, RowArrays) else RowArrays.from_table(rows)
    account = np.where(r.account >= 0, r.account, -1)
    keys = {
        "user": r.user, "account": account,
        "post": np.where(r.ttype == POST, r.target, -1), "product": np.where(r.ttype == PRODUCT, r.target, -1),
        "user_account": pair_key(r.user, account), "user_category": pair_key(r.user, r.category),
        "tier_kind_format": np.where(r.ttype == POST, catalog.tier_cell(r.target), -1),
    }
    if np.any((r.ttype != POST) & (r.ttype != PRODUCT) & (r.ttype != ACCOUNT)):
        raise FeatureError("request rows: target_type must be a target_type code (post, product, account)")
    return RowQueries(r, keys, r.request_ms // bucket_ms)


#: Entities keyed by the acting user: their counts are whole inside a partition of users.
USER_ENTITIES = ("user", "user_account", "user_category")


def answer(fs: FeatureSet, q: RowQueries, read: ReadFn, bucket_ms: int,
           user_rows: np.ndarray | None = None) -> np.ndarray:
    """Every read of ``fs`` for the rows of ``q`` (int64, rows × reads); rows without a key read 0.

    ``user_rows`` (a partition's answer) limits reads of user-keyed entities to those rows; others are 0.
    """
    out = np.zeros((len(q.hi), len(fs.reads)), dtype=np.int64)
    for entity, columns in reads_by_entity(fs).items():
        # Rows sorted by key once per entity: every read then searches with sorted queries.
        keys = q.keys[entity]
        idx = np.flatnonzero(_answered(q, entity, user_rows))
        idx = idx[argsort_ids(keys[idx])]
        out[np.ix_(idx, columns)] = answer_entity(fs, entity, keys[idx], q.hi[idx], read, bucket_ms)
    return out


def _answered(q: RowQueries, entity: str, user_rows: np.ndarray | None) -> np.ndarray:
    """Rows of ``q`` whose reads of ``entity`` a partition answers: those with a key (user-keyed entities: of the
    partition's users only)."""
    valid = q.keys[entity] >= 0
    return valid if user_rows is None or entity not in USER_ENTITIES else valid & user_rows


def reads_by_entity(fs: FeatureSet) -> dict[str, list[int]]:
    """The columns of :attr:`FeatureSet.reads` of each entity, in read order."""
    out: dict[str, list[int]] = {}
    for j, rd in enumerate(fs.reads):
        out.setdefault(fs.counters[rd.counter].entity, []).append(j)
    return out


def answer_entity(fs: FeatureSet, entity: str, keys: np.ndarray, hi: np.ndarray, read: ReadFn,
                  bucket_ms: int) -> np.ndarray:
    """The reads of one entity (columns as in :func:`reads_by_entity`) for valid ``keys`` (best sorted)."""
    columns = reads_by_entity(fs).get(entity, [])
    out = np.zeros((len(keys), len(columns)), dtype=np.int64)
    for c, j in enumerate(columns):
        rd = fs.reads[j]
        lo = np.full(len(keys), ALL) if rd.window_hours is None else hi - window_buckets(rd.window_hours, bucket_ms)
        out[:, c] = read(rd.counter, keys, lo, hi)
    return out


#: Rows :func:`evaluate` assembles at a time. Assembly works on a float64 matrix of every read and feature
#: (about 1 KB a row): for a whole training frame that is hundreds of MB of fresh memory, whose page faults cost
#: more than the arithmetic (measured, 200k rows: 0.38 s whole in a fresh process, 0.16 s warm, 0.13 s in
#: blocks of 2k-16k rows, which reuse one block's memory and stay in cache). A request's rows are one block.
EVALUATE_ROWS = 8192


def evaluate(fs: FeatureSet, q: RowQueries, catalog: Catalog, counts: np.ndarray,
             block_rows: int = EVALUATE_ROWS) -> np.ndarray:
    """The feature matrix of the rows of ``q`` from their read counts (both paths end here), assembled
    ``block_rows`` rows at a time (every feature is a function of its own row: the matrix is the same)."""
    n = len(q.hi)
    if n <= block_rows:
        return _evaluate_block(fs, q, catalog, counts)
    out = np.empty((n, len(fs.columns)), dtype=np.float32)
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        out[start:stop] = _evaluate_block(fs, q.slice(start, stop), catalog, counts[start:stop])
    return out


def _evaluate_block(fs: FeatureSet, q: RowQueries, catalog: Catalog, counts: np.ndarray) -> np.ndarray:
    valid = {entity: keys >= 0 for entity, keys in q.keys.items()}
    valid["request"] = np.ones(len(q.hi), dtype=bool)

    def provided(name: str) -> tuple[np.ndarray, np.ndarray]:
        values = q.rows.provided.get(name, np.full(len(q.hi), np.nan))
        return values, ~np.isnan(values)

    return fs.assemble(Inputs(counts, valid, lambda column: catalog.lookup(column, q.rows), provided,
                              lambda columns: catalog.lookup_many(columns, q.rows)))


def answer_partition(fs: FeatureSet, ev: EventArrays, catalog: Catalog, bucket_ms: int, q: RowQueries,
                     user_rows: np.ndarray | None = None) -> np.ndarray:
    """Read counts of the rows of ``q`` from the events (and follows) of one partition, or of everything."""
    counted = {c.entity for c in fs.counters if not c.followers}
    wanted = {entity: np.unique(q.keys[entity][_answered(q, entity, user_rows)])
              for entity in FILTERABLE if entity in counted}
    tables = count_events(fs, ev, catalog, bucket_ms, wanted=wanted)
    at = next((i for i, c in enumerate(fs.counters) if c.followers), None)
    if at is not None:
        followers = follower_table(catalog.follows, bucket_ms, read_span(fs, at, q.hi, bucket_ms))
        tables = [followers if t is None else t for t in tables]
    return answer(fs, q, lambda c, keys, lo, hi: tables[c].window_sums(keys, lo, hi),  # type: ignore[union-attr]
                  bucket_ms, user_rows)


@dataclass(frozen=True)
class FeatureFrame:
    """A point-in-time training frame: one float32 row per request row, columns of the feature set."""

    values: np.ndarray
    columns: list[str]
    feature_set: str
    version: int
    fingerprint: str


def build_frame(feature_set: FeatureSet, rows: pa.Table, data: DataSource, *,
                settings: FeatureSettings | None = None, engine: str | None = None,
                client: Client | None = None) -> FeatureFrame:
    """Point-in-time features of ``rows`` from the events and catalogue of ``data``.

    ``rows``: ``user_id, target_type (int8 code), target_id, account_id, category, request_ms`` (int64) plus
    any provided columns. ``engine`` defaults to ``settings.engine``; with ``"dask"`` a ``distributed.Client``
    may be passed as ``client``, otherwise one is started from the settings for this call.
    """
    settings = settings or FeatureSettings()
    engine = engine or settings.engine
    if engine not in ("inprocess", "dask"):
        raise FeatureError(f"unknown offline engine {engine!r} (inprocess or dask)")
    with numpy_hugepages(settings.numpy_hugepages):
        catalog = data.catalog()
        q = row_queries(rows, catalog, settings.bucket_ms)
        events = data.events()
        if engine == "inprocess":
            counts = answer_partition(feature_set, events, catalog, settings.bucket_ms, q)
        else:
            from features.offline_dask import answer_dask  # only the Dask engine needs distributed

            counts = answer_dask(feature_set, events, catalog, q, settings, client)
        values = evaluate(feature_set, q, catalog, counts)
    return FeatureFrame(values, feature_set.columns, feature_set.name, feature_set.version, feature_set.fingerprint)
