"""The Audit page on a real demo workspace: filters, chain status, a tampered log."""

from __future__ import annotations

import sqlite3

import pytest

from modeldeck.core.registry import Registry
from modeldeck.gui.pages.audit import ALL_ACTORS, AuditPage, action_choices
from modeldeck.gui.release_models import AuditTableModel, payload_summary

TIMEOUT = 10_000


@pytest.fixture
def workspace(make_workspace):
    return make_workspace()


def open_page(make_main_window, workspace, qtbot) -> AuditPage:
    window = make_main_window(workspace)
    window.sidebar.setCurrentItem(window.sidebar_item("audit"))
    page = window.page("audit")
    assert window.pages.currentWidget() is page
    qtbot.waitUntil(lambda: page._loaded, timeout=TIMEOUT)
    return page


def shown(page: AuditPage, column: int) -> list[str]:
    return [page.proxy.index(row, column).data() for row in range(page.proxy.rowCount())]


def reload(page: AuditPage, qtbot, change) -> None:  # noqa: ANN001
    with qtbot.wait_signal(page.loaded, timeout=TIMEOUT):
        change()


def tamper(workspace, seq: int) -> None:  # noqa: ANN001
    """Edit audit row ``seq`` behind ModelDeck's back (as a DB editor would)."""
    conn = sqlite3.connect(workspace.db_path)
    try:
        conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
        conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = ?", (seq,))
        conn.commit()
    finally:
        conn.close()


def test_page_shows_the_log_and_a_verified_chain(make_main_window, workspace, qtbot,
                                                 qtmodeltester):
    total = len(workspace.audit_log(limit=None))
    page = open_page(make_main_window, workspace, qtbot)
    qtmodeltester.check(page.model)

    assert page.proxy.rowCount() == total
    assert page.count_label.text() == f"{total} entries"
    seqs = [int(s) for s in shown(page, AuditTableModel.SEQ)]
    assert seqs == sorted(seqs, reverse=True)  # newest first
    assert page.model.headers == ("#", "Time (UTC)", "Actor", "Role", "Action", "Subject",
                                  "Details")
    actions = set(shown(page, AuditTableModel.ACTION))
    assert {"user.add", "version.register", "alias.set"} <= actions
    assert page.chain_status_text() == f"Hash chain verified: all {total} entries check out"
    assert page.chain_card.property("state") == "verified"
    assert page.chain_card.copy_button.isVisible()
    assert not page.chain_card.show_button.isVisible()
    # every row is marked as verified
    assert "Checks out" in page.proxy.index(0, AuditTableModel.SEQ).data(
        3)  # ToolTipRole
    # the newest entry is selected and its payload shown
    assert page.selected_seq() == max(seqs)
    assert page.detail.isVisible()
    assert page.detail_title.text().startswith(f"Entry {max(seqs)}")


def test_filters_narrow_the_table(make_main_window, workspace, qtbot):
    page = open_page(make_main_window, workspace, qtbot)
    total = page.proxy.rowCount()
    actors = [page.actor_box.itemText(i) for i in range(page.actor_box.count())]
    assert actors[0] == ALL_ACTORS and {"alice", "bob", "carol"} <= set(actors)

    # actor: by choosing it in the list
    reload(page, qtbot, lambda: page.actor_box.setCurrentIndex(page.actor_box.findData("bob")))
    assert 0 < page.proxy.rowCount() < total
    assert set(shown(page, AuditTableModel.ACTOR)) == {"bob"}
    assert set(shown(page, AuditTableModel.ROLE)) == {"reviewer"}
    bob_rows = page.proxy.rowCount()
    assert page.count_label.text() == f"{bob_rows} of {total} entries match"

    # action: a family matches all its actions (core filters by prefix)
    reload(page, qtbot, lambda: page.actor_box.setCurrentIndex(0))
    reload(page, qtbot,
           lambda: page.action_box.setCurrentIndex(page.action_box.findData("version")))
    assert set(shown(page, AuditTableModel.ACTION)) == {"version.register"}
    assert page.proxy.rowCount() == 4  # 2 models × 2 versions

    # subject typed: a model name covers its versions and aliases
    with qtbot.wait_signal(page.loaded, timeout=TIMEOUT):
        page.subject_edit.setText("diabetes")
    assert page.proxy.rowCount() == 2
    assert all(s.startswith("diabetes") for s in shown(page, AuditTableModel.SUBJECT))
    reload(page, qtbot, lambda: page.action_box.setCurrentIndex(page.action_box.findData("alias")))
    subjects = set(shown(page, AuditTableModel.SUBJECT))
    assert subjects == {"diabetes@staging", "diabetes@production"}

    # nothing matches → an explanation instead of an empty table
    with qtbot.wait_signal(page.loaded, timeout=TIMEOUT):
        page.subject_edit.setText("no-such-model")
    assert page.table_stack.currentWidget() is page.empty_label
    assert "No entry matches" in page.empty_label.text()
    assert not page.detail.isVisible()

    reload(page, qtbot, page.clear_button.click)
    assert page.proxy.rowCount() == total
    assert page.filters().active is False
    assert page.table_stack.currentWidget() is page.view


def test_new_changes_show_after_refresh(make_main_window, workspace, qtbot):
    page = open_page(make_main_window, workspace, qtbot)
    before = page.proxy.rowCount()
    Registry(workspace.as_user("bob")).set_alias("diabetes:2", "production")
    reload(page, qtbot, page.refresh_button.click)
    assert page.proxy.rowCount() == before + 1
    top = page.model.entry_at(page.proxy.mapToSource(page.proxy.index(0, 0)).row())
    assert (top.actor, top.action, top.subject) == ("bob", "alias.set", "diabetes@production")
    assert "version=2" in shown(page, AuditTableModel.DETAILS)[0]
    assert page.chain_card.property("state") == "verified"


def test_a_tampered_log_is_shown_broken_at_its_entry(make_main_window, workspace, qtbot):
    tamper(workspace, 3)
    page = open_page(make_main_window, workspace, qtbot)
    assert page.chain_status_text() == "Hash chain broken at entry 3"
    assert page.chain_card.property("state") == "broken"
    assert "edited after it was written" in page.chain_card.detail.text()
    assert "Entries 1 to 2 check out" in page.chain_card.detail.text()
    assert page.chain_card.show_button.text() == "Show entry 3"
    assert not page.chain_card.copy_button.isVisible()

    # the broken row is marked, later rows are not verifiable, earlier ones check out
    states = {e.seq: page.model.chain_state(e) for e in page.model.entries()}
    assert states[3] == "broken" and states[2] == "verified" and states[4] == "unchecked"

    # "Show entry 3" finds it, even when a filter hides it
    reload(page, qtbot, lambda: page.actor_box.setCurrentIndex(page.actor_box.findData("bob")))
    assert page.model.row_of(3) < 0
    with qtbot.wait_signal(page.loaded, timeout=TIMEOUT):
        page.chain_card.show_button.click()
    assert page.selected_seq() == 3
    assert "the chain breaks here" in page.detail_meta.text()
    tooltip = page.proxy.index(page.proxy.mapFromSource(page.model.index(
        page.model.row_of(3), 0)).row(), AuditTableModel.SEQ).data(3)
    assert "edited after it was written" in tooltip


def test_payload_summary_and_action_choices():
    summary = payload_summary({"version": 2, "sha256": "a" * 64, "files": [1, 2, 3, 4, 5],
                               "empty": None, "key": "ssh-ed25519 AAAA bob@x"})
    assert summary == "version=2  files=[5 items]  key=ssh-ed25519 …  sha256=aaaaaaaaaaaa…"
    choices = action_choices(["alias.set", "user.add", "version.register", "version.edit"])
    assert ("version.*", "version") in choices
    assert ("    version.edit", "version.edit") in choices
    assert ("alias.*", "alias") in choices
