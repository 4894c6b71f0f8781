"""The main window: header, sidebar of pages, notification banner and task status bar."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QCloseEvent, QIcon
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QSplitter,
    QStackedWidget,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from modeldeck.gui import standarddir
from modeldeck.gui.notifications import NotificationBanner
from modeldeck.gui.tasks import TaskRunner, TaskStatusWidget
from modeldeck.gui.theme import resource_path

log = logging.getLogger(__name__)

NOT_REGISTERED = "not registered"


@dataclass(frozen=True)
class PageEntry:
    """A sidebar entry.

    Attributes
    ----------
    key
        Stable identifier (``"models"``), used for state and tests.
    title
        The label in the sidebar.
    icon
        The resource file of its icon.
    coming_with
        For a page not built yet: the sentence naming the capability that brings it.
    """

    key: str
    title: str
    icon: str
    coming_with: str | None = None


PAGES: tuple[PageEntry, ...] = (
    PageEntry("models", "Models", "page-models.svg"),
    PageEntry("drift", "Drift", "page-drift.svg"),
    PageEntry("fleet", "Fleet", "page-fleet.svg"),
    PageEntry("releases", "Releases", "page-releases.svg"),
    PageEntry("audit", "Audit", "page-audit.svg"),
)


def open_state() -> QSettings:
    """The GUI state file (``state.ini``), at :func:`standarddir.state_path`."""
    path = standarddir.state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(path), QSettings.Format.IniFormat)


def describe_identity(workspace: Any) -> tuple[str, str, bool]:
    """The (user name, role text, registered) shown in the header."""
    identity = workspace.identity
    name = str(getattr(identity, "name", "") or "unknown user")
    role = getattr(identity, "role", None)
    return name, (str(role) if role else NOT_REGISTERED), bool(role)


class HeaderBar(QFrame):
    """The strip above the pages: product name, workspace path, user and role."""

    def __init__(self, workspace: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("header")
        logo = QLabel(self)
        logo.setPixmap(QIcon(str(resource_path("modeldeck.svg"))).pixmap(QSize(26, 26)))
        name = QLabel("ModelDeck", self)
        name.setObjectName("appName")
        self.workspace_label = QLabel(self)
        self.workspace_label.setObjectName("workspacePath")
        self.workspace_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.user_label = QLabel(self)
        self.user_label.setObjectName("userChip")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 10, 16, 10)
        layout.setSpacing(10)
        layout.addWidget(logo)
        layout.addWidget(name)
        separator = QLabel("·", self)
        separator.setProperty("role", "muted")
        layout.addWidget(separator)
        layout.addWidget(self.workspace_label, 1)
        layout.addWidget(self.user_label)
        self.set_workspace(workspace)

    def set_workspace(self, workspace: Any) -> None:
        """Show ``workspace``'s path and the acting user."""
        path = str(workspace.path)
        self.workspace_label.setText(f"Workspace  {path}")
        self.workspace_label.setToolTip(path)
        user, role, registered = describe_identity(workspace)
        self.user_label.setText(f"{user}  ·  {role}")
        self.user_label.setProperty("registered", "true" if registered else "false")
        self.user_label.setToolTip(
            f"Acting as {user} with role {role}" if registered else
            f"{user} is not registered in this workspace: actions that need a role "
            "(register, set alias, approve) are refused by core"
        )
        self.user_label.style().unpolish(self.user_label)
        self.user_label.style().polish(self.user_label)


class MainWindow(QMainWindow):
    """The ModelDeck main window on one open workspace.

    Parameters
    ----------
    workspace
        An open :class:`modeldeck.core.workspace.Workspace`; the window does not close
        it (whoever opened it does).

    Attributes
    ----------
    runner
        The :class:`TaskRunner` every page uses for core operations.
    banner
        The one notification surface of the window.
    """

    DEFAULT_SIZE = QSize(1280, 800)

    def __init__(self, workspace: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.setWindowTitle(f"ModelDeck — {workspace.path}")
        self.setWindowIcon(QIcon(str(resource_path("modeldeck.svg"))))
        self.setMinimumSize(QSize(960, 600))
        self.resize(self.DEFAULT_SIZE)

        self.banner = NotificationBanner(self)
        self.runner = TaskRunner(self.banner, self)

        self.header = HeaderBar(workspace, self)
        self.sidebar = QListWidget(self)
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setIconSize(QSize(18, 18))
        self.sidebar.setMinimumWidth(150)
        self.sidebar.setMaximumWidth(260)
        self.sidebar.setFrameShape(QFrame.Shape.NoFrame)
        self.pages = QStackedWidget(self)
        self.pages.setObjectName("pages")
        self._page_widgets: dict[str, QWidget] = {}

        content = QWidget(self)
        content.setObjectName("content")
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(16, 12, 16, 8)
        content_layout.setSpacing(10)
        content_layout.addWidget(self.banner)
        content_layout.addWidget(self.pages, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setHandleWidth(1)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(content)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([190, 1090])

        central = QWidget(self)
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(0)
        central_layout.addWidget(self.header)
        central_layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        status = QStatusBar(self)
        status.setSizeGripEnabled(False)
        self.setStatusBar(status)
        self.task_status = TaskStatusWidget(self.runner, status, self)
        status.addPermanentWidget(self.task_status)

        self._build_pages()
        self._connect_pages()
        self.sidebar.currentRowChanged.connect(self._on_sidebar_current_row_changed)
        self.sidebar.setCurrentRow(0)
        self._restore_state()

    # -- pages --------------------------------------------------------------

    def _build_pages(self) -> None:
        for entry in PAGES:
            item = QListWidgetItem(QIcon(str(resource_path(entry.icon))), entry.title)
            item.setData(Qt.ItemDataRole.UserRole, entry.key)
            item.setSizeHint(QSize(0, 38))
            if entry.coming_with is None:
                page = self._create_page(entry.key)
                self._page_widgets[entry.key] = page
                self.pages.addWidget(page)
                item.setToolTip(entry.title)
            else:
                item.setFlags(Qt.ItemFlag.NoItemFlags)
                item.setToolTip(entry.coming_with)
            self.sidebar.addItem(item)

    def _create_page(self, key: str) -> QWidget:
        if key == "models":
            from modeldeck.gui.pages.models import ModelsPage

            return ModelsPage(self.workspace, self.runner, self.banner, self)
        if key == "drift":
            from modeldeck.gui.pages.drift import DriftPage

            return DriftPage(self.workspace, self.runner, self.banner, self)
        if key == "fleet":
            from modeldeck.gui.pages.fleet import FleetPage

            return FleetPage(self.workspace, self.runner, self.banner, self)
        if key == "releases":
            from modeldeck.gui.pages.releases import ReleasesPage

            return ReleasesPage(self.workspace, self.runner, self.banner, self)
        if key == "audit":
            from modeldeck.gui.pages.audit import AuditPage

            return AuditPage(self.workspace, self.runner, self.banner, self)
        raise KeyError(key)

    def _connect_pages(self) -> None:
        models, drift = self._page_widgets.get("models"), self._page_widgets.get("drift")
        if models is not None and drift is not None:
            # A new version or a moved alias changes what the Drift page offers.
            models.version_registered.connect(lambda *_args: drift.refresh_models())
            models.alias_changed.connect(lambda *_args: drift.refresh_models())
        releases, fleet = self._page_widgets.get("releases"), self._page_widgets.get("fleet")
        if releases is not None and fleet is not None:
            # "Deploy…" on an approved candidate opens the Fleet page's wizard on it
            releases.deploy_requested.connect(lambda ref: self._deploy(ref))

    def _deploy(self, ref: str) -> None:
        self.sidebar.setCurrentItem(self.sidebar_item("fleet"))
        self.page("fleet").open_deploy_wizard(ref)

    def page(self, key: str) -> QWidget:
        """The page widget for sidebar ``key`` (only built pages exist)."""
        return self._page_widgets[key]

    def sidebar_item(self, key: str) -> QListWidgetItem:
        """The sidebar item of page ``key``."""
        for row in range(self.sidebar.count()):
            item = self.sidebar.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == key:
                return item
        raise KeyError(key)

    def _on_sidebar_current_row_changed(self, row: int) -> None:
        if row < 0:
            return
        key = self.sidebar.item(row).data(Qt.ItemDataRole.UserRole)
        page = self._page_widgets.get(key)
        if page is not None:
            self.pages.setCurrentWidget(page)

    # -- state --------------------------------------------------------------

    def _restore_state(self) -> None:
        settings = open_state()
        geometry = settings.value("MainWindow/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        splitter = settings.value("MainWindow/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        for key, page in self._page_widgets.items():
            restore = getattr(page, "restore_state", None)
            if restore is not None:
                settings.beginGroup(f"page-{key}")
                restore(settings)
                settings.endGroup()

    def save_state(self) -> None:
        """Write geometry and splitter sizes to ``state.ini``."""
        settings = open_state()
        settings.setValue("MainWindow/geometry", self.saveGeometry())
        settings.setValue("MainWindow/splitter", self.splitter.saveState())
        for key, page in self._page_widgets.items():
            save = getattr(page, "save_state", None)
            if save is not None:
                settings.beginGroup(f"page-{key}")
                save(settings)
                settings.endGroup()
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.runner.shutdown(10_000)
        self.save_state()
        super().closeEvent(event)
