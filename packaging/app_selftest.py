"""The frozen app's self-test: report what the window shows, then quit.

``packaging/gui_entry.py`` calls :func:`install` when ``MODELDECK_SELF_TEST`` names a
report file, before it runs :func:`modeldeck.gui.app.main`. Nothing in ``gui/`` knows about
it: :func:`install` creates the ``QApplication`` first (``main`` reuses an existing one)
and starts a named timer that polls the top-level widgets until the main window has
loaded its models, then opens each page in turn. It writes a JSON report (workspace,
models, versions, user, stylesheet and icon origin, notifications), saves a screenshot of
the Models page next to it and closes the window, so ``main`` returns.
``packaging/check_app.py`` reads the report: it proves the window opened on the given
workspace, which the exit code of a process cannot.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QAbstractItemView, QApplication, QLabel, QMessageBox, QWidget

from modeldeck.gui.main_window import MainWindow
from modeldeck.gui.theme import resource_path

#: The report file to write; the self-test runs only when it is set.
REPORT_ENV = "MODELDECK_SELF_TEST"
#: Seconds to wait for the window to load its models (default 60).
TIMEOUT_ENV = "MODELDECK_SELF_TEST_TIMEOUT"
#: The exit code when the window did not load in time or an error box came up.
EXIT_NOT_LOADED = 3


def install(report: str | os.PathLike[str]) -> QApplication:
    """Create the application and schedule the probe that writes ``report``.

    Parameters
    ----------
    report
        The JSON report to write; the screenshot goes beside it (``.png``).
    """
    app = QApplication.instance() or QApplication(
        [sys.argv[0] if sys.argv else "ModelDeck"])
    assert isinstance(app, QApplication)
    timeout = float(os.environ.get(TIMEOUT_ENV) or 60)
    # Parented to the application so it lives as long as the event loop.
    SelfTestProbe(Path(report), timeout, app)
    return app


class SelfTestProbe(QObject):
    """Drives the window like a first look, then reports and quits.

    Waits until the Models page shows its models and the first model's versions (the
    screenshot is taken then), opens every other page for :attr:`PAGE_SECONDS` (their
    lazily imported code runs, and fails if the bundle lacks a module), then writes the
    report with every notification the window raised.

    Parameters
    ----------
    report
        The JSON report file.
    timeout
        Seconds the Models page may take to load (the report then says why it did not).
    """

    POLL_MS = 100
    PAGE_SECONDS = 1.5

    def __init__(self, report: Path, timeout: float, parent: QObject) -> None:
        super().__init__(parent)
        self.report = report
        self._started = time.monotonic()
        self._deadline = self._started + timeout
        self._result: dict[str, Any] | None = None
        self._pages: list[int] = []
        self._visited: list[str] = []
        self._page_since = 0.0
        self._timer = QTimer(self)
        self._timer.setObjectName("self-test-probe")
        self._timer.setInterval(self.POLL_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

    def _on_timer_timeout(self) -> None:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        boxes = [w for w in app.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
        window = next((w for w in app.topLevelWidgets()
                       if isinstance(w, MainWindow) and w.isVisible()), None)
        if self._result is None:
            state = _window_state(window) if window is not None else None
            loaded = state is not None and state["loaded"]
            if not loaded and not boxes and time.monotonic() < self._deadline:
                return
            self._result = self._first_look(app, window, state, boxes)
            if not loaded:
                self._finish(app, window, boxes)
                return
            self._pages = list(range(1, window.sidebar.count()))
            self._visited = [window.sidebar.currentItem().text()]
            self._page_since = 0.0
        if window is None or boxes:
            self._result.update(ok=False, error="the window closed or an error box came up",
                                error_boxes=_box_texts(boxes))
            self._finish(app, window, boxes)
        elif self._pages and time.monotonic() - self._page_since >= self.PAGE_SECONDS:
            window.sidebar.setCurrentRow(self._pages.pop(0))
            self._visited.append(window.sidebar.currentItem().text())
            self._page_since = time.monotonic()
        elif not self._pages and time.monotonic() - self._page_since >= self.PAGE_SECONDS:
            self._finish(app, window, boxes)

    def _first_look(self, app: QApplication, window: QWidget | None,
                    state: dict[str, Any] | None, boxes: list[QMessageBox]) -> dict[str, Any]:
        """The report of what the Models page shows (and its screenshot)."""
        loaded = state is not None and state["loaded"]
        result: dict[str, Any] = {
            "ok": loaded,
            "seconds": round(time.monotonic() - self._started, 2),
            "frozen": bool(getattr(sys, "frozen", False)),
            "bundle_dir": getattr(sys, "_MEIPASS", None),
            "platform": app.platformName(),
            "stylesheet_chars": len(app.styleSheet()),
            "app_icon_renders": not app.windowIcon().pixmap(64, 64).isNull(),
            "resources": _resource_origin(),
            "error_boxes": _box_texts(boxes),
            "window": state,
        }
        if not loaded:
            result["error"] = ("an error box came up" if boxes else
                               "no main window" if window is None else
                               "the models did not load in time")
        if window is not None:
            shot = self.report.with_suffix(".png")
            result["screenshot"] = str(shot) if window.grab().save(str(shot)) else None
        return result

    def _finish(self, app: QApplication, window: Any, boxes: list[QMessageBox]) -> None:
        self._timer.stop()
        assert self._result is not None
        self._result["pages_visited"] = self._visited
        if window is not None:
            self._result["notifications"] = [
                {"level": n.level, "text": n.text()} for n in window.banner.pending()]
        self.report.write_text(json.dumps(self._result, indent=2, sort_keys=True),
                               encoding="utf-8")
        for box in boxes:
            box.done(0)
        if window is not None:
            window.close()  # saves state.ini and waits for the task runner, as a user's close
        app.exit(0 if self._result["ok"] else EXIT_NOT_LOADED)


def _box_texts(boxes: list[QMessageBox]) -> list[str]:
    return [f"{box.text()} {box.informativeText()}".strip() for box in boxes]


def _resource_origin() -> dict[str, str]:
    return {name: str(resource_path(name)) for name in ("style.qss", "modeldeck.svg")}


def _child(window: QWidget, cls: type[QWidget], name: str) -> Any:
    return window.findChild(cls, name)


def _label(window: QWidget, name: str) -> str | None:
    label = _child(window, QLabel, name)
    return label.text() if label is not None else None


def _column(view: QAbstractItemView | None, column: int = 0) -> list[str]:
    if view is None or view.model() is None:
        return []
    model = view.model()
    return [str(model.index(row, column).data(Qt.ItemDataRole.DisplayRole))
            for row in range(model.rowCount())]


def _window_state(window: QWidget) -> dict[str, Any]:
    """What the main window shows (found by object names, as a user would read it)."""
    model_list = _child(window, QAbstractItemView, "modelList")
    versions = _child(window, QAbstractItemView, "versionsTable")
    sidebar = _child(window, QAbstractItemView, "sidebar")
    models = _column(model_list, model_list.modelColumn() if model_list is not None else 0)
    count_text = _label(window, "modelCount") or ""
    version_rows = _column(versions)
    workspace = getattr(window, "workspace", None)
    return {
        # The models page has finished its first page, and the first model's versions.
        "loaded": bool(count_text) and (not models or bool(version_rows)),
        "title": window.windowTitle(),
        "size": [window.width(), window.height()],
        "workspace": str(workspace.path) if workspace is not None else None,
        "header_workspace": _label(window, "workspacePath"),
        "header_user": _label(window, "userChip"),
        "sidebar": _column(sidebar),
        "model_count": count_text,
        "models": models,
        "selected_model": _label(window, "modelTitle"),
        "versions": version_rows,
    }
