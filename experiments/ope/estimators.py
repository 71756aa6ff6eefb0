"""Off-policy evaluation: IPW, self-normalised IPW and doubly robust estimates with bootstrap intervals.

The formulas are those of obp 0.5.7 (``obp/ope/estimators.py``, ``obp/utils.py``; obp itself needs
Python < 3.11 and torch, so it is not a dependency). With logged rows i = 1..n of reward r_i, action
a_i shown at position k_i with the logging policy's propensity p_i = π_b(a_i, k_i | x_i), and the
evaluation policy's position-wise distribution π_e(a | x_i, k) (``action_dist[i, a, k]``):

* IPW (obp ``InverseProbabilityWeighting``): V = mean_i w_i r_i, with w_i = π_e(a_i | x_i, k_i) / p_i;
* SNIPW (``SelfNormalizedInverseProbabilityWeighting``): V = mean_i w_i r_i / mean_j w_j;
* DR (``DoublyRobust``): V = mean_i [Σ_a π_e(a | x_i, k_i) q̂(x_i, a, k_i) + w_i (r_i − q̂(x_i, a_i, k_i))].

Each estimator first computes one term per row ("round rewards") and the estimate is their mean; the
interval is obp's ``estimate_confidence_interval_by_bootstrap`` applied to those terms: resample the
terms with replacement ``n_bootstrap_samples`` times, take the mean of each resample, and report the
``alpha/2`` and ``1 − alpha/2`` percentiles (SNIPW keeps the normaliser of the full sample, as obp does).
The one departure: resampling draws from a passed-in ``numpy.random.Generator`` instead of obp's
``RandomState``, so intervals match obp's procedure, not its random numbers. Weight clipping (obp's
``lambda_``) is not offered: obp's default, ``inf``, is what is reproduced.

Two input forms: the obp form (``action_dist`` and ``q_hat`` of shape (n, n_actions, len_list)), and a
compact "factual" form (:class:`Factual`) for large or per-row candidate sets such as the service's pages,
where only π_e at the logged (action, position), q̂ there, and Σ_a π_e q̂ at the logged position are needed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

ESTIMATORS = ("ipw", "snipw", "dr")
N_BOOTSTRAP = 100  # obp's OffPolicyEvaluation.summarize_off_policy_estimates default
ALPHA = 0.05


@dataclass(frozen=True)
class Estimate:
    """A policy-value estimate with its bootstrap interval."""

    value: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, float]:
        """The JSON form: ``{"value", "ci_low", "ci_high"}``."""
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass(frozen=True)
class Factual:
    """What the estimators need per logged row, with the evaluation policy already applied.

    ``pi_e``: π_e(a_i | x_i, k_i); ``q_factual``: q̂(x_i, a_i, k_i); ``q_policy``: Σ_a π_e(a | x_i, k_i)
    q̂(x_i, a, k_i). The last two are only needed by DR.
    """

    reward: np.ndarray
    pscore: np.ndarray
    pi_e: np.ndarray
    q_factual: np.ndarray | None = None
    q_policy: np.ndarray | None = None

    def __post_init__(self) -> None:
        _vector(self.reward, "reward")
        n = len(self.reward)
        _vector(self.pscore, "pscore", n)
        _vector(self.pi_e, "pi_e", n)
        if not np.all(np.isfinite(self.reward)):
            raise ValueError("reward: must be finite")
        if not np.all(self.pscore > 0):
            raise ValueError("pscore: must be positive (a logged action the logging policy could not take)")
        if np.any(self.pi_e < 0) or np.any(self.pi_e > 1 + 1e-9):
            raise ValueError("pi_e: must be probabilities in [0, 1]")
        for name in ("q_factual", "q_policy"):
            value = getattr(self, name)
            if value is not None:
                _vector(value, name, n)

    @property
    def weight(self) -> np.ndarray:
        """Importance weights π_e / π_b."""
        return self.pi_e / self.pscore


def _vector(array: object, name: str, n: int | None = None) -> None:
    if not isinstance(array, np.ndarray) or array.ndim != 1:
        got = f"{array.ndim}D array" if isinstance(array, np.ndarray) else type(array).__name__
        raise ValueError(f"{name}: must be a 1D numpy array, got {got}")
    if n is not None and len(array) != n:
        raise ValueError(f"{name}: has {len(array)} rows, expected {n} (as many as reward)")
    if len(array) == 0:
        raise ValueError(f"{name}: is empty")


def check_logged(reward: np.ndarray, action: np.ndarray, position: np.ndarray, pscore: np.ndarray,
                 action_dist: np.ndarray, q_hat: np.ndarray | None = None) -> None:
    """obp's ``check_ope_inputs`` for the obp form; every error names the offending field."""
    if not isinstance(action_dist, np.ndarray) or action_dist.ndim != 3:
        raise ValueError("action_dist: must be a 3D numpy array of shape (n_rounds, n_actions, len_list)")
    n, n_actions, len_list = action_dist.shape
    for name, array in (("reward", reward), ("action", action), ("position", position), ("pscore", pscore)):
        _vector(array, name, n)
    if not np.allclose(action_dist.sum(axis=1), 1):
        raise ValueError("action_dist: each row and position must sum to 1 over actions")
    for name, array, size in (("action", action, n_actions), ("position", position, len_list)):
        if not np.issubdtype(array.dtype, np.integer) or array.min() < 0 or array.max() >= size:
            raise ValueError(f"{name}: must be integers in [0, {size})")
    if not np.all(pscore > 0):
        raise ValueError("pscore: must be positive (a logged action the logging policy could not take)")
    if q_hat is not None and (not isinstance(q_hat, np.ndarray) or q_hat.shape != action_dist.shape):
        shape = q_hat.shape if isinstance(q_hat, np.ndarray) else type(q_hat).__name__
        raise ValueError(f"q_hat: must have action_dist's shape {action_dist.shape}, got {shape}")


def factual(reward: np.ndarray, action: np.ndarray, position: np.ndarray, pscore: np.ndarray,
            action_dist: np.ndarray, q_hat: np.ndarray | None = None) -> Factual:
    """The compact form of obp-form inputs, indexed exactly as obp indexes them."""
    check_logged(reward, action, position, pscore, action_dist, q_hat)
    rows = np.arange(len(action))
    pi_e = action_dist[rows, action, position]
    if q_hat is None:
        return Factual(reward.astype(np.float64), pscore.astype(np.float64), pi_e)
    # obp: np.average(q_hat[rows, :, position], weights=action_dist[rows, :, position], axis=1)
    pi_at_position = action_dist[rows, :, position]
    q_policy = np.average(q_hat[rows, :, position], weights=pi_at_position, axis=1)
    return Factual(reward.astype(np.float64), pscore.astype(np.float64), pi_e, q_hat[rows, action, position],
                   q_policy)


def round_rewards(name: str, data: Factual) -> np.ndarray:
    """The per-row terms of estimator ``name`` (``ipw``, ``snipw`` or ``dr``); the estimate is their mean."""
    w = data.weight
    if name == "ipw":
        return data.reward * w
    if name == "snipw":
        # obp divides by the mean weight of the whole sample; an all-zero weight vector has no estimate.
        mean_w = w.mean()
        if mean_w <= 0:
            raise ValueError("pi_e: the evaluation policy never takes a logged action, SNIPW is undefined")
        return data.reward * w / mean_w
    if name == "dr":
        if data.q_factual is None or data.q_policy is None:
            raise ValueError("q_hat: DR needs the reward model's predictions (q_factual and q_policy)")
        return data.q_policy + w * (data.reward - data.q_factual)
    raise ValueError(f"estimator: unknown {name!r} (known: {', '.join(ESTIMATORS)})")


def bootstrap_interval(samples: np.ndarray, rng: np.random.Generator, n_bootstrap_samples: int = N_BOOTSTRAP,
                       alpha: float = ALPHA) -> tuple[float, float]:
    """obp's ``estimate_confidence_interval_by_bootstrap``: percentiles of resampled means."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha}")
    if n_bootstrap_samples < 1:
        raise ValueError(f"n_bootstrap_samples: must be at least 1, got {n_bootstrap_samples}")
    n = len(samples)
    # One resample at a time, as obp does, so memory stays O(n) for large logs.
    means = np.array([samples[rng.integers(0, n, size=n)].mean() for _ in range(n_bootstrap_samples)])
    return float(np.percentile(means, 100 * (alpha / 2))), float(np.percentile(means, 100 * (1 - alpha / 2)))


def estimate(name: str, data: Factual, rng: np.random.Generator, n_bootstrap_samples: int = N_BOOTSTRAP,
             alpha: float = ALPHA) -> Estimate:
    """Estimator ``name``'s value (obp's ``estimate_policy_value``) and bootstrap interval."""
    terms = round_rewards(name, data)
    low, high = bootstrap_interval(terms, rng, n_bootstrap_samples, alpha)
    return Estimate(float(terms.mean()), low, high)


def estimate_all(data: Factual, rng: np.random.Generator, n_bootstrap_samples: int = N_BOOTSTRAP,
                 alpha: float = ALPHA) -> dict[str, Estimate]:
    """IPW, SNIPW and (when the reward model's predictions are given) DR, each with its interval."""
    names = ESTIMATORS if data.q_factual is not None else ESTIMATORS[:2]
    # Every estimator resamples the same rows (obp passes one random_state to each), so their intervals
    # differ only by the estimators, not by the draw.
    stream = rng.spawn(1)[0]
    return {name: estimate(name, data, copy.deepcopy(stream), n_bootstrap_samples, alpha) for name in names}
