"""The Drift page, clicked through on the demo workspace with the real TaskRunner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from modeldeck.gui.drift_charts import CategoryAxis, effect_ratio, ratio_level
from modeldeck.gui.pages.drift import (
    DriftPage,
    demo_files,
    html_renderer,
    realized_metrics,
    short_labels,
)

TIMEOUT = 15_000
ANALYSIS_TIMEOUT = 120_000


@pytest.fixture
def window(make_main_window):
    return make_main_window()


@pytest.fixture
def page(window, qtbot) -> DriftPage:
    window.sidebar.setCurrentRow(window.sidebar.row(window.sidebar_item("drift")))
    page = window.page("drift")
    qtbot.waitUntil(lambda: page.selected_ref() is not None and bool(page.current_files),
                    timeout=TIMEOUT)
    return page


def run_analysis(page: DriftPage, qtbot, *, multivariate: bool = False) -> object:
    """Click Analyze and wait for the report on display."""
    page.multivariate_check.setChecked(multivariate)
    with qtbot.wait_signal(page.report_shown, timeout=ANALYSIS_TIMEOUT) as blocker:
        qtbot.mouseClick(page.analyze_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


@pytest.fixture
def analyzed(page, qtbot) -> DriftPage:
    run_analysis(page, qtbot)
    return page


def click_cell(page: DriftPage, qtbot, feature: str, window: str) -> None:
    heatmap = page.heatmap
    with qtbot.wait_signal(heatmap.cell_clicked, timeout=TIMEOUT) as blocker:
        qtbot.mouseClick(heatmap.viewport(), Qt.MouseButton.LeftButton,
                         pos=heatmap.cell_center(feature, window))
    assert blocker.args == [feature, window]


# -- opening ----------------------------------------------------------------------------


def test_drift_page_opens_on_the_demo_with_the_demo_files_preselected(window, page):
    item = window.sidebar_item("drift")
    assert item.flags() & Qt.ItemFlag.ItemIsEnabled
    assert window.pages.currentWidget() is page
    models = [page.model_combo.itemData(i) for i in range(page.model_combo.count())]
    assert models == ["breast-cancer", "diabetes"]
    assert page.selected_ref() == "breast-cancer:1"  # the production version
    assert "production" in page.version_combo.currentText()
    assert [p.name for p in page.current_files] == [
        f"production-day-{day}.csv" for day in range(1, 8)]
    assert page.current_files == demo_files(Path(page.workspace.path), "breast-cancer")
    assert page.files_hint.isVisible()
    assert page.analyze_button.isEnabled()
    assert not page.export_button.isEnabled()
    assert page.body_stack.currentWidget() is page.empty_state
    assert "Click Analyze" in page.empty_text.text()


def test_choosing_another_model_preselects_its_demo_files(page, qtbot):
    with qtbot.wait_signal(page.versions_loaded, timeout=TIMEOUT):
        page.select_model("diabetes")
    assert page.selected_ref() == "diabetes:1"
    assert all(p.parent.name == "diabetes" for p in page.current_files)
    assert len(page.current_files) == 7


def test_choose_files_uses_the_file_dialog(page, monkeypatch, tmp_path):
    chosen = [str(tmp_path / "a.csv"), str(tmp_path / "b.parquet")]
    calls = []

    def fake_dialog(*args, **kwargs):
        calls.append(args)
        return chosen, "Data files"

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(fake_dialog))
    page.choose_button.click()
    assert calls and "*.csv" in calls[0][3] and "*.parquet" in calls[0][3]
    assert page.current_files == [Path(p) for p in chosen]
    assert page.files_label.full_text() == "2 files: a.csv … b.parquet"
    assert not page.files_hint.isVisible()


# -- analysing --------------------------------------------------------------------------


def test_analyzing_the_demo_fills_heatmap_advice_and_charts(page, qtbot, window,
                                                            qtmodeltester):
    progressed = []
    window.runner.progressed.connect(lambda _task, event: progressed.append(event))
    report = run_analysis(page, qtbot, multivariate=True)
    assert progressed, "the analysis reported progress"
    assert page.report is report
    assert report.model == "breast-cancer:1"
    assert page.body_stack.currentWidget() is page.top_splitter

    features = [f.name for f in report.features]
    assert len(features) == 10
    assert page.heatmap.features == features
    assert len(report.windows) == 7
    assert page.heatmap.windows == [w.label for w in report.windows]
    assert page.heatmap.image.image.shape[:2] == (10, 7)
    # Drift sets in from day 4 on 'mean radius': flagged late, not on day 1.
    assert page.heatmap.cell("mean radius", report.windows[-1].label).result.flagged
    assert not page.heatmap.cell("mean radius", report.windows[0].label).result.flagged
    assert len(page.heatmap.drift_marks.data) == sum(
        1 for w in report.windows for f in w.result.features if f.status == "drift")

    assert page.verdict_chip.isVisible() and page.verdict_chip.text() == "Drift detected"
    assert "mean radius" in page.summary_label.full_text()
    assert page.advice_model.rowCount() == len(report.advice) > 0
    assert page.feature is not None  # the top finding's feature is open
    assert page.joint_chip.status in ("drift", "ok")
    assert page.joint_model.rowCount() > 0
    labels = [row.label for row in page.joint_model.rows()]
    assert {"Domain classifier", "PCA reconstruction error",
            "Pairwise rank correlations"} <= set(labels)
    assert page.analyze_button.isEnabled()
    assert not page.progress_bar.isVisible()
    for model in (page.advice_model, page.numbers_model, page.numbers_more_model,
                  page.joint_model):
        qtmodeltester.check(model)


def test_heatmap_click_shows_that_features_charts(analyzed, qtbot):
    page, report = analyzed, analyzed.report
    window = report.windows[4].label
    click_cell(page, qtbot, "mean radius", window)
    assert (page.feature, page.window) == ("mean radius", window)
    assert page.heatmap.selected == ("mean radius", window)
    assert page.feature_title.text() == "mean radius"
    assert page.feature_chip.text() == "drift"
    assert page.feature_window_combo.currentData() == window
    assert page.tabs.currentIndex() == page.feature_tab_index

    # Drift score over time: one point per window, the threshold, the flagged windows.
    scores = report.window_scores("mean radius")
    x, y = page.score_chart.curve.getData()
    np.testing.assert_array_equal(x, np.arange(7))
    np.testing.assert_allclose(y, [s for _w, s, _f in scores])
    fx, _fy = page.score_chart.flag_points.getData()
    assert fx.tolist() == [float(i) for i, (_w, _s, f) in enumerate(scores) if f]
    _tx, ty = page.score_chart.threshold_line.getData()
    assert ty.tolist() == [report.feature("mean radius").effect_threshold] * 2
    assert page.score_chart.marker.isVisible() and page.score_chart.marker.value() == 4
    # Clipped to view (pyqtgraph's test_clipping): the points inside a range stay.
    page.score_chart.setXRange(2, 5, padding=0)
    shown, _ = page.score_chart.curve.getData()
    assert 2 <= shown[1] <= 5 and 2 <= shown[-2] <= 5
    page.score_chart.setXRange(-0.5, 6.5, padding=0)

    # Reference vs current histogram of that window: same cells as core's histogram.
    histogram = report.histogram("mean radius", window)
    bars = page.histogram_chart.bar_data()
    widths = bars["x1"] - bars["x0"]
    missing = histogram.labels.index("(missing)")
    assert page.histogram_card.showing_chart
    assert np.sum(bars["current"] * widths) == pytest.approx(
        1 - histogram.current[missing], abs=1e-9)
    assert np.sum(bars["reference"] * widths) == pytest.approx(
        1 - histogram.reference[missing], abs=1e-9)
    assert not np.allclose(bars["current"], bars["reference"])

    assert page.numbers_model.value_of("Status") == "drift"
    assert page.numbers_model.value_of("Test") == "KS + shift + spread (binned)"
    assert window in page.feature_reason.full_text()


def test_window_box_switches_to_all_windows(analyzed, qtbot):
    page, report = analyzed, analyzed.report
    click_cell(page, qtbot, "mean texture", report.windows[6].label)
    page.feature_window_combo.setCurrentIndex(0)
    assert page.window is None
    assert page.heatmap.selected == ("mean texture", None)
    assert not page.score_chart.marker.isVisible()
    assert page.feature_reason.full_text().startswith("all windows, all hosts")


def test_clicking_an_advice_item_selects_its_feature(analyzed, qtbot):
    page, report = analyzed, analyzed.report
    row = next(i for i, a in enumerate(report.advice) if a.feature is not None)
    advice = report.advice[row]
    page.tabs.setCurrentIndex(page.outputs_tab_index)
    view = page.advice_view
    rect = view.visualRect(page.advice_model.index(row, 0))
    with qtbot.wait_signal(page.selection_changed, timeout=TIMEOUT):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert page.feature == advice.feature
    assert page.window == advice.window
    assert page.heatmap.selected == (advice.feature, advice.window)
    assert page.tabs.currentIndex() == page.feature_tab_index
    assert page.feature_title.text() == advice.feature
    if advice.host is not None and len(report.hosts) > 1:
        assert page.host == advice.host


def test_host_filter_shows_one_hosts_views(analyzed):
    page, report = analyzed, analyzed.report
    assert report.hosts == ("edge-1", "edge-2")
    assert page.host_combo.isEnabled()
    page.select("mean smoothness")
    page.set_host("edge-2")  # the demo blanks 'mean smoothness' on edge-2 only
    cell = page.heatmap.cell("mean smoothness", report.windows[-1].label)
    assert cell.result.status == "quality"
    assert page.numbers_model.value_of("Status") == "data quality"
    assert "edge-2" in page.histogram_card.legend_label.text()
    page.set_host("edge-1")
    cell = page.heatmap.cell("mean smoothness", report.windows[-1].label)
    assert cell.result.status != "quality"
    page.set_host(None)
    assert page.host is None


def test_model_outputs_tab_shows_performance_with_its_band(analyzed):
    page, report = analyzed, analyzed.report
    estimated = [p.estimated for p in report.performance if p.estimated is not None]
    if not estimated:
        assert not page.performance_card.showing_chart
        return
    assert page.performance_card.showing_chart
    _x, y = page.performance_chart.estimated.getData()
    np.testing.assert_allclose(y, [e.value for e in estimated])
    _x, low = page.performance_chart.band_low.getData()
    _x, high = page.performance_chart.band_high.getData()
    assert np.all(low <= y) and np.all(y <= high)


def test_model_outputs_tab_shows_output_drift_per_window(analyzed, qtbot):
    page, report = analyzed, analyzed.report
    windows = [w.label for w in report.windows]
    assert [page.output_combo.itemData(i) for i in range(page.output_combo.count())] == [
        "predicted class", "proba_malignant"]
    assert page.output == "proba_malignant"  # the flagged output opens first
    assert page.output_score_card.showing_chart
    # One point per window, the threshold, the flagged windows (the demo's last day).
    scores = report.prediction_scores("proba_malignant")
    x, y = page.output_score_chart.curve.getData()
    np.testing.assert_array_equal(x, np.arange(len(windows)))
    np.testing.assert_allclose(y, [v for _w, v, _f in scores])
    fx, _fy = page.output_score_chart.flag_points.getData()
    assert fx.tolist() == [float(len(windows) - 1)]
    _tx, ty = page.output_score_chart.threshold_line.getData()
    assert ty.tolist() == [report.thresholds.wasserstein_sd] * 2
    assert page.outputs_chip.status == "drift"
    assert f"since {report.predictions_since()}" in page.outputs_since.full_text()

    # A heatmap click selects a window: the outputs chart marks it and the holdout vs
    # current bars show that window.
    click_cell(page, qtbot, "mean radius", windows[5])
    assert page.output_score_chart.marker.isVisible()
    assert page.output_score_chart.marker.value() == 5
    mix = report.prediction_windows[5].result.class_mix
    page.tabs.setCurrentIndex(page.outputs_tab_index)
    assert page.prediction_card.showing_chart
    assert page.prediction_card.title().startswith("11-21")
    np.testing.assert_allclose(page.prediction_chart.current_bars.opts["height"],
                               [mix.current_shares[c] for c in mix.classes])

    # The other output, and one host's windows.
    page.set_output("predicted class")
    _x, y = page.output_score_chart.curve.getData()
    np.testing.assert_allclose(y, [v for _w, v, _f in
                                   report.prediction_scores("predicted class")])
    page.set_host("edge-1")
    _x, y = page.output_score_chart.curve.getData()
    np.testing.assert_allclose(y, [v for _w, v, _f in
                                   report.prediction_scores("predicted class", "edge-1")])
    assert "edge-1" in page.output_score_card.title()
    assert page.prediction_card.title().startswith("11-21, edge-1")


def test_outputs_advice_opens_its_window(analyzed, qtbot):
    page, report = analyzed, analyzed.report
    row = next(i for i, a in enumerate(report.advice) if "outputs" in a.title)
    page.open_advice(row)
    assert page.tabs.currentIndex() == page.outputs_tab_index
    assert page.window == report.advice[row].window == report.predictions_since()
    assert page.output_score_chart.marker.value() == len(report.windows) - 1


def test_realized_performance_when_the_data_has_labels(page, qtbot, tmp_path):
    labeled = []
    for path in page.current_files[:3]:
        frame = pd.read_csv(path)
        labels = pd.read_csv(path.with_name(path.stem + ".labels.csv"))
        frame["diagnosis"] = labels["diagnosis"]
        labeled.append(tmp_path / path.name)
        frame.to_csv(labeled[-1], index=False)
    page.set_current_files(labeled)
    report = run_analysis(page, qtbot)
    points = [p for p in report.performance if p.realized]
    assert points, "labels in the current data give realized performance"
    assert page.performance_card.showing_chart
    metric = next(m for m in ("accuracy", "r2") if m in realized_metrics(points[0]))
    _x, y = page.performance_chart.realized.getData()
    np.testing.assert_allclose(y, [realized_metrics(p)[metric] for p in report.performance])
    assert "realized" in page.performance_card.legend_label.text()


def test_week_windows(page, qtbot):
    page.set_window_unit("week")
    report = run_analysis(page, qtbot)
    assert report.window_unit == "week"
    assert page.heatmap.windows == [w.label for w in report.windows]
    assert page.heatmap.image.image.shape[:2] == (10, len(report.windows))


def test_cancel_stops_the_analysis(page, qtbot, window):
    page.multivariate_check.setChecked(True)
    with qtbot.wait_signal(window.runner.progressed, timeout=ANALYSIS_TIMEOUT):
        task = page.analyze()
    assert page.cancel_button.isVisible()
    assert not page.analyze_button.isEnabled()
    with qtbot.wait_signal(window.runner.cancelled, timeout=ANALYSIS_TIMEOUT):
        qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
    assert task.was_cancelled
    assert page.report is None
    assert not page.is_running
    assert page.analyze_button.isEnabled()
    assert not page.cancel_button.isVisible()
    assert window.banner.current() is None
    assert window.statusBar().currentMessage().endswith("cancelled")


def test_unusable_data_reaches_the_banner(page, qtbot, window, tmp_path):
    frame = pd.read_csv(page.current_files[0])
    frame["timestamp"] = "not a time"
    bad = tmp_path / "bad-times.csv"
    frame.to_csv(bad, index=False)
    page.set_current_files([bad])
    with qtbot.wait_signal(window.runner.errored, timeout=ANALYSIS_TIMEOUT):
        page.multivariate_check.setChecked(False)
        page.analyze()
    notification = window.banner.current()
    assert notification is not None and notification.level == "error"
    assert "timestamp" in notification.message
    assert notification.fix
    assert page.report is None
    assert page.analyze_button.isEnabled()


def test_a_missing_column_is_a_not_testable_row_not_a_crash(page, qtbot, tmp_path):
    frame = pd.read_csv(page.current_files[0]).drop(columns=["mean area"])
    path = tmp_path / "no-area.csv"
    frame.to_csv(path, index=False)
    page.set_current_files([path])
    report = run_analysis(page, qtbot)
    assert report.feature("mean area").status == "not_testable"
    cell = page.heatmap.cell("mean area", report.windows[0].label)
    assert cell.result.status == "not_testable"
    assert len(page.heatmap.untestable_marks.data) >= 1
    page.select("mean area")
    assert page.feature_chip.text() == "not testable"


def test_export_html_report(analyzed, qtbot, window, monkeypatch, tmp_path):
    page = analyzed
    if html_renderer() is None:
        assert not page.export_button.isEnabled()
        assert "not part of this build" in page.export_button.toolTip()
        return
    target = tmp_path / "report.html"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(target), "HTML files")))
    assert page.export_button.isEnabled()
    with qtbot.wait_signal(window.banner.notified, timeout=ANALYSIS_TIMEOUT):
        qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    assert window.banner.current().level == "success"
    assert "<html" in target.read_text(encoding="utf-8").lower()


# -- pieces -----------------------------------------------------------------------------


def test_short_labels():
    assert short_labels(["2026-11-16", "2026-11-17"]) == ["11-16", "11-17"]
    assert short_labels(["2026-W46", "2026-W47"]) == ["W46", "W47"]
    assert short_labels(["production-day-1", "production-day-2"]) == ["day-1", "day-2"]
    assert short_labels(["jan", "feb"]) == ["jan", "feb"]
    assert short_labels(["only-one"]) == ["only-one"]


def test_colour_scale():
    class F:
        effect_size, effect_threshold = 0.16, 0.08

    assert effect_ratio(F()) == pytest.approx(2.0)
    assert ratio_level(None) == 0.0
    assert 0 < ratio_level(1.0) < ratio_level(4.0) < ratio_level(16.0) == 1.0
    assert ratio_level(100.0) == 1.0


def test_category_axis_thins_labels_to_fit(qapp):
    axis = CategoryAxis("bottom")
    axis.set_labels([f"window-{i:03d}" for i in range(100)])
    ticks = axis.tickValues(-0.5, 99.5, 600)
    (step, values), = ticks
    assert step > 1 and len(values) < 100
    assert axis.tickStrings(values[:2], 1, step) == ["window-000", f"window-{int(step):03d}"]
    assert axis.tickValues(99.5, -0.5, 600) == ticks  # an inverted view box


def test_time_range_limits_the_windows(page, qtbot) -> None:
    from PySide6.QtCore import QDate

    run_analysis(page, qtbot)  # the first analysis offers the data's span as the range
    assert page.since_edit.date() == QDate(2026, 11, 16)
    assert page.until_edit.date() == QDate(2026, 11, 22)
    assert not page.since_edit.isEnabled()
    page.range_check.setChecked(True)
    assert page.since_edit.isEnabled() and page.until_edit.isEnabled()
    page.since_edit.setDate(QDate(2026, 11, 17))
    page.until_edit.setDate(QDate(2026, 11, 19))
    assert page.time_range() == ("2026-11-17", "2026-11-20")
    report = run_analysis(page, qtbot)
    assert [w.label for w in report.windows] == ["2026-11-17", "2026-11-18", "2026-11-19"]
    assert not report.drift
