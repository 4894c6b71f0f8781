"""Release fixtures: a demo workspace with reviewers' real SSH keys (the ssh_agent fixture is
in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from release_helpers import ADMIN, FAST_POLICY, Demo

from modeldeck.core.workspace import Workspace


@pytest.fixture
def demo(make_workspace: Callable[..., Path],
         ssh_key: Callable[[str], Path]) -> Iterator[Demo]:
    """The demo with reviewers bob and dave holding registered keys (fast policy)."""
    path = make_workspace()
    keys = {name: ssh_key(name) for name in ("bob", "dave", "mallory")}
    with Workspace.open(path, actor=ADMIN) as ws:
        ws.add_user("dave", "reviewer")
        for name in ("bob", "dave"):
            ws.set_user_key(name, keys[name].with_suffix(".pub").read_text())
    made = Demo(path, keys, [])
    made.policy("breast-cancer", FAST_POLICY)
    yield made
    for ws in made.opened:
        ws.close()
