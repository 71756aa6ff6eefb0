"""The top-k report's figures on lists whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.topk_report import figures, per_user_ndcg


def _recs(rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user", "item", "rank"])


TRAIN = pd.DataFrame({"user": [1, 1, 1, 2], "item": [10, 11, 12, 13]})
TEST = pd.DataFrame({"user": [1, 2], "item": [20, 21]})


def test_per_user_ndcg_and_figures_known_by_hand() -> None:
    hit_first = _recs([(1, 20, 1), (1, 10, 2), (2, 11, 1), (2, 21, 2)])  # user 1 hit at 1, user 2 at 2
    popular = _recs([(1, 10, 1), (1, 11, 2), (2, 10, 1), (2, 11, 2)])  # no hits
    nd = per_user_ndcg(TEST, hit_first, 10)
    assert nd.loc[1] == pytest.approx(1.0) and nd.loc[2] == pytest.approx(1 / np.log2(3))
    figs = figures(TRAIN, TEST, {"popularity": popular, "model": hit_first}, 10, np.random.default_rng(0),
                   resamples=200)
    m = figs["models"]["model"]
    assert m["ndcg"]["value"] == pytest.approx((1 + 1 / np.log2(3)) / 2)
    assert figs["models"]["popularity"]["ndcg"]["value"] == 0.0
    assert np.isnan(m["lift_over_popularity"]["value"])  # nothing to lift from zero
    # exposure over the four training items: popularity shows 10 and 11 twice each, 12 and 13 never
    assert figs["models"]["popularity"]["coverage"] == 0.5
    assert figs["models"]["popularity"]["exposure_gini"] == pytest.approx(0.5)
    assert figs["activity_buckets"] and len(m["by_activity"]) == len(figs["activity_buckets"])
