"""A slot model's heads compiled to machine code with lleaves, cached on disk by the model text's checksum.

Compiling a production-size forest takes about a minute, so it happens once per model checksum, at load
time (never on the request path): the first process to need a model compiles it under a file lock and
publishes the shared object by an atomic rename; every later load, in this or another worker, reads the
cached object in milliseconds. Where lleaves cannot compile (not installed, an unsupported model), the
plain LightGBM booster predicts instead and :attr:`CompiledHeads.compiled` says which is in use.

Scores match ``HeadModel.predict`` to floating-point rounding (the forest is evaluated in float64).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ranking.heads import HeadModel

log = logging.getLogger(__name__)
Predict = Callable[[np.ndarray], np.ndarray]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock shared by every process on this machine (other workers wait, then read the cache)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def compile_booster(model_text: str, cache_dir: Path) -> Predict:
    """The lleaves predictor of one LightGBM model text, compiled once per checksum into ``cache_dir``."""
    import lleaves  # imported here so a machine without it still serves with LightGBM

    digest = hashlib.sha256(model_text.encode()).hexdigest()
    cache_dir.mkdir(parents=True, exist_ok=True)
    text_path, object_path = cache_dir / f"{digest}.txt", cache_dir / f"{digest}.so"
    with _locked(cache_dir / f"{digest}.lock"):
        if not text_path.exists():
            tmp = text_path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(model_text)
            os.replace(tmp, text_path)
        model = lleaves.Model(model_file=str(text_path))
        if object_path.exists():
            model.compile(cache=str(object_path))
        else:  # compile to a private name, then publish whole: a reader never sees half an object
            tmp = object_path.with_suffix(f".tmp{os.getpid()}.so")
            model.compile(cache=str(tmp))
            os.replace(tmp, object_path)
    return lambda X: model.predict(X, n_jobs=1)  # one thread per library per worker


@dataclass(frozen=True)
class CompiledHeads:
    """``HeadModel.predict`` with each head's forest compiled; same calibration and blend."""

    head: HeadModel
    forests: dict[str, Predict]
    compiled: bool

    @classmethod
    def build(cls, head: HeadModel, cache_dir: Path | None) -> CompiledHeads:
        """Compile every head into ``cache_dir``; without a cache dir, or if compiling fails, use LightGBM."""
        if cache_dir is None:
            return cls(head, {}, False)
        try:
            forests = {name: compile_booster(head.model_text(name), cache_dir) for name in head.boosters}
        except Exception as e:  # an environment without lleaves/LLVM still serves, only slower
            log.warning("lleaves compilation unavailable, predicting with LightGBM: %s", e)
            return cls(head, {}, False)
        return cls(head, forests, True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Blended score of every row of ``X`` (float32 or float64, shape (n, features))."""
        if not self.compiled:
            return self.head.predict(X)
        h = self.head
        X = np.ascontiguousarray(X, dtype=np.float64)  # lleaves reads rows in C order; one copy for all heads
        if X.ndim != 2 or X.shape[1] != len(h.feature_names):
            raise ValueError(f"X: expected shape (n, {len(h.feature_names)}), got {X.shape}")
        raw = {name: forest(X) for name, forest in self.forests.items()}
        return h.blended(h.combine(raw, len(X)), len(X))
