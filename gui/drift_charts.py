"""pyqtgraph charts of the Drift page: heatmap, drift score, histograms, model outputs.

Every chart is a thin view over numbers core computed (:mod:`modeldeck.core.drift`);
nothing here computes a statistic. Each series is one ``PlotDataItem`` (or
``BarGraphItem``) created once and refreshed with ``setData`` / ``setOpts`` (STYLE §6),
so selecting another feature never clears and re-adds items.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPen,
)
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from modeldeck.gui.theme import LIGHT

#: Series colours (theme colours where the theme has one).
REFERENCE_COLOR = "#7b8ba0"
CURRENT_COLOR = LIGHT["accent"]
FLAG_COLOR = LIGHT["danger"]
QUALITY_COLOR = "#d97706"
THRESHOLD_COLOR = LIGHT["warning"]
ESTIMATE_COLOR = "#7c3aed"
REALIZED_COLOR = LIGHT["success"]

#: Heatmap colour ramps (light → strong) per cell status.
_RAMPS: dict[str, tuple[str, str]] = {
    "ok": ("#f3f5f8", "#6b7a90"),
    "drift": ("#f9d4cf", "#a3201a"),
    "quality": ("#fde6bf", "#b45f06"),
}
_NOT_TESTABLE = "#e3e8ef"
_EMPTY = "#ffffff"
#: The effect / threshold ratio at which a cell reaches its ramp's strongest colour.
RATIO_CAP = 16.0


def effect_ratio(feature: Any) -> float | None:
    """A feature result's effect size relative to its relevance threshold (``None`` if n/a)."""
    effect = getattr(feature, "effect_size", None)
    threshold = getattr(feature, "effect_threshold", None)
    if effect is None or not threshold or not math.isfinite(effect):
        return None
    return float(effect) / float(threshold)


def ratio_level(ratio: float | None) -> float:
    """Where ``ratio`` sits on a ramp, in ``[0, 1]`` (log scale: 1× → 0.24, 16× → 1)."""
    if ratio is None or ratio <= 0:
        return 0.0
    return min(1.0, math.log2(1.0 + ratio) / math.log2(1.0 + RATIO_CAP))


def _mix(a: str, b: str, t: float) -> QColor:
    ca, cb = QColor(a), QColor(b)
    return QColor(round(ca.red() + (cb.red() - ca.red()) * t),
                  round(ca.green() + (cb.green() - ca.green()) * t),
                  round(ca.blue() + (cb.blue() - ca.blue()) * t))


def cell_color(feature: Any) -> QColor:
    """The heatmap colour of one feature result (``None`` → an empty cell)."""
    if feature is None:
        return QColor(_EMPTY)
    status = getattr(feature, "status", "ok")
    if status == "not_testable":
        return QColor(_NOT_TESTABLE)
    low, high = _RAMPS.get(status, _RAMPS["ok"])
    level = ratio_level(effect_ratio(feature))
    if status == "quality":
        level = max(level, 0.45)  # a quality flag shows even when the shape did not move
    return _mix(low, high, level)


def chart_font(point_size: float = 8.5) -> QFont:
    """The font of axis ticks."""
    font = QFont()
    font.setPointSizeF(point_size)
    return font


def style_plot(widget: pg.PlotWidget, *, mouse_x: bool = False) -> None:
    """ModelDeck's look for a plot: white, muted axes, no pyqtgraph buttons or menus."""
    widget.setBackground(LIGHT["surface"])
    item = widget.getPlotItem()
    item.hideButtons()
    item.setMenuEnabled(False)
    item.getViewBox().setMouseEnabled(x=mouse_x, y=False)
    item.getViewBox().setMenuEnabled(False)
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(LIGHT["border_strong"]))
        axis.setTextPen(pg.mkPen(LIGHT["text_muted"]))
        axis.setStyle(tickFont=chart_font(), tickTextOffset=5)
        axis.label.setFont(chart_font(8.5))
        # Drift scores are small numbers: never rescale them to "(x0.001)".
        axis.enableAutoSIPrefix(False)
    widget.setMinimumSize(150, 60)
    widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)


def large_series(widget: pg.PlotWidget) -> None:
    """Peak downsampling and clipping to the view for every curve of ``widget`` (STYLE §6).

    Set on the ``PlotItem``: it pushes its own settings onto each curve it holds, so a
    per-curve setting would be overwritten.
    """
    item = widget.getPlotItem()
    item.setDownsampling(auto=True, mode="peak")
    item.setClipToView(True)


def axis_label(widget: pg.PlotWidget, side: str, text: str) -> None:
    """Label an axis in the muted text colour."""
    widget.getPlotItem().setLabel(side, text, color=LIGHT["text_muted"])


class CategoryAxis(pg.AxisItem):
    """An axis whose ticks are category labels at ``offset + i`` (i = 0, 1, ...).

    Labels that would overlap are thinned (every k-th one shown) from the pixel length
    the axis gets, so hourly windows stay legible. Without labels it is a plain numeric
    axis.
    """

    def __init__(self, orientation: str, offset: float = 0.0, **kwargs: Any) -> None:
        super().__init__(orientation, **kwargs)
        self._labels: list[str] = []
        self._offset = offset

    def set_labels(self, labels: Sequence[str] | None) -> None:
        """Show ``labels`` at the category positions (``None``: a numeric axis)."""
        self._labels = list(labels) if labels is not None else []
        self.picture = None
        self.update()

    @property
    def labels(self) -> list[str]:
        """The category labels on display."""
        return list(self._labels)

    def label_extent(self) -> int:
        """Pixels the widest label needs across the axis."""
        metrics = QFontMetrics(self.style.get("tickFont") or chart_font())
        if not self._labels:
            return 0
        return max(metrics.horizontalAdvance(label) for label in self._labels)

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[Any]:  # noqa: N802
        if not self._labels:
            return super().tickValues(minVal, maxVal, size)
        if minVal > maxVal:  # an inverted view box (the heatmap's rows run downwards)
            minVal, maxVal = maxVal, minVal
        n = len(self._labels)
        first = max(0, math.ceil(minVal - self._offset - 1e-9))
        last = min(n - 1, math.floor(maxVal - self._offset + 1e-9))
        if last < first:
            return []
        metrics = QFontMetrics(self.style.get("tickFont") or chart_font())
        per = (metrics.height() + 1 if self.orientation in ("left", "right")
               else self.label_extent() + 14)
        step = max(1, math.ceil((last - first + 1) * per / max(size, 1.0)))
        return [(float(step), [i + self._offset for i in range(first, last + 1, step)])]

    def tickStrings(self, values: Sequence[float], scale: float,  # noqa: N802
                    spacing: float) -> list[str]:
        if not self._labels:
            return super().tickStrings(values, scale, spacing)
        out = []
        for value in values:
            i = int(round(value - self._offset))
            out.append(self._labels[i] if 0 <= i < len(self._labels) else "")
        return out


class ElidedLabel(QLabel):
    """A one-line label that elides its (plain) text to the width it gets; the full
    text is its tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self._shorter: tuple[str, ...] = ()
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.set_full_text(text)

    def set_full_text(self, text: str, shorter: tuple[str, ...] = ()) -> None:
        """Show ``text``; when it does not fit, the first of the ``shorter`` versions that
        does, else the shortest one elided (the tooltip always has ``text``)."""
        self._full = text
        self._shorter = shorter
        self.setToolTip(text if text else "")
        self._elide()

    def full_text(self) -> str:
        """The text before eliding."""
        return self._full

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.width(), 40)
        metrics = self.fontMetrics()
        candidates = (self._full, *self._shorter)
        fits = next((c for c in candidates if metrics.horizontalAdvance(c) <= width), None)
        super().setText(fits if fits is not None else
                        metrics.elidedText(candidates[-1], Qt.TextElideMode.ElideRight, width))


class WrappedLabel(QLabel):
    """A plain-text label that wraps over the lines it needs (for a sentence that must be
    read whole); the same ``set_full_text``/``full_text`` as :class:`ElidedLabel`."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        """Show ``text``."""
        self.setText(text)

    def full_text(self) -> str:
        """The text shown."""
        return self.text()


class ChartCard(QFrame):
    """A titled card around a chart, with a legend line and a placeholder text.

    Parameters
    ----------
    title
        The card's heading.
    chart
        The chart widget (a ``pg.PlotWidget``).
    """

    def __init__(self, title: str, chart: QWidget, parent: QWidget | None = None, *,
                 card: bool = True) -> None:
        super().__init__(parent)
        if card:
            self.setProperty("role", "card")
        self.chart = chart
        self.title_label = ElidedLabel(title, self)
        self.title_label.setObjectName("chartTitle")
        self.title_label.setStyleSheet("font-weight: 600;")
        self.legend_label = QLabel(self)
        self.legend_label.setObjectName("chartLegend")
        self.legend_label.setTextFormat(Qt.TextFormat.RichText)
        self.legend_label.setProperty("role", "muted")
        self.legend_label.setWordWrap(True)
        self.legend_label.setStyleSheet("font-size: 8.5pt;")
        self.placeholder = QLabel(self)
        self.placeholder.setProperty("role", "hint")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(chart)
        self.stack.addWidget(self.placeholder)
        layout = QVBoxLayout(self)
        margin = 10 if card else 0
        layout.setContentsMargins(margin, margin - 2 if card else 0, margin, margin - 4 if card
                                  else 0)
        layout.setSpacing(2)
        layout.addWidget(self.title_label)
        layout.addWidget(self.legend_label)
        layout.addWidget(self.stack, 1)

    def set_title(self, text: str) -> None:
        """Change the heading."""
        self.title_label.set_full_text(text)

    def title(self) -> str:
        """The heading."""
        return self.title_label.full_text()

    def set_legend(self, entries: Sequence[tuple[str, str]], note: str = "") -> None:
        """Show ``(colour, text)`` swatches and an optional note after them."""
        parts = [f"<span style='color:{colour}'>■</span>&nbsp;{text}"
                 for colour, text in entries]
        html = "&nbsp;&nbsp;&nbsp;".join(parts)
        if note:
            html += ("&nbsp;&nbsp;&nbsp;·&nbsp;&nbsp;" if html else "") + note
        self.legend_label.setText(html)
        self.legend_label.setVisible(bool(html))

    def show_chart(self) -> None:
        """Show the chart (not the placeholder)."""
        self.stack.setCurrentWidget(self.chart)

    def show_placeholder(self, text: str) -> None:
        """Hide the chart behind ``text``."""
        self.placeholder.setText(text)
        self.stack.setCurrentWidget(self.placeholder)

    @property
    def showing_chart(self) -> bool:
        """Whether the chart (not the placeholder) is on display."""
        return self.stack.currentWidget() is self.chart


# --------------------------------------------------------------------------- heatmap


@dataclass(frozen=True)
class HeatCell:
    """What one heatmap cell shows: a feature's result in a window (``None`` = no data)."""

    feature: str
    window: str
    result: Any | None


class _Marks(pg.ScatterPlotItem):
    """Cell markers: decoration only, a click on one belongs to the cell under it."""

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph override)
        ev.ignore()

    def hoverEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph override)
        return


class _CellImage(pg.ImageItem):
    """The heatmap's image: reports clicks and hovers in cell coordinates."""

    def __init__(self, heatmap: DriftHeatmap) -> None:
        super().__init__(axisOrder="row-major")
        self._heatmap = heatmap
        self.setAcceptHoverEvents(True)

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph override)
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        ev.accept()
        self._heatmap._on_image_clicked(ev.pos())

    def hoverEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph override)
        if ev.isExit():
            self.setToolTip("")
            return
        self.setToolTip(self._heatmap.cell_tooltip(ev.pos()))


class DriftHeatmap(pg.PlotWidget):
    """Features × windows; colour = effect size relative to its threshold.

    Cell colours: grey shades for changes that are not flagged, red shades for flagged
    distribution drift, amber for flagged data-quality problems, light grey for features
    that cannot be tested, white where the window has no data. Flagged cells also carry a
    marker (● drift, ◆ data quality) so the flag never depends on colour alone.

    Signals
    -------
    cell_clicked(str, str)
        The user clicked the cell of (feature, window).
    """

    cell_clicked = Signal(str, str)

    #: The least height of a row: its name stays readable; more rows than fit scroll.
    ROW_PX = 16
    #: The bottom axis (window names) and margins.
    AXIS_PX = 34

    def __init__(self, parent: QWidget | None = None) -> None:
        self.left_axis = CategoryAxis("left", offset=0.5)
        self.bottom_axis = CategoryAxis("bottom", offset=0.5)
        super().__init__(parent, background=LIGHT["surface"],
                         axisItems={"left": self.left_axis, "bottom": self.bottom_axis})
        self.setObjectName("driftHeatmap")
        style_plot(self)
        item = self.getPlotItem()
        item.showGrid(x=False, y=False)
        item.getViewBox().invertY(True)
        item.getViewBox().setMouseEnabled(x=False, y=False)
        item.getViewBox().setDefaultPadding(0.0)
        self.left_axis.setStyle(tickLength=0, tickFont=chart_font(9))
        self.bottom_axis.setStyle(tickLength=0, tickFont=chart_font(8.5))
        self.left_axis.setPen(pg.mkPen(LIGHT["surface"]))
        self.bottom_axis.setPen(pg.mkPen(LIGHT["surface"]))
        self.left_axis.setTextPen(pg.mkPen(LIGHT["text"]))

        self.image = _CellImage(self)
        self.addItem(self.image)
        self.grid = QGraphicsPathItem()
        grid_pen = QPen(QColor(LIGHT["surface"]), 2)
        grid_pen.setCosmetic(True)
        self.grid.setPen(grid_pen)
        self.addItem(self.grid)
        self.drift_marks = _Marks(symbol="o", size=7, pen=pg.mkPen("#ffffff"),
                                              brush=pg.mkBrush("#ffffff"))
        self.quality_marks = _Marks(symbol="d", size=9, pen=pg.mkPen("#ffffff"),
                                                brush=pg.mkBrush(LIGHT["text"]))
        self.untestable_marks = _Marks(symbol="x", size=7, pen=None,
                                                   brush=pg.mkBrush(LIGHT["text_faint"]))
        for marks in (self.drift_marks, self.quality_marks, self.untestable_marks):
            self.addItem(marks)
        self.selection = QGraphicsRectItem()
        selection_pen = QPen(QColor(LIGHT["accent"]), 3)
        selection_pen.setCosmetic(True)
        selection_pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        self.selection.setPen(selection_pen)
        self.selection.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        self.selection.setZValue(10)
        self.selection.hide()
        self.addItem(self.selection)

        self._features: list[str] = []
        self._windows: list[str] = []
        self._cells: dict[tuple[str, str], HeatCell] = {}
        self.selected: tuple[str, str | None] | None = None
        self.setMinimumHeight(80)

    # -- data ---------------------------------------------------------------

    @property
    def features(self) -> list[str]:
        """Row names, top to bottom."""
        return list(self._features)

    @property
    def windows(self) -> list[str]:
        """Column names, left to right."""
        return list(self._windows)

    def cell(self, feature: str, window: str) -> HeatCell | None:
        """The cell of (feature, window)."""
        return self._cells.get((feature, window))

    def set_grid(self, features: Sequence[str], windows: Sequence[str],
                 cells: Sequence[HeatCell], window_titles: Sequence[str] | None = None) -> None:
        """Show ``cells`` (any order) on rows ``features`` and columns ``windows``."""
        self._features, self._windows = list(features), list(windows)
        self._cells = {(c.feature, c.window): c for c in cells}
        n_f, n_w = len(self._features), len(self._windows)
        self.setMinimumHeight(max(80, n_f * self.ROW_PX + self.AXIS_PX))
        rgba = np.full((max(n_f, 1), max(n_w, 1), 4), 255, dtype=np.uint8)
        marks: dict[str, tuple[list[float], list[float]]] = {
            "drift": ([], []), "quality": ([], []), "not_testable": ([], [])}
        for r, feature in enumerate(self._features):
            for c, window in enumerate(self._windows):
                cell = self._cells.get((feature, window))
                result = cell.result if cell is not None else None
                colour = cell_color(result)
                rgba[r, c] = (colour.red(), colour.green(), colour.blue(), 255)
                status = getattr(result, "status", None)
                if status in marks:
                    marks[status][0].append(c + 0.5)
                    marks[status][1].append(r + 0.5)
        self.image.setImage(rgba, autoLevels=False)
        self.image.setRect(QRectF(0, 0, max(n_w, 1), max(n_f, 1)))
        self.drift_marks.setData(*marks["drift"])
        self.quality_marks.setData(*marks["quality"])
        self.untestable_marks.setData(*marks["not_testable"])
        path = QPainterPath()
        for c in range(1, n_w):
            path.moveTo(c, 0)
            path.lineTo(c, n_f)
        for r in range(1, n_f):
            path.moveTo(0, r)
            path.lineTo(n_w, r)
        self.grid.setPath(path)
        self.left_axis.set_labels(self._features)
        self.bottom_axis.set_labels(list(window_titles) if window_titles else self._windows)
        self.left_axis.setWidth(min(260, self.left_axis.label_extent() + 14))
        self.getPlotItem().getViewBox().setRange(
            xRange=(0, max(n_w, 1)), yRange=(0, max(n_f, 1)), padding=0)
        if self.selected is not None:
            self.select(*self.selected)

    def clear_grid(self) -> None:
        """Show nothing."""
        self.selected = None
        self.selection.hide()
        self.set_grid([], [], [])

    # -- selection ----------------------------------------------------------

    def select(self, feature: str | None, window: str | None = None) -> None:
        """Outline the cell of (feature, window), or the feature's row without a window."""
        if feature is None or feature not in self._features:
            self.selected = None
            self.selection.hide()
            return
        self.selected = (feature, window)
        r = self._features.index(feature)
        if window is not None and window in self._windows:
            c = self._windows.index(window)
            rect = QRectF(c, r, 1, 1)
        else:
            rect = QRectF(0, r, max(len(self._windows), 1), 1)
        self.selection.setRect(rect)
        self.selection.show()

    def cell_at(self, pos: QPointF) -> tuple[str, str] | None:
        """The (feature, window) under image coordinates ``pos``."""
        c, r = math.floor(pos.x()), math.floor(pos.y())
        if 0 <= r < len(self._features) and 0 <= c < len(self._windows):
            return self._features[r], self._windows[c]
        return None

    def cell_center(self, feature: str, window: str) -> QPoint:
        """The centre of a cell in viewport pixels (for tests and tooltips)."""
        c, r = self._windows.index(window), self._features.index(feature)
        scene = self.getPlotItem().getViewBox().mapViewToScene(QPointF(c + 0.5, r + 0.5))
        return self.mapFromScene(scene)

    def cell_tooltip(self, pos: QPointF) -> str:
        """What a hover over image coordinates ``pos`` tells."""
        key = self.cell_at(pos)
        if key is None:
            return ""
        cell = self._cells.get(key)
        result = cell.result if cell is not None else None
        head = f"<b>{key[0]}</b> · {key[1]}"
        if result is None:
            return f"{head}<br>no data in this window"
        ratio = effect_ratio(result)
        lines = [head, f"status: <b>{result.status.replace('_', ' ')}</b>"]
        if ratio is not None:
            lines.append(f"effect {result.effect_size:.3g} = {ratio:.1f}× its threshold "
                         f"({result.effect_threshold:.3g})")
        if result.p_adjusted is not None:
            lines.append(f"adjusted p = {result.p_adjusted:.2g}")
        lines.append(f"<i>{result.reason}</i>")
        lines.append("click to open")
        return "<br>".join(lines)

    def _on_image_clicked(self, pos: QPointF) -> None:
        key = self.cell_at(pos)
        if key is not None:
            self.select(*key)
            self.cell_clicked.emit(*key)


class HeatmapLegend(QWidget):
    """The heatmap's key on one line: a colour ramp per kind of cell, the markers, and
    what the shade means."""

    NOTE = "shade = effect size ÷ its threshold (light ≤ 1×, dark ≥ 16×)"
    RAMP_W = 56

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("heatmapLegend")
        self.setFixedHeight(20)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Cell shade: the feature's effect size in that window divided by its "
                        "relevance threshold (Wasserstein distance in reference sd for numeric "
                        "features, Jensen-Shannon distance for categorical ones).\n"
                        "A cell is flagged only when the change is relevant (over the threshold) "
                        "and significant (Benjamini-Hochberg adjusted p-value ≤ alpha).")

    def paintEvent(self, _event: Any) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = chart_font(8.5)
        painter.setFont(font)
        metrics = QFontMetrics(font)
        muted = QColor(LIGHT["text_muted"])
        bar_h, top = 10, 5
        base = top + bar_h - 1
        x = 0.0
        for title, key in (("not flagged", "ok"), ("drift ●", "drift"),
                           ("data quality ◆", "quality")):
            low, high = _RAMPS[key]
            gradient = QLinearGradient(x, 0, x + self.RAMP_W, 0)
            for i in range(9):
                gradient.setColorAt(i / 8, _mix(low, high, i / 8))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(gradient))
            painter.drawRoundedRect(QRectF(x, top, self.RAMP_W, bar_h), 2, 2)
            painter.setPen(muted)
            painter.drawText(QPointF(x + self.RAMP_W + 5, base), title)
            x += self.RAMP_W + 5 + metrics.horizontalAdvance(title) + 16
        painter.setPen(QColor(LIGHT["border_strong"]))
        painter.setBrush(QColor(_NOT_TESTABLE))
        painter.drawRect(QRectF(x, top, 14, bar_h))
        painter.setPen(muted)
        label = "not testable ×"
        painter.drawText(QPointF(x + 19, base), label)
        x += 19 + metrics.horizontalAdvance(label) + 20
        note = self.NOTE
        if x + metrics.horizontalAdvance(note) > self.width():
            note = "shade = effect ÷ threshold"
        if x + metrics.horizontalAdvance(note) <= self.width():
            painter.setPen(QColor(LIGHT["text_faint"]))
            painter.drawText(QPointF(x, base), note)
        painter.end()


# --------------------------------------------------------------------------- line charts


def _values(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def set_series(item: pg.PlotDataItem, x: np.ndarray, y: np.ndarray) -> None:
    """``item.setData(x, y)``, or empty when no value is finite (pyqtgraph's scatter
    bounds warn on an all-NaN series)."""
    if y.size and np.isfinite(y).any():
        item.setData(x, y)
    else:
        item.setData([], [])


class ScoreChart(pg.PlotWidget):
    """A feature's drift score (effect size) per window, with its threshold.

    Series: ``curve`` (effect size per window), ``flag_points`` (the flagged windows),
    ``threshold_line`` (the relevance threshold), and a marker on the selected window.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        self.bottom_axis = CategoryAxis("bottom")
        super().__init__(parent, background=LIGHT["surface"],
                         axisItems={"bottom": self.bottom_axis})
        self.setObjectName("scoreChart")
        style_plot(self, mouse_x=True)
        self.getPlotItem().showGrid(x=False, y=True, alpha=0.2)
        self.threshold_line = pg.PlotDataItem(
            pen=pg.mkPen(THRESHOLD_COLOR, width=1.5, style=Qt.PenStyle.DashLine),
            name="threshold")
        self.curve = pg.PlotDataItem(
            pen=pg.mkPen(CURRENT_COLOR, width=2), symbol="o", symbolSize=6,
            symbolBrush=pg.mkBrush(CURRENT_COLOR), symbolPen=pg.mkPen(LIGHT["surface"]),
            connect="finite", antialias=True, name="effect size")
        self.flag_points = pg.PlotDataItem(
            pen=None, symbol="o", symbolSize=11, symbolBrush=pg.mkBrush(FLAG_COLOR),
            symbolPen=pg.mkPen(LIGHT["surface"], width=1.5), antialias=True, name="flagged")
        self.marker = pg.InfiniteLine(angle=90, movable=False,
                                      pen=pg.mkPen(LIGHT["accent"], width=1,
                                                   style=Qt.PenStyle.DotLine))
        self.marker.hide()
        for item in (self.threshold_line, self.curve, self.flag_points, self.marker):
            self.addItem(item)
        large_series(self)
        self.windows: list[str] = []
        self.effect_name = "effect size"

    def set_series(self, windows: Sequence[str], values: Sequence[float | None],
                   flagged: Sequence[bool], threshold: float | None,
                   titles: Sequence[str] | None = None, effect_name: str = "effect size",
                   selected: str | None = None) -> None:
        """Show one feature's per-window scores."""
        self.windows = list(windows)
        x = np.arange(len(self.windows), dtype=float)
        y = _values(values)
        set_series(self.curve, x, y)
        mask = np.array(flagged, dtype=bool) & np.isfinite(y) if len(y) else np.zeros(0, bool)
        self.flag_points.setData(x[mask], y[mask])
        if threshold is not None and len(x):
            self.threshold_line.setData([-0.5, len(x) - 0.5], [threshold, threshold])
        else:
            self.threshold_line.setData([], [])
        self.bottom_axis.set_labels(list(titles) if titles else self.windows)
        self.effect_name = effect_name
        finite = y[np.isfinite(y)]
        top = max([*(finite.tolist() or [0.0]), threshold or 0.0]) or 1.0
        self.setXRange(-0.5, max(len(x) - 0.5, 0.5), padding=0.02)
        self.setYRange(0, top * 1.15, padding=0)
        self.set_selected(selected)

    def set_selected(self, window: str | None) -> None:
        """Mark ``window`` (``None``: no marker)."""
        if window is None or window not in self.windows:
            self.marker.hide()
            return
        self.marker.setValue(self.windows.index(window))
        self.marker.show()


class HistogramChart(pg.PlotWidget):
    """Reference vs current distribution of one feature (two ``BarGraphItem`` series).

    Numeric features are drawn on their real scale (bar = bin, height = density, so the
    reference's quantile bins keep their true widths); categorical features as side by
    side bars of shares.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        self.bottom_axis = CategoryAxis("bottom")
        super().__init__(parent, background=LIGHT["surface"],
                         axisItems={"bottom": self.bottom_axis})
        self.setObjectName("histogramChart")
        style_plot(self)
        self.getPlotItem().showGrid(x=False, y=True, alpha=0.2)
        ref = QColor(REFERENCE_COLOR)
        ref.setAlpha(120)
        cur = QColor(CURRENT_COLOR)
        cur.setAlpha(95)
        self.reference_bars = pg.BarGraphItem(x0=[], x1=[], height=[], brush=ref, pen=None)
        self.current_bars = pg.BarGraphItem(x0=[], x1=[], height=[], brush=cur,
                                            pen=pg.mkPen(CURRENT_COLOR, width=1))
        self.addItem(self.reference_bars)
        self.addItem(self.current_bars)
        self.histogram: Any = None
        self.missing: tuple[float, float] = (0.0, 0.0)

    def set_histogram(self, histogram: Any) -> None:
        """Show a core ``Histogram`` (reference and current shares over the same cells)."""
        self.histogram = histogram
        labels = list(histogram.labels)
        ref = np.asarray(histogram.reference, dtype=float)
        cur = np.asarray(histogram.current, dtype=float)
        missing_index = labels.index("(missing)") if "(missing)" in labels else None
        self.missing = ((float(ref[missing_index]), float(cur[missing_index]))
                        if missing_index is not None else (0.0, 0.0))
        if missing_index is not None:
            keep = [i for i in range(len(labels)) if i != missing_index]
            labels = [labels[i] for i in keep]
            ref, cur = ref[keep], cur[keep]
        if histogram.kind == "numeric" and histogram.edges is not None:
            self._numeric(np.asarray(histogram.edges, dtype=float), ref, cur)
        else:
            self._categorical(labels, ref, cur)

    def _numeric(self, edges: np.ndarray, ref: np.ndarray, cur: np.ndarray) -> None:
        inner = edges[1:-1]
        widths = np.diff(inner)
        typical = float(np.median(widths[widths > 0])) if (widths > 0).any() else 1.0
        # The open tails (below the first / above the last reference edge) get a bar of
        # a typical bin's width next to the range, so values outside it stay visible.
        lows = np.concatenate([[inner[0] - typical], inner[:-1], [inner[-1]]])
        highs = np.concatenate([[inner[0]], inner[1:], [inner[-1] + typical]])
        spans = np.maximum(highs - lows, typical * 1e-3)
        self.bottom_axis.set_labels(None)
        keep_tails = np.ones(len(lows), dtype=bool)
        keep_tails[0] = ref[0] > 0 or cur[0] > 0
        keep_tails[-1] = ref[-1] > 0 or cur[-1] > 0
        x0, x1 = lows[keep_tails], highs[keep_tails]
        ref_h, cur_h = (ref / spans)[keep_tails], (cur / spans)[keep_tails]
        self.reference_bars.setOpts(x0=x0, x1=x1, height=ref_h)
        self.current_bars.setOpts(x0=x0, x1=x1, height=cur_h)
        top = float(max(ref_h.max(initial=0), cur_h.max(initial=0))) or 1.0
        self.setXRange(float(x0.min()), float(x1.max()), padding=0.02)
        self.setYRange(0, top * 1.1, padding=0)

    def _categorical(self, labels: list[str], ref: np.ndarray, cur: np.ndarray) -> None:
        x = np.arange(len(labels), dtype=float)
        self.bottom_axis.set_labels(labels)
        self.reference_bars.setOpts(x0=x - 0.4, x1=x, height=ref)
        self.current_bars.setOpts(x0=x, x1=x + 0.4, height=cur)
        top = float(max(ref.max(initial=0), cur.max(initial=0))) or 1.0
        self.setXRange(-0.6, max(len(labels) - 0.4, 0.6), padding=0)
        self.setYRange(0, top * 1.1, padding=0)

    def bar_data(self) -> dict[str, np.ndarray]:
        """The bars on display: ``x0``, ``x1``, ``reference`` and ``current`` heights."""
        return {"x0": np.asarray(self.current_bars.opts["x0"], dtype=float),
                "x1": np.asarray(self.current_bars.opts["x1"], dtype=float),
                "reference": np.asarray(self.reference_bars.opts["height"], dtype=float),
                "current": np.asarray(self.current_bars.opts["height"], dtype=float)}


class PredictionChart(pg.PlotWidget):
    """Reference (holdout) vs current model outputs: the predicted-class mix as two bar
    series, or (regression) the mean prediction of each side with ±1 sd."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.bottom_axis = CategoryAxis("bottom")
        super().__init__(parent, background=LIGHT["surface"],
                         axisItems={"bottom": self.bottom_axis})
        self.setObjectName("predictionChart")
        style_plot(self)
        self.getPlotItem().showGrid(x=False, y=True, alpha=0.2)
        ref = QColor(REFERENCE_COLOR)
        ref.setAlpha(150)
        cur = QColor(CURRENT_COLOR)
        cur.setAlpha(170)
        self.reference_bars = pg.BarGraphItem(x0=[], x1=[], height=[], brush=ref, pen=None)
        self.current_bars = pg.BarGraphItem(x0=[], x1=[], height=[], brush=cur, pen=None)
        self.spread = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0),
                                      pen=pg.mkPen(LIGHT["text"], width=1.5), beam=0.12)
        for item in (self.reference_bars, self.current_bars, self.spread):
            self.addItem(item)
        self.mode = ""

    def set_shares(self, labels: Sequence[str], reference: Sequence[float],
                   current: Sequence[float]) -> None:
        """Show shares of ``labels`` (predicted classes) on both sides."""
        self.mode = "shares"
        x = np.arange(len(labels), dtype=float)
        ref, cur = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
        self.bottom_axis.set_labels(list(labels))
        axis_label(self, "left", "share of predictions")
        self.reference_bars.setOpts(x0=x - 0.38, x1=x, height=ref)
        self.current_bars.setOpts(x0=x, x1=x + 0.38, height=cur)
        self.spread.setData(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0))
        top = float(max(ref.max(initial=0), cur.max(initial=0))) or 1.0
        self.setXRange(-0.6, max(len(labels) - 0.4, 0.6), padding=0)
        self.setYRange(0, top * 1.12, padding=0)

    def set_moments(self, name: str, means: tuple[float, float], sds: tuple[float, float]
                    ) -> None:
        """Show the mean output of reference and current, each with ±1 sd."""
        self.mode = "moments"
        self.bottom_axis.set_labels(["reference (holdout)", "current"])
        axis_label(self, "left", f"mean {name}")
        self.reference_bars.setOpts(x0=[-0.3], x1=[0.3], height=[means[0]])
        self.current_bars.setOpts(x0=[0.7], x1=[1.3], height=[means[1]])
        self.spread.setData(x=np.array([0.0, 1.0]), y=np.array(means, dtype=float),
                            height=2 * np.array(sds, dtype=float))
        lows = [m - s for m, s in zip(means, sds)] + [0.0]
        highs = [m + s for m, s in zip(means, sds)]
        self.setXRange(-0.6, 1.6, padding=0)
        self.setYRange(min(lows), max(highs) * 1.08 or 1.0, padding=0)


class ImportanceChart(pg.PlotWidget):
    """Horizontal bars: how much the domain classifier relied on each column."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.left_axis = CategoryAxis("left")
        super().__init__(parent, background=LIGHT["surface"],
                         axisItems={"left": self.left_axis})
        self.setObjectName("importanceChart")
        style_plot(self)
        self.getPlotItem().showGrid(x=True, y=False, alpha=0.2)
        self.getPlotItem().getViewBox().invertY(True)
        self.left_axis.setStyle(tickLength=0)
        colour = QColor(CURRENT_COLOR)
        colour.setAlpha(170)
        self.bars = pg.BarGraphItem(x0=[], x1=[], y0=[], y1=[], brush=colour, pen=None)
        self.addItem(self.bars)

    def set_importances(self, names: Sequence[str], values: Sequence[float]) -> None:
        """Show one bar per column (largest first)."""
        y = np.arange(len(names), dtype=float)
        v = np.asarray(values, dtype=float)
        self.left_axis.set_labels(list(names))
        self.left_axis.setWidth(min(220, self.left_axis.label_extent() + 12))
        self.bars.setOpts(x0=np.minimum(v, 0), x1=np.maximum(v, 0), y0=y - 0.35, y1=y + 0.35)
        low = float(min(v.min(initial=0), 0))
        high = float(max(v.max(initial=0), 0)) or 0.01
        self.setXRange(low, high * 1.08, padding=0)
        self.setYRange(-0.6, max(len(names) - 0.4, 0.6), padding=0)


class PerformanceChart(pg.PlotWidget):
    """Model performance per window: realized (with labels), estimated with its band,
    and the holdout's value at registration as a baseline."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.bottom_axis = CategoryAxis("bottom")
        super().__init__(parent, background=LIGHT["surface"],
                         axisItems={"bottom": self.bottom_axis})
        self.setObjectName("performanceChart")
        style_plot(self, mouse_x=True)
        self.getPlotItem().showGrid(x=False, y=True, alpha=0.2)
        band = QColor(ESTIMATE_COLOR)
        band.setAlpha(45)
        self.band_low = pg.PlotDataItem(pen=pg.mkPen(band, width=1), connect="finite")
        self.band_high = pg.PlotDataItem(pen=pg.mkPen(band, width=1), connect="finite")
        self.band = pg.FillBetweenItem(self.band_low, self.band_high, brush=pg.mkBrush(band))
        self.estimated = pg.PlotDataItem(
            pen=pg.mkPen(ESTIMATE_COLOR, width=2, style=Qt.PenStyle.DashLine), symbol="s",
            symbolSize=6, symbolBrush=pg.mkBrush(ESTIMATE_COLOR), symbolPen=None,
            connect="finite", antialias=True, name="estimated")
        self.realized = pg.PlotDataItem(
            pen=pg.mkPen(REALIZED_COLOR, width=2), symbol="o", symbolSize=6,
            symbolBrush=pg.mkBrush(REALIZED_COLOR), symbolPen=None, connect="finite",
            antialias=True, name="realized")
        self.baseline = pg.PlotDataItem(
            pen=pg.mkPen(REFERENCE_COLOR, width=1.5, style=Qt.PenStyle.DashLine),
            name="holdout")
        for item in (self.band_low, self.band_high, self.band, self.baseline, self.estimated,
                     self.realized):
            self.addItem(item)
        large_series(self)

    def set_points(self, windows: Sequence[str], metric: str,
                   realized: Sequence[float | None], estimated: Sequence[float | None],
                   low: Sequence[float | None], high: Sequence[float | None],
                   baseline: float | None, titles: Sequence[str] | None = None) -> None:
        """Show one metric's realized and estimated values per window."""
        x = np.arange(len(windows), dtype=float)
        series = {"realized": _values(realized), "estimated": _values(estimated),
                  "low": _values(low), "high": _values(high)}
        set_series(self.realized, x, series["realized"])
        set_series(self.estimated, x, series["estimated"])
        # FillBetweenItem needs both curves drawn; without a band they stay empty.
        if np.isfinite(series["low"]).any() and np.isfinite(series["high"]).any():
            self.band_low.setData(x, series["low"])
            self.band_high.setData(x, series["high"])
        else:
            self.band_low.setData([], [])
            self.band_high.setData([], [])
        if baseline is not None and len(x):
            self.baseline.setData([-0.5, len(x) - 0.5], [baseline, baseline])
        else:
            self.baseline.setData([], [])
        self.bottom_axis.set_labels(list(titles) if titles else list(windows))
        axis_label(self, "left", metric)
        values = np.concatenate([v[np.isfinite(v)] for v in series.values()]
                                + [np.array([baseline] if baseline is not None else [])])
        if values.size:
            lo, hi = float(values.min()), float(values.max())
            pad = max((hi - lo) * 0.15, 0.02)
            self.setYRange(lo - pad, hi + pad, padding=0)
        self.setXRange(-0.5, max(len(x) - 0.5, 0.5), padding=0.02)


class StatusChip(QLabel):
    """A coloured pill naming a status (drift, data quality, ok, not testable...)."""

    COLORS = {
        "drift": ("#ffffff", LIGHT["danger"]),
        "quality": ("#ffffff", QUALITY_COLOR),
        "ok": (LIGHT["success"], LIGHT["success_soft"]),
        "not_testable": (LIGHT["text_muted"], "#e3e8ef"),
        "action": ("#ffffff", LIGHT["danger"]),
        "watch": ("#ffffff", QUALITY_COLOR),
        "info": (LIGHT["info"], LIGHT["info_soft"]),
    }
    TEXTS = {"drift": "drift", "quality": "data quality", "ok": "no drift",
             "not_testable": "not testable"}

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusChip")
        self.status = ""
        self.hide()

    def set_status(self, status: str | None, text: str | None = None) -> None:
        """Show ``status`` (hidden for ``None``)."""
        self.status = status or ""
        if not status:
            self.hide()
            return
        fg, bg = self.COLORS.get(status, (LIGHT["text"], "#e3e8ef"))
        self.setText(text or self.TEXTS.get(status, status))
        self.setStyleSheet(f"background: {bg}; color: {fg}; border-radius: 9px; "
                           "padding: 1px 9px; font-weight: 600;")
        self.show()
