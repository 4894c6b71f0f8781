"""Release fixtures: a demo workspace with reviewers' real SSH keys, and an ssh-agent."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from release_helpers import ADMIN, FAST_POLICY, Demo, make_key

from modeldeck.core.workspace import Workspace


@pytest.fixture
def demo(make_workspace: Callable[..., Path], tmp_path: Path) -> Iterator[Demo]:
    """The demo with reviewers bob and dave holding registered keys (fast policy)."""
    path = make_workspace()
    keys = {name: make_key(tmp_path / "keys", name) for name in ("bob", "dave", "mallory")}
    with Workspace.open(path, actor=ADMIN) as ws:
        ws.add_user("dave", "reviewer")
        for name in ("bob", "dave"):
            ws.set_user_key(name, keys[name].with_suffix(".pub").read_text())
    made = Demo(path, keys, [])
    made.policy("breast-cancer", FAST_POLICY)
    yield made
    for ws in made.opened:
        ws.close()


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
