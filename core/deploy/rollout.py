"""Deploy a release to hosts, roll hosts back, and read what runs where.

One host (:func:`deploy_host`): take the host's lock; probe it (Python, platform, disk,
packages) and refuse an incompatible host before anything is uploaded; make sure a Python
environment that can serve the model is there (the host's own, or a venv installed from a
wheelhouse with ``--no-index``, cached by an environment hash); upload the release into
``releases/<id>.partial`` — files the host already has from earlier releases are
hard-linked there, not sent; verify every sha256 on the host; rename to ``releases/<id>``;
then the host's agent switches ``current``, restarts the server, waits for ``/ready`` and
runs a smoke prediction, switching back and restarting the previous release by itself if
any of that fails. The switch runs detached on the host, so a connection lost mid-way never
leaves it half-done: the outcome is read back from the host's journal after reconnecting.

On the host this is four calls of the agent, each one Python process (their start-up, not
the network, is what a fleet of small hosts waits for): ``begin`` (lock, probe, status),
``prepare`` (what to send), ``stage`` (verify, commit) and ``finish`` (switch, restart,
/ready, smoke, prune, unlock); a rollback is one: ``rollback``.

The fleet (:func:`rollout`): canary hosts first; if one fails, the rest are not touched.
Then the others in parallel (``parallel`` at a time), stopping once more than
``max_failures`` failed. Cancelling stops hosts between steps — a host whose switch had
begun finishes it — so every host ends on a whole release.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from modeldeck.core.deploy import envs
from modeldeck.core.deploy import transport as tp
from modeldeck.core.deploy import trust
from modeldeck.core.deploy.session import AgentRefused, HostSession
from modeldeck.core.errors import Cancelled, DeployError, HostLockedError, ModelDeckError
from modeldeck.core.progress import CancelToken, Operation, ProgressEvent

log = logging.getLogger("modeldeck.deploy")

#: Oldest Python the runtime runs on.
MIN_PYTHON = (3, 10)
#: Seconds the agent waits for ``/ready`` after starting the server.
READY_TIMEOUT = 90.0
#: Seconds to keep trying to reach a host again after its connection was lost mid-deploy.
RECONNECT_TIMEOUT = 30.0


@dataclass(frozen=True)
class DeployEvent(ProgressEvent):
    """A progress event of a deploy, rollback or status check, for one host or all.

    ``fraction`` is the whole operation's progress; ``host_fraction`` the host's.
    """

    host: str = ""
    bytes_done: int = 0
    bytes_total: int = 0
    host_fraction: float | None = None
    level: str = "info"


@dataclass(frozen=True)
class DeployOptions:
    """How to roll out."""

    canary: int = 1
    parallel: int = 8
    max_failures: int = 0
    keep: int = 5
    ready_timeout: float = READY_TIMEOUT
    wheelhouse: Path | None = None
    build_wheelhouse: bool = False


@dataclass(frozen=True)
class HostResult:
    """What a deploy or rollback did on one host."""

    host: str
    action: str
    #: ``ok``, ``rolled-back`` (the new release failed, the previous one serves again),
    #: ``failed`` (nothing changed, or the host could not be restored), ``cancelled``,
    #: ``skipped`` (not tried: the rollout stopped) or ``unknown`` (connection lost while
    #: switching; ``modeldeck status`` tells).
    outcome: str
    release_id: str = ""
    previous: str = ""
    running: str = ""
    error: str = ""
    bytes_sent: int = 0
    bytes_linked: int = 0
    files_sent: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    env: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True)
class RolloutResult:
    """A fleet operation's results, host by host."""

    action: str
    release_id: str
    model: str
    version: int
    results: list[HostResult]
    canary: list[str]
    stopped: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.outcome] = out.get(r.outcome, 0) + 1
        return out


@dataclass(frozen=True)
class HostPlan:
    """What a deploy would change on one host (``--plan``); nothing is changed."""

    host: str
    reachable: bool
    current: str = ""
    target: str = ""
    action: str = ""
    files_to_send: int = 0
    bytes_to_send: int = 0
    bytes_linked: int = 0
    env: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HostState:
    """What runs on a host now (``modeldeck status``)."""

    host: str
    reachable: bool
    release_id: str = ""
    model: str = ""
    version: int | None = None
    healthy: bool = False
    detail: str = ""
    free_bytes: int | None = None
    releases: list[str] = field(default_factory=list)
    pid: int | None = None
    checked_at: str = ""


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def parse_release_id(release_id: str) -> tuple[str, int | None]:
    """``breast-cancer-v2-0123abcd4567`` → ``("breast-cancer", 2)``."""
    head, _, _digest = release_id.rpartition("-")
    name, _, version = head.rpartition("-v")
    try:
        return name, int(version)
    except ValueError:
        return release_id, None


# --------------------------------------------------------------------------- the release


@dataclass(frozen=True)
class _Release:
    path: Path
    release_id: str
    model: str
    version: int
    manifest: dict[str, Any]
    requirements: envs.Requirements
    size: int
    #: reviewer → SSH signature over the manifest, for hosts that check them
    signatures: dict[str, str] = field(default_factory=dict)

    def files(self) -> dict[str, str]:
        return dict(self.manifest["files"])

    def manifest_bytes(self) -> bytes:
        return (self.path / "manifest.json").read_bytes()


def _load_release(path: Path) -> _Release:
    manifest = json.loads((path / "manifest.json").read_text())
    model = manifest["model"]
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return _Release(path, manifest["release_id"], model["name"], int(model["version"]),
                    manifest, envs.requirements_for(model.get("environment", {}),
                                                    model.get("format", "skops")), size)


def build_for_deploy(workspace: Any, ref: str, cache: Path | None = None) -> _Release:
    """Build the release of ``ref`` (once: rebuilt releases are identical and reused).

    ``ref`` may also be the path of a release folder written by ``modeldeck bundle``; it
    is verified (every sha256, the manifest against its id) and deployed as it is.
    """
    from modeldeck.core.bundle import build_release
    from modeldeck.core.registry import Registry

    folder = Path(ref).expanduser()
    if (folder / "manifest.json").is_file():
        from modeldeck.core.runtime import release as rel

        problems = rel.verify_files(folder, rel.read_manifest(folder))
        if problems:
            raise DeployError(f"the release folder {folder} is damaged: "
                              + "; ".join(problems[:3]),
                              "rebuild it with `modeldeck bundle`")
        return _load_release(folder)

    registry = Registry(workspace)
    info = registry.get_version(ref)
    cache = cache or Path(workspace.path) / "releases"
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=cache))
    try:
        built = build_release(registry, info.ref, staging / "release",
                              actor=workspace.identity.name)
        final = cache / built.release_id
        if not (final / "manifest.json").is_file():
            try:
                os.replace(built.path, final)
            except OSError:
                # another deploy of the same version (a thread, a process) put its
                # identical build there first — or a damaged leftover is in the way
                if not (final / "manifest.json").is_file():
                    shutil.rmtree(final, ignore_errors=True)
                    os.replace(built.path, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _load_release(final)


def approved_release(workspace: Any, release: _Release) -> tuple[_Release, Any | None]:
    """The release to deploy and its approved candidate (``None`` when the model's policy
    lets unreviewed versions deploy and nobody approved this one).

    When a candidate approved ``release`` (same release id), its own folder — the files
    whose manifest the reviewers signed — is what gets deployed.

    Raises
    ------
    NotDeployableError
        The model's policy requires approval (the default) and the release has no
        approved candidate whose signatures verify against its manifest.
    """
    from modeldeck.core.release import NotDeployableError, Releases, load_policy

    releases = Releases(workspace)
    try:
        candidate = releases.check_deployable(release.release_id)
    except NotDeployableError as exc:
        if load_policy(workspace, release.model).required_for_deploy:
            raise NotDeployableError(
                f"{release.model} v{release.version} cannot be deployed: {exc.message}",
                f"{exc.fix} (or, for a model that needs no review, set required_for_deploy "
                f"= false under [approval] in policies/{release.model}.toml)") from None
        return release, None
    approved = replace(_load_release(releases.release_dir(candidate)),
                       signatures=releases.signatures_for(candidate.id))
    return approved, candidate


# --------------------------------------------------------------------------- one host


class SwitchGate:
    """Holds the hosts of one wave between staging and switching (a two-phase rollout):
    no host switches until every host of the wave has its release uploaded, verified and
    committed — or failed — and none does when more failed than ``tolerated``. So a wave
    switches together (the fleet is mixed for seconds, not for the length of the slowest
    upload) and a bad wave switches nowhere."""

    def __init__(self, hosts: int, tolerated: int, cancel: CancelToken) -> None:
        self._waiting = hosts
        self._failed = 0
        self.tolerated = tolerated
        self._cancel = cancel
        self._cond = threading.Condition()

    def failed(self) -> None:
        """A host of the wave failed before the gate."""
        with self._cond:
            self._waiting -= 1
            self._failed += 1
            self._cond.notify_all()

    def staged(self) -> bool:
        """A host has its release staged: wait for the others; ``True`` to switch."""
        with self._cond:
            self._waiting -= 1
            self._cond.notify_all()
            while self._waiting > 0 and not self._cancel.is_cancelled:
                self._cond.wait(0.2)
            return not self._cancel.is_cancelled and self._failed <= self.tolerated

    @property
    def failures(self) -> int:
        with self._cond:
            return self._failed


class _HostRun:
    """The state of one host's deploy, with its event sink."""

    def __init__(self, host: Any, emit: Callable[[DeployEvent], None], cancel: CancelToken,
                 actor: str) -> None:
        self.host = host
        self.emit = emit
        self.cancel = cancel
        self.actor = actor
        self.timings: dict[str, float] = {}
        self._step_started = time.monotonic()
        self._step = ""

    def step(self, name: str, fraction: float | None, message: str = "") -> None:
        now = time.monotonic()
        if self._step:
            self.timings[self._step] = self.timings.get(self._step, 0.0) + (
                now - self._step_started)
        self._step, self._step_started = name, now
        self.emit(DeployEvent(step=name, message=message or name, host=self.host.name,
                              host_fraction=fraction))

    def log(self, message: str, level: str = "info") -> None:
        self.emit(DeployEvent(step=self._step, message=message, host=self.host.name,
                              level=level))

    def finish(self) -> dict[str, float]:
        if self._step:
            self.timings[self._step] = self.timings.get(self._step, 0.0) + (
                time.monotonic() - self._step_started)
            self._step = ""
        return {k: round(v, 3) for k, v in self.timings.items() if k}


def _owner(actor: str, operation: str) -> str:
    return json.dumps({"who": actor, "where": socket.gethostname(), "pid": os.getpid(),
                       "operation": operation})


def python_version(probe: dict[str, Any]) -> str:
    """The host Python's version from an agent ``probe`` answer (``"3.11.2"``)."""
    info = probe.get("python")
    return str(info.get("version", "0") if isinstance(info, dict) else info or "0")


def python_path(probe: dict[str, Any]) -> str:
    """The host Python's executable from an agent ``probe`` answer."""
    info = probe.get("python")
    return str(info.get("executable", "") if isinstance(info, dict) else "")


def _check_python(host: str, probe: dict[str, Any]) -> list[str]:
    problems = []
    version = python_version(probe)
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts < MIN_PYTHON:
        problems.append(f"{host}'s Python is {version}; the server needs "
                        f"{'.'.join(map(str, MIN_PYTHON))} or newer")
    return problems


def _env_plan(host: Any, probe: dict[str, Any], release: _Release,
              wheelhouse: envs.Wheelhouse | None) -> tuple[str, list[str]]:
    """``("host", [])`` to serve with the host's Python, ``("venv", [])`` to install one
    from the wheelhouse, ``("pinned-venv", [])`` to have a pinned agent install one from its
    admin's wheels, or ``("", problems)`` when none works."""
    problems = _check_python(host.name, probe)
    if problems:
        return "", problems
    lacking = envs.unmet(release.requirements, probe.get("packages") or {})
    if not lacking:
        return "host", []
    pinned = bool(probe.get("pinned"))  # its admin's wheels, never the desktop's
    if pinned and not probe.get("pinned_wheelhouse"):
        return "", [f"{host.name}'s Python lacks {', '.join(lacking)}, and its pinned "
                    "agent has no wheelhouse — its admin installs them there, or puts "
                    "their wheels in the agent's --wheelhouse folder"]
    if not pinned and wheelhouse is None:
        return "", [f"{host.name}'s Python lacks {', '.join(lacking)} and no wheelhouse was "
                    "given — pass --wheelhouse DIR (wheels for the host) or "
                    "--build-wheelhouse (downloads them here for the host's Python)"]
    if not probe.get("venv", False):
        return "", [f"{host.name}'s Python cannot create virtual environments (no venv/"
                    "ensurepip module) — install python3-venv there"]
    if pinned:
        return "pinned-venv", []
    assert wheelhouse is not None
    missing = envs.missing_from(wheelhouse, release.requirements)
    if missing:
        return "", [f"the wheelhouse {wheelhouse.path} has no wheel for "
                    f"{', '.join(missing)} — add them or rebuild it"]
    return "venv", []


def _check_signed(host: str, probe: dict[str, Any], release: _Release) -> list[str]:
    if probe.get("requires_signatures") and not release.signatures:
        return [f"{host} runs only releases its reviewers signed, and {release.release_id} "
                "has no approval — approve a candidate of it (`modeldeck release create "
                f"{release.model}:{release.version}`, then `release approve`)"]
    return []


def _check_disk(host: str, probe: dict[str, Any], need: int) -> list[str]:
    free = probe.get("free_bytes")
    if isinstance(free, int) and free < need:
        return [f"{host}'s disk is too full: {free / 1e6:.0f} MB free under its deploy "
                f"root, the release needs about {need / 1e6:.0f} MB — free some space "
                "(older releases go with `--keep`)"]
    return []


def _ensure_env(session: HostSession, run: _HostRun, release: _Release,
                wheelhouse: envs.Wheelhouse, python_version: str) -> tuple[str, int]:
    """Upload missing wheels and install (or reuse) the venv; returns its python and the
    bytes sent."""
    env = envs.env_hash(python_version, release.requirements, wheelhouse)
    answer = session.agent("prepare-wheels",
                           stdin=json.dumps({"files": wheelhouse.files}).encode())
    missing = list(answer.get("missing", []))
    total = sum((wheelhouse.path / n).stat().st_size for n in missing)
    sent = 0
    if missing:
        run.step("sending wheels", 0.15, f"sending {len(missing)} wheels "
                 f"({total / 1e6:.1f} MB)")

        def on_bytes(n: int) -> None:
            nonlocal sent
            sent += n
            run.emit(DeployEvent(step="sending wheels", host=run.host.name,
                                 bytes_done=sent, bytes_total=total,
                                 host_fraction=0.15 + 0.2 * sent / max(total, 1)))
        for name in missing:
            target = session.path("wheelhouse", name)
            session.connection.put(wheelhouse.path / name, target + ".part",
                                   on_bytes=on_bytes, cancel=run.cancel)
            done = session.connection.run(f"mv -f {tp.quote(target + '.part')} "
                                          f"{tp.quote(target)}")
            if done.returncode != 0:
                raise DeployError(f"{run.host.name}: cannot store {name} "
                                  f"({done.error_text()})", "check the host's free disk")
        session.agent("verify-wheels", stdin=json.dumps({"files": wheelhouse.files}).encode())
    run.step("installing environment", 0.35, f"environment {env}")
    requirements = session.path("envs", f"{env}.requirements.txt")
    session.write_file(requirements, release.requirements.text().encode())
    answer = session.agent("install-env", "--hash", env, "--requirements-file", requirements,
                           timeout=900)
    run.log("reused environment " + env if answer.get("reused")
            else f"installed environment {env}")
    return str(answer["python"]), sent


def _ensure_pinned_env(session: HostSession, run: _HostRun, release: _Release,
                       python_version: str) -> str:
    """Install (or reuse) the venv of a pinned host from its admin's wheelhouse; returns
    its python."""
    env = envs.env_hash(python_version, release.requirements, None)
    run.step("installing environment", 0.35, f"environment {env} from the host's wheels")
    answer = session.agent("install-env", "--hash", env, "--requirements-file", "-",
                           stdin=release.requirements.text().encode(), timeout=900)
    run.log("reused environment " + env if answer.get("reused")
            else f"installed environment {env}")
    return str(answer["python"])


def _upload(session: HostSession, run: _HostRun, release: _Release) -> tuple[int, int, int]:
    """Put the release in ``releases/<id>`` (hard-linking what the host has); returns
    ``(bytes sent, bytes linked, files sent)``."""
    run.step("uploading", 0.4, f"release {release.release_id}")
    answer = session.agent("prepare", "--release", release.release_id,
                           stdin=release.manifest_bytes())
    if answer.get("exists"):
        run.log(f"{release.release_id} is already on the host: nothing to send")
        if release.signatures:  # approved since it got there: the host gets the signatures
            _stage(session, release)
        return 0, 0, 0
    missing = list(answer.get("missing", []))
    total = sum((release.path / m).stat().st_size for m in missing)
    sent = 0
    partial = session.path("releases", release.release_id + ".partial")

    def on_bytes(n: int) -> None:
        nonlocal sent
        sent += n
        run.emit(DeployEvent(step="uploading", host=run.host.name, bytes_done=sent,
                             bytes_total=total, host_fraction=0.4 + 0.3 * sent / max(total, 1)))
    session.send_files(release.path, missing, partial, release.release_id,
                       on_bytes=on_bytes, cancel=run.cancel)
    linked = int(answer.get("linked_bytes", 0))
    run.log(f"sent {len(missing)} files ({sent / 1e6:.2f} MB), hard-linked "
            f"{answer.get('linked', 0)} ({linked / 1e6:.2f} MB) from earlier releases")
    run.step("verifying", 0.72)
    _stage(session, release)
    return sent, linked, len(missing)


def _stage(session: HostSession, release: _Release) -> None:
    """Verify and commit the upload, with the approvals' signatures (which a host that
    requires them checks before switching)."""
    sent: dict[str, Any] = {"signatures": release.signatures}
    if release.signatures:
        # the exact manifest they signed (a copy built elsewhere differs in built_at/by)
        sent["manifest"] = release.manifest_bytes().decode("utf-8")
    session.agent("stage", "--release", release.release_id, timeout=300,
                  stdin=json.dumps(sent).encode())


def _serve_args(host: Any, ready_timeout: float) -> list[str]:
    """The agent options of how ``host`` serves (bind, port, supervisor, ready timeout)."""
    args = ["--bind", host.serve_bind, "--port", str(host.serve_port),
            "--ready-timeout", f"{ready_timeout:g}"]
    if getattr(host, "systemd", "no") == "yes":
        args += ["--supervisor", "systemd"]
    return args


def _finish(session: HostSession, release_id: str, python: str, token: str,
            options: DeployOptions) -> dict[str, Any]:
    """Activate ``release_id``, prune and free the lock (one agent call): the journal of
    the activation, plus ``pruned`` and ``unlocked``."""
    return session.agent("finish", "--release", release_id, "--python", python,
                         "--token", token, "--keep", str(options.keep),
                         *_serve_args(session.host, options.ready_timeout),
                         timeout=options.ready_timeout * 2 + 60, outcome=True)


def _reconnect(workspace: Any, host: Any, lookup: Callable[[str], Any | None],
               seconds: float) -> HostSession | None:
    """A new session to ``host``, trying for ``seconds``; ``None`` when it stays away."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return HostSession.start(trust.connect(workspace, host, lookup, timeout=5), host)
        except ModelDeckError:
            if time.monotonic() + 1.0 > deadline:
                return None
            time.sleep(1.0)


def _recover_outcome(workspace: Any, host: Any, lookup: Callable[[str], Any | None],
                     release_id: str, token: str, ready_timeout: float
                     ) -> dict[str, Any] | None:
    """After a lost connection while switching: reconnect, read the journal of the
    activation of ``release_id`` (finishing it with ``recover`` when its worker died, a
    host crash) and free our lock. ``None`` when the outcome cannot be known: the host
    stays unreachable, the activation still runs, or it never began."""
    session = _reconnect(workspace, host, lookup, RECONNECT_TIMEOUT)
    if session is None:
        return None
    try:
        # as long as the activation itself may take (start, ready, and the switch back)
        wait = ready_timeout * 2 + 30
        journal = session.agent("journal", "--wait", f"{wait:g}", timeout=wait + 30,
                                outcome=True)
        if journal.get("release") != release_id:
            return None  # the last activation is an older one: ours never began
        if journal.get("state") == "running" and journal.get("stale"):
            answer = session.agent("recover", timeout=ready_timeout * 2 + 60, outcome=True)
            journal = answer.get("journal") or session.agent("journal", outcome=True)
        if journal.get("state") != "done":
            return None
        return journal
    except ModelDeckError:
        return None
    finally:
        _unlock(session, token)
        session.close()


def _unlock(session: HostSession, token: str) -> bool:
    """Free the deploy lock ``token`` names; ``False`` when the host could not be told."""
    if not token:
        return True
    try:
        session.agent("unlock", "--token", token)
    except ModelDeckError:
        return False
    return True


def deploy_host(workspace: Any, host: Any, lookup: Callable[[str], Any | None],
                release: _Release, options: DeployOptions,
                wheelhouse: envs.Wheelhouse | None, emit: Callable[[DeployEvent], None],
                cancel: CancelToken, actor: str, gate: SwitchGate | None = None
                ) -> HostResult:
    """Deploy ``release`` to one host (see the module's docstring); never raises for a
    host's failure — the result says what happened. With a ``gate``, the host waits there
    once its release is staged until its wave may switch."""
    run = _HostRun(host, emit, cancel, actor)
    started = time.monotonic()
    result = HostResult(host=host.name, action="deploy", outcome="failed",
                        release_id=release.release_id)
    session = None
    token = ""
    switching = False
    gated = gate is None
    try:
        cancel.check()
        run.step("connecting", 0.0)
        connection = trust.connect(workspace, host, lookup)
        run.step("probing", 0.05)
        session, begun = HostSession.start_and_run(
            connection, host, "begin", "--owner", _owner(actor, f"deploy {release.release_id}"))
        token = str(begun.get("token", ""))
        probe, status = begun["probe"], begun["status"]
        previous = str(status.get("current") or "")
        result = replace(result, previous=previous, running=previous)
        mode, problems = _env_plan(host, probe, release, wheelhouse)
        need = release.size * 2 + (wheelhouse.size * 3 if mode == "venv" and wheelhouse
                                   else 0)
        problems += _check_signed(host.name, probe, release)
        problems += _check_disk(host.name, probe, need)
        if problems:
            raise DeployError("; ".join(problems))
        sent = 0
        if mode == "venv":
            assert wheelhouse is not None
            python, sent = _ensure_env(session, run, release, wheelhouse,
                                       python_version(probe))
        elif mode == "pinned-venv":
            python = _ensure_pinned_env(session, run, release, python_version(probe))
        else:
            python = python_path(probe) or host.python
        result = replace(result, env=python)
        cancel.check()
        up, linked, files = _upload(session, run, release)
        result = replace(result, bytes_sent=sent + up, bytes_linked=linked, files_sent=files)
        cancel.check()
        if gate is not None:
            run.step("staged", 0.78, "waiting for the other hosts of the wave")
            gated = True
            if not gate.staged():
                cancel.check()
                raise _NotSwitched(f"not switched: {gate.failures} hosts of its wave failed "
                                   f"before the switch (tolerated: {gate.tolerated})")
        run.step("switching", 0.8, f"switch to {release.release_id}, restart, wait for "
                 "/ready, smoke test")
        switching = True
        journal = _finish(session, release.release_id, python, token, options)
        switching = False
        if journal.get("unlocked"):
            token = ""
        result = _journal_result(result, journal)
        for line in (journal.get("log_tail") or "").splitlines()[-5:]:
            if result.outcome != "ok":
                run.log(line, "warning")
        removed = (journal.get("pruned") or {}).get("removed")
        if removed:
            run.log(f"removed old releases: {', '.join(removed)}")
        if journal.get("prune_error"):
            run.log(f"could not prune old releases: {journal['prune_error']}", "warning")
    except Cancelled:
        result = replace(result, outcome="cancelled", error="cancelled before the switch")
    except _NotSwitched as exc:
        result = replace(result, outcome="skipped", error=str(exc))
    except HostLockedError as exc:
        result = replace(result, outcome="failed", error=str(exc))
        token = ""
    except ModelDeckError as exc:
        result = replace(result, outcome="failed", error=str(exc))
        if isinstance(exc, AgentRefused) and exc.answer.get("began") is False:
            switching = False  # refused before anything switched: the host is as it was
        if switching:
            run.log(f"connection lost while switching ({exc}); reading the host's journal",
                    "warning")
            journal = _recover_outcome(workspace, host, lookup, release.release_id, token,
                                       options.ready_timeout)
            token = ""  # freed by _recover_outcome when the host could be reached
            if journal is not None:
                result = _journal_result(result, journal)
            else:
                result = replace(result, outcome="unknown",
                                 error=f"{exc}; the host could not be asked how the switch "
                                       "ended — run `modeldeck status`")
    except Exception as exc:  # noqa: BLE001 - a bug must not kill the other hosts
        result = replace(result, outcome="failed", error=f"unexpected error: {exc!r}")
    finally:
        if not gated:
            assert gate is not None
            gate.failed()
        if session is not None:
            if not _unlock(session, token):
                # the connection is gone: free the lock over a new one if the host
                # answers (if not, the lock names us and `hosts unlock` frees it)
                again = _reconnect(workspace, host, lookup, 0)
                if again is not None:
                    _unlock(again, token)
                    again.close()
            session.close()
    # the controller's steps, plus the host's own (host_switch, host_ready, ...) from the
    # activation's journal
    timings = {**result.timings, **run.finish()}
    return replace(result, seconds=round(time.monotonic() - started, 3), timings=timings)


class _NotSwitched(Exception):
    """The host's wave may not switch (too many of its hosts failed)."""


def _journal_result(result: HostResult, journal: dict[str, Any]) -> HostResult:
    outcome = str(journal.get("outcome") or ("ok" if journal.get("ok") else "failed"))
    running = str(journal.get("running") or journal.get("release") or "")
    if outcome == "rolled-back":
        running = str(journal.get("previous") or "")
    error = str(journal.get("error") or "")
    timings = {f"host_{k}": float(v) for k, v in (journal.get("timings") or {}).items()
               if isinstance(v, (int, float))}
    return replace(result, outcome=outcome, running=running, error=error,
                   timings={**result.timings, **timings})


# --------------------------------------------------------------------------- the fleet


def _fan_out(hosts: Sequence[Any], work: Callable[[Any, Callable[[DeployEvent], None]],
                                                   HostResult],
             parallel: int, cancel: CancelToken, done_before: int, total: int
             ) -> Iterator[DeployEvent | HostResult]:
    """Run ``work(host, emit)`` on ``hosts``, ``parallel`` at a time, yielding events and
    results as they come; once cancelled no new host starts."""
    events: queue.Queue[DeployEvent | HostResult] = queue.Queue()
    pending = list(hosts)
    running: dict[Future[HostResult], Any] = {}
    finished = done_before
    with ThreadPoolExecutor(max_workers=max(1, parallel),
                            thread_name_prefix="deploy") as pool:
        def submit() -> None:
            while pending and len(running) < max(1, parallel) and not cancel.is_cancelled:
                host = pending.pop(0)
                future = pool.submit(_guarded, work, host, events.put)
                future.add_done_callback(lambda f: events.put(f.result()))
                running[future] = host
        submit()
        while running:
            item = events.get()
            if isinstance(item, HostResult):
                for future in [f for f, h in running.items() if h.name == item.host]:
                    del running[future]
                finished += 1
                yield item
                yield DeployEvent(step="host done", host=item.host,
                                  fraction=finished / max(total, 1),
                                  message=f"{item.host}: {item.outcome}"
                                          + (f" — {item.error}" if item.error else ""),
                                  level="info" if item.ok else "error")
                submit()
            else:
                yield item
    for host in pending:
        yield HostResult(host=host.name, action="", outcome="skipped", error="cancelled")


def _guarded(work: Callable[[Any, Callable[[DeployEvent], None]], HostResult], host: Any,
             emit: Callable[[DeployEvent], None]) -> HostResult:
    """``work(host, emit)``, a bug in it reported as the host's failure (a lost result would
    leave the fleet waiting for it)."""
    try:
        return work(host, emit)
    except BaseException as exc:  # noqa: BLE001 - see above
        log.exception("deploying to %s failed unexpectedly", host.name)
        return HostResult(host=host.name, action="", outcome="failed",
                          error=f"unexpected error: {exc!r}")


def _consume(items: Iterator[DeployEvent | HostResult],
             on_result: Callable[[HostResult], None],
             cancel: CancelToken) -> Iterator[DeployEvent]:
    """Yield the events of ``items`` and hand each host's result to ``on_result``.

    Closing this generator (a GUI worker that stops resuming it) cancels the hosts that
    have not switched yet and still waits for every started host, so each one's outcome
    is recorded before the close completes.
    """
    try:
        for item in items:
            if isinstance(item, HostResult):
                on_result(item)
            else:
                yield item
    except GeneratorExit:
        cancel.cancel()
        for item in items:
            if isinstance(item, HostResult):
                on_result(item)
        raise


def _lookup_for(store: Any) -> Callable[[str], Any | None]:
    by_name = {h.name: h for h in store.list()}
    return by_name.get


def _open_records(workspace: Any, hosts: Sequence[Any], action: str, release_id: str,
                  previous: dict[str, str] | None = None) -> dict[str, int]:
    """Record each host's operation as ``unknown`` before anything is switched, so a crash
    of this process leaves honest rows; :func:`_close_record` sets the outcome."""
    from modeldeck.core.deploy import hosts as hosts_mod

    name, version = parse_release_id(release_id) if release_id else ("", None)
    return {h.name: hosts_mod.record_deployment(
        workspace, h.name, action, release_id, outcome="unknown", model=name,
        version=version, previous_release=(previous or {}).get(h.name, ""),
        detail={"note": "in progress"}) for h in hosts}


def _close_record(workspace: Any, ids: dict[str, int], result: HostResult) -> None:
    from modeldeck.core.deploy import hosts as hosts_mod

    row = ids.get(result.host)
    if row is None:
        return
    outcome = "cancelled" if result.outcome == "skipped" else result.outcome
    detail = {"error": result.error, "timings": result.timings, "running": result.running,
              "previous": result.previous, "release": result.release_id,
              "bytes_linked": result.bytes_linked, "files_sent": result.files_sent,
              "env": result.env}
    name, version = parse_release_id(result.release_id) if result.release_id else ("", None)
    hosts_mod.finish_deployment(workspace, row, outcome, detail=detail,
                                bytes_sent=result.bytes_sent,
                                release_id=result.release_id or None,
                                previous_release=result.previous or None,
                                model=name or None, version=version)


def rollout(workspace: Any, ref: str, hosts: Sequence[Any], options: DeployOptions,
            *, cancel: CancelToken | None = None) -> Operation[RolloutResult]:
    """Deploy version ``ref`` to ``hosts``: canary first, then the rest in parallel.

    A generator: yields :class:`DeployEvent` and returns a :class:`RolloutResult`. Each
    host's outcome is recorded in the workspace's deployment history (audited).
    """
    from modeldeck.core.deploy.hosts import HostStore

    cancel = cancel or CancelToken()
    who = workspace.require("deploy")
    if not hosts:
        raise DeployError("no hosts to deploy to", "name them with --hosts or --group")
    started = time.monotonic()
    yield DeployEvent(step="building release", fraction=0.0, message=f"building {ref}")
    release, candidate = approved_release(workspace, build_for_deploy(workspace, ref))
    yield DeployEvent(step="building release", fraction=0.0,
                      message=f"release {release.release_id} ({release.size / 1e6:.1f} MB)"
                              + (f", approved candidate {candidate.id}" if candidate else ""))
    wheelhouse = yield from _wheelhouse(workspace, hosts, release, options)
    lookup = _lookup_for(HostStore(workspace))
    canary = list(hosts[:max(0, min(options.canary, len(hosts)))])
    rest = list(hosts[len(canary):])
    results: list[HostResult] = []

    stopped = ""
    total = len(hosts)
    # a phase goes in waves of ``parallel`` hosts; each wave stages everywhere, then switches
    width = max(1, options.parallel)
    waves = [("canary", canary, 0)] + [
        ("rollout", rest[i:i + width], options.max_failures)
        for i in range(0, len(rest), width)]
    failed_in = {"canary": 0, "rollout": 0}
    for phase, group, tolerated in waves:
        if stopped or cancel.is_cancelled or not group:
            results += [HostResult(host=h.name, action="deploy", outcome="skipped",
                                   release_id=release.release_id,
                                   error=stopped or "cancelled") for h in group]
            continue
        yield DeployEvent(step=phase, fraction=len(results) / total,
                          message=f"{phase}: {', '.join(h.name for h in group)}")
        ids = _open_records(workspace, group, "deploy", release.release_id)
        gate = SwitchGate(len(group), tolerated - failed_in[phase], cancel)

        def work(host: Any, emit: Callable[[DeployEvent], None],
                 gate: SwitchGate = gate) -> HostResult:
            return deploy_host(workspace, host, lookup, release, options, wheelhouse, emit,
                               cancel, who.name, gate)

        def on_result(item: HostResult, phase: str = phase, ids: dict[str, int] = ids
                      ) -> None:
            item = replace(item, action="deploy", release_id=release.release_id)
            results.append(item)
            _close_record(workspace, ids, item)
            if not item.ok and item.outcome not in ("skipped", "cancelled"):
                failed_in[phase] += 1

        yield from _consume(_fan_out(group, work, len(group), cancel,
                                     done_before=len(results), total=total),
                            on_result, cancel)
        if phase == "canary" and failed_in[phase]:
            stopped = (f"the canary {'host' if len(canary) == 1 else 'hosts'} failed; "
                       "the other hosts were not touched")
        elif phase == "rollout" and failed_in[phase] > tolerated:
            stopped = f"{failed_in[phase]} hosts failed (tolerated: {tolerated})"
    if cancel.is_cancelled:
        stopped = "cancelled"
    _refresh_status_after(workspace, results, release)
    if candidate is not None and any(r.ok for r in results):
        from modeldeck.core.release import Releases

        # the release timeline, and `production` moves to the version (audited)
        Releases(workspace).record_deployed(candidate.id, [r.host for r in results if r.ok])
    yield DeployEvent(step="done", fraction=1.0, message=_summary(results, stopped))
    return RolloutResult("deploy", release.release_id, release.model, release.version,
                         results, [h.name for h in canary], stopped,
                         round(time.monotonic() - started, 3))


def _summary(results: Sequence[HostResult], stopped: str) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    text = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return text + (f" — stopped: {stopped}" if stopped else "")


def _refresh_status_after(workspace: Any, results: Sequence[HostResult],
                          release: _Release) -> None:
    from modeldeck.core.deploy import hosts as hosts_mod

    for r in results:
        if r.outcome in ("skipped", "unknown"):
            continue
        running = r.running
        name, version = parse_release_id(running) if running else ("", None)
        hosts_mod.set_status(workspace, host=r.host, checked_at=_now(), reachable=True,
                             release_id=running, model=name, version=version,
                             healthy=r.outcome in ("ok", "rolled-back") and bool(running),
                             detail=r.error, free_bytes=None, fingerprint="")


def _wheelhouse(workspace: Any, hosts: Sequence[Any], release: _Release,
                options: DeployOptions) -> Iterator[DeployEvent]:
    """The wheelhouse for this rollout: the admin's, or built here for the hosts (one
    per distinct Python and platform — built for the first host that needs it)."""
    if options.wheelhouse is not None:
        wheelhouse = envs.open_wheelhouse(options.wheelhouse)
        missing = envs.missing_from(wheelhouse, release.requirements)
        if missing:
            raise DeployError(f"the wheelhouse {wheelhouse.path} has no wheel for "
                              f"{', '.join(missing)}",
                              "add them (pip download --only-binary=:all: ...) or use "
                              "--build-wheelhouse")
        return wheelhouse
    if not options.build_wheelhouse:
        return None
    from modeldeck.core.deploy.hosts import HostStore

    lookup = _lookup_for(HostStore(workspace))
    probe = None
    for host in hosts:
        try:
            session = HostSession.start(trust.connect(workspace, host, lookup), host)
        except ModelDeckError:
            continue
        try:
            probe = session.agent("probe")
            break
        finally:
            session.close()
    if probe is None:
        raise DeployError("no host answered, so there is no Python to build wheels for",
                          "check the hosts with `modeldeck hosts probe`")
    yield DeployEvent(step="building wheelhouse", fraction=0.0,
                      message=f"downloading wheels for Python {python_version(probe)} on "
                              f"{(probe.get('platform') or {}).get('machine')}")
    platform = probe.get("platform") or {}
    return envs.build_wheelhouse(release.requirements, python_version=python_version(probe),
                                 machine=str(platform.get("machine", "x86_64")),
                                 libc=str(platform.get("libc", "")),
                                 cache=Path(workspace.path) / "wheelhouses")


# --------------------------------------------------------------------------- rollback


def rollback_host(workspace: Any, host: Any, lookup: Callable[[str], Any | None],
                  to: str | None, emit: Callable[[DeployEvent], None], cancel: CancelToken,
                  actor: str, ready_timeout: float = READY_TIMEOUT) -> HostResult:
    """Switch ``host`` back to its previous release (or ``to``); nothing is uploaded."""
    run = _HostRun(host, emit, cancel, actor)
    started = time.monotonic()
    result = HostResult(host=host.name, action="rollback", outcome="failed")
    session = None
    try:
        run.step("connecting", 0.0)
        connection = trust.connect(workspace, host, lookup)
        run.step("switching", 0.3, f"switch to {to or 'the previous release'}")
        # one command: lock, pick the release, switch, restart, /ready, smoke, unlock
        session, journal = HostSession.start_and_run(
            connection, host, "rollback", "--owner", _owner(actor, "rollback"),
            "--to", to or "", "--python", host.python, *_serve_args(host, ready_timeout),
            timeout=ready_timeout * 2 + 60, outcome=True)
        result = replace(result, release_id=str(journal.get("target") or ""),
                         previous=str(journal.get("previous") or ""),
                         running=str(journal.get("previous") or ""))
        result = _journal_result(result, journal)
    except ModelDeckError as exc:
        result = replace(result, error=str(exc).replace(f"{host.name}: the host ",
                                                        f"{host.name} "))
    except Exception as exc:  # noqa: BLE001 - a bug must not kill the other hosts
        result = replace(result, error=f"unexpected error: {exc!r}")
    finally:
        if session is not None:
            session.close()
    return replace(result, seconds=round(time.monotonic() - started, 3),
                   timings={**result.timings, **run.finish()})


def rollback(workspace: Any, hosts: Sequence[Any], *, to: str | None = None,
             parallel: int = 20, cancel: CancelToken | None = None
             ) -> Operation[RolloutResult]:
    """Roll ``hosts`` back to their previous release (or to ``to``), all in parallel."""
    from modeldeck.core.deploy.hosts import HostStore

    cancel = cancel or CancelToken()
    who = workspace.require("deploy")
    if not hosts:
        raise DeployError("no hosts to roll back", "name them with --hosts or --group")
    started = time.monotonic()
    lookup = _lookup_for(HostStore(workspace))
    results: list[HostResult] = []

    def work(host: Any, emit: Callable[[DeployEvent], None]) -> HostResult:
        return rollback_host(workspace, host, lookup, to, emit, cancel, who.name)

    ids = _open_records(workspace, hosts, "rollback", to or "")

    def on_result(item: HostResult) -> None:
        item = replace(item, action="rollback")
        results.append(item)
        _close_record(workspace, ids, item)

    yield from _consume(_fan_out(hosts, work, parallel, cancel,
                                 done_before=0, total=len(hosts)), on_result, cancel)
    for r in results:
        if r.outcome in ("ok", "rolled-back"):
            from modeldeck.core.deploy import hosts as hosts_mod

            name, version = parse_release_id(r.running)
            hosts_mod.set_status(workspace, host=r.host, checked_at=_now(), reachable=True,
                                 release_id=r.running, model=name, version=version,
                                 healthy=True, detail="", free_bytes=None, fingerprint="")
    _record_rolled_back(workspace, results)
    yield DeployEvent(step="done", fraction=1.0, message=_summary(results, ""))
    targets = {r.release_id for r in results}
    release_id = targets.pop() if len(targets) == 1 else ""
    name, version = parse_release_id(release_id) if release_id else ("", None)
    return RolloutResult("rollback", release_id, name, version or 0, results, [], "",
                         round(time.monotonic() - started, 3))


def _record_rolled_back(workspace: Any, results: Sequence[HostResult]) -> None:
    """For each deployed release candidate the rollback took off its last host (as far as
    the workspace knows): its timeline records it, and ``production`` moves back."""
    from modeldeck.core.deploy import hosts as hosts_mod
    from modeldeck.core.release import NotDeployableError, Releases

    left: dict[str, list[str]] = {}
    for r in results:
        if r.outcome in ("ok", "rolled-back") and r.previous and r.previous != r.running:
            left.setdefault(r.previous, []).append(r.host)
    if not left:
        return
    running = {s.release_id for s in hosts_mod.statuses(workspace)}
    releases = Releases(workspace)
    for release_id, names in left.items():
        if release_id in running:
            continue
        try:
            candidate = releases.find(release_id)
        except NotDeployableError:
            continue  # never a candidate
        if candidate.status == "deployed":
            releases.record_rolled_back(candidate.id, names)


# --------------------------------------------------------------------------- status, plan


def host_state(workspace: Any, host: Any, lookup: Callable[[str], Any | None]) -> HostState:
    """Ask one host what it runs (and whether it is ready); never raises."""
    checked = _now()
    try:
        session = HostSession.start(trust.connect(workspace, host, lookup), host)
    except ModelDeckError as exc:
        return HostState(host=host.name, reachable=False, detail=str(exc), checked_at=checked)
    try:
        status = session.agent("status")
    except ModelDeckError as exc:
        return HostState(host=host.name, reachable=True, detail=str(exc), checked_at=checked)
    finally:
        session.close()
    current = str(status.get("current") or "")
    name, version = parse_release_id(current) if current else ("", None)
    server = status.get("server") or {}
    healthy = bool(status.get("ready"))
    ready = status.get("ready_detail")
    detail = str((ready.get("reason") or ready.get("state") or "") if isinstance(ready, dict)
                 else ready or "")
    if not current:
        detail = detail or "nothing deployed yet"
    return HostState(host=host.name, reachable=True, release_id=current, model=name,
                     version=version, healthy=healthy, detail=detail,
                     free_bytes=status.get("free_bytes"),
                     releases=[str(r) for r in status.get("releases", [])],
                     pid=server.get("pid") if server.get("alive") else None,
                     checked_at=checked)


def fleet_status(workspace: Any, hosts: Sequence[Any], *, parallel: int = 20
                 ) -> list[HostState]:
    """:func:`host_state` for every host, in parallel; the workspace's status cache is
    refreshed with the answers."""
    from modeldeck.core.deploy import hosts as hosts_mod
    from modeldeck.core.deploy.hosts import HostStore

    lookup = _lookup_for(HostStore(workspace))
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(hosts) or 1))) as pool:
        states = list(pool.map(lambda h: host_state(workspace, h, lookup), hosts))
    for s in states:
        hosts_mod.set_status(workspace, host=s.host, checked_at=s.checked_at,
                             reachable=s.reachable, release_id=s.release_id, model=s.model,
                             version=s.version, healthy=s.healthy, detail=s.detail,
                             free_bytes=s.free_bytes, fingerprint="")
    return states


def plan(workspace: Any, ref: str, hosts: Sequence[Any], options: DeployOptions
         ) -> Operation[list[HostPlan]]:
    """What :func:`rollout` would change on each host; changes nothing on the hosts."""
    from modeldeck.core.deploy.hosts import HostStore

    workspace.require("deploy")
    yield DeployEvent(step="building release", fraction=0.0, message=f"building {ref}")
    release, _candidate = approved_release(workspace, build_for_deploy(workspace, ref))
    wheelhouse = (envs.open_wheelhouse(options.wheelhouse) if options.wheelhouse else None)
    lookup = _lookup_for(HostStore(workspace))

    def one(host: Any) -> HostPlan:
        try:
            session = HostSession.look(trust.connect(workspace, host, lookup), host)
        except ModelDeckError as exc:
            return HostPlan(host=host.name, reachable=False, target=release.release_id,
                            action="refused", problems=[str(exc)])
        try:
            probe = session.agent("probe")
            status = session.agent("status")
            answer = session.agent("plan", "--release", release.release_id,
                                   stdin=release.manifest_bytes())
        except ModelDeckError as exc:
            return HostPlan(host=host.name, reachable=True, target=release.release_id,
                            action="refused", problems=[str(exc)])
        finally:
            session.close()
        current = str(status.get("current") or "")
        mode, problems = _env_plan(host, probe, release, wheelhouse)
        if mode == "" and options.build_wheelhouse and not _check_python(host.name, probe):
            mode, problems = "venv (wheelhouse built here)", []
        problems += _check_signed(host.name, probe, release)
        problems += _check_disk(host.name, probe, release.size * 2)
        missing = [m for m in answer.get("missing", [])]
        to_send = sum((release.path / m).stat().st_size for m in missing
                      if (release.path / m).is_file())
        if problems:
            action = "refused"
        elif current == release.release_id:
            action = "nothing (already running)"
        elif answer.get("exists"):
            action = "switch (release already on the host)"
        else:
            action = "upload and switch"
        env = {"host": f"host Python {python_version(probe)}",
               "venv": "venv from the wheelhouse",
               "pinned-venv": "venv from the host's own wheelhouse"}.get(mode, mode)
        return HostPlan(host=host.name, reachable=True, current=current,
                        target=release.release_id, action=action,
                        files_to_send=len(missing), bytes_to_send=to_send,
                        bytes_linked=int(answer.get("linked_bytes", 0)), env=env,
                        problems=problems)

    with ThreadPoolExecutor(max_workers=max(1, min(options.parallel, len(hosts) or 1))) as pool:
        plans = list(pool.map(one, hosts))
    yield DeployEvent(step="done", fraction=1.0, message="plan ready")
    return plans
