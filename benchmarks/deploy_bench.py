"""Deploy benchmark: ModelDeck's SSH rollout vs parallel scp + ssh (ControlMaster) vs Ansible.

Run on demand as root (not part of the test suite), from the repository root::

    # once: Ansible lives in its own venv, never in the test venv (.venv) nor in pyproject
    python3 -m venv .venv-ansible && .venv-ansible/bin/pip install ansible-core

    .venv/bin/python benchmarks/deploy_bench.py --quick      # 1 and 5 hosts: ~8 minutes
    .venv/bin/python benchmarks/deploy_bench.py              # 1, 5 and 20 hosts: ~25 minutes
    .venv/bin/python benchmarks/deploy_bench.py --hosts 20 --no-ansible --json /tmp/deploy.json
    .venv/bin/python benchmarks/deploy_bench.py --workspace /var/tmp/mdb-ws   # keep the model

(Ansible's copy is most of the time: ~3 minutes for 5 hosts on a busy 2-core machine.)

The fleet is the deploy tests' (``tests/deploy_support/sshfleet.py``): one real OpenSSH
``sshd`` per host on 127.0.0.2, 127.0.0.3, ..., one Unix user per host whose home folder is
the host's disk. The benchmark starts it, and removes it (users, processes, folders) at the
end, also on Ctrl-C. Every tool reaches the hosts over SSH on loopback, so the figures are
CPU figures: client and servers share this machine's cores (the load average is printed).

The release: ``digits-forest`` -- an ExtraTreesClassifier (41 fully grown trees) trained on
scikit-learn's digits data augmented with the eight one-pixel shifts of each training image,
registered in a temp workspace through the registry's API, so the ~35 MB artifact is real
model bytes; with the runtime code, holdout data and manifest the release folder is ~36 MB.
Version 2 is the same model file registered again (another release id, byte-identical
artifact). Few large trees rather than many small ones (355 trees on the plain digits data,
or 1,400 on breast-cancer, weigh as much): a host's server loads 41 trees in ~0.4 s instead
of 2-7 s, which matters when 20 simulated hosts restart on the same 2 cores.

The hosts' environment is provisioned once and kept out of every timing: the hosts' users
cannot read ``/root`` (where the test venv's interpreter lives), so a venv built with the
hosts' ``/usr/bin/python3`` from the deploy tests' offline wheelhouse (numpy, scipy, pandas,
scikit-learn, skops, waitress at the test venv's versions) is installed at
``/var/tmp/modeldeck-bench/venv-<key>`` (mode 0755, reused by later runs) and every host's
``python`` points at it; ModelDeck's probe then finds the packages and installs nothing.

Workloads, all on the same fleet, for each host count (``--hosts``, default 1, 5, 20;
``--quick``: 1, 5); hosts are emptied (``SshHost.reset``) before each host count:

(a) ModelDeck: ``rollout`` of ``digits-forest:1`` (canary 0, parallel = hosts), given as
    its release folder: both versions' releases are built once before any timing and frozen
    (a release carries the runtime code of the source tree, which may change while the
    benchmark runs), so "build" is ``rollout``'s check of the folder (every sha256). "upload +
    verify + switch" is the wall time from the end of the local release build until the
    last host's ``current`` symlink points at the release (a watcher thread polls the
    symlinks every 5 ms; root reads the users' homes): connect, lock, probe, upload, verify,
    commit and the switch -- what the baselines do. "restart + ready + smoke" is the host
    agent's own timing of stop + start + /ready + smoke (slowest host; the hosts' restarts
    overlap other hosts' uploads). "whole" is ``rollout`` from call to return (local build,
    everything, the workspace's records). "build" is the local release build inside it.
    The agent's step timings are read from each host's ``.modeldeck/journal.json``
    (``HostResult.timings`` loses them, see :func:`_journal_timings`).
(b) OpenSSH: per host in parallel threads, ``ssh`` with ``ControlMaster=auto`` (the first
    command, ``mkdir``, opens the master: counted), ``scp -r`` of the release folder over
    the master, then ``ssh host 'cd root && (cd releases/<id> && sha256sum -c SHA256SUMS) &&
    ln -sfn releases/<id> current'``. The folder is the ModelDeck release plus a
    ``SHA256SUMS`` file made from its manifest.
(c) Ansible (``--ansible-playbook``, default ``.venv-ansible/bin/ansible-playbook``; skipped,
    saying why, when it is missing): one play with ``forks`` = hosts, no fact gathering:
    ``file`` (releases folder), ``copy`` of the release folder, ``command`` sha256sum -c,
    ``file`` state=link -- the whole ``ansible-playbook`` run (its ~1.5 s start-up included).
(d) One 35 MB file (the model artifact) to one host, connection already open, best of
    ``--file-repeats``: paramiko ``SFTPClient.put`` with paramiko's defaults, ModelDeck's
    ``SSHConnection.put`` (AES-GCM preferred, 255 KiB pipelined SFTP writes), ``scp`` over an
    open ControlMaster; MB/s (MB = 10^6 bytes).
(e) Rollback of the largest host count (20; 5 with --quick), after ``digits-forest:2`` was
    deployed over version 1: ModelDeck ``rollback`` (connect, then one agent call: lock,
    switch, stop, start, /ready, smoke, unlock; records) -- whole, and the switch alone (until the last host's
    ``current`` points back, watched as in (a)); OpenSSH: parallel ``ssh host 'ln -sfn ...'``
    (fresh connections, on the baseline's folder); paramiko: one thread and one fresh
    connection per host running the same ``ln -sfn``. Best of ``--rollback-repeats``
    (rollbacks alternate between the two releases).
(f) Redeploys to the largest host count: ``digits-forest:1`` again while it runs (bytes
    sent), and ``digits-forest:2`` (same model file, new release): the files the hosts'
    agent says are missing (``plan``) and the bytes sent -- the model's must be 0.

Targets (the issue's "Benchmark" section): upload + verify + switch to 20 hosts within 1.2x
of parallel scp (and so at least 4x faster than Ansible); one file at >= 0.7x scp's
throughput; rollback of 20 hosts under 1 s (judged on the switch; the whole rollback with
its restarts is printed beside it); a redeploy of an unchanged model sending no model bytes.
The exit code is 0 when every target that could be evaluated passed, 1 otherwise.

CPU: a simulated fleet puts every host on this machine's cores, so a host's work (sshd,
the agent's Python, the prediction server's start) competes with the client's and with the
other hosts'. The tables add the CPU seconds of the client side of each tool and of the
hosts' prediction servers; the 1- and 5-minute load averages at the start of each workload
show what else ran.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import importlib.metadata
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MODEL = "digits-forest"
ACTOR = "bench"
TREES = 41  # ~35 MB of skops: fully grown trees on the shift-augmented digits
HOST_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "skops", "waitress")
VENV_CACHE = Path("/var/tmp/modeldeck-bench")
WHEELHOUSE_CACHE = Path.home() / ".cache" / "modeldeck-tests"  # shared with the deploy tests
READY_TIMEOUT = 300.0
WATCH_INTERVAL = 0.005

# The targets.
TARGET_UVS_VS_SCP = 1.2
TARGET_VS_ANSIBLE = 4.0
TARGET_FILE_VS_SCP = 0.7
TARGET_ROLLBACK_S = 1.0


CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A workload could not be run (the message says why)."""


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


def _say(text: str) -> None:
    print(text, flush=True)


def _check(cmd: Sequence[str], timeout: float = 600, **kw: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False,
                          **kw)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(cmd[:1])} ... failed ({done.returncode}): "
                         f"{(done.stderr or done.stdout).strip()[-800:]}")
    return done


# --------------------------------------------------------------------------- CPU


def _proc_cpu(pid: int | None, children: bool = True) -> float:
    """CPU seconds of ``pid`` (with its reaped children's) from ``/proc/<pid>/stat``."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def _own_cpu(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class _Cpu:
    """CPU seconds spent on this machine's side of a workload: this process (ModelDeck's
    client threads) and its reaped child processes (scp, ssh, ansible-playbook), plus
    ``extra`` for detached ones (ssh ControlMasters). The hosts' side is not counted: the
    sshd listeners do not account their sessions' CPU to themselves."""

    def _sample(self) -> tuple[float, float]:
        return _own_cpu(), _own_cpu(resource.RUSAGE_CHILDREN)

    def __enter__(self) -> _Cpu:
        self.start = self._sample()
        self.extra = 0.0  # CPU of processes that were not reaped (ssh ControlMasters)
        return self

    def __exit__(self, *_exc: object) -> None:
        end = self._sample()
        self.used = sum(b - a for a, b in zip(self.start, end, strict=True))

    def figures(self) -> dict[str, float]:
        return {"client_cpu_s": self.used + self.extra}


def _servers_cpu(fleet_hosts: Sequence[Any]) -> float:
    """CPU seconds the hosts' live prediction servers used so far (start, load, self-check)."""
    uids = {h.uid for h in fleet_hosts}
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid not in uids:
                continue
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if b"modeldeck.core.runtime" in cmdline:
            total += _proc_cpu(int(entry), children=False)
    return total


# --------------------------------------------------------------------------- set-up


def _host_venv(wheelhouse: Any) -> str:
    """The hosts' shared interpreter with the runtime's packages; built once, reused."""
    venv = VENV_CACHE / f"venv-{wheelhouse.path.name}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists() and python.exists():
        return str(python)
    VENV_CACHE.mkdir(mode=0o755, parents=True, exist_ok=True)
    VENV_CACHE.chmod(0o755)
    _say(f"building the hosts' venv {venv} from {wheelhouse.path} (once) ...")
    try:
        _check(["/usr/bin/python3", "-m", "venv", str(venv)])
        _check([str(python), "-m", "pip", "install", "-q", "--no-index", "--no-compile",
                "--disable-pip-version-check", "--find-links", str(wheelhouse.path),
                *wheelhouse.requirements], timeout=1800)
        # byte-compile once as root, so that the hosts' users (who cannot write here) do
        # not each recompile on every start
        subprocess.run([str(python), "-m", "compileall", "-q", str(venv / "lib")],
                       capture_output=True, check=False, timeout=1800)
        for dirpath, dirnames, filenames in os.walk(venv):
            for name in dirnames:
                os.chmod(os.path.join(dirpath, name), 0o755)
            for name in filenames:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    os.chmod(path, os.stat(path).st_mode | 0o444)
        (venv / ".complete").write_text("ok\n")
    except BaseException:
        shutil.rmtree(venv, ignore_errors=True)
        raise
    return str(python)


def _train(folder: Path) -> tuple[Path, Any, Any]:
    """The model file and the reference and holdout frames (target column ``digit``).

    The training images are augmented with their eight one-pixel shifts (the classic
    augmentation of digit images): 9,702 rows grow trees of ~6,000 nodes, so 35 MB is 41
    trees, which a host loads in ~0.4 s (355 trees of the plain data load in ~2.2 s).
    """
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.datasets import load_digits
    from sklearn.ensemble import ExtraTreesClassifier

    frame = load_digits(as_frame=True).frame.rename(columns={"target": "digit"})
    features = [c for c in frame.columns if c != "digit"]
    order = np.random.default_rng(7).permutation(len(frame))
    train = frame.iloc[order[:int(0.6 * len(frame))]].reset_index(drop=True)
    holdout = frame.iloc[order[int(0.6 * len(frame)):][:200]].reset_index(drop=True)
    images = train[features].to_numpy().reshape(-1, 8, 8)
    shifted = []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            moved = np.zeros_like(images)
            moved[:, max(dy, 0):8 + min(dy, 0), max(dx, 0):8 + min(dx, 0)] = \
                images[:, max(-dy, 0):8 + min(-dy, 0), max(-dx, 0):8 + min(-dx, 0)]
            shifted.append(pd.DataFrame(moved.reshape(len(images), 64), columns=features)
                           .assign(digit=train["digit"].to_numpy()))
    train = pd.concat(shifted, ignore_index=True)
    model = ExtraTreesClassifier(n_estimators=TREES, random_state=0, n_jobs=2)
    model.fit(train[features], train["digit"])
    path = folder / "digits-forest.skops"
    sio.dump(model, path)
    return path, train, holdout


def _workspace(folder: Path) -> Any:
    """The workspace in ``folder`` with ``digits-forest`` versions 1 and 2 (the same model
    file), made unless it is there already."""
    from modeldeck.core.progress import run
    from modeldeck.core.registry import Registry
    from modeldeck.core.workspace import Workspace

    # the benchmark times the transport, not the review: the model deploys unreviewed
    policy = folder / "ws" / "policies" / f"{MODEL}.toml"
    if (folder / "ws" / ".complete").exists():
        policy.parent.mkdir(exist_ok=True)
        policy.write_text("[approval]\nrequired_for_deploy = false\n")
        return Workspace.open(folder / "ws", actor=ACTOR)
    shutil.rmtree(folder / "ws", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    model_file, train, holdout = _train(folder)
    ws = Workspace.open(folder / "ws", create=True, actor=ACTOR)
    registry = Registry(ws)
    card = {"intended_use": "deploy benchmark", "owner": "benchmarks/deploy_bench.py"}
    run(registry.register(MODEL, model_file, train, holdout, "digit", card=card,
                          description="ExtraTrees on the digits data (deploy benchmark)"))
    run(registry.register(MODEL, model_file, train, holdout, "digit",
                          description="the same model file, registered again"))
    policy.parent.mkdir(exist_ok=True)
    policy.write_text("[approval]\nrequired_for_deploy = false\n")
    (folder / "ws" / ".complete").write_text("ok\n")
    return ws


def _free_port(addresses: Sequence[str]) -> int:
    """A TCP port free on every address (the hosts' prediction servers)."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            for address in addresses:
                with socket.socket() as sock:
                    sock.bind((address, port))
        except OSError:
            continue
        return port
    raise BenchError("no free port for the prediction servers")


def _register_hosts(ws: Any, fleet_hosts: Sequence[Any], python: str, port: int) -> list[Any]:
    from modeldeck.core.deploy import trust
    from modeldeck.core.deploy.hosts import Host, HostStore

    store = HostStore(ws)
    for h in fleet_hosts:
        if h.name in store.names():  # a kept workspace (--workspace): an earlier fleet's
            trust.untrust_host(ws, store.get(h.name))
            store.remove(h.name)
        store.add(Host(name=h.name, transport="ssh", hostname=h.address, port=h.port,
                       user=h.user, identity_file=str(h.client_key_path), root="~/modeldeck",
                       python=python, serve_bind=h.address, serve_port=port))
        trust.trust_host(ws, store.get(h.name), lambda _n: None,
                         fingerprint=h.host_key_fingerprint)
    return [store.get(h.name) for h in fleet_hosts]


def _freeze(release: Any, folder: Path) -> str:
    """A copy of ``release``'s folder under ``folder``; returns its path."""
    target = folder / release.release_id
    shutil.copytree(release.path, target)
    return str(target)


def _baseline_release(release: Any, folder: Path) -> Path:
    """The release folder plus a ``SHA256SUMS`` made from its manifest (for sha256sum -c)."""
    target = folder / release.release_id
    shutil.copytree(release.path, target)
    sums = "".join(f"{sha}  {rel}\n" for rel, sha in sorted(release.files().items()))
    (target / "SHA256SUMS").write_text(sums)
    return target


# --------------------------------------------------------------------------- watching


class _SwitchWatch:
    """Notes when each host's ``current`` symlink first points at ``releases/<target>``."""

    def __init__(self, links: dict[str, Path], target: str) -> None:
        self.links = links
        self.target = target
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="bench-watch", daemon=True)

    def __enter__(self) -> _SwitchWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        waiting = dict(self.links)
        while waiting and not self._stop.is_set():
            for name, link in list(waiting.items()):
                try:
                    if os.readlink(link).rstrip("/").endswith("/" + self.target):
                        self.seen[name] = time.monotonic()
                        del waiting[name]
                except OSError:
                    pass
            self._stop.wait(WATCH_INTERVAL)

    def last(self) -> float | None:
        """When the last host switched (None if one never did)."""
        if len(self.seen) < len(self.links):
            return None
        return max(self.seen.values())


# --------------------------------------------------------------------------- (a) ModelDeck


def _md_deploy(ws: Any, ref: str, release: Any, hosts: Sequence[Any],
               fleet_hosts: Sequence[Any]) -> dict[str, Any]:
    from modeldeck.core.deploy import rollout as ro
    from modeldeck.core.progress import run

    n = len(hosts)
    options = ro.DeployOptions(canary=0, parallel=n, ready_timeout=READY_TIMEOUT)
    marks: dict[str, float] = {}

    def on_event(event: Any) -> None:
        step = getattr(event, "step", "")
        if step not in marks:
            marks[step] = time.monotonic()

    links = {h.name: h.home / "modeldeck" / "current" for h in fleet_hosts}
    load = _load()
    with _Cpu() as cpu, _SwitchWatch(links, release.release_id) as watch:
        started = time.monotonic()
        result = run(ro.rollout(ws, ref, hosts, options), on_event)
        ended = time.monotonic()
    errors = [f"{r.host}: {r.outcome} {r.error}" for r in result.results if not r.ok]
    built = marks.get("rollout", marks.get("canary", started))
    last_switch = watch.last()
    journals = _journal_timings(fleet_hosts)
    restart = [sum(j.get(k, 0.0) for k in ("stop", "start", "ready", "smoke"))
               for j in journals] or [0.0]
    per_host = _slowest([r.timings for r in result.results],
                        ("connecting", "probing", "uploading", "verifying", "switching",
                         "pruning"))
    per_host.update(_slowest(journals, ("switch", "stop", "start", "ready", "smoke"),
                             prefix="host "))
    return {
        "hosts": n, "ok": not errors, "errors": errors, "load": load,
        "release_id": result.release_id,
        "whole_s": ended - started, "build_s": built - started,
        "uvs_s": (last_switch - built) if last_switch else None,
        "restart_max_s": max(restart), "restart_mean_s": statistics.mean(restart),
        "after_last_switch_s": (ended - last_switch) if last_switch else None,
        "bytes_sent": [r.bytes_sent for r in result.results],
        "per_host_max": per_host, **cpu.figures(),
        "servers_cpu_s": _servers_cpu(fleet_hosts),
    }


def _journal_timings(fleet_hosts: Sequence[Any]) -> list[dict[str, float]]:
    """Each host agent's own timing of its last activation (switch, stop, start, ready,
    smoke), read from the host's journal (``HostResult.timings`` drops them: the step
    timings of ``deploy_host`` replace the journal's)."""
    out = []
    for h in fleet_hosts:
        try:
            journal = json.loads((h.home / "modeldeck" / ".modeldeck" / "journal.json")
                                 .read_text())
        except (OSError, ValueError):
            continue
        out.append({k: float(v) for k, v in (journal.get("timings") or {}).items()})
    return out


def _slowest(rows: Sequence[dict[str, float]], keys: Sequence[str],
             prefix: str = "") -> dict[str, float]:
    return {prefix + k: max((r.get(k, 0.0) for r in rows), default=0.0) for k in keys}


def _reset(fleet_hosts: Sequence[Any]) -> None:
    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda h: h.reset(), fleet_hosts))


# --------------------------------------------------------------------------- (b) OpenSSH


def _control(ctl_dir: Path, h: Any) -> list[str]:
    return ["-o", "ControlMaster=auto", "-o", f"ControlPath={ctl_dir}/{h.name}",
            "-o", "ControlPersist=300"]


def _close_masters(ctl_dir: Path, fleet_hosts: Sequence[Any]) -> float:
    """Stop the ssh ControlMasters (by ``ssh -O exit``); returns the CPU seconds they used
    (they run detached, so nobody reaps them into our children's CPU)."""
    cpu = 0.0
    for h in fleet_hosts:
        if not (ctl_dir / h.name).exists():
            continue
        opts = [*h.ssh_options(), *_control(ctl_dir, h)]
        check = subprocess.run(["ssh", *opts, "-O", "check", h.address], capture_output=True,
                               text=True, check=False, timeout=30)
        pid = check.stderr.rpartition("pid=")[2].split(")")[0]
        if pid.isdigit():
            cpu += _proc_cpu(int(pid))
        subprocess.run(["ssh", *opts, "-O", "exit", h.address], capture_output=True,
                       check=False, timeout=30)
    return cpu


def _scp_deploy(fleet_hosts: Sequence[Any], folder: Path, ctl_dir: Path) -> dict[str, Any]:
    rid = folder.name

    def one(h: Any) -> dict[str, float]:
        opts = [*h.ssh_options(), *_control(ctl_dir, h)]
        t0 = time.monotonic()
        _check(["ssh", *opts, h.address, "mkdir -p bench-scp/releases"])
        t1 = time.monotonic()
        _check(["scp", "-q", "-r", *opts, str(folder), f"{h.address}:bench-scp/releases/{rid}"])
        t2 = time.monotonic()
        _check(["ssh", *opts, h.address,
                f"cd bench-scp && (cd releases/{rid} && sha256sum -c --quiet SHA256SUMS) && "
                f"ln -sfn releases/{rid} current"])
        t3 = time.monotonic()
        return {"connect": t1 - t0, "upload": t2 - t1, "verify_switch": t3 - t2, "end": t3}

    load = _load()
    try:
        with _Cpu() as cpu:
            started = time.monotonic()
            with cf.ThreadPoolExecutor(max_workers=len(fleet_hosts)) as pool:
                rows = list(pool.map(one, fleet_hosts))
            wall = max(r["end"] for r in rows) - started
            cpu.extra = _close_masters(ctl_dir, fleet_hosts)
    finally:
        _close_masters(ctl_dir, fleet_hosts)
    return {"hosts": len(fleet_hosts), "wall_s": wall, "load": load, **cpu.figures(),
            "per_host_max": {k: max(r[k] for r in rows)
                             for k in ("connect", "upload", "verify_switch")}}


# --------------------------------------------------------------------------- (c) Ansible


def _ansible_deploy(playbook_cmd: str, fleet_hosts: Sequence[Any], folder: Path,
                    work: Path) -> dict[str, Any]:
    rid = folder.name
    base = work / "ansible"
    shutil.rmtree(base, ignore_errors=True)
    (base / "home").mkdir(parents=True)
    (base / "cp").mkdir()
    known_hosts = fleet_hosts[0].known_hosts_path
    lines = ["[bench]"]
    for h in fleet_hosts:
        lines.append(f"{h.name} ansible_host={h.address} ansible_port={h.port} "
                     f"ansible_user={h.user} ansible_ssh_private_key_file={h.client_key_path} "
                     f"bench_root={h.home / 'bench-ansible'}")
    lines += ["", "[bench:vars]", "ansible_python_interpreter=/usr/bin/python3",
              f"ansible_ssh_common_args='-o UserKnownHostsFile={known_hosts} "
              "-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes "
              "-o IdentitiesOnly=yes'"]
    (base / "inventory.ini").write_text("\n".join(lines) + "\n")
    (base / "deploy.yml").write_text(f"""\
- hosts: bench
  gather_facts: false
  tasks:
    - name: releases folder
      ansible.builtin.file: {{path: "{{{{ bench_root }}}}/releases", state: directory}}
    - name: upload the release
      ansible.builtin.copy: {{src: "{folder}/", dest: "{{{{ bench_root }}}}/releases/{rid}/"}}
    - name: verify every sha256
      ansible.builtin.command:
        cmd: sha256sum -c --quiet SHA256SUMS
        chdir: "{{{{ bench_root }}}}/releases/{rid}"
    - name: switch current
      ansible.builtin.file:
        src: "releases/{rid}"
        dest: "{{{{ bench_root }}}}/current"
        state: link
        force: true
""")
    env = dict(os.environ, ANSIBLE_FORKS=str(len(fleet_hosts)), ANSIBLE_HOME=str(base / "home"),
               ANSIBLE_LOCAL_TEMP=str(base / "home" / "tmp"),
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(base / "cp"), ANSIBLE_HOST_KEY_CHECKING="True",
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_CONFIG=str(base / "none.cfg"), ANSIBLE_STDOUT_CALLBACK="default")
    load = _load()
    with _Cpu() as cpu:
        started = time.monotonic()
        done = subprocess.run([playbook_cmd, "-i", str(base / "inventory.ini"),
                               str(base / "deploy.yml")], capture_output=True, text=True,
                              env=env, cwd=base, timeout=1800, check=False)
        wall = time.monotonic() - started
        cpu.extra = _ansible_masters_cpu(base / "cp")
    if done.returncode != 0:
        raise BenchError(f"ansible-playbook failed ({done.returncode}): "
                         f"{(done.stdout + done.stderr).strip()[-1500:]}")
    return {"hosts": len(fleet_hosts), "wall_s": wall, "load": load, **cpu.figures()}


def _ansible_masters_cpu(cp_dir: Path) -> float:
    """CPU seconds of Ansible's persistent ssh masters (ControlPersist, detached), which
    are then stopped: the ssh processes whose command line names a socket in ``cp_dir``."""
    cpu = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"ssh") and str(cp_dir).encode() in cmdline:
            cpu += _proc_cpu(int(entry))
            try:
                os.kill(int(entry), 15)
            except OSError:
                pass
    return cpu


def _ansible_command(path: str) -> tuple[str | None, str]:
    """``(ansible-playbook, version)`` or ``(None, why not)``."""
    if not Path(path).exists():
        return None, (f"{path} does not exist -- python3 -m venv .venv-ansible && "
                      ".venv-ansible/bin/pip install ansible-core")
    try:
        out = _check([path, "--version"], timeout=60).stdout.splitlines()[0]
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        return None, f"{path} does not run: {exc}"
    return path, out.strip()


# --------------------------------------------------------------------------- (d) one file


def _single_file(ws: Any, md_host: Any, h: Any, path: Path, repeats: int,
                 ctl_dir: Path) -> dict[str, Any]:
    from modeldeck.core.deploy import trust

    size = path.stat().st_size
    remote = str(h.home / "bench-one-file.bin")
    out: dict[str, Any] = {"bytes": size, "load": _load()}

    def best(fn: Callable[[], None]) -> tuple[float, float]:
        times = []
        for _ in range(repeats):
            t = time.monotonic()
            fn()
            times.append(time.monotonic() - t)
        return min(times), statistics.median(times)

    client = h.connect()
    try:
        sftp = client.open_sftp()
        out["paramiko_cipher"] = client.get_transport().remote_cipher
        out["paramiko_s"], out["paramiko_median_s"] = best(lambda: sftp.put(str(path), remote))
        sftp.close()
    finally:
        client.close()
    conn = trust.connect(ws, md_host, lambda _n: None)
    try:
        out["modeldeck_cipher"] = conn.client.get_transport().remote_cipher
        out["modeldeck_s"], out["modeldeck_median_s"] = best(lambda: conn.put(path, remote))
    finally:
        conn.close()
    opts = [*h.ssh_options(), *_control(ctl_dir, h)]
    try:
        _check(["ssh", *opts, h.address, "true"])  # the master, not timed
        out["scp_s"], out["scp_median_s"] = best(
            lambda: _check(["scp", "-q", *opts, str(path), f"{h.address}:{remote}"]))
        out["scp_cipher"] = _ssh_cipher(h)
    finally:
        _close_masters(ctl_dir, [h])
    Path(remote).unlink(missing_ok=True)
    return out


def _ssh_cipher(h: Any) -> str:
    """The cipher OpenSSH's client negotiates with the host (its debug log)."""
    # the first value of an option wins: this LogLevel beats ssh_options()' ERROR
    done = subprocess.run(["ssh", "-o", "LogLevel=DEBUG1", *h.ssh_options(), h.address, "true"],
                          capture_output=True, text=True, check=False, timeout=30)
    for line in done.stderr.splitlines():
        if "kex: client->server cipher:" in line:
            return line.split("cipher:", 1)[1].split()[0]
    return "?"


# --------------------------------------------------------------------------- (e) rollback


def _md_rollback(ws: Any, hosts: Sequence[Any], fleet_hosts: Sequence[Any],
                 target: str) -> dict[str, Any]:
    from modeldeck.core.deploy import rollout as ro
    from modeldeck.core.progress import run

    links = {h.name: h.home / "modeldeck" / "current" for h in fleet_hosts}
    load = _load()
    with _SwitchWatch(links, target) as watch:
        started = time.monotonic()
        result = run(ro.rollback(ws, hosts, parallel=len(hosts)))
        ended = time.monotonic()
    errors = [f"{r.host}: {r.outcome} {r.error}" for r in result.results if not r.ok]
    wrong = [r.host for r in result.results if r.ok and r.running != target]
    last = watch.last()
    return {"ok": not errors and not wrong, "errors": errors + [f"{w}: not on {target}"
                                                                for w in wrong],
            "whole_s": ended - started, "switch_s": (last - started) if last else None,
            "load": load,
            "per_host_max": {**_slowest([r.timings for r in result.results],
                                        ("connecting", "switching")),
                             **_slowest(_journal_timings(fleet_hosts),
                                        ("switch", "stop", "start", "ready", "smoke"),
                                        prefix="host ")}}


def _openssh_switch(fleet_hosts: Sequence[Any], target: str) -> float:
    def one(h: Any) -> None:
        _check(h.ssh_command(f"cd bench-scp && ln -sfn releases/{target} current"))

    started = time.monotonic()
    with cf.ThreadPoolExecutor(max_workers=len(fleet_hosts)) as pool:
        list(pool.map(one, fleet_hosts))
    return time.monotonic() - started


def _paramiko_switch(fleet_hosts: Sequence[Any], target: str) -> float:
    def one(h: Any) -> None:
        client = h.connect()
        try:
            _stdin, stdout, _stderr = client.exec_command(
                f"cd bench-scp && ln -sfn releases/{target} current")
            if stdout.channel.recv_exit_status() != 0:
                raise BenchError(f"{h.name}: ln -sfn failed")
        finally:
            client.close()

    started = time.monotonic()
    with cf.ThreadPoolExecutor(max_workers=len(fleet_hosts)) as pool:
        list(pool.map(one, fleet_hosts))
    return time.monotonic() - started


# --------------------------------------------------------------------------- (f) redeploy


def _missing_on_hosts(ws: Any, hosts: Sequence[Any], release: Any) -> dict[str, list[str]]:
    """What each host's agent says it lacks of ``release`` (nothing is changed)."""
    from modeldeck.core.deploy import trust
    from modeldeck.core.deploy.session import HostSession

    def one(host: Any) -> list[str]:
        session = HostSession.start(trust.connect(ws, host, lambda _n: None), host)
        try:
            answer = session.agent("plan", "--release", release.release_id,
                                   stdin=release.manifest_bytes())
        finally:
            session.close()
        return [str(m) for m in answer.get("missing", [])]

    with cf.ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        return dict(zip([h.name for h in hosts], pool.map(one, hosts), strict=True))


# --------------------------------------------------------------------------- output


def _fmt(value: float | None, unit: str = "s") -> str:
    return "n/a" if value is None else f"{value:.2f} {unit}".strip()


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b <= 0 else f"{a / b:.2f}x"


def _print_deploys(deploys: list[dict[str, Any]], release_mb: float) -> None:
    _say(f"\n== (a)-(c) Deploy a {release_mb:.1f} MB release to N hosts "
         "(ModelDeck: canary 0, parallel N) ==")
    head = (f"{'N':>3} {'load':>10} {'MD build':>9} {'MD up+ver+sw':>13} {'MD restart*':>12} "
            f"{'MD whole':>9} {'scp+ssh':>8} {'Ansible':>8} {'MD uvs/scp':>11} "
            f"{'Ansible/MD uvs':>15} {'MD whole/scp':>13}")
    _say(head)
    for d in deploys:
        md, scp, ans = d.get("modeldeck"), d.get("scp"), d.get("ansible")
        ans_s = ans["wall_s"] if ans else None
        uvs = md["uvs_s"] if md else None
        _say(f"{d['hosts']:>3} {md['load'] if md else '':>10} "
             f"{_fmt(md and md['build_s']):>9} {_fmt(uvs):>13} "
             f"{_fmt(md and md['restart_max_s']):>12} {_fmt(md and md['whole_s']):>9} "
             f"{_fmt(scp and scp['wall_s']):>8} {_fmt(ans_s):>8} "
             f"{_ratio(uvs, scp and scp['wall_s']):>11} {_ratio(ans_s, uvs):>15} "
             f"{_ratio(md and md['whole_s'], scp and scp['wall_s']):>13}")
    _say("MD up+ver+sw: release built -> last host's `current` switched (connect, lock, probe,"
         " upload, verify, commit, switch); *restart: stop+start+/ready+smoke on the slowest "
         "host (agent's timing); whole: rollout() call to return; load: 1/5-min load average "
         "at the start")
    _say("CPU seconds on this machine's side per deploy (ModelDeck: its client threads; "
         "scp: scp, ssh and the ControlMasters; Ansible: ansible-playbook and its ssh) and of "
         "the hosts' prediction servers (start, model load, self-check; ModelDeck only)")
    _say(f"{'N':>3} {'MD client':>10} {'MD servers':>11} {'scp client':>11} {'Ans client':>11}")
    for d in deploys:
        md, scp, ans = d.get("modeldeck") or {}, d.get("scp") or {}, d.get("ansible") or {}
        _say(f"{d['hosts']:>3} {_fmt(md.get('client_cpu_s')):>10} "
             f"{_fmt(md.get('servers_cpu_s')):>11} {_fmt(scp.get('client_cpu_s')):>11} "
             f"{_fmt(ans.get('client_cpu_s')):>11}")
    for d in deploys:
        md = d.get("modeldeck")
        if md:
            steps = ", ".join(f"{k} {v:.2f}" for k, v in md["per_host_max"].items())
            _say(f"  N={d['hosts']} ModelDeck slowest host per step (s): {steps}")
        scp = d.get("scp")
        if scp:
            steps = ", ".join(f"{k} {v:.2f}" for k, v in scp["per_host_max"].items())
            _say(f"  N={d['hosts']} scp+ssh slowest host per step (s): {steps}")
        for err in (md or {}).get("errors", []):
            _say(f"  N={d['hosts']} ModelDeck ERROR {err}")


def _targets(report: dict[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []

    def add(name: str, status: str, detail: str) -> None:
        out.append({"target": name, "status": status, "detail": detail})

    big = max(report["deploys"], key=lambda d: d["hosts"]) if report["deploys"] else None
    md = big and big.get("modeldeck")
    scp = big and big.get("scp")
    ans = big and big.get("ansible")
    n = big["hosts"] if big else 0
    name = f"upload+verify+switch to {n} hosts <= {TARGET_UVS_VS_SCP}x parallel scp"
    if md and scp and md["uvs_s"] and md["ok"]:
        ratio = md["uvs_s"] / scp["wall_s"]
        add(name, "PASS" if ratio <= TARGET_UVS_VS_SCP else "FAIL",
            f"{md['uvs_s']:.2f} s vs {scp['wall_s']:.2f} s = {ratio:.2f}x"
            + ("" if n >= 20 else " (the issue's target is for 20 hosts)"))
    else:
        add(name, "SKIP" if not md else "FAIL", "not measured" if not md else
            "ModelDeck's deploy failed")
    name = f"{TARGET_VS_ANSIBLE}x faster than Ansible's copy ({n} hosts)"
    if md and ans and md["uvs_s"]:
        ratio = ans["wall_s"] / md["uvs_s"]
        add(name, "PASS" if ratio >= TARGET_VS_ANSIBLE else "FAIL",
            f"Ansible {ans['wall_s']:.2f} s / ModelDeck {md['uvs_s']:.2f} s = {ratio:.1f}x")
    else:
        add(name, "SKIP", "Ansible not measured")
    one = report.get("single_file")
    name = f"one file >= {TARGET_FILE_VS_SCP}x scp's throughput"
    if one:
        ratio = one["scp_s"] / one["modeldeck_s"]
        add(name, "PASS" if ratio >= TARGET_FILE_VS_SCP else "FAIL",
            f"{one['bytes'] / 1e6 / one['modeldeck_s']:.0f} vs "
            f"{one['bytes'] / 1e6 / one['scp_s']:.0f} MB/s = {ratio:.2f}x")
    else:
        add(name, "SKIP", "not measured")
    rb = report.get("rollback")
    name = f"rollback of {rb['hosts'] if rb else 20} hosts < {TARGET_ROLLBACK_S:g} s (switch)"
    if rb and rb.get("modeldeck_switch_s") is not None:
        add(name, "PASS" if rb["modeldeck_switch_s"] < TARGET_ROLLBACK_S else "FAIL",
            f"switch {rb['modeldeck_switch_s']:.2f} s (whole rollback with restarts "
            f"{rb['modeldeck_whole_s']:.2f} s)"
            + ("" if rb["hosts"] >= 20 else " (the issue's target is for 20 hosts)"))
    else:
        add(name, "SKIP" if not rb else "FAIL", "not measured" if not rb else
            "ModelDeck's rollback failed")
    re = report.get("redeploy")
    name = "a redeploy of an unchanged model sends no model bytes"
    if re:
        model_bytes = re["same_release_bytes"] + re["new_release_model_bytes"]
        add(name, "PASS" if model_bytes == 0 else "FAIL",
            f"same release again: {re['same_release_bytes']} bytes; new release of the same "
            f"model file: {re['new_release_model_bytes']} model bytes "
            f"({re['new_release_bytes']} bytes in all per host)")
    else:
        add(name, "SKIP", "not measured")
    return out


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 5 hosts only")
    parser.add_argument("--hosts", default=None,
                        help="host counts, comma-separated (default 1,5,20; --quick 1,5)")
    parser.add_argument("--no-ansible", action="store_true", help="skip Ansible")
    parser.add_argument("--ansible-playbook",
                        default=str(REPO / ".venv-ansible" / "bin" / "ansible-playbook"))
    parser.add_argument("--file-repeats", type=int, default=3)
    parser.add_argument("--rollback-repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--workspace", type=Path,
                        help="keep the benchmark's workspace (trained model, releases) in "
                             "this folder and reuse it next time (default: a temp folder)")
    args = parser.parse_args(argv)
    counts = sorted({int(x) for x in (args.hosts or ("1,5" if args.quick else "1,5,20"))
                     .split(",")})
    if os.geteuid() != 0:
        _say("deploy_bench needs root (it starts a fleet of sshd with one Unix user per host)")
        return 2

    work = Path(tempfile.mkdtemp(prefix="modeldeck-deploy-bench-"))
    # never touch the real user's ModelDeck settings or workspace
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"),
                     ("XDG_STATE_HOME", "state")):
        os.environ[var] = str(work / sub)
    os.environ.pop("MODELDECK_WORKSPACE", None)
    os.environ["MODELDECK_USER"] = ACTOR
    sys.path.insert(0, str(REPO / "tests"))
    from deploy_support.sshfleet import SYSTEM_PYTHON, SshFleet
    from deploy_support.wheelhouse import cached_wheelhouse

    ansible, ansible_info = (None, "skipped: --no-ansible") if args.no_ansible else \
        _ansible_command(args.ansible_playbook)
    started = time.monotonic()
    _say(f"deploy_bench: hosts {counts}, {os.cpu_count()} CPUs, load {_load()} "
         f"(1/5-min); OpenSSH: {_check(['ssh', '-V']).stderr.strip()}; paramiko "
         f"{importlib.metadata.version('paramiko')}; Ansible: {ansible_info}")
    report: dict[str, Any] = {"counts": counts, "cpus": os.cpu_count(), "deploys": [],
                              "ansible": ansible_info}
    fleet = None
    ctl_dir = Path(tempfile.mkdtemp(prefix="mdb-", dir="/tmp"))  # short: socket paths
    try:
        wheelhouse = cached_wheelhouse(
            [f"{p}=={importlib.metadata.version(p)}" for p in HOST_PACKAGES], SYSTEM_PYTHON,
            WHEELHOUSE_CACHE)
        python = _host_venv(wheelhouse)
        t = time.monotonic()
        ws = _workspace(args.workspace or work)
        from modeldeck.core.deploy import rollout as ro

        # Frozen release folders, deployed by path: a release carries the runtime code of
        # the source tree, so deploying the ref again would build a new release whenever
        # someone edits core/ while the benchmark runs.
        v1, v2 = (ro.build_for_deploy(ws, _freeze(ro.build_for_deploy(ws, f"{MODEL}:{n}"),
                                                  work / "releases"))
                  for n in (1, 2))
        ref1, ref2 = str(v1.path), str(v2.path)
        artifact = next(v1.path / rel for rel in v1.files() if rel.startswith("model/model."))
        _say(f"release {v1.release_id}: {v1.size / 1e6:.1f} MB in {len(v1.files())} files, "
             f"artifact {artifact.stat().st_size / 1e6:.1f} MB ({TREES} trees); v2 "
             f"{v2.release_id} (same artifact); trained and registered in "
             f"{time.monotonic() - t:.0f} s")
        baseline_dir = _baseline_release(v1, work / "baseline")
        fleet = SshFleet()
        fleet_hosts = fleet.hosts(max(counts))
        port = _free_port([h.address for h in fleet_hosts])
        hosts = _register_hosts(ws, fleet_hosts, python, port)
        _say(f"fleet: {len(fleet_hosts)} sshd on {fleet_hosts[0].address}..."
             f"{fleet_hosts[-1].address}; hosts' python {python}; servers on port {port}")

        # (d) first, on a quiet fleet
        _say("\n(d) one file ...")
        report["single_file"] = _single_file(ws, hosts[0], fleet_hosts[0], artifact,
                                             args.file_repeats, ctl_dir)

        for n in counts:
            _reset(fleet_hosts[:n])
            row: dict[str, Any] = {"hosts": n}
            _say(f"\n(a) ModelDeck deploy to {n} hosts ...")
            row["modeldeck"] = _md_deploy(ws, ref1, v1, hosts[:n], fleet_hosts[:n])
            _say(f"(b) parallel scp + ssh to {n} hosts ...")
            row["scp"] = _scp_deploy(fleet_hosts[:n], baseline_dir, ctl_dir)
            if ansible:
                _say(f"(c) Ansible copy to {n} hosts ...")
                try:
                    row["ansible"] = _ansible_deploy(ansible, fleet_hosts[:n], baseline_dir,
                                                     work)
                except BenchError as exc:
                    _say(f"Ansible failed: {exc}")
                    report["ansible"] = f"failed: {exc}"
            report["deploys"].append(row)

        n = max(counts)
        big, fleet_big = hosts[:n], fleet_hosts[:n]
        # (f) redeploys
        _say(f"\n(f) redeploys to {n} hosts ...")
        again = _md_deploy(ws, ref1, v1, big, fleet_big)
        missing = _missing_on_hosts(ws, big, v2)
        sizes = {rel: (v2.path / rel).stat().st_size for rel in v2.files()}
        model_missing = max(sum(sizes.get(m, 0) for m in ms if m.startswith("model/model."))
                            for ms in missing.values())
        second = _md_deploy(ws, ref2, v2, big, fleet_big)
        report["redeploy"] = {
            "hosts": n, "same_release_bytes": max(again["bytes_sent"]),
            "same_release_whole_s": again["whole_s"], "same_release_ok": again["ok"],
            "new_release_missing": sorted({m for ms in missing.values() for m in ms}),
            "new_release_model_bytes": model_missing,
            "new_release_bytes": max(second["bytes_sent"]),
            "new_release_whole_s": second["whole_s"], "new_release_ok": second["ok"],
            "new_release_errors": second["errors"]}

        # (e) rollback: the hosts run v2 with v1 before it; the scp baseline's folder gets a
        # second release to switch between
        _say(f"(e) rollback of {n} hosts ...")
        for h in fleet_big:
            _check(h.ssh_command(f"mkdir -p bench-scp/releases/{v2.release_id}"))
        md_runs, ssh_runs, pmk_runs = [], [], []
        targets = [v1.release_id, v2.release_id]
        for i in range(args.rollback_repeats):
            md_runs.append(_md_rollback(ws, big, fleet_big, targets[i % 2]))
            ssh_runs.append(_openssh_switch(fleet_big, targets[(i + 1) % 2]))
            pmk_runs.append(_paramiko_switch(fleet_big, targets[i % 2]))
        ok_runs = [r for r in md_runs if r["ok"]]
        best_md = min(ok_runs, key=lambda r: r["switch_s"] or 1e9) if ok_runs else md_runs[0]
        report["rollback"] = {
            "hosts": n, "modeldeck_runs": md_runs,
            "modeldeck_switch_s": best_md["switch_s"] if ok_runs else None,
            "modeldeck_whole_s": min(r["whole_s"] for r in ok_runs) if ok_runs else None,
            "openssh_s": min(ssh_runs), "paramiko_s": min(pmk_runs),
            "openssh_runs": ssh_runs, "paramiko_runs": pmk_runs}
    finally:
        if fleet is not None:
            _close_masters(ctl_dir, fleet.all_hosts)
            fleet.close()
        shutil.rmtree(ctl_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)

    # ----- the tables
    release_mb = v1.size / 1e6
    _print_deploys(report["deploys"], release_mb)
    one = report["single_file"]
    mb = one["bytes"] / 1e6
    _say(f"\n== (d) One {mb:.1f} MB file to one host (connection open; best of "
         f"{args.file_repeats}; load {one['load']}) ==")
    _say(f"{'client':<34} {'cipher':<30} {'seconds':>8} {'MB/s':>7} {'vs scp':>7}")
    for label, key, cipher in (("scp (OpenSSH, ControlMaster)", "scp", "scp_cipher"),
                               ("paramiko SFTPClient.put (defaults)", "paramiko",
                                "paramiko_cipher"),
                               ("ModelDeck SSHConnection.put", "modeldeck", "modeldeck_cipher")):
        s = one[f"{key}_s"]
        _say(f"{label:<34} {one[cipher]:<30} {s:>8.3f} {mb / s:>7.0f} "
             f"{one['scp_s'] / s:>6.2f}x")
    rb = report["rollback"]
    _say(f"\n== (e) Rollback of {rb['hosts']} hosts (best of {args.rollback_repeats}) ==")
    _say(f"ModelDeck rollback, switch (all `current` back): {_fmt(rb['modeldeck_switch_s'])}")
    _say(f"ModelDeck rollback, whole (switch, restart, /ready, smoke, records): "
         f"{_fmt(rb['modeldeck_whole_s'])}")
    _say(f"OpenSSH, parallel `ssh host ln -sfn` (fresh connections): {_fmt(rb['openssh_s'])}")
    _say(f"paramiko, one connection per host, `ln -sfn`: {_fmt(rb['paramiko_s'])}")
    _say(f"ModelDeck switch / OpenSSH: {_ratio(rb['modeldeck_switch_s'], rb['openssh_s'])}; "
         f"ModelDeck switch / bare paramiko: "
         f"{_ratio(rb['modeldeck_switch_s'], rb['paramiko_s'])}")
    for r in rb["modeldeck_runs"]:
        steps = ", ".join(f"{k} {v:.2f}" for k, v in r["per_host_max"].items())
        _say(f"  run: switch {_fmt(r['switch_s'])}, whole {_fmt(r['whole_s'])}, load "
             f"{r['load']}; slowest host per step (s): {steps}"
             + (f"; ERRORS {r['errors']}" if r["errors"] else ""))
    re = report["redeploy"]
    _say(f"\n== (f) Redeploys to {re['hosts']} hosts ==")
    _say(f"{MODEL}:1 again (already running): {re['same_release_bytes']} bytes sent per host, "
         f"{re['same_release_whole_s']:.2f} s")
    _say(f"{MODEL}:2 (same model file, new release): hosts lacked "
         f"{', '.join(re['new_release_missing']) or 'nothing'}; sent "
         f"{re['new_release_bytes']} bytes per host, of them model bytes "
         f"{re['new_release_model_bytes']}; {re['new_release_whole_s']:.2f} s"
         + (f"; ERRORS {re['new_release_errors']}" if re["new_release_errors"] else ""))
    targets = _targets(report)
    report["targets"] = targets
    _say("\n== Targets (issue 5) ==")
    for t in targets:
        _say(f"{t['status']:<5} {t['target']}: {t['detail']}")
    _say(f"\ndone in {time.monotonic() - started:.0f} s, load {_load()}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    return 1 if any(t["status"] == "FAIL" for t in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
