"""Deploys and release approval together, against the real fleet: the deployer refuses a
version nobody approved (or whose approved manifest changed since), deploys the approved
release folder with its signatures, records it on the release's timeline and moves
``production``; a host whose admin requires signatures checks them itself with
``ssh-keygen -Y verify`` and refuses an unsigned release."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_deploy import _deploy, _ready, _register

from modeldeck.core.deploy import rollout as ro
from modeldeck.core.progress import run
from modeldeck.core.registry import Registry
from modeldeck.core.release import NotDeployableError, Releases
from modeldeck.core.workspace import Workspace

#: skips the two slowest gates (their own tests are in tests/core/release)
FAST_POLICY = '[gates]\nskip = ["latency", "drift"]\n'


@pytest.fixture
def workspace(make_workspace: Callable[..., Path]) -> Iterator[Workspace]:
    with Workspace.open(make_workspace(demo=True), actor="carol") as ws:
        yield ws


def _require_signatures(h: Any, public_key: Path, reviewer: str) -> None:
    """What the host's admin does: an allowed-signers file under the deploy root's
    ``.modeldeck`` (``/etc/modeldeck/allowed_signers`` on a real host)."""
    meta = h.home / "modeldeck" / ".modeldeck"
    meta.mkdir(parents=True, exist_ok=True)
    kind, blob = public_key.read_text().split()[:2]
    (meta / "allowed_signers").write_text(f"{reviewer} {kind} {blob}\n")
    for path in (h.home / "modeldeck", meta, meta / "allowed_signers"):
        subprocess.run(["chown", f"{h.uid}:{h.gid}", str(path)], check=True)


def test_only_approved_releases_deploy_and_a_signing_host_checks_them(
        ssh_fleet: Any, host_wheelhouse: Any, workspace: Workspace,
        ssh_key: Callable[[str], Path]) -> None:
    [h] = ssh_fleet(1)
    [host] = _register(workspace, [h])
    bob = ssh_key("bob")
    workspace.set_user_key("bob", bob.with_suffix(".pub").read_text())
    # breast-cancer v2 reaches the host unreviewed first (its policy allows it for now)
    policy = Path(workspace.path) / "policies" / "breast-cancer.toml"
    policy.write_text(FAST_POLICY + "[approval]\nrequired_for_deploy = false\n")
    first = _deploy(workspace, "breast-cancer:2", [host], host_wheelhouse)
    assert first.ok, first.results
    before = first.release_id
    # as if the host's copy came from another desktop's build: same files and id, another
    # built_at — the signed manifest must reach the host anyway
    on_host = h.home / "modeldeck" / "releases" / before / "manifest.json"
    twin = json.loads(on_host.read_text())
    twin["built_at"] = "2020-01-01T00:00:00+00:00"
    on_host.write_text(json.dumps(twin))
    _require_signatures(h, bob.with_suffix(".pub"), "bob")
    try:
        _walk(h, host, workspace, host_wheelhouse, bob, before)
    finally:
        (h.home / "modeldeck" / ".modeldeck" / "allowed_signers").unlink()


def _walk(h: Any, host: Any, workspace: Workspace, host_wheelhouse: Any, bob: Path,
          before: str) -> None:
    # diabetes may deploy unreviewed (the demo's policy) — but this host refuses it
    unsigned = _deploy(workspace, "diabetes@staging", [host], host_wheelhouse)
    [r] = unsigned.results
    assert r.outcome == "failed" and "runs only releases its reviewers signed" in r.error, r
    assert ro.host_state(workspace, host, lambda n: None).release_id == before

    # breast-cancer under the default policy: nothing deploys before a reviewer approves
    (Path(workspace.path) / "policies" / "breast-cancer.toml").write_text(FAST_POLICY)
    with pytest.raises(NotDeployableError, match="was never a release candidate") as refused:
        _deploy(workspace, "breast-cancer:2", [host], host_wheelhouse)
    assert "release create" in refused.value.fix
    candidate = run(Releases(workspace.as_user("alice")).create("breast-cancer:2"))
    assert candidate.status == "awaiting-approval", [g.detail for g in candidate.gates]
    with pytest.raises(NotDeployableError, match="not approved"):
        _deploy(workspace, "breast-cancer:2", [host], host_wheelhouse)
    Releases(workspace.as_user("bob")).approve(candidate.id, "fine", key=bob)

    # the release is on the host already (unsigned): the deploy sends the signatures
    assert candidate.release_id == before
    deployed = _deploy(workspace, "breast-cancer:2", [host], host_wheelhouse)
    assert deployed.ok and deployed.release_id == candidate.release_id, [
        r.error for r in deployed.results]
    assert deployed.results[0].bytes_sent == 0
    assert _ready(h)["release"] == candidate.release_id
    signatures = h.home / "modeldeck" / "signatures" / candidate.release_id / "bob.sig"
    assert signatures.read_text().startswith("-----BEGIN SSH SIGNATURE-----")
    after = Releases(workspace).get(candidate.id)
    assert after.status == "deployed"
    assert Registry(workspace).get_version("breast-cancer@production").version == 2
    assert [e.action for e in Releases(workspace).timeline(candidate.id)][-1] == "deployed"

    # the approved files changed on this desktop: the approval no longer covers them
    manifest = Releases(workspace).release_dir(after) / "manifest.json"
    manifest.write_bytes(manifest.read_bytes() + b"\n")
    with pytest.raises(NotDeployableError, match="changed after it was approved"):
        _deploy(workspace, "breast-cancer:2", [host], host_wheelhouse)
    assert _ready(h)["release"] == candidate.release_id
