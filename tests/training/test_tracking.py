"""Logging runs: what a run records, what it refuses, and that the default store needs no set-up."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import numpy as np
import orjson
import pytest
from matplotlib.figure import Figure
from mlflow import MlflowClient

from ranking.model_store import CHECKSUM_TAG, meta_checksum, seal_model_dir
from tests.model_artifacts import COLUMNS, FS, FeatureSet, make_model_dir
from training.settings import TrackingSettings
from training.tracking import TrackingError, flatten, log_model_run
from weitao.settings import load_settings

matplotlib.use("Agg")

def make_model(folder: Path, fs: FeatureSet = FS, *, slot: str = "follow_feed", config_hash: str = "cfg0") -> str:
    """A sealed model folder with a calibration file beside its head; returns its checksum."""
    buffer = io.BytesIO()
    np.savez(buffer, click=np.array([1.0, 0.0]))
    make_model_dir(folder, fs, slot=slot, config_hash=config_hash, side_files={"calibration.npz": buffer.getvalue()})
    return seal_model_dir(folder)


@pytest.fixture(params=["sqlite", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrackingSettings]:
    """The same tests against a local SQLite store and a real `mlflow server` (unique names per test)."""
    if request.param == "server":
        uri = request.getfixturevalue("mlflow_uri")
        yield TrackingSettings(tracking_uri=uri, experiment=f"t-{uuid.uuid4().hex[:8]}")
    else:
        yield TrackingSettings(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=tmp_path / "art")


def client_of(store: TrackingSettings) -> MlflowClient:
    return MlflowClient(store.tracking_uri, registry_uri=store.tracking_uri)


def log(store: TrackingSettings, folder: Path, **overrides: object) -> str:
    kwargs: dict[str, object] = dict(
        slot="follow_feed", model_dir=folder, params={"lgbm": {"num_leaves": 4, "eta": 0.1}, "seed": 3},
        metrics={"click": {"auc": 0.71, "logloss": 0.52}, "like": {"auc": 0.66}, "ndcg_at_10": 0.41},
        feature_set=FS, config_hash="cfg0", data_snapshot_id="snap-2026-10-14", split_id="split-a",
    )
    kwargs.update(overrides)
    return log_model_run(store, **kwargs)  # type: ignore[arg-type]


def test_a_run_records_params_metrics_feature_set_ids_plots_and_model(
    store: TrackingSettings, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    checksum = make_model(tmp_path / "m")
    fig = Figure()
    fig.add_subplot().plot([0, 1], [0, 1])
    png = tmp_path / "lift.png"
    fig.savefig(png, format="png")
    capfd.readouterr()
    run_id = log(store, tmp_path / "m", plots={"calibration": fig, "lift": png}, tags={"owner": "lead"})
    out, err = capfd.readouterr()
    assert "View run" not in out + err and "INFO" not in err  # MLflow stays quiet
    client = client_of(store)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"click.auc": 0.71, "click.logloss": 0.52, "like.auc": 0.66, "ndcg_at_10": 0.41}
    p = run.data.params
    assert p["lgbm.num_leaves"] == "4" and p["seed"] == "3"
    assert p["feature_set"] == "follow_feed@1" and p["feature_set.fingerprint"] == "fp-1"
    assert p["feature_set.columns"] == ",".join(COLUMNS)
    assert (p["config_hash"], p["data_snapshot_id"], p["split_id"]) == ("cfg0", "snap-2026-10-14", "split-a")
    t = run.data.tags
    assert (t["slot"], t["split_id"], t[CHECKSUM_TAG], t["owner"]) == ("follow_feed", "split-a", checksum, "lead")
    dst = Path(client.download_artifacts(run_id, "", str(tmp_path / "dl")))
    assert orjson.loads((dst / "feature_set.json").read_bytes())["columns"] == list(COLUMNS)
    for name in ("calibration", "lift"):
        assert (dst / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    logged_meta = orjson.loads((dst / "model" / "meta.json").read_bytes())
    assert meta_checksum(logged_meta) == checksum
    assert {f.name for f in (dst / "model").iterdir()} == {"meta.json", "head_click.txt", "calibration.npz"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"slot": "new_arrival"}, "slot 'follow_feed', not 'new_arrival'"),
     ({"config_hash": "cfg9"}, "built with config cfg0, the run claims cfg9"),
     ({"feature_set": FeatureSet(fingerprint="fp-2", version=2)}, "refusing to log.*different definition"),
     ({"metrics": {"click": {"auc": "high"}}}, "metric 'click.auc' must be a number"),
     ({"params": {"split_id": "x"}}, r"params \['split_id'\] are reserved"),
     ({"tags": {"model_checksum": "x"}}, r"tags \['model_checksum'\] are reserved")],
)
def test_a_model_or_arguments_that_do_not_fit_are_refused_before_a_run_exists(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    store = TrackingSettings(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=tmp_path / "art")
    make_model(tmp_path / "m")
    with pytest.raises(TrackingError, match=message):
        log(store, tmp_path / "m", **overrides)
    assert not (tmp_path / "mlflow.db").exists()  # refused before the store was even opened


def test_an_unsealed_change_to_the_model_is_refused(tmp_path: Path) -> None:
    store = TrackingSettings(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=tmp_path / "art")
    make_model(tmp_path / "m")
    (tmp_path / "m" / "head_click.txt").write_text("edited after sealing")
    with pytest.raises(TrackingError, match=r"checksum of head_click\.txt"):
        log(store, tmp_path / "m")


def test_a_plot_that_is_not_a_png_marks_the_run_failed(tmp_path: Path) -> None:
    store = TrackingSettings(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=tmp_path / "art")
    make_model(tmp_path / "m")
    (tmp_path / "plot.png").write_text("not an image")
    with pytest.raises(TrackingError, match="is not a PNG"):
        log(store, tmp_path / "m", plots={"lift": tmp_path / "plot.png"})
    client = client_of(store)
    (run,) = client.search_runs([client.get_experiment_by_name(store.experiment).experiment_id])
    assert run.info.status == "FAILED"


def test_the_default_store_is_local_and_needs_no_set_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.tracking.tracking_uri == "sqlite:///mlruns/mlflow.db"
    make_model(tmp_path / "m")
    run_id = log(settings, tmp_path / "m")  # the root settings are accepted as well as the section
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()
    stored = list((tmp_path / "mlruns" / "artifacts").rglob("model/meta.json"))  # not the pyfunc's copy
    assert len(stored) == 1 and run_id in str(stored[0])


def test_tracking_settings_come_from_the_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text("[tracking]\ntracking_uri = 'http://127.0.0.1:5000'\npromotion_metric = 'auc'\n")
    s = load_settings(cfg)
    assert (s.tracking.tracking_uri, s.tracking.promotion_metric, s.tracking.registry_prefix) == (
        "http://127.0.0.1:5000", "auc", "weitao-")
    monkeypatch.setenv("WEITAO_TRACKING__PROMOTION_MIN_DELTA", "0.01")
    assert load_settings(cfg).tracking.promotion_min_delta == 0.01
    cfg.write_text("[tracking]\npromotion_metrik = 'auc'\n")
    with pytest.raises(ValueError, match=r"tracking\.promotion_metrik"):
        load_settings(cfg)


def test_flatten_joins_nested_keys_with_dots() -> None:
    assert dict(flatten({"a": {"b": {"c": 1}}, "d": 2})) == {"a.b.c": 1, "d": 2}


def test_no_pyfunc_when_turned_off(tmp_path: Path) -> None:
    """``tracking.pyfunc = false``: the run has the model folder, and neither a pyfunc nor its tag."""
    on = TrackingSettings(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=tmp_path / "art")
    make_model(tmp_path / "m")
    with_pyfunc, without = log(on, tmp_path / "m"), log(on.model_copy(update={"pyfunc": False}), tmp_path / "m")
    client = client_of(on)
    assert "pyfunc_uri" in client.get_run(with_pyfunc).data.tags  # the control: on by default
    assert "pyfunc_uri" not in client.get_run(without).data.tags
    assert {a.path for a in client.list_artifacts(without)} >= {"model"}
    assert "pyfunc" not in {a.path for a in client.list_artifacts(without)}
    assert "pyfunc" in {a.path for a in client.list_artifacts(with_pyfunc)}
