"""A world's state as contract tables, and its hidden truth as separate tables."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from experiments.world.candidates import NEVER
from experiments.world.engine import World
from experiments.world.events import parts_table
from features.contract import enum_array, ms


def _times(values: np.ndarray) -> pa.Array:
    null = values == NEVER
    arr = ms(np.where(null, 0, values))
    return pa.array(arr.to_numpy(zero_copy_only=False), type=arr.type, mask=null if null.any() else None)


def contract_tables(world: World) -> dict[str, pa.Table]:
    """The observable tables of the world as it stands (follows include changes not yet applied)."""
    pop = world.pop
    acc, posts, prod = pop.accounts, pop.posts, pop.products
    world._apply_follow_changes(world.now_ms)
    fu, fa, since, until = world.graph.sorted_records()
    product_ids = pa.ListArray.from_arrays(pa.array(posts.product_offsets, pa.int32()),
                                           pa.array(posts.product_ids, pa.int64()))
    return {
        "accounts": pa.table({
            "account_id": np.arange(len(acc.kind), dtype=np.int64),
            "kind": enum_array("account_kind", acc.kind),
            "tier": enum_array("tier", acc.tier),
            "tier_state": enum_array("tier_state", acc.tier_state),
            "preferred_shop": acc.preferred,
            "category": acc.category.astype(np.int32),
            "created_at": ms(acc.created_ms),
        }),
        "users": pa.table({"user_id": np.arange(len(pop.users.activity), dtype=np.int64),
                           "created_at": ms(pop.users.created_ms)}),
        "products": pa.table({
            "product_id": np.arange(len(prod.shop), dtype=np.int64), "shop_id": prod.shop.astype(np.int64),
            "category": prod.category.astype(np.int32), "price": prod.price, "launched_at": ms(prod.launched_ms),
        }),
        "posts": pa.table({
            "post_id": np.arange(len(posts.account), dtype=np.int64), "account_id": posts.account.astype(np.int64),
            "kind": enum_array("post_kind", posts.kind), "format": enum_array("post_format", posts.format),
            "visibility": enum_array("visibility", posts.public.astype(np.int8)),
            "created_at": ms(posts.created_ms), "product_ids": product_ids,
        }),
        "follows": pa.table({"user_id": fu, "account_id": fa, "followed_at": ms(since),
                             "unfollowed_at": _times(until)}),
        "events": parts_table(world.parts),
    }


def truly_good_threshold(world: World, top_fraction: float = 0.1) -> float:
    """Public appeal above which a post published in the world is truly good (top decile)."""
    posts = world.pop.posts
    mask = ~posts.public & (posts.created_ms >= world.pop.start_ms)
    return float(np.quantile(posts.appeal[mask], 1 - top_fraction))


def truth_tables(world: World) -> dict[str, pa.Table]:
    """What only the oracle and the evaluation may read."""
    pop = world.pop
    posts, acc, users = pop.posts, pop.accounts, pop.users
    threshold = truly_good_threshold(world)
    in_window = ~posts.public & (posts.created_ms >= pop.start_ms)
    taste = pa.FixedSizeListArray.from_arrays(pa.array(users.taste.ravel()), users.taste.shape[1])
    return {
        "posts": pa.table({
            "post_id": np.arange(len(posts.account), dtype=np.int64),
            "quality": posts.quality, "public_appeal": posts.appeal,
            "farm_post": acc.farm[posts.account] >= 0,
            "truly_good": in_window & (posts.appeal >= threshold),
            "first_public_at": _times(world.first_public_ms),
        }),
        "accounts": pa.table({
            "account_id": np.arange(len(acc.kind), dtype=np.int64), "quality": acc.quality,
            "farm_id": acc.farm, "offsite_rate": acc.offsite_rate,
        }),
        "users": pa.table({
            "user_id": np.arange(len(users.activity), dtype=np.int64), "farm_id": users.farm,
            "activity": users.activity, "taste": taste,
        }),
        "products": pa.table({"product_id": np.arange(len(pop.products.shop), dtype=np.int64),
                              "quality": pop.products.quality}),
    }
