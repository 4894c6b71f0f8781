"""Qt item models adapting the registry's dataclasses, and the alias badge delegate.

Every model here is a thin adapter: it holds what core returned (``ModelInfo``,
``VersionInfo``, ``ColumnSchema``...) and formats it; it never queries a database or
computes a statistic. Custom roles are :class:`ModelRole`; ``data()`` returns ``None``
for any role it does not know.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from enum import IntEnum
from functools import partial
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPainterPath
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from modeldeck.core.registry import HIGHER_IS_BETTER, KEY_METRICS
from modeldeck.gui.theme import LIGHT, alias_colors

AnyIndex = QModelIndex | QPersistentModelIndex

#: Metric labels for headers and tables.
METRIC_LABELS: dict[str, str] = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced acc.",
    "f1": "F1",
    "f1_macro": "F1 (macro)",
    "f1_weighted": "F1 (weighted)",
    "precision": "Precision",
    "recall": "Recall",
    "roc_auc": "ROC AUC",
    "log_loss": "Log loss",
    "brier": "Brier",
    "mae": "MAE",
    "mse": "MSE",
    "rmse": "RMSE",
    "r2": "R²",
    "mape": "MAPE",
}

def metric_label(name: str) -> str:
    """The human label of metric ``name``."""
    return METRIC_LABELS.get(name, name.replace("_", " "))


def format_number(value: float | None, digits: int = 4) -> str:
    """A metric value for display (``—`` when missing)."""
    if value is None:
        return "—"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.{digits}f}"


def format_delta(name: str, delta: float | None) -> str:
    """A signed metric delta for display."""
    if delta is None:
        return "—"
    if delta == 0:
        return "±0"
    return ("+" if delta > 0 else "−") + format_number(abs(delta))


def delta_quality(name: str, delta: float | None) -> int:
    """+1 when ``delta`` of metric ``name`` is an improvement, -1 when worse, 0 otherwise.

    The direction of each metric is core's (``HIGHER_IS_BETTER``); a metric core does not
    rank stays neutral.
    """
    higher_is_better = HIGHER_IS_BETTER.get(name)
    if higher_is_better is None or delta is None or delta == 0 or math.isnan(delta):
        return 0
    return 1 if (delta > 0) == higher_is_better else -1


def format_timestamp(iso: str | None) -> str:
    """``2024-05-01T12:30:05.123+00:00`` → ``2024-05-01 12:30`` (ISO text stays sortable)."""
    if not iso:
        return ""
    text = iso.replace("T", " ")
    return text[:16]


def version_label(info: Any, *, author: bool = False) -> str:
    """One line about a version for pickers: ``v2 · Estimator · [by alice ·] date (aliases)``."""
    aliases = f"  ({', '.join(info.aliases)})" if info.aliases else ""
    by = f"by {info.author}  ·  " if author else ""
    when = format_timestamp(info.created_at)
    return (f"v{info.version}  ·  {info.estimator}  ·  {by}"
            f"{when[:10] if author else when}{aliases}")


def format_size(size: int | None) -> str:
    """A byte count for display."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


class ModelRole(IntEnum):
    """Custom item data roles shared by ModelDeck's models."""

    item = Qt.ItemDataRole.UserRole  #: the core object behind the row
    sort = Qt.ItemDataRole.UserRole + 1  #: a sortable value (numbers stay numbers)
    aliases = Qt.ItemDataRole.UserRole + 2  #: tuple of alias names of the row
    key = Qt.ItemDataRole.UserRole + 3  #: a stable identifier (model name, version ref)
    detail = Qt.ItemDataRole.UserRole + 4  #: a one-line summary under the row's title


class _TableModel(QAbstractTableModel):
    """Shared plumbing: headers, flags and role dispatch for flat tables."""

    headers: Sequence[str] = ()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows())

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._headers())

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self._headers()):
            if role == Qt.ItemDataRole.DisplayRole:
                return self._headers()[section]
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return self._alignment(section)
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        rows = self._rows()
        if not (0 <= index.row() < len(rows) and 0 <= index.column() < len(self._headers())):
            return None
        row, column = rows[index.row()], index.column()
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return self._alignment(column)
        if role == ModelRole.item:
            return row
        return self._cell(row, column, role)

    # subclass hooks
    def _rows(self) -> Sequence[Any]:
        raise NotImplementedError

    def _headers(self) -> Sequence[str]:
        return self.headers

    def _cell(self, row: Any, column: int, role: int) -> Any:
        raise NotImplementedError

    def _alignment(self, _column: int) -> Any:
        return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


class RegistryTableModel(_TableModel):
    """The registered models, fetched page by page.

    Rows arrive through ``fetch_page(query, max_results, page_token)`` (the registry's
    ``search_models``); views pull further pages with ``canFetchMore``/``fetchMore``.
    With a ``runner`` pages are fetched in a worker thread, else synchronously.

    Parameters
    ----------
    fetch_page
        ``search_models`` or a function like it returning a ``PagedList``.
    runner
        A :class:`~modeldeck.gui.tasks.TaskRunner`, or ``None`` to fetch synchronously.
    page_size
        Rows per page.

    Signals
    -------
    loading_changed(bool)
        A page request started (``True``) or ended (``False``).
    page_loaded()
        A page of rows was appended (the first page after a reset included).
    """

    loading_changed = Signal(bool)
    page_loaded = Signal()

    NAME, VERSIONS, PRODUCTION = range(3)
    headers = ("Model", "Versions", "Production")

    def __init__(self, fetch_page: Callable[..., Sequence[Any]], runner: Any = None,
                 page_size: int = 100, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fetch_page = fetch_page
        self._runner = runner
        self._page_size = page_size
        self._models: list[Any] = []
        self._query = ""
        self._token: str | None = None
        self._started = False
        self._loading = False
        self._generation = 0

    # -- loading ------------------------------------------------------------

    @property
    def query(self) -> str:
        """The current search text."""
        return self._query

    @property
    def is_loading(self) -> bool:
        """Whether a page request is under way."""
        return self._loading

    def set_query(self, query: str) -> None:
        """Forget all rows and load the first page matching ``query``."""
        self._generation += 1
        self.beginResetModel()
        self._models = []
        self._query = query
        self._token = None
        self._started = True
        self._loading = False
        self.endResetModel()
        self._request(None)

    def refresh(self) -> None:
        """Reload from the first page with the same query."""
        self.set_query(self._query)

    def canFetchMore(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: N802, B008
        if parent.isValid():
            return False
        return self._started and self._token is not None and not self._loading

    def fetchMore(self, parent: AnyIndex = QModelIndex()) -> None:  # noqa: N802, B008
        if self.canFetchMore(parent):
            self._request(self._token)

    def _request(self, token: str | None) -> None:
        self._set_loading(True)
        generation = self._generation
        on_done = partial(self._on_fetch_finished, generation)
        if self._runner is None:
            on_done(self._fetch_page(self._query, self._page_size, token))
            return
        self._runner.call(self._fetch_page, self._query, self._page_size, token,
                          title="Loading models", on_done=on_done,
                          on_error=partial(self._on_fetch_errored, generation))

    def _on_fetch_finished(self, generation: int, page: Sequence[Any]) -> None:
        if generation != self._generation:
            return  # a newer query replaced this one
        token = getattr(page, "token", None)
        known = {model.name for model in self._models}
        fresh = [model for model in page if model.name not in known]
        if fresh:
            start = len(self._models)
            self.beginInsertRows(QModelIndex(), start, start + len(fresh) - 1)
            self._models.extend(fresh)
            self.endInsertRows()
        self._token = token
        self._set_loading(False)
        self.page_loaded.emit()

    def _on_fetch_errored(self, generation: int, _exc: BaseException) -> None:
        if generation == self._generation:
            self._token = None
            self._set_loading(False)

    def _set_loading(self, loading: bool) -> None:
        if loading != self._loading:
            self._loading = loading
            self.loading_changed.emit(loading)

    # -- access -------------------------------------------------------------

    def model_at(self, row: int) -> Any:
        """The ``ModelInfo`` at ``row``."""
        return self._models[row]

    def row_of(self, name: str) -> int:
        """The row of model ``name``, or -1."""
        for row, model in enumerate(self._models):
            if model.name == name:
                return row
        return -1

    def update_model(self, info: Any) -> None:
        """Replace the row of ``info.name`` with fresher ``info`` (after an alias move)."""
        row = self.row_of(info.name)
        if row < 0:
            return
        self._models[row] = info
        self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))

    # -- table hooks --------------------------------------------------------

    def _rows(self) -> Sequence[Any]:
        return self._models

    def _alignment(self, column: int) -> Any:
        return _RIGHT if column == self.VERSIONS else _LEFT

    def _cell(self, model: Any, column: int, role: int) -> Any:
        production = model.aliases.get("production")
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.NAME:
                return model.name
            if column == self.VERSIONS:
                return str(model.version_count)
            if column == self.PRODUCTION:
                return f"v{production}" if production is not None else "—"
            return None
        if role == ModelRole.sort:
            if column == self.VERSIONS:
                return model.version_count
            if column == self.PRODUCTION:
                return production if production is not None else -1
            return self._cell(model, column, Qt.ItemDataRole.DisplayRole).lower()
        if role == ModelRole.key:
            return model.name
        if role == ModelRole.aliases:
            return tuple(model.aliases)
        if role == ModelRole.detail:
            parts = [f"{model.version_count} version{'s' if model.version_count != 1 else ''}"]
            if production is not None:
                parts.append(f"production v{production}")
            if model.owner:
                parts.append(model.owner)
            return "  ·  ".join(parts)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [model.name]
            if model.owner:
                lines.append(f"Owner: {model.owner}")
            if model.description:
                lines.append(model.description)
            if model.tags:
                lines.append("Tags: " + ", ".join(model.tags))
            if model.aliases:
                moves = (f"{alias} → v{number}" for alias, number in model.aliases.items())
                lines.append("Aliases: " + ", ".join(moves))
            return "\n".join(lines)
        if role == Qt.ItemDataRole.FontRole and column == self.NAME:
            font = QFont()
            font.setWeight(QFont.Weight.DemiBold)
            return font
        if (role == Qt.ItemDataRole.ForegroundRole and column == self.PRODUCTION
                and production is None):
            return QBrush(QColor(LIGHT["text_faint"]))
        return None


class VersionsTableModel(_TableModel):
    """The versions of one model: version, aliases (badges), created, author, key metrics.

    Parameters
    ----------
    versions
        ``VersionInfo`` objects, any order.
    """

    VERSION, ALIASES, CREATED, AUTHOR = range(4)
    fixed_headers = ("Version", "Aliases", "Created", "Author")

    def __init__(self, versions: Sequence[Any] = (), parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._versions: list[Any] = []
        self._metrics: tuple[str, ...] = ()
        self.set_versions(versions)

    def set_versions(self, versions: Sequence[Any]) -> None:
        """Show ``versions`` (replacing any shown before)."""
        self.beginResetModel()
        self._versions = list(versions)
        self._metrics = self._pick_metrics(self._versions)
        self.endResetModel()

    def update_aliases(self, aliases: dict[str, int]) -> None:
        """Redraw the alias badges from a model's ``alias → version`` map."""
        by_version: dict[int, list[str]] = {}
        for alias, number in sorted(aliases.items()):
            by_version.setdefault(number, []).append(alias)
        for row, version in enumerate(self._versions):
            new = tuple(by_version.get(version.version, ()))
            if tuple(version.aliases) != new:
                self._versions[row] = _with_aliases(version, new)
                index = self.index(row, self.ALIASES)
                self.dataChanged.emit(index, index)

    @staticmethod
    def _pick_metrics(versions: Sequence[Any]) -> tuple[str, ...]:
        present: dict[str, None] = {}
        for version in versions:
            for name in version.metrics:
                present.setdefault(name, None)
        tasks = {version.task for version in versions}
        preferred: list[str] = []
        for task in sorted(tasks):
            preferred.extend(m for m in KEY_METRICS.get(task, ()) if m in present)
        if not preferred:
            preferred = list(present)
        return tuple(dict.fromkeys(preferred))[:3]

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The metrics shown as columns."""
        return self._metrics

    def versions(self) -> list[Any]:
        """The versions shown, in model order."""
        return list(self._versions)

    def version_at(self, row: int) -> Any:
        """The ``VersionInfo`` at ``row``."""
        return self._versions[row]

    def row_of(self, version: int) -> int:
        """The row of version number ``version``, or -1."""
        for row, info in enumerate(self._versions):
            if info.version == version:
                return row
        return -1

    def _rows(self) -> Sequence[Any]:
        return self._versions

    def _headers(self) -> Sequence[str]:
        return self.fixed_headers + tuple(metric_label(m) for m in self._metrics)

    def _alignment(self, column: int) -> Any:
        return _RIGHT if column >= len(self.fixed_headers) else _LEFT

    def _cell(self, version: Any, column: int, role: int) -> Any:
        metric = (self._metrics[column - len(self.fixed_headers)]
                  if column >= len(self.fixed_headers) else None)
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.VERSION:
                return f"v{version.version}"
            if column == self.ALIASES:
                return ", ".join(version.aliases)
            if column == self.CREATED:
                return format_timestamp(version.created_at)
            if column == self.AUTHOR:
                return version.author
            if metric is not None:
                return format_number(version.metrics.get(metric))
            return None
        if role == ModelRole.sort:
            if column == self.VERSION:
                return version.version
            if column == self.ALIASES:
                return ", ".join(version.aliases)
            if column == self.CREATED:
                return version.created_at
            if metric is not None:
                value = version.metrics.get(metric)
                return float("-inf") if value is None else float(value)
            return str(self._cell(version, column, Qt.ItemDataRole.DisplayRole)).lower()
        if role == ModelRole.aliases:
            return tuple(version.aliases)
        if role == ModelRole.key:
            return version.ref
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.CREATED:
                return version.created_at
            if column == self.ALIASES and version.aliases:
                return "Aliases pointing at this version: " + ", ".join(version.aliases)
            if metric is not None:
                return f"{metric_label(metric)} on the holdout data"
            if column == self.VERSION:
                return f"{version.ref}: {version.estimator}"
            return None
        if role == Qt.ItemDataRole.FontRole and column == self.VERSION:
            font = QFont()
            font.setWeight(QFont.Weight.DemiBold)
            return font
        return None


def _with_aliases(version: Any, aliases: tuple[str, ...]) -> Any:
    import dataclasses

    return dataclasses.replace(version, aliases=aliases)


class SchemaTableModel(_TableModel):
    """A version's input schema: column, type, nullable, categories."""

    headers = ("Column", "Type", "Nullable", "Categories")

    def __init__(self, columns: Sequence[Any] = (), target: str | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._columns: list[Any] = []
        self._target: str | None = None
        self.set_schema(columns, target)

    def set_schema(self, columns: Sequence[Any], target: str | None = None) -> None:
        """Show ``columns`` (``ColumnSchema`` objects)."""
        self.beginResetModel()
        self._columns = list(columns)
        self._target = target
        self.endResetModel()

    def _rows(self) -> Sequence[Any]:
        return self._columns

    def _cell(self, column_schema: Any, column: int, role: int) -> Any:
        categories = column_schema.categories
        if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
            if column == 0:
                return column_schema.name
            if column == 1:
                return column_schema.dtype
            if column == 2:
                return "yes" if column_schema.nullable else "no"
            if column == 3:
                if not categories:
                    return ""
                shown = ", ".join(categories[:8])
                return shown + (f", … ({len(categories)} in all)" if len(categories) > 8 else "")
            return None
        if role == Qt.ItemDataRole.ToolTipRole and column == 3 and categories:
            return "\n".join(categories[:50]) + ("\n…" if len(categories) > 50 else "")
        if role == ModelRole.key:
            return column_schema.name
        if role == Qt.ItemDataRole.ForegroundRole and column == 2 and not column_schema.nullable:
            return QBrush(QColor(LIGHT["text_muted"]))
        return None


class KeyValueTableModel(_TableModel):
    """A small two-or-more column table of plain values (metrics, environment, history).

    Parameters
    ----------
    headers
        Column titles.
    rows
        Tuples of cell values; ``None`` shows as an em dash.
    """

    def __init__(self, headers: Sequence[str], rows: Sequence[Sequence[Any]] = (),
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._header_titles = tuple(headers)
        self._data: list[tuple[Any, ...]] = []
        self._foregrounds: dict[tuple[int, int], str] = {}
        self._numeric: set[int] = set()
        self.set_rows(rows)

    def set_rows(self, rows: Sequence[Sequence[Any]],
                 foregrounds: dict[tuple[int, int], str] | None = None) -> None:
        """Show ``rows``; ``foregrounds`` maps (row, column) to a text colour."""
        self.beginResetModel()
        self._data = [tuple(row) for row in rows]
        self._foregrounds = dict(foregrounds or {})
        self._numeric = {
            column for column in range(len(self._header_titles))
            if self._data and all(isinstance(row[column], (int, float)) or row[column] is None
                                  for row in self._data)
            and any(row[column] is not None for row in self._data)
        }
        self.endResetModel()

    def rows(self) -> list[tuple[Any, ...]]:
        """The raw rows."""
        return list(self._data)

    def _rows(self) -> Sequence[Any]:
        return self._data

    def _headers(self) -> Sequence[str]:
        return self._header_titles

    def _alignment(self, column: int) -> Any:
        return _RIGHT if column in self._numeric else _LEFT

    def _cell(self, row: tuple[Any, ...], column: int, role: int) -> Any:
        value = row[column]
        if role == Qt.ItemDataRole.DisplayRole:
            if value is None:
                return "—"
            if isinstance(value, float):
                return format_number(value)
            return str(value)
        if role == ModelRole.sort:
            if isinstance(value, (int, float)):
                return value
            return "" if value is None else str(value)
        if role == Qt.ItemDataRole.ToolTipRole and isinstance(value, str) and len(value) > 40:
            return value
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid():
            colour = self._foregrounds.get((index.row(), index.column()))
            return QBrush(QColor(colour)) if colour else None
        return super().data(index, role)


class SortProxyModel(QSortFilterProxyModel):
    """Sorts by :attr:`ModelRole.sort` and filters case-insensitively on every column."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(ModelRole.sort)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)

    def lessThan(self, left: AnyIndex, right: AnyIndex) -> bool:  # noqa: N802
        a = left.data(ModelRole.sort)
        b = right.data(ModelRole.sort)
        try:
            return bool(a < b)
        except TypeError:
            return str(a) < str(b)


class AliasBadgeDelegate(QStyledItemDelegate):
    """Paints a cell's :attr:`ModelRole.aliases` as coloured rounded badges."""

    PAD_X, PAD_Y, GAP, RADIUS = 7, 2, 4, 8

    def _badge_font(self, option: QStyleOptionViewItem) -> QFont:
        font = QFont(option.font)
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.88))
        font.setWeight(QFont.Weight.DemiBold)
        return font

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        aliases = index.data(ModelRole.aliases) or ()
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        if not aliases:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = self._badge_font(option)
        painter.setFont(font)
        metrics = QFontMetrics(font)
        height = metrics.height() + 2 * self.PAD_Y
        rect: QRect = option.rect.adjusted(6, 0, -4, 0)
        x = rect.left()
        y = rect.top() + (rect.height() - height) // 2
        for alias in aliases:
            width = metrics.horizontalAdvance(alias) + 2 * self.PAD_X
            if x + width > rect.right():
                painter.setPen(QColor(LIGHT["text_muted"]))
                painter.drawText(QRect(x, y, rect.right() - x, height),
                                 int(Qt.AlignmentFlag.AlignVCenter), "…")
                break
            fg, bg = alias_colors(alias)
            path = QPainterPath()
            path.addRoundedRect(QRectF(x, y, width, height), self.RADIUS, self.RADIUS)
            painter.fillPath(path, QColor(bg))
            painter.setPen(QColor(fg))
            painter.drawText(QRect(x, y, width, height), int(Qt.AlignmentFlag.AlignCenter), alias)
            x += width + self.GAP
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:  # noqa: N802
        base = super().sizeHint(option, index)
        aliases = index.data(ModelRole.aliases) or ()
        if not aliases:
            return base
        metrics = QFontMetrics(self._badge_font(option))
        width = sum(metrics.horizontalAdvance(a) + 2 * self.PAD_X + self.GAP for a in aliases) + 12
        height = metrics.height() + 2 * self.PAD_Y + 8
        return QSize(max(base.width(), width), max(base.height(), height))


class TwoLineDelegate(QStyledItemDelegate):
    """Paints a row's display text in bold over its :attr:`ModelRole.detail` line."""

    PAD_X, PAD_Y, LINE_GAP = 12, 9, 3

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont]:
        title = QFont(option.font)
        title.setWeight(QFont.Weight.DemiBold)
        detail = QFont(option.font)
        detail.setPointSizeF(max(7.0, option.font.pointSizeF() * 0.9))
        return title, detail

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        title_text, opt.text = opt.text, ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        title_font, detail_font = self._fonts(option)
        rect = option.rect.adjusted(self.PAD_X, self.PAD_Y, -self.PAD_X, -self.PAD_Y)
        title_metrics, detail_metrics = QFontMetrics(title_font), QFontMetrics(detail_font)
        painter.save()
        painter.setFont(title_font)
        painter.setPen(QColor(LIGHT["text"]))
        painter.drawText(QRect(rect.left(), rect.top(), rect.width(), title_metrics.height()),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         title_metrics.elidedText(title_text, Qt.TextElideMode.ElideRight,
                                                  rect.width()))
        detail = index.data(ModelRole.detail) or ""
        if detail:
            painter.setFont(detail_font)
            painter.setPen(QColor(LIGHT["text_muted"]))
            top = rect.top() + title_metrics.height() + self.LINE_GAP
            painter.drawText(QRect(rect.left(), top, rect.width(), detail_metrics.height()),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                             detail_metrics.elidedText(detail, Qt.TextElideMode.ElideRight,
                                                       rect.width()))
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:  # noqa: N802
        title_font, detail_font = self._fonts(option)
        height = (QFontMetrics(title_font).height() + self.LINE_GAP
                  + QFontMetrics(detail_font).height() + 2 * self.PAD_Y)
        return QSize(200, height)
