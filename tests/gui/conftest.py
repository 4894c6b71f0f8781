"""Fixtures for the GUI tests (the only conftest that imports Qt).

Qt runs on the offscreen platform; the GUI's state file is redirected to a temp folder;
a session-wide demo workspace is copied for each test that needs one.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import modeldeck.gui  # noqa: E402,F401  (pins the Qt binding for pyqtgraph and superqt)

import shutil  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QThreadPool  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from modeldeck.gui import standarddir  # noqa: E402


#: Qt messages that say nothing about ModelDeck: the offscreen platform plugin cannot
#: forward a top-level window's size constraints (QPlatformWindow::propagateSizeHints).
OFFSCREEN_NOISE = (r"This plugin does not support propagateSizeHints\(\)",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test using a QApplication as ``gui`` (qutebrowser's auto-marking)."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "qapp" in fixtures or "qtbot" in fixtures:
            item.add_marker(pytest.mark.gui)
            if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
                item.add_marker(pytest.mark.qt_log_ignore(*OFFSCREEN_NOISE))


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Never read or write the real ``state.ini``."""
    path = tmp_path_factory.mktemp("state")
    standarddir.set_state_dir(path)
    yield path
    standarddir.set_state_dir(None)


@pytest.fixture(autouse=True)
def _dangling_qthread_pool(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a Qt test that leaves workers running in the global thread pool."""
    yield
    if "qapp" not in request.fixturenames and "qtbot" not in request.fixturenames:
        return
    pool = QThreadPool.globalInstance()
    if not pool.waitForDone(5000):
        pytest.fail(f"{pool.activeThreadCount()} worker(s) still running after the test")


@pytest.fixture
def app_stylesheet(qapp: QApplication) -> Iterator[None]:
    """Apply the real stylesheet, as the application does (for screenshots and styles)."""
    from modeldeck.gui.app import configure_application

    configure_application(qapp)
    yield
    qapp.setStyleSheet("")


#: The user who creates the demo workspace, and so its admin.
DEMO_ADMIN = "carol"  # the admin of tests/conftest.py's demo_template


@pytest.fixture
def make_workspace(demo_template: Path, tmp_path: Path) -> Iterator[Callable[..., object]]:
    """Factory of open demo workspaces, each a private copy; all closed at teardown."""
    from modeldeck.core.workspace import Workspace

    opened: list[object] = []

    def _make(name: str = "workspace", user: str = DEMO_ADMIN) -> object:
        """Copy the demo workspace to ``tmp_path/name`` and open it (as ``user``)."""
        target = tmp_path / name
        if not target.exists():
            shutil.copytree(demo_template, target)
        workspace = Workspace.open(target, create=False, actor=user)
        opened.append(workspace)
        return workspace

    yield _make
    for workspace in opened:
        workspace.close()  # type: ignore[attr-defined]


@pytest.fixture
def make_main_window(qtbot, make_workspace) -> Iterator[Callable[..., object]]:  # noqa: ANN001
    """Factory of main windows on demo workspaces; closed (workers awaited) at teardown."""
    from modeldeck.gui.main_window import MainWindow

    windows: list[MainWindow] = []

    def _make(workspace: object | None = None, show: bool = True) -> MainWindow:
        window = MainWindow(workspace if workspace is not None else make_workspace())
        qtbot.addWidget(window)
        windows.append(window)
        if show:
            window.show()
            qtbot.waitExposed(window)
        return window

    yield _make
    for window in windows:
        window.close()
