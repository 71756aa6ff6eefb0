"""``features.counts``: sorting ids (values and stable order, whatever order they come in) and counting entries."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from features.counts import CountTable, Packing, argsort_ids, sort_ids

values = st.lists(st.integers(0, 2**40), max_size=200).map(lambda v: np.array(v, np.int64))


@settings(max_examples=200, deadline=None)
@given(values, st.booleans())
def test_sorted_values_and_stable_order_as_numpy_gives_them(v: np.ndarray, presorted: bool) -> None:
    v = np.sort(v) if presorted else v  # the already-sorted path and the sorting one
    out, order = sort_ids(v)
    expected = np.argsort(v, kind="stable")
    assert np.array_equal(order, expected) and np.array_equal(out, v[expected])
    assert np.array_equal(argsort_ids(v), expected)


def test_ties_keep_their_input_order_in_sorted_and_unsorted_input() -> None:
    assert sort_ids(np.array([1, 1, 2, 2]))[1].tolist() == [0, 1, 2, 3]
    assert sort_ids(np.array([2, 1, 2, 1]))[1].tolist() == [1, 3, 0, 2]


entries = st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15), st.integers(-3, 3)), max_size=300)


@settings(max_examples=200, deadline=None)
@given(entries)
def test_aggregate_sums_each_key_and_bucket_by_histogram_or_by_sort(rows: list[tuple[int, int, int]]) -> None:
    # At most 16 keys × 16 buckets: from 64 entries on, a table asked for a histogram takes it; fewer are sorted.
    keys, buckets, values = (np.array(c, np.int64) for c in zip(*rows, strict=True)) if rows else ([],) * 3
    want: dict[tuple[int, int], int] = {}
    for k, b, v in rows:
        want[k, b] = want.get((k, b), 0) + v  # a cell whose values cancel out is still an entry, holding 0
    for histogram in (True, False):
        got = CountTable.aggregate(np.asarray(keys, np.int64), np.asarray(buckets, np.int64),
                                   np.asarray(values, np.int64), histogram=histogram)
        k, b, c = got.entries()
        assert dict(zip(zip(k.tolist(), b.tolist(), strict=True), c.tolist(), strict=True)) == want
        assert list(zip(k.tolist(), b.tolist(), strict=True)) == sorted(want)  # sorted by key, then bucket


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 15), st.integers(3, 18)), max_size=19),
       st.sampled_from([0, 2**28 - 16, 2**28 - 15]))
def test_from_packed_counts_each_key_and_bucket_by_histogram_or_by_sort(rows: list[tuple[int, int]],
                                                                       first: int) -> None:
    # 16 keys × 16 buckets from key 0: 22 events or more (12 cells each or fewer) are counted by histogram, fewer
    # by a sort of 32-bit values. From 2**28 - 16: 2**32 cells, the last value 2**32 - 1 but a search bound past
    # it, 2**32 (64 bits); from 2**28 - 15, values past 32 bits too.
    rows = [*rows, (15, 18)]  # the last key's last bucket: the largest packed value
    packing = Packing.of(np.array([3, 18]), first + 15)
    assert packing is not None and packing.cells == (first + 16) * 16
    for times in (1, 30):  # the rows once (sorted), then each 30 times (a histogram from key 0)
        keys, buckets = (np.array(c * times, np.int64) for c in zip(*rows, strict=True))
        got = CountTable.from_packed(packing.pack(keys + first, buckets), packing)
        want: dict[tuple[int, int], int] = {}
        for k, b in rows:
            want[k + first, b] = want.get((k + first, b), 0) + times
        k, b, c = got.entries()
        assert list(zip(zip(k.tolist(), b.tolist(), strict=True), c.tolist(), strict=True)) == sorted(want.items())
        assert got.window_sums(np.array([first + 15]), np.array([0]), np.array([99])).tolist() == [
            sum(n for (key, _), n in want.items() if key == first + 15)]
