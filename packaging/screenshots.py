"""Render every page of the ModelDeck main window to PNG, for the README.

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/screenshots.py [--workspace W] --out DIR

Without ``--workspace`` the demo (what ``modeldeck demo`` builds) is built in a temporary
folder first. The window opens as ``modeldeck-gui`` opens it (same stylesheet and icon) at a
fixed size; for each sidebar page the script switches to it, waits until the page's
background loads are done (the Drift page also runs its analysis on the demo data), keeps
the row the page selects on its own (the first model, host or audit entry; on the Releases
page a candidate awaiting approval when there is one) and saves the window as
``DIR/<page>-page.png``. A page whose load fails stops the script with exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QEvent
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from modeldeck.core.demo import build_demo
from modeldeck.core.errors import ModelDeckError
from modeldeck.core.progress import run
from modeldeck.core.workspace import Workspace
from modeldeck.gui import standarddir
from modeldeck.gui.app import configure_application
from modeldeck.gui.main_window import PAGES, MainWindow

WINDOW_SIZE = (1440, 900)
#: Who builds the temporary demo and acts in it (the admin of the README's screenshots).
DEMO_ADMIN = "carol"
LOAD_TIMEOUT_MS = 60_000
ANALYSIS_TIMEOUT_MS = 180_000


class PageLoadError(RuntimeError):
    """A page did not finish loading: a background task failed or took too long."""


def render_pages(workspace_path: Path, out_dir: Path, user: str | None = None) -> list[Path]:
    """Save a PNG of each main-window page on the workspace at ``workspace_path``.

    Needs a ``QApplication`` (it is styled like the desktop app's). The GUI's state file is
    redirected to a temporary folder meanwhile, so the user's window geometry neither
    shapes the pictures nor is overwritten by them.

    Parameters
    ----------
    workspace_path
        An existing workspace; the pages only read it (opening it applies pending schema
        migrations, as ``modeldeck-gui`` does).
    out_dir
        Where ``<page>-page.png`` go (created when missing).
    user
        Act as this user (default: ``$MODELDECK_USER``, else the login name).

    Returns
    -------
    list[Path]
        The written files, in sidebar order.

    Raises
    ------
    PageLoadError
        A page's background task failed or did not end in time.
    """
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        raise RuntimeError("render_pages needs a QApplication")
    configure_application(app)
    previous_state_dir = standarddir.state_dir()
    with tempfile.TemporaryDirectory(prefix="modeldeck-shots-state-") as state_dir, \
            Workspace.open(workspace_path, create=False, actor=user) as workspace:
        out_dir.mkdir(parents=True, exist_ok=True)
        standarddir.set_state_dir(state_dir)
        try:
            window = MainWindow(workspace)
            try:
                return _render_window(window, out_dir)
            finally:
                window.close()  # stops the runner's workers, then saves into state_dir
                window.deleteLater()
                QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        finally:
            standarddir.set_state_dir(previous_state_dir)


def _render_window(window: MainWindow, out_dir: Path) -> list[Path]:
    """Show ``window`` at :data:`WINDOW_SIZE` and save each page of it, loaded."""
    failures: list[str] = []
    window.runner.errored.connect(
        lambda task, exc: failures.append(f"“{task.title}” failed: {exc}"))
    window.resize(*WINDOW_SIZE)
    window.show()
    if not QTest.qWaitForWindowExposed(window):
        raise PageLoadError("the main window was never shown")
    written: list[Path] = []
    for entry in PAGES:
        if entry.coming_with is not None:
            continue  # a placeholder page: nothing to show yet
        window.statusBar().clearMessage()  # no "…: done" left from the last page
        window.sidebar.setCurrentItem(window.sidebar_item(entry.key))
        try:
            _load_page(window, entry.key, failures)
        except PageLoadError as exc:
            raise PageLoadError(f"cannot render the {entry.title} page: {exc}") from None
        path = out_dir / f"{entry.key}-page.png"
        if not window.grab().save(str(path)):
            raise OSError(f"cannot write {path}")
        written.append(path)
    return written


def _load_page(window: MainWindow, key: str, failures: list[str]) -> None:
    """Wait for the page's loads, then show what it only shows on request, and wait again.

    Pages select their first row themselves (model, host, candidate, audit entry); the
    Drift page runs its analysis on the preselected demo files only when asked, and the
    Releases page is most telling on a candidate that waits for review.
    """
    runner = window.runner

    def idle() -> bool:
        if failures:
            raise PageLoadError("; ".join(failures))
        # Pages start follow-up tasks synchronously from a finished one's callback (list,
        # then selection, then details), so no task left means the page is complete.
        return not runner.tasks()

    _wait_until(idle, LOAD_TIMEOUT_MS, "its background tasks")
    page = window.page(key)
    if key == "drift":
        # A workspace without demo files has nothing to analyse: then the page's own
        # "choose files" state is the picture.
        if page.analyze() is not None:
            _wait_until(idle, ANALYSIS_TIMEOUT_MS, "the drift analysis")
    elif key == "releases":
        waiting = [c.id for c in page.queue_model.candidates()
                   if c.status == "awaiting-approval"]
        if waiting and page.selected_id() not in waiting:
            page.select_candidate(waiting[0])
            _wait_until(idle, LOAD_TIMEOUT_MS, "the candidate's details")


def _wait_until(condition: Callable[[], bool], timeout_ms: int, what: str) -> None:
    """Process Qt events until ``condition()`` holds; PageLoadError after ``timeout_ms``."""
    deadline = QDeadlineTimer(timeout_ms)
    while not condition():
        if deadline.hasExpired():
            raise PageLoadError(f"timed out after {timeout_ms / 1000:.0f} s waiting for {what}")
        _pump()
        # not QTest.qWait: it keeps the GIL while it waits, which starves the page's worker
        # threads (a 4 s drift analysis took 40 s); sleeping here lets them run
        time.sleep(0.02)
    _pump()  # let the layouts and plots that the last task updated settle


def _pump() -> None:
    QCoreApplication.processEvents()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def build_demo_workspace(path: Path) -> Path:
    """Build the demo workspace (``modeldeck demo``) at ``path``, as :data:`DEMO_ADMIN`."""
    with Workspace.open(path, create=True, actor=DEMO_ADMIN) as workspace:
        run(build_demo(workspace))
    return path


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="screenshots.py",
        description="Render every page of the ModelDeck window to DIR/<page>-page.png.")
    parser.add_argument("--workspace", type=Path, default=None, metavar="W",
                        help="workspace to show (default: the demo, built in a temporary "
                             "folder)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="folder for the PNG files (created when missing)")
    parser.add_argument("--user", default=None, metavar="NAME",
                        help=f"act as NAME (default: {DEMO_ADMIN} on the demo, else "
                             "$MODELDECK_USER or your login)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the script; the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Read when the QApplication is created: no screen is needed, none is touched.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    with tempfile.TemporaryDirectory(prefix="modeldeck-shots-") as scratch:
        try:
            if args.workspace is None:
                print("Building the demo workspace…", file=sys.stderr)
                workspace = build_demo_workspace(Path(scratch) / "demo")
                user = args.user or DEMO_ADMIN
            else:
                workspace, user = args.workspace, args.user
            paths = render_pages(workspace, args.out, user=user)
        except (PageLoadError, ModelDeckError, OSError) as exc:
            print(f"screenshots.py: error: {exc}", file=sys.stderr)
            return 1
        finally:
            app.setStyleSheet("")
    for path in paths:
        image = QImage(str(path))
        print(f"{path}  {image.width()}×{image.height()} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
