"""Small widget helpers shared by pages and dialogs."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QWidget

from modeldeck.gui.theme import alias_colors


def set_style_property(widget: QWidget, name: str, value: Any) -> None:
    """Set a dynamic property used by the stylesheet and re-polish ``widget``.

    Qt only re-evaluates ``[name="value"]`` selectors on polish, so a property changed
    after the widget was polished needs this.
    """
    widget.setProperty(name, value)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()


def make_table(parent: QWidget, model: Any, *, stretch: int | None = None,
               selection: QAbstractItemView.SelectionMode =
               QAbstractItemView.SelectionMode.SingleSelection) -> QTableView:
    """A read-only, row-selecting table view in ModelDeck's look."""
    view = QTableView(parent)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(selection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideRight)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(32)
    header = view.horizontalHeader()
    header.setHighlightSections(False)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    header.setStretchLastSection(stretch is None)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    if stretch is not None:
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return view


def alias_badge(alias: str, parent: QWidget) -> QLabel:
    """A coloured badge naming ``alias``."""
    fg, bg = alias_colors(alias)
    badge = QLabel(alias, parent)
    badge.setObjectName("aliasBadge")
    badge.setStyleSheet(f"background: {bg}; color: {fg}; border-radius: 9px; "
                        "padding: 1px 9px; font-weight: 600;")
    return badge


def muted_label(text: str, parent: QWidget, *, wrap: bool = True) -> QLabel:
    """A secondary-text label."""
    label = QLabel(text, parent)
    label.setProperty("role", "muted")
    label.setWordWrap(wrap)
    return label
