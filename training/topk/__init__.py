"""Top-k recommenders: candidate generators (popularity, EASE, item-kNN, user-kNN, ALS/BPR) and a LightGBM re-ranker.

Every model follows :class:`training.topk.base.TopKModel`; :func:`training.topk.base.top_k` turns any of them
into per-user lists with the user's training items removed; :func:`training.topk.models.make_model` builds
the benchmark's models by name.
"""

from training.topk.base import TopKModel, clone, top_k
from training.topk.candidates import candidate_table, monotone_constraints
from training.topk.ease import EASE
from training.topk.factor import FactorModel
from training.topk.itemknn import ItemKNN
from training.topk.models import MODEL_NAMES, make_model
from training.topk.popularity import Popularity
from training.topk.reranker import CandidateReranker, default_generators, fold_splits
from training.topk.side import SideFeatures, contract_side
from training.topk.side_movielens import movielens_side
from training.topk.userknn import UserKNN

__all__ = [
    "EASE", "MODEL_NAMES", "CandidateReranker", "FactorModel", "ItemKNN", "Popularity", "SideFeatures",
    "TopKModel", "UserKNN", "candidate_table", "clone", "contract_side", "default_generators", "fold_splits",
    "make_model", "monotone_constraints", "movielens_side", "top_k",
]
