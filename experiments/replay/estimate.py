"""Slot metrics of the logged pages, and of the new policy's pages: exact where observed, estimated elsewhere.

Logged: clicks and engagements per page, click-through per impression, and nDCG@k of the logged order on
the observed gain (1 for a click, 1 more for a like, comment, share, cart or purchase on the same page).

New policy: nDCG@k of its order of the same logged items (every gain is observed, so this is exact), and
clicks per page. A logged row whose item the new page shows at the same position keeps its observed
reward; elsewhere the value is counterfactual. The estimators are the project's (:mod:`experiments.ope`):
IPW, SNIPW and doubly robust (DR) with position-wise propensities from the log, DR's reward model
cross-fitted by page (LightGBM or logistic regression from scikit-learn) on point-in-time features. The
headline ("exact+dm") keeps the observed reward on pages the new policy leaves unchanged and takes the reward
model's direct estimate (DM) elsewhere. DR is unbiased but, with the log's exploration propensities (about
0.007, weights near 140), it was far noisier on the simulated world's closed-loop check (errors +0.40, +0.03,
+0.33 clicks per page on the three slots against DM's +0.05, +0.06, +0.02), so it is reported beside the
headline rather than as it.
Intervals are obp's bootstrap of the per-row terms (:func:`experiments.ope.estimators.bootstrap_interval`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from experiments.metrics.ranking import ndcg_at_k
from experiments.metrics.topk_data import ranking_data
from experiments.ope.estimators import ESTIMATORS, N_BOOTSTRAP, Factual, bootstrap_interval, estimate
from experiments.ope.reward import N_FOLDS, CrossFitted, RewardModelKind, fold_ids
from experiments.replay.data import SLOTS
from experiments.replay.rankers import rerank

KINDS = ("shop", "influencer", "official")


def gain(cands: pd.DataFrame) -> np.ndarray:
    """Observed gain of each row: clicked + engaged (0, 1 or 2)."""
    return (cands["clicked"] + cands["engaged"]).to_numpy(np.float64)


def ndcg(cands: pd.DataFrame, position: np.ndarray, k: int) -> float:
    """Mean nDCG@k over pages with any gain, ranking each page's rows by ``position`` (rows at −1 left out).

    The recommenders convention (:func:`experiments.metrics.ranking.ndcg_at_k`, graded): the page is the
    user, the gain its rating, pages whose gains are all zero are left out.
    """
    g = gain(cands)
    truth = g > 0
    shown = position >= 0
    if not truth.any():
        return float("nan")
    page, item = cands["page"].to_numpy(), np.arange(len(cands))
    data = ranking_data(page[truth], item[truth], page[shown], item[shown], -position[shown].astype(np.float64),
                        k=k, true_rating=g[truth])
    return float(ndcg_at_k(data, graded=True))


def logged_metrics(logged: pd.DataFrame, k: int) -> dict[str, float]:
    """Pages, impressions, clicks and engagements per page, CTR and nDCG@k of the logged pages."""
    pages = logged["page"].nunique()
    return {"pages": int(pages), "impressions": len(logged),
            "clicks_per_page": float(logged["clicked"].sum() / pages),
            "engagements_per_page": float(logged["engaged"].sum() / pages),
            "ctr": float(logged["clicked"].mean()),
            "ndcg": ndcg(logged, logged["logged_position"].to_numpy(), k)}


def features(c: pd.DataFrame, position: np.ndarray) -> np.ndarray:
    """Reward-model inputs: slot, fan, account kind, log age, log counts before the request, position."""
    slot = pd.Categorical(c["slot"], categories=SLOTS).codes
    kind = pd.Categorical(c["account_kind"], categories=KINDS).codes
    logs = [np.log1p(c[col].to_numpy(np.float64)) for col in
            ("age_h", "clicks_before", "imps_before", "engaged_before", "followers")]
    return np.column_stack([slot, c["is_fan"].to_numpy(np.float64), kind, *logs, position]).astype(np.float64)


@dataclass(frozen=True)
class Counterfactual:
    """Per logged row: reward, propensity, π_e, and the reward model at the logged and at the new item."""

    slot: np.ndarray
    page: np.ndarray
    data: Factual | None  # rows with a usable propensity only; None when there is none
    valid: np.ndarray  # logged rows with a usable propensity (the rows of ``data``)
    reward: np.ndarray
    same: np.ndarray  # the new page shows the logged item at the logged position
    q_policy: np.ndarray


def counterfactual(cands: pd.DataFrame, new_pos: np.ndarray, reward_model: RewardModelKind,
                   rng: np.random.Generator, n_folds: int = N_FOLDS) -> Counterfactual:
    """Fit the cross-fitted reward model on logged rows and line each logged row up with the new page."""
    is_logged = cands["logged_position"].to_numpy() >= 0
    logged = cands[is_logged]
    pos = logged["logged_position"].to_numpy(np.int64)
    page = logged["page"].to_numpy()
    reward = logged["clicked"].to_numpy(np.float64)
    # The candidate the new policy puts at each logged (page, position).
    shown = np.flatnonzero(new_pos >= 0)
    at = pd.Series(shown, index=pd.MultiIndex.from_arrays([cands["page"].to_numpy()[shown], new_pos[shown]]))
    pick = at.reindex(pd.MultiIndex.from_arrays([page, pos])).to_numpy()
    if np.isnan(pick.astype(float)).any():
        raise ValueError("new page: a logged position is left empty by the re-ranking")
    pick = pick.astype(np.int64)
    same = pick == np.flatnonzero(is_logged)
    pages, page_index = np.unique(page, return_inverse=True)
    n_folds = max(1, min(n_folds, len(pages)))
    fold = fold_ids(len(pages), n_folds, rng)[page_index]  # a page is never split between folds
    group = np.zeros(len(logged), np.int64)
    x_logged = features(logged, pos)
    model = CrossFitted(reward_model, n_folds).fit(x_logged, reward.astype(np.int64), group, fold, rng)
    q_factual = model.predict(x_logged, group, fold)
    q_policy = model.predict(features(cands.iloc[pick], pos), group, fold)
    pscore = logged["propensity"].to_numpy(np.float64)
    valid = np.isfinite(pscore) & (pscore > 0)
    data = None
    if valid.any():
        data = Factual(reward[valid], pscore[valid], same[valid].astype(np.float64), q_factual[valid],
                       q_policy[valid])
    return Counterfactual(logged["slot"].to_numpy(), page, data, valid, reward, same, q_policy)


def new_policy_metrics(cf: Counterfactual, mask: np.ndarray, rng: np.random.Generator,
                       n_bootstrap: int = N_BOOTSTRAP) -> dict[str, Any]:
    """Clicks per page of the new policy on the rows ``mask``: every estimator, the headline, exact pages.

    The headline takes the observed reward on pages the new policy leaves unchanged (exact) and the DM term on
    the others; its interval is the bootstrap of those row terms. IPW, SNIPW and DR come beside it.
    """
    n_pages = len(np.unique(cf.page[mask]))
    per_page = mask.sum() / max(n_pages, 1)  # the new pages keep the logged lengths
    exact_page = pd.Series(cf.same[mask]).groupby(cf.page[mask]).transform("all").to_numpy()
    out: dict[str, Any] = {"exact_pages": int(pd.Series(exact_page).groupby(cf.page[mask]).first().sum()),
                           "rows_same_item_and_position": int(cf.same[mask].sum())}
    out["exact_page_share"] = out["exact_pages"] / max(n_pages, 1)
    estimates = {"dm": _interval(cf.q_policy[mask], rng, n_bootstrap)}
    terms = cf.q_policy.copy()
    with_p = mask[cf.valid]  # ``mask`` over the rows that carry a propensity
    out["rows_with_propensity"] = int(with_p.sum())
    if cf.data is not None and with_p.any():
        sub = Factual(*(np.asarray(getattr(cf.data, f))[with_p] for f in
                        ("reward", "pscore", "pi_e", "q_factual", "q_policy")))
        for name in ESTIMATORS:
            try:
                estimates[name] = estimate(name, sub, copy.deepcopy(rng), n_bootstrap).as_dict()
            except ValueError:  # SNIPW when the new policy never agrees with a logged row
                continue
    terms = np.where(_expand(exact_page, mask), cf.reward, terms)[mask]
    headline = "exact+dm"
    estimates[headline] = _interval(terms, rng, n_bootstrap)
    out["estimates_ctr"] = estimates
    out["estimator"] = headline
    out["clicks_per_page"] = {key: float(v * per_page) for key, v in estimates[headline].items()}
    if estimates[headline]["ci_low"] < 0:
        agree = int(cf.same[mask & cf.valid].sum()) if cf.data is not None else 0
        out["warning"] = (f"{headline}'s interval reaches below zero: the new policy agrees with {agree} logged rows "
                          "only, and small propensities make the importance weights large; read DM "
                          f"({estimates['dm']['value'] * per_page:.4f} clicks per page) beside it")
    return out


def _expand(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    full = np.zeros(len(mask), bool)
    full[mask] = values
    return full


def _interval(terms: np.ndarray, rng: np.random.Generator, n_bootstrap: int) -> dict[str, float]:
    low, high = bootstrap_interval(terms, rng, n_bootstrap)
    return {"value": float(terms.mean()), "ci_low": low, "ci_high": high}


def slot_metrics(cands: pd.DataFrame, new_pos: np.ndarray, cf: Counterfactual, k: int,
                 rng: np.random.Generator, n_bootstrap: int = N_BOOTSTRAP) -> dict[str, dict[str, Any]]:
    """Logged and new-policy metrics per slot and for all slots together."""
    is_logged = cands["logged_position"].to_numpy() >= 0
    logged = cands[is_logged]
    # nDCG of the new order of the logged items only: every gain there is observed.
    only_logged = rerank(logged, _scores_from_positions(new_pos[is_logged], logged))
    out: dict[str, dict[str, Any]] = {}
    for slot in (*SLOTS, "all"):
        m = np.ones(len(logged), bool) if slot == "all" else (logged["slot"].to_numpy() == slot)
        if not m.any():
            continue
        sub = logged[m]
        new = new_policy_metrics(cf, m, rng, n_bootstrap)
        new["ndcg"] = ndcg(sub, only_logged[m], k)
        out[slot] = {"logged": logged_metrics(sub, k), "new": new}
    return out


def _scores_from_positions(new_pos: np.ndarray, logged: pd.DataFrame) -> np.ndarray:
    """Scores that order logged rows as the new page does; rows it dropped follow in their logged order."""
    dropped = -1e6 - logged["logged_position"].to_numpy(np.float64)
    return np.where(new_pos >= 0, -new_pos.astype(np.float64), dropped)
