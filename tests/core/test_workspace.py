"""The workspace folder: database settings, migrations, location, artifacts."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeldeck.core.errors import CorruptArtifactError, NotFoundError, WorkspaceError
from modeldeck.core.workspace import ArtifactStore, Workspace, _migrations, resolve_workspace_path


def test_create_sets_up_database_and_admin(tmp_path: Path) -> None:
    with Workspace.open(tmp_path / "w", create=True) as ws:
        conn = ws.db.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
        assert ws.schema_version == _migrations.SCHEMA_VERSION
        assert ws.identity.role == "admin"
        assert (tmp_path / "w" / "artifacts").is_dir()
        assert [e.action for e in ws.audit_log()] == ["workspace.create"]


def test_open_missing_workspace_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="init"):
        Workspace.open(tmp_path / "nothing-here")
    assert not (tmp_path / "nothing-here").exists()


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    with Workspace.open(tmp_path / "w", create=True) as ws:
        ws.add_user("alice", "data-scientist")
    with Workspace.open(tmp_path / "w") as ws:
        assert {u.name: u.role for u in ws.users()} == {"alice": "data-scientist",
                                                        ws.identity.name: "admin"}
        assert ws.verify_audit().ok


def test_newer_schema_is_refused_and_untouched(tmp_path: Path) -> None:
    Workspace.open(tmp_path / "w", create=True).close()
    db = tmp_path / "w" / "modeldeck.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 999")
    before = db.read_bytes()
    with pytest.raises(WorkspaceError, match="newer ModelDeck") as info:
        Workspace.open(tmp_path / "w")
    assert "upgrade" in str(info.value)
    assert db.read_bytes() == before


def test_older_workspace_is_upgraded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Workspace.open(tmp_path / "w", create=True).close()
    extra = ["CREATE TABLE later_feature (id INTEGER PRIMARY KEY)"]
    monkeypatch.setattr(_migrations, "MIGRATIONS", [*_migrations.MIGRATIONS, extra])
    monkeypatch.setattr("modeldeck.core.workspace._workspace.MIGRATIONS",
                        _migrations.MIGRATIONS)
    monkeypatch.setattr("modeldeck.core.workspace._workspace.SCHEMA_VERSION",
                        len(_migrations.MIGRATIONS))
    with Workspace.open(tmp_path / "w") as ws:
        assert ws.schema_version == len(_migrations.MIGRATIONS)
        assert ws.db["later_feature"].exists()
        entry = ws.audit_log(limit=1)[0]
        assert entry.action == "workspace.migrate"
        assert entry.payload == {"from": len(_migrations.MIGRATIONS) - 1,
                                 "to": len(_migrations.MIGRATIONS)}
        assert ws.verify_audit().ok


def test_failed_migration_leaves_previous_schema(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    Workspace.open(tmp_path / "w", create=True).close()
    broken = ["CREATE TABLE half_done (id INTEGER)", "THIS IS NOT SQL"]
    monkeypatch.setattr("modeldeck.core.workspace._workspace.MIGRATIONS",
                        [*_migrations.MIGRATIONS, broken])
    monkeypatch.setattr("modeldeck.core.workspace._workspace.SCHEMA_VERSION",
                        len(_migrations.MIGRATIONS) + 1)
    with pytest.raises(sqlite3.OperationalError):
        Workspace.open(tmp_path / "w")
    with sqlite3.connect(tmp_path / "w" / "modeldeck.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == _migrations.SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in tables


def test_workspace_location_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MODELDECK_WORKSPACE", raising=False)
    default = resolve_workspace_path(None)
    assert default.name == "workspace" and "modeldeck" in str(default)
    assert str(default).startswith(os.environ["XDG_DATA_HOME"])
    monkeypatch.setenv("MODELDECK_WORKSPACE", str(tmp_path / "env"))
    assert resolve_workspace_path(None) == tmp_path / "env"
    assert resolve_workspace_path(tmp_path / "flag") == tmp_path / "flag"


def test_not_a_database_is_reported(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "modeldeck.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(WorkspaceError, match="not a readable ModelDeck database"):
        Workspace.open(tmp_path / "w")


# -- artifacts -----------------------------------------------------------------------------


def test_artifacts_are_content_addressed_and_read_only(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "a")
    sha = store.put_bytes(b"hello")
    assert sha == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert store.put_bytes(b"hello") == sha
    path = store.path_of(sha)
    assert path.parent.name == sha[:2]
    assert not os.access(path, os.W_OK) or os.geteuid() == 0
    assert (path.stat().st_mode & 0o222) == 0
    assert store.get_bytes(sha) == b"hello"
    assert list(store) == [sha]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]


def test_corrupt_artifact_is_detected_on_read(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "a")
    sha = store.put_bytes(b"model bytes")
    path = store.path_of(sha)
    path.chmod(0o644)
    path.write_bytes(b"model bytez")
    with pytest.raises(CorruptArtifactError, match=sha[:12]) as info:
        store.get_bytes(sha)
    assert "backup" in str(info.value)


def test_missing_artifact(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "a")
    with pytest.raises(NotFoundError, match="missing"):
        store.get_bytes("0" * 64)
    with pytest.raises(NotFoundError, match="not an artifact id"):
        store.get_bytes("../../etc/passwd")


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=4096))
def test_artifact_roundtrip(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    store = ArtifactStore(tmp_path_factory.mktemp("store"))
    assert store.get_bytes(store.put_bytes(data)) == data


def test_schema_1_workspace_with_versions_upgrades(make_workspace) -> None:
    """A real schema-1 workspace (before importance and reference profiles) opens, upgrades,
    and its versions get their reference profile computed once, recorded and audited."""
    from modeldeck.core.registry import Registry

    path = make_workspace()
    with sqlite3.connect(path / "modeldeck.db") as conn:
        conn.execute("ALTER TABLE versions DROP COLUMN importance")
        conn.execute("ALTER TABLE versions DROP COLUMN reference_profile_sha256")
        conn.execute("ALTER TABLE models DROP COLUMN drift_thresholds")
        for table in ("hosts", "deployments", "host_status",  # migration 4
                      "release_gates", "release_approvals", "release_events",  # 5
                      "release_candidates"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("PRAGMA user_version = 1")
    with Workspace.open(path) as ws:
        assert ws.schema_version == _migrations.SCHEMA_VERSION
        registry = Registry(ws)
        old = registry.get_version("diabetes:1")
        assert old.importance == {} and old.reference_profile_sha256 is None
        profile = registry.load_reference_profile(old)
        assert profile.n_rows == old.fingerprints["reference"]["rows"]
        again = registry.get_version("diabetes:1")
        assert again.reference_profile_sha256 is not None
        assert registry.load_reference_profile(again).equal_counts(profile)
        assert [e.action for e in ws.audit_log(limit=2)] == ["version.reference-profile",
                                                             "workspace.migrate"]
        assert ws.verify_audit().ok
