"""The champion manifest: the serving process reads the registry, workers load what it names without MLflow."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from ranking.model_store import ModelNotFound
from serving.champions import ManifestFeed, ManifestModels, RegistrySource, read_manifest, request_path, write_manifest
from tests.serving.conftest import ServedWorld
from tests.serving.live import Registry, make_registry
from weitao.service import service_config

# A worker as `weitao serve` starts one, in a fresh interpreter: load, then report versions and imports.
WORKER = """
import json, sys
from dataclasses import replace
from pathlib import Path
from serving.app import create_app
from weitao.service import service_config
from weitao.settings import load_settings

config_file, data, manifest = sys.argv[1:4]
config = service_config(load_settings(Path(config_file)))
changes = {"data_dir": Path(data), "champion_manifest": Path(manifest) if manifest else None}
config = replace(config, serving=config.serving.model_copy(update=changes))
state = create_app(config, background=False).state.service
state.load()
print(json.dumps({"error": state.error, "versions": state.engine.versions if state.engine else None,
                  "mlflow": "mlflow" in sys.modules}))
"""


@pytest.fixture(scope="module")
def registry(served_world: ServedWorld, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return make_registry(served_world, tmp_path_factory.mktemp("champions"))


def _source(registry: Registry) -> RegistrySource:
    return RegistrySource.of(service_config(registry.settings()))


def _worker(registry: Registry, manifest: Path | None) -> dict:
    done = subprocess.run([sys.executable, "-c", WORKER, str(registry.config), str(registry.world.data),
                           str(manifest or "")], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_worker_loads_the_manifests_champions_without_importing_mlflow(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "champions.json"
    assert write_manifest(path, _source(registry))
    body = read_manifest(path)
    assert body["error"] is None
    assert {s: e["version"] for s, e in body["aliases"]["champion"].items()} == {"follow_feed": 1, "new_arrival": 1}
    worker = _worker(registry, path)
    assert worker["error"] is None and not worker["mlflow"], worker
    assert worker["versions"] | {"follow_feed": "weitao-follow_feed/1", "new_arrival": "weitao-new_arrival/1"} \
        == worker["versions"]
    control = _worker(registry, None)  # the same worker reading the registry itself
    assert control["versions"] == worker["versions"] and control["mlflow"]


def test_the_manifest_follows_the_registry_on_refresh_and_keeps_its_entries_when_it_fails(
        registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "champions.json"
    source = _source(registry)
    assert write_manifest(path, source)
    config = service_config(registry.settings())
    alone = ManifestModels(path, source, answer_s=0.0)  # no serving process answers: a child process reads
    before = alone.versions(config)
    version = registry.register("new_arrival")
    client, name = registry.client(), registry.name("new_arrival")
    client.set_registered_model_alias(name, "champion", str(version))
    feed = ManifestFeed(path, source, poll_s=0.0)  # answers requests only
    try:
        assert alone.versions(config) == before  # the manifest is as of its last refresh
        alone.refresh()  # what an operator's /admin/reload does first
        assert alone.versions(config)["new_arrival"] == f"weitao-new_arrival/{version}"
        assert alone.load(config)["new_arrival"].version == f"weitao-new_arrival/{version}"
        client.set_registered_model_alias(name, "champion", "1")
        feed.start()
        time.sleep(0.3)
        assert alone.versions(config)["new_arrival"] == f"weitao-new_arrival/{version}"  # not refreshed unasked
        ManifestModels(path, source).refresh()  # asks the feed, which answers
        assert alone.versions(config)["new_arrival"] == "weitao-new_arrival/1"
        assert not request_path(path).exists()
    finally:
        feed.stop()
        client.set_registered_model_alias(name, "champion", "1")
    gone = RegistrySource(f"sqlite:///{tmp_path / 'missing.db'}", source.registry_prefix, source.model_cache,
                          source.aliases)
    assert not write_manifest(path, gone)
    body = orjson.loads(path.read_bytes())
    assert "no tracking store" in body["error"] and body["aliases"]["champion"]  # the last good entries stay
    path.write_text("{not json")  # a damaged file and a registry that cannot be read: the error is written
    assert not write_manifest(path, gone) and "no tracking store" in read_manifest(path)["error"]
    other = ManifestModels(path, gone)
    with pytest.raises(ModelNotFound, match="no tracking store"):  # an alias it never resolved: the error says why
        other.load(replace(config, serving=config.serving.model_copy(update={"model_alias": "challenger"})))


def test_the_serving_process_compiles_each_version_before_the_manifest_names_it(registry: Registry,
                                                                                tmp_path: Path) -> None:
    import hashlib

    from features.featuresets import SLOT_FEATURE_SET, get_feature_set
    from ranking.model_store import load_model_dir

    compiled = tmp_path / "compiled"
    source = replace(_source(registry), compile_into=str(compiled))
    assert not compiled.exists()  # nothing but write_manifest can have compiled into it
    assert write_manifest(tmp_path / "champions.json", source)
    entries = read_manifest(tmp_path / "champions.json")["aliases"]["champion"]
    for slot, e in entries.items():
        head = load_model_dir(Path(e["path"]), get_feature_set(SLOT_FEATURE_SET[slot])).head_model()
        for name in head.boosters:  # a worker's CompiledHeads.build finds every forest's object by its checksum
            assert (compiled / f"{hashlib.sha256(head.model_text(name).encode()).hexdigest()}.so").is_file()
