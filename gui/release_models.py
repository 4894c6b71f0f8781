"""Qt item models of the Releases and Audit pages.

Each model adapts what core returned (``AuditEntry``/``AuditVerification`` from the
workspace, ``Candidate``, ``GateResult``, ``TimelineEvent`` and ``CandidateComparison``
from :mod:`modeldeck.core.release`) and formats it; none of them queries the workspace or
computes anything core did not. Custom roles are
:class:`~modeldeck.gui.item_models.ModelRole`.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtGui import QColor, QFont

from modeldeck.gui.fleet_models import status_dot
from modeldeck.core.registry import HIGHER_IS_BETTER
from modeldeck.gui.item_models import (
    ModelRole,
    _TableModel,
    format_number,
    format_timestamp,
    metric_label,
)
from modeldeck.gui.theme import LIGHT

_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
_CENTER = int(Qt.AlignmentFlag.AlignCenter)

_HEX = frozenset("0123456789abcdef")


def _is_digest(text: str) -> bool:
    return len(text) == 64 and set(text) <= _HEX


def payload_summary(payload: dict[str, Any], width: int = 160) -> str:
    """One line naming an audit row's payload: ``key=value`` pairs, hashes last.

    Nested values show as their size (``files=[3 items]``) and sha256 digests are
    shortened and put last, so they do not crowd out the rest; the full payload is in
    the row's tooltip and the detail pane.
    """
    parts: list[str] = []
    digests: list[str] = []
    for key, value in payload.items():
        if value is None or value == "" or value == [] or value == {}:
            continue
        if isinstance(value, dict):
            text = "{" + ", ".join(str(k) for k in list(value)[:4]) + \
                   (", …" if len(value) > 4 else "") + "}"
        elif isinstance(value, (list, tuple)):
            if all(isinstance(v, (str, int, float)) for v in value) and len(value) <= 4:
                text = ", ".join(str(v) for v in value)
            else:
                text = f"[{len(value)} items]"
        else:
            text = str(value)
            if _is_digest(text):
                digests.append(f"{key}={text[:12]}…")
                continue
            if text.startswith(("ssh-", "-----BEGIN")):
                text = text.split()[0] + " …"
        parts.append(f"{key}={text}")
    line = "  ".join(parts + digests)
    return line if len(line) <= width else line[: width - 1] + "…"


def payload_text(payload: dict[str, Any]) -> str:
    """An audit row's payload as indented JSON (the detail pane and tooltips)."""
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False, default=str)


# -- audit ---------------------------------------------------------------------------------


#: Chain state of one row → (dot colour, sentence).
CHAIN_STATES: dict[str, tuple[str, str]] = {
    "verified": (LIGHT["success"], "Checks out: its hash and its link to the row before it "
                                   "are intact."),
    "broken": (LIGHT["danger"], "The hash chain breaks here"),
    "unchecked": (LIGHT["text_faint"], "Not verifiable: the chain is broken before this row."),
    "unknown": (LIGHT["text_faint"], "Not verified yet."),
}


class AuditTableModel(_TableModel):
    """Rows of the audit log with their hash-chain state.

    The state of each row comes from the workspace's ``AuditVerification``: rows before
    the first bad one are verified, that one is broken, the rest cannot be checked.
    """

    SEQ, TIME, ACTOR, ROLE, ACTION, SUBJECT, DETAILS = range(7)
    headers = ("#", "Time (UTC)", "Actor", "Role", "Action", "Subject", "Details")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._data: list[Any] = []
        self._verification: Any = None

    def set_entries(self, entries: Sequence[Any], verification: Any = None) -> None:
        """Show ``entries`` (``AuditEntry``) checked by ``verification``."""
        self.beginResetModel()
        self._data = list(entries)
        self._verification = verification
        self.endResetModel()

    def entries(self) -> list[Any]:
        return list(self._data)

    def entry_at(self, row: int) -> Any:
        return self._data[row]

    def row_of(self, seq: int) -> int:
        for row, entry in enumerate(self._data):
            if entry.seq == seq:
                return row
        return -1

    def chain_state(self, entry: Any) -> str:
        """``verified``, ``broken``, ``unchecked`` or ``unknown`` for ``entry``."""
        check = self._verification
        if check is None:
            return "unknown"
        if check.ok or check.first_bad_seq is None:
            return "verified" if entry.seq <= check.head_seq else "unknown"
        if entry.seq < check.first_bad_seq:
            return "verified"
        if entry.seq == check.first_bad_seq:
            return "broken"
        return "unchecked"

    def _rows(self) -> Sequence[Any]:
        return self._data

    def _alignment(self, column: int) -> Any:
        return _RIGHT if column == self.SEQ else _LEFT

    def _cell(self, entry: Any, column: int, role: int) -> Any:
        if role == ModelRole.key:
            return entry.seq
        state = self.chain_state(entry)
        if role == Qt.ItemDataRole.BackgroundRole and state == "broken":
            return QColor(LIGHT["danger_soft"])
        if column == self.SEQ:
            if role == Qt.ItemDataRole.DisplayRole:
                return str(entry.seq)
            if role == ModelRole.sort:
                return entry.seq
            if role == Qt.ItemDataRole.DecorationRole:
                return status_dot(CHAIN_STATES[state][0], 10)
            if role == Qt.ItemDataRole.ToolTipRole:
                text = CHAIN_STATES[state][1]
                if state == "broken":
                    text += f": {self._verification.problem}."
                return f"Entry {entry.seq}. {text}"
            return None
        if column == self.TIME:
            if role == Qt.ItemDataRole.DisplayRole:
                return format_timestamp(entry.at)
            if role in (ModelRole.sort, Qt.ItemDataRole.ToolTipRole):
                return entry.at
        elif column == self.ACTOR:
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
                return entry.actor
        elif column == self.ROLE:
            if role == Qt.ItemDataRole.DisplayRole:
                return entry.role or "—"
            if role == ModelRole.sort:
                return entry.role or ""
            if role == Qt.ItemDataRole.ToolTipRole and not entry.role:
                return "Not registered when acting"
        elif column == self.ACTION:
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
                return entry.action
            if role == Qt.ItemDataRole.FontRole:
                font = QFont()
                font.setWeight(QFont.Weight.DemiBold)
                return font
        elif column == self.SUBJECT:
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort,
                        Qt.ItemDataRole.ToolTipRole):
                return entry.subject
        elif column == self.DETAILS:
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
                return payload_summary(entry.payload)
            if role == Qt.ItemDataRole.ToolTipRole and entry.payload:
                return payload_text(entry.payload)
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor(LIGHT["text_muted"])
        return None


# -- releases --------------------------------------------------------------------------------


#: Candidate status → (label, colour).
STATUS_STYLES: dict[str, tuple[str, str]] = {
    "gating": ("running gates…", LIGHT["info"]),
    "gates-failed": ("gates failed", LIGHT["danger"]),
    "awaiting-approval": ("awaiting approval", LIGHT["warning"]),
    "approved": ("approved", LIGHT["success"]),
    "rejected": ("rejected", LIGHT["danger"]),
    "deployed": ("deployed", LIGHT["accent"]),
    "rolled-back": ("rolled back", LIGHT["text_muted"]),
}

#: Gate name → (label, what it checks).
GATE_LABELS: dict[str, tuple[str, str]] = {
    "artifact": ("Artifact", "The release files match the manifest and the model loads with "
                             "trusted types only"),
    "card": ("Model card", "The model card fields the policy requires are filled"),
    "metrics": ("Holdout metrics", "Holdout metrics, scored now, reach the policy's "
                                   "thresholds"),
    "regression": ("No regression", "Production, scored on the same holdout set, is not "
                                    "better beyond the tolerance"),
    "schema": ("Schema", "No input column of production is dropped or retyped unless "
                         "acknowledged"),
    "latency": ("Latency", "A batch of rows is predicted within the budget"),
    "drift": ("Drift on holdout", "The holdout set does not drift against production's "
                                  "reference data"),
}


def status_label(status: str) -> str:
    """A candidate status in words."""
    return STATUS_STYLES.get(status, (status, ""))[0]


def status_color(status: str) -> str:
    return STATUS_STYLES.get(status, ("", LIGHT["text_muted"]))[1]


def gate_label(name: str) -> str:
    return GATE_LABELS.get(name, (name.replace("_", " ").capitalize(), ""))[0]


def _plain(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return format_number(value)
    if isinstance(value, dict):
        return ", ".join(f"{metric_label(str(k))} {_plain(v)}" for k, v in value.items()) or "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value) or "none"
    return str(value)


def _metric_threshold(name: str, limit: Any) -> str:
    if not isinstance(limit, (int, float)) or isinstance(limit, bool):
        return f"{metric_label(name)} {_plain(limit)}"
    sign = "≥" if HIGHER_IS_BETTER.get(name, True) else "≤"
    return f"{metric_label(name)} {sign} {limit:.4g}"


def format_gate_value(name: str, value: Any, *, threshold: bool = False) -> str:
    """A gate's value or threshold in words and units (``-0.4 %``, ``12.3 ms``)."""
    if value is None:
        return "—"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "regression" and number:
        text = f"{value * 100:+.2f} %"
        return f"≥ {text}" if threshold else text
    if name == "latency" and number:
        text = f"{value:,.1f} ms"
        return f"≤ {text}" if threshold else text
    if name == "drift" and number and isinstance(value, int):
        text = f"{value} feature{'s' if value != 1 else ''}"
        return f"≤ {text}" if threshold else f"{text} flagged"
    if name == "card" and number and isinstance(value, int):
        return "none missing" if threshold and value == 0 else \
            ("all filled" if value == 0 else f"{value} missing")
    if name == "metrics" and threshold and isinstance(value, dict):
        return ", ".join(_metric_threshold(str(k), v) for k, v in value.items()) or "—"
    if name in ("artifact", "schema") and number and isinstance(value, int):
        if threshold:
            return "no problem" if value == 0 else _plain(value)
        return "no problem" if value == 0 else f"{value} problem{'s' if value != 1 else ''}"
    return _plain(value)


def gate_state(gate: Any) -> str:
    """``passed``, ``failed`` or ``skipped``."""
    if getattr(gate, "skipped", False):
        return "skipped"
    return "passed" if gate.passed else "failed"


GATE_STATE_COLORS: dict[str, str] = {
    "passed": LIGHT["success"],
    "failed": LIGHT["danger"],
    "skipped": LIGHT["text_faint"],
}


def gates_summary(candidate: Any) -> str:
    """``7/7 passed``, ``2 failed``, ``—`` before any gate ran."""
    gates = tuple(candidate.gates)
    if not gates:
        return "—"
    failed = sum(1 for g in gates if not g.passed)
    if failed:
        return f"{failed} failed"
    ran = [g for g in gates if not getattr(g, "skipped", False)]
    return f"{len(ran)}/{len(gates)} passed" + (
        f", {len(gates) - len(ran)} skipped" if len(ran) < len(gates) else "")


def valid_approvals(candidate: Any) -> int:
    """Distinct reviewers who approved with a verified signature (core's count if any)."""
    value = getattr(candidate, "valid_approvals", None)
    if isinstance(value, int):
        return value
    return len({a.reviewer for a in candidate.approvals
                if a.decision == "approve" and a.verified})


def approvals_text(candidate: Any) -> str:
    """``k/K`` approvals."""
    return f"{valid_approvals(candidate)}/{candidate.required_approvals}"


class CandidatesTableModel(_TableModel):
    """The release queue: candidates with their status, gates and approvals."""

    ID, MODEL, VERSION, AUTHOR, CREATED, STATUS, GATES, APPROVALS = range(8)
    headers = ("#", "Model", "Version", "Author", "Created", "Status", "Gates", "Approvals")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._data: list[Any] = []

    def set_candidates(self, candidates: Sequence[Any]) -> None:
        self.beginResetModel()
        self._data = list(candidates)
        self.endResetModel()

    def update_candidate(self, candidate: Any) -> None:
        """Replace the row of ``candidate`` (by id), or add it."""
        row = self.row_of(candidate.id)
        if row < 0:
            self.beginInsertRows(QModelIndex(), len(self._data), len(self._data))
            self._data.append(candidate)
            self.endInsertRows()
            return
        self._data[row] = candidate
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.headers) - 1))

    def candidates(self) -> list[Any]:
        return list(self._data)

    def candidate_at(self, row: int) -> Any:
        return self._data[row]

    def row_of(self, candidate_id: int) -> int:
        for row, candidate in enumerate(self._data):
            if candidate.id == candidate_id:
                return row
        return -1

    def _rows(self) -> Sequence[Any]:
        return self._data

    def _alignment(self, column: int) -> Any:
        if column in (self.ID, self.APPROVALS):
            return _RIGHT if column == self.ID else _CENTER
        return _LEFT

    def _cell(self, candidate: Any, column: int, role: int) -> Any:
        if role == ModelRole.key:
            return candidate.id
        if column == self.ID:
            if role == Qt.ItemDataRole.DisplayRole:
                return str(candidate.id)
            if role == ModelRole.sort:
                return candidate.id
        elif column == self.MODEL:
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
                return candidate.model
            if role == Qt.ItemDataRole.FontRole:
                font = QFont()
                font.setWeight(QFont.Weight.DemiBold)
                return font
        elif column == self.VERSION:
            if role == Qt.ItemDataRole.DisplayRole:
                return f"v{candidate.version}"
            if role == ModelRole.sort:
                return candidate.version
            if role == Qt.ItemDataRole.ToolTipRole:
                production = getattr(candidate, "production", None)
                return (f"{candidate.ref}, release {candidate.release_id}"
                        + (f"; production was {production}" if production else ""))
        elif column == self.AUTHOR:
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
                return candidate.author
            if role == Qt.ItemDataRole.ToolTipRole:
                opened = getattr(candidate, "created_by", candidate.author)
                return (f"{candidate.author} registered {candidate.ref}"
                        + (f"; {opened} opened the candidate" if opened != candidate.author
                           else ""))
        elif column == self.CREATED:
            if role == Qt.ItemDataRole.DisplayRole:
                return format_timestamp(candidate.created_at)
            if role in (ModelRole.sort, Qt.ItemDataRole.ToolTipRole):
                return candidate.created_at
        elif column == self.STATUS:
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
                return status_label(candidate.status)
            if role == Qt.ItemDataRole.DecorationRole:
                return status_dot(status_color(candidate.status))
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor(status_color(candidate.status))
        elif column == self.GATES:
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
                return gates_summary(candidate)
            if role == Qt.ItemDataRole.ForegroundRole and candidate.gates:
                failed = any(not g.passed for g in candidate.gates)
                return QColor(LIGHT["danger"] if failed else LIGHT["success"])
            if role == Qt.ItemDataRole.ToolTipRole and candidate.gates:
                return "\n".join(f"{gate_label(g.name)}: {gate_state(g)}"
                                 for g in candidate.gates)
        elif column == self.APPROVALS:
            if role == Qt.ItemDataRole.DisplayRole:
                return approvals_text(candidate)
            if role == ModelRole.sort:
                return valid_approvals(candidate)
            if role == Qt.ItemDataRole.ToolTipRole:
                done = [f"{a.reviewer}: {a.decision}"
                        + ("" if a.verified or a.decision != "approve" else
                           " (signature does not verify)") for a in candidate.approvals]
                need = (f"{candidate.required_approvals} signed approval"
                        f"{'s' if candidate.required_approvals != 1 else ''} needed")
                return "\n".join([need, *done])
        return None


class TimelineTableModel(_TableModel):
    """A candidate's timeline: created, gates run, approvals, deploys, rollbacks."""

    WHEN, ACTOR, STEP, DETAIL = range(4)
    headers = ("When (UTC)", "Who", "Step", "Detail")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._data: list[Any] = []

    def set_events(self, events: Sequence[Any]) -> None:
        self.beginResetModel()
        self._data = list(events)
        self.endResetModel()

    def events(self) -> list[Any]:
        return list(self._data)

    def _rows(self) -> Sequence[Any]:
        return self._data

    def _cell(self, event: Any, column: int, role: int) -> Any:
        if column == self.WHEN:
            if role == Qt.ItemDataRole.DisplayRole:
                return format_timestamp(event.at)
            if role in (ModelRole.sort, Qt.ItemDataRole.ToolTipRole):
                return event.at
        elif column == self.ACTOR:
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
                return event.actor
        elif column == self.STEP:
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort):
                return event.action
            if role == Qt.ItemDataRole.FontRole:
                font = QFont()
                font.setWeight(QFont.Weight.DemiBold)
                return font
        elif column == self.DETAIL:
            if role in (Qt.ItemDataRole.DisplayRole, ModelRole.sort,
                        Qt.ItemDataRole.ToolTipRole):
                return event.detail
        return None


def signature_state(approval: Any) -> tuple[str, str]:
    """(words, colour) of an approval's signature: verified, does not verify, unsigned."""
    if not approval.signature:
        return "unsigned", LIGHT["text_muted"]
    return ("signature verified", LIGHT["success"]) if approval.verified else \
        ("signature does not verify", LIGHT["danger"])


def approvals_html(approvals: Sequence[Any]) -> str:
    """Reviewers' decisions as rich text: who, what, whether the signature verifies, and
    their comment (one short block each)."""
    if not approvals:
        return f"<span style='color:{LIGHT['text_muted']}'>No reviewer has decided yet.</span>"
    blocks = []
    for approval in approvals:
        approve = approval.decision == "approve"
        colour = LIGHT["success"] if approve else LIGHT["danger"]
        words, sig_colour = signature_state(approval)
        line = (f"<b>{html.escape(approval.reviewer)}</b> "
                f"<span style='color:{colour}; font-weight:600'>"
                f"{'approved' if approve else 'rejected'}</span> "
                f"<span style='color:{LIGHT['text_muted']}'>{format_timestamp(approval.at)}"
                f"</span><br><span style='color:{sig_colour}'>● {words}</span>")
        if approval.comment:
            line += (f"<br><span style='color:{LIGHT['text_muted']}'>“"
                     f"{html.escape(approval.comment)}”</span>")
        blocks.append(line)
    return "<br><br>".join(blocks)
