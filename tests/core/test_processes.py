"""Real processes against one workspace: concurrent writers lose nothing; a registration
killed with SIGKILL inside its transaction leaves no half-registered version."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from modeldeck.core.progress import run
from modeldeck.core.registry import Registry
from modeldeck.core.workspace import Workspace

pytestmark = pytest.mark.slow

REGISTER = textwrap.dedent("""
    import sys
    from modeldeck.core.progress import run
    from modeldeck.core.registry import Registry
    from modeldeck.core.workspace import Workspace
    path, name, count, model, data = sys.argv[1:6]
    with Workspace.open(path) as ws:
        registry = Registry(ws)
        for _ in range(int(count)):
            run(registry.register(name, model, data))
""")

ADMIN = textwrap.dedent("""
    import sys
    from modeldeck.core.registry import Registry
    from modeldeck.core.workspace import Workspace
    path, count = sys.argv[1:3]
    with Workspace.open(path) as ws:
        for i in range(int(count)):
            ws.add_user(f"user{i}", "reviewer")
            ws.set_role(f"user{i}", "data-scientist")
""")


@pytest.fixture
def model_files(tmp_path: Path) -> tuple[Path, Path]:
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    model = LinearRegression().fit(frame, frame["a"] * 2)
    sio.dump(model, tmp_path / "m.skops")
    frame.to_csv(tmp_path / "ref.csv", index=False)
    return tmp_path / "m.skops", tmp_path / "ref.csv"


def _spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _finish(proc: subprocess.Popen[str], timeout: float = 120) -> None:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err


def test_two_processes_register_the_same_name_at_once(tmp_path: Path, model_files) -> None:
    ws_path = tmp_path / "ws"
    Workspace.open(ws_path, create=True).close()
    model, data = map(str, model_files)
    writers = [_spawn(REGISTER, str(ws_path), "shared", "6", model, data) for _ in range(2)]
    admin = _spawn(ADMIN, str(ws_path), "10")  # the "GUI" managing users meanwhile
    for proc in [*writers, admin]:
        _finish(proc)
    with Workspace.open(ws_path) as ws:
        versions = Registry(ws).list_versions("shared")
        assert [v.version for v in versions] == list(range(1, 13))
        assert len({v.ref for v in versions}) == 12
        assert {u.name for u in ws.users()} >= {f"user{i}" for i in range(10)}
        result = ws.verify_audit()
        assert result.ok
        assert result.rows_checked == 1 + 12 + 20
        actions = [e.action for e in ws.audit_log(limit=None)]
        assert actions.count("version.register") == 12
        assert actions.count("user.add") == 10


def test_killed_registration_leaves_no_version(tmp_path: Path, model_files) -> None:
    ws_path = tmp_path / "ws"
    Workspace.open(ws_path, create=True).close()
    model, data = map(str, model_files)
    victim = _spawn(REGISTER, str(ws_path), "victim", "1", model, data,
                    env={"MODELDECK_FAULT": "register.before-commit:sleep"})
    assert victim.stderr is not None
    deadline = time.monotonic() + 60
    line = ""
    while "reached register.before-commit" not in line and time.monotonic() < deadline:
        line = victim.stderr.readline()
        assert line or victim.poll() is None, "the child died before the fault point"
    # It now holds the write lock with the version row inserted but not committed.
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    victim.stdout.close()
    victim.stderr.close()
    assert victim.returncode == -signal.SIGKILL

    with Workspace.open(ws_path) as ws:
        registry = Registry(ws)
        assert registry.list_models() == []
        assert ws.db.conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 0
        assert ws.verify_audit().rows_checked == 1
        # the lock died with the process: the next registration goes through as version 1
        info = run(registry.register("victim", model_files[0], model_files[1]))
        assert info.version == 1
        assert ws.verify_audit().ok
