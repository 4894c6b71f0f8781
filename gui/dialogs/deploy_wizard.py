"""The deploy wizard: release → hosts → strategy → plan preview → run.

The plan and the rollout are core operations (:func:`modeldeck.core.deploy.rollout.plan`
and :func:`~modeldeck.core.deploy.rollout.rollout`) run by the window's
:class:`~modeldeck.gui.tasks.TaskRunner`; the wizard only shows their events. Cancelling
a running deploy sets the operation's cancel token: hosts stop between steps (a host
whose switch had begun finishes it), every outcome is still recorded, and the result
comes back as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from modeldeck.core.deploy.rollout import DeployOptions, plan, rollout
from modeldeck.core.progress import CancelToken, Operation
from modeldeck.gui.fleet_models import (
    DeployProgressModel,
    PlanTableModel,
    ProgressBarDelegate,
    health_of,
    release_text,
)
from modeldeck.gui.notifications import notification_for_error
from modeldeck.gui.theme import LIGHT
from modeldeck.gui.widgets import make_table, muted_label, set_style_property


@dataclass(frozen=True)
class ReleaseChoice:
    """One deployable reference of a model (``breast-cancer@production``, ``...:2``)."""

    model: str
    ref: str
    label: str


def plan_operation(workspace: Any, ref: str, hosts: Sequence[Any], options: DeployOptions,
                   *, cancel: CancelToken) -> Operation[list[Any]]:
    """Core's ``plan`` as a TaskRunner operation (it takes no cancel token: it only
    reads, so stopping early is left to the runner quitting the worker)."""
    del cancel
    return (yield from plan(workspace, ref, hosts, options))


def _page_intro(page: QWizardPage, title: str, text: str) -> None:
    page.setTitle(title)
    page.setSubTitle(text)


class ReleasePage(QWizardPage):
    """Pick the model and the version (or alias) to deploy."""

    def __init__(self, releases: Sequence[ReleaseChoice], ref: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        _page_intro(self, "Release", "Choose what to deploy. An alias such as production "
                    "follows the version it points to now.")
        self._releases = list(releases)
        self.model_box = QComboBox(self)
        self.model_box.setObjectName("deployModel")
        self.ref_box = QComboBox(self)
        self.ref_box.setObjectName("deployRef")
        for model in dict.fromkeys(r.model for r in self._releases):
            self.model_box.addItem(model, model)
        self.note = muted_label("", self)
        self.note.setObjectName("deployRefNote")
        form = QFormLayout()
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(10)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.addRow("Model", self.model_box)
        form.addRow("Version", self.ref_box)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addStretch(1)
        self.model_box.currentIndexChanged.connect(self._on_model_box_changed)
        self.ref_box.currentIndexChanged.connect(self._on_ref_box_changed)
        self._on_model_box_changed()
        if ref:
            self.set_ref(ref)

    @property
    def ref(self) -> str:
        return str(self.ref_box.currentData() or "")

    def set_ref(self, ref: str) -> bool:
        """Select ``ref``; whether it is offered."""
        for choice in self._releases:
            if choice.ref == ref:
                self.model_box.setCurrentIndex(self.model_box.findData(choice.model))
                self.ref_box.setCurrentIndex(self.ref_box.findData(ref))
                return True
        return False

    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return bool(self.ref)

    def _on_model_box_changed(self, *_args: object) -> None:
        model = self.model_box.currentData()
        self.ref_box.blockSignals(True)
        self.ref_box.clear()
        for choice in self._releases:
            if choice.model == model:
                self.ref_box.addItem(choice.label, choice.ref)
        self.ref_box.blockSignals(False)
        self._on_ref_box_changed()

    def _on_ref_box_changed(self, *_args: object) -> None:
        self.note.setText(f"Deploys {self.ref}." if self.ref else
                          "The workspace has no model to deploy yet.")
        self.completeChanged.emit()


class HostsPage(QWizardPage):
    """Check the hosts to deploy to, optionally filtered by group."""

    def __init__(self, hosts: Sequence[Any], statuses: dict[str, Any],
                 selected: Sequence[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        _page_intro(self, "Hosts", "Check the hosts to deploy to. The canary hosts (next "
                    "step) are taken from the top of this list.")
        self._hosts = list(hosts)
        self.group_box = QComboBox(self)
        self.group_box.setObjectName("deployGroup")
        self.group_box.addItem("All hosts", "")
        for group in sorted({g for h in self._hosts for g in h.groups}):
            self.group_box.addItem(f"Group {group}", group)
        self.all_button = QPushButton("Check all shown", self)
        self.none_button = QPushButton("Check none", self)
        self.list = QListWidget(self)
        self.list.setObjectName("deployHosts")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for host in self._hosts:
            _level, health = health_of(statuses.get(host.name))
            status = statuses.get(host.name)
            running = release_text(status.model, status.version, status.release_id) \
                if status is not None else ""
            where = "local folder" if host.transport == "local" else host.address
            text = f"{host.name}    {where}  ·  {health}" + (f"  ·  runs {running}"
                                                            if running else "")
            item = QListWidgetItem(text, self.list)
            item.setData(Qt.ItemDataRole.UserRole, host.name)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            item.setSizeHint(QSize(0, 30))
            item.setCheckState(Qt.CheckState.Checked if host.name in selected
                               else Qt.CheckState.Unchecked)
        self.count_label = muted_label("", self)
        self.count_label.setObjectName("deployHostCount")
        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(self.group_box)
        top.addStretch(1)
        top.addWidget(self.all_button)
        top.addWidget(self.none_button)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addLayout(top)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.count_label)
        self.group_box.currentIndexChanged.connect(self._on_group_box_changed)
        self.all_button.clicked.connect(lambda: self._check_shown(True))
        self.none_button.clicked.connect(lambda: self._check_shown(False, every=True))
        self.list.itemChanged.connect(lambda _item: self._update_count())
        self._update_count()

    def checked_names(self) -> list[str]:
        """The checked hosts' names, in list order."""
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.list.count())
                if self.list.item(i).checkState() == Qt.CheckState.Checked]

    def checked_hosts(self) -> list[Any]:
        names = set(self.checked_names())
        return [h for h in self._hosts if h.name in names]

    def set_checked(self, names: Sequence[str]) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            item.setCheckState(Qt.CheckState.Checked
                               if item.data(Qt.ItemDataRole.UserRole) in names
                               else Qt.CheckState.Unchecked)

    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return bool(self.checked_names())

    def _check_shown(self, checked: bool, every: bool = False) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if every or not item.isHidden():
                item.setCheckState(Qt.CheckState.Checked if checked
                                   else Qt.CheckState.Unchecked)

    def _on_group_box_changed(self, *_args: object) -> None:
        group = self.group_box.currentData()
        by_name = {h.name: h for h in self._hosts}
        for i in range(self.list.count()):
            item = self.list.item(i)
            host = by_name[item.data(Qt.ItemDataRole.UserRole)]
            item.setHidden(bool(group) and group not in host.groups)
        if group:
            # Choosing a group means deploying to it: check exactly its hosts.
            self.set_checked([h.name for h in self._hosts if group in h.groups])
        self._update_count()

    def _update_count(self) -> None:
        count = len(self.checked_names())
        self.count_label.setText(f"{count} of {len(self._hosts)} hosts checked")
        self.completeChanged.emit()


class StrategyPage(QWizardPage):
    """Canary count, parallelism, failure budget and where the hosts' wheels come from."""

    WHEELS_NONE, WHEELS_FOLDER, WHEELS_BUILD = range(3)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        _page_intro(self, "Strategy", "Canary hosts go first; if one fails, the others are "
                    "not touched. Then the rest go in waves: each wave uploads to all its hosts "
                    "first and switches them together.")
        defaults = DeployOptions()
        self.canary_spin = QSpinBox(self)
        self.canary_spin.setObjectName("deployCanary")
        self.canary_spin.setRange(0, 100)
        self.canary_spin.setValue(defaults.canary)
        self.parallel_spin = QSpinBox(self)
        self.parallel_spin.setObjectName("deployParallel")
        self.parallel_spin.setRange(1, 100)
        self.parallel_spin.setValue(defaults.parallel)
        self.failures_spin = QSpinBox(self)
        self.failures_spin.setObjectName("deployMaxFailures")
        self.failures_spin.setRange(0, 1000)
        self.failures_spin.setValue(defaults.max_failures)
        self.keep_spin = QSpinBox(self)
        self.keep_spin.setObjectName("deployKeep")
        self.keep_spin.setRange(1, 100)
        self.keep_spin.setValue(defaults.keep)
        form = QFormLayout()
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(8)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.addRow("Canary hosts", self._with_hint(self.canary_spin, "deployed first, alone"))
        form.addRow("In parallel", self._with_hint(self.parallel_spin, "hosts per wave"))
        form.addRow("Tolerated failures", self._with_hint(
            self.failures_spin, "after the canary; more: the wave does not switch"))
        form.addRow("Keep releases", self._with_hint(
            self.keep_spin, "per host, for instant rollback"))

        wheels = QGroupBox("Python packages on the hosts", self)
        self.wheels_group = QButtonGroup(self)
        self.none_radio = QRadioButton("The hosts' Python already has them", wheels)
        self.folder_radio = QRadioButton("Install from a wheelhouse folder (air-gapped)", wheels)
        self.build_radio = QRadioButton(
            "Download wheels here for the hosts' Python (needs internet on this machine)",
            wheels)
        for value, radio in enumerate((self.none_radio, self.folder_radio, self.build_radio)):
            self.wheels_group.addButton(radio, value)
        self.none_radio.setChecked(True)
        self.folder_edit = QLineEdit(wheels)
        self.folder_edit.setObjectName("deployWheelhouse")
        self.folder_edit.setPlaceholderText("a folder of .whl files for the hosts")
        self.browse_button = QPushButton("Browse…", wheels)
        folder_row = QHBoxLayout()
        folder_row.setContentsMargins(24, 0, 0, 0)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse_button)
        self.wheels_note = muted_label("", wheels)
        wheels_layout = QVBoxLayout(wheels)
        wheels_layout.setSpacing(6)
        wheels_layout.addWidget(self.none_radio)
        wheels_layout.addWidget(self.folder_radio)
        wheels_layout.addLayout(folder_row)
        wheels_layout.addWidget(self.build_radio)
        wheels_layout.addWidget(self.wheels_note)

        layout = QVBoxLayout(self)
        layout.setSpacing(14)
        layout.addLayout(form)
        layout.addWidget(wheels)
        layout.addStretch(1)
        self.wheels_group.idToggled.connect(lambda *_a: self._on_changed())
        self.folder_edit.textChanged.connect(lambda *_a: self._on_changed())
        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        self._on_changed()

    def _with_hint(self, spin: QSpinBox, hint: str) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(10)
        spin.setMinimumWidth(90)
        row.addWidget(spin)
        row.addWidget(muted_label(hint, self, wrap=False))
        row.addStretch(1)
        return row

    def options(self) -> DeployOptions:
        """The options as chosen."""
        mode = self.wheels_group.checkedId()
        folder = self.folder_edit.text().strip()
        return DeployOptions(
            canary=self.canary_spin.value(), parallel=self.parallel_spin.value(),
            max_failures=self.failures_spin.value(), keep=self.keep_spin.value(),
            wheelhouse=Path(folder).expanduser() if mode == self.WHEELS_FOLDER and folder
            else None,
            build_wheelhouse=mode == self.WHEELS_BUILD)

    def wheelhouse_error(self) -> str | None:
        if self.wheels_group.checkedId() != self.WHEELS_FOLDER:
            return None
        folder = self.folder_edit.text().strip()
        if not folder:
            return "Choose the wheelhouse folder."
        if not Path(folder).expanduser().is_dir():
            return f"{folder} is not a folder."
        return None

    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return self.wheelhouse_error() is None

    def _on_changed(self) -> None:
        mode = self.wheels_group.checkedId()
        self.folder_edit.setEnabled(mode == self.WHEELS_FOLDER)
        self.browse_button.setEnabled(mode == self.WHEELS_FOLDER)
        error = self.wheelhouse_error()
        notes = {
            self.WHEELS_NONE: "Hosts whose Python lacks numpy, scikit-learn… are refused "
                              "before anything is uploaded.",
            self.WHEELS_FOLDER: "Missing wheels are uploaded once and installed into a "
                                "venv with pip --no-index: no internet needed on the hosts.",
            self.WHEELS_BUILD: "pip downloads wheels for the hosts' Python and platform "
                               "here; they are cached and then sent as a wheelhouse.",
        }
        self.wheels_note.setText(error or notes.get(mode, ""))
        set_style_property(self.wheels_note, "role", "error" if error else "muted")
        self.completeChanged.emit()

    def _on_browse_button_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Wheelhouse folder",
                                                  self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)


class PlanPage(QWizardPage):
    """What the deploy would change on each host; nothing is changed on the hosts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        _page_intro(self, "Plan", "What the deploy would do on each host: files already "
                    "there from earlier releases are reused, not sent again.")
        self.model = PlanTableModel(self)
        self.view = make_table(self, self.model, stretch=PlanTableModel.PROBLEMS)
        self.view.setObjectName("deployPlan")
        self.status_label = QLabel(self)
        self.status_label.setObjectName("deployPlanStatus")
        self.status_label.setWordWrap(True)
        self.recheck_button = QPushButton("Check again", self)
        self.recheck_button.setObjectName("deployPlanRecheck")
        bottom = QHBoxLayout()
        bottom.addWidget(self.status_label, 1)
        bottom.addWidget(self.recheck_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(self.view, 1)
        layout.addLayout(bottom)
        self.recheck_button.clicked.connect(self.initializePage)
        # Leaving this page starts the deploy: there is no way back from it.
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Deploy")
        self.done = False
        self.error: BaseException | None = None
        self._generation = 0

    def initializePage(self) -> None:  # noqa: N802 (Qt override)
        wizard = self.wizard()
        if not isinstance(wizard, DeployWizard):
            return
        self._generation += 1
        generation = self._generation
        self.done = False
        self.error = None
        self.model.set_plans([])
        self.recheck_button.setEnabled(False)
        self._set_status(f"Checking {len(wizard.hosts())} hosts…", "muted")
        self.completeChanged.emit()

        def _on_done(plans: list[Any]) -> None:
            if generation == self._generation:
                self._on_plan_finished(plans)

        def _on_error(exc: BaseException) -> None:
            if generation == self._generation:
                self._on_plan_errored(exc)

        wizard.runner.run(plan_operation, wizard.workspace, wizard.ref(), wizard.hosts(),
                          wizard.options(), title=f"Planning the deploy of {wizard.ref()}",
                          on_done=_on_done, on_error=_on_error, notify_errors=False)

    def _set_status(self, text: str, role: str) -> None:
        self.status_label.setText(text)
        set_style_property(self.status_label, "role", role)

    def _on_plan_finished(self, plans: list[Any]) -> None:
        self.done = True
        self.model.set_plans(plans)
        self.view.resizeColumnsToContents()
        for column in (PlanTableModel.CURRENT, PlanTableModel.ACTION, PlanTableModel.ENV):
            self.view.setColumnWidth(column, min(self.view.columnWidth(column), 150))
        self.view.horizontalHeader().setSectionResizeMode(PlanTableModel.PROBLEMS,
                                                          QHeaderView.ResizeMode.Stretch)
        refused = [p.host for p in plans if p.problems]
        total = sum(p.bytes_to_send for p in plans)
        if refused:
            self._set_status(
                f"{len(refused)} of {len(plans)} hosts would be refused "
                f"({', '.join(refused)}): hover the problems for details. You can still "
                "deploy; those hosts will fail without being changed.", "error")
        else:
            self._set_status(f"All {len(plans)} hosts can take the release; "
                             f"{total / 1e6:.1f} MB to send in all.", "muted")
        self.recheck_button.setEnabled(True)
        self.completeChanged.emit()

    def _on_plan_errored(self, exc: BaseException) -> None:
        self.done = True
        self.error = exc
        self._set_status(notification_for_error(exc).text(), "error")
        self.recheck_button.setEnabled(True)
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return self.done and self.error is None


class RunPage(QWizardPage):
    """The running deploy: a progress bar per host, the log, Cancel, and the summary."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        _page_intro(self, "Deploy", "Hosts report each step as it happens. The window "
                    "stays usable; Cancel stops hosts between steps.")
        self.model = DeployProgressModel(parent=self)
        self.view = make_table(self, self.model, stretch=DeployProgressModel.OUTCOME)
        self.view.setObjectName("deployProgress")
        self.view.setItemDelegateForColumn(DeployProgressModel.PROGRESS,
                                           ProgressBarDelegate(self.view))
        self.log = QPlainTextEdit(self)
        self.log.setObjectName("deployLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        font.setPointSizeF(9.5)
        self.log.setFont(font)
        self.log.setPlaceholderText("The deploy's log appears here.")
        self.summary = QLabel(self)
        self.summary.setObjectName("deploySummary")
        self.summary.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel deploy", self)
        self.cancel_button.setObjectName("deployCancel")
        self.cancel_button.setToolTip("Stop hosts between steps; a host already switching "
                                      "finishes its switch")
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.view)
        splitter.addWidget(self.log)
        splitter.setSizes([180, 160])
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary, 1)
        bottom.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.task: Any = None
        self.result: Any = None
        self.finished = False

    def initializePage(self) -> None:  # noqa: N802 (Qt override)
        wizard = self.wizard()
        if not isinstance(wizard, DeployWizard) or self.task is not None:
            return
        hosts = wizard.hosts()
        self.model.set_hosts([h.name for h in hosts])
        self.view.resizeColumnsToContents()
        self.view.setColumnWidth(DeployProgressModel.STEP, 170)
        self.view.setColumnWidth(DeployProgressModel.PROGRESS, 200)
        self.view.setColumnWidth(DeployProgressModel.BYTES, 150)
        self.summary.setText(f"Deploying {wizard.ref()} to {len(hosts)} hosts…")
        set_style_property(self.summary, "role", "muted")
        self.task = wizard.runner.run(
            rollout, wizard.workspace, wizard.ref(), hosts, wizard.options(),
            title=f"Deploying {wizard.ref()}", on_done=self._on_task_done,
            on_error=self._on_task_errored, on_cancelled=self._on_task_cancelled,
            notify_errors=False)
        self.task.progressed.connect(self._on_task_progressed)
        wizard.deploy_started.emit([h.name for h in hosts])

    def is_running(self) -> bool:
        return self.task is not None and not self.finished

    def cancel(self) -> None:
        """Ask the deploy to stop between steps (its result still arrives)."""
        if self.is_running():
            self.task.token.cancel()
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling…")
            self._append("cancel requested: hosts stop between steps", "warning")

    def _append(self, text: str, level: str = "info", host: str = "") -> None:
        prefix = {"warning": "WARN ", "error": "ERROR "}.get(level, "")
        where = f"[{host}] " if host else ""
        self.log.appendPlainText(f"{prefix}{where}{text}")

    def _on_task_progressed(self, event: Any) -> None:
        self.model.on_event(event)
        if event.message and not getattr(event, "bytes_total", 0):
            self._append(event.message, getattr(event, "level", "info"),
                         getattr(event, "host", ""))

    def _finish(self) -> None:
        self.finished = True
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancel deploy")
        self.completeChanged.emit()
        wizard = self.wizard()
        if isinstance(wizard, DeployWizard):
            wizard.button(QWizard.WizardButton.CancelButton).setEnabled(False)
            wizard.deploy_finished.emit(self.result)

    def _on_task_done(self, result: Any) -> None:
        self.result = result
        self.model.set_results(result.results)
        counts = ", ".join(f"{n} {k}" for k, n in sorted(result.counts().items()))
        if result.ok:
            text, role = (f"Done: {result.model} v{result.version} runs on all "
                          f"{len(result.results)} hosts ({result.seconds:.1f} s)."), "success"
        else:
            stopped = f" Stopped: {result.stopped}." if result.stopped else ""
            text, role = f"Finished with problems: {counts}.{stopped}", "error"
        self.summary.setText(text)
        self.summary.setStyleSheet(f"color: {LIGHT[role if role != 'error' else 'danger']};"
                                   " font-weight: 600;")
        self._append(text, "info" if result.ok else "error")
        self._finish()

    def _on_task_errored(self, exc: BaseException) -> None:
        text = notification_for_error(exc).text()
        self.summary.setText(f"The deploy did not start: {text}")
        self.summary.setStyleSheet(f"color: {LIGHT['danger']}; font-weight: 600;")
        self._append(text, "error")
        self._finish()

    def _on_task_cancelled(self) -> None:
        self.summary.setText("Cancelled before any result came back; see each host's "
                             "status and history.")
        self._finish()

    def _on_cancel_button_clicked(self) -> None:
        self.cancel()

    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return self.finished


class DeployWizard(QWizard):
    """Deploy a release to hosts, step by step.

    Parameters
    ----------
    workspace
        The open workspace.
    runner
        Runs the plan and the rollout off the GUI thread.
    releases
        The deployable references, grouped by model in order.
    hosts, statuses
        The workspace's hosts and their cached statuses (by name).
    selected
        Host names checked at first.
    ref
        The reference selected at first.

    Signals
    -------
    deploy_started(list)
        The rollout started on these host names.
    deploy_finished(object)
        The rollout ended: its ``RolloutResult``, or ``None`` if it failed to start.
    """

    deploy_started = Signal(list)
    deploy_finished = Signal(object)

    RELEASE, HOSTS, STRATEGY, PLAN, RUN = range(5)

    def __init__(self, workspace: Any, runner: Any, releases: Sequence[ReleaseChoice],
                 hosts: Sequence[Any], statuses: dict[str, Any], *,
                 selected: Sequence[str] = (), ref: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("deployWizard")
        self.setWindowTitle("Deploy")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.setMinimumSize(860, 600)
        self.workspace = workspace
        self.runner = runner
        self.release_page = ReleasePage(releases, ref, self)
        self.hosts_page = HostsPage(hosts, statuses, selected, self)
        self.strategy_page = StrategyPage(self)
        self.plan_page = PlanPage(self)
        self.run_page = RunPage(self)
        for key, page in ((self.RELEASE, self.release_page), (self.HOSTS, self.hosts_page),
                          (self.STRATEGY, self.strategy_page), (self.PLAN, self.plan_page),
                          (self.RUN, self.run_page)):
            self.setPage(key, page)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Close")
        finish = self.button(QWizard.WizardButton.FinishButton)
        set_style_property(finish, "primary", True)
        set_style_property(self.button(QWizard.WizardButton.CommitButton), "primary", True)

    # -- the choices ----------------------------------------------------------

    def ref(self) -> str:
        return self.release_page.ref

    def hosts(self) -> list[Any]:
        return self.hosts_page.checked_hosts()

    def options(self) -> DeployOptions:
        return self.strategy_page.options()

    def is_running(self) -> bool:
        return self.run_page.is_running()

    def reject(self) -> None:
        # Closing while hosts are being changed would hide their outcome: cancel instead
        # and let the result arrive.
        if self.is_running():
            self.run_page.cancel()
            return
        super().reject()
