"""How recommendations and exposure are spread: coverage, Gini/Lorenz and the share of new creators."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from experiments.metrics._validation import as_bool, as_float, check_ids, check_positive_int


def catalogue_coverage(recommended_items: npt.ArrayLike, catalogue_size: int) -> float:
    """Share of the catalogue recommended at least once: distinct recommended items / catalogue size.

    Parameters
    ----------
    recommended_items : array_like
        Item ids of all recommendations (repeats allowed, they count once).
    catalogue_size : int
        Number of items that could have been recommended, ``>= 1``.

    Returns
    -------
    float
        In ``[0, 1]``; 0.0 for no recommendations.

    Raises
    ------
    ValueError
        ``catalogue_size < 1`` or fewer than the number of distinct recommended items.
    """
    items = check_ids(recommended_items, "recommended_items")
    size = check_positive_int(catalogue_size, "catalogue_size")
    distinct = len(np.unique(items))
    if distinct > size:
        raise ValueError(f"catalogue_size: {size} < {distinct} distinct recommended_items")
    return distinct / size


def _exposures(exposure_counts: npt.ArrayLike) -> np.ndarray:
    """Validated exposures sorted ascending: non-empty, finite, non-negative."""
    x = as_float(exposure_counts, "exposure_counts")
    if x.size == 0:
        raise ValueError("exposure_counts: empty")
    if not np.isfinite(x).all() or x.min() < 0:
        raise ValueError("exposure_counts: must be finite and >= 0")
    return np.sort(x)


def exposure_gini(exposure_counts: npt.ArrayLike) -> float:
    """Gini coefficient of exposure across items or authors.

    ``G = 2 * sum_i i * x_(i) / (n * sum x) - (n + 1) / n`` with ``x_(1) <= ... <= x_(n)`` (the
    population Gini; equals one minus twice the area under :func:`lorenz_curve`).

    Parameters
    ----------
    exposure_counts : array_like
        Exposure of each item/author (impressions, or any non-negative amount), including zeros for
        those never shown: leaving them out understates concentration.

    Returns
    -------
    float
        In ``[0, 1 - 1/n]``: 0 when everybody gets the same exposure, ``1 - 1/n`` when one gets all of
        it. 0.0 for an all-zero input.

    Raises
    ------
    ValueError
        Empty input, negative or non-finite values.
    """
    x = _exposures(exposure_counts)
    total = x.sum()
    if total == 0:
        return 0.0
    n = x.size
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(2.0 * np.sum(ranks * x) / (n * total) - (n + 1) / n)


def lorenz_curve(exposure_counts: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve of exposure, for plotting.

    Returns
    -------
    population_share, exposure_share : np.ndarray
        Both of length ``n + 1``, starting at 0 and ending at 1: the poorest ``population_share[j]`` of
        items/authors (``j / n``) get ``exposure_share[j]`` of all exposure. For an all-zero input the
        curve is the equality diagonal (consistent with a Gini of 0).

    Raises
    ------
    ValueError
        Empty input, negative or non-finite values.
    """
    x = _exposures(exposure_counts)
    population = np.arange(x.size + 1, dtype=np.float64) / x.size
    total = x.sum()
    if total == 0:
        return population, population.copy()
    return population, np.concatenate([[0.0], np.cumsum(x) / total])


def new_creator_share(amplified_author_is_new: npt.ArrayLike) -> float:
    """Share of amplified posts whose author is a new creator.

    Parameters
    ----------
    amplified_author_is_new : array_like of bool
        One entry per amplified post: True if its author counts as new (0/1 integers accepted).

    Returns
    -------
    float
        In ``[0, 1]``; NaN when nothing was amplified.
    """
    flags = as_bool(amplified_author_is_new, "amplified_author_is_new")
    return float(flags.mean()) if flags.size else float("nan")


def new_creator_ratio(amplified_is_new: npt.ArrayLike, good_is_new: npt.ArrayLike) -> float:
    """New-creator share among amplified posts divided by the share among truly good posts.

    Parameters
    ----------
    amplified_is_new : array_like of bool
        One entry per amplified post: is its author new.
    good_is_new : array_like of bool
        One entry per truly good post: is its author new.

    Returns
    -------
    float
        In ``[0, inf)``: 1 means new creators are amplified in proportion to their good posts, below 1
        that they are under-amplified. NaN when either array is empty or no good post is by a new
        creator (the share among good posts is 0).
    """
    amplified_share = new_creator_share(amplified_is_new)
    good = as_bool(good_is_new, "good_is_new")
    good_share = float(good.mean()) if good.size else float("nan")
    if np.isnan(good_share) or good_share == 0.0:
        return float("nan")
    return amplified_share / good_share
