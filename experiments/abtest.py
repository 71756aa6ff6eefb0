"""Analysis of a layered experiment from the service's page log and the events that followed.

A served row counts as clicked when the same user clicked the same item within ``window_ms`` after it was
served. Per arm: pages, served rows, users, click-through rate; the confidence interval resamples users
(a user's rows are correlated, so rows are not independent draws); each arm's difference from the control
comes with its own interval from the same resamples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from features.contract import code, enum_codes


@dataclass(frozen=True)
class ArmResult:
    """Click-through of one arm: users, served rows, clicks, CTR and its difference from the control, each with a
    user-level bootstrap interval (``_low``, ``_high``)."""

    arm: str
    users: int
    rows: int
    clicks: int
    ctr: float
    ctr_low: float
    ctr_high: float
    diff: float  # ctr - control's ctr
    diff_low: float
    diff_high: float


def arm_labels(labels: pd.Series, layer: str) -> pd.Series:
    """The arm of ``layer`` in each page's experiments label ("layer=arm;layer=arm"); None when absent."""
    return labels.fillna("").str.extract(rf"(?:^|;){layer}=([^;]+)", expand=False)


def clicked_rows(pages: pd.DataFrame, events: pa.Table, window_ms: int) -> np.ndarray:
    """Whether each served row was clicked by its user within ``window_ms`` after it was served."""
    click = enum_codes(events.column("action"), "action") == code("action", "click")
    ev = pd.DataFrame({"user_id": events.column("user_id").to_numpy()[click],
                       "item_id": events.column("target_id").to_numpy()[click],
                       "t": events.column("event_time").cast(pa.int64()).to_numpy()[click]})
    rows = pages[["user_id", "item_id", "served_ms"]].reset_index(names="row")
    joined = rows.merge(ev, on=["user_id", "item_id"])
    hit = joined[(joined.t >= joined.served_ms) & (joined.t < joined.served_ms + window_ms)]
    out = np.zeros(len(pages), bool)
    out[hit.row.unique()] = True
    return out


def analyse(pages: pa.Table, events: pa.Table, layer: str, rng: np.random.Generator, *, control: str | None = None,
            window_ms: int = 3_600_000, n_boot: int = 1_000, alpha: float = 0.05) -> list[ArmResult]:
    """Click-through per arm of ``layer`` with user-level bootstrap intervals, and differences from ``control``."""
    df = pages.select(["request_id", "user_id", "item_id", "served_ms", "experiments"]).to_pandas()
    df["arm"] = arm_labels(df["experiments"], layer)
    df = df[df["arm"].notna()].reset_index(drop=True)
    if df.empty:
        raise ValueError(f"layer: no served page carries layer {layer!r}")
    df["click"] = clicked_rows(df, events, window_ms)
    per_user = df.groupby(["arm", "user_id"]).agg(rows=("click", "size"), clicks=("click", "sum")).reset_index()
    arms = sorted(per_user.arm.unique())
    control = control or ("control" if "control" in arms else arms[0])
    if control not in arms:
        raise ValueError(f"control: arm {control!r} not in layer {layer!r} (arms: {', '.join(arms)})")
    boots = {arm: _bootstrap(per_user[per_user.arm == arm], rng, n_boot) for arm in arms}
    q = [alpha / 2, 1 - alpha / 2]
    out = []
    for arm in arms:
        u = per_user[per_user.arm == arm]
        ctr = u.clicks.sum() / u.rows.sum()
        base = per_user[per_user.arm == control]
        diff = ctr - base.clicks.sum() / base.rows.sum()
        lo, hi = np.quantile(boots[arm], q)
        dlo, dhi = np.quantile(boots[arm] - boots[control], q)
        out.append(ArmResult(arm, len(u), int(u.rows.sum()), int(u.clicks.sum()), float(ctr), float(lo), float(hi),
                             float(diff), float(dlo), float(dhi)))
    return out


def _bootstrap(users: pd.DataFrame, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """CTR of ``n_boot`` resamples of the arm's users (with replacement)."""
    rows, clicks = users.rows.to_numpy(), users.clicks.to_numpy()
    out = np.empty(n_boot)
    chunk = max(1, 2_000_000 // max(len(rows), 1))  # bounded memory for arms with many users
    for start in range(0, n_boot, chunk):
        pick = rng.integers(0, len(rows), size=(min(chunk, n_boot - start), len(rows)))
        out[start:start + len(pick)] = clicks[pick].sum(1) / np.maximum(rows[pick].sum(1), 1)
    return out
