"""Fixtures shared by every test layer. Imports no Qt (only tests/gui/conftest.py does)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_SANDBOX = Path(tempfile.mkdtemp(prefix="modeldeck-tests-"))

#: Every test acts as this user unless it says otherwise; the demo template is built by
#: them, so they are its admin (``alice`` is its data scientist, ``bob`` its reviewer).
DEMO_ADMIN = "carol"


def pytest_configure(config: pytest.Config) -> None:
    # Never touch the real user's workspace or settings, in any fixture scope: the
    # platformdirs default moves into a throwaway folder and env overrides are dropped.
    os.environ["XDG_DATA_HOME"] = str(_SANDBOX / "data")
    os.environ["XDG_CONFIG_HOME"] = str(_SANDBOX / "config")
    os.environ["XDG_STATE_HOME"] = str(_SANDBOX / "state")
    os.environ.pop("MODELDECK_WORKSPACE", None)
    os.environ.pop("MODELDECK_USER", None)
    os.environ.pop("MODELDECK_FAULT", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SANDBOX, ignore_errors=True)


@pytest.fixture(autouse=True)
def _acting_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELDECK_USER", DEMO_ADMIN)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo workspace built once per test session (read it, never write it)."""
    from modeldeck.core.demo import build_demo
    from modeldeck.core.progress import run
    from modeldeck.core.workspace import Workspace

    path = tmp_path_factory.mktemp("demo-template") / "ws"
    with Workspace.open(path, create=True, actor=DEMO_ADMIN) as ws:
        run(build_demo(ws))
    return path


@pytest.fixture
def make_workspace(tmp_path: Path, demo_template: Path) -> Iterator[Callable[..., Path]]:
    """Factory: ``make_workspace(demo=True)`` returns the path of a fresh workspace.

    With ``demo=True`` it is a copy of the session's demo workspace (2 models × 2
    versions, aliases, cards, drifted production files in ``demo-data/``); with
    ``demo=False`` an empty, initialised workspace.
    """
    from modeldeck.core.workspace import Workspace

    made: list[Path] = []

    def make(demo: bool = True, name: str | None = None) -> Path:
        target = tmp_path / (name or f"ws{len(made)}")
        if demo:
            shutil.copytree(demo_template, target)
        else:
            Workspace.open(target, create=True).close()
        made.append(target)
        return target

    yield make


@pytest.fixture
def ssh_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A real ssh-agent of this test (``SSH_AUTH_SOCK`` set), stopped by its PID."""
    socket = tmp_path / "agent.sock"
    out = subprocess.run(["ssh-agent", "-s", "-a", str(socket)], capture_output=True,
                         text=True, check=True).stdout
    env = {}
    for part in out.replace("\n", ";").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            env[key] = value
    pid = int(env["SSH_AGENT_PID"])
    monkeypatch.setenv("SSH_AUTH_SOCK", env["SSH_AUTH_SOCK"])
    try:
        yield env
    finally:
        os.kill(pid, signal.SIGTERM)


@pytest.fixture
def ssh_key(tmp_path: Path) -> Callable[[str], Path]:
    """Factory: ``ssh_key(name)`` makes a passphrase-less ed25519 key pair
    ``<tmp>/keys/<name>`` (+ ``.pub``, comment ``name``) with ssh-keygen."""

    def make(name: str) -> Path:
        path = tmp_path / "keys" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                        str(path)], check=True)
        return path

    return make
