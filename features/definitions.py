"""Feature declarations: every feature is declared once, as data, and grouped into versioned feature sets.

A :class:`Feature` names its entity, type, window and default, and says how it is computed with one small
declarative spec (no code per feature):

* :class:`Count`: events of some actions on some target types, by some audience (fans, non-fans, all),
  optionally only from some sources or only repeats, keyed by the feature's entity;
* :class:`Ratio`: ``(num + prior_num) / (den + prior_den)`` of two counts or two earlier features;
* :class:`Relative`: one earlier feature divided by another (a post's rate against its account's baseline);
* :class:`Lookup`: a catalogue attribute or a value computed from the request row and the catalogue;
* :class:`Provided`: a value the caller supplies with the request row (embedding similarity).

Time semantics, identical offline and online: events are counted in whole buckets of ``bucket_ms``; a feature
asked for at time ``t`` sees only COMPLETE buckets strictly before the bucket that contains ``t``, the last
``window_hours`` of them (all of them when the window is ``None``). An event at or after ``t`` is never seen.
An event's audience is the acting user's fan status towards the target's account at the event's time.

:class:`FeatureSet` (a name, a version and ordered features) resolves the counts it needs into
:attr:`FeatureSet.counters` and :attr:`FeatureSet.reads` and turns read counts plus look-ups into the feature
matrix (:meth:`FeatureSet.assemble`), the one function both the offline and the online path call.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from features.assemble import AssemblyPlan, by_definition
from features.contract import ENUMS

ENTITIES: tuple[str, ...] = (
    "user", "account", "post", "product", "user_account", "user_category", "tier_kind_format", "request",
)
AUDIENCES: tuple[str, ...] = ("all", "fan", "nonfan")
DTYPES: tuple[str, ...] = ("int", "float", "bool", "category")
#: Post formats grouped for the tier × kind × format baseline (live video behaves unlike short video).
FORMAT_GROUPS: dict[str, str] = {"nine_grid": "image_text", "article": "image_text", "video": "video", "live": "live"}
FORMAT_GROUP_NAMES: tuple[str, ...] = ("image_text", "video", "live")
#: Target types a count may cover for entities that are a kind of target.
_ENTITY_TARGETS = {"post": {"post"}, "product": {"product"}, "tier_kind_format": {"post"}}

#: Catalogue and request look-ups: column -> (entity it belongs to, meaning).
LOOKUPS: dict[str, tuple[str, str]] = {
    "tier": ("account", "tier code (W1, W2, W3, W4, H1 = 0..4)"),
    "tier_state": ("account", "tier state code (poor, fair, excellent = 0..2); unknown for W1 and H1"),
    "preferred_shop": ("account", "1 for a certified preferred shop (优选好店), else 0"),
    "account_kind": ("account", "account kind code (shop, influencer, official = 0..2)"),
    "followers": ("account", "fans of the account at the start of the request's bucket (follow graph)"),
    "post_kind": ("post", "post kind code (product, interactive, info, guide = 0..3)"),
    "post_format": ("post", "post format code (nine_grid, article, video, live = 0..3)"),
    "format_group": ("post", "format group code (image_text, video, live = 0..2)"),
    "post_products": ("post", "number of products the post points at (what it can sell)"),
    "posting_hour": ("post", "hour of day the post was published, local time (UTC+8)"),
    "price_band": ("product", "floor(log2(price in yuan))"),
    "launch_hour": ("product", "hour of day the product was launched, local time (UTC+8)"),
    "freshness_hours": ("request", "hours from the post's publication to the request"),
    "launch_age_hours": ("request", "hours from the product's launch to the request"),
}

#: ``lo`` of a read since the beginning (a bucket before any real one).
ALL = np.iinfo(np.int64).min // 4

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class FeatureError(ValueError):
    """A feature declaration, feature set or feature input that cannot be used; the message names it."""


class FeatureSetMismatch(FeatureError):
    """A model's stored feature set (name, version, columns, fingerprint) differs from the one in code."""


def _names(values: tuple[str, ...] | list[str] | str, enum: str, what: str) -> tuple[str, ...]:
    values = (values,) if isinstance(values, str) else tuple(values)
    bad = [v for v in values if v not in ENUMS[enum]]
    if bad or not values:
        raise FeatureError(f"{what}: {bad or 'empty'} not in {enum} values {ENUMS[enum]}")
    return tuple(sorted(set(values), key=ENUMS[enum].index))


@dataclass(frozen=True)
class Count:
    """Number of events with ``actions`` on ``target_types`` by ``audience``, keyed by the feature's entity.

    ``window_hours="feature"`` takes the feature's window. ``sources`` keeps only events from those sources.
    ``repeat`` keeps only events whose user already had an earlier event of the same actions and target types
    on the same account (ordered by event time, then event id): repeat buyers, returning visitors.
    """

    actions: tuple[str, ...]
    target_types: tuple[str, ...] = ("post", "product", "account")
    audience: str = "all"
    window_hours: int | Literal["feature"] | None = "feature"
    sources: tuple[str, ...] | None = None
    repeat: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", _names(self.actions, "action", "Count.actions"))
        object.__setattr__(self, "target_types", _names(self.target_types, "target_type", "Count.target_types"))
        if self.sources is not None:
            object.__setattr__(self, "sources", _names(self.sources, "source", "Count.sources"))
        if self.audience not in AUDIENCES:
            raise FeatureError(f"Count.audience: {self.audience!r} not in {AUDIENCES}")
        if self.window_hours != "feature":
            _check_window(self.window_hours, "Count.window_hours")


@dataclass(frozen=True)
class Ratio:
    """``(num + prior_num) / (den + prior_den)``; ``num`` and ``den`` are inline counts or earlier features."""

    num: str | Count
    den: str | Count
    prior_num: float = 0.0
    prior_den: float = 1.0


@dataclass(frozen=True)
class Relative:
    """Feature ``a`` divided by feature ``b`` (both declared earlier in the set); the default if ``b`` is 0."""

    a: str
    b: str


@dataclass(frozen=True)
class Lookup:
    """A catalogue attribute or request-time value named in :data:`LOOKUPS`."""

    column: str

    def __post_init__(self) -> None:
        if self.column not in LOOKUPS:
            raise FeatureError(f"Lookup.column: {self.column!r} not in {sorted(LOOKUPS)}")


@dataclass(frozen=True)
class Provided:
    """A value the caller supplies as column ``name`` of the request rows (the ranker fills it)."""

    name: str


Spec = Count | Ratio | Relative | Lookup | Provided


def _check_window(window: int | None, what: str) -> None:
    if window is not None and (not isinstance(window, int) or window <= 0):
        raise FeatureError(f"{what}: {window!r} must be a positive number of hours or None")


@dataclass(frozen=True)
class Feature:
    """One feature, declared once: what it is about, its type, window, default, meaning and computation.

    ``entity`` is what the value is keyed by (see :data:`ENTITIES`); ``dtype`` is ``int``, ``float``, ``bool``
    or ``category`` (a code a model may treat as categorical; frames hold every value as float32);
    ``window_hours`` is the window of its counts (None: since the beginning); ``default`` is the value when
    nothing is known (the row has no key for the entity, a look-up does not apply, a rate has no denominator).
    """

    name: str
    entity: str
    dtype: str
    window_hours: int | None
    spec: Spec
    default: float
    description: str

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise FeatureError(f"feature name {self.name!r} must be lower_snake_case")
        if self.entity not in ENTITIES:
            raise FeatureError(f"feature {self.name}: entity {self.entity!r} not in {ENTITIES}")
        if self.dtype not in DTYPES:
            raise FeatureError(f"feature {self.name}: dtype {self.dtype!r} not in {DTYPES}")
        _check_window(self.window_hours, f"feature {self.name}: window_hours")
        if not self.description:
            raise FeatureError(f"feature {self.name}: a description is required")
        for count in self.counts():
            allowed = _ENTITY_TARGETS.get(self.entity)
            if self.entity == "request" or (allowed and not set(count.target_types) <= allowed):
                raise FeatureError(f"feature {self.name}: cannot count {count.target_types} by {self.entity}")
        if isinstance(self.spec, Lookup) and LOOKUPS[self.spec.column][0] != self.entity:
            raise FeatureError(f"feature {self.name}: look-up {self.spec.column} belongs to entity "
                               f"{LOOKUPS[self.spec.column][0]}, not {self.entity}")

    def counts(self) -> list[Count]:
        """Inline counts of this feature's spec."""
        if isinstance(self.spec, Count):
            return [self.spec]
        if isinstance(self.spec, Ratio):
            return [s for s in (self.spec.num, self.spec.den) if isinstance(s, Count)]
        return []

    def window_of(self, count: Count) -> int | None:
        return self.window_hours if count.window_hours == "feature" else count.window_hours


@dataclass(frozen=True)
class Counter:
    """A resolved counting rule (a :class:`Count` with its entity, without a window): one stored counter.

    ``followers`` marks the follow-graph counter (+1 when a follow starts, -1 when it ends) behind
    ``Lookup("followers")``.
    """

    entity: str
    actions: tuple[str, ...] = ()
    target_types: tuple[str, ...] = ()
    audience: str = "all"
    sources: tuple[str, ...] | None = None
    repeat: bool = False
    followers: bool = False

    @property
    def repeat_space(self) -> str:
        """Name of the 'seen before' state a repeat counter keeps per (user, account)."""
        return f"repeat:{'+'.join(self.actions)}@{'+'.join(self.target_types)}"


FOLLOWERS = Counter(entity="account", followers=True)


@dataclass(frozen=True)
class Read:
    """One windowed read of a counter (``window_hours`` None: since the beginning)."""

    counter: int
    window_hours: int | None


@dataclass
class Inputs:
    """What :meth:`FeatureSet.assemble` needs for ``n`` request rows.

    ``counts[:, r]`` is read ``r`` of :attr:`FeatureSet.reads`; ``valid[entity]`` says which rows have a key for
    that entity; ``lookup(column)`` and ``provided(name)`` return (float64 values, valid mask).
    """

    counts: np.ndarray
    valid: Mapping[str, np.ndarray]
    lookup: Callable[[str], tuple[np.ndarray, np.ndarray]]
    provided: Callable[[str], tuple[np.ndarray, np.ndarray]]
    #: Optional: several look-ups at once, as (values, valid) matrices (rows × columns); the same answers.
    lookup_many: Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray]] | None = None


def _spec_dict(spec: Spec) -> dict[str, object]:
    out: dict[str, object] = {"type": type(spec).__name__}
    for key, value in asdict(spec).items():
        out[key] = value
    return out


@dataclass(frozen=True)
class FeatureSet:
    """A named, versioned, ordered group of features: the columns a model is trained and served on."""

    name: str
    version: int
    features: tuple[Feature, ...]
    counters: tuple[Counter, ...] = field(init=False, repr=False, compare=False)
    reads: tuple[Read, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))
        counters: list[Counter] = []
        reads: list[Read] = []
        seen: set[str] = set()
        for f in self.features:
            if f.name in seen:
                raise FeatureError(f"feature set {self.name}: feature {f.name} declared twice")
            for ref in _references(f.spec):
                if ref not in seen:
                    raise FeatureError(f"feature {f.name}: refers to {ref!r}, which is not declared before it")
            seen.add(f.name)
            for counter, window in self._needs(f):
                if counter not in counters:
                    counters.append(counter)
                read = Read(counters.index(counter), window)
                if read not in reads:
                    reads.append(read)
        object.__setattr__(self, "counters", tuple(counters))
        object.__setattr__(self, "reads", tuple(reads))

    @staticmethod
    def _needs(f: Feature) -> list[tuple[Counter, int | None]]:
        if isinstance(f.spec, Lookup) and f.spec.column == "followers":
            return [(FOLLOWERS, None)]
        return [(Counter(f.entity, c.actions, c.target_types, c.audience, c.sources, c.repeat), f.window_of(c))
                for c in f.counts()]

    @property
    def columns(self) -> list[str]:
        """Feature names in column order."""
        return [f.name for f in self.features]

    @property
    def fingerprint(self) -> str:
        """Stable hash of the declarations (names, entities, types, windows, defaults, specs; not wording)."""
        body = [{"name": f.name, "entity": f.entity, "dtype": f.dtype, "window_hours": f.window_hours,
                 "default": repr(float(f.default)), "spec": _spec_dict(f.spec)} for f in self.features]
        blob = json.dumps({"name": self.name, "version": self.version, "features": body}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def check(self, name: str, version: int, columns: list[str], fingerprint: str) -> None:
        """Refuse a model whose stored feature set differs from this one (raises :class:`FeatureSetMismatch`)."""
        if (name, version) != (self.name, self.version):
            raise FeatureSetMismatch(f"model was trained on {name} v{version}, code has {self.name} v{self.version}")
        if list(columns) != self.columns:
            raise FeatureSetMismatch(f"feature set {self.name}: model columns differ from the declared columns")
        if fingerprint != self.fingerprint:
            raise FeatureSetMismatch(f"feature set {self.name}: fingerprint {fingerprint} != {self.fingerprint}")

    @cached_property
    def _read_columns(self) -> dict[tuple[str, Count | None], int]:
        """Memo of :meth:`read_index` (it runs for every feature of every request)."""
        return {}

    def read_index(self, f: Feature, count: Count | None) -> int:
        """Column of :attr:`Inputs.counts` holding ``count`` of feature ``f`` (or its followers read)."""
        memo = self._read_columns
        key = (f.name, count)
        if key not in memo:
            counter, window = self._needs(f)[0] if count is None else (
                Counter(f.entity, count.actions, count.target_types, count.audience, count.sources, count.repeat),
                f.window_of(count))
            memo[key] = self.reads.index(Read(self.counters.index(counter), window))
        return memo[key]

    @cached_property
    def plan(self) -> AssemblyPlan:
        """:meth:`assemble_reference` compiled into whole-matrix steps (built once)."""
        return AssemblyPlan.build(self)

    def assemble(self, inputs: Inputs) -> np.ndarray:
        """Feature matrix (float32, rows × columns) from read counts and look-ups; the same on both paths.

        Runs the compiled :attr:`plan`; bitwise equal to :meth:`assemble_reference`.
        """
        return self.plan.run(inputs, inputs.lookup_many)

    def assemble_reference(self, inputs: Inputs) -> np.ndarray:
        """The feature matrix by the definitions, one feature at a time (the specification of :meth:`assemble`,
        :func:`features.assemble.by_definition`)."""
        return by_definition(self, inputs)


def _references(spec: Spec) -> list[str]:
    if isinstance(spec, Ratio):
        return [x for x in (spec.num, spec.den) if isinstance(x, str)]
    if isinstance(spec, Relative):
        return [spec.a, spec.b]
    return []


def window_buckets(window_hours: int, bucket_ms: int) -> int:
    """A window in whole buckets; windows must be a whole number of buckets so both paths agree exactly."""
    span = window_hours * 3_600_000
    if span % bucket_ms:
        raise FeatureError(f"window of {window_hours} h is not a whole number of {bucket_ms} ms buckets")
    return span // bucket_ms


def provided_names(feature_set: FeatureSet) -> list[str]:
    """Columns a caller must supply with each request row (the set's ``Provided`` features), in order."""
    return [f.spec.name for f in feature_set.features if isinstance(f.spec, Provided)]
