"""Deploys against a real fleet: OpenSSH sshd daemons on 127.0.0.X, one Unix user per host,
the hosts' own /usr/bin/python3 (no numpy there: the environment comes from a wheelhouse,
installed offline, as on an air-gapped host)."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modeldeck.core.deploy import rollout as ro
from modeldeck.core.deploy import trust
from modeldeck.core.deploy.hosts import Host, HostStore
from modeldeck.core.errors import DeployError, HostKeyError
from modeldeck.core.progress import CancelToken, run
from modeldeck.core.workspace import Workspace

PORT = 18080


@pytest.fixture
def workspace(make_workspace: Callable[..., Path]) -> Iterator[Workspace]:
    with Workspace.open(make_workspace(demo=True)) as ws:
        yield ws


def _register(ws: Workspace, hosts: list[Any], trust_keys: bool = True,
              **changes: Any) -> list[Host]:
    store = HostStore(ws)
    out = []
    for h in hosts:
        settings = {"python": h.python, **changes.get(h.name, {})}
        host = Host(name=h.name, transport="ssh", hostname=h.address, port=h.port,
                    user=h.user, identity_file=str(h.client_key_path), root="~/modeldeck",
                    serve_bind=h.address, serve_port=PORT, **settings)
        store.add(host)
        out.append(store.get(h.name))
        if trust_keys:
            lookup = {x.name: x for x in store.list()}.get
            trust.trust_host(ws, out[-1], lookup, fingerprint=h.host_key_fingerprint)
    return out


def _ready(h: Any) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{h.address}:{PORT}/v1/model", timeout=5) as r:
        return json.loads(r.read())


def _deploy(ws: Workspace, ref: str, hosts: list[Host], wheelhouse: Any, **options: Any
            ) -> ro.RolloutResult:
    opts = ro.DeployOptions(wheelhouse=wheelhouse.path, ready_timeout=60, **options)
    return run(ro.rollout(ws, ref, hosts, opts))


def test_first_deploy_redeploy_and_rollback(ssh_fleet: Any, host_wheelhouse: Any,
                                            workspace: Workspace) -> None:
    [h] = ssh_fleet(1, fresh=True)
    hosts = _register(workspace, [h])
    first = _deploy(workspace, "breast-cancer@production", hosts, host_wheelhouse)
    assert first.ok, [r.error for r in first.results]
    r = first.results[0]
    assert r.running == first.release_id and r.bytes_sent > 0
    assert _ready(h)["release"] == first.release_id
    # the same release again: nothing of the model is sent, the host keeps serving it
    again = _deploy(workspace, "breast-cancer@production", hosts, host_wheelhouse)
    assert again.ok and again.results[0].bytes_sent == 0
    # the next version: the runtime code is hard-linked on the host, only new bytes go
    second = _deploy(workspace, "breast-cancer@staging", hosts, host_wheelhouse)
    assert second.ok, [r.error for r in second.results]
    assert 0 < second.results[0].bytes_sent < r.bytes_sent
    assert second.results[0].bytes_linked > 0
    assert _ready(h)["release"] == second.release_id
    states = ro.fleet_status(workspace, hosts)
    assert states[0].healthy and states[0].release_id == second.release_id
    started = time.monotonic()
    back = run(ro.rollback(workspace, hosts))
    assert back.ok, [r.error for r in back.results]
    assert back.results[0].running == first.release_id
    assert _ready(h)["release"] == first.release_id
    assert time.monotonic() - started < 30
    history = HostStore(workspace)  # history is recorded and audited
    from modeldeck.core.deploy import hosts as hosts_mod

    rows = hosts_mod.deployments(workspace, host=h.name)
    assert [d.action for d in rows][:2] == ["rollback", "deploy"]
    assert history is not None
    actions = [e.action for e in workspace.audit_log(limit=20)]
    assert "deploy.rollback" in actions and "deploy.deploy" in actions


def test_unknown_and_changed_host_keys_are_refused(ssh_fleet: Any,
                                                   workspace: Workspace) -> None:
    [h] = ssh_fleet(1)
    [host] = _register(workspace, [h], trust_keys=False)
    with pytest.raises(HostKeyError) as unknown:
        trust.connect(workspace, host, lambda n: None)
    assert unknown.value.fingerprint == h.host_key_fingerprint
    assert not unknown.value.changed
    with pytest.raises(HostKeyError, match="not the expected"):
        trust.trust_host(workspace, host, lambda n: None, fingerprint="SHA256:" + "A" * 43)
    with pytest.raises(HostKeyError, match="not accepted"):
        trust.trust_host(workspace, host, lambda n: None, confirm=lambda scanned: False)
    trust.trust_host(workspace, host, lambda n: None, confirm=lambda scanned: True)
    trust.connect(workspace, host, lambda n: None).close()
    h.rotate_host_key()
    try:
        with pytest.raises(HostKeyError) as changed:
            trust.connect(workspace, host, lambda n: None)
        assert changed.value.changed and "man-in-the-middle" in str(changed.value)
        with pytest.raises(HostKeyError, match="NOT trusted"):
            trust.trust_host(workspace, host, lambda n: None, confirm=lambda s: True)
        assert trust.untrust_host(workspace, host) == 1
        trust.trust_host(workspace, host, lambda n: None, fingerprint=h.host_key_fingerprint)
        trust.connect(workspace, host, lambda n: None).close()
    finally:
        pass


def test_a_command_s_output_is_read_to_its_end(ssh_fleet: Any, workspace: Workspace,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """sshd sends a command's exit status as soon as its shell exits, which can be before
    the last of its output: the output is read to the end of the stream, not to the exit
    status; a process left holding the stream open is waited for at most OUTPUT_GRACE."""
    from modeldeck.core.deploy import transport

    [h] = ssh_fleet(1)
    [host] = _register(workspace, [h])
    with trust.connect(workspace, host, lambda n: None) as conn:
        # the shell exits at once; its child writes a moment later
        done = conn.run("(sleep 0.4; echo late; echo later >&2) & echo early; exit 3")
        assert done.returncode == 3
        assert done.text().split() == ["early", "late"]
        assert done.stderr.decode().strip() == "later"
        # a child that keeps the stream open for long is not waited for
        monkeypatch.setattr(transport, "OUTPUT_GRACE", 0.3)
        done = conn.run("(sleep 20; echo never) & echo now")
        assert done.returncode == 0 and done.text().split() == ["now"]


def test_proxy_jump_through_another_host(ssh_fleet: Any, workspace: Workspace) -> None:
    bastion, target = ssh_fleet(2)
    hosts = _register(workspace, [bastion, target], **{target.name: {"proxy_jump":
                                                                      bastion.name}})
    lookup = {x.name: x for x in hosts}.get
    with trust.connect(workspace, hosts[1], lookup) as conn:
        assert conn.run("id -un").text().strip() == target.user
    # the target is reached from the bastion: with the bastion's sshd gone, it is not
    bastion.kill()
    try:
        with pytest.raises(DeployError):
            trust.connect(workspace, hosts[1], lookup, timeout=3)
    finally:
        bastion.restart()


def test_parallel_rollout_to_five_hosts_with_a_canary(ssh_fleet: Any, host_wheelhouse: Any,
                                                      workspace: Workspace) -> None:
    fleet = ssh_fleet(5)
    hosts = _register(workspace, fleet)
    result = _deploy(workspace, "breast-cancer@production", hosts, host_wheelhouse,
                     canary=1, parallel=4)
    assert result.ok, [r.error for r in result.results]
    assert result.canary == [fleet[0].name]
    for h in fleet:
        assert _ready(h)["release"] == result.release_id


def test_canary_failure_stops_the_rollout(ssh_fleet: Any, host_wheelhouse: Any,
                                          workspace: Workspace) -> None:
    fleet = ssh_fleet(3)
    hosts = _register(workspace, fleet, **{fleet[0].name: {"python": "/nonexistent/python3"}})
    before = [ro.host_state(workspace, x, lambda n: None).release_id for x in hosts[1:]]
    result = _deploy(workspace, "diabetes@production", hosts, host_wheelhouse, canary=1)
    assert not result.ok and "canary" in result.stopped
    outcomes = {r.host: r.outcome for r in result.results}
    assert outcomes[fleet[0].name] == "failed"
    assert outcomes[fleet[1].name] == outcomes[fleet[2].name] == "skipped"
    after = [ro.host_state(workspace, x, lambda n: None).release_id for x in hosts[1:]]
    assert after == before


def test_a_wave_switches_together_or_nowhere(ssh_fleet: Any, host_wheelhouse: Any,
                                            workspace: Workspace) -> None:
    """Two-phase rollout: a wave's hosts stage first; with more failures than tolerated no
    host of the wave switches (the staged ones are skipped and keep their release)."""
    fleet = ssh_fleet(3)
    hosts = _register(workspace, fleet, **{fleet[2].name: {"python": "/nonexistent/python3"}})
    before = [ro.host_state(workspace, x, lambda n: None).release_id for x in hosts[:2]]
    refused = _deploy(workspace, "diabetes@staging", hosts, host_wheelhouse, canary=0,
                      parallel=3, max_failures=0)
    outcomes = {r.host: r for r in refused.results}
    assert outcomes[fleet[2].name].outcome == "failed"
    for h in fleet[:2]:
        r = outcomes[h.name]
        assert r.outcome == "skipped" and "1 hosts of its wave failed" in r.error, r
    assert "1 hosts failed (tolerated: 0)" in refused.stopped
    assert [ro.host_state(workspace, x, lambda n: None).release_id
            for x in hosts[:2]] == before
    tolerated = _deploy(workspace, "diabetes@staging", hosts, host_wheelhouse, canary=0,
                        parallel=3, max_failures=1)
    assert [r.outcome for r in tolerated.results if r.host != fleet[2].name] == ["ok", "ok"]
    # the staged release was kept: nothing of it is sent again
    assert all(r.bytes_sent == 0 for r in tolerated.results if r.ok)
    for h in fleet[:2]:
        assert _ready(h)["release"] == tolerated.release_id


def test_a_release_failing_its_health_check_rolls_back_by_itself(
        ssh_fleet: Any, host_wheelhouse: Any, workspace: Workspace, tmp_path: Path) -> None:
    from modeldeck.core.runtime import release as rel

    [h] = ssh_fleet(1)
    hosts = _register(workspace, [h])
    good = _deploy(workspace, "breast-cancer@production", hosts, host_wheelhouse)
    assert good.ok
    # a release whose recorded predictions are wrong fails its self-check: never ready
    built = ro.build_for_deploy(workspace, "breast-cancer@staging")
    bad = tmp_path / "bad"
    shutil.copytree(built.path, bad)
    check = json.loads((bad / "model/selfcheck.json").read_text())
    labels = sorted(set(check["predictions"]))
    check["predictions"] = [labels[1 - labels.index(p)] for p in check["predictions"]]
    (bad / "model/selfcheck.json").write_text(json.dumps(check))
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["files"]["model/selfcheck.json"] = rel.file_sha256(bad / "model/selfcheck.json")
    manifest["release_id"] = rel.release_id_for(manifest)
    (bad / "manifest.json").write_text(json.dumps(manifest))
    result = _deploy(workspace, str(bad), hosts, host_wheelhouse)
    [r] = result.results
    assert r.outcome == "rolled-back", r.error
    assert r.running == good.release_id
    assert _ready(h)["release"] == good.release_id


def test_a_second_deploy_to_a_locked_host_is_refused(ssh_fleet: Any, host_wheelhouse: Any,
                                                     workspace: Workspace) -> None:
    from modeldeck.core.deploy.session import HostSession

    [h] = ssh_fleet(1)
    [host] = _register(workspace, [h])
    session = HostSession.start(trust.connect(workspace, host, lambda n: None), host)
    token = session.agent("lock", "--owner", json.dumps(
        {"who": "dave", "where": "ops-laptop", "pid": 1, "operation": "deploy x"}))["token"]
    try:
        result = _deploy(workspace, "breast-cancer@production", [host], host_wheelhouse)
        [r] = result.results
        assert r.outcome == "failed"
        assert "is being changed by dave from ops-laptop" in r.error, r.error
    finally:
        session.agent("unlock", "--token", token)
        session.close()


def test_cancel_leaves_hosts_on_a_whole_release(ssh_fleet: Any, host_wheelhouse: Any,
                                                workspace: Workspace) -> None:
    fleet = ssh_fleet(2)
    hosts = _register(workspace, fleet)
    cancel = CancelToken()
    op = ro.rollout(workspace, "diabetes@staging", hosts,
                    ro.DeployOptions(wheelhouse=host_wheelhouse.path, canary=0, parallel=1),
                    cancel=cancel)
    result = None
    try:
        while True:
            event = next(op)
            if getattr(event, "step", "") == "uploading":
                cancel.cancel()
    except StopIteration as stop:
        result = stop.value
    assert result is not None
    assert result.stopped == "cancelled"
    for h, state in zip(fleet, ro.fleet_status(workspace, hosts), strict=True):
        if state.release_id:
            assert state.healthy
            assert _ready(h)["release"] == state.release_id


def test_threads_do_not_leak(ssh_fleet: Any) -> None:
    assert not [t for t in threading.enumerate() if t.name.startswith("deploy")]
