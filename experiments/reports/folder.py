"""Write a whole report folder from closed-loop results: figures, per-user arrays, PNGs and Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from experiments.closed_loop import LoopResult
from experiments.reports.artifacts import REPORT_MD, jsonable, write_folder
from experiments.reports.build import build_report
from experiments.reports.markdown import report_markdown
from experiments.reports.plots import save_all


def write_report(folder: Path, per_seed: list[list[LoopResult]], meta: dict[str, Any], rng: np.random.Generator,
                 *, resamples: int = 1000) -> tuple[Path, dict[str, Any]]:
    """Write ``report.json``, ``units.npz``, the PNGs and ``report.md`` into ``folder``.

    ``per_seed``: every seed's results (each policy's ``LoopResult`` with its detail); ``rng`` draws the
    bootstrap resamples. Returns the Markdown's path and the JSON-ready report.
    """
    if not per_seed or not per_seed[0]:
        raise ValueError("per_seed: no closed-loop results to report")
    report, arrays = build_report(per_seed, meta, rng, resamples=resamples)
    report = jsonable(report)
    folder.mkdir(parents=True, exist_ok=True)
    report["figures"] = save_all(report, folder)
    write_folder(folder, report, arrays)
    target = folder / REPORT_MD
    target.write_text(report_markdown(report, report["figures"]))
    return target, report
