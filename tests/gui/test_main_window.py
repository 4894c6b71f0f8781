"""The application shell: binding, stylesheet, main window, state file, entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication

from modeldeck.gui import standarddir
from modeldeck.gui.main_window import NOT_REGISTERED, PAGES, MainWindow
from modeldeck.gui.theme import LIGHT, get_stylesheet, resource_path


def test_pyqtgraph_uses_pyside6():
    import modeldeck.gui  # noqa: F401
    import pyqtgraph

    assert pyqtgraph.Qt.QT_LIB == "PySide6"


def test_stylesheet_fills_every_placeholder():
    qss = get_stylesheet()
    assert "{{" not in qss and "}}" not in qss
    assert LIGHT["accent"] in qss
    assert "chevron-down.svg" in qss


@pytest.mark.parametrize("name", ["../pyproject.toml", "sub/style.qss", ".hidden", ""])
def test_resource_path_refuses_anything_but_plain_names(name):
    with pytest.raises(ValueError):
        resource_path(name)


def test_resources_ship_with_the_package():
    for name in ("style.qss", "modeldeck.svg", *(entry.icon for entry in PAGES)):
        assert resource_path(name).is_file(), name


def test_window_shows_workspace_user_and_role(make_main_window, make_workspace):
    workspace = make_workspace()
    window = make_main_window(workspace)
    assert str(workspace.path) in window.header.workspace_label.text()
    assert str(workspace.path) in window.windowTitle()
    assert window.header.user_label.text() == "carol  ·  admin"
    assert window.header.user_label.property("registered") == "true"
    assert window.size().width() >= 960


def test_unregistered_user_is_shown_as_such(make_main_window, make_workspace):
    window = make_main_window(make_workspace(user="mallory"))
    assert window.header.user_label.text() == f"mallory  ·  {NOT_REGISTERED}"
    assert window.header.user_label.property("registered") == "false"
    assert "not registered" in window.header.user_label.toolTip()


def test_sidebar_has_every_page_enabled_models_first(make_main_window):
    window = make_main_window()
    assert window.sidebar.count() == 5
    assert window.sidebar.currentItem() is window.sidebar_item("models")
    for key in ("models", "drift", "fleet", "releases", "audit"):
        item = window.sidebar_item(key)
        assert item.flags() & Qt.ItemFlag.ItemIsEnabled
        window.sidebar.setCurrentItem(item)
        assert window.pages.currentWidget() is window.page(key)


def test_state_is_saved_to_the_redirected_state_file(make_main_window, _state_dir):
    window = make_main_window()
    window.splitter.setSizes([220, 900])
    window.close()
    path = standarddir.state_path()
    assert path.parent == _state_dir
    assert path.is_file()
    settings = QSettings(str(path), QSettings.Format.IniFormat)
    assert settings.value("MainWindow/geometry") is not None
    assert settings.value("MainWindow/splitter") is not None
    assert settings.value("page-models/splitter") is not None


def test_state_is_restored(make_main_window, make_workspace):
    first = make_main_window(make_workspace())
    first.splitter.setSizes([240, 900])
    expected = first.splitter.sizes()[0]
    first.close()
    second = make_main_window(make_workspace())
    assert second.splitter.sizes()[0] == expected


def test_main_opens_the_workspace_and_runs(qapp, tmp_path, monkeypatch):
    from modeldeck.gui import app

    workspace = tmp_path / "fresh"
    shown: list[MainWindow] = []

    def _close_soon() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, MainWindow):
                shown.append(widget)
                widget.close()

    timer = QTimer()
    timer.setObjectName("test-close-main-window")
    timer.setInterval(300)
    timer.timeout.connect(_close_soon)
    timer.start()
    monkeypatch.setenv("MODELDECK_USER", "newcomer")
    try:
        assert app.main(["--workspace", str(workspace)]) == 0
    finally:
        timer.stop()
        qapp.setStyleSheet("")
    assert (workspace / "modeldeck.db").is_file()
    assert shown and shown[0].header.user_label.text() == "newcomer  ·  admin"
    for window in shown:
        window.deleteLater()


def test_parse_args_defaults_to_no_workspace():
    from modeldeck.gui.app import parse_args

    assert parse_args([]).workspace is None
    assert parse_args(["--workspace", "x"]).workspace == Path("x")
