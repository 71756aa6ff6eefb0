"""User and item (or account) embeddings from implicit feedback: ``implicit``'s ALS and BPR on the CPU.

Every model follows one small contract (:class:`EmbeddingModel`): keyword-only hyper-parameters, ``fit(
interactions) -> self``, learned ``user_factors_``/``item_factors_`` with the ids of their rows in
``user_ids_``/``item_ids_``, ``score`` and ``save``/``load`` as ``.npz`` (``allow_pickle=False``). The
backend is chosen in one place, :func:`make_embeddings`. Interaction matrices come from
:mod:`training.embeddings_interactions` (actions weighted by kind, declared once).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from training.embeddings_interactions import ACTION_WEIGHTS, Interactions, interaction_pairs

__all__ = [
    "ACTION_WEIGHTS", "ALSEmbeddings", "BPREmbeddings", "EmbeddingModel", "Interactions", "NotFittedError",
    "interaction_pairs", "load_embeddings", "make_embeddings",
]

Kind = Literal["als", "bpr"]
FORMAT_VERSION = 1


class EmbeddingModel(BaseEstimator):
    """Base contract: factor a users × items interaction matrix into two embedding tables.

    Subclasses set :attr:`kind` and implement :meth:`_factorise`; the rest (validation, id maps, scoring,
    persistence) is shared. Scores are dot products ``user_factors_[u] @ item_factors_[i]``.
    """

    kind: ClassVar[str] = ""

    def __init__(self, *, factors: int = 64, regularization: float = 0.01, iterations: int = 15,
                 random_state: int | None = 0, num_threads: int = 0) -> None:
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads

    def fit(self, interactions: Interactions) -> EmbeddingModel:
        """Learn the embeddings of ``interactions`` (weights as confidences); returns ``self``."""
        if not isinstance(interactions, Interactions):
            raise TypeError(f"interactions: expected Interactions, got {type(interactions).__name__}")
        if interactions.matrix.nnz == 0:
            raise ValueError("interactions: the matrix has no entries to learn from")
        if int(self.factors) < 1:
            raise ValueError(f"factors: must be >= 1, got {self.factors!r}")
        matrix = sp.csr_matrix(interactions.matrix, dtype=np.float32)
        # implicit warns (and slows down) when BLAS runs its own threads inside its parallel loops.
        with threadpool_limits(1, "blas"):
            users, items = self._factorise(matrix)
        self.user_factors_ = np.ascontiguousarray(users, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(items, dtype=np.float32)
        self.user_ids_ = np.asarray(interactions.user_ids, dtype=np.int64)
        self.item_ids_ = np.asarray(interactions.item_ids, dtype=np.int64)
        return self

    def _factorise(self, matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        check_is_fitted(self, "item_factors_", msg="%(name)s is not fitted yet: call fit(interactions) first")

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Dense ``(len(user_rows), n_items)`` scores for rows of the fitted matrix."""
        self._check_fitted()
        return self.user_factors_[np.asarray(user_rows, dtype=np.int64)] @ self.item_factors_.T

    def save(self, path: Path) -> Path:
        """Write factors, id maps and hyper-parameters to ``path`` (``.npz``, loadable without pickle)."""
        self._check_fitted()
        path = Path(path)
        meta = json.dumps({"kind": self.kind, "version": FORMAT_VERSION, "params": self.get_params()})
        with path.open("wb") as handle:
            np.savez(handle, user_factors=self.user_factors_, item_factors=self.item_factors_,
                     user_ids=self.user_ids_, item_ids=self.item_ids_, meta=np.array(meta))
        return path

    @classmethod
    def load(cls, path: Path) -> EmbeddingModel:
        """Read a model written by :meth:`save` (any kind when called on the base class)."""
        with np.load(Path(path), allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            if meta.get("version") != FORMAT_VERSION:
                raise ValueError(f"{path}: embeddings format {meta.get('version')!r}, expected {FORMAT_VERSION}")
            model = make_embeddings(meta["kind"], **meta["params"])
            if cls is not EmbeddingModel and not isinstance(model, cls):
                raise ValueError(f"{path}: holds a {meta['kind']!r} model, not {cls.kind!r}")
            model.user_factors_ = npz["user_factors"]
            model.item_factors_ = npz["item_factors"]
            model.user_ids_ = npz["user_ids"]
            model.item_ids_ = npz["item_ids"]
        return model


class ALSEmbeddings(EmbeddingModel):
    """Weighted alternating least squares (Hu, Koren & Volinsky 2008) via ``implicit.cpu.als``.

    ``alpha`` scales the weights into confidences; ``regularization`` is the L2 penalty of both tables.
    """

    kind: ClassVar[str] = "als"

    def __init__(self, *, factors: int = 64, regularization: float = 0.05, alpha: float = 1.0,
                 iterations: int = 15, random_state: int | None = 0, num_threads: int = 0) -> None:
        super().__init__(factors=factors, regularization=regularization, iterations=iterations,
                         random_state=random_state, num_threads=num_threads)
        self.alpha = alpha

    def _factorise(self, matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        from implicit.cpu.als import AlternatingLeastSquares

        model = AlternatingLeastSquares(
            factors=self.factors, regularization=self.regularization, alpha=self.alpha,
            iterations=self.iterations, random_state=self.random_state, num_threads=self.num_threads)
        model.fit(matrix, show_progress=False)
        return model.user_factors, model.item_factors


class BPREmbeddings(EmbeddingModel):
    """Bayesian personalised ranking (Rendle et al. 2009) via ``implicit.cpu.bpr``.

    The item table carries implicit's bias as its last column (the user table a matching column of ones),
    so ``factors + 1`` columns come out and dot products include the item bias.
    """

    kind: ClassVar[str] = "bpr"

    def __init__(self, *, factors: int = 64, learning_rate: float = 0.01, regularization: float = 0.01,
                 iterations: int = 100, random_state: int | None = 0, num_threads: int = 0) -> None:
        super().__init__(factors=factors, regularization=regularization, iterations=iterations,
                         random_state=random_state, num_threads=num_threads)
        self.learning_rate = learning_rate

    def _factorise(self, matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        # BPR samples positives uniformly: the weights only decide which entries exist.
        model = BayesianPersonalizedRanking(
            factors=self.factors, learning_rate=self.learning_rate, regularization=self.regularization,
            iterations=self.iterations, random_state=self.random_state, num_threads=self.num_threads)
        model.fit(matrix, show_progress=False)
        return model.user_factors, model.item_factors


_KINDS: dict[str, type[EmbeddingModel]] = {"als": ALSEmbeddings, "bpr": BPREmbeddings}


def make_embeddings(kind: Kind | str, **params: Any) -> EmbeddingModel:
    """The one place that picks a backend: ``"als"`` or ``"bpr"`` (CPU), with its hyper-parameters."""
    if kind not in _KINDS:
        raise ValueError(f"kind: expected one of {', '.join(_KINDS)}, got {kind!r}")
    return _KINDS[kind](**params)


def load_embeddings(path: Path) -> EmbeddingModel:
    """Read any model written by :meth:`EmbeddingModel.save`."""
    return EmbeddingModel.load(path)
