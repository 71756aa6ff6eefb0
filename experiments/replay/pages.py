"""Rebuild the logged day's pages and their candidates.

A page is one served request: from the service's page log (``serving.page_log_dir``, read as plain
Parquet), or else from the day's impression events grouped by ``request_id`` (by user, slot and hour when
the id is missing), ordered by logged position (by time when the position is missing). Each logged item
carries its reward on that page: clicked, and engaged (like, comment, share, cart or purchase).

Candidates are the logged items plus what the slot's source would have offered at the request time, from
rows before that time only: follow-feed, posts of the accounts the user followed then, published in the
last 48 hours; new-arrival, products of the followed shops launched in the last 7 days; hotlist, the
posts the hotlist showed in the hour before the request.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from experiments.replay.data import (
    DAY_MS,
    ENGAGE_ACTIONS,
    HOUR_MS,
    SLOTS,
    PointInTime,
    ReplayInputError,
    Tables,
    item_key,
)

FEED_WINDOW_MS = 48 * HOUR_MS
ARRIVAL_WINDOW_MS = 7 * DAY_MS
REWARD_WINDOW_MS = HOUR_MS // 2  # a click within 30 minutes of a page served without request ids is its reward
PAGE_COLUMNS = ["page", "user_id", "slot", "request_ms", "item_type", "item_id", "logged_position", "propensity"]


def pages_from_events(tables: Tables, lo: int, hi: int) -> pd.DataFrame:
    """Logged pages of ``[lo, hi)`` from impression events, one row per (page, item), rewards attached."""
    ev = tables.events
    imp = ev[(ev["action"] == "impression") & ev["slot"].isin(SLOTS) & (ev["time_ms"] >= lo) & (ev["time_ms"] < hi)]
    if imp.empty:
        raise ReplayInputError("--day: no impressions on served slots that day")
    imp = imp.assign(page_key=_page_key(imp))
    imp = imp.drop_duplicates(["page_key", "target_type", "target_id"])
    request_ms = imp.groupby("page_key")["time_ms"].transform("min")
    by_time = imp.groupby("page_key")["time_ms"].rank(method="first").astype(np.int64) - 1
    position = imp["position"].astype("Float64").fillna(by_time.astype("Float64")).astype(np.int64)
    pages = pd.DataFrame({"page": pd.factorize(imp["page_key"])[0], "page_key": imp["page_key"].to_numpy(),
                          "user_id": imp["user_id"].to_numpy(), "slot": imp["slot"].to_numpy(),
                          "request_ms": request_ms.to_numpy(), "item_type": imp["target_type"].to_numpy(),
                          "item_id": imp["target_id"].to_numpy(), "logged_position": position.to_numpy(),
                          "propensity": imp["propensity"].astype(float).to_numpy()})
    after = ev[(ev["time_ms"] >= lo) & (ev["time_ms"] < hi + HOUR_MS)]
    after = after.assign(page_key=_page_key(after))
    key = pages["page_key"].to_numpy() + "|" + item_key(pages["item_type"], pages["item_id"]).astype(str)
    for name, actions in (("clicked", ("click",)), ("engaged", ENGAGE_ACTIONS)):
        hit = after[after["action"].isin(actions)]
        hit_key = hit["page_key"].to_numpy() + "|" + item_key(hit["target_type"], hit["target_id"]).astype(str)
        pages[name] = np.isin(key, hit_key).astype(np.int64)
    return pages.drop(columns="page_key").sort_values(["page", "logged_position"]).reset_index(drop=True)


def _page_key(ev: pd.DataFrame) -> np.ndarray:
    """``request_id`` where logged, else user, slot and hour of the event."""
    rid = ev["request_id"]
    synthetic = ("u" + ev["user_id"].astype(str) + ":" + ev["slot"].astype(str) + ":"
                 + (ev["time_ms"] // HOUR_MS).astype(str))
    return np.where(rid.notna(), "r" + rid.astype("Int64").astype(str), synthetic).astype(object)


def pages_from_log(folder: Path, tables: Tables, lo: int, hi: int) -> pd.DataFrame:
    """Logged pages of ``[lo, hi)`` from the service's page log; rewards from events within 30 minutes."""
    files = sorted(Path(folder).glob("pages-*.parquet")) if Path(folder).is_dir() else []
    if not files:
        raise ReplayInputError(f"--page-log: no page log files (pages-*.parquet) in {folder}")
    log = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    missing = {"request_id", "served_ms", "user_id", "slot", "item_id", "item_type", "position",
               "propensity"} - set(log.columns)
    if missing:
        raise ReplayInputError(f"--page-log: the page log lacks columns {', '.join(sorted(missing))}")
    log = log[(log["served_ms"] >= lo) & (log["served_ms"] < hi) & log["slot"].isin(SLOTS)]
    if log.empty:
        raise ReplayInputError(f"--page-log: no served pages on the day in {folder}")
    log = log.drop_duplicates(["request_id", "item_type", "item_id"])
    pages = pd.DataFrame({"page": pd.factorize(log["request_id"])[0], "user_id": log["user_id"].to_numpy(),
                          "slot": log["slot"].to_numpy(), "request_ms": log["served_ms"].to_numpy(),
                          "item_type": log["item_type"].to_numpy(), "item_id": log["item_id"].to_numpy(),
                          "logged_position": log["position"].astype(np.int64).to_numpy(),
                          "propensity": log["propensity"].astype(float).to_numpy()})
    ev = tables.events
    for name, actions in (("clicked", ("click",)), ("engaged", ENGAGE_ACTIONS)):
        hit = ev[ev["action"].isin(actions)][["user_id", "slot", "target_type", "target_id", "time_ms"]]
        hit = hit.rename(columns={"target_type": "item_type", "target_id": "item_id"})
        m = pages.reset_index().merge(hit, on=["user_id", "slot", "item_type", "item_id"])
        ok = (m["time_ms"] >= m["request_ms"]) & (m["time_ms"] < m["request_ms"] + REWARD_WINDOW_MS)
        pages[name] = pages.index.isin(m.loc[ok, "index"]).astype(np.int64)
    return pages.sort_values(["page", "logged_position"]).reset_index(drop=True)


def add_candidates(pages: pd.DataFrame, tables: Tables, max_extra: int) -> pd.DataFrame:
    """Logged rows plus up to ``max_extra`` source candidates per page (``logged_position`` −1, no reward)."""
    if max_extra <= 0:
        return pages
    heads = pages.drop_duplicates("page")[["page", "user_id", "slot", "request_ms"]]
    extra = pd.concat([_followed_items(heads[heads["slot"] == "follow_feed"], tables, "post"),
                       _followed_items(heads[heads["slot"] == "new_arrival"], tables, "product"),
                       _board_items(heads[heads["slot"] == "hotlist"], tables)], ignore_index=True)
    if extra.empty:
        return pages
    seen = pages["page"].astype(str) + "|" + pages["item_type"] + "|" + pages["item_id"].astype(str)
    extra_key = extra["page"].astype(str) + "|" + extra["item_type"] + "|" + extra["item_id"].astype(str)
    extra = extra[~extra_key.isin(seen)].drop_duplicates(["page", "item_type", "item_id"])
    # The newest first: the sources' own order (a fresh item is what the source would surface first).
    extra = extra.sort_values(["page", "item_ms"], ascending=[True, False]).groupby("page").head(max_extra)
    extra = extra.assign(logged_position=-1, propensity=np.nan, clicked=0, engaged=0).drop(columns="item_ms")
    out = pd.concat([pages, extra[pages.columns]], ignore_index=True)
    order = out.assign(_extra=out["logged_position"] < 0).sort_values(["page", "_extra", "logged_position"])
    return order.drop(columns="_extra").reset_index(drop=True)


def _followed_items(heads: pd.DataFrame, tables: Tables, kind: str) -> pd.DataFrame:
    """Posts (or products) of the accounts each page's user followed at request time, in the source window."""
    if heads.empty:
        return pd.DataFrame(columns=[*PAGE_COLUMNS[:5], "item_id", "item_ms"])
    fo = tables.follows[["user_id", "account_id", "start_ms", "end_ms"]]
    m = heads.merge(fo, on="user_id")
    m = m[(m["start_ms"] < m["request_ms"]) & (m["end_ms"] >= m["request_ms"])]
    if kind == "post":
        items = tables.posts.rename(columns={"post_id": "item_id", "created_ms": "item_ms"})
        window, author = FEED_WINDOW_MS, "account_id"
    else:
        items = tables.products.rename(columns={"product_id": "item_id", "launched_ms": "item_ms",
                                                "shop_id": "account_id"})
        window, author = ARRIVAL_WINDOW_MS, "account_id"
    m = m.merge(items[["item_id", author, "item_ms"]], on=author)
    m = m[(m["item_ms"] < m["request_ms"]) & (m["item_ms"] >= m["request_ms"] - window)]
    return m.assign(item_type=kind)[["page", "user_id", "slot", "request_ms", "item_type", "item_id", "item_ms"]]


def _board_items(heads: pd.DataFrame, tables: Tables) -> pd.DataFrame:
    """Posts the hotlist showed (to anyone) in the hour before each hotlist request."""
    if heads.empty:
        return pd.DataFrame(columns=[*PAGE_COLUMNS[:5], "item_id", "item_ms"])
    ev = tables.events
    hot = ev[(ev["slot"] == "hotlist") & (ev["action"] == "impression") & (ev["target_type"] == "post")]
    hot = hot[["target_id", "time_ms"]].rename(columns={"target_id": "item_id"})
    lo, hi = int(heads["request_ms"].min()) - HOUR_MS, int(heads["request_ms"].max())
    hot = hot[(hot["time_ms"] >= lo) & (hot["time_ms"] < hi)]
    heads = heads.assign(hour=heads["request_ms"] // HOUR_MS)
    hot = hot.assign(hour=hot["time_ms"] // HOUR_MS + 1)  # shown during hour h-1 → on the board at hour h
    m = heads.merge(hot, on="hour")
    m = m[m["time_ms"] < m["request_ms"]].drop_duplicates(["page", "item_id"])
    created = tables.posts.set_index("post_id")["created_ms"]
    m = m.assign(item_ms=created.reindex(m["item_id"]).to_numpy(), item_type="post")
    return m[["page", "user_id", "slot", "request_ms", "item_type", "item_id", "item_ms"]]


def hydrate(cands: pd.DataFrame, tables: Tables, pit: PointInTime) -> pd.DataFrame:
    """Attach author, item time, account kind and tier, and point-in-time signals to every candidate row."""
    is_post = cands["item_type"].to_numpy() == "post"
    posts = tables.posts.set_index("post_id")
    products = tables.products.set_index("product_id")
    ids = cands["item_id"].to_numpy()
    author = np.where(is_post, posts["account_id"].reindex(ids).to_numpy(),
                      products["shop_id"].reindex(ids).to_numpy())
    item_ms = np.where(is_post, posts["created_ms"].reindex(ids).to_numpy(),
                       products["launched_ms"].reindex(ids).to_numpy())
    if np.isnan(author.astype(float)).any():
        raise ReplayInputError("pages: a logged item is missing from the posts or products table")
    author, item_ms = author.astype(np.int64), item_ms.astype(np.int64)
    accounts = tables.accounts.set_index("account_id")
    t = cands["request_ms"].to_numpy(np.int64)
    key = item_key(cands["item_type"].to_numpy(), ids)
    return cands.assign(
        author=author, item_ms=item_ms,
        account_kind=accounts["kind"].reindex(author).to_numpy(),
        tier=accounts["tier"].reindex(author).to_numpy(),
        is_fan=pit.is_fan(cands["user_id"].to_numpy(), author, t),
        imps_before=pit.imps(key, t), clicks_before=pit.clicks(key, t), engaged_before=pit.engagements(key, t),
        followers=pit.followers(author, t),
        age_h=np.maximum(0.0, (t - item_ms) / HOUR_MS))
