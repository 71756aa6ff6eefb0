"""Offline evaluation metrics: top-k ranking (recommenders 1.2.1 semantics), classification,
exposure distribution and amplification figures. Numpy arrays in, floats out."""

from experiments.metrics.amplification import (
    amplification_precision,
    hours_to_amplify,
    median_hours_to_amplify,
    truly_good_mask,
)
from experiments.metrics.classification import (
    calibration_bins,
    expected_calibration_error,
    group_auc,
    log_loss,
)
from experiments.metrics.distribution import (
    catalogue_coverage,
    exposure_gini,
    lorenz_curve,
    new_creator_ratio,
    new_creator_share,
)
from experiments.metrics.ranking import (
    map_at_k,
    mean_average_precision,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from experiments.metrics.topk_data import RankingData, ranking_data

__all__ = [
    "RankingData",
    "amplification_precision",
    "calibration_bins",
    "catalogue_coverage",
    "expected_calibration_error",
    "exposure_gini",
    "group_auc",
    "hours_to_amplify",
    "log_loss",
    "lorenz_curve",
    "map_at_k",
    "mean_average_precision",
    "median_hours_to_amplify",
    "ndcg_at_k",
    "new_creator_ratio",
    "new_creator_share",
    "precision_at_k",
    "ranking_data",
    "recall_at_k",
    "truly_good_mask",
]
