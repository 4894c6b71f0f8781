"""The hash-chained audit log and roles enforced in core."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from modeldeck.core.errors import AlreadyExistsError, InvalidInputError, PermissionDeniedError
from modeldeck.core.workspace import Workspace


def _tamper(ws_path: Path, *statements: str) -> None:
    """Change the database behind ModelDeck's back, as someone with the sqlite3 shell."""
    with sqlite3.connect(ws_path / "modeldeck.db") as conn:
        conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
        conn.execute("DROP TRIGGER IF EXISTS audit_no_delete")
        for sql in statements:
            conn.execute(sql)


@pytest.fixture
def busy_ws(tmp_path: Path) -> Path:
    path = tmp_path / "w"
    with Workspace.open(path, create=True) as ws:
        ws.add_user("alice", "data-scientist")
        ws.add_user("bob", "reviewer")
        ws.set_role("bob", "admin")
        ws.remove_user("bob")
        assert ws.verify_audit().rows_checked == 5
    return path


def test_every_change_appends_one_linked_row(busy_ws: Path) -> None:
    with Workspace.open(busy_ws) as ws:
        rows = ws.audit_log(newest_first=False)
        assert [r.action for r in rows] == ["workspace.create", "user.add", "user.add",
                                           "user.set-role", "user.remove"]
        assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
        for before, after in zip(rows, rows[1:]):
            assert after.prev_hash == before.hash
        assert rows[3].payload == {"previous": "reviewer", "role": "admin"}
        assert all(r.actor == ws.identity.name and r.role == "admin" for r in rows)
        result = ws.verify_audit()
        assert result.ok and result.head_seq == 5 and result.head_hash == rows[-1].hash


def test_the_database_refuses_updates_and_deletes(busy_ws: Path) -> None:
    with sqlite3.connect(busy_ws / "modeldeck.db") as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit WHERE seq = 2")


def test_edited_row_is_reported(busy_ws: Path) -> None:
    _tamper(busy_ws, "UPDATE audit SET payload = '{\"role\":\"admin\"}' WHERE seq = 2")
    with Workspace.open(busy_ws) as ws:
        result = ws.verify_audit()
    assert not result.ok
    assert result.first_bad_seq == 2
    assert "edited" in result.problem
    assert result.rows_checked == 1


def test_edited_hash_breaks_the_next_link(busy_ws: Path) -> None:
    # A careful tamperer recomputes nothing: changing a row and its hash breaks row 4's link.
    _tamper(busy_ws, "UPDATE audit SET actor='mallory', hash='" + "f" * 64 + "' WHERE seq = 3")
    with Workspace.open(busy_ws) as ws:
        result = ws.verify_audit()
    assert not result.ok and result.first_bad_seq == 3


def test_deleted_row_is_reported(busy_ws: Path) -> None:
    _tamper(busy_ws, "DELETE FROM audit WHERE seq = 3")
    with Workspace.open(busy_ws) as ws:
        result = ws.verify_audit()
    assert not result.ok and result.first_bad_seq == 3
    assert "deleted" in result.problem


def test_truncation_is_caught_with_a_recorded_head(busy_ws: Path) -> None:
    with Workspace.open(busy_ws) as ws:
        head = ws.verify_audit().head_hash
    _tamper(busy_ws, "DELETE FROM audit WHERE seq = 5")
    with Workspace.open(busy_ws) as ws:
        assert ws.verify_audit().ok  # a shorter chain is still a chain...
        result = ws.verify_audit(expected_head=head)
    assert not result.ok and "expected head" in result.problem  # ...but not the one recorded


def test_roles_are_enforced_in_core(busy_ws: Path) -> None:
    with Workspace.open(busy_ws, actor="alice") as alice:
        assert alice.identity.role == "data-scientist"
        with pytest.raises(PermissionDeniedError, match="data-scientist") as info:
            alice.add_user("eve", "admin")
        assert "admin" in str(info.value)
    with Workspace.open(busy_ws, actor="stranger") as stranger:
        assert stranger.identity.role is None
        with pytest.raises(PermissionDeniedError, match="not registered") as info:
            stranger.add_user("eve", "admin")
        assert "users add stranger" in str(info.value)
    with Workspace.open(busy_ws) as ws:
        assert "eve" not in {u.name for u in ws.users()}
        assert ws.verify_audit().rows_checked == 5


def test_user_input_is_checked(busy_ws: Path) -> None:
    with Workspace.open(busy_ws) as ws:
        with pytest.raises(InvalidInputError, match="unknown role"):
            ws.add_user("dave", "superuser")
        with pytest.raises(AlreadyExistsError):
            ws.add_user("alice", "reviewer")
        with pytest.raises(InvalidInputError, match="OpenSSH public key"):
            ws.add_user("dave", "reviewer", ssh_public_key="not a key")
        dave = ws.add_user("dave", "reviewer",
                            ssh_public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB dave@x")
        assert dave.ssh_public_key.startswith("ssh-ed25519")
        with pytest.raises(PermissionDeniedError, match="last admin"):
            ws.set_role(ws.identity.name, "reviewer")
        with pytest.raises(PermissionDeniedError, match="last admin"):
            ws.remove_user(ws.identity.name)
        assert ws.identity.role == "admin"
