"""What the service indexes at start: the catalogue, the online features, the seen history, the hotlist board.

Everything comes from a data directory of contract tables; history events are replayed into the online
stores with the same definitions that built the training frames, so the first request already sees the
features the models were trained on. New events (``POST /events``) update the same objects.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.catalog import Catalog
from features.columns import EventArrays
from features.contract import TABLES, code, enum_codes
from features.featuresets import SLOT_FEATURE_SET, get_feature_set
from features.follows import FollowState
from features.online.shared import SetView, SharedOnline
from features.settings import FeatureSettings
from features.storage import read_table, table_names
from ranking.catalog import CatalogIndex
from ranking.catalog_tables import tables_from_arrow
from ranking.gate.settings import GateSettings
from ranking.hotlist import BoardState, HotlistBoard
from ranking.seen import InMemorySeenStore
from ranking.settings import RankingSettings
from serving.gate_live import LiveGate, gate_board, latest_assessment, start_gate

HOUR_MS = 3_600_000
POPULAR_PER_SLOT = 200
_IMPRESSION = code("action", "impression")


class ServiceDataError(RuntimeError):
    """The data directory cannot back the service."""


class LiveCatalog(CatalogIndex):
    """The catalogue with the follow graph of the live follow state (snapshot plus follow/unfollow events).

    The visibility filter asks :meth:`is_fan` and the candidate sources :meth:`followed`; answering both from
    the live state means an unfollow sent to ``POST /events`` hides the account's fans-only posts from the next
    request on, and a follow brings the account's posts and products into the next page. The follow graph is
    held once, by that state: the ranking catalogue's own follow index is left empty.
    """

    def __init__(self, tables: Mapping[str, pa.Table], follows: FollowState) -> None:
        super().__init__(*tables_from_arrow({**tables, "follows": tables["follows"].slice(0, 0)}))
        self.follow_state = follows

    def followed(self, users: np.ndarray, at_ms: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        return self.follow_state.followed(users, at_ms)

    def is_fan(self, users: np.ndarray, accounts: np.ndarray, at_ms: np.ndarray | int) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        at = np.broadcast_to(np.asarray(at_ms, dtype=np.int64), users.shape)
        return self.follow_state.is_fan(users, np.asarray(accounts, np.int64), at)


#: The post columns a worker keeps after loading (seller insights: a post's author, time and visibility).
POST_COLUMNS = ("post_id", "account_id", "created_at", "visibility")


@dataclass
class ServiceData:
    """The indexed data of one worker."""

    tables: dict[str, pa.Table]  # what seller insights read: accounts, and posts' POST_COLUMNS
    ids: dict[str, np.ndarray]  # the id column of users, posts, products and accounts (the intake's known ids)
    features_catalog: Catalog  # id look-ups of the feature pipelines and the live follow state (the updater's)
    catalog: LiveCatalog
    updater: SharedOnline  # counts every event batch once for all slots' feature sets
    online: dict[str, SetView]  # each slot's features, read from the updater's store
    seen: InMemorySeenStore
    board: HotlistBoard
    gate: LiveGate  # decides which fans-only posts the board shows (``serving.gate_live``)
    base_board: BoardState  # official picks and the data's public hot posts, under the gate's posts
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
    # The catalogue tables in one chunk each: every reader's numpy columns are then views of the same Arrow
    # buffers (a chunked column is copied by each to_numpy), one copy of the catalogue for all of them.
    return {name: read_table(data_dir, name) if name == "events" else read_table(data_dir, name).combine_chunks()
            for name in TABLES}


def load_service_data(data_dir: Path, features: FeatureSettings, ranking: RankingSettings,
                      gate: GateSettings | None = None) -> ServiceData:
    """Index ``data_dir`` and replay its events into online stores chosen by ``features.online_store``.

    The hotlist board and the popular fallback look back ``ranking.hotlist_window_hours``; the seen history
    ``ranking.seen_window_hours``.
    """
    t0 = time.perf_counter()
    tables = read_data(data_dir)
    events = tables["events"]
    ev = EventArrays.from_table(events)  # decoded once for every look-back below
    end = int(ev.time.max(initial=0))
    base = Catalog(tables["accounts"], tables["posts"], tables["products"], tables["follows"])
    updater = SharedOnline.open([get_feature_set(name) for name in SLOT_FEATURE_SET.values()], features, base)
    updater.update(events)
    online = {slot: updater.view(name) for slot, name in SLOT_FEATURE_SET.items()}
    # One live follow state for everything (visibility, candidates, the intake's fan counts): the updater's copy,
    # kept current by every event batch. The snapshot it started from is let go (``base`` is not kept).
    base = updater.catalog
    catalog = LiveCatalog(tables, base.follows)
    seen = InMemorySeenStore()
    record_impressions(seen, base, ev.take(np.flatnonzero(ev.time >= end - int(ranking.seen_window_hours * HOUR_MS))))
    since = end - int(ranking.hotlist_window_hours * HOUR_MS)
    recent = ev.time >= since
    base_board = _initial_board(tables, ev, enum_codes(events.column("slot"), "slot"), recent, since)
    live_gate = start_gate(tables, catalog.is_fan, ev, base_board, gate or GateSettings(), end,
                           latest_assessment(data_dir))
    board = HotlistBoard(gate_board(base_board, live_gate))
    popular = _popular(tables, ev, recent)
    # The history is in the stores and the catalogues hold their own columns now: keep only what seller insights
    # read and the intake's id lists; the rest (events, follows, products, users) would hold memory in every worker.
    kept = {"accounts": tables["accounts"], "posts": tables["posts"].select(list(POST_COLUMNS))}
    ids = {name: tables[name].column(0).to_numpy() for name in ("users", "posts", "products", "accounts")}
    del events, ev, tables
    base.follows.drop_filter()  # built for the replay's bulk fan look-ups; requests ask about one user each
    gc.collect()
    pa.default_memory_pool().release_unused()  # hand the freed Arrow buffers back to the system
    return ServiceData(kept, ids, base, catalog, updater, online, seen, board, live_gate, base_board, popular, end,
                       np.sort(ids["users"]), time.perf_counter() - t0)


def record_impressions(seen: InMemorySeenStore, catalog: Catalog, ev: EventArrays) -> None:
    """Add the post and product impressions among ``ev`` to ``seen`` (with each item's author, for fatigue)."""
    m = (ev.action == _IMPRESSION) & (ev.ttype != code("target_type", "account"))
    if m.any():
        ttype = ev.ttype[m].astype(np.int64)
        seen.record(ev.user[m], ttype, ev.target[m], catalog.target_account(ttype, ev.target[m]), ev.time[m])


def _clicks_by(ev: EventArrays, recent: np.ndarray, target_type: str) -> tuple[np.ndarray, np.ndarray]:
    m = recent & (ev.action == code("action", "click")) & (ev.ttype == code("target_type", target_type))
    ids, counts = np.unique(ev.target[m], return_counts=True)
    return ids, counts.astype(np.float64)


def _popular(tables: dict[str, pa.Table], ev: EventArrays,
             recent: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Most-clicked public posts and products of the recent rows: the non-personalised fallback per slot."""
    posts = tables["posts"]
    public = posts.column("post_id").to_numpy()[
        enum_codes(posts.column("visibility"), "visibility") == code("visibility", "public")]
    ids, clicks = _clicks_by(ev, recent, "post")
    keep = np.isin(ids, public)
    post_ids, post_scores = _top(ids[keep], clicks[keep])
    product_ids, product_scores = _top(*_clicks_by(ev, recent, "product"))
    return {"follow_feed": (post_ids, post_scores), "hotlist": (post_ids, post_scores),
            "new_arrival": (product_ids, product_scores)}


def _top(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((ids, -scores))[:POPULAR_PER_SLOT]
    return ids[order], scores[order]


def _initial_board(tables: dict[str, pa.Table], ev: EventArrays, slot_codes: np.ndarray, recent: np.ndarray,
                   since_ms: int) -> BoardState:
    """Posts on the hotlist at the end of the data (recent hotlist impressions), plus official accounts' posts."""
    m = recent & (ev.action == _IMPRESSION) & (slot_codes == code("slot", "hotlist"))
    shown, impressions = np.unique(ev.target[m], return_counts=True)
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
