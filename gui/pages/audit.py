"""The Audit page: the workspace's hash-chained audit log, filtered, with its chain status.

Every change ModelDeck makes appends one row to an append-only log whose rows are
hash-chained (:mod:`modeldeck.core.workspace.audit`). This page reads it through the
workspace (``audit_log`` with core's filters: exact actor, action prefix, subject — a
model matches its versions and aliases too) and checks the chain (``verify_audit``), both
in a worker; it never runs SQL itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QIcon, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from modeldeck.gui.item_models import SortProxyModel
from modeldeck.gui.notifications import NotificationBanner
from modeldeck.gui.release_models import AuditTableModel, payload_text
from modeldeck.gui.tasks import TaskRunner
from modeldeck.gui.theme import LIGHT, resource_path
from modeldeck.gui.widgets import make_table, muted_label

log = logging.getLogger(__name__)

#: The most rows the table shows at once (newest first); filters narrow further.
ROW_LIMIT = 5000

ALL_ACTORS = "All actors"
ALL_ACTIONS = "All actions"


@dataclass(frozen=True)
class AuditFilters:
    """What the table is narrowed to (``""``: no filter)."""

    actor: str = ""
    action: str = ""
    subject: str = ""

    @property
    def active(self) -> bool:
        return bool(self.actor or self.action or self.subject)


@dataclass(frozen=True)
class AuditSnapshot:
    """What one read of the log returned.

    Attributes
    ----------
    entries
        The rows matching the filters, newest first (at most :data:`ROW_LIMIT`).
    verification
        The chain check of the whole log (``AuditVerification``).
    total
        How many rows the whole log has.
    actors, actions
        Every actor and every action in the log (for the filter lists), sorted.
    """

    filters: AuditFilters
    entries: list[Any]
    verification: Any
    total: int
    actors: list[str]
    actions: list[str]


def read_audit(workspace: Any, filters: AuditFilters, limit: int = ROW_LIMIT) -> AuditSnapshot:
    """Read the log through core and verify its chain (runs in a worker)."""
    everything = workspace.audit_log(limit=None)
    entries = workspace.audit_log(limit=limit, actor=filters.actor or None,
                                  action=filters.action or None,
                                  subject=filters.subject or None)
    verification = workspace.verify_audit()
    actors = sorted({e.actor for e in everything})
    actions = sorted({e.action for e in everything})
    return AuditSnapshot(filters, entries, verification, len(everything), actors, actions)


def action_choices(actions: list[str]) -> list[tuple[str, str]]:
    """The action filter's (label, prefix) items: each family, then its actions.

    ``release`` matches every ``release.*`` action (core filters actions by prefix).
    """
    families: dict[str, list[str]] = {}
    for action in actions:
        families.setdefault(action.split(".", 1)[0], []).append(action)
    items: list[tuple[str, str]] = []
    for family, names in sorted(families.items()):
        if len(names) > 1 or names[0] != family:
            items.append((f"{family}.*", family))
        items.extend((f"    {name}", name) for name in names)
    return items


class ChainStatusCard(QFrame):
    """The strip saying whether the audit log's hash chain checks out."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chainStatus")
        self.icon = QLabel(self)
        self.icon.setObjectName("chainIcon")
        self.icon.setFixedSize(26, 26)
        self.icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel(self)
        self.title.setObjectName("chainTitle")
        self.detail = QLabel(self)
        self.detail.setObjectName("chainDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.show_button = QPushButton(self)
        self.show_button.setObjectName("showBrokenEntryButton")
        self.copy_button = QPushButton("Copy head hash", self)
        self.copy_button.setObjectName("copyHeadButton")
        self.copy_button.setToolTip(
            "Keep the head hash somewhere else and check it later with `modeldeck audit "
            "verify --expect-head HASH`: that also catches rows deleted from the end")
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.title)
        text.addWidget(self.detail)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(12)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addLayout(text, 1)
        layout.addWidget(self.show_button, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.head_hash = ""
        self.set_state("checking", "Checking the hash chain…", "")

    def set_state(self, state: str, title: str, detail: str) -> None:
        """Show ``state`` (``verified``, ``broken`` or ``checking``) with its text."""
        fg, bg, mark = {
            "verified": (LIGHT["success"], LIGHT["success_soft"], "✓"),
            "broken": (LIGHT["danger"], LIGHT["danger_soft"], "!"),
        }.get(state, (LIGHT["text_muted"], LIGHT["surface_alt"], "…"))
        self.setProperty("state", state)
        self.setStyleSheet(
            f"QFrame#chainStatus {{ background: {bg}; border: 1px solid {fg}; "
            f"border-radius: 8px; }}"
            f"QLabel#chainIcon {{ background: {fg}; color: white; border-radius: 13px; "
            f"font-weight: 700; font-size: 12pt; }}"
            f"QLabel#chainTitle {{ color: {fg}; font-weight: 600; font-size: 11pt; }}")
        self.icon.setText(mark)
        self.title.setText(title)
        self.detail.setText(detail)
        self.detail.setVisible(bool(detail))


class AuditPage(QWidget):
    """The audit log of one workspace.

    Parameters
    ----------
    workspace
        The open workspace.
    runner
        Runs the reads off the GUI thread.
    notifier
        The window's notification surface.

    Signals
    -------
    loaded(object)
        The table was refilled with this :class:`AuditSnapshot`.
    """

    loaded = Signal(object)

    def __init__(self, workspace: Any, runner: TaskRunner, notifier: NotificationBanner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("auditPage")
        self.workspace = workspace
        self.runner = runner
        self.notifier = notifier
        self.snapshot: AuditSnapshot | None = None
        self._loaded = False
        self._generation = 0
        self._pending_select: int | None = None

        # -- header -----------------------------------------------------------------
        title = QLabel("Audit", self)
        title.setProperty("role", "pageTitle")
        self.count_label = muted_label("", self, wrap=False)
        self.count_label.setObjectName("auditCount")
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setObjectName("refreshAuditButton")
        self.refresh_button.setToolTip("Read the log again and re-check its hash chain")
        header = QHBoxLayout()
        header.setSpacing(10)
        header.addWidget(title)
        header.addWidget(self.count_label, 0, Qt.AlignmentFlag.AlignBottom)
        header.addStretch(1)
        header.addWidget(self.refresh_button)

        self.chain_card = ChainStatusCard(self)

        # -- filters ------------------------------------------------------------------
        self.actor_box = QComboBox(self)
        self.actor_box.setObjectName("actorFilter")
        self.actor_box.setMinimumWidth(110)
        self.actor_box.setToolTip("Only rows by this user")
        self.actor_box.addItem(ALL_ACTORS, "")
        self.action_box = QComboBox(self)
        self.action_box.setObjectName("actionFilter")
        self.action_box.setMinimumWidth(150)
        self.action_box.setToolTip("Only these actions (a family such as release.* "
                                   "matches all of its actions)")
        self.action_box.addItem(ALL_ACTIONS, "")
        self.subject_edit = QLineEdit(self)
        self.subject_edit.setObjectName("subjectFilter")
        self.subject_edit.setPlaceholderText("Subject: a model, a version "
                                             "(breast-cancer:2), a user or a host")
        self.subject_edit.setToolTip("Only rows about this subject; a model name matches "
                                     "its versions and aliases too")
        self.subject_edit.setClearButtonEnabled(True)
        self.subject_edit.addAction(QIcon(str(resource_path("search.svg"))),
                                    QLineEdit.ActionPosition.LeadingPosition)
        self.subject_edit.setMinimumWidth(150)
        self.clear_button = QPushButton("Clear filters", self)
        self.clear_button.setObjectName("clearFiltersButton")
        filters = QHBoxLayout()
        filters.setSpacing(8)
        for text, widget in (("Actor", self.actor_box), ("Action", self.action_box)):
            label = QLabel(text, self)
            label.setProperty("role", "fieldLabel")
            filters.addWidget(label)
            filters.addWidget(widget)
            filters.addSpacing(6)
        filters.addWidget(self.subject_edit, 1)
        filters.addWidget(self.clear_button)

        # -- table and detail ---------------------------------------------------------
        self.model = AuditTableModel(self)
        self.proxy = SortProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.view = make_table(self, self.proxy, stretch=AuditTableModel.DETAILS)
        self.view.setObjectName("auditTable")
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(AuditTableModel.SEQ, Qt.SortOrder.DescendingOrder)
        self.view.verticalHeader().setDefaultSectionSize(30)
        for column, width in ((AuditTableModel.SEQ, 64), (AuditTableModel.TIME, 150),
                              (AuditTableModel.ACTOR, 90), (AuditTableModel.ROLE, 115),
                              (AuditTableModel.ACTION, 170), (AuditTableModel.SUBJECT, 215)):
            self.view.setColumnWidth(column, width)
        self.empty_label = muted_label("", self)
        self.empty_label.setObjectName("auditEmpty")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.table_stack = QStackedWidget(self)
        self.table_stack.addWidget(self.view)
        self.table_stack.addWidget(self.empty_label)

        self.detail_title = QLabel(self)
        self.detail_title.setObjectName("entryTitle")
        self.detail_title.setProperty("role", "sectionTitle")
        self.detail_meta = muted_label("", self)
        self.detail_meta.setObjectName("entryMeta")
        self.detail_meta.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.payload_view = QPlainTextEdit(self)
        self.payload_view.setObjectName("entryPayload")
        self.payload_view.setReadOnly(True)
        self.payload_view.setStyleSheet("font-family: monospace;")
        detail = QFrame(self)
        detail.setProperty("role", "card")
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(12, 10, 12, 10)
        detail_layout.setSpacing(4)
        detail_layout.addWidget(self.detail_title)
        detail_layout.addWidget(self.detail_meta)
        detail_layout.addWidget(self.payload_view, 1)
        self.detail = detail
        self.detail.hide()

        table_box = QWidget(self)
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addWidget(self.table_stack)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("auditSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(table_box)
        self.splitter.addWidget(detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([460, 190])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addLayout(header)
        layout.addWidget(self.chain_card)
        layout.addLayout(filters)
        layout.addWidget(self.splitter, 1)

        # -- wiring -------------------------------------------------------------------
        self._filter_timer = QTimer(self)
        self._filter_timer.setObjectName("audit-filter-debounce")
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(250)
        self._filter_timer.timeout.connect(self._on_filter_timer_timeout)
        self.subject_edit.textChanged.connect(lambda _t: self._filter_timer.start())
        self.actor_box.currentIndexChanged.connect(self._on_filter_box_changed)
        self.action_box.currentIndexChanged.connect(self._on_filter_box_changed)
        self.clear_button.clicked.connect(self.clear_filters)
        self.refresh_button.clicked.connect(lambda: self.refresh())
        self.chain_card.show_button.clicked.connect(self._on_show_broken_clicked)
        self.chain_card.copy_button.clicked.connect(self._on_copy_head_clicked)
        self.view.selectionModel().selectionChanged.connect(self._on_view_selection_changed)
        self.refresh()

    # -- state ------------------------------------------------------------------

    def save_state(self, settings: QSettings) -> None:
        """Store the splitter and the table header (``settings``: this page's group)."""
        settings.setValue("splitter", self.splitter.saveState())
        settings.setValue("auditHeader", self.view.horizontalHeader().saveState())

    def restore_state(self, settings: QSettings) -> None:
        """Restore what :meth:`save_state` stored."""
        value = settings.value("splitter")
        if value is not None:
            self.splitter.restoreState(value)
        value = settings.value("auditHeader")
        if value is not None:
            self.view.horizontalHeader().restoreState(value)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        # Other pages append rows while this one is hidden: read again when shown.
        super().showEvent(event)
        if self._loaded:
            self.refresh()

    # -- filters ----------------------------------------------------------------

    def filters(self) -> AuditFilters:
        """The filters set in the page."""
        return AuditFilters(actor=self.actor_box.currentData() or "",
                            action=self.action_box.currentData() or "",
                            subject=self.subject_edit.text().strip())

    def set_filters(self, actor: str = "", action: str = "", subject: str = "") -> None:
        """Set the filters (an actor or action not in the lists is added) and reload."""
        for box, value in ((self.actor_box, actor), (self.action_box, action)):
            box.blockSignals(True)
            if value and box.findData(value) < 0:
                box.addItem(value, value)
            box.setCurrentIndex(max(0, box.findData(value)))
            box.blockSignals(False)
        self.subject_edit.blockSignals(True)
        self.subject_edit.setText(subject)
        self.subject_edit.blockSignals(False)
        self.refresh()

    def clear_filters(self) -> None:
        """Show the whole log again."""
        self.set_filters()

    def _on_filter_box_changed(self, *_args: object) -> None:
        self.refresh()

    def _on_filter_timer_timeout(self) -> None:
        self.refresh()

    # -- loading ----------------------------------------------------------------

    def refresh(self) -> Any:
        """Read the log with the current filters and verify its chain, in a worker.

        Returns the :class:`~modeldeck.gui.tasks.Task`.
        """
        self._filter_timer.stop()
        self._generation += 1
        generation = self._generation
        self.refresh_button.setEnabled(False)

        def _on_done(snapshot: AuditSnapshot) -> None:
            if generation == self._generation:
                self._show_snapshot(snapshot)

        def _on_error(_exc: BaseException) -> None:
            self.refresh_button.setEnabled(True)

        return self.runner.call(read_audit, self.workspace, self.filters(),
                                title="Reading the audit log", on_done=_on_done,
                                on_error=_on_error)

    def _show_snapshot(self, snapshot: AuditSnapshot) -> None:
        self.snapshot = snapshot
        self.refresh_button.setEnabled(True)
        selected = self.selected_seq()
        self._fill_filter_lists(snapshot)
        self.model.set_entries(snapshot.entries, snapshot.verification)
        self._show_chain(snapshot)
        shown, total = len(snapshot.entries), snapshot.total
        if snapshot.filters.active:
            text = f"{shown} of {total} entries match"
        else:
            text = f"{total} entr{'ies' if total != 1 else 'y'}"
        if shown >= ROW_LIMIT:
            text += f"  ·  the {ROW_LIMIT} newest shown"
        self.count_label.setText(text)
        if snapshot.entries:
            self.table_stack.setCurrentWidget(self.view)
        else:
            self.empty_label.setText(
                "No entry matches these filters." if snapshot.filters.active else
                "The audit log is empty: every change made in this workspace will be "
                "recorded here.")
            self.table_stack.setCurrentWidget(self.empty_label)
        pending, self._pending_select = self._pending_select, None
        wanted = pending if pending is not None else selected
        if wanted is not None and self.model.row_of(wanted) >= 0:
            self.select_seq(wanted)
        elif snapshot.entries:
            self.view.selectRow(0)
        self._show_selected_entry()
        self._loaded = True
        self.loaded.emit(snapshot)

    def _fill_filter_lists(self, snapshot: AuditSnapshot) -> None:
        actors = snapshot.actors
        current = self.actor_box.currentData() or ""
        self.actor_box.blockSignals(True)
        self.actor_box.clear()
        self.actor_box.addItem(ALL_ACTORS, "")
        for actor in actors:
            self.actor_box.addItem(actor, actor)
        if current and self.actor_box.findData(current) < 0:
            self.actor_box.addItem(current, current)
        self.actor_box.setCurrentIndex(max(0, self.actor_box.findData(current)))
        self.actor_box.blockSignals(False)

        current = self.action_box.currentData() or ""
        self.action_box.blockSignals(True)
        self.action_box.clear()
        self.action_box.addItem(ALL_ACTIONS, "")
        for label, value in action_choices(snapshot.actions):
            self.action_box.addItem(label, value)
        if current and self.action_box.findData(current) < 0:
            self.action_box.addItem(current, current)
        self.action_box.setCurrentIndex(max(0, self.action_box.findData(current)))
        self.action_box.blockSignals(False)

    def _show_chain(self, snapshot: AuditSnapshot) -> None:
        check = snapshot.verification
        card = self.chain_card
        card.head_hash = check.head_hash if check.ok else ""
        if check.ok:
            rows = check.rows_checked
            card.set_state(
                "verified", f"Hash chain verified: all {rows} entr{'ies' if rows != 1 else 'y'}"
                            " check out",
                f"No entry was edited, reordered or deleted. Head: entry {check.head_seq}, "
                f"hash {check.head_hash[:16]}…" if rows else
                "The log is empty; its first entry will start the chain.")
            card.show_button.hide()
            card.copy_button.setVisible(bool(rows))
        else:
            bad = check.first_bad_seq
            good = (f"Entries 1 to {bad - 1} check out." if bad and bad > 1 else
                    "No entry checks out.")
            card.set_state(
                "broken", f"Hash chain broken at entry {bad}",
                f"{check.problem[:1].upper()}{check.problem[1:]}. {good} Restore modeldeck.db "
                "from a backup and find out who edited it.")
            card.show_button.setText(f"Show entry {bad}")
            card.show_button.setVisible(bad is not None)
            card.copy_button.hide()

    def chain_status_text(self) -> str:
        """The chain status title on display (for tests and screen readers)."""
        return self.chain_card.title.text()

    # -- selection --------------------------------------------------------------

    def selected_seq(self) -> int | None:
        """The ``seq`` of the selected entry, or ``None``."""
        rows = self.view.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.entry_at(self.proxy.mapToSource(rows[0]).row()).seq

    def select_seq(self, seq: int) -> bool:
        """Select entry ``seq`` if it is shown; whether it is."""
        row = self.model.row_of(seq)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            return False
        self.view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.view.scrollTo(index)
        return True

    def _on_view_selection_changed(self, *_args: object) -> None:
        self._show_selected_entry()

    def _show_selected_entry(self) -> None:
        seq = self.selected_seq()
        row = self.model.row_of(seq) if seq is not None else -1
        if row < 0:
            self.detail.hide()
            return
        entry = self.model.entry_at(row)
        state = self.model.chain_state(entry)
        self.detail_title.setText(f"Entry {entry.seq}  ·  {entry.action}  ·  {entry.subject}")
        who = f"{entry.actor} ({entry.role})" if entry.role else f"{entry.actor} (unregistered)"
        chain = {"verified": "chain verified", "broken": "the chain breaks here",
                 "unchecked": "not verifiable (the chain breaks before it)"}.get(state, "")
        self.detail_meta.setText(f"{entry.at}  ·  by {who}  ·  {chain}  ·  hash "
                                 f"{entry.hash[:16]}…  ·  previous {entry.prev_hash[:16]}…")
        self.detail_meta.setToolTip(f"hash {entry.hash}\nprevious {entry.prev_hash}")
        self.payload_view.setPlainText(payload_text(entry.payload))
        self.detail.show()

    def _on_show_broken_clicked(self) -> None:
        check = self.snapshot.verification if self.snapshot is not None else None
        if check is None or check.first_bad_seq is None:
            return
        if not self.select_seq(check.first_bad_seq):
            # Filtered out: show the whole log, then select it.
            self._pending_select = check.first_bad_seq
            self.clear_filters()

    def _on_copy_head_clicked(self) -> None:
        if self.chain_card.head_hash:
            QGuiApplication.clipboard().setText(self.chain_card.head_hash)
            self.notifier.show_message("Head hash copied.", "success",
                                       "check the log against it later with `modeldeck audit "
                                       "verify --expect-head HASH`")
