"""The monthly tier job: re-assess every account's tier (W1–W4, H1) and state, with a reason a seller reads.

On the 1st of month ``M`` (00:00 UTC) every account is assessed on the previous ``window_days`` (30) days
(metrics: :mod:`training.tiers_metrics`). The rules, each tier with its own thresholds
(:class:`~training.tiers_settings.TierSettings`):

* W2–W4 get a state from a composite of fan interaction rate, fan revisit rate and fan purchases: each
  metric is graded 0 (below the tier's ``fair`` level), 1 (fair) or 2 (``excellent`` level); the composite
  is the weighted mean grade; ``fair_min_score`` / ``excellent_min_score`` cut it into poor/fair/excellent.
  Poor demotes one tier (W2 → W1), fair keeps, excellent promotes when the next tier's entry conditions
  (``min_fans``, ``min_fan_interaction_rate``) are met, and otherwise keeps with the missing numbers named.
* W1 has no state; it graduates to W2 when it meets W2's entry conditions.
* H1 stays H1 until it has served ``h1_penalty_months`` consecutive assessments in H1 since its last abuse
  flag; it is then released to W1 (a fresh start, not its old tier).
* An account flagged by anti-abuse goes to H1 whatever its metrics. Official accounts are not assessed.
* ``state_after`` is the state the account's metrics earn in its new tier (null for W1 and H1), so a
  promoted account sees at once how it stands among its new peers.

Accounts created at or after the assessment time did not exist yet and are left out. The input tables are
only read: a later job applies ``tier_after``/``state_after`` to ``accounts``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.contract import ENUMS, TIMESTAMP, enum_array, enum_codes
from features.storage import PART, read_table, staged, write_extra
from ranking.tier_rules import (  # noqa: F401  (W1..H1, FAIR, STATE_METRICS, grading: re-exported)
    EXCELLENT,
    FAIR,
    H1,
    POOR,
    STATE_METRICS,
    W1,
    W2,
    W3,
    W4,
    entry_met,
    grade_states,
    rule_table,
)
from ranking.tier_settings import TierSettings
from training.tiers_metrics import EVENT_COLUMNS, METRICS, Window, account_metrics, reward_multipliers

DAY_MS = 86_400_000
#: Values of the ``transition`` column.
TRANSITIONS = ("promoted", "kept", "demoted", "to_h1", "released", "official")


class TierError(ValueError):
    """An assessment that cannot run as asked (bad month, bad flags file); the message names the input."""


def assessment_window(month: str, window_days: int = 30) -> Window:
    """Window of month ``month`` ("YYYY-MM"): ``[1st 00:00 UTC - window_days, 1st 00:00 UTC)``."""
    if not re.fullmatch(r"\d{4}-\d{2}", month):
        raise TierError(f"month: expected YYYY-MM, got {month!r}")
    try:
        at = datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise TierError(f"month: {month!r} is not a calendar month") from None
    end = int(at.timestamp() * 1000)
    return Window(end - window_days * DAY_MS, end)


def previous_month(month: str, back: int = 1) -> str:
    """The month ``back`` months before ``month`` ("YYYY-MM")."""
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + mon - 1 - back
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def decide(tier: np.ndarray, state: np.ndarray, metrics: Mapping[str, np.ndarray], official: np.ndarray,
           flagged: np.ndarray, served: np.ndarray, settings: TierSettings) -> tuple[np.ndarray, np.ndarray]:
    """``(tier_after, transition)`` codes (transition indexes :data:`TRANSITIONS`) from this month's states."""
    fans_ok, rate_ok = entry_met(metrics, np.minimum(tier + 1, W4), settings)
    up = ((tier == W1) | ((tier >= W2) & (tier < W4) & (state == EXCELLENT))) & fans_ok & rate_ok
    down = (tier >= W2) & (tier <= W4) & (state == POOR)
    released = (tier == H1) & (served >= settings.h1_penalty_months)
    after = np.select([up, down, released], [tier + 1, tier - 1, W1], tier)
    move = np.select([up, down, released], [0, 2, 4], 1)
    after, move = np.where(flagged, H1, after), np.where(flagged, np.where(tier == H1, 1, 3), move)
    return np.where(official, tier, after), np.where(official, 5, move)


def h1_served_array(account_ids: np.ndarray, h1_served: Mapping[int, int] | None) -> np.ndarray:
    """Months each account has served in H1 (0 where unknown)."""
    served = np.zeros(len(account_ids), np.int64)
    if h1_served:
        ids = np.fromiter(h1_served.keys(), np.int64, len(h1_served))
        months = np.fromiter(h1_served.values(), np.int64, len(h1_served))
        pos = np.searchsorted(account_ids, ids)
        ok = pos < len(account_ids)
        ok[ok] = account_ids[pos[ok]] == ids[ok]
        served[pos[ok]] = months[ok]
    return served


def assess(tables: Mapping[str, pa.Table], month: str, settings: TierSettings, *,
           flags: Mapping[int, str] | None = None, h1_served: Mapping[int, int] | None = None) -> pa.Table:
    """Assess every account that exists at the assessment time; returns the ``tier_assessments`` table.

    ``tables`` holds the contract tables ``accounts``, ``events``, ``follows``, ``posts`` and ``products``;
    ``flags`` maps account ids flagged by anti-abuse to the reason; ``h1_served`` maps H1 accounts to the
    consecutive months they have served since their last flag (see :func:`h1_months_served`).
    """
    window = assessment_window(month, settings.window_days)
    accounts = tables["accounts"]
    created = pc.cast(accounts.column("created_at"), pa.int64()).to_numpy(zero_copy_only=False)
    accounts = accounts.take(pa.array(np.flatnonzero(created < window.end_ms)))
    accounts = accounts.take(pc.sort_indices(accounts, [("account_id", "ascending")]))
    ids = accounts.column("account_id").to_numpy()
    if len(np.unique(ids)) != len(ids):
        raise TierError("accounts: account_id is not unique")
    tier = enum_codes(accounts.column("tier"), "tier").astype(np.int64)
    state_before = enum_codes(accounts.column("tier_state"), "tier_state")
    official = enum_codes(accounts.column("kind"), "account_kind") == ENUMS["account_kind"].index("official")
    metrics = account_metrics(tables, ids, window)
    flag = _flag_text(ids, flags)
    state, composite = grade_states(metrics, tier, settings)
    after, move = decide(tier, state, metrics, official, flag != "", h1_served_array(ids, h1_served), settings)
    state_after, _ = grade_states(metrics, after, settings)
    state_after = np.where(official, state_before, state_after)
    state = np.where(official, -1, state)
    eligible = ~official & (tier <= W4) & (after <= W4) & (metrics["fans"] > 0) & (metrics["fan_activity"] > 0)
    score, mult = reward_multipliers(metrics, tier, eligible, top_share=settings.reward_top_share,
                                     low=settings.reward_min, high=settings.reward_max)
    text = reasons(tier=tier, after=after, state=state, move=move, metrics=metrics, flag=flag,
                   served=h1_served_array(ids, h1_served), settings=settings)
    n = len(ids)
    columns: dict[str, pa.Array | np.ndarray | list[str]] = {
        "account_id": ids, "month": pa.array([month] * n, pa.string()),
        "assessed_at": pa.array(np.full(n, window.end_ms), pa.int64()).cast(TIMESTAMP),
        "tier_before": enum_array("tier", tier), "state_before": enum_array("tier_state", state_before),
        "state_assessed": enum_array("tier_state", state), "composite": composite,
        "tier_after": enum_array("tier", after), "state_after": enum_array("tier_state", state_after),
        "transition": pa.array(np.array(TRANSITIONS, dtype=object)[move], pa.string()),
    }
    columns |= {m: metrics[m] for m in METRICS}
    columns |= {"private_domain_score": score, "reward_multiplier": mult,
                "abuse_flag": pa.array(flag, pa.string(), mask=flag == ""), "reason": text}
    return pa.table(columns)


def _flag_text(ids: np.ndarray, flags: Mapping[int, str] | None) -> np.ndarray:
    """The flag reason of each account ("" where unflagged; a flag with no reason reads 'flagged')."""
    out = np.full(len(ids), "", dtype=object)
    if flags:
        keys = np.fromiter(flags.keys(), np.int64, len(flags))
        text = np.array([str(v) or "flagged" for v in flags.values()], dtype=object)
        pos = np.searchsorted(ids, keys)
        ok = pos < len(ids)
        ok[ok] = ids[pos[ok]] == keys[ok]
        out[pos[ok]] = text[ok]
    return out


# ---- reasons: one sentence per account naming the numbers, built column-wise -------------------------
_LABEL = {"fan_activity": "fan activity", "fan_interaction_rate": "fan interaction rate",
          "fan_revisit_rate": "fan revisit rate", "fan_purchases": "fan purchases"}
_NAMES = np.array(ENUMS["tier"])


def _cat(*parts: np.ndarray | str) -> np.ndarray:
    return reduce(np.char.add, [np.asarray(p, dtype=str) for p in parts])


def _count(x: np.ndarray) -> np.ndarray:
    """Integers with thousands separators ("5,000")."""
    x = np.asarray(np.round(x), np.int64)
    if not len(x) or x.max() < 1000:
        return np.char.mod("%d", x)
    return np.where(x >= 1000, _cat(_count(x // 1000), ",", np.char.mod("%03d", x % 1000)), np.char.mod("%d", x))


def _pct(x: np.ndarray) -> np.ndarray:
    """Rates as percentages, two decimals below 1 % ("0.35 %", "2.0 %")."""
    x = 100 * np.asarray(x, float)
    return np.where(x < 1, np.char.mod("%.2f %%", x), np.char.mod("%.1f %%", x))


def _value(metric: str, x: np.ndarray) -> np.ndarray:
    return _count(x) if metric == "fan_purchases" else _pct(x)


def _join(parts: list[tuple[np.ndarray, np.ndarray]], sep: str) -> np.ndarray:
    """Join the texts whose mask is true with ``sep`` ("" where none is)."""
    out = np.full(len(parts[0][0]), "", dtype=str)
    for mask, text in parts:
        out = np.where(mask, np.where(out == "", text, _cat(out, sep, text)), out)
    return out


def _shortfalls(metrics: Mapping[str, np.ndarray], t: np.ndarray, rules: dict[str, np.ndarray],
                level: str) -> np.ndarray:
    """"fan revisit rate 0.20 % vs 0.30 % needed for fair; ..." for the weighted metrics below ``level``."""
    parts = []
    for m in STATE_METRICS:
        need, v = rules[f"{m}.{level}"][t], np.asarray(metrics[m], float)
        text = _cat(_LABEL[m], " ", _value(m, v), " vs ", _value(m, need), " needed for ", level)
        parts.append(((v < need) & (rules[f"{m}.weight"][t] > 0), text))
    return _join(parts, "; ")


def _missing_entry(metrics: Mapping[str, np.ndarray], t: np.ndarray, rules: dict[str, np.ndarray]) -> np.ndarray:
    """"5,000 fans (you have 3,120) and a fan interaction rate of ..." for unmet entry conditions of tier t."""
    fans, rate = np.asarray(metrics["fans"]), np.asarray(metrics["fan_interaction_rate"], float)
    need_fans, need_rate = rules["min_fans"][t], rules["min_fan_interaction_rate"][t]
    return _join([(fans < need_fans, _cat(_count(need_fans), " fans (you have ", _count(fans), ")")),
                  (rate < need_rate, _cat("a fan interaction rate of ", _pct(need_rate), " (you have ", _pct(rate),
                                          ")"))], " and ")


def reasons(*, tier: np.ndarray, after: np.ndarray, state: np.ndarray, move: np.ndarray,
            metrics: Mapping[str, np.ndarray], flag: np.ndarray, served: np.ndarray,
            settings: TierSettings) -> np.ndarray:
    """The reason of each account's assessment, e.g. "W3 → W2: state poor (fan interaction rate ...)"."""
    rules = rule_table(settings)
    t, nxt = np.clip(tier, W2, W4), np.clip(tier + 1, W2, W4)
    tb, ta, tn = _NAMES[tier], _NAMES[after], _NAMES[nxt]
    stays, moves = _cat(tb, " stays ", tb, ": "), _cat(tb, " → ", ta, ": ")
    months = str(settings.h1_penalty_months)
    below_fair, below_best = _shortfalls(metrics, t, rules, "fair"), _shortfalls(metrics, t, rules, "excellent")
    fans, need_fans = _count(metrics["fans"]), _count(rules["min_fans"][nxt])
    flagged, in_h1 = flag != "", tier == H1
    cases = [
        (move == 5, _cat("official account: not assessed, stays ", tb)),
        (move == 3, _cat(moves, "abuse flag (", flag, ")")),
        (in_h1 & flagged, _cat(stays, "abuse flag (", flag, "); the ", months, "-month penalty period starts again")),
        (in_h1 & (move == 4), _cat(moves, months, "-month penalty period served with no abuse flag")),
        (in_h1, _cat(stays, _count(served), " of ", months, " penalty months served with no abuse flag")),
        ((tier == W1) & (move == 0), _cat(moves, fans, " fans (W2 needs ", need_fans, ") and fan interaction rate ",
                                          _pct(metrics["fan_interaction_rate"]), " (W2 needs ",
                                          _pct(rules["min_fan_interaction_rate"][nxt]), ")")),
        (tier == W1, _cat(stays, "W2 needs ", _missing_entry(metrics, nxt, rules))),
        (move == 2, _cat(moves, "state poor (", np.where(below_fair == "", "composite below fair", below_fair), ")")),
        (state == FAIR, _cat(stays, "state fair", np.where(below_best == "", "", _cat(" (for excellent: ",
                                                                                       below_best, ")")))),
        (move == 0, _cat(moves, "state excellent and ", ta, " entry met (", fans, " fans, ", ta, " needs ",
                         need_fans, ")")),
        (tier == W4, _cat(stays, "state excellent (highest tier)")),
    ]
    fallback = _cat(stays, "state excellent but ", tn, " needs ", _missing_entry(metrics, nxt, rules))
    return np.select([c for c, _ in cases], [text for _, text in cases], fallback)


# ---- inputs and outputs -------------------------------------------------------------------------------
def read_inputs(data_dir: Path) -> dict[str, pa.Table]:
    """The contract tables an assessment reads from ``data_dir`` (events: only the columns it needs)."""
    tables = {name: read_table(data_dir, name) for name in ("accounts", "follows", "posts", "products")}
    tables["events"] = read_table(data_dir, "events", columns=EVENT_COLUMNS)
    return tables


def read_flags(path: Path) -> dict[int, str]:
    """Anti-abuse flags from a CSV file with a header ``account_id,reason`` (reason may be empty)."""
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={"account_id": pa.int64(), "reason": pa.string()}, include_columns=["account_id", "reason"]))
    except (pa.ArrowInvalid, OSError, KeyError) as e:
        raise TierError(f"flags file {path}: expected CSV columns account_id,reason with integer ids ({e})") from None
    if table.column("account_id").null_count:
        raise TierError(f"flags file {path}: account_id must not be empty")
    return dict(zip(table.column("account_id").to_pylist(), table.column("reason").fill_null("").to_pylist(),
                    strict=True))


def month_folder(root: Path, month: str) -> Path:
    """Where the assessment of ``month`` lives under ``root`` (``root/month=YYYY-MM``)."""
    return Path(root) / f"month={month}"


def h1_months_served(root: Path, month: str, penalty_months: int) -> dict[int, int]:
    """Consecutive months each account was put or kept in H1 by the assessments before ``month`` under ``root``.

    Counting walks back from the previous month and stops at a month with no H1 verdict, or after a month
    with an abuse flag (the flag month itself counts: the penalty period runs from the last flag). Counts
    are capped at ``penalty_months``, all the rules need. Accounts with no history are absent (0 served).
    """
    stints: list[np.ndarray] = []
    alive: np.ndarray | None = None
    for back in range(1, penalty_months + 1):
        file = month_folder(root, previous_month(month, back)) / PART
        if not file.exists():
            break
        t = pq.read_table(file, columns=["account_id", "tier_after", "abuse_flag"])
        ids = t.column("account_id").to_numpy()
        h1 = enum_codes(t.column("tier_after"), "tier") == H1
        still = np.unique(ids[h1]) if alive is None else np.intersect1d(alive, ids[h1])
        stints.append(still)
        flagged = t.column("abuse_flag").is_valid().to_numpy(zero_copy_only=False)
        alive = np.setdiff1d(still, ids[h1 & flagged])
        if not len(alive):
            break
    if not stints:
        return {}
    ids, months = np.unique(np.concatenate(stints), return_counts=True)
    return dict(zip(ids.tolist(), months.tolist(), strict=True))


def write_assessments(table: pa.Table, out: Path, *, overwrite: bool = False) -> Path:
    """Publish ``table`` as ``out/part-0.parquet`` atomically (staged folder, one rename)."""
    with staged(out, overwrite=overwrite) as stage:
        write_extra(stage, table)
    return out


def transition_counts(table: pa.Table) -> dict[str, dict[str, int]]:
    """``{tier_before: {transition: count}}`` plus ``{"all": ...}``, every transition listed."""
    tier = enum_codes(table.column("tier_before"), "tier")
    move = pc.index_in(table.column("transition"), value_set=pa.array(TRANSITIONS)).to_numpy(zero_copy_only=False)
    grid = np.zeros((len(_NAMES), len(TRANSITIONS)), np.int64)
    np.add.at(grid, (tier, move), 1)
    out = {str(_NAMES[i]): dict(zip(TRANSITIONS, grid[i].tolist(), strict=True)) for i in range(len(_NAMES))}
    out["all"] = dict(zip(TRANSITIONS, grid.sum(0).tolist(), strict=True))
    return out
