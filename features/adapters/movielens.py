"""MovieLens-100k → contract tables.

Input (PATH is the folder or the ratings file itself), either layout:

* GroupLens ``ml-100k``: ``u.data`` (tab-separated user, item, rating, unix seconds; no header),
  optional ``u.item`` (``|``-separated, latin-1; the last 19 columns are genre flags in the order of
  :data:`GENRES`), optional ``u.user``.
* RecBole atomic files: ``ml-100k.inter`` (header ``user_id:token item_id:token rating:float
  timestamp:float``), optional ``ml-100k.item`` (``class:token_seq``: space-separated genre names),
  optional ``ml-100k.user``.

Mapping (deterministic: the same files give the same tables):

* movies → posts: ``post_id`` = movie id, kind ``info``, format ``video``, visibility ``public``,
  ``created_at`` = the movie's first rating time. Only rated movies become posts (an unrated movie has
  no time to publish it at; ML-100k has none).
* genres → official accounts: one per primary genre, ``account_id`` = ``category`` = genre index in
  :data:`GENRES` (0 = ``unknown``). The primary genre is the first known genre (1..18) the movie
  carries; a movie with none, or not listed in the item file, or with no item file at all, goes to the
  ``unknown`` account 0. Accounts are tier W1 (no state), not preferred, created at the first event time.
* users → users: every user with a rating (plus users listed only in ``u.user``/``.user``), created at
  their first rating (the first event time for the unrated ones).
* rating row *r* (0-based, file order) → a ``click`` with ``event_id`` = 2r and, when rating ≥ 4, a
  ``like`` with ``event_id`` = 2r + 1 at the same time; target the movie's post, slot ``other``, source
  ``in_app``.
* no follows, no products.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.adapters import base
from features.contract import code

NAME = "movielens-100k"
DESCRIPTION = "MovieLens-100k (GroupLens u.data or RecBole ml-100k.inter): ratings → clicks and likes"

GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
LIKE_AT = 4.0


def _locate(path: Path) -> tuple[str, Path]:
    """('grouplens' | 'recbole', ratings file)."""
    if path.is_dir():
        if (path / "u.data").is_file():
            return "grouplens", path / "u.data"
        inter = sorted(path.glob("*.inter"))
        if inter:
            preferred = [p for p in inter if p.name == "ml-100k.inter"]
            return "recbole", (preferred or inter)[0]
        raise base.AdapterError(f"{path}: no u.data or *.inter ratings file in this folder")
    if path.is_file():
        if path.suffix == ".inter":
            return "recbole", path
        return "grouplens", path
    raise base.AdapterError(f"cannot read {path}: no such file or folder")


def _read_ratings(layout: str, path: Path) -> pd.DataFrame:
    try:
        if layout == "grouplens":
            df = pd.read_csv(path, sep="\t", header=None, names=["user", "item", "rating", "ts"],
                             dtype={"user": "int64", "item": "int64", "rating": "float64", "ts": "float64"})
        else:
            df = pd.read_csv(path, sep="\t", dtype=str)
            df.columns = [c.split(":")[0] for c in df.columns]
            df = pd.DataFrame({
                "user": df["user_id"].astype("int64"), "item": df["item_id"].astype("int64"),
                "rating": df["rating"].astype("float64"), "ts": df["timestamp"].astype("float64"),
            })
    except (OSError, ValueError, KeyError, pd.errors.ParserError) as e:
        raise base.read_error(path, e) from e
    if df[["user", "item", "rating", "ts"]].isna().any().any():
        raise base.AdapterError(f"{path}: missing values in the ratings")
    return df


def _genres_grouplens(path: Path) -> dict[int, int]:
    try:
        df = pd.read_csv(path, sep="|", header=None, encoding="latin-1", dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise base.read_error(path, e) from e
    if df.shape[1] < 5 + len(GENRES):
        raise base.AdapterError(
            f"{path}: expected {5 + len(GENRES)} '|'-separated columns, got {df.shape[1]}")
    flags = df.iloc[:, -len(GENRES):].to_numpy() == "1"
    known = flags[:, 1:]
    primary = np.where(known.any(axis=1), known.argmax(axis=1) + 1, 0)
    return dict(zip(df.iloc[:, 0].astype("int64").tolist(), primary.tolist(), strict=True))


def _genres_recbole(path: Path) -> dict[int, int]:
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise base.read_error(path, e) from e
    df.columns = [c.split(":")[0] for c in df.columns]
    if "item_id" not in df.columns:
        raise base.AdapterError(f"{path}: no item_id column")
    index = {g: i for i, g in enumerate(GENRES)}
    classes = df["class"] if "class" in df.columns else pd.Series([""] * len(df))
    primary = []
    for labels in classes:
        found = [index[g] for g in labels.split() if index.get(g, 0) > 0]
        primary.append(min(found) if found else 0)
    return dict(zip(df["item_id"].astype("int64").tolist(), primary, strict=True))


def _listed_users(layout: str, ratings: Path) -> np.ndarray:
    path = ratings.with_name("u.user") if layout == "grouplens" else ratings.with_suffix(".user")
    if not path.is_file():
        return np.zeros(0, dtype=np.int64)
    try:
        if layout == "grouplens":
            col = pd.read_csv(path, sep="|", header=None, encoding="latin-1", dtype=str).iloc[:, 0]
        else:
            df = pd.read_csv(path, sep="\t", dtype=str)
            col = df[next(c for c in df.columns if c.split(":")[0] == "user_id")]
        return col.astype("int64").to_numpy()
    except (OSError, ValueError, StopIteration, pd.errors.ParserError) as e:
        raise base.read_error(path, e) from e


def read(path: Path) -> base.RawTables:
    """Map a MovieLens-100k folder (or its ratings file) into raw contract tables."""
    path = Path(path)
    layout, ratings_path = _locate(path)
    df = _read_ratings(layout, ratings_path)
    grouplens = layout == "grouplens"
    item_file = ratings_path.with_name("u.item") if grouplens else ratings_path.with_suffix(".item")
    genre_of: dict[int, int] = {}
    if item_file.is_file():
        genre_of = _genres_grouplens(item_file) if grouplens else _genres_recbole(item_file)

    user = df["user"].to_numpy(np.int64)
    item = df["item"].to_numpy(np.int64)
    rating = df["rating"].to_numpy(np.float64)
    t = np.round(df["ts"].to_numpy(np.float64) * 1000).astype(np.int64)
    t0 = int(t.min()) if len(t) else 0

    movie_ids, movie_first, _ = base.first_seen(item, t)
    genre = np.array([genre_of.get(int(m), 0) for m in movie_ids], dtype=np.int64)
    account_ids = np.unique(genre)

    user_ids, user_first, _ = base.first_seen(user, t)
    extra = np.setdiff1d(_listed_users(layout, ratings_path), user_ids)
    all_users = np.concatenate([user_ids, extra])
    user_created = np.concatenate([user_first, np.full(len(extra), t0, dtype=np.int64)])
    order = np.argsort(all_users, kind="stable")

    rows = np.arange(len(df), dtype=np.int64)
    liked = rows[rating >= LIKE_AT]
    ev_rows = np.concatenate([rows, liked])
    ev_ids = np.concatenate([2 * rows, 2 * liked + 1])
    ev_action = np.concatenate([np.full(len(rows), code("action", "click")),
                                np.full(len(liked), code("action", "like"))]).astype(np.int8)
    by_id = np.argsort(ev_ids, kind="stable")
    ev_rows, ev_ids, ev_action = ev_rows[by_id], ev_ids[by_id], ev_action[by_id]

    tables: dict[str, pa.Table] = {
        "accounts": base.accounts(account_ids, "official", t0, category=account_ids),
        "users": base.users(all_users[order], user_created[order]),
        "posts": base.posts(movie_ids, genre, "info", "video", "public", movie_first),
        "events": base.events(ev_ids, user[ev_rows], "post", item[ev_rows], ev_action, t[ev_rows]),
    }
    return base.complete(tables)
