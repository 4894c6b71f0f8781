"""`modeldeck deploy / rollback / status / hosts probe` on a `local` host: the same release
steps as over SSH, into a folder of this machine, with this test venv's Python (which has
numpy, scikit-learn... so no wheelhouse is needed)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from cli_helpers import as_json, ok, user_error


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def local_host(invoke, demo_ws: Path, tmp_path: Path) -> Iterator[tuple[Path, int]]:
    root = tmp_path / "host"
    port = _free_port()
    ok(invoke("hosts", "add", "box", "--local", root, "--python", sys.executable,
              "--serve-port", port, ws=demo_ws))
    yield root, port
    pidfile = root / "run" / "server.pid"
    if pidfile.is_file():
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _post(port: int, path: str, body: object) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def _model(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/model", timeout=5) as r:
        return json.loads(r.read())


def test_deploy_status_rollback_on_a_local_host(invoke, demo_ws: Path,
                                                local_host: tuple[Path, int]) -> None:
    root, port = local_host
    plan = as_json(invoke("deploy", "breast-cancer@production", "--hosts", "box", "--plan",
                          "--json", ws=demo_ws))
    assert plan[0]["action"] == "upload and switch" and plan[0]["files_to_send"] > 0
    assert not root.exists()  # a plan changes nothing: no root, no agent left behind
    assert not list(Path(tempfile.gettempdir()).glob("modeldeck-plan.*"))

    first = as_json(invoke("deploy", "breast-cancer@production", "--hosts", "box", "--json",
                           ws=demo_ws))
    assert [r["outcome"] for r in first["results"]] == ["ok"]
    assert _model(port)["release"] == first["release_id"]
    assert (root / "current").resolve().name == first["release_id"]

    second = ok(invoke("deploy", "breast-cancer@staging", "--hosts", "box", ws=demo_ws))
    assert "ok" in second.stdout and "breast-cancer v2" in second.stdout
    status = as_json(invoke("status", "--json", ws=demo_ws))
    assert status[0]["version"] == 2 and status[0]["healthy"] is True

    back = ok(invoke("rollback", "--hosts", "box", ws=demo_ws))
    assert first["release_id"] in back.stdout
    assert _model(port)["release"] == first["release_id"]
    cached = ok(invoke("status", "--cached", ws=demo_ws)).stdout
    assert "v1" in cached and "ready" in cached

    # what the host served comes back with `pull`, labels included, for drift
    rows = pd.read_csv(demo_ws / "demo-data" / "breast-cancer" / "production-day-7.csv")
    features = [c for c in rows.columns if c.startswith("mean ")]
    records = json.loads(rows[features].dropna().head(120).to_json(orient="records"))
    answer = _post(port, "/v1/predict", records)
    labels = [{"prediction_id": p["id"], "label": p["prediction"]}
              for p in answer["predictions"][:50]]
    assert _post(port, "/v1/feedback", {"feedback": labels})["accepted"] == 50
    pulled = as_json(invoke("pull", "--json", ws=demo_ws))
    assert pulled[0]["ok"] and pulled[0]["new_rows"] >= 120 and pulled[0]["labeled"] == 50
    again = as_json(invoke("pull", "--json", ws=demo_ws))
    assert again[0]["new_rows"] == 0 and again[0]["rows"] == pulled[0]["rows"]
    report = as_json(invoke("drift", "breast-cancer@production", "--pulled", "--json",
                            "--no-multivariate", "-q", ws=demo_ws))
    assert report["hosts"] == ["box"]
    realized = [p for p in report["performance"] if p.get("realized")]
    assert realized and realized[0]["realized"]["accuracy"] == 1.0

    history = as_json(invoke("hosts", "history", "box", "--json", ws=demo_ws))
    assert [h["action"] for h in history][:3] == ["rollback", "deploy", "deploy"]
    assert history[0]["release_id"] == first["release_id"]
    assert history[1]["previous_release"] == first["release_id"]


def test_probe_reports_the_verdict(invoke, demo_ws: Path,
                                   local_host: tuple[Path, int]) -> None:
    report = as_json(invoke("hosts", "probe", "box", "--ref", "breast-cancer@production",
                            "--json", ws=demo_ws))
    assert report["verdict"] == "ready"
    assert report["packages"]["scikit-learn"]
    text = ok(invoke("hosts", "probe", "box", ws=demo_ws)).stdout
    assert "Verdict" in text and "ready" in text


def test_deploy_needs_hosts_and_a_known_version(invoke, demo_ws: Path,
                                                local_host: tuple[Path, int]) -> None:
    user_error(invoke("deploy", "breast-cancer@production", ws=demo_ws), "--hosts")
    user_error(invoke("deploy", "breast-cancer@production", "--hosts", "nope", ws=demo_ws),
               "nope")
    user_error(invoke("deploy", "no-such-model", "--hosts", "box", ws=demo_ws),
               "no-such-model")
    user_error(invoke("rollback", "--hosts", "box", ws=demo_ws), "earlier release")


def test_a_host_without_the_packages_is_refused_before_upload(
        invoke, demo_ws: Path, tmp_path: Path) -> None:
    root = tmp_path / "bare"
    ok(invoke("hosts", "add", "bare", "--local", root, "--python", "/usr/bin/python3",
              ws=demo_ws))
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no /usr/bin/python3 here")
    result = invoke("deploy", "breast-cancer@production", "--hosts", "bare", ws=demo_ws)
    line = user_error(result, "bare")
    assert "wheelhouse" in result.stdout or "wheelhouse" in line
    assert not (root / "releases").exists() or not any((root / "releases").iterdir())
