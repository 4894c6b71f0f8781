"""Point an alias (production, staging, ...) at a version."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLayout,
    QVBoxLayout,
    QWidget,
)

from modeldeck.core.errors import ModelDeckError
from modeldeck.core.registry import PROTECTED_ALIASES
from modeldeck.core.registry.refs import check_alias
from modeldeck.core.workspace import PERMISSIONS
from modeldeck.gui.item_models import format_timestamp
from modeldeck.gui.widgets import set_style_property

SUGGESTED_ALIASES = ("staging", "production", "candidate")


def _set_invalid(widget: QWidget, invalid: bool) -> None:
    if widget.property("invalid") != ("true" if invalid else "false"):
        set_style_property(widget, "invalid", "true" if invalid else "false")


class SetAliasDialog(QDialog):
    """Choose a version and an alias name to point at it.

    Parameters
    ----------
    model
        The ``ModelInfo`` (its ``aliases`` say where each alias points now).
    versions
        The model's ``VersionInfo`` objects.
    version
        The version number preselected.
    """

    def __init__(self, model: Any, versions: list[Any], version: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setWindowTitle(f"Set alias — {model.name}")
        self.setObjectName("setAliasDialog")
        self.setMinimumWidth(460)

        title = QLabel(f"Set an alias of {model.name}", self)
        title.setProperty("role", "sectionTitle")
        intro = QLabel("An alias is a movable name for one version. Deployments and "
                       "clients follow the alias, so moving it is how a version is "
                       "promoted or rolled back.", self)
        intro.setWordWrap(True)
        intro.setProperty("role", "muted")

        self.version_box = QComboBox(self)
        self.version_box.setObjectName("aliasVersion")
        for info in sorted(versions, key=lambda v: -v.version):
            label = f"v{info.version}  ·  {info.estimator}  ·  {format_timestamp(info.created_at)}"
            self.version_box.addItem(label, info.version)
        if version is not None:
            self.version_box.setCurrentIndex(max(0, self.version_box.findData(version)))

        self.alias_box = QComboBox(self)
        self.alias_box.setObjectName("aliasName")
        self.alias_box.setEditable(True)
        self.alias_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        names = list(dict.fromkeys([*SUGGESTED_ALIASES, *sorted(model.aliases)]))
        self.alias_box.addItems(names)
        chosen = self.version_box.currentData()
        free = [n for n in names if model.aliases.get(n) != chosen]
        self.alias_box.setCurrentText(free[0] if free else "")
        self.alias_box.lineEdit().setPlaceholderText("e.g. staging")

        self.effect_label = QLabel(self)
        self.effect_label.setObjectName("aliasEffect")
        self.effect_label.setWordWrap(True)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("aliasError")
        self.error_label.setProperty("role", "error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(10)
        form.addRow("Version", self.version_box)
        form.addRow("Alias", self.alias_box)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Set alias")
        set_style_property(self.ok_button, "primary", True)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.effect_label)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

        self.version_box.currentIndexChanged.connect(self._on_field_changed)
        self.alias_box.currentTextChanged.connect(self._on_field_changed)
        self._on_field_changed()

    @property
    def version(self) -> int:
        """The chosen version number."""
        return int(self.version_box.currentData())

    @property
    def alias(self) -> str:
        """The alias name as typed."""
        return self.alias_box.currentText().strip()

    @property
    def ref(self) -> str:
        """The chosen version's reference (``name:version``)."""
        return f"{self.model.name}:{self.version}"

    def validation_error(self) -> str | None:
        """Why the input cannot be used, or ``None``."""
        if not self.alias:
            return "Type an alias name."
        try:
            check_alias(self.alias)
        except ModelDeckError as exc:
            return str(exc)
        if self.model.aliases.get(self.alias) == self.version:
            return f"'{self.alias}' already points to v{self.version}."
        return None

    def _on_field_changed(self, *_args: object) -> None:
        alias, current = self.alias, self.model.aliases.get(self.alias)
        if not alias:
            effect = ""
        elif current is None:
            effect = f"New alias: '{alias}' will point to v{self.version}."
        elif current == self.version:
            effect = ""
        else:
            effect = f"'{alias}' moves from v{current} to v{self.version}."
        if alias in PROTECTED_ALIASES:
            roles = " and ".join(f"{role}s" for role in sorted(PERMISSIONS["alias-protected"]))
            effect += f"  It is protected: only {roles} may move it."
        self.effect_label.setText(effect.strip())
        self.effect_label.setVisible(bool(effect.strip()))
        error = self.validation_error()
        self.error_label.setText(error or "")
        self.error_label.setVisible(error is not None)
        _set_invalid(self.alias_box, error is not None and bool(alias))
        self.ok_button.setEnabled(error is None)

    def _on_buttons_accepted(self) -> None:
        if self.validation_error() is None:
            self.accept()
