"""The GUI's colours and the stylesheet built from them.

The theme is a plain dict (no Qt), so it can be tested and, later, generated from core
settings. :func:`get_stylesheet` fills ``resources/style.qss``, a template with
``{{ name }}`` placeholders, from it (as napari's ``get_stylesheet``).
"""

from __future__ import annotations

import re
from importlib import resources as _resources
from pathlib import Path

LIGHT: dict[str, str] = {
    "font_size": "10pt",
    "background": "#f3f5f8",
    "surface": "#ffffff",
    "surface_alt": "#f8f9fb",
    "border": "#dbe1e8",
    "border_strong": "#c3ccd7",
    "text": "#1b2430",
    "text_muted": "#5d6a7a",
    "text_faint": "#8a96a5",
    "accent": "#2563eb",
    "accent_hover": "#1d4fd0",
    "accent_pressed": "#1a43ad",
    "accent_soft": "#e6eefd",
    "accent_text": "#ffffff",
    "sidebar": "#151c27",
    "sidebar_hover": "#222c3b",
    "sidebar_text": "#c4cdd9",
    "sidebar_muted": "#66738a",
    "danger": "#c0362c",
    "danger_soft": "#fdeceb",
    "warning": "#a15c00",
    "warning_soft": "#fff4e0",
    "success": "#1b7f3b",
    "success_soft": "#e5f4ea",
    "info": "#1f5fbf",
    "info_soft": "#e8f0fc",
}

#: Badge colours of well-known aliases: (text, background). Others use ``"default"``.
ALIAS_COLORS: dict[str, tuple[str, str]] = {
    "production": ("#ffffff", "#1b7f3b"),
    "prod": ("#ffffff", "#1b7f3b"),
    "staging": ("#ffffff", "#b86e00"),
    "candidate": ("#ffffff", "#7c3aed"),
    "champion": ("#ffffff", "#2563eb"),
    "challenger": ("#ffffff", "#0e7490"),
    "default": ("#1b2430", "#e3e8ef"),
}

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_PACKAGE = "modeldeck.gui.resources"


def resource_path(name: str) -> Path:
    """The path of a file shipped in ``resources/``.

    Parameters
    ----------
    name
        A plain file name such as ``"style.qss"``; sub-paths and ``..`` are refused
        (qutebrowser's ``utils/resources.py`` guards the same way).
    """
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"not a plain resource file name: {name!r}")
    root = _resources.files(_PACKAGE)
    path = Path(str(root.joinpath(name)))
    assert path.parent == Path(str(root)), path
    return path


def read_resource(name: str) -> str:
    """The text of a file shipped in ``resources/``."""
    return resource_path(name).read_text(encoding="utf-8")


def get_stylesheet(theme: dict[str, str] | None = None) -> str:
    """The application stylesheet, ``style.qss`` filled from ``theme``.

    Parameters
    ----------
    theme
        Colour names to values; defaults to :data:`LIGHT`.

    Raises
    ------
    KeyError
        When the template names a colour the theme lacks.
    """
    values = dict(LIGHT if theme is None else theme)
    values.setdefault("resources", resource_path("style.qss").parent.as_posix())
    template = read_resource("style.qss")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def alias_colors(alias: str) -> tuple[str, str]:
    """The (text, background) colours of an alias badge."""
    return ALIAS_COLORS.get(alias.lower(), ALIAS_COLORS["default"])
