"""Release management: candidates, QA gates, signed approvals, promotion and rollback.

The GUI and the CLI use only these names (and :mod:`modeldeck.core.release.signing`,
which hosts reuse to check signatures).
"""

from modeldeck.core.release._releases import NotDeployableError, Releases
from modeldeck.core.release.policy import (
    GATE_NAMES,
    GatePolicy,
    default_policy_text,
    load_policy,
    policy_path,
    write_default_policy,
)
from modeldeck.core.release.signing import NAMESPACE, SigningError
from modeldeck.core.release.types import (
    STATUSES,
    Approval,
    Candidate,
    CandidateComparison,
    DriftLine,
    GateResult,
    TimelineEvent,
)

__all__ = [
    "GATE_NAMES",
    "NAMESPACE",
    "STATUSES",
    "Approval",
    "Candidate",
    "CandidateComparison",
    "DriftLine",
    "GatePolicy",
    "GateResult",
    "NotDeployableError",
    "Releases",
    "SigningError",
    "TimelineEvent",
    "default_policy_text",
    "load_policy",
    "policy_path",
    "write_default_policy",
]
