"""`modeldeck bundle` and `modeldeck serve`: a release folder from the workspace, and the
same server a host runs, started from the desktop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cli_helpers import as_json, ok, user_error

ADMIN = "carol"


def test_bundle_writes_a_verifiable_release(invoke, demo_ws, tmp_path):
    out = tmp_path / "rel"
    built = as_json(invoke("bundle", "breast-cancer@production", "--out", out, "--set",
                           "threads=4", "--json", ws=demo_ws))
    assert built["release_id"].startswith("breast-cancer-v1-") and built["files"] > 10
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["release_id"] == built["release_id"]
    assert json.loads((out / "config.json").read_text())["threads"] == 4
    assert os.access(out / "bin" / "serve", os.X_OK)
    from modeldeck.core.runtime.release import read_manifest, verify_files

    assert verify_files(out, read_manifest(out)) == []
    # the same content gives the same id
    again = as_json(invoke("bundle", "breast-cancer@production", "--out", tmp_path / "rel2",
                           "--set", "threads=4", "--json", ws=demo_ws))
    assert again["release_id"] == built["release_id"]
    text = ok(invoke("bundle", "diabetes", "--out", tmp_path / "d", ws=demo_ws)).stdout
    assert "Built release diabetes-v2-" in text and "bin/serve" in text


def test_bundle_refuses_bad_settings_and_existing_folders(invoke, demo_ws, tmp_path):
    user_error(invoke("bundle", "breast-cancer", "--out", tmp_path / "x", "--set",
                      "thread=4", ws=demo_ws), "unknown server setting", "thread")
    user_error(invoke("bundle", "breast-cancer", "--out", tmp_path / "x", "--set",
                      "threads=many", ws=demo_ws), "threads")
    assert not (tmp_path / "x").exists()
    (tmp_path / "full").mkdir()
    user_error(invoke("bundle", "breast-cancer", "--out", tmp_path / "full", ws=demo_ws),
               "exists", "--overwrite")
    user_error(invoke("bundle", "nope", "--out", tmp_path / "y", ws=demo_ws), "nope")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_serve_answers_predictions_until_interrupted(demo_ws, tmp_path):
    port_file = tmp_path / "port"
    env = {**os.environ, "MODELDECK_USER": ADMIN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "modeldeck.core.cli", "--workspace", str(demo_ws), "serve",
         "breast-cancer@production", "--port", "0", "--port-file", str(port_file)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port_file.read_text()}"
        while True:
            try:
                with urllib.request.urlopen(base + "/ready", timeout=10) as r:
                    if r.status == 200:
                        break
            except urllib.error.HTTPError as exc:
                assert json.loads(exc.read())["state"] == "starting"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        rows = json.loads((next((demo_ws / "serve" / "breast-cancer" / "releases").iterdir())
                           / "model" / "selfcheck.json").read_text())
        record = dict(zip(rows["columns"], rows["data"][0]))
        request = urllib.request.Request(base + "/v1/predict", json.dumps([record]).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            body = json.loads(r.read())
        assert body["predictions"][0]["prediction"] == rows["predictions"][0]
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()
    text = out.decode()
    assert "Serving breast-cancer:1" in text and "stopped" in text
    assert (demo_ws / "serve" / "breast-cancer" / "state" / "predictions.db").exists()
