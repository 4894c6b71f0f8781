"""Where the GUI keeps its own files.

Only UI state lives here (window geometry, splitter sizes: ``state.ini``); user
preferences belong to core's settings. Every path goes through this module so tests can
redirect it with :func:`set_state_dir` and never touch the real files.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

_state_dir: Path | None = None


def set_state_dir(path: Path | str | None) -> None:
    """Redirect the folder holding ``state.ini`` (``None`` restores the default)."""
    global _state_dir
    _state_dir = Path(path) if path is not None else None


def state_dir() -> Path:
    """The folder holding the GUI's state files."""
    if _state_dir is not None:
        return _state_dir
    return platformdirs.user_state_path("modeldeck", appauthor=False)


def state_path() -> Path:
    """The ``state.ini`` file (window geometry, splitters, last page)."""
    return state_dir() / "state.ini"
