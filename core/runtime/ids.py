"""Prediction ids: ``<boot>-<counter>``, unique across restarts, contiguous per batch.

``boot`` is 12 random hex characters drawn when the server starts; the counter counts the
rows served since (at most 15 hex digits, so it always fits SQLite's 64-bit integers). A batch of ``n`` rows takes ``n`` consecutive counters at once, so the
log stores one ``(boot, first, n)`` per batch and finds any id with a range query.
"""

from __future__ import annotations

import re
import secrets
import threading

#: What a prediction id looks like (also the OpenAPI document's pattern).
ID_PATTERN = r"^([0-9a-f]{12})-([0-9a-f]{1,15})$"
_ID = re.compile(ID_PATTERN)


class IdAllocator:
    """Hands out consecutive counters under one random boot id (thread-safe)."""

    def __init__(self, boot: str | None = None) -> None:
        self.boot = boot or secrets.token_hex(6)
        self._next = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> int:
        """Reserve ``n`` consecutive counters; returns the first."""
        with self._lock:
            first = self._next
            self._next += n
        return first


def format_id(boot: str, counter: int) -> str:
    """The text of one prediction id."""
    return f"{boot}-{counter:x}"


def parse_id(text: str) -> tuple[str, int] | None:
    """``(boot, counter)`` of a prediction id, or ``None`` when ``text`` is not one."""
    match = _ID.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    return match.group(1), int(match.group(2), 16)


def id_list(boot: str, first: int, n: int) -> list[str]:
    """The ids of a batch of ``n`` rows starting at counter ``first``."""
    prefix = boot + "-"
    return [prefix + format(i, "x") for i in range(first, first + n)]
