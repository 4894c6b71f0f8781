"""The Drift page: which features moved, since when, on which hosts, how much it matters
and what to do.

An analyst picks a model version and the current (production) data, and
:func:`modeldeck.core.drift.report.analyze` runs in the window's
:class:`~modeldeck.gui.tasks.TaskRunner` (progress in the page and the status bar, Cancel
in both). The resulting :class:`~modeldeck.core.drift.report.DriftReport` fills a heatmap
of features × windows, the ranked advice, and for the selected feature its drift score
over time, reference vs current histograms and every number. The page only formats what
core computed; the host filter and the window choice select among views core already
made.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QItemSelectionModel, QModelIndex, QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from modeldeck.core.deploy.pull import pulled_files
from modeldeck.core.drift import report as drift_report
from modeldeck.core.errors import ModelDeckError
from modeldeck.core.registry import Registry
from modeldeck.gui.drift_charts import (
    CURRENT_COLOR,
    ESTIMATE_COLOR,
    FLAG_COLOR,
    REALIZED_COLOR,
    REFERENCE_COLOR,
    THRESHOLD_COLOR,
    ChartCard,
    DriftHeatmap,
    ElidedLabel,
    HeatCell,
    HeatmapLegend,
    HistogramChart,
    ImportanceChart,
    PerformanceChart,
    PredictionChart,
    ScoreChart,
    StatusChip,
    WrappedLabel,
)
from modeldeck.gui.drift_models import (
    AdviceDelegate,
    AdviceListModel,
    FeatureNumbersModel,
    NumberRow,
)
from modeldeck.gui.item_models import format_number, metric_label
from modeldeck.gui.notifications import NotificationBanner
from modeldeck.gui.tasks import Task, TaskRunner
from modeldeck.gui.theme import LIGHT
from modeldeck.gui.widgets import muted_label

log = logging.getLogger(__name__)

#: The window choices: (label, unit passed to ``analyze``; ``"file"`` = one per file).
WINDOW_CHOICES: tuple[tuple[str, str], ...] = (
    ("One per file", "file"), ("By hour", "hour"), ("By day", "day"), ("By week", "week"))
DATA_FILTER = "Data files (*.csv *.parquet *.pq);;CSV files (*.csv);;All files (*)"
_DEMO_FILE = re.compile(r"^production-day-(\d+)\.csv$")
STATUS_COLORS = {"drift": FLAG_COLOR, "quality": "#b45f06", "ok": LIGHT["success"],
                 "not_testable": LIGHT["text_muted"]}
STATUS_TEXT = {"drift": "drift", "quality": "data quality", "ok": "no drift",
               "not_testable": "not testable"}


def demo_files(workspace_path: Path, model: str) -> list[Path]:
    """The demo's production files of ``model`` (``production-day-N.csv``), day order."""
    folder = Path(workspace_path) / "demo-data" / model
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := _DEMO_FILE.match(p.name)) and p.is_file()]
    return [p for _day, p in sorted(found)]


def html_renderer() -> Callable[[Any], str] | None:
    """``modeldeck.core.drift.html.render_html`` when that module exists, else ``None``."""
    try:
        if importlib.util.find_spec("modeldeck.core.drift.html") is None:
            return None
        module = importlib.import_module("modeldeck.core.drift.html")
    except ImportError:
        return None
    return getattr(module, "render_html", None)


def write_html_report(report: Any, path: str) -> str:
    """Render ``report`` as a self-contained HTML file at ``path`` (runs in a worker)."""
    render = html_renderer()
    if render is None:
        raise ModelDeckError("the HTML report is not available in this build",
                             "use `modeldeck drift ... --html OUT` from the command line")
    text = render(report)
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ModelDeckError(f"cannot write the report to {path}: {exc.strerror or exc}",
                             "choose a folder you can write to") from None
    return path


def effect_name(kind: str | None) -> str:
    """What a feature's drift score measures."""
    return {"numeric": "Wasserstein (sd)",
            "categorical": "Jensen-Shannon"}.get(kind or "", "effect size")


_DATE = re.compile(r"^(\d{4})-\d{2}-\d{2}")
_WEEK = re.compile(r"^(\d{4})-W\d{2}$")


def short_labels(labels: Sequence[str]) -> list[str]:
    """Window labels for axis ticks: the shared year dropped from dates and weeks
    (``2026-11-20`` → ``11-20``), a shared file-name prefix dropped
    (``production-day-3`` → ``day-3``); anything else unchanged."""
    labels = list(labels)
    if len(labels) < 2:
        return labels
    dates = [_DATE.match(x) for x in labels]
    if all(dates) and len({m.group(1) for m in dates if m}) == 1:
        return [x[5:] for x in labels]
    weeks = [_WEEK.match(x) for x in labels]
    if all(weeks) and len({m.group(1) for m in weeks if m}) == 1:
        return [x[5:] for x in labels]
    prefix = labels[0]
    for x in labels[1:]:
        while not x.startswith(prefix):
            prefix = prefix[:-1]
    cuts = [i + 1 for i, ch in enumerate(prefix) if ch in "-_ ."]
    while cuts:
        cut = cuts.pop()
        rest = [x[cut:] for x in labels]
        if all(rest) and not all(r.replace(".", "").isdigit() for r in rest):
            return rest
    return labels


def describe_files(files: Sequence[Path]) -> str:
    """``7 files: a.csv … g.csv`` for the data line."""
    if not files:
        return "No files chosen"
    if len(files) == 1:
        return files[0].name
    return f"{len(files)} files: {files[0].name} … {files[-1].name}"


def feature_rows(feature: Any, importance: float | None, rank: int | None, total: int,
                 by_host: Sequence[tuple[str, Any]]) -> list[NumberRow]:
    """The numbers panel of one feature result (formatting only)."""
    rows = [NumberRow("Verdict", section=True),
            NumberRow("Status", STATUS_TEXT.get(feature.status, feature.status),
                      colour=STATUS_COLORS.get(feature.status)),
            NumberRow("Reason", feature.reason, tooltip=feature.reason)]
    if feature.method:
        rows += [NumberRow("Test", {"ks_shift_spread": "KS + shift + spread (binned)",
                                    "chi2": "chi-square (two-sample)"}.get(feature.method,
                                                                         feature.method)),
                 NumberRow("Statistic", feature.statistic),
                 NumberRow("p-value", feature.p_value),
                 NumberRow("Adjusted p (BH)", feature.p_adjusted),
                 NumberRow("Effect size", feature.effect_size),
                 NumberRow("Threshold", feature.effect_threshold),
                 NumberRow("Relevant", feature.relevant),
                 NumberRow("Significant", feature.significant)]
    if importance is not None:
        rows.append(NumberRow("Importance", f"{format_number(importance)}"
                              + (f"  (rank {rank} of {total})" if rank else "")))
    stats = [("PSI", feature.psi), ("Jensen-Shannon", feature.js_distance),
             ("Wasserstein (sd)", feature.wasserstein_sd),
             ("KS on samples", feature.ks_statistic), ("KS p on samples", feature.ks_p_value),
             ("Chi-square", feature.chi2_statistic), ("Chi-square p", feature.chi2_p_value),
             ("Chi-square dof", feature.chi2_dof)]
    stats = [(label, value) for label, value in stats if value is not None]
    if stats:
        rows.append(NumberRow("Distribution", section=True))
        rows += [NumberRow(label, value) for label, value in stats]
    moments = [("Reference mean", feature.reference_mean), ("Current mean", feature.current_mean),
               ("Mean shift (sd)", feature.mean_shift_sd),
               ("Reference sd", feature.reference_sd), ("Current sd", feature.current_sd),
               ("sd ratio", feature.sd_ratio)]
    moments = [(label, value) for label, value in moments if value is not None]
    if moments:
        rows.append(NumberRow("Moments", section=True))
        rows += [NumberRow(label, value) for label, value in moments]
    rows += [NumberRow("Counts", section=True),
             NumberRow("Values (reference)", feature.n_reference),
             NumberRow("Values (current)", feature.n_current),
             NumberRow("Rows (reference)", feature.rows_reference),
             NumberRow("Rows (current)", feature.rows_current)]
    if feature.quality:
        rows.append(NumberRow("Data quality", section=True))
        for check in feature.quality:
            p = f"; adjusted p = {format_number(check.p_adjusted)}" \
                if check.p_adjusted is not None else ""
            rows.append(NumberRow(check.name.replace("_", " "),
                                  check.describe() + (" — flagged" if check.flagged else ""),
                                  colour=FLAG_COLOR if check.flagged else None,
                                  tooltip=f"{check.describe()} (threshold "
                                          f"{format_number(check.threshold)}{p})"))
    if by_host:
        rows.append(NumberRow("By host (all windows)", section=True))
        for host, result in by_host:
            effect = (f", effect {format_number(result.effect_size, 3)}"
                      if result.effect_size is not None else "")
            rows.append(NumberRow(host, STATUS_TEXT.get(result.status, result.status) + effect,
                                  colour=STATUS_COLORS.get(result.status),
                                  tooltip=result.reason))
    return rows


class DriftPage(QWidget):
    """Analyse drift of a model version's current data and explore the result.

    Parameters
    ----------
    workspace
        The open workspace.
    runner
        Runs the registry reads and the analysis off the GUI thread.
    notifier
        The window's notification surface.

    Signals
    -------
    models_loaded()
        The model list was (re)loaded.
    versions_loaded(str)
        The versions of the named model are in the version box.
    report_shown(object)
        A ``DriftReport`` is on display.
    selection_changed(object, object)
        The selected (feature, window) changed (either may be ``None``).
    """

    models_loaded = Signal()
    versions_loaded = Signal(str)
    report_shown = Signal(object)
    selection_changed = Signal(object, object)

    def __init__(self, workspace: Any, runner: TaskRunner, notifier: NotificationBanner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("driftPage")
        self.workspace = workspace
        self.registry = Registry(workspace)
        self.runner = runner
        self.notifier = notifier
        self.report: Any = None
        self.task: Task | None = None
        self.current_files: list[Path] = []
        self.feature: str | None = None
        self.window: str | None = None
        self._files_preselected = False
        self._files_pulled = False
        self._versions: dict[str, Any] = {}
        self._models_generation = 0
        self._versions_generation = 0
        self._pending_model: str | None = None
        self._requested_unit: str | None = None
        self._updating = False

        self._build_controls()
        self._build_results()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addLayout(self._header)
        layout.addWidget(self.controls)
        layout.addWidget(self.body_stack, 1)

        self._update_actions()
        self.refresh_models()

    # -- construction -------------------------------------------------------

    def _build_controls(self) -> None:
        # Header: title, then the verdict and summary (or the progress while analysing).
        title = QLabel("Drift", self)
        title.setProperty("role", "pageTitle")
        self.subtitle = muted_label("Has production data stopped looking like the training "
                                    "data? Which features, since when, where, and what to do.",
                                    self)
        self.subtitle.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.verdict_chip = StatusChip(self)
        self.verdict_chip.setObjectName("verdictChip")
        self.summary_label = ElidedLabel("", self)
        self.summary_label.setObjectName("summaryLabel")
        self.summary_label.hide()
        self.progress_label = muted_label("", self, wrap=False)
        self.progress_label.setObjectName("progressLabel")
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                          QSizePolicy.Policy.Preferred)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setObjectName("analysisProgress")
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setFixedWidth(200)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("cancelAnalysisButton")
        self.cancel_button.setToolTip("Stop the analysis; nothing is kept")
        for widget in (self.progress_label, self.progress_bar, self.cancel_button):
            widget.hide()
        self.export_button = QPushButton("Export HTML report…", self)
        self.export_button.setObjectName("exportButton")
        self._header = QHBoxLayout()
        self._header.setSpacing(12)
        self._header.addWidget(title, 0, Qt.AlignmentFlag.AlignVCenter)
        self._header.addWidget(self.subtitle, 1, Qt.AlignmentFlag.AlignVCenter)
        self._header.addWidget(self.verdict_chip, 0, Qt.AlignmentFlag.AlignVCenter)
        self._header.addWidget(self.summary_label, 1, Qt.AlignmentFlag.AlignVCenter)
        self._header.addWidget(self.progress_label, 1, Qt.AlignmentFlag.AlignVCenter)
        self._header.addWidget(self.progress_bar, 0, Qt.AlignmentFlag.AlignVCenter)
        self._header.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self._header.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignVCenter)

        # The inputs of an analysis.
        self.controls = QFrame(self)
        self.controls.setObjectName("driftControls")
        self.controls.setProperty("role", "card")
        self.model_combo = QComboBox(self.controls)
        self.model_combo.setObjectName("modelCombo")
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(9)
        self.version_combo = QComboBox(self.controls)
        self.version_combo.setObjectName("versionCombo")
        self.version_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.version_combo.setMinimumContentsLength(9)
        self.version_combo.setToolTip("Its stored reference profile, feature importance and "
                                      "holdout predictions are the baseline")
        self.window_combo = QComboBox(self.controls)
        self.window_combo.setObjectName("windowCombo")
        for text, unit in WINDOW_CHOICES:
            self.window_combo.addItem(text, unit)
        self.window_combo.setCurrentIndex(self.window_combo.findData("day"))
        self.window_combo.setToolTip(
            "How the current data is cut into windows: by its timestamp column (hour, day, "
            "week), or one window per file when the data has no timestamp column")
        # An optional time range (by the data's timestamp column), inclusive of both days.
        self.range_check = QCheckBox("Only from", self.controls)
        self.range_check.setObjectName("rangeCheck")
        self.range_check.setToolTip("Analyse only the rows whose timestamp falls between the "
                                    "two dates (both days included)")
        self.since_edit = QDateEdit(self.controls)
        self.until_edit = QDateEdit(self.controls)
        today = QDate.currentDate()
        for edit, name, date in ((self.since_edit, "sinceEdit", today.addDays(-6)),
                                 (self.until_edit, "untilEdit", today)):
            edit.setObjectName(name)
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setDate(date)
            edit.setEnabled(False)
        self.range_check.toggled.connect(self.since_edit.setEnabled)
        self.range_check.toggled.connect(self.until_edit.setEnabled)
        self.multivariate_check = QCheckBox("Joint distribution", self.controls)
        self.multivariate_check.setObjectName("multivariateCheck")
        self.multivariate_check.setChecked(True)
        self.multivariate_check.setToolTip(
            "Also test the features together (domain classifier and PCA): catches changes "
            "per-feature tests miss, such as a flipped correlation; takes a few seconds")
        self.analyze_button = QPushButton("Analyze", self.controls)
        self.analyze_button.setObjectName("analyzeButton")
        self.analyze_button.setProperty("primary", True)
        self.analyze_button.setMinimumWidth(100)
        self.files_label = ElidedLabel("", self.controls)
        self.files_label.setObjectName("filesLabel")
        self.files_hint = QLabel("demo data, preselected", self.controls)
        self.files_hint.setObjectName("filesHint")
        self.files_hint.setStyleSheet(f"background: {LIGHT['accent_soft']}; "
                                      f"color: {LIGHT['accent_pressed']}; border-radius: 9px; "
                                      "padding: 1px 9px;")
        self.files_hint.hide()
        self.choose_button = QPushButton("Choose files…", self.controls)
        self.choose_button.setObjectName("chooseFilesButton")
        self.choose_button.setToolTip("Pick the current (production) data: CSV or Parquet "
                                      "files with the model's input columns")

        def field(text: str) -> QLabel:
            label = QLabel(text, self.controls)
            label.setProperty("role", "fieldLabel")
            return label

        row1 = QHBoxLayout()
        row1.setSpacing(8)
        # The boxes grow with the window (long model names) down to 9 characters.
        for combo in (self.model_combo, self.version_combo):
            combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            combo.setMaximumWidth(280)
        row1.addWidget(field("Model"))
        row1.addWidget(self.model_combo, 3)
        row1.addSpacing(4)
        row1.addWidget(field("Version"))
        row1.addWidget(self.version_combo, 2)
        row1.addStretch(2)
        row1.addWidget(self.multivariate_check)
        row1.addSpacing(6)
        row1.addWidget(self.analyze_button)
        row2 = QHBoxLayout()
        row2.setSpacing(8)
        row2.addWidget(field("Current data"))
        row2.addWidget(self.files_label, 1)
        row2.addWidget(self.files_hint)
        row2.addWidget(self.choose_button)
        row3 = QHBoxLayout()
        row3.setSpacing(8)
        row3.addWidget(field("Windows"))
        row3.addWidget(self.window_combo)
        row3.addSpacing(12)
        row3.addWidget(self.range_check)
        row3.addWidget(self.since_edit)
        row3.addWidget(field("to"))
        row3.addWidget(self.until_edit)
        row3.addStretch(1)
        controls_layout = QVBoxLayout(self.controls)
        controls_layout.setContentsMargins(14, 8, 14, 8)
        controls_layout.setSpacing(6)
        controls_layout.addLayout(row1)
        controls_layout.addLayout(row2)
        controls_layout.addLayout(row3)

        self.model_combo.currentIndexChanged.connect(self._on_model_combo_current_index_changed)
        self.version_combo.currentIndexChanged.connect(self._on_version_combo_current_index_changed)
        self.analyze_button.clicked.connect(self._on_analyze_button_clicked)
        self.choose_button.clicked.connect(self._on_choose_button_clicked)
        self.cancel_button.clicked.connect(self.cancel_analysis)
        self.export_button.clicked.connect(self._on_export_button_clicked)

    def _build_results(self) -> None:
        # Heatmap card, with the host filter (a view filter: hosts are in the report).
        self.heatmap = DriftHeatmap(self)
        self.heatmap_legend = HeatmapLegend(self)
        self.heatmap_title = QLabel("Features × windows", self)
        self.heatmap_title.setProperty("role", "sectionTitle")
        self.heatmap_hint = ElidedLabel("", self)
        self.heatmap_hint.setObjectName("heatmapHint")
        self.heatmap_hint.setProperty("role", "muted")
        self.host_label = QLabel("Host", self)
        self.host_label.setProperty("role", "fieldLabel")
        self.host_combo = QComboBox(self)
        self.host_combo.setObjectName("hostCombo")
        self.host_combo.setMinimumWidth(120)
        self.host_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.host_combo.addItem("All hosts", None)
        heat_card = QFrame(self)
        heat_card.setObjectName("heatmapCard")
        heat_card.setProperty("role", "card")
        heat_layout = QVBoxLayout(heat_card)
        heat_layout.setContentsMargins(12, 8, 12, 6)
        heat_layout.setSpacing(4)
        heat_title_row = QHBoxLayout()
        heat_title_row.setSpacing(10)
        heat_title_row.addWidget(self.heatmap_title)
        heat_title_row.addWidget(self.heatmap_hint, 1)
        heat_title_row.addWidget(self.host_label)
        heat_title_row.addWidget(self.host_combo)
        heat_layout.addLayout(heat_title_row)
        # many features scroll rather than squeeze their rows unreadable
        self.heatmap_scroll = QScrollArea(heat_card)
        self.heatmap_scroll.setObjectName("heatmapScroll")
        self.heatmap_scroll.setWidget(self.heatmap)
        self.heatmap_scroll.setWidgetResizable(True)
        self.heatmap_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.heatmap_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        heat_layout.addWidget(self.heatmap_scroll, 1)
        heat_layout.addWidget(self.heatmap_legend)

        # Advice: a full-height column on the right.
        self.advice_model = AdviceListModel(self)
        self.advice_view = QListView(self)
        self.advice_view.setObjectName("adviceList")
        self.advice_view.setModel(self.advice_model)
        self.advice_view.setItemDelegate(AdviceDelegate(self.advice_view))
        self.advice_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.advice_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.advice_view.setResizeMode(QListView.ResizeMode.Adjust)
        self.advice_view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.advice_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.advice_view.setWordWrap(True)
        self.advice_view.setStyleSheet("QListView#adviceList { border: none; }")
        advice_card = QFrame(self)
        advice_card.setObjectName("adviceCard")
        advice_card.setProperty("role", "card")
        advice_title = QLabel("What to do", self)
        advice_title.setProperty("role", "sectionTitle")
        self.advice_count = ElidedLabel("", self)
        self.advice_count.setObjectName("adviceCount")
        self.advice_count.setProperty("role", "muted")
        advice_layout = QVBoxLayout(advice_card)
        advice_layout.setContentsMargins(4, 8, 4, 4)
        advice_layout.setSpacing(4)
        advice_title_row = QHBoxLayout()
        advice_title_row.setContentsMargins(8, 0, 8, 0)
        advice_title_row.addWidget(advice_title)
        advice_title_row.addWidget(self.advice_count, 1)
        advice_layout.addLayout(advice_title_row)
        advice_layout.addWidget(self.advice_view, 1)
        advice_card.setMinimumWidth(220)

        # Feature tab: the selected feature's score over time and histogram.
        self.feature_title = QLabel(self)
        self.feature_title.setObjectName("featureTitle")
        self.feature_title.setProperty("role", "sectionTitle")
        self.feature_chip = StatusChip(self)
        self.feature_window_combo = QComboBox(self)
        self.feature_window_combo.setObjectName("featureWindowCombo")
        self.feature_window_combo.setMinimumWidth(130)
        self.feature_window_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.feature_window_combo.setToolTip("Show the histogram and numbers of one window, "
                                             "or of all current data")
        self.feature_reason = WrappedLabel("", self)
        self.feature_reason.setObjectName("featureReason")
        self.feature_reason.setProperty("role", "muted")
        self.score_chart = ScoreChart(self)
        self.score_card = ChartCard("Drift score over time", self.score_chart, self, card=False)
        self.score_card.setObjectName("scoreCard")
        self.histogram_chart = HistogramChart(self)
        self.histogram_card = ChartCard("Reference vs current", self.histogram_chart, self,
                                        card=False)
        self.histogram_card.setObjectName("histogramCard")
        feature_tab = QWidget(self)
        feature_head = QHBoxLayout()
        feature_head.setSpacing(10)
        feature_head.addWidget(self.feature_title)
        feature_head.addWidget(self.feature_chip)
        window_label = QLabel("Window", self)
        window_label.setProperty("role", "fieldLabel")
        feature_head.addSpacing(6)
        feature_head.addWidget(window_label)
        feature_head.addWidget(self.feature_window_combo)
        feature_head.addStretch(1)
        self.detail_splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.detail_splitter.setObjectName("driftDetailSplitter")
        self.detail_splitter.setChildrenCollapsible(False)
        self.detail_splitter.setHandleWidth(18)
        self.detail_splitter.addWidget(self.score_card)
        self.detail_splitter.addWidget(self.histogram_card)
        self.detail_splitter.setSizes([340, 340])
        feature_layout = QVBoxLayout(feature_tab)
        feature_layout.setContentsMargins(10, 8, 10, 8)
        feature_layout.setSpacing(6)
        feature_layout.addLayout(feature_head)
        feature_layout.addWidget(self.feature_reason)
        feature_layout.addWidget(self.detail_splitter, 1)

        # Numbers tab: every number of the selected feature (and its hosts).
        # Two tables side by side: the verdict and distribution tests, then moments,
        # counts, data quality and hosts.
        self.numbers_model = FeatureNumbersModel(self)
        self.numbers_view = self._numbers_table(self.numbers_model, "numbersTable")
        self.numbers_more_model = FeatureNumbersModel(self)
        self.numbers_more_view = self._numbers_table(self.numbers_more_model, "numbersMoreTable")
        self.numbers_note = ElidedLabel("", self)
        self.numbers_note.setObjectName("numbersNote")
        self.numbers_note.setProperty("role", "muted")
        numbers_row = QSplitter(Qt.Orientation.Horizontal, self)
        numbers_row.setObjectName("numbersSplitter")
        numbers_row.setChildrenCollapsible(False)
        numbers_row.setHandleWidth(12)
        numbers_row.addWidget(self.numbers_view)
        numbers_row.addWidget(self.numbers_more_view)
        numbers_tab = QWidget(self)
        numbers_layout = QVBoxLayout(numbers_tab)
        numbers_layout.setContentsMargins(10, 8, 10, 8)
        numbers_layout.setSpacing(6)
        numbers_layout.addWidget(self.numbers_note)
        numbers_layout.addWidget(numbers_row, 1)

        # Model outputs tab: an output's drift per window (like a feature's), holdout vs
        # current outputs of the selected window, and performance over time.
        self.outputs_chip = StatusChip(self)
        self.outputs_chip.setObjectName("outputsChip")
        self.output_combo = QComboBox(self)
        self.output_combo.setObjectName("outputCombo")
        self.output_combo.setMinimumWidth(130)
        self.output_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.output_combo.setToolTip("The model output whose drift is drawn per window")
        self.outputs_since = ElidedLabel("", self)
        self.outputs_since.setObjectName("outputsSince")
        self.outputs_since.setProperty("role", "muted")
        self.output_score_chart = ScoreChart(self)
        self.output_score_chart.setObjectName("outputScoreChart")
        self.output_score_card = ChartCard("Output drift over time", self.output_score_chart,
                                           self, card=False)
        self.output_score_card.setObjectName("outputScoreCard")
        self.prediction_chart = PredictionChart(self)
        self.prediction_card = ChartCard("Prediction drift", self.prediction_chart, self,
                                         card=False)
        self.prediction_card.setObjectName("predictionCard")
        self.performance_chart = PerformanceChart(self)
        self.performance_card = ChartCard("Performance over time", self.performance_chart,
                                          self, card=False)
        self.performance_card.setObjectName("performanceCard")
        self.outputs_notes = muted_label("", self)
        self.outputs_notes.setObjectName("outputsNotes")
        outputs_tab = QWidget(self)
        outputs_head = QHBoxLayout()
        outputs_head.setSpacing(10)
        output_label = QLabel("Output", self)
        output_label.setProperty("role", "fieldLabel")
        outputs_head.addWidget(output_label)
        outputs_head.addWidget(self.output_combo)
        outputs_head.addWidget(self.outputs_chip)
        outputs_head.addWidget(self.outputs_since, 1)
        self.outputs_splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.outputs_splitter.setObjectName("driftOutputsSplitter")
        self.outputs_splitter.setChildrenCollapsible(False)
        self.outputs_splitter.setHandleWidth(12)
        for card in (self.output_score_card, self.prediction_card, self.performance_card):
            card.setMinimumWidth(110)
            self.outputs_splitter.addWidget(card)
        for index, stretch in enumerate((4, 3, 4)):
            self.outputs_splitter.setStretchFactor(index, stretch)
        self.outputs_splitter.setSizes([260, 195, 260])
        outputs_layout = QVBoxLayout(outputs_tab)
        outputs_layout.setContentsMargins(10, 8, 10, 8)
        outputs_layout.setSpacing(6)
        outputs_layout.addLayout(outputs_head)
        outputs_layout.addWidget(self.outputs_splitter, 1)
        outputs_layout.addWidget(self.outputs_notes)

        # Joint distribution tab.
        self.joint_summary = ElidedLabel("", self)
        self.joint_summary.setObjectName("jointSummary")
        self.joint_chip = StatusChip(self)
        self.joint_summary.setProperty("role", "muted")
        self.joint_model = FeatureNumbersModel(self)
        self.joint_view = self._numbers_table(self.joint_model, "jointTable")
        self.joint_view.setColumnWidth(0, 215)
        self.importance_chart = ImportanceChart(self)
        self.importance_card = ChartCard("What tells current rows from reference rows",
                                         self.importance_chart, self, card=False)
        self.importance_card.setObjectName("importanceCard")
        joint_row = QSplitter(Qt.Orientation.Horizontal, self)
        joint_row.setObjectName("jointSplitter")
        joint_row.setChildrenCollapsible(False)
        joint_row.setHandleWidth(18)
        joint_row.addWidget(self.joint_view)
        joint_row.addWidget(self.importance_card)
        joint_row.setSizes([340, 340])
        joint_tab = QWidget(self)
        joint_head = QHBoxLayout()
        joint_title = QLabel("Features taken together", self)
        joint_title.setProperty("role", "sectionTitle")
        joint_head.addWidget(joint_title)
        joint_head.addWidget(self.joint_chip)
        joint_head.addStretch(1)
        joint_layout = QVBoxLayout(joint_tab)
        joint_layout.setContentsMargins(10, 8, 10, 8)
        joint_layout.setSpacing(6)
        joint_layout.addLayout(joint_head)
        joint_layout.addWidget(self.joint_summary)
        joint_layout.addWidget(joint_row, 1)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("driftTabs")
        self.feature_tab_index = self.tabs.addTab(feature_tab, "Feature")
        self.numbers_tab_index = self.tabs.addTab(numbers_tab, "All numbers")
        self.outputs_tab_index = self.tabs.addTab(outputs_tab, "Model outputs")
        self.joint_tab_index = self.tabs.addTab(joint_tab, "Joint distribution")

        self.body_splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.body_splitter.setObjectName("driftBodySplitter")
        self.body_splitter.setChildrenCollapsible(False)
        self.body_splitter.addWidget(heat_card)
        self.body_splitter.addWidget(self.tabs)
        self.body_splitter.setStretchFactor(0, 4)
        self.body_splitter.setStretchFactor(1, 5)
        self.body_splitter.setSizes([250, 310])

        self.top_splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.top_splitter.setObjectName("driftTopSplitter")
        self.top_splitter.setChildrenCollapsible(False)
        self.top_splitter.addWidget(self.body_splitter)
        self.top_splitter.addWidget(advice_card)
        self.top_splitter.setStretchFactor(0, 5)
        self.top_splitter.setStretchFactor(1, 2)
        self.top_splitter.setSizes([700, 350])

        # Empty state before the first analysis.
        self.empty_state = QFrame(self)
        self.empty_state.setObjectName("driftEmptyState")
        self.empty_state.setProperty("role", "card")
        empty_title = QLabel("No analysis yet", self.empty_state)
        empty_title.setProperty("role", "pageTitle")
        empty_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_text = muted_label("", self.empty_state)
        self.empty_text.setObjectName("emptyText")
        self.empty_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_text.setFixedWidth(560)
        self.empty_button = QPushButton("Analyze", self.empty_state)
        self.empty_button.setObjectName("emptyAnalyzeButton")
        self.empty_button.setProperty("primary", True)
        self.empty_button.setMinimumWidth(140)
        self.empty_button.clicked.connect(self._on_analyze_button_clicked)
        empty_layout = QVBoxLayout(self.empty_state)
        empty_layout.addStretch(2)
        empty_layout.addWidget(empty_title)
        empty_layout.addSpacing(6)
        empty_layout.addWidget(self.empty_text, 0, Qt.AlignmentFlag.AlignHCenter)
        empty_layout.addSpacing(14)
        empty_layout.addWidget(self.empty_button, 0, Qt.AlignmentFlag.AlignHCenter)
        empty_layout.addStretch(3)

        self.body_stack = QStackedWidget(self)
        self.body_stack.addWidget(self.top_splitter)
        self.body_stack.addWidget(self.empty_state)
        self.body_stack.setCurrentWidget(self.empty_state)

        self.heatmap.cell_clicked.connect(self._on_heatmap_cell_clicked)
        self.advice_view.selectionModel().currentChanged.connect(
            self._on_advice_view_current_changed)
        self.advice_view.clicked.connect(self._on_advice_view_clicked)
        self.feature_window_combo.currentIndexChanged.connect(
            self._on_feature_window_combo_current_index_changed)
        self.host_combo.currentIndexChanged.connect(self._on_host_combo_current_index_changed)
        self.output_combo.currentIndexChanged.connect(
            self._on_output_combo_current_index_changed)

    def _numbers_table(self, model: FeatureNumbersModel, name: str) -> QTableView:
        view = QTableView(self)
        view.setObjectName(name)
        view.setModel(model)
        view.verticalHeader().hide()
        view.verticalHeader().setDefaultSectionSize(26)
        view.setShowGrid(False)
        view.setWordWrap(False)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        view.setColumnWidth(0, 170)
        view.setMinimumWidth(150)
        return view

    # -- state --------------------------------------------------------------

    def save_state(self, settings: QSettings) -> None:
        """Store splitter sizes (``settings`` is already in this page's group)."""
        for key, splitter in self._splitters().items():
            settings.setValue(key, splitter.saveState())

    def restore_state(self, settings: QSettings) -> None:
        """Restore what :meth:`save_state` stored."""
        for key, splitter in self._splitters().items():
            value = settings.value(key)
            if value is not None:
                splitter.restoreState(value)

    def _splitters(self) -> dict[str, QSplitter]:
        return {"topSplitter": self.top_splitter, "bodySplitter": self.body_splitter,
                "detailSplitter": self.detail_splitter, "outputsSplitter": self.outputs_splitter}

    # -- models, versions and files -------------------------------------------

    def refresh_models(self) -> None:
        """Reload the model list from the registry (in a worker)."""
        self._models_generation += 1
        generation = self._models_generation

        def _on_done(models: list[Any]) -> None:
            if generation == self._models_generation:
                self._show_models(models)

        self.runner.call(self.registry.list_models, title="Loading models", on_done=_on_done)

    def _show_models(self, models: list[Any]) -> None:
        previous = self.pending_or_current_model()
        names = sorted(m.name for m in models)
        self._updating = True
        self.model_combo.clear()
        for name in names:
            self.model_combo.addItem(name, name)
        self._updating = False
        target = previous if previous in names else (names[0] if names else None)
        self._pending_model = None
        if target is None:
            self.version_combo.clear()
            self._update_empty_text()
            self._update_actions()
            self.models_loaded.emit()
            return
        index = self.model_combo.findData(target)
        if self.model_combo.currentIndex() == index:
            self._load_versions(target)
        else:
            self.model_combo.setCurrentIndex(index)
        self.models_loaded.emit()

    def pending_or_current_model(self) -> str | None:
        """The model chosen (or about to be)."""
        return self._pending_model or self.model_combo.currentData()

    def select_model(self, name: str) -> bool:
        """Choose model ``name`` (when listed); whether it was found."""
        index = self.model_combo.findData(name)
        if index < 0:
            self._pending_model = name
            return False
        self.model_combo.setCurrentIndex(index)
        return True

    def _on_model_combo_current_index_changed(self, _index: int) -> None:
        if self._updating:
            return
        name = self.model_combo.currentData()
        if name:
            self._load_versions(name)

    def _load_versions(self, name: str) -> None:
        self._versions_generation += 1
        generation = self._versions_generation

        def _on_done(versions: list[Any]) -> None:
            if generation == self._versions_generation:
                self._show_versions(name, versions)

        self.runner.call(self.registry.list_versions, name, title=f"Loading {name}",
                         on_done=_on_done)

    def _show_versions(self, name: str, versions: list[Any]) -> None:
        previous = self.selected_ref()
        ordered = sorted(versions, key=lambda v: -v.version)
        self._versions = {v.ref: v for v in ordered}
        self._updating = True
        self.version_combo.clear()
        for info in ordered:
            aliases = f" · {', '.join(info.aliases)}" if info.aliases else ""
            self.version_combo.addItem(f"v{info.version}{aliases}", info.ref)
        self._updating = False
        production = next((v for v in ordered if "production" in v.aliases), None)
        kept = next((v for v in ordered if v.ref == previous), None)
        chosen = kept or production or (ordered[0] if ordered else None)
        if chosen is not None:
            self.version_combo.setCurrentIndex(self.version_combo.findData(chosen.ref))
        if not self.current_files or self._files_preselected:
            # what the hosts served (pulled) comes first; else the demo's files
            pulled = pulled_files(self.workspace, name)
            if pulled:
                self._set_files(pulled, preselected=True, pulled=True)
            else:
                files = demo_files(Path(self.workspace.path), name)
                self._set_files(files, preselected=bool(files))
        self._update_actions()
        self.versions_loaded.emit(name)

    def _on_version_combo_current_index_changed(self, _index: int) -> None:
        if not self._updating:
            self._update_actions()

    def selected_ref(self) -> str | None:
        """The version reference chosen (``breast-cancer:1``)."""
        return self.version_combo.currentData()

    def select_version(self, ref: str) -> bool:
        """Choose version ``ref`` (``NAME:N``) when listed."""
        index = self.version_combo.findData(ref)
        if index >= 0:
            self.version_combo.setCurrentIndex(index)
        return index >= 0

    def set_current_files(self, files: Sequence[str | Path]) -> None:
        """Use ``files`` as the current data."""
        self._set_files([Path(f) for f in files], preselected=False)

    def set_window_unit(self, unit: str) -> None:
        """Choose the window unit (``file``, ``hour``, ``day``, ``week``)."""
        index = self.window_combo.findData(unit)
        if index < 0:
            raise ValueError(f"unknown window unit {unit!r}")
        self.window_combo.setCurrentIndex(index)

    def _set_files(self, files: list[Path], *, preselected: bool,
                   pulled: bool = False) -> None:
        """Use ``files``; ``preselected``: chosen by the page (the demo's files, or what
        ``pull`` fetched: ``pulled``, time ``ts``, host ``host``), replaced when the model
        changes."""
        self.current_files = list(files)
        self._files_preselected = preselected
        self._files_pulled = pulled
        self.files_label.set_full_text(describe_files(self.current_files))
        self.files_label.setToolTip("\n".join(str(p) for p in self.current_files))
        self.files_hint.setText("pulled from the hosts" if pulled else "demo data, preselected")
        self.files_hint.setVisible(bool(preselected and files))
        self._update_empty_text()
        self._update_actions()

    def _on_choose_button_clicked(self) -> None:
        start = str(self.current_files[0].parent) if self.current_files else \
            str(self.workspace.path)
        paths, _filter = QFileDialog.getOpenFileNames(
            self, "Choose the current data", start, DATA_FILTER)
        if paths:
            self.set_current_files(paths)

    # -- analysis -----------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """Whether an analysis runs."""
        return self.task is not None and not self.task.done

    def analyze(self) -> Task | None:
        """Analyse the chosen files against the chosen version (in a worker)."""
        ref = self.selected_ref()
        if ref is None or not self.current_files or self.is_running:
            return None
        unit = self.window_combo.currentData()
        window = unit if unit in drift_report.WINDOW_UNITS else None
        files = [str(p) for p in self.current_files]
        since, until = self.time_range()
        columns = {"time_column": "ts", "host_column": "host"} if self._files_pulled else {}
        self.task = self.runner.run(
            drift_report.analyze, files, registry=self.registry, ref=ref, window=window,
            multivariate=self.multivariate_check.isChecked(), since=since, until=until,
            **columns,
            title=f"Analyzing drift of {ref}", on_done=self._on_analysis_finished,
            on_error=self._on_analysis_errored, on_cancelled=self._on_analysis_cancelled)
        self.task.progressed.connect(self._on_task_progressed)
        self._requested_unit = unit
        self._show_running(True, "Starting…", None)
        self._update_actions()
        return self.task

    def time_range(self) -> tuple[str | None, str | None]:
        """``(since, until)`` for :func:`analyze`: the chosen days, or ``(None, None)``."""
        if not self.range_check.isChecked():
            return None, None
        start, end = self.since_edit.date(), self.until_edit.date()
        return (start.toString("yyyy-MM-dd"),
                end.addDays(1).toString("yyyy-MM-dd"))  # the last day is included

    def _follow_report_dates(self, report: Any) -> None:
        # Offer the analysed span as the range to narrow, unless the user set one.
        starts = [w.start for w in report.windows if w.start]
        if self.range_check.isChecked() or not starts:
            return
        self.since_edit.setDate(QDate.fromString(min(starts)[:10], "yyyy-MM-dd"))
        self.until_edit.setDate(QDate.fromString(max(starts)[:10], "yyyy-MM-dd"))

    def cancel_analysis(self) -> None:
        """Stop the running analysis."""
        if self.task is not None and not self.task.done:
            self.task.cancel()
            self.progress_label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def _on_analyze_button_clicked(self) -> None:
        self.analyze()

    def _on_task_progressed(self, event: Any) -> None:
        self._show_running(True, event.message or event.step, event.fraction)

    def _show_running(self, running: bool, text: str = "", fraction: float | None = None
                      ) -> None:
        for widget in (self.progress_label, self.progress_bar, self.cancel_button):
            widget.setVisible(running)
        has_report = self.report is not None
        self.summary_label.setVisible(not running and has_report)
        self.verdict_chip.setVisible(not running and has_report)
        self.subtitle.setVisible(not running and not has_report)
        if running:
            self.progress_label.setText(f"Analyzing: {text}")
            self.progress_label.setToolTip(text)
            if fraction is None:
                self.progress_bar.setRange(0, 0)
            else:
                self.progress_bar.setRange(0, 1000)
                self.progress_bar.setValue(round(max(0.0, min(1.0, fraction)) * 1000))
            self.cancel_button.setEnabled(not (self.task and self.task.token.is_cancelled))

    def _on_analysis_finished(self, report: Any) -> None:
        self.task = None
        self._show_running(False)
        self.show_report(report)

    def _on_analysis_errored(self, _exc: BaseException) -> None:
        # The runner already showed the error in the banner.
        self.task = None
        self._show_running(False)
        self._update_actions()

    def _on_analysis_cancelled(self) -> None:
        self.task = None
        self._show_running(False)
        self._update_actions()

    # -- showing a report -----------------------------------------------------

    def show_report(self, report: Any) -> None:
        """Show ``report`` (a ``DriftReport``)."""
        self.report = report
        self._updating = True
        self.host_combo.clear()
        self.host_combo.addItem("All hosts", None)
        for host in report.hosts:
            self.host_combo.addItem(host, host)
        self._updating = False
        self.host_combo.setEnabled(len(report.hosts) > 1)
        self.host_combo.setToolTip(
            "Show every view for one host only, or all hosts merged" if len(report.hosts) > 1
            else "The data names one host or none: nothing to filter"
            if not report.hosts else f"All rows come from {report.hosts[0]}")

        verdict = "drift" if report.drift else "ok"
        self.verdict_chip.set_status(verdict, "Drift detected" if report.drift else "No drift")
        self.summary_label.set_full_text(self._summary_text(report))
        self.advice_model.set_advice(report.advice)
        actions = sum(1 for a in report.advice if a.severity == "action")
        self.advice_count.set_full_text(f"{len(report.advice)} finding"
                                        f"{'s' if len(report.advice) != 1 else ''}, ranked"
                                        + (f" · {actions} need action" if actions else ""))
        self._updating = True
        self.feature_window_combo.clear()
        self.feature_window_combo.addItem("All windows", None)
        for view in report.windows:
            self.feature_window_combo.addItem(view.label, view.label)
        self._updating = False

        names = [f.name for f in report.features]
        feature = self.feature if self.feature in names else None
        if feature is None:
            first = next((a for a in report.advice if a.feature in names), None)
            feature = first.feature if first is not None else (names[0] if names else None)
        window = self.window if self.window in [w.label for w in report.windows] else None
        self.body_stack.setCurrentWidget(self.top_splitter)
        self._refresh_heatmap()
        self._refresh_outputs()
        self._refresh_joint()
        self.select(feature, window)
        self._show_running(self.is_running)
        self._update_actions()
        self._follow_report_dates(report)
        self.report_shown.emit(report)

    def _summary_text(self, report: Any) -> str:
        text = report.summary()
        for prefix in ("Drift detected: ", "No relevant drift: "):
            if text.startswith(prefix):
                text = text[len(prefix):]
        return text[:1].upper() + text[1:]

    def _scope_text(self, report: Any) -> str:
        """``breast-cancer:1 · 1,400 rows · 7 days · 2 hosts``."""
        windows = len(report.windows)
        unit = report.window_unit or "file"
        parts = [report.model or "reference data", f"{report.overall.n_current:,} rows",
                 f"{windows} {unit}{'s' if windows != 1 else ''}"]
        if report.hosts:
            parts.append(f"{len(report.hosts)} host{'s' if len(report.hosts) != 1 else ''}")
        if self._requested_unit == "file" and report.window_unit:
            parts.append(f"windows by {report.window_unit}: the data has a timestamp column")
        return " · ".join(parts)

    @property
    def host(self) -> str | None:
        """The host filter (``None``: all hosts merged)."""
        return self.host_combo.currentData() if self.report is not None else None

    def set_host(self, host: str | None) -> None:
        """Filter every view to ``host`` (``None``: all hosts)."""
        index = self.host_combo.findData(host) if host is not None else 0
        if index >= 0:
            self.host_combo.setCurrentIndex(index)

    def _on_host_combo_current_index_changed(self, _index: int) -> None:
        if self._updating or self.report is None:
            return
        self._refresh_heatmap()
        self._refresh_feature()
        self._refresh_output_views()

    def window_views(self) -> list[Any]:
        """The per-window views under the host filter, in time order."""
        report, host = self.report, self.host
        if report is None:
            return []
        if host is None:
            return list(report.windows)
        cells = [c for c in report.cells if c.host == host]
        return cells if cells else list(report.windows)

    def _refresh_heatmap(self) -> None:
        report = self.report
        views = self.window_views()
        features = [f.name for f in report.features]
        cells = []
        for view in views:
            by_name = {f.name: f for f in view.result.features}
            for name in features:
                cells.append(HeatCell(name, view.label, by_name.get(name)))
        windows = [w.label for w in report.windows]
        self.heatmap.set_grid(features, windows, cells, short_labels(windows))
        where = f" · {self.host} only" if self.host else ""
        scope = f"{self._scope_text(report)}{where}"
        self.heatmap_hint.set_full_text(f"{scope} · click a cell to open it",
                                        shorter=(f"{scope} · click a cell", scope))

    # -- selection ----------------------------------------------------------

    def select(self, feature: str | None, window: str | None = None) -> None:
        """Show ``feature`` (in ``window``, or over all windows) in the Feature tab."""
        self.feature, self.window = feature, window
        self.heatmap.select(feature, window)
        self._updating = True
        index = self.feature_window_combo.findData(window) if window is not None else 0
        self.feature_window_combo.setCurrentIndex(max(index, 0))
        self._updating = False
        self._refresh_feature()
        if self.report is not None:
            self._refresh_output_views()
        self.selection_changed.emit(feature, window)

    def _on_heatmap_cell_clicked(self, feature: str, window: str) -> None:
        self.tabs.setCurrentIndex(self.feature_tab_index)
        self.select(feature, window)

    def _on_feature_window_combo_current_index_changed(self, _index: int) -> None:
        if not self._updating and self.feature is not None:
            self.select(self.feature, self.feature_window_combo.currentData())

    def _on_advice_view_current_changed(self, current: QModelIndex, _previous: QModelIndex
                                        ) -> None:
        if current.isValid():
            self.open_advice(current.row())

    def _on_advice_view_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_advice(index.row())

    def open_advice(self, row: int) -> None:
        """Show the chart an advice item is about (its feature, window and host)."""
        advice = self.advice_model.advice_at(row)
        if self.advice_view.currentIndex().row() != row:
            self.advice_view.selectionModel().setCurrentIndex(
                self.advice_model.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect)
            return  # currentChanged comes back here
        if self.report is None:
            return
        if advice.host is not None and advice.host in self.report.hosts \
                and len(self.report.hosts) > 1 and self.host != advice.host:
            self.set_host(advice.host)
        if advice.feature is not None:
            self.tabs.setCurrentIndex(self.feature_tab_index)
            self.select(advice.feature, advice.window)
        elif self.report.multivariate is not None and "joint" in advice.title.lower():
            self.tabs.setCurrentIndex(self.joint_tab_index)
        else:
            # The outputs or performance: show the window the finding starts in.
            if advice.window is not None and advice.window != self.window:
                self.select(self.feature, advice.window)
            self.tabs.setCurrentIndex(self.outputs_tab_index)

    def feature_result(self, name: str, window: str | None, host: str | None) -> Any:
        """The ``FeatureDrift`` of ``name`` in the view (window, host)."""
        report = self.report
        if window is None and host is None:
            return report.feature(name)
        if window is None:
            views = [v for v in report.by_host if v.host == host]
        elif host is None:
            views = [v for v in report.windows if v.label == window]
        elif report.cells:
            views = [v for v in report.cells if v.label == window and v.host == host]
        else:  # one host: its windows are the windows
            views = [v for v in report.windows if v.label == window]
        if not views:
            return None
        try:
            return views[0].result.feature(name)
        except KeyError:
            return None

    def _refresh_feature(self) -> None:
        report, name, window, host = self.report, self.feature, self.window, self.host
        if report is None or name is None:
            self.feature_title.setText("No feature selected")
            self.feature_chip.set_status(None)
            self.feature_reason.set_full_text("")
            self.score_card.show_placeholder("Click a heatmap cell or a finding.")
            self.histogram_card.show_placeholder("")
            self.numbers_model.set_rows([])
            self.numbers_more_model.set_rows([])
            self.numbers_note.set_full_text("Select a feature in the heatmap or the advice.")
            return
        overall = report.feature(name)
        result = self.feature_result(name, window, host)
        self.feature_title.setText(name)
        if result is None:
            self.feature_chip.set_status(None)
            self.feature_reason.set_full_text(f"{window or 'all windows'}, "
                                              f"{'on ' + host if host else 'all hosts'}: "
                                              "no rows in this view")
            self.score_card.show_placeholder("No rows in this view.")
            self.histogram_card.show_placeholder("No rows in this view.")
            self.numbers_model.set_rows([])
            self.numbers_more_model.set_rows([])
            self.numbers_note.set_full_text("No rows in this view.")
            return
        self.feature_chip.set_status(result.status)
        importance = report.importance.get(name)
        ranked = sorted(report.importance, key=lambda k: -report.importance[k])
        rank = ranked.index(name) + 1 if name in ranked else None
        where = f"on {host}" if host else "all hosts"
        scope = window or "all windows"
        used = (f" · importance rank {rank} of {len(ranked)}"
                f" ({format_number(importance, 3)})" if importance is not None else "")
        self.feature_reason.set_full_text(f"{scope}, {where}: {result.reason}{used}")

        # Score over time (under the host filter), one point per window.
        by_label = {view.label: view for view in self.window_views()}
        labels = [w.label for w in report.windows]
        values: list[float | None] = []
        flags: list[bool] = []
        for label in labels:
            view = by_label.get(label)
            try:
                f = view.result.feature(name) if view is not None else None
            except KeyError:
                f = None
            values.append(f.effect_size if f is not None else None)
            flags.append(bool(f is not None and f.flagged))
        if host is None:
            scores = report.window_scores(name)
            labels = [w for w, _e, _f in scores]
            values = [e for _w, e, _f in scores]
            flags = [f for _w, _e, f in scores]
        if any(v is not None for v in values):
            self.score_chart.set_series(labels, values, flags, overall.effect_threshold,
                                        titles=short_labels(labels),
                                        effect_name=effect_name(overall.kind),
                                        selected=window)
            self.score_card.show_chart()
        else:
            self.score_card.show_placeholder(f"{name} has no drift score: {overall.reason}")
        self.score_card.set_title(f"Drift score over time{' on ' + host if host else ''}")
        self.score_card.set_legend(
            [(CURRENT_COLOR, effect_name(overall.kind)), (FLAG_COLOR, "flagged"),
             (THRESHOLD_COLOR, f"threshold {format_number(overall.effect_threshold, 3)}"
              if overall.effect_threshold is not None else "threshold")])

        # Histogram of the selected view.
        try:
            histogram = report.histogram(name, window, host)
        except (ModelDeckError, KeyError) as exc:
            histogram = None
            self.histogram_card.show_placeholder(f"No histogram for this view: {exc}")
        if histogram is not None:
            if len(histogram.labels) and (any(histogram.reference) or any(histogram.current)):
                self.histogram_chart.set_histogram(histogram)
                self.histogram_card.show_chart()
            else:
                self.histogram_card.show_placeholder(f"{name}: no values to draw")
            ref_missing, cur_missing = self.histogram_chart.missing
            note = (f"missing {ref_missing:.1%} → {cur_missing:.1%}"
                    if (ref_missing or cur_missing) else "")
            self.histogram_card.set_legend(
                [(REFERENCE_COLOR, "reference"),
                 (CURRENT_COLOR, f"current ({scope}{', ' + host if host else ''})")], note)
        self.histogram_card.set_title(f"{name}: reference vs current")

        by_host = []
        for view in report.by_host:
            try:
                by_host.append((view.host, view.result.feature(name)))
            except KeyError:
                continue
        rows = feature_rows(result, importance, rank, len(ranked),
                            by_host if len(by_host) > 1 else [])
        split = next((i for i, row in enumerate(rows)
                      if row.section and row.label in ("Moments", "Counts")), len(rows))
        self.numbers_model.set_rows(rows[:split])
        self.numbers_more_model.set_rows(rows[split:])
        self.numbers_note.set_full_text(
            f"{name} · {scope} · {where} vs the reference of {report.model or 'the data'}: "
            "flagged only when relevant (over the threshold) and significant "
            f"(Benjamini-Hochberg adjusted p ≤ {format_number(report.thresholds.alpha, 2)})")

    # -- model outputs and joint distribution ---------------------------------

    def _refresh_outputs(self) -> None:
        report = self.report
        notes = list(getattr(report, "notes", ()) or ())
        predictions = report.predictions
        names = [o.name for o in predictions.outputs] if predictions is not None else []
        previous = self.output_combo.currentData()
        self._updating = True
        self.output_combo.clear()
        for name in names:
            self.output_combo.addItem(name, name)
        if previous in names:
            self.output_combo.setCurrentIndex(names.index(previous))
        elif names:  # the first flagged output, else the scores (they move first)
            flagged = [i for i, v in enumerate(names) if any(
                o.name == v and o.flagged for w in report.prediction_windows
                for o in w.result.outputs)]
            self.output_combo.setCurrentIndex(flagged[0] if flagged else len(names) - 1)
        self._updating = False
        self.output_combo.setEnabled(len(names) > 1)
        self._refresh_output_views()

        points = list(report.performance)
        series = _performance_series(points)
        if series is not None:
            metric, realized, estimated, low, high = series
            baseline = self._baseline(report, metric)
            windows = [p.window for p in points]
            self.performance_chart.set_points(windows, metric_label(metric), realized,
                                              estimated, low, high, baseline,
                                              titles=short_labels(windows))
            self.performance_card.show_chart()
            entries = []
            if any(v is not None for v in realized):
                entries.append((REALIZED_COLOR, "realized (labels)"))
            if any(v is not None for v in estimated):
                entries.append((ESTIMATE_COLOR, "estimated without labels (band)"))
            if baseline is not None:
                entries.append((REFERENCE_COLOR, f"holdout {format_number(baseline, 3)}"))
            self.performance_card.set_legend(entries)
        else:
            self.performance_card.show_placeholder(
                "No performance over time: it needs labels in the current data (realized) "
                "or a classifier with probabilities and holdout predictions (estimated).")
            self.performance_card.set_legend([])
        self.outputs_notes.setText("\n".join(f"• {n[:1].upper()}{n[1:]}" for n in notes))
        self.outputs_notes.setVisible(bool(notes))

    @property
    def output(self) -> str | None:
        """The model output drawn per window (``None`` without prediction drift)."""
        return self.output_combo.currentData() if self.output_combo.count() else None

    def set_output(self, name: str) -> None:
        """Draw ``name`` (an output of the report's prediction drift) per window."""
        index = self.output_combo.findData(name)
        if index >= 0:
            self.output_combo.setCurrentIndex(index)

    def _on_output_combo_current_index_changed(self, _index: int) -> None:
        if not self._updating and self.report is not None:
            self._refresh_output_views()

    def prediction_view(self, window: str | None, host: str | None) -> Any:
        """The ``PredictionDrift`` of the view (window, host); ``None`` if there is none."""
        report = self.report
        if report is None or report.predictions is None:
            return None
        if window is None and host is None:
            return report.predictions
        if window is None:
            views = [v for v in report.prediction_hosts if v.host == host]
        else:
            views = [v for v in report.prediction_views(host) if v.window == window]
        return views[0].result if views else None

    def _refresh_output_views(self) -> None:
        """The selected output per window, and holdout vs current in the selected view."""
        report, host, window = self.report, self.host, self.window
        predictions = report.predictions
        on_host = f" on {host}" if host else ""
        self.output_score_card.set_title(f"Output drift, {host}" if host
                                         else "Output drift over time")
        if predictions is None:
            notes = list(getattr(report, "notes", ()) or ())
            why = next((n for n in notes if "prediction" in n or "model outputs" in n), None)
            text = (why[:1].upper() + why[1:] if why else
                    "No prediction drift: analyse against a model version with holdout "
                    "predictions.")
            for card in (self.output_score_card, self.prediction_card):
                card.show_placeholder(text)
                card.set_legend([])
            self.prediction_card.set_title("Prediction drift")
            self.outputs_chip.set_status(None)
            self.outputs_since.set_full_text("")
            return

        # The chip and the "since" line speak of the latest windows, as the advice does.
        since = report.predictions_since(host)
        flagged = [v.window for v in report.prediction_views(host) if v.flagged]
        if since is not None:
            self.outputs_chip.set_status("drift", "outputs shifted")
            parts = [f"since {since}{on_host}"]
        else:
            self.outputs_chip.set_status("ok", "stable now")
            parts = [f"flagged{on_host} in {', '.join(flagged[:3])}"
                     f"{' …' if len(flagged) > 3 else ''}, not in the latest window"
                     if flagged else f"no window flagged{on_host}"]
        if host is None and len(report.hosts) > 1:  # when the hosts tell more
            by_host = {h: report.predictions_since(h) for h in report.hosts}
            moving = [f"{h} since {w}" for h, w in by_host.items() if w is not None]
            if moving and set(by_host.values()) != {since}:
                parts.append("by host: " + ", ".join(moving))
        self.outputs_since.set_full_text(" · ".join(parts))
        self.outputs_chip.setToolTip(
            "Whether the outputs drift in the latest windows. An output is flagged in a "
            "window when its change is relevant (over the threshold) and significant "
            "(Benjamini-Hochberg over the window's outputs).")

        name = self.output
        overall = next((o for o in predictions.outputs if o.name == name), None)
        scores = report.prediction_scores(name, host) if name is not None else []
        if overall is not None and any(v is not None for _w, v, _f in scores):
            labels = [w for w, _v, _f in scores]
            what = "Jensen-Shannon" if overall.kind == "class_mix" else "Wasserstein"
            unit = "" if overall.kind == "class_mix" else " sd"
            self.output_score_chart.set_series(
                labels, [v for _w, v, _f in scores], [f for _w, _v, f in scores],
                overall.effect_threshold, titles=short_labels(labels), effect_name=what,
                selected=window)
            self.output_score_card.show_chart()
            self.output_score_card.set_legend(
                [(CURRENT_COLOR, what), (FLAG_COLOR, "flagged"),
                 (THRESHOLD_COLOR,
                  f"threshold {format_number(overall.effect_threshold, 3)}{unit}")])
        else:
            self.output_score_card.show_placeholder(
                f"{name or 'The outputs'}: no drift score in any window"
                + (f" ({overall.reason})" if overall is not None and overall.reason else "."))
            self.output_score_card.set_legend([])

        view = self.prediction_view(window, host)
        labels = [w.label for w in report.windows]
        scope = (short_labels(labels)[labels.index(window)] if window in labels
                 else "all windows") + (f", {host}" if host else "")
        if view is not None and self._show_predictions(view, scope):
            self.prediction_card.show_chart()
        else:
            why = view.summary if view is not None else f"no scored rows in {scope}"
            self.prediction_card.set_title(scope[:1].upper() + scope[1:])
            self.prediction_card.show_placeholder(why[:1].upper() + why[1:])
            self.prediction_card.set_legend([])

    def _show_predictions(self, predictions: Any, scope: str = "current") -> bool:
        """Draw a ``PredictionDrift`` (of the view ``scope``, e.g. ``11-22, edge-1``) against
        the holdout's outputs; whether there was anything to draw."""
        mix, scores = predictions.class_mix, predictions.scores
        verdict = {"drift": "shifted", "ok": "stable",
                   "not_testable": "not testable"}.get(predictions.status, predictions.status)
        self.prediction_card.set_title(f"{scope[:1].upper()}{scope[1:]}: {verdict}")
        detail = predictions.summary[:1].upper() + predictions.summary[1:]
        if scores is not None and scores.reason:
            detail += f". {scores.reason[:1].upper()}{scores.reason[1:]}"
        self.prediction_card.setToolTip(detail)
        if mix is not None:
            ref, cur = mix.reference_shares, mix.current_shares
            self.prediction_chart.set_shares(list(mix.classes), [ref[c] for c in mix.classes],
                                             [cur[c] for c in mix.classes])
            self.prediction_card.set_legend(
                [(REFERENCE_COLOR, f"holdout ({predictions.n_reference:,})"),
                 (CURRENT_COLOR, f"current ({predictions.n_current:,})")],
                f"JS {format_number(mix.js_distance, 3)}")
            return True
        if scores is not None and None not in (scores.reference_mean, scores.current_mean,
                                               scores.reference_sd, scores.current_sd):
            self.prediction_chart.set_moments(
                scores.score, (scores.reference_mean, scores.current_mean),
                (scores.reference_sd, scores.current_sd))
            self.prediction_card.set_legend(
                [(REFERENCE_COLOR, f"holdout ({predictions.n_reference:,})"),
                 (CURRENT_COLOR, f"current ({predictions.n_current:,})")],
                "mean ± 1 sd")
            return True
        return False

    def _baseline(self, report: Any, metric: str) -> float | None:
        version = self._versions.get(report.model or "")
        if version is None:
            return None
        value = version.metrics.get(metric)
        return float(value) if value is not None else None

    def _refresh_joint(self) -> None:
        multi = self.report.multivariate
        if multi is None:
            self.joint_chip.set_status(None)
            self.joint_summary.set_full_text("Not analysed: tick “Joint distribution” and "
                                             "analyse again to test the features together.")
            self.joint_model.set_rows([])
            self.importance_card.show_placeholder("")
            return
        flagged = bool(multi.flagged)
        self.joint_chip.set_status(
            "drift" if flagged else "not_testable" if multi.status == "not_testable" else "ok",
            "changed" if flagged else "not testable" if multi.status == "not_testable"
            else "no change")
        self.joint_summary.set_full_text(multi.summary[:1].upper() + multi.summary[1:])
        clf, pca = multi.classifier, multi.pca
        rows = [NumberRow("Domain classifier", section=True),
                NumberRow("Verdict", STATUS_TEXT.get(clf.status, clf.status),
                          colour=STATUS_COLORS.get(clf.status), tooltip=clf.reason),
                NumberRow("ROC AUC (cross-validated)", clf.auc,
                          tooltip="0.5: current rows look like reference rows"),
                NumberRow("Permutation p-value", clf.p_value),
                NumberRow("Null AUC, 95th percentile", clf.null_p95),
                NumberRow("Rows (reference / current)",
                          f"{clf.n_reference:,} / {clf.n_current:,}"),
                NumberRow("PCA reconstruction error", section=True),
                NumberRow("Verdict", STATUS_TEXT.get(pca.status, pca.status),
                          colour=STATUS_COLORS.get(pca.status), tooltip=pca.reason),
                NumberRow("Error ratio (current / reference)", pca.ratio),
                NumberRow("Mann-Whitney p-value", pca.p_value),
                NumberRow("Components", f"{pca.components} of {len(pca.columns)} columns"
                          + (f" ({pca.explained_variance:.0%} of the variance)"
                             if pca.explained_variance is not None else ""))]
        corr = multi.correlations
        rows += [NumberRow("Pairwise rank correlations", section=True),
                 NumberRow("Verdict", STATUS_TEXT.get(corr.status, corr.status),
                           colour=STATUS_COLORS.get(corr.status), tooltip=corr.reason),
                 NumberRow("Largest change", corr.max_change,
                           tooltip="absolute change of a pair's Spearman correlation"),
                 NumberRow("Adjusted p-value", corr.p_value,
                           tooltip="Benjamini-Hochberg across the pairs compared"),
                 NumberRow("Pairs compared", f"{corr.pairs:,}")]
        rows += [NumberRow(f"{c.a} · {c.b}", f"{c.reference:.2f} → {c.current:.2f}",
                           colour=STATUS_COLORS.get("drift") if i < corr.flagged_pairs
                           else None, tooltip=f"adjusted p = {c.p_adjusted:.2g}")
                 for i, c in enumerate(corr.changes[:5])]
        if multi.excluded:
            rows.append(NumberRow("Left out", section=True))
            rows += [NumberRow(name, reason, tooltip=reason) for name, reason in multi.excluded]
        self.joint_model.set_rows(rows)
        importances = list(clf.importances)[:8]
        if importances:
            self.importance_chart.set_importances([f.name for f in importances],
                                                  [f.importance for f in importances])
            self.importance_card.show_chart()
            self.importance_card.set_legend(
                [(CURRENT_COLOR, "held-out AUC lost when the column is shuffled")])
        else:
            self.importance_card.show_placeholder(clf.reason)
            self.importance_card.set_legend([])

    # -- export -------------------------------------------------------------

    def _on_export_button_clicked(self) -> None:
        if self.report is None or html_renderer() is None:
            return
        name = (self.report.model or "drift").replace(":", "-v").replace("@", "-")
        start = str(Path(self.workspace.path) / f"{name}-drift.html")
        path, _filter = QFileDialog.getSaveFileName(self, "Export the drift report", start,
                                                    "HTML files (*.html)")
        if path:
            self.export_html(path)

    def export_html(self, path: str) -> Task:
        """Write the report as HTML to ``path`` (in a worker)."""
        return self.runner.call(write_html_report, self.report, path,
                                title="Exporting the drift report", quiet=False,
                                on_done=self._on_export_finished)

    def _on_export_finished(self, path: str) -> None:
        self.notifier.show_message(f"Saved the drift report to {path}.", "success")

    # -- actions ------------------------------------------------------------

    def _update_actions(self) -> None:
        running = self.is_running
        ready = self.selected_ref() is not None and bool(self.current_files)
        self.analyze_button.setEnabled(ready and not running)
        self.empty_button.setEnabled(ready and not running)
        self.analyze_button.setToolTip(
            "An analysis is running" if running else
            f"Compare the chosen files with {self.selected_ref()}'s reference data" if ready
            else "Choose a model version and the current data first")
        for widget in (self.model_combo, self.version_combo, self.window_combo,
                       self.choose_button, self.multivariate_check):
            widget.setEnabled(not running)
        renderer = html_renderer()
        self.export_button.setEnabled(self.report is not None and renderer is not None
                                      and not running)
        self.export_button.setToolTip(
            "The HTML report is not part of this build yet (modeldeck.core.drift.html)"
            if renderer is None else
            "Analyze first" if self.report is None else
            "Save a self-contained HTML report (charts inline, no network) for reviewers")

    def _update_empty_text(self) -> None:
        if self.model_combo.count() == 0:
            text = ("No models in this workspace. Register a model with its training data "
                    "first (Models page), or fill a workspace with the demo: "
                    "modeldeck --workspace PATH demo")
        elif not self.current_files:
            text = ("Choose the current (production) data with “Choose files…”, then click "
                    "Analyze to compare it with the version's training data.")
        else:
            text = (f"{describe_files(self.current_files)} selected. Click Analyze to see "
                    "which features moved, since when, on which hosts, how much it matters "
                    "and what to do.")
        self.empty_text.setText(text)
        # A wrapped label in a box layout gets one line's height unless told otherwise.
        self.empty_text.setMinimumHeight(self.empty_text.heightForWidth(
            self.empty_text.width()))


def realized_metrics(point: Any) -> dict[str, float]:
    """A performance point's realized metrics, flat (``{"accuracy": 0.93, ...}``).

    The contract says ``realized`` is that flat dict; core currently stores
    ``RealizedPerformance.to_dict()`` (metrics nested under ``"metrics"``), so both are read.
    """
    realized = point.realized or {}
    nested = realized.get("metrics") if isinstance(realized, dict) else None
    if isinstance(nested, dict):
        realized = nested
    return {k: float(v) for k, v in realized.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _performance_series(points: Sequence[Any]) -> tuple[str, list[float | None],
                                                       list[float | None], list[float | None],
                                                       list[float | None]] | None:
    """(metric, realized, estimated, low, high) per window, or ``None`` with nothing to show."""
    estimates = [p.estimated for p in points if p.estimated is not None]
    realized_keys = [k for p in points for k in realized_metrics(p)]
    if estimates:
        metric = getattr(estimates[0], "metric", "accuracy")
    elif realized_keys:
        preferred = ("accuracy", "r2", "rmse", "mae")
        metric = next((m for m in preferred if m in realized_keys), realized_keys[0])
    else:
        return None
    realized = [realized_metrics(p).get(metric) for p in points]
    estimated = [getattr(p.estimated, "value", None) if p.estimated is not None else None
                 for p in points]
    low = [getattr(p.estimated, "low", None) if p.estimated is not None else None
           for p in points]
    high = [getattr(p.estimated, "high", None) if p.estimated is not None else None
            for p in points]
    return metric, realized, estimated, low, high
