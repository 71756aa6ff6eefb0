"""Bounded training rows: negatives sampled with weights that keep the heads calibrated; held-out pages whole."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from training.row_sampling import downsample_negatives, sample_pages
from training.slot_job import RowCaps, train_slot

BLEND = {"click": 1.0, "engage": 2.0, "follow": 5.0, "purchase": 10.0}


def _labels(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    click = (rng.random(n) < 0.03).astype(np.int8)
    return {"click": click, "engage": click & (rng.random(n) < 0.3), "follow": (rng.random(n) < 0.002).astype(np.int8)}


def test_small_inputs_are_kept_whole_with_unit_weights() -> None:
    labels = _labels(500, np.random.default_rng(0))
    sample = downsample_negatives(labels, 500, np.random.default_rng(1))
    assert not sample.sampled and np.array_equal(sample.index, np.arange(500)) and (sample.weight == 1).all()


def test_every_positive_is_kept_and_weighted_negatives_count_as_many_as_there_were() -> None:
    n = 50_000
    labels = _labels(n, np.random.default_rng(2))
    positive = (labels["click"] > 0) | (labels["follow"] > 0)
    sample = downsample_negatives(labels, 8_000, np.random.default_rng(3))
    kept_positive = positive[sample.index]
    assert sample.sampled and set(np.flatnonzero(positive)) <= set(sample.index.tolist())
    assert abs(len(sample.index) - 8_000) < 300  # about the cap
    assert (sample.weight[kept_positive] == 1).all()
    assert sample.weight[~kept_positive].sum() == pytest.approx(n - positive.sum())
    # so each head's weighted rate in the sample is its rate in all rows
    for y in labels.values():
        assert np.average(y[sample.index], weights=sample.weight) == pytest.approx(y.mean())


def test_the_sample_is_a_function_of_the_generator() -> None:
    labels = _labels(20_000, np.random.default_rng(4))
    a = downsample_negatives(labels, 3_000, np.random.default_rng(5))
    b = downsample_negatives(labels, 3_000, np.random.default_rng(5))
    c = downsample_negatives(labels, 3_000, np.random.default_rng(6))
    assert np.array_equal(a.index, b.index) and not np.array_equal(a.index, c.index)


def test_too_many_positives_for_the_cap_give_a_uniform_sample() -> None:
    rng = np.random.default_rng(7)
    labels = {"click": (rng.random(40_000) < 0.5).astype(np.int8)}
    sample = downsample_negatives(labels, 4_000, np.random.default_rng(8))
    assert sample.positive_rate < 1 and (sample.weight == 1).all()
    assert labels["click"][sample.index].mean() == pytest.approx(0.5, abs=0.03)


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(ValueError, match="max_rows"):
        downsample_negatives({"click": np.zeros(3)}, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="labels"):
        downsample_negatives({"click": np.zeros(3), "engage": np.zeros(4)}, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="max_rows"):
        sample_pages(np.zeros(3), 0, np.random.default_rng(0))


def test_pages_are_kept_or_left_whole() -> None:
    request = np.repeat(np.arange(2_000), 10)
    keep = sample_pages(request, 5_000, np.random.default_rng(9))
    per_page = np.bincount(request, weights=keep)
    assert set(np.unique(per_page).tolist()) == {0.0, 10.0}
    assert abs(keep.sum() - 5_000) < 600


def test_a_capped_ranker_featurises_fewer_rows_and_stays_calibrated(tables: tuple[dict[str, pa.Table], int]) -> None:
    data, split = tables
    full = train_slot(data, "follow_feed", split_ms=split, blend=BLEND, params={"n_estimators": 20})
    cap = full.metrics["train_rows"] // 4
    capped = train_slot(data, "follow_feed", split_ms=split, blend=BLEND, params={"n_estimators": 20},
                        max_rows=RowCaps(cap, full.metrics["held_rows"] // 2))
    m = capped.metrics
    assert m["train_negatives_kept"] < 0.5 and m["train_rows"] < cap * 1.2
    assert m["held_rows"] < full.metrics["held_rows"] * 0.7
    assert capped.params["max_train_rows"] == cap and "max_train_rows" not in full.params  # logged with the run
    # Weighted negatives keep the click head's probabilities on the scale of the real click rate: unweighted,
    # a quarter of the negatives would make it about four times too high.
    X, clicks = full.held_out["X"], full.held_out["labels"]["click"]
    p_full = full.model.predict_heads(X)["click"].mean()
    p_capped = capped.model.predict_heads(X)["click"].mean()
    assert p_capped == pytest.approx(p_full, rel=0.35) and p_capped == pytest.approx(clicks.mean(), rel=0.5)
    assert m["click.auc"] > full.metrics["click.auc"] - 0.05
