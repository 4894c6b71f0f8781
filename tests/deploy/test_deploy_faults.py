"""Deploys that go wrong, against the real fleet (issue 5, "Tests, against a real fleet"):
the connection or the host's sshd killed during the upload, the verify, the switch and the
restart; a host whose disk fills up; a host whose Python is too old; two deploys racing for
one host.

After every fault each host must serve one whole release — its old one or its new one,
never none and never a mix — and the workspace's deployment history must say what really
happened there.

How a step is hit exactly: controller-side steps through the deploy's own progress events
(the rollout's per-host worker is wrapped so that an event of the step blocks that worker
until the test has struck); host-side steps through the agent's test-only fault file
(``<root>/.modeldeck/fault`` with ``POINT:pause``: the agent stops at the point, writes
``fault-reached``, and goes on once the file is removed).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modeldeck.core.deploy import hosts as hosts_mod
from modeldeck.core.deploy import rollout as ro
from modeldeck.core.deploy import trust
from modeldeck.core.deploy.hosts import Host, HostStore
from modeldeck.core.deploy.probe import force_unlock
from modeldeck.core.deploy.session import HostSession
from modeldeck.core.progress import run
from modeldeck.core.workspace import Workspace

#: Ports of the prediction servers (apart from the other deploy tests' ones).
PORT = 18100
#: The port of the server whose deploy root is on a small disk.
SMALL_PORT = 18101
#: Releases of the demo workspace used here; the last has a 4.9 MB model (several upload
#: blocks), so the upload can be cut in the middle of a file.
FIRST, SECOND, BIG = "breast-cancer@production", "diabetes@production", "diabetes@staging"


@pytest.fixture
def workspace(make_workspace: Callable[..., Path]) -> Iterator[Workspace]:
    with Workspace.open(make_workspace(demo=True)) as ws:
        yield ws


@pytest.fixture
def fast_reconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give up reconnecting to a host after 3 s, not 30 (a dead sshd stays dead here)."""
    monkeypatch.setattr(ro, "RECONNECT_TIMEOUT", 3.0)


# --------------------------------------------------------------------------- helpers


def _register(ws: Workspace, fleet: list[Any], **changes: Any) -> list[Host]:
    store = HostStore(ws)
    out = []
    for h in fleet:
        settings = {"python": h.python, "root": "~/modeldeck", "serve_port": PORT,
                    **changes.get(h.name, {})}
        store.add(Host(name=h.name, transport="ssh", hostname=h.address, port=h.port,
                       user=h.user, identity_file=str(h.client_key_path),
                       serve_bind=h.address, **settings))
        out.append(store.get(h.name))
        trust.trust_host(ws, out[-1], lambda n: None, fingerprint=h.host_key_fingerprint)
    return out


def _options(wheelhouse: Any, **changes: Any) -> ro.DeployOptions:
    return ro.DeployOptions(wheelhouse=wheelhouse.path, ready_timeout=60, canary=0,
                            **changes)


def _deploy(ws: Workspace, ref: str, hosts: list[Host], wheelhouse: Any,
            **changes: Any) -> ro.RolloutResult:
    return run(ro.rollout(ws, ref, hosts, _options(wheelhouse, **changes)))


_release_ids: dict[str, str] = {}


def _release_id(ws: Workspace, ref: str) -> str:
    """The id of ``ref``'s release (the same in every copy of the demo workspace)."""
    if ref not in _release_ids:
        _release_ids[ref] = ro.build_for_deploy(ws, ref).release_id
    return _release_ids[ref]


def _agent(ws: Workspace, host: Host, command: str, *args: str) -> dict[str, Any]:
    session = HostSession.start(trust.connect(ws, host, lambda n: None), host)
    try:
        return session.agent(command, *args, timeout=120)
    finally:
        session.close()


def _status(ws: Workspace, host: Host) -> dict[str, Any]:
    """The agent's status once no activation runs on the host."""
    status = _agent(ws, host, "status")
    if (status.get("activation") or {}).get("worker_alive"):
        _agent(ws, host, "journal", "--wait", "60")
        status = _agent(ws, host, "status")
    return status


def _served(host: Host) -> str:
    """The release the host's prediction server says it runs."""
    url = f"http://{host.serve_bind}:{host.serve_port}/v1/model"
    with urllib.request.urlopen(url, timeout=5) as answer:
        return str(json.loads(answer.read())["release"])


def _whole_release(ws: Workspace, host: Host) -> str:
    return _whole(ws, host)[0]


def _whole(ws: Workspace, host: Host) -> tuple[str, dict[str, Any]]:
    """The one release the host serves, checked from every side: ``current`` points to a
    complete release, the agent's server runs that release and is ready, and the server
    itself says so. Waits for an activation still running on the host."""
    status = _status(ws, host)
    assert not status["activation"]["worker_alive"], f"{host.name}: it never ended"
    current = status["current"]
    assert current, f"{host.name} serves nothing: {status}"
    assert current in status["releases"], f"{host.name}: current -> incomplete {current}"
    server = status["server"] or {}
    assert server.get("alive") and server.get("release") == current, status
    assert status["ready"], status["ready_detail"]
    assert _served(host) == current
    return str(current), status


def _last_deployment(ws: Workspace, host: Host) -> hosts_mod.Deployment:
    return hosts_mod.deployments(ws, host=host.name, limit=1)[0]


def _meta(h: Any, root: str = "modeldeck") -> Path:
    return h.home / root / ".modeldeck"


def _drop_release(h: Any, release_id: str, root: str = "modeldeck") -> None:
    """Remove a complete copy of ``release_id`` from the host (as root), so that the next
    deploy must upload it again."""
    current = h.home / root / "current"
    assert not (current.is_symlink() and Path(current.readlink()).name == release_id)
    shutil.rmtree(h.home / root / "releases" / release_id, ignore_errors=True)


def _tap_events(monkeypatch: pytest.MonkeyPatch,
                hook: Callable[[Host, ro.DeployEvent], None]) -> None:
    """Call ``hook(host, event)`` in the deploying thread for each of a host's events,
    before the deploy goes on (the rollout's own event queue is asynchronous)."""
    real = ro.deploy_host

    def deploy_host(workspace: Any, host: Any, lookup: Any, release: Any, options: Any,
                    wheelhouse: Any, emit: Callable[[ro.DeployEvent], None], cancel: Any,
                    actor: str, gate: Any = None) -> ro.HostResult:
        def tapped(event: ro.DeployEvent) -> None:
            emit(event)
            hook(host, event)
        return real(workspace, host, lookup, release, options, wheelhouse, tapped, cancel,
                    actor, gate)

    monkeypatch.setattr(ro, "deploy_host", deploy_host)


def _cut(h: Any, how: str) -> None:
    """``connection``: drop the host's SSH connections (a network failure); ``sshd``: kill
    its sshd, listener and connections (the host stays up, unreachable); ``crash``: kill
    every process of the host's user (the agent's worker and the prediction server too)."""
    if how == "sshd":
        h.kill()
        h.kill_sessions()
    elif how == "connection":
        h.kill_sessions()
    else:
        h.kill_user_processes()


class _Background:
    """A rollout run in a thread (the test strikes from its own thread)."""

    def __init__(self, ws: Workspace, ref: str, hosts: list[Host],
                 options: ro.DeployOptions) -> None:
        self.result: ro.RolloutResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(ws, ref, hosts, options),
                                       name="fault-rollout")
        self.thread.start()

    def _run(self, ws: Workspace, ref: str, hosts: list[Host],
             options: ro.DeployOptions) -> None:
        try:
            self.result = run(ro.rollout(ws, ref, hosts, options))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            self.error = exc

    def join(self, timeout: float = 180) -> ro.RolloutResult:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the rollout did not end"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _serving_before(ws: Workspace, host: Host, wheelhouse: Any) -> str:
    """Make sure the host serves a whole release (the first deploy of a session installs
    the host's environment from the wheelhouse) and return it."""
    status = _status(ws, host)
    server = status.get("server") or {}
    if (status.get("current") and status.get("ready")
            and (server.get("bind"), server.get("port")) == (host.serve_bind,
                                                             host.serve_port)):
        return str(status["current"])
    result = _deploy(ws, FIRST, [host], wheelhouse)
    assert result.ok, [r.error for r in result.results]
    return _whole_release(ws, host)


# --------------------------------------------------------------------------- fault injection

#: step → where the strike happens: a controller event (``event:STEP``) or an agent point.
STRIKE = {
    "upload": "event:uploading",
    "verify": "after-verify",
    "switch": "after-switch",
    "restart": "after-stop",
}


@pytest.mark.parametrize(("step", "how"), [
    ("upload", "connection"), ("upload", "sshd"),
    ("verify", "connection"), ("verify", "sshd"),
    ("switch", "connection"), ("switch", "sshd"),
    ("restart", "connection"), ("restart", "sshd"), ("restart", "crash"),
])
def test_a_fault_leaves_one_whole_release_and_an_honest_record(
        step: str, how: str, ssh_fleet: Any, host_wheelhouse: Any, workspace: Workspace,
        monkeypatch: pytest.MonkeyPatch, fast_reconnect: None) -> None:
    [h] = ssh_fleet(1)
    [host] = _register(workspace, [h])
    old = _serving_before(workspace, host, host_wheelhouse)
    if step in ("upload", "verify"):
        # a release the host does not have, with a model of several upload blocks
        ref = BIG
        new = _release_id(workspace, ref)
        if new == old:
            assert _deploy(workspace, FIRST, [host], host_wheelhouse).ok
            old = _whole_release(workspace, host)
        _drop_release(h, new)
    else:
        ref = SECOND if old != _release_id(workspace, SECOND) else FIRST
        new = _release_id(workspace, ref)
    meta = _meta(h)
    (meta / "fault-reached").unlink(missing_ok=True)
    point = STRIKE[step]
    struck = threading.Event()
    if point.startswith("event:"):
        def hook(_host: Host, event: ro.DeployEvent) -> None:
            if (event.step == point[6:] and event.bytes_done > 0
                    and not struck.is_set()):
                struck.set()
                _cut(h, how)  # in the deploying thread: the next block meets a dead link
        _tap_events(monkeypatch, hook)
    else:
        (meta / "fault").write_text(f"{point}:pause\n")
    try:
        background = _Background(workspace, ref, [host], _options(host_wheelhouse))
        if not point.startswith("event:"):
            _wait_for(lambda: (meta / "fault-reached").is_file()
                      and (meta / "fault-reached").read_text().startswith(point),
                      90, f"the agent to reach {point}")
            _cut(h, how)
            struck.set()
            (meta / "fault").unlink()
        result = background.join()
    finally:
        (meta / "fault").unlink(missing_ok=True)
        h.start()  # a no-op unless its sshd was killed
    assert struck.is_set()
    [r] = result.results
    row = _last_deployment(workspace, host)
    assert row.release_id == new and row.outcome == r.outcome, (row, r)
    assert row.previous_release == old
    truth, status = _whole(workspace, host)
    activation = status["activation"]
    if step in ("upload", "verify"):
        # nothing was switched: the deploy failed and says so, the old release serves
        assert r.outcome == "failed" and r.error, r
        assert r.running == old and truth == old
    else:
        # the switch had begun: the host's agent finished it by itself
        assert activation["release"] == new and activation["state"] == "done", activation
        assert truth == new == activation["release"]
        if r.outcome == "unknown":
            # the host stayed unreachable: the record says so, and status tells the truth
            assert how == "sshd", r
            assert "modeldeck status" in r.error
            [state] = ro.fleet_status(workspace, [host])
            assert state.release_id == truth and state.healthy
            [cached] = [s for s in hosts_mod.statuses(workspace) if s.host == host.name]
            assert cached.release_id == truth and cached.healthy
        else:
            # the outcome was read back from the host's journal (finished by `recover`
            # when the host's processes died with it)
            assert r.outcome == activation["outcome"] == "ok", (r, activation)
            assert r.running == truth
    lock = status["lock"]
    if how == "sshd" and lock:
        # the deploy could not reach the host again to free its lock: the lock names it,
        # and the admin frees it as the refusal of the next deploy says
        assert lock["who"] == "carol" and new in lock["operation"], lock
        force_unlock(workspace, host, lambda n: None)
    else:
        assert lock is None, "the deploy left the host locked"


# --------------------------------------------------------------------------- full disk


def test_a_full_disk_fails_cleanly_and_the_other_hosts_are_fine(
        ssh_fleet: Any, host_wheelhouse: Any, workspace: Workspace, small_disk: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    [h] = ssh_fleet(1)
    # Two ModelDeck hosts on one test machine (one environment install, not two): "h2",
    # deploy root ~/modeldeck, and "h2-small", deploy root on a 24 MiB tmpfs, serving
    # with the environment h2 installed (so that it needs no room for one).
    [fine] = _register(workspace, [h])
    _serving_before(workspace, fine, host_wheelhouse)
    python = _agent(workspace, fine, "status")["server"]["python"]
    disk = small_disk(h, 24, "small")
    full = HostStore(workspace).add(dataclasses.replace(
        fine, name=f"{h.name}-small", root="~/small/modeldeck", python=python,
        serve_port=SMALL_PORT))
    first = _deploy(workspace, FIRST, [full], host_wheelhouse)
    assert first.ok, [r.error for r in first.results]
    old = _whole_release(workspace, full)
    fine_old = _whole_release(workspace, fine)
    new = _release_id(workspace, BIG)
    _drop_release(h, new)

    # 1. the disk is (nearly) full already: refused before anything is uploaded
    filler = disk / "filler"
    filler.write_bytes(b"\0" * (shutil.disk_usage(disk).free - 600_000))
    # (one failure tolerated: a wave with more failures than that switches nowhere)
    result = _deploy(workspace, BIG, [fine, full], host_wheelhouse, parallel=2,
                     max_failures=1)
    by_host = {r.host: r for r in result.results}
    assert by_host[fine.name].ok, by_host[fine.name].error
    bad = by_host[full.name]
    assert bad.outcome == "failed" and "disk" in bad.error and "MB free" in bad.error, bad
    assert bad.bytes_sent == 0
    assert not (disk / "modeldeck" / "releases" / f"{new}.partial").exists()
    assert _whole_release(workspace, full) == old
    assert _whole_release(workspace, fine) == new != fine_old
    row = _last_deployment(workspace, full)
    assert row.outcome == "failed" and row.previous_release == old

    # 2. the disk fills up during the upload (something else writes there): the upload
    # fails naming the disk, the host keeps its release, nothing is left locked
    filler.unlink()
    filled = threading.Event()

    def fill_up(host: Host, event: ro.DeployEvent) -> None:
        if host.name == full.name and event.step == "uploading" and not filled.is_set():
            filled.set()
            filler.write_bytes(b"\0" * (shutil.disk_usage(disk).free - 300_000))

    _tap_events(monkeypatch, fill_up)
    [bad] = _deploy(workspace, BIG, [full], host_wheelhouse).results
    assert bad.outcome == "failed", bad
    assert "disk is probably full" in bad.error, bad.error
    assert bad.running == old
    assert _whole_release(workspace, full) == old
    row = _last_deployment(workspace, full)
    assert row.outcome == "failed" and row.previous_release == old
    assert _agent(workspace, full, "status")["lock"] is None
    filler.unlink()


# --------------------------------------------------------------------------- old Python


def test_an_incompatible_python_is_refused_before_anything_is_uploaded(
        ssh_fleet: Any, host_wheelhouse: Any, workspace: Workspace) -> None:
    [h] = ssh_fleet(1)
    # a real interpreter that reports itself as 3.9.2 (Debian 11's): the agent runs on
    # it, the prediction server would not
    fake = h.home / "old-python"
    fake.mkdir(exist_ok=True)
    (fake / "sitecustomize.py").write_text(
        "import platform, sys\n"
        "platform.python_version = lambda: '3.9.2'\n"
        "sys.version_info = (3, 9, 2, 'final', 0)\n")
    wrapper = fake / "python3"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={fake} exec {h.python} "$@"\n')
    wrapper.chmod(0o755)
    shutil.chown(fake, h.uid, h.gid)
    [host] = _register(workspace, [h], **{h.name: {"python": str(wrapper),
                                                   "root": "~/old-python-root"}})
    result = _deploy(workspace, FIRST, [host], host_wheelhouse)
    [r] = result.results
    assert r.outcome == "failed"
    assert "3.9.2" in r.error and "3.10" in r.error, r.error
    assert r.bytes_sent == 0
    root = h.home / "old-python-root"
    assert not (root / "releases").exists() and not (root / "wheelhouse").exists()
    assert not (root / "envs").exists()
    assert not (root / ".modeldeck" / "lock").exists()
    assert _last_deployment(workspace, host).outcome == "failed"


# --------------------------------------------------------------------------- concurrency


def test_two_deploys_at_once_one_wins_the_other_is_refused_naming_the_holder(
        ssh_fleet: Any, host_wheelhouse: Any, workspace: Workspace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    [h] = ssh_fleet(1)
    [host] = _register(workspace, [h])
    old = _serving_before(workspace, host, host_wheelhouse)
    ref = SECOND if old != _release_id(workspace, SECOND) else FIRST
    new = _release_id(workspace, ref)
    # The winner holds the lock (it stops after taking it: its first step after `begin`)
    # until the loser is done, so the two overlap however the threads are scheduled.
    loser_done = threading.Event()

    def hold(_host: Host, event: ro.DeployEvent) -> None:
        if event.step == "uploading":
            loser_done.wait(60)

    _tap_events(monkeypatch, hold)
    start = threading.Barrier(2)
    results: dict[int, Any] = {}
    seconds: dict[int, float] = {}

    def deploy(i: int) -> None:
        with Workspace.open(workspace.path) as ws:  # a second handle on the same folder
            start.wait(10)
            began = time.monotonic()
            try:
                results[i] = run(ro.rollout(ws, ref, [host], _options(host_wheelhouse)))
            except BaseException as exc:  # noqa: BLE001 - asserted below
                results[i] = exc
            seconds[i] = time.monotonic() - began
            if isinstance(results[i], ro.RolloutResult) and not results[i].ok:
                loser_done.set()

    threads = [threading.Thread(target=deploy, args=(i,), name=f"racer-{i}")
               for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    loser_done.set()
    assert all(isinstance(r, ro.RolloutResult) for r in results.values()), results
    outcomes = sorted((results[i].results[0].outcome, i) for i in (0, 1))
    assert [o for o, _ in outcomes] == ["failed", "ok"], results
    lost = outcomes[0][1]
    refusal = results[lost].results[0]
    assert f"is being changed by carol from {socket.gethostname()}" in refusal.error, \
        refusal.error
    assert new in refusal.error  # the holder's operation: deploying that release
    assert seconds[lost] < seconds[1 - lost]
    assert _whole_release(workspace, host) == new
    rows = hosts_mod.deployments(workspace, host=host.name, limit=2)
    assert sorted(r.outcome for r in rows) == ["failed", "ok"]
    assert _agent(workspace, host, "status")["lock"] is None
