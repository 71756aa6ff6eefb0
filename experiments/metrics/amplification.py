"""Figures of the amplification of fans-only posts: precision against truly good posts and latency."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from experiments.metrics._validation import as_float, check_ids, check_same_length, id_family


def amplification_precision(amplified_post_ids: npt.ArrayLike, truly_good_post_ids: npt.ArrayLike) -> float:
    """Share of amplified posts that are truly good.

    Parameters
    ----------
    amplified_post_ids : array_like
        Ids of the amplified posts; a post amplified several times counts once.
    truly_good_post_ids : array_like
        Ids of the truly good posts (e.g. selected by :func:`truly_good_mask`); repeats ignored.

    Returns
    -------
    float
        In ``[0, 1]``: distinct amplified posts that are truly good / distinct amplified posts. NaN when
        nothing was amplified.

    Raises
    ------
    ValueError
        Ids of incomparable types (numbers against strings).
    """
    amplified = np.unique(check_ids(amplified_post_ids, "amplified_post_ids"))
    good = check_ids(truly_good_post_ids, "truly_good_post_ids")
    if amplified.size == 0:
        return float("nan")
    if good.size and id_family(good) != id_family(amplified):
        raise ValueError(f"truly_good_post_ids: dtype {good.dtype} is not comparable with "
                         f"amplified_post_ids dtype {amplified.dtype}")
    return float(np.isin(amplified, good).mean())


def truly_good_mask(public_appeal: npt.ArrayLike, top_fraction: float = 0.1) -> np.ndarray:
    """Mark the posts in the top ``top_fraction`` by public appeal (by default the top decile).

    Parameters
    ----------
    public_appeal : array_like
        Ground-truth appeal of each post (higher is better; no NaN).
    top_fraction : float, default 0.1
        In ``(0, 1]``.

    Returns
    -------
    np.ndarray of bool
        Same length as ``public_appeal``. With ``m = ceil(top_fraction * n)`` (at least one post when
        ``n > 0``; ``0.07 * 100`` counts as exactly 7, not 8), a post is good when its appeal is at least
        the ``m``-th largest value. Ties at that threshold are all included, so more than ``m`` posts
        may be marked.

    Raises
    ------
    ValueError
        NaN appeal or ``top_fraction`` outside ``(0, 1]``.
    """
    appeal = as_float(public_appeal, "public_appeal")
    if not 0.0 < top_fraction <= 1.0:
        raise ValueError(f"top_fraction: must lie in (0, 1], got {top_fraction}")
    n = appeal.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    m = max(1, math.ceil(round(top_fraction * n, 9)))
    threshold = np.partition(appeal, n - m)[n - m]
    return appeal >= threshold


def hours_to_amplify(publish_time_h: npt.ArrayLike, amplified_time_h: npt.ArrayLike) -> np.ndarray:
    """Hours from publication to amplification of each post; ``inf`` for posts never amplified.

    Parameters
    ----------
    publish_time_h : array_like
        Publication time of each post, in hours (no NaN).
    amplified_time_h : array_like
        Amplification time of each post in hours, NaN when never amplified.

    Returns
    -------
    np.ndarray of float64
        ``amplified_time_h - publish_time_h`` (``>= 0``), ``inf`` where never amplified.

    Raises
    ------
    ValueError
        Mismatched lengths, NaN publish times, or an amplification before publication.
    """
    published = as_float(publish_time_h, "publish_time_h")
    amplified = as_float(amplified_time_h, "amplified_time_h", allow_nan=True)
    check_same_length(("publish_time_h", published), ("amplified_time_h", amplified))
    delay = np.where(np.isnan(amplified), np.inf, amplified - published)
    if np.any(delay < 0):
        raise ValueError("amplified_time_h: earlier than publish_time_h for some posts")
    return delay


def median_hours_to_amplify(publish_time_h: npt.ArrayLike, amplified_time_h: npt.ArrayLike) -> float:
    """Median of :func:`hours_to_amplify` over all posts, never-amplified posts counting as ``inf``.

    Returns
    -------
    float
        In ``[0, inf]``. ``inf`` as soon as at most half the posts were amplified (with an even count
        and exactly half amplified, the middle pair is ``(finite + inf) / 2 = inf``). NaN for no posts.
    """
    delay = hours_to_amplify(publish_time_h, amplified_time_h)
    return float(np.median(delay)) if delay.size else float("nan")
