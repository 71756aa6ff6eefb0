"""The champion manifest: which registered model versions a service serves, read from the registry once per machine.

Opening MLflow's client costs a worker about 90 MB of resident memory (MLflow, SQLAlchemy, Alembic, protobuf and
the rest it imports: ``weitao bench memory`` measured a loaded worker at 856 MB reading the registry itself, 765 MB
loading through the manifest), once per worker process, to answer one question every
``serving.registry_poll_s``: which version does each alias point at? Under ``weitao serve`` the serving process
asks instead (:class:`ManifestFeed`): it resolves every alias the workers serve, downloads and verifies each
version into the model cache (``ranking.model_store.load_registered``), and writes the answer to one JSON file
(atomically). Workers load the named folders from the cache (``ranking.model_store.load_model_dir``, the same
verification against the checksum the registry holds) and watch the file; they never import MLflow.

An explicit ``/admin/reload`` or ``/admin/promote`` must see the registry as it is now, not as of the last poll:
the worker asks the serving process to refresh the manifest first, and waits for the answer
(:meth:`ManifestModels.refresh`).
A registry that cannot be read leaves the last good entries in the file, with the error beside them.
With ``serving.compile_models`` the serving process also compiles each new version's forests into the shared
cache before the manifest names it, so a worker swapping models only loads compiled objects.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from features.featuresets import SLOT_FEATURE_SET, get_feature_set
from ranking.compiled import CompiledHeads
from ranking.model_store import LoadedModel, ModelNotFound, load_model_dir, load_registered, registered_checksum
from serving.config import ServiceConfig
from serving.models import SlotModel, compile_dir, slot_model

log = logging.getLogger(__name__)
#: How often the serving process looks for a worker's refresh request, and a worker for the answer.
ANSWER_POLL_S = 0.05


class ManifestError(RuntimeError):
    """The manifest cannot be read, or does not name a model the worker needs."""


@dataclass(frozen=True)
class RegistrySource:
    """What resolving the champions needs: the registry, the model names' prefix, the cache, the aliases."""

    tracking_uri: str
    registry_prefix: str
    model_cache: str
    aliases: tuple[str, ...]
    compile_into: str | None = None  # where workers find compiled forests (serving.compile_models), else None

    @classmethod
    def of(cls, config: ServiceConfig) -> RegistrySource:
        compiled = compile_dir(config)
        return cls(config.tracking_uri, config.registry_prefix, str(config.model_cache),
                   tuple(config.serving.aliases()), None if compiled is None else str(compiled))


def resolve(source: RegistrySource, known: dict[str, Any] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """``{alias: {slot: {name, version, checksum, path}}}``: every alias's version of every ranked slot, each
    downloaded into the cache and verified (reads the registry: imports MLflow).

    An entry of ``known`` (the last manifest's) whose version and checksum the registry still names, and whose
    folder is there, is kept as it is: a periodic refresh asks the registry, it does not hash every model again
    (workers verify what they load).
    """
    known = known or {}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for alias in source.aliases:
        out[alias] = {}
        for slot, fs_name in SLOT_FEATURE_SET.items():
            name = f"{source.registry_prefix}{slot}"
            version, checksum = registered_checksum(source.tracking_uri, name, alias)
            last = known.get(alias, {}).get(slot)
            if last and (last["name"], last["version"], last["checksum"]) == (name, version, checksum) \
                    and Path(last["path"]).is_dir():
                out[alias][slot] = last
                continue
            loaded = load_registered(source.tracking_uri, name, alias, get_feature_set(fs_name),
                                     Path(source.model_cache))
            if source.compile_into is not None:
                # Compiled here, before any worker hears of the version: a worker that compiled it itself would
                # spend seconds of its own GIL on lleaves' IR building while answering /rank (the bench world's
                # 100-tree, 4-head model: 8.1 s of CPU cold; 13 ms from the cache).
                CompiledHeads.build(loaded.head_model(), Path(source.compile_into))
            out[alias][slot] = {"name": name, "version": loaded.version, "checksum": loaded.checksum,
                                "path": str(loaded.path)}
    return out


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path``; a missing or unreadable file is a :class:`ManifestError` naming it."""
    try:
        body = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        raise ManifestError(f"serving.champion_manifest: cannot read {path}: {e}") from e
    if not isinstance(body, dict) or not isinstance(body.get("aliases"), dict):
        raise ManifestError(f"serving.champion_manifest: {path} has no 'aliases' object")
    return body


def write_manifest(path: Path, source: RegistrySource) -> bool:
    """Resolve the champions and replace the manifest atomically; True if the registry answered.

    On failure the last good entries stay, with ``error`` saying why (workers keep serving what they have).
    """
    started_ns = time.time_ns()  # a refresh asked for at t is answered by a manifest whose reading began after t
    last = _last_entries(path)
    try:
        body: dict[str, Any] = {"aliases": resolve(source, last), "error": None, "started_ns": started_ns}
    except Exception as e:  # the registry is down or a version is broken: say so, keep the last good answer
        log.warning("champion manifest: registry not read: %s", e)
        body = {"aliases": last, "error": f"{type(e).__name__}: {e}", "started_ns": started_ns}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    return body["error"] is None


def _last_entries(path: Path) -> dict[str, Any]:
    """The entries of the manifest at ``path`` if there is a readable one, else none."""
    try:
        return read_manifest(path)["aliases"]
    except ManifestError:
        return {}


def request_path(path: Path) -> Path:
    """The file a worker creates to ask the serving process for a refresh of the manifest at ``path``."""
    return path.with_name(path.name + ".refresh")


class ManifestModels:
    """A worker's model loader, registry probe and refresh, over the manifest (see the module docstring).

    ``answer_s``: how long :meth:`refresh` waits for the serving process to answer before reading the registry
    in a child process of its own.
    """

    def __init__(self, path: Path, source: RegistrySource, answer_s: float = 10.0) -> None:
        self.path, self.source, self.answer_s = path, source, answer_s

    def _entries(self, alias: str) -> dict[str, dict[str, Any]]:
        body = read_manifest(self.path)
        entries = body["aliases"].get(alias)
        if entries is None or set(entries) != set(SLOT_FEATURE_SET):
            why = f": {body['error']}" if body.get("error") else ""
            raise ModelNotFound(f"champion manifest {self.path} names no {alias!r} model of every slot{why}")
        return entries

    def load(self, config: ServiceConfig) -> dict[str, SlotModel]:
        """The models the manifest names for ``serving.model_alias``, verified against their checksums."""
        out = {}
        for slot, e in self._entries(config.serving.model_alias).items():
            # resolve() parsed this folder before naming it; the checksum and file hashes prove it is unchanged
            loaded = load_model_dir(Path(e["path"]), get_feature_set(SLOT_FEATURE_SET[slot]), checksum=e["checksum"],
                                    parsed_before=True)
            loaded = LoadedModel(loaded.path, loaded.meta, loaded.checksum, int(e["version"]),
                                 config.serving.model_alias, loaded.boosters)
            out[slot] = slot_model(slot, loaded, f"{e['name']}/{e['version']}", compile_dir(config))
        return out

    def versions(self, config: ServiceConfig) -> dict[str, str]:
        """The version each slot's alias points at, as of the manifest (named like ``SlotModel.version``)."""
        return {slot: f"{e['name']}/{e['version']}" for slot, e in self._entries(config.serving.model_alias).items()}

    def refresh(self) -> None:
        """Bring the manifest up to the registry as it is now (this process never imports MLflow).

        The serving process (:class:`ManifestFeed`) is asked first: it has the registry open and answers in a
        fraction of a second. Without an answer within ``answer_s``, a child process reads the registry (a few
        seconds of a core: MLflow's imports), which is what a worker started without ``weitao serve`` gets.
        """
        asked = time.time_ns()
        request_path(self.path).touch()
        deadline = time.monotonic() + self.answer_s
        while time.monotonic() < deadline:
            try:
                body = read_manifest(self.path)
            except ManifestError:  # not written yet: wait for the answer
                body = {}
            if int(body.get("started_ns") or 0) >= asked:
                if body.get("error"):
                    raise ManifestError(f"champion manifest: the registry could not be read: {body['error']}")
                return
            time.sleep(ANSWER_POLL_S)
        request_path(self.path).unlink(missing_ok=True)  # answered here instead
        done = subprocess.run([sys.executable, "-m", "serving.champions", str(self.path),
                               json.dumps(asdict(self.source))], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ManifestError(f"champion manifest: the registry could not be read: {done.stderr.strip()[-2000:]}")


class ManifestFeed:
    """The serving process's side: writes the manifest now (:meth:`refresh`), then every ``poll_s`` seconds (0:
    never on its own) and whenever a worker asks (:func:`request_path`, looked for every ``ANSWER_POLL_S``)."""

    def __init__(self, path: Path, source: RegistrySource, poll_s: float) -> None:
        self.path, self.source, self.poll_s = path, source, poll_s
        self._stop = threading.Event()

    def refresh(self) -> bool:
        return write_manifest(self.path, self.source)

    def start(self) -> None:
        threading.Thread(target=self._loop, name="champion-manifest", daemon=True).start()

    def _loop(self) -> None:
        _lower_priority()
        due = time.monotonic() + self.poll_s
        while not self._stop.wait(ANSWER_POLL_S):
            asked = request_path(self.path).exists()
            if not asked and (self.poll_s <= 0 or time.monotonic() < due):
                continue
            request_path(self.path).unlink(missing_ok=True)  # before reading: a later request is answered again
            try:
                self.refresh()
            except Exception:  # the feed must outlive any one failure (a full disk, say); the next poll tries again
                log.exception("champion manifest: refresh failed")
            due = time.monotonic() + self.poll_s

    def stop(self) -> None:
        self._stop.set()


def _lower_priority() -> None:
    """Run this thread at the lowest CPU priority (Linux: a thread's own nice value): reading the registry and
    verifying a download must not take a core from a worker answering ``/rank`` on a busy machine."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (OSError, AttributeError):  # not Linux, or not allowed: the feed still works, at normal priority
        log.debug("champion manifest: thread priority unchanged")


def main(argv: list[str]) -> int:
    """``python -m serving.champions PATH SOURCE_JSON``: write the manifest once; exit 1 if the registry failed."""
    raw = json.loads(argv[1])
    source = RegistrySource(**{**raw, "aliases": tuple(raw["aliases"])})
    if write_manifest(Path(argv[0]), source):
        return 0
    print(read_manifest(Path(argv[0]))["error"], file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
