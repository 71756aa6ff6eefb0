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
#: Least residual variance of an indicator, as a share of its signal variance: no channel is taken for a
#: noiseless reading of appeal (the click rate also moves with taste, freshness and estimated kind/format
#: habits; without the floor its residual estimates near 0 and the posterior is overconfident at the top).
RESIDUAL_FLOOR = 0.15


@dataclass
class ChannelStats:
    """Sufficient statistics per post: non-fan examined impressions, clicks, log-dwell sums; fan clicks and sums."""

    exam: np.ndarray
    clicks: np.ndarray
    log_dwell: np.ndarray
    log_dwell_sq: np.ndarray
    fan_clicks: np.ndarray
    fan_log_dwell: np.ndarray
    # Log click-rate effects that are not appeal (format and kind draw clicks of their own), subtracted from
    # ``c``; None: no correction (``click_offsets``).
    click_offset: np.ndarray | None = None


@dataclass
class AppealModel:
    """Population means, loadings and residual variances of the indicators, and the dwell noise variance."""

    mean: np.ndarray
    loading: np.ndarray
    residual: np.ndarray
    dwell_var: float
    posts: int  # posts the estimate rests on (0: defaults)
    # Standardised appeal of the fit population's mean over all posts: the fit population (posts the probe
    # showed to non-fans) was chosen by its fans' signal, so it is better than the posts "top decile" refers to.
    offset: float = 0.0

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
        if st.click_offset is not None:
            x[:, 1] -= st.click_offset
        v = np.stack([dwell_var / c, 1.0 / (c + 0.5), dwell_var / fc], axis=1)
    v[~np.isfinite(x)] = np.inf
    return x, v


def usable(st: ChannelStats, x: np.ndarray, min_exam: float = 30.0) -> np.ndarray:
    """Posts with enough exposure to enter the fit: ``min_exam`` examined non-fan views, fan and non-fan clicks."""
    return (st.exam >= min_exam) & (st.clicks >= 1) & (st.fan_clicks >= 1) & np.isfinite(x).all(1)


def click_offsets(st: ChannelStats, design: np.ndarray, use: np.ndarray, ridge: float = 5.0) -> np.ndarray:
    """Per post, the part of its log click rate that its kind and format explain beyond their appeal.

    ``design`` holds one-hot columns (kind and format dummies, no intercept). Read time follows appeal alone,
    so a group's mean log dwell says how much appeal it has; the click channel's group effect beyond what that
    appeal explains (``β_c / β_d`` times the dwell effect, loadings of a first fit) is a click habit of the
    format, not appeal: a per-kind, per-format baseline. Effects are ridge-shrunk towards none.
    """
    x, _ = indicators(ChannelStats(st.exam, st.clicks, st.log_dwell, st.log_dwell_sq, st.fan_clicks,
                                   st.fan_log_dwell), 0.36)
    use = use & np.isfinite(x[:, :2]).all(1)
    n = len(x)
    if use.sum() < 4 * design.shape[1]:
        return np.zeros(n)
    ratio_model = fit(ChannelStats(st.exam[use], st.clicks[use], st.log_dwell[use], st.log_dwell_sq[use],
                                   st.fan_clicks[use], st.fan_log_dwell[use]))
    ratio = ratio_model.loading[1] / ratio_model.loading[0] if ratio_model.posts else 0.0
    xd = design[use] - design[use].mean(0)  # centred: the intercept is the population mean
    gram = xd.T @ xd + ridge * np.eye(design.shape[1])
    effects = np.linalg.solve(gram, xd.T @ (x[use, :2] - x[use, :2].mean(0)))  # columns: dwell, clicks
    per_group = effects[:, 1] - ratio * effects[:, 0]
    return (design - design[use].mean(0)) @ per_group


def selection_offset(fit_share: float, quantile: float) -> float:
    """Offset of the fit population's standardised appeal when it is a share ``fit_share`` of all posts that
    holds every post of the top ``1 - quantile`` (the probe sees the posts whose fans liked them).

    The top ``1 - quantile`` of all posts is then the top ``(1 - quantile) / fit_share`` of the fit population,
    so its threshold there is lower by the returned amount; with every post in the fit population it is 0.
    """
    share = min(max(fit_share, 1.0 - quantile), 1.0)
    inner = max(1.0 - (1.0 - quantile) / share, 0.5)  # never call more than half the fit population top
    return float(ndtri(quantile) - ndtri(inner))


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
    use = usable(st, x, min_exam)
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
    model.residual = np.maximum(signal_var - loading ** 2, RESIDUAL_FLOOR * loading ** 2)
    model.posts = int(use.sum())
    return model


def posterior(st: ChannelStats, model: AppealModel) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and sd of each post's standardised appeal (prior N(0, 1): the fit population), shifted by
    the model's ``offset`` so that it reads on the scale of all posts."""
    x, v = indicators(st, model.dwell_var)
    total = v + model.residual
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(np.isfinite(total), model.loading / total, 0.0)
        resid = np.where(np.isfinite(x), x - model.mean, 0.0)
    precision = 1.0 + np.sum(w * model.loading, axis=1)
    mean = np.sum(w * resid, axis=1) / precision
    return mean + model.offset, 1.0 / np.sqrt(precision)


def prob_top(mean: np.ndarray, sd: np.ndarray, quantile: float) -> np.ndarray:
    """Posterior probability that appeal lies in the population's top ``1 - quantile``."""
    return ndtr((mean - float(ndtri(quantile))) / np.maximum(sd, 1e-9))
