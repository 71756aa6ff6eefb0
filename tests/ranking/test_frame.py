"""CandidateFrame operations and the keyed time-window index under it."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.frame import CandidateFrame
from ranking.windows import WindowIndex


def frame(request: list[int], item: list[int], score: list[float], author: list[int] | None = None,
          **extra: np.ndarray) -> CandidateFrame:
    n = len(request)
    return CandidateFrame(request=request, item_id=item, item_type=np.zeros(n), author_id=author or [0] * n,
                          category=np.zeros(n), created_ms=np.zeros(n), visibility=np.ones(n), score=score,
                          extra=extra)


def test_columns_must_have_one_length() -> None:
    with pytest.raises(ValueError, match="item_id"):
        CandidateFrame(request=[0, 0], item_id=[1], item_type=[0, 0], author_id=[0, 0], category=[0, 0],
                       created_ms=[0, 0], visibility=[1, 1], score=[0, 0])


def test_concat_regroups_by_request_and_merges_reasons_and_extras() -> None:
    a = frame([0, 2], [10, 20], [1.0, 2.0]).with_reason(np.array([True, False]), "x")
    b = frame([1, 2], [30, 40], [3.0, 4.0], flag=np.array([7, 8])).with_reason(np.array([False, True]), "y")
    b = b.with_reason(np.array([True, True]), "x")
    out = CandidateFrame.concat([a, CandidateFrame.empty(), b])
    assert out.request.tolist() == [0, 1, 2, 2] and out.item_id.tolist() == [10, 30, 20, 40]
    assert out.extra["flag"].tolist() == [-1, 7, -1, 8]
    assert [out.explain(i) for i in range(4)] == [["x"], ["x"], [], ["x", "y"]]
    assert len(CandidateFrame.concat([])) == 0


def test_take_with_mask_and_index() -> None:
    f = frame([0, 0, 1], [1, 2, 3], [0.1, 0.2, 0.3])
    assert f.take(np.array([True, False, True])).item_id.tolist() == [1, 3]
    assert f.take(np.array([2, 0])).item_id.tolist() == [3, 1]
    with pytest.raises(ValueError, match="mask"):
        f.take(np.array([True]))


def test_group_helpers() -> None:
    f = frame([0, 0, 0, 1, 1, 3], [1, 2, 3, 4, 5, 6], [0.5, 0.9, 0.5, 0.1, 0.2, 0.0], author=[7, 7, 8, 7, 7, 7])
    assert f.is_grouped() and not f.take(np.array([3, 0])).is_grouped()
    assert f.bounds(4).tolist() == [0, 3, 5, 5, 6]
    assert f.rank_within_request().tolist() == [1, 0, 2, 1, 0, 0]  # ties keep row order
    assert f.occurrence(f.author_id).tolist() == [1, 0, 0, 1, 0, 0]
    assert f.count_per(f.author_id).tolist() == [2, 2, 1, 2, 2, 1]
    assert f.top_per_request(1).tolist() == [False, True, False, False, True, True]
    dup = CandidateFrame.concat([f, frame([0, 1], [2, 9], [0.0, 0.0])])
    assert dup.first_per_item().item_id.tolist() == [1, 2, 3, 4, 5, 9, 6]


def test_reasons_bitmask_limits() -> None:
    f = frame([0], [1], [0.0])
    for i in range(64):
        f = f.with_reason(np.array([i % 2 == 0]), f"r{i}")
    assert len(f.explain(0)) == 32
    with pytest.raises(ValueError, match="64"):
        f.with_reason(np.array([True]), "one too many")


def test_window_index_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    n = 2_000
    a, b = rng.choice([5, 10**15, -3, 42], n), rng.integers(0, 30, n) * 10**12
    t = rng.integers(-10**13, 10**13, n)
    index = WindowIndex((a, b), t)
    qa, qb = rng.choice([5, 10**15, -3, 42, 77], 300), rng.integers(0, 31, 300) * 10**12
    lo = rng.integers(-10**13, 10**13, 300)
    hi = lo + rng.integers(-10**12, 10**13, 300)
    expected = [int(np.sum((a == x) & (b == y) & (t >= low) & (t < high)))
                for x, y, low, high in zip(qa, qb, lo, hi, strict=True)]
    assert index.count((qa, qb), lo, hi).tolist() == expected
    query, rows = index.rows((qa, qb), lo, hi)
    assert np.all(np.diff(query) >= 0) and np.bincount(query, minlength=300).tolist() == expected
    assert np.all((a[rows] == qa[query]) & (t[rows] >= lo[query]) & (t[rows] < hi[query]))


def test_window_index_empty() -> None:
    index = WindowIndex(np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert index.count(np.array([1, 2]), 0, 10).tolist() == [0, 0]
