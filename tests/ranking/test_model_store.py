"""Loading model folders: checksums, feature-set checks, corrupt artifacts, the registry cache."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import orjson
import pytest

from features import definitions
from features.featuresets import get_feature_set
from ranking.model_store import (
    CHAMPION,
    CorruptArtifact,
    FeatureSetLike,
    FeatureSetMismatch,
    LoadedModel,
    ModelNotFound,
    load_model_dir,
    load_registered,
    seal_model_dir,
)
from tests.model_artifacts import COLUMNS, FS, X_PROBE, FeatureSet, make_model_dir
from training.registry import model_name, promote, register
from training.settings import TrackingSettings
from training.tracking import log_model_run


def make_model(folder: Path, fs: FeatureSetLike = FS, *, seed: int = 0, config_hash: str = "cfg0") -> lgb.Booster:
    """A sealed model folder with a JSON calibration beside its head; returns the head."""
    calibration = orjson.dumps({"click": {"a": 1.0, "b": 0.0}})
    return make_model_dir(folder, fs, seed=seed, config_hash=config_hash, side_files={"calibration.json": calibration})


def test_a_sealed_folder_loads_and_predicts_like_the_trained_booster(tmp_path: Path) -> None:
    booster = make_model(tmp_path / "m")
    checksum = seal_model_dir(tmp_path / "m")  # sealing twice is stable
    model = load_model_dir(tmp_path / "m", FS)
    assert model.checksum == checksum and model.version is None
    assert set(model.meta["files"]) == {"head_click.txt", "calibration.json"}
    np.testing.assert_allclose(model.boosters["click"].predict(X_PROBE), booster.predict(X_PROBE))


def test_a_byte_changed_after_sealing_is_a_corrupt_artifact(tmp_path: Path) -> None:
    make_model(tmp_path / "m")
    head = tmp_path / "m" / "head_click.txt"
    head.write_text(head.read_text().replace("num_leaves=4", "num_leaves=5", 1))
    with pytest.raises(CorruptArtifact, match=r"checksum of head_click\.txt"):
        load_model_dir(tmp_path / "m", FS)


@pytest.mark.parametrize("parser", ["lleaves", "lightgbm"])
@pytest.mark.parametrize("damage", ["not a tree", "truncated"])
def test_unparsable_lightgbm_text_is_a_corrupt_artifact_even_when_sealed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parser: str, damage: str) -> None:
    """Heads are parsed tree by tree at load: by lleaves' parser where it is installed (a serving worker then
    never imports LightGBM), by LightGBM's where it is not."""
    if parser == "lightgbm":
        monkeypatch.setitem(sys.modules, "lleaves", None)  # as on a machine without lleaves
    make_model(tmp_path / "m")
    assert load_model_dir(tmp_path / "m", FS).boosters["click"].num_feature() == len(FS.columns)  # control
    head = tmp_path / "m" / "head_click.txt"
    text = head.read_text()
    head.write_text("this is not a tree\n" if damage == "not a tree" else text[: text.index("Tree=1") + 40])
    seal_model_dir(tmp_path / "m")
    with pytest.raises(CorruptArtifact, match=r"head 'click'.*not LightGBM model text"):
        load_model_dir(tmp_path / "m", FS)


def test_a_folder_parsed_before_is_not_parsed_again_but_still_verified(tmp_path: Path) -> None:
    """A serving worker loads what the serving process parsed before naming it (``parsed_before``): the trees are
    not parsed again, the bytes are still checked against the checksum."""
    make_model(tmp_path / "m")
    head = tmp_path / "m" / "head_click.txt"
    text = head.read_text()
    head.write_text(text[: text.index("Tree=1") + 40])  # sealed as it is: only a parse can tell it is broken
    checksum = seal_model_dir(tmp_path / "m")
    with pytest.raises(CorruptArtifact, match="not LightGBM model text"):  # the control: a parse catches it
        load_model_dir(tmp_path / "m", FS, checksum=checksum)
    loaded = load_model_dir(tmp_path / "m", FS, checksum=checksum, parsed_before=True)
    assert loaded.boosters.texts["click"] == head.read_text()  # read, not parsed
    with pytest.raises(CorruptArtifact, match="checksum"):  # and still verified against the checksum
        load_model_dir(tmp_path / "m", FS, checksum="0" * 64, parsed_before=True)
    with pytest.raises(ValueError, match="parsed_before"):
        load_model_dir(tmp_path / "m", FS, parsed_before=True)


@pytest.mark.parametrize(
    ("damage", "message"),
    [(lambda d: (d / "meta.json").unlink(), "meta.json is missing"),
     (lambda d: (d / "calibration.json").unlink(), "calibration.json listed in meta.json is missing"),
     (lambda d: (d / "meta.json").write_text("{not json"), "not valid JSON")],
)
def test_missing_or_broken_files_are_corrupt_artifacts(tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    make_model(tmp_path / "m")
    damage(tmp_path / "m")
    with pytest.raises(CorruptArtifact, match=message):
        load_model_dir(tmp_path / "m", FS)


def test_a_pickle_in_the_folder_is_refused(tmp_path: Path) -> None:
    make_model(tmp_path / "m")
    (tmp_path / "m" / "calibration.pkl").write_bytes(b"\x80\x04K\x01.")
    seal_model_dir(tmp_path / "m")
    with pytest.raises(CorruptArtifact, match="pickled"):
        load_model_dir(tmp_path / "m", FS)


def test_a_recorded_checksum_that_differs_is_a_corrupt_artifact(tmp_path: Path) -> None:
    make_model(tmp_path / "m")
    with pytest.raises(CorruptArtifact, match="differs from the recorded"):
        load_model_dir(tmp_path / "m", FS, checksum="0" * 64)


@pytest.mark.parametrize(
    ("code_fs", "message"),
    [(FeatureSet(columns=("follower_ctr_7d", "post_age_days", "account_tier", "is_fan")),
      r"'follow_feed' v1.*position 1: model has 'post_age_hours', code has 'post_age_days'"),
     (FeatureSet(columns=(*COLUMNS, "price")), r"'follow_feed' v1.*position 4: 'price' exists only in the code"),
     (FeatureSet(columns=COLUMNS[:3]), r"position 3: 'is_fan' exists only in the model"),
     (FeatureSet(name="new_arrival"), r"feature set 'follow_feed' v1, the code computes 'new_arrival' v1"),
     (FeatureSet(version=2, fingerprint="fp-2"), r"same columns.*different definition \(fingerprint fp-1 vs fp-2\)")],
)
def test_a_different_feature_set_is_refused_naming_set_and_column(
    tmp_path: Path, code_fs: FeatureSet, message: str
) -> None:
    make_model(tmp_path / "m")
    with pytest.raises(FeatureSetMismatch, match=message):
        load_model_dir(tmp_path / "m", code_fs)


def test_the_engines_own_feature_sets_fit_the_loader(tmp_path: Path) -> None:
    follow, other = get_feature_set("follow_feed_v1"), get_feature_set("new_arrival_v1")
    make_model(tmp_path / "m", follow)
    assert load_model_dir(tmp_path / "m", follow).meta["feature_set"]["fingerprint"] == follow.fingerprint
    with pytest.raises(definitions.FeatureSetMismatch, match=r"'follow_feed_v1' v1.*'new_arrival_v1' v1"):
        load_model_dir(tmp_path / "m", other)  # the features-layer error class catches it too


# ---------------------------------------------------------------- through the registry (local SQLite store)


@pytest.fixture
def store(tmp_path: Path) -> TrackingSettings:
    return TrackingSettings(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=tmp_path / "artifacts",
                            model_cache=tmp_path / "cache")


def publish(store: TrackingSettings, folder: Path, *, ndcg: float, fs: FeatureSet = FS, seed: int = 0) -> str:
    """Train, log, register and try to promote one model; return its run id."""
    make_model(folder, fs, seed=seed)
    run_id = log_model_run(store, slot="follow_feed", model_dir=folder, params={"seed": seed},
                           metrics={"ndcg_at_10": ndcg}, feature_set=fs, config_hash="cfg0",
                           data_snapshot_id="snap", split_id="split-a")
    register(store, run_id, "follow_feed")
    promote(store, "follow_feed", metric="ndcg_at_10")
    return run_id


def load_champion(store: TrackingSettings, fs: FeatureSet = FS) -> LoadedModel:
    return load_registered(store.tracking_uri, model_name(store, "follow_feed"), CHAMPION, fs, store.model_cache)


def _artifact_dir(store: TrackingSettings, run_id: str) -> Path:
    from mlflow import MlflowClient

    uri = MlflowClient(store.tracking_uri).get_run(run_id).info.artifact_uri
    return Path(uri.removeprefix("file://")) / "model"


def test_the_champion_is_downloaded_once_into_a_cache_keyed_by_checksum(
    tmp_path: Path, store: TrackingSettings
) -> None:
    run_id = publish(store, tmp_path / "m1", ndcg=0.4)
    first = load_champion(store)
    assert first.path == store.model_cache / first.checksum and (first.version, first.alias) == (1, CHAMPION)
    for f in _artifact_dir(store, run_id).iterdir():  # the store loses the files: the cache must answer
        f.unlink()
    again = load_champion(store)
    assert again.path == first.path and again.checksum == first.checksum


def test_a_damaged_cache_entry_is_fetched_again(tmp_path: Path, store: TrackingSettings) -> None:
    publish(store, tmp_path / "m1", ndcg=0.4)
    first = load_champion(store)
    (first.path / "head_click.txt").write_text("garbage")
    again = load_champion(store)
    np.testing.assert_allclose(again.boosters["click"].predict(X_PROBE), first.boosters["click"].predict(X_PROBE))


def test_a_failed_load_leaves_the_previous_model_and_the_aliases_alone(tmp_path: Path, store: TrackingSettings) -> None:
    from mlflow import MlflowClient

    publish(store, tmp_path / "m1", ndcg=0.40)
    served = load_champion(store)
    expected = served.boosters["click"].predict(X_PROBE)
    other_fs = FeatureSet(columns=("follower_ctr_7d", "post_age_days", "account_tier", "is_fan"))
    publish(store, tmp_path / "m2", ndcg=0.45, fs=other_fs, seed=1)  # champion is now v2 on other columns
    with pytest.raises(FeatureSetMismatch, match="post_age_hours"):
        load_champion(store)
    run3 = publish(store, tmp_path / "m3", ndcg=0.50, fs=other_fs, seed=2)  # champion is now v3, then damaged
    (_artifact_dir(store, run3) / "head_click.txt").write_text("truncated")
    with pytest.raises(CorruptArtifact, match=r"checksum of head_click\.txt"):
        load_champion(store, other_fs)
    client = MlflowClient(store.tracking_uri, registry_uri=store.tracking_uri)
    assert client.get_model_version_by_alias(model_name(store, "follow_feed"), CHAMPION).version == 3
    assert sorted(p.name for p in store.model_cache.iterdir()) == [served.checksum]  # nothing bad entered
    np.testing.assert_allclose(served.boosters["click"].predict(X_PROBE), expected)
    assert load_model_dir(served.path, FS, checksum=served.checksum).checksum == served.checksum


def test_an_unknown_alias_or_store_is_model_not_found(tmp_path: Path, store: TrackingSettings) -> None:
    with pytest.raises(ModelNotFound, match="no tracking store"):
        load_champion(store)
    assert not os.path.exists(tmp_path / "mlflow.db")  # loading is read-only: it created nothing
    publish(store, tmp_path / "m1", ndcg=0.4)
    with pytest.raises(ModelNotFound, match="alias 'nope'"):
        load_registered(store.tracking_uri, model_name(store, "follow_feed"), "nope", FS, store.model_cache)
    with pytest.raises(ModelNotFound):
        load_registered(store.tracking_uri, "weitao-absent", CHAMPION, FS, store.model_cache)
