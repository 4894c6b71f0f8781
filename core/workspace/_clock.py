"""Time stamps as stored in the workspace: UTC, ISO 8601, microseconds."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> str:
    """Return the current UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
