"""The prediction server as a real subprocess, from a release folder's own code copy,
driven over real HTTP: every route, every bad input, self-check, token, feedback,
profiles and metrics."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modeldeck.core.drift.profile import Profile

pytestmark = pytest.mark.slow


def holdout(release: Path) -> tuple[list[dict], list]:
    """The release's self-check rows as records, and their recorded predictions."""
    data = json.loads((release / "model" / "selfcheck.json").read_text())
    records = [dict(zip(data["columns"], row)) for row in data["data"]]
    return records, data["predictions"]


@pytest.fixture(scope="session")
def mixed_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier over a string, an integer, a nullable float and a boolean column."""
    import os

    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from modeldeck.core.bundle import build_release
    from modeldeck.core.progress import run
    from modeldeck.core.registry import Registry
    from modeldeck.core.workspace import Workspace

    rng = np.random.default_rng(3)
    n = 600
    frame = pd.DataFrame({
        "plan": rng.choice(["basic", "plus", "pro"], n),
        "age": rng.integers(18, 80, n),
        "income": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 10, n)),
        "active": rng.random(n) < 0.5,
    })
    frame["churn"] = ((frame["plan"] == "basic") ^ (frame["age"] > 50)).astype(int)
    model = make_pipeline(
        ColumnTransformer([("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
                           ("num", SimpleImputer(), ["age", "income", "active"])]),
        LogisticRegression(max_iter=500))
    features = ["plan", "age", "income", "active"]
    model.fit(frame[features], frame["churn"])
    root = tmp_path_factory.mktemp("mixed")
    os.environ["MODELDECK_USER"] = "carol"
    try:
        with Workspace.open(root / "ws", create=True) as ws:
            registry = Registry(ws)
            run(registry.register("churn", model, frame[features].iloc[:400],
                                  frame.iloc[400:], "churn"))
            return build_release(registry, "churn", root / "release").path
    finally:
        os.environ.pop("MODELDECK_USER", None)


def copy_release(release: Path, dest: Path) -> Path:
    """A writable copy of a release folder (to damage it)."""
    shutil.copytree(release, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_routes_answer_and_the_host_runs_the_release_code(releases, start_server):
    server = start_server(releases["breast-cancer"])
    health = server.get("/health")
    assert health.status == 200 and health.json()["status"] == "alive"
    ready = server.get("/ready").json()
    assert ready["ready"] and ready["self_check"]["ok"]
    assert ready["self_check"]["rows"] > 0 and ready["self_check"]["mismatches"] == 0
    model = server.get("/v1/model").json()
    assert (model["model"], model["version"]) == ("breast-cancer", 1)
    assert model["release"].startswith("breast-cancer-v1-")
    assert [c["name"] for c in model["schema"]][:2] == ["mean radius", "mean texture"]
    # the process imported the release's copy of the runtime, not the desktop's
    assert Path(model["runtime"]["code"]).is_relative_to(releases["breast-cancer"] / "code")
    spec = server.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/v1/predict" in spec["paths"]
    assert server.get("/metrics").headers["content-type"].startswith("text/plain")


def test_predictions_match_registration_in_every_format(releases, start_server):
    release = releases["breast-cancer"]
    server = start_server(release)
    records, expected = holdout(release)
    columns = list(records[0])
    r = server.post("/v1/predict", records[:50])
    assert r.status == 200, r.body
    body = r.json()
    assert (body["model"], body["version"]) == ("breast-cancer", 1)
    assert [p["prediction"] for p in body["predictions"]] == expected[:50]
    ids = [p["id"] for p in body["predictions"]]
    assert len(set(ids)) == 50 and "probabilities" not in body["predictions"][0]

    columnar = {"columns": columns, "data": [[rec[c] for c in columns] for rec in records[:50]],
                "probabilities": True}
    r2 = server.post("/v1/predict", columnar).json()
    assert [p["prediction"] for p in r2["predictions"]] == expected[:50]
    proba = r2["predictions"][0]["probabilities"]
    assert set(proba) == {"benign", "malignant"} and abs(sum(proba.values()) - 1) < 1e-9
    assert not set(ids) & {p["id"] for p in r2["predictions"]}  # ids never repeat
    assert server.post("/v1/predict?probabilities=true", records[:1]).json()[
        "predictions"][0]["probabilities"] == r2["predictions"][0]["probabilities"]

    # MLflow's scoring protocol, all four JSON forms and CSV
    split = {"dataframe_split": {"columns": columns,
                                 "data": [[rec[c] for c in columns] for rec in records[:20]]}}
    for payload in (split, {"dataframe_records": records[:20]}, {"instances": records[:20]},
                    {"inputs": records[:20]},
                    {"inputs": {c: [rec[c] for rec in records[:20]] for c in columns}}):
        r = server.post("/invocations", payload)
        assert r.status == 200, (list(payload), r.body)
        assert r.json() == {"predictions": expected[:20]}
    csv = pd.DataFrame(records[:20]).to_csv(index=False).encode()
    r = server.request("POST", "/invocations", raw=csv, headers={"Content-Type": "text/csv"})
    assert r.status == 200, r.body
    assert r.json() == {"predictions": expected[:20]}


def test_regression_release_serves_numbers(releases, start_server):
    release = releases["diabetes"]
    server = start_server(release)
    records, expected = holdout(release)
    got = [p["prediction"] for p in server.post("/v1/predict", records[:30]).json()[
        "predictions"]]
    np.testing.assert_allclose(got, expected[:30], rtol=1e-9)


def test_every_bad_input_is_a_clear_error_and_the_server_keeps_answering(
        mixed_release, start_server):
    server = start_server(mixed_release, "--set", "max_body_bytes=20000")
    good = {"plan": "pro", "age": 40, "income": 51.5, "active": True}

    def error(body=None, *, status, code, raw=None, path="/v1/predict", method="POST",
              headers=None):
        r = server.request(method, path, body, raw=raw, headers=headers)
        assert r.status == status, (body if raw is None else raw[:80], r.body)
        err = r.error
        assert err["code"] == code, err
        assert err["message"] and err["fix"], err
        return err

    err = error([{k: v for k, v in good.items() if k != "age"}], status=422,
                code="missing_column")
    assert "age" in err["message"]
    err = error([{**good, "colour": "red"}], status=422, code="extra_column")
    assert "colour" in err["message"]
    err = error([good, {**good, "age": "forty"}], status=422, code="wrong_type")
    assert err["details"][0]["column"] == "age" and err["details"][0]["row"] == 1
    assert "forty" in json.dumps(err)
    err = error(raw=b'[{"plan": "pro", "age": NaN, "income": 1.0, "active": true}]',
                status=422, code="missing_value")
    assert err["details"][0]["column"] == "age"
    err = error([{**good, "plan": "platinum"}], status=422, code="unknown_category")
    assert "platinum" in json.dumps(err) and "basic" in json.dumps(err)
    error(raw=b'[{"plan": "pro", "age": ', status=400, code="malformed_json")
    error(raw=b"\xff\xfe garbage", status=400, code="malformed_json")
    error({"rows": "nope"}, status=400, code="bad_format")
    error([], status=400, code="no_rows")
    error(raw=json.dumps([good] * 400).encode(), status=413, code="body_too_large")
    error(path="/v2/nothing", method="GET", status=404, code="not_found")
    error(path="/v1/predict", method="GET", status=405, code="method_not_allowed")
    err = error({"instances": [[1, 2]]}, path="/invocations", status=400, code="bad_format")
    assert "4" in err["message"]
    error(raw=b"x", path="/invocations", headers={"Content-Type": "text/xml"}, status=415,
          code="unsupported_media_type")
    error(path="/v1/profile?since=yesterday", method="GET", status=400, code="bad_query")
    # still answering, and a null in the nullable column is fine
    assert server.get("/health").status == 200
    r = server.post("/v1/predict", [good, {**good, "income": None}])
    assert r.status == 200, r.body
    assert len(r.json()["predictions"]) == 2
    metrics = server.get("/metrics").body.decode()
    assert 'modeldeck_errors_total{kind="wrong_type"} 1' in metrics
    assert 'endpoint="/v1/predict",method="POST",status="422"' in metrics


def test_a_token_guards_every_route_but_health(mixed_release, start_server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    server = start_server(mixed_release, "--token-file", str(token_file), wait_ready=False)
    assert server.get("/health").status == 200
    server.token = "s3cret-token"
    server.wait_ready()
    server.token = None
    r = server.get("/v1/model")
    assert r.status == 401 and r.error["code"] == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert server.get("/v1/model", token="wrong").status == 401
    assert server.get("/v1/model", token="s3cret-token").status == 200


def test_feedback_profiles_and_logged_rows(releases, start_server):
    release = releases["breast-cancer"]
    server = start_server(release)
    records, expected = holdout(release)
    served = server.post("/v1/predict", records[:40]).json()["predictions"]
    server.post("/v1/predict", {"records": records[40:100]})
    ids = [p["id"] for p in served]
    r = server.post("/v1/feedback", {"prediction_id": ids[0], "label": "malignant"})
    assert r.status == 200 and r.json()["accepted"] == 1
    r = server.post("/v1/feedback", {"feedback": [
        {"prediction_id": i, "label": p} for i, p in zip(ids[1:10], expected[1:10])]
        + [{"prediction_id": "0123456789ab-ff", "label": "benign"}]})
    assert r.json() == {"accepted": 9, "unknown": ["0123456789ab-ff"], "invalid": []}
    r = server.post("/v1/feedback", {"prediction_id": "not-an-id", "label": "benign"})
    assert r.status == 404 and r.error["code"] == "unknown_prediction_id"
    r = server.post("/v1/feedback", {"prediction_id": ids[1], "label": "maybe"})
    assert r.status == 422 and r.error["code"] == "unknown_label"
    assert "'benign', 'malignant'" in r.error["fix"]
    r = server.post("/v1/feedback", {"prediction_id": ids[1], "label": "benign", "x": 1})
    assert r.status == 400 and "'x'" in r.error["message"]
    # values that fit the schema but overflow the model's arithmetic: the request's fault
    extreme = {**records[0], "mean smoothness": 1e308}
    r = server.post("/v1/predict", [extreme])
    assert r.status == 422 and r.error["code"] == "model_rejected_input", r.body
    r = server.post("/v1/predict?probabilities=maybe", records[:1])
    assert r.status == 400 and r.error["code"] == "bad_query"
    assert server.get("/v1/profile?until=").error["code"] == "bad_query"

    profile = server.get("/v1/profile").json()
    assert profile["model"] == "breast-cancer" and profile["window_seconds"] == 3600
    total = sum(w["rows"] for w in profile["windows"])
    assert total == 100
    inputs = Profile.from_bytes(base64.b64decode(profile["windows"][-1]["inputs"]))
    outputs = Profile.from_bytes(base64.b64decode(profile["windows"][-1]["outputs"]))
    assert inputs.n_rows == outputs.n_rows == profile["windows"][-1]["rows"]
    assert "mean radius" in inputs.spec.names and "prediction" in outputs.spec.names
    assert server.get("/v1/profile?since=2000-01-01&until=2000-01-02").json()["windows"] == []

    labeled = server.get("/v1/predictions?labeled=true").json()
    assert labeled["rows"] == 10
    frame = pd.DataFrame(labeled["data"], columns=labeled["columns"])
    assert set(frame["prediction_id"]) == set(ids[:10])
    assert frame.set_index("prediction_id").loc[ids[0], "label"] == "malignant"
    assert server.get("/v1/predictions?limit=5").json()["rows"] == 5
    metrics = server.get("/metrics").body.decode()
    assert "modeldeck_rows_predicted_total 100" in metrics
    assert "modeldeck_log_backlog_rows" in metrics
    assert "modeldeck_request_duration_seconds_bucket" in metrics


def test_a_batch_scored_after_the_fact_is_logged_under_its_event_time(releases,
                                                                      start_server):
    from datetime import datetime, timedelta, timezone
    from urllib.parse import urlencode

    server = start_server(releases["breast-cancer"])
    records, _expected = holdout(releases["breast-cancer"])
    now = datetime.now(timezone.utc)
    day = (now - timedelta(days=3)).replace(minute=15, second=0, microsecond=0)
    r = server.post("/v1/predict", {"records": records[:30], "event_time": day.isoformat()})
    assert r.status == 200, r.body
    server.post("/v1/predict", {"records": records[30:40]})
    window = day.replace(minute=0).isoformat()
    profile = server.get("/v1/profile").json()
    assert {w["start"][:19]: w["rows"] for w in profile["windows"]}[window[:19]] == 30
    since, until = (day - timedelta(hours=1)).isoformat(), (day + timedelta(hours=1)).isoformat()
    logged = server.get("/v1/predictions?" + urlencode({"since": since, "until": until})).json()
    assert logged["rows"] == 30
    for bad, said in ((now + timedelta(hours=1)).isoformat(), "in the future"), (
            (now - timedelta(days=400)).isoformat(), "older than the log keeps"), (
            "2026-11-20T14:00:00", "time zone"), (20261120, "time zone"):
        r = server.post("/v1/predict", {"records": records[:1], "event_time": bad})
        assert r.status == 422 and r.error["code"] == "bad_event_time", r.body
        assert said in r.error["message"]
    assert sum(w["rows"] for w in server.get("/v1/profile").json()["windows"]) == 40


def test_a_damaged_release_is_never_ready_and_says_why(releases, start_server, tmp_path):
    damaged = copy_release(releases["breast-cancer"], tmp_path / "damaged")
    model = damaged / "model" / "model.skops"
    model.write_bytes(model.read_bytes()[:-10] + b"0123456789")
    server = start_server(damaged, wait_ready=False)
    ready = server.wait_ready(expect=False).json()
    assert ready["state"] == "failed"
    assert "model/model.skops differs" in ready["reason"]
    assert "NOT READY" in server.output()
    r = server.post("/v1/predict", holdout(damaged)[0][:1])
    assert r.status == 503 and r.error["code"] == "not_ready"
    assert server.get("/health").status == 200

    edited = copy_release(releases["breast-cancer"], tmp_path / "edited")
    manifest = json.loads((edited / "manifest.json").read_text())
    manifest["model"]["metrics"]["accuracy"] = 1.0
    (edited / "manifest.json").write_text(json.dumps(manifest))
    server = start_server(edited, wait_ready=False)
    assert "manifest.json was changed" in server.wait_ready(expect=False).json()["reason"]


def test_the_runtime_loads_nothing_of_the_desktop(releases):
    code = ("import sys\n"
            "from modeldeck.core.runtime import server, service, app, logstore, folder, "
            "webhook, validation, openapi\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'paramiko', 'sqlite_utils', 'click', 'pyqtgraph') or "
            "m.startswith(('modeldeck.core.registry', 'modeldeck.core.workspace', "
            "'modeldeck.core.cli', 'modeldeck.core.drift.stats', 'modeldeck.gui')))\n"
            "print(server.__file__)\nprint(','.join(bad))\n")
    env = {"PYTHONPATH": str(releases["breast-cancer"] / "code"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    path, bad = out.stdout.splitlines()
    assert path.startswith(str(releases["breast-cancer"] / "code"))
    assert bad == ""


def test_check_command_reports_the_self_check(releases, tmp_path):
    env = {"PYTHONPATH": str(releases["diabetes"] / "code"), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "modeldeck.core.runtime", "check",
                         str(releases["diabetes"])], capture_output=True, text=True, env=env,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ready"] is True
    missing = subprocess.run([sys.executable, "-m", "modeldeck.core.runtime", "check",
                              str(tmp_path)], capture_output=True, text=True, env=env,
                             timeout=120)
    assert missing.returncode == 1
    assert "not a release folder" in missing.stderr
    assert not (releases["diabetes"] / "state").exists()  # a check writes nothing
