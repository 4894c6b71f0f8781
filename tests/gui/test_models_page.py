"""The Models page, clicked through on a demo workspace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from modeldeck.core.errors import PermissionDeniedError
from modeldeck.gui.dialogs.alias import SetAliasDialog
from modeldeck.gui.dialogs.compare import CompareDialog
from modeldeck.gui.dialogs.register import RegisterDialog
from modeldeck.gui.item_models import ModelRole, VersionsTableModel
from modeldeck.gui.pages.models import ModelsPage
from modeldeck.gui.theme import LIGHT

TIMEOUT = 10_000


@pytest.fixture
def window(make_main_window):
    return make_main_window()


@pytest.fixture
def page(window, qtbot) -> ModelsPage:
    page = window.page("models")
    qtbot.waitUntil(lambda: page.current_model is not None, timeout=TIMEOUT)
    return page


def list_names(page: ModelsPage) -> list[str]:
    proxy = page.list_proxy
    return [proxy.index(row, 0).data() for row in range(proxy.rowCount())]


def open_model(page: ModelsPage, qtbot, name: str) -> None:
    if page.current_model is not None and page.current_model.name == name:
        return
    with qtbot.wait_signal(page.model_loaded, timeout=TIMEOUT):
        assert page.select_model(name)


def alias_badges(page: ModelsPage) -> dict[int, tuple[str, ...]]:
    model = page.versions_model
    return {model.version_at(row).version:
            model.index(row, VersionsTableModel.ALIASES).data(ModelRole.aliases)
            for row in range(model.rowCount())}


# -- list and search ------------------------------------------------------------------


def test_page_lists_the_demo_models_and_selects_the_first(page, qtmodeltester):
    assert list_names(page) == ["breast-cancer", "diabetes"]
    assert page.count_label.text() == "2 models"
    assert page.current_model.name == "breast-cancer"
    qtmodeltester.check(page.list_model)
    qtmodeltester.check(page.versions_model)


def test_search_filters_the_list(page, qtbot):
    page.search_edit.setText("diab")
    qtbot.waitUntil(lambda: list_names(page) == ["diabetes"], timeout=TIMEOUT)
    assert page.count_label.text() == "1 model matching “diab”"
    qtbot.waitUntil(lambda: page.current_model.name == "diabetes", timeout=TIMEOUT)
    assert page.selected_model_name() == "diabetes"
    page.search_edit.setText("progression")  # matches the description, not the name
    qtbot.waitUntil(lambda: list_names(page) == ["diabetes"], timeout=TIMEOUT)
    page.search_edit.setText("no-such-model")
    qtbot.waitUntil(lambda: page.list_model.query == "no-such-model"
                    and not page.list_model.is_loading, timeout=TIMEOUT)
    assert list_names(page) == []
    assert page.list_stack.currentWidget() is page.list_empty
    assert "No model matches" in page.list_empty.text()
    page.search_edit.clear()
    qtbot.waitUntil(lambda: list_names(page) == ["breast-cancer", "diabetes"], timeout=TIMEOUT)


def test_selecting_a_model_shows_its_versions(page, qtbot):
    open_model(page, qtbot, "diabetes")
    assert page.model_title.text() == "diabetes"
    assert "One-year diabetes progression" in page.model_description.text()
    assert page.versions_model.rowCount() == 2
    headers = [page.versions_model.headerData(c, Qt.Orientation.Horizontal)
               for c in range(page.versions_model.columnCount())]
    assert headers[-3:] == ["RMSE", "MAE", "R²"]
    assert alias_badges(page) == {1: ("production",), 2: ("staging",)}
    # newest version first, and selected
    assert page.versions_proxy.index(0, 0).data() == "v2"
    assert page.current_version().ref == "diabetes:2"


# -- detail tabs ----------------------------------------------------------------------


def test_detail_tabs_show_card_schema_metrics_environment_lineage(page, qtbot):
    open_model(page, qtbot, "breast-cancer")
    page.select_versions(2)
    version = page.current_version()
    assert page.version_title.text() == "breast-cancer:2"
    assert "HistGradientBoostingClassifier" in page.version_meta.text()

    card = page.card_tab
    assert card.values["owner"].text() == "Diagnostics ML team"
    assert card.values["contact"].text() == "alice@example.org"
    assert "radiologists" in card.values["intended_use"].text()
    assert card.missing_label.isHidden()

    assert page.schema_model.rowCount() == len(version.schema) == 30
    assert page.schema_model.index(0, 0).data() == version.schema[0].name
    assert page.schema_model.index(0, 1).data() == "float"
    assert "target column: diagnosis" in page.schema_tab.note.text()

    metrics = {row[0]: row[1] for row in page.metrics_model.rows()}
    assert set(metrics) == {"Accuracy", "Balanced acc.", "F1 (macro)", "ROC AUC"}
    assert metrics["Accuracy"] == f"{version.metrics['accuracy']:.4f}"
    assert "114 holdout rows" in page.metrics_tab.note.text()

    environment = dict(page.environment_model.rows())
    assert environment["scikit-learn"] == version.environment["scikit-learn"]
    assert version.artifact_sha256 in page.environment_tab.note.text()

    lineage = page.lineage_tab
    assert "breast-cancer:2" in lineage.chain_label.text()
    assert "breast-cancer:1" in lineage.chain_label.text()
    assert [row[0] for row in lineage.data_model.rows()] == ["Reference", "Holdout"]
    history = lineage.history_model.rows()
    assert {(row[1], row[2], row[3]) for row in history} == {
        ("production", "set to v1", "bob"), ("staging", "set to v2", "alice")}

    for tab in range(page.tabs.count()):  # every tab renders without Qt warnings
        page.tabs.setCurrentIndex(tab)
        qtbot.wait(10)


def test_incomplete_card_is_called_out(page, qtbot):
    from modeldeck.core.registry import ModelCard

    page.card_tab.show_card(ModelCard(intended_use="x", owner="me"))
    assert not page.card_tab.missing_label.isHidden()
    assert "limitations, contact" in page.card_tab.missing_label.text()
    assert page.card_tab.values["contact"].text() == "Not filled in"


# -- compare --------------------------------------------------------------------------


def test_compare_needs_two_versions_and_shows_coloured_deltas(page, qtbot):
    open_model(page, qtbot, "breast-cancer")
    page.select_versions(2)
    assert not page.compare_button.isEnabled()
    page.select_versions(1, 2)
    assert page.compare_button.isEnabled()
    qtbot.mouseClick(page.compare_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: isinstance(page.active_dialog, CompareDialog), timeout=TIMEOUT)
    dialog: CompareDialog = page.active_dialog
    assert dialog.comparison.a.ref == "breast-cancer:1"
    assert dialog.comparison.b.ref == "breast-cancer:2"
    rows = dialog.metrics_model.rows()
    assert [row[0] for row in rows] == ["Accuracy", "Balanced acc.", "F1 (macro)", "ROC AUC"]
    accuracy = dialog.metrics_model.index(0, 3)
    assert accuracy.data().startswith("+")
    assert accuracy.data(Qt.ItemDataRole.ForegroundRole).color() == QColor(LIGHT["success"])
    # v2 uses all 30 features, v1 only the 10 "mean" ones: 20 columns added
    assert dialog.schema_model.rowCount() == 20
    assert {row[0] for row in dialog.schema_model.rows()} == {"added"}
    assert "Compatible" in dialog.tabs.widget(1).findChild(type(page.count_label), "tabNote").text()
    assert dialog.tabs.tabText(2) == "Environment (same)"
    dialog.close()


def test_compare_colours_a_regression_in_red(page, qtbot):
    open_model(page, qtbot, "diabetes")
    page.select_versions(1, 2)
    page.compare_button.click()
    qtbot.waitUntil(lambda: isinstance(page.active_dialog, CompareDialog), timeout=TIMEOUT)
    dialog = page.active_dialog
    colours = {row[0]: dialog.metrics_model.index(i, 3).data(Qt.ItemDataRole.ForegroundRole)
               for i, row in enumerate(dialog.metrics_model.rows())}
    deltas = {d.name: d.delta for d in dialog.comparison.metrics}
    for name, label in (("rmse", "RMSE"), ("r2", "R²")):
        worse = (deltas[name] > 0) if name == "rmse" else (deltas[name] < 0)
        expected = LIGHT["danger"] if worse else LIGHT["success"]
        assert colours[label].color() == QColor(expected)
    dialog.close()


# -- aliases --------------------------------------------------------------------------


def test_set_alias_updates_the_badges_and_history(page, qtbot, window):
    open_model(page, qtbot, "breast-cancer")
    page.select_versions(1)
    page.alias_button.click()
    dialog = page.active_dialog
    assert isinstance(dialog, SetAliasDialog)
    assert dialog.version == 1
    dialog.alias_box.setCurrentText("staging")
    assert "moves from v2 to v1" in dialog.effect_label.text()
    assert dialog.ok_button.isEnabled()
    with qtbot.wait_signals([page.alias_changed, page.model_loaded], timeout=TIMEOUT):
        dialog.ok_button.click()
    assert alias_badges(page) == {1: ("production", "staging"), 2: ()}
    assert page.current_model.aliases == {"production": 1, "staging": 1}
    assert window.banner.current().level == "success"
    assert "moved from breast-cancer:2 to breast-cancer:1" in window.banner.current().message
    history = {(row[1], row[2]) for row in page.lineage_tab.history_model.rows()}
    assert ("staging", "v2 → v1") in history


def test_alias_dialog_validates_the_name(page, qtbot):
    page.alias_button.click()
    dialog: SetAliasDialog = page.active_dialog
    dialog.alias_box.setCurrentText("Not Valid")
    assert not dialog.ok_button.isEnabled()
    assert not dialog.error_label.isHidden()
    assert "not a valid alias" in dialog.error_label.text()
    dialog.alias_box.setCurrentText("production")
    dialog.version_box.setCurrentIndex(dialog.version_box.findData(1))
    assert "already points to v1" in dialog.error_label.text()
    dialog.alias_box.setCurrentText("canary")
    assert dialog.error_label.isHidden()
    assert "New alias" in dialog.effect_label.text()
    dialog.reject()


def test_remove_alias(page, qtbot):
    open_model(page, qtbot, "breast-cancer")
    page.alias_menu.aboutToShow.emit()
    texts = [action.text() for action in page.alias_menu.actions()]
    assert texts == ["Remove “production” (on v1)", "Remove “staging” (on v2)"]
    with qtbot.wait_signals([page.alias_changed, page.model_loaded], timeout=TIMEOUT):
        page.alias_menu.actions()[1].trigger()
    assert alias_badges(page) == {1: ("production",), 2: ()}


def test_permission_denied_reaches_the_banner(make_main_window, make_workspace, qtbot):
    window = make_main_window(make_workspace(user="mallory"))
    page = window.page("models")
    qtbot.waitUntil(lambda: page.current_model is not None, timeout=TIMEOUT)
    page.alias_button.click()
    dialog = page.active_dialog
    dialog.alias_box.setCurrentText("canary")
    with qtbot.wait_signal(window.runner.errored, timeout=TIMEOUT) as blocker:
        dialog.ok_button.click()
    assert isinstance(blocker.args[1], PermissionDeniedError)
    notification = window.banner.current()
    assert notification.level == "error"
    assert "'mallory' is not registered" in notification.message
    assert "users add mallory" in notification.fix
    assert window.banner.isVisible()
    assert alias_badges(page) == {1: ("production",), 2: ("staging",)}


# -- register -------------------------------------------------------------------------


@pytest.fixture
def model_files(tmp_path):
    """A small skops model with reference and holdout CSVs."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"height": rng.normal(170, 10, 120), "weight": rng.normal(70, 8, 120)})
    frame["tall"] = (frame["height"] > 170).astype(int)
    reference, holdout = frame.iloc[:80], frame.iloc[80:]
    model = LogisticRegression().fit(reference[["height", "weight"]], reference["tall"])
    paths = {
        "model": tmp_path / "model.skops",
        "reference": tmp_path / "reference.csv",
        "holdout": tmp_path / "holdout.csv",
    }
    sio.dump(model, paths["model"])
    reference.to_csv(paths["reference"], index=False)
    holdout.to_csv(paths["holdout"], index=False)
    return paths


def open_register(page: ModelsPage) -> RegisterDialog:
    page.register_button.click()
    dialog = page.active_dialog
    assert isinstance(dialog, RegisterDialog)
    return dialog


def test_register_dialog_shows_validation_errors(page, qtbot, tmp_path, model_files):
    dialog = open_register(page)
    dialog.name_box.setCurrentText("")
    dialog.register_button.click()
    assert dialog.isVisible()  # not accepted
    errors = dialog.errors()
    assert set(errors) == {"name", "model", "reference"}
    assert dialog.name_field.error.text() == "Enter a model name."
    assert not dialog.name_field.error.isHidden()
    assert dialog.model_field.error.text() == "Choose the model file."
    assert dialog.summary_label.text() == "3 fields need attention."

    dialog.name_box.setCurrentText("bad name!")
    assert "not a valid model name" in dialog.name_field.error.text()
    dialog.name_box.setCurrentText("tall-people")
    assert dialog.name_field.error.isHidden()
    assert "new model" in dialog.name_field.hint.text().lower()

    text_file = tmp_path / "model.txt"
    text_file.write_text("not a model")
    dialog.model_edit.setText(str(text_file))
    assert "not a supported format" in dialog.model_field.error.text()
    pickle_file = tmp_path / "model.pkl"
    pickle_file.write_bytes(b"\x80\x04N.")
    dialog.model_edit.setText(str(pickle_file))
    assert dialog.trust_pickle_check.isVisibleTo(dialog)
    assert "can run code" in dialog.model_field.error.text()
    dialog.trust_pickle_check.setChecked(True)
    assert "model" not in dialog.errors()
    dialog.model_edit.setText(str(model_files["model"]))
    assert not dialog.trust_pickle_check.isVisibleTo(dialog)

    dialog.reference_edit.setText(str(tmp_path / "missing.csv"))
    assert dialog.reference_field.error.text().startswith("No file at")
    dialog.reference_edit.setText(str(model_files["reference"]))
    assert dialog.errors() == {}

    # holdout: the target combobox lists its columns and one must be chosen
    assert not dialog.target_box.isEnabled()
    dialog.holdout_edit.setText(str(model_files["holdout"]))
    assert dialog.target_box.isEnabled()
    items = [dialog.target_box.itemData(i) for i in range(dialog.target_box.count())]
    assert items == ["", "height", "weight", "tall"]
    assert dialog.target_field.error.text() == "Choose the column holding the true label or value."
    dialog.target_box.setCurrentIndex(dialog.target_box.findData("tall"))
    assert dialog.errors() == {}
    assert dialog.summary_label.isHidden()
    dialog.reject()


def test_register_dialog_reports_unreadable_holdout(page, tmp_path):
    dialog = open_register(page)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    dialog.holdout_edit.setText(str(empty))
    dialog.register_button.click()
    assert "empty" in dialog.holdout_field.error.text()
    dialog.reject()


def test_register_from_files(page, qtbot, window, model_files):
    dialog = open_register(page)
    dialog.name_box.setCurrentText("tall-people")
    dialog.description_edit.setText("Who is taller than 170 cm")
    dialog.model_edit.setText(str(model_files["model"]))
    dialog.reference_edit.setText(str(model_files["reference"]))
    dialog.holdout_edit.setText(str(model_files["holdout"]))
    dialog.target_box.setCurrentIndex(dialog.target_box.findData("tall"))
    dialog.intended_use_edit.setPlainText("Demo of registration from the GUI")
    dialog.owner_edit.setText("GUI tests")
    with qtbot.wait_signal(page.version_registered, timeout=60_000) as blocker:
        dialog.register_button.click()
    version = blocker.args[0]
    assert version.ref == "tall-people:1"
    assert version.target == "tall"
    assert version.card.owner == "GUI tests"
    assert window.banner.current().level == "success"
    assert "Registered tall-people:1" in window.banner.current().message
    qtbot.waitUntil(lambda: page.current_model is not None
                    and page.current_model.name == "tall-people", timeout=TIMEOUT)
    assert "tall-people" in list_names(page)
    assert page.selected_model_name() == "tall-people"
    assert page.model_description.text() == "Who is taller than 170 cm"
    assert page.current_version().ref == "tall-people:1"
    assert [page.schema_model.index(r, 0).data() for r in range(page.schema_model.rowCount())] \
        == ["height", "weight"]
    assert "Accuracy" in {row[0] for row in page.metrics_model.rows()}


def test_failed_registration_offers_edit_and_retry(page, qtbot, window, model_files, tmp_path):
    broken = tmp_path / "broken.skops"
    broken.write_bytes(b"this is not a zip file")
    dialog = open_register(page)
    dialog.name_box.setCurrentText("breast-cancer")
    dialog.model_edit.setText(str(broken))
    dialog.reference_edit.setText(str(model_files["reference"]))
    with qtbot.wait_signal(window.runner.errored, timeout=60_000):
        dialog.register_button.click()
    notification = window.banner.current()
    assert notification.level == "error"
    assert "not a readable skops file" in notification.message
    assert notification.action_text == "Edit and retry"
    window.banner._action.click()
    retry = page.active_dialog
    assert isinstance(retry, RegisterDialog)
    assert retry.name_box.currentText() == "breast-cancer"
    assert retry.model_edit.text() == str(broken)
    assert retry.reference_edit.text() == str(model_files["reference"])
    retry.reject()


def test_empty_workspace_shows_a_call_to_action(make_main_window, qtbot, tmp_path):
    from modeldeck.core.workspace import Workspace

    workspace = Workspace.open(tmp_path / "empty", create=True, actor="erin")
    try:
        window = make_main_window(workspace)
        page = window.page("models")
        qtbot.waitUntil(lambda: page.body_stack.currentWidget() is page.empty_state,
                        timeout=TIMEOUT)
        assert page.count_label.text() == "0 models"
        assert not page.search_edit.isEnabled()
        button = page.empty_state.findChild(type(page.register_button), "emptyRegisterButton")
        button.click()
        assert isinstance(page.active_dialog, RegisterDialog)
        page.active_dialog.reject()
        window.close()
    finally:
        workspace.close()


def test_untrusted_skops_types_can_be_reviewed_and_trusted(page, qtbot, window, tmp_path,
                                                          model_files):
    import operator

    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    reference = pd.read_csv(model_files["reference"])
    pipeline = make_pipeline(FunctionTransformer(operator.neg), LogisticRegression())
    pipeline.fit(reference[["height", "weight"]], reference["tall"])
    path = tmp_path / "negated.skops"
    sio.dump(pipeline, path)

    dialog = open_register(page)
    dialog.name_box.setCurrentText("negated")
    dialog.model_edit.setText(str(path))
    dialog.reference_edit.setText(str(model_files["reference"]))
    assert not dialog.trusted_types_field.isVisibleTo(dialog)
    with qtbot.wait_signal(window.runner.errored, timeout=60_000):
        dialog.register_button.click()
    notification = window.banner.current()
    assert notification.action_text == "Review types…"
    window.banner._action.click()
    review: RegisterDialog = page.active_dialog
    assert review.trusted_types_field.isVisibleTo(review)
    assert review.trusted_types() == ("_operator.neg",)
    with qtbot.wait_signal(page.version_registered, timeout=60_000) as blocker:
        review.register_button.click()
    assert blocker.args[0].ref == "negated:1"
    assert "_operator.neg" in blocker.args[0].trusted_types
