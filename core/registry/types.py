"""Value types the registry returns (plain dataclasses, no Qt, no database handles)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar

from modeldeck.core.schema import ColumnSchema, SchemaDiff

T = TypeVar("T")


class PagedList(list, Generic[T]):  # type: ignore[type-arg]
    """A page of results; ``token`` fetches the next page (``None``: this is the last)."""

    def __init__(self, items: list[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token


@dataclass(frozen=True)
class ModelCard:
    """What a model is for and what it must not be used for.

    All four fields are needed for a complete card (a release gate checks it).
    """

    intended_use: str = ""
    limitations: str = ""
    owner: str = ""
    contact: str = ""

    def missing(self) -> list[str]:
        """Names of the empty fields."""
        return [f.name for f in fields(self) if not str(getattr(self, f.name)).strip()]

    def to_dict(self) -> dict[str, str]:
        """Plain-JSON form."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ModelCard:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        data = data or {}
        return cls(**{f.name: str(data.get(f.name) or "") for f in fields(cls)})


@dataclass(frozen=True)
class ModelInfo:
    """A registered model (the versions are separate)."""

    name: str
    description: str
    owner: str
    tags: tuple[str, ...]
    created_at: str
    created_by: str
    version_count: int
    latest_version: int | None
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionInfo:
    """One registered version of a model, with everything recorded at registration."""

    model: str
    version: int
    created_at: str
    author: str
    task: str
    estimator: str
    artifact_format: str
    artifact_sha256: str
    artifact_size: int
    trusted_types: tuple[str, ...]
    schema: tuple[ColumnSchema, ...]
    target: str | None
    classes: tuple[Any, ...] | None
    metrics: dict[str, float]
    environment: dict[str, str]
    fingerprints: dict[str, dict[str, Any]]
    card: ModelCard
    parent: str | None
    aliases: tuple[str, ...]
    reference_sample_sha256: str
    holdout_sha256: str | None
    holdout_predictions_sha256: str | None
    importance: dict[str, Any] = field(default_factory=dict)
    reference_profile_sha256: str | None = None

    @property
    def ref(self) -> str:
        """``"name:version"``."""
        return f"{self.model}:{self.version}"

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The input columns, in order."""
        return tuple(c.name for c in self.schema)

    def feature_importance(self) -> dict[str, float]:
        """Permutation importance per input column (score drop when shuffled), or ``{}``."""
        features = self.importance.get("features", {})
        return {name: float(v["mean"]) for name, v in features.items()}


@dataclass(frozen=True)
class AliasEvent:
    """One move of an alias. ``version`` is ``None`` when the alias was removed."""

    model: str
    alias: str
    version: int | None
    previous: int | None
    at: str
    actor: str


@dataclass(frozen=True)
class MetricDelta:
    """One metric of two versions; ``delta`` is ``b - a`` when both exist."""

    name: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        """``b - a``, or ``None`` when either is missing."""
        if self.a is None or self.b is None:
            return None
        return self.b - self.a


@dataclass(frozen=True)
class VersionComparison:
    """Two versions side by side: metric deltas, schema diff, environment diff."""

    a: VersionInfo
    b: VersionInfo
    metrics: list[MetricDelta]
    schema: SchemaDiff
    environment: list[tuple[str, str | None, str | None]]
