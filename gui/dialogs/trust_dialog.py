"""Host-key decisions: trust an unknown key after checking it, refuse a changed one.

Both dialogs only show what :func:`modeldeck.core.deploy.trust.scan_host` read; the key
is recorded by core's ``trust_host`` with the fingerprint the user confirmed here.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from modeldeck.gui.theme import LIGHT
from modeldeck.gui.widgets import muted_label, set_style_property

_MONO = "font-family: monospace; font-size: 10.5pt;"


def _value(text: str, parent: QWidget, name: str, mono: bool = False) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName(name)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    if mono:
        label.setStyleSheet(_MONO)
    return label


def _key_form(scanned: Any, parent: QWidget) -> QFormLayout:
    form = QFormLayout()
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
    form.setHorizontalSpacing(12)
    form.setVerticalSpacing(8)
    form.addRow("Host", _value(f"{scanned.host}  ({scanned.endpoint})", parent, "keyHost"))
    form.addRow("Key type", _value(scanned.key_type, parent, "keyType"))
    fingerprint = _value(scanned.fingerprint, parent, "keyFingerprint", True)
    fingerprint.setWordWrap(False)
    form.addRow("Fingerprint", fingerprint)
    return form


def _icon(text: str, color: str, parent: QWidget) -> QLabel:
    icon = QLabel(text, parent)
    icon.setFixedSize(34, 34)
    icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
    icon.setStyleSheet(f"background: {color}; color: white; border-radius: 17px; "
                       "font-size: 16pt; font-weight: 700;")
    return icon


class TrustHostDialog(QDialog):
    """Ask whether to trust a host's unknown SSH key, showing its SHA256 fingerprint.

    Parameters
    ----------
    scanned
        The ``ScannedKey`` (state ``"unknown"``).

    Attributes
    ----------
    fingerprint
        The fingerprint the user confirmed (pass it to ``trust_host``).
    """

    def __init__(self, scanned: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trustHostDialog")
        self.setWindowTitle(f"Trust {scanned.host}?")
        self.setMinimumWidth(620)
        self.scanned = scanned
        self.fingerprint = scanned.fingerprint

        title = QLabel(f"{scanned.host} is not known yet", self)
        title.setProperty("role", "sectionTitle")
        intro = muted_label(
            "This is the first connection to this host, so ModelDeck cannot tell it is "
            "the right machine. Compare the fingerprint below with the one its admin reads "
            "on the host, for example with:", self)
        command = _value("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub", self,
                         "keyCommand", True)
        command.setWordWrap(False)
        command.setStyleSheet(_MONO + f"background: {LIGHT['surface_alt']}; "
                              f"border: 1px solid {LIGHT['border']}; border-radius: 6px; "
                              "padding: 4px 8px;")
        card = QFrame(self)
        card.setProperty("role", "card")
        card_layout = QVBoxLayout(card)
        card_layout.setContentsMargins(14, 12, 14, 12)
        card_layout.addLayout(_key_form(scanned, card))
        outro = muted_label("Trusting records the key in the workspace's known_hosts "
                            "(audited); later connections refuse any other key.", self)

        self.buttons = QDialogButtonBox(self)
        self.trust_button = self.buttons.addButton(
            "Trust this key", QDialogButtonBox.ButtonRole.AcceptRole)
        self.trust_button.setObjectName("trustButton")
        set_style_property(self.trust_button, "primary", True)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setText("Don't trust")
        self.cancel_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        head = QHBoxLayout()
        head.setSpacing(12)
        head.addWidget(_icon("?", LIGHT["info"], self), 0, Qt.AlignmentFlag.AlignTop)
        text = QVBoxLayout()
        text.setSpacing(6)
        text.addWidget(title)
        text.addWidget(intro)
        text.addWidget(command, 0, Qt.AlignmentFlag.AlignLeft)
        head.addLayout(text, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        layout.addLayout(head)
        layout.addWidget(card)
        layout.addWidget(outro)
        layout.addStretch(1)
        layout.addWidget(self.buttons)


class ChangedKeyDialog(QDialog):
    """A loud warning that a host's key changed. There is no way to accept it here.

    Only ``modeldeck hosts untrust NAME`` removes the old key (explicit and audited),
    after the host's admin confirmed the change.
    """

    def __init__(self, scanned: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("changedKeyDialog")
        self.setWindowTitle(f"{scanned.host}: host key changed")
        self.setMinimumWidth(640)
        self.scanned = scanned

        banner = QFrame(self)
        banner.setObjectName("changedKeyBanner")
        banner.setStyleSheet(f"QFrame#changedKeyBanner {{ background: {LIGHT['danger']}; "
                             "border-radius: 8px; } QLabel { color: white; }")
        title = QLabel(f"WARNING: the key of {scanned.host} has changed", banner)
        title.setObjectName("changedKeyTitle")
        title.setStyleSheet("color: white; font-size: 13pt; font-weight: 700;")
        title.setWordWrap(True)
        subtitle = QLabel("Someone may be intercepting the connection (a man-in-the-middle "
                          "attack), or the host was reinstalled. ModelDeck will not connect "
                          "to it.", banner)
        subtitle.setWordWrap(True)
        subtitle.setStyleSheet("color: white;")
        banner_layout = QHBoxLayout(banner)
        banner_layout.setContentsMargins(14, 12, 14, 12)
        banner_layout.setSpacing(12)
        banner_layout.addWidget(_icon("!", "#8f1f17", banner), 0, Qt.AlignmentFlag.AlignTop)
        banner_text = QVBoxLayout()
        banner_text.setSpacing(4)
        banner_text.addWidget(title)
        banner_text.addWidget(subtitle)
        banner_layout.addLayout(banner_text, 1)

        card = QFrame(self)
        card.setProperty("role", "card")
        card_layout = QVBoxLayout(card)
        card_layout.setContentsMargins(14, 12, 14, 12)
        form = _key_form(scanned, card)
        recorded = _value(scanned.recorded or "another key", card, "keyRecorded", True)
        recorded.setWordWrap(False)
        form.addRow("Trusted before", recorded)
        card_layout.addLayout(form)

        steps = QLabel(
            "<b>What to do</b><ol style='margin-left: -20px'>"
            "<li>Ask the host's admin whether its SSH key really changed, and compare the "
            "new fingerprint above with the one they read on the host.</li>"
            "<li>Only if it matches, remove the old key from the workspace:"
            f"<br><code>modeldeck hosts untrust {scanned.host}</code></li>"
            "<li>Then test the connection again to trust the new key.</li></ol>", self)
        steps.setObjectName("changedKeySteps")
        steps.setWordWrap(True)
        steps.setTextFormat(Qt.TextFormat.RichText)
        steps.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        layout.addWidget(banner)
        layout.addWidget(card)
        layout.addWidget(steps)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
