"""The admin's walk through the README over real SSH: add a host, trust its key, probe it,
deploy with an offline wheelhouse, see it healthy, roll back — all through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from modeldeck.core.cli import cli

PORT = 18090


def _run(ws: Path, *args: Any, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--workspace", str(ws), *map(str, args)], input=input,
                              catch_exceptions=True, prog_name="modeldeck")


@pytest.fixture
def ws(demo_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(demo_template, target)
    return target


def test_readme_walk_over_ssh(ssh_fleet: Any, host_wheelhouse: Any, ws: Path) -> None:
    [h] = ssh_fleet(1)
    added = _run(ws, "hosts", "add", "edge-1", "--hostname", h.address, "--port", h.port,
                 "--user", h.user, "--identity-file", h.client_key_path, "--python",
                 h.python, "--serve-bind", h.address, "--serve-port", PORT, "--group", "edge")
    assert added.exit_code == 0, added.output

    # not trusted yet: refused with the fingerprint, and no terminal to confirm on
    refused = _run(ws, "hosts", "probe", "edge-1")
    assert refused.exit_code == 1 and h.host_key_fingerprint in refused.output
    assert "modeldeck hosts trust edge-1" in refused.output
    no_tty = _run(ws, "hosts", "trust", "edge-1", input="y\n")
    assert no_tty.exit_code == 1 and "--fingerprint" in no_tty.output
    wrong = _run(ws, "hosts", "trust", "edge-1", "--fingerprint", "SHA256:" + "B" * 43)
    assert wrong.exit_code == 1 and "not the expected" in wrong.output
    trusted = _run(ws, "hosts", "trust", "edge-1", "--fingerprint", h.host_key_fingerprint)
    assert trusted.exit_code == 0, trusted.output

    probe = _run(ws, "hosts", "probe", "edge-1", "--ref", "breast-cancer@production", "--json")
    report = json.loads(probe.stdout)
    assert report["verdict"] in ("needs-wheelhouse", "ready"), report
    assert report["python"].startswith("3.")

    no_wheels = _run(ws, "deploy", "breast-cancer@production", "--group", "edge")
    if report["verdict"] == "needs-wheelhouse":
        assert no_wheels.exit_code == 1 and "wheelhouse" in no_wheels.output

    done = _run(ws, "deploy", "breast-cancer@production", "--group", "edge",
                "--wheelhouse", host_wheelhouse.path, "--json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["results"][0]["outcome"] == "ok"

    status = json.loads(_run(ws, "status", "--json").stdout)
    assert status[0]["healthy"] and status[0]["release_id"] == result["release_id"]
    history = json.loads(_run(ws, "hosts", "history", "edge-1", "--json").stdout)
    assert history[0]["outcome"] == "ok"
