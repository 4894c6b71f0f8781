"""Qt models of the Drift page: the ranked advice list and a feature's numbers.

Thin adapters over core's dataclasses (:class:`~modeldeck.core.drift.report.Advice`,
:class:`~modeldeck.core.drift.stats.FeatureDrift`): they format what core computed and
never compute a statistic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from modeldeck.gui.item_models import ModelRole, format_number
from modeldeck.gui.theme import LIGHT

AnyIndex = QModelIndex | QPersistentModelIndex

#: Severity chip colours (text, background) and labels.
SEVERITY_STYLE: dict[str, tuple[str, str, str]] = {
    "action": ("#ffffff", LIGHT["danger"], "ACTION"),
    "watch": ("#ffffff", "#d97706", "WATCH"),
    "info": (LIGHT["info"], LIGHT["info_soft"], "INFO"),
}


class AdviceRole(IntEnum):
    """Roles of :class:`AdviceListModel` beyond :class:`ModelRole`."""

    severity = Qt.ItemDataRole.UserRole + 20  #: "action" | "watch" | "info"
    text = Qt.ItemDataRole.UserRole + 21  #: the finding with its evidence
    action = Qt.ItemDataRole.UserRole + 22  #: the next step


class AdviceListModel(QAbstractListModel):
    """The ranked findings of a drift report, one row each.

    ``DisplayRole`` is the title, :attr:`ModelRole.item` the core ``Advice``,
    :attr:`ModelRole.key` the feature it is about (or ``None``).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._advice: list[Any] = []

    def set_advice(self, advice: Sequence[Any]) -> None:
        """Show ``advice`` (already ranked by core)."""
        self.beginResetModel()
        self._advice = list(advice)
        self.endResetModel()

    def advice_at(self, row: int) -> Any:
        """The ``Advice`` of ``row``."""
        return self._advice[row]

    def row_of_feature(self, feature: str) -> int:
        """The first row about ``feature``, or -1."""
        for row, advice in enumerate(self._advice):
            if advice.feature == feature:
                return row
        return -1

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._advice)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid() or index.column() != 0:
            return None
        if not 0 <= index.row() < len(self._advice):
            return None
        advice = self._advice[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return advice.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{advice.text}\n\nNext step: {advice.action}"
        if role == ModelRole.item:
            return advice
        if role == ModelRole.key:
            return advice.feature
        if role == ModelRole.sort:
            return advice.rank
        if role == AdviceRole.severity:
            return advice.severity
        if role == AdviceRole.text:
            return advice.text
        if role == AdviceRole.action:
            return advice.action
        return None


class AdviceDelegate(QStyledItemDelegate):
    """Paints a finding: severity chip and title, the evidence, then the next step.

    Rows wrap to the view's width, so the view must relayout on resize
    (``QListView.ResizeMode.Adjust``).
    """

    PAD_X, PAD_Y, GAP = 12, 10, 4
    CHIP_W = 62

    def __init__(self, view: QAbstractItemView) -> None:
        super().__init__(view)
        self._view = view

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont, QFont]:
        title = QFont(option.font)
        title.setWeight(QFont.Weight.DemiBold)
        body = QFont(option.font)
        body.setPointSizeF(max(7.0, option.font.pointSizeF() * 0.93))
        chip = QFont(option.font)
        chip.setPointSizeF(max(6.5, option.font.pointSizeF() * 0.75))
        chip.setWeight(QFont.Weight.Bold)
        return title, body, chip

    def _text_width(self, option: QStyleOptionViewItem) -> int:
        width = self._view.viewport().width() if self._view is not None else option.rect.width()
        return max(120, width - 2 * self.PAD_X - self.CHIP_W - 8)

    def _layout(self, option: QStyleOptionViewItem, index: AnyIndex
                ) -> tuple[int, int, int, int]:
        title_font, body_font, _chip = self._fonts(option)
        width = self._text_width(option)
        flags = int(Qt.TextFlag.TextWordWrap)
        title_h = QFontMetrics(title_font).boundingRect(
            QRect(0, 0, width, 10_000), flags, index.data() or "").height()
        text_h = QFontMetrics(body_font).boundingRect(
            QRect(0, 0, width, 10_000), flags, index.data(AdviceRole.text) or "").height()
        action_h = QFontMetrics(body_font).boundingRect(
            QRect(0, 0, width, 10_000), flags,
            "→ " + (index.data(AdviceRole.action) or "")).height()
        return width, title_h, text_h, action_h

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        title_font, body_font, chip_font = self._fonts(option)
        width, title_h, text_h, action_h = self._layout(option, index)
        left = option.rect.left() + self.PAD_X
        top = option.rect.top() + self.PAD_Y
        fg, bg, label = SEVERITY_STYLE.get(index.data(AdviceRole.severity) or "info",
                                           SEVERITY_STYLE["info"])
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        chip_h = QFontMetrics(chip_font).height() + 4
        chip = QRectF(left, top + 1, self.CHIP_W - 8, chip_h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(QColor(bg)))
        painter.drawRoundedRect(chip, chip_h / 2, chip_h / 2)
        painter.setPen(QColor(fg))
        painter.setFont(chip_font)
        painter.drawText(chip, int(Qt.AlignmentFlag.AlignCenter), label)
        x = left + self.CHIP_W
        flags = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
                    | Qt.TextFlag.TextWordWrap)
        painter.setFont(title_font)
        painter.setPen(QColor(LIGHT["text"]))
        painter.drawText(QRect(x, top, width, title_h), flags, index.data() or "")
        y = top + title_h + self.GAP
        painter.setFont(body_font)
        painter.setPen(QColor(LIGHT["text_muted"]))
        painter.drawText(QRect(x, y, width, text_h), flags, index.data(AdviceRole.text) or "")
        y += text_h + self.GAP
        painter.setPen(QColor(LIGHT["accent_pressed"]))
        painter.drawText(QRect(x, y, width, action_h), flags,
                         "→ " + (index.data(AdviceRole.action) or ""))
        painter.setPen(QColor(LIGHT["border"]))
        painter.drawLine(option.rect.left() + self.PAD_X, option.rect.bottom(),
                         option.rect.right() - self.PAD_X, option.rect.bottom())
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:  # noqa: N802
        width, title_h, text_h, action_h = self._layout(option, index)
        height = 2 * self.PAD_Y + title_h + text_h + action_h + 2 * self.GAP
        return QSize(width + self.CHIP_W + 2 * self.PAD_X, height)


@dataclass(frozen=True)
class NumberRow:
    """One row of :class:`FeatureNumbersModel`: a label and its value, or a section."""

    label: str
    value: Any = None
    section: bool = False
    colour: str | None = None
    tooltip: str | None = None


class FeatureNumbersModel(QAbstractTableModel):
    """Every number of one feature's result, in titled sections (two columns)."""

    HEADERS = ("Statistic", "Value")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[NumberRow] = []

    def set_rows(self, rows: Sequence[NumberRow]) -> None:
        """Show ``rows``."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[NumberRow]:
        """The rows on display."""
        return list(self._rows)

    def value_of(self, label: str) -> str | None:
        """The display text of the first row labelled ``label``."""
        for row in self._rows:
            if row.label == label and not row.section:
                return _display(row.value)
        return None

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(self.HEADERS)):
            return self.HEADERS[section]
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        if not (0 <= index.row() < len(self._rows) and 0 <= index.column() < 2):
            return None
        row, column = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if row.section:
                return row.label if column == 0 else ""
            return row.label if column == 0 else _display(row.value)
        if role == Qt.ItemDataRole.FontRole and row.section:
            font = QFont()
            font.setWeight(QFont.Weight.DemiBold)
            return font
        if role == Qt.ItemDataRole.BackgroundRole and row.section:
            return QBrush(QColor(LIGHT["background"]))
        if role == Qt.ItemDataRole.ForegroundRole:
            if row.section:
                return QBrush(QColor(LIGHT["text_muted"]))
            if column == 1 and row.colour:
                return QBrush(QColor(row.colour))
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.tooltip
        if role == ModelRole.item:
            return row
        return None


def _display(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format_number(value)
    return str(value)
