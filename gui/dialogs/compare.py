"""Two versions side by side: metric deltas, schema diff and environment diff."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from modeldeck.gui.item_models import (
    KeyValueTableModel,
    delta_quality,
    format_delta,
    format_number,
    format_timestamp,
    metric_label,
)
from modeldeck.gui.theme import LIGHT

_QUALITY_COLOURS = {1: LIGHT["success"], -1: LIGHT["danger"], 0: LIGHT["text_muted"]}


def _table(model: KeyValueTableModel, parent: QWidget, stretch_last: bool = True) -> QTableView:
    view = QTableView(parent)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(30)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(stretch_last)
    header.setHighlightSections(False)
    return view


def _version_card(title: str, version: Any, parent: QWidget) -> QFrame:
    card = QFrame(parent)
    card.setProperty("role", "card")
    layout = QGridLayout(card)
    layout.setContentsMargins(14, 10, 14, 10)
    layout.setHorizontalSpacing(12)
    layout.setVerticalSpacing(4)
    heading = QLabel(title, card)
    heading.setProperty("role", "muted")
    ref = QLabel(version.ref, card)
    ref.setProperty("role", "sectionTitle")
    layout.addWidget(heading, 0, 0, 1, 2)
    layout.addWidget(ref, 1, 0, 1, 2)
    rows = [
        ("Aliases", ", ".join(version.aliases) or "none"),
        ("Estimator", version.estimator),
        ("Registered", f"{format_timestamp(version.created_at)} by {version.author}"),
    ]
    for row, (label, value) in enumerate(rows, start=2):
        key = QLabel(label, card)
        key.setProperty("role", "fieldLabel")
        text = QLabel(value, card)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(key, row, 0)
        layout.addWidget(text, row, 1)
    layout.setColumnStretch(1, 1)
    return card


class CompareDialog(QDialog):
    """Shows a core ``VersionComparison``: how version B differs from version A.

    Parameters
    ----------
    comparison
        What ``Registry.compare(a, b)`` returned.
    """

    def __init__(self, comparison: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.comparison = comparison
        a, b = comparison.a, comparison.b
        self.setWindowTitle(f"Compare {a.ref} and {b.ref}")
        self.setObjectName("compareDialog")
        self.resize(820, 600)

        title = QLabel(f"{a.ref}  →  {b.ref}", self)
        title.setProperty("role", "pageTitle")
        subtitle = QLabel("How the newer selection (B) differs from the older one (A). "
                          "Metrics are on each version's own holdout data.", self)
        subtitle.setProperty("role", "muted")
        subtitle.setWordWrap(True)

        cards = QHBoxLayout()
        cards.setSpacing(12)
        cards.addWidget(_version_card("A", a, self))
        cards.addWidget(_version_card("B", b, self))

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("compareTabs")
        self.metrics_model = self._metrics_model(comparison)
        self.metrics_view = _table(self.metrics_model, self)
        self.tabs.addTab(self._tab_with_note(self.metrics_view, self._metrics_note(comparison)),
                         "Metrics")

        self.schema_model, schema_note, changes = self._schema_model(comparison)
        self.schema_view = _table(self.schema_model, self)
        self.tabs.addTab(self._tab_with_note(self.schema_view, schema_note),
                         f"Schema ({changes} change{'s' if changes != 1 else ''})"
                         if changes else "Schema (same)")

        self.environment_model = KeyValueTableModel(
            ("Package", f"A  ({a.ref})", f"B  ({b.ref})"),
            [(key, va, vb) for key, va, vb in comparison.environment])
        self.environment_view = _table(self.environment_model, self)
        env_count = len(comparison.environment)
        env_note = ("The two versions were registered with the same Python and library "
                    "versions." if not env_count else
                    "Only what differs is listed; a different scikit-learn version can "
                    "change predictions.")
        self.tabs.addTab(self._tab_with_note(self.environment_view, env_note),
                         f"Environment ({env_count} difference{'s' if env_count != 1 else ''})"
                         if env_count else "Environment (same)")

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addLayout(cards)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)

    @staticmethod
    def _metrics_model(comparison: Any) -> KeyValueTableModel:
        rows: list[tuple[Any, ...]] = []
        colours: dict[tuple[int, int], str] = {}
        for row, delta in enumerate(comparison.metrics):
            rows.append((metric_label(delta.name), format_number(delta.a), format_number(delta.b),
                         format_delta(delta.name, delta.delta)))
            colours[(row, 3)] = _QUALITY_COLOURS[delta_quality(delta.name, delta.delta)]
        model = KeyValueTableModel(
            ("Metric", f"A  ({comparison.a.ref})", f"B  ({comparison.b.ref})", "Change (B − A)"))
        model.set_rows(rows, colours)
        return model

    @staticmethod
    def _metrics_note(comparison: Any) -> str:
        better = sum(delta_quality(d.name, d.delta) > 0 for d in comparison.metrics)
        worse = sum(delta_quality(d.name, d.delta) < 0 for d in comparison.metrics)
        if not comparison.metrics:
            return "Neither version has holdout metrics (registered without holdout data)."
        return (f"B is better on {better} and worse on {worse} of {len(comparison.metrics)} "
                "metrics (green: better, red: worse).")

    @staticmethod
    def _schema_model(comparison: Any) -> tuple[KeyValueTableModel, str, int]:
        diff = comparison.schema
        rows: list[tuple[Any, ...]] = []
        colours: dict[tuple[int, int], str] = {}
        for column in diff.added:
            colours[(len(rows), 0)] = LIGHT["success"]
            rows.append(("added", column.name, "—", column.dtype))
        for column in diff.removed:
            colours[(len(rows), 0)] = LIGHT["danger"]
            rows.append(("removed", column.name, column.dtype, "—"))
        for name, old, new in diff.retyped:
            colours[(len(rows), 0)] = LIGHT["warning"]
            rows.append(("type changed", name, old, new))
        for name, old, new in getattr(diff, "nullability", ()):
            colours[(len(rows), 0)] = LIGHT["text_muted"]
            rows.append(("nullability", name, "nullable" if old else "required",
                         "nullable" if new else "required"))
        model = KeyValueTableModel(("Change", "Column", "A", "B"))
        model.set_rows(rows, colours)
        if not rows:
            note = (f"Same input schema: {len(comparison.b.schema)} columns with the same "
                    "types.")
        elif getattr(diff, "is_compatible", True):
            note = "Compatible: callers of A can call B unchanged (no column removed or retyped)."
        else:
            note = "Breaking: callers of A must change their requests to call B."
        return model, note, len(rows)

    def _tab_with_note(self, view: QTableView, note: str) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        label = QLabel(note, page)
        label.setObjectName("tabNote")
        label.setProperty("role", "muted")
        label.setWordWrap(True)
        layout.addWidget(label)
        layout.addWidget(view, 1)
        return page
