"""Compiled heads: same scores as LightGBM, compiled once per checksum, LightGBM where lleaves is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from ranking.compiled import CompiledHeads, compile_booster
from ranking.heads import HeadModel


def _head(seed: int = 0) -> tuple[HeadModel, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 6)).astype(np.float32)
    boosters = {}
    for i, head in enumerate(("click", "engage")):
        y = (X[:, i] + rng.normal(size=len(X)) > 0).astype(int)
        boosters[head] = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": seed},
                                   lgb.Dataset(X, y), 12)
    cal = {"click": (np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.3, 1.0]))}
    head = HeadModel([f"f{i}" for i in range(6)], {"click": 0.1, "engage": 0.05, "follow": 0.01}, boosters, cal,
                     {"click": 1.0, "engage": 2.0, "follow": 5.0})
    return head, X


def test_compiled_scores_match_lightgbm(tmp_path: Path) -> None:
    head, X = _head()
    compiled = CompiledHeads.build(head, tmp_path)
    assert compiled.compiled
    np.testing.assert_allclose(compiled.predict(X), head.predict(X), rtol=0, atol=1e-12)
    # a head conditional on the click is multiplied by it in both paths
    given = HeadModel(head.feature_names, head.priors, head.boosters, head.calibration, head.blend,
                      given={"engage": "click"})
    assert not np.allclose(given.predict(X), head.predict(X))
    np.testing.assert_allclose(CompiledHeads.build(given, tmp_path).predict(X), given.predict(X), rtol=0, atol=1e-12)
    # the head without a booster ("follow") contributes its prior, as in HeadModel.predict
    assert np.isclose(compiled.predict(X[:1])[0] - head.predict(X[:1])[0], 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="X: expected shape"):
        compiled.predict(X[:, :3])


def test_compiled_once_per_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head, X = _head()
    text = head.boosters["click"].model_to_string()
    compile_booster(text, tmp_path)
    objects = sorted(tmp_path.glob("*.so"))
    assert len(objects) == 1 and not list(tmp_path.glob("*.tmp*"))
    stamp = objects[0].stat().st_mtime_ns

    import lleaves

    calls: list[object] = []
    original = lleaves.Model.compile

    def counting(self: lleaves.Model, cache: str | None = None, **kw: object) -> None:
        calls.append(cache)
        original(self, cache=cache, **kw)

    monkeypatch.setattr(lleaves.Model, "compile", counting)
    again = compile_booster(text, tmp_path)  # same text: read from the cache, not compiled again
    assert calls == [str(objects[0])] and objects[0].stat().st_mtime_ns == stamp
    np.testing.assert_allclose(again(X.astype(np.float64)), head.boosters["click"].predict(X), atol=1e-12)
    other, _ = _head(seed=1)
    compile_booster(other.boosters["click"].model_to_string(), tmp_path)  # another model: its own object
    assert len(list(tmp_path.glob("*.so"))) == 2


def test_lightgbm_when_lleaves_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head, X = _head()
    monkeypatch.setitem(sys.modules, "lleaves", None)  # import fails as on a machine without it
    compiled = CompiledHeads.build(head, tmp_path)
    assert not compiled.compiled
    np.testing.assert_array_equal(compiled.predict(X), head.predict(X))
    assert not CompiledHeads.build(head, None).compiled  # switched off: no cache dir
