"""The one notification surface of a window: a non-modal banner above the pages.

Every error from core (a :class:`~modeldeck.core.errors.ModelDeckError` names the problem
and, where there is one, the fix) and every outcome worth telling reaches the user here,
whether it came from a background task or a click. Nothing else pops up message boxes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from modeldeck.core.errors import ModelDeckError

log = logging.getLogger(__name__)

LEVELS = ("error", "warning", "success", "info")


@dataclass(frozen=True)
class Notification:
    """One message for the user.

    Attributes
    ----------
    level
        ``"error"``, ``"warning"``, ``"success"`` or ``"info"``.
    message
        What happened, in one sentence.
    fix
        What to do about it, or ``None``.
    action_text
        The label of an optional action button.
    action
        Called when the action button is clicked.
    """

    level: str
    message: str
    fix: str | None = None
    action_text: str | None = None
    action: Callable[[], object] | None = None

    def text(self) -> str:
        """The message and the fix on one line, as the CLI prints errors."""
        return f"{self.message} — {self.fix}" if self.fix else self.message


def notification_for_error(exc: BaseException) -> Notification:
    """The notification telling the user about ``exc``.

    A :class:`ModelDeckError` is something the user can act on, shown with its fix;
    anything else escaping core is a bug, shown as such and logged with its traceback.
    """
    if isinstance(exc, ModelDeckError):
        return Notification("error", exc.message, exc.fix)
    log.error("unexpected error", exc_info=(type(exc), exc, exc.__traceback__))
    return Notification(
        "error",
        f"Unexpected error: {type(exc).__name__}: {exc}",
        "This is a bug in ModelDeck; the details are in the log.",
    )


class NotificationBanner(QFrame):
    """A dismissible, non-modal banner showing the latest notification.

    Notifications queue up: dismissing one shows the one before it, and a counter says
    how many more are waiting.

    Signals
    -------
    notified(Notification)
        A notification was shown.
    dismissed()
        The user closed the banner (or all queued notifications are gone).
    """

    notified = Signal(object)
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setProperty("level", "info")
        self._queue: list[Notification] = []

        self._icon = QLabel(self)
        self._icon.setObjectName("bannerIcon")
        self._icon.setFixedSize(20, 20)
        self._icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._title = QLabel(self)
        self._title.setObjectName("bannerTitle")
        self._title.setWordWrap(True)
        self._title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._fix = QLabel(self)
        self._fix.setObjectName("bannerFix")
        self._fix.setWordWrap(True)
        self._fix.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._more = QLabel(self)
        self._more.setProperty("role", "muted")
        self._action = QPushButton(self)
        self._action.setObjectName("bannerAction")
        self._action.clicked.connect(self._on_action_clicked)
        self._close = QToolButton(self)
        self._close.setObjectName("bannerClose")
        self._close.setText("✕")
        self._close.setProperty("flat", True)
        self._close.setToolTip("Dismiss")
        self._close.clicked.connect(self._on_close_clicked)

        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self._title)
        text.addWidget(self._fix)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.setSpacing(10)
        layout.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(text, 1)
        layout.addWidget(self._more, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self._action, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self._close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    # -- public API ---------------------------------------------------------

    def notify(self, notification: Notification) -> None:
        """Show ``notification`` on top of the queue."""
        if notification.level not in LEVELS:
            raise ValueError(f"unknown notification level {notification.level!r}")
        self._queue.append(notification)
        self._show_current()
        self.notified.emit(notification)

    def show_error(self, exc: BaseException, *, action_text: str | None = None,
                   action: Callable[[], object] | None = None) -> Notification:
        """Tell the user about ``exc`` (see :func:`notification_for_error`)."""
        base = notification_for_error(exc)
        notification = Notification(base.level, base.message, base.fix, action_text, action)
        self.notify(notification)
        return notification

    def show_message(self, message: str, level: str = "info", fix: str | None = None, *,
                     action_text: str | None = None,
                     action: Callable[[], object] | None = None) -> Notification:
        """Show a message that is not an exception."""
        notification = Notification(level, message, fix, action_text, action)
        self.notify(notification)
        return notification

    def current(self) -> Notification | None:
        """The notification on display, or ``None``."""
        return self._queue[-1] if self._queue else None

    def pending(self) -> list[Notification]:
        """All queued notifications, oldest first."""
        return list(self._queue)

    def dismiss(self) -> None:
        """Drop the notification on display and show the previous one, if any."""
        if self._queue:
            self._queue.pop()
        self._show_current()
        if not self._queue:
            self.dismissed.emit()

    def clear(self) -> None:
        """Drop every notification."""
        self._queue.clear()
        self._show_current()

    # -- internals ----------------------------------------------------------

    def _show_current(self) -> None:
        notification = self.current()
        if notification is None:
            self.hide()
            return
        self.setProperty("level", notification.level)
        icons = {"error": "!", "warning": "!", "success": "✓"}
        self._icon.setText(icons.get(notification.level, "i"))
        self._title.setText(notification.message)
        self._fix.setText(notification.fix or "")
        self._fix.setVisible(bool(notification.fix))
        waiting = len(self._queue) - 1
        self._more.setText(f"{waiting} more" if waiting else "")
        self._more.setVisible(waiting > 0)
        self._action.setText(notification.action_text or "")
        self._action.setVisible(notification.action is not None and bool(notification.action_text))
        # Re-polish so the [level=...] selectors apply to the new value.
        for widget in (self, self._icon):
            widget.style().unpolish(widget)
            widget.style().polish(widget)
        self.show()

    def _on_action_clicked(self) -> None:
        notification = self.current()
        self.dismiss()
        if notification is not None and notification.action is not None:
            notification.action()

    def _on_close_clicked(self) -> None:
        self.dismiss()
