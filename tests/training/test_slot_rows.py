"""Training rows of a slot ranker: the factors each row may see, and rows borrowed from a sibling slot."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from features.featuresets import FEATURE_SETS, TRANSFER, get_feature_set, transfer_columns
from tests.training.test_slot_job import BLEND
from training.impressions import impression_rows
from training.slot_job import train_slot
from training.slot_rows import Factors, borrowed_rows

World = tuple[dict[str, pa.Table], int]


def test_rows_see_only_factors_fitted_before_their_half(tables: World) -> None:
    data, split = tables
    rows = impression_rows(data, "follow_feed")
    t = rows.rows.column("request_ms").to_numpy()
    factors = Factors.fit(data, int(t.min()), split, 0)
    sim = factors.similarity(rows.rows, t)
    first, second, held = t < factors.cut, (t >= factors.cut) & (t < split), t >= split
    assert first.any() and second.any() and held.any()
    assert np.isnan(sim[first]).all()  # no factors were fitted strictly before these rows' half
    users, accounts = rows.rows.column("user_id").to_numpy(), rows.rows.column("account_id").to_numpy()
    np.testing.assert_array_equal(sim[second], factors.early.similarity(users[second], accounts[second]))
    np.testing.assert_array_equal(sim[held], factors.full.similarity(users[held], accounts[held]))
    # the early factors know nothing of interactions from the cut on: a user first seen then is unknown to them
    ev = data["events"]
    ev_t, ev_user = ev.column("event_time").cast(pa.int64()).to_numpy(), ev.column("user_id").to_numpy()
    first_seen = {u: tm for u, tm in zip(ev_user[np.argsort(ev_t)][::-1], np.sort(ev_t)[::-1], strict=True)}
    late = [u for u, tm in first_seen.items() if factors.cut <= tm < split and u in set(factors.full.user_ids)]
    assert late and not set(late) & set(factors.early.user_ids)


def test_shared_columns_mean_the_same_in_both_sets() -> None:
    for target_name, (source_name, renamed) in TRANSFER.items():
        target, source = get_feature_set(target_name), get_feature_set(source_name)
        by_name = {f.name: f for f in source.features}
        mapped = transfer_columns(target, source)
        for feature, column in zip(target.features, mapped, strict=True):
            if feature.name in by_name:
                assert by_name[feature.name] == feature  # same name, same declaration
            elif column is not None:
                assert renamed[feature.name] == column and column in source.columns
        assert all(c in source.columns for c in renamed.values())
        assert sum(c is not None for c in mapped) > len(target.columns) // 2
    assert set(TRANSFER) <= set(FEATURE_SETS)


def test_new_arrival_borrows_the_follow_feeds_training_rows(tables: World) -> None:
    data, split = tables
    fs, source = get_feature_set("new_arrival_v1"), get_feature_set("follow_feed_v1")
    posts = impression_rows(data, "follow_feed")
    t = posts.rows.column("request_ms").to_numpy()
    factors = Factors.fit(data, int(t.min()), split, 0)
    borrowed = borrowed_rows(data, fs, factors, None)
    assert borrowed is not None and len(borrowed.X) == int((t < split).sum())
    assert borrowed.labels["click"].sum() == posts.labels["click"][t < split].sum()
    age, fresh = fs.columns.index("prod_launch_age_hours"), source.columns.index("post_freshness_hours")
    rows = posts.take(t < split)
    hours = (rows.rows.column("request_ms").to_numpy() - _created(data, rows)) / 3_600_000
    np.testing.assert_allclose(borrowed.X[:, age], hours, rtol=1e-5)
    assert np.isnan(borrowed.X[:, fs.columns.index("prod_purchases")]).all()  # no counterpart among posts
    assert fresh >= 0 and borrowed_rows(data, source, factors, None) is None  # the follow feed borrows nothing
    alone = train_slot(data, "new_arrival", split_ms=split, blend=BLEND, params={"n_estimators": 10})
    pooled = train_slot(data, "new_arrival", split_ms=split, blend=BLEND, params={"n_estimators": 10},
                        transfer_weight=1.0)
    assert alone.metrics["borrowed_rows"] == 0 and pooled.metrics["borrowed_rows"] == len(borrowed.X)
    assert not np.array_equal(alone.model.predict(alone.held_out["X"]), pooled.model.predict(alone.held_out["X"]))


def _created(data: dict[str, pa.Table], rows: object) -> np.ndarray:
    posts = data["posts"]
    ids = posts.column("post_id").to_numpy()
    created = posts.column("created_at").cast(pa.int64()).to_numpy()
    order = np.argsort(ids)
    return created[order[np.searchsorted(ids, rows.rows.column("target_id").to_numpy(), sorter=order)]]
