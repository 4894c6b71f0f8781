"""Register a model version from files: model, reference data, optional holdout."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from modeldeck.core.datafiles import CSV_SUFFIXES, PARQUET_SUFFIXES, read_columns
from modeldeck.core.errors import ModelDeckError
from modeldeck.core.modelio import PICKLE_SUFFIXES
from modeldeck.core.registry import ModelCard
from modeldeck.core.registry.refs import check_name
from modeldeck.gui.widgets import set_style_property

MODEL_SUFFIXES = (".skops", ".onnx", *PICKLE_SUFFIXES)
DATA_SUFFIXES = (*CSV_SUFFIXES, *PARQUET_SUFFIXES)
NO_TARGET = ""


@dataclass(frozen=True)
class RegisterRequest:
    """What the register dialog collected, ready for ``Registry.register``."""

    name: str
    model_path: Path
    reference_path: Path
    holdout_path: Path | None = None
    target: str | None = None
    trust_pickle: bool = False
    trusted_types: tuple[str, ...] = ()
    card: ModelCard = field(default_factory=ModelCard)
    description: str | None = None

    def register_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Positional and keyword arguments of ``Registry.register`` (minus ``cancel``)."""
        args = (self.name, self.model_path, self.reference_path, self.holdout_path, self.target)
        kwargs: dict[str, Any] = {"trust_pickle": self.trust_pickle,
                                  "trusted_types": self.trusted_types, "card": self.card}
        if self.description:
            kwargs["description"] = self.description
        return args, kwargs


def _set_invalid(widget: QWidget, invalid: bool) -> None:
    if widget.property("invalid") != ("true" if invalid else "false"):
        set_style_property(widget, "invalid", "true" if invalid else "false")


def _filter(title: str, suffixes: tuple[str, ...]) -> str:
    return f"{title} ({' '.join('*' + s for s in suffixes)});;All files (*)"


class _Field(QWidget):
    """An input with an inline error line (and an optional hint) below it."""

    def __init__(self, editor: QWidget, parent: QWidget, *, hint: str = "",
                 extra: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        row.addWidget(editor, 1)
        if extra is not None:
            row.addWidget(extra)
        self.hint = QLabel(hint, self)
        self.hint.setProperty("role", "hint")
        self.hint.setWordWrap(True)
        self.hint.setVisible(bool(hint))
        self.error = QLabel(self)
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        self.error.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addLayout(row)
        layout.addWidget(self.hint)
        layout.addWidget(self.error)

    def set_error(self, message: str | None) -> None:
        self.error.setText(message or "")
        self.error.setVisible(bool(message))
        self.hint.setVisible(bool(self.hint.text()) and not message)
        _set_invalid(self.editor, bool(message))

    def set_hint(self, text: str) -> None:
        self.hint.setText(text)
        self.hint.setVisible(bool(text) and not self.error.text())


class RegisterDialog(QDialog):
    """Collects a :class:`RegisterRequest` with inline validation.

    The dialog checks what it can without running the registration (names, files,
    formats, the holdout's target column); core checks the rest when it runs.

    Parameters
    ----------
    model_names
        Existing models (a new version of one of them, or a new model).
    name
        The model name preselected.
    card
        A model card to prefill (usually the latest version's).
    request
        A previous request to edit (after a failed registration).
    untrusted_types
        Types a skops file holds that nobody trusted yet; shown for review.
    """

    def __init__(self, model_names: list[str] | tuple[str, ...] = (), *, name: str = "",
                 card: ModelCard | None = None, request: RegisterRequest | None = None,
                 untrusted_types: list[str] | tuple[str, ...] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Register model version")
        self.setObjectName("registerDialog")
        self.setMinimumWidth(940)
        self.resize(1000, 720)
        self._model_names = list(model_names)
        self._shown_errors = False
        self._columns: list[str] = []
        self._columns_error: str | None = None
        self.request: RegisterRequest | None = None

        title = QLabel("Register a model version", self)
        title.setProperty("role", "pageTitle")
        intro = QLabel(
            "ModelDeck stores the fitted model, infers its input schema from the reference "
            "(training) data, scores it on the holdout data and records the environment.",
            self)
        intro.setProperty("role", "muted")
        intro.setWordWrap(True)

        # -- model ----------------------------------------------------------
        self.name_box = QComboBox(self)
        self.name_box.setObjectName("registerName")
        self.name_box.setEditable(True)
        self.name_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.name_box.addItems(self._model_names)
        self.name_box.lineEdit().setPlaceholderText("e.g. churn-classifier")
        self.name_field = _Field(self.name_box, self)
        self.description_edit = QLineEdit(self)
        self.description_edit.setObjectName("registerDescription")
        self.description_edit.setPlaceholderText("What the model predicts, in one line")
        self.description_field = _Field(self.description_edit, self)
        self.model_edit, model_browse = self._path_editor(
            "registerModelFile", "Model file (.skops, .onnx, .pkl)",
            _filter("Model files", MODEL_SUFFIXES))
        self.model_field = _Field(self.model_edit, self, extra=model_browse,
                                  hint="skops is safe to load; pickle files can run code.")
        self.trust_pickle_check = QCheckBox("Trust this pickle file", self)
        self.trust_pickle_check.setToolTip("Loading a pickle file can run any code it holds. "
                                           "Tick only for files you made yourself.")
        self.trust_pickle_check.setObjectName("registerTrustPickle")
        self.trusted_types_edit = QPlainTextEdit(self)
        self.trusted_types_edit.setObjectName("registerTrustedTypes")
        self.trusted_types_edit.setPlaceholderText("One fully qualified type per line")
        self.trusted_types_edit.setFixedHeight(64)
        self.trusted_types_field = _Field(
            self.trusted_types_edit, self,
            hint="The skops file holds these types, which are not trusted by default. "
                 "Keep only the ones you recognise.")
        model_box = QGroupBox("Model", self)
        model_form = self._form(model_box)
        model_form.addRow(self._label("Name"), self.name_field)
        model_form.addRow(self._label("Description"), self.description_field)
        model_form.addRow(self._label("Model file"), self.model_field)
        model_form.addRow("", self.trust_pickle_check)
        self._trusted_types_label = self._label("Trusted types")
        model_form.addRow(self._trusted_types_label, self.trusted_types_field)

        # -- data -----------------------------------------------------------
        self.reference_edit, reference_browse = self._path_editor(
            "registerReference", "Training data (CSV or Parquet)",
            _filter("Data files", DATA_SUFFIXES))
        self.reference_field = _Field(self.reference_edit, self, extra=reference_browse,
                                      hint="Drift is measured against this data.")
        self.holdout_edit, holdout_browse = self._path_editor(
            "registerHoldout", "Optional: data kept out of training",
            _filter("Data files", DATA_SUFFIXES))
        self.holdout_field = _Field(self.holdout_edit, self, extra=holdout_browse,
                                    hint="Optional. With it ModelDeck computes metrics.")
        self.target_box = QComboBox(self)
        self.target_box.setObjectName("registerTarget")
        self.target_field = _Field(self.target_box, self)
        data_box = QGroupBox("Data", self)
        data_form = self._form(data_box)
        data_form.addRow(self._label("Reference data"), self.reference_field)
        data_form.addRow(self._label("Holdout data"), self.holdout_field)
        data_form.addRow(self._label("Target column"), self.target_field)

        # -- model card -----------------------------------------------------
        self.intended_use_edit = QPlainTextEdit(self)
        self.intended_use_edit.setObjectName("registerIntendedUse")
        self.intended_use_edit.setPlaceholderText("Who uses the predictions, for what decision")
        self.limitations_edit = QPlainTextEdit(self)
        self.limitations_edit.setObjectName("registerLimitations")
        self.limitations_edit.setPlaceholderText("Where it must not be used; known weaknesses")
        for edit in (self.intended_use_edit, self.limitations_edit):
            edit.setTabChangesFocus(True)
            edit.setMinimumHeight(84)
        self.owner_edit = QLineEdit(self)
        self.owner_edit.setObjectName("registerOwner")
        self.owner_edit.setPlaceholderText("Team or person accountable")
        self.contact_edit = QLineEdit(self)
        self.contact_edit.setObjectName("registerContact")
        self.contact_edit.setPlaceholderText("e-mail or channel")
        self.card_hint = QLabel(self)
        self.card_hint.setObjectName("registerCardHint")
        self.card_hint.setProperty("role", "hint")
        self.card_hint.setWordWrap(True)
        card_box = QGroupBox("Model card", self)
        card_box.setMinimumWidth(330)
        card_form = self._form(card_box)
        card_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        card_form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        card_form.setVerticalSpacing(6)
        card_form.addRow("Intended use", self.intended_use_edit)
        card_form.addRow("Limitations", self.limitations_edit)
        card_form.addRow("Owner", self.owner_edit)
        card_form.addRow("Contact", self.contact_edit)
        card_form.addRow(self.card_hint)

        self.summary_label = QLabel(self)
        self.summary_label.setObjectName("registerSummary")
        self.summary_label.setProperty("role", "error")
        self.summary_label.setWordWrap(True)
        self.summary_label.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.register_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.register_button.setText("Register")
        set_style_property(self.register_button, "primary", True)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

        left = QVBoxLayout()
        left.setSpacing(12)
        left.addWidget(model_box)
        left.addWidget(data_box)
        left.addStretch(1)
        columns = QHBoxLayout()
        columns.setSpacing(14)
        columns.addLayout(left, 3)
        right = QVBoxLayout()
        right.addWidget(card_box)
        right.addStretch(1)
        columns.addLayout(right, 2)
        footer = QHBoxLayout()
        footer.addWidget(self.summary_label, 1)
        footer.addWidget(self.buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addSpacing(4)
        layout.addLayout(columns, 1)
        layout.addLayout(footer)

        self.name_box.currentTextChanged.connect(self._on_name_box_text_changed)
        self.model_edit.textChanged.connect(self._on_model_edit_text_changed)
        self.trust_pickle_check.toggled.connect(self._on_field_changed)
        self.reference_edit.textChanged.connect(self._on_field_changed)
        self.holdout_edit.textChanged.connect(self._on_holdout_edit_text_changed)
        self.target_box.currentIndexChanged.connect(self._on_field_changed)
        for edit in (self.owner_edit, self.contact_edit):
            edit.textChanged.connect(self._on_card_field_changed)
        for plain in (self.intended_use_edit, self.limitations_edit):
            plain.textChanged.connect(self._on_card_field_changed)

        self.name_box.setCurrentText(name)
        if card is not None:
            self.set_card(card)
        if request is not None:
            self.set_request(request)
        self.trusted_types_edit.setPlainText("\n".join(untrusted_types) or
                                             self.trusted_types_edit.toPlainText())
        show_types = bool(self.trusted_types_edit.toPlainText().strip())
        self.trusted_types_field.setVisible(show_types)
        self._trusted_types_label.setVisible(show_types)
        self._on_name_box_text_changed(self.name_box.currentText())
        self._on_model_edit_text_changed(self.model_edit.text())
        self._on_holdout_edit_text_changed(self.holdout_edit.text())
        self._on_card_field_changed()

    # -- building -----------------------------------------------------------

    def _form(self, box: QGroupBox) -> QFormLayout:
        form = QFormLayout(box)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(10)
        form.setContentsMargins(12, 16, 12, 10)
        return form

    def _label(self, text: str) -> QLabel:
        label = QLabel(text, self)
        label.setMinimumWidth(104)
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        label.setContentsMargins(0, 6, 0, 0)
        return label

    def _path_editor(self, name: str, placeholder: str, file_filter: str
                     ) -> tuple[QLineEdit, QPushButton]:
        edit = QLineEdit(self)
        edit.setObjectName(name)
        edit.setPlaceholderText(placeholder)
        edit.setClearButtonEnabled(True)
        browse = QPushButton("Browse…", self)
        browse.setObjectName(name + "Browse")
        browse.clicked.connect(lambda: self._on_browse_clicked(edit, file_filter))
        return edit, browse

    # -- values -------------------------------------------------------------

    def set_card(self, card: ModelCard) -> None:
        """Fill the model card fields."""
        self.intended_use_edit.setPlainText(card.intended_use)
        self.limitations_edit.setPlainText(card.limitations)
        self.owner_edit.setText(card.owner)
        self.contact_edit.setText(card.contact)

    def card(self) -> ModelCard:
        """The model card as typed."""
        return ModelCard(
            intended_use=self.intended_use_edit.toPlainText().strip(),
            limitations=self.limitations_edit.toPlainText().strip(),
            owner=self.owner_edit.text().strip(),
            contact=self.contact_edit.text().strip(),
        )

    def set_request(self, request: RegisterRequest) -> None:
        """Fill every field from ``request``."""
        self.name_box.setCurrentText(request.name)
        self.description_edit.setText(request.description or "")
        self.model_edit.setText(str(request.model_path))
        self.trust_pickle_check.setChecked(request.trust_pickle)
        self.reference_edit.setText(str(request.reference_path))
        self.holdout_edit.setText(str(request.holdout_path or ""))
        self._on_holdout_edit_text_changed(self.holdout_edit.text())
        if request.target:
            index = self.target_box.findData(request.target)
            if index >= 0:
                self.target_box.setCurrentIndex(index)
        self.trusted_types_edit.setPlainText("\n".join(request.trusted_types))
        self.set_card(request.card)

    def _path(self, edit: QLineEdit) -> Path | None:
        text = edit.text().strip().strip('"')
        return Path(text).expanduser() if text else None

    def trusted_types(self) -> tuple[str, ...]:
        """The trusted skops types as typed (one per line)."""
        if not self.trusted_types_field.isVisibleTo(self):
            return ()
        lines = (line.strip() for line in self.trusted_types_edit.toPlainText().splitlines())
        return tuple(dict.fromkeys(line for line in lines if line))

    def current_request(self) -> RegisterRequest | None:
        """The request the fields describe, or ``None`` while they are invalid."""
        if self.errors():
            return None
        model = self._path(self.model_edit)
        reference = self._path(self.reference_edit)
        assert model is not None and reference is not None
        name = self.name_box.currentText().strip()
        holdout = self._path(self.holdout_edit)
        description = self.description_edit.text().strip() or None
        return RegisterRequest(
            name=name, model_path=model, reference_path=reference, holdout_path=holdout,
            target=self.target_box.currentData() or None if holdout else None,
            trust_pickle=self.trust_pickle_check.isChecked() and self._is_pickle(model),
            trusted_types=self.trusted_types(), card=self.card(),
            description=description if name not in self._model_names else None,
        )

    # -- validation ---------------------------------------------------------

    @staticmethod
    def _is_pickle(path: Path | None) -> bool:
        return path is not None and path.suffix.lower() in PICKLE_SUFFIXES

    def _check_file(self, path: Path | None, suffixes: tuple[str, ...], what: str,
                    required: bool) -> str | None:
        if path is None:
            return f"Choose the {what}." if required else None
        if not path.exists():
            return f"No file at {path}."
        if path.is_dir():
            return f"{path} is a folder; choose a file."
        if path.suffix.lower() not in suffixes:
            return (f"'{path.suffix or path.name}' is not a supported format: use "
                    f"{', '.join(suffixes)}.")
        return None

    def errors(self) -> dict[str, str]:
        """Field name → message for every invalid field (empty when all is valid)."""
        errors: dict[str, str] = {}
        name = self.name_box.currentText().strip()
        if not name:
            errors["name"] = "Enter a model name."
        else:
            try:
                check_name(name)
            except ModelDeckError as exc:
                errors["name"] = str(exc)
        model = self._path(self.model_edit)
        problem = self._check_file(model, MODEL_SUFFIXES, "model file", True)
        if problem is None and self._is_pickle(model) and not self.trust_pickle_check.isChecked():
            problem = ("A pickle file can run code when loaded: tick 'Trust this pickle file' "
                       "if you made it yourself, or save the model with skops.io.dump.")
        if problem:
            errors["model"] = problem
        problem = self._check_file(self._path(self.reference_edit), DATA_SUFFIXES,
                                   "reference (training) data", True)
        if problem:
            errors["reference"] = problem
        holdout = self._path(self.holdout_edit)
        problem = self._check_file(holdout, DATA_SUFFIXES, "holdout data", False)
        if problem is None and holdout is not None and self._columns_error:
            problem = self._columns_error
        if problem:
            errors["holdout"] = problem
        elif holdout is not None and not self.target_box.currentData():
            errors["target"] = "Choose the column holding the true label or value."
        return errors

    def _show_errors(self) -> dict[str, str]:
        errors = self.errors()
        fields = {"name": self.name_field, "model": self.model_field,
                  "reference": self.reference_field, "holdout": self.holdout_field,
                  "target": self.target_field}
        for key, widget in fields.items():
            widget.set_error(errors.get(key) if self._shown_errors else None)
        count = len(errors)
        self.summary_label.setText(
            f"{count} field{'s need' if count != 1 else ' needs'} attention." if count else "")
        self.summary_label.setVisible(self._shown_errors and count > 0)
        return errors

    # -- handlers -----------------------------------------------------------

    def _on_name_box_text_changed(self, text: str) -> None:
        existing = text.strip() in self._model_names
        self.description_edit.setEnabled(not existing)
        self.name_field.set_hint(
            f"Adds the next version of '{text.strip()}'." if existing else
            "A new model; its first version is v1." if text.strip() else "")
        self.description_field.set_hint(
            "Kept from the existing model." if existing else "")
        self._on_field_changed()

    def _on_model_edit_text_changed(self, _text: str) -> None:
        self.trust_pickle_check.setVisible(self._is_pickle(self._path(self.model_edit)))
        self._on_field_changed()

    def _on_holdout_edit_text_changed(self, _text: str) -> None:
        path = self._path(self.holdout_edit)
        previous = self.target_box.currentData()
        self._columns, self._columns_error = [], None
        if path is not None and self._check_file(path, DATA_SUFFIXES, "", False) is None:
            try:
                self._columns = read_columns(path)
            except ModelDeckError as exc:
                self._columns_error = str(exc)
        self.target_box.blockSignals(True)
        self.target_box.clear()
        if self._columns:
            self.target_box.addItem("Choose the target column…", NO_TARGET)
            for column in self._columns:
                self.target_box.addItem(column, column)
            guess = previous if previous in self._columns else None
            if guess is None:
                guesses = [c for c in self._columns if c.lower() in ("target", "label", "y")]
                guess = guesses[0] if guesses else None
            if guess is not None:
                self.target_box.setCurrentIndex(self.target_box.findData(guess))
        else:
            self.target_box.addItem("Needs holdout data" if path is None else
                                    "No columns found", NO_TARGET)
        self.target_box.blockSignals(False)
        self.target_box.setEnabled(bool(self._columns))
        self.target_field.set_hint(
            f"{len(self._columns)} columns in {path.name}." if self._columns and path else "")
        self._on_field_changed()

    def _on_field_changed(self, *_args: object) -> None:
        self._show_errors()

    def _on_card_field_changed(self) -> None:
        missing = self.card().missing()
        if missing:
            names = ", ".join(m.replace("_", " ") for m in missing)
            self.card_hint.setText(f"Optional now, but a release needs a complete card. "
                                   f"Missing: {names}.")
        else:
            self.card_hint.setText("The card is complete.")

    def _on_browse_clicked(self, edit: QLineEdit, file_filter: str) -> None:
        start = edit.text().strip() or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Choose a file", start, file_filter)
        if path:
            edit.setText(path)

    def _on_buttons_accepted(self) -> None:
        self._shown_errors = True
        errors = self._show_errors()
        if errors:
            first = {"name": self.name_box, "model": self.model_edit,
                     "reference": self.reference_edit, "holdout": self.holdout_edit,
                     "target": self.target_box}[next(iter(errors))]
            first.setFocus()
            return
        self.request = self.current_request()
        self.accept()
