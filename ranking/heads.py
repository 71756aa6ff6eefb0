"""Inference side of a multi-head slot model: load LightGBM heads, calibrate, blend.

Training writes this format (``training.ranker``); the service and the simulated world only read it.
A model directory holds ``meta.json`` (kind, slot, feature set, heads, blend, calibration, conditions) and
one LightGBM text file per head. Nothing in it executes code when loaded.

A head may be conditional on another (``given``): it was learned among the rows where the other head's action
happened, and its probability per impression is the product of the two (an engagement or a purchase needs a
click first). Rare actions learned among clicks see a far denser signal than among all impressions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson


class LazyBoosters(Mapping[str, Any]):
    """Heads as LightGBM model text, parsed into ``lightgbm.Booster`` objects only when one is asked for.

    A service whose forests are compiled (``ranking.compiled``) never asks, so its workers never import
    LightGBM (and the scikit-learn and SciPy modules it pulls in): tens of MB per worker.
    """

    def __init__(self, texts: Mapping[str, str]) -> None:
        self.texts = dict(texts)
        self._parsed: dict[str, Any] = {}

    def __getitem__(self, head: str) -> Any:
        if head not in self._parsed:
            import lightgbm as lgb  # only the uncompiled path predicts with LightGBM

            self._parsed[head] = lgb.Booster(model_str=self.texts[head])
        return self._parsed[head]

    def __iter__(self) -> Iterator[str]:
        return iter(self.texts)

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class HeadModel:
    """Calibrated per-action heads and their blend weights."""

    feature_names: list[str]
    priors: dict[str, float]
    boosters: Mapping[str, Any] = field(default_factory=dict)  # head -> lightgbm.Booster (or LazyBoosters)
    calibration: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    blend: dict[str, float] = field(default_factory=dict)
    n_jobs: int = 1
    given: dict[str, str] = field(default_factory=dict)  # head -> the head it is conditional on

    def __post_init__(self) -> None:
        for head, condition in self.given.items():
            if head not in self.priors or condition not in self.priors or condition in self.given:
                raise ValueError(f"given: {head!r} -> {condition!r} must join two heads of the model, "
                                 "and the condition must itself be unconditional")

    def combine(self, raw: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        """Per-impression probability of every head from its forest's raw output (``raw[head]``; heads without
        a booster are their prior): calibrated, then multiplied by the condition's probability where given."""
        out = {}
        for head, prior in self.priors.items():
            r = raw.get(head)
            if r is None:
                out[head] = np.full(n, prior)
                continue
            cal = self.calibration.get(head)
            out[head] = np.interp(r, cal[0], cal[1]) if cal is not None and len(cal[0]) > 1 else r
        for head, condition in self.given.items():
            out[head] = out[head] * out[condition]
        return out

    def model_text(self, head: str) -> str:
        """The LightGBM model text of a head (without parsing it when it was loaded as text)."""
        if isinstance(self.boosters, LazyBoosters):
            return self.boosters.texts[head]
        return str(self.boosters[head].model_to_string())

    def blended(self, probs: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """The blend of per-head probabilities: their sum weighted by ``blend``."""
        total = np.zeros(n)
        for head, p in probs.items():
            total += self.blend.get(head, 0.0) * p
        return total

    def predict_heads(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Calibrated probability of each head's action for every row of ``X``."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(f"X: expected shape (n, {len(self.feature_names)}), got {X.shape}")
        raw = {head: b.predict(X, num_threads=self.n_jobs) for head, b in self.boosters.items()}
        return self.combine(raw, len(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Blended score: the sum of head probabilities times their weights."""
        return self.blended(self.predict_heads(X), len(X))

    def save(self, folder: Path, meta: Mapping[str, Any]) -> Path:
        """Write heads as LightGBM text and everything else as JSON; returns ``meta.json``'s path."""
        folder.mkdir(parents=True, exist_ok=True)
        heads = {}
        for head, booster in self.boosters.items():
            name = f"head_{head}.txt"
            booster.save_model(str(folder / name))
            heads[head] = name
        files = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in heads.values()}
        body = {**meta, "heads": heads, "priors": self.priors, "blend": self.blend, "given": self.given,
                "feature_names": self.feature_names, "files": files,
                "calibration": {h: [c[0].tolist(), c[1].tolist()] for h, c in self.calibration.items()}}
        path = folder / "meta.json"
        path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        return path

    @classmethod
    def load(cls, folder: Path, *, n_jobs: int = 1) -> HeadModel:
        """Read a model directory written by :meth:`save`; checksums are verified."""
        meta = orjson.loads((folder / "meta.json").read_bytes())
        texts = {}
        for head, name in meta["heads"].items():
            data = (folder / name).read_bytes()
            if hashlib.sha256(data).hexdigest() != meta["files"][name]:
                raise ValueError(f"{folder / name}: checksum does not match meta.json")
            texts[head] = data.decode()
        return cls.from_meta(meta, LazyBoosters(texts), n_jobs=n_jobs)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], boosters: Mapping[str, Any], *, n_jobs: int = 1) -> HeadModel:
        """The model of a ``meta.json`` whose heads were already read and verified (``boosters``: head ->
        Booster, or :class:`LazyBoosters`), as :func:`ranking.model_store.load_model_dir` returns them."""
        calibration = {h: (np.asarray(c[0]), np.asarray(c[1])) for h, c in meta["calibration"].items()}
        # Models written before conditional heads existed have no "given": every head is unconditional.
        return cls(list(meta["feature_names"]), dict(meta["priors"]), boosters, calibration,
                   dict(meta["blend"]), n_jobs, dict(meta.get("given", {})))
