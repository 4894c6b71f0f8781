"""The model registry: models, versions, aliases, lineage and model cards."""

from modeldeck.core.registry._registry import Registry, VersionCheck
from modeldeck.core.registry.lineage import HIGHER_IS_BETTER, KEY_METRICS
from modeldeck.core.registry.refs import PROTECTED_ALIASES, Ref, parse_ref
from modeldeck.core.registry.store import NewVersion, RegistryStore, SqliteRegistryStore
from modeldeck.core.registry.types import (
    AliasEvent,
    MetricDelta,
    ModelCard,
    ModelInfo,
    PagedList,
    VersionComparison,
    VersionInfo,
)

__all__ = [
    "HIGHER_IS_BETTER",
    "KEY_METRICS",
    "PROTECTED_ALIASES",
    "AliasEvent",
    "MetricDelta",
    "ModelCard",
    "ModelInfo",
    "NewVersion",
    "PagedList",
    "Ref",
    "Registry",
    "RegistryStore",
    "SqliteRegistryStore",
    "VersionCheck",
    "VersionComparison",
    "VersionInfo",
    "parse_ref",
]
