"""Fetch public data sets that ship inside Python distributions on PyPI (the only network we rely on).

* MovieLens-100k ships in RecBole's wheel (``recbole/dataset_example/ml-100k``, RecBole atomic files).
* The Open Bandit Dataset sample (10,000 rows per behaviour policy and campaign) ships in obp's source
  distribution (``obp/dataset/obd``); the wheel leaves it out.

Both are downloaded with ``python -m pip download --no-deps`` into ``<cache>/wheels`` or
``<cache>/sdists`` and only the data folder is extracted, to ``<cache>/<package>-<version>/ml-100k``
or ``.../obd``. Extraction goes to a temporary folder that is
renamed into place, so a present folder is complete and a second call downloads nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import uuid
import zipfile
from pathlib import Path

RECBOLE = ("recbole", "1.2.1")
OBP = ("obp", "0.5.7")
ML_PREFIX = "recbole/dataset_example/ml-100k/"
OBD_PREFIX = f"{OBP[0]}-{OBP[1]}/obp/dataset/obd/"


class FetchError(RuntimeError):
    """A download or extraction that failed; the message says what was asked and what went wrong."""


def _pip_download(package: tuple[str, str], dest: Path, *options: str) -> None:
    spec = f"{package[0]}=={package[1]}"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--quiet", *options, spec, "-d", str(dest)]
    dest.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FetchError(f"pip download {spec} failed: {e}") from e
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise FetchError(f"pip download {spec} failed (exit {done.returncode}): {tail}")


def _archive(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.glob(pattern)) if folder.is_dir() else []
    return found[0] if found else None


def _publish(tmp: Path, target: Path) -> Path:
    """Rename the finished extraction ``tmp`` to ``target`` (a concurrent fetch may have won the race)."""
    try:
        tmp.rename(target)
    except OSError:
        if not target.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _extract_zip(archive: Path, prefix: str, dest: Path) -> int:
    count = 0
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            if info.is_dir() or not info.filename.startswith(prefix):
                continue
            rel = info.filename[len(prefix):]
            if not rel or ".." in Path(rel).parts:
                continue
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            count += 1
    return count


def _extract_tar(archive: Path, prefix: str, dest: Path) -> int:
    count = 0
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.startswith(prefix):
                continue
            rel = member.name[len(prefix):]
            if not rel or ".." in Path(rel).parts:
                continue
            src = tar.extractfile(member)
            if src is None:
                continue
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            with src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            count += 1
    return count


def _fetch(cache: Path, package: tuple[str, str], kind: str, pattern: str, prefix: str, name: str) -> Path:
    """``cache/name``: the ``prefix`` folder of the package's archive, downloaded into ``cache/kind``."""
    cache = Path(cache).expanduser()
    target = cache / name
    if target.is_dir():
        return target
    downloads = cache / kind
    archive = _archive(downloads, pattern)
    if archive is None:
        options = ("--only-binary", ":all:") if kind == "wheels" else (
            "--no-binary", ":all:", "--ignore-requires-python")
        _pip_download(package, downloads, *options)
        archive = _archive(downloads, pattern)
        if archive is None:
            raise FetchError(f"pip download of {package[0]}=={package[1]} left no {pattern} in {downloads}")
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        extract = _extract_zip if archive.suffix == ".whl" else _extract_tar
        if extract(archive, prefix, tmp) == 0:
            raise FetchError(f"{archive} holds nothing under {prefix}")
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise FetchError(f"cannot extract {prefix} from {archive}: {e}") from e
    except FetchError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _publish(tmp, target)


def fetch_movielens_100k(cache: Path) -> Path:
    """The ``ml-100k`` folder (RecBole atomic files) under ``cache``, downloading RecBole's wheel once."""
    name, version = RECBOLE
    return _fetch(cache, RECBOLE, "wheels", f"{name}-{version}-*.whl", ML_PREFIX, f"{name}-{version}/ml-100k")


def fetch_open_bandit(cache: Path) -> Path:
    """The ``obd`` folder (``{random,bts}/{all,men,women}``) under ``cache``, downloading obp's sdist once."""
    name, version = OBP
    return _fetch(cache, OBP, "sdists", f"{name}-{version}.tar.gz", OBD_PREFIX, f"{name}-{version}/obd")
