"""Every command's happy path, in text and in --json, against real temp workspaces."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import as_json, ok, sql, user_error

from modeldeck.core.cli import _num

REGISTER_BC = ("--reference", "reference.csv", "--holdout", "holdout.csv",
               "--target", "diagnosis")


def register_args(data: Path, model: str = "v2.skops", name: str = "breast-cancer",
                  holdout: bool = True) -> list[str]:
    args = [name, "--model", str(data / model), "--reference", str(data / "reference.csv")]
    if holdout:
        args += ["--holdout", str(data / "holdout.csv"), "--target", "diagnosis"]
    return ["register", *args]


# -- workspace ------------------------------------------------------------------------------


def test_version(invoke):
    result = ok(invoke("--version"))
    assert result.stdout.startswith("modeldeck ")


def test_init_creates_workspace_with_creator_as_admin(invoke, tmp_path):
    ws = tmp_path / "new"
    result = ok(invoke("init", ws=ws))
    assert (ws / "modeldeck.db").is_file()
    assert str(ws) in result.stdout
    assert "You (carol) are its admin." in result.stdout
    assert f"modeldeck --workspace {ws} demo" in result.stdout
    assert as_json(invoke("whoami", "--json", ws=ws)) == {
        "name": "carol", "role": "admin", "workspace": str(ws)}
    assert as_json(invoke("users", "--json", ws=ws))[0]["role"] == "admin"
    ok(invoke("models", ws=ws))
    assert "No models yet" in invoke("models", ws=ws).stdout


def test_init_twice_changes_nothing(invoke, tmp_path):
    ws = tmp_path / "new"
    ok(invoke("init", ws=ws))
    result = ok(invoke("init", ws=ws, env={"MODELDECK_USER": "mallory"}))
    assert "already" in result.stdout and "admin: carol" in result.stdout
    assert [u["name"] for u in as_json(invoke("users", "--json", ws=ws))] == ["carol"]
    assert len(as_json(invoke("audit", "log", "--json", ws=ws))) == 1


def test_workspace_from_environment_and_default(invoke, tmp_path, monkeypatch):
    monkeypatch.setenv("MODELDECK_WORKSPACE", str(tmp_path / "from-env"))
    ok(invoke("init"))
    assert (tmp_path / "from-env" / "modeldeck.db").is_file()
    # --workspace wins over the environment
    ok(invoke("init", ws=tmp_path / "explicit"))
    assert (tmp_path / "explicit" / "modeldeck.db").is_file()
    monkeypatch.delenv("MODELDECK_WORKSPACE")
    result = ok(invoke("init"))  # platformdirs default, redirected by XDG_DATA_HOME
    default = tmp_path / "xdg-data" / "modeldeck" / "workspace"
    if sys.platform.startswith("linux"):
        assert (default / "modeldeck.db").is_file()
        assert str(default) in result.stdout
        assert "modeldeck demo" in result.stdout  # no --workspace in the hint


def test_demo_command(invoke, tmp_path):
    ws = tmp_path / "fresh"
    result = ok(invoke("demo", ws=ws))
    assert "Created workspace" in result.stderr
    assert "[  0%] training breast-cancer version 1" in result.stderr
    assert "[ 25%] registered breast-cancer:1" in result.stderr
    assert "[100%] demo ready" in result.stderr
    assert "Demo ready" in result.stdout and "Demo ready" not in result.stderr
    assert "breast-cancer" in result.stdout and "production→1, staging→2" in result.stdout
    assert (ws / "demo-data" / "breast-cancer" / "v1.skops").is_file()
    names = [m["name"] for m in as_json(invoke("models", "--json", ws=ws))]
    assert names == ["breast-cancer", "diabetes"]
    # a second run refuses instead of duplicating
    user_error(invoke("demo", ws=ws), "already has the demo")


def test_whoami(invoke, demo_ws):
    assert ok(invoke("whoami", ws=demo_ws)).stdout.startswith("carol (admin) in ")
    alice = ok(invoke("whoami", ws=demo_ws, env={"MODELDECK_USER": "alice"}))
    assert alice.stdout.startswith("alice (data-scientist)")
    stranger = ok(invoke("whoami", ws=demo_ws, env={"MODELDECK_USER": "zed"}))
    assert "not registered" in stranger.stdout
    assert as_json(invoke("whoami", "--json", ws=demo_ws,
                          env={"MODELDECK_USER": "zed"}))["role"] is None


# -- models and versions --------------------------------------------------------------------


def test_models(invoke, demo_ws):
    out = ok(invoke("models", ws=demo_ws)).stdout.splitlines()
    assert out[0].split()[:4] == ["NAME", "VERSIONS", "LATEST", "ALIASES"]
    assert out[1].split()[:4] == ["breast-cancer", "2", "2", "production→1,"]
    assert out[2].startswith("diabetes ")
    # columns are aligned: every row starts its second column at the same place
    starts = {line.index(" 2 ") for line in out[1:]}
    assert len(starts) == 1


def test_models_search(invoke, demo_ws):
    found = as_json(invoke("models", "--search", "progression", "--json", ws=demo_ws))
    assert [m["name"] for m in found] == ["diabetes"]
    assert "No model matches 'zzz'" in ok(invoke("models", "-s", "zzz", ws=demo_ws)).stdout


def test_models_json(invoke, demo_ws):
    found = as_json(invoke("models", "--json", ws=demo_ws))
    assert set(found[0]) == {"name", "description", "owner", "tags", "created_at",
                             "created_by", "version_count", "latest_version", "aliases"}
    assert found[0]["aliases"] == {"production": 1, "staging": 2}
    assert found[0]["tags"] == ["classification", "healthcare"]


def test_versions(invoke, demo_ws):
    out = ok(invoke("versions", "breast-cancer", ws=demo_ws)).stdout.splitlines()
    header = out[0].split()
    assert header[:2] == ["VERSION", "ALIASES"]
    assert {"ACCURACY", "F1_MACRO", "ROC_AUC", "PARENT"} <= set(header)
    assert out[1].split()[:2] == ["1", "production"]
    assert out[2].split()[:2] == ["2", "staging"]
    assert out[2].rstrip().endswith("breast-cancer:1")
    regression = ok(invoke("versions", "diabetes", ws=demo_ws)).stdout.splitlines()[0]
    assert {"RMSE", "MAE", "R2"} <= set(regression.split())


def test_versions_json(invoke, demo_ws):
    found = as_json(invoke("versions", "diabetes", "--json", ws=demo_ws))
    assert [v["ref"] for v in found] == ["diabetes:1", "diabetes:2"]
    assert found[1]["parent"] == "diabetes:1"
    assert found[0]["aliases"] == ["production"]
    assert set(found[0]["metrics"]) == {"rows", "mae", "rmse", "r2"}


@pytest.mark.parametrize("ref, expected", [
    ("breast-cancer", "breast-cancer:2"),
    ("breast-cancer:1", "breast-cancer:1"),
    ("breast-cancer@production", "breast-cancer:1"),
    ("breast-cancer@staging", "breast-cancer:2"),
])
def test_show_references(invoke, demo_ws, ref, expected):
    assert ok(invoke("show", ref, ws=demo_ws)).stdout.split()[0] == expected
    assert as_json(invoke("show", ref, "--json", ws=demo_ws))["ref"] == expected


def test_show_text_has_everything(invoke, demo_ws):
    out = ok(invoke("show", "breast-cancer:2", ws=demo_ws)).stdout
    info = as_json(invoke("show", "breast-cancer:2", "--json", ws=demo_ws))
    for heading in ("Model card (complete)", "Metrics on the holdout set (114 rows)",
                    "Input schema (30 columns)", "Environment at registration",
                    "Data fingerprints", "Artifacts (sha256)"):
        assert heading in out
    assert "[staging]" in out.splitlines()[0]
    assert "lineage        breast-cancer:2 ← breast-cancer:1" in out
    assert "HistGradientBoostingClassifier (classification)" in out
    assert info["artifact_sha256"] in out
    assert info["fingerprints"]["holdout"]["sha256"] in out
    assert info["environment"]["scikit-learn"] in out
    assert "worst radius" in out
    assert "Second-reader support" in out
    assert f"accuracy           {_num(info['metrics']['accuracy'])}" in out


def test_show_json(invoke, demo_ws):
    info = as_json(invoke("show", "breast-cancer:2", "--json", ws=demo_ws))
    for key in ("ref", "model", "version", "card", "schema", "metrics", "environment",
                "fingerprints", "lineage", "aliases", "parent", "artifact_sha256",
                "trusted_types", "classes", "target"):
        assert key in info
    assert info["lineage"] == ["breast-cancer:2", "breast-cancer:1"]
    assert info["card"]["owner"] == "Diagnostics ML team"
    assert info["schema"][0] == {"name": "mean radius", "dtype": "float", "nullable": False,
                                 "categories": None}
    assert info["classes"] == ["benign", "malignant"]
    diabetes = as_json(invoke("show", "diabetes:1", "--json", ws=demo_ws))
    sex = next(c for c in diabetes["schema"] if c["name"] == "sex")
    assert sex["categories"] == ["female", "male"]


def test_compare(invoke, demo_ws):
    out = ok(invoke("compare", "breast-cancer@production", "breast-cancer@staging",
                    ws=demo_ws)).stdout
    assert out.startswith("breast-cancer:1 [production]  →  breast-cancer:2 [staging]")
    assert "LogisticRegression → HistGradientBoostingClassifier" in out
    accuracy = next(line for line in out.splitlines() if line.startswith("accuracy "))
    assert accuracy.split()[-1] == "better" and accuracy.split()[-2].startswith("+")
    assert "Schema: 20 columns added; compatible" in out
    assert "  + worst radius (float)" in out
    assert "Environment: same" in out
    regression = ok(invoke("compare", "diabetes:1", "diabetes:2", ws=demo_ws)).stdout
    rmse = next(line for line in regression.splitlines() if line.startswith("rmse "))
    assert rmse.split()[-1] == "worse"  # rmse went up
    assert "Schema: same 10 columns" in regression


def test_compare_json(invoke, demo_ws):
    result = as_json(invoke("compare", "breast-cancer:2", "breast-cancer:1", "--json",
                            ws=demo_ws))
    assert result["a"] == "breast-cancer:2" and result["b"] == "breast-cancer:1"
    accuracy = next(m for m in result["metrics"] if m["name"] == "accuracy")
    assert accuracy["delta"] == pytest.approx(accuracy["b"] - accuracy["a"])
    assert len(result["schema"]["removed"]) == 20 and result["schema"]["compatible"] is False
    assert set(result["schema"]["removed"][0]) == {"name", "dtype", "nullable", "categories"}
    assert result["environment"] == []


def test_compare_shows_environment_differences(invoke, demo_ws):
    sql(demo_ws, "UPDATE versions SET environment = json_set(environment, '$.numpy', '1.0')"
                 " WHERE version = 1")
    out = ok(invoke("compare", "diabetes:1", "diabetes:2", ws=demo_ws)).stdout
    assert "Environment differences" in out
    assert next(line for line in out.splitlines() if "numpy" in line).split()[:2] == \
        ["numpy", "1.0"]


# -- register -------------------------------------------------------------------------------


def test_register(invoke, demo_ws, demo_data):
    result = ok(invoke(*register_args(demo_data), ws=demo_ws))
    assert result.stdout.startswith("Registered breast-cancer:3 (HistGradientBoostingClassifier,"
                                    " classification, parent breast-cancer:2)")
    assert "accuracy 0." in result.stdout and "(holdout, 114 rows)" in result.stdout
    assert "model card: complete" in result.stdout  # copied from the parent
    assert "[  5%] reading the reference data" in result.stderr
    assert "[100%] registered breast-cancer:3" in result.stderr
    versions = as_json(invoke("versions", "breast-cancer", "--json", ws=demo_ws))
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert versions[2]["author"] == "carol"
    entry = as_json(invoke("audit", "log", "--limit", "1", "--json", ws=demo_ws))[0]
    assert (entry["action"], entry["subject"]) == ("version.register", "breast-cancer:3")
    ok(invoke("audit", "verify", ws=demo_ws))


def test_register_json_keeps_stdout_parseable(invoke, demo_ws, demo_data):
    result = ok(invoke(*register_args(demo_data), "--json", ws=demo_ws))
    info = json.loads(result.stdout)
    assert info["ref"] == "breast-cancer:3" and info["metrics"]["accuracy"] > 0.9
    assert "reading the reference data" in result.stderr


def test_register_options(invoke, demo_ws, demo_data, tmp_path):
    pd.read_csv(demo_data / "reference.csv").to_parquet(tmp_path / "ref.parquet")
    result = ok(invoke("register", "bc-mean", "--model", demo_data / "v1.skops",
                       "--reference", tmp_path / "ref.parquet", "--quiet",
                       "--description", "Mean features only", "--tag", "small",
                       "--tag", "baseline", "--intended-use", "Testing the CLI",
                       "--owner", "QA", ws=demo_ws))
    assert result.stderr == ""
    assert "no holdout metrics" in result.stdout
    assert "incomplete: limitations, contact missing" in result.stdout
    model = as_json(invoke("models", "--search", "bc-mean", "--json", ws=demo_ws))[0]
    assert model["description"] == "Mean features only"
    assert model["tags"] == ["small", "baseline"] and model["owner"] == "QA"
    info = as_json(invoke("show", "bc-mean", "--json", ws=demo_ws))
    assert info["metrics"] == {} and info["holdout_sha256"] is None
    assert info["card"] == {"intended_use": "Testing the CLI", "limitations": "",
                            "owner": "QA", "contact": ""}
    assert "Metrics: none" in ok(invoke("show", "bc-mean", ws=demo_ws)).stdout


def test_register_with_parent_and_card_override(invoke, demo_ws, demo_data):
    ok(invoke(*register_args(demo_data, "v1.skops"), "--parent", "breast-cancer@production",
              "--contact", "carol@example.org", ws=demo_ws))
    info = as_json(invoke("show", "breast-cancer:3", "--json", ws=demo_ws))
    assert info["parent"] == "breast-cancer:1"
    assert info["lineage"] == ["breast-cancer:3", "breast-cancer:1"]
    assert info["card"]["contact"] == "carol@example.org"
    assert info["card"]["owner"] == "Diagnostics ML team"  # from the parent's card


def test_register_creates_missing_workspace(invoke, demo_data, tmp_path):
    ws = tmp_path / "brand-new"
    result = ok(invoke(*register_args(demo_data, name="first"), ws=ws))
    assert "Created workspace" in result.stderr
    assert "Registered first:1" in result.stdout
    assert as_json(invoke("whoami", "--json", ws=ws))["role"] == "admin"


def test_register_trusted_pickle(invoke, demo_ws, demo_data, tmp_path):
    import joblib
    import skops.io as sio

    model = sio.load(demo_data / "v1.skops")
    joblib.dump(model, tmp_path / "model.pkl")
    result = ok(invoke(*register_args(demo_data, str(tmp_path / "model.pkl")),
                       "--trust-pickle", ws=demo_ws))
    assert "Registered breast-cancer:3" in result.stdout
    info = as_json(invoke("show", "breast-cancer:3", "--json", ws=demo_ws))
    assert info["artifact_format"] == "skops"  # converted: later loads run no code
    ok(invoke("verify", "breast-cancer:3", ws=demo_ws))


# -- verify ---------------------------------------------------------------------------------


def test_verify(invoke, demo_ws):
    out = ok(invoke("verify", ws=demo_ws)).stdout.splitlines()
    assert out == ["breast-cancer:1  ok", "breast-cancer:2  ok", "diabetes:1  ok",
                   "diabetes:2  ok"]
    one = as_json(invoke("verify", "diabetes@production", "--json", ws=demo_ws))
    assert one == [{"ref": "diabetes:1", "ok": True, "error": None, "format": "skops"}]


def test_verify_empty_workspace(invoke, tmp_path):
    ok(invoke("init", ws=tmp_path / "w"))
    assert "No versions" in ok(invoke("verify", ws=tmp_path / "w")).stdout


# -- aliases --------------------------------------------------------------------------------


def test_alias_set_move_remove_history(invoke, demo_ws):
    assert ok(invoke("alias", "set", "breast-cancer:2", "canary", ws=demo_ws)).stdout == \
        "breast-cancer@canary → version 2\n"
    assert ok(invoke("alias", "set", "breast-cancer:1", "canary", ws=demo_ws)).stdout == \
        "breast-cancer@canary → version 1 (was version 2)\n"
    assert "[canary, production]" in ok(invoke("show", "breast-cancer@canary",
                                               ws=demo_ws)).stdout.splitlines()[0]
    assert ok(invoke("alias", "rm", "breast-cancer", "canary", ws=demo_ws)).stdout == \
        "Removed breast-cancer@canary (was version 1)\n"
    out = ok(invoke("alias", "history", "breast-cancer", "canary", ws=demo_ws)).stdout
    changes = [line.split(None, 3)[3].rsplit(None, 1)[0].strip()
               for line in out.splitlines()[1:]]
    assert changes == ["removed (was 1)", "2 → 1", "set to 2"]
    everything = as_json(invoke("alias", "history", "breast-cancer", "--json", ws=demo_ws))
    assert len(everything) == 5
    assert everything[0] == {"model": "breast-cancer", "alias": "canary", "version": None,
                             "previous": 1, "at": everything[0]["at"], "actor": "carol"}
    assert {e["alias"] for e in everything} == {"canary", "production", "staging"}


def test_alias_promote_by_alias(invoke, demo_ws):
    result = ok(invoke("alias", "set", "breast-cancer@staging", "production", ws=demo_ws,
                       env={"MODELDECK_USER": "bob"}))
    assert result.stdout == "breast-cancer@production → version 2 (was version 1)\n"
    entry = as_json(invoke("audit", "log", "-n", "1", "--json", ws=demo_ws))[0]
    assert (entry["actor"], entry["action"], entry["subject"]) == \
        ("bob", "alias.set", "breast-cancer@production")


def test_alias_history_never_set(invoke, demo_ws):
    assert "never set" in ok(invoke("alias", "history", "diabetes", "canary",
                                    ws=demo_ws)).stdout


# -- model cards ----------------------------------------------------------------------------


def test_card_show_and_set(invoke, demo_ws):
    out = ok(invoke("card", "show", "diabetes@staging", ws=demo_ws)).stdout
    assert out.startswith("Model card of diabetes:2 (complete)")
    result = ok(invoke("card", "set", "diabetes:2", "--intended-use", "Capacity planning",
                       "--contact", "", ws=demo_ws))
    assert "incomplete: contact missing" in result.stdout
    card = as_json(invoke("card", "show", "diabetes:2", "--json", ws=demo_ws))
    assert card["ref"] == "diabetes:2" and card["missing"] == ["contact"]
    assert card["card"]["intended_use"] == "Capacity planning"
    assert card["card"]["owner"] == "Care planning analytics"  # untouched
    entry = as_json(invoke("audit", "log", "-n", "1", "--json", ws=demo_ws))[0]
    assert (entry["action"], entry["subject"]) == ("version.card", "diabetes:2")


# -- audit ----------------------------------------------------------------------------------


def test_audit_log(invoke, demo_ws):
    out = ok(invoke("audit", "log", ws=demo_ws)).stdout.splitlines()
    assert out[0].split() == ["SEQ", "AT", "(UTC)", "ACTOR", "ROLE", "ACTION", "SUBJECT",
                              "DETAILS"]
    assert out[1].split()[0] == "11"  # newest first
    assert out[-1].split()[0] == "1" and "workspace.create" in out[-1]
    register = next(line for line in out if "version.register  breast-cancer:2" in line)
    assert "estimator=HistGradientBoostingClassifier" in register
    limited = ok(invoke("audit", "log", "-n", "2", ws=demo_ws)).stdout.splitlines()
    assert len(limited) == 4 and "--limit 0 shows all" in limited[-1]


def test_audit_log_filters_json(invoke, demo_ws):
    rows = as_json(invoke("audit", "log", "--subject", "diabetes", "--json", ws=demo_ws))
    subjects = {r["subject"] for r in rows}
    assert {"diabetes:1", "diabetes:2"} <= subjects
    # (core matches NAME and NAME:VERSION; alias moves, NAME@ALIAS, may follow)
    assert subjects <= {"diabetes:1", "diabetes:2", "diabetes@staging", "diabetes@production"}
    assert set(rows[0]) == {"seq", "at", "actor", "role", "action", "subject", "payload",
                            "prev_hash", "hash"}
    by_bob = as_json(invoke("audit", "log", "--actor", "bob", "--action", "alias",
                            "--json", ws=demo_ws))
    assert [r["subject"] for r in by_bob] == ["diabetes@production", "breast-cancer@production"]
    assert len(as_json(invoke("audit", "log", "--limit", "0", "--json", ws=demo_ws))) == 11
    assert "No audit rows match" in ok(invoke("audit", "log", "--actor", "nobody",
                                              ws=demo_ws)).stdout


def test_audit_verify(invoke, demo_ws):
    result = ok(invoke("audit", "verify", ws=demo_ws))
    assert result.stdout.startswith("Audit log intact: 11 rows, head row 11\n")
    head = result.stdout.split()[-1]
    assert len(head) == 64
    ok(invoke("audit", "verify", "--expect-head", head, ws=demo_ws))
    report = as_json(invoke("audit", "verify", "--json", ws=demo_ws))
    assert report == {"ok": True, "rows_checked": 11, "first_bad_seq": None, "problem": "",
                      "head_seq": 11, "head_hash": head}


def test_audit_verify_detects_truncation_with_expected_head(invoke, demo_ws):
    head = as_json(invoke("audit", "verify", "--json", ws=demo_ws))["head_hash"]
    ok(invoke("alias", "set", "diabetes:2", "canary", ws=demo_ws))
    user_error(invoke("audit", "verify", "--expect-head", head, ws=demo_ws),
               "does not end at the expected head", "chain ends at row 12",
               "rows 1 to 12 check out")


def test_audit_verify_names_the_first_broken_row(invoke, demo_ws):
    sql(demo_ws, "DROP TRIGGER audit_no_update")
    sql(demo_ws, "UPDATE audit SET actor = 'mallory' WHERE seq = 7")
    line = user_error(invoke("audit", "verify", ws=demo_ws), "broken at row 7",
                      "rows 1 to 6 check out", "restore")
    assert "edited" in line
    result = invoke("audit", "verify", "--json", ws=demo_ws)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["first_bad_seq"] == 7


# -- users ----------------------------------------------------------------------------------


def test_users_list(invoke, demo_ws):
    out = ok(invoke("users", ws=demo_ws)).stdout.splitlines()
    assert out[0].split()[:3] == ["NAME", "ROLE", "SSH"]
    assert [line.split()[0] for line in out[1:]] == ["alice", "bob", "carol"]
    assert "carol (you)  admin" in out[3]
    found = as_json(invoke("users", "--json", ws=demo_ws))
    assert found[0] == {"name": "alice", "role": "data-scientist", "ssh_public_key": None,
                        "created_at": found[0]["created_at"], "created_by": "carol"}


def test_users_add_set_role_set_key_rm(invoke, demo_ws, tmp_path):
    key = tmp_path / "id_ed25519.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJ2 dave@laptop\n")
    assert ok(invoke("users", "add", "dave", "--role", "reviewer", "--ssh-key", key,
                     ws=demo_ws)).stdout == "Added dave as reviewer with an SSH key.\n"
    assert "ssh-ed25519 dave@laptop" in ok(invoke("users", ws=demo_ws)).stdout
    assert ok(invoke("users", "set-role", "dave", "admin", ws=demo_ws)).stdout == \
        "dave is now admin (was reviewer).\n"
    assert ok(invoke("users", "add", "erin", "--role", "data-scientist",
                     ws=demo_ws)).stdout == "Added erin as data-scientist.\n"
    ok(invoke("users", "set-key", "erin", key, ws=demo_ws))
    # dave, now an admin, may manage users himself
    assert ok(invoke("users", "rm", "erin", ws=demo_ws, env={"MODELDECK_USER": "dave"})
              ).stdout == "Removed erin (was data-scientist).\n"
    roles = {u["name"]: u["role"] for u in as_json(invoke("users", "--json", ws=demo_ws))}
    assert roles == {"alice": "data-scientist", "bob": "reviewer", "carol": "admin",
                     "dave": "admin"}
    actions = [e["action"] for e in as_json(invoke("audit", "log", "-n", "5", "--json",
                                                   ws=demo_ws))]
    assert actions == ["user.remove", "user.set-key", "user.add", "user.set-role", "user.add"]


# -- the entry points -----------------------------------------------------------------------


def test_python_dash_m(demo_ws, tmp_path):
    env = {"MODELDECK_USER": "carol", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "modeldeck.core.cli", "--workspace",
                           str(demo_ws), "models", "--json"], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert [m["name"] for m in json.loads(done.stdout)] == ["breast-cancer", "diabetes"]


def test_real_process_error_is_one_line_and_debug_shows_traceback(tmp_path):
    env = {"MODELDECK_USER": "carol", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    command = [sys.executable, "-m", "modeldeck.core.cli", "--workspace",
               str(tmp_path / "missing"), "models"]
    plain = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120,
                           check=False)
    assert plain.returncode == 1
    assert plain.stdout == ""
    assert plain.stderr.count("\n") == 1 and plain.stderr.startswith("error: no ModelDeck")
    debug = subprocess.run(command[:-1] + ["--debug", "models"], capture_output=True,
                           text=True, env=env, timeout=120, check=False)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "WorkspaceError" in debug.stderr
