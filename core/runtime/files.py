"""Crash-safe file writes shared by folder mode and the webhook's dead letters."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomic(final: Path, tmp: Path, write: Callable[[Any], Any]) -> None:
    """Write text through ``tmp`` (same folder), fsync, then rename onto ``final``.

    ``write(fh)`` writes the content to the open file. A reader never sees a half-written
    ``final``; on any error ``tmp`` is removed and ``final`` is untouched.
    """
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(final.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not possible on every platform / file system
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
