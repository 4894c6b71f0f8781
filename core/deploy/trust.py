"""Host-key trust and opening connections to registered hosts.

Trusted keys live in OpenSSH ``known_hosts`` files: the user's ``~/.ssh/known_hosts``
(read only) and the workspace's own ``known_hosts`` (written here, so a team sharing a
workspace shares its trust decisions). A key is added only by :func:`trust_host`, which
shows the fingerprint and takes it only when the caller confirms it — or when it matches
a fingerprint the caller already has from the host's admin. A changed key is never
replaced here: :func:`untrust_host` removes the old one first, explicitly and audited.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldeck.core.deploy import transport as tp
from modeldeck.core.errors import DeployError, HostKeyError

KNOWN_HOSTS = "known_hosts"
_MAX_JUMPS = 4


@dataclass(frozen=True)
class ScannedKey:
    """The key a host presented, and what the known_hosts files say of it."""

    host: str
    endpoint: str
    known_name: str
    key_type: str
    key_base64: str
    fingerprint: str
    #: ``"trusted"`` (recorded and equal), ``"unknown"`` or ``"changed"``.
    state: str
    #: Fingerprint recorded before, when the state is ``"changed"``.
    recorded: str = ""


def workspace_known_hosts(workspace: Any) -> Path:
    """The workspace's own known_hosts file."""
    return Path(workspace.path) / KNOWN_HOSTS


def known_hosts_files(workspace: Any) -> list[Path]:
    """The files whose keys are trusted: the user's, then the workspace's."""
    return [Path(os.path.expanduser("~/.ssh/known_hosts")), workspace_known_hosts(workspace)]


def endpoint_of(host: Any) -> tp.Endpoint:
    """The SSH endpoint of a registered host."""
    return tp.Endpoint(hostname=host.hostname, port=int(host.port), user=host.user,
                       identity_file=host.identity_file)


def jump_of(host: Any, lookup: Callable[[str], Any | None]) -> tuple[tp.Endpoint, str] | None:
    """The bastion of ``host`` as ``(endpoint, label)``, or ``None``.

    ``proxy_jump`` may name another registered host (``lookup(name)`` returns it) — then its
    address, user, port and key are used — or be written as ``[user@]host[:port]``.
    """
    if not host.proxy_jump:
        return None
    other = lookup(host.proxy_jump)
    if other is not None:
        if other.name == host.name:
            raise DeployError(f"host '{host.name}' names itself as its ProxyJump",
                              "set another host or an address as its bastion")
        if other.proxy_jump:
            raise DeployError(f"host '{host.name}' jumps through '{other.name}', which "
                              "jumps again; only one bastion hop is supported",
                              f"give '{host.name}' a bastion that is reached directly")
        return endpoint_of(other), f"bastion {other.name}"
    return tp.parse_jump(host.proxy_jump), f"bastion {host.proxy_jump}"


def trust_hint(host: Any) -> str:
    return f"`modeldeck hosts trust {host.name}`"


def connect(workspace: Any, host: Any, lookup: Callable[[str], Any | None],
            *, timeout: float = tp.CONNECT_TIMEOUT) -> tp.Connection:
    """Open a connection to a registered host (``local`` hosts need no network)."""
    if host.transport == "local":
        return tp.LocalConnection(host.name)
    jump = jump_of(host, lookup)
    return tp.open_ssh(endpoint_of(host), known_hosts=known_hosts_files(workspace),
                       trust_hint=trust_hint(host), label=host.name,
                       jump=jump[0] if jump else None, jump_label=jump[1] if jump else None,
                       timeout=timeout)


def scan_host(workspace: Any, host: Any, lookup: Callable[[str], Any | None],
              *, timeout: float = tp.CONNECT_TIMEOUT) -> ScannedKey:
    """Read the key ``host`` presents (through its bastion, if any) and compare it with
    the recorded ones. Nothing is authenticated or sent."""
    if host.transport == "local":
        raise DeployError(f"host '{host.name}' is local: it has no SSH key to trust",
                          "deploy to it directly")
    endpoint = endpoint_of(host)
    jump = jump_of(host, lookup)
    sock = None
    bastion = None
    try:
        if jump is not None:
            bastion = tp.open_ssh(jump[0], known_hosts=known_hosts_files(workspace),
                                  trust_hint=trust_hint(host), label=jump[1],
                                  timeout=timeout)
            try:
                sock = bastion.client.get_transport().open_channel(
                    "direct-tcpip", (endpoint.hostname, endpoint.port), ("127.0.0.1", 0),
                    timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - paramiko raises many kinds here
                raise DeployError(f"the {jump[1]} could not reach {endpoint} ({exc})",
                                  "check the host's address and that the bastion allows "
                                  "TCP forwarding") from None
        key_type, key_b64, fingerprint = tp.scan_host_key(endpoint, sock=sock,
                                                          timeout=timeout)
    finally:
        if bastion is not None:
            bastion.close()
    name = endpoint.known_hosts_name
    recorded = tp.recorded_keys(known_hosts_files(workspace), name)
    state, before = "unknown", ""
    if key_type in recorded:
        old = recorded[key_type]
        state = "trusted" if old.get_base64() == key_b64 else "changed"
        before = old.fingerprint
    elif recorded:
        # the host has other key types on record: a new type is a change of identity too
        state = "changed"
        before = next(iter(recorded.values())).fingerprint
    return ScannedKey(host=host.name, endpoint=str(endpoint), known_name=name,
                      key_type=key_type, key_base64=key_b64, fingerprint=fingerprint,
                      state=state, recorded=before)


def trust_host(workspace: Any, host: Any, lookup: Callable[[str], Any | None], *,
               fingerprint: str | None = None,
               confirm: Callable[[ScannedKey], bool] | None = None) -> ScannedKey:
    """Record the key ``host`` presents in the workspace's known_hosts.

    Accepted only when it matches ``fingerprint`` (``SHA256:...``, e.g. read by the host's
    admin with ``ssh-keygen -lf``) or when ``confirm(scanned)`` returns ``True`` (the CLI
    asks the user; the GUI shows a dialog). A changed key is always refused.

    Raises
    ------
    HostKeyError
        The key differs from the one recorded, from ``fingerprint``, or was not confirmed.
    """
    scanned = scan_host(workspace, host, lookup)
    if scanned.state == "trusted":
        return scanned
    if scanned.state == "changed":
        raise HostKeyError(
            f"{host.name} ({scanned.endpoint}) now presents {scanned.key_type} key "
            f"{scanned.fingerprint}, but {scanned.recorded} was trusted before: this may be "
            "a man-in-the-middle attack, so the new key is NOT trusted",
            "ask the host's admin whether its key really changed; only then run "
            f"`modeldeck hosts untrust {host.name}` and trust it again",
            fingerprint=scanned.fingerprint, key_type=scanned.key_type, changed=True)
    if fingerprint is not None:
        wanted = fingerprint.strip()
        if not wanted.startswith("SHA256:"):
            wanted = "SHA256:" + wanted
        if wanted.rstrip("=") != scanned.fingerprint.rstrip("="):
            raise HostKeyError(
                f"{host.name} presents {scanned.key_type} key {scanned.fingerprint}, not the "
                f"expected {wanted}: not trusted",
                "check the fingerprint with the host's admin (`ssh-keygen -lf "
                "/etc/ssh/ssh_host_ed25519_key.pub` on the host)",
                fingerprint=scanned.fingerprint, key_type=scanned.key_type)
    elif confirm is None or not confirm(scanned):
        raise HostKeyError(f"the key {scanned.fingerprint} of {host.name} was not accepted",
                           "trust it only once you have checked the fingerprint",
                           fingerprint=scanned.fingerprint, key_type=scanned.key_type)
    line = f"{scanned.known_name} {scanned.key_type} {scanned.key_base64}\n"
    path = workspace_known_hosts(workspace)
    with workspace.mutate("host.trust", host.name, "manage-hosts") as change:
        _append_line(path, line)
        change.payload = {"endpoint": scanned.endpoint, "key_type": scanned.key_type,
                          "fingerprint": scanned.fingerprint}
    return ScannedKey(**{**scanned.__dict__, "state": "trusted"})


def untrust_host(workspace: Any, host: Any) -> int:
    """Remove every key recorded for ``host`` from the workspace's known_hosts; returns
    how many lines went (keys in the user's own ~/.ssh/known_hosts are left alone)."""
    import paramiko

    path = workspace_known_hosts(workspace)
    if host.transport == "local" or not path.is_file():
        return 0
    name = endpoint_of(host).known_hosts_name
    kept, removed = [], 0
    for line in path.read_text().splitlines(keepends=True):
        entry = paramiko.hostkeys.HostKeyEntry.from_line(line) if line.strip() else None
        matches = entry is not None and any(
            n == name or (n.startswith("|1|") and paramiko.HostKeys.hash_host(name, n) == n)
            for n in entry.hostnames)
        if matches:
            removed += 1
        else:
            kept.append(line)
    if removed:
        with workspace.mutate("host.untrust", host.name, "manage-hosts") as change:
            _write_atomic(path, "".join(kept))
            change.payload = {"known_name": name, "removed": removed}
    return removed


def _append_line(path: Path, line: str) -> None:
    old = path.read_text() if path.is_file() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    _write_atomic(path, old + line)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
