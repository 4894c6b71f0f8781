"""A pinned host, against the real fleet: its admin installed ModelDeck's agent as the
forced command of the deploy key (``modeldeck hosts pin`` writes the kit), so a desktop —
even a compromised one — can only call that agent: no shell, files only through
``receive``, the admin's Python and wheels only, and no switch to a release no reviewer
signed. An approved release deploys there as anywhere else."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from deploy_support.sshfleet import SYSTEM_PYTHON
from test_deploy import PORT, _deploy, _ready, _register

from modeldeck.core.deploy import pinning
from modeldeck.core.deploy import rollout as ro
from modeldeck.core.deploy import trust
from modeldeck.core.deploy.session import AgentRefused, HostSession, agent_source
from modeldeck.core.progress import run
from modeldeck.core.release import Releases
from modeldeck.core.workspace import Workspace

FAST_POLICY = '[gates]\nskip = ["latency", "drift"]\n'


@pytest.fixture
def workspace(make_workspace: Callable[..., Path]) -> Iterator[Workspace]:
    with Workspace.open(make_workspace(demo=True), actor="carol") as ws:
        yield ws


def _pin(h: Any, workspace: Workspace, host: Any, wheels: Path, tmp_path: Path) -> Any:
    """What the host's admin does with the kit: the agent, the allowed signers and the
    wheels root-readable outside the deploy user's reach, and the deploy key forced to run
    the agent (a key of its own here, so the fleet's other tests keep their shell)."""
    kit = pinning.write_kit(workspace, host, tmp_path / "kit",
                            key=Path(h.client_key_path).with_suffix(".pub"), wheelhouse=wheels)
    assert (kit.folder / "agent.py").read_bytes() == agent_source()
    assert "bob" in (kit.folder / "allowed_signers").read_text()
    assert kit.command in (kit.folder / "authorized_keys.line").read_text()
    assert kit.key_known and "--pinned" in kit.command
    installed = h._fleet.base / f"pinned-{secrets.token_hex(3)}"
    shutil.copytree(kit.folder, installed)
    subprocess.run(["chmod", "-R", "go+rX,go-w", str(installed)], check=True)
    return h._fleet.forced_key(
        installed.name, f"{SYSTEM_PYTHON} {installed}/agent.py --pinned --root pinned-root "
                        f"--allowed-signers {installed}/allowed_signers "
                        f"--wheelhouse {installed}/wheelhouse")


def test_a_pinned_host_runs_only_signed_releases_and_nothing_else(
        ssh_fleet: Any, host_wheelhouse: Any, workspace: Workspace, tmp_path: Path,
        ssh_key: Callable[[str], Path]) -> None:
    [h] = ssh_fleet(1, fresh=True)
    bob = ssh_key("bob")
    workspace.set_user_key("bob", bob.with_suffix(".pub").read_text())
    [host] = _register(workspace, [h])
    key = _pin(h, workspace, host, host_wheelhouse.path, tmp_path)
    [host] = _register_pinned(workspace, host, key)
    lookup = {host.name: host}.get

    # the desktop sees the pin, and refuses up front what the host would refuse
    policy = Path(workspace.path) / "policies" / "breast-cancer.toml"
    policy.write_text(FAST_POLICY + "[approval]\nrequired_for_deploy = false\n")
    unsigned = _deploy(workspace, "breast-cancer:2", [host], host_wheelhouse)
    [r] = unsigned.results
    assert r.outcome == "failed" and "runs only releases its reviewers signed" in r.error, r

    # a compromised desktop gets no shell, and the agent itself refuses the switch
    session = HostSession.start(trust.connect(workspace, host, lookup), host)
    try:
        assert session.pinned and session.root == str(h.home / "pinned-root")
        shell = session.connection.run(f"touch {h.home}/owned")
        assert shell.returncode == 2 and b"runs only ModelDeck's pinned agent" in shell.stdout
        assert not (h.home / "owned").exists()
        release = ro.build_for_deploy(workspace, "breast-cancer:2")
        prepared = session.agent("prepare", "--release", release.release_id,
                                 stdin=release.manifest_bytes())
        session.send_files(release.path, prepared["missing"],
                           session.path("releases", release.release_id + ".partial"),
                           release.release_id)
        assert session.agent("stage", "--release", release.release_id)["files"] > 0
        python = session.agent("probe")["python"]["executable"]
        with pytest.raises(AgentRefused, match="only runs approved releases"):
            session.agent("activate", "--release", release.release_id, "--python", python)
        with pytest.raises(AgentRefused, match="runs only .* or an environment it installed"):
            session.agent("activate", "--release", release.release_id, "--python", "/bin/sh")
        with pytest.raises(AgentRefused, match="takes no wheels from the desktop"):
            session.agent("prepare-wheels", stdin=b'{"files": {}}')
        with pytest.raises(AgentRefused, match="only name==version"):
            session.agent("install-env", "--hash", "x1", "--requirements-file", "-",
                          stdin=f"--find-links {session.root}/releases\nevil==1\n".encode())
    finally:
        session.close()
    assert not (h.home / "pinned-root" / "current").exists()

    # approved, the same release deploys: its environment from the host's own wheels
    policy.write_text(FAST_POLICY)
    candidate = run(Releases(workspace.as_user("alice")).create("breast-cancer:2"))
    Releases(workspace.as_user("bob")).approve(candidate.id, "fine", key=bob)
    deployed = _deploy(workspace, "breast-cancer:2", [host], host_wheelhouse)
    assert deployed.ok, [x.error for x in deployed.results]
    [r] = deployed.results
    assert r.env.startswith(str(h.home / "pinned-root" / "envs")), r.env
    assert _ready(h)["release"] == candidate.release_id
    status = ro.host_state(workspace, host, lookup)
    assert status.release_id == candidate.release_id and status.healthy, status


def _register_pinned(workspace: Workspace, host: Any, key: Path) -> list[Any]:
    from modeldeck.core.deploy.hosts import HostStore

    store = HostStore(workspace)
    store.update(host.name, identity_file=str(key), root="~/pinned-root",
                 serve_port=PORT)
    return [store.get(host.name)]
