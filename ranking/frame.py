"""Candidates of many requests at once, as columns.

One :class:`CandidateFrame` holds the candidates of a whole batch of requests (one live request, or an
hour of simulated sessions), rows grouped by request in ascending order. Every component reads and
returns frames, so the same code serves both. Enumerated columns use the contract's codes
(:data:`features.contract.ENUMS`): ``item_type`` is a ``target_type`` code (post / product), ``visibility``
a ``visibility`` code (private / public).

Reasons are a per-row bitmask plus the frame's table of reason texts (bit ``b`` means
``reason_names[b]``): cheap to carry through every stage, and enough to render a seller-facing
explanation such as "preferred shop ×1.2" for each served item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from features.contract import code

POST = code("target_type", "post")
PRODUCT = code("target_type", "product")
PRIVATE = code("visibility", "private")
PUBLIC = code("visibility", "public")
MAX_REASONS = 64

_CORE: dict[str, type] = {
    "request": np.int64, "item_id": np.int64, "item_type": np.int8, "author_id": np.int64,
    "category": np.int32, "created_ms": np.int64, "visibility": np.int8, "score": np.float64,
}


@dataclass(frozen=True, eq=False)
class CandidateFrame:
    """Columnar candidates of a batch of requests; rows grouped by ``request`` (ascending).

    Treat frames as values: every operation returns a new frame and leaves its input untouched.
    """

    request: np.ndarray
    item_id: np.ndarray
    item_type: np.ndarray
    author_id: np.ndarray
    category: np.ndarray
    created_ms: np.ndarray
    visibility: np.ndarray
    score: np.ndarray
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)
    reasons: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    reason_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.request)
        for name, dtype in _CORE.items():
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype))
            if len(getattr(self, name)) != n:
                raise ValueError(f"CandidateFrame column {name!r} has {len(getattr(self, name))} rows, not {n}")
        # An empty ``reasons`` on a non-empty frame means "no reasons yet" (the default).
        reasons = np.asarray(self.reasons, dtype=np.uint64)
        object.__setattr__(self, "reasons", np.zeros(n, np.uint64) if len(reasons) == 0 else reasons)
        if len(self.reasons) != n:
            raise ValueError(f"CandidateFrame reasons have {len(self.reasons)} rows, not {n}")
        object.__setattr__(self, "extra", {k: np.asarray(v) for k, v in self.extra.items()})
        for name, col in self.extra.items():
            if len(col) != n:
                raise ValueError(f"CandidateFrame extra column {name!r} has {len(col)} rows, not {n}")

    # ---- construction ------------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> CandidateFrame:
        """A frame with no rows."""
        return _build({name: np.zeros(0, dtype) for name, dtype in _CORE.items()})

    @classmethod
    def concat(cls, frames: Sequence[CandidateFrame]) -> CandidateFrame:
        """Rows of every frame, regrouped by request (stable: a request's rows keep frame order).

        Extra columns missing from a frame are filled with NaN (floats) or -1 (integers); reason bits are
        remapped onto the union of the reason tables.
        """
        frames = [f for f in frames if len(f)] or list(frames[:1]) or [cls.empty()]
        if len(frames) == 1:
            return frames[0]
        names = tuple(dict.fromkeys(n for f in frames for n in f.reason_names))
        if len(names) > MAX_REASONS:
            raise ValueError(f"more than {MAX_REASONS} distinct reasons in one frame")
        cols = {name: np.concatenate([getattr(f, name) for f in frames]) for name in _CORE}
        extra = {k: np.concatenate([_extra_or_default(f, k, frames) for f in frames])
                 for k in dict.fromkeys(k for f in frames for k in f.extra)}
        reasons = np.concatenate([_remap(f, names) for f in frames])
        order = np.argsort(cols["request"], kind="stable")
        return _build({k: v[order] for k, v in cols.items()}, {k: v[order] for k, v in extra.items()},
                      reasons[order], names)

    # ---- row selection -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.request)

    def take(self, rows: np.ndarray) -> CandidateFrame:
        """The rows selected by a boolean mask or an index array (index order is kept as given)."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            if len(rows) != len(self):
                raise ValueError(f"mask has {len(rows)} entries for a frame of {len(self)} rows")
            if rows.all():  # most filters drop nothing on most pages; frames are values, so sharing is safe
                return self
            rows = np.flatnonzero(rows)  # once, not once per column
        # Rows of a valid frame keep its dtypes and share one length: no need to check them again.
        return self._derive({name: getattr(self, name)[rows] for name in _CORE},
                            extra={k: v[rows] for k, v in self.extra.items()}, reasons=self.reasons[rows])

    def span(self, start: int, stop: int) -> CandidateFrame:
        """Rows ``start:stop`` (views of this frame's columns, no copy)."""
        return self._derive({name: getattr(self, name)[start:stop] for name in _CORE},
                            extra={k: v[start:stop] for k, v in self.extra.items()},
                            reasons=self.reasons[start:stop])

    def with_score(self, score: np.ndarray) -> CandidateFrame:
        """The same rows with new scores."""
        score = np.asarray(score, dtype=np.float64)
        if score.shape != (len(self),):
            raise ValueError(f"CandidateFrame column 'score' has {len(score)} rows, not {len(self)}")
        return self._derive({"score": score})

    def with_columns(self, **columns: np.ndarray) -> CandidateFrame:
        """The same rows with extra columns added or replaced."""
        new = {k: np.asarray(v) for k, v in columns.items()}
        for name, col in new.items():
            if len(col) != len(self):
                raise ValueError(f"CandidateFrame extra column {name!r} has {len(col)} rows, not {len(self)}")
        return self._derive({}, extra={**self.extra, **new})

    def _derive(self, core: Mapping[str, np.ndarray], *, extra: Mapping[str, np.ndarray] | None = None,
                reasons: np.ndarray | None = None, reason_names: tuple[str, ...] | None = None) -> CandidateFrame:
        """A frame like this one with checked columns swapped in, without :meth:`__post_init__`'s conversions.

        The request path derives a dozen frames per request; converting and checking every column each time
        cost more than the work on the rows. Callers pass columns of the right dtype and length.
        """
        out = object.__new__(CandidateFrame)
        for name in _CORE:
            object.__setattr__(out, name, core.get(name, getattr(self, name)))
        object.__setattr__(out, "extra", self.extra if extra is None else extra)
        object.__setattr__(out, "reasons", self.reasons if reasons is None else reasons)
        object.__setattr__(out, "reason_names", self.reason_names if reason_names is None else reason_names)
        return out

    def first_per_item(self) -> CandidateFrame:
        """Each (request, item type, item id) once: its first row (sources listed first win)."""
        order = np.lexsort((self.item_id, self.item_type, self.request))  # stable: first row of a key first
        new = _starts(order, self.request, self.item_type, self.item_id)
        if new.all():
            return self
        keep = np.zeros(len(self), dtype=bool)
        keep[order[new]] = True
        return self.take(keep)

    # ---- reasons -----------------------------------------------------------------------------------
    def with_reason(self, rows: np.ndarray, reason: str) -> CandidateFrame:
        """Mark the rows selected by mask ``rows`` with ``reason`` (a short seller-facing text)."""
        names = self.reason_names if reason in self.reason_names else (*self.reason_names, reason)
        if len(names) > MAX_REASONS:
            raise ValueError(f"more than {MAX_REASONS} distinct reasons in one frame")
        bit = np.uint64(1) << np.uint64(names.index(reason))
        rows = np.asarray(rows, dtype=bool)
        if rows.shape != (len(self),):
            raise ValueError(f"mask has {len(rows)} entries for a frame of {len(self)} rows")
        reasons = np.where(rows, self.reasons | bit, self.reasons)
        return self._derive({}, reasons=reasons, reason_names=names)

    def has_reason(self, reason: str) -> np.ndarray:
        """Mask of the rows carrying ``reason``."""
        if reason not in self.reason_names:
            return np.zeros(len(self), dtype=bool)
        bit = np.uint64(1) << np.uint64(self.reason_names.index(reason))
        return np.asarray((self.reasons & bit) != 0)

    def explain(self, row: int) -> list[str]:
        """Reason texts of one row, in the order the reasons were first added."""
        value = int(self.reasons[row])
        return [name for b, name in enumerate(self.reason_names) if value >> b & 1]

    # ---- grouping ----------------------------------------------------------------------------------
    def is_grouped(self) -> bool:
        """Whether rows are grouped by request in ascending order (the invariant of every frame)."""
        return bool(np.all(self.request[1:] >= self.request[:-1]))

    def bounds(self, n_requests: int) -> np.ndarray:
        """Offsets: the rows of request ``i`` are ``bounds[i]:bounds[i + 1]``."""
        return np.searchsorted(self.request, np.arange(n_requests + 1))

    def rank_within_request(self, values: np.ndarray | None = None) -> np.ndarray:
        """0-based rank of each row inside its request by descending ``values`` (default: score).

        Ties keep row order, so a rank is deterministic.
        """
        values = self.score if values is None else np.asarray(values, dtype=np.float64)
        order = np.lexsort((-values, self.request))
        return _rank_in_groups(self.request, order)

    def top_per_request(self, limit: np.ndarray | int, values: np.ndarray | None = None) -> np.ndarray:
        """Mask of each request's best ``limit`` rows by descending ``values`` (default: score), ties by row.

        ``limit`` is one number or one per row (e.g. each row's request's ``k``).
        """
        return self.rank_within_request(values) < np.asarray(limit)

    def occurrence(self, key: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        """0-based index of each row among the rows of its (request, ``key``) group, best ``values`` first."""
        values = self.score if values is None else np.asarray(values, dtype=np.float64)
        order = np.lexsort((-values, key, self.request))
        new = _starts(order, self.request, key)
        first = np.maximum.accumulate(np.where(new, np.arange(len(order)), 0))
        out = np.empty(len(order), dtype=np.int64)
        out[order] = np.arange(len(order)) - first
        return out

    def group_ids(self, key: np.ndarray) -> tuple[np.ndarray, int]:
        """Dense id of each row's (request, ``key``) group, ids ascending with (request, key); and the count."""
        order = np.lexsort((key, self.request))
        new = _starts(order, self.request, key)
        ids = np.empty(len(order), dtype=np.int64)
        ids[order] = np.cumsum(new) - 1
        return ids, int(new.sum())

    def count_per(self, key: np.ndarray) -> np.ndarray:
        """Size of each row's (request, ``key``) group, e.g. candidates per (request, author)."""
        ids, n = self.group_ids(key)
        return np.bincount(ids, minlength=n)[ids]


def _starts(order: np.ndarray, *columns: np.ndarray) -> np.ndarray:
    """In ``order`` (sorted by ``columns``), True where a row starts a new group of equal column values."""
    same = np.ones(max(len(order) - 1, 0), dtype=bool)
    for col in columns:
        c = np.asarray(col)[order]
        same &= c[1:] == c[:-1]
    return np.concatenate([np.ones(min(len(order), 1), dtype=bool), ~same])


def _build(cols: Mapping[str, np.ndarray], extra: Mapping[str, np.ndarray] | None = None,
           reasons: np.ndarray | None = None, names: tuple[str, ...] = ()) -> CandidateFrame:
    return CandidateFrame(
        request=cols["request"], item_id=cols["item_id"], item_type=cols["item_type"], author_id=cols["author_id"],
        category=cols["category"], created_ms=cols["created_ms"], visibility=cols["visibility"],
        score=cols["score"], extra=extra or {},
        reasons=np.zeros(0, np.uint64) if reasons is None else reasons, reason_names=names)


def _rank_in_groups(group: np.ndarray, order: np.ndarray) -> np.ndarray:
    sorted_group = group[order]
    first = np.searchsorted(sorted_group, sorted_group, side="left")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - first
    return rank


def _extra_or_default(frame: CandidateFrame, key: str, frames: Sequence[CandidateFrame]) -> np.ndarray:
    if key in frame.extra:
        return frame.extra[key]
    dtype = next(f.extra[key].dtype for f in frames if key in f.extra)
    fill = np.nan if np.issubdtype(dtype, np.floating) else (False if dtype == np.dtype(bool) else -1)
    return np.full(len(frame), fill, dtype=dtype)


def _remap(frame: CandidateFrame, names: tuple[str, ...]) -> np.ndarray:
    out = np.zeros(len(frame), dtype=np.uint64)
    for b, name in enumerate(frame.reason_names):
        hit = (frame.reasons >> np.uint64(b)) & np.uint64(1)
        out |= hit << np.uint64(names.index(name))
    return out
