"""Hacker News posts (Kaggle "Hacker News Posts", HN_posts_year_to_Sep_26_2016.csv) → contract tables.

Input (PATH is the CSV, or a folder holding exactly one ``*.csv``): header
``id,title,url,num_points,num_comments,author,created_at``; ``created_at`` like ``9/25/2016 0:48``
(month/day/year hour:minute, US Eastern time as the data set documents) or ISO-8601.

Mapping (deterministic: the same file gives the same tables):

* authors → influencer accounts. ``account_id`` = BLAKE2b-64 of the author name with the top bit
  cleared (:func:`features.adapters.base.hash63`). Collisions are checked: in sorted name order a name
  whose id is taken is re-hashed as ``name#1``, ``name#2``, … until free. Accounts are created at the
  author's first story, category 0, tier W1 (no state), not preferred. An empty author is a name too.
* stories → posts: ``post_id`` = HN id, kind ``info``, format ``article``, visibility ``public``,
  ``created_at`` = the story's time. Month/day/year times are US Eastern (``America/New_York``, DST
  applied; an ambiguous fall-back minute is read as daylight time, a skipped spring-forward minute is
  shifted forward) converted to UTC; ISO-8601 times keep their offset, and without one are UTC.
* engagement → events of ONE anonymous user, ``user_id`` 0 (created at the first story): ``num_points``
  ``like`` events and ``num_comments`` ``comment`` events per story, all at the story's time (HN gives no
  per-vote or per-comment times), slot ``other``, source ``in_app``. Event ids are consecutive from 0
  in file order: a story's likes, then its comments, then the next story's. Points are net votes, so
  they count likes only approximately; a negative count is an error.
* no products, no follows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from features.adapters import base
from features.contract import code

NAME = "hackernews"
DESCRIPTION = "Hacker News posts CSV: authors → accounts, stories → posts, points/comments → likes/comments"

EASTERN = "America/New_York"
ANONYMOUS_USER = 0
COLUMNS = ("id", "num_points", "num_comments", "author", "created_at")


def _locate(path: Path) -> Path:
    if path.is_dir():
        csvs = sorted(path.glob("*.csv"))
        if len(csvs) != 1:
            raise base.AdapterError(f"{path}: expected exactly one *.csv, found {len(csvs)}")
        return csvs[0]
    if not path.is_file():
        raise base.AdapterError(f"cannot read {path}: no such file or folder")
    return path


def parse_times(values: pd.Series, source: Path | str = "created_at") -> np.ndarray:
    """Epoch ms (UTC) of HN ``created_at`` strings: US-Eastern ``m/d/Y H:M``, or ISO-8601."""
    text = values.astype(str).str.strip()
    local = pd.to_datetime(text, format="%m/%d/%Y %H:%M", errors="coerce")
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ms, UTC]")
    us = local.notna()
    if us.any():
        try:
            eastern = local[us].dt.tz_localize(EASTERN, ambiguous=np.ones(int(us.sum()), dtype=bool),
                                               nonexistent="shift_forward")
        except Exception as e:  # zoneinfo data missing on this machine
            raise base.AdapterError(f"cannot convert US-Eastern times of {source}: {e}") from e
        out[us] = eastern.dt.tz_convert("UTC").astype("datetime64[ms, UTC]")
    if (~us).any():
        out[~us] = pd.to_datetime(text[~us], format="ISO8601", utc=True, errors="coerce").astype(
            "datetime64[ms, UTC]")
    bad = out.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise base.AdapterError(f"{source}: {int(bad.sum())} unreadable created_at value(s), first at "
                                f"data row {row}: {text.iloc[row]!r}")
    return out.astype("int64").to_numpy()


def author_ids(
    names: Iterable[str], hasher: Callable[[Iterable[str]], np.ndarray] = base.hash63
) -> np.ndarray:
    """Account ids of distinct author ``names`` (given sorted): stable hashes, collisions re-hashed."""
    names = list(names)
    ids = hasher(names)
    if len(np.unique(ids)) == len(ids):
        return ids
    used: set[int] = set()
    out = np.empty(len(names), dtype=np.int64)
    for i, (name, h) in enumerate(zip(names, ids.tolist(), strict=True)):
        k = 0
        while h in used:
            k += 1
            h = int(hasher([f"{name}#{k}"])[0])
        used.add(h)
        out[i] = h
    return out


def _read(source: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(source, dtype=str, keep_default_na=False, usecols=list(COLUMNS))
        story = pd.to_numeric(df["id"], errors="raise").astype("int64")
        points = pd.to_numeric(df["num_points"], errors="raise").astype("int64")
        comments = pd.to_numeric(df["num_comments"], errors="raise").astype("int64")
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise base.read_error(source, e) from e
    if (points < 0).any() or (comments < 0).any():
        raise base.AdapterError(f"{source}: negative num_points or num_comments")
    return pd.DataFrame({"id": story, "points": points, "comments": comments, "author": df["author"],
                         "created_at": df["created_at"]})


def read(path: Path) -> base.RawTables:
    """Map a Hacker News posts CSV into raw contract tables."""
    source = _locate(Path(path))
    df = _read(source)
    t = parse_times(df["created_at"], source)
    names, author_index = np.unique(df["author"].to_numpy(dtype=str), return_inverse=True)
    ids = author_ids(names.tolist())
    post_account = ids[author_index.reshape(-1)]
    _, account_created, _ = base.first_seen(author_index.reshape(-1), t)

    points = df["points"].to_numpy()
    comments = df["comments"].to_numpy()
    per_story = points + comments
    total = int(per_story.sum())
    row = np.repeat(np.arange(len(df)), per_story)
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(per_story) - per_story, per_story)
    action = np.where(within < points[row], code("action", "like"), code("action", "comment")).astype(np.int8)
    story = df["id"].to_numpy()
    t0 = int(t.min()) if len(t) else 0

    tables = {
        "accounts": base.accounts(ids, "influencer", account_created),
        "users": base.users(np.array([ANONYMOUS_USER]), t0),
        "posts": base.posts(story, post_account, "info", "article", "public", t),
        "events": base.events(np.arange(total, dtype=np.int64), np.full(total, ANONYMOUS_USER), "post",
                              story[row], action, t[row]),
    }
    return base.complete(tables)
