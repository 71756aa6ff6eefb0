"""Taobao UserBehavior → contract tables.

Input (PATH is the CSV, or a folder holding ``UserBehavior.csv`` or exactly one ``*.csv``): no header;
columns user_id, item_id, category_id, behavior_type (``pv`` | ``fav`` | ``cart`` | ``buy``), unix seconds.

Mapping (deterministic: the same file gives the same tables):

* items → products: ``product_id`` = item id, ``category`` = the category of the item's first event
  (earliest time, then earliest row), ``launched_at`` = the item's first event time. The data set has no
  prices and the contract's ``price`` is not nullable, so ``price`` = 0.0 ("unknown"); do not read
  revenue from it.
* categories → one synthetic shop per category: ``account_id`` = ``category`` = category id, kind
  ``shop``, tier W1 (no state), not preferred, created at its first product's launch. Each product is
  sold by the shop of its category.
* users → users created at their first event.
* row *r* (0-based, file order) → one event with ``event_id`` = r on the product (target ``product``,
  slot ``other``, source ``in_app``): ``pv`` → ``click``, ``fav`` → ``like``, ``cart`` → ``cart``,
  ``buy`` → ``purchase``. Any other behaviour value ``x`` becomes the action ``unmapped:x``, so the
  loader's enum check quarantines that row (its reason shows the raw value) rather than the adapter
  dropping it.
* no posts, no follows. The raw log has a few timestamps outside its nominal 2017-11-25..12-03 window;
  they are passed through for validation to judge.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from features.adapters import base

NAME = "taobao"
DESCRIPTION = "Taobao UserBehavior CSV: pv/fav/cart/buy → click/like/cart/purchase on products"

BEHAVIOURS: dict[str, str] = {"pv": "click", "fav": "like", "cart": "cart", "buy": "purchase"}
COLUMNS = ("user_id", "item_id", "category_id", "behavior_type", "timestamp")


def _locate(path: Path) -> Path:
    if path.is_dir():
        if (path / "UserBehavior.csv").is_file():
            return path / "UserBehavior.csv"
        csvs = sorted(path.glob("*.csv"))
        if len(csvs) != 1:
            raise base.AdapterError(
                f"{path}: expected UserBehavior.csv or exactly one *.csv, found {len(csvs)}")
        return csvs[0]
    if not path.is_file():
        raise base.AdapterError(f"cannot read {path}: no such file or folder")
    return path


def _read(path: Path) -> pa.Table:
    types = {"user_id": pa.int64(), "item_id": pa.int64(), "category_id": pa.int64(),
             "behavior_type": pa.string(), "timestamp": pa.int64()}
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=list(COLUMNS)),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False),
        )
    except (OSError, pa.ArrowInvalid) as e:
        raise base.read_error(path, e) from e


def read(path: Path) -> base.RawTables:
    """Map a Taobao UserBehavior CSV into raw contract tables."""
    source = _locate(Path(path))
    raw = _read(source)
    if raw.num_rows and any(raw.column(c).null_count for c in COLUMNS if c != "behavior_type"):
        raise base.AdapterError(f"{source}: empty ids or timestamps")
    user = raw.column("user_id").to_numpy()
    item = raw.column("item_id").to_numpy()
    category = raw.column("category_id").to_numpy()
    t = raw.column("timestamp").to_numpy().astype(np.int64) * 1000

    product_ids, launched, first_row = base.first_seen(item, t)
    product_category = category[first_row]
    shop_ids, shop_created, _ = base.first_seen(product_category, launched)
    user_ids, user_created, _ = base.first_seen(user, t)

    tables = {
        "accounts": base.accounts(shop_ids, "shop", shop_created, category=shop_ids),
        "users": base.users(user_ids, user_created),
        "products": base.products(product_ids, product_category, product_category, 0.0, launched),
        "events": base.events(np.arange(len(user), dtype=np.int64), user, "product", item,
                              base.actions(raw.column("behavior_type"), BEHAVIOURS), t),
    }
    return base.complete(tables)
