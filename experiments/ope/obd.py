"""Off-policy evaluation on the Open Bandit Dataset sample that ships in obp's source distribution.

The campaign log is read as obp 0.5.7's ``OpenBanditDataset`` reads it (``obp/dataset/real.py``): rows
sorted by timestamp, action = item id, position = dense rank of the file's position − 1, reward = click,
pscore = propensity_score, context = one-hot user features (``pd.get_dummies(..., drop_first=True)``),
action context = label-encoded ``item_feature_1..3`` then ``item_feature_0``; n_actions = max item id + 1.

Evaluation policies:

* ``uniform``: every item equally likely at every position (obp's ``Random``). Its on-policy truth is
  the mean click of the campaign's ``random`` log (obp's ``calc_on_policy_policy_value_estimate``).
* ``bts``: the production Bernoulli Thompson sampling with the ZOZOTOWN prior (obp's ``BernoulliTS``
  with ``is_zozotown_prior=True``; ``compute_batch_action_dist``: how often each item lands at each
  position over ``n_sim`` draws from the Beta prior). The prior is read from obp's sdist
  (``obp/policy/conf/prior_bts.yaml``). Its truth is the mean click of the ``bts`` log.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from experiments.ope.estimators import N_BOOTSTRAP, Estimate, estimate_all, factual
from experiments.ope.reward import N_FOLDS, RewardModelKind, q_hat_by_action
from features.fetch import OBP

Campaign = Literal["all", "men", "women"]
Behavior = Literal["random", "bts"]
EvalPolicy = Literal["uniform", "bts"]
CAMPAIGNS: tuple[Campaign, ...] = ("all", "men", "women")
BEHAVIORS: tuple[Behavior, ...] = ("random", "bts")
POLICIES: tuple[EvalPolicy, ...] = ("uniform", "bts")
LOG_OF_POLICY: dict[str, Behavior] = {"uniform": "random", "bts": "bts"}  # whose log is the policy's truth
N_SIM = 100_000  # obp's compute_batch_action_dist default
PRIOR_MEMBER = f"{OBP[0]}-{OBP[1]}/obp/policy/conf/prior_bts.yaml"


@dataclass(frozen=True)
class BanditFeedback:
    """One campaign log in obp's ``obtain_batch_bandit_feedback`` form."""

    action: np.ndarray
    position: np.ndarray
    reward: np.ndarray
    pscore: np.ndarray
    context: np.ndarray
    action_context: np.ndarray

    @property
    def n_rounds(self) -> int:
        return len(self.action)

    @property
    def n_actions(self) -> int:
        return int(self.action.max() + 1)

    @property
    def len_list(self) -> int:
        return int(self.position.max() + 1)


@dataclass(frozen=True)
class OBDResult:
    """Estimates of one evaluation policy from one behaviour log, and the policy's on-policy truth."""

    campaign: str
    behavior: str
    policy: str
    reward_model: str
    n_rounds: int
    estimates: dict[str, Estimate]
    on_policy_truth: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """``{"ipw": {...}, "snipw": {...}, "dr": {...}, "on_policy_truth": ...}`` plus what was run."""
        out: dict[str, Any] = {name: e.as_dict() for name, e in self.estimates.items()}
        out["on_policy_truth"] = self.on_policy_truth
        out.update(campaign=self.campaign, behavior=self.behavior, policy=self.policy,
                   reward_model=self.reward_model, n_rounds=self.n_rounds, **self.extra)
        return out


def _label_encode(values: pd.Series) -> np.ndarray:
    """sklearn's LabelEncoder().fit_transform: index of each value among the sorted distinct values."""
    return np.unique(values.to_numpy().astype(str), return_inverse=True)[1]


def load_campaign(folder: Path) -> BanditFeedback:
    """Read ``obd/<behavior>/<campaign>`` as obp's OpenBanditDataset does."""
    log_path, context_path = folder / f"{folder.name}.csv", folder / "item_context.csv"
    for path in (log_path, context_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file (expected an obd/<behavior>/<campaign> folder)")
    data = pd.read_csv(log_path, index_col=0).sort_values("timestamp", kind="stable")
    items = pd.read_csv(context_path, index_col=0)
    position = np.unique(data["position"].to_numpy(), return_inverse=True)[1]  # rankdata(..., "dense") - 1
    user_cols = data.columns[data.columns.str.contains("user_feature")]
    context = pd.get_dummies(data.loc[:, user_cols], drop_first=True).to_numpy(dtype=np.float64)
    categorical = [c for c in items.columns if c not in ("item_id", "item_feature_0")]
    action_context = np.column_stack([*(_label_encode(items[c]) for c in categorical),
                                      items["item_feature_0"].to_numpy(dtype=np.float64)])
    return BanditFeedback(data["item_id"].to_numpy(np.int64), position.astype(np.int64),
                          data["click"].to_numpy(np.int64), data["propensity_score"].to_numpy(np.float64),
                          context, action_context.astype(np.float64))


def uniform_action_dist(n_rounds: int, n_actions: int, len_list: int) -> np.ndarray:
    """obp's Random policy: 1/n_actions for every action at every position."""
    return np.full((n_rounds, n_actions, len_list), 1.0 / n_actions)


def read_bts_prior(sdist: Path, campaign: str) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, beta) of the production Beta prior for ``campaign``, from obp's sdist."""
    import yaml  # PyYAML: a dependency of dask, which the project requires

    try:
        with tarfile.open(sdist, "r:gz") as tar:
            member = tar.extractfile(PRIOR_MEMBER)
            if member is None:
                raise KeyError(PRIOR_MEMBER)
            prior = yaml.safe_load(member.read())
    except (OSError, KeyError, tarfile.TarError) as e:
        raise FileNotFoundError(f"{sdist}: cannot read {PRIOR_MEMBER}: {e}") from e
    return np.asarray(prior[campaign]["alpha"], dtype=np.float64), np.asarray(prior[campaign]["beta"], np.float64)


def bts_action_dist(alpha: np.ndarray, beta: np.ndarray, n_rounds: int, len_list: int,
                    rng: np.random.Generator | np.random.RandomState, n_sim: int = N_SIM,
                    chunk: int = 10_000) -> np.ndarray:
    """obp's BernoulliTS.compute_batch_action_dist (no observed rewards): top-``len_list`` of Beta draws.

    Draws fill (simulation, action) in C order, the order of obp's one-simulation-at-a-time loop, so a
    ``RandomState(12345)`` reproduces obp's published figure exactly (tests only; runs pass a Generator).
    """
    n_actions = len(alpha)
    counts = np.zeros((n_actions, len_list))
    for start in range(0, n_sim, chunk):
        draws = rng.beta(alpha, beta, size=(min(chunk, n_sim - start), n_actions))
        top = np.argsort(-draws, axis=1)[:, :len_list]  # obp: argsort()[::-1][:len_list]
        for k in range(len_list):
            counts[:, k] += np.bincount(top[:, k], minlength=n_actions)
    return np.broadcast_to(counts / n_sim, (n_rounds, n_actions, len_list))


def sdist_of(obd_root: Path) -> Path:
    """obp's sdist beside the extracted ``obd`` folder (``features.fetch`` keeps it under ``<cache>/sdists``)."""
    return obd_root.parent.parent / "sdists" / f"{OBP[0]}-{OBP[1]}.tar.gz"


def action_dist_of(policy: str, obd_root: Path, campaign: str, log: BanditFeedback,
                   rng: np.random.Generator, n_sim: int = N_SIM) -> np.ndarray:
    """π_e of shape (n_rounds, n_actions, len_list) for evaluation policy ``policy``."""
    if policy == "uniform":
        return uniform_action_dist(log.n_rounds, log.n_actions, log.len_list)
    if policy == "bts":
        alpha, beta = read_bts_prior(sdist_of(obd_root), campaign)
        if len(alpha) != log.n_actions:
            raise ValueError(f"policy: bts prior has {len(alpha)} actions, the log {log.n_actions}")
        return bts_action_dist(alpha, beta, log.n_rounds, log.len_list, rng, n_sim)
    raise ValueError(f"policy: unknown {policy!r} (known: {', '.join(POLICIES)})")


def evaluate_open_bandit(obd_root: Path, campaign: str, behavior: str, policy: str, reward_model: RewardModelKind,
                         rng: np.random.Generator, n_bootstrap_samples: int = N_BOOTSTRAP, n_folds: int = N_FOLDS,
                         n_sim: int = N_SIM) -> OBDResult:
    """Estimate ``policy``'s value from the ``behavior`` log of ``campaign`` and compare with its own log."""
    if campaign not in CAMPAIGNS:
        raise ValueError(f"campaign: unknown {campaign!r} (known: {', '.join(CAMPAIGNS)})")
    if behavior not in BEHAVIORS:
        raise ValueError(f"behavior: unknown {behavior!r} (known: {', '.join(BEHAVIORS)})")
    if policy not in POLICIES:
        raise ValueError(f"policy: unknown {policy!r} (known: {', '.join(POLICIES)})")
    # Independent streams, so changing one step (say the reward model) leaves the others' draws unchanged.
    policy_rng, model_rng, boot_rng = rng.spawn(3)
    log = load_campaign(obd_root / behavior / campaign)
    action_dist = action_dist_of(policy, obd_root, campaign, log, policy_rng, n_sim)
    q_hat = q_hat_by_action(log.context, log.action, log.reward, log.position, log.action_context, log.len_list,
                            reward_model, model_rng, n_folds)
    data = factual(log.reward, log.action, log.position, log.pscore, action_dist, q_hat)
    estimates = estimate_all(data, boot_rng, n_bootstrap_samples)
    truth_log = load_campaign(obd_root / LOG_OF_POLICY[policy] / campaign)
    truth = float(truth_log.reward.mean())
    extra = {"relative_to_truth": {name: e.value / truth for name, e in estimates.items()},
             "behavior_mean_reward": float(log.reward.mean())}
    return OBDResult(campaign, behavior, policy, reward_model, log.n_rounds, estimates, truth, extra)
