"""The Releases page: the release queue, QA gates, candidate vs production, review.

A release candidate is a model version built into a release folder, checked by the QA
gates of its model's policy and approved by reviewers who sign its manifest with their
SSH key (:mod:`modeldeck.core.release`). This page shows the queue, a candidate's gates,
its comparison with production and its timeline, and lets a reviewer approve or reject
it. Everything is a core call run by the window's
:class:`~modeldeck.gui.tasks.TaskRunner`; who may review is core's answer
(``Releases.can_review``), shown as the tooltip of the disabled buttons.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDir, QItemSelectionModel, QSettings, Qt, Signal
from PySide6.QtGui import QIcon, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from modeldeck.core.errors import ModelDeckError
from modeldeck.core.registry import Registry
from modeldeck.core.release import Releases
from modeldeck.core.workspace import PERMISSIONS
from modeldeck.gui.item_models import (
    KeyValueTableModel,
    ModelRole,
    SortProxyModel,
    delta_quality,
    format_delta,
    format_number,
    format_timestamp,
    version_label,
    metric_label,
)
from modeldeck.gui.notifications import NotificationBanner
from modeldeck.gui.release_models import (
    GATE_LABELS,
    GATE_STATE_COLORS,
    CandidatesTableModel,
    TimelineTableModel,
    approvals_html,
    approvals_text,
    format_gate_value,
    gate_label,
    gate_state,
    status_color,
    status_label,
    valid_approvals,
)
from modeldeck.gui.tasks import TaskRunner
from modeldeck.gui.theme import LIGHT, resource_path
from modeldeck.gui.widgets import make_table, muted_label, set_style_property

log = logging.getLogger(__name__)

_QUALITY_COLOURS = {1: LIGHT["success"], -1: LIGHT["danger"], 0: LIGHT["text_muted"]}

#: Status filter entries: (label, statuses shown; empty: all).
STATUS_FILTERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("All candidates", ()),
    ("Open", ("gating", "gates-failed", "awaiting-approval", "approved")),
    ("Awaiting approval", ("awaiting-approval",)),
    ("Approved", ("approved",)),
    ("Deployed", ("deployed", "rolled-back")),
    ("Gates failed", ("gates-failed",)),
    ("Rejected", ("rejected",)),
)

NO_SELECTION = "Select a candidate in the queue to review it."
#: Statuses in which core runs the gates again.
GATEABLE = ("gating", "gates-failed", "awaiting-approval")


# -- reads run in a worker ---------------------------------------------------------------


@dataclass(frozen=True)
class CandidateDetail:
    """Everything the detail pane shows about one candidate, read in one worker call.

    Attributes
    ----------
    comparison
        ``CandidateComparison``, or ``None`` (``comparison_error`` says why).
    review
        ``Releases.can_review``'s ``(allowed, reason)`` for the acting user.
    public_key
        The SSH public key registered for the acting user, or ``None``.
    """

    candidate: Any
    comparison: Any
    comparison_error: str
    timeline: list[Any]
    review: tuple[bool, str]
    public_key: str | None


@dataclass(frozen=True)
class VersionChoice:
    """A model version offered by the New candidate dialog."""

    model: str
    ref: str
    label: str


def read_detail(releases: Any, workspace: Any, candidate_id: int) -> CandidateDetail:
    """Read one candidate, its comparison, timeline and whether the user may review it."""
    candidate = releases.get(candidate_id)
    try:
        comparison, problem = releases.compare_to_production(candidate_id), ""
    except ModelDeckError as exc:
        comparison, problem = None, exc.message if hasattr(exc, "message") else str(exc)
    timeline = list(releases.timeline(candidate_id))
    allowed, reason = releases.can_review(candidate_id)
    try:
        key = workspace.get_user(workspace.identity.name).ssh_public_key
    except ModelDeckError:
        key = None
    return CandidateDetail(candidate, comparison, problem, timeline, (bool(allowed), reason),
                           key)


def read_versions(workspace: Any) -> list[VersionChoice]:
    """Every model version, newest first per model, with its aliases."""
    registry = Registry(workspace)
    choices: list[VersionChoice] = []
    for model in registry.list_models():
        for info in sorted(registry.list_versions(model.name), key=lambda v: -v.version):
            choices.append(VersionChoice(model.name, info.ref, version_label(info, author=True)))
    return choices


# -- the New candidate dialog -------------------------------------------------------------


class NewCandidateDialog(QDialog):
    """Pick a model version to put up for release.

    Attributes
    ----------
    ref
        The chosen version (``"model:N"``) once accepted.
    """

    def __init__(self, versions: list[VersionChoice], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("newCandidateDialog")
        self.setWindowTitle("New release candidate")
        self.setMinimumWidth(660)
        self._versions = list(versions)
        self.ref: str | None = None

        title = QLabel("Put a model version up for release", self)
        title.setProperty("role", "sectionTitle")
        intro = muted_label(
            "ModelDeck builds the release folder (the files hosts will run, with a manifest "
            "of their sha256), then runs the QA gates of the model's policy: holdout "
            "metrics, no regression against production, schema, latency, drift on the "
            "holdout set, model card and artifact. Reviewers then approve it by signing the "
            "manifest.", self)
        self.model_box = QComboBox(self)
        self.model_box.setObjectName("candidateModel")
        self.version_box = QComboBox(self)
        self.version_box.setObjectName("candidateVersion")
        self.version_box.setMinimumWidth(420)
        for model in dict.fromkeys(v.model for v in self._versions):
            self.model_box.addItem(model, model)
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(8)
        for row, (text, widget) in enumerate((("Model", self.model_box),
                                              ("Version", self.version_box))):
            label = QLabel(text, self)
            label.setProperty("role", "fieldLabel")
            grid.addWidget(label, row, 0)
            grid.addWidget(widget, row, 1)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Create and run gates")
        self.buttons.accepted.connect(self._on_accepted)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addLayout(grid)
        layout.addWidget(self.buttons)
        self.model_box.currentIndexChanged.connect(self._on_model_box_changed)
        self._on_model_box_changed()

    def select(self, ref: str) -> None:
        """Choose version ``ref`` (``"model:N"``)."""
        model = ref.split(":", 1)[0]
        self.model_box.setCurrentIndex(max(0, self.model_box.findData(model)))
        self.version_box.setCurrentIndex(max(0, self.version_box.findData(ref)))

    def _on_model_box_changed(self, *_args: object) -> None:
        model = self.model_box.currentData()
        self.version_box.clear()
        for choice in self._versions:
            if choice.model == model:
                self.version_box.addItem(choice.label, choice.ref)
        self.ok_button.setEnabled(self.version_box.count() > 0)

    def _on_accepted(self) -> None:
        self.ref = self.version_box.currentData()
        if self.ref:
            self.accept()


# -- the page -----------------------------------------------------------------------------


class CandidatesProxyModel(SortProxyModel):
    """Sorts the queue and filters it by status."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._statuses: tuple[str, ...] = ()

    def set_statuses(self, statuses: tuple[str, ...]) -> None:
        """Show only candidates in ``statuses`` (empty: all)."""
        if statuses != self._statuses:
            self.beginFilterChange()
            self._statuses = statuses
            self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent: Any) -> bool:  # noqa: N802
        model = self.sourceModel()
        if self._statuses and isinstance(model, CandidatesTableModel):
            if model.candidate_at(source_row).status not in self._statuses:
                return False
        return super().filterAcceptsRow(source_row, source_parent)


def _small_table(parent: QWidget, model: Any, *, stretch: int | None = None) -> QTableView:
    view = make_table(parent, model, stretch=stretch)
    view.verticalHeader().setDefaultSectionSize(28)
    view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return view


class GateListWidget(QScrollArea):
    """A candidate's gate results, one row each: result, value, threshold and the detail
    sentence in full (a table would have to cut the sentences short)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._box = QWidget(self)
        self._box.setObjectName("gateRows")
        self._layout = QVBoxLayout(self._box)
        self._layout.setContentsMargins(0, 0, 4, 0)
        self._layout.setSpacing(6)
        self._layout.addStretch(1)
        self.setWidget(self._box)
        self._gates: list[Any] = []
        self.rows: list[QFrame] = []

    def gates(self) -> list[Any]:
        return list(self._gates)

    def row_texts(self) -> list[dict[str, str]]:
        """What each row says (name, result, value, threshold, detail), for tests."""
        return [{key: row.findChild(QLabel, key).text()
                 for key in ("name", "result", "value", "threshold", "detail")}
                for row in self.rows]

    def set_gates(self, gates: Any) -> None:
        """Show ``gates`` (``GateResult``), replacing the rows shown before."""
        self._gates = list(gates)
        for row in self.rows:
            self._layout.removeWidget(row)
            row.deleteLater()
        self.rows = []
        for position, gate in enumerate(self._gates):
            row = self._make_row(gate)
            self._layout.insertWidget(position, row)
            self.rows.append(row)

    def _make_row(self, gate: Any) -> QFrame:
        state = gate_state(gate)
        colour = GATE_STATE_COLORS[state]
        row = QFrame(self._box)
        row.setObjectName(f"gate-{gate.name}")
        row.setStyleSheet(
            f"QFrame#gate-{gate.name} {{ background: {LIGHT['surface']}; "
            f"border: 1px solid {LIGHT['border']}; border-left: 4px solid {colour}; "
            "border-radius: 6px; }")
        name = QLabel(gate_label(gate.name), row)
        name.setObjectName("name")
        name.setStyleSheet("font-weight: 600;")
        name.setToolTip(GATE_LABELS.get(gate.name, ("", ""))[1])
        name.setMinimumWidth(120)
        result = QLabel(state, row)
        result.setObjectName("result")
        result.setStyleSheet(f"color: {colour}; font-weight: 600;")
        result.setMinimumWidth(60)
        skipped = state == "skipped"
        value = QLabel("—" if skipped else format_gate_value(gate.name, gate.value), row)
        value.setObjectName("value")
        threshold = QLabel("—" if skipped else
                           format_gate_value(gate.name, gate.threshold, threshold=True), row)
        threshold.setObjectName("threshold")
        for label, title in ((value, "Measured"), (threshold, "Required")):
            label.setWordWrap(True)
            label.setToolTip(title)
        value_title = QLabel("measured", row)
        value_title.setProperty("role", "hint")
        threshold_title = QLabel("required", row)
        threshold_title.setProperty("role", "hint")
        detail = QLabel(gate.detail, row)
        detail.setObjectName("detail")
        detail.setWordWrap(True)
        detail.setProperty("role", "muted")
        detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid = QGridLayout(row)
        grid.setContentsMargins(10, 6, 10, 7)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(2)
        grid.addWidget(name, 0, 0)
        grid.addWidget(result, 0, 1)
        grid.addWidget(value_title, 0, 2, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(value, 0, 3)
        grid.addWidget(threshold_title, 0, 4, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(threshold, 0, 5)
        grid.addWidget(detail, 1, 0, 1, 6)
        grid.setColumnStretch(3, 1)
        grid.setColumnStretch(5, 1)
        return row


class ReleasesPage(QWidget):
    """The release candidates of one workspace, and their review.

    Parameters
    ----------
    workspace
        The open workspace (its acting user is the reviewer).
    runner
        Runs every core call off the GUI thread.
    notifier
        The window's notification surface.

    Signals
    -------
    candidates_loaded()
        The queue was (re)filled from the workspace.
    detail_loaded(object)
        The detail pane shows this :class:`CandidateDetail`.
    candidate_changed(object)
        A candidate was created, gated, approved or rejected (the new ``Candidate``).
    """

    candidates_loaded = Signal()
    detail_loaded = Signal(object)
    candidate_changed = Signal(object)
    #: an approved candidate's version reference ("model:N") to deploy (the Fleet page's
    #: wizard opens on it)
    deploy_requested = Signal(str)

    def __init__(self, workspace: Any, runner: TaskRunner, notifier: NotificationBanner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("releasesPage")
        self.workspace = workspace
        self.releases = Releases(workspace)
        self.runner = runner
        self.notifier = notifier
        self.active_dialog: Any = None
        self.detail: CandidateDetail | None = None
        self._loaded = False
        self._pending_select: int | None = None
        self._detail_generation = 0
        self._busy: set[int] = set()
        self._review_allowed = False

        # -- header -------------------------------------------------------------------
        title = QLabel("Releases", self)
        title.setProperty("role", "pageTitle")
        self.count_label = muted_label("", self, wrap=False)
        self.count_label.setObjectName("candidateCount")
        self.status_box = QComboBox(self)
        self.status_box.setObjectName("statusFilter")
        self.status_box.setMinimumWidth(170)
        self.status_box.setToolTip("Show candidates in these states")
        for label, statuses in STATUS_FILTERS:
            self.status_box.addItem(label, statuses)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setObjectName("refreshReleasesButton")
        self.refresh_button.setToolTip("Read the candidates again")
        self.new_button = QPushButton("New candidate…", self)
        self.new_button.setObjectName("newCandidateButton")
        set_style_property(self.new_button, "primary", True)
        header = QHBoxLayout()
        header.setSpacing(10)
        header.addWidget(title)
        header.addWidget(self.count_label, 0, Qt.AlignmentFlag.AlignBottom)
        header.addStretch(1)
        header.addWidget(self.status_box)
        header.addWidget(self.refresh_button)
        header.addWidget(self.new_button)

        # -- queue ----------------------------------------------------------------------
        self.queue_model = CandidatesTableModel(self)
        self.queue_proxy = CandidatesProxyModel(self)
        self.queue_proxy.setSourceModel(self.queue_model)
        self.queue_view = make_table(self, self.queue_proxy,
                                     stretch=CandidatesTableModel.STATUS)
        self.queue_view.setObjectName("candidatesTable")
        self.queue_view.setSortingEnabled(True)
        self.queue_view.sortByColumn(CandidatesTableModel.ID, Qt.SortOrder.DescendingOrder)
        self.queue_view.verticalHeader().setDefaultSectionSize(30)
        self.queue_view.setMinimumHeight(90)
        for column, width in ((CandidatesTableModel.ID, 50), (CandidatesTableModel.MODEL, 150),
                              (CandidatesTableModel.VERSION, 80),
                              (CandidatesTableModel.AUTHOR, 100),
                              (CandidatesTableModel.CREATED, 145),
                              (CandidatesTableModel.GATES, 190),
                              (CandidatesTableModel.APPROVALS, 95)):
            self.queue_view.setColumnWidth(column, width)

        # -- detail: title, tabs, review -------------------------------------------------
        self.detail_title = QLabel(self)
        self.detail_title.setObjectName("candidateTitle")
        self.detail_title.setProperty("role", "sectionTitle")
        self.status_badge = QLabel(self)
        self.status_badge.setObjectName("candidateStatus")
        self.detail_meta = muted_label("", self)
        self.detail_meta.setObjectName("candidateMeta")
        self.detail_meta.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.gates_button = QPushButton("Run gates", self)
        self.gates_button.setObjectName("runGatesButton")
        self.gates_button.setToolTip("Run the QA gates again (after changing the policy, "
                                     "the model card or production)")
        title_row = QHBoxLayout()
        title_row.setSpacing(10)
        title_row.addWidget(self.detail_title)
        title_row.addWidget(self.status_badge, 0, Qt.AlignmentFlag.AlignVCenter)
        title_row.addStretch(1)
        title_row.addWidget(self.gates_button)
        self.deploy_button = QPushButton("Deploy…", self)
        self.deploy_button.setObjectName("deployCandidateButton")
        title_row.addWidget(self.deploy_button)

        self.gates_view = GateListWidget(self)
        self.gates_view.setObjectName("gatesList")
        self.gates_note = muted_label("", self)
        self.gates_note.setObjectName("gatesNote")

        self.compare_tab = self._build_compare_tab()

        self.timeline_model = TimelineTableModel(self)
        self.timeline_view = _small_table(self, self.timeline_model,
                                          stretch=TimelineTableModel.DETAIL)
        self.timeline_view.setObjectName("timelineTable")
        self.timeline_view.setWordWrap(True)
        for column, width in ((TimelineTableModel.WHEN, 150), (TimelineTableModel.ACTOR, 70),
                              (TimelineTableModel.STEP, 125)):
            self.timeline_view.setColumnWidth(column, width)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("candidateTabs")
        self.tabs.addTab(self._padded(self.gates_note, self.gates_view), "QA gates")
        self.tabs.addTab(self.compare_tab, "Against production")
        self.tabs.addTab(self._padded(self.timeline_view), "Timeline")

        self.review_card = self._build_review_card()

        body = QHBoxLayout()
        body.setSpacing(12)
        body.addWidget(self.tabs, 1)
        body.addWidget(self.review_card)
        detail = QWidget(self)
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 4, 0, 0)
        detail_layout.setSpacing(4)
        detail_layout.addLayout(title_row)
        detail_layout.addWidget(self.detail_meta)
        detail_layout.addSpacing(4)
        detail_layout.addLayout(body, 1)
        self.detail_empty = muted_label(NO_SELECTION, self)
        self.detail_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail_stack = QStackedWidget(self)
        self.detail_stack.addWidget(detail)
        self.detail_stack.addWidget(self.detail_empty)
        self.detail_stack.setCurrentWidget(self.detail_empty)
        self.detail_page = detail

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("releasesSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.queue_view)
        self.splitter.addWidget(self.detail_stack)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([128, 560])

        self.empty_state = self._build_empty_state()
        self.body_stack = QStackedWidget(self)
        self.body_stack.addWidget(self.splitter)
        self.body_stack.addWidget(self.empty_state)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addLayout(header)
        layout.addWidget(self.body_stack, 1)

        # -- wiring ---------------------------------------------------------------------
        self.status_box.currentIndexChanged.connect(self._on_status_box_changed)
        self.refresh_button.clicked.connect(lambda: self.reload())
        self.new_button.clicked.connect(lambda: self.open_new_candidate_dialog())
        self.gates_button.clicked.connect(lambda: self.run_gates())
        self.deploy_button.clicked.connect(self._on_deploy_button_clicked)
        self.approve_button.clicked.connect(lambda: self.approve())
        self.reject_button.clicked.connect(lambda: self.reject())
        self.browse_button.clicked.connect(self._on_browse_clicked)
        self.key_edit.textChanged.connect(self._on_key_edit_changed)
        self.comment_edit.textChanged.connect(self._update_reject_button)
        # Wrapped rows need the final column widths: fit them again when they change.
        self.tabs.currentChanged.connect(lambda _i: self.timeline_view.resizeRowsToContents())
        self.timeline_view.horizontalHeader().sectionResized.connect(
            lambda *_a: self.timeline_view.resizeRowsToContents())
        self.queue_view.selectionModel().selectionChanged.connect(
            self._on_queue_selection_changed)
        self._update_new_button()
        self._update_review(None)
        self.reload()

    # -- construction helpers ---------------------------------------------------------

    def _padded(self, *widgets: QWidget) -> QWidget:
        box = QWidget(self)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(6)
        for widget in widgets:
            layout.addWidget(widget, 1 if isinstance(widget, (QTableView, QScrollArea)) else 0)
        return box

    def _section(self, text: str, parent: QWidget) -> QLabel:
        label = QLabel(text, parent)
        label.setStyleSheet(f"font-weight: 600; color: {LIGHT['text']};")
        return label

    def _build_compare_tab(self) -> QWidget:
        # One scrolling column at the tab's full width: the tables keep readable column
        # widths and each table is as tall as its rows.
        area = QScrollArea(self)
        area.setObjectName("compareArea")
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        tab = QWidget(area)
        tab.setObjectName("compareTab")
        self.compare_note = muted_label("", tab)
        self.compare_note.setObjectName("compareNote")
        self.metrics_model = KeyValueTableModel(("Metric", "Production", "Candidate",
                                                 "Change"), parent=self)
        self.metrics_view = _small_table(tab, self.metrics_model, stretch=0)
        self.metrics_view.setObjectName("compareMetrics")
        self.metrics_view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.schema_note = muted_label("", tab)
        self.schema_note.setObjectName("schemaNote")
        self.schema_label = QLabel(tab)
        self.schema_label.setObjectName("schemaChanges")
        self.schema_label.setWordWrap(True)
        self.schema_label.setTextFormat(Qt.TextFormat.RichText)
        self.schema_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.drift_model = KeyValueTableModel(("Feature", "Drift", "Effect size", "Threshold"),
                                              parent=self)
        self.drift_view = _small_table(tab, self.drift_model, stretch=0)
        self.drift_view.setObjectName("compareDrift")
        self.drift_note = muted_label("", tab)
        self.drift_note.setObjectName("driftNote")

        layout = QVBoxLayout(tab)
        layout.setContentsMargins(10, 10, 14, 10)
        layout.setSpacing(6)
        layout.addWidget(self.compare_note)
        layout.addSpacing(4)
        layout.addWidget(self._section("Metrics on the candidate's holdout set", tab))
        layout.addWidget(self.metrics_view)
        layout.addSpacing(6)
        layout.addWidget(self._section("Input schema", tab))
        layout.addWidget(self.schema_note)
        layout.addWidget(self.schema_label)
        layout.addSpacing(6)
        layout.addWidget(self._section("Drift of the holdout set against production's "
                                       "reference data", tab))
        layout.addWidget(self.drift_note)
        layout.addWidget(self.drift_view)
        layout.addStretch(1)
        area.setWidget(tab)
        return area

    @staticmethod
    def _fit_height(view: QTableView, max_rows: int = 12) -> None:
        rows = min(view.model().rowCount(), max_rows)
        height = view.horizontalHeader().sizeHint().height() + 4
        height += sum(view.rowHeight(r) for r in range(rows)) if rows else 0
        view.setFixedHeight(height)
        view.setVisible(view.model().rowCount() > 0)

    def _build_review_card(self) -> QFrame:
        card = QFrame(self)
        card.setObjectName("reviewCard")
        card.setProperty("role", "card")
        card.setFixedWidth(330)
        heading = QLabel("Review", card)
        heading.setProperty("role", "sectionTitle")
        self.approvals_label = QLabel(card)
        self.approvals_label.setObjectName("approvalsLabel")
        self.approvals_text = QLabel(card)
        self.approvals_text.setObjectName("approvalsList")
        self.approvals_text.setWordWrap(True)
        self.approvals_text.setTextFormat(Qt.TextFormat.RichText)
        self.approvals_text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.approvals_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.approvals_text.setStyleSheet(
            f"background: {LIGHT['surface_alt']}; border: 1px solid {LIGHT['border']}; "
            "border-radius: 6px; padding: 6px 8px;")

        comment_label = QLabel("Comment", card)
        comment_label.setProperty("role", "fieldLabel")
        self.comment_edit = QPlainTextEdit(card)
        self.comment_edit.setObjectName("reviewComment")
        self.comment_edit.setPlaceholderText("What you checked, or why you reject it")
        self.comment_edit.setMinimumHeight(44)
        self.comment_edit.setMaximumHeight(80)
        key_label = QLabel("Signing key", card)
        key_label.setProperty("role", "fieldLabel")
        self.key_edit = QLineEdit(card)
        self.key_edit.setObjectName("signingKeyPath")
        self.key_edit.setPlaceholderText("empty = ssh-agent")
        self.key_edit.setClearButtonEnabled(True)
        self.key_edit.setToolTip(
            "The approval is signed with `ssh-keygen -Y sign` over the release manifest's "
            "sha256. Leave empty to sign with the key held by your ssh-agent, or give your "
            "private key file (not the .pub); it must match the public key registered for "
            "you.")
        self.browse_button = QPushButton("Browse…", card)
        self.browse_button.setObjectName("browseKeyButton")
        key_row = QHBoxLayout()
        key_row.setSpacing(6)
        key_row.addWidget(self.key_edit, 1)
        key_row.addWidget(self.browse_button)
        self.key_hint = QLabel(card)
        self.key_hint.setObjectName("keyHint")
        self.key_hint.setProperty("role", "hint")
        self.key_hint.setWordWrap(True)

        self.approve_button = QPushButton("Approve", card)
        self.approve_button.setObjectName("approveButton")
        set_style_property(self.approve_button, "primary", True)
        self.reject_button = QPushButton("Reject", card)
        self.reject_button.setObjectName("rejectButton")
        self.reject_button.setStyleSheet(
            f"QPushButton:enabled {{ color: {LIGHT['danger']}; border-color: {LIGHT['danger']}; }}")
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addWidget(self.reject_button, 1)
        buttons.addWidget(self.approve_button, 1)
        self.review_reason = QLabel(card)
        self.review_reason.setObjectName("reviewReason")
        self.review_reason.setWordWrap(True)
        self.review_reason.setStyleSheet(
            f"color: {LIGHT['warning']}; background: {LIGHT['warning_soft']}; "
            "border-radius: 6px; padding: 6px 8px;")

        layout = QVBoxLayout(card)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(6)
        layout.addWidget(heading)
        layout.addWidget(self.approvals_label)
        layout.addWidget(self.approvals_text)
        layout.addSpacing(4)
        layout.addWidget(comment_label)
        layout.addWidget(self.comment_edit)
        layout.addWidget(key_label)
        layout.addLayout(key_row)
        layout.addWidget(self.key_hint)
        layout.addStretch(1)
        layout.addWidget(self.review_reason)
        layout.addLayout(buttons)
        return card

    def _build_empty_state(self) -> QWidget:
        panel = QFrame(self)
        panel.setObjectName("releasesEmptyState")
        panel.setProperty("role", "card")
        icon = QLabel(panel)
        icon.setPixmap(QIcon(str(resource_path("page-releases.svg"))).pixmap(56, 56))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("No release candidates yet", panel)
        title.setProperty("role", "pageTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = muted_label(
            "Put a model version up for release: ModelDeck builds what the hosts will run, "
            "checks it with the QA gates of the model's policy, and a reviewer who is not "
            "its author approves it by signing its manifest with their SSH key.", panel)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # A fixed width lets the wrapped label ask for the height it needs.
        text.setFixedWidth(540)
        command = QLabel("modeldeck release create MODEL:VERSION", panel)
        command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        command.setStyleSheet("font-family: monospace; background: #f3f5f8; "
                              "border: 1px solid #dbe1e8; border-radius: 6px; padding: 4px 10px;")
        self.empty_new_button = QPushButton("New candidate…", panel)
        self.empty_new_button.setObjectName("emptyNewCandidateButton")
        set_style_property(self.empty_new_button, "primary", True)
        self.empty_new_button.clicked.connect(lambda: self.open_new_candidate_dialog())
        layout = QVBoxLayout(panel)
        layout.addStretch(2)
        layout.addWidget(icon)
        layout.addSpacing(8)
        layout.addWidget(title)
        # In a row with stretches (not aligned), so the layout asks the wrapped label for
        # its height at its width.
        text_row = QHBoxLayout()
        text_row.addStretch(1)
        text_row.addWidget(text)
        text_row.addStretch(1)
        layout.addLayout(text_row)
        layout.addSpacing(4)
        layout.addWidget(command, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(14)
        layout.addWidget(self.empty_new_button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(3)
        return panel

    # -- state ------------------------------------------------------------------------

    def save_state(self, settings: QSettings) -> None:
        """Store the splitter, the queue header and the signing key path."""
        settings.setValue("splitter", self.splitter.saveState())
        settings.setValue("queueHeader", self.queue_view.horizontalHeader().saveState())
        settings.setValue("signingKey", self.key_edit.text().strip())

    def restore_state(self, settings: QSettings) -> None:
        """Restore what :meth:`save_state` stored."""
        value = settings.value("splitter")
        if value is not None:
            self.splitter.restoreState(value)
        value = settings.value("queueHeader")
        if value is not None:
            self.queue_view.horizontalHeader().restoreState(value)
        value = settings.value("signingKey")
        if value:
            self.key_edit.setText(str(value))

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        # The CLI, another window or the Fleet page change candidates meanwhile.
        super().showEvent(event)
        if self._loaded:
            self.reload()

    # -- loading ----------------------------------------------------------------------

    def reload(self, select: int | None = None) -> Any:
        """Re-read the candidates (and the selected one's detail). Returns the task."""
        if select is not None:
            self._pending_select = select
        return self.runner.call(self.releases.list, title="Loading release candidates",
                                on_done=self._on_list_done)

    def _on_list_done(self, candidates: list[Any]) -> None:
        selected = self.selected_id()
        self.queue_model.set_candidates(candidates)
        self._loaded = True
        self.body_stack.setCurrentWidget(self.splitter if candidates else self.empty_state)
        pending, self._pending_select = self._pending_select, None
        wanted = pending if pending is not None else selected
        # Re-select quietly, then show the detail once (fresh from core).
        selection = self.queue_view.selectionModel()
        selection.blockSignals(True)
        try:
            if wanted is None or not self.select_candidate(wanted):
                first = self.queue_proxy.index(0, 0)
                if first.isValid():
                    self.select_candidate(first.data(ModelRole.key))
        finally:
            selection.blockSignals(False)
        self.queue_view.viewport().update()
        self._update_counts()
        self._update_new_button()
        self._show_selected()
        self.candidates_loaded.emit()

    def _update_counts(self) -> None:
        candidates = self.queue_model.candidates()
        waiting = sum(1 for c in candidates if c.status == "awaiting-approval")
        text = f"{len(candidates)} candidate{'s' if len(candidates) != 1 else ''}"
        if waiting:
            text += f"  ·  {waiting} awaiting approval"
        self.count_label.setText(text)

    def _update_new_button(self) -> None:
        who = self.workspace.identity
        allowed = PERMISSIONS["release"]
        if who.role in allowed:
            tip, ok = ("Put a model version up for release: build the release folder and "
                       "run the QA gates"), True
        elif who.role is None:
            tip, ok = (f"You ({who.name}) are not registered in this workspace; an admin can "
                       "add you"), False
        else:
            tip, ok = (f"Your role ({who.role}) may not create release candidates "
                       f"(allowed: {', '.join(sorted(allowed))})"), False
        for button in (self.new_button, self.empty_new_button):
            button.setEnabled(ok)
            button.setToolTip(tip)

    # -- selection --------------------------------------------------------------------

    def selected_id(self) -> int | None:
        """The selected candidate's id, or ``None``."""
        rows = self.queue_view.selectionModel().selectedRows()
        if not rows:
            return None
        return rows[0].data(ModelRole.key)

    def selected_candidate(self) -> Any:
        candidate_id = self.selected_id()
        row = self.queue_model.row_of(candidate_id) if candidate_id is not None else -1
        return self.queue_model.candidate_at(row) if row >= 0 else None

    def select_candidate(self, candidate_id: int) -> bool:
        """Select candidate ``candidate_id`` if it is in the (filtered) queue."""
        row = self.queue_model.row_of(candidate_id)
        if row < 0:
            return False
        index = self.queue_proxy.mapFromSource(self.queue_model.index(row, 0))
        if not index.isValid():
            return False
        self.queue_view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.queue_view.scrollTo(index)
        return True

    def _on_status_box_changed(self, *_args: object) -> None:
        self.queue_proxy.set_statuses(tuple(self.status_box.currentData() or ()))
        if self.selected_id() is None:
            first = self.queue_proxy.index(0, 0)
            if first.isValid():
                self.select_candidate(first.data(ModelRole.key))
        self._show_selected()

    def _on_queue_selection_changed(self, *_args: object) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        candidate = self.selected_candidate()
        if candidate is None:
            self.detail = None
            self.detail_stack.setCurrentWidget(self.detail_empty)
            self._update_review(None)
            return
        self.detail_stack.setCurrentWidget(self.detail_page)
        if self.detail is None or self.detail.candidate.id != candidate.id:
            self._show_candidate(candidate)  # at once from the row; the rest follows
            self._update_review(None, "Checking whether you may review it…")
        self.load_detail(candidate.id)

    def load_detail(self, candidate_id: int) -> Any:
        """Read the comparison, timeline and review rights of a candidate (worker)."""
        self._detail_generation += 1
        generation = self._detail_generation

        def _on_done(detail: CandidateDetail) -> None:
            if generation != self._detail_generation or self.selected_id() != candidate_id:
                return
            self.detail = detail
            self.queue_model.update_candidate(detail.candidate)
            self._show_candidate(detail.candidate)
            self._show_comparison(detail)
            self.timeline_model.set_events(detail.timeline)
            self.timeline_view.resizeRowsToContents()
            self._update_review(detail)
            self.detail_loaded.emit(detail)

        return self.runner.call(read_detail, self.releases, self.workspace, candidate_id,
                                title=f"Loading candidate #{candidate_id}", on_done=_on_done)

    def _show_candidate(self, candidate: Any) -> None:
        self.detail_title.setText(f"{candidate.model} v{candidate.version}  ·  "
                                  f"candidate #{candidate.id}")
        colour = status_color(candidate.status)
        self.status_badge.setText(status_label(candidate.status))
        self.status_badge.setStyleSheet(
            f"color: white; background: {colour}; border-radius: 9px; padding: 1px 10px; "
            "font-weight: 600;")
        production = getattr(candidate, "production", None)
        parts = [f"registered by {candidate.author}"]
        opener = getattr(candidate, "created_by", candidate.author)
        parts.append(f"opened {format_timestamp(candidate.created_at)}"
                     + (f" by {opener}" if opener != candidate.author else ""))
        parts.append(f"production: {production}" if production else "nothing in production")
        parts.append(f"release {candidate.release_id}")
        self.detail_meta.setText("  ·  ".join(parts))
        self.detail_meta.setToolTip(f"manifest sha256 {candidate.manifest_sha256}")
        self.gates_view.set_gates(candidate.gates)
        failed = [g for g in candidate.gates if not g.passed]
        if not candidate.gates:
            note = "The gates have not run yet."
        elif failed:
            note = (f"{len(failed)} of {len(candidate.gates)} gates failed: fix what they say "
                    "and run the gates again, or open a candidate from a better version.")
        else:
            note = ("Every gate passed: the candidate waits for "
                    f"{candidate.required_approvals} signed approval"
                    f"{'s' if candidate.required_approvals != 1 else ''}.")
        self.gates_note.setText(note)
        self.approvals_text.setText(approvals_html(candidate.approvals))
        count, needed = valid_approvals(candidate), candidate.required_approvals
        if candidate.status == "rejected":
            state = " — rejected"
        elif count >= needed:
            state = " — enough to deploy"
        else:
            state = f" — {needed - count} more needed"
        self.approvals_label.setText(
            f"<b>{approvals_text(candidate)}</b> signed approval{'s' if needed != 1 else ''}"
            + state)
        self._update_gates_button(candidate)
        self._update_deploy_button(candidate)

    def _update_deploy_button(self, candidate: Any) -> None:
        deployable = candidate.status in ("approved", "deployed")
        may = self.workspace.identity.role in PERMISSIONS["deploy"]
        self.deploy_button.setEnabled(deployable and may)
        if not deployable:
            tip = (f"Only an approved candidate can be deployed; this one is "
                   f"{status_label(candidate.status)}")
        elif not may:
            tip = (f"Your role ({self.workspace.identity.role or 'none'}) may not deploy; "
                   "an admin does it on the Fleet page")
        else:
            tip = f"Open the deploy wizard on the Fleet page for {candidate.ref}"
        self.deploy_button.setToolTip(tip)

    def _on_deploy_button_clicked(self) -> None:
        candidate = self.selected_candidate()
        if candidate is not None:
            self.deploy_requested.emit(candidate.ref)

    def _update_gates_button(self, candidate: Any) -> None:
        running = candidate.id in self._busy or candidate.status == "gating"
        final = candidate.status not in GATEABLE
        if running:
            tip = "The gates are running"
        elif final:
            tip = (f"The candidate is {status_label(candidate.status)}: its gate results are "
                   "final (open a new candidate to gate the version again)")
        elif not self._may_release():
            tip = (f"Your role ({self.workspace.identity.role or 'none'}) may not run release "
                   "gates")
        else:
            tip = ("Run the QA gates again (after changing the policy, the model card or "
                   "production)")
        self.gates_button.setEnabled(not running and not final and self._may_release())
        self.gates_button.setToolTip(tip)

    def _may_release(self) -> bool:
        return self.workspace.identity.role in PERMISSIONS["release"]

    def _show_comparison(self, detail: CandidateDetail) -> None:
        comparison = detail.comparison
        if comparison is None:
            self.compare_note.setText(detail.comparison_error or
                                      "No comparison yet: run the gates.")
            self.metrics_model.set_rows([])
            self.drift_model.set_rows([])
            self.schema_note.setText("")
            self.schema_label.setText("")
            self.drift_note.setText("")
            self._fit_height(self.metrics_view)
            self._fit_height(self.drift_view)
            return
        production = comparison.production
        if production and production != comparison.candidate:
            self.compare_note.setText(
                f"{comparison.candidate} next to production {production}, as measured when "
                "the gates last ran: both scored on the candidate's holdout set.")
        else:
            self.compare_note.setText(
                "Nothing else is in production: there is nothing to compare with.")

        # The column titles name the versions, so each candidate gets its own model.
        old_model = self.metrics_model
        self.metrics_model = KeyValueTableModel(
            ("Metric", f"Production v{production.split(':')[-1]}" if production else
             "Production", f"Candidate v{detail.candidate.version}", "Change"), parent=self)
        rows, colours = [], {}
        for row, delta in enumerate(comparison.metrics):
            rows.append((metric_label(delta.name), format_number(delta.a),
                         format_number(delta.b), format_delta(delta.name, delta.delta)))
            colours[(row, 3)] = _QUALITY_COLOURS[delta_quality(delta.name, delta.delta)]
        self.metrics_model.set_rows(rows, colours)
        self.metrics_view.setModel(self.metrics_model)
        old_model.deleteLater()
        header = self.metrics_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self._fit_height(self.metrics_view)

        diff = comparison.schema
        kinds = [
            ("Added", LIGHT["success"], "clients must send them",
             [f"{c.name} ({c.dtype})" for c in diff.added]),
            ("Removed", LIGHT["danger"], "production's clients still send them",
             [f"{c.name} ({c.dtype})" for c in diff.removed]),
            ("Type changed", LIGHT["warning"], "",
             [f"{n} ({a} → {b})" for n, a, b in diff.retyped]),
            ("Nullability changed", LIGHT["text_muted"], "",
             [f"{n} ({'nullable' if a else 'required'} → {'nullable' if b else 'required'})"
              for n, a, b in getattr(diff, "nullability", ())]),
        ]
        lines = []
        for title, colour, why, names in kinds:
            if names:
                shown = ", ".join(names[:12]) + (f", … ({len(names) - 12} more)"
                                                 if len(names) > 12 else "")
                lines.append(f"<span style='color:{colour}; font-weight:600'>{title} "
                             f"({len(names)})</span>"
                             + (f" <span style='color:{LIGHT['text_muted']}'>— {why}</span>"
                                if why else "") + f": {html.escape(shown)}")
        changes = sum(len(k[3]) for k in kinds)
        self.schema_label.setText("<br>".join(lines))
        self.schema_label.setVisible(bool(lines))
        if not production or production == comparison.candidate:
            self.schema_note.setText("No production schema to compare with.")
        elif not changes:
            self.schema_note.setText("Same input columns with the same types as production.")
        elif diff.is_compatible:
            self.schema_note.setText(f"{changes} change{'s' if changes != 1 else ''}, "
                                     "compatible: production's clients can call the candidate "
                                     "unchanged.")
        else:
            self.schema_note.setText(f"{changes} change{'s' if changes != 1 else ''}, "
                                     "breaking: production's clients must change their "
                                     "requests.")

        rows, colours = [], {}
        drift = sorted(comparison.drift, key=lambda d: (not d.flagged, -(d.effect_size or 0)))
        for row, line in enumerate(drift):
            rows.append((line.name, line.status, line.effect_size, line.threshold))
            colours[(row, 1)] = LIGHT["danger"] if line.flagged else LIGHT["success"]
        self.drift_model.set_rows(rows, colours)
        header = self.drift_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self._fit_height(self.drift_view, max_rows=len(rows))
        self.drift_note.setText(comparison.drift_summary or (
            "No drift measured (nothing else in production, or the drift gate was "
            "skipped)."))

    # -- review -----------------------------------------------------------------------

    def _update_review(self, detail: CandidateDetail | None, waiting: str = "") -> None:
        if detail is None:
            reason = waiting or NO_SELECTION
            allowed = False
        else:
            allowed, reason = detail.review
            if not allowed and not reason:
                reason = "You may not review this candidate."
        busy = detail is not None and detail.candidate.id in self._busy
        if busy:
            allowed, reason = False, "Working on this candidate…"
        self._review_allowed = allowed
        self.approve_button.setEnabled(allowed)
        if allowed:
            self.approve_button.setToolTip("Approve the candidate: sign its manifest with your "
                                           "SSH key and record your comment")
            self._update_reject_button()
        else:
            self.reject_button.setEnabled(False)
            self.approve_button.setToolTip(reason)
            self.reject_button.setToolTip(reason)
        self.review_reason.setText(reason)
        self.review_reason.setVisible(not allowed and detail is not None and not busy)
        self.comment_edit.setEnabled(allowed)
        self.key_edit.setEnabled(allowed)
        self.browse_button.setEnabled(allowed)
        self._update_key_hint(detail)
        self.key_hint.setVisible(allowed)

    def _update_reject_button(self) -> None:
        if not self._review_allowed:
            return
        has_comment = bool(self.comment_edit.toPlainText().strip())
        self.reject_button.setEnabled(has_comment)
        self.reject_button.setToolTip(
            "Reject the candidate with your comment (signed like an approval when a key is "
            "at hand)" if has_comment else "Write a comment saying why, then reject")

    def _update_key_hint(self, detail: CandidateDetail | None = None) -> None:
        detail = detail or self.detail
        key = detail.public_key if detail is not None else None
        path = self.key_edit.text().strip()
        if detail is None:
            self.key_hint.setText("")
            return
        registered = (f"Registered for you: {key.split()[0]} …{key.split()[1][-12:]}"
                      if key and len(key.split()) > 1 else
                      "No SSH key is registered for you: an admin adds it with `modeldeck "
                      "users set-key`.")
        how = (f"Signs with {Path(path).name}." if path else
               "Signs with your ssh-agent's key.")
        self.key_hint.setText(f"{how} {registered}")

    def _on_key_edit_changed(self, _text: str) -> None:
        self._update_key_hint()
        path = self.key_edit.text().strip()
        bad = bool(path) and not Path(path).expanduser().is_file()
        set_style_property(self.key_edit, "invalid", "true" if bad else "false")
        if bad:
            self.key_hint.setText(f"No file at {path}.")

    def _on_browse_clicked(self) -> None:
        self.open_key_dialog()

    def open_key_dialog(self) -> QFileDialog:
        """Choose the private key file to sign with."""
        start = self.key_edit.text().strip() or str(Path.home() / ".ssh")
        dialog = QFileDialog(self, "Private key to sign with", start)
        dialog.setObjectName("signingKeyDialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setFilter(dialog.filter() | QDir.Filter.Hidden)
        dialog.fileSelected.connect(self.key_edit.setText)
        self._open_dialog(dialog)
        return dialog

    def signing_key(self) -> str | None:
        """The private key path to sign with, or ``None`` for the ssh-agent."""
        path = self.key_edit.text().strip()
        return str(Path(path).expanduser()) if path else None

    def approve(self) -> Any:
        """Approve the selected candidate with the comment, signing with the chosen key."""
        return self._review("approve")

    def reject(self) -> Any:
        """Reject the selected candidate with the comment (signed like an approval)."""
        return self._review("reject")

    def _review(self, decision: str) -> Any:
        candidate = self.selected_candidate()
        button = self.approve_button if decision == "approve" else self.reject_button
        if candidate is None or not button.isEnabled():
            return None
        comment = self.comment_edit.toPlainText().strip()
        key = self.signing_key()
        candidate_id = candidate.id
        self._set_busy(candidate_id, True)
        verb = "Approving" if decision == "approve" else "Rejecting"

        def _on_done(updated: Any) -> None:
            self._set_busy(candidate_id, False)
            self.comment_edit.clear()
            self.queue_model.update_candidate(updated)
            if decision == "approve":
                count, needed = valid_approvals(updated), updated.required_approvals
                more = ("it can be deployed" if count >= needed else
                        f"{needed - count} more approval{'s' if needed - count != 1 else ''} "
                        "needed")
                self.notifier.show_message(
                    f"You approved {updated.model} v{updated.version} (candidate "
                    f"#{updated.id}): {count} of {needed} signed approvals, {more}.",
                    "success", "deploy it from the Fleet page or with `modeldeck deploy`"
                    if count >= needed else None)
            else:
                self.notifier.show_message(
                    f"You rejected {updated.model} v{updated.version} (candidate "
                    f"#{updated.id}).", "info")
            self.candidate_changed.emit(updated)
            self.reload(select=candidate_id)

        def _on_failed(*_args: object) -> None:
            self._set_busy(candidate_id, False)
            self._show_selected()

        method = self.releases.approve if decision == "approve" else self.releases.reject
        return self.runner.call(method, candidate_id, comment=comment, key=key,
                                title=f"{verb} candidate #{candidate_id}", quiet=False,
                                on_done=_on_done, on_error=_on_failed)

    def _set_busy(self, candidate_id: int, busy: bool) -> None:
        if busy:
            self._busy.add(candidate_id)
        else:
            self._busy.discard(candidate_id)
        if self.selected_id() == candidate_id:
            self._update_review(self.detail)
            candidate = self.selected_candidate()
            if candidate is not None:
                self._update_gates_button(candidate)

    # -- creating and gating ---------------------------------------------------------

    def open_new_candidate_dialog(self, ref: str | None = None) -> Any:
        """Read the versions (worker), then open the New candidate dialog."""
        def _on_done(versions: list[VersionChoice]) -> None:
            if not versions:
                self.notifier.show_message("There is no model version to release yet.",
                                           "info", "register one on the Models page")
                return
            dialog = NewCandidateDialog(versions, self)
            open_refs = {c.ref for c in self.queue_model.candidates()}
            fresh = [v.ref for v in versions if v.ref not in open_refs]
            dialog.select(ref or (fresh[0] if fresh else versions[0].ref))
            dialog.accepted.connect(lambda: self.create(dialog.ref))
            self._open_dialog(dialog)

        return self.runner.call(read_versions, self.workspace, title="Reading model versions",
                                on_done=_on_done)

    def create(self, ref: str | None) -> Any:
        """Create a candidate from version ``ref`` and run its gates (worker, cancellable)."""
        if not ref:
            return None

        def _on_done(candidate: Any) -> None:
            self._announce_gates(candidate, created=True)
            self.candidate_changed.emit(candidate)
            self.reload(select=candidate.id)

        return self.runner.run(self.releases.create, ref,
                               title=f"Creating a release candidate of {ref}",
                               on_done=_on_done, on_cancelled=lambda: self.reload())

    def run_gates(self, candidate_id: int | None = None) -> Any:
        """Run the gates of a candidate (default: the selected one) again."""
        if candidate_id is None:
            candidate_id = self.selected_id()
        if candidate_id is None:
            return None
        self._set_busy(candidate_id, True)

        def _finish() -> None:
            self._set_busy(candidate_id, False)

        def _on_done(candidate: Any) -> None:
            _finish()
            self._announce_gates(candidate, created=False)
            self.candidate_changed.emit(candidate)
            self.reload(select=candidate.id)

        def _on_cancelled() -> None:
            _finish()
            self.reload(select=candidate_id)

        return self.runner.run(self.releases.run_gates, candidate_id,
                               title=f"Running the gates of candidate #{candidate_id}",
                               on_done=_on_done, on_error=lambda _e: _finish(),
                               on_cancelled=_on_cancelled)

    def _announce_gates(self, candidate: Any, *, created: bool) -> None:
        what = (f"Candidate #{candidate.id} ({candidate.model} v{candidate.version})"
                + (" created" if created else ""))
        failed = [g.name for g in candidate.gates if not g.passed]
        if failed:
            self.notifier.show_message(
                f"{what}: {len(failed)} gate{'s' if len(failed) != 1 else ''} failed "
                f"({', '.join(failed)}).", "warning",
                "read each gate's detail, fix it, then Run gates again")
        else:
            self.notifier.show_message(
                f"{what}: every gate passed; it waits for "
                f"{candidate.required_approvals} reviewer approval"
                f"{'s' if candidate.required_approvals != 1 else ''}.", "success")

    # -- dialogs ------------------------------------------------------------------------

    def _open_dialog(self, dialog: Any) -> None:
        self.active_dialog = dialog
        dialog.finished.connect(lambda _result: self._on_dialog_finished(dialog))
        dialog.open()

    def _on_dialog_finished(self, dialog: Any) -> None:
        if self.active_dialog is dialog:
            self.active_dialog = None
