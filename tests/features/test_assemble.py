"""The compiled assembly plan builds bitwise the matrix the definitions specify, for every feature set."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.definitions import ENTITIES, LOOKUPS, FeatureSet, Inputs, Lookup, provided_names
from features.featuresets import FEATURE_SETS, get_feature_set


def _inputs(fs: FeatureSet, rng: np.random.Generator, n: int, *, many: bool) -> Inputs:
    # Small counts with many zeros: the 0/0 and prior-only branches are the ones worth exercising.
    counts = rng.integers(0, 4, (n, len(fs.reads))) * rng.integers(0, 2, (n, len(fs.reads)))
    valid = {e: rng.random(n) < 0.8 for e in ENTITIES}
    valid["request"] = np.ones(n, bool)
    table = {c: (rng.choice([-1.0, 0.0, -0.0, 1.0, 3.5, 17.0], n), rng.random(n) < 0.85) for c in LOOKUPS}
    provided = {name: np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)) for name in provided_names(fs)}

    def lookup_many(columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return (np.column_stack([table[c][0] for c in columns]), np.column_stack([table[c][1] for c in columns]))

    return Inputs(counts, valid, lambda c: table[c],
                  lambda name: (provided[name], ~np.isnan(provided[name])), lookup_many if many else None)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 60), name=st.sampled_from(sorted(FEATURE_SETS)),
       many=st.booleans())
def test_plan_is_bitwise_the_definition(seed: int, n: int, name: str, many: bool) -> None:
    fs = get_feature_set(name)
    inputs = _inputs(fs, np.random.default_rng(seed), n, many=many)
    got, want = fs.assemble(inputs), fs.assemble_reference(inputs)
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape == (n, len(fs.features))
    assert got.tobytes() == want.tobytes()  # bitwise, signed zeros included


def test_plan_groups_every_feature_once() -> None:
    for name in FEATURE_SETS:
        fs = get_feature_set(name)
        plan = fs.plan
        written = [*plan.copies[0].tolist(), *(a for a, _, _ in plan.lookups), *(a for a, _, _ in plan.provided),
                   *(c for d in plan.divisions for c in d.out.tolist())]
        assert sorted(written) == list(range(plan.n_reads, plan.n_reads + len(fs.features)))
        assert [c for _, c, _ in plan.lookups] == [f.spec.column for f in fs.features
                                                    if isinstance(f.spec, Lookup) and f.spec.column != "followers"]


@pytest.mark.parametrize("name", sorted(FEATURE_SETS))
def test_a_wrong_division_would_be_caught(name: str) -> None:
    # The control: perturbing one ratio's prior in the plan makes the matrices differ on the same inputs.
    fs = get_feature_set(name)
    inputs = _inputs(fs, np.random.default_rng(7), 200, many=True)
    plan = fs.plan
    d = next(d for d in plan.divisions if d.prior_num is not None)
    d.prior_num[0] += 1.0
    try:
        assert fs.assemble(inputs).tobytes() != fs.assemble_reference(inputs).tobytes()
    finally:
        d.prior_num[0] -= 1.0
