"""Input schemas: which columns a model takes, of which type, nullable or not.

Shared by the registry (inference at registration, diffs between versions) and, later, the
on-host prediction server (request validation), so it depends on numpy and pandas only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: String columns with at most this many distinct values keep their category list.
MAX_CATEGORIES = 200

DTYPES = ("integer", "float", "boolean", "string", "datetime")


@dataclass(frozen=True)
class ColumnSchema:
    """One input column.

    Attributes
    ----------
    name
        Column name.
    dtype
        One of ``"integer"``, ``"float"``, ``"boolean"``, ``"string"``, ``"datetime"``.
    nullable
        Whether missing values were seen in the reference data.
    categories
        For string columns with few distinct values, the sorted values seen; else ``None``.
    """

    name: str
    dtype: str
    nullable: bool = False
    categories: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "nullable": self.nullable}
        if self.categories is not None:
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnSchema:
        """Inverse of :meth:`to_dict`."""
        cats = data.get("categories")
        return cls(str(data["name"]), str(data["dtype"]), bool(data.get("nullable", False)),
                   tuple(str(c) for c in cats) if cats is not None else None)


Schema = tuple[ColumnSchema, ...]


def column_dtype(series: pd.Series) -> str:
    """Map a pandas column to a schema dtype name."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        # A float column holding only whole numbers and NaN is an integer column with gaps.
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def infer_schema(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> Schema:
    """Infer the schema of ``frame`` (restricted to ``columns`` when given, in that order)."""
    names = list(columns) if columns is not None else [str(c) for c in frame.columns]
    out = []
    for name in names:
        series = frame[name]
        kind = column_dtype(series)
        categories = None
        if kind == "string":
            values = series.dropna().astype(str).unique()
            if len(values) <= MAX_CATEGORIES:
                categories = tuple(sorted(values))
        out.append(ColumnSchema(name, kind, bool(series.isna().any()), categories))
    return tuple(out)


def schema_to_json(schema: Iterable[ColumnSchema]) -> list[dict[str, Any]]:
    """Plain-JSON form of a schema."""
    return [c.to_dict() for c in schema]


def schema_from_json(data: Iterable[dict[str, Any]]) -> Schema:
    """Inverse of :func:`schema_to_json`."""
    return tuple(ColumnSchema.from_dict(d) for d in data)


@dataclass(frozen=True)
class SchemaDiff:
    """What changed from schema ``a`` to schema ``b``."""

    added: tuple[ColumnSchema, ...] = ()
    removed: tuple[ColumnSchema, ...] = ()
    retyped: tuple[tuple[str, str, str], ...] = ()
    nullability: tuple[tuple[str, bool, bool], ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        """Whether the schemas have the same columns with the same types."""
        return not (self.added or self.removed or self.retyped or self.nullability)

    @property
    def is_compatible(self) -> bool:
        """Whether clients of ``a`` can call ``b`` (no column removed or retyped)."""
        return not (self.removed or self.retyped)


def diff_schema(a: Iterable[ColumnSchema], b: Iterable[ColumnSchema]) -> SchemaDiff:
    """Compare two schemas column by column (by name)."""
    old = {c.name: c for c in a}
    new = {c.name: c for c in b}
    return SchemaDiff(
        added=tuple(c for n, c in new.items() if n not in old),
        removed=tuple(c for n, c in old.items() if n not in new),
        retyped=tuple((n, old[n].dtype, c.dtype) for n, c in new.items()
                      if n in old and old[n].dtype != c.dtype),
        nullability=tuple((n, old[n].nullable, c.nullable) for n, c in new.items()
                          if n in old and old[n].nullable != c.nullable),
    )


def infinite_cells(frame: pd.DataFrame) -> dict[str, list[int]]:
    """Return, per numeric column holding ±inf, the 0-based row positions that do."""
    out: dict[str, list[int]] = {}
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_float_dtype(series.dtype):
            mask = np.isinf(series.to_numpy(dtype="float64", na_value=np.nan))
            if mask.any():
                out[str(name)] = np.flatnonzero(mask).tolist()
    return out
