"""The Fleet page: hosts, their health and release, deploys, rollbacks and history.

Everything that touches a host is a core call (:mod:`modeldeck.core.deploy`) run by the
window's :class:`~modeldeck.gui.tasks.TaskRunner`: the page never opens a connection and
never blocks on one, so the window stays usable while a rollout runs. The hosts table
is filled at once from the workspace's status cache and refreshed from the hosts on
demand.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from modeldeck.core.deploy import hosts as hosts_mod
from modeldeck.core.deploy.hosts import HostStore
from modeldeck.core.deploy.probe import force_unlock, probe_host
from modeldeck.core.deploy.rollout import host_state, rollback
from modeldeck.core.deploy.trust import scan_host, trust_host, untrust_host
from modeldeck.core.progress import CancelToken, ProgressEvent
from modeldeck.core.registry import Registry
from modeldeck.gui.dialogs.deploy_wizard import DeployWizard, ReleaseChoice
from modeldeck.gui.dialogs.host_dialog import AddHostDialog
from modeldeck.gui.dialogs.rollback_dialog import RollbackDialog
from modeldeck.gui.dialogs.trust_dialog import ChangedKeyDialog, TrustHostDialog
from modeldeck.gui.fleet_models import (
    DeploymentsTableModel,
    HostsProxyModel,
    HostsTableModel,
    health_of,
    release_text,
)
from modeldeck.gui.item_models import (
    KeyValueTableModel,
    format_size,
    format_timestamp,
    version_label,
)
from modeldeck.gui.notifications import NotificationBanner
from modeldeck.gui.tasks import TaskRunner
from modeldeck.gui.theme import resource_path
from modeldeck.gui.widgets import make_table, muted_label, set_style_property

log = logging.getLogger(__name__)

#: File dialog filters of the importers, and the ``kind`` each means for core.
IMPORT_FILTERS = (
    ("OpenSSH client config (config *.conf *)", "ssh-config"),
    ("Ansible inventory (*.ini *.yml *.yaml *.json hosts *)", "ansible"),
)


# -- operations (run in the worker) ------------------------------------------------------


@dataclass(frozen=True)
class StatusEvent(ProgressEvent):
    """Progress of :func:`check_status`: one host answered (``state``: its HostState)."""

    state: Any = None


def check_status(workspace: Any, hosts: Sequence[Any], *, parallel: int = 20,
                 cancel: CancelToken) -> Generator[ProgressEvent, None, list[Any]]:
    """Ask ``hosts`` what they run, in parallel, yielding each answer as it arrives.

    The operation form of core's ``fleet_status`` (same calls: ``host_state`` per host,
    ``set_status`` to refresh the cache), so the table fills host by host and the check
    can be cancelled.
    """
    lookup = {h.name: h for h in HostStore(workspace).list()}.get
    states: list[Any] = []
    if not hosts:
        return states
    yield StatusEvent(step="checking", fraction=0.0,
                      message=f"checking {len(hosts)} host{'s' if len(hosts) != 1 else ''}")
    pool = ThreadPoolExecutor(max_workers=max(1, min(parallel, len(hosts))),
                              thread_name_prefix="status")
    futures = [pool.submit(host_state, workspace, h, lookup) for h in hosts]
    try:
        for future in as_completed(futures):
            cancel.check()
            state = future.result()
            hosts_mod.set_status(workspace, host=state.host, checked_at=state.checked_at,
                                 reachable=state.reachable, release_id=state.release_id,
                                 model=state.model, version=state.version,
                                 healthy=state.healthy, detail=state.detail,
                                 free_bytes=state.free_bytes)
            states.append(state)
            yield StatusEvent(step="checking", fraction=len(states) / len(hosts),
                              message=f"{state.host}: {health_of(state)[1]}", state=state)
    finally:
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True)
    return states


def fetch_releases(workspace: Any) -> list[ReleaseChoice]:
    """The deployable references: each model's aliases, then its versions, newest first."""
    registry = Registry(workspace)
    choices: list[ReleaseChoice] = []
    for model in registry.list_models():
        order = ("production", "staging")
        for alias, version in sorted(model.aliases.items(),
                                     key=lambda kv: (kv[0] not in order,
                                                     order.index(kv[0]) if kv[0] in order
                                                     else 0, kv[0])):
            choices.append(ReleaseChoice(model.name, f"{model.name}@{alias}",
                                         f"{alias}  →  v{version}"))
        for info in sorted(registry.list_versions(model.name), key=lambda v: -v.version):
            choices.append(ReleaseChoice(model.name, info.ref, version_label(info)))
    return choices


# -- the page ------------------------------------------------------------------------------


class FleetPage(QWidget):
    """The hosts of one workspace and what runs on them.

    Parameters
    ----------
    workspace
        The open workspace.
    runner
        Runs every core call off the GUI thread.
    notifier
        The window's notification surface.

    Signals
    -------
    hosts_loaded()
        The hosts table was (re)filled from the workspace.
    status_checked(list)
        A status check ended with these ``HostState`` objects.
    history_loaded(str)
        The deployment history of the named host is on display.
    deploy_finished(object)
        A rollout ended (its ``RolloutResult``, or ``None`` when it failed to start).
    rollback_finished(object)
        A rollback ended (its ``RolloutResult``).
    connection_tested(object)
        Test connection ended with this ``ProbeReport`` (or the refusing ``ScannedKey``).
    """

    hosts_loaded = Signal()
    status_checked = Signal(list)
    history_loaded = Signal(str)
    deploy_finished = Signal(object)
    rollback_finished = Signal(object)
    connection_tested = Signal(object)
    pulled = Signal(list)

    def __init__(self, workspace: Any, runner: TaskRunner, notifier: NotificationBanner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fleetPage")
        self.workspace = workspace
        self.store = HostStore(workspace)
        self.runner = runner
        self.notifier = notifier
        self.active_dialog: Any = None
        self.deploy_wizard: DeployWizard | None = None
        self._statuses: dict[str, Any] = {}
        self._loaded = False
        self._pending_select: str | None = None
        self._history_generation = 0
        self._busy_names: set[str] = set()

        # -- header -----------------------------------------------------------
        title = QLabel("Fleet", self)
        title.setProperty("role", "pageTitle")
        self.count_label = muted_label("", self, wrap=False)
        self.count_label.setObjectName("hostCount")
        self.group_box = QComboBox(self)
        self.group_box.setObjectName("groupFilter")
        self.group_box.setMinimumWidth(140)
        self.group_box.setToolTip("Show one group's hosts")
        self.search_edit = QLineEdit(self)
        self.search_edit.setObjectName("hostSearch")
        self.search_edit.setPlaceholderText("Filter hosts")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.addAction(QIcon(str(resource_path("search.svg"))),
                                   QLineEdit.ActionPosition.LeadingPosition)
        self.search_edit.setMinimumWidth(180)
        self.add_button = QPushButton("Add host…", self)
        self.add_button.setObjectName("addHostButton")
        self.import_button = QPushButton("Import…", self)
        self.import_button.setObjectName("importHostsButton")
        self.import_button.setToolTip("Import hosts from an OpenSSH config or an Ansible "
                                      "inventory")
        self.deploy_button = QPushButton("Deploy…", self)
        self.deploy_button.setObjectName("deployButton")
        self.deploy_button.setToolTip("Deploy a model version to hosts: canary first, then "
                                      "the rest in parallel")
        set_style_property(self.deploy_button, "primary", True)
        header = QHBoxLayout()
        header.setSpacing(10)
        header.addWidget(title)
        header.addWidget(self.count_label, 0, Qt.AlignmentFlag.AlignBottom)
        header.addStretch(1)
        header.addWidget(self.group_box)
        header.addWidget(self.search_edit, 1)
        header.addWidget(self.add_button)
        header.addWidget(self.import_button)
        header.addWidget(self.deploy_button)

        # -- actions on the selection -------------------------------------------
        self.refresh_button = QPushButton("Refresh status", self)
        self.refresh_button.setObjectName("refreshStatusButton")
        self.refresh_button.setToolTip("Ask the hosts (the selected ones, or all) what they "
                                       "run and whether they are healthy")
        self.test_button = QPushButton("Test connection", self)
        self.test_button.setObjectName("testConnectionButton")
        self.test_button.setToolTip("Check the host's SSH key (trusting it if new), then "
                                    "probe its Python and packages")
        self.pull_button = QPushButton("Pull data", self)
        self.pull_button.setObjectName("pullButton")
        self.pull_button.setToolTip("Fetch what the hosts (the selected ones, or all) served: "
                                    "window profiles, logged predictions and labels, for the "
                                    "Drift page and `modeldeck drift REF --pulled`")
        self.rollback_button = QPushButton("Roll back…", self)
        self.rollback_button.setObjectName("rollbackButton")
        self.rollback_button.setToolTip("Switch hosts back to their previous release")
        self.edit_button = QPushButton("Edit…", self)
        self.edit_button.setObjectName("editHostButton")
        self.edit_button.setToolTip("Change the host's address, user, key, deploy root, "
                                    "Python, groups or serving port (or rename it)")
        self.more_button = QToolButton(self)
        self.more_button.setObjectName("hostMoreButton")
        self.more_button.setText("More")
        self.more_button.setToolTip("Less common actions on the selected host")
        self.more_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        more = QMenu(self.more_button)
        self.unlock_action = more.addAction("Unlock…")
        self.unlock_action.setToolTip("Free the host's deploy lock when the deploy holding "
                                      "it died (its holder is shown first)")
        self.untrust_action = more.addAction("Forget host key…")
        self.untrust_action.setToolTip("Remove the host's key from the workspace's "
                                       "known_hosts (after its admin replaced it); the next "
                                       "connection asks to trust the new one")
        more.setToolTipsVisible(True)
        self.more_button.setMenu(more)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setObjectName("removeHostButton")
        self.remove_button.setToolTip("Remove the host from the workspace (nothing on the "
                                      "host changes)")
        self.selection_label = muted_label("", self, wrap=False)
        actions = QHBoxLayout()
        actions.setSpacing(8)
        for button in (self.refresh_button, self.test_button, self.pull_button,
                       self.rollback_button):
            actions.addWidget(button)
        actions.addSpacing(8)
        actions.addWidget(self.selection_label)
        actions.addStretch(1)
        actions.addWidget(self.more_button)
        actions.addWidget(self.edit_button)
        actions.addWidget(self.remove_button)

        # -- hosts table ----------------------------------------------------------
        self.hosts_model = HostsTableModel(self)
        self.hosts_proxy = HostsProxyModel(self)
        self.hosts_proxy.setSourceModel(self.hosts_model)
        self.hosts_view = make_table(
            self, self.hosts_proxy, stretch=HostsTableModel.ADDRESS,
            selection=QAbstractItemView.SelectionMode.ExtendedSelection)
        self.hosts_view.setObjectName("hostsTable")
        self.hosts_view.setSortingEnabled(True)
        self.hosts_view.sortByColumn(HostsTableModel.NAME, Qt.SortOrder.AscendingOrder)
        self.hosts_view.setMinimumHeight(150)
        for column, width in ((HostsTableModel.NAME, 130), (HostsTableModel.GROUPS, 110),
                              (HostsTableModel.STATUS, 190), (HostsTableModel.RELEASE, 150),
                              (HostsTableModel.SEEN, 140), (HostsTableModel.DISK, 90)):
            self.hosts_view.setColumnWidth(column, width)

        # -- detail: history and settings ------------------------------------------
        self.detail_title = QLabel(self)
        self.detail_title.setObjectName("hostTitle")
        self.detail_title.setProperty("role", "sectionTitle")
        self.detail_meta = muted_label("", self)
        self.detail_meta.setObjectName("hostMeta")
        self.history_model = DeploymentsTableModel(self)
        self.history_view = make_table(self, self.history_model,
                                       stretch=DeploymentsTableModel.DETAIL)
        self.history_view.setObjectName("historyTable")
        self.history_empty = muted_label("No deploys or rollbacks recorded for this host "
                                         "yet.", self)
        self.history_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.history_stack = QStackedWidget(self)
        self.history_stack.addWidget(self.history_view)
        self.history_stack.addWidget(self.history_empty)
        self.settings_model = KeyValueTableModel(("Setting", "Value"), parent=self)
        self.settings_view = make_table(self, self.settings_model, stretch=1)
        self.settings_view.setObjectName("hostSettings")
        self.settings_view.setColumnWidth(0, 170)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("hostTabs")
        self.tabs.addTab(self._padded(self.history_stack), "Deployment history")
        self.tabs.addTab(self._padded(self.settings_view), "Host")
        detail = QWidget(self)
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 4, 0, 0)
        detail_layout.setSpacing(4)
        detail_layout.addWidget(self.detail_title)
        detail_layout.addWidget(self.detail_meta)
        detail_layout.addSpacing(4)
        detail_layout.addWidget(self.tabs, 1)
        self.detail_empty = muted_label("Select a host to see its deployment history and "
                                        "settings.", self)
        self.detail_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail_stack = QStackedWidget(self)
        self.detail_stack.addWidget(detail)
        self.detail_stack.addWidget(self.detail_empty)
        self.detail_stack.setCurrentWidget(self.detail_empty)

        table_box = QWidget(self)
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.setSpacing(8)
        table_layout.addLayout(actions)
        table_layout.addWidget(self.hosts_view, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("fleetSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(table_box)
        self.splitter.addWidget(self.detail_stack)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([380, 300])

        self.empty_state = self._build_empty_state()
        self.body_stack = QStackedWidget(self)
        self.body_stack.addWidget(self.splitter)
        self.body_stack.addWidget(self.empty_state)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(12)
        layout.addLayout(header)
        layout.addWidget(self.body_stack, 1)

        # -- wiring -------------------------------------------------------------
        self._filter_timer = QTimer(self)
        self._filter_timer.setObjectName("fleet-filter-debounce")
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(150)
        self._filter_timer.timeout.connect(self._on_filter_timer_timeout)
        self.search_edit.textChanged.connect(lambda _t: self._filter_timer.start())
        self.group_box.currentIndexChanged.connect(self._on_group_box_changed)
        self.add_button.clicked.connect(self.open_add_host_dialog)
        self.import_button.clicked.connect(self.open_import_dialog)
        self.deploy_button.clicked.connect(lambda: self.open_deploy_wizard())
        self.refresh_button.clicked.connect(lambda: self.refresh_status())
        self.pull_button.clicked.connect(lambda: self.pull())
        self.test_button.clicked.connect(self._on_test_button_clicked)
        self.rollback_button.clicked.connect(lambda: self.open_rollback_dialog())
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.edit_button.clicked.connect(lambda: self.open_edit_host_dialog())
        self.unlock_action.triggered.connect(lambda: self.confirm_unlock())
        self.untrust_action.triggered.connect(lambda: self.confirm_untrust())
        self.hosts_view.selectionModel().selectionChanged.connect(
            self._on_hosts_view_selection_changed)
        self.hosts_model.dataChanged.connect(self._on_hosts_model_data_changed)
        self._update_actions()
        self.reload()

    def _padded(self, widget: QWidget) -> QWidget:
        box = QWidget(self)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addWidget(widget)
        return box

    def _build_empty_state(self) -> QWidget:
        panel = QFrame(self)
        panel.setObjectName("fleetEmptyState")
        panel.setProperty("role", "card")
        icon = QLabel(panel)
        icon.setPixmap(QIcon(str(resource_path("page-fleet.svg"))).pixmap(56, 56))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("No hosts yet", panel)
        title.setProperty("role", "pageTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = muted_label(
            "Add the servers you deploy to (reached over SSH, through a bastion if need "
            "be), or import them from the SSH config or Ansible inventory you already keep.",
            panel)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # a fixed width with its wrapped height: centred in a box layout, a wrapping
        # label otherwise gets squeezed narrow and its last lines clipped
        text.setFixedWidth(520)
        text.ensurePolished()  # the stylesheet's font, before measuring
        text.setMinimumHeight(text.heightForWidth(520))
        command = QLabel("modeldeck hosts import --ssh-config FILE", panel)
        command.setObjectName("fleetEmptyCommand")
        command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        command.setStyleSheet("font-family: monospace; background: #f3f5f8; "
                              "border: 1px solid #dbe1e8; border-radius: 6px; padding: 4px 10px;")
        add = QPushButton("Add host…", panel)
        add.setObjectName("emptyAddHostButton")
        set_style_property(add, "primary", True)
        add.clicked.connect(self.open_add_host_dialog)
        imp = QPushButton("Import…", panel)
        imp.clicked.connect(self.open_import_dialog)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(add)
        buttons.addWidget(imp)
        buttons.addStretch(1)
        layout = QVBoxLayout(panel)
        layout.addStretch(2)
        layout.addWidget(icon)
        layout.addSpacing(8)
        layout.addWidget(title)
        layout.addWidget(text, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(4)
        layout.addWidget(command, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(14)
        layout.addLayout(buttons)
        layout.addStretch(3)
        return panel

    # -- state --------------------------------------------------------------

    def save_state(self, settings: QSettings) -> None:
        """Store the splitter and table header (``settings`` is in this page's group)."""
        settings.setValue("splitter", self.splitter.saveState())
        settings.setValue("hostsHeader", self.hosts_view.horizontalHeader().saveState())

    def restore_state(self, settings: QSettings) -> None:
        """Restore what :meth:`save_state` stored."""
        value = settings.value("splitter")
        if value is not None:
            self.splitter.restoreState(value)
        value = settings.value("hostsHeader")
        if value is not None:
            self.hosts_view.horizontalHeader().restoreState(value)

    # -- loading ------------------------------------------------------------

    def _fetch(self) -> tuple[list[Any], dict[str, Any]]:
        # Runs in a worker: two reads of the workspace, no host is contacted.
        cached = hosts_mod.statuses(self.workspace)
        rows = cached.values() if isinstance(cached, dict) else cached
        return self.store.list(), {status.host: status for status in rows}

    def reload(self, select: str | None = None) -> None:
        """Re-read the hosts and their cached statuses from the workspace."""
        if select is not None:
            self._pending_select = select
        self.runner.call(self._fetch, title="Loading hosts", on_done=self._on_fetch_done)

    def _on_fetch_done(self, result: tuple[list[Any], dict[str, Any]]) -> None:
        hosts, statuses = result
        selected = self.selected_names()
        self._statuses = dict(statuses)
        self.hosts_model.set_hosts(hosts, statuses)
        self.hosts_model.set_busy(sorted(self._busy_names), "working…")
        self._loaded = True
        groups = self.hosts_model.groups()
        current = self.group_box.currentData() or ""
        self.group_box.blockSignals(True)
        self.group_box.clear()
        self.group_box.addItem("All groups", "")
        for group in groups:
            self.group_box.addItem(f"Group {group}", group)
        self.group_box.setCurrentIndex(max(0, self.group_box.findData(current)))
        self.group_box.blockSignals(False)
        self.group_box.setVisible(bool(groups))
        self.hosts_proxy.set_group(self.group_box.currentData() or "")
        self.body_stack.setCurrentWidget(self.splitter if hosts else self.empty_state)
        pending, self._pending_select = self._pending_select, None
        wanted = [pending] if pending else selected
        if wanted:
            self.select_hosts(*wanted)
        elif hosts and not self.selected_names():
            self.select_hosts(self.hosts_proxy.index(0, 0).data(Qt.ItemDataRole.DisplayRole))
        self._update_counts()
        self._show_selected_host()
        self.hosts_loaded.emit()

    def _update_counts(self) -> None:
        total = self.hosts_model.rowCount()
        healthy = sum(1 for row in range(total)
                      if health_of(self.hosts_model.row_at(row).status)[0] == "healthy")
        text = f"{total} host{'s' if total != 1 else ''}"
        if total:
            text += f"  ·  {healthy} healthy"
        self.count_label.setText(text)

    # -- selection ----------------------------------------------------------

    def selected_names(self) -> list[str]:
        """The selected hosts' names, in table order."""
        rows = sorted(self.hosts_view.selectionModel().selectedRows(), key=lambda i: i.row())
        return [self.hosts_model.host_at(self.hosts_proxy.mapToSource(i).row()).name
                for i in rows]

    def selected_hosts(self) -> list[Any]:
        names = set(self.selected_names())
        return [h for h in self.hosts_model.hosts() if h.name in names]

    def select_hosts(self, *names: str) -> None:
        """Select the named hosts (those shown)."""
        selection = self.hosts_view.selectionModel()
        selection.clearSelection()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for position, name in enumerate(names):
            row = self.hosts_model.row_of(name)
            if row < 0:
                continue
            index = self.hosts_proxy.mapFromSource(self.hosts_model.index(row, 0))
            if not index.isValid():
                continue
            if position == 0:
                selection.setCurrentIndex(index, flags)
            else:
                selection.select(index, flags)

    def _on_hosts_view_selection_changed(self, *_args: object) -> None:
        self._show_selected_host()
        self._update_actions()

    def _show_selected_host(self) -> None:
        names = self.selected_names()
        if len(names) != 1:
            self.detail_stack.setCurrentWidget(self.detail_empty)
            self.detail_empty.setText(
                f"{len(names)} hosts selected." if names else
                "Select a host to see its deployment history and settings.")
            return
        row = self.hosts_model.row_of(names[0])
        item = self.hosts_model.row_at(row)
        host, status = item.host, item.status
        self.detail_stack.setCurrentWidget(self.detail_stack.widget(0))
        self.detail_title.setText(host.name)
        _level, health = health_of(status)
        parts = [health]
        if status is not None:
            running = release_text(status.model, status.version, status.release_id)
            if running:
                parts.append(f"runs {running}")
            if status.detail:
                parts.append(status.detail)
            parts.append(f"checked {format_timestamp(status.checked_at)}")
        self.detail_meta.setText("  ·  ".join(parts))
        settings = [
            ("Kind", "folder on this machine" if host.transport == "local" else "SSH"),
            ("Address", "—" if host.transport == "local" else host.address),
            ("Proxy jump", host.proxy_jump or "none"),
            ("Key file", host.identity_file or "ssh-agent / default keys"),
            ("Deploy root", host.root),
            ("Python", host.python),
            ("Serves on", f"{host.serve_bind}:{host.serve_port}"),
            ("Supervisor", "systemd" if host.systemd == "yes" else
             "systemd when available" if host.systemd == "auto" else "pid file"),
            ("Groups", ", ".join(host.groups) or "none"),
            ("Labels", ", ".join(f"{k}={v}" for k, v in host.labels.items()) or "none"),
            ("Free disk", format_size(status.free_bytes)
             if status is not None and status.free_bytes is not None else "unknown"),
            ("Added", f"{format_timestamp(host.created_at)} by {host.created_by}"
             if host.created_at else ""),
        ]
        self.settings_model.set_rows(settings)
        self.load_history(host.name)

    def load_history(self, name: str) -> None:
        """Load the deployment history of host ``name`` into the History tab."""
        self._history_generation += 1
        generation = self._history_generation

        def _on_done(rows: list[Any]) -> None:
            if generation != self._history_generation:
                return
            self.history_model.set_deployments(rows)
            self.history_stack.setCurrentWidget(self.history_view if rows
                                                else self.history_empty)
            header = self.history_view.horizontalHeader()
            header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
            self.history_view.resizeColumnsToContents()
            header.setSectionResizeMode(DeploymentsTableModel.DETAIL,
                                        QHeaderView.ResizeMode.Stretch)
            self.history_loaded.emit(name)

        self.runner.call(hosts_mod.deployments, self.workspace, name, 50,
                         title=f"Loading the history of {name}", on_done=_on_done)

    def _update_actions(self) -> None:
        names = self.selected_names()
        has_hosts = self.hosts_model.rowCount() > 0
        self.refresh_button.setEnabled(has_hosts)
        self.refresh_button.setText("Refresh status" if names else "Refresh all")
        self.test_button.setEnabled(len(names) == 1)
        self.rollback_button.setEnabled(has_hosts)
        self.pull_button.setEnabled(has_hosts)
        self.remove_button.setEnabled(len(names) == 1)
        self.edit_button.setEnabled(len(names) == 1)
        self.more_button.setEnabled(len(names) == 1)
        self.deploy_button.setEnabled(has_hosts)
        self.selection_label.setText(f"{len(names)} selected" if len(names) > 1 else "")

    def _on_hosts_model_data_changed(self, *_args: object) -> None:
        self._update_counts()

    def _on_filter_timer_timeout(self) -> None:
        self.hosts_proxy.setFilterFixedString(self.search_edit.text().strip())

    def _on_group_box_changed(self, *_args: object) -> None:
        self.hosts_proxy.set_group(self.group_box.currentData() or "")

    def _set_busy(self, names: Sequence[str], text: str) -> None:
        if text:
            self._busy_names.update(names)
        else:
            self._busy_names.difference_update(names)
        self.hosts_model.set_busy(names, text)

    # -- status -------------------------------------------------------------

    def refresh_status(self, names: Sequence[str] | None = None) -> Any:
        """Ask hosts (``names``; default: the selected ones, or all) what they run.

        Returns the :class:`~modeldeck.gui.tasks.Task`.
        """
        if names is None:
            names = self.selected_names() or [h.name for h in self.hosts_model.hosts()]
        wanted = set(names)
        hosts = [h for h in self.hosts_model.hosts() if h.name in wanted]
        busy = [h.name for h in hosts]
        self._set_busy(busy, "checking…")

        def _on_done(states: list[Any]) -> None:
            self._set_busy(busy, "")
            for state in states:
                self._statuses[state.host] = state
            self._update_counts()
            self._show_selected_host()
            self.status_checked.emit(states)

        task = self.runner.run(check_status, self.workspace, hosts,
                               title=f"Checking {len(hosts)} host{'s' if len(hosts) != 1 else ''}",
                               on_done=_on_done,
                               on_error=lambda _e: self._set_busy(busy, ""),
                               on_cancelled=lambda: self._set_busy(busy, ""))
        task.progressed.connect(self._on_status_progressed)
        return task

    def pull(self, names: Sequence[str] | None = None) -> Any:
        """Pull profiles, logged predictions and labels from hosts (``names``; default:
        the selected ones, or all) into the workspace. Returns the task."""
        from modeldeck.core.deploy.pull import pull

        if names is None:
            names = self.selected_names() or [h.name for h in self.hosts_model.hosts()]
        wanted = set(names)
        hosts = [h for h in self.hosts_model.hosts() if h.name in wanted]
        busy = [h.name for h in hosts]
        self._set_busy(busy, "pulling…")

        def _on_done(results: list[Any]) -> None:
            self._set_busy(busy, "")
            good = [r for r in results if r.ok]
            bad = [r for r in results if not r.ok]
            rows = sum(r.new_rows for r in good)
            labeled = sum(r.labeled for r in good)
            text = (f"Pulled {rows} new rows ({labeled} labeled in all) from {len(good)} "
                    f"host{'s' if len(good) != 1 else ''}")
            if bad:
                self.notifier.show_message(
                    text + f"; {len(bad)} failed: " + "; ".join(
                        f"{r.host}: {r.error.split(' — ')[0]}" for r in bad[:3]), "warning",
                    "check the failed hosts with Refresh status")
            else:
                self.notifier.show_message(
                    text + ".", "success",
                    "analyse them with `modeldeck drift REF --pulled`")
            self.pulled.emit(results)

        task = self.runner.run(pull, self.workspace, hosts,
                               title=f"Pulling from {len(hosts)} "
                                     f"host{'s' if len(hosts) != 1 else ''}",
                               on_done=_on_done,
                               on_error=lambda _e: self._set_busy(busy, ""),
                               on_cancelled=lambda: self._set_busy(busy, ""))
        return task

    def _on_status_progressed(self, event: Any) -> None:
        state = getattr(event, "state", None)
        if state is not None:
            self._busy_names.discard(state.host)
            self._statuses[state.host] = state
            self.hosts_model.update_status(state)

    # -- add, import, remove ------------------------------------------------

    def open_add_host_dialog(self) -> AddHostDialog:
        """Open the Add host dialog; the host is added when it is accepted."""
        dialog = AddHostDialog([h.name for h in self.hosts_model.hosts()], self)
        dialog.accepted.connect(lambda: self.add_host(dialog.host))
        self._open_dialog(dialog)
        return dialog

    def add_host(self, host: Any) -> None:
        """Add ``host`` to the workspace (through core, audited)."""
        if host is None:
            return

        def _on_done(added: Any) -> None:
            self.notifier.show_message(f"Added host {added.name}. Test the connection to "
                                       "check its key and Python.", "success")
            self.reload(select=added.name)

        self.runner.call(self.store.add, host, title=f"Adding {host.name}", on_done=_on_done)

    def open_edit_host_dialog(self) -> AddHostDialog | None:
        """Open the host dialog on the selected host; its changes are saved on accept."""
        hosts = self.selected_hosts()
        if len(hosts) != 1:
            return None
        dialog = AddHostDialog([h.name for h in self.hosts_model.hosts()], self, host=hosts[0])
        dialog.accepted.connect(lambda: self.update_host(hosts[0].name, dialog.changes()))
        self._open_dialog(dialog)
        return dialog

    def update_host(self, name: str, changes: dict[str, Any]) -> None:
        """Change host ``name``'s settings (through core, audited)."""
        if not changes:
            return

        def _on_done(updated: Any) -> None:
            self.notifier.show_message(
                f"Saved host {updated.name} ({', '.join(sorted(changes))} changed).",
                "success")
            self.reload(select=updated.name)

        self.runner.call(self.store.update, name, **changes, title=f"Saving {name}",
                         on_done=_on_done)

    def open_import_dialog(self) -> QFileDialog:
        """Choose an SSH config or Ansible inventory to import hosts from."""
        dialog = QFileDialog(self, "Import hosts")
        dialog.setObjectName("importHostsDialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters([label for label, _kind in IMPORT_FILTERS])
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)

        def _on_file_selected(path: str) -> None:
            kinds = dict(IMPORT_FILTERS)
            self.import_hosts(path, kinds.get(dialog.selectedNameFilter(), "ssh-config"))

        dialog.fileSelected.connect(_on_file_selected)
        self._open_dialog(dialog)
        return dialog

    def _import(self, path: str, kind: str, replace: bool) -> Any:
        # Runs in a worker: parse the file, then one audited import transaction.
        found = hosts_mod.read_inventory_file(path, kind)
        return self.store.import_hosts(found, replace=replace, source=str(path))

    def import_hosts(self, path: str, kind: str, replace: bool = False) -> Any:
        """Import hosts from ``path`` (``kind``: ``"ssh-config"`` or ``"ansible"``)."""

        def _on_done(result: Any) -> None:
            parts = [f"{len(result.added)} added"]
            if result.updated:
                parts.append(f"{len(result.updated)} updated")
            if result.skipped:
                parts.append(f"{len(result.skipped)} already there (left as they were)")
            self.notifier.show_message(
                f"Imported hosts from {path}: {', '.join(parts)}.",
                "success" if result.added or result.updated else "info",
                "Test each new host's connection to trust its key." if result.added
                else None)
            self.reload(select=result.added[0] if result.added else None)

        return self.runner.call(self._import, path, kind, replace,
                                title="Importing hosts", on_done=_on_done)

    def _on_remove_button_clicked(self) -> QMessageBox | None:
        names = self.selected_names()
        if len(names) != 1:
            return None
        name = names[0]
        return self._ask("removeHostDialog", QMessageBox.Icon.Question, "Remove host",
                         f"Remove {name} from the workspace?",
                         "Nothing on the host changes: its releases keep running. Its "
                         "deployment history stays in the workspace.",
                         "Remove", lambda: self.remove_host(name))

    def _ask(self, name: str, icon: QMessageBox.Icon, title: str, text: str, details: str,
             accept: str, on_accept: Any) -> QMessageBox:
        """A non-modal question with Cancel (the default) and ``accept``, which runs
        ``on_accept``."""
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Cancel, self)
        box.setObjectName(name)
        box.setInformativeText(details)
        button = box.addButton(accept, QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        button.clicked.connect(on_accept)
        self._open_dialog(box)
        return box

    def remove_host(self, name: str) -> None:
        """Remove host ``name`` from the workspace (through core, audited)."""

        def _on_done(removed: Any) -> None:
            self.notifier.show_message(f"Removed host {removed.name}.", "success")
            self.reload()

        self.runner.call(self.store.remove, name, title=f"Removing {name}", on_done=_on_done)

    # -- unlock, forget the key ---------------------------------------------

    def confirm_unlock(self) -> QMessageBox | None:
        """Ask before freeing the selected host's deploy lock."""
        hosts = self.selected_hosts()
        if len(hosts) != 1:
            return None
        host = hosts[0]
        return self._ask("unlockHostDialog", QMessageBox.Icon.Warning, "Unlock host",
                         f"Free the deploy lock of {host.name}?",
                         "Only when the deploy or rollback holding it died: a running one "
                         "would go on unprotected. The holder is recorded in the audit log.",
                         "Unlock", lambda: self.unlock(host))

    def unlock(self, host: Any) -> Any:
        """Free ``host``'s deploy lock (through core, audited)."""

        def _on_done(holder: str) -> None:
            self.notifier.show_message(
                f"Freed the deploy lock of {host.name} (held by {holder})." if holder
                else f"{host.name} was not locked.", "success" if holder else "info")

        return self.runner.call(force_unlock, self.workspace, host, self._lookup(),
                                title=f"Unlocking {host.name}", on_done=_on_done)

    def confirm_untrust(self) -> QMessageBox | None:
        """Ask before forgetting the selected host's key."""
        hosts = self.selected_hosts()
        if len(hosts) != 1:
            return None
        host = hosts[0]
        return self._ask("untrustHostDialog", QMessageBox.Icon.Warning, "Forget host key",
                         f"Forget the SSH key trusted for {host.name}?",
                         "Do this only when the host's admin confirms its key was replaced. "
                         "The next connection shows the new key's fingerprint to check and "
                         "trust.", "Forget key", lambda: self.untrust(host))

    def untrust(self, host: Any) -> Any:
        """Remove ``host``'s key from the workspace's known_hosts (through core)."""

        def _on_done(removed: int) -> None:
            self.notifier.show_message(
                f"Forgot {removed} key(s) of {host.name}; test the connection to trust "
                "its new key." if removed else
                f"The workspace had no key of {host.name} (a key in your own "
                "~/.ssh/known_hosts stays there).", "success" if removed else "info")

        return self.runner.call(untrust_host, self.workspace, host,
                                title=f"Forgetting the key of {host.name}", on_done=_on_done)

    # -- test connection ----------------------------------------------------

    def _lookup(self) -> Any:
        return {h.name: h for h in self.hosts_model.hosts()}.get

    def _on_test_button_clicked(self) -> None:
        hosts = self.selected_hosts()
        if len(hosts) == 1:
            self.test_connection(hosts[0])

    def test_connection(self, host: Any) -> None:
        """Check ``host``'s key (asking to trust an unknown one), then probe it."""
        if host.transport == "local":
            self.probe(host)
            return
        self._set_busy([host.name], "checking key…")
        self.runner.call(scan_host, self.workspace, host, self._lookup(),
                         title=f"Reading the key of {host.name}",
                         on_done=lambda scanned: self.on_key_scanned(host, scanned),
                         on_error=lambda _e: self._set_busy([host.name], ""),
                         quiet=False)

    def on_key_scanned(self, host: Any, scanned: Any) -> Any:
        """Act on the key ``host`` presented: probe, ask to trust, or refuse."""
        self._set_busy([host.name], "")
        if scanned.state == "trusted":
            self.probe(host)
            return None
        if scanned.state == "changed":
            dialog: Any = ChangedKeyDialog(scanned, self)
            dialog.finished.connect(lambda _r: self.connection_tested.emit(scanned))
            self.notifier.show_message(
                f"The SSH key of {host.name} changed: it was NOT trusted and ModelDeck "
                "will not connect to it.", "error",
                f"Ask its admin; only then run `modeldeck hosts untrust {host.name}`.")
            self._open_dialog(dialog)
            return dialog
        dialog = TrustHostDialog(scanned, self)
        dialog.accepted.connect(lambda: self.trust(host, dialog.fingerprint))
        dialog.rejected.connect(lambda: self.connection_tested.emit(scanned))
        self._open_dialog(dialog)
        return dialog

    def trust(self, host: Any, fingerprint: str) -> None:
        """Record ``host``'s key if it still has ``fingerprint``, then probe it."""

        def _on_done(scanned: Any) -> None:
            self.notifier.show_message(
                f"Trusted {host.name}'s {scanned.key_type} key {scanned.fingerprint}.",
                "success")
            self.probe(host)

        self.runner.call(trust_host, self.workspace, host, self._lookup(),
                         fingerprint=fingerprint, title=f"Trusting {host.name}",
                         on_done=_on_done, quiet=False)

    def probe(self, host: Any, ref: str | None = None) -> None:
        """Probe ``host``'s Python, platform and packages against ``ref``."""
        self._set_busy([host.name], "probing…")

        def _on_done(report: Any) -> None:
            self._set_busy([host.name], "")
            level = {"ready": "success", "needs-wheelhouse": "warning"}.get(report.verdict,
                                                                             "error")
            guard = (" Its admin pinned ModelDeck's agent: it runs only signed releases."
                     if report.pinned else " It runs only signed releases."
                     if report.requires_signatures else "")
            self.notifier.show_message(
                f"{host.name}: {report.verdict} for {report.ref} — Python {report.python} "
                f"on {report.platform}, {format_size(report.free_bytes) or '? B'} free."
                + guard, level, report.reason)
            self.connection_tested.emit(report)

        self.runner.call(probe_host, self.workspace, host, self._lookup(), ref,
                         title=f"Probing {host.name}", on_done=_on_done,
                         on_error=lambda _e: self._set_busy([host.name], ""), quiet=False)

    # -- deploy -------------------------------------------------------------

    def open_deploy_wizard(self, ref: str | None = None) -> None:
        """Load the deployable releases, then open the deploy wizard (non-modal)."""
        selected = self.selected_names()

        def _on_done(releases: list[ReleaseChoice]) -> None:
            self._show_deploy_wizard(releases, selected, ref)

        self.runner.call(fetch_releases, self.workspace, title="Loading releases",
                         on_done=_on_done)

    def _show_deploy_wizard(self, releases: list[ReleaseChoice], selected: list[str],
                            ref: str | None) -> DeployWizard:
        if self.deploy_wizard is not None and self.deploy_wizard.is_running():
            self.deploy_wizard.raise_()
            return self.deploy_wizard
        default = ref or next((r.ref for r in releases if r.ref.endswith("@production")),
                              None)
        wizard = DeployWizard(self.workspace, self.runner, releases,
                              self.hosts_model.hosts(), dict(self._statuses),
                              selected=selected, ref=default, parent=self)
        wizard.setWindowFlag(Qt.WindowType.Window, True)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.deploy_started.connect(lambda names: self._set_busy(names, "deploying…"))
        wizard.deploy_finished.connect(self._on_wizard_deploy_finished)
        wizard.destroyed.connect(lambda *_a: self._forget_wizard(wizard))
        self.deploy_wizard = wizard
        wizard.show()
        return wizard

    def _forget_wizard(self, wizard: Any) -> None:
        if self.deploy_wizard is wizard:
            self.deploy_wizard = None

    def _on_wizard_deploy_finished(self, result: Any) -> None:
        wizard = self.sender()
        names = [h.name for h in wizard.hosts()] if isinstance(wizard, DeployWizard) else []
        self._set_busy(names, "")
        if result is not None:
            level = "success" if result.ok else "error"
            counts = ", ".join(f"{n} {k}" for k, n in sorted(result.counts().items()))
            stopped = f" Stopped: {result.stopped}." if result.stopped else ""
            self.notifier.show_message(
                f"Deploy of {result.model} v{result.version}: {counts}.{stopped}", level,
                None if result.ok else "See each host's history for the reason.")
        self.reload()
        self.deploy_finished.emit(result)

    # -- rollback -----------------------------------------------------------

    def open_rollback_dialog(self) -> RollbackDialog:
        """Confirm a rollback of the selected hosts (or a group)."""
        dialog = RollbackDialog(self.hosts_model.hosts(), dict(self._statuses),
                                self.selected_names(), self)
        dialog.accepted.connect(lambda: self.rollback(dialog.chosen))
        self._open_dialog(dialog)
        return dialog

    def rollback(self, hosts: Sequence[Any], to: str | None = None) -> Any:
        """Roll ``hosts`` back to their previous release (or ``to``) in the worker."""
        names = [h.name for h in hosts]
        self._set_busy(names, "rolling back…")

        def _on_done(result: Any) -> None:
            self._set_busy(names, "")
            ok = [r.host for r in result.results if r.ok]
            failed = [f"{r.host} ({r.error or r.outcome})" for r in result.results
                      if not r.ok]
            if failed:
                self.notifier.show_message(
                    f"Rollback: {len(ok)} of {len(result.results)} hosts switched back; "
                    f"failed: {'; '.join(failed)}.", "error")
            else:
                self.notifier.show_message(
                    f"Rolled back {', '.join(ok)} in {result.seconds:.1f} s.", "success")
            self.reload()
            self.rollback_finished.emit(result)

        return self.runner.run(rollback, self.workspace, list(hosts), to=to,
                               title=f"Rolling back {len(names)} host"
                                     f"{'s' if len(names) != 1 else ''}",
                               on_done=_on_done,
                               on_error=lambda _e: self._set_busy(names, ""),
                               on_cancelled=lambda: self._set_busy(names, ""))

    # -- dialogs ------------------------------------------------------------

    def _open_dialog(self, dialog: Any) -> None:
        self.active_dialog = dialog
        dialog.finished.connect(lambda _result: self._on_dialog_finished(dialog))
        dialog.open()

    def _on_dialog_finished(self, dialog: Any) -> None:
        if self.active_dialog is dialog:
            self.active_dialog = None
