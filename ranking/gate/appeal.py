"""A post's public appeal as a Bayesian posterior from what fans and non-fans did with it.

Three noisy indicators of one latent appeal ``a`` (standardised over the observed population of posts, so
``a ~ N(0, 1)`` is the prior and "top decile" means ``a > Φ⁻¹(0.9)``):

* ``d``: mean log dwell of non-fans' clicks (dwell grows with appeal; click farms' near-zero dwell and
  position do not move it), noise ``σ² / clicks``;
* ``c``: log of non-fans' clicks over their position-examined impressions, noise ``1 / clicks``;
* ``f``: mean log dwell of fans' clicks, which follows the post's quality, a correlated but different thing
  (its loading is smaller and its residual larger: that is the fan-vs-public gap).

Each indicator is ``x = μ + β·a + residual + noise``. The loadings ``β``, means ``μ`` and residual variances
``ω²`` come from the population's covariances (a one-factor model with three indicators is identified by
``β_j² = C_jk·C_jl / C_kl``), so no threshold is tuned on the truth: the posterior's probability of the top
decile is the decision statistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

CHANNELS = ("d", "c", "f")
#: Defaults used until the population is large enough to estimate the model (loadings in natural units).
DEFAULT_MEAN = np.array([2.5, -3.5, 2.5])
DEFAULT_LOADING = np.array([0.3, 0.7, 0.2])
DEFAULT_RESIDUAL = np.array([0.0, 0.1, 0.05])


@dataclass
class ChannelStats:
    """Sufficient statistics per post: non-fan examined impressions, clicks, log-dwell sums; fan clicks and sums."""

    exam: np.ndarray
    clicks: np.ndarray
    log_dwell: np.ndarray
    log_dwell_sq: np.ndarray
    fan_clicks: np.ndarray
    fan_log_dwell: np.ndarray


@dataclass
class AppealModel:
    """Population means, loadings and residual variances of the indicators, and the dwell noise variance."""

    mean: np.ndarray
    loading: np.ndarray
    residual: np.ndarray
    dwell_var: float
    posts: int  # posts the estimate rests on (0: defaults)

    @classmethod
    def default(cls) -> AppealModel:
        return cls(DEFAULT_MEAN.copy(), DEFAULT_LOADING.copy(), DEFAULT_RESIDUAL.copy(), 0.36, 0)


def indicators(st: ChannelStats, dwell_var: float) -> tuple[np.ndarray, np.ndarray]:
    """(x, v): indicator values and their sampling variances, shape (n, 3); NaN / inf where unobserved."""
    c, fc = st.clicks, st.fan_clicks
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(c > 0, st.log_dwell / c, np.nan)
        rate = np.where(st.exam > 0, (c + 0.5) / st.exam, np.nan)
        f = np.where(fc > 0, st.fan_log_dwell / fc, np.nan)
        x = np.stack([d, np.log(rate), f], axis=1)
        v = np.stack([dwell_var / c, 1.0 / (c + 0.5), dwell_var / fc], axis=1)
    v[~np.isfinite(x)] = np.inf
    return x, v


def fit(st: ChannelStats, population: np.ndarray | None = None, min_exam: float = 30.0,
        min_posts: int = 30) -> AppealModel:
    """Estimate the model from the posts of ``population`` (a mask; all by default) that non-fans examined
    ``min_exam`` times and that fans and non-fans clicked at least once (defaults if too few).

    The population is chosen by exposure, not by outcome: a model fitted only on posts with many clicks
    would see the appealing ones, and put the top decile too high. Sampling noise is part of each variance.
    """
    model = AppealModel.default()
    c = st.clicks
    if np.sum(c >= 2) >= min_posts:  # pooled within-post variance of log dwell: the dwell noise
        many = c >= 2
        within = st.log_dwell_sq[many] - st.log_dwell[many] ** 2 / c[many]
        model.dwell_var = float(within.sum() / (c[many] - 1).sum())
    x, v = indicators(st, model.dwell_var)
    use = (st.exam >= min_exam) & (c >= 1) & (st.fan_clicks >= 1) & np.isfinite(x).all(1)
    if population is not None:
        use &= population
    if use.sum() < min_posts:
        return model
    xs, vs = x[use], v[use]
    mean = xs.mean(0)
    cov = np.cov(xs, rowvar=False)
    signal_var = np.diag(cov) - vs.mean(0)  # total variance less the mean sampling noise
    loading = np.empty(3)
    for j, (k, m) in enumerate(((1, 2), (0, 2), (0, 1))):
        prod = cov[j, k] * cov[j, m] / cov[k, m] if cov[k, m] > 0 else np.nan
        loading[j] = np.sqrt(prod) if np.isfinite(prod) and prod > 0 else np.nan
    if not np.isfinite(loading).all():
        return model
    model.mean, model.loading = mean, loading
    model.residual = np.maximum(signal_var - loading ** 2, 0.05 * loading ** 2)
    model.posts = int(use.sum())
    return model


def posterior(st: ChannelStats, model: AppealModel) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and sd of each post's standardised appeal (prior N(0, 1): the population)."""
    x, v = indicators(st, model.dwell_var)
    total = v + model.residual
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(np.isfinite(total), model.loading / total, 0.0)
        resid = np.where(np.isfinite(x), x - model.mean, 0.0)
    precision = 1.0 + np.sum(w * model.loading, axis=1)
    mean = np.sum(w * resid, axis=1) / precision
    return mean, 1.0 / np.sqrt(precision)


def prob_top(mean: np.ndarray, sd: np.ndarray, quantile: float) -> np.ndarray:
    """Posterior probability that appeal lies in the population's top ``1 - quantile``."""
    return ndtr((mean - float(ndtri(quantile))) / np.maximum(sd, 1e-9))
