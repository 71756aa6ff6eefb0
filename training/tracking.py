"""Logging training runs to MLflow: the one module that writes runs (``ranking.model_store`` reads them back).

A run records everything needed to trust and reproduce a model: parameters, metrics (per head and per
slot), the feature set with its column order, the config hash, the data snapshot and split ids, plots as
PNG, and the sealed model folder under ``model/``. No pickles: the folder holds LightGBM text, JSON, npz.
The model is also logged as an MLflow ``pyfunc`` under ``pyfunc/`` (:mod:`training.pyfunc`: code and a
copy of the folder, loaded without unpickling), for MLflow's own tools.
"""

from __future__ import annotations

import numbers
import re
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.utils.time import get_current_time_millis

from ranking.model_store import (
    CHECKSUM_TAG,
    MODEL_ARTIFACT_DIR,
    FeatureSetLike,
    LoadedModel,
    ModelStoreError,
    load_model_dir,
    quiet_mlflow,
    silenced,
)
from training.settings import TrackingSettings

# Tags every weitao run carries; promotion compares `split_id`, loading checks `model_checksum`.
RUN_TAGS = ("slot", "split_id", "data_snapshot_id", "config_hash", "feature_set", "model_kind", CHECKSUM_TAG)
FEATURE_SET_ARTIFACT = "feature_set.json"
PLOTS_DIR = "plots"
PYFUNC_DIR = "pyfunc"
PYFUNC_KINDS = ("slot_ranker", "amplifier")  # model kinds training.pyfunc loads
PYFUNC_MODEL = "model"  # the copied model folder among the pyfunc's artifacts (training.pyfunc reads it)
PYFUNC_TAG = "pyfunc_uri"  # on a run with a pyfunc, and on its registered versions: where mlflow.pyfunc loads it
_PYFUNC_CODE = Path(__file__).with_name("pyfunc.py")  # logged as code; never imported here (it registers a model)
_MAX_PARAM = 6000  # MLflow's limit on a parameter value
_BATCH = 100  # MLflow's limit on params or tags per log_batch call
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PLOT_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class TrackingError(RuntimeError):
    """A run or registry operation that cannot be done as asked; the message says why."""


class HasTracking(Protocol):
    """The root settings tree (``weitao.settings.Settings``), seen from below without importing it."""

    @property
    def tracking(self) -> TrackingSettings: ...


def tracking_section(settings: TrackingSettings | HasTracking) -> TrackingSettings:
    """Accept either the root settings or its ``tracking`` section."""
    return settings if isinstance(settings, TrackingSettings) else settings.tracking


def _is_local(uri: str) -> bool:
    return not uri.startswith(("http://", "https://", "databricks"))


def tracking_client(settings: TrackingSettings | HasTracking) -> MlflowClient:
    """A quiet MLflow client for tracking and registry at the configured URI (created if local and new)."""
    cfg = tracking_section(settings)
    if cfg.tracking_uri.startswith("sqlite:///"):
        # SQLite does not create folders; the default store must work with no set-up.
        Path(cfg.tracking_uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    quiet_mlflow()
    return MlflowClient(tracking_uri=cfg.tracking_uri, registry_uri=cfg.tracking_uri)


def experiment_id(client: MlflowClient, settings: TrackingSettings | HasTracking) -> str:
    """Id of the configured experiment, created on first use (local stores put artifacts in artifact_root)."""
    cfg = tracking_section(settings)
    found = client.get_experiment_by_name(cfg.experiment)
    if found is not None:
        return str(found.experiment_id)
    location = cfg.artifact_root.expanduser().resolve().as_uri() if _is_local(cfg.tracking_uri) else None
    try:
        return str(client.create_experiment(cfg.experiment, artifact_location=location))
    except MlflowException:
        found = client.get_experiment_by_name(cfg.experiment)  # created concurrently by another job
        if found is None:
            raise
        return str(found.experiment_id)


def flatten(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(dotted key, leaf)`` of a nested mapping: ``{"click": {"auc": .7}}`` -> ``("click.auc", .7)``."""
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from flatten(value, dotted + ".")
        else:
            yield dotted, value


def _metrics(metrics: Mapping[str, Any], now: int) -> list[Metric]:
    out = []
    for key, value in flatten(metrics):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TrackingError(f"metric {key!r} must be a number, got {type(value).__name__}")
        out.append(Metric(key, float(value), now, 0))
    return out


def _columns_param(columns: Sequence[str]) -> str:
    text = ",".join(columns)
    if len(text) <= _MAX_PARAM:
        return text
    # The full list is always in feature_set.json; the param is for reading runs at a glance.
    kept: list[str] = []
    for c in columns:
        if len(",".join([*kept, c])) > _MAX_PARAM - 60:
            break
        kept.append(c)
    return ",".join(kept) + f",…(+{len(columns) - len(kept)} more; see {FEATURE_SET_ARTIFACT})"


def _params(params: Mapping[str, Any], reserved: Mapping[str, str]) -> list[Param]:
    flat = {k: v if isinstance(v, str) else orjson.dumps(v, default=str).decode() for k, v in flatten(params)}
    clash = sorted(set(flat) & set(reserved))
    if clash:
        raise TrackingError(f"params {clash} are reserved: they are recorded from the keyword arguments")
    return [Param(k, v) for k, v in {**flat, **reserved}.items()]


def _check_model(
    model_dir: Path, slot: str, feature_set: FeatureSetLike, config_hash: str
) -> LoadedModel:
    """Verify the folder before it becomes a run artifact; return it as loaded (checksum and meta)."""
    try:
        model = load_model_dir(model_dir, feature_set)
    except ModelStoreError as e:
        raise TrackingError(f"refusing to log {model_dir}: {e}") from e
    if model.meta["slot"] != slot:
        raise TrackingError(f"{model_dir} is a model of slot {model.meta['slot']!r}, not {slot!r}")
    if model.meta["config_hash"] != config_hash:
        raise TrackingError(
            f"{model_dir} was built with config {model.meta['config_hash']}, the run claims {config_hash}"
        )
    return model


def _log_artifacts(client: MlflowClient, run_id: str, model: LoadedModel, feature_set: FeatureSetLike,
                   pyfunc: bool, plots: Mapping[str, Figure | Path]) -> None:
    """The feature set as JSON, the plots, the pyfunc (if asked, for a kind it knows) and the model folder."""
    fs = {"name": feature_set.name, "version": feature_set.version,
          "fingerprint": feature_set.fingerprint, "columns": list(feature_set.columns)}
    with tempfile.TemporaryDirectory(prefix="weitao-run-") as tmp:
        (Path(tmp) / FEATURE_SET_ARTIFACT).write_bytes(orjson.dumps(fs, option=orjson.OPT_INDENT_2))
        client.log_artifact(run_id, str(Path(tmp) / FEATURE_SET_ARTIFACT))
        _log_plots(client, run_id, plots, Path(tmp))
        if pyfunc and model.meta["kind"] in PYFUNC_KINDS:
            client.log_artifacts(run_id, str(save_pyfunc(model, feature_set, Path(tmp) / PYFUNC_DIR)), PYFUNC_DIR)
            client.set_tag(run_id, PYFUNC_TAG, f"runs:/{run_id}/{PYFUNC_DIR}")
    client.log_artifacts(run_id, str(model.path), MODEL_ARTIFACT_DIR)


def save_pyfunc(model: LoadedModel, feature_set: FeatureSetLike, path: Path) -> Path:
    """Save a verified model folder (a slot ranker or the amplifier) as an MLflow pyfunc at ``path`` (see
    :mod:`training.pyfunc`)."""
    import mlflow.pyfunc
    import numpy as np
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    columns = list(feature_set.columns)
    # Double, not float: frames are float64 by default, and MLflow refuses to narrow them; predict does.
    inputs = Schema([ColSpec("double", c) for c in columns])
    kind = str(model.meta["kind"])
    if kind == "amplifier":
        names = ["lift", "raw"]
    else:  # one probability per head of the model (every head has a prior), as predict returns them
        names = ["score", *(f"p_{head}" for head in model.meta.get("priors") or model.meta["heads"])]
    outputs = Schema([ColSpec("double", name) for name in names])
    with warnings.catch_warnings(), silenced():  # silenced: MLflow's bar as it copies the folder in
        # MLflow's own check of the example frame uses a pandas idiom pandas now deprecates; nothing of ours.
        warnings.filterwarnings("ignore", message="Operation with range is deprecated")
        mlflow.pyfunc.save_model(
            str(path), python_model=str(_PYFUNC_CODE), artifacts={PYFUNC_MODEL: str(model.path)},
            model_config={"kind": kind, "feature_set": feature_set.name}, signature=ModelSignature(inputs, outputs),
            input_example=pd.DataFrame(np.zeros((1, len(columns))), columns=columns),
            pip_requirements=[f"{p}=={_version(p)}" for p in ("mlflow", "lightgbm", "numpy", "pandas")])
    return path


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _log_plots(client: MlflowClient, run_id: str, plots: Mapping[str, Figure | Path], tmp: Path) -> None:
    for name, plot in plots.items():
        if not _PLOT_NAME.match(name):
            raise TrackingError(f"plot name {name!r} must be letters, digits, '_', '.', '-'")
        target = tmp / f"{name.removesuffix('.png')}.png"
        if isinstance(plot, Figure):
            plot.savefig(target, format="png")
        else:
            path = Path(plot)
            if not path.is_file() or path.read_bytes()[:8] != _PNG_MAGIC:
                raise TrackingError(f"plot {name!r}: {path} is not a PNG file")
            target.write_bytes(path.read_bytes())
        client.log_artifact(run_id, str(target), PLOTS_DIR)


def _in_batches(items: Sequence[Any], size: int = _BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def log_model_run(
    settings: TrackingSettings | HasTracking,
    *,
    slot: str,
    model_dir: Path,
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    feature_set: FeatureSetLike,
    config_hash: str,
    data_snapshot_id: str,
    split_id: str,
    plots: Mapping[str, Figure | Path] | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Log one trained model as an MLflow run and return its run id.

    ``model_dir`` must be a sealed model folder (see ``ranking.model_store.seal_model_dir``) whose feature
    set, slot and config hash agree with the arguments; it is verified first and logged under ``model/``.
    ``metrics`` may be nested (``{"click": {"auc": 0.7}, "ndcg_at_10": 0.3}``) and is flattened to dotted
    keys. ``plots`` maps a name to a matplotlib figure or a PNG file, logged as ``plots/<name>.png``.
    Raises :class:`TrackingError` for a model or argument that does not fit; the run is then not created,
    or is marked FAILED if logging breaks halfway.
    """
    model = _check_model(model_dir, slot, feature_set, config_hash)
    checksum, kind = model.checksum, str(model.meta["kind"])
    reserved = {"slot": slot, "split_id": split_id, "data_snapshot_id": data_snapshot_id,
                "config_hash": config_hash, "feature_set": f"{feature_set.name}@{feature_set.version}",
                "model_kind": kind, CHECKSUM_TAG: checksum}
    clash = sorted(set(tags or {}) & set(reserved))
    if clash:
        raise TrackingError(f"tags {clash} are reserved: they are recorded from the keyword arguments")
    param_list = _params(params, {**{k: v for k, v in reserved.items() if k != CHECKSUM_TAG},
                                  "feature_set.fingerprint": feature_set.fingerprint,
                                  "feature_set.columns": _columns_param(list(feature_set.columns))})
    metric_list = _metrics(metrics, get_current_time_millis())
    client = tracking_client(settings)
    run = client.create_run(experiment_id(client, settings), run_name=slot,
                            tags={**dict(tags or {}), **reserved})
    run_id = run.info.run_id
    try:
        for chunk in _in_batches(param_list):
            client.log_batch(run_id, params=chunk)
        for chunk in _in_batches(metric_list, 1000):
            client.log_batch(run_id, metrics=chunk)
        _log_artifacts(client, run_id, model, feature_set, tracking_section(settings).pyfunc, plots or {})
    except BaseException:
        with silenced():
            client.set_terminated(run_id, status="FAILED")
        raise
    with silenced():  # set_terminated prints a banner with the run URL when talking to a server
        client.set_terminated(run_id, status="FINISHED")
    return run_id
