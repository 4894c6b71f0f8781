"""`modeldeck release ...` on the demo: create, gates, approve with a real SSH key, reject,
timeline, verify (checked again with plain `ssh-keygen -Y verify`), policy."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import as_json, ok, user_error

ALICE = {"MODELDECK_USER": "alice"}
BOB = {"MODELDECK_USER": "bob"}
FAST = '[gates]\nskip = ["latency", "drift"]\n'


@pytest.fixture
def reviewed(invoke, demo_ws: Path, tmp_path: Path,
             ssh_key: Callable[[str], Path]) -> dict[str, Path]:
    """bob's key registered by the admin; a fast policy for breast-cancer; bob's and a
    stranger's private keys."""
    keys = {name: ssh_key(name) for name in ("bob", "stranger")}
    ok(invoke("users", "set-key", "bob", keys["bob"].with_suffix(".pub"), ws=demo_ws))
    (demo_ws / "policies").mkdir(exist_ok=True)
    (demo_ws / "policies" / "breast-cancer.toml").write_text(FAST)
    return keys


def _create(invoke, ws: Path) -> dict:
    return as_json(invoke("release", "create", "breast-cancer:2", "--json", ws=ws, env=ALICE))


def test_create_show_list(invoke, demo_ws: Path, reviewed: dict[str, Path]) -> None:
    created = invoke("release", "create", "breast-cancer:2", ws=demo_ws, env=ALICE)
    ok(created)
    assert "[  2%] building the release folder of breast-cancer:2" in created.stderr
    assert "gate 7/7: drift" in created.stderr
    text = created.stdout
    assert text.startswith("Release candidate 1: breast-cancer:2 — awaiting-approval")
    for line in ("metrics     pass", "regression  pass", "latency     skipped"):
        assert line in text
    assert "against production breast-cancer:1, both scored on the candidate's holdout" in text
    assert "schema: added 20 column(s)" in text
    assert "Next: a reviewer other than alice runs" in text
    shown = as_json(invoke("release", "show", "1", "--json", ws=demo_ws))
    assert shown["status"] == "awaiting-approval" and shown["ref"] == "breast-cancer:2"
    gates = {g["name"]: g for g in shown["gates"]}
    assert gates["metrics"]["value"]["accuracy"] > gates["metrics"]["threshold"]["accuracy"]
    assert shown["comparison"]["production"] == "breast-cancer:1"
    assert {m["name"] for m in shown["comparison"]["metrics"]} >= {"accuracy", "roc_auc"}
    listed = ok(invoke("release", "list", ws=demo_ws)).stdout
    assert "breast-cancer:2" in listed and "awaiting-approval" in listed and "7/7" in listed
    assert as_json(invoke("release", "list", "--status", "approved", "--json", ws=demo_ws)) == []
    assert "No release candidates match" in ok(invoke("release", "list", "--model", "diabetes",
                                                      ws=demo_ws)).stdout


def test_approve_verify_and_check_with_ssh_keygen(invoke, demo_ws: Path,
                                                  reviewed: dict[str, Path],
                                                  tmp_path: Path) -> None:
    cand = _create(invoke, demo_ws)
    user_error(invoke("release", "approve", cand["id"], "--key", reviewed["bob"], ws=demo_ws,
                      env=ALICE), "may not approve or reject release candidates")
    user_error(invoke("release", "verify", cand["id"], ws=demo_ws),
               "awaiting-approval, not approved", "release approve 1")
    user_error(invoke("release", "approve", cand["id"], "--key", reviewed["stranger"],
                      ws=demo_ws, env=BOB), "other than the one registered for 'bob'")
    approved = ok(invoke("release", "approve", cand["id"], "--comment", "ship it", "--key",
                         reviewed["bob"], ws=demo_ws, env=BOB)).stdout
    assert "Approved candidate 1 (breast-cancer:2) as bob with a valid signature" in approved
    assert "1/1 approvals, now approved" in approved
    assert "bob       approve   valid" in ok(invoke("release", "show", "1", ws=demo_ws)).stdout
    out = tmp_path / "proof"
    checked = ok(invoke("release", "verify", cand["release_id"], "--export", out,
                        ws=demo_ws)).stdout
    assert f"Release {cand['release_id']} (candidate 1, breast-cancer:2) may be deployed" \
        in checked
    command = checked.strip().splitlines()[-1].split("Check with: ", 1)[1]
    done = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and 'Good "modeldeck-release" signature for bob' in done.stdout
    timeline = ok(invoke("release", "timeline", "1", ws=demo_ws)).stdout
    assert [line.split()[3] for line in timeline.splitlines()[1:]] == [
        "created", "gates", "approved", "release"]
    events = as_json(invoke("release", "timeline", "1", "--json", ws=demo_ws))
    assert events[2]["actor"] == "bob" and events[2]["detail"] == "signed: ship it"


def test_a_changed_manifest_fails_verify(invoke, demo_ws: Path,
                                         reviewed: dict[str, Path]) -> None:
    cand = _create(invoke, demo_ws)
    ok(invoke("release", "approve", "1", "--key", reviewed["bob"], ws=demo_ws, env=BOB))
    manifest = demo_ws / "releases" / cand["release_id"] / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"built_by": "alice"',
                                                     '"built_by": "mallory"'))
    user_error(invoke("release", "verify", "1", ws=demo_ws), "changed after it was approved",
               "release create breast-cancer:2")
    assert "bob       approve   INVALID" in ok(invoke("release", "show", "1", ws=demo_ws)).stdout


def test_reject_needs_a_comment(invoke, demo_ws: Path, reviewed: dict[str, Path]) -> None:
    _create(invoke, demo_ws)
    usage = invoke("release", "reject", "1", ws=demo_ws, env=BOB)
    assert usage.exit_code == 2 and "--comment" in usage.stderr
    done = ok(invoke("release", "reject", "1", "--comment", "needs more holdout rows", "--key",
                     reviewed["bob"], ws=demo_ws, env=BOB))
    assert done.stdout.strip() == "Rejected candidate 1 (breast-cancer:2)."
    shown = as_json(invoke("release", "show", "1", "--json", ws=demo_ws))
    assert shown["status"] == "rejected"
    assert shown["approvals"][0]["comment"] == "needs more holdout rows"


def test_gates_again_after_a_policy_change(invoke, demo_ws: Path,
                                           reviewed: dict[str, Path]) -> None:
    policy = demo_ws / "policies" / "breast-cancer.toml"
    policy.write_text("[metrics]\nroc_auc = 0.999\n" + FAST)
    cand = _create(invoke, demo_ws)
    assert cand["status"] == "gates-failed"
    assert "metrics     FAIL" in ok(invoke("release", "show", "1", ws=demo_ws)).stdout
    user_error(invoke("release", "create", "breast-cancer:2", ws=demo_ws, env=ALICE),
               "already has an open release candidate", "release gates 1")
    policy.write_text(FAST)
    again = as_json(invoke("release", "gates", "1", "--json", ws=demo_ws, env=ALICE))
    assert again["status"] == "awaiting-approval" and again["gates_passed"]


def test_policy_show_and_init(invoke, demo_ws: Path) -> None:
    (demo_ws / "policies" / "diabetes.toml").unlink()  # the demo's: deploys without review
    shown = ok(invoke("release", "policy", "diabetes", ws=demo_ws)).stdout
    assert shown.startswith("Gate policy of diabetes: defaults (no ")
    assert "holdout metrics  regression: r2 0.2" in shown
    written = ok(invoke("release", "policy", "diabetes", "--init", ws=demo_ws, env=ALICE))
    path = demo_ws / "policies" / "diabetes.toml"
    assert f"Wrote the default policy to {path}" in written.stdout
    assert f"Gate policy of diabetes: {path}" in written.stdout
    user_error(invoke("release", "policy", "diabetes", "--init", ws=demo_ws, env=ALICE),
               "exists already", "--force")
    path.write_text("[approval]\nrequired = 2\n")
    assert as_json(invoke("release", "policy", "diabetes", "--json",
                          ws=demo_ws))["required_approvals"] == 2
    path.write_text("[approval]\nrequired = 'two'\n")
    user_error(invoke("release", "policy", "diabetes", ws=demo_ws),
               "[approval] required must be a whole number")
    user_error(invoke("release", "policy", "nosuch", ws=demo_ws), "no model named 'nosuch'")


def test_errors_name_the_fix(invoke, demo_ws: Path) -> None:
    user_error(invoke("release", "show", "9", ws=demo_ws), "no release candidate 9",
               "release list")
    user_error(invoke("release", "create", "breast-cancer:2", ws=demo_ws, env=BOB),
               "may not create release candidates")
    user_error(invoke("release", "verify", "breast-cancer-v9-123456789abc", ws=demo_ws),
               "was never a release candidate")
