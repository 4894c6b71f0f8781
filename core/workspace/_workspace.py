"""The workspace: one folder holding ``modeldeck.db`` and ``artifacts/``."""

from __future__ import annotations

import contextlib
import getpass
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import sqlite_utils

from modeldeck.core.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    WorkspaceError,
)
from modeldeck.core.workspace import audit as _audit
from modeldeck.core.workspace._clock import utc_now
from modeldeck.core.workspace._migrations import MIGRATIONS, SCHEMA_VERSION
from modeldeck.core.workspace.artifacts import ArtifactStore

DB_NAME = "modeldeck.db"
ENV_WORKSPACE = "MODELDECK_WORKSPACE"
ENV_USER = "MODELDECK_USER"
BUSY_TIMEOUT_S = 30.0

ROLES = ("data-scientist", "reviewer", "admin")

#: Which roles may perform which kind of change. Enforced in core, whatever the face.
PERMISSIONS: dict[str, frozenset[str]] = {
    "register": frozenset({"data-scientist", "admin"}),
    "edit-model": frozenset({"data-scientist", "admin"}),
    "alias": frozenset({"data-scientist", "reviewer", "admin"}),
    "alias-protected": frozenset({"reviewer", "admin"}),
    "manage-users": frozenset({"admin"}),
    "manage-hosts": frozenset({"admin"}),
    "deploy": frozenset({"admin"}),
    "release": frozenset({"data-scientist", "admin"}),
    "approve": frozenset({"reviewer", "admin"}),
}

#: How each permission reads in an error message ("... which may not <phrase>").
PERMISSION_PHRASES: dict[str, str] = {
    "register": "register model versions",
    "edit-model": "edit models or model cards",
    "alias": "move aliases",
    "alias-protected": "move the production alias",
    "manage-users": "manage users",
    "manage-hosts": "add, change or trust hosts",
    "deploy": "deploy or roll back releases",
    "release": "create release candidates or run their gates",
    "approve": "approve or reject release candidates",
}


def resolve_workspace_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the workspace folder to use.

    ``explicit`` (``--workspace``) wins, then ``$MODELDECK_WORKSPACE``, then the platform's
    user data folder (``platformdirs``), e.g. ``~/.local/share/modeldeck/workspace``.
    """
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_WORKSPACE)
    if env:
        return Path(env).expanduser()
    return platformdirs.user_data_path("modeldeck", appauthor=False) / "workspace"


def current_user_name() -> str:
    """The acting user's name: ``$MODELDECK_USER`` when set, otherwise the OS user."""
    name = os.environ.get(ENV_USER, "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


@dataclass(frozen=True)
class Identity:
    """Who is acting: a user name and the role registered for it (``None`` if unregistered)."""

    name: str
    role: str | None


@dataclass(frozen=True)
class User:
    """A person registered in the workspace."""

    name: str
    role: str
    ssh_public_key: str | None
    created_at: str
    created_by: str


@dataclass
class Mutation:
    """An open change: write through ``db``; fill ``payload`` for its audit row."""

    db: sqlite_utils.Database
    payload: dict[str, Any] = field(default_factory=dict)
    subject: str = ""


class Workspace:
    """A ModelDeck workspace opened by one acting user.

    Use :meth:`open`. One SQLite connection is kept per thread, so a GUI worker thread
    and the GUI thread can both use the same ``Workspace``.

    Attributes
    ----------
    path
        The workspace folder.
    artifacts
        The content-addressed :class:`ArtifactStore`.
    """

    def __init__(self, path: Path, actor: str) -> None:
        self.path = Path(path)
        self.db_path = self.path / DB_NAME
        self.artifacts = ArtifactStore(self.path / "artifacts")
        self._actor = actor
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: str | os.PathLike[str] | None = None, *, create: bool = False,
        actor: str | None = None,
    ) -> Workspace:
        """Open (and with ``create=True`` create) the workspace at ``path``.

        Pending schema migrations are applied. The user who creates a workspace becomes
        its first admin.

        Parameters
        ----------
        path
            The folder; ``None`` resolves it with :func:`resolve_workspace_path`.
        create
            Create the folder and database when missing.
        actor
            Act as this user instead of :func:`current_user_name`.

        Raises
        ------
        WorkspaceError
            No workspace there (and ``create`` is false), the folder is not usable, or
            the database was written by a newer ModelDeck.
        """
        folder = resolve_workspace_path(path)
        db_file = folder / DB_NAME
        if not db_file.exists():
            if not create:
                raise WorkspaceError(
                    f"no ModelDeck workspace at {folder}",
                    f"create one with `modeldeck --workspace {folder} init`",
                )
            if folder.exists() and not folder.is_dir():
                raise WorkspaceError(f"{folder} is a file, not a folder",
                                     "pick another --workspace path")
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(f"cannot create workspace folder {folder}: {exc.strerror}",
                                     "pick a writable --workspace path") from None
        ws = cls(folder, actor or current_user_name())
        try:
            ws._migrate()
        except BaseException:
            ws.close()
            raise
        return ws

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(
                f"{self.db_path} is not a readable ModelDeck database ({exc})",
                "restore it from a backup or point --workspace elsewhere",
            ) from None
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's database handle."""
        db = getattr(self._local, "db", None)
        if db is None:
            conn = self._connect()
            with self._lock:
                self._connections.append(conn)
            db = sqlite_utils.Database(conn)
            self._local.db = db
        return db

    def _migrate(self) -> None:
        conn = self.db.conn
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise WorkspaceError(
                f"workspace {self.path} was written by a newer ModelDeck (schema {found}; "
                f"this ModelDeck knows up to {SCHEMA_VERSION})",
                "upgrade ModelDeck (`pip install -U modeldeck`) to open it; nothing was changed",
            )
        if found == SCHEMA_VERSION:
            return
        with self._transaction() as db:
            # Another process may have migrated while we waited for the write lock.
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            for number in range(found + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[number - 1]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            if found == 0:
                now = utc_now()
                db.execute(
                    "INSERT INTO users (name, role, created_at, created_by) VALUES (?,?,?,?)",
                    (self._actor, "admin", now, self._actor),
                )
                _audit.append(conn, at=now, actor=self._actor, role="admin",
                              action="workspace.create", subject=str(self.path),
                              payload={"schema": SCHEMA_VERSION, "admin": self._actor})
            else:
                _audit.append(conn, at=utc_now(), actor=self._actor, role=self._role(),
                              action="workspace.migrate", subject=str(self.path),
                              payload={"from": found, "to": SCHEMA_VERSION})

    def close(self) -> None:
        """Close every connection this workspace opened (in any thread)."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def as_user(self, name: str) -> Workspace:
        """Return another handle on this workspace acting as ``name``."""
        return Workspace.open(self.path, actor=name)

    @staticmethod
    def exists(path: str | os.PathLike[str] | None = None) -> bool:
        """Whether a workspace (its database) exists at ``path`` (resolved as in :meth:`open`)."""
        return (resolve_workspace_path(path) / DB_NAME).is_file()

    @property
    def schema_version(self) -> int:
        """The database's schema version (``PRAGMA user_version``)."""
        return int(self.db.conn.execute("PRAGMA user_version").fetchone()[0])

    # -- identity and roles -------------------------------------------------------------

    def _role(self) -> str | None:
        row = self.db.conn.execute("SELECT role FROM users WHERE name = ?",
                                   (self._actor,)).fetchone()
        return row[0] if row else None

    @property
    def identity(self) -> Identity:
        """The acting user and their role, read fresh from the database."""
        return Identity(self._actor, self._role())

    def require(self, permission: str) -> Identity:
        """Return the identity if its role grants ``permission``, else raise.

        Raises
        ------
        PermissionDeniedError
            The user is unregistered or their role lacks the permission.
        """
        who = self.identity
        allowed = PERMISSIONS[permission]
        if who.role is None:
            raise PermissionDeniedError(
                f"user '{who.name}' is not registered in workspace {self.path}",
                f"an admin can add them: `modeldeck users add {who.name} --role "
                f"{sorted(allowed)[0]}` (or set MODELDECK_USER to a registered user)",
            )
        if who.role not in allowed:
            raise PermissionDeniedError(
                f"user '{who.name}' has role '{who.role}', which may not "
                f"{PERMISSION_PHRASES[permission]} (allowed: {', '.join(sorted(allowed))})",
                "ask an admin to do it, or to change your role with `modeldeck users set-role`",
            )
        return who

    # -- transactions -------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite_utils.Database]:
        db = self.db
        # IMMEDIATE takes the write lock up front, so two writers queue on the busy
        # timeout instead of one failing with "database is locked" on lock upgrade.
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
        else:
            db.conn.execute("COMMIT")

    @contextlib.contextmanager
    def mutate(self, action: str, subject: str, permission: str | None) -> Iterator[Mutation]:
        """Run one change as one transaction that also appends one audit row.

        Parameters
        ----------
        action
            Dotted name of the change (``"version.register"``), stored in the audit log.
        subject
            What it changes (``"breast-cancer:2"``); the body may refine ``Mutation.subject``.
        permission
            A key of :data:`PERMISSIONS` checked before anything is written, or ``None``.
        """
        who = self.require(permission) if permission else self.identity
        with self._transaction() as db:
            change = Mutation(db=db, subject=subject)
            yield change
            _audit.append(db.conn, at=utc_now(), actor=who.name, role=who.role,
                          action=action, subject=change.subject, payload=change.payload)

    # -- users --------------------------------------------------------------------------

    def users(self) -> list[User]:
        """All registered users, by name."""
        return [User(**row) for row in self.db.query(
            "SELECT name, role, ssh_public_key, created_at, created_by FROM users ORDER BY name")]

    def get_user(self, name: str) -> User:
        """Return the user ``name`` or raise :class:`NotFoundError`."""
        for row in self.db.query(
            "SELECT name, role, ssh_public_key, created_at, created_by FROM users "
            "WHERE name = ?", [name],
        ):
            return User(**row)
        raise NotFoundError(f"no user '{name}' in this workspace",
                            "list them with `modeldeck users`")

    @staticmethod
    def _check_role(role: str) -> None:
        if role not in ROLES:
            raise InvalidInputError(f"unknown role '{role}'",
                                    f"use one of: {', '.join(ROLES)}")

    def add_user(self, name: str, role: str, ssh_public_key: str | None = None) -> User:
        """Register a person with a role (admins only)."""
        name = name.strip()
        if not name or any(c.isspace() for c in name):
            raise InvalidInputError(f"'{name}' is not a valid user name",
                                    "use a name without spaces, e.g. the OS login")
        self._check_role(role)
        if ssh_public_key is not None:
            ssh_public_key = _check_public_key(ssh_public_key)
        with self.mutate("user.add", name, "manage-users") as change:
            if change.db.conn.execute("SELECT 1 FROM users WHERE name=?", (name,)).fetchone():
                raise AlreadyExistsError(f"user '{name}' exists already",
                                         f"change the role with `modeldeck users set-role {name} ROLE`")
            now = utc_now()
            change.db.execute(
                "INSERT INTO users (name, role, ssh_public_key, created_at, created_by) "
                "VALUES (?,?,?,?,?)", (name, role, ssh_public_key, now, self._actor))
            change.payload.update(role=role, ssh_public_key=ssh_public_key)
        return self.get_user(name)

    def set_role(self, name: str, role: str) -> User:
        """Change a user's role (admins only). The last admin cannot be demoted."""
        self._check_role(role)
        with self.mutate("user.set-role", name, "manage-users") as change:
            old = self.get_user(name).role
            if old == "admin" and role != "admin":
                admins = change.db.conn.execute(
                    "SELECT COUNT(*) FROM users WHERE role='admin'").fetchone()[0]
                if admins <= 1:
                    raise PermissionDeniedError(
                        f"'{name}' is the last admin of this workspace",
                        "make someone else admin first")
            change.db.execute("UPDATE users SET role=? WHERE name=?", (role, name))
            change.payload.update(previous=old, role=role)
        return self.get_user(name)

    def set_user_key(self, name: str, ssh_public_key: str) -> User:
        """Register or replace a user's SSH public key (admins only)."""
        key = _check_public_key(ssh_public_key)
        with self.mutate("user.set-key", name, "manage-users") as change:
            self.get_user(name)
            change.db.execute("UPDATE users SET ssh_public_key=? WHERE name=?", (key, name))
            change.payload.update(ssh_public_key=key)
        return self.get_user(name)

    def remove_user(self, name: str) -> None:
        """Unregister a user (admins only). The last admin cannot be removed."""
        with self.mutate("user.remove", name, "manage-users") as change:
            user = self.get_user(name)
            if user.role == "admin":
                admins = change.db.conn.execute(
                    "SELECT COUNT(*) FROM users WHERE role='admin'").fetchone()[0]
                if admins <= 1:
                    raise PermissionDeniedError(f"'{name}' is the last admin of this workspace",
                                                "make someone else admin first")
            change.db.execute("DELETE FROM users WHERE name=?", (name,))
            change.payload.update(role=user.role)

    # -- audit --------------------------------------------------------------------------

    def audit_log(self, *, limit: int | None = 100, subject: str | None = None,
                  action: str | None = None, actor: str | None = None,
                  newest_first: bool = True) -> list[_audit.AuditEntry]:
        """Read the audit log, newest first by default."""
        return _audit.entries(self.db.conn, limit=limit, subject=subject, action=action,
                              actor=actor, newest_first=newest_first)

    def verify_audit(self, expected_head: str | None = None) -> _audit.AuditVerification:
        """Check the audit hash chain; see :func:`modeldeck.core.workspace.audit.verify`."""
        return _audit.verify(self.db.conn, expected_head)


_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
              "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
              "sk-ecdsa-sha2-nistp256@openssh.com")


def _check_public_key(text: str) -> str:
    key = text.strip()
    parts = key.split()
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        raise InvalidInputError(
            "that is not an OpenSSH public key (expected e.g. 'ssh-ed25519 AAAA… comment')",
            "pass the .pub file, e.g. ~/.ssh/id_ed25519.pub",
        )
    return key
