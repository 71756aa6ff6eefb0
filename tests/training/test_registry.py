"""Registry and promotion: log → register → promote → load champion, on a local store and a real server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import lightgbm as lgb
import numpy as np
import pytest
import typer
from mlflow import MlflowClient
from typer.testing import CliRunner

from ranking.model_store import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, LoadedModel, load_registered
from tests.model_artifacts import COLUMNS, FS, X_PROBE, FeatureSet, make_model_dir
from training.registry import RegistryError, model_name, promote, register, rollback
from training.settings import TrackingSettings
from training.tracking import log_model_run
from weitao.commands.common import State
from weitao.commands.promote import promote_cmd, rollback_cmd

SLOT = "follow_feed"


def make_model(folder: Path, *, seed: int, slot: str = SLOT) -> lgb.Booster:
    """A sealed model folder whose label follows column ``seed``; returns its head."""
    return make_model_dir(folder, seed=seed, slot=slot, label_column=seed % len(COLUMNS))


@pytest.fixture(params=["sqlite", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrackingSettings]:
    """A local SQLite store, or the real `mlflow server` with names unique to this test."""
    if request.param == "server":
        tag = uuid.uuid4().hex[:8]
        yield TrackingSettings(tracking_uri=request.getfixturevalue("mlflow_uri"), experiment=f"t-{tag}",
                               registry_prefix=f"t{tag}-", model_cache=tmp_path / "cache")
    else:
        yield TrackingSettings(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=tmp_path / "art",
                               model_cache=tmp_path / "cache")


class Trainer:
    """Logs and registers models one after another in a test."""

    def __init__(self, store: TrackingSettings, root: Path) -> None:
        self.store, self.root, self.n = store, root, 0
        self.boosters: dict[int, lgb.Booster] = {}

    def publish(self, ndcg: float, *, split: str = "split-a", slot: str = SLOT, fs: object = FS) -> int:
        self.n += 1
        booster = make_model_dir(self.root / f"m{self.n}", fs, seed=self.n, slot=slot,
                                 label_column=self.n % len(COLUMNS))
        run_id = log_model_run(self.store, slot=slot, model_dir=self.root / f"m{self.n}", params={"n": self.n},
                               metrics={"ndcg_at_10": ndcg, "click": {"auc": 0.7}}, feature_set=fs,
                               config_hash="cfg0", data_snapshot_id="snap", split_id=split)
        version = register(self.store, run_id, slot)
        self.boosters[version] = booster
        return version

    def promote(self, **kwargs: object) -> object:
        return promote(self.store, SLOT, metric="ndcg_at_10", **kwargs)  # type: ignore[arg-type]

    def champion(self) -> LoadedModel:
        return load_registered(self.store.tracking_uri, model_name(self.store, SLOT), CHAMPION, FS,
                               self.store.model_cache)

    def alias(self, alias: str) -> int | None:
        client = MlflowClient(self.store.tracking_uri, registry_uri=self.store.tracking_uri)
        rm = client.get_registered_model(model_name(self.store, SLOT))
        return int(rm.aliases[alias]) if alias in rm.aliases else None

    def version_tags(self, version: int) -> dict[str, str]:
        client = MlflowClient(self.store.tracking_uri, registry_uri=self.store.tracking_uri)
        return dict(client.get_model_version(model_name(self.store, SLOT), str(version)).tags)


@pytest.fixture
def trainer(store: TrackingSettings, tmp_path: Path) -> Trainer:
    return Trainer(store, tmp_path / "models")


def _serves(model: LoadedModel, booster: lgb.Booster) -> bool:
    return bool(np.allclose(model.boosters["click"].predict(X_PROBE), booster.predict(X_PROBE)))


def test_log_register_promote_load_and_roll_back(trainer: Trainer) -> None:
    v1 = trainer.publish(0.40)
    assert (v1, trainer.alias(CHALLENGER), trainer.alias(CHAMPION)) == (1, 1, None)
    tags = trainer.version_tags(v1)
    assert (tags["split_id"], tags["data_snapshot_id"], tags["config_hash"]) == ("split-a", "snap", "cfg0")
    first = trainer.promote()
    assert first.moved and "first promotion" in first.reason and first.champion_before is None
    loaded = trainer.champion()
    assert (loaded.version, loaded.alias) == (1, CHAMPION) and _serves(loaded, trainer.boosters[1])

    v2 = trainer.publish(0.45)
    second = trainer.promote()
    assert second.moved and (second.champion_before, second.challenger) == (1, 2)
    assert second.values == {"champion": 0.40, "challenger": 0.45}
    assert "0.4500 vs 0.4000" in second.reason
    assert trainer.version_tags(v2)["promotion.reason"] == second.reason
    assert (trainer.alias(CHAMPION), trainer.alias(PREVIOUS_CHAMPION)) == (2, 1)
    assert _serves(trainer.champion(), trainer.boosters[2])

    back = rollback(trainer.store, SLOT)
    assert back.moved and (back.champion_before, back.champion_after) == (2, 1)
    assert (trainer.alias(CHAMPION), trainer.alias(PREVIOUS_CHAMPION), trainer.alias(CHALLENGER)) == (1, None, None)
    restored = trainer.champion()
    assert restored.version == 1 and restored.checksum == loaded.checksum and _serves(restored, trainer.boosters[1])
    assert not trainer.promote().moved  # the rolled-back version is no longer a challenger
    assert "rolled back" in trainer.version_tags(v2)["promotion.decision"]


def test_a_worse_challenger_stays_with_both_values_in_the_reason(trainer: Trainer) -> None:
    trainer.publish(0.40)
    trainer.promote()
    v2 = trainer.publish(0.35)
    d = trainer.promote()
    assert not d.moved and trainer.alias(CHAMPION) == 1
    assert "does not beat champion v1" in d.reason and "0.3500 vs 0.4000" in d.reason
    assert trainer.version_tags(v2)["promotion.reason"] == d.reason
    assert trainer.version_tags(v2)["promotion.decision"] == "not promoted"


def test_a_challenger_on_another_split_is_refused_however_good(trainer: Trainer) -> None:
    trainer.publish(0.40)
    trainer.promote()
    trainer.publish(0.99, split="split-b")
    d = trainer.promote()
    assert not d.moved and trainer.alias(CHAMPION) == 1
    assert "refused" in d.reason and "'split-b'" in d.reason and "'split-a'" in d.reason


def test_a_champion_on_an_older_feature_set_is_replaced_even_by_a_worse_challenger(trainer: Trainer) -> None:
    trainer.publish(0.40)
    trainer.promote()
    trainer.publish(0.30, fs=FeatureSet(fingerprint="fp-2"), split="split-b")
    d = trainer.promote()
    assert d.moved and trainer.alias(CHAMPION) == 2 and "another feature set" in d.reason
    trainer.publish(0.20, split="split-b", fs=FeatureSet(fingerprint="fp-2"))
    assert not trainer.promote().moved  # the control: on the same feature set a worse model stays out


def test_min_delta_and_lower_is_better(trainer: Trainer) -> None:
    trainer.publish(0.40)
    trainer.promote()
    trainer.publish(0.41)
    assert not trainer.promote(min_delta=0.02).moved
    assert not trainer.promote(higher_is_better=False).moved  # 0.41 is worse when lower is better
    assert trainer.promote(min_delta=0.005).moved and trainer.alias(CHAMPION) == 2
    trainer.publish(0.30)
    d = trainer.promote(higher_is_better=False)
    assert d.moved and "lower is better" in d.reason and trainer.alias(PREVIOUS_CHAMPION) == 2


def test_edge_cases_of_the_gate(trainer: Trainer) -> None:
    assert not trainer.promote().moved  # nothing registered yet
    trainer.publish(0.40)
    trainer.promote()
    again = trainer.promote()
    assert not again.moved and "already the champion" in again.reason
    no_prev = rollback(trainer.store, SLOT)
    assert not no_prev.moved and "no previous champion" in no_prev.reason and trainer.alias(CHAMPION) == 1
    with pytest.raises(RegistryError, match="trained slot 'new_arrival', not 'follow_feed'"):
        register(trainer.store, _run_of(trainer, "new_arrival"), SLOT)


def _run_of(trainer: Trainer, slot: str) -> str:
    trainer.n += 1
    folder = trainer.root / f"m{trainer.n}"
    make_model(folder, seed=trainer.n, slot=slot)
    return log_model_run(trainer.store, slot=slot, model_dir=folder, params={}, metrics={"ndcg_at_10": 0.5},
                         feature_set=FS, config_hash="cfg0", data_snapshot_id="snap", split_id="split-a")


def test_rollback_walks_back_through_the_champion_history(trainer: Trainer) -> None:
    for ndcg in (0.40, 0.45, 0.50):
        trainer.publish(ndcg)
        trainer.promote()
    assert (trainer.alias(CHAMPION), trainer.alias(PREVIOUS_CHAMPION)) == (3, 2)
    rollback(trainer.store, SLOT)
    assert (trainer.alias(CHAMPION), trainer.alias(PREVIOUS_CHAMPION)) == (2, 1)
    rollback(trainer.store, SLOT)
    assert (trainer.alias(CHAMPION), trainer.alias(PREVIOUS_CHAMPION)) == (1, None)


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root(ctx: typer.Context, config: Annotated[Path, typer.Option("--config")]) -> None:
        ctx.obj = State(config=config)

    app.command("promote")(promote_cmd)
    app.command("rollback")(rollback_cmd)
    return app


def test_the_promote_command_prints_the_decision_and_its_reason(tmp_path: Path) -> None:
    store = TrackingSettings(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=tmp_path / "art")
    cfg = tmp_path / "w.toml"
    cfg.write_text(f"[tracking]\ntracking_uri = '{store.tracking_uri}'\nartifact_root = '{tmp_path / 'art'}'\n")
    trainer = Trainer(store, tmp_path / "models")
    trainer.publish(0.40)
    runner, app = CliRunner(), _cli()
    first = runner.invoke(app, ["--config", str(cfg), "promote", SLOT])
    assert first.exit_code == 0, first.output
    assert "promoted:firstpromotion" in _flat(first.output) and "ndcg_at_10" in first.output
    trainer.publish(0.30)
    second = runner.invoke(app, ["--config", str(cfg), "promote", SLOT])
    assert second.exit_code == 0, second.output
    assert "notpromoted" in _flat(second.output) and "0.3000vs0.4000" in _flat(second.output)
    assert "championnow│v1│0.4000" in _flat(second.output)
    back = runner.invoke(app, ["--config", str(cfg), "rollback", SLOT])
    assert back.exit_code == 0 and "nopreviouschampion" in _flat(back.output)


def _flat(text: str) -> str:
    """Output without whitespace, so that rich's line wrapping does not split phrases."""
    return "".join(text.split())
