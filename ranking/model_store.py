"""Loading trained models: the one module that reads models back, from a folder or from MLflow by alias.

A model is a folder with ``meta.json`` plus files (LightGBM model text per head, calibration as JSON or
``.npz``). ``meta.json`` carries ``kind``, ``slot``, ``feature_set`` (name, version, fingerprint, columns),
``heads`` (head name -> file), ``files`` (relative path -> sha256 of its bytes, written by
:func:`seal_model_dir`), ``config_hash`` and ``created_at``. The model's checksum is the sha256 of the
canonical JSON of ``meta.json``; since ``meta`` lists the hash of every file, it covers the whole folder.

Loading never executes code from the artifact (no pickles) and never writes to MLflow: it only resolves an
alias and downloads. A load that fails raises and leaves whatever the caller had loaded before untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson

from features import definitions as features_definitions
from ranking.heads import HeadModel, LazyBoosters

META_FILE = "meta.json"
MODEL_ARTIFACT_DIR = "model"  # where tracking logs the folder inside a run, and what a version points at
CHECKSUM_TAG = "model_checksum"  # run and model-version tag holding the checksum
# Registry aliases: serving loads CHAMPION; training registers CHALLENGER; rollback returns to PREVIOUS_CHAMPION.
CHAMPION, CHALLENGER, PREVIOUS_CHAMPION = "champion", "challenger", "previous_champion"
REQUIRED_META = ("kind", "slot", "feature_set", "heads", "files", "config_hash", "created_at")
_FORBIDDEN_SUFFIXES = (".pkl", ".pickle", ".joblib")


class ModelStoreError(RuntimeError):
    """Root of the errors raised while loading a model."""


class FeatureSetMismatch(ModelStoreError, features_definitions.FeatureSetMismatch):
    """The model was trained on a feature set that differs from the one this code computes.

    Also a ``features.definitions.FeatureSetMismatch``, so code catching the features-layer error sees it.
    """


class CorruptArtifact(ModelStoreError):
    """The model folder is incomplete, altered after sealing, or holds files that do not parse."""


class ModelNotFound(ModelStoreError):
    """No tracking store, no registered model of that name, or no version behind that alias."""


class FeatureSetLike(Protocol):
    """What loading needs to know about the feature set the code computes (declared in ``features``)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> object: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def columns(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class LoadedModel:
    """A verified model folder. ``version`` and ``alias`` are ``None`` when loaded from a plain folder."""

    path: Path
    meta: Mapping[str, Any]
    checksum: str
    version: int | None = None
    alias: str | None = None
    boosters: Mapping[str, Any] = field(default_factory=dict, repr=False)  # head -> lightgbm.Booster, parsed lazily

    def head_model(self, *, n_jobs: int = 1) -> HeadModel:
        """The model's heads, calibration and blend, from what loading already read and verified (no file is
        read again)."""
        return HeadModel.from_meta(self.meta, self.boosters, n_jobs=n_jobs)


# ---------------------------------------------------------------- sealing and checking a folder


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def meta_checksum(meta: Mapping[str, Any]) -> str:
    """Checksum of a model: sha256 of the canonical JSON of its meta (which lists every file's hash)."""
    return hashlib.sha256(orjson.dumps(meta, option=orjson.OPT_SORT_KEYS)).hexdigest()


def seal_model_dir(model_dir: Path) -> str:
    """Hash every file of ``model_dir`` into ``meta["files"]``, rewrite ``meta.json``, return the checksum.

    Writers call this last, after every file is in place; any later change makes loading fail.
    """
    meta = _read_meta(model_dir)
    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name != META_FILE)
    meta["files"] = {p.relative_to(model_dir).as_posix(): _sha256_file(p) for p in files}
    (model_dir / META_FILE).write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return meta_checksum(meta)


def _read_meta(model_dir: Path) -> dict[str, Any]:
    path = model_dir / META_FILE
    if not path.is_file():
        raise CorruptArtifact(f"{model_dir} is not a model folder: {META_FILE} is missing")
    try:
        meta = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise CorruptArtifact(f"{path} is not valid JSON: {e}") from None
    if not isinstance(meta, dict):
        raise CorruptArtifact(f"{path} must hold a JSON object")
    return meta


def _check_files(model_dir: Path, meta: Mapping[str, Any]) -> None:
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise CorruptArtifact(f"{model_dir / META_FILE} lacks {', '.join(missing)}")
    files, heads = meta["files"], meta["heads"]
    if not isinstance(files, dict) or not isinstance(heads, dict) or not isinstance(meta["feature_set"], dict):
        raise CorruptArtifact(f"{model_dir / META_FILE}: files, heads and feature_set must be JSON objects")
    root = model_dir.resolve()
    for rel, digest in files.items():
        if root not in (model_dir / rel).resolve().parents:
            raise CorruptArtifact(f"{model_dir}: file {rel} points outside the model folder")
        if rel.endswith(_FORBIDDEN_SUFFIXES):
            raise CorruptArtifact(f"{rel}: pickled files are not a model artifact")
        path = model_dir / rel
        if not path.is_file():
            raise CorruptArtifact(f"{model_dir}: file {rel} listed in {META_FILE} is missing")
        if _sha256_file(path) != digest:
            raise CorruptArtifact(f"{model_dir}: checksum of {rel} does not match {META_FILE} (altered or truncated)")
    for head, rel in heads.items():
        if rel not in files:
            raise CorruptArtifact(f"{model_dir}: head {head!r} file {rel} is not listed in {META_FILE} files")


def check_feature_set(meta: Mapping[str, Any], expected: FeatureSetLike) -> None:
    """Raise :class:`FeatureSetMismatch` unless the model's feature set is exactly the code's.

    The message names the set and the first differing column, so an operator sees what changed.
    """
    fs = meta["feature_set"]
    name, got_cols = fs.get("name"), list(fs.get("columns", []))
    want = f"{expected.name!r} v{expected.version}"
    have = f"{name!r} v{fs.get('version')}"
    if name != expected.name:
        raise FeatureSetMismatch(f"model was trained on feature set {have}, the code computes {want}")
    exp_cols = list(expected.columns)
    if got_cols != exp_cols:
        for i, (g, e) in enumerate(zip(got_cols, exp_cols, strict=False)):
            if g != e:
                raise FeatureSetMismatch(
                    f"feature set {have} of the model differs from the code's {want}: first differing "
                    f"column at position {i}: model has {g!r}, code has {e!r}"
                )
        i = min(len(got_cols), len(exp_cols))
        extra = got_cols[i] if len(got_cols) > i else exp_cols[i]
        side = "model" if len(got_cols) > len(exp_cols) else "code"
        raise FeatureSetMismatch(
            f"feature set {have} of the model differs from the code's {want}: first differing column at "
            f"position {i}: {extra!r} exists only in the {side} ({len(got_cols)} vs {len(exp_cols)} columns)"
        )
    if str(fs.get("version")) != str(expected.version) or fs.get("fingerprint") != expected.fingerprint:
        raise FeatureSetMismatch(
            f"feature set {have} of the model has the same columns as the code's {want} but a different "
            f"definition (fingerprint {fs.get('fingerprint')} vs {expected.fingerprint})"
        )


def _parse_heads(model_dir: Path, meta: Mapping[str, Any], parse: bool = True) -> LazyBoosters:
    """Every head parsed as LightGBM model text with one input per column (unless ``parse`` is False); the texts,
    parsed lazily later."""
    n_cols = len(meta["feature_set"].get("columns", []))
    texts = {}
    for head, rel in meta["heads"].items():
        path = model_dir / rel
        if not parse:
            texts[head] = path.read_text()
            continue
        try:
            n_features = _features_of(path)
        except Exception as e:  # any parser failure means the text is not a model
            raise CorruptArtifact(f"{model_dir}: head {head!r} ({rel}) is not LightGBM model text: {e}") from None
        if n_features != n_cols:
            raise CorruptArtifact(
                f"{model_dir}: head {head!r} expects {n_features} features, its feature set has {n_cols} columns"
            )
        texts[head] = path.read_text()
    return LazyBoosters(texts)


def _features_of(path: Path) -> int:
    """Inputs of the LightGBM model text at ``path``, after parsing every tree of it.

    lleaves' parser when it is installed (the service compiles with it anyway), so a serving worker never
    imports LightGBM; LightGBM's own otherwise.
    """
    try:
        from lleaves.compiler.ast import parse_to_ast
    except ImportError:
        import lightgbm as lgb

        return int(lgb.Booster(model_file=str(path)).num_feature())
    return len(parse_to_ast(str(path)).features)


def _parse_side_files(model_dir: Path, meta: Mapping[str, Any]) -> None:
    # Calibration and other side files are checked to parse without code execution, so a bad upload is
    # caught at load time rather than at the first request.
    for rel in meta["files"]:
        path = model_dir / rel
        try:
            if rel.endswith(".json"):
                orjson.loads(path.read_bytes())
            elif rel.endswith(".npz"):
                with np.load(path, allow_pickle=False) as z:
                    for key in z.files:
                        z[key]
        except (orjson.JSONDecodeError, ValueError, OSError) as e:
            raise CorruptArtifact(f"{model_dir}: {rel} does not parse: {e}") from None


def load_model_dir(
    model_dir: Path, expected: FeatureSetLike, *, checksum: str | None = None, parsed_before: bool = False
) -> LoadedModel:
    """Read and verify a model folder.

    Checks, in order: ``meta.json`` parses and has the contract keys; every listed file exists with its
    recorded sha256; the meta checksum equals ``checksum`` when given; the feature set equals ``expected``;
    every head parses as LightGBM text with one input per column; JSON and ``.npz`` side files parse.
    Raises :class:`CorruptArtifact` or :class:`FeatureSetMismatch`.

    ``parsed_before``: the folder with this very ``checksum`` was loaded by this function before (the serving
    process does, before a champion manifest names it), so the heads' trees are not parsed again: the hashes
    prove the bytes are the ones parsed. A serving worker reloading beside its requests is spared the parse,
    tens of milliseconds of pure Python per head.
    """
    if parsed_before and checksum is None:
        raise ValueError("parsed_before: only with the checksum of the folder that was parsed")
    meta = _read_meta(model_dir)
    _check_files(model_dir, meta)
    actual = meta_checksum(meta)
    if checksum is not None and actual != checksum:
        raise CorruptArtifact(f"{model_dir}: checksum {actual[:12]}… differs from the recorded {checksum[:12]}…")
    check_feature_set(meta, expected)
    boosters = _parse_heads(model_dir, meta, parse=not parsed_before)
    _parse_side_files(model_dir, meta)
    return LoadedModel(path=model_dir, meta=meta, checksum=actual, boosters=boosters)


# ---------------------------------------------------------------- MLflow, read-only


def quiet_mlflow() -> None:
    """Keep MLflow and its database migrations from logging at INFO (set once per process, idempotent)."""
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Swallow what MLflow writes straight to stdout/stderr (run-URL banners, tqdm download bars).

    MLflow only lets environment variables turn these off, and only ``weitao.settings`` may touch the
    environment, so the few calls that print are wrapped instead. Logging handlers keep their own stream
    references and are not affected.
    """
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _sqlite_path(tracking_uri: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(tracking_uri[len(prefix):]) if tracking_uri.startswith(prefix) else None


def read_client(tracking_uri: str) -> Any:
    """An MLflow client for reading; refuses to create a local SQLite store that does not exist yet."""
    from mlflow import MlflowClient  # deferred: importing mlflow costs about a second

    db = _sqlite_path(tracking_uri)
    if db is not None and not db.is_file():
        raise ModelNotFound(f"no tracking store at {tracking_uri}: nothing has been logged or registered")
    quiet_mlflow()
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _resolve(client: Any, name: str, alias: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as e:
        if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"):
            raise ModelNotFound(f"no version of registered model {name!r} has alias {alias!r}") from None
        raise


def registered_checksum(tracking_uri: str, name: str, alias: str) -> tuple[int, str | None]:
    """(version, checksum tag) of ``name@alias`` now, without downloading (read-only; raises
    :class:`ModelNotFound`)."""
    mv = _resolve(read_client(tracking_uri), name, alias)
    return int(mv.version), (mv.tags or {}).get(CHECKSUM_TAG)


def registered_version(tracking_uri: str, name: str, alias: str) -> int:
    """The version ``name@alias`` points at now (read-only; raises :class:`ModelNotFound`)."""
    return registered_checksum(tracking_uri, name, alias)[0]


def load_registered(
    tracking_uri: str, name: str, alias: str, expected: FeatureSetLike, cache_dir: Path
) -> LoadedModel:
    """Resolve ``name@alias`` in the MLflow registry, download it once into ``cache_dir/<checksum>``, verify it.

    Read-only with respect to MLflow. A download lands in a temporary folder and enters the cache only
    after it verified, so the cache never holds a corrupt model and a failed load touches no healthy folder
    an earlier :class:`LoadedModel` points at (whose boosters are in memory anyway).
    Raises :class:`ModelNotFound`, :class:`CorruptArtifact` or :class:`FeatureSetMismatch`.
    """
    client = read_client(tracking_uri)
    mv = _resolve(client, name, alias)
    version = int(mv.version)
    checksum = (mv.tags or {}).get(CHECKSUM_TAG)
    if not checksum or not re.fullmatch(r"[0-9a-f]{64}", checksum):
        raise CorruptArtifact(f"{name} v{version} has no valid {CHECKSUM_TAG} tag: it was not registered by weitao")
    target = cache_dir / checksum
    if target.is_dir():
        try:
            return _with_version(load_model_dir(target, expected, checksum=checksum), version, alias)
        except CorruptArtifact:
            shutil.rmtree(target, ignore_errors=True)  # a damaged cache entry is fetched again
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=cache_dir))
    try:
        folder = _download(client, tracking_uri, name, version, staging)
        load_model_dir(folder, expected, checksum=checksum)
        try:
            folder.rename(target)
        except OSError:
            if not target.is_dir():  # another process won the race with the same verified content
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _with_version(load_model_dir(target, expected, checksum=checksum), version, alias)


def _download(client: Any, tracking_uri: str, name: str, version: int, dst: Path) -> Path:
    """Download the version's folder below ``dst``; return where it landed."""
    from mlflow.artifacts import download_artifacts

    # By version, not by alias: the alias may move while we download. The version's own storage URI is
    # used rather than `models:/name/version`, because MLflow resolves `models:/` against the process-wide
    # registry URI and ignores the one passed in.
    source = client.get_model_version_download_uri(name, str(version))
    with silenced():
        return Path(download_artifacts(artifact_uri=source, dst_path=str(dst), tracking_uri=tracking_uri,
                                       registry_uri=tracking_uri))


def _with_version(model: LoadedModel, version: int, alias: str) -> LoadedModel:
    return LoadedModel(model.path, model.meta, model.checksum, version, alias, model.boosters)
