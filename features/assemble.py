"""A feature set's assembly compiled into a few whole-matrix steps: the request path's feature time.

:meth:`features.definitions.FeatureSet.assemble` defines a feature matrix one feature at a time, each
feature a handful of numpy calls on a column; with fifty features that is hundreds of calls on a few hundred
rows per request, where the calls, not the arithmetic, cost the time. :class:`AssemblyPlan` computes the
same matrix in a few calls per *kind* of feature: every counted feature in one gather, every ratio of one
dependency level in one division over a block of columns. The arithmetic is the same operation in the same
order on the same float64 values, so the matrix is bitwise the definition's (a test holds the two equal).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from features.definitions import Feature, FeatureSet, Inputs

#: Look-ups of many catalogue columns at once: (values, valid), each rows × columns.
LookupMany = Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class _Division:
    """One block of ratio (or relative) features of one dependency level: out = (num + prior) / den."""

    out: np.ndarray  # working columns written
    num: np.ndarray  # working columns read
    den: np.ndarray
    prior_num: np.ndarray | None  # None for relatives (no priors: no "+ 0.0" that would flip a -0.0)
    prior_den: np.ndarray | None
    default: np.ndarray


@dataclass(frozen=True)
class AssemblyPlan:
    """How to build a feature set's matrix in whole-matrix steps (see the module docstring).

    Working matrix columns: the set's reads first (counts as float64), then its features in order.
    """

    n_reads: int
    n_features: int
    reads_of_entity: tuple[tuple[str, np.ndarray], ...]  # each entity and the reads its key's validity covers
    copies: tuple[np.ndarray, np.ndarray, np.ndarray]  # (feature column, read column, default): counts, followers
    lookups: tuple[tuple[int, str, float], ...]  # (feature column, catalogue column, default)
    provided: tuple[tuple[int, str, float], ...]  # (feature column, provided name, default)
    divisions: tuple[_Division, ...]  # in dependency order

    @classmethod
    def build(cls, fs: FeatureSet) -> AssemblyPlan:
        """The plan of ``fs`` (built once per feature set)."""
        from features.definitions import Count, Lookup, Provided, Ratio

        n_reads = len(fs.reads)
        col = {f.name: n_reads + j for j, f in enumerate(fs.features)}
        level: dict[str, int] = {}
        copies: list[tuple[int, int, float]] = []
        lookups, provided = [], []
        ratios: dict[tuple[int, bool], list[tuple[int, int, int, float, float, float]]] = {}
        for f in fs.features:
            spec, out = f.spec, col[f.name]
            level[f.name] = 0
            if isinstance(spec, Count) or (isinstance(spec, Lookup) and spec.column == "followers"):
                copies.append((out, fs.read_index(f, spec if isinstance(spec, Count) else None), f.default))
            elif isinstance(spec, Lookup):
                lookups.append((out, spec.column, float(f.default)))
            elif isinstance(spec, Provided):
                provided.append((out, spec.name, float(f.default)))
            else:
                is_ratio = isinstance(spec, Ratio)
                a, b = (spec.num, spec.den) if is_ratio else (spec.a, spec.b)
                level[f.name] = 1 + max((level[x] for x in (a, b) if isinstance(x, str)), default=0)
                num, den = (col[x] if isinstance(x, str) else fs.read_index(f, x) for x in (a, b))
                priors = (spec.prior_num, spec.prior_den) if is_ratio else (0.0, 0.0)
                ratios.setdefault((level[f.name], is_ratio), []).append((out, num, den, *priors, f.default))
        out, src, default = (np.array(c, dtype=t) for c, t in zip(
            zip(*copies, strict=True) if copies else ((), (), ()), (np.int64, np.int64, np.float64), strict=True))
        divisions = tuple(_division(rows, is_ratio) for (_, is_ratio), rows in sorted(ratios.items()))
        entities = np.array([fs.counters[r.counter].entity for r in fs.reads])
        reads_of_entity = tuple((e, np.flatnonzero(entities == e)) for e in dict.fromkeys(entities.tolist()))
        return cls(n_reads, len(fs.features), reads_of_entity,
                   (out, src, default), tuple(lookups), tuple(provided), divisions)

    def run(self, inputs: Inputs, lookup_many: LookupMany | None = None) -> np.ndarray:
        """The feature matrix (float32, rows × features) of ``inputs``; equal to ``FeatureSet.assemble``."""
        n = inputs.counts.shape[0]
        values = np.empty((n, self.n_reads + self.n_features), dtype=np.float64, order="F")
        valid = np.empty(values.shape, dtype=bool, order="F")
        values[:, :self.n_reads] = inputs.counts
        for entity, reads in self.reads_of_entity:
            valid[:, reads] = inputs.valid[entity][:, None]
        out, src, default = self.copies
        valid[:, out] = valid[:, src]
        values[:, out] = np.where(valid[:, out], values[:, src], default)
        self._lookups(inputs, lookup_many, values, valid)
        for at, name, fill in self.provided:
            v, ok = inputs.provided(name)
            valid[:, at], values[:, at] = ok, np.where(ok, v, fill)
        for d in self.divisions:
            num, den = values[:, d.num], values[:, d.den]
            if d.prior_den is not None:
                den = den + d.prior_den
            ok = valid[:, d.num] & valid[:, d.den] & (den != 0)
            if d.prior_num is not None:
                num = num + d.prior_num
            valid[:, d.out], values[:, d.out] = ok, np.where(ok, num / np.where(ok, den, 1.0), d.default)
        return np.ascontiguousarray(values[:, self.n_reads:], dtype=np.float32)

    def _lookups(self, inputs: Inputs, lookup_many: LookupMany | None, values: np.ndarray,
                 valid: np.ndarray) -> None:
        if not self.lookups:
            return
        at = [a for a, _, _ in self.lookups]
        fill = np.array([d for _, _, d in self.lookups])
        if lookup_many is not None:
            v, ok = lookup_many([c for _, c, _ in self.lookups])
        else:
            pairs = [inputs.lookup(c) for _, c, _ in self.lookups]
            v = np.stack([p[0] for p in pairs], axis=1)
            ok = np.stack([np.broadcast_to(p[1], len(p[0])) for p in pairs], axis=1)
        valid[:, at], values[:, at] = ok, np.where(ok, v, fill)


def _division(rows: list[tuple[int, int, int, float, float, float]], is_ratio: bool) -> _Division:
    out, num, den, prior_num, prior_den, default = (np.array(c) for c in zip(*rows, strict=True))
    return _Division(out.astype(np.int64), num.astype(np.int64), den.astype(np.int64),
                     prior_num.astype(np.float64) if is_ratio else None,
                     prior_den.astype(np.float64) if is_ratio else None, default.astype(np.float64))


def by_definition(fs: FeatureSet, inputs: Inputs) -> np.ndarray:
    """The feature matrix of ``fs`` one feature at a time, as each declaration reads: the specification the
    plan is held to."""
    n = inputs.counts.shape[0]
    out = np.empty((n, len(fs.features)), dtype=np.float32)
    done: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for j, f in enumerate(fs.features):
        values, valid = _evaluate(fs, f, inputs, done)
        values = np.where(valid, values, f.default)
        done[f.name] = (values, valid)
        out[:, j] = values
    return out


def _evaluate(fs: FeatureSet, f: Feature, inputs: Inputs,
              done: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    from features.definitions import Count, Lookup, Ratio, Relative

    spec = f.spec

    def operand(x: str | Count) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(x, str):
            return done[x]
        return inputs.counts[:, fs.read_index(f, x)].astype(np.float64), inputs.valid[f.entity]

    if isinstance(spec, Count):
        return operand(spec)
    if isinstance(spec, Ratio):
        (num, vn), (den, vd) = operand(spec.num), operand(spec.den)
        den = den + spec.prior_den
        ok = vn & vd & (den != 0)
        return (num + spec.prior_num) / np.where(ok, den, 1.0), ok
    if isinstance(spec, Relative):
        (a, va), (b, vb) = done[spec.a], done[spec.b]
        ok = va & vb & (b != 0)
        return a / np.where(ok, b, 1.0), ok
    if isinstance(spec, Lookup):
        if spec.column == "followers":
            return inputs.counts[:, fs.read_index(f, None)].astype(np.float64), inputs.valid["account"]
        return inputs.lookup(spec.column)
    return inputs.provided(spec.name)
