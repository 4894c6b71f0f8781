"""packaging/screenshots.py: every page rendered to a PNG, on a copy of the demo."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QThreadPool
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from modeldeck.gui.main_window import PAGES, MainWindow

SCRIPT = Path(__file__).resolve().parents[2] / "packaging" / "screenshots.py"

pytestmark = [
    pytest.mark.gui,
    # The offscreen platform cannot forward a window's size constraints (tests/gui too).
    pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints\(\)"),
]


def load_script():
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


screenshots = load_script()


def pixels(image: QImage) -> np.ndarray:
    """The image's pixels as (n, 4) uint8 rows: blue, green, red, alpha (a copy: the
    converted image's buffer is freed with it when this returns)."""
    image = image.convertToFormat(QImage.Format.Format_ARGB32)
    count = image.width() * image.height()
    return np.frombuffer(image.constBits(), dtype=np.uint8,
                         count=count * 4).reshape(count, 4).copy()


@pytest.fixture
def app(qapp):
    yield qapp
    qapp.setStyleSheet("")  # render_pages styles the application as modeldeck-gui does


def assert_nothing_left_running() -> None:
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
    assert QThreadPool.globalInstance().waitForDone(5000)


def test_render_pages_saves_every_page_of_the_demo(app, make_workspace, tmp_path):
    paths = screenshots.render_pages(make_workspace(), tmp_path / "shots", user="carol")

    assert [p.name for p in paths] == [f"{entry.key}-page.png" for entry in PAGES]
    digests = set()
    for path in paths:
        image = QImage(str(path))
        assert (image.width(), image.height()) == screenshots.WINDOW_SIZE, path.name
        rgb = pixels(image)[:, :3]
        colours, counts = np.unique(rgb.view(np.dtype((np.void, 3))), return_counts=True)
        assert len(colours) > 500, f"{path.name} has {len(colours)} colours: blank?"
        assert 1 - counts.max() / len(rgb) > 0.15, f"{path.name} is mostly one colour"
        digests.add(hashlib.sha256(rgb.tobytes()).hexdigest())
    assert len(digests) == len(paths)  # five different pictures, not one page five times

    # The Drift page was analysed: its heatmap, verdict chip and advice badges are red.
    blue, green, red = (pixels(QImage(str(paths[1])))[:, i].astype(int) for i in range(3))
    assert ((red > 150) & (green < 100) & (blue < 100)).sum() > 2000
    assert_nothing_left_running()


def test_main_fails_clearly_when_a_page_cannot_load(app, make_workspace, tmp_path,
                                                   monkeypatch, capsys):
    def broken(*_args, **_kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr("modeldeck.gui.pages.audit.read_audit", broken)
    out = tmp_path / "shots"

    code = screenshots.main(["--workspace", str(make_workspace()), "--out", str(out)])

    assert code == 1
    err = capsys.readouterr().err
    assert "error: cannot render the" in err
    assert "“Reading the audit log” failed: disk on fire" in err
    assert not list(out.glob("audit-page.png"))
    assert_nothing_left_running()
