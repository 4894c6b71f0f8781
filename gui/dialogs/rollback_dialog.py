"""Confirm a rollback of some hosts (the selected ones, or a group) to their previous
release."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from modeldeck.gui.fleet_models import release_text
from modeldeck.gui.item_models import KeyValueTableModel
from modeldeck.gui.theme import LIGHT
from modeldeck.gui.widgets import make_table, muted_label


class RollbackDialog(QDialog):
    """Choose the hosts to roll back and confirm.

    Parameters
    ----------
    hosts
        Every host of the workspace.
    statuses
        Their cached statuses, by name (to show what runs now).
    selected
        Names of the hosts selected on the page.

    Attributes
    ----------
    chosen
        The hosts to roll back, once accepted.
    """

    def __init__(self, hosts: Sequence[Any], statuses: dict[str, Any],
                 selected: Sequence[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rollbackDialog")
        self.setWindowTitle("Roll back")
        self.setMinimumWidth(580)
        self._hosts = list(hosts)
        self._statuses = statuses
        self._selected = [h for h in self._hosts if h.name in set(selected)]
        self.chosen: list[Any] = []

        title = QLabel("Roll back to the previous release", self)
        title.setProperty("role", "sectionTitle")
        intro = muted_label(
            "Each host switches back to the release it ran before, which is still on the "
            "host: nothing is uploaded, the server restarts and must pass its health "
            "check. Takes about a second per host.", self)

        self.scope = QButtonGroup(self)
        self.selected_radio = QRadioButton(self)
        self.selected_radio.setObjectName("rollbackSelected")
        self.group_radio = QRadioButton("Every host of group", self)
        self.group_radio.setObjectName("rollbackGroup")
        self.group_box = QComboBox(self)
        self.group_box.setObjectName("rollbackGroupName")
        groups = sorted({g for h in self._hosts for g in h.groups})
        self.group_box.addItems(groups)
        self.scope.addButton(self.selected_radio, 0)
        self.scope.addButton(self.group_radio, 1)
        names = ", ".join(h.name for h in self._selected)
        self.selected_radio.setText(f"Selected hosts: {names}" if names else
                                    "Selected hosts (none selected)")
        self.selected_radio.setEnabled(bool(self._selected))
        self.group_radio.setEnabled(bool(groups))
        self.group_box.setEnabled(bool(groups))
        (self.selected_radio if self._selected else self.group_radio).setChecked(True)
        group_row = QHBoxLayout()
        group_row.addWidget(self.group_radio)
        group_row.addWidget(self.group_box, 1)

        self.table_model = KeyValueTableModel(("Host", "Runs now"), parent=self)
        self.table = make_table(self, self.table_model, stretch=1)
        self.table.setObjectName("rollbackHosts")
        self.table.setMinimumHeight(120)
        warning = QLabel("Requests in flight on these hosts are served by the old release "
                         "again once it is back up.", self)
        warning.setWordWrap(True)
        warning.setStyleSheet(f"color: {LIGHT['warning']};")

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = self.buttons.addButton("Roll back",
                                                QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok_button.setObjectName("rollbackConfirm")
        self.ok_button.setStyleSheet(f"QPushButton {{ background: {LIGHT['danger']}; "
                                     f"border-color: {LIGHT['danger']}; color: white; "
                                     "font-weight: 600; } QPushButton:disabled { "
                                     f"background: {LIGHT['border_strong']}; }}")
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(self.selected_radio)
        layout.addLayout(group_row)
        layout.addWidget(self.table, 1)
        layout.addWidget(warning)
        layout.addWidget(self.buttons)

        self.scope.idToggled.connect(lambda *_a: self._update())
        self.group_box.currentIndexChanged.connect(lambda *_a: self._update())
        self._update()

    def targets(self) -> list[Any]:
        """The hosts the current choice covers."""
        if self.scope.checkedId() == 0:
            return list(self._selected)
        group = self.group_box.currentText()
        return [h for h in self._hosts if group and group in h.groups]

    def _update(self) -> None:
        rows = []
        for host in self.targets():
            status = self._statuses.get(host.name)
            running = (release_text(status.model, status.version, status.release_id)
                       if status is not None else "")
            rows.append((host.name, running or "unknown"))
        self.table_model.set_rows(rows)
        self.table.resizeColumnToContents(0)
        self.table.setColumnWidth(0, max(self.table.columnWidth(0), 160))
        count = len(rows)
        self.ok_button.setText(f"Roll back {count} host{'s' if count != 1 else ''}")
        self.ok_button.setEnabled(count > 0)

    def _on_buttons_accepted(self) -> None:
        self.chosen = self.targets()
        if self.chosen:
            self.accept()

