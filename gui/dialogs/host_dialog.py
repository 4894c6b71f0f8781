"""Add a deploy target: an SSH host or a folder on this machine."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from modeldeck.core.deploy.hosts import DEFAULT_ROOT, Host
from modeldeck.core.errors import ModelDeckError
from modeldeck.gui.widgets import muted_label, set_style_property

TRANSPORTS = (("ssh", "SSH host"), ("local", "Folder on this machine"))


def _set_invalid(widget: QWidget, invalid: bool) -> None:
    if widget.property("invalid") != ("true" if invalid else "false"):
        set_style_property(widget, "invalid", "true" if invalid else "false")


class AddHostDialog(QDialog):
    """The settings of a new host, checked by core's own validation as they are typed.

    Parameters
    ----------
    existing
        Names of the hosts the workspace has (a new name must differ).
    host
        A host to edit: the dialog starts from its settings and becomes "Edit host"
        (renaming is allowed; its labels and systemd mode are kept).

    Attributes
    ----------
    host
        The validated :class:`~modeldeck.core.deploy.hosts.Host` once accepted.
    """

    def __init__(self, existing: Sequence[str] = (), parent: QWidget | None = None,
                 host: Host | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("addHostDialog" if host is None else "editHostDialog")
        self.setWindowTitle("Add host" if host is None else f"Edit host {host.name}")
        self.setMinimumWidth(600)
        self.original = host
        self._existing = set(existing) - ({host.name} if host else set())
        self.host: Host | None = None

        title = QLabel("Add a host to deploy to" if host is None
                       else f"Change how ModelDeck reaches {host.name}", self)
        title.setProperty("role", "sectionTitle")
        intro = muted_label(
            "ModelDeck reaches hosts over SSH with your keys (or ssh-agent) and keeps "
            "everything under the deploy root. Test the connection afterwards to check "
            "and trust the host's key.", self)

        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("hostName")
        self.name_edit.setPlaceholderText("e.g. web1")
        self.transport_box = QComboBox(self)
        self.transport_box.setObjectName("hostTransport")
        for key, label in TRANSPORTS:
            self.transport_box.addItem(label, key)
        self.hostname_edit = QLineEdit(self)
        self.hostname_edit.setObjectName("hostAddress")
        self.hostname_edit.setPlaceholderText("10.0.0.5 or web1.example.org")
        self.port_spin = QSpinBox(self)
        self.port_spin.setObjectName("hostPort")
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(22)
        self.user_edit = QLineEdit(self)
        self.user_edit.setObjectName("hostUser")
        self.user_edit.setPlaceholderText("default: your user name")
        self.identity_edit = QLineEdit(self)
        self.identity_edit.setObjectName("hostIdentity")
        self.identity_edit.setPlaceholderText("default: ssh-agent and ~/.ssh keys")
        self.identity_edit.setMinimumWidth(280)
        identity_button = QPushButton("Browse…", self)
        identity_button.clicked.connect(self._on_identity_button_clicked)
        identity_row = QHBoxLayout()
        identity_row.setSpacing(6)
        identity_row.addWidget(self.identity_edit, 1)
        identity_row.addWidget(identity_button)
        self.jump_edit = QLineEdit(self)
        self.jump_edit.setObjectName("hostProxyJump")
        self.jump_edit.setPlaceholderText("none, [user@]bastion[:port] or another host's name")
        self.root_edit = QLineEdit(DEFAULT_ROOT, self)
        self.root_edit.setObjectName("hostRoot")
        self.python_edit = QLineEdit("python3", self)
        self.python_edit.setObjectName("hostPython")
        self.groups_edit = QLineEdit(self)
        self.groups_edit.setObjectName("hostGroups")
        self.groups_edit.setPlaceholderText("comma separated, e.g. prod, eu")
        self.bind_edit = QLineEdit("127.0.0.1", self)
        self.bind_edit.setObjectName("hostServeBind")
        self.serve_port_spin = QSpinBox(self)
        self.serve_port_spin.setObjectName("hostServePort")
        self.serve_port_spin.setRange(1, 65535)
        self.serve_port_spin.setValue(8080)
        serve_row = QHBoxLayout()
        serve_row.setSpacing(6)
        serve_row.addWidget(self.bind_edit, 1)
        serve_row.addWidget(QLabel("port", self))
        serve_row.addWidget(self.serve_port_spin)

        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.form.setHorizontalSpacing(12)
        self.form.setVerticalSpacing(8)
        self.form.addRow("Name", self.name_edit)
        self.form.addRow("Kind", self.transport_box)
        self.form.addRow("Address", self.hostname_edit)
        self.form.addRow("SSH port", self.port_spin)
        self.form.addRow("User", self.user_edit)
        self.form.addRow("Key file", identity_row)
        self.form.addRow("Proxy jump", self.jump_edit)
        self.form.addRow("Deploy root", self.root_edit)
        self.form.addRow("Python", self.python_edit)
        self.form.addRow("Groups", self.groups_edit)
        self.form.addRow("Serve on", serve_row)
        self._ssh_rows = (self.hostname_edit, self.port_spin, self.user_edit,
                          identity_row, self.jump_edit)

        self.error_label = QLabel(self)
        self.error_label.setObjectName("hostError")
        self.error_label.setProperty("role", "error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Add host")
        set_style_property(self.ok_button, "primary", True)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addLayout(self.form)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

        for edit in (self.name_edit, self.hostname_edit, self.user_edit, self.identity_edit,
                     self.jump_edit, self.root_edit, self.python_edit, self.groups_edit,
                     self.bind_edit):
            edit.textChanged.connect(self._on_field_changed)
        for spin in (self.port_spin, self.serve_port_spin):
            spin.valueChanged.connect(self._on_field_changed)
        self.transport_box.currentIndexChanged.connect(self._on_transport_changed)
        self._touched = False
        if host is not None:
            self._fill(host)
            self.ok_button.setText("Save")
        self._on_transport_changed()

    def _fill(self, host: Host) -> None:
        self.name_edit.setText(host.name)
        self.set_transport(host.transport)
        self.hostname_edit.setText(host.hostname)
        self.port_spin.setValue(host.port)
        self.user_edit.setText(host.user)
        self.identity_edit.setText(host.identity_file)
        self.jump_edit.setText(host.proxy_jump)
        self.root_edit.setText(host.root)
        self.python_edit.setText(host.python)
        self.groups_edit.setText(", ".join(host.groups))
        self.bind_edit.setText(host.serve_bind)
        self.serve_port_spin.setValue(host.serve_port)

    def changes(self) -> dict[str, Any]:
        """The settings that differ from the edited host's (after acceptance)."""
        if self.original is None or self.host is None:
            return {}
        before, after = self.original.settings(), self.host.settings()
        return {k: getattr(self.host, k) for k in after if after[k] != before[k]}

    # -- values -------------------------------------------------------------

    @property
    def transport(self) -> str:
        return str(self.transport_box.currentData())

    def set_transport(self, transport: str) -> None:
        self.transport_box.setCurrentIndex(max(0, self.transport_box.findData(transport)))

    def candidate(self) -> Host:
        """The host as typed (not validated)."""
        groups = tuple(g.strip() for g in self.groups_edit.text().split(",") if g.strip())
        kept = ({"labels": dict(self.original.labels), "systemd": self.original.systemd}
                if self.original is not None else {})
        return Host(
            **kept, name=self.name_edit.text().strip(), transport=self.transport,
            hostname=self.hostname_edit.text().strip(), port=self.port_spin.value(),
            user=self.user_edit.text().strip(), identity_file=self.identity_edit.text().strip(),
            proxy_jump=self.jump_edit.text().strip(), root=self.root_edit.text().strip(),
            python=self.python_edit.text().strip(), groups=groups,
            serve_bind=self.bind_edit.text().strip(), serve_port=self.serve_port_spin.value())

    def validation_error(self) -> tuple[str, QWidget | None] | None:
        """Why the input is not a valid new host (and the field to blame), or ``None``."""
        host = self.candidate()
        if not host.name:
            return "Give the host a name.", self.name_edit
        if host.name in self._existing:
            return f"A host named '{host.name}' exists already.", self.name_edit
        try:
            host.checked()
        except ModelDeckError as exc:
            return str(exc), self._field_for(exc.message)
        return None

    def _field_for(self, message: str) -> QWidget | None:
        # Core names the setting in its message ("host 'x': hostname '...' is ..."):
        # find the field to mark, most specific setting names first.
        text = re.sub(r"^host '[^']*': ", "", message).lower()
        for words, widget in ((("serve bind",), self.bind_edit),
                              (("serve port",), self.serve_port_spin),
                              (("proxy jump", "jump through"), self.jump_edit),
                              (("identity file",), self.identity_edit),
                              (("hostname", "an ssh host needs"), self.hostname_edit),
                              (("root",), self.root_edit),
                              (("python",), self.python_edit),
                              (("group",), self.groups_edit),
                              (("user",), self.user_edit),
                              (("port",), self.port_spin),
                              (("host name",), self.name_edit)):
            if any(w in text for w in words):
                return widget
        return None

    # -- handlers -------------------------------------------------------------

    def _on_transport_changed(self, *_args: object) -> None:
        local = self.transport == "local"
        for field in self._ssh_rows:
            self.form.setRowVisible(field, not local)
        self.root_edit.setPlaceholderText("an absolute folder, e.g. /srv/modeldeck-local"
                                          if local else "e.g. ~/modeldeck or /srv/modeldeck")
        if local and self.root_edit.text() == DEFAULT_ROOT:
            self.root_edit.clear()
        elif not local and not self.root_edit.text():
            self.root_edit.setText(DEFAULT_ROOT)
        self.adjustSize()
        self._on_field_changed()

    def _on_field_changed(self, *_args: object) -> None:
        problem = self.validation_error()
        touched = bool(self.name_edit.text().strip())
        for widget in (self.name_edit, self.hostname_edit, self.root_edit, self.python_edit,
                       self.groups_edit, self.bind_edit, self.jump_edit, self.user_edit,
                       self.identity_edit):
            _set_invalid(widget, touched and problem is not None and problem[1] is widget)
        self.error_label.setText(problem[0] if problem and touched else "")
        self.error_label.setVisible(bool(problem) and touched)
        self.ok_button.setEnabled(problem is None)

    def _on_identity_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Private key file", "",
                                              "All files (*)")
        if path:
            self.identity_edit.setText(path)

    def _on_buttons_accepted(self) -> None:
        if self.validation_error() is None:
            self.host = self.candidate().checked()
            self.accept()
