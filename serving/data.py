"""What the service indexes at start: the catalogue, the online features, the seen history, the hotlist board.

Everything comes from a data directory of contract tables; history events are replayed into the online
stores with the same definitions that built the training frames, so the first request already sees the
features the models were trained on. New events (``POST /events``) update the same objects.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.catalog import Catalog, FollowState
from features.contract import TABLES, code, enum_codes
from features.featuresets import get_feature_set
from features.online import make_store
from features.online.updater import OnlineFeatures
from features.settings import FeatureSettings
from features.storage import read_table, table_names
from ranking.catalog import CatalogIndex
from ranking.catalog_tables import tables_from_arrow
from ranking.hotlist import BoardState, HotlistBoard
from ranking.seen import InMemorySeenStore

SLOT_FEATURE_SET = {"follow_feed": "follow_feed_v1", "new_arrival": "new_arrival_v1"}
HOUR_MS = 3_600_000
POPULAR_PER_SLOT = 200


class ServiceDataError(RuntimeError):
    """The data directory cannot back the service."""


class LiveCatalog(CatalogIndex):
    """The catalogue with fan status from the live follow state (snapshot plus follow/unfollow events).

    The visibility filter asks :meth:`is_fan`; answering from the live state means an unfollow sent to
    ``POST /events`` hides the account's fans-only posts from the next request on.
    """

    def __init__(self, tables: Mapping[str, pa.Table], follows: FollowState) -> None:
        super().__init__(*tables_from_arrow(tables))
        self.follow_state = follows

    def is_fan(self, users: np.ndarray, accounts: np.ndarray, at_ms: np.ndarray | int) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        at = np.broadcast_to(np.asarray(at_ms, dtype=np.int64), users.shape)
        return self.follow_state.is_fan(users, np.asarray(accounts, np.int64), at)


@dataclass
class ServiceData:
    """The indexed data of one worker."""

    tables: dict[str, pa.Table]
    catalog: LiveCatalog
    online: dict[str, OnlineFeatures]
    seen: InMemorySeenStore
    board: HotlistBoard
    popular: dict[str, tuple[np.ndarray, np.ndarray]]  # slot -> (item ids, scores), public items only
    data_end_ms: int
    known_users: np.ndarray
    load_seconds: float


def read_data(data_dir: Path) -> dict[str, pa.Table]:
    """Every contract table of ``data_dir``; a missing table is an error naming it."""
    if not data_dir.is_dir():
        raise ServiceDataError(f"serving.data_dir: {data_dir} is not a directory (run `weitao simulate` first)")
    present = set(table_names(data_dir))
    missing = [t for t in TABLES if t not in present]
    if missing:
        raise ServiceDataError(f"serving.data_dir: {data_dir} has no table(s) {', '.join(missing)}")
    return {name: read_table(data_dir, name) for name in TABLES}


def load_service_data(data_dir: Path, features: FeatureSettings, *, hotlist_window_hours: float = 48.0,
                      seen_window_hours: float = 72.0) -> ServiceData:
    """Index ``data_dir`` and replay its events into online stores chosen by ``features.online_store``."""
    t0 = time.perf_counter()
    tables = read_data(data_dir)
    events = tables["events"]
    times = pc.cast(events.column("event_time"), pa.int64()).to_numpy()
    end = int(times.max(initial=0))
    base = Catalog(tables["accounts"], tables["posts"], tables["products"], tables["follows"])
    online = {}
    for slot, name in SLOT_FEATURE_SET.items():
        fs = get_feature_set(name)
        online[slot] = OnlineFeatures(fs, make_store(fs, features), base)
        online[slot].update(events)
    # One live follow state for visibility: the first updater's copy, kept current by every event batch.
    catalog = LiveCatalog(tables, online["follow_feed"].catalog.follows)
    seen = InMemorySeenStore()
    _record_impressions(seen, catalog, events, times, end - int(seen_window_hours * HOUR_MS))
    board = HotlistBoard(_initial_board(tables, events, times, end - int(hotlist_window_hours * HOUR_MS)))
    return ServiceData(tables, catalog, online, seen, board, _popular(tables, events, times, end - 48 * HOUR_MS),
                       end, np.sort(tables["users"].column("user_id").to_numpy()), time.perf_counter() - t0)


def _record_impressions(seen: InMemorySeenStore, catalog: CatalogIndex, events: pa.Table, times: np.ndarray,
                        since_ms: int) -> None:
    action = enum_codes(events.column("action"), "action")
    m = (action == code("action", "impression")) & (times >= since_ms)
    record_events(seen, catalog, events.filter(pa.array(m)))


def record_events(seen: InMemorySeenStore, catalog: CatalogIndex, events: pa.Table) -> None:
    """Add the impressions among ``events`` to ``seen`` (with each item's author, for fatigue)."""
    action = enum_codes(events.column("action"), "action")
    ttype = enum_codes(events.column("target_type"), "target_type")
    m = (action == code("action", "impression")) & (ttype != code("target_type", "account"))
    if not m.any():
        return
    ev = events.filter(pa.array(m))
    ttype, target = ttype[m].astype(np.int8), ev.column("target_id").to_numpy()
    post = ttype == code("target_type", "post")
    author = np.full(len(target), -1, np.int64)
    p_rows, q_rows = catalog.post_rows(target[post]), catalog.product_rows(target[~post])
    author[post] = np.where(p_rows >= 0, catalog.post_candidates(np.zeros(len(p_rows), np.int64),
                                                                 np.maximum(p_rows, 0)).author_id, -1)
    author[~post] = np.where(q_rows >= 0, catalog.product_candidates(np.zeros(len(q_rows), np.int64),
                                                                     np.maximum(q_rows, 0)).author_id, -1)
    seen.record(ev.column("user_id").to_numpy(), ttype, target, author,
                pc.cast(ev.column("event_time"), pa.int64()).to_numpy())


def _clicks_by(events: pa.Table, times: np.ndarray, since_ms: int, target_type: str) -> tuple[np.ndarray, np.ndarray]:
    action = enum_codes(events.column("action"), "action")
    ttype = enum_codes(events.column("target_type"), "target_type")
    m = (action == code("action", "click")) & (ttype == code("target_type", target_type)) & (times >= since_ms)
    ids, counts = np.unique(events.column("target_id").to_numpy()[m], return_counts=True)
    return ids, counts.astype(np.float64)


def _popular(tables: dict[str, pa.Table], events: pa.Table, times: np.ndarray,
             since_ms: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Most-clicked public posts and products of the last hours: the non-personalised fallback per slot."""
    posts = tables["posts"]
    public = posts.column("post_id").to_numpy()[
        enum_codes(posts.column("visibility"), "visibility") == code("visibility", "public")]
    ids, clicks = _clicks_by(events, times, since_ms, "post")
    keep = np.isin(ids, public)
    post_ids, post_scores = _top(ids[keep], clicks[keep])
    product_ids, product_scores = _top(*_clicks_by(events, times, since_ms, "product"))
    return {"follow_feed": (post_ids, post_scores), "hotlist": (post_ids, post_scores),
            "new_arrival": (product_ids, product_scores)}


def _top(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((ids, -scores))[:POPULAR_PER_SLOT]
    return ids[order], scores[order]


def _initial_board(tables: dict[str, pa.Table], events: pa.Table, times: np.ndarray, since_ms: int) -> BoardState:
    """Posts on the hotlist at the end of the data (hotlist impressions), plus official accounts' recent posts."""
    action = enum_codes(events.column("action"), "action")
    slot = enum_codes(events.column("slot"), "slot")
    m = (action == code("action", "impression")) & (slot == code("slot", "hotlist")) & (times >= since_ms)
    shown, impressions = np.unique(events.column("target_id").to_numpy()[m], return_counts=True)
    posts, accounts = tables["posts"], tables["accounts"]
    official_accounts = accounts.column("account_id").to_numpy()[
        enum_codes(accounts.column("kind"), "account_kind") == code("account_kind", "official")]
    created = pc.cast(posts.column("created_at"), pa.int64()).to_numpy()
    official = posts.column("post_id").to_numpy()[
        np.isin(posts.column("account_id").to_numpy(), official_accounts) & (created >= since_ms)]
    official = np.setdiff1d(official, shown)
    ids = np.concatenate([shown, official])
    weight = np.concatenate([np.log1p(impressions.astype(np.float64)), np.ones(len(official))])
    return BoardState(ids, np.maximum(weight, 1e-3), np.r_[np.zeros(len(shown), bool), np.ones(len(official), bool)])
