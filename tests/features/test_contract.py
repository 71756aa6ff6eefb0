"""``features.contract.enum_codes``: the contract's codes of an enum column, however the column is encoded."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from features.contract import ENUMS, enum_array, enum_codes

ACTIONS = ENUMS["action"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(-1, len(ACTIONS) - 1), max_size=60), st.permutations(range(len(ACTIONS))),
       st.sampled_from(["contract", "shuffled", "strings", "chunked"]))
def test_codes_are_the_contracts_whatever_the_dictionary(codes: list[int], order: list[int], encoding: str) -> None:
    want = np.array(codes, np.int8)  # -1: null
    column: pa.Array | pa.ChunkedArray = enum_array("action", want)  # the contract's own dictionary order
    if encoding == "shuffled":  # the same values under a dictionary in another order
        dictionary = [ACTIONS[i] for i in order]
        indices = [None if c < 0 else order.index(c) for c in codes]
        column = pa.DictionaryArray.from_arrays(pa.array(indices, pa.int8()), pa.array(dictionary))
    elif encoding == "strings":
        column = pa.array([None if c < 0 else ACTIONS[c] for c in codes], pa.string())
    elif encoding == "chunked":
        column = pa.chunked_array([column.slice(0, len(codes) // 2), column.slice(len(codes) // 2)])
    got = enum_codes(column, "action")
    assert got.dtype == np.int8 and got.tolist() == want.tolist()


def test_values_outside_the_contract_get_their_own_code() -> None:
    column = pa.array(["click", "wave", None, "click"]).dictionary_encode()
    assert enum_codes(column, "action").tolist() == [1, -2, -1, 1]
