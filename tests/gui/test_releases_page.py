"""The Releases page clicked through on a real demo workspace with real SSH keys.

The demo's ``alice`` (data scientist) registered every version, ``bob`` is a reviewer,
``carol`` the admin; tests add ``dave`` (reviewer) and ``frank`` (data scientist). Keys
are ed25519 keys made by ``ssh-keygen`` in the test's temp folder and registered through
core; approvals are signed by core with ``ssh-keygen -Y sign`` and verified against them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from modeldeck.core.progress import run
from modeldeck.core.release import Releases
from modeldeck.core.workspace import Workspace
from modeldeck.gui.pages.releases import NewCandidateDialog, ReleasesPage
from modeldeck.gui.release_models import CandidatesTableModel, format_gate_value

TIMEOUT = 15_000
GATES_TIMEOUT = 120_000
#: Skips the two slowest gates, for tests about reviewing rather than gating.
FAST_POLICY = '[gates]\nskip = ["latency", "drift"]\n'
#: Runs every gate, with a latency budget a loaded test machine cannot miss.
ALL_GATES_POLICY = "[latency]\nbudget_ms = 60000.0\n"


@pytest.fixture
def keys(ssh_key: Callable[[str], Path]) -> dict[str, Path]:
    return {name: ssh_key(name) for name in ("bob", "dave")}


@pytest.fixture
def workspace(make_workspace, keys):
    """The demo (as carol) with bob's and dave's keys registered and frank added."""
    ws = make_workspace()
    ws.add_user("dave", "reviewer", keys["dave"].with_suffix(".pub").read_text())
    ws.add_user("frank", "data-scientist")
    ws.set_user_key("bob", keys["bob"].with_suffix(".pub").read_text())
    return ws


def set_policy(workspace, model: str, text: str) -> None:  # noqa: ANN001
    folder = Path(workspace.path) / "policies"
    folder.mkdir(exist_ok=True)
    (folder / f"{model}.toml").write_text(text, encoding="utf-8")


def create_candidate(workspace, ref: str = "breast-cancer:2",  # noqa: ANN001
                     policy: str = FAST_POLICY):
    """Open a candidate as alice through core (its gates run)."""
    set_policy(workspace, ref.split(":")[0], policy)
    with Workspace.open(workspace.path, actor="alice") as alice:
        return run(Releases(alice).create(ref))


def open_page(make_main_window, make_workspace, qtbot, user: str) -> ReleasesPage:  # noqa: ANN001
    window = make_main_window(make_workspace(user=user))
    window.sidebar.setCurrentItem(window.sidebar_item("releases"))
    page = window.page("releases")
    assert window.pages.currentWidget() is page
    qtbot.waitUntil(lambda: page._loaded, timeout=TIMEOUT)
    if page.queue_model.rowCount():
        qtbot.waitUntil(lambda: page.detail is not None, timeout=TIMEOUT)
    return page


def queue_rows(page: ReleasesPage) -> list[dict[str, str]]:
    headers = CandidatesTableModel.headers
    proxy = page.queue_proxy
    return [{headers[c]: proxy.index(r, c).data() for c in range(len(headers))}
            for r in range(proxy.rowCount())]


# -- the queue and a candidate -------------------------------------------------------------


def test_queue_shows_candidates_gates_comparison_and_timeline(make_main_window, make_workspace,
                                                               workspace, qtbot, qtmodeltester):
    # every gate runs; a generous latency budget keeps a loaded test machine from failing it
    failed = create_candidate(workspace, "diabetes:2", policy=ALL_GATES_POLICY)
    waiting = create_candidate(workspace, "breast-cancer:2", policy=ALL_GATES_POLICY)
    assert failed.status == "gates-failed" and waiting.status == "awaiting-approval"
    page = open_page(make_main_window, make_workspace, qtbot, "bob")
    qtmodeltester.check(page.queue_model)

    rows = queue_rows(page)
    assert [r["#"] for r in rows] == [str(waiting.id), str(failed.id)]  # newest first
    assert rows[0]["Model"] == "breast-cancer" and rows[0]["Version"] == "v2"
    assert rows[0]["Author"] == "alice"
    assert rows[0]["Status"] == "awaiting approval" and rows[0]["Gates"] == "7/7 passed"
    assert rows[0]["Approvals"] == "0/1"
    assert rows[1]["Status"] == "gates failed" and rows[1]["Gates"] == "1 failed"
    assert page.count_label.text() == "2 candidates  ·  1 awaiting approval"

    # the newest is selected: its gates with values, thresholds and detail sentences
    assert page.selected_id() == waiting.id
    assert page.detail_title.text() == f"breast-cancer v2  ·  candidate #{waiting.id}"
    assert page.status_badge.text() == "awaiting approval"
    assert "production: breast-cancer:1" in page.detail_meta.text()
    gates = page.gates_view.row_texts()
    assert [g["name"] for g in gates] == ["Artifact", "Model card", "Holdout metrics",
                                          "No regression", "Schema", "Latency",
                                          "Drift on holdout"]
    assert {g["result"] for g in gates} == {"passed"}
    latency = gates[5]
    assert latency["value"].endswith(" ms") and latency["threshold"] == "≤ 60,000.0 ms"
    assert latency["detail"].startswith("Predicting 1000 rows took")
    assert "Accuracy ≥ 0.7" in gates[2]["threshold"]
    assert "breast-cancer:1" in gates[3]["detail"]

    # candidate next to production: metric deltas, schema diff, drift on the holdout
    metrics = {row[0]: row for row in page.metrics_model.rows()}
    assert page.metrics_model.headerData(1, Qt.Orientation.Horizontal) == "Production v1"
    assert page.metrics_model.headerData(2, Qt.Orientation.Horizontal) == "Candidate v2"
    assert metrics["Accuracy"][3].startswith("+")
    assert "compatible" in page.schema_note.text()
    assert "Added (20)" in page.schema_label.text()
    assert page.drift_model.rowCount() == 10
    assert page.drift_note.text()

    # the timeline
    steps = [e.action for e in page.timeline_model.events()]
    assert steps[:2] == ["created", "gates"]

    # the failed one says which gate failed and why
    with qtbot.wait_signal(page.detail_loaded, timeout=TIMEOUT):
        page.select_candidate(failed.id)
    gates = {g["name"]: g for g in page.gates_view.row_texts()}
    assert gates["No regression"]["result"] == "failed"
    assert "beyond the allowed" in gates["No regression"]["detail"]
    assert "gates failed" in page.gates_note.text() or "failed" in page.gates_note.text()
    assert not page.approve_button.isEnabled()
    assert "gates-failed" in page.approve_button.toolTip()

    # the status filter
    page.status_box.setCurrentIndex(page.status_box.findText("Awaiting approval"))
    assert [r["#"] for r in queue_rows(page)] == [str(waiting.id)]


def test_page_without_candidates_explains_how_to_start(make_main_window, make_workspace,
                                                       workspace, qtbot):
    page = open_page(make_main_window, make_workspace, qtbot, "alice")
    assert page.body_stack.currentWidget() is page.empty_state
    assert page.count_label.text() == "0 candidates"
    assert page.empty_new_button.isEnabled()


# -- reviewing ------------------------------------------------------------------------------


def test_reviewer_approves_by_clicking_with_a_key_file(make_main_window, make_workspace,
                                                       workspace, keys, qtbot):
    candidate = create_candidate(workspace)
    page = open_page(make_main_window, make_workspace, qtbot, "bob")
    assert page.selected_id() == candidate.id
    assert page.approve_button.isEnabled()
    assert not page.reject_button.isEnabled()  # a rejection needs a comment first
    assert "ssh-agent" in page.key_hint.text()
    assert "Registered for you: ssh-ed25519" in page.key_hint.text()

    page.key_edit.setText(str(keys["bob"]))
    assert page.key_edit.property("invalid") == "false"
    assert "Signs with bob." in page.key_hint.text()
    qtbot.keyClicks(page.comment_edit, "Metrics up on the holdout; schema agreed.")
    with qtbot.wait_signal(page.candidate_changed, timeout=TIMEOUT) as blocker:
        qtbot.mouseClick(page.approve_button, Qt.MouseButton.LeftButton)
    approved = blocker.args[0]
    assert approved.status == "approved"
    qtbot.waitUntil(lambda: page.detail is not None and page.detail.candidate.status
                    == "approved", timeout=TIMEOUT)

    # what core recorded: bob's signed, verified approval with the comment
    stored = Releases(workspace).get(candidate.id)
    (approval,) = stored.approvals
    assert (approval.reviewer, approval.decision, approval.verified) == ("bob", "approve", True)
    assert approval.comment == "Metrics up on the holdout; schema agreed."
    assert approval.signature.startswith("-----BEGIN SSH SIGNATURE-----")

    # and what the page shows now
    assert queue_rows(page)[0]["Approvals"] == "1/1"
    assert queue_rows(page)[0]["Status"] == "approved"
    assert page.status_badge.text() == "approved"
    assert page.approvals_label.text().startswith("<b>1/1</b>")
    assert "<b>bob</b>" in page.approvals_text.text()
    assert "signature verified" in page.approvals_text.text()
    assert "Metrics up on the holdout; schema agreed." in page.approvals_text.text()
    assert [e.action for e in page.timeline_model.events()][-2:] == ["approved",
                                                                   "release approved"]
    assert page.notifier.current().level == "success"
    assert "1 of 1 signed approvals" in page.notifier.current().message
    assert page.comment_edit.toPlainText() == ""
    # bob decided: the buttons are off, and say why
    assert not page.approve_button.isEnabled()
    assert "already approved" in page.approve_button.toolTip()
    assert page.review_reason.isVisible()

    # the Audit page shows the signed approval, and the chain still checks out
    window = page.window()
    audit = window.page("audit")
    with qtbot.wait_signal(audit.loaded, timeout=TIMEOUT):
        window.sidebar.setCurrentItem(window.sidebar_item("audit"))
    with qtbot.wait_signal(audit.loaded, timeout=TIMEOUT):
        audit.set_filters(action="release.approve")
    (entry,) = audit.model.entries()
    assert (entry.actor, entry.subject) == ("bob", f"release-{candidate.id}")
    assert entry.payload["signature"].startswith("-----BEGIN SSH SIGNATURE-----")
    assert audit.chain_card.property("state") == "verified"


def test_reviewer_approves_with_the_ssh_agent(make_main_window, make_workspace, workspace,
                                              keys, ssh_agent, qtbot):
    subprocess.run(["ssh-add", "-q", str(keys["bob"])], check=True, capture_output=True)
    candidate = create_candidate(workspace)
    page = open_page(make_main_window, make_workspace, qtbot, "bob")
    assert page.key_edit.text() == "" and page.signing_key() is None
    with qtbot.wait_signal(page.candidate_changed, timeout=TIMEOUT) as blocker:
        qtbot.mouseClick(page.approve_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].status == "approved"
    (approval,) = Releases(workspace).get(candidate.id).approvals
    assert approval.verified and approval.reviewer == "bob"


def test_the_author_is_refused(make_main_window, make_workspace, workspace, qtbot):
    candidate = create_candidate(workspace)
    # alice registered the version; even with the reviewer role she may not review it
    workspace.set_role("alice", "reviewer")
    page = open_page(make_main_window, make_workspace, qtbot, "alice")
    assert page.selected_id() == candidate.id
    for button in (page.approve_button, page.reject_button):
        assert not button.isEnabled()
        assert button.toolTip() == ("you (alice) registered breast-cancer:2, so you may not "
                                    "review it (four eyes)")
    assert page.review_reason.isVisible()
    assert page.review_reason.text() == page.approve_button.toolTip()
    assert not page.comment_edit.isEnabled() and not page.key_edit.isEnabled()
    # core gives the same answer
    with Workspace.open(workspace.path, actor="alice") as alice:
        assert Releases(alice).can_review(candidate.id) == (False, page.approve_button.toolTip())
    # clicking a disabled button does nothing
    qtbot.mouseClick(page.approve_button, Qt.MouseButton.LeftButton)
    assert page.approve() is None
    assert Releases(workspace).get(candidate.id).approvals == ()


def test_who_opened_the_candidate_is_refused_too(make_main_window, make_workspace, workspace,
                                                 qtbot):
    set_policy(workspace, "breast-cancer", FAST_POLICY)
    candidate = run(Releases(workspace).create("breast-cancer:2"))  # carol, an admin
    page = open_page(make_main_window, make_workspace, qtbot, "carol")
    assert page.selected_id() == candidate.id
    assert not page.approve_button.isEnabled()
    assert page.approve_button.toolTip() == (
        "you (carol) opened the candidate for breast-cancer:2, so you may not review it "
        "(four eyes)")
    # an admin may create candidates and re-run gates
    assert page.new_button.isEnabled() and page.gates_button.isEnabled()


def test_gates_of_a_decided_candidate_are_final(make_main_window, make_workspace, workspace,
                                                keys, qtbot):
    candidate = create_candidate(workspace)
    with Workspace.open(workspace.path, actor="bob") as bob:
        Releases(bob).approve(candidate.id, "ok", key=keys["bob"])
    page = open_page(make_main_window, make_workspace, qtbot, "carol")
    assert page.status_badge.text() == "approved"
    assert not page.gates_button.isEnabled()
    assert "final" in page.gates_button.toolTip()
    assert page.approvals_label.text().endswith("enough to deploy")


def test_a_user_without_the_reviewer_role_is_refused(make_main_window, make_workspace,
                                                     workspace, qtbot):
    create_candidate(workspace)
    page = open_page(make_main_window, make_workspace, qtbot, "frank")
    assert not page.approve_button.isEnabled() and not page.reject_button.isEnabled()
    tooltip = page.approve_button.toolTip()
    assert "'frank' has role 'data-scientist'" in tooltip
    assert "only reviewers and admins approve or reject releases" in tooltip
    assert page.reject_button.toolTip() == tooltip


def test_a_reviewer_cannot_create_candidates(make_main_window, make_workspace, workspace,
                                             qtbot):
    page = open_page(make_main_window, make_workspace, qtbot, "bob")
    assert not page.new_button.isEnabled()
    assert "may not create release candidates" in page.new_button.toolTip()


def test_two_approvals_when_the_policy_asks_for_them(make_main_window, make_workspace,
                                                     workspace, keys, qtbot):
    candidate = create_candidate(workspace, policy=FAST_POLICY + "[approval]\nrequired = 2\n")
    assert candidate.required_approvals == 2
    page = open_page(make_main_window, make_workspace, qtbot, "bob")
    assert queue_rows(page)[0]["Approvals"] == "0/2"
    page.key_edit.setText(str(keys["bob"]))
    with qtbot.wait_signal(page.candidate_changed, timeout=TIMEOUT):
        page.approve_button.click()
    qtbot.waitUntil(lambda: queue_rows(page)[0]["Approvals"] == "1/2", timeout=TIMEOUT)
    assert queue_rows(page)[0]["Status"] == "awaiting approval"
    assert "1 more approval needed" in page.notifier.current().message

    # dave, in his own window, adds the second
    dave_window = make_main_window(make_workspace(user="dave"))
    dave_window.sidebar.setCurrentItem(dave_window.sidebar_item("releases"))
    dave = dave_window.page("releases")
    qtbot.waitUntil(lambda: dave.detail is not None, timeout=TIMEOUT)
    assert dave.approvals_label.text().startswith("<b>1/2</b>")
    assert dave.approve_button.isEnabled()
    dave.key_edit.setText(str(keys["dave"]))
    with qtbot.wait_signal(dave.candidate_changed, timeout=TIMEOUT) as blocker:
        dave.approve_button.click()
    assert blocker.args[0].status == "approved"
    qtbot.waitUntil(lambda: queue_rows(dave)[0]["Approvals"] == "2/2", timeout=TIMEOUT)


def test_reject_needs_a_comment_and_is_recorded(make_main_window, make_workspace, workspace,
                                                keys, qtbot):
    candidate = create_candidate(workspace)
    page = open_page(make_main_window, make_workspace, qtbot, "bob")
    assert not page.reject_button.isEnabled()
    assert "Write a comment" in page.reject_button.toolTip()
    page.key_edit.setText(str(keys["bob"]))
    qtbot.keyClicks(page.comment_edit, "The schema change is not agreed with clients.")
    assert page.reject_button.isEnabled()
    with qtbot.wait_signal(page.candidate_changed, timeout=TIMEOUT) as blocker:
        qtbot.mouseClick(page.reject_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].status == "rejected"
    (decision,) = Releases(workspace).get(candidate.id).approvals
    assert decision.decision == "reject" and decision.signature
    qtbot.waitUntil(lambda: page.status_badge.text() == "rejected", timeout=TIMEOUT)


def test_a_wrong_key_is_reported_and_nothing_recorded(make_main_window, make_workspace,
                                                      workspace, keys, qtbot):
    candidate = create_candidate(workspace)
    page = open_page(make_main_window, make_workspace, qtbot, "bob")
    page.key_edit.setText(str(keys["dave"]))  # not bob's registered key
    with qtbot.wait_signal(page.runner.errored, timeout=TIMEOUT):
        page.approve_button.click()
    assert page.notifier.current().level == "error"
    assert "other than the one registered" in page.notifier.current().message
    assert Releases(workspace).get(candidate.id).approvals == ()
    qtbot.waitUntil(page.approve_button.isEnabled, timeout=TIMEOUT)


def test_key_path_field_flags_a_missing_file_and_is_remembered(make_main_window,
                                                               make_workspace, workspace,
                                                               keys, qtbot, tmp_path):
    create_candidate(workspace)
    page = open_page(make_main_window, make_workspace, qtbot, "bob")
    page.key_edit.setText(str(tmp_path / "nope"))
    assert page.key_edit.property("invalid") == "true"
    assert "No file at" in page.key_hint.text()
    page.key_edit.setText(str(keys["bob"]))
    page.window().save_state()
    again = open_page(make_main_window, make_workspace, qtbot, "bob")
    assert again.key_edit.text() == str(keys["bob"])


# -- creating and gating ---------------------------------------------------------------------


def test_new_candidate_runs_the_gates_in_a_worker_with_progress(make_main_window,
                                                                 make_workspace, workspace,
                                                                 qtbot):
    set_policy(workspace, "diabetes", ALL_GATES_POLICY)
    page = open_page(make_main_window, make_workspace, qtbot, "alice")
    page.open_new_candidate_dialog("diabetes:2")
    qtbot.waitUntil(lambda: isinstance(page.active_dialog, NewCandidateDialog),
                    timeout=TIMEOUT)
    dialog = page.active_dialog
    assert dialog.model_box.currentData() == "diabetes"
    assert dialog.version_box.currentData() == "diabetes:2"
    assert "by alice" in dialog.version_box.currentText()
    events = []
    page.runner.progressed.connect(lambda _task, event: events.append(event))
    with qtbot.wait_signal(page.candidate_changed, timeout=GATES_TIMEOUT) as blocker:
        dialog.ok_button.click()
    created = blocker.args[0]
    assert created.ref == "diabetes:2" and created.author == "alice"
    assert any(e.step == "building" for e in events)
    assert events[-1].fraction == 1.0
    qtbot.waitUntil(lambda: page.detail is not None and page.detail.candidate.id == created.id,
                    timeout=TIMEOUT)
    assert page.selected_id() == created.id
    # the demo's diabetes v2 regresses against production v1
    gates = {g["name"]: g for g in page.gates_view.row_texts()}
    assert gates["No regression"]["result"] == "failed"
    assert page.notifier.current().level == "warning"
    assert "regression" in page.notifier.current().message


def test_run_gates_can_be_cancelled(make_main_window, make_workspace, workspace, qtbot):
    candidate = create_candidate(workspace)
    page = open_page(make_main_window, make_workspace, qtbot, "alice")
    before = len(Releases(workspace).timeline(candidate.id))
    task = page.run_gates()
    assert not page.gates_button.isEnabled()
    with qtbot.wait_signal(page.runner.cancelled, timeout=GATES_TIMEOUT):
        task.cancel()
    assert len(Releases(workspace).timeline(candidate.id)) == before
    qtbot.waitUntil(page.gates_button.isEnabled, timeout=TIMEOUT)


def test_run_gates_again_records_a_new_run(make_main_window, make_workspace, workspace,
                                           qtbot):
    candidate = create_candidate(workspace)
    page = open_page(make_main_window, make_workspace, qtbot, "alice")
    with qtbot.wait_signal(page.candidate_changed, timeout=GATES_TIMEOUT):
        qtbot.mouseClick(page.gates_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: [e.action for e in page.timeline_model.events()].count("gates")
                    == 2, timeout=TIMEOUT)
    assert page.selected_id() == candidate.id


# -- formatting -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "threshold", "expected"), [
    ("regression", -0.0032, False, "-0.32 %"),
    ("regression", -0.01, True, "≥ -1.00 %"),
    ("latency", 23.67, False, "23.7 ms"),
    ("latency", 500.0, True, "≤ 500.0 ms"),
    ("drift", 2, False, "2 features flagged"),
    ("drift", 0, True, "≤ 0 features"),
    ("card", 2, False, "2 missing"),
    ("metrics", {"accuracy": 0.7}, True, "Accuracy ≥ 0.7"),
    ("metrics", {"accuracy": 0.98246}, False, "Accuracy 0.9825"),
    ("artifact", "pickle", False, "pickle"),
    ("schema", None, False, "—"),
])
def test_gate_values_read_with_their_units(name, value, threshold, expected):
    assert format_gate_value(name, value, threshold=threshold) == expected


def test_deploy_opens_the_fleet_wizard_on_an_approved_candidate(make_main_window,
                                                                make_workspace, workspace,
                                                                keys, qtbot):
    candidate = create_candidate(workspace)
    reviewer = open_page(make_main_window, make_workspace, qtbot, "bob")
    assert not reviewer.deploy_button.isEnabled()  # awaiting approval
    assert "Only an approved candidate" in reviewer.deploy_button.toolTip()
    with Workspace.open(workspace.path, actor="bob") as bob:
        Releases(bob).approve(candidate.id, "fine", key=keys["bob"])
    reviewer.reload(select=candidate.id)
    qtbot.waitUntil(lambda: reviewer.detail is not None and reviewer.detail.candidate.status
                    == "approved", timeout=TIMEOUT)
    assert not reviewer.deploy_button.isEnabled()  # a reviewer may not deploy
    assert "may not deploy" in reviewer.deploy_button.toolTip()

    page = open_page(make_main_window, make_workspace, qtbot, "carol")  # an admin
    window = page.window()
    assert page.deploy_button.isEnabled()
    qtbot.mouseClick(page.deploy_button, Qt.MouseButton.LeftButton)
    fleet = window.page("fleet")
    assert window.pages.currentWidget() is fleet
    qtbot.waitUntil(lambda: fleet.deploy_wizard is not None, timeout=TIMEOUT)
    assert fleet.deploy_wizard.ref() == candidate.ref
    fleet.deploy_wizard.reject()
