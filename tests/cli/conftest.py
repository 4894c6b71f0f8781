"""CLI fixtures: a demo workspace built once per session, copied per test, and a runner.

Every test acts as ``carol``, the admin who created the demo workspace; ``alice``
(data-scientist) and ``bob`` (reviewer) come with the demo. The default workspace location
is redirected into the test's temp folder, so nothing touches the real one.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli_helpers import as_json

from modeldeck.core.cli import cli

ADMIN = "carol"


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELDECK_USER", ADMIN)
    monkeypatch.delenv("MODELDECK_WORKSPACE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("COLUMNS", "100")


@pytest.fixture
def demo_ws(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo workspace."""
    target = tmp_path / "ws"
    shutil.copytree(demo_template, target)
    return target


@pytest.fixture
def demo_data(demo_ws: Path) -> Path:
    """The demo's files for the breast-cancer model (v1.skops, v2.skops, CSVs)."""
    return demo_ws / "demo-data" / "breast-cancer"


Invoke = Callable[..., Result]


@pytest.fixture
def invoke() -> Invoke:
    """Run ``modeldeck [--workspace WS] ARGS...`` in-process and return click's Result."""

    def _invoke(*args: Any, ws: Path | None = None, env: dict[str, str] | None = None,
                debug: bool = False) -> Result:
        argv = ["--workspace", str(ws)] if ws is not None else []
        if debug:
            argv.append("--debug")
        argv += [str(a) for a in args]
        return CliRunner().invoke(cli, argv, env=env, catch_exceptions=True,
                                  prog_name="modeldeck")

    return _invoke


@pytest.fixture
def snapshot(invoke: Invoke) -> Callable[[Path], dict[str, Any]]:
    """What a workspace holds, to compare before and after a failed command."""

    def _snapshot(ws: Path) -> dict[str, Any]:
        models = as_json(invoke("models", "--json", ws=ws))
        return {
            "models": models,
            "versions": {m["name"]: invoke("versions", m["name"], ws=ws).stdout
                         for m in models},
            "users": as_json(invoke("users", "--json", ws=ws)),
            "audit": invoke("audit", "verify", ws=ws).stdout,
            "artifacts": sorted(p.name for p in (ws / "artifacts").rglob("*") if p.is_file()),
        }

    return _snapshot
