"""Qt item models of the Fleet page: hosts, deployment history, plans and live deploys.

Each model adapts what core returned (``Host``, ``HostStatus``/``HostState``,
``Deployment``, ``HostPlan``, ``DeployEvent``/``HostResult``) and formats it; none of
them opens a connection or queries the workspace. Custom roles are
:class:`~modeldeck.gui.item_models.ModelRole`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QObject, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from modeldeck.core.deploy.rollout import parse_release_id
from modeldeck.gui.item_models import (
    AnyIndex,
    ModelRole,
    SortProxyModel,
    _TableModel,
    format_size,
    format_timestamp,
)
from modeldeck.gui.theme import LIGHT

_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

#: Health level → colour of its dot and text.
LEVEL_COLORS: dict[str, str] = {
    "healthy": LIGHT["success"],
    "unhealthy": LIGHT["warning"],
    "unreachable": LIGHT["danger"],
    "unknown": LIGHT["text_faint"],
    "busy": LIGHT["info"],
}

#: Outcome of a deploy or rollback → colour.
OUTCOME_COLORS: dict[str, str] = {
    "ok": LIGHT["success"],
    "rolled-back": LIGHT["warning"],
    "failed": LIGHT["danger"],
    "unknown": LIGHT["danger"],
    "cancelled": LIGHT["text_muted"],
    "skipped": LIGHT["text_muted"],
}


@lru_cache(maxsize=16)
def status_dot(color: str, size: int = 12) -> QIcon:
    """A round dot of ``color`` (the status column's decoration)."""
    pixmap = QPixmap(size * 2, size * 2)
    pixmap.setDevicePixelRatio(2.0)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(color))
    painter.drawEllipse(QRectF(2, 2, size - 4, size - 4))
    painter.end()
    return QIcon(pixmap)


def release_text(model: str | None, version: int | None, release_id: str | None) -> str:
    """``breast-cancer v1`` for a known release, the raw id otherwise, ``""`` for none."""
    if model and version is not None:
        return f"{model} v{version}"
    return release_id or ""


def health_of(status: Any) -> tuple[str, str]:
    """The (level, text) of a cached ``HostStatus`` or a live ``HostState``.

    Levels: ``healthy``, ``unhealthy`` (answers, but its server is not ready),
    ``unreachable`` and ``unknown`` (never checked).
    """
    if status is None:
        return "unknown", "not checked"
    if not status.reachable:
        return "unreachable", "unreachable"
    if status.healthy:
        return "healthy", "healthy"
    if not status.release_id:
        return "unhealthy", "reachable · nothing deployed"
    return "unhealthy", "reachable · not ready"


def deployment_detail(detail: Any) -> str:
    """A one-line note from a deployment's ``detail`` (text, or JSON with an error)."""
    if isinstance(detail, dict):
        data: Any = detail
    else:
        text = str(detail or "")
        try:
            data = json.loads(text) if text.startswith("{") else text
        except ValueError:
            data = text
    if not isinstance(data, dict):
        return str(data)
    if data.get("error"):
        return str(data["error"])
    parts = []
    files = data.get("files_sent")
    if isinstance(files, int):
        parts.append(f"{files} file{'s' if files != 1 else ''} sent" if files else
                     "nothing to send")
    linked = data.get("bytes_linked")
    if isinstance(linked, int) and linked:
        parts.append(f"{format_size(linked)} reused from earlier releases")
    return ", ".join(parts)


@dataclass(frozen=True)
class HostRow:
    """One row of the hosts table: the host, what was last seen there, and whether an
    operation is running on it now (``busy``, e.g. ``"checking…"``)."""

    host: Any
    status: Any = None
    busy: str = ""


class HostsTableModel(_TableModel):
    """The workspace's hosts with their last known status.

    Filled at once from the workspace's status cache (``statuses()``), then updated
    host by host as live answers arrive (:meth:`update_status`).
    """

    NAME, ADDRESS, GROUPS, STATUS, RELEASE, SEEN, DISK = range(7)
    headers = ("Host", "Address", "Groups", "Status", "Release", "Last seen", "Free disk")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._data: list[HostRow] = []

    # -- updates ------------------------------------------------------------

    def set_hosts(self, hosts: Sequence[Any], statuses: dict[str, Any]) -> None:
        """Show ``hosts`` with their cached ``statuses`` (by host name)."""
        busy = {row.host.name: row.busy for row in self._data}
        self.beginResetModel()
        self._data = [HostRow(h, statuses.get(h.name), busy.get(h.name, "")) for h in hosts]
        self.endResetModel()

    def update_status(self, status: Any) -> None:
        """Show a fresh status (``HostState`` or ``HostStatus``) of its host."""
        row = self.row_of(status.host)
        if row >= 0:
            self._data[row] = replace(self._data[row], status=status, busy="")
            self._row_changed(row)

    def set_busy(self, names: Sequence[str], text: str) -> None:
        """Mark hosts as busy (``text``, e.g. ``"deploying…"``) or idle (``""``)."""
        for name in names:
            row = self.row_of(name)
            if row >= 0 and self._data[row].busy != text:
                self._data[row] = replace(self._data[row], busy=text)
                self._row_changed(row)

    def _row_changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.headers) - 1))

    # -- queries ------------------------------------------------------------

    def host_at(self, row: int) -> Any:
        return self._data[row].host

    def row_at(self, row: int) -> HostRow:
        return self._data[row]

    def row_of(self, name: str) -> int:
        for row, item in enumerate(self._data):
            if item.host.name == name:
                return row
        return -1

    def hosts(self) -> list[Any]:
        return [row.host for row in self._data]

    def status_of(self, name: str) -> Any:
        row = self.row_of(name)
        return self._data[row].status if row >= 0 else None

    def groups(self) -> list[str]:
        """Every group any host is in, sorted."""
        return sorted({g for row in self._data for g in row.host.groups})

    # -- model hooks --------------------------------------------------------

    def _rows(self) -> Sequence[Any]:
        return self._data

    def _alignment(self, column: int) -> Any:
        return _RIGHT if column == self.DISK else _LEFT

    def _cell(self, row: HostRow, column: int, role: int) -> Any:
        host, status = row.host, row.status
        level, health = health_of(status)
        if row.busy:
            level = "busy"
        if role == ModelRole.key:
            return host.name
        if role == ModelRole.detail:
            return level
        if column == self.NAME:
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
                return host.name
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{host.name} ({host.transport}) — deploy root {host.root}"
        elif column == self.ADDRESS:
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
                if host.transport == "local":
                    return f"local · {host.root}"
                jump = f" via {host.proxy_jump}" if host.proxy_jump else ""
                return host.address + jump
        elif column == self.GROUPS:
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
                return ", ".join(host.groups)
        elif column == self.STATUS:
            text = row.busy or health
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
                return text
            if role == Qt.ItemDataRole.DecorationRole:
                return status_dot(LEVEL_COLORS[level])
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor(LEVEL_COLORS[level]) if level != "unknown" else None
            if role == Qt.ItemDataRole.ToolTipRole:
                return (status.detail or health) if status is not None else \
                    "Not checked yet: use Refresh status"
        elif column == self.RELEASE:
            if status is None:
                return "" if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort) else None
            text = release_text(status.model, status.version, status.release_id)
            if role == ModelRole.sort:
                return text
            if role == Qt.ItemDataRole.DisplayRole:
                return text or ("—" if status.reachable else "")
            if role == Qt.ItemDataRole.ToolTipRole:
                return status.release_id or "Nothing deployed"
        elif column == self.SEEN:
            seen = status.checked_at if status is not None else ""
            if role == ModelRole.sort:
                return seen or ""
            if role == Qt.ItemDataRole.DisplayRole:
                return format_timestamp(seen) if seen else "never"
        elif column == self.DISK:
            free = status.free_bytes if status is not None else None
            if role == ModelRole.sort:
                return -1 if free is None else free
            if role == Qt.ItemDataRole.DisplayRole:
                return format_size(free) if free is not None else "—"
        return None


class HostsProxyModel(SortProxyModel):
    """Sorts the hosts table and filters it by text and by group."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._group = ""

    @property
    def group(self) -> str:
        return self._group

    def set_group(self, group: str) -> None:
        """Show only the hosts of ``group`` (``""``: every host)."""
        if group != self._group:
            self.beginFilterChange()
            self._group = group
            self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:  # noqa: N802
        model = self.sourceModel()
        if self._group and isinstance(model, HostsTableModel):
            if self._group not in model.host_at(source_row).groups:
                return False
        return super().filterAcceptsRow(source_row, source_parent)


class DeploymentsTableModel(_TableModel):
    """A host's recorded deploys and rollbacks, newest first."""

    WHEN, ACTION, RELEASE, OUTCOME, SENT, SECONDS, ACTOR, DETAIL = range(8)
    headers = ("When", "Action", "Release", "Outcome", "Sent", "Took", "By", "Detail")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._data: list[Any] = []

    def set_deployments(self, deployments: Sequence[Any]) -> None:
        self.beginResetModel()
        self._data = list(deployments)
        self.endResetModel()

    def deployment_at(self, row: int) -> Any:
        return self._data[row]

    def _rows(self) -> Sequence[Any]:
        return self._data

    def _alignment(self, column: int) -> Any:
        return _RIGHT if column in (self.SENT, self.SECONDS) else _LEFT

    def _cell(self, d: Any, column: int, role: int) -> Any:
        if role not in (Qt.ItemDataRole.DisplayRole, ModelRole.sort,
                        Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.ToolTipRole):
            return None
        if column == self.OUTCOME and role == Qt.ItemDataRole.ForegroundRole:
            color = OUTCOME_COLORS.get(d.outcome)
            return QColor(color) if color else None
        if role == Qt.ItemDataRole.ForegroundRole:
            return None
        if column == self.WHEN:
            return d.started_at if role == ModelRole.sort else format_timestamp(d.started_at)
        if column == self.ACTION:
            return d.action
        if column == self.RELEASE:
            text = release_text(d.model, d.version, d.release_id)
            if role == Qt.ItemDataRole.ToolTipRole:
                previous = f" (before: {d.previous_release})" if d.previous_release else ""
                return f"{d.release_id or '—'}{previous}"
            return text or "—"
        if column == self.OUTCOME:
            return d.outcome
        if column == self.SENT:
            return d.bytes_sent if role == ModelRole.sort else format_size(d.bytes_sent)
        if column == self.SECONDS:
            seconds = d.seconds
            if role == ModelRole.sort:
                return -1.0 if seconds is None else seconds
            return "—" if seconds is None else f"{seconds:.1f} s"
        if column == self.ACTOR:
            return d.actor
        if column == self.DETAIL:
            return deployment_detail(d.detail)
        return None


class PlanTableModel(_TableModel):
    """What a deploy would do on each host (``HostPlan`` objects)."""

    HOST, CURRENT, ACTION, SEND, LINKED, ENV, PROBLEMS = range(7)
    headers = ("Host", "Now running", "Action", "To send", "Reused", "Environment",
               "Problems")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._data: list[Any] = []

    def set_plans(self, plans: Sequence[Any]) -> None:
        self.beginResetModel()
        self._data = list(plans)
        self.endResetModel()

    def plans(self) -> list[Any]:
        return list(self._data)

    def _rows(self) -> Sequence[Any]:
        return self._data

    def _alignment(self, column: int) -> Any:
        return _RIGHT if column in (self.SEND, self.LINKED) else _LEFT

    def _cell(self, p: Any, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole:
            if column in (self.ACTION, self.PROBLEMS) and p.problems:
                return QColor(LIGHT["danger"])
            return None
        if role == Qt.ItemDataRole.ToolTipRole and column == self.PROBLEMS:
            return "\n".join(p.problems) or None
        if role == Qt.ItemDataRole.ToolTipRole and column == self.CURRENT:
            return p.current or None
        if role == Qt.ItemDataRole.ToolTipRole and column == self.ACTION:
            return p.action or None
        if role == Qt.ItemDataRole.ToolTipRole and column == self.SEND:
            return f"{p.files_to_send} files to send"
        if role not in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
            return None
        if column == self.HOST:
            return p.host
        if column == self.CURRENT:
            if not p.current:
                return "—" if p.reachable else "unreachable"
            model, version = parse_release_id(p.current)
            return release_text(model, version, p.current)
        if column == self.ACTION:
            return p.action
        if column == self.SEND:
            if role == ModelRole.sort:
                return p.bytes_to_send
            return format_size(p.bytes_to_send)
        if column == self.LINKED:
            return p.bytes_linked if role == ModelRole.sort else format_size(p.bytes_linked)
        if column == self.ENV:
            return p.env or "—"
        if column == self.PROBLEMS:
            return "; ".join(p.problems) or "none"
        return None


@dataclass(frozen=True)
class HostProgress:
    """The live state of one host in a running deploy or rollback."""

    host: str
    step: str = "waiting"
    fraction: float = 0.0
    bytes_done: int = 0
    bytes_total: int = 0
    outcome: str = ""
    error: str = ""


#: The role the progress delegate reads: a float in [0, 1].
PROGRESS_ROLE = ModelRole.detail + 1


class DeployProgressModel(_TableModel):
    """One row per host of a running deploy or rollback, fed with its events.

    :meth:`on_event` takes the operation's ``DeployEvent`` objects (per-host step,
    ``host_fraction`` and bytes); :meth:`set_results` the final ``HostResult`` objects.
    """

    HOST, STEP, PROGRESS, BYTES, OUTCOME = range(5)
    headers = ("Host", "Step", "Progress", "Sent", "Outcome")

    def __init__(self, hosts: Sequence[str] = (), parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._data: list[HostProgress] = [HostProgress(h) for h in hosts]

    def set_hosts(self, hosts: Sequence[str]) -> None:
        self.beginResetModel()
        self._data = [HostProgress(h) for h in hosts]
        self.endResetModel()

    def progress_of(self, host: str) -> HostProgress | None:
        row = self._row_of(host)
        return self._data[row] if row >= 0 else None

    def _row_of(self, host: str) -> int:
        for row, item in enumerate(self._data):
            if item.host == host:
                return row
        return -1

    def _set(self, row: int, item: HostProgress) -> None:
        if self._data[row] != item:
            self._data[row] = item
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.headers) - 1))

    def on_event(self, event: Any) -> None:
        """Apply one ``DeployEvent`` (events without a known host are ignored)."""
        host = getattr(event, "host", "")
        row = self._row_of(host) if host else -1
        if row < 0:
            return
        item = self._data[row]
        if item.outcome:
            return
        if event.step == "host done":
            return  # the result (set_results) says more
        changes: dict[str, Any] = {}
        if event.step:
            changes["step"] = event.step
        host_fraction = getattr(event, "host_fraction", None)
        if host_fraction is not None:
            changes["fraction"] = max(item.fraction, float(host_fraction))
        if getattr(event, "bytes_total", 0):
            changes["bytes_done"] = event.bytes_done
            changes["bytes_total"] = event.bytes_total
        if changes:
            self._set(row, replace(item, **changes))

    def set_result(self, result: Any) -> None:
        """Apply a ``HostResult``: the host's outcome, error and bytes sent."""
        row = self._row_of(result.host)
        if row < 0:
            return
        item = self._data[row]
        done = result.outcome in ("ok", "rolled-back", "failed", "unknown")
        self._set(row, replace(
            item, outcome=result.outcome, error=result.error,
            step="done" if result.outcome == "ok" else result.outcome,
            fraction=1.0 if done else item.fraction,
            bytes_done=result.bytes_sent or item.bytes_done,
            bytes_total=max(item.bytes_total, result.bytes_sent)))

    def set_results(self, results: Sequence[Any]) -> None:
        for result in results:
            self.set_result(result)

    def _rows(self) -> Sequence[Any]:
        return self._data

    def _alignment(self, column: int) -> Any:
        return _RIGHT if column == self.BYTES else _LEFT

    def _cell(self, p: HostProgress, column: int, role: int) -> Any:
        if role == PROGRESS_ROLE:
            return p.fraction
        if role == ModelRole.detail:
            return p.outcome
        if column == self.OUTCOME and role == Qt.ItemDataRole.ForegroundRole:
            color = OUTCOME_COLORS.get(p.outcome)
            return QColor(color) if color else None
        if role == Qt.ItemDataRole.ToolTipRole and column == self.OUTCOME:
            return p.error or None
        if role not in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
            return None
        if column == self.HOST:
            return p.host
        if column == self.STEP:
            return p.step
        if column == self.PROGRESS:
            return p.fraction if role == ModelRole.sort else f"{p.fraction:.0%}"
        if column == self.BYTES:
            if role == ModelRole.sort:
                return p.bytes_done
            if p.bytes_total:
                return f"{format_size(p.bytes_done)} / {format_size(p.bytes_total)}"
            return format_size(p.bytes_done) if p.bytes_done else "—"
        if column == self.OUTCOME:
            if not p.outcome:
                return "running" if p.step != "waiting" else ""
            return p.outcome + (f" — {p.error}" if p.error else "")
        return None


class ProgressBarDelegate(QStyledItemDelegate):
    """Paints :data:`PROGRESS_ROLE` as a thin rounded bar with its percentage."""

    BAR_HEIGHT = 8

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        fraction = index.data(PROGRESS_ROLE)
        if fraction is None:
            super().paint(painter, option, index)
            return
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget is not None else None
        if style is not None:
            text = option.text
            option.text = ""
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter,
                              option.widget)
            option.text = text
        outcome = index.data(ModelRole.detail) or ""
        color = QColor(OUTCOME_COLORS.get(outcome, LIGHT["accent"]) if outcome != "ok"
                       else LIGHT["success"])
        rect = option.rect.adjusted(8, 0, -48, 0)
        top = rect.center().y() - self.BAR_HEIGHT / 2
        track = QRectF(rect.left(), top, max(rect.width(), 10), self.BAR_HEIGHT)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        path = QPainterPath()
        path.addRoundedRect(track, 4, 4)
        painter.fillPath(path, QColor(LIGHT["border"]))
        fill = QRectF(track)
        fill.setWidth(track.width() * max(0.0, min(1.0, float(fraction))))
        if fill.width() > 0:
            chunk = QPainterPath()
            chunk.addRoundedRect(fill, 4, 4)
            painter.fillPath(chunk, color)
        painter.setPen(QColor(LIGHT["text_muted"]))
        label = option.rect.adjusted(0, 0, -6, 0)
        painter.drawText(label, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                         f"{float(fraction):.0%}")
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> Any:  # noqa: N802
        size = super().sizeHint(option, index)
        size.setWidth(max(size.width(), 180))
        return size


__all__ = [
    "DeployProgressModel",
    "DeploymentsTableModel",
    "HostProgress",
    "HostRow",
    "HostsProxyModel",
    "HostsTableModel",
    "PlanTableModel",
    "ProgressBarDelegate",
    "deployment_detail",
    "health_of",
    "release_text",
    "status_dot",
]
