"""The kit a host's admin installs to pin ModelDeck's agent on a host.

A pinned host runs the agent its admin installed (root-owned) as the forced command of the
deploy key, with the reviewers' keys in a root-owned allowed-signers file: the desktop can
then only call the agent, never a shell, and the agent switches only to releases whose
manifest a reviewer signed. So even a compromised desktop cannot make the host run an
unapproved model. See the agent's docstring (``modeldeck.core.deploy.agent``).

:func:`write_kit` writes what the admin needs, for hosts that are often air-gapped: the
agent, the allowed-signers file, the ``authorized_keys`` line and the steps.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldeck.core.deploy.session import agent_source
from modeldeck.core.errors import InvalidInputError
from modeldeck.core.workspace import PERMISSIONS

#: Where the kit installs things on the host (the agent's defaults for the last two).
AGENT_PATH = "/opt/modeldeck/agent.py"
SIGNERS_PATH = "/etc/modeldeck/allowed_signers"
WHEELHOUSE_PATH = "/var/lib/modeldeck/wheelhouse"


@dataclass(frozen=True)
class PinKit:
    """What :func:`write_kit` wrote: the folder, the forced command and who may sign."""

    folder: Path
    command: str
    signers: list[str]
    agent_sha256: str
    key_known: bool


def forced_command(host: Any) -> str:
    """The ``command="..."`` of the deploy key on ``host``: the pinned agent on its root."""
    python = host.python if host.python.startswith("/") else f"/usr/bin/{host.python}"
    return " ".join(shlex.quote(w) for w in [python, AGENT_PATH, "--pinned",
                                             "--root", host.root])


def _deploy_public_key(host: Any, key: Path | None) -> str | None:
    candidates = [key] if key is not None else (
        [Path(host.identity_file).expanduser().with_name(
            Path(host.identity_file).name + ".pub")] if host.identity_file else [])
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError:
            if key is not None:
                raise InvalidInputError(f"cannot read the public key {path}",
                                        "give the deploy key's .pub file") from None
            continue
        parts = text.split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
            raise InvalidInputError(f"{path} is not an OpenSSH public key",
                                    "give the deploy key's .pub file")
        return " ".join(parts[:3])
    return None


def write_kit(workspace: Any, host: Any, out: Path, *, key: Path | None = None,
              wheelhouse: Path | None = None) -> PinKit:
    """Write the pinning kit of ``host`` into ``out`` (created; files in it replaced).

    ``key`` is the deploy key's public key (default: the host's identity file + ``.pub``);
    ``wheelhouse`` a folder of wheels for the host's Python, copied into the kit (a host
    whose Python lacks the runtime's packages installs them from there).

    Raises
    ------
    InvalidInputError
        The host is local, no reviewer has a registered key (the host would refuse every release), or the key
        or wheelhouse cannot be read.
    """
    from modeldeck.core.release import signing

    if host.transport != "ssh":
        raise InvalidInputError(f"{host.name} is a local host: there is no SSH key to pin",
                                "pin hosts reached over SSH")
    reviewers = [u for u in workspace.users()
                 if u.role in PERMISSIONS["approve"] and u.ssh_public_key]
    if not reviewers:
        raise InvalidInputError(
            "no reviewer of this workspace has a registered SSH key, so a pinned host "
            "would refuse every release", "register them: `modeldeck users set-key NAME "
            "KEY.pub`")
    wheels = sorted(wheelhouse.glob("*.whl")) if wheelhouse is not None else []
    if wheelhouse is not None and not wheels:
        raise InvalidInputError(f"{wheelhouse} holds no wheels",
                                "give the folder of wheels built for the host's Python")
    public = _deploy_public_key(host, key)
    out.mkdir(parents=True, exist_ok=True)
    source = agent_source()
    (out / "agent.py").write_bytes(source)
    (out / "allowed_signers").write_text(signing.allowed_signers_text(reviewers),
                                         encoding="utf-8")
    command = forced_command(host)
    line = f'command="{command}",restrict {public or "PUBLIC-KEY-OF-THE-DEPLOY-KEY"}'
    (out / "authorized_keys.line").write_text(line + "\n", encoding="utf-8")
    if wheels:
        target = out / "wheelhouse"
        target.mkdir(exist_ok=True)
        for wheel in wheels:
            shutil.copy2(wheel, target / wheel.name)
    digest = hashlib.sha256(source).hexdigest()
    (out / "INSTALL.md").write_text(
        _steps(host, line, [u.name for u in reviewers], digest, bool(wheels), public),
        encoding="utf-8")
    return PinKit(out, command, [u.name for u in reviewers], digest, public is not None)


def _steps(host: Any, line: str, signers: list[str], digest: str, wheels: bool,
           public: str | None) -> str:
    user = f"the deploy user {host.user}" if host.user else "the deploy user"
    home = f"~{host.user}" if host.user else "~"
    steps = [
        f"# Pin ModelDeck's agent on {host.name}",
        "",
        "Run these as root on the host, from this folder. Afterwards the deploy key can only "
        "call this agent (no shell, no SFTP), and the host switches only to releases signed "
        f"by {', '.join(signers)} (the reviewers in `allowed_signers`).",
        "",
        "```sh",
        f"install -d -m 755 {Path(AGENT_PATH).parent} {Path(SIGNERS_PATH).parent}",
        f"install -m 644 agent.py {AGENT_PATH}        # sha256 {digest}",
        f"install -m 644 allowed_signers {SIGNERS_PATH}",
    ]
    if wheels:
        steps += [f"install -d -m 755 {WHEELHOUSE_PATH}",
                  f"install -m 644 wheelhouse/*.whl {WHEELHOUSE_PATH}/"]
    if host.root.startswith("/"):
        steps.append(f"install -d -o {host.user or 'DEPLOY-USER'} -m 755 {host.root}")
    steps += [
        "```",
        "",
        f"Then replace the deploy key's line in {home}/.ssh/authorized_keys (of {user}) "
        "with the line in `authorized_keys.line`:",
        "",
        "```",
        line,
        "```",
        "",
    ]
    if public is None:
        steps += ["(Put the deploy key's public key where the line says "
                  "PUBLIC-KEY-OF-THE-DEPLOY-KEY, or write the kit again with "
                  "`--key KEY.pub`.)", ""]
    steps += [
        f"Make that file root-owned (`chown root {home}/.ssh/authorized_keys`) so that "
        "nothing running as the deploy user can change the forced command.",
        "",
        "Check it from the desktop: `modeldeck hosts probe "
        f"{host.name}` says `agent: pinned by the host's admin`. Each new ModelDeck version brings its own agent: "
        "write the kit again and install its agent.py (a desktop refuses an agent that is "
        "not its own, naming both sha256). When reviewers change, install the new "
        "`allowed_signers`.",
        "",
    ]
    return "\n".join(steps)
