"""A publish killed half-way (SIGKILL while the new champion downloads) leaves the old champion serving.

The serving process publishes a version to the workers in two steps: the model folder enters the cache by
one rename once it is whole and verified, then the manifest naming it is replaced by one rename. Killed
while half the new folder's files are on disk, nothing a worker reads is half-written: the manifest still
names the old version, the cache holds no entry under the new checksum, and the next publish completes.
Control (by hand): downloading straight into the cache entry fails the test, the half folder sits there.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ranking.model_store import registered_checksum
from serving.champions import ManifestModels, RegistrySource, read_manifest, write_manifest
from tests.serving.conftest import ServedWorld
from tests.serving.live import Registry, make_registry
from weitao.service import service_config

# The serving process's publish, with a download that lands one file per 0.3 s and says when it is half-way.
PUBLISHER = """
import shutil, sys, tempfile, time
from pathlib import Path
import ranking.model_store as store
from serving.champions import RegistrySource, write_manifest

real = store._download

def slow(client, uri, name, version, dst):
    whole = real(client, uri, name, version, Path(tempfile.mkdtemp()))
    files = sorted(p for p in whole.rglob("*") if p.is_file())
    out = Path(dst) / whole.name
    for i, f in enumerate(files):
        (out / f.relative_to(whole)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, out / f.relative_to(whole))
        if i == len(files) // 2:
            print("half", flush=True)
        time.sleep(0.3)
    return out

store._download = slow
uri, prefix, cache, manifest = sys.argv[1:5]
write_manifest(Path(manifest), RegistrySource(uri, prefix, cache, ("champion",)))
print("done", flush=True)
"""


@pytest.fixture(scope="module")
def registry(served_world: ServedWorld, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return make_registry(served_world, tmp_path_factory.mktemp("publish"))


@pytest.mark.slow
def test_a_publish_killed_half_way_leaves_the_old_champion_serving(registry: Registry, tmp_path: Path) -> None:
    config = service_config(registry.settings())
    source = replace(RegistrySource.of(config), aliases=("champion",), compile_into=None)
    manifest = tmp_path / "champions.json"
    assert write_manifest(manifest, source)
    worker = ManifestModels(manifest, source, answer_s=0.0)
    before = worker.versions(config)
    version = registry.register("new_arrival")
    name = registry.name("new_arrival")
    registry.client().set_registered_model_alias(name, "champion", str(version))
    _, checksum = registered_checksum(source.tracking_uri, name, "champion")
    cache = Path(source.model_cache)
    old_files = set(cache.rglob("*"))
    try:
        publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, source.tracking_uri,
                                      source.registry_prefix, str(cache), str(manifest)],
                                     stdout=subprocess.PIPE, text=True)
        assert publisher.stdout is not None and publisher.stdout.readline().strip() == "half"
        staged = [p for p in cache.rglob("*") if p.is_file() and p not in old_files]
        publisher.send_signal(signal.SIGKILL)
        publisher.wait(timeout=10)
        assert staged, "the publisher was not killed mid-download"  # half the files were on disk
        assert not (cache / checksum).exists()  # the cache never holds the half folder under the checksum
        assert worker.versions(config) == before  # the manifest still names the old champion, whole
        models = worker.load(config)
        assert models["new_arrival"].version == before["new_arrival"]
        assert write_manifest(manifest, source)  # the next publish completes despite the leftovers
        assert read_manifest(manifest)["aliases"]["champion"]["new_arrival"]["version"] == version
        assert worker.load(config)["new_arrival"].version == f"weitao-new_arrival/{version}"
    finally:
        registry.client().set_registered_model_alias(name, "champion", "1")
