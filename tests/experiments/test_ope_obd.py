"""Our estimators against obp 0.5.7's own code, on the Open Bandit Dataset sample from obp's sdist.

obp cannot be installed here (it needs Python < 3.11 and torch), so the functions under test are taken
from the sdist's source with ``ast`` and executed as written: ``OpenBanditDataset.load_raw_data`` and
``pre_process``, each estimator's ``_estimate_round_rewards``, and ``estimate_confidence_interval_by_bootstrap``.
They need numpy, pandas, scipy and scikit-learn only. Downloads obp's sdist once into the data cache.
"""

from __future__ import annotations

import ast
import tarfile
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata
from sklearn.preprocessing import LabelEncoder

from experiments.ope.estimators import bootstrap_interval, factual, round_rewards
from experiments.ope.obd import (
    bts_action_dist,
    load_campaign,
    read_bts_prior,
    sdist_of,
    uniform_action_dist,
)
from features.fetch import OBP, fetch_open_bandit
from features.settings import DataSettings

pytestmark = pytest.mark.slow

ROOT = f"{OBP[0]}-{OBP[1]}/obp/"
ESTIMATOR_CLASS = {"ipw": "InverseProbabilityWeighting", "snipw": "SelfNormalizedInverseProbabilityWeighting",
                   "dr": "DoublyRobust"}


@pytest.fixture(scope="module")
def obd() -> Path:
    return fetch_open_bandit(DataSettings().download_cache.expanduser())


class _Pandas3(ast.NodeTransformer):
    """The one edit obp's code needs under pandas 3: ``drop(columns=..., axis=1)`` → ``drop(columns=...)``
    (pandas 3 rejects both; ``columns=`` alone means the same)."""

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "drop":
            names = {k.arg for k in node.keywords}
            if "columns" in names:
                node.keywords = [k for k in node.keywords if k.arg != "axis"]
        return node


def obp_function(sdist: Path, module: str, name: str, namespace: dict[str, Any]) -> Any:
    """Function ``name`` (``Class.method`` or a module-level function) of obp's ``module``, as written."""
    with tarfile.open(sdist, "r:gz") as tar:
        member = tar.extractfile(ROOT + module)
        assert member is not None
        with warnings.catch_warnings():  # obp's docstrings hold invalid escape sequences
            warnings.simplefilter("ignore")
            tree = _Pandas3().visit(ast.parse(member.read().decode()))
    *owner, func = name.split(".")
    body = tree.body
    if owner:
        body = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == owner[0]).body
    node = next(n for n in body if isinstance(n, ast.FunctionDef) and n.name == func)
    node.decorator_list = []
    scope = {"np": np, "pd": pd, "Optional": Any, "Dict": dict, "rankdata": rankdata, "LabelEncoder": LabelEncoder,
             **namespace}
    exec(compile(ast.Module(body=[node], type_ignores=[]), f"obp/{module}", "exec"), scope)
    return scope[func]


def obp_feedback(sdist: Path, folder: Path) -> SimpleNamespace:
    """obp's OpenBanditDataset fields, from its own load_raw_data and pre_process."""
    ds = SimpleNamespace(data_path=folder, raw_data_file=f"{folder.name}.csv")
    with warnings.catch_warnings():  # pandas 3 deprecates obp's sort_values(inplace=True)
        warnings.simplefilter("ignore")
        obp_function(sdist, "dataset/real.py", "OpenBanditDataset.load_raw_data", {})(ds)
        obp_function(sdist, "dataset/real.py", "OpenBanditDataset.pre_process", {})(ds)
    return ds


@pytest.mark.parametrize(("behavior", "campaign"), [("bts", "all"), ("random", "men"), ("bts", "women")])
def test_the_log_reads_as_obp_reads_it(obd: Path, behavior: str, campaign: str) -> None:
    ours = load_campaign(obd / behavior / campaign)
    theirs = obp_feedback(sdist_of(obd), obd / behavior / campaign)
    for name in ("action", "position", "reward", "pscore", "context", "action_context"):
        np.testing.assert_array_equal(getattr(ours, name), np.asarray(getattr(theirs, name), dtype=np.float64),
                                      err_msg=name)
    assert ours.n_rounds == 10_000 and ours.len_list == 3


def _round_rewards_of_obp(sdist: Path, name: str, log: Any, action_dist: np.ndarray, q_hat: np.ndarray) -> Any:
    method = obp_function(sdist, "ope/estimators.py", f"{ESTIMATOR_CLASS[name]}._estimate_round_rewards", {})
    return method(SimpleNamespace(lambda_=np.inf), reward=log.reward, action=log.action, pscore=log.pscore,
                  action_dist=action_dist, position=log.position, estimated_rewards_by_reg_model=q_hat)


@pytest.mark.parametrize(("behavior", "policy"), [("bts", "uniform"), ("random", "bts")])
def test_estimates_equal_obps_on_the_real_log(obd: Path, behavior: str, policy: str) -> None:
    sdist = sdist_of(obd)
    log = load_campaign(obd / behavior / "all")
    rng = np.random.default_rng(0)
    if policy == "uniform":
        action_dist = uniform_action_dist(log.n_rounds, log.n_actions, log.len_list)
    else:
        action_dist = bts_action_dist(*read_bts_prior(sdist, "all"), log.n_rounds, log.len_list, rng, n_sim=20_000)
    q_hat = rng.uniform(0, 0.02, size=action_dist.shape)  # DR's formula does not care where q̂ comes from
    data = factual(log.reward, log.action, log.position, log.pscore, action_dist, q_hat)
    for name in ESTIMATOR_CLASS:
        theirs = _round_rewards_of_obp(sdist, name, log, action_dist, q_hat)
        np.testing.assert_array_equal(round_rewards(name, data), theirs, err_msg=name)
        assert round_rewards(name, data).mean() == theirs.mean(), name


class _SameDraws:
    """obp's bootstrap calls ``random_.choice(samples, size)``; draw the indices as ours does."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def choice(self, samples: np.ndarray, size: int) -> np.ndarray:
        return samples[self.rng.integers(0, len(samples), size=size)]


def test_bootstrap_interval_is_obps_procedure(obd: Path) -> None:
    ci = obp_function(sdist_of(obd), "utils.py", "estimate_confidence_interval_by_bootstrap",
                      {"check_confidence_interval_arguments": lambda **kw: None, "check_random_state": lambda r: r})
    log = load_campaign(obd / "bts" / "all")
    data = factual(log.reward, log.action, log.position, log.pscore,
                   uniform_action_dist(log.n_rounds, log.n_actions, log.len_list))
    samples = round_rewards("ipw", data)
    for alpha in (0.05, 0.1):
        theirs = ci(samples, alpha=alpha, n_bootstrap_samples=100, random_state=_SameDraws(np.random.default_rng(9)))
        ours = bootstrap_interval(samples, np.random.default_rng(9), 100, alpha)
        assert ours == (theirs[f"{100 * (1. - alpha)}% CI (lower)"], theirs[f"{100 * (1. - alpha)}% CI (upper)"])


def test_bts_from_the_random_log_reproduces_obps_published_figure(obd: Path) -> None:
    """obp's README (OPE of BernoulliTS from the random/all sample, n_sim=100000, random_state=12345):
    relative policy value 1.198126...; RandomState(12345) replays obp's draws."""
    log = load_campaign(obd / "random" / "all")
    alpha, beta = read_bts_prior(sdist_of(obd), "all")
    action_dist = bts_action_dist(alpha, beta, log.n_rounds, log.len_list, np.random.RandomState(12345))
    ipw = round_rewards("ipw", factual(log.reward, log.action, log.position, log.pscore, action_dist)).mean()
    assert round(ipw / log.reward.mean(), 6) == 1.198126
