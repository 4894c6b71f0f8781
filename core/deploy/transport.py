"""Connections to hosts: SSH (paramiko) and ``local`` (a folder on this machine).

Both speak the same two verbs the deploy steps need — run a shell command, upload a file —
so a local host runs exactly the code path an SSH host does.

SSH specifics:

* **Trust.** Host keys are checked against the user's ``~/.ssh/known_hosts`` and the
  workspace's ``known_hosts`` (see :mod:`modeldeck.core.deploy.trust`). An unknown key is
  refused with its SHA256 fingerprint (:class:`~modeldeck.core.errors.HostKeyError`), a
  changed key is refused as a possible man-in-the-middle. There is no auto-add policy.
* **Bastions.** ``ProxyJump`` (``[user@]host[:port]`` or the name of another host) is
  followed by opening a ``direct-tcpip`` channel on the bastion's connection and running
  the target's SSH session inside it; the bastion's key is checked the same way.
* **Speed.** AES-GCM is preferred (the fastest cipher paramiko has; its CTR modes pay for a
  separate MAC), and uploads send 255 KiB SFTP write requests, pipelined (OpenSSH's
  sftp-server takes up to 256 KiB; paramiko's default of 32 KiB makes an upload wait on
  eight times as many round trips). paramiko's window and packet sizes do nothing for
  uploads, so they are left alone.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldeck.core.errors import DeployError, HostKeyError
from modeldeck.core.progress import CancelToken

#: Seconds to wait for a TCP connection and the SSH handshake.
CONNECT_TIMEOUT = 10.0
#: Seconds a single remote command may take unless the caller says otherwise.
COMMAND_TIMEOUT = 120.0
#: How long a finished command's output may still arrive after its exit status.
OUTPUT_GRACE = 2.0
#: Seconds between keepalive packets on an idle SSH connection.
KEEPALIVE = 15
#: Bytes per SFTP write request (OpenSSH's sftp-server accepts up to 256 KiB messages).
SFTP_REQUEST = 255 * 1024
_PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr",
                      "aes256-ctr", "aes192-ctr")


@dataclass(frozen=True)
class CommandResult:
    """What a remote command did."""

    command: str
    returncode: int
    stdout: bytes
    stderr: bytes

    def text(self) -> str:
        """The standard output as text."""
        return self.stdout.decode("utf-8", "replace")

    def error_text(self, limit: int = 600) -> str:
        """The last ``limit`` characters of standard error (or output), for messages."""
        text = (self.stderr or self.stdout).decode("utf-8", "replace").strip()
        return text[-limit:]


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom to open an SSH session."""

    hostname: str
    port: int = 22
    user: str = ""
    identity_file: str = ""

    @property
    def known_hosts_name(self) -> str:
        """The host's name as known_hosts spells it (``[addr]:port`` off port 22)."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    def __str__(self) -> str:
        who = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port != 22 else ""
        return f"{who}{self.hostname}{port}"


def parse_jump(text: str) -> Endpoint:
    """Parse a ProxyJump value ``[user@]host[:port]`` (the first hop of a list)."""
    first = text.split(",")[0].strip()
    user, _, rest = first.rpartition("@")
    host, port = rest, 22
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail.startswith(":"):
            port = _port(tail[1:], text)
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
        port = _port(port_text, text)
    if not host:
        raise DeployError(f"ProxyJump '{text}' names no host",
                          "write it as [user@]host[:port] or the name of another host")
    return Endpoint(hostname=host, port=port, user=user)


def _port(text: str, whole: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise DeployError(f"ProxyJump '{whole}' has a bad port '{text}'",
                          "use a number from 1 to 65535")
    return port


def _copy(src: Any, dst: Any, block_size: int, on_bytes: Callable[[int], None] | None,
          cancel: CancelToken | None) -> int:
    """Copy ``src`` to ``dst`` in blocks, reporting bytes and honouring ``cancel``."""
    sent = 0
    while True:
        if cancel is not None:
            cancel.check()
        block = src.read(block_size)
        if not block:
            return sent
        dst.write(block)
        sent += len(block)
        if on_bytes is not None:
            on_bytes(len(block))


class Connection:
    """A live connection to one host: run commands, upload files."""

    #: ``"ssh"`` or ``"local"``.
    transport = ""

    def __init__(self, label: str) -> None:
        self.label = label

    def run(self, command: str, *, stdin: bytes | None = None,
            timeout: float | None = COMMAND_TIMEOUT) -> CommandResult:
        """Run ``command`` with ``/bin/sh`` on the host and wait for it."""
        raise NotImplementedError

    def put(self, local: Path, remote: str, *, on_bytes: Callable[[int], None] | None = None,
            cancel: CancelToken | None = None) -> int:
        """Upload ``local`` to the absolute path ``remote``; returns the bytes sent."""
        raise NotImplementedError

    def is_alive(self) -> bool:
        """Whether the connection can still carry commands."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection (idempotent)."""

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class LocalConnection(Connection):
    """The ``local`` transport: commands run here, uploads are file copies."""

    transport = "local"

    def __init__(self, label: str = "local") -> None:
        super().__init__(label)

    def run(self, command: str, *, stdin: bytes | None = None,
            timeout: float | None = COMMAND_TIMEOUT) -> CommandResult:
        try:
            done = subprocess.run(["/bin/sh", "-c", command], input=stdin or b"",
                                  capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise DeployError(f"{self.label}: a command took longer than {timeout:g} s",
                              "check the host's load, or raise the command timeout"
                              ) from None
        return CommandResult(command, done.returncode, done.stdout, done.stderr)

    def put(self, local: Path, remote: str, *, on_bytes: Callable[[int], None] | None = None,
            cancel: CancelToken | None = None) -> int:
        with open(local, "rb") as src, open(remote, "wb") as dst:
            sent = _copy(src, dst, 1 << 20, on_bytes, cancel)
        shutil.copymode(local, remote)
        return sent

    def is_alive(self) -> bool:
        return True


class _RefuseUnknown:
    """paramiko's missing-host-key hook: refuse, naming the key's fingerprint."""

    def __init__(self, endpoint: Endpoint, trust_hint: str) -> None:
        self.endpoint = endpoint
        self.trust_hint = trust_hint

    def missing_host_key(self, _client: Any, hostname: str, key: Any) -> None:
        raise HostKeyError(
            f"{self.endpoint} presented an unknown {key.get_name()} host key "
            f"{key.fingerprint} — it is not in any known_hosts file",
            f"if that is the host's key, trust it: {self.trust_hint}",
            fingerprint=key.fingerprint, key_type=key.get_name())


class SSHConnection(Connection):
    """An SSH session (paramiko) to one host, possibly through a bastion."""

    transport = "ssh"

    def __init__(self, label: str, client: Any, jump: SSHConnection | None = None) -> None:
        super().__init__(label)
        self._client = client
        self._jump = jump
        self._sftp: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The paramiko ``SSHClient``."""
        return self._client

    def run(self, command: str, *, stdin: bytes | None = None,
            timeout: float | None = COMMAND_TIMEOUT) -> CommandResult:
        import paramiko

        try:
            transport = self._client.get_transport()
            if transport is None or not transport.is_active():
                raise DeployError(f"{self.label}: the SSH connection is closed",
                                  "check the host is up and run the command again")
            channel = transport.open_session(timeout=CONNECT_TIMEOUT)
            channel.settimeout(timeout)
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            out, err = bytearray(), bytearray()
            deadline = None if timeout is None else time.monotonic() + timeout
            grace: float | None = None
            while True:
                if channel.recv_ready():
                    out += channel.recv(1 << 16)
                    continue
                if channel.recv_stderr_ready():
                    err += channel.recv_stderr(1 << 16)
                    continue
                if channel.exit_status_ready():
                    # sshd may send the exit status before the last of the output (it
                    # reports the child's exit as soon as it sees it): read on to the end
                    # of the stream, for at most OUTPUT_GRACE seconds (a process the
                    # command left running may hold the stream open)
                    if channel.eof_received or channel.closed:
                        break
                    if grace is None:
                        grace = time.monotonic() + OUTPUT_GRACE
                    elif time.monotonic() > grace:
                        break
                    time.sleep(0.001)
                    continue
                if deadline is not None and time.monotonic() > deadline:
                    channel.close()
                    raise DeployError(
                        f"{self.label}: a command took longer than {timeout:g} s",
                        "check the host's load, or raise the command timeout")
                if not transport.is_active():
                    raise DeployError(f"{self.label}: the SSH connection dropped",
                                      "check the host is up and run the command again")
                channel.status_event.wait(0.05)
            # drain what arrived between the last read and the exit status
            while channel.recv_ready():
                out += channel.recv(1 << 16)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(1 << 16)
            code = channel.recv_exit_status()
            channel.close()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise DeployError(f"{self.label}: the SSH connection failed ({exc})",
                              "check the host is up and run the command again") from None
        return CommandResult(command, code, bytes(out), bytes(err))

    def _sftp_client(self) -> Any:
        with self._lock:
            if self._sftp is None:
                self._sftp = self._client.open_sftp()
            return self._sftp

    def put(self, local: Path, remote: str, *, on_bytes: Callable[[int], None] | None = None,
            cancel: CancelToken | None = None) -> int:
        import paramiko

        sent = 0
        try:
            sftp = self._sftp_client()
            with open(local, "rb") as src, sftp.open(remote, "wb") as dst:
                dst.MAX_REQUEST_SIZE = SFTP_REQUEST
                dst.set_pipelined(True)
                sent = _copy(src, dst, 4 * SFTP_REQUEST, on_bytes, cancel)
            # paramiko drops the status of pipelined writes (a full disk's ENOSPC
            # included) when the file is closed: check the size, as its own
            # putfo(confirm=True) does
            stored = sftp.stat(remote).st_size
            sftp.chmod(remote, os.stat(local).st_mode & 0o777)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise DeployError(f"{self.label}: uploading {local.name} failed ({exc})",
                              "check the host's free disk and that it is up, then deploy "
                              "again (the host keeps its previous release)") from None
        if stored != sent:
            raise DeployError(f"{self.label}: only {stored} of {sent} bytes of {local.name} "
                              "were stored — the host's disk is probably full",
                              "free space under the host's deploy root (older releases go "
                              "with `--keep`), then deploy again (the host keeps its "
                              "previous release)")
        return sent

    def is_alive(self) -> bool:
        transport = self._client.get_transport()
        return bool(transport is not None and transport.is_active())

    def close(self) -> None:
        with self._lock:
            if self._sftp is not None:
                try:
                    self._sftp.close()
                except Exception:  # noqa: BLE001 - closing a dead channel
                    pass
                self._sftp = None
        self._client.close()
        if self._jump is not None:
            self._jump.close()
            self._jump = None


def _transport_factory(sock: Any, **kwargs: Any) -> Any:
    import paramiko

    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        # paramiko leaves Nagle's algorithm on: a command's last small packet then waits
        # for the host's delayed ACK, ~40 ms of every command (7 ms instead of 48 here)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock, **kwargs)
    options = transport.get_security_options()
    available = tuple(options.ciphers)
    options.ciphers = tuple(c for c in _PREFERRED_CIPHERS if c in available) + tuple(
        c for c in available if c not in _PREFERRED_CIPHERS)
    return transport


def open_ssh(endpoint: Endpoint, *, known_hosts: list[Path], trust_hint: str,
             label: str | None = None, jump: Endpoint | None = None,
             jump_label: str | None = None, timeout: float = CONNECT_TIMEOUT,
             keepalive: int = KEEPALIVE) -> SSHConnection:
    """Open an SSH connection to ``endpoint``, through ``jump`` when given.

    Parameters
    ----------
    known_hosts
        known_hosts files to trust (missing ones are skipped). Keys found nowhere are
        refused (:class:`HostKeyError` with the fingerprint); a key that differs from the
        one recorded is refused as a possible man-in-the-middle.
    trust_hint
        The command that trusts this host, for the unknown-key message.
    """
    jump_connection = None
    sock = None
    if jump is not None:
        jump_connection = open_ssh(jump, known_hosts=known_hosts, trust_hint=trust_hint,
                                   label=jump_label or f"bastion {jump}", timeout=timeout,
                                   keepalive=keepalive)
        try:
            sock = jump_connection.client.get_transport().open_channel(
                "direct-tcpip", (endpoint.hostname, endpoint.port), ("127.0.0.1", 0),
                timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - paramiko raises many kinds here
            jump_connection.close()
            raise DeployError(f"the bastion {jump} could not reach {endpoint} ({exc})",
                              "check the host's address and that the bastion allows TCP "
                              "forwarding (AllowTcpForwarding)") from None
    try:
        client = _client(endpoint, known_hosts=known_hosts, trust_hint=trust_hint,
                         sock=sock, timeout=timeout)
    except BaseException:
        if jump_connection is not None:
            jump_connection.close()
        raise
    transport = client.get_transport()
    if transport is not None:
        transport.set_keepalive(keepalive)
    return SSHConnection(label or str(endpoint), client, jump_connection)


_known_hosts_cache: dict[str, tuple[tuple[int, int, int], Any]] = {}
_known_hosts_lock = threading.Lock()


def parsed_known_hosts(path: Path) -> Any:
    """``path`` as a ``paramiko.HostKeys`` (shared: read it, never change it), parsed once
    per version of the file (its inode, size and mtime: trusting a host appends a line,
    untrusting replaces the file): a fleet operation connects to every host, and parsing
    every host's line for each connection grew with the square of the fleet."""
    import paramiko

    st = path.stat()
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    with _known_hosts_lock:
        hit = _known_hosts_cache.get(str(path))
    if hit is not None and hit[0] == stamp:
        return hit[1]
    keys = paramiko.HostKeys()
    keys.load(str(path))
    with _known_hosts_lock:
        _known_hosts_cache[str(path)] = (stamp, keys)
    return keys


def recorded_keys(known_hosts: list[Path], name: str) -> dict[str, Any]:
    """The keys ``known_hosts`` record for ``name`` (``[addr]:port`` off port 22), by key
    type; where files disagree, the first file's key. Missing files are skipped; an
    unreadable one raises DeployError."""
    import paramiko

    found: dict[str, Any] = {}
    for path in known_hosts:
        if not path.is_file():
            continue
        try:
            entry = parsed_known_hosts(path).lookup(name)
        except (OSError, paramiko.SSHException) as exc:
            raise DeployError(f"cannot read the known_hosts file {path} ({exc})",
                              "fix or remove the broken line") from None
        for key_type in entry.keys() if entry else ():
            found.setdefault(key_type, entry[key_type])
    return found


def _client(endpoint: Endpoint, *, known_hosts: list[Path], trust_hint: str, sock: Any,
            timeout: float) -> Any:
    import paramiko

    client = paramiko.SSHClient()
    # only this host's keys, under the name paramiko looks them up by
    name = endpoint.known_hosts_name
    for key_type, key in recorded_keys(known_hosts, name).items():
        client.get_host_keys().add(name, key_type, key)
    client.set_missing_host_key_policy(_RefuseUnknown(endpoint, trust_hint))
    options: dict[str, Any] = {
        "hostname": endpoint.hostname, "port": endpoint.port,
        "username": endpoint.user or None, "timeout": timeout,
        "banner_timeout": timeout, "auth_timeout": timeout, "sock": sock,
        "transport_factory": _transport_factory,
    }
    if endpoint.identity_file:
        key = Path(os.path.expanduser(endpoint.identity_file))
        if not key.is_file():
            raise DeployError(f"the identity file {key} for {endpoint} does not exist",
                              "fix the host's identity file (`modeldeck hosts edit`)")
        options["key_filename"] = str(key)
    try:
        client.connect(**options)
    except HostKeyError:
        client.close()
        raise
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise HostKeyError(
            f"{endpoint} presented a {exc.key.get_name()} host key {exc.key.fingerprint} "
            f"that DIFFERS from the one trusted before ({exc.expected_key.fingerprint}): "
            "this may be a man-in-the-middle attack, nothing was sent",
            "ask the host's admin whether the key really changed; only then remove the old "
            "key (`modeldeck hosts untrust`) and trust the new one explicitly",
            fingerprint=exc.key.fingerprint, key_type=exc.key.get_name(),
            changed=True) from None
    except paramiko.AuthenticationException as exc:
        client.close()
        raise DeployError(f"{endpoint} refused our SSH keys ({exc})",
                          "check the host's user and identity file, or load the key into "
                          "ssh-agent") from None
    except (socket.timeout, TimeoutError):
        client.close()
        raise DeployError(f"{endpoint} did not answer within {timeout:g} s",
                          "check the address, port and firewall") from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        client.close()
        raise DeployError(f"cannot connect to {endpoint} ({exc})",
                          "check the address, port and that sshd runs there") from None
    return client


def scan_host_key(endpoint: Endpoint, *, sock: Any = None,
                  timeout: float = CONNECT_TIMEOUT) -> tuple[str, str, str]:
    """The host key ``endpoint`` presents: ``(key type, base64, SHA256 fingerprint)``.

    Only the key exchange runs; nothing is authenticated or sent.
    """
    import paramiko

    try:
        if sock is None:
            sock = socket.create_connection((endpoint.hostname, endpoint.port), timeout)
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=timeout)
            key = transport.get_remote_server_key()
            return key.get_name(), key.get_base64(), key.fingerprint
        finally:
            transport.close()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise DeployError(f"cannot read the host key of {endpoint} ({exc})",
                          "check the address, port and that sshd runs there") from None


def quote(text: str) -> str:
    """Quote ``text`` for ``/bin/sh``."""
    return shlex.quote(text)
