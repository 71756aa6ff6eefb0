"""Last.fm HetRec 2011 (hetrec2011-lastfm-2k) → contract tables.

Input (PATH is the folder): ``user_artists.dat`` (tab-separated, header ``userID artistID weight``),
optional ``user_friends.dat`` (header ``userID friendID``), optional ``artists.dat``
(header ``id name url pictureURL``; only the id is used).

Mapping (deterministic: the same files give the same tables):

* artists → influencer accounts, ``account_id`` = artist id; each artist has one post, its page:
  ``post_id`` = artist id, kind ``info``, format ``article``, visibility ``public``. Artists are those in
  ``artists.dat`` plus any that appear only in ``user_artists.dat``.
* users → users, ``user_id`` = Last.fm user id (from ``user_artists`` and ``user_friends``). Every user
  also gets a shadow influencer account with ``account_id`` = user id + :data:`SHADOW_OFFSET`, so that
  friendship becomes following: the row (u, f) of ``user_friends`` → u follows f's shadow account
  (the file lists both directions of each friendship, so both follows appear).
* user_artists row *r* (u, a, w), 0-based file order → one ``dwell`` event, ``event_id`` = r, on artist
  a's post with ``dwell_seconds`` = w (the play count: a volume of listening, not seconds), slot
  ``other``, source ``in_app``.
* accounts have category 0, tier W1 (no state), and are not preferred shops; no products.
* time: these files carry none, so every time (creation, follow, event) is :data:`EPOCH_MS`
  (2011-05-01T00:00:00Z, a fixed date around the collection of HetRec 2011). Temporal splits are
  meaningless on this data set: use the stratified split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from features.adapters import base
from features.contract import code

NAME = "lastfm"
DESCRIPTION = "Last.fm HetRec 2k folder: artists → accounts+posts, plays → dwell events, friends → follows"

EPOCH_MS = 1_304_208_000_000  # 2011-05-01T00:00:00Z
SHADOW_OFFSET = 10_000_000


def _read_ints(path: Path, columns: list[str]) -> dict[str, np.ndarray]:
    try:
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
            convert_options=pacsv.ConvertOptions(include_columns=columns,
                                                 column_types={c: pa.int64() for c in columns}),
        )
    except (OSError, pa.ArrowInvalid, KeyError) as e:
        raise base.read_error(path, e) from e
    if any(table.column(c).null_count for c in columns):
        raise base.AdapterError(f"{path}: empty values in {', '.join(columns)}")
    return {c: table.column(c).to_numpy() for c in columns}


def _artist_ids(path: Path) -> np.ndarray:
    # Names and URLs hold stray quotes and odd bytes: read only the leading id of each line.
    try:
        lines = path.read_bytes().splitlines()[1:]
        return np.array([int(line.split(b"\t", 1)[0]) for line in lines if line.strip()], dtype=np.int64)
    except (OSError, ValueError) as e:
        raise base.read_error(path, e) from e


def read(path: Path) -> base.RawTables:
    """Map a HetRec Last.fm folder into raw contract tables."""
    folder = Path(path)
    if not folder.is_dir():
        raise base.AdapterError(f"cannot read {folder}: expected the hetrec2011-lastfm-2k folder")
    plays = _read_ints(base.require_file(folder / "user_artists.dat", "Last.fm plays"),
                       ["userID", "artistID", "weight"])
    friends_file = folder / "user_friends.dat"
    friends = (_read_ints(friends_file, ["userID", "friendID"]) if friends_file.is_file()
               else {"userID": np.zeros(0, np.int64), "friendID": np.zeros(0, np.int64)})
    artists_file = folder / "artists.dat"
    listed = _artist_ids(artists_file) if artists_file.is_file() else np.zeros(0, np.int64)

    artists = np.union1d(listed, plays["artistID"])
    user_ids = np.union1d(np.union1d(plays["userID"], friends["userID"]), friends["friendID"])
    shadows = user_ids + SHADOW_OFFSET
    if np.intersect1d(artists, shadows).size or (len(artists) and artists.max() >= SHADOW_OFFSET):
        raise base.AdapterError(f"{folder}: artist ids reach the shadow-account range ({SHADOW_OFFSET:,}+)")

    n = len(plays["userID"])
    tables = {
        "accounts": pa.concat_tables([
            base.accounts(artists, "influencer", EPOCH_MS),
            base.accounts(shadows, "influencer", EPOCH_MS),
        ]),
        "users": base.users(user_ids, EPOCH_MS),
        "posts": base.posts(artists, artists, "info", "article", "public", EPOCH_MS),
        "follows": base.follows(friends["userID"], friends["friendID"] + SHADOW_OFFSET, EPOCH_MS),
        "events": base.events(
            np.arange(n, dtype=np.int64), plays["userID"], "post", plays["artistID"],
            np.full(n, code("action", "dwell"), dtype=np.int8), np.full(n, EPOCH_MS, dtype=np.int64),
            dwell_seconds=plays["weight"].astype(np.float32),
        ),
    }
    return base.complete(tables)
