"""``features.counts.sort_ids``: the sorted values and the stable order, whatever order the values come in."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from features.counts import argsort_ids, sort_ids

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
