"""Value types of release management (plain frozen dataclasses, no database handles)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modeldeck.core.registry.types import MetricDelta
from modeldeck.core.schema import SchemaDiff

#: Every status a candidate can be in, in the order a release goes through them.
STATUSES = ("gating", "gates-failed", "awaiting-approval", "approved", "rejected", "deployed",
            "rolled-back")
#: Statuses in which a candidate still competes for release (one per version at a time).
OPEN_STATUSES = ("gating", "gates-failed", "awaiting-approval", "approved")


@dataclass(frozen=True)
class GateResult:
    """One QA gate's outcome.

    Attributes
    ----------
    name
        ``artifact``, ``card``, ``metrics``, ``regression``, ``schema``, ``latency`` or
        ``drift``.
    passed
        Whether the gate lets the candidate through (a skipped gate does).
    value, threshold
        What was measured and what it was held against (numbers, or short JSON values).
    detail
        One sentence saying what was checked and what came out.
    skipped
        The gate did not run (named in the policy's ``[gates] skip``, or nothing to compare
        with, e.g. no version in production yet).
    """

    name: str
    passed: bool
    value: Any
    threshold: Any
    detail: str
    skipped: bool = False


@dataclass(frozen=True)
class Approval:
    """A reviewer's decision on a candidate.

    ``verified`` is computed when read: the signature verifies (``ssh-keygen -Y verify``)
    over the manifest now on disk against the public key registered for the reviewer now.
    """

    reviewer: str
    decision: str
    comment: str
    at: str
    signature: str | None
    verified: bool


@dataclass(frozen=True)
class TimelineEvent:
    """One step in a candidate's life (created, gates run, approved, deployed, ...)."""

    at: str
    actor: str
    action: str
    detail: str


@dataclass(frozen=True)
class Candidate:
    """A model version put up for release, with its gates and approvals.

    Attributes
    ----------
    id
        The candidate's number (``modeldeck release show ID``).
    ref
        ``"model:version"``.
    author
        Who registered the version; ``created_by`` opened the candidate. Neither may
        approve it.
    status
        One of :data:`STATUSES`.
    release_id, manifest_sha256
        The release folder ``WORKSPACE/releases/<release_id>/`` and the sha256 of its
        ``manifest.json`` (what reviewers sign).
    production
        The production version (``"model:version"``) the gates compared with, if any.
    required_approvals
        From the policy in force when the gates ran.
    """

    id: int
    model: str
    version: int
    ref: str
    author: str
    created_by: str
    created_at: str
    status: str
    release_id: str
    manifest_sha256: str
    gates: tuple[GateResult, ...]
    approvals: tuple[Approval, ...]
    required_approvals: int
    production: str | None = None

    @property
    def gates_passed(self) -> bool:
        """Whether every gate passed (or was skipped)."""
        return bool(self.gates) and all(g.passed for g in self.gates)

    @property
    def valid_approvals(self) -> int:
        """How many distinct reviewers approved with a verified signature."""
        return len({a.reviewer for a in self.approvals
                    if a.decision == "approve" and a.verified})


@dataclass(frozen=True)
class DriftLine:
    """One feature of the candidate's holdout compared with production's reference."""

    name: str
    status: str
    effect_size: float | None
    threshold: float | None
    flagged: bool


@dataclass(frozen=True)
class CandidateComparison:
    """The candidate next to production, as measured when the gates last ran.

    ``metrics`` are scored on the candidate's holdout set for both (``a`` production,
    ``b`` the candidate); ``schema`` is production's input schema → the candidate's;
    ``drift`` compares the candidate's holdout with production's reference data.
    """

    candidate: str
    production: str | None
    metrics: tuple[MetricDelta, ...]
    schema: SchemaDiff
    drift: tuple[DriftLine, ...]
    drift_summary: str
