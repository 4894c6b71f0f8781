"""What a host has, and whether it can serve a given model (``modeldeck hosts probe``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modeldeck.core.deploy import envs, trust
from modeldeck.core.deploy.session import HostSession
from modeldeck.core.errors import DeployError


@dataclass(frozen=True)
class ProbeReport:
    """A host's Python, platform and packages, and the verdict for one model version.

    ``verdict``: ``ready`` (the host's own Python serves it), ``needs-wheelhouse`` (a venv
    will be installed from wheels: deploy with ``--wheelhouse`` or ``--build-wheelhouse``)
    or ``incompatible`` (``reason`` says why; nothing would be uploaded).
    """

    host: str
    ref: str
    python: str
    python_path: str
    platform: str
    machine: str
    libc: str
    free_bytes: int | None
    systemd: bool
    venv: bool
    packages: dict[str, str | None] = field(default_factory=dict)
    needs: dict[str, str] = field(default_factory=dict)
    current: str = ""
    verdict: str = ""
    reason: str = ""
    #: the host runs its admin's pinned agent (see modeldeck.core.deploy.pinning)
    pinned: bool = False
    #: the host switches only to releases a reviewer signed
    requires_signatures: bool = False


def probe_host(workspace: Any, host: Any, lookup: Callable[[str], Any | None],
               ref: str | None = None) -> ProbeReport:
    """Connect to ``host``, read what it has, and judge it against version ``ref``'s
    recorded environment (default: the newest version of the first model)."""
    from modeldeck.core.deploy.rollout import MIN_PYTHON, python_path, python_version
    from modeldeck.core.registry import Registry

    registry = Registry(workspace)
    if ref is None:
        models = registry.list_models()
        if not models:
            raise DeployError("the workspace has no model to check the host against",
                              "register one first, or pass --ref")
        ref = models[0].name
    info = registry.get_version(ref)
    requirements = envs.requirements_for(info.environment, info.artifact_format)
    session = HostSession.start(trust.connect(workspace, host, lookup), host)
    try:
        probe = session.agent("probe")
    finally:
        session.close()
    platform = probe.get("platform") or {}
    packages = {name: (probe.get("packages") or {}).get(name)
                for name in requirements.packages}
    version = python_version(probe)
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    free = probe.get("free_bytes")
    lacking = envs.unmet(requirements, packages)
    if parts < MIN_PYTHON:
        verdict, reason = "incompatible", (
            f"Python {version} is too old: the server needs "
            f"{'.'.join(map(str, MIN_PYTHON))} or newer (set the host's python with "
            f"`modeldeck hosts edit {host.name} --python PATH`)")
    elif platform.get("system", "Linux") != "Linux":
        verdict, reason = "incompatible", f"{platform.get('system')} hosts are not supported"
    elif isinstance(free, int) and free < 200_000_000:
        verdict, reason = "incompatible", (f"only {free / 1e6:.0f} MB free under the deploy "
                                           "root; a release and its environment need ~200 MB")
    elif not lacking:
        verdict, reason = "ready", "the host's Python has every package the model needs"
    elif not probe.get("venv", False):
        verdict, reason = "incompatible", (
            f"it lacks {', '.join(lacking)} and cannot create a venv (install python3-venv)")
    elif probe.get("pinned"):
        verdict, reason = (
            ("ready", f"it lacks {', '.join(lacking)}; its pinned agent installs them into a "
                      "venv from the host's own wheelhouse")
            if probe.get("pinned_wheelhouse") else
            ("incompatible", f"it lacks {', '.join(lacking)}, and its pinned agent takes "
                             "wheels only from its admin: install them there, or put "
                             "their wheels in the agent's wheelhouse"))
    else:
        verdict, reason = "needs-wheelhouse", (
            f"it lacks {', '.join(lacking)}: deploy with --wheelhouse DIR or "
            "--build-wheelhouse and ModelDeck installs them into a venv, offline")
    return ProbeReport(
        host=host.name, ref=info.ref, python=version,
        python_path=python_path(probe),
        platform=f"{platform.get('system', '?')} {platform.get('machine', '?')} "
                 f"{platform.get('libc', '')}".strip(),
        machine=str(platform.get("machine", "")), libc=str(platform.get("libc", "")),
        free_bytes=free if isinstance(free, int) else None,
        systemd=bool(probe.get("systemd")), venv=bool(probe.get("venv")),
        packages=packages, needs=dict(requirements.packages),
        current=str(probe.get("current") or ""), verdict=verdict, reason=reason,
        pinned=bool(probe.get("pinned")),
        requires_signatures=bool(probe.get("requires_signatures")))


def force_unlock(workspace: Any, host: Any, lookup: Callable[[str], Any | None]) -> str:
    """Remove ``host``'s deploy lock (audited); returns who held it ("" when free)."""
    workspace.require("deploy")
    session = HostSession.start(trust.connect(workspace, host, lookup), host)
    try:
        status = session.agent("status")
        holder = status.get("lock") or {}
        if not holder:
            return ""
        with workspace.mutate("host.unlock", host.name, "deploy") as change:
            session.agent("unlock", "--force")
            change.payload = {"holder": holder}
    finally:
        session.close()
    who = holder.get("who", "?")
    return f"{who} from {holder.get('where', '?')} since {holder.get('since', '?')}"
