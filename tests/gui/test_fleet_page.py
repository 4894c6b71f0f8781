"""The Fleet page, clicked through on a demo workspace with a ``local`` host.

A local host is a folder on this machine that goes through the same release steps as
an SSH host (agent, upload, verify, switch, server, health check), so the deploy tests
need no SSH; the test venv's Python has numpy and scikit-learn, so no wheelhouse either.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QWizard

from modeldeck.core.deploy.hosts import Host, HostStore, deployments, set_status
from modeldeck.core.deploy.trust import ScannedKey
from modeldeck.gui.dialogs.deploy_wizard import DeployWizard
from modeldeck.gui.dialogs.host_dialog import AddHostDialog
from modeldeck.gui.dialogs.rollback_dialog import RollbackDialog
from modeldeck.gui.dialogs.trust_dialog import ChangedKeyDialog, TrustHostDialog
from modeldeck.gui.fleet_models import (
    DeploymentsTableModel,
    DeployProgressModel,
    HostsTableModel,
    PlanTableModel,
)
from modeldeck.gui.pages.fleet import FleetPage

TIMEOUT = 10_000
DEPLOY_TIMEOUT = 240_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_local_server(root: Path) -> None:
    """Stop the prediction server a test deploy started under ``root``."""
    agent = root / ".modeldeck" / "agent.py"
    if agent.is_file():
        import subprocess

        subprocess.run([sys.executable, str(agent), "--root", str(root), "stop"],
                       capture_output=True, timeout=60, check=False)
    pid_file = root / "run" / "server.pid"
    if pid_file.is_file():
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (ValueError, ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def local_host(tmp_path: Path):
    """A local host under tmp_path (its server, if a test starts one, is stopped)."""
    root = tmp_path / "host"
    host = Host(name="local-1", transport="local", root=str(root), python=sys.executable,
                serve_bind="127.0.0.1", serve_port=free_port(), groups=("lab",))
    yield host
    stop_local_server(root)


@pytest.fixture
def workspace(make_workspace):
    return make_workspace()


def make_page(make_main_window, workspace, qtbot) -> FleetPage:
    window = make_main_window(workspace)
    window.sidebar.setCurrentItem(window.sidebar_item("fleet"))
    page = window.page("fleet")
    qtbot.waitUntil(lambda: page._loaded, timeout=TIMEOUT)
    return page


def table_rows(page: FleetPage) -> dict[str, dict[str, str]]:
    proxy = page.hosts_proxy
    headers = HostsTableModel.headers
    return {proxy.index(row, 0).data(): {headers[c]: proxy.index(row, c).data()
                                         for c in range(len(headers))}
            for row in range(proxy.rowCount())}


# -- listing ------------------------------------------------------------------------


def test_page_lists_hosts_with_their_cached_status(make_main_window, workspace, qtbot,
                                                   local_host, qtmodeltester):
    store = HostStore(workspace)
    store.add(local_host)
    store.add(Host(name="web1", hostname="10.0.0.11", user="deploy", groups=("prod",)))
    store.add(Host(name="web2", hostname="10.0.0.12", port=2222, groups=("prod",)))
    set_status(workspace, "web1", reachable=True, release_id="breast-cancer-v1-0123abcd4567",
               model="breast-cancer", version=1, healthy=True, free_bytes=5 * 1024 ** 3)
    set_status(workspace, "web2", reachable=False, detail="timed out")
    page = make_page(make_main_window, workspace, qtbot)

    rows = table_rows(page)
    assert list(rows) == ["local-1", "web1", "web2"]
    assert rows["web1"]["Address"] == "deploy@10.0.0.11"
    assert rows["web1"]["Status"] == "healthy"
    assert rows["web1"]["Release"] == "breast-cancer v1"
    assert rows["web1"]["Free disk"] == "5.0 GB"
    assert rows["web2"]["Address"] == "10.0.0.12:2222"
    assert rows["web2"]["Status"] == "unreachable"
    assert rows["local-1"]["Status"] == "not checked"
    assert rows["local-1"]["Last seen"] == "never"
    assert page.count_label.text() == "3 hosts  ·  1 healthy"
    assert page.body_stack.currentWidget() is page.splitter
    qtmodeltester.check(page.hosts_model)

    # the group filter shows one group's hosts
    page.group_box.setCurrentIndex(page.group_box.findData("prod"))
    assert list(table_rows(page)) == ["web1", "web2"]
    page.group_box.setCurrentIndex(0)
    page.search_edit.setText("web2")
    qtbot.waitUntil(lambda: list(table_rows(page)) == ["web2"], timeout=TIMEOUT)

    # selecting a host shows its settings
    page.select_hosts("web2")
    assert page.detail_title.text() == "web2"
    settings = dict(page.settings_model.rows())
    assert settings["Address"] == "10.0.0.12:2222"
    assert settings["Groups"] == "prod"
    assert page.test_button.isEnabled() and page.remove_button.isEnabled()


def test_page_without_hosts_shows_how_to_add_them(make_main_window, workspace, qtbot):
    page = make_page(make_main_window, workspace, qtbot)
    assert page.body_stack.currentWidget() is page.empty_state
    assert page.count_label.text() == "0 hosts"
    assert not page.deploy_button.isEnabled()


# -- adding, importing, removing ------------------------------------------------------


def test_add_host_dialog_validates_as_you_type(make_main_window, workspace, qtbot):
    HostStore(workspace).add(Host(name="web1", hostname="10.0.0.11"))
    page = make_page(make_main_window, workspace, qtbot)
    dialog = page.open_add_host_dialog()
    assert isinstance(dialog, AddHostDialog)
    assert not dialog.ok_button.isEnabled()  # no name yet

    dialog.name_edit.setText("db 1")
    assert not dialog.ok_button.isEnabled()
    assert "not a valid host name" in dialog.error_label.text()
    assert dialog.name_edit.property("invalid") == "true"

    dialog.name_edit.setText("web1")
    assert "exists already" in dialog.error_label.text()

    dialog.name_edit.setText("db1")
    assert "needs a hostname" in dialog.error_label.text()
    dialog.hostname_edit.setText("deploy@10.0.0.20")
    assert "contains a user name" in dialog.error_label.text()
    assert dialog.hostname_edit.property("invalid") == "true"
    dialog.hostname_edit.setText("10.0.0.20")
    dialog.root_edit.setText("relative/folder")
    assert "neither absolute nor under the home folder" in dialog.error_label.text()
    dialog.root_edit.setText("/srv/modeldeck")
    dialog.groups_edit.setText("prod, eu")
    assert dialog.ok_button.isEnabled()
    assert dialog.error_label.isHidden()

    with qtbot.wait_signal(page.hosts_loaded, timeout=TIMEOUT):
        dialog.ok_button.click()
    store = HostStore(workspace)
    added = store.get("db1")
    assert added.hostname == "10.0.0.20" and added.groups == ("eu", "prod")
    assert "db1" in table_rows(page)
    assert page.selected_names() == ["db1"]
    assert window_banner(page).current().level == "success"


def test_add_local_host_needs_an_absolute_root(make_main_window, workspace, qtbot):
    page = make_page(make_main_window, workspace, qtbot)
    dialog = page.open_add_host_dialog()
    dialog.set_transport("local")
    assert dialog.hostname_edit.isHidden()
    dialog.name_edit.setText("lab")
    dialog.root_edit.setText("relative")
    assert "absolute folder" in dialog.error_label.text()
    dialog.root_edit.setText("/srv/modeldeck-lab")
    assert dialog.ok_button.isEnabled()
    assert dialog.candidate().checked().transport == "local"
    dialog.reject()


def window_banner(page: FleetPage):
    return page.notifier


def test_import_hosts_from_an_ssh_config(make_main_window, workspace, qtbot, tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text("Host web1\n  HostName 10.0.0.11\n  User deploy\n\n"
                      "Host web2\n  HostName 10.0.0.12\n  Port 2222\n  ProxyJump web1\n")
    page = make_page(make_main_window, workspace, qtbot)
    with qtbot.wait_signal(page.hosts_loaded, timeout=TIMEOUT):
        page.import_hosts(str(config), "ssh-config")
    rows = table_rows(page)
    assert rows["web1"]["Address"] == "deploy@10.0.0.11"
    assert rows["web2"]["Address"] == "10.0.0.12:2222 via web1"
    assert "2 added" in page.notifier.current().message


def test_edit_host_changes_and_renames_keeping_labels(make_main_window, workspace, qtbot):
    store = HostStore(workspace)
    store.add(Host(name="web1", hostname="10.0.0.11", labels={"rack": "a3"}, groups=("prod",)))
    store.add(Host(name="web2", hostname="10.0.0.12"))
    page = make_page(make_main_window, workspace, qtbot)
    page.select_hosts("web1", "web2")
    assert not page.edit_button.isEnabled()  # one host at a time
    page.select_hosts("web1")
    assert page.edit_button.isEnabled()
    dialog = page.open_edit_host_dialog()
    assert dialog.windowTitle() == "Edit host web1" and dialog.ok_button.text() == "Save"
    assert dialog.hostname_edit.text() == "10.0.0.11" and dialog.groups_edit.text() == "prod"
    assert dialog.ok_button.isEnabled()  # its own name is not "taken"
    dialog.name_edit.setText("web2")
    assert "exists already" in dialog.error_label.text()
    dialog.name_edit.setText("web1-eu")
    dialog.python_edit.setText("/opt/py311/bin/python3")
    dialog.serve_port_spin.setValue(9090)
    with qtbot.wait_signal(page.hosts_loaded, timeout=TIMEOUT):
        dialog.ok_button.click()
    assert dialog.changes() == {"name": "web1-eu", "python": "/opt/py311/bin/python3",
                                "serve_port": 9090}
    edited = HostStore(workspace).get("web1-eu")
    assert edited.python == "/opt/py311/bin/python3" and edited.serve_port == 9090
    assert edited.labels == {"rack": "a3"} and edited.groups == ("prod",)
    assert page.selected_names() == ["web1-eu"]
    assert "Saved host web1-eu" in page.notifier.current().message


def test_remove_host_asks_first(make_main_window, workspace, qtbot):
    HostStore(workspace).add(Host(name="web1", hostname="10.0.0.11"))
    page = make_page(make_main_window, workspace, qtbot)
    page.select_hosts("web1")
    box = page._on_remove_button_clicked()
    assert "Remove web1" in box.text()
    remove = next(b for b in box.buttons() if b.text() == "Remove")
    with qtbot.wait_signal(page.hosts_loaded, timeout=TIMEOUT):
        remove.click()
    assert HostStore(workspace).list() == []
    assert page.body_stack.currentWidget() is page.empty_state


# -- host keys --------------------------------------------------------------------------


def scanned_key(state: str, recorded: str = "") -> ScannedKey:
    return ScannedKey(host="web1", endpoint="deploy@10.0.0.11:22", known_name="10.0.0.11",
                      key_type="ssh-ed25519", key_base64="AAAAC3NzaC1lZDI1NTE5AAAAIExample",
                      fingerprint="SHA256:3nCk2y3n1XgH2b5m0f7QvHkq0pXnYcR8dZfYb1uT9wE",
                      state=state, recorded=recorded)


def test_unknown_key_asks_to_trust_with_its_fingerprint(make_main_window, workspace, qtbot,
                                                        monkeypatch):
    host = HostStore(workspace).add(Host(name="web1", hostname="10.0.0.11", user="deploy"))
    page = make_page(make_main_window, workspace, qtbot)
    trusted: list[tuple[str, str]] = []
    monkeypatch.setattr(page, "trust", lambda h, fp: trusted.append((h.name, fp)))
    scanned = scanned_key("unknown")

    dialog = page.on_key_scanned(host, scanned)
    assert isinstance(dialog, TrustHostDialog)
    assert dialog.isVisible()
    assert dialog.findChild(QLabel, "keyFingerprint").text() == scanned.fingerprint
    assert dialog.findChild(QLabel, "keyType").text() == "ssh-ed25519"
    # "Don't trust" is the default: Enter must not trust a key
    assert dialog.cancel_button.isDefault()

    dialog.trust_button.click()
    assert trusted == [("web1", scanned.fingerprint)]

    # refusing records nothing
    trusted.clear()
    with qtbot.wait_signal(page.connection_tested, timeout=TIMEOUT):
        page.on_key_scanned(host, scanned).cancel_button.click()
    assert trusted == []


def test_changed_key_only_explains_how_to_untrust(make_main_window, workspace, qtbot,
                                                  monkeypatch):
    host = HostStore(workspace).add(Host(name="web1", hostname="10.0.0.11"))
    page = make_page(make_main_window, workspace, qtbot)
    monkeypatch.setattr(page, "trust", lambda *_a: pytest.fail("a changed key was trusted"))
    dialog = page.on_key_scanned(host, scanned_key("changed", recorded="SHA256:oldKey"))
    assert isinstance(dialog, ChangedKeyDialog)
    buttons = dialog.buttons.buttons()
    assert [dialog.buttons.standardButton(b) for b in buttons] == [
        QDialogButtonBox.StandardButton.Close]
    assert dialog.buttons.buttonRole(buttons[0]) == QDialogButtonBox.ButtonRole.RejectRole
    assert dialog.findChild(QLabel, "keyRecorded").text() == "SHA256:oldKey"
    steps = dialog.findChild(QLabel, "changedKeySteps")
    assert "modeldeck hosts untrust web1" in steps.text()
    assert page.notifier.current().level == "error"
    with qtbot.wait_signal(page.connection_tested, timeout=TIMEOUT):
        buttons[0].click()


# -- deploy, responsiveness, rollback ----------------------------------------------------


def run_wizard(page: FleetPage, qtbot, ref: str, names: list[str]) -> tuple[DeployWizard,
                                                                              object]:
    """Deploy ``ref`` to ``names`` through the wizard; returns it and the result."""
    page.select_hosts(*names)
    # a finished wizard closed a moment ago is deleted later: wait for the new one
    before = page.deploy_wizard
    page.open_deploy_wizard()
    qtbot.waitUntil(lambda: page.deploy_wizard is not None and page.deploy_wizard is not before,
                    timeout=TIMEOUT)
    wizard = page.deploy_wizard
    assert wizard.release_page.set_ref(ref)
    assert wizard.ref() == ref
    wizard.next()
    assert wizard.currentId() == DeployWizard.HOSTS
    assert wizard.hosts_page.checked_names() == names
    wizard.next()
    assert wizard.currentId() == DeployWizard.STRATEGY
    wizard.strategy_page.canary_spin.setValue(1)
    wizard.next()
    assert wizard.currentId() == DeployWizard.PLAN
    qtbot.waitUntil(lambda: wizard.plan_page.done, timeout=DEPLOY_TIMEOUT)
    assert wizard.plan_page.error is None, wizard.plan_page.status_label.text()
    assert [p.host for p in wizard.plan_page.model.plans()] == names
    assert wizard.button(QWizard.WizardButton.CommitButton).text() == "Deploy"
    with qtbot.wait_signal(page.deploy_finished, timeout=DEPLOY_TIMEOUT) as blocker:
        wizard.next()
        assert wizard.currentId() == DeployWizard.RUN
        assert wizard.is_running()
    return wizard, blocker.args[0]


def test_deploy_through_the_wizard_keeps_the_window_responsive_then_roll_back(
        make_main_window, workspace, qtbot, local_host, qtmodeltester):
    HostStore(workspace).add(local_host)
    page = make_page(make_main_window, workspace, qtbot)

    ticks: list[float] = []
    timer = QTimer(page)
    timer.setObjectName("test-responsiveness-ticks")
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    events_seen: list[int] = []
    page.runner.progressed.connect(lambda _task, _event: events_seen.append(len(ticks)))
    started = time.monotonic()
    wizard, result = run_wizard(page, qtbot, "breast-cancer@production", ["local-1"])
    elapsed = time.monotonic() - started
    timer.stop()

    # the event loop kept turning all along: ticks at a steady pace, and more ticks
    # arrived between the operation's progress events
    # (loose bounds: the CI box's two cores are shared, so a tick may come late)
    assert len(ticks) >= 0.25 * elapsed / 0.020, (len(ticks), elapsed)
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert max(gaps) < 2.5, max(gaps)
    assert events_seen and events_seen[-1] > events_seen[0]

    assert result is not None and result.ok, result
    run = wizard.run_page
    assert run.finished
    qtmodeltester.check(run.model)
    progress = run.model.progress_of("local-1")
    assert progress.outcome == "ok" and progress.fraction == 1.0
    assert run.model.index(0, DeployProgressModel.OUTCOME).data() == "ok"
    assert "connecting" in run.log.toPlainText()
    assert "Done: breast-cancer v1" in run.summary.text()
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    qtmodeltester.check(wizard.plan_page.model)
    assert wizard.plan_page.model.index(0, PlanTableModel.HOST).data() == "local-1"

    qtbot.waitUntil(lambda: table_rows(page)["local-1"]["Status"] == "healthy",
                    timeout=TIMEOUT)
    assert table_rows(page)["local-1"]["Release"] == "breast-cancer v1"
    assert page.notifier.current().level == "success"
    wizard.button(QWizard.WizardButton.FinishButton).click()

    # the history of the host shows the deploy
    page.select_hosts("local-1")
    qtbot.waitUntil(lambda: page.history_model.rowCount() == 1, timeout=TIMEOUT)
    assert page.history_model.index(0, DeploymentsTableModel.ACTION).data() == "deploy"
    assert page.history_model.index(0, DeploymentsTableModel.OUTCOME).data() == "ok"
    qtmodeltester.check(page.history_model)

    # deploy v2, then roll back to v1 through the rollback dialog
    _wizard, result = run_wizard(page, qtbot, "breast-cancer:2", ["local-1"])
    assert result.ok, result
    qtbot.waitUntil(lambda: table_rows(page)["local-1"]["Release"] == "breast-cancer v2",
                    timeout=TIMEOUT)
    page.select_hosts("local-1")
    dialog = page.open_rollback_dialog()
    assert isinstance(dialog, RollbackDialog)
    assert dialog.table_model.rows() == [("local-1", "breast-cancer v2")]
    assert dialog.ok_button.text() == "Roll back 1 host"
    with qtbot.wait_signal(page.rollback_finished, timeout=DEPLOY_TIMEOUT) as blocker:
        dialog.ok_button.click()
    rolled = blocker.args[0]
    assert rolled.ok, rolled
    qtbot.waitUntil(lambda: table_rows(page)["local-1"]["Release"] == "breast-cancer v1",
                    timeout=TIMEOUT)
    assert table_rows(page)["local-1"]["Status"] == "healthy"
    actions = [d.action for d in deployments(workspace, "local-1")]
    assert actions == ["rollback", "deploy", "deploy"]

    # a live status check agrees
    with qtbot.wait_signal(page.status_checked, timeout=DEPLOY_TIMEOUT) as blocker:
        page.refresh_status(["local-1"])
    (state,) = blocker.args[0]
    assert state.healthy and state.version == 1

    # "Pull data" brings back what the host served (here: the deploys' smoke predictions)
    with qtbot.wait_signal(page.pulled, timeout=DEPLOY_TIMEOUT) as blocker:
        page.pull_button.click()
    (pulled,) = blocker.args[0]
    assert pulled.ok and pulled.model == "breast-cancer" and pulled.rows >= 1
    assert page.notifier.current().level == "success"


def test_refresh_status_of_a_local_host_with_nothing_deployed(make_main_window, workspace,
                                                              qtbot, local_host):
    HostStore(workspace).add(local_host)
    page = make_page(make_main_window, workspace, qtbot)
    with qtbot.wait_signal(page.status_checked, timeout=DEPLOY_TIMEOUT) as blocker:
        task = page.refresh_status()
        assert table_rows(page)["local-1"]["Status"] == "checking…"
    (state,) = blocker.args[0]
    assert state.reachable and not state.release_id
    assert task.done
    rows = table_rows(page)
    assert rows["local-1"]["Status"] == "reachable · nothing deployed"
    assert rows["local-1"]["Last seen"] != "never"


def test_wizard_offers_aliases_and_checks_a_group(make_main_window, workspace, qtbot):
    store = HostStore(workspace)
    store.add(Host(name="web1", hostname="10.0.0.11", groups=("prod",)))
    store.add(Host(name="web2", hostname="10.0.0.12", groups=("staging",)))
    page = make_page(make_main_window, workspace, qtbot)
    page.hosts_view.clearSelection()
    page.open_deploy_wizard()
    qtbot.waitUntil(lambda: page.deploy_wizard is not None, timeout=TIMEOUT)
    wizard = page.deploy_wizard
    assert wizard.ref() == "breast-cancer@production"
    refs = [wizard.release_page.ref_box.itemData(i)
            for i in range(wizard.release_page.ref_box.count())]
    assert refs[0] == "breast-cancer@production"
    assert "breast-cancer:1" in refs
    wizard.next()
    assert not wizard.hosts_page.isComplete()
    hosts_page = wizard.hosts_page
    hosts_page.group_box.setCurrentIndex(hosts_page.group_box.findData("staging"))
    assert hosts_page.checked_names() == ["web2"]
    assert hosts_page.isComplete()
    wizard.next()
    strategy = wizard.strategy_page
    strategy.folder_radio.setChecked(True)
    assert not strategy.isComplete()
    assert "Choose the wheelhouse folder" in strategy.wheels_note.text()
    strategy.build_radio.setChecked(True)
    assert strategy.isComplete()
    options = wizard.options()
    assert options.build_wheelhouse and options.wheelhouse is None
    wizard.reject()


def test_wizard_says_why_an_unapproved_version_cannot_deploy(make_main_window, workspace,
                                                            qtbot, tmp_path):
    # breast-cancer under the default policy: deploys need an approved release candidate
    (Path(workspace.path) / "policies" / "breast-cancer.toml").unlink()
    HostStore(workspace).add(Host(name="lab", transport="local", root=str(tmp_path / "lab")))
    page = make_page(make_main_window, workspace, qtbot)
    page.select_hosts("lab")
    page.open_deploy_wizard("breast-cancer:2")
    qtbot.waitUntil(lambda: page.deploy_wizard is not None, timeout=TIMEOUT)
    wizard = page.deploy_wizard
    wizard.next()
    wizard.next()
    wizard.next()
    plan_page = wizard.currentPage()
    qtbot.waitUntil(lambda: plan_page.done, timeout=TIMEOUT)
    assert not plan_page.isComplete()
    text = plan_page.status_label.text()
    assert "cannot be deployed" in text and "release create" in text, text
    assert not (tmp_path / "lab").exists()  # nothing touched the host
    wizard.reject()


def test_unlock_and_forget_key_ask_first_then_act(make_main_window, workspace, qtbot,
                                                  tmp_path):
    import json as _json

    from modeldeck.core.deploy import trust
    from modeldeck.core.deploy.session import HostSession

    store = HostStore(workspace)
    lab = store.add(Host(name="lab", transport="local", root=str(tmp_path / "lab")))
    store.add(Host(name="web1", hostname="10.0.0.11"))
    # a deploy that died holding lab's lock; a key trusted for web1
    session = HostSession.start(trust.connect(workspace, lab, lambda n: None), lab)
    session.agent("lock", "--owner", _json.dumps({"who": "dave", "where": "ops", "pid": 1,
                                                  "operation": "deploy x"}))
    session.close()
    known = trust.workspace_known_hosts(workspace)
    known.parent.mkdir(parents=True, exist_ok=True)
    known.write_text("10.0.0.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGlxd0l1oYbXqyXkE1XjY0"
                     "2QZ3qH9J0ZyE+4hM2vQ7aB\n")
    page = make_page(make_main_window, workspace, qtbot)

    page.select_hosts("lab")
    assert page.more_button.isEnabled()
    box = page.confirm_unlock()
    assert "Free the deploy lock of lab" in box.text()
    unlock = next(b for b in box.buttons() if b.text() == "Unlock")
    unlock.click()
    qtbot.waitUntil(lambda: "Freed the deploy lock" in (page.notifier.current() or
                                                        _Empty()).message, timeout=TIMEOUT)
    assert "dave" in page.notifier.current().message
    assert not (tmp_path / "lab" / ".modeldeck" / "lock").exists()

    page.select_hosts("web1")
    box = page.confirm_untrust()
    forget = next(b for b in box.buttons() if b.text() == "Forget key")
    forget.click()
    qtbot.waitUntil(lambda: "Forgot 1 key(s) of web1" in (page.notifier.current() or
                                                          _Empty()).message, timeout=TIMEOUT)
    assert "10.0.0.11" not in known.read_text()


class _Empty:
    message = ""
