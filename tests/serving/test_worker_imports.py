"""A serving worker whose forests are compiled never imports LightGBM (nor scikit-learn and SciPy's stats,
which LightGBM pulls in): tens of MB per worker. Checked in a fresh interpreter, since this one has them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serving.conftest import ServedWorld

HEAVY = ("lightgbm", "sklearn", "scipy.stats")
SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
import serving.app, weitao.service
from serving.models import load_folder
cache = sys.argv[2]
model = load_folder("follow_feed", Path(sys.argv[1]), Path(cache) if cache else None)
scores = model.predict(np.zeros((4, len(model.head.feature_names)), np.float32))
print(json.dumps({"compiled": model.compiled, "finite": bool(np.isfinite(scores).all()),
                  "loaded": [m for m in sys.argv[3].split(",") if m in sys.modules]}))
"""


def _worker(folder: Path, cache: Path | None) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(folder), str(cache or ""), ",".join(HEAVY)],
                         capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("compiled", [True, False])
def test_a_compiled_worker_never_imports_lightgbm(served_world: ServedWorld, tmp_path: Path, compiled: bool) -> None:
    got = _worker(served_world.models["follow_feed"], tmp_path / "compiled" if compiled else None)
    assert got["compiled"] is compiled and got["finite"]
    if compiled:
        assert got["loaded"] == []
    else:  # the control: predicting with LightGBM itself brings it and what it imports
        assert "lightgbm" in got["loaded"] and "sklearn" in got["loaded"]
