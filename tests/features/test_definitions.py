"""Feature declarations: validation, feature sets, fingerprints, and the shared assembly of values."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from features.definitions import (
    Count,
    Feature,
    FeatureError,
    FeatureSet,
    FeatureSetMismatch,
    Inputs,
    Lookup,
    Provided,
    Ratio,
    Relative,
    window_buckets,
)
from features.featuresets import FEATURE_SETS, get_feature_set


def _count(name: str, entity: str = "post", window: int | None = None, **kw: object) -> Feature:
    return Feature(name, entity, "int", window, Count(("impression",), ("post",), **kw), 0.0, name)  # type: ignore


def test_registry_has_the_slot_sets_with_unique_ordered_columns() -> None:
    assert {"follow_feed_v1", "new_arrival_v1"} <= set(FEATURE_SETS)
    for name, fs in FEATURE_SETS.items():
        assert get_feature_set(name) is fs
        assert len(fs.columns) == len(set(fs.columns)) == len(fs.features)
        assert all(f.description for f in fs.features)
    with pytest.raises(FeatureError, match=r"unknown feature set 'nope'.*follow_feed_v1"):
        get_feature_set("nope")


@pytest.mark.parametrize("name", ["follow_feed_v1", "new_arrival_v1"])
def test_the_slot_sets_carry_the_domain_signals(name: str) -> None:
    columns = set(get_feature_set(name).columns)
    common = {
        "ua_impressions_7d", "ua_clicks_30d", "ua_engagements_30d", "ua_click_rate_30d",
        "uc_impressions_7d", "uc_clicks_30d", "uc_engagements_30d", "uc_click_rate_30d",
        "acct_tier", "acct_tier_state", "acct_preferred_shop", "acct_followers", "acct_offsite_share_30d",
        "acct_fan_revisit_rate_30d", "link_lead_visits_30d", "link_interlock_rate_30d", "link_engage_rate_30d",
        "link_keep_rate_30d", "acct_fan_engagement_rate_30d", "embedding_similarity",
    }
    specific = {
        "follow_feed_v1": {"post_fan_impressions", "post_nonfan_engagements", "post_fan_engagement_rate",
                           "post_rate_vs_account", "tkf_engagement_rate_30d", "post_rate_vs_tier", "post_kind",
                           "post_format", "post_freshness_hours", "post_posting_hour"},
        "new_arrival_v1": {"prod_fan_clicks", "prod_nonfan_click_rate", "prod_price_band",
                           "prod_launch_age_hours", "prod_rate_vs_account"},
    }[name]
    assert common | specific <= columns


def test_fingerprint_is_stable_and_tracks_declarations_not_wording() -> None:
    fs = get_feature_set("follow_feed_v1")
    again = FeatureSet(fs.name, fs.version, tuple(fs.features))
    assert again.fingerprint == fs.fingerprint and len(fs.fingerprint) == 16
    reworded = [dataclasses.replace(f, description="other words") for f in fs.features]
    assert FeatureSet(fs.name, fs.version, tuple(reworded)).fingerprint == fs.fingerprint
    i = fs.columns.index("ua_click_rate_30d")
    changed = list(fs.features)
    changed[i] = dataclasses.replace(changed[i], spec=Ratio("ua_clicks_30d", "ua_impressions_30d", 1.0, 41.0))
    assert FeatureSet(fs.name, fs.version, tuple(changed)).fingerprint != fs.fingerprint
    assert FeatureSet(fs.name, 2, tuple(fs.features)).fingerprint != fs.fingerprint


def test_check_refuses_a_model_trained_on_other_features() -> None:
    fs = get_feature_set("new_arrival_v1")
    fs.check(fs.name, fs.version, fs.columns, fs.fingerprint)
    with pytest.raises(FeatureSetMismatch, match="v2"):
        fs.check(fs.name, 2, fs.columns, fs.fingerprint)
    with pytest.raises(FeatureSetMismatch, match="columns"):
        fs.check(fs.name, fs.version, fs.columns[::-1], fs.fingerprint)
    with pytest.raises(FeatureSetMismatch, match="fingerprint"):
        fs.check(fs.name, fs.version, fs.columns, "0" * 16)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Count(("impresion",)), "impresion"),
        (lambda: Count(("click",), ("shop",)), "shop"),
        (lambda: Count(("click",), audience="fans"), "audience"),
        (lambda: Count(("click",), sources=("tv",)), "tv"),
        (lambda: Lookup("colour"), "colour"),
        (lambda: _count("x", entity="shop"), "entity"),
        (lambda: _count("Bad-Name"), "lower_snake_case"),
        (lambda: _count("x", window=0), "positive"),
        (lambda: Feature("x", "post", "int", None, Count(("click",), ("account",)), 0.0, "d"), "cannot count"),
        (lambda: Feature("x", "request", "int", None, Count(("click",)), 0.0, "d"), "cannot count"),
        (lambda: Feature("x", "post", "int", None, Lookup("tier"), 0.0, "d"), "belongs to entity account"),
        (lambda: Feature("x", "post", "text", None, Lookup("post_kind"), 0.0, "d"), "dtype"),
    ],
)
def test_bad_declarations_are_refused_with_the_name(make: object, match: str) -> None:
    with pytest.raises(FeatureError, match=match):
        make()  # type: ignore[operator]


def test_sets_refuse_duplicates_and_forward_references() -> None:
    a = _count("a")
    with pytest.raises(FeatureError, match="declared twice"):
        FeatureSet("s", 1, (a, a))
    rel = Feature("r", "post", "float", None, Relative("a", "b"), 1.0, "r")
    with pytest.raises(FeatureError, match="'b'"):
        FeatureSet("s", 1, (a, rel))


def test_counters_and_reads_are_shared_and_windows_inherited() -> None:
    week = Feature("w", "user_account", "int", 168, Count(("click",)), 0.0, "w")
    month = Feature("m", "user_account", "int", 720, Count(("click",)), 0.0, "m")
    rate = Feature("r", "user_account", "float", 720, Ratio(Count(("click",)), Count(("impression",))), 0.0, "r")
    fs = FeatureSet("s", 1, (week, month, rate))
    assert len(fs.counters) == 2  # clicks (read over 7 and 30 days) and impressions
    assert sorted((fs.counters[r.counter].actions, r.window_hours) for r in fs.reads) == [
        (("click",), 168), (("click",), 720), (("impression",), 720)]
    assert window_buckets(168, 3_600_000) == 168 and window_buckets(24, 1_800_000) == 48
    with pytest.raises(FeatureError, match="whole number"):
        window_buckets(1, 7_200_000)


def test_assemble_computes_ratios_relatives_and_defaults() -> None:
    clicks = Feature("clicks", "post", "int", None, Count(("click",), ("post",)), 0.0, "c")
    imps = Feature("imps", "post", "int", None, Count(("impression",), ("post",)), 0.0, "i")
    rate = Feature("rate", "post", "float", None, Ratio("clicks", "imps", 1.0, 10.0), 0.1, "r")
    base = Feature("base", "account", "float", 720, Ratio(Count(("click",), ("post",)),
                                                          Count(("impression",), ("post",)), 0.0, 0.0), -1.0, "b")
    rel = Feature("rel", "post", "float", None, Relative("rate", "base"), 1.0, "rel")
    sim = Feature("sim", "request", "float", None, Provided("sim"), -9.0, "s")
    kind = Feature("kind", "post", "category", None, Lookup("post_kind"), -1.0, "k")
    fs = FeatureSet("s", 1, (clicks, imps, rate, base, rel, sim, kind))
    counts = np.zeros((3, len(fs.reads)), np.int64)
    counts[:, fs.read_index(clicks, clicks.spec)] = [3, 0, 7]
    counts[:, fs.read_index(imps, imps.spec)] = [20, 0, 9]
    counts[:, fs.read_index(base, base.spec.num)] = [5, 0, 0]  # type: ignore[union-attr]
    counts[:, fs.read_index(base, base.spec.den)] = [50, 0, 0]  # type: ignore[union-attr]
    valid = {"post": np.array([True, True, False]), "account": np.array([True, True, True]),
             "request": np.ones(3, bool)}
    inputs = Inputs(counts, valid, lambda c: (np.array([2.0, 0.0, 1.0]), np.array([True, True, False])),
                    lambda n: (np.array([0.5, np.nan, 0.25]), np.array([True, False, True])))
    out = fs.assemble(inputs)
    assert out.dtype == np.float32 and out.shape == (3, 7)
    expected = np.array([
        [3, 20, 4 / 30, 0.1, (4 / 30) / 0.1, 0.5, 2],
        [0, 0, 0.1, -1.0, 1.0, -9.0, 0],        # base has 0/0: its default; rel falls back to its default
        [0, 0, 0.1, -1.0, 1.0, 0.25, -1],       # no post key: post features take their defaults
    ], dtype=np.float32)
    np.testing.assert_array_equal(out, expected)
