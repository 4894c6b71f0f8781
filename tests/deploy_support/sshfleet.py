"""A fleet of real OpenSSH servers for the deploy tests (STYLE.md §8: "SSH: never a fake").

Each simulated host is one ``/usr/sbin/sshd -D -e -f <config>`` process listening on its own
loopback address (127.0.0.2, 127.0.0.3, …; never anything outside 127.0.0.0/8) on a free
high port, with its own ed25519 host key and its own Unix user, whose home folder is that
host's disk. One client key is authorised for every user. Everything the fleet creates —
users, processes, mounts, folders — is removed by :meth:`SshFleet.close` (also registered
with :mod:`atexit`), and fleets left behind by a killed test run are reaped the next time a
fleet starts.

Needs root (``useradd``, ``sshd``, ``mount``) and Debian's openssh-server.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import paramiko

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = "ssh-keygen"
SYSTEM_PYTHON = "/usr/bin/python3"
FIRST_HOST = 2  # 127.0.0.1 stays the test process's own address
MAX_HOSTS = 253  # 127.0.0.2 … 127.0.0.254
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
_USER_RE = re.compile(r"^md-h\d+-[0-9a-f]{6}$")
_OWNER_FILE = "owner"  # "<pid> <start time>" of the process that owns a fleet folder


class FleetUnavailable(RuntimeError):
    """The fleet cannot run here (not root, no sshd…); the message says why."""


def fleet_unavailable_reason() -> str | None:
    """Why no fleet can start on this machine, or None when it can."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "the SSH fleet needs Linux"
    if os.geteuid() != 0:
        return "the SSH fleet needs root (it creates Unix users and starts sshd)"
    if not SSHD.exists():
        return f"{SSHD} is missing: install openssh-server"
    for tool in (SSH_KEYGEN, "useradd", "userdel", "pkill", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (openssh-client, passwd, procps, mount)"
    return None


def sshd_version() -> tuple[int, int]:
    """OpenSSH's (major, minor) as ``sshd -V`` prints it."""
    out = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True, check=False)
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", out.stdout + out.stderr)
    if not match:
        raise FleetUnavailable(f"cannot read the OpenSSH version from {SSHD} -V: {out.stderr}")
    return int(match.group(1)), int(match.group(2))


def _run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): "
                           f"{result.stderr.strip() or result.stdout.strip()}")
    return result


def _start_time(pid: int) -> str | None:
    """A process's start time in clock ticks since boot (tells a PID's reuse apart)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace").strip()
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _pids_of_user(uid: int) -> list[int]:
    """Live processes of ``uid`` (zombies are dead already: their parent reaps them)."""
    found = []
    for pid in _pids():
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            found.append(pid)
    return found


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _kill_pids(pids: list[int], sig: int = signal.SIGKILL) -> int:
    killed = 0
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            killed += 1
    return killed


def _mounts_under(folder: Path) -> list[Path]:
    prefix = str(folder).rstrip("/") + "/"
    found = []
    for line in Path("/proc/mounts").read_text().splitlines():
        target = line.split()[1].replace("\\040", " ")
        if target.startswith(prefix):
            found.append(Path(target))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _read_banner(address: str, port: int, timeout: float = 1.0) -> str | None:
    """The SSH identification line of the server, or None when it does not answer."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            data = b""
            while b"\n" not in data and len(data) < 512:
                chunk = sock.recv(256)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    line = data.split(b"\n", 1)[0].strip().decode(errors="replace")
    return line if line.startswith("SSH-2.0-") else None


def _free_port(address: str) -> int:
    """A free TCP port on ``address``; binding it also proves the address is usable."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _user_processes_gone(uid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        pids = _pids_of_user(uid)
        if not pids:
            return True
        if time.monotonic() > deadline:
            return False
        _kill_pids(pids)
        time.sleep(0.05)


@dataclass(eq=False)
class SshHost:
    """One simulated host: an sshd on ``address:port`` that lets ``user`` in with the
    fleet's client key. ``home`` is the user's home folder: the host's disk."""

    name: str  # "h2" for 127.0.0.2
    address: str
    port: int
    user: str
    uid: int
    gid: int
    home: Path
    client_key_path: Path
    host_key_path: Path
    host_key_fingerprint: str  # "SHA256:…", as `ssh-keygen -lf` prints it
    known_hosts_line: str  # "[127.0.0.2]:40123 ssh-ed25519 AAAA…"
    log_path: Path
    config_path: Path
    known_hosts_path: Path  # the fleet's known_hosts file (every host's current key)
    python: str = SYSTEM_PYTHON
    _fleet: SshFleet | None = field(default=None, repr=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _small_disks: list[Path] = field(default_factory=list, repr=False)

    # ---- state -------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """PID of the listening sshd (None when it was never started)."""
        return self._proc.pid if self._proc else None

    def alive(self) -> bool:
        """True while the listening sshd runs."""
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """The end of this sshd's log (LogLevel VERBOSE), for assertion messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # ---- process control ---------------------------------------------------------------

    def start(self, wait: bool = True) -> SshHost:
        """Start the sshd (no-op when it runs); with ``wait``, until it speaks SSH."""
        with self._lock:
            if self.alive():
                return self
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
            with self.log_path.open("ab") as log:
                log.write(f"--- modeldeck: starting sshd at {time.strftime('%H:%M:%S')}\n"
                          .encode())
                log.flush()
                self._proc = subprocess.Popen(
                    [str(SSHD), "-D", "-e", "-f", str(self.config_path)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Block until the sshd accepts a TCP connection and sends its SSH banner."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                code = self._proc.wait() if self._proc else None
                raise RuntimeError(f"sshd of {self.name} ({self.address}:{self.port}) exited "
                                   f"with {code}:\n{self.log_tail()}")
            if _read_banner(self.address, self.port, timeout=1.0):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd of {self.name} did not answer on "
                                   f"{self.address}:{self.port} within {timeout:.0f} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL the listening sshd: no new connections. Existing sessions keep running
        (as on a real host); see :meth:`kill_sessions`."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()

    def stop(self) -> None:
        """SIGTERM the listening sshd, SIGKILL it after a few seconds."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                return
            self._proc.terminate()
            try:
                self._proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def restart(self) -> SshHost:
        """Stop (if running) and start again: same host key, same address and port."""
        with self._lock:
            self.stop()
            return self.start()

    def kill_sessions(self) -> int:
        """Kill every SSH connection of this host's user (the ``sshd: user@notty`` and
        ``[priv]`` processes): each client sees its connection drop, like a network
        failure. Commands the sessions started keep running until they touch the closed
        pipes; the listener keeps accepting. Returns how many processes were killed."""
        pattern = re.compile(rf"^sshd(-session)?: {re.escape(self.user)}( |@|$)")
        sessions = [pid for pid in _pids() if pattern.match(_cmdline(pid))]
        # The user's side first: its [priv] monitor then reaps it and exits by itself (an
        # orphan would linger as a zombie until init reaps it); kill monitors that linger.
        user_side = [pid for pid in sessions if pid in set(_pids_of_user(self.uid))]
        killed = _kill_pids(user_side)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            left = [pid for pid in sessions if pattern.match(_cmdline(pid))]
            if not left:
                break
            time.sleep(0.02)
        return killed + _kill_pids([pid for pid in sessions if pattern.match(_cmdline(pid))])

    def kill_user_processes(self) -> int:
        """SIGKILL every process of this host's user (sessions, agents, prediction
        servers): what a host crash does to them. Returns how many there were."""
        pids = _pids_of_user(self.uid)
        _kill_pids(pids)
        _user_processes_gone(self.uid, STOP_TIMEOUT)
        return len(pids)

    def rotate_host_key(self) -> str:
        """Give the host a new host key and restart its sshd (same port): clients that
        trust the old key must now refuse it. Returns the new fingerprint; the fleet's
        ``known_hosts`` file and :attr:`known_hosts_line` follow the new key."""
        with self._lock:
            self.stop()
            assert self._fleet is not None
            self._fleet._make_host_key(self)
            self._fleet._write_known_hosts()
            self.start()
            return self.host_key_fingerprint

    # ---- the host's disk ---------------------------------------------------------------

    def with_small_disk(self, mb: int, name: str = "small") -> Path:
        """Mount a tmpfs of ``mb`` MiB at ``home/name``, owned by the user, and return it:
        a folder whose file system fills up (point the deploy root there). Unmounted by
        :meth:`reset` and when the fleet closes."""
        target = self.home / name
        with self._lock:
            if target in self._small_disks:
                _run(["umount", str(target)])
                self._small_disks.remove(target)
            target.mkdir(exist_ok=True)
            os.chown(target, self.uid, self.gid)
            try:
                _run(["mount", "-t", "tmpfs", "-o",
                      f"size={int(mb)}m,mode=0755,uid={self.uid},gid={self.gid},nodev,nosuid",
                      f"modeldeck-{self.user}", str(target)])
            except RuntimeError as exc:
                raise FleetUnavailable(
                    f"cannot mount a small tmpfs here ({exc}): a full disk needs "
                    "CAP_SYS_ADMIN (root, not in an unprivileged container)") from exc
            self._small_disks.append(target)
        return target

    def _unmount_small_disks(self) -> None:
        for target in reversed(self._small_disks):
            subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)
        self._small_disks.clear()

    def reset(self) -> None:
        """Make the host as new: kill the user's processes, unmount small disks, empty the
        home folder (the dot files of /etc/skel stay away too), start sshd if it is down.
        The host key stays what it is now."""
        with self._lock:
            self.kill_sessions()
            self.kill_user_processes()
            self._unmount_small_disks()
            for child in self.home.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            self.start()

    # ---- clients -----------------------------------------------------------------------

    def ssh_options(self) -> list[str]:
        """OpenSSH client options for this host (``ssh``/``scp``/``rsync -e``): the
        client key only, the fleet's known_hosts, strict host key checking, no prompts."""
        return ["-o", f"IdentityFile={self.client_key_path}", "-o", "IdentitiesOnly=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts_path}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
                "-o", f"Port={self.port}", "-o", f"User={self.user}"]

    def ssh_command(self, *remote: str) -> list[str]:
        """``ssh [options] address [remote…]`` for this host."""
        return ["ssh", *self.ssh_options(), self.address, *remote]

    def connect(self, sock: Any = None, timeout: float = 10.0) -> paramiko.SSHClient:
        """A paramiko client logged in as the host's user, trusting exactly the host's
        current key (RejectPolicy: an unknown or changed key fails). Close it yourself."""
        import paramiko

        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        entry = paramiko.hostkeys.HostKeyEntry.from_line(self.known_hosts_line)
        assert entry is not None and entry.key is not None
        for hostname in entry.hostnames:
            client.get_host_keys().add(hostname, entry.key.get_name(), entry.key)
        try:
            client.connect(self.address, port=self.port, username=self.user,
                           key_filename=str(self.client_key_path), allow_agent=False,
                           look_for_keys=False, timeout=timeout, banner_timeout=timeout,
                           auth_timeout=timeout, sock=sock)
        except BaseException:
            client.close()
            raise
        return client


class SshFleet:
    """Owns the hosts, the client key and a temp folder; :meth:`hosts` grows the fleet.

    Layout of :attr:`base` (mode 0755 so that the users can reach their homes)::

        owner                 "<pid> <start time>" of the owning process (stale-fleet reaping)
        client/id_ed25519     the client key (OpenSSH format; paramiko loads it) and .pub
        authorized_keys       the AuthorizedKeysFile of every sshd
        known_hosts           every host's current key, for OpenSSH clients
        h2/sshd_config, h2/ssh_host_ed25519_key(.pub), h2/sshd.pid, h2/sshd.log
        homes/h2/             the home folder of host h2's user: its disk
    """

    def __init__(self, root: Path | None = None) -> None:
        reason = fleet_unavailable_reason()
        if reason:
            raise FleetUnavailable(reason)
        reap_stale_fleets()
        self.suffix = secrets.token_hex(3)
        self.base = Path(tempfile.mkdtemp(prefix=f"modeldeck-fleet-{self.suffix}-",
                                          dir=root))
        self.base.chmod(0o755)
        (self.base / _OWNER_FILE).write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")
        (self.base / "homes").mkdir(mode=0o755)
        self._hosts: list[SshHost] = []
        self._lock = threading.RLock()
        self._closed = False
        self._extra_options = (["PerSourcePenalties no"] if sshd_version() >= (9, 8) else [])
        client = self.base / "client"
        client.mkdir(mode=0o700)
        self.client_key_path = client / "id_ed25519"
        _run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "modeldeck-tests-client",
              "-f", str(self.client_key_path)])
        self.authorized_keys_path = self.base / "authorized_keys"
        self.authorized_keys_path.write_text(
            (client / "id_ed25519.pub").read_text())
        self.authorized_keys_path.chmod(0o644)
        self.known_hosts_path = self.base / "known_hosts"
        self.known_hosts_path.write_text("")
        self.known_hosts_path.chmod(0o644)
        atexit.register(self.close)

    def hosts(self, n: int) -> list[SshHost]:
        """The first ``n`` hosts, started and answering; new ones are added as needed
        (asking for 5 after 3 gives the same 3 plus 2 more). Hosts killed by a test are
        started again; nothing else about them is reset (see :meth:`SshHost.reset`)."""
        if not 1 <= n <= MAX_HOSTS:
            raise ValueError(f"a fleet has 1 to {MAX_HOSTS} hosts, not {n}")
        with self._lock:
            if self._closed:
                raise RuntimeError("the fleet is closed")
            new = []
            while len(self._hosts) < n:
                new.append(self._create_host(len(self._hosts) + FIRST_HOST))
                self._hosts.append(new[-1])
            self._write_known_hosts()
            wanted = self._hosts[:n]
            for host in wanted:
                host.start(wait=False)
            for host in wanted:
                try:
                    host.wait_ready()
                except RuntimeError:
                    if host not in new or "Address already in use" not in host.log_tail():
                        raise
                    self._move_to_free_port(host)  # another process took the port meanwhile
            return list(wanted)

    def _move_to_free_port(self, host: SshHost) -> None:
        host.port = _free_port(host.address)
        key = host.known_hosts_line.split(" ", 1)[1]
        host.known_hosts_line = f"[{host.address}]:{host.port} {key}"
        host.config_path.write_text(self._sshd_config(host))
        self._write_known_hosts()
        host.start()

    def forced_key(self, name: str, command: str) -> Path:
        """A new client key whose ``authorized_keys`` line (every host) is
        ``command="COMMAND",restrict``: whatever a client asks, the host runs ``command``
        as its user, from its home, with the request in ``$SSH_ORIGINAL_COMMAND`` — what a
        host's admin does to pin what a key may run. Returns the private key's path."""
        with self._lock:
            key = self.base / "client" / f"forced-{name}"
            _run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", f"modeldeck-tests-{name}",
                  "-f", str(key)])
            line = f'command="{command}",restrict {key.with_suffix(".pub").read_text().strip()}'
            with self.authorized_keys_path.open("a") as fh:
                fh.write(line + "\n")
            return key

    @property
    def all_hosts(self) -> list[SshHost]:
        return list(self._hosts)

    def _create_host(self, octet: int) -> SshHost:
        name = f"h{octet}"
        address = f"127.0.0.{octet}"
        user = f"md-{name}-{self.suffix}"
        home = self.base / "homes" / name
        folder = self.base / name
        folder.mkdir(mode=0o700)
        _run(["useradd", "--home-dir", str(home), "--create-home", "--shell", "/bin/sh",
              "--user-group", "--no-log-init", "--password", "*",  # "*": no password, not locked
              "--comment", f"ModelDeck test host {name}", user])
        try:
            return self._describe_host(name, address, user, home, folder)
        except BaseException:
            _delete_user(user, pwd.getpwnam(user).pw_uid)
            raise

    def _describe_host(self, name: str, address: str, user: str, home: Path,
                       folder: Path) -> SshHost:
        entry = pwd.getpwnam(user)
        host = SshHost(
            name=name, address=address, port=_free_port(address), user=user,
            uid=entry.pw_uid, gid=entry.pw_gid, home=home,
            client_key_path=self.client_key_path,
            host_key_path=folder / "ssh_host_ed25519_key", host_key_fingerprint="",
            known_hosts_line="", log_path=folder / "sshd.log",
            config_path=folder / "sshd_config", known_hosts_path=self.known_hosts_path,
            _fleet=self)
        self._make_host_key(host)
        host.config_path.write_text(self._sshd_config(host))
        return host

    def _make_host_key(self, host: SshHost) -> None:
        for path in (host.host_key_path, host.host_key_path.with_suffix(".pub")):
            path.unlink(missing_ok=True)
        _run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", f"modeldeck-tests-{host.name}",
              "-f", str(host.host_key_path)])
        public = host.host_key_path.with_suffix(".pub")
        fingerprint = _run([SSH_KEYGEN, "-lf", str(public)]).stdout.split()[1]
        key_type, key_b64 = public.read_text().split()[:2]
        host.host_key_fingerprint = fingerprint
        host.known_hosts_line = f"[{host.address}]:{host.port} {key_type} {key_b64}"

    def _write_known_hosts(self) -> None:
        self.known_hosts_path.write_text("".join(h.known_hosts_line + "\n"
                                                 for h in self._hosts))

    def _sshd_config(self, host: SshHost) -> str:
        lines = [
            f"# ModelDeck test host {host.name}: written by tests/deploy_support/sshfleet.py",
            f"ListenAddress {host.address}:{host.port}",
            f"HostKey {host.host_key_path}",
            f"PidFile {host.config_path.parent / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys_path}",
            f"AllowUsers {host.user}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            "UsePAM no",
            # The keys live under /tmp (world-writable): StrictModes would refuse them.
            "StrictModes no",
            # ProxyJump through a test host.
            "AllowTcpForwarding yes",
            "AllowAgentForwarding no",
            "X11Forwarding no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "LoginGraceTime 30",
            # Parallel rollouts and benchmarks open many connections at once.
            "MaxStartups 200",
            "MaxSessions 100",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
            *self._extra_options,
        ]
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        """Stop every sshd by PID, kill the users' processes, unmount, delete users and
        folders. Safe to call twice; never raises (problems go to stderr)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        problems: list[str] = []
        # Sessions first, so that each listener reaps its connection processes before it
        # stops (orphans would linger as zombies until init reaps them).
        for host in self._hosts:
            host.kill_sessions()
            if not _user_processes_gone(host.uid, STOP_TIMEOUT):
                problems.append(f"{host.user}: processes left: {_pids_of_user(host.uid)}")
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(
                _children(h.pid) for h in self._hosts if h.alive() and h.pid):
            time.sleep(0.02)
        for host in self._hosts:
            try:
                host.stop()
            except Exception as exc:  # noqa: BLE001 - teardown goes on regardless
                problems.append(f"{host.name}: stopping sshd: {exc}")
            host._unmount_small_disks()
        for mount in _mounts_under(self.base):
            subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)
        for host in self._hosts:
            problem = _delete_user(host.user, host.uid)
            if problem:
                problems.append(problem)
        shutil.rmtree(self.base, ignore_errors=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        if problems:
            import sys

            print("modeldeck ssh fleet teardown: " + "; ".join(problems), file=sys.stderr)

    def __enter__(self) -> SshFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _delete_user(user: str, uid: int) -> str | None:
    for attempt in range(20):
        _user_processes_gone(uid, 1.0)
        # --force at the end: a zombie the sandbox's init never reaps still "uses" the user.
        force = ["--force"] if attempt >= 10 else []
        result = subprocess.run(["userdel", "--remove", *force, user], capture_output=True,
                                text=True, check=False)
        # 6: no such user (already gone); 12: home could not be removed (rmtree follows).
        if result.returncode in (0, 6, 12):
            return None
        time.sleep(0.1)
    return f"userdel {user}: {result.stderr.strip()}"


def reap_stale_fleets() -> list[str]:
    """Remove fleets whose owning process is gone (a test run killed with SIGKILL): their
    sshd processes, user processes, mounts, users and folders. Returns the users removed."""
    removed = []
    for entry in pwd.getpwall():
        if not _USER_RE.match(entry.pw_name):
            continue
        base = Path(entry.pw_dir).parent.parent
        try:
            pid_text, start = (base / _OWNER_FILE).read_text().split()
            if _start_time(int(pid_text)) == start:
                continue  # its session is still running
        except (OSError, ValueError):
            pass
        # The listener's title reads "sshd: /usr/sbin/sshd -D -e -f <base>/h2/sshd_config
        # [listener] …" (its PID file may be gone with the folder).
        marker = f" -f {base}/"
        _kill_pids([pid for pid in _pids()
                    if _cmdline(pid).startswith("sshd") and marker in _cmdline(pid)])
        for mount in _mounts_under(base):
            subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)
        if _delete_user(entry.pw_name, entry.pw_uid) is None:
            removed.append(entry.pw_name)
        if base.name.startswith("modeldeck-fleet-"):
            shutil.rmtree(base, ignore_errors=True)
    return removed
