"""Reference specs and mergeable data profiles (numpy + stdlib only).

A :class:`ReferenceSpec` is computed once from a version's reference data: per numeric
feature the bin edges (reference quantiles) and the reference mean, sd, min and max; per
categorical feature the reference categories. A :class:`Profile` summarises any data set
*against* a spec — bin counts, category counts, missing/absent/invalid/±inf counts, centred
sums, min, max and a bounded uniform reservoir sample of rows — so that profiles of any
number of hosts and time windows merge by adding counts (:meth:`Profile.merge`).

This module is imported by the on-host prediction server, so it depends on numpy and the
standard library only. pandas is imported lazily, and only when a pandas object is passed
in; the schema helpers are imported lazily by :func:`build_spec`.

Bins
----
For a numeric feature with edges ``e0 <= e1 <= ... <= ek`` the counts array has ``k + 2``
cells::

    [x < e0, e0 <= x < e1, ..., e(k-1) <= x <= ek, x > ek]

The first and last cells are the open tails: values outside the reference range (the
reference's own profile has zeros there). ``e0`` and ``ek`` lie half a gap below the
reference minimum and above the maximum (the gap to the next distinct reference value), so
rounding noise at the extremes stays in range. Inner edges are the reference quantiles at
``n_bins`` equal steps (reference values, not interpolations), each moved to the midpoint of
the gap below it, then deduplicated: no reference value sits on an inner edge, and a heavily
tied value (an integer, a rounded measurement) stays whole in one bin. A feature with at
most ``n_bins`` distinct reference values gets one bin per value; a constant feature gets the
edges ``[c, c]`` (any other value is out of range). NaN, ±inf and values that are not
numbers are counted apart, in no bin.

For a categorical feature the counts array has one cell per reference category (in spec
order) and a last cell for values never seen in the reference ("other").

Serialised form
---------------
:meth:`Profile.to_bytes` writes ``b"MDPROF"``, a format byte (``1``), a flags byte (bit 0:
the rest is zlib-compressed), then a little-endian ``uint32`` header length, a UTF-8 JSON
header (the spec, row count, window, hosts, per-feature scalars, and the name, dtype and
shape of each array) and the raw little-endian bytes of the arrays it lists: all bin and
category counts concatenated (``<i8``), the numeric reservoir (``<f8``, rows × numeric
features, NaN for missing) and the categorical reservoir (``<i4`` codes, ``-1`` missing,
``len(categories)`` for unseen). No pickle, no npz. A 20 numeric + 5 categorical feature
profile with a full 10 000-row reservoir is about 1.5 MB compressed (the reservoir is
almost all of it; random floats compress little); without rows (an empty window) 6 kB.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

import numpy as np

from modeldeck.core.errors import DataError
from modeldeck.core.progress import CancelToken

#: Default number of quantile bins per numeric feature.
DEFAULT_BINS = 20
#: Default reservoir capacity (rows) of a profile.
DEFAULT_SAMPLE_SIZE = 10_000
#: At most this many example values of unseen categories are kept per feature.
MAX_UNSEEN_EXAMPLES = 20

NUMERIC = "numeric"
CATEGORICAL = "categorical"
UNSUPPORTED = "unsupported"

_MAGIC = b"MDPROF"
_FORMAT = 1
_SPEC_VERSION = 1


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class FeatureSpec:
    """How one feature is binned, with its reference summary.

    Attributes
    ----------
    name
        Column name.
    kind
        ``"numeric"``, ``"categorical"`` or ``"unsupported"`` (free text, datetimes, a
        column without any finite reference value: counted for missing values only).
    dtype
        The schema dtype (``"integer"``, ``"float"``, ``"boolean"``, ``"string"``...).
    edges
        Numeric: the bin edges (see the module docstring). Empty otherwise.
    categories
        Categorical: the reference categories, in counts order. Empty otherwise.
    mean, sd, min, max
        Numeric: mean, standard deviation (ddof=1; 0 for fewer than 2 values), minimum and
        maximum of the finite reference values. 0 otherwise.
    count
        Number of finite (numeric) or non-missing (categorical) reference values.
    reason
        Why an ``"unsupported"`` feature is not profiled.
    """

    name: str
    kind: str
    dtype: str = ""
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    mean: float = 0.0
    sd: float = 0.0
    min: float = 0.0
    max: float = 0.0
    count: int = 0
    reason: str = ""

    @property
    def n_cells(self) -> int:
        """Length of this feature's counts array."""
        if self.kind == NUMERIC:
            return len(self.edges) + 1
        if self.kind == CATEGORICAL:
            return len(self.categories) + 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"name": self.name, "kind": self.kind, "dtype": self.dtype,
                "edges": list(self.edges), "categories": list(self.categories),
                "mean": self.mean, "sd": self.sd, "min": self.min, "max": self.max,
                "count": self.count, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(name=str(data["name"]), kind=str(data["kind"]), dtype=str(data.get("dtype", "")),
                   edges=tuple(float(e) for e in data.get("edges", ())),
                   categories=tuple(str(c) for c in data.get("categories", ())),
                   mean=float(data.get("mean", 0.0)), sd=float(data.get("sd", 0.0)),
                   min=float(data.get("min", 0.0)), max=float(data.get("max", 0.0)),
                   count=int(data.get("count", 0)), reason=str(data.get("reason", "")))


@dataclass(frozen=True)
class ReferenceSpec:
    """The binning of every feature of a model, fixed by its reference data.

    Build it once with :func:`build_spec` (or :func:`build_reference`), store
    :meth:`to_json`, and profile every later data set against it: profiles made against
    the same spec merge and compare; profiles of different specs refuse to.

    Attributes
    ----------
    features
        One :class:`FeatureSpec` per model input, in schema order.
    n_bins
        The number of quantile bins asked for (a feature may have fewer).
    """

    features: tuple[FeatureSpec, ...]
    n_bins: int = DEFAULT_BINS

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise DataError("a reference spec names a feature twice",
                            "give every column a unique name")

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names, in order."""
        return tuple(f.name for f in self.features)

    def feature(self, name: str) -> FeatureSpec:
        """The spec of feature ``name`` (``KeyError`` if there is none)."""
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def numeric(self) -> tuple[FeatureSpec, ...]:
        """The numeric features (the columns of a profile's numeric reservoir)."""
        return tuple(f for f in self.features if f.kind == NUMERIC)

    @property
    def categorical(self) -> tuple[FeatureSpec, ...]:
        """The categorical features (the columns of a profile's code reservoir)."""
        return tuple(f for f in self.features if f.kind == CATEGORICAL)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"spec_version": _SPEC_VERSION, "n_bins": self.n_bins,
                "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceSpec:
        """Inverse of :meth:`to_dict`."""
        version = int(data.get("spec_version", _SPEC_VERSION))
        if version > _SPEC_VERSION:
            raise DataError(f"reference spec version {version} is newer than this ModelDeck "
                            f"understands ({_SPEC_VERSION})", "upgrade ModelDeck")
        return cls(tuple(FeatureSpec.from_dict(f) for f in data["features"]),
                   int(data.get("n_bins", DEFAULT_BINS)))

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys; floats round-trip exactly)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ReferenceSpec:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    @cached_property
    def digest(self) -> str:
        """sha256 of :meth:`to_json`: two profiles compare only when their digests match."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()


def numeric_edges(values: np.ndarray, n_bins: int = DEFAULT_BINS) -> tuple[float, ...]:
    """Bin edges for the finite ``values`` of a numeric reference column.

    Parameters
    ----------
    values
        Finite reference values (NaN and ±inf removed).
    n_bins
        Number of quantile bins wanted.

    Returns
    -------
    tuple of float
        Outer edges half a gap beyond the reference min and max; inner edges at the
        midpoint of the gap below each reference quantile (``n_bins`` equal steps, the
        quantiles being reference values), deduplicated; one bin per value when there are
        at most ``n_bins`` distinct values; ``(c, c)`` for a constant column; ``()`` for no
        values.
    """
    if values.size == 0:
        return ()
    distinct = np.unique(values)
    if distinct.size == 1:
        c = float(distinct[0])
        return (c, c)
    # The outer edges lie half a gap beyond the reference min and max, so that rounding
    # noise at the extremes is not "out of range".
    low = distinct[0] - (distinct[1] - distinct[0]) / 2.0
    high = distinct[-1] + (distinct[-1] - distinct[-2]) / 2.0
    if distinct.size <= n_bins:
        inner = (distinct[:-1] + distinct[1:]) / 2.0
    else:
        # Quantiles (reference values, not interpolations), each moved to the midpoint of
        # the gap below it: no reference value lies on an inner edge, and a heavily tied
        # value (an integer, a rounded measurement) stays whole in one bin.
        quantiles = np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1)[1:-1],
                                method="inverted_cdf")
        above = np.clip(np.searchsorted(distinct, quantiles, side="left"), 1,
                        distinct.size - 1)
        inner = np.unique((distinct[above - 1] + distinct[above]) / 2.0)
    return (float(low), *(float(e) for e in inner), float(high))


def build_spec(frame: Any, schema: Sequence[Any] | None = None,
               n_bins: int = DEFAULT_BINS) -> ReferenceSpec:
    """Compute the :class:`ReferenceSpec` of reference data.

    Parameters
    ----------
    frame
        The reference data (a pandas DataFrame).
    schema
        The version's input schema (:class:`~modeldeck.core.schema.ColumnSchema` items);
        inferred from ``frame`` when ``None``. Integer and float columns are numeric;
        boolean columns and string columns with a category list are categorical; free
        text, datetimes and columns without any finite value are ``"unsupported"``.
    n_bins
        Number of quantile bins per numeric feature (at least 2).

    Raises
    ------
    DataError
        A schema column is missing from ``frame``, or ``n_bins < 2``.
    """
    if n_bins < 2:
        raise DataError(f"n_bins must be at least 2, got {n_bins}", "use 10 to 20 bins")
    if schema is None:
        from modeldeck.core.schema import infer_schema

        schema = infer_schema(frame)
    columns = _column_names(frame)
    features = []
    for column in schema:
        name, dtype = column.name, column.dtype
        if name not in columns:
            raise DataError(f"reference data has no column '{name}'",
                            "pass the data the model was trained on")
        values = frame[name]
        if dtype in ("integer", "float"):
            x, _invalid = _as_float(values)
            finite = x[np.isfinite(x)]
            if finite.size == 0:
                features.append(FeatureSpec(name, UNSUPPORTED, dtype,
                                            reason="no finite value in the reference data"))
                continue
            sd = float(np.std(finite, ddof=1)) if finite.size > 1 else 0.0
            features.append(FeatureSpec(
                name, NUMERIC, dtype, edges=numeric_edges(finite, n_bins),
                mean=float(np.mean(finite)), sd=sd, min=float(finite.min()),
                max=float(finite.max()), count=int(finite.size)))
        elif dtype == "boolean":
            codes, missing, _ = _as_codes(values, ("False", "True"))
            features.append(FeatureSpec(name, CATEGORICAL, dtype, categories=("False", "True"),
                                        count=int((~missing).sum())))
        elif dtype == "string" and column.categories is not None:
            cats = tuple(str(c) for c in column.categories)
            _codes, missing, _ = _as_codes(values, cats)
            features.append(FeatureSpec(name, CATEGORICAL, dtype, categories=cats,
                                        count=int((~missing).sum())))
        elif dtype == "string":
            features.append(FeatureSpec(
                name, UNSUPPORTED, dtype,
                reason="free text: too many distinct values in the reference to compare"))
        else:
            features.append(FeatureSpec(name, UNSUPPORTED, dtype,
                                        reason=f"{dtype} columns are not profiled"))
    return ReferenceSpec(tuple(features), n_bins)


# --------------------------------------------------------------------------- profile


@dataclass(frozen=True, eq=False)
class FeatureCounts:
    """What a profile counted for one feature.

    ``rows = counts.sum() + missing + absent + invalid + pos_inf + neg_inf`` for every
    feature (categorical features have no invalid or infinite values).

    Attributes
    ----------
    counts
        Bin counts (numeric: ``[below, bins..., above]``) or category counts
        (categorical: ``[categories..., other]``); empty for unsupported features.
    missing
        NaN / None values.
    absent
        Rows of data sets that lacked the column altogether.
    invalid
        Numeric features: values that are not numbers (e.g. strings).
    pos_inf, neg_inf
        Numeric features: ``+inf`` and ``-inf`` values.
    total, total_sq
        Numeric features: sum and sum of squares of ``x - reference mean`` over the finite
        values (centred, so the variance does not cancel catastrophically).
    min, max
        Numeric features: smallest and largest finite value (``+inf`` / ``-inf`` if none).
    unseen
        Categorical features: up to :data:`MAX_UNSEEN_EXAMPLES` values not in the
        reference categories (sorted; examples, not exhaustive).
    """

    counts: np.ndarray
    missing: int = 0
    absent: int = 0
    invalid: int = 0
    pos_inf: int = 0
    neg_inf: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    unseen: tuple[str, ...] = ()

    @property
    def valid(self) -> int:
        """Values in a bin or category (finite numbers / non-missing categories)."""
        return int(self.counts.sum())

    @property
    def rows(self) -> int:
        """All rows this feature has seen."""
        return (self.valid + self.missing + self.absent + self.invalid + self.pos_inf
                + self.neg_inf)

    def merge(self, other: FeatureCounts) -> FeatureCounts:
        """Counts of both (exact); totals summed, extremes combined."""
        return FeatureCounts(
            counts=self.counts + other.counts, missing=self.missing + other.missing,
            absent=self.absent + other.absent, invalid=self.invalid + other.invalid,
            pos_inf=self.pos_inf + other.pos_inf, neg_inf=self.neg_inf + other.neg_inf,
            total=self.total + other.total, total_sq=self.total_sq + other.total_sq,
            min=min(self.min, other.min), max=max(self.max, other.max),
            unseen=tuple(sorted(set(self.unseen) | set(other.unseen)))[:MAX_UNSEEN_EXAMPLES])

    def equal_counts(self, other: FeatureCounts) -> bool:
        """Whether every count (not the float sums) equals ``other``'s."""
        return (np.array_equal(self.counts, other.counts) and self.missing == other.missing
                and self.absent == other.absent and self.invalid == other.invalid
                and self.pos_inf == other.pos_inf and self.neg_inf == other.neg_inf
                and self.min == other.min and self.max == other.max)

    def _scalars(self) -> dict[str, Any]:
        return {"missing": self.missing, "absent": self.absent, "invalid": self.invalid,
                "pos_inf": self.pos_inf, "neg_inf": self.neg_inf, "total": self.total,
                "total_sq": self.total_sq,
                "min": None if math.isinf(self.min) else self.min,
                "max": None if math.isinf(self.max) else self.max,
                "unseen": list(self.unseen)}

    @classmethod
    def _from_scalars(cls, counts: np.ndarray, data: Mapping[str, Any]) -> FeatureCounts:
        return cls(counts=counts, missing=int(data["missing"]), absent=int(data["absent"]),
                   invalid=int(data["invalid"]), pos_inf=int(data["pos_inf"]),
                   neg_inf=int(data["neg_inf"]), total=float(data["total"]),
                   total_sq=float(data["total_sq"]),
                   min=math.inf if data["min"] is None else float(data["min"]),
                   max=-math.inf if data["max"] is None else float(data["max"]),
                   unseen=tuple(str(u) for u in data.get("unseen", ())))


@dataclass(frozen=True, eq=False)
class Profile:
    """A mergeable summary of a data set against a :class:`ReferenceSpec`.

    Make one with :func:`profile_frame` (or :func:`build_reference` for the reference
    itself); combine any number with :meth:`merge` / :func:`merge_profiles`; store with
    :meth:`to_bytes`.

    Attributes
    ----------
    spec
        The spec the data was profiled against.
    n_rows
        Rows summarised.
    features
        Per feature name, its :class:`FeatureCounts` (spec order).
    sample_numeric
        A uniform random sample of ``min(n_rows, capacity)`` rows, numeric features
        (``spec.numeric`` order) as float64, NaN where missing or not a number, ±inf kept.
        Rows are in random order.
    sample_codes
        The same rows' categorical features (``spec.categorical`` order) as int32 codes:
        the category's index, ``-1`` missing, ``len(categories)`` unseen.
    capacity
        The reservoir's capacity in rows.
    start, end
        The time window covered (timezone-aware UTC), ``None`` when unknown.
    hosts
        The hosts whose data this is (sorted; empty when unknown).
    extra_columns
        Columns seen in the data that are not in the spec (ignored otherwise).
    """

    spec: ReferenceSpec
    n_rows: int
    features: dict[str, FeatureCounts]
    sample_numeric: np.ndarray
    sample_codes: np.ndarray
    capacity: int = DEFAULT_SAMPLE_SIZE
    start: datetime | None = None
    end: datetime | None = None
    hosts: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = field(default=())

    @property
    def sample_rows(self) -> int:
        """Rows in the reservoir."""
        return int(self.sample_numeric.shape[0])

    def numeric_sample(self, name: str) -> np.ndarray:
        """The reservoir values of numeric feature ``name`` (all of them, NaN included)."""
        index = [f.name for f in self.spec.numeric].index(name)
        return self.sample_numeric[:, index]

    def code_sample(self, name: str) -> np.ndarray:
        """The reservoir codes of categorical feature ``name``."""
        index = [f.name for f in self.spec.categorical].index(name)
        return self.sample_codes[:, index]

    # ------------------------------------------------------------------ merging

    def merge(self, other: Profile, seed: int | None = None) -> Profile:
        """Combine two profiles of the same spec into the profile of their union.

        Counts add exactly, so merging is associative and commutative in every count.
        The merged reservoir is a uniform sample of the union: the number of rows taken
        from ``self`` is hypergeometric (``n_rows`` of each side, ``min(n, capacity)``
        drawn), the rows the first ones of each (already random-order) reservoir. The draw
        is seeded by a digest of both inputs unless ``seed`` is given, so the result is
        reproducible and ``a.merge(b)`` equals ``b.merge(a)`` byte for byte.

        Raises
        ------
        DataError
            The profiles were made against different reference specs.
        """
        if self.spec.digest != other.spec.digest:
            raise DataError("cannot merge profiles made against different reference specs",
                            "profile every data set against the same version's reference")
        a, b = self, other
        da, db = a._sample_digest(), b._sample_digest()
        if (db, b.n_rows) < (da, a.n_rows):
            a, b, da, db = b, a, db, da
        if seed is None:
            seed = int.from_bytes(hashlib.sha256(da + db).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        capacity = min(a.capacity, b.capacity)
        size = min(capacity, a.n_rows + b.n_rows)
        from_a = int(rng.hypergeometric(a.n_rows, b.n_rows, size)) if size else 0
        order = rng.permutation(size)
        numeric = np.concatenate([a.sample_numeric[:from_a], b.sample_numeric[:size - from_a]])
        codes = np.concatenate([a.sample_codes[:from_a], b.sample_codes[:size - from_a]])
        starts = [t for t in (a.start, b.start) if t is not None]
        ends = [t for t in (a.end, b.end) if t is not None]
        return Profile(
            spec=a.spec, n_rows=a.n_rows + b.n_rows,
            features={n: a.features[n].merge(b.features[n]) for n in a.spec.names},
            sample_numeric=numeric[order], sample_codes=codes[order], capacity=capacity,
            start=min(starts) if starts else None, end=max(ends) if ends else None,
            hosts=tuple(sorted(set(a.hosts) | set(b.hosts))),
            extra_columns=tuple(sorted(set(a.extra_columns) | set(b.extra_columns))))

    def _sample_digest(self) -> bytes:
        h = hashlib.sha256(struct.pack("<q", self.n_rows))
        h.update(np.ascontiguousarray(self.sample_numeric, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(self.sample_codes, dtype="<i4").tobytes())
        return h.digest()

    def equal_counts(self, other: Profile) -> bool:
        """Whether both profiles hold the same spec, row count and every count."""
        return (self.spec.digest == other.spec.digest and self.n_rows == other.n_rows
                and all(self.features[n].equal_counts(other.features[n])
                        for n in self.spec.names))

    # ------------------------------------------------------------------ serialising

    def to_bytes(self, compress: bool = True) -> bytes:
        """Serialise (see the module docstring for the format).

        Parameters
        ----------
        compress
            zlib-compress everything after the flags byte.
        """
        counts = [self.features[n].counts.astype("<i8") for n in self.spec.names]
        allcounts = np.concatenate(counts) if counts else np.zeros(0, "<i8")
        numeric = np.ascontiguousarray(self.sample_numeric, dtype="<f8")
        codes = np.ascontiguousarray(self.sample_codes, dtype="<i4")
        header = {
            "spec": self.spec.to_dict(), "n_rows": self.n_rows, "capacity": self.capacity,
            "start": _iso(self.start), "end": _iso(self.end), "hosts": list(self.hosts),
            "extra_columns": list(self.extra_columns),
            "features": [self.features[n]._scalars() for n in self.spec.names],
            "arrays": [["counts", "<i8", list(allcounts.shape)],
                       ["sample_numeric", "<f8", list(numeric.shape)],
                       ["sample_codes", "<i4", list(codes.shape)]],
        }
        head = json.dumps(header, separators=(",", ":")).encode()
        body = b"".join([struct.pack("<I", len(head)), head, allcounts.tobytes(),
                         numeric.tobytes(), codes.tobytes()])
        if compress:
            body = zlib.compress(body, 1)
        return _MAGIC + bytes([_FORMAT, 1 if compress else 0]) + body

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        """Inverse of :meth:`to_bytes`.

        Raises
        ------
        DataError
            ``data`` is not a ModelDeck profile, is truncated, or is of a newer format.
        """
        if data[:len(_MAGIC)] != _MAGIC or len(data) < len(_MAGIC) + 2:
            raise DataError("not a ModelDeck profile (bad magic bytes)",
                            "pass bytes written by Profile.to_bytes")
        fmt, flags = data[len(_MAGIC)], data[len(_MAGIC) + 1]
        if fmt > _FORMAT:
            raise DataError(f"profile format {fmt} is newer than this ModelDeck reads "
                            f"({_FORMAT})", "upgrade ModelDeck")
        body = data[len(_MAGIC) + 2:]
        try:
            if flags & 1:
                body = zlib.decompress(body)
            (length,) = struct.unpack_from("<I", body, 0)
            header = json.loads(body[4:4 + length].decode())
            offset = 4 + length
            arrays: dict[str, np.ndarray] = {}
            for name, dtype, shape in header["arrays"]:
                count = int(np.prod(shape)) if shape else 1
                size = count * np.dtype(dtype).itemsize
                if offset + size > len(body):
                    raise ValueError("truncated")
                arrays[name] = np.frombuffer(body, dtype=dtype, count=count,
                                             offset=offset).reshape(shape).astype(
                    dtype.replace("<", "="), copy=True)
                offset += size
        except (zlib.error, struct.error, ValueError, KeyError, UnicodeDecodeError) as exc:
            raise DataError(f"corrupt or truncated profile ({exc})",
                            "recompute the profile from its data") from None
        spec = ReferenceSpec.from_dict(header["spec"])
        features: dict[str, FeatureCounts] = {}
        pos = 0
        for fspec, scalars in zip(spec.features, header["features"]):
            cells = fspec.n_cells
            features[fspec.name] = FeatureCounts._from_scalars(
                arrays["counts"][pos:pos + cells].astype(np.int64), scalars)
            pos += cells
        return cls(spec=spec, n_rows=int(header["n_rows"]), features=features,
                   sample_numeric=arrays["sample_numeric"].astype(np.float64),
                   sample_codes=arrays["sample_codes"].astype(np.int32),
                   capacity=int(header["capacity"]), start=_parse_time(header["start"]),
                   end=_parse_time(header["end"]), hosts=tuple(header["hosts"]),
                   extra_columns=tuple(header["extra_columns"]))

    def with_window(self, start: Any = None, end: Any = None, host: str | None = None
                    ) -> Profile:
        """A copy with another window and/or host (``None`` keeps the current one)."""
        return replace(self, start=_to_time(start) if start is not None else self.start,
                       end=_to_time(end) if end is not None else self.end,
                       hosts=(host,) if host is not None else self.hosts)


def merge_profiles(profiles: Iterable[Profile]) -> Profile:
    """Merge any number (at least one) of profiles of the same spec.

    Raises
    ------
    DataError
        No profile given, or profiles of different specs.
    """
    items = list(profiles)
    if not items:
        raise DataError("no profile to merge", "pass at least one profile")
    out = items[0]
    for item in items[1:]:
        out = out.merge(item)
    return out


def empty_profile(spec: ReferenceSpec, window: tuple[Any, Any] | None = None,
                  host: str | None = None, sample_size: int = DEFAULT_SAMPLE_SIZE) -> Profile:
    """The profile of zero rows (the identity of :meth:`Profile.merge`)."""
    start, end = _window(window)
    return Profile(
        spec=spec, n_rows=0,
        features={f.name: FeatureCounts(np.zeros(f.n_cells, np.int64)) for f in spec.features},
        sample_numeric=np.zeros((0, len(spec.numeric)), np.float64),
        sample_codes=np.zeros((0, len(spec.categorical)), np.int32),
        capacity=sample_size, start=start, end=end, hosts=(host,) if host else ())


def profile_frame(spec: ReferenceSpec, frame: Any, window: tuple[Any, Any] | None = None,
                  host: str | None = None, *, sample_size: int = DEFAULT_SAMPLE_SIZE,
                  seed: int | None = None, cancel: CancelToken | None = None) -> Profile:
    """Profile a data set against ``spec``.

    Vectorised (one comparison pass per bin edge of a numeric column, one hash pass
    per categorical column); about 1 s for 1M rows × 25 features on one core.

    Parameters
    ----------
    spec
        The reference spec of the model version.
    frame
        The data: a pandas DataFrame (or a mapping of column name to 1-D array). Columns
        not in the spec are ignored (listed in ``extra_columns``); spec features missing
        from ``frame`` are counted as ``absent``. Strings in a numeric column are counted
        as ``invalid``, never raised.
    window
        ``(start, end)`` of the time window (datetimes or ISO 8601 strings; naive times
        are taken as UTC), or ``None``.
    host
        The host that served the data, or ``None``.
    sample_size
        Reservoir capacity in rows.
    seed
        Seed of the reservoir draw (``None``: fresh entropy).
    cancel
        Checked between columns.

    Returns
    -------
    Profile
    """
    cancel = cancel or CancelToken()
    columns = _column_names(frame)
    n = _row_count(frame, columns)
    start, end = _window(window)
    rng = np.random.default_rng(seed)
    size = min(n, sample_size)
    picked = rng.choice(n, size=size, replace=False) if n > size else rng.permutation(n)
    sample_numeric = np.full((size, len(spec.numeric)), np.nan)
    sample_codes = np.full((size, len(spec.categorical)), -1, dtype=np.int32)
    features: dict[str, FeatureCounts] = {}
    num_index = cat_index = 0
    for fspec in spec.features:
        cancel.check()
        if fspec.name not in columns:
            features[fspec.name] = FeatureCounts(np.zeros(fspec.n_cells, np.int64), absent=n)
        elif fspec.kind == NUMERIC:
            x, invalid = _as_float(frame[fspec.name])
            features[fspec.name] = _numeric_counts(fspec, x, invalid)
            sample_numeric[:, num_index] = x[picked]
        elif fspec.kind == CATEGORICAL:
            codes, missing, unseen = _as_codes(frame[fspec.name], fspec.categories)
            cells = len(fspec.categories) + 1
            counts = np.bincount(codes[~missing], minlength=cells).astype(np.int64)
            features[fspec.name] = FeatureCounts(counts, missing=int(missing.sum()),
                                                 unseen=unseen)
            sample_codes[:, cat_index] = np.where(missing, -1, codes)[picked]
        else:
            features[fspec.name] = FeatureCounts(np.zeros(0, np.int64),
                                                 missing=_missing_count(frame[fspec.name]))
        num_index += fspec.kind == NUMERIC
        cat_index += fspec.kind == CATEGORICAL
    known = set(spec.names)
    return Profile(spec=spec, n_rows=n, features=features, sample_numeric=sample_numeric,
                   sample_codes=sample_codes, capacity=sample_size, start=start, end=end,
                   hosts=(host,) if host else (),
                   extra_columns=tuple(sorted(c for c in columns if c not in known)))


def build_reference(frame: Any, schema: Sequence[Any] | None = None, *,
                    n_bins: int = DEFAULT_BINS, sample_size: int = DEFAULT_SAMPLE_SIZE,
                    seed: int = 0) -> tuple[ReferenceSpec, Profile]:
    """The spec and the profile of a version's reference data (computed once, stored).

    Parameters
    ----------
    frame
        The reference data (a pandas DataFrame).
    schema
        The version's input schema; inferred from ``frame`` when ``None``.
    n_bins
        Quantile bins per numeric feature.
    sample_size
        Reservoir capacity of the reference profile.
    seed
        Seed of the reservoir draw (fixed, so the stored profile is reproducible).
    """
    spec = build_spec(frame, schema, n_bins)
    return spec, profile_frame(spec, frame, sample_size=sample_size, seed=seed)


# --------------------------------------------------------------------------- helpers


def _numeric_counts(fspec: FeatureSpec, x: np.ndarray, invalid: int) -> FeatureCounts:
    edges = fspec.edges
    finite = np.isfinite(x)
    if finite.all():
        xf = x
        nan = pinf = ninf = 0
    else:
        xf = x[finite]
        nan = int(np.isnan(x).sum()) - invalid
        pinf = int(np.count_nonzero(x == np.inf))
        ninf = int(np.count_nonzero(x == -np.inf))
    # One comparison pass per edge is several times faster than np.searchsorted on
    # unsorted data (branch-free, vectorised): below[j] = #values < edges[j].
    below = [np.count_nonzero(xf < e) for e in edges[:-1]]
    at_most_max = np.count_nonzero(xf <= edges[-1])
    cumulative = np.array([*below, at_most_max, xf.size], dtype=np.int64)
    counts = np.diff(cumulative, prepend=0)
    if xf.size:
        centred = xf - fspec.mean
        total, total_sq = float(centred.sum()), float(np.dot(centred, centred))
        lo, hi = float(xf.min()), float(xf.max())
    else:
        total = total_sq = 0.0
        lo, hi = math.inf, -math.inf
    return FeatureCounts(counts, missing=nan, invalid=invalid, pos_inf=pinf, neg_inf=ninf,
                         total=total, total_sq=total_sq, min=lo, max=hi)


def _is_pandas(values: Any) -> bool:
    return type(values).__module__.split(".")[0] == "pandas"


def _as_float(values: Any) -> tuple[np.ndarray, int]:
    """``values`` as float64 (NaN for missing and for non-numbers) and the non-number count."""
    dtype = getattr(values, "dtype", None)
    kind = getattr(dtype, "kind", "O")
    if _is_pandas(values):
        import pandas as pd

        if pd.api.types.is_bool_dtype(dtype) or (
                pd.api.types.is_numeric_dtype(dtype) and kind != "O"):
            return values.to_numpy(dtype=np.float64, na_value=np.nan), 0
        if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(
                dtype):
            x = np.full(len(values), np.nan)
            return x, int(values.notna().sum())
        if isinstance(dtype, pd.CategoricalDtype):
            values = values.astype(object)
        converted = pd.to_numeric(values, errors="coerce")
        x = converted.to_numpy(dtype=np.float64, na_value=np.nan)
        return x, int((values.notna().to_numpy() & np.isnan(x)).sum())
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64, copy=False), 0
    x = np.full(arr.shape[0], np.nan)
    invalid = 0
    for i, v in enumerate(arr.tolist()):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        try:
            x[i] = float(v)
        except (TypeError, ValueError):
            invalid += 1
    return x, invalid


def _as_codes(values: Any, categories: Sequence[str]) -> tuple[np.ndarray, np.ndarray,
                                                                tuple[str, ...]]:
    """Category codes (``len(categories)`` for unseen), a missing mask, unseen examples."""
    other = len(categories)
    if _is_pandas(values):
        import pandas as pd

        # factorize hashes each row once (arrow strings included); the few distinct values
        # are then looked up in the reference categories.
        raw, uniques = pd.factorize(values, use_na_sentinel=True)
        lookup = {c: i for i, c in enumerate(categories)}
        names = [str(u) for u in uniques.tolist()]
        table = np.array([lookup.get(u, other) for u in names] + [other], dtype=np.int32)
        missing = raw < 0
        codes = table[raw]  # raw == -1 picks the trailing placeholder
        unseen = tuple(sorted(u for u in names if u not in lookup)[:MAX_UNSEEN_EXAMPLES])
        return codes, missing, unseen
    lookup = {c: i for i, c in enumerate(categories)}
    items = np.asarray(values, dtype=object).tolist()
    missing = np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in items],
                       dtype=bool)
    codes = np.array([other if m else lookup.get(str(v), other) for v, m in zip(items, missing)],
                     dtype=np.int32)
    unseen_set = {str(v) for v, m in zip(items, missing) if not m and str(v) not in lookup}
    return codes, missing, tuple(sorted(unseen_set)[:MAX_UNSEEN_EXAMPLES])


def _missing_count(values: Any) -> int:
    if _is_pandas(values):
        return int(values.isna().sum())
    items = np.asarray(values, dtype=object).tolist()
    return sum(v is None or (isinstance(v, float) and math.isnan(v)) for v in items)


def _column_names(frame: Any) -> list[str]:
    if hasattr(frame, "columns"):
        return [str(c) for c in frame.columns]
    if isinstance(frame, Mapping):
        return [str(c) for c in frame]
    raise DataError(f"cannot profile a {type(frame).__name__}",
                    "pass a pandas DataFrame or a mapping of column name to values")


def _row_count(frame: Any, columns: list[str]) -> int:
    if hasattr(frame, "columns"):
        return len(frame)
    lengths = {len(frame[c]) for c in columns}
    if len(lengths) > 1:
        raise DataError("columns of different lengths", "pass columns of one table")
    return lengths.pop() if lengths else 0


def _to_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise DataError(f"'{value}' is not an ISO 8601 time",
                            "write times like 2024-05-01T00:00:00+00:00") from None
    if not isinstance(value, datetime):
        if hasattr(value, "to_pydatetime"):
            value = value.to_pydatetime()
        else:
            raise DataError(f"a window bound must be a datetime, not {type(value).__name__}",
                            "pass datetimes or ISO 8601 strings")
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _window(window: tuple[Any, Any] | None) -> tuple[datetime | None, datetime | None]:
    if window is None:
        return None, None
    start, end = (_to_time(w) for w in window)
    if start is not None and end is not None and end < start:
        raise DataError(f"window ends ({end.isoformat()}) before it starts "
                        f"({start.isoformat()})", "swap the bounds")
    return start, end


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: str | None) -> datetime | None:
    return _to_time(value) if value is not None else None
