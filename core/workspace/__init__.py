"""The workspace: a folder with a SQLite database and a content-addressed artifact store."""

from modeldeck.core.workspace._workspace import (
    PERMISSIONS,
    ROLES,
    Identity,
    Mutation,
    User,
    Workspace,
    current_user_name,
    resolve_workspace_path,
)
from modeldeck.core.workspace.artifacts import ArtifactStore
from modeldeck.core.workspace.audit import AuditEntry, AuditVerification

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "ArtifactStore",
    "AuditEntry",
    "AuditVerification",
    "Identity",
    "Mutation",
    "User",
    "Workspace",
    "current_user_name",
    "resolve_workspace_path",
]
