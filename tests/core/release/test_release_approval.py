"""Candidates, four-eyes approval with real SSH signatures, deployability, promotion.

Every signature here is made and checked by the real ``ssh-keygen``; the agent tests use a
real ``ssh-agent`` started (and stopped) by the test.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from release_helpers import ADMIN, Demo

from modeldeck.core.errors import (
    AlreadyExistsError,
    InvalidInputError,
    PermissionDeniedError,
    ReleaseError,
)
from modeldeck.core.progress import run
from modeldeck.core.release import NotDeployableError, SigningError, signing
from modeldeck.core.workspace import Workspace


def _sql(demo: Demo, statement: str, *params: object) -> list[tuple[object, ...]]:
    """Write to the workspace database behind ModelDeck's back (a compromised desktop)."""
    conn = sqlite3.connect(demo.path / "modeldeck.db", isolation_level=None)
    try:
        return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


def _manifest(demo: Demo, release_id: str) -> Path:
    return demo.path / "releases" / release_id / "manifest.json"


# --------------------------------------------------------------------------- creating


def test_create_builds_the_release_folder_and_records_the_gates(demo: Demo) -> None:
    cand = demo.create()
    assert cand.ref == "breast-cancer:2" and cand.author == "alice"
    assert cand.created_by == "alice" and cand.status == "awaiting-approval"
    assert cand.production == "breast-cancer:1" and cand.required_approvals == 1
    manifest = _manifest(demo, cand.release_id)
    assert cand.release_id.startswith("breast-cancer-v2-")
    assert signing.manifest_message(manifest).decode().strip() == cand.manifest_sha256
    assert json.loads(manifest.read_text())["release_id"] == cand.release_id
    gates = {g.name: g for g in cand.gates}
    assert list(gates) == ["artifact", "card", "metrics", "regression", "schema", "latency",
                           "drift"]
    assert gates["latency"].skipped and gates["drift"].skipped  # the fast policy
    assert cand.gates_passed and not cand.approvals
    entry = demo.releases(ADMIN).ws.audit_log(limit=1)[0]
    assert (entry.action, entry.subject, entry.actor) == ("release.create", f"release-{cand.id}",
                                                          "alice")


def test_failed_gates_block_review_until_they_pass(demo: Demo) -> None:
    demo.policy("breast-cancer", '[metrics]\naccuracy = 0.999\n[gates]\nskip = ["latency", '
                '"drift"]\n')
    cand = demo.create()
    assert cand.status == "gates-failed"
    assert [g.name for g in cand.gates if not g.passed] == ["metrics"]
    ok, why = demo.releases("bob").can_review(cand.id)
    assert not ok and "gates-failed" in why
    with pytest.raises(InvalidInputError, match="gates-failed"):
        demo.releases("bob").approve(cand.id, key=demo.keys["bob"])
    demo.policy("breast-cancer", '[gates]\nskip = ["latency", "drift"]\n')
    again = run(demo.releases("alice").run_gates(cand.id))
    assert again.status == "awaiting-approval" and again.gates_passed
    actions = [e.action for e in demo.releases("alice").timeline(cand.id)]
    assert actions == ["created", "gates", "gates"]


def test_a_version_has_one_open_candidate(demo: Demo) -> None:
    cand = demo.create()
    with pytest.raises(AlreadyExistsError, match=f"release show {cand.id}"):
        demo.create()


def test_a_reviewer_may_not_create_candidates(demo: Demo) -> None:
    with pytest.raises(PermissionDeniedError, match="may not create release candidates"):
        demo.create(user="bob")


# --------------------------------------------------------------------------- who may approve


def test_the_author_is_refused_as_approver(demo: Demo) -> None:
    cand = demo.create()
    with Workspace.open(demo.path, actor=ADMIN) as ws:  # alice becomes a reviewer too
        ws.set_role("alice", "reviewer")
        ws.set_user_key("alice", demo.keys["mallory"].with_suffix(".pub").read_text())
    alice = demo.releases("alice")
    ok, why = alice.can_review(cand.id)
    assert not ok and "you (alice) registered breast-cancer:2" in why
    with pytest.raises(PermissionDeniedError, match="four eyes"):
        alice.approve(cand.id, key=demo.keys["mallory"])
    assert demo.releases("bob").get(cand.id).approvals == ()


def test_whoever_opened_the_candidate_is_refused_too(demo: Demo) -> None:
    cand = demo.create(user=ADMIN)  # an admin may open candidates and approve others'
    assert cand.created_by == ADMIN and cand.author == "alice"
    with pytest.raises(PermissionDeniedError, match="opened the candidate"):
        demo.releases(ADMIN).approve(cand.id)


def test_a_non_reviewer_is_refused(demo: Demo) -> None:
    cand = demo.create()
    with Workspace.open(demo.path, actor=ADMIN) as ws:
        ws.add_user("erin", "data-scientist")
    erin = demo.releases("erin")
    assert erin.can_review(cand.id) == (
        False, "'erin' has role 'data-scientist'; only reviewers and admins approve or "
               "reject releases")
    with pytest.raises(PermissionDeniedError, match="approve or reject release candidates"):
        erin.approve(cand.id, key=demo.keys["bob"])
    with pytest.raises(PermissionDeniedError):
        demo.releases("nobody").reject(cand.id, comment="no")


def test_a_reviewer_without_a_registered_key_cannot_approve(demo: Demo) -> None:
    cand = demo.create()
    with Workspace.open(demo.path, actor=ADMIN) as ws:
        ws.add_user("frank", "reviewer")
    frank = demo.releases("frank")
    ok, why = frank.can_review(cand.id)
    assert not ok and "no SSH public key is registered for 'frank'" in why
    with pytest.raises(PermissionDeniedError, match="users set-key frank"):
        frank.approve(cand.id, key=demo.keys["mallory"])


# --------------------------------------------------------------------------- signing


def test_an_approval_is_a_real_ssh_signature_over_the_manifest(demo: Demo,
                                                               tmp_path: Path) -> None:
    cand = demo.create()
    bob = demo.releases("bob")
    assert bob.can_review(cand.id) == (True, "")
    approved = bob.approve(cand.id, comment="metrics up, schema only grows",
                           key=demo.keys["bob"])
    assert approved.status == "approved" and approved.valid_approvals == 1
    (approval,) = approved.approvals
    assert approval.reviewer == "bob" and approval.verified
    assert approval.comment == "metrics up, schema only grows"
    assert bob.check_deployable(cand.release_id) == approved
    # anyone can check it with OpenSSH alone
    signers = tmp_path / "allowed_signers"
    signers.write_text(signing.allowed_signers_text(bob.ws.users()))
    sig = tmp_path / "bob.sig"
    sig.write_text(bob.signatures_for(cand.id)["bob"])
    message = signing.manifest_message(_manifest(demo, cand.release_id))
    checked = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", "bob",
                              "-n", "modeldeck-release", "-s", str(sig)], input=message,
                             capture_output=True, check=False)
    assert checked.returncode == 0, checked.stderr
    actions = [(e.actor, e.action) for e in bob.timeline(cand.id)]
    assert actions[-2:] == [("bob", "approved"), ("bob", "release approved")]
    entry = bob.ws.audit_log(limit=1)[0]
    assert entry.action == "release.approve" and entry.payload["signature"] == approval.signature
    assert bob.ws.verify_audit().ok


def test_k_approvals_are_needed(demo: Demo) -> None:
    demo.policy("breast-cancer", '[approval]\nrequired = 2\n[gates]\nskip = ["latency", '
                '"drift"]\n')
    cand = demo.create()
    assert cand.required_approvals == 2
    first = demo.releases("bob").approve(cand.id, key=demo.keys["bob"])
    assert first.status == "awaiting-approval" and first.valid_approvals == 1
    with pytest.raises(NotDeployableError, match="awaiting-approval, not approved"):
        demo.releases(ADMIN).check_deployable(cand.id)
    with pytest.raises(InvalidInputError, match="already approved"):
        demo.releases("bob").approve(cand.id, key=demo.keys["bob"])
    second = demo.releases("dave").approve(cand.id, key=demo.keys["dave"])
    assert second.status == "approved" and second.valid_approvals == 2
    assert demo.releases(ADMIN).check_deployable(cand.id).id == cand.id
    assert set(demo.releases(ADMIN).signatures_for(cand.id)) == {"bob", "dave"}


def test_a_manifest_changed_after_approval_is_refused(demo: Demo) -> None:
    cand = demo.releases("bob").approve(demo.create().id, key=demo.keys["bob"])
    manifest = _manifest(demo, cand.release_id)
    data = json.loads(manifest.read_text())
    data["built_by"] = "mallory"  # outside the release id's digest: only signatures catch it
    manifest.write_text(json.dumps(data, indent=2, sort_keys=True))
    admin = demo.releases(ADMIN)
    (approval,) = admin.get(cand.id).approvals
    assert not approval.verified
    with pytest.raises(NotDeployableError, match="changed after it was approved") as caught:
        admin.check_deployable(cand.release_id)
    assert "release create breast-cancer:2" in (caught.value.fix or "")
    assert admin.signatures_for(cand.id) == {}


def test_a_changed_release_file_is_refused(demo: Demo) -> None:
    cand = demo.releases("bob").approve(demo.create().id, key=demo.keys["bob"])
    selfcheck = demo.path / "releases" / cand.release_id / "model" / "selfcheck.json"
    selfcheck.write_text(selfcheck.read_text().replace("[", "[ ", 1))
    with pytest.raises(NotDeployableError, match="was altered: model/selfcheck.json differs"):
        demo.releases(ADMIN).check_deployable(cand.id)
    # the damaged folder is built afresh for the new candidate — a second later, so that
    # its manifest (built_at, to the second) differs from the approved one
    built = json.loads((selfcheck.parents[1] / "manifest.json").read_text())["built_at"]
    while datetime.now(timezone.utc).replace(microsecond=0).isoformat() == built:
        time.sleep(0.05)
    again = demo.create()
    assert again.gates_passed and again.manifest_sha256 != cand.manifest_sha256
    with pytest.raises(NotDeployableError, match="changed after it was approved"):
        demo.releases(ADMIN).check_deployable(cand.id)


def test_signing_with_an_unregistered_key_is_refused(demo: Demo) -> None:
    cand = demo.create()
    with pytest.raises(ReleaseError, match="other than the one registered for 'bob'"):
        demo.releases("bob").approve(cand.id, key=demo.keys["mallory"])
    assert demo.releases(ADMIN).get(cand.id).approvals == ()


def test_an_approval_not_matching_the_registered_key_does_not_count(demo: Demo) -> None:
    cand = demo.create()
    message = signing.manifest_message(_manifest(demo, cand.release_id))
    forged = signing.sign(message, demo.keys["mallory"])  # a claimed name, someone else's key
    _sql(demo, "INSERT INTO release_approvals (candidate_id, reviewer, decision, comment, at, "
         "manifest_sha256, signature) VALUES (?, 'bob', 'approve', '', '2026-11-27', ?, ?)",
         cand.id, cand.manifest_sha256, forged)
    _sql(demo, "UPDATE release_candidates SET status = 'approved' WHERE id = ?", cand.id)
    admin = demo.releases(ADMIN)
    (approval,) = admin.get(cand.id).approvals
    assert approval.reviewer == "bob" and not approval.verified
    with pytest.raises(NotDeployableError, match=r"0 of 1 approvals .*\(not verifying: bob\)"):
        admin.check_deployable(cand.id)


def test_an_approval_stops_counting_when_the_reviewers_key_is_replaced(demo: Demo) -> None:
    cand = demo.releases("bob").approve(demo.create().id, key=demo.keys["bob"])
    admin = demo.releases(ADMIN)
    admin.ws.set_user_key("bob", demo.keys["mallory"].with_suffix(".pub").read_text())
    assert not admin.get(cand.id).approvals[0].verified
    with pytest.raises(NotDeployableError, match="not verifying: bob") as caught:
        admin.check_deployable(cand.id)
    assert "release create breast-cancer:2" in (caught.value.fix or "")
    again = demo.create()  # the fix works: a new candidate over the same release folder
    assert again.id != cand.id and again.release_id == cand.release_id
    assert again.manifest_sha256 == cand.manifest_sha256


def test_approving_with_ssh_agent(demo: Demo, ssh_agent: dict[str, str]) -> None:
    cand = demo.create()
    bob = demo.releases("bob")
    with pytest.raises(SigningError, match="holds no private key for the registered"):
        bob.approve(cand.id)  # the agent is empty
    subprocess.run(["ssh-add", "-q", str(demo.keys["mallory"])], check=True)
    with pytest.raises(SigningError, match="holds no private key for the registered"):
        bob.approve(cand.id)  # a key, but not bob's registered one
    subprocess.run(["ssh-add", "-q", str(demo.keys["bob"])], check=True)
    approved = bob.approve(cand.id, comment="signed by the agent")
    assert approved.status == "approved" and approved.approvals[0].verified


def test_approving_without_key_or_agent_names_the_fix(demo: Demo,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    cand = demo.create()
    with pytest.raises(SigningError, match="no ssh-agent is running") as caught:
        demo.releases("bob").approve(cand.id)
    assert "--key PRIVATE_KEY" in (caught.value.fix or "")


# --------------------------------------------------------------------------- rejecting


def test_a_rejection_needs_a_comment_and_blocks_the_release(demo: Demo) -> None:
    cand = demo.create()
    bob = demo.releases("bob")
    with pytest.raises(InvalidInputError, match="needs a comment"):
        bob.reject(cand.id, key=demo.keys["bob"])
    rejected = bob.reject(cand.id, comment="holdout too small", key=demo.keys["bob"])
    assert rejected.status == "rejected"
    (decision,) = rejected.approvals
    assert decision.decision == "reject" and decision.verified
    with pytest.raises(InvalidInputError, match="is rejected"):
        demo.releases("dave").approve(cand.id, key=demo.keys["dave"])
    with pytest.raises(NotDeployableError, match="is rejected, not approved"):
        bob.check_deployable(cand.id)
    assert [e.action for e in bob.timeline(cand.id)][-1] == "rejected"
    # a rejected version may be put up again
    assert demo.create().id != cand.id


# --------------------------------------------------------------------------- deploy records


def test_deployed_moves_production_and_rolled_back_moves_it_back(demo: Demo) -> None:
    cand = demo.releases("bob").approve(demo.create().id, key=demo.keys["bob"])
    admin = demo.releases(ADMIN)
    deployed = admin.record_deployed(cand.id, ["edge-2", "edge-1"])
    assert deployed.status == "deployed"
    assert admin.registry.get_version("breast-cancer@production").version == 2
    assert admin.check_deployable(cand.id).status == "deployed"  # more hosts may follow
    rolled = admin.record_rolled_back(cand.id, ["edge-1", "edge-2"])
    assert rolled.status == "rolled-back"
    assert admin.registry.get_version("breast-cancer@production").version == 1
    events = [(e.action, e.detail) for e in admin.timeline(cand.id)]
    assert events[-2:] == [("deployed", "to edge-1, edge-2; production 1 → 2"),
                           ("rolled back", "on edge-1, edge-2; production 2 → 1")]
    actions = [e.action for e in admin.ws.audit_log(limit=4)]
    assert actions == ["release.rolled-back", "alias.set", "release.deployed", "alias.set"]
    assert admin.ws.verify_audit().ok
    with pytest.raises(InvalidInputError, match="nothing to roll back"):
        admin.record_rolled_back(cand.id, ["edge-1"])


def test_an_unapproved_release_is_not_recorded_as_deployed(demo: Demo) -> None:
    cand = demo.create()
    with pytest.raises(NotDeployableError, match="a reviewer approves it with"):
        demo.releases(ADMIN).record_deployed(cand.id, ["edge-1"])
    with pytest.raises(NotDeployableError, match="was never a release candidate"):
        demo.releases(ADMIN).check_deployable("breast-cancer-v1-000000000000")


def test_only_deployers_record_deploys(demo: Demo) -> None:
    cand = demo.releases("bob").approve(demo.create().id, key=demo.keys["bob"])
    with pytest.raises(PermissionDeniedError, match="deploy or roll back"):
        demo.releases("bob").record_deployed(cand.id, ["edge-1"])


def test_the_comparison_with_production(demo: Demo) -> None:
    demo.policy("breast-cancer", "")  # every gate, drift included
    cand = demo.create()
    admin = demo.releases(ADMIN)
    comparison = admin.compare_to_production(cand.id)
    assert comparison.candidate == "breast-cancer:2"
    assert comparison.production == "breast-cancer:1"
    metrics = {m.name: m for m in comparison.metrics}
    assert metrics["accuracy"].delta is not None and metrics["accuracy"].delta > 0
    assert len(comparison.schema.added) == 20 and not comparison.schema.removed
    production = admin.registry.get_version("breast-cancer:1")
    assert {d.name for d in comparison.drift} == set(production.feature_names)
    assert comparison.drift_summary.startswith("No relevant drift")
