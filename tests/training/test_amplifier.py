"""The amplifier's features, labels and training job on tiny hand-built contract tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from features.contract import TABLES, enum_array, ms
from ranking.model_store import load_model_dir
from training.amplifier.features import FEATURES, early_features
from training.amplifier.job import train_amplifier
from training.amplifier.label import public_lift
from training.amplifier.log import PostLog
from training.amplifier.model import AmplifierFeatureSet, AmplifierModel
from training.amplifier.settings import AmplifierSettings
from training.registry import model_name
from training.settings import TrackingSettings
from weitao.commands.train import train_amplifier_and_register
from weitao.settings import Settings

T0 = 1_790_000_000_000  # publish time of post 0
H, M, S = 3_600_000, 60_000, 1000
ACT = {a: i for i, a in enumerate(("impression", "click", "dwell", "like", "comment", "share", "follow",
                                   "unfollow", "cart", "purchase"))}
SLOT = {"follow_feed": 0, "hotlist": 2}
# Priors shrunk to nothing, so that rates are the raw hand-counted ratios.
EXACT = AmplifierSettings(early_hours=1.0, fan_prior_impressions=1e-9, baseline_prior_impressions=1e-9)


class World:
    """Contract tables written row by row: posts, users, follows and events."""

    def __init__(self, n_users: int = 400, n_accounts: int = 2) -> None:
        self.n_users, self.n_accounts = n_users, n_accounts
        self.user_created = np.full(n_users, T0 - 400 * 24 * H)
        self.posts: list[tuple[int, int, int, int]] = []  # account, kind, format, created
        self.follows: list[tuple[int, int, int, int | None]] = []
        self.events: list[tuple[int, int, int, int, int, int, float | None]] = []

    def post(self, account: int = 0, created: int = T0, kind: int = 0, fmt: int = 0) -> int:
        self.posts.append((account, kind, fmt, created))
        return len(self.posts) - 1

    def fan(self, user: int, account: int = 0, since: int = T0 - 100 * H) -> None:
        self.follows.append((user, account, since, None))

    def on_post(self, user: int, post: int, action: str, t: int, dwell: float | None = None,
                slot: str = "follow_feed") -> None:
        self.events.append((user, 0, post, ACT[action], SLOT[slot], t, dwell))

    def unfollow(self, user: int, account: int, t: int) -> None:
        self.events.append((user, 2, account, ACT["unfollow"], 3, t, None))

    def tables(self) -> dict[str, pa.Table]:
        a = self.n_accounts
        p = np.array(self.posts, np.int64).reshape(-1, 4)
        f = self.follows
        e = self.events
        t = {
            "accounts": {"account_id": np.arange(a), "kind": enum_array("account_kind", np.zeros(a)),
                         "tier": enum_array("tier", np.ones(a)), "tier_state": enum_array("tier_state", np.ones(a)),
                         "preferred_shop": np.zeros(a, bool), "category": np.zeros(a, np.int32),
                         "created_at": ms(np.full(a, T0 - 500 * 24 * H))},
            "users": {"user_id": np.arange(self.n_users), "created_at": ms(self.user_created)},
            "products": {"product_id": np.zeros(0, np.int64), "shop_id": np.zeros(0, np.int64),
                         "category": np.zeros(0, np.int32), "price": np.zeros(0), "launched_at": ms(np.zeros(0))},
            "posts": {"post_id": np.arange(len(p)), "account_id": p[:, 0], "kind": enum_array("post_kind", p[:, 1]),
                      "format": enum_array("post_format", p[:, 2]),
                      "visibility": enum_array("visibility", np.zeros(len(p))), "created_at": ms(p[:, 3]),
                      "product_ids": pa.array([[] for _ in range(len(p))], pa.list_(pa.int64()))},
            "follows": {"user_id": [r[0] for r in f], "account_id": [r[1] for r in f],
                        "followed_at": ms(np.array([r[2] for r in f], np.int64)),
                        "unfollowed_at": pa.array([None] * len(f), pa.int64()).cast(pa.timestamp("ms", "UTC"))},
            "events": {"event_id": np.arange(len(e)), "user_id": [r[0] for r in e],
                       "target_type": enum_array("target_type", np.array([r[1] for r in e])),
                       "target_id": [r[2] for r in e], "action": enum_array("action", np.array([r[3] for r in e])),
                       "slot": enum_array("slot", np.array([r[4] for r in e])),
                       "source": enum_array("source", np.zeros(len(e))),
                       "event_time": ms(np.array([r[5] for r in e], np.int64)),
                       "dwell_seconds": pa.array([r[6] for r in e], pa.float32()),
                       "position": pa.array([None] * len(e), pa.int16()),
                       "request_id": pa.array([None] * len(e), pa.int64()),
                       "propensity": pa.array([None] * len(e), pa.float64()),
                       "amount": pa.array([None] * len(e), pa.float64())},
        }
        return {name: pa.table(cols, schema=TABLES[name].schema) for name, cols in t.items()}


def forty_percent_world() -> World:
    """Post 0: ten fans see it in its first 10 minutes; four of them read it for 20 s within the hour."""
    w = World()
    w.post()
    for u in range(10):
        w.fan(u)
        w.on_post(u, 0, "impression", T0 + 5 * M + u * S)
    for u in range(4):
        w.on_post(u, 0, "click", T0 + 20 * M + u * S)
        w.on_post(u, 0, "dwell", T0 + 20 * M + u * S + 20 * S, dwell=20.0)
    return w


def features_of(w: World, post: int = 0, s: AmplifierSettings = EXACT) -> dict[str, float]:
    X = early_features(PostLog.from_tables(w.tables()), np.array([post]), s)
    return dict(zip(FEATURES, X[0].tolist(), strict=True))


def test_fans_engaging_forty_percent_in_the_first_hour() -> None:
    f = features_of(forty_percent_world())
    assert f["fan_impressions"] == 10
    assert f["fan_engagement_rate"] == pytest.approx(0.4)
    assert f["velocity"] == 4 and f["acceleration"] == 4  # all four in the last hour, none in the hour before
    assert f["distinct_engagers"] == 4
    assert f["rate_vs_cell"] == pytest.approx(1.0)  # the post is its cell's only history
    assert f["fan_log_dwell"] == pytest.approx(np.log(20.0))
    assert f["lockstep_share"] == 0 and f["new_or_dormant_share"] == 0 and f["negative_feedback"] == 0


def test_events_at_or_after_the_cut_off_are_not_seen() -> None:
    before = features_of(forty_percent_world())
    w = forty_percent_world()
    for u in range(4, 10):  # the other six fans read it at the cut-off and later
        w.on_post(u, 0, "dwell", T0 + H + u * S, dwell=30.0)
    w.unfollow(9, 0, T0 + H)
    other = w.post(created=T0 - 5 * H)  # another post of the cell, engaged after post 0's cut-off
    w.on_post(9, other, "impression", T0 + 2 * H)
    w.on_post(9, other, "dwell", T0 + 2 * H, dwell=50.0)
    assert features_of(w) == before


def test_a_lockstep_burst_gives_a_high_lockstep_share() -> None:
    w = forty_percent_world()
    farm = [300, 301, 302]
    for p in range(3):  # the farm likes three earlier posts seconds apart
        q = w.post(account=1, created=T0 - 10 * H)
        for i, u in enumerate(farm):
            w.on_post(u, q, "like", T0 - 5 * H + p * M + i * S)
    for i, u in enumerate(farm):
        w.on_post(u, 0, "like", T0 + 30 * M + i * S)
    f = features_of(w)
    # engagers of post 0 for lockstep: the four readers' clicks and the three farm accounts' likes
    assert f["lockstep_share"] == pytest.approx(3 / 7)
    assert features_of(forty_percent_world())["lockstep_share"] == 0


def test_new_users_and_unfollows_are_counted() -> None:
    w = forty_percent_world()
    w.user_created[0] = T0 - 2 * 24 * H  # one of the four readers registered two days ago
    w.unfollow(5, 0, T0 + 40 * M)
    f = features_of(w)
    assert f["new_or_dormant_share"] == pytest.approx(1 / 4)
    assert f["negative_feedback"] == pytest.approx(1 / 10)


def test_label_is_public_lift_over_the_kind_format_baseline() -> None:
    w = World()
    good, plain, thin = w.post(), w.post(), w.post()
    for post, views in ((good, 30), (plain, 10)):
        for u in range(100):
            w.on_post(100 + u, post, "impression", T0 + 3 * H, slot="hotlist")
            if u < views:
                w.on_post(100 + u, post, "dwell", T0 + 3 * H + S, dwell=15.0, slot="hotlist")
    for u in range(20):
        w.on_post(100 + u, thin, "impression", T0 + 3 * H, slot="hotlist")
    w.fan(0)  # a fan's hotlist impressions and reads are not public signal
    for _ in range(50):
        w.on_post(0, plain, "impression", T0 + 4 * H, slot="hotlist")
        w.on_post(0, plain, "dwell", T0 + 4 * H, dwell=60.0, slot="hotlist")
    s = AmplifierSettings(min_label_impressions=50, baseline_prior_impressions=1e-9, label_prior=2.0)
    labels = public_lift(PostLog.from_tables(w.tables()), s)
    assert labels.post.tolist() == [good, plain]
    # the cell's baseline: 40 non-fan reads of 220 non-fan impressions (the unlabelled thin post's count too)
    assert labels.baseline == pytest.approx([40 / 220, 40 / 220])
    assert labels.lift == pytest.approx(np.log([(30 + 2) / (100 * 40 / 220 + 2), (10 + 2) / (100 * 40 / 220 + 2)]))


def synthetic_world(n_posts: int = 90, seed: int = 0) -> tuple[World, np.ndarray]:
    """Posts a day apart in hours whose fans and non-fans read them with probability set by a hidden appeal."""
    rng = np.random.default_rng(seed)
    w = World(n_users=300)
    appeal = rng.uniform(0.05, 0.6, n_posts)
    for u in range(20):
        w.fan(u)
    for p in range(n_posts):
        created = T0 + p * 2 * H
        w.post(created=created, kind=p % 2)
        for u in range(20):
            w.on_post(u, p, "impression", created + 10 * M + u * S)
            if rng.random() < appeal[p]:
                w.on_post(u, p, "dwell", created + 30 * M + u * S, dwell=20.0)
        for u in range(60):
            t = created + 3 * H + u * S
            w.on_post(100 + u, p, "impression", t, slot="hotlist")
            if rng.random() < appeal[p]:
                w.on_post(100 + u, p, "dwell", t + S, dwell=20.0, slot="hotlist")
    return w, appeal


def test_training_learns_public_lift_from_fan_signals() -> None:
    w, appeal = synthetic_world()
    log = PostLog.from_tables(w.tables())
    s = AmplifierSettings(min_label_impressions=50, n_estimators=50, min_child_samples=5)
    result = train_amplifier(log, s, split_ms=T0 + 60 * 2 * H, appeal=appeal)
    m = result.metrics
    assert m["train_rows"] == 60 and m["rows"] == 30
    assert m["spearman"] > 0.5 and m["auc_positive_lift"] > 0.7  # fans' reads predict non-fans' reads
    assert m["appeal_spearman_held_out"] > 0.5


def test_train_and_register_into_mlflow(tmp_path: Path) -> None:
    w, appeal = synthetic_world(60)
    tracking = TrackingSettings(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=tmp_path / "art")
    settings = Settings(tracking=tracking, amplifier=AmplifierSettings(
        min_label_impressions=50, n_estimators=20, min_child_samples=5, holdout_days=1.0))
    result, run_id, version = train_amplifier_and_register(settings, w.tables(), appeal)
    assert version == 1 and run_id
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking.tracking_uri, registry_uri=tracking.tracking_uri)
    run = client.get_run(run_id)
    assert run.data.tags["slot"] == "amplifier"
    assert run.data.metrics["spearman"] == pytest.approx(result.metrics["spearman"])
    assert "appeal_spearman_all" in run.data.metrics
    mv = client.get_model_version_by_alias(model_name(tracking, "amplifier"), "challenger")
    assert int(mv.version) == 1
    folder = result.save(tmp_path / "model", settings.config_hash())
    assert load_model_dir(folder, AmplifierFeatureSet()).meta["kind"] == "amplifier"
    X = result.held_out["X"]
    assert np.array_equal(AmplifierModel.load(folder).predict(X), result.model.predict(X))
    # The registered version's pyfunc predicts the lift as the model does (loaded from code, no pickle).
    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(tracking.tracking_uri)
    try:
        pyfunc = mlflow.pyfunc.load_model(mv.tags["pyfunc_uri"])
    finally:
        mlflow.set_tracking_uri(None)
    frame = pd.DataFrame(X.astype(np.float64), columns=list(AmplifierFeatureSet().columns))
    out = pyfunc.predict(frame)
    np.testing.assert_allclose(out["lift"], result.model.predict(X))
    np.testing.assert_allclose(out["raw"], result.model.predict_raw(X))
    assert [c.name for c in pyfunc.metadata.get_output_schema().inputs] == list(out.columns)


def test_cli_trains_with_the_truth_check_and_promotes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from features.storage import write_dataset
    from weitao.cli import app

    w, appeal = synthetic_world(60)
    truth = pa.table({"post_id": np.arange(len(appeal)), "public_appeal": appeal})
    data = write_dataset(tmp_path / "data", w.tables(), truth={"posts": truth})
    cfg = tmp_path / "w.toml"
    cfg.write_text(f'[tracking]\ntracking_uri = "sqlite:///{tmp_path}/mlflow.db"\nartifact_root = "{tmp_path}/art"\n'
                   "[amplifier]\nmin_label_impressions = 50\nn_estimators = 20\nmin_child_samples = 5\n"
                   "holdout_days = 1.0\n")
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "amplifier", "--config", str(cfg), "--data", str(data)])
    assert trained.exit_code == 0, trained.output
    assert "appeal_spearman_held_out" in trained.output and "registered version 1 as challenger" in trained.output
    promoted = runner.invoke(app, ["--config", str(cfg), "promote", "amplifier"])
    assert promoted.exit_code == 0 and "first promotion" in promoted.output
    cfg.write_text(cfg.read_text() + "typo = 1\n")
    refused = runner.invoke(app, ["train", "amplifier", "--config", str(cfg), "--data", str(data)])
    assert refused.exit_code == 2 and "amplifier.typo" in refused.output


def test_dormant_engagers_are_those_silent_for_a_week() -> None:
    w = forty_percent_world()
    old = w.post(account=1, created=T0 - 11 * 24 * H)
    for u in range(4):  # the four readers were last seen ten days ago ...
        w.on_post(u, old, "impression", T0 - 10 * 24 * H)
    w.on_post(1, old, "impression", T0 - 24 * H)  # ... except reader 1, seen yesterday
    assert features_of(w)["new_or_dormant_share"] == pytest.approx(3 / 4)
