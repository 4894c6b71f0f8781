"""The append-only, hash-chained audit log.

Each row stores the hash of the row before it and a hash of itself computed over all of
its fields, so editing, deleting or reordering a row behind ModelDeck's back breaks the
chain at that row. Rows are appended inside the same transaction as the change they record.
Deleting rows *at the end* of the chain leaves a shorter valid chain; to catch that, keep the
head hash that :func:`verify` reports somewhere else and pass it back as ``expected_head``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log."""

    seq: int
    at: str
    actor: str
    role: str | None
    action: str
    subject: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditVerification:
    """The result of checking the audit chain.

    Attributes
    ----------
    ok
        Whether every row checked out.
    rows_checked
        How many rows were read.
    first_bad_seq
        The ``seq`` of the first row that does not check out, or ``None``.
    problem
        What is wrong with that row, in words.
    head_seq, head_hash
        The last row's ``seq`` and hash (record them elsewhere to detect truncation).
    """

    ok: bool
    rows_checked: int
    first_bad_seq: int | None
    problem: str
    head_seq: int
    head_hash: str


def canonical_json(value: Any) -> str:
    """Serialise ``value`` the one way the hash chain expects (sorted keys, compact)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(
    seq: int, at: str, actor: str, role: str | None, action: str, subject: str,
    payload: str, prev_hash: str,
) -> str:
    """Return the hash of one audit row from its fields."""
    body = canonical_json([seq, at, actor, role, action, subject, payload, prev_hash])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def append(
    conn: sqlite3.Connection, *, at: str, actor: str, role: str | None, action: str,
    subject: str, payload: dict[str, Any],
) -> AuditEntry:
    """Append a row to the chain. Call inside the transaction of the change it records."""
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    payload_text = canonical_json(payload)
    digest = row_hash(seq, at, actor, role, action, subject, payload_text, prev)
    conn.execute(
        "INSERT INTO audit (seq, at, actor, role, action, subject, payload, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, actor, role, action, subject, payload_text, prev, digest),
    )
    return AuditEntry(seq, at, actor, role, action, subject, payload, prev, digest)


def _entry(row: sqlite3.Row | tuple[Any, ...]) -> AuditEntry:
    seq, at, actor, role, action, subject, payload, prev_hash, digest = row
    try:
        data = json.loads(payload)
    except (TypeError, ValueError):
        data = {"_unreadable": str(payload)}
    return AuditEntry(seq, at, actor, role, action, subject, data, prev_hash, digest)


_COLUMNS = "seq, at, actor, role, action, subject, payload, prev_hash, hash"


def entries(
    conn: sqlite3.Connection, *, limit: int | None = None, subject: str | None = None,
    action: str | None = None, actor: str | None = None, newest_first: bool = True,
) -> list[AuditEntry]:
    """Return audit rows, filtered by exact subject/actor or an action prefix."""
    where, params = [], []  # type: list[str], list[Any]
    if subject:
        # a model's subject covers its versions (NAME:N) and its aliases (NAME@ALIAS)
        where.append("(subject = ? OR subject LIKE ? OR subject LIKE ?)")
        params += [subject, subject + ":%", subject + "@%"]
    if action:
        where.append("action LIKE ?")
        params.append(action + "%")
    if actor:
        where.append("actor = ?")
        params.append(actor)
    sql = f"SELECT {_COLUMNS} FROM audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq " + ("DESC" if newest_first else "ASC")
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [_entry(row) for row in conn.execute(sql, params)]


def verify(conn: sqlite3.Connection, expected_head: str | None = None) -> AuditVerification:
    """Walk the whole chain and report the first row that does not check out."""
    expected_seq, prev, checked = 1, GENESIS, 0
    for row in conn.execute(f"SELECT {_COLUMNS} FROM audit ORDER BY seq"):
        seq, at, actor, role, action, subject, payload, prev_hash, digest = row
        problem = ""
        if seq != expected_seq:
            problem = (
                f"row {expected_seq} is missing (next row is {seq}): rows were deleted"
                if seq > expected_seq else f"row {seq} appears out of order"
            )
        elif prev_hash != prev:
            problem = f"row {seq} does not link to row {seq - 1}: a row before it was changed"
        elif row_hash(seq, at, actor, role, action, subject, payload, prev_hash) != digest:
            problem = f"row {seq} ({action} {subject}) was edited after it was written"
        if problem:
            return AuditVerification(False, checked, min(seq, expected_seq), problem,
                                     expected_seq - 1, prev)
        checked += 1
        expected_seq, prev = seq + 1, digest
    head_seq = expected_seq - 1
    if expected_head is not None and expected_head != prev:
        return AuditVerification(
            False, checked, head_seq + 1,
            f"the chain ends at row {head_seq} with hash {prev[:12]}…, not at the expected "
            f"head {expected_head[:12]}…: rows at the end were deleted or the log was replaced",
            head_seq, prev,
        )
    return AuditVerification(True, checked, None, "", head_seq, prev)
