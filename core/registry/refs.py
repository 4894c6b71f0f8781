"""Names and references: ``NAME`` (latest), ``NAME:VERSION``, ``NAME@ALIAS``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modeldeck.core.errors import InvalidInputError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
ALIAS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,49}$")

#: Aliases only reviewers and admins may move (what runs for real).
PROTECTED_ALIASES = frozenset({"production"})


@dataclass(frozen=True)
class Ref:
    """A parsed reference. Exactly one of ``version``/``alias`` is set, or neither (latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid model name, else raise."""
    if not NAME_RE.match(name or ""):
        raise InvalidInputError(
            f"'{name}' is not a valid model name",
            "use letters, digits, '.', '_' or '-' (at most 100), starting with a letter or digit",
        )
    return name


def check_alias(alias: str) -> str:
    """Return ``alias`` if it is a valid alias name, else raise."""
    if not ALIAS_RE.match(alias or ""):
        raise InvalidInputError(
            f"'{alias}' is not a valid alias",
            "use lowercase letters, digits, '_' or '-', starting with a letter (e.g. staging)",
        )
    return alias


def parse_ref(text: str) -> Ref:
    """Parse ``NAME``, ``NAME:VERSION`` or ``NAME@ALIAS``.

    Raises
    ------
    InvalidInputError
        The text is none of these forms.
    """
    text = (text or "").strip()
    if "@" in text:
        name, _, alias = text.partition("@")
        return Ref(check_name(name), alias=check_alias(alias))
    if ":" in text:
        name, _, version = text.partition(":")
        if not version.isdigit() or int(version) < 1:
            raise InvalidInputError(f"'{text}': the version must be a positive number",
                                    "write NAME:VERSION, e.g. breast-cancer:2")
        return Ref(check_name(name), version=int(version))
    if not NAME_RE.match(text):
        raise InvalidInputError(f"'{text}' is not a model reference",
                                "write NAME, NAME:VERSION or NAME@ALIAS")
    return Ref(text)
