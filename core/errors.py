"""Errors raised by the ModelDeck core.

Every error a user can cause is a :class:`ModelDeckError`: it names the problem and,
where there is one, the fix. The CLI prints ``str(error)`` on one line and exits 1; the
GUI shows the same text in its notification surface. Anything else escaping core is a bug.
"""

from __future__ import annotations


class ModelDeckError(Exception):
    """A problem the user can act on.

    Parameters
    ----------
    message
        What is wrong, naming the thing (file, column, model, version...).
    fix
        What to do about it, or ``None`` when nothing obvious helps.
    """

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message} — {self.fix}"
        return self.message


class NotFoundError(ModelDeckError):
    """A model, version, alias, user or artifact does not exist."""


class AlreadyExistsError(ModelDeckError):
    """Something with that name exists already."""


class InvalidInputError(ModelDeckError):
    """User input (a name, a reference, an option value) is malformed."""


class DataError(ModelDeckError):
    """A data file or frame cannot be used (unreadable, empty, ragged, NaN/inf...)."""


class ModelFileError(ModelDeckError):
    """A model file cannot be loaded or does not fit the data."""


class UntrustedTypesError(ModelFileError):
    """A skops file contains types nobody said to trust.

    Attributes
    ----------
    types
        The fully qualified names of the untrusted types.
    """

    def __init__(self, types: list[str], message: str, fix: str | None = None) -> None:
        super().__init__(message, fix)
        self.types = list(types)


class CorruptArtifactError(ModelDeckError):
    """An artifact's bytes no longer match their sha256."""


class ReleaseError(ModelDeckError):
    """A release folder is incomplete, altered, or its model fails the self-check."""


class DeployError(ModelDeckError):
    """A host cannot be reached, refused a step, or a deploy or rollback failed."""


class HostKeyError(DeployError):
    """A host's SSH key is unknown (not yet trusted) or changed since it was trusted.

    Attributes
    ----------
    fingerprint
        The SHA256 fingerprint the host presented (``SHA256:...``).
    changed
        ``True`` when a different key was trusted before (a possible man-in-the-middle).
    """

    def __init__(self, message: str, fix: str | None = None, *, fingerprint: str = "",
                 key_type: str = "", changed: bool = False) -> None:
        super().__init__(message, fix)
        self.fingerprint = fingerprint
        self.key_type = key_type
        self.changed = changed


class HostLockedError(DeployError):
    """Another deploy holds the host's deploy lock."""


class WorkspaceError(ModelDeckError):
    """The workspace cannot be opened or written (missing, newer schema, locked...)."""


class PermissionDeniedError(ModelDeckError):
    """The acting user's role does not allow the action."""


class Cancelled(ModelDeckError):
    """A long operation was cancelled by the user; nothing it started was kept."""

    def __init__(self, message: str = "cancelled by the user") -> None:
        super().__init__(message)
