"""Fixtures of the prediction-server tests: release folders built from the demo workspace,
and the server as a real subprocess on a free loopback port, driven over real HTTP."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 60.0
DEMO_ADMIN = "carol"  # the demo template's admin (tests/conftest.py)


@pytest.fixture(scope="session")
def releases(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Release folders of the demo's production versions, built once (read them only)."""
    from modeldeck.core.bundle import build_release
    from modeldeck.core.registry import Registry
    from modeldeck.core.workspace import Workspace

    import shutil

    root = tmp_path_factory.mktemp("releases")
    workspace = shutil.copytree(demo_template, root / "workspace")
    out = {}
    os.environ["MODELDECK_USER"] = DEMO_ADMIN
    try:
        with Workspace.open(workspace) as ws:
            registry = Registry(ws)
            for name in ("breast-cancer", "diabetes"):
                out[name] = build_release(registry, f"{name}@production", root / name).path
    finally:
        os.environ.pop("MODELDECK_USER", None)
    return out


@dataclass
class Response:
    """One HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        return self.json()["error"]


@dataclass
class ServerProcess:
    """``python -m modeldeck.core.runtime serve`` running from a release's own code copy."""

    release: Path
    state: Path
    args: list[str] = field(default_factory=list)
    token: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    log_path: Path | None = None

    def start(self, wait_ready: bool = True) -> ServerProcess:
        port_file = self.state.parent / f"{self.state.name}.port"
        port_file.unlink(missing_ok=True)
        self.log_path = self.state.parent / f"{self.state.name}.log"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        # The release's own code first: the host has nothing else of ModelDeck.
        env["PYTHONPATH"] = str(self.release / "code")
        cmd = [sys.executable, "-m", "modeldeck.core.runtime", "serve", str(self.release),
               "--port", "0", "--port-file", str(port_file), "--state-dir", str(self.state),
               "--threads", "4", *self.args]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.state.parent)
        deadline = time.monotonic() + START_TIMEOUT
        while not port_file.exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited with {self.proc.returncode}:\n"
                                     + self.output())
            if time.monotonic() > deadline:
                raise AssertionError("the server did not start:\n" + self.output())
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, expect: bool = True) -> Response:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            response = self.get("/ready")
            if response.json()["state"] != "starting":
                break
            if time.monotonic() > deadline:
                raise AssertionError("the self-check did not finish:\n" + self.output())
            time.sleep(0.05)
        assert (response.status == 200) == expect, (response.body, self.output())
        return response

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def request(self, method: str, path: str, body: Any = None, *,
                headers: dict[str, str] | None = None, raw: bytes | None = None,
                token: str | None = None) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            sent = dict(headers or {})
            data = raw
            if body is not None:
                data = json.dumps(body).encode()
                sent.setdefault("Content-Type", "application/json")
            if token or self.token:
                sent.setdefault("Authorization", f"Bearer {token or self.token}")
            conn.request(method, path, body=data, headers=sent)
            r = conn.getresponse()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.request("POST", path, body, **kw)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError("the server ignored SIGTERM:\n" + self.output()) from None


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Factory: ``start_server(release, *args, token=None, wait_ready=True)``; every server
    started is stopped (SIGTERM, by PID) at the end of the test."""
    started: list[ServerProcess] = []

    def start(release: Path, *args: str, token: str | None = None, wait_ready: bool = True,
              state: Path | None = None) -> ServerProcess:
        server = ServerProcess(release, state or tmp_path / f"state{len(started)}",
                               list(args), token)
        started.append(server)
        return server.start(wait_ready)

    yield start
    for server in started:
        server.stop()

