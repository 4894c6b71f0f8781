"""The layering contracts of STYLE.md §1, checked on every test run.

import-linter cannot scan ModelDeck's editable install (its namespace mapping lives in a
setuptools import hook, not on disk under ``modeldeck/``), so the contracts are checked here:
statically, on every import statement in the source, and dynamically, by importing the core
in a fresh interpreter and looking at what got loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUI_MODULES = ("PySide6", "pyqtgraph", "superqt", "shiboken6", "modeldeck.gui")
RUNTIME_FORBIDDEN = (*GUI_MODULES, "paramiko", "sqlite_utils", "click",
                     "modeldeck.core.workspace", "modeldeck.core.registry",
                     "modeldeck.core.deploy", "modeldeck.core.release",
                     "modeldeck.core.feedback", "modeldeck.core.cli")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.append((node.lineno, "." * node.level + (node.module or "")))
            elif node.module:
                found.append((node.lineno, node.module))
    return found


def _violations(folder: Path, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in sorted(folder.rglob("*.py")):
        for line, module in _imports(path):
            if module.startswith("."):
                out.append(f"{path.relative_to(ROOT)}:{line}: relative import {module}")
            elif any(module == f or module.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    return out


def test_core_never_imports_the_gui_toolkit() -> None:
    assert _violations(ROOT / "core", GUI_MODULES) == []


#: The modules of core the on-host runtime may import (shipped in every release folder by
#: modeldeck.core.bundle.SHARED_MODULES).
RUNTIME_SHARED = ("modeldeck.core.errors", "modeldeck.core.progress", "modeldeck.core.schema",
                  "modeldeck.core.modelio", "modeldeck.core.drift.profile")


def test_runtime_stays_dependency_light() -> None:
    runtime = ROOT / "core" / "runtime"
    assert _violations(runtime, RUNTIME_FORBIDDEN) == []
    stray = []
    for path in sorted(runtime.rglob("*.py")):
        for line, module in _imports(path):
            if (module.startswith("modeldeck.") and module not in RUNTIME_SHARED
                    and not module.startswith("modeldeck.core.runtime")):
                stray.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    assert stray == []


def test_releases_ship_exactly_the_shared_modules() -> None:
    from modeldeck.core.bundle import SHARED_MODULES

    shipped = {"modeldeck.core." + m.removesuffix(".py").replace("/", ".")
               for m in SHARED_MODULES}
    assert set(RUNTIME_SHARED) <= shipped


def test_no_code_imports_the_top_level_folders_directly() -> None:
    bad = []
    for folder in ("core", "gui", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for line, module in _imports(path):
                if module.split(".")[0] in {"core", "gui", "resources"}:
                    bad.append(f"{path.relative_to(ROOT)}:{line}: import {module}")
    assert bad == []


def test_importing_the_whole_core_loads_no_qt() -> None:
    modules = sorted(
        "modeldeck." + ".".join(p.relative_to(ROOT).with_suffix("").parts).replace(
            ".__init__", "")
        for p in (ROOT / "core").rglob("*.py") if "runtime" not in p.parts)
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules) +
            f"bad = [m for m in sys.modules if m.split('.')[0] in {GUI_MODULES[:4]!r} "
            "or m.startswith('modeldeck.gui')]\nprint(','.join(bad))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=ROOT / "tests")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_core_init_stays_empty() -> None:
    assert (ROOT / "core" / "__init__.py").read_text().strip() == ""
