"""Open Bandit Dataset (ZOZOTOWN, as shipped in obp's source distribution) → contract tables.

Input (PATH is one campaign folder, e.g. ``.../obd/random/all``, or its campaign CSV): the campaign log
``<campaign>.csv`` (columns: an unnamed row index, ``timestamp`` like
``2019-11-24 00:00:34.762830+00:00``, ``item_id``, ``position`` (1, 2 or 3), ``click`` (0/1),
``propensity_score``, ``user_feature_0..3`` (hashed strings), ``user-item_affinity_0..N`` (floats,
unused)) and ``item_context.csv`` (an unnamed index, ``item_id``, ``item_feature_0`` (a standardised
float), ``item_feature_1..3`` (hashed strings)).

Mapping (deterministic: the same files give the same tables):

* the fashion site → one shop account, ``account_id`` = :data:`SHOP_ID` (1), tier W1 (no state), not
  preferred, category 0, created at the first logged impression.
* items → products of that shop: ``product_id`` = item id, ``category`` = stable 31-bit hash
  (BLAKE2b) of ``item_feature_1``, a hashed categorical feature (0 for an item missing from
  ``item_context.csv``), ``price`` = 0.0 (unknown: ``item_feature_0`` is a standardised score, not a
  price), ``launched_at`` = the item's first impression (the log's first time for items never shown).
* users: the data set has no user id; ``user_id`` = :func:`features.adapters.base.hash63` of the four
  user features joined by ``|``, so identical feature vectors are one user. Created at the first
  impression.
* row *r* (0-based file order) → one ``impression`` with ``event_id`` = 2r, plus a ``click`` with
  ``event_id`` = 2r + 1 when ``click`` = 1; both target the product, slot ``other``, source ``in_app``,
  at ``timestamp`` (truncated to ms), with ``request_id`` = the row index column, ``propensity`` =
  ``propensity_score``, ``position`` = file position − 1: the file's positions are 1-based (1..3), and
  obp's own loader makes them 0-based the same way.
* no posts, no follows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from features.adapters import base
from features.contract import code

NAME = "open-bandit"
DESCRIPTION = "Open Bandit Dataset campaign folder (obd/<behavior>/<campaign>): impressions and clicks"

SHOP_ID = 1
USER_FEATURES = tuple(f"user_feature_{i}" for i in range(4))
CATEGORY_FEATURE = "item_feature_1"


def _locate(path: Path) -> tuple[Path, Path]:
    """(campaign log, item_context.csv)."""
    if path.is_file():
        log, folder = path, path.parent
    elif path.is_dir():
        folder = path
        candidates = [p for p in sorted(path.glob("*.csv")) if p.name != "item_context.csv"]
        named = [p for p in candidates if p.stem == path.name]
        if not named and len(candidates) != 1:
            raise base.AdapterError(f"{path}: expected {path.name}.csv or exactly one campaign CSV beside "
                                    f"item_context.csv, found {[p.name for p in candidates]}")
        log = (named or candidates)[0]
    else:
        raise base.AdapterError(f"cannot read {path}: no such file or folder")
    return log, folder / "item_context.csv"


def _read_log(path: Path) -> pa.Table:
    index_name = ""
    types = {index_name: pa.int64(), "timestamp": pa.timestamp("us", tz="UTC"), "item_id": pa.int64(),
             "position": pa.int64(), "click": pa.int64(), "propensity_score": pa.float64(),
             **{c: pa.string() for c in USER_FEATURES}}
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            include_columns=list(types), column_types=types, strings_can_be_null=False))
    except (OSError, pa.ArrowInvalid, KeyError) as e:
        raise base.read_error(path, e) from e
    if any(table.column(c).null_count for c in types if c not in USER_FEATURES):
        raise base.AdapterError(f"{path}: empty values in the campaign log")
    return table


def _categories(path: Path) -> dict[int, int]:
    if not path.is_file():
        return {}
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            include_columns=["item_id", CATEGORY_FEATURE],
            column_types={"item_id": pa.int64(), CATEGORY_FEATURE: pa.string()}, strings_can_be_null=False))
    except (OSError, pa.ArrowInvalid, KeyError) as e:
        raise base.read_error(path, e) from e
    values = table.column(CATEGORY_FEATURE).to_pylist()
    hashed = (base.hash63(values) >> 32).tolist()
    return dict(zip(table.column("item_id").to_pylist(), hashed, strict=True))


def read(path: Path) -> base.RawTables:
    """Map one Open Bandit campaign folder into raw contract tables."""
    log_path, context_path = _locate(Path(path))
    log = _read_log(log_path)
    category_of = _categories(context_path)

    n = log.num_rows
    t = np.floor_divide(log.column("timestamp").cast(pa.int64()).to_numpy(), 1000)
    item = log.column("item_id").to_numpy()
    features = zip(*(log.column(c).to_pylist() for c in USER_FEATURES), strict=True)
    user = base.hash63("|".join(f) for f in features)
    t0 = int(t.min()) if n else 0

    shown, first_shown, _ = base.first_seen(item, t)
    product_ids = np.union1d(shown, np.array(sorted(category_of), dtype=np.int64))
    launched = np.full(len(product_ids), t0, dtype=np.int64)
    launched[np.searchsorted(product_ids, shown)] = first_shown
    category = np.array([category_of.get(int(p), 0) for p in product_ids], dtype=np.int64)
    user_ids, user_created, _ = base.first_seen(user, t)

    rows = np.arange(n, dtype=np.int64)
    clicked = rows[log.column("click").to_numpy() == 1]
    ev_rows = np.sort(np.concatenate([rows, clicked]), kind="stable")
    is_click = np.zeros(len(ev_rows), dtype=bool)
    is_click[np.searchsorted(ev_rows, clicked, side="right") - 1] = True
    action = np.where(is_click, code("action", "click"), code("action", "impression")).astype(np.int8)

    tables = {
        "accounts": base.accounts(np.array([SHOP_ID]), "shop", t0),
        "users": base.users(user_ids, user_created),
        "products": base.products(product_ids, SHOP_ID, category, 0.0, launched),
        "events": base.events(
            2 * ev_rows + is_click, user[ev_rows], "product", item[ev_rows], action, t[ev_rows],
            position=log.column("position").to_numpy()[ev_rows] - 1,
            request_ids=log.column("").to_numpy()[ev_rows],
            propensity=log.column("propensity_score").to_numpy()[ev_rows],
        ),
    }
    return base.complete(tables)
