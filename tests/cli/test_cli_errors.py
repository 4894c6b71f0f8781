"""Bad input: one line naming the problem and the fix, exit 1, and nothing changed.

Usage errors keep click's message and exit 2; only ``--debug`` shows a traceback.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import as_json, ok, sql, user_error

import modeldeck.core.registry

# -- usage errors (exit 2) ------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["no-such-command"],
    ["show"],                                   # missing REF
    ["compare", "a:1"],                         # missing REF_B
    ["users", "add", "dave"],                   # missing --role
    ["users", "add", "dave", "--role", "boss"],  # not a role
    ["register", "m", "--reference", "x.csv"],  # missing --model
    ["register", "m", "--model", "m.skops", "--reference", "x.csv", "--task", "ranking"],
    ["audit", "log", "--limit", "-3"],
    ["models", "--no-such-option"],
    ["card", "set", "breast-cancer:1"],         # nothing to set
])
def test_usage_errors_exit_2(invoke, demo_ws, snapshot, args):
    before = snapshot(demo_ws)
    result = invoke(*args, ws=demo_ws)
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.stderr and "Traceback" not in result.output
    assert snapshot(demo_ws) == before


# -- missing and unreadable workspaces ------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["models"], ["versions", "m"], ["show", "m"], ["compare", "m:1", "m:2"],
    ["verify"], ["alias", "set", "m:1", "staging"], ["alias", "rm", "m", "staging"],
    ["alias", "history", "m"], ["card", "show", "m"], ["card", "set", "m", "--owner", "x"],
    ["audit", "log"], ["audit", "verify"], ["users"], ["users", "add", "x", "--role", "admin"],
    ["users", "rm", "x"], ["users", "set-role", "x", "admin"], ["whoami"],
])
def test_read_commands_on_missing_workspace(invoke, tmp_path, args):
    ws = tmp_path / "nowhere"
    user_error(invoke(*args, ws=ws), f"no ModelDeck workspace at {ws}",
               f"modeldeck --workspace {ws} init")
    assert not ws.exists()


def test_newer_schema_workspace_is_refused_and_left_alone(invoke, demo_ws, demo_data):
    sql(demo_ws, "PRAGMA user_version = 999")
    rows = sql(demo_ws, "SELECT COUNT(*) FROM audit")
    for args in (["models"], ["init"], ["demo"], ["audit", "verify"],
                 ["register", "x", "--model", demo_data / "v1.skops",
                  "--reference", demo_data / "reference.csv"]):
        user_error(invoke(*args, ws=demo_ws), "newer ModelDeck (schema 999",
                   "upgrade ModelDeck")
    assert sql(demo_ws, "PRAGMA user_version") == [(999,)]
    assert sql(demo_ws, "SELECT COUNT(*) FROM audit") == rows


def test_workspace_that_is_not_a_database(invoke, tmp_path):
    ws = tmp_path / "broken"
    ws.mkdir()
    (ws / "modeldeck.db").write_text("not sqlite at all " * 100)
    user_error(invoke("models", ws=ws), "not a readable ModelDeck database", "backup")


# -- unknown names --------------------------------------------------------------------------


@pytest.mark.parametrize("args, fragments", [
    (["show", "breast-cancr"], ["no model named 'breast-cancr'", "did you mean 'breast-cancer'"]),
    (["versions", "nope"], ["no model named 'nope'", "modeldeck models"]),
    (["show", "breast-cancer:9"], ["has no version 9", "its versions are 1 to 2"]),
    (["show", "breast-cancer@canary"], ["has no alias 'canary'", "production, staging"]),
    (["compare", "breast-cancer:1", "diabetes:7"], ["no version 7"]),
    (["alias", "set", "breast-cancer:5", "staging"], ["no version 5"]),
    (["alias", "rm", "breast-cancer", "canary"], ["has no alias 'canary'"]),
    (["alias", "history", "nope"], ["no model named 'nope'"]),
    (["card", "set", "diabetes@canary", "--owner", "x"], ["has no alias 'canary'"]),
    (["verify", "diabetes:3"], ["no version 3"]),
    (["show", "Bad Name!"], ["not a model reference", "NAME:VERSION"]),
    (["show", "breast-cancer:0"], ["positive number"]),
    (["alias", "set", "breast-cancer:1", "Prod!"], ["not a valid alias", "lowercase"]),
    (["users", "rm", "zed"], ["no user 'zed'", "modeldeck users"]),
    (["users", "set-role", "zed", "admin"], ["no user 'zed'"]),
    (["users", "add", "alice", "--role", "admin"], ["exists already", "set-role alice"]),
    (["users", "rm", "carol"], ["last admin", "someone else admin"]),
])
def test_unknown_names(invoke, demo_ws, snapshot, args, fragments):
    before = snapshot(demo_ws)
    user_error(invoke(*args, ws=demo_ws), *fragments)
    assert snapshot(demo_ws) == before


# -- roles ----------------------------------------------------------------------------------


def test_data_scientist_cannot_add_users(invoke, demo_ws, snapshot):
    before = snapshot(demo_ws)
    alice = {"MODELDECK_USER": "alice"}
    user_error(invoke("users", "add", "mallory", "--role", "admin", ws=demo_ws, env=alice),
               "user 'alice' has role 'data-scientist'", "ask an admin")
    user_error(invoke("users", "set-role", "alice", "admin", ws=demo_ws, env=alice),
               "role 'data-scientist'")
    assert snapshot(demo_ws) == before


def test_data_scientist_cannot_move_production(invoke, demo_ws, snapshot):
    before = snapshot(demo_ws)
    user_error(invoke("alias", "set", "breast-cancer:2", "production", ws=demo_ws,
                      env={"MODELDECK_USER": "alice"}), "allowed: admin, reviewer")
    assert snapshot(demo_ws) == before


def test_unregistered_user_cannot_register(invoke, demo_ws, demo_data, snapshot):
    before = snapshot(demo_ws)
    user_error(invoke("register", "x", "--model", demo_data / "v1.skops", "--reference",
                      demo_data / "reference.csv", ws=demo_ws, env={"MODELDECK_USER": "zed"}),
               "user 'zed' is not registered", "users add zed")
    assert snapshot(demo_ws) == before


def test_reviewer_cannot_edit_cards(invoke, demo_ws, snapshot):
    before = snapshot(demo_ws)
    user_error(invoke("card", "set", "diabetes:1", "--owner", "x", ws=demo_ws,
                      env={"MODELDECK_USER": "bob"}), "role 'reviewer'")
    assert snapshot(demo_ws) == before


# -- register: model files ------------------------------------------------------------------


def register(invoke, ws: Path, data: Path, model: Path | str, *extra: object,
             reference: Path | None = None, holdout: Path | None = None,
             target: str | None = "diagnosis"):
    args: list[object] = ["register", "breast-cancer", "--model", model,
                          "--reference", reference or data / "reference.csv",
                          "--holdout", holdout or data / "holdout.csv"]
    if target:
        args += ["--target", target]
    return invoke(*args, *extra, ws=ws)


@pytest.fixture
def untrusted_model(demo_data: Path, tmp_path: Path) -> Path:
    """A skops file whose pipeline calls numpy.nan_to_num, a type skops does not trust."""
    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeClassifier

    train = pd.read_csv(demo_data / "reference.csv")
    model = make_pipeline(FunctionTransformer(np.nan_to_num),
                          DecisionTreeClassifier(max_depth=3, random_state=0))
    model.fit(train.drop(columns=["diagnosis"]), train["diagnosis"])
    path = tmp_path / "custom.skops"
    sio.dump(model, path)
    assert "numpy.nan_to_num" in sio.get_untrusted_types(file=path)
    return path


def test_untrusted_skops_types_are_refused(invoke, demo_ws, demo_data, untrusted_model,
                                           snapshot):
    before = snapshot(demo_ws)
    user_error(register(invoke, demo_ws, demo_data, untrusted_model),
               "types nobody trusted: numpy.nan_to_num", "--trust-type")
    assert snapshot(demo_ws) == before


def test_untrusted_skops_types_when_trusted(invoke, demo_ws, demo_data, untrusted_model):
    result = ok(register(invoke, demo_ws, demo_data, untrusted_model,
                         "--trust-type", "numpy.nan_to_num"))
    assert "trusted types: numpy.nan_to_num" in result.stdout
    info = as_json(invoke("show", "breast-cancer:3", "--json", ws=demo_ws))
    assert info["trusted_types"] == ["numpy.nan_to_num"]
    assert "numpy.nan_to_num" in ok(invoke("show", "breast-cancer:3", ws=demo_ws)).stdout
    ok(invoke("verify", "breast-cancer:3", ws=demo_ws))  # loads with the recorded trust


def test_pickle_needs_trust(invoke, demo_ws, demo_data, tmp_path, snapshot):
    import joblib
    import skops.io as sio

    stored = demo_data / "v2.skops"
    model = sio.load(stored, trusted=sio.get_untrusted_types(file=stored))
    joblib.dump(model, tmp_path / "model.joblib")
    before = snapshot(demo_ws)
    user_error(register(invoke, demo_ws, demo_data, tmp_path / "model.joblib"),
               "model.joblib is a pickle/joblib file", "--trust-pickle")
    assert snapshot(demo_ws) == before


@pytest.mark.parametrize("name, content, fragments", [
    ("model.skops", b"not a zip file", ["not a readable skops file", "skops.io.dump"]),
    ("model.txt", b"hello", ["unknown model format '.txt'", ".skops"]),
    ("missing.skops", None, ["does not exist", "check the path"]),
])
def test_bad_model_files(invoke, demo_ws, demo_data, tmp_path, snapshot, name, content,
                         fragments):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    before = snapshot(demo_ws)
    user_error(register(invoke, demo_ws, demo_data, path), *fragments)
    assert snapshot(demo_ws) == before


# -- register: data files -------------------------------------------------------------------


def test_model_columns_missing_from_data(invoke, demo_ws, demo_data, snapshot):
    diabetes = demo_ws / "demo-data" / "diabetes"
    before = snapshot(demo_ws)
    user_error(register(invoke, demo_ws, demo_data, demo_data / "v2.skops",
                        reference=diabetes / "reference.csv",
                        holdout=diabetes / "holdout.csv", target="progression"),
               "the reference data lacks 30 column(s) the model expects: mean radius",
               "pass the data the model was trained on")
    assert snapshot(demo_ws) == before


def _bad_csv(kind: str, data: Path, tmp_path: Path) -> tuple[dict[str, Path], list[str]]:
    """Write one broken data file; return the files to use and the expected fragments."""
    reference, holdout = data / "reference.csv", data / "holdout.csv"
    bad = tmp_path / f"{kind}.csv"
    text = reference.read_text()
    if kind == "empty":
        bad.write_bytes(b"")
        return {"reference": bad}, ["empty.csv is empty", "header row"]
    if kind == "header-only":
        bad.write_text(text.splitlines()[0] + "\n")
        return {"reference": bad}, ["has a header but no data rows"]
    if kind == "non-utf8":
        bad.write_bytes(text.replace("benign", "bénin", 1).encode("latin-1"))
        line = next(i for i, row in enumerate(text.splitlines(), 1) if "benign" in row)
        return {"reference": bad}, ["is not UTF-8", f"(line {line})", "iconv"]
    if kind == "ragged":
        lines = text.splitlines()
        lines[3] += ",42"
        bad.write_text("\n".join(lines) + "\n")
        return {"reference": bad}, ["line 4 has 32 fields", "header has 31", "quote"]
    if kind == "nan-target":
        frame = pd.read_csv(holdout)
        frame.loc[2, "diagnosis"] = None
        frame.to_csv(bad, index=False)
        return {"holdout": bad}, ["target column 'diagnosis' is empty in data row 3",
                                  "drop unlabeled rows"]
    if kind == "inf-feature":
        frame = pd.read_csv(reference)
        frame.loc[4, "mean radius"] = np.inf
        frame.to_csv(bad, index=False)
        return {"reference": bad}, ["infinite values in column 'mean radius' (data row 5)",
                                    "replace or drop them"]
    if kind == "no-target-column":
        pd.read_csv(holdout).drop(columns=["diagnosis"]).to_csv(bad, index=False)
        return {"holdout": bad}, ["no target column 'diagnosis'", "its columns are"]
    if kind == "missing-file":
        return {"reference": tmp_path / "nope.csv"}, ["nope.csv does not exist"]
    if kind == "wrong-format":
        bad = tmp_path / "data.xlsx"
        bad.write_bytes(b"PK")
        return {"reference": bad}, ["unsupported data format '.xlsx'", ".parquet"]
    if kind == "bad-parquet":
        bad = tmp_path / "data.parquet"
        bad.write_bytes(b"PAR1 garbage")
        return {"reference": bad}, ["not a readable Parquet file", "re-export"]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["empty", "header-only", "non-utf8", "ragged", "nan-target",
                                  "inf-feature", "no-target-column", "missing-file",
                                  "wrong-format", "bad-parquet"])
def test_bad_data_files(invoke, demo_ws, demo_data, tmp_path, snapshot, kind):
    files, fragments = _bad_csv(kind, demo_data, tmp_path)
    before = snapshot(demo_ws)
    result = register(invoke, demo_ws, demo_data, demo_data / "v2.skops", **files)
    user_error(result, *fragments)
    assert snapshot(demo_ws) == before


def test_register_quiet_error_is_exactly_one_line(invoke, demo_ws, demo_data, tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    result = register(invoke, demo_ws, demo_data, demo_data / "v2.skops", "--quiet",
                      reference=tmp_path / "empty.csv")
    user_error(result)
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_holdout_without_target(invoke, demo_ws, demo_data, snapshot):
    before = snapshot(demo_ws)
    user_error(register(invoke, demo_ws, demo_data, demo_data / "v2.skops", target=None),
               "needs its target column", "--target")
    assert snapshot(demo_ws) == before


def test_bad_parent(invoke, demo_ws, demo_data, snapshot):
    before = snapshot(demo_ws)
    user_error(register(invoke, demo_ws, demo_data, demo_data / "v2.skops",
                        "--parent", "breast-cancer:8"), "no version 8")
    assert snapshot(demo_ws) == before


def test_bad_ssh_key(invoke, demo_ws, tmp_path, snapshot):
    key = tmp_path / "key.pub"
    key.write_text("hello there")
    before = snapshot(demo_ws)
    user_error(invoke("users", "add", "dave", "--role", "reviewer", "--ssh-key", key,
                      ws=demo_ws), "not an OpenSSH public key", ".pub")
    key.write_bytes(b"\xff\xfe")
    user_error(invoke("users", "add", "dave", "--role", "reviewer", "--ssh-key", key,
                      ws=demo_ws), "cannot read the public key file", ".pub")
    assert snapshot(demo_ws) == before


# -- corrupt artifacts ----------------------------------------------------------------------


def _corrupt(ws: Path, sha: str) -> None:
    path = ws / "artifacts" / sha[:2] / sha
    path.chmod(0o644)
    path.write_bytes(b"tampered" + path.read_bytes()[8:])


def test_corrupt_model_artifact(invoke, demo_ws, snapshot):
    info = as_json(invoke("show", "breast-cancer:2", "--json", ws=demo_ws))
    _corrupt(demo_ws, info["artifact_sha256"])
    before = snapshot(demo_ws)
    # what the database records is still readable
    ok(invoke("show", "breast-cancer:2", ws=demo_ws))
    ok(invoke("compare", "breast-cancer:1", "breast-cancer:2", ws=demo_ws))
    # loading the artifact is refused
    user_error(invoke("verify", "breast-cancer:2", ws=demo_ws),
               f"breast-cancer:2: artifact {info['artifact_sha256'][:12]}… is corrupt",
               "restore that file from a backup")
    result = invoke("verify", ws=demo_ws)
    user_error(result, "1 of 4 versions failed the check (breast-cancer:2)", "lines above")
    assert result.stdout.splitlines() == [
        "breast-cancer:1  ok", result.stdout.splitlines()[1], "diabetes:1  ok",
        "diabetes:2  ok"]
    assert result.stdout.splitlines()[1].startswith("breast-cancer:2  FAILED: artifact ")
    report = as_json_failed(invoke("verify", "--json", ws=demo_ws))
    assert [r["ok"] for r in report] == [True, False, True, True]
    assert snapshot(demo_ws) == before


def as_json_failed(result):
    import json

    assert result.exit_code == 1
    return json.loads(result.stdout)


def test_corrupt_and_missing_data_artifacts(invoke, demo_ws):
    one = as_json(invoke("show", "breast-cancer:1", "--json", ws=demo_ws))
    two = as_json(invoke("show", "diabetes:2", "--json", ws=demo_ws))
    _corrupt(demo_ws, one["holdout_predictions_sha256"])
    path = demo_ws / "artifacts" / two["reference_sample_sha256"][:2]
    shutil.rmtree(path)
    result = invoke("verify", "breast-cancer:1", "diabetes:2", ws=demo_ws)
    user_error(result, "2 of 2 versions failed the check (breast-cancer:1, diabetes:2)")
    assert "is corrupt" in result.stdout and "is missing from" in result.stdout


def test_swapped_artifact_with_untrusted_types_is_refused(invoke, demo_ws, untrusted_model):
    # Someone replaces a stored model with one holding untrusted code, keeping the name
    # (and fixing the database's hash so the checksum passes): loading must still refuse.
    from modeldeck.core.workspace.artifacts import sha256_bytes

    data = untrusted_model.read_bytes()
    sha = sha256_bytes(data)
    (demo_ws / "artifacts" / sha[:2]).mkdir(exist_ok=True)
    (demo_ws / "artifacts" / sha[:2] / sha).write_bytes(data)
    sql(demo_ws, "PRAGMA foreign_keys = OFF")
    sql(demo_ws, "INSERT INTO artifacts (sha256, size, kind, created_at) VALUES (?,?,?,?)",
        sha, len(data), "registry", "2026-01-01T00:00:00.000000Z")
    sql(demo_ws, "UPDATE versions SET artifact_sha256 = ? WHERE version = 2 AND model_id = "
                 "(SELECT id FROM models WHERE name = 'breast-cancer')", sha)
    user_error(invoke("verify", "breast-cancer:2", ws=demo_ws), "numpy.nan_to_num",
               "--trust-type")


# -- unexpected errors ----------------------------------------------------------------------


def _explode(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("the disk caught fire\nsecond line")


def test_unexpected_error_is_one_line(invoke, demo_ws, monkeypatch):
    monkeypatch.setattr(modeldeck.core.registry.Registry, "list_models", _explode)
    result = invoke("models", ws=demo_ws)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr == ("error: unexpected RuntimeError: the disk caught fire "
                             "(run with --debug for the traceback)\n")


def test_debug_lets_the_exception_through(invoke, demo_ws, monkeypatch):
    monkeypatch.setattr(modeldeck.core.registry.Registry, "list_models", _explode)
    result = invoke("models", ws=demo_ws, debug=True)
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)


def test_debug_lets_user_errors_through(invoke, tmp_path):
    from modeldeck.core.errors import WorkspaceError

    result = invoke("models", ws=tmp_path / "missing", debug=True)
    assert result.exit_code == 1 and isinstance(result.exception, WorkspaceError)


def test_warnings_are_one_line(invoke, demo_ws, monkeypatch):
    import warnings

    def noisy(*_args: object, **_kwargs: object) -> list[object]:
        warnings.warn("something odd\nover two lines", UserWarning, stacklevel=1)
        return []

    monkeypatch.setattr(modeldeck.core.registry.Registry, "list_models", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        result = ok(invoke("models", ws=demo_ws))
    assert result.stderr == "warning: UserWarning: something odd over two lines\n"
