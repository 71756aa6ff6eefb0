"""A report folder on disk: ``report.json`` (figures), ``units.npz`` (per-user arrays), ``report.md`` and PNGs.

The npz is written and read with ``allow_pickle=False``; JSON has no NaN or infinity, so both are null.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson

REPORT_JSON = "report.json"
UNITS_NPZ = "units.npz"
REPORT_MD = "report.md"


class ReportError(ValueError):
    """A report folder that is missing, incomplete or malformed; the message names the file."""


def jsonable(value: Any) -> Any:
    """Plain JSON values: arrays become lists, numpy scalars Python numbers, NaN and ±inf null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_folder(folder: Path, report: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``report.json`` and ``units.npz`` into ``folder`` (created); returns the JSON's path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / REPORT_JSON
    target.write_bytes(orjson.dumps(jsonable(report), option=orjson.OPT_INDENT_2))
    np.savez_compressed(folder / UNITS_NPZ, **arrays)  # type: ignore[arg-type]  # numpy's stub
    return target


def read_folder(folder: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(report, arrays)`` of a report folder written by :func:`write_folder`."""
    js, npz = folder / REPORT_JSON, folder / UNITS_NPZ
    for path in (js, npz):
        if not path.is_file():
            raise ReportError(f"{path}: missing (not a report folder written by `weitao evaluate --report`)")
    try:
        report = orjson.loads(js.read_bytes())
    except orjson.JSONDecodeError as e:
        raise ReportError(f"{js}: not valid JSON ({e})") from None
    if not isinstance(report, dict) or not {"meta", "policies", "slots"} <= set(report):
        raise ReportError(f"{js}: expected keys meta, policies and slots")
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError) as e:
        raise ReportError(f"{npz}: cannot be read without pickles ({e})") from None
    return report, arrays
