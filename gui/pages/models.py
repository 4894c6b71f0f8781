"""The Models page: search the registry, inspect versions, compare, alias, register.

Everything shown comes from :class:`modeldeck.core.registry.Registry`; every call to it
runs through the window's :class:`~modeldeck.gui.tasks.TaskRunner`, so the page never
blocks on the database and every core error lands in the notification banner.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from modeldeck.core.errors import UntrustedTypesError
from modeldeck.core.registry import ModelCard, Registry
from modeldeck.gui.dialogs.alias import SetAliasDialog
from modeldeck.gui.dialogs.compare import CompareDialog
from modeldeck.gui.dialogs.register import RegisterDialog, RegisterRequest
from modeldeck.gui.item_models import (
    AliasBadgeDelegate,
    KeyValueTableModel,
    RegistryTableModel,
    SchemaTableModel,
    SortProxyModel,
    TwoLineDelegate,
    VersionsTableModel,
    format_number,
    format_size,
    format_timestamp,
    metric_label,
)
from modeldeck.gui.notifications import NotificationBanner
from modeldeck.gui.tasks import TaskRunner
from modeldeck.gui.theme import resource_path
from modeldeck.gui.widgets import alias_badge, make_table, muted_label, set_style_property

log = logging.getLogger(__name__)

CARD_FIELDS = (
    ("intended_use", "Intended use"),
    ("limitations", "Limitations"),
    ("owner", "Owner"),
    ("contact", "Contact"),
)


class _CardTab(QScrollArea):
    """The model card of a version, with the missing fields called out."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        body = QWidget(self)
        self.setWidget(body)
        self.missing_label = QLabel(body)
        self.missing_label.setObjectName("cardMissing")
        self.missing_label.setWordWrap(True)
        self.missing_label.setStyleSheet("color: #a15c00;")
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.setHorizontalSpacing(16)
        form.setVerticalSpacing(12)
        self.values: dict[str, QLabel] = {}
        for key, title in CARD_FIELDS:
            label = QLabel(title, body)
            label.setProperty("role", "fieldLabel")
            value = QLabel(body)
            value.setObjectName(f"card_{key}")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            self.values[key] = value
            form.addRow(label, value)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(12)
        layout.addWidget(self.missing_label)
        layout.addLayout(form)
        layout.addStretch(1)

    def show_card(self, card: ModelCard) -> None:
        missing = card.missing()
        for key, _title in CARD_FIELDS:
            text = getattr(card, key) or ""
            label = self.values[key]
            label.setText(text or "Not filled in")
            set_style_property(label, "role", "" if text else "hint")
        names = ", ".join(title.lower() for key, title in CARD_FIELDS if key in missing)
        self.missing_label.setText(
            f"Incomplete card: {names} missing. A release needs a complete card."
            if missing else "")
        self.missing_label.setVisible(bool(missing))


class _TableTab(QWidget):
    """A note above a table."""

    def __init__(self, model: Any, parent: QWidget | None = None, *,
                 stretch: int | None = None) -> None:
        super().__init__(parent)
        self.note = muted_label("", self)
        self.note.setObjectName("tabNote")
        self.view = make_table(self, model, stretch=stretch)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addWidget(self.note)
        layout.addWidget(self.view, 1)


class _LineageTab(QScrollArea):
    """Parent chain, data fingerprints and alias history of a version."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        body = QWidget(self)
        self.setWidget(body)
        self.chain_label = QLabel(body)
        self.chain_label.setObjectName("lineageChain")
        self.chain_label.setWordWrap(True)
        self.chain_label.setTextFormat(Qt.TextFormat.RichText)
        self.data_model = KeyValueTableModel(("Data set", "Rows", "Columns", "SHA-256"))
        self.data_view = make_table(body, self.data_model, stretch=3)
        self.history_model = KeyValueTableModel(("When", "Alias", "Change", "By"))
        self.history_view = make_table(body, self.history_model, stretch=2)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(8)
        for title, widget in (("Parent chain", self.chain_label),
                              ("Data fingerprints", self.data_view),
                              ("Alias history", self.history_view)):
            heading = QLabel(title, body)
            heading.setProperty("role", "sectionTitle")
            layout.addWidget(heading)
            layout.addWidget(widget)
            layout.addSpacing(6)
        layout.addStretch(1)

    def show_lineage(self, version: Any, versions: list[Any], history: list[Any]) -> None:
        by_ref = {info.ref: info for info in versions}
        chain, seen = [version], {version.ref}
        while chain[-1].parent and chain[-1].parent in by_ref and chain[-1].parent not in seen:
            seen.add(chain[-1].parent)
            chain.append(by_ref[chain[-1].parent])
        parts = [f"<b>{info.ref}</b>" if info is version else info.ref for info in chain]
        if chain[-1].parent and chain[-1].parent not in by_ref:
            parts.append(chain[-1].parent)
        text = "  ←  ".join(parts)
        if len(parts) == 1:
            text += "  <span style='color:#5d6a7a'>(first version: no parent)</span>"
        self.chain_label.setText(text)
        rows = []
        for key in ("reference", "holdout"):
            info = version.fingerprints.get(key)
            if info:
                rows.append((key.capitalize(), info.get("rows"), info.get("columns"),
                             info.get("sha256", "")))
        self.data_model.set_rows(rows)
        history_rows = []
        for event in history:
            if event.version is None:
                change = f"removed (was v{event.previous})"
            elif event.previous is None:
                change = f"set to v{event.version}"
            else:
                change = f"v{event.previous} → v{event.version}"
            history_rows.append((format_timestamp(event.at), event.alias, change, event.actor))
        self.history_model.set_rows(history_rows)
        for view, count in ((self.data_view, len(rows)), (self.history_view, len(history_rows))):
            view.resizeColumnsToContents()
            header = view.horizontalHeader().sizeHint().height()
            view.setFixedHeight(header + 32 * max(count, 1) + 4)
            view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)


class ModelsPage(QWidget):
    """Browse and manage the registry of one workspace.

    Parameters
    ----------
    workspace
        The open workspace.
    runner
        Runs every registry call off the GUI thread.
    notifier
        The window's notification surface.

    Signals
    -------
    model_loaded(str)
        The versions of the named model are on display.
    version_registered(object)
        A registration finished (the new ``VersionInfo``).
    alias_changed(object)
        An alias moved or was removed (the ``AliasEvent``).
    """

    model_loaded = Signal(str)
    version_registered = Signal(object)
    alias_changed = Signal(object)

    SEARCH_DELAY_MS = 250

    def __init__(self, workspace: Any, runner: TaskRunner, notifier: NotificationBanner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsPage")
        self.workspace = workspace
        self.registry = Registry(workspace)
        self.runner = runner
        self.notifier = notifier
        self.active_dialog: Any = None
        self.current_model: Any = None
        self._history: list[Any] = []
        self._details_generation = 0
        self._pending_select: tuple[str, int | None] | None = None
        self._last_request: RegisterRequest | None = None

        # -- header ---------------------------------------------------------
        title = QLabel("Models", self)
        title.setProperty("role", "pageTitle")
        self.count_label = muted_label("", self, wrap=False)
        self.count_label.setObjectName("modelCount")
        self.search_edit = QLineEdit(self)
        self.search_edit.setObjectName("searchBox")
        self.search_edit.setPlaceholderText("Search models by name, description, owner or tag")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.addAction(QIcon(str(resource_path("search.svg"))),
                                   QLineEdit.ActionPosition.LeadingPosition)
        self.search_edit.setMinimumWidth(280)
        self.register_button = QPushButton("Register model…", self)
        self.register_button.setObjectName("registerButton")
        self.register_button.setProperty("primary", True)
        self.register_button.setToolTip("Register a fitted model from files as a new version")
        header = QHBoxLayout()
        header.setSpacing(12)
        header.addWidget(title)
        header.addWidget(self.count_label, 0, Qt.AlignmentFlag.AlignBottom)
        header.addStretch(1)
        header.addWidget(self.search_edit, 2)
        header.addWidget(self.register_button)

        # -- model list -----------------------------------------------------
        self.list_model = RegistryTableModel(self.registry.search_models, runner, parent=self)
        self.list_proxy = SortProxyModel(self)
        self.list_proxy.setSourceModel(self.list_model)
        self.list_proxy.sort(RegistryTableModel.NAME, Qt.SortOrder.AscendingOrder)
        self.model_view = QListView(self)
        self.model_view.setObjectName("modelList")
        self.model_view.setModel(self.list_proxy)
        self.model_view.setModelColumn(RegistryTableModel.NAME)
        self.model_view.setItemDelegate(TwoLineDelegate(self.model_view))
        self.model_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.model_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.model_view.setUniformItemSizes(True)
        self.model_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list_empty = muted_label("", self)
        self.list_empty.setObjectName("listEmpty")
        self.list_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.list_stack = QStackedWidget(self)
        self.list_stack.addWidget(self.model_view)
        self.list_stack.addWidget(self.list_empty)
        self.list_stack.setMinimumWidth(240)

        # -- model header and versions ---------------------------------------
        self.model_title = QLabel(self)
        self.model_title.setObjectName("modelTitle")
        self.model_title.setProperty("role", "pageTitle")
        self.model_description = muted_label("", self)
        self.model_description.setObjectName("modelDescription")
        self.model_meta = muted_label("", self)
        self.model_meta.setObjectName("modelMeta")
        self.compare_button = QPushButton("Compare", self)
        self.compare_button.setObjectName("compareButton")
        self.alias_button = QPushButton("Set alias…", self)
        self.alias_button.setObjectName("aliasButton")
        self.alias_button.setToolTip("Point an alias such as staging or production at a version")
        self.remove_alias_button = QToolButton(self)
        self.remove_alias_button.setObjectName("removeAliasButton")
        self.remove_alias_button.setText("Remove alias")
        self.remove_alias_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.alias_menu = QMenu(self.remove_alias_button)
        self.remove_alias_button.setMenu(self.alias_menu)
        self.new_version_button = QPushButton("New version…", self)
        self.new_version_button.setObjectName("newVersionButton")
        self.new_version_button.setToolTip("Register the next version of this model")
        actions = QHBoxLayout()
        actions.setSpacing(8)
        for button in (self.compare_button, self.alias_button, self.remove_alias_button,
                       self.new_version_button):
            actions.addWidget(button)
        actions.addStretch(1)
        model_header = QVBoxLayout()
        model_header.setSpacing(2)
        model_header.addWidget(self.model_title)
        model_header.addWidget(self.model_description)
        model_header.addWidget(self.model_meta)
        model_header.addSpacing(8)
        model_header.addLayout(actions)

        self.versions_model = VersionsTableModel(parent=self)
        self.versions_proxy = SortProxyModel(self)
        self.versions_proxy.setSourceModel(self.versions_model)
        self.versions_view = make_table(
            self, self.versions_proxy,
            selection=QAbstractItemView.SelectionMode.ExtendedSelection)
        self.versions_view.setObjectName("versionsTable")
        self.versions_view.setSortingEnabled(True)
        self.versions_view.sortByColumn(VersionsTableModel.VERSION, Qt.SortOrder.DescendingOrder)
        self.versions_view.setItemDelegateForColumn(VersionsTableModel.ALIASES,
                                                    AliasBadgeDelegate(self.versions_view))
        self.versions_view.setMinimumHeight(130)

        # -- version detail ---------------------------------------------------
        self.version_title = QLabel(self)
        self.version_title.setObjectName("versionTitle")
        self.version_title.setProperty("role", "sectionTitle")
        self.version_badges = QHBoxLayout()
        self.version_badges.setSpacing(6)
        self.version_meta = muted_label("", self)
        self.version_meta.setObjectName("versionMeta")
        self.version_meta.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        title_row = QHBoxLayout()
        title_row.setSpacing(10)
        title_row.addWidget(self.version_title)
        title_row.addLayout(self.version_badges)
        title_row.addStretch(1)

        self.card_tab = _CardTab(self)
        self.schema_model = SchemaTableModel(parent=self)
        self.schema_tab = _TableTab(self.schema_model, self, stretch=3)
        self.metrics_model = KeyValueTableModel(("Metric", "Value"), parent=self)
        self.metrics_tab = _TableTab(self.metrics_model, self, stretch=1)
        self.environment_model = KeyValueTableModel(("Component", "Version"), parent=self)
        self.environment_tab = _TableTab(self.environment_model, self, stretch=1)
        self.lineage_tab = _LineageTab(self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("versionTabs")
        self.tabs.setDocumentMode(False)
        self.tabs.addTab(self.card_tab, "Model card")
        self.tabs.addTab(self.schema_tab, "Schema")
        self.tabs.addTab(self.metrics_tab, "Metrics")
        self.tabs.addTab(self.environment_tab, "Environment")
        self.tabs.addTab(self.lineage_tab, "Lineage")

        detail = QWidget(self)
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 4, 0, 0)
        detail_layout.setSpacing(6)
        detail_layout.addLayout(title_row)
        detail_layout.addWidget(self.version_meta)
        detail_layout.addWidget(self.tabs, 1)
        self.detail_stack = QStackedWidget(self)
        self.detail_empty = muted_label("Select a version to see its model card, schema, metrics, "
                                   "environment and lineage.", self)
        self.detail_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail_stack.addWidget(detail)
        self.detail_stack.addWidget(self.detail_empty)

        versions_box = QWidget(self)
        versions_layout = QVBoxLayout(versions_box)
        versions_layout.setContentsMargins(0, 0, 0, 0)
        versions_layout.setSpacing(10)
        versions_layout.addLayout(model_header)
        versions_layout.addWidget(self.versions_view, 1)

        self.right_splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.right_splitter.setObjectName("versionsSplitter")
        self.right_splitter.setChildrenCollapsible(False)
        self.right_splitter.addWidget(versions_box)
        self.right_splitter.addWidget(self.detail_stack)
        self.right_splitter.setStretchFactor(0, 2)
        self.right_splitter.setStretchFactor(1, 3)
        self.right_splitter.setSizes([330, 370])

        self.right_stack = QStackedWidget(self)
        self.right_empty = muted_label("Select a model to see its versions.", self)
        self.right_empty.setObjectName("rightEmpty")
        self.right_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.right_stack.addWidget(self.right_splitter)
        self.right_stack.addWidget(self.right_empty)
        self.right_stack.setCurrentWidget(self.right_empty)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("modelsSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.list_stack)
        self.splitter.addWidget(self.right_stack)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setSizes([264, 816])

        self.empty_state = self._build_empty_state()
        self.body_stack = QStackedWidget(self)
        self.body_stack.addWidget(self.splitter)
        self.body_stack.addWidget(self.empty_state)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(12)
        layout.addLayout(header)
        layout.addWidget(self.body_stack, 1)

        # -- wiring ---------------------------------------------------------
        self._search_timer = QTimer(self)
        self._search_timer.setObjectName("models-search-debounce")
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(self.SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._on_search_timer_timeout)
        self.search_edit.textChanged.connect(self._on_search_edit_text_changed)
        self.register_button.clicked.connect(self._on_register_button_clicked)
        self.new_version_button.clicked.connect(self._on_new_version_button_clicked)
        self.compare_button.clicked.connect(self._on_compare_button_clicked)
        self.alias_button.clicked.connect(self._on_alias_button_clicked)
        self.alias_menu.aboutToShow.connect(self._on_alias_menu_about_to_show)
        self.list_model.page_loaded.connect(self._on_list_model_page_loaded)
        self.list_model.loading_changed.connect(self._on_list_model_loading_changed)
        self.model_view.selectionModel().selectionChanged.connect(
            self._on_model_view_selection_changed)
        self.versions_view.selectionModel().selectionChanged.connect(
            self._on_versions_view_selection_changed)
        self._update_actions()
        self.list_model.set_query("")

    def _build_empty_state(self) -> QWidget:
        panel = QFrame(self)
        panel.setObjectName("emptyState")
        panel.setProperty("role", "card")
        icon = QLabel(panel)
        icon.setPixmap(QIcon(str(resource_path("modeldeck.svg"))).pixmap(56, 56))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("No models yet", panel)
        title.setProperty("role", "pageTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = muted_label(
            "Register a fitted scikit-learn model with its training data to start.\n"
            "To explore first, fill a workspace with two demo models:", panel, wrap=False)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        command = QLabel("modeldeck --workspace PATH demo", panel)
        command.setObjectName("demoCommand")
        command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        command.setStyleSheet("font-family: monospace; background: #f3f5f8; "
                              "border: 1px solid #dbe1e8; border-radius: 6px; padding: 4px 10px;")
        button = QPushButton("Register model…", panel)
        button.setObjectName("emptyRegisterButton")
        set_style_property(button, "primary", True)
        button.clicked.connect(self._on_register_button_clicked)
        layout = QVBoxLayout(panel)
        layout.addStretch(2)
        layout.addWidget(icon)
        layout.addSpacing(8)
        layout.addWidget(title)
        layout.addWidget(text, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(4)
        layout.addWidget(command, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(14)
        layout.addWidget(button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(3)
        return panel

    # -- state --------------------------------------------------------------

    def save_state(self, settings: QSettings) -> None:
        """Store splitter sizes (``settings`` is already in this page's group)."""
        settings.setValue("splitter", self.splitter.saveState())
        settings.setValue("versionsSplitter", self.right_splitter.saveState())

    def restore_state(self, settings: QSettings) -> None:
        """Restore what :meth:`save_state` stored."""
        for key, splitter in (("splitter", self.splitter),
                              ("versionsSplitter", self.right_splitter)):
            value = settings.value(key)
            if value is not None:
                splitter.restoreState(value)

    # -- queries ------------------------------------------------------------

    def selected_model_name(self) -> str | None:
        """The name of the model selected in the list."""
        rows = self.model_view.selectionModel().selectedIndexes()
        if not rows:
            return None
        return self.list_model.model_at(self.list_proxy.mapToSource(rows[0]).row()).name

    def selected_versions(self) -> list[Any]:
        """The selected versions, oldest first."""
        rows = self.versions_view.selectionModel().selectedRows()
        versions = [self.versions_model.version_at(self.versions_proxy.mapToSource(i).row())
                    for i in rows]
        return sorted(versions, key=lambda v: v.version)

    def current_version(self) -> Any:
        """The version the detail pane shows (the current row), or ``None``."""
        index = self.versions_view.selectionModel().currentIndex()
        if not index.isValid() or not self.versions_view.selectionModel().isRowSelected(
                index.row(), QModelIndex()):
            selected = self.selected_versions()
            return selected[-1] if selected else None
        return self.versions_model.version_at(self.versions_proxy.mapToSource(index).row())

    def select_model(self, name: str) -> bool:
        """Select model ``name`` in the list (when loaded); whether it was found."""
        row = self.list_model.row_of(name)
        if row < 0:
            return False
        index = self.list_proxy.mapFromSource(self.list_model.index(row, 0))
        self.model_view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.model_view.scrollTo(index)
        return True

    def select_versions(self, *numbers: int) -> None:
        """Select the given version numbers in the versions table."""
        selection = self.versions_view.selectionModel()
        selection.clearSelection()
        for position, number in enumerate(numbers):
            row = self.versions_model.row_of(number)
            if row < 0:
                continue
            index = self.versions_proxy.mapFromSource(self.versions_model.index(row, 0))
            flags = (QItemSelectionModel.SelectionFlag.Select
                     | QItemSelectionModel.SelectionFlag.Rows)
            if position == len(numbers) - 1:
                selection.setCurrentIndex(index, flags)
            else:
                selection.select(index, flags)

    # -- loading a model ----------------------------------------------------

    def _fetch_details(self, name: str) -> tuple[Any, list[Any], list[Any]]:
        # Runs in a worker thread: three registry reads, nothing else.
        return (self.registry.get_model(name), self.registry.list_versions(name),
                self.registry.alias_history(name))

    def load_model(self, name: str, select: tuple[int, ...] | None = None) -> None:
        """Load model ``name``'s versions and history into the right-hand side."""
        self._details_generation += 1
        generation = self._details_generation
        if select is None and self.current_model is not None and self.current_model.name == name:
            select = tuple(v.version for v in self.selected_versions())

        def _on_done(result: tuple[Any, list[Any], list[Any]]) -> None:
            if generation == self._details_generation:
                self._show_model(*result, select=select)

        self.runner.call(self._fetch_details, name, title=f"Loading {name}", on_done=_on_done)

    def _show_model(self, model: Any, versions: list[Any], history: list[Any], *,
                    select: tuple[int, ...] | None) -> None:
        self.current_model = model
        self._history = history
        self.list_model.update_model(model)
        self.model_title.setText(model.name)
        self.model_description.setText(model.description or "No description.")
        meta = [f"{model.version_count} version{'s' if model.version_count != 1 else ''}"]
        if model.owner:
            meta.append(f"owned by {model.owner}")
        if model.tags:
            meta.append("tags: " + ", ".join(model.tags))
        meta.append(f"created {format_timestamp(model.created_at)} by {model.created_by}")
        self.model_meta.setText("  ·  ".join(meta))
        self.versions_model.set_versions(versions)
        self._fit_versions_columns()
        self.right_stack.setCurrentWidget(self.right_splitter)
        if not select and versions:
            select = (max(v.version for v in versions),)
        self.select_versions(*(select or ()))
        self._show_version(self.current_version())
        self._update_actions()
        self.model_loaded.emit(model.name)

    def _fit_versions_columns(self) -> None:
        header = self.versions_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.versions_view.resizeColumnsToContents()
        header.setStretchLastSection(True)

    def _clear_model(self) -> None:
        self.current_model = None
        self._history = []
        self.versions_model.set_versions([])
        self.right_stack.setCurrentWidget(self.right_empty)
        self._update_actions()

    # -- the version detail ---------------------------------------------------

    def _show_version(self, version: Any) -> None:
        if version is None:
            self.detail_stack.setCurrentWidget(self.detail_empty)
            return
        self.detail_stack.setCurrentWidget(self.detail_stack.widget(0))
        self.version_title.setText(version.ref)
        while self.version_badges.count():
            item = self.version_badges.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for alias in version.aliases:
            self.version_badges.addWidget(alias_badge(alias, self))
        self.version_meta.setText(
            f"{version.estimator}  ·  {version.task}  ·  {version.artifact_format} "
            f"({format_size(version.artifact_size)})  ·  registered "
            f"{format_timestamp(version.created_at)} by {version.author}")
        self.card_tab.show_card(version.card)

        self.schema_model.set_schema(version.schema, version.target)
        target = f"; target column: {version.target}" if version.target else ""
        self.schema_tab.note.setText(
            f"{len(version.schema)} input columns, inferred from the reference data{target}.")
        self.schema_tab.view.resizeColumnToContents(0)

        metrics = [(metric_label(name), value) for name, value in version.metrics.items()
                   if name != "rows"]
        self.metrics_model.set_rows([(name, format_number(value)) for name, value in metrics])
        holdout = version.fingerprints.get("holdout") or {}
        rows = holdout.get("rows") or version.metrics.get("rows")
        self.metrics_tab.note.setText(
            f"Computed on {int(rows)} holdout rows at registration." if rows and metrics else
            "No metrics: this version was registered without holdout data.")
        self.metrics_tab.view.setColumnWidth(0, 220)

        self.environment_model.set_rows(sorted(version.environment.items()))
        self.environment_tab.note.setText(
            f"Recorded when {version.ref} was registered. Artifact sha256: "
            f"{version.artifact_sha256}")
        self.environment_tab.view.setColumnWidth(0, 220)

        self.lineage_tab.show_lineage(version, self.versions_model.versions(), self._history)

    # -- actions ------------------------------------------------------------

    def _update_actions(self) -> None:
        has_model = self.current_model is not None
        selected = self.selected_versions() if has_model else []
        self.compare_button.setEnabled(len(selected) == 2)
        self.compare_button.setToolTip(
            f"Compare {selected[0].ref} with {selected[1].ref}" if len(selected) == 2 else
            "Select two versions (Ctrl+click) to compare them")
        self.alias_button.setEnabled(has_model and bool(self.versions_model.rowCount()))
        self.remove_alias_button.setEnabled(has_model and bool(self.current_model.aliases))
        self.new_version_button.setEnabled(has_model)

    def _on_search_edit_text_changed(self, _text: str) -> None:
        self._search_timer.start()

    def _on_search_timer_timeout(self) -> None:
        self.list_model.set_query(self.search_edit.text().strip())

    def _on_list_model_loading_changed(self, loading: bool) -> None:
        if loading and self.list_model.rowCount() == 0:
            self.list_empty.setText("Loading models…")

    def _on_list_model_page_loaded(self) -> None:
        count = self.list_model.rowCount()
        more = "+" if self.list_model.canFetchMore() else ""
        query = self.list_model.query
        self.count_label.setText(f"{count}{more} model{'s' if count != 1 else ''}"
                                 + (f" matching “{query}”" if query else ""))
        empty_registry = count == 0 and not query
        self.body_stack.setCurrentWidget(self.empty_state if empty_registry else self.splitter)
        self.search_edit.setEnabled(not empty_registry)
        if count == 0:
            self.list_empty.setText(f"No model matches “{query}”.")
            self.list_stack.setCurrentWidget(self.list_empty)
        else:
            self.list_stack.setCurrentWidget(self.model_view)
        pending = self._pending_select
        if pending is not None and self.select_model(pending[0]):
            self._pending_select = None
            self.load_model(pending[0], select=(pending[1],) if pending[1] else None)
        elif self.selected_model_name() is not None:
            pass
        elif self.current_model is not None and self.select_model(self.current_model.name):
            pass
        elif count:
            self.model_view.selectionModel().setCurrentIndex(
                self.list_proxy.index(0, RegistryTableModel.NAME),
                QItemSelectionModel.SelectionFlag.ClearAndSelect)
        else:
            self._clear_model()

    def _on_model_view_selection_changed(self, *_args: object) -> None:
        name = self.selected_model_name()
        if name is None:
            return
        if self.current_model is None or self.current_model.name != name:
            self.load_model(name)

    def _on_versions_view_selection_changed(self, *_args: object) -> None:
        self._show_version(self.current_version())
        self._update_actions()

    # compare

    def _on_compare_button_clicked(self) -> None:
        selected = self.selected_versions()
        if len(selected) != 2:
            return
        a, b = selected
        self.runner.call(self.registry.compare, a.ref, b.ref,
                         title=f"Comparing {a.ref} and {b.ref}",
                         on_done=self._on_compare_finished)

    def _on_compare_finished(self, comparison: Any) -> None:
        dialog = CompareDialog(comparison, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._open_dialog(dialog)

    # aliases

    def _on_alias_button_clicked(self) -> None:
        if self.current_model is None:
            return
        current = self.current_version()
        dialog = SetAliasDialog(self.current_model, self.versions_model.versions(),
                                current.version if current is not None else None, self)
        dialog.accepted.connect(lambda: self._set_alias(dialog.ref, dialog.alias))
        self._open_dialog(dialog)

    def _on_alias_menu_about_to_show(self) -> None:
        self.alias_menu.clear()
        model = self.current_model
        if model is None or not model.aliases:
            action = QAction("No aliases to remove", self.alias_menu)
            action.setEnabled(False)
            self.alias_menu.addAction(action)
            return
        for alias, version in sorted(model.aliases.items()):
            action = QAction(f"Remove “{alias}” (on v{version})", self.alias_menu)
            action.setData(alias)
            action.triggered.connect(lambda _checked=False, a=alias: self.remove_alias(a))
            self.alias_menu.addAction(action)

    def _set_alias(self, ref: str, alias: str) -> None:
        self.runner.call(self.registry.set_alias, ref, alias,
                         title=f"Setting {alias} on {ref}", on_done=self._on_alias_task_finished)

    def remove_alias(self, alias: str) -> None:
        """Remove ``alias`` of the current model (through core, audited)."""
        if self.current_model is None:
            return
        self.runner.call(self.registry.remove_alias, self.current_model.name, alias,
                         title=f"Removing {alias}", on_done=self._on_alias_task_finished)

    def _on_alias_task_finished(self, event: Any) -> None:
        if event.version is None:
            text = f"Removed alias “{event.alias}” from {event.model}:{event.previous}."
        elif event.previous is None:
            text = f"“{event.alias}” now points to {event.model}:{event.version}."
        else:
            text = (f"“{event.alias}” moved from {event.model}:{event.previous} "
                    f"to {event.model}:{event.version}.")
        self.notifier.show_message(text, "success")
        self.alias_changed.emit(event)
        if self.current_model is not None and self.current_model.name == event.model:
            self.load_model(event.model)

    # register

    def _on_register_button_clicked(self) -> None:
        self.open_register_dialog(name=self.selected_model_name() or "")

    def _on_new_version_button_clicked(self) -> None:
        if self.current_model is not None:
            self.open_register_dialog(name=self.current_model.name)

    def open_register_dialog(self, *, name: str = "", request: RegisterRequest | None = None,
                             untrusted_types: tuple[str, ...] = ()) -> RegisterDialog:
        """Open the register dialog (prefilled from ``request`` when retrying)."""
        card = None
        versions = self.versions_model.versions()
        if request is None and self.current_model is not None and name == self.current_model.name \
                and versions:
            card = max(versions, key=lambda v: v.version).card
        names = [self.list_model.model_at(row).name for row in range(self.list_model.rowCount())]
        dialog = RegisterDialog(names, name=name, card=card, request=request,
                                untrusted_types=untrusted_types, parent=self)
        dialog.accepted.connect(lambda: self.register(dialog.request))
        self._open_dialog(dialog)
        return dialog

    def register(self, request: RegisterRequest | None) -> None:
        """Run ``Registry.register`` for ``request`` in the background."""
        if request is None:
            return
        self._last_request = request
        args, kwargs = request.register_args()
        self.runner.run(self.registry.register, *args, **kwargs,
                        title=f"Registering {request.name}",
                        on_done=self._on_register_finished,
                        on_error=lambda exc: self._on_register_errored(request, exc),
                        notify_errors=False)

    def _on_register_finished(self, version: Any) -> None:
        self._last_request = None
        self.notifier.show_message(
            f"Registered {version.ref} ({version.estimator}).", "success")
        self.version_registered.emit(version)
        self._pending_select = (version.model, version.version)
        if self.current_model is not None and self.current_model.name == version.model:
            self._details_generation += 1  # the refresh below reloads it
        self.current_model = None
        self.model_view.selectionModel().clearSelection()
        self.list_model.refresh()

    def _on_register_errored(self, request: RegisterRequest, exc: BaseException) -> None:
        if isinstance(exc, UntrustedTypesError):
            types = tuple(exc.types)
            self.notifier.show_error(
                exc, action_text="Review types…",
                action=lambda: self.open_register_dialog(request=request,
                                                         untrusted_types=types))
        else:
            self.notifier.show_error(
                exc, action_text="Edit and retry",
                action=lambda: self.open_register_dialog(request=request))

    # dialogs

    def _open_dialog(self, dialog: Any) -> None:
        self.active_dialog = dialog
        dialog.finished.connect(lambda _result: self._on_dialog_finished(dialog))
        dialog.open()

    def _on_dialog_finished(self, dialog: Any) -> None:
        if self.active_dialog is dialog:
            self.active_dialog = None
