"""The ``modeldeck-gui`` entry point.

``modeldeck-gui [--workspace PATH]`` (or ``python -m modeldeck.gui``) opens the workspace
at PATH, at ``MODELDECK_WORKSPACE``, or at the platform's default place, creating it
when needed, and shows the main window on it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from modeldeck.core.errors import ModelDeckError
from modeldeck.core.workspace import Workspace, resolve_workspace_path
from modeldeck.gui.main_window import MainWindow
from modeldeck.gui.theme import get_stylesheet, resource_path

APP_NAME = "ModelDeck"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line of ``modeldeck-gui``."""
    parser = argparse.ArgumentParser(
        prog="modeldeck-gui",
        description="ModelDeck desktop: registry, drift, deployments and releases "
                    "of scikit-learn models.",
    )
    parser.add_argument(
        "--workspace", type=Path, default=None, metavar="PATH",
        help="workspace folder (default: $MODELDECK_WORKSPACE, else the user data dir)",
    )
    return parser.parse_args(argv)


def configure_application(app: QApplication) -> None:
    """Apply ModelDeck's name, icon and stylesheet to ``app``."""
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName("modeldeck")
    app.setWindowIcon(QIcon(str(resource_path("modeldeck.svg"))))
    app.setStyle("Fusion")
    app.setStyleSheet(get_stylesheet())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the desktop application; the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "modeldeck-gui"])
    assert isinstance(app, QApplication)
    configure_application(app)
    try:
        path = resolve_workspace_path(args.workspace)
        workspace = Workspace.open(path, create=True)
    except ModelDeckError as exc:
        box = QMessageBox(QMessageBox.Icon.Critical, APP_NAME, exc.message)
        if exc.fix:
            box.setInformativeText(exc.fix)
        box.exec()
        return 1
    try:
        window = MainWindow(workspace)
        window.show()
        return app.exec()
    finally:
        workspace.close()
