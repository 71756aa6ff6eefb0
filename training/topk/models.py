"""The top-k models a benchmark runs, by name, with the hyper-parameters chosen once here.

Hyper-parameters were picked on an inner split of MovieLens-100k's *training* data (never its test split).
"""

from __future__ import annotations

from training.topk.base import TopKModel
from training.topk.ease import EASE
from training.topk.factor import FactorModel
from training.topk.itemknn import ItemKNN
from training.topk.popularity import Popularity
from training.topk.reranker import ALS_PARAMS, CandidateReranker
from training.topk.userknn import UserKNN

#: Model names in the order a benchmark runs and prints them.
MODEL_NAMES: tuple[str, ...] = ("popularity", "itemknn", "userknn", "ease", "als", "bpr", "reranker")

#: BPR hyper-parameters (implicit's SGD).
BPR_PARAMS = {"factors": 64, "learning_rate": 0.002, "regularization": 0.01, "iterations": 200}


def make_model(name: str, *, random_state: int = 0, n_jobs: int = 1) -> TopKModel:
    """A fresh, unfitted model called ``name`` (one of :data:`MODEL_NAMES`)."""
    if name == "popularity":
        return Popularity()
    if name == "itemknn":
        return ItemKNN()
    if name == "userknn":
        return UserKNN()
    if name == "ease":
        return EASE(l2=500.0)
    if name == "als":
        return FactorModel(kind="als", params=ALS_PARAMS, random_state=random_state, num_threads=n_jobs)
    if name == "bpr":
        return FactorModel(kind="bpr", params=BPR_PARAMS, random_state=random_state, num_threads=n_jobs)
    if name == "reranker":
        return CandidateReranker(n_repeats=3, random_state=random_state, n_jobs=n_jobs)
    raise ValueError(f"name: unknown top-k model {name!r}; known: {', '.join(MODEL_NAMES)}")
