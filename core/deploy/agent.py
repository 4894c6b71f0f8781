#!/usr/bin/env python3
"""ModelDeck's host agent: the one script a deploy runs on a host.

Uploaded to ``<root>/.modeldeck/agent.py`` and run with the host's own Python (3.8 or
newer, standard library only — the host may have nothing else)::

    PYTHON <root>/.modeldeck/agent.py --root ROOT COMMAND [options]

Every invocation prints exactly one JSON object on stdout. Exit codes: 0 success; 1 failure,
with ``{"error": ..., "fix": ...}`` (plus details); 3 the host's deploy lock is held by
someone else (``{"error", "fix", "holder"}``).

Layout under ROOT::

    .modeldeck/agent.py        this script
    .modeldeck/lock/           the deploy lock (renamed into place: atomic); lock/owner.json
    .modeldeck/journal.json    the last activation: running, or its outcome
    .modeldeck/history.json    activations, newest last
    .modeldeck/activation.lock flock()ed by the activation worker while it runs
    .modeldeck/activate.log    the last activation worker's own output
    releases/<id>/             complete release folders (see modeldeck.core.bundle)
    releases/<id>.partial/     an upload in progress
    current -> releases/<id>   relative symlink, switched atomically (symlink + rename)
    wheelhouse/*.whl           wheels for air-gapped installs; wheelhouse/index.json
    envs/<hash>/               virtual environments, complete once envs/<hash>/.complete exists
    state/                     the server's --state-dir, kept across releases
    run/server.pid, server.log, server.json, modeldeck-<port>.service

Commands (``-h`` on each for its options): probe, lock, unlock, prepare, prepare-wheels,
verify-wheels, verify, commit, receive, install-env, activate, journal, recover, restart,
stop, status, prune, fetch, unit — and the compound ones a deploy uses, since every call costs a
Python start-up: begin (lock + probe + status), stage (verify + commit), finish (activate +
prune + unlock) and rollback (lock + activate the previous release + unlock).

The deployer runs it imported rather than as a script (see ``BOOT``), so its bytecode is
cached under ``.modeldeck/__pycache__``.

Pinned (a hardened host, see :func:`pinned_main`): the host's admin installs this script
root-owned and makes it the deploy key's forced command in ``authorized_keys``::

    command="/usr/bin/python3 /opt/modeldeck/agent.py --pinned --root /srv/modeldeck",restrict ssh-ed25519 AAAA...

Then the desktop can only call ``modeldeck-agent COMMAND ...``: no shell, no SFTP (files
arrive through ``receive``), no uploaded agent, wheels only from the admin's wheelhouse,
and every switch needs a release signed by a reviewer in the admin's allowed-signers file
— so a compromised desktop cannot make the host run an unapproved model.

Crash safety: every file is written to a temporary name, fsynced and renamed; ``current``
is replaced by renaming a fresh symlink onto it; the activation (switch, stop, start, ready,
smoke, and the switch back on failure) runs in a worker detached from the SSH session
(its own session, stdio to files), which journals each step so that ``recover`` — or the
next ``activate`` — can finish an activation whose worker died (a host crash).

Fault injection (tests only): ``--fault POINT[,POINT...]``, ``$MODELDECK_AGENT_FAULT`` or
the file ``.modeldeck/fault`` under the root (same syntax: a test that only reaches the host
over SSH, as the deploy controller runs the agent, can set faults there; nothing else
writes it); ``POINT`` or ``POINT:exit`` ends the process at that point with exit code 99,
``POINT:sleep`` makes it sleep there (to be killed), ``POINT:pause`` makes it wait there
until the fault file is removed, then go on. Reaching a point writes its name to
``.modeldeck/fault-reached``, so a test knows when to strike. Points: see ``FAULT_POINTS``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
import time

# Every agent call starts a Python process (a rollback of 20 hosts starts 20 at once), so the
# agent imports only what costs nothing: hashlib, shutil, subprocess, tempfile and the rest are
# imported where used, and json, re and argparse not at all — `import json` pulls `re` and
# `enum` (~17 ms of a call's start-up), argparse `re` and `gettext` (~20 ms). The agent speaks
# JSON through `_json`, the C half of the json package (see `dumps`), and parses its command
# line from SPEC (see `parse_command`): a call costs ~20 ms of CPU instead of ~60 ms.
try:
    import _json
except ImportError:  # not CPython: the json package (slower to import, same text)
    _json = None
TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs ~4 ms of every call's start-up
    from typing import Any

AGENT_VERSION = 1
FAULT_ENV = "MODELDECK_AGENT_FAULT"
FAULT_EXIT = 99
FAULT_POINTS = (
    # activation worker
    "after-begin", "after-switch", "after-stop", "after-start", "after-ready", "after-smoke",
    "after-rollback-switch", "after-rollback-start",
    # activate's parent (the SSH side): dies once the worker runs
    "parent-after-spawn",
    # other commands, before they answer
    "after-prepare", "after-verify", "after-commit", "after-lock",
)
PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "skops", "waitress")
CHECKED_FOLDERS = ("model", "code", "bin")
UNHASHED = ("release_id", "built_at", "built_by")
STOP_TIMEOUT = 10.0
PORT_TIMEOUT = 10.0
HISTORY_KEEP = 200
#: The namespace reviewers sign releases in (modeldeck.core.release.signing.NAMESPACE).
SIGNATURE_NAMESPACE = "modeldeck-release"
#: A host whose admin puts an allowed-signers file here runs only signed releases.
SYSTEM_ALLOWED_SIGNERS = "/etc/modeldeck/allowed_signers"
#: How the agent is run: imported (so its bytecode is cached in .modeldeck/__pycache__,
#: ~40 ms less per call than running it as a script), from the folder given first:
#: ``PYTHON -c BOOT <root>/.modeldeck --root ROOT COMMAND ...`` (the cache is written even
#: under PYTHONDONTWRITEBYTECODE: the folder is the agent's own)
BOOT = ("import sys; sys.dont_write_bytecode = False; sys.path.insert(0, sys.argv.pop(1)); "
        "import agent; sys.exit(agent.main())")
#: The first word of every call a pinned agent accepts (``modeldeck-agent COMMAND ...``).
PINNED_WORD = "modeldeck-agent"
#: Where a pinned agent takes wheels from (the admin's; the desktop cannot send any).
PINNED_WHEELHOUSE = "/var/lib/modeldeck/wheelhouse"
#: Set when the agent runs pinned (see :func:`pinned_main`): its python, allowed signers
#: and wheelhouse, fixed by the host's admin.
_pinned: dict[str, str] = {}
_faults: dict[str, str] = {}
#: The root's ``.modeldeck`` folder once known: where the fault file and marker live.
_fault_dir: list[str] = []


# -- plumbing -------------------------------------------------------------------------------

class AgentError(Exception):
    """A failure reported as ``{"error", "fix", ...}`` with an exit code."""

    def __init__(self, message: str, fix: str, code: int = 1, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.code = code
        self.extra = extra


class StepFailed(Exception):
    """A step of the activation failed (the transaction switches back)."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class Args:
    """A parsed command line: an attribute per option (``--ready-timeout`` → ``ready_timeout``)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Args({self.__dict__!r})"


# -- JSON without the json package (see the imports) ---------------------------------------------

_WHITESPACE = " \t\n\r"


class _Decoding:
    """What the C scanner reads off a ``json.JSONDecoder``: its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"),
                      "-Infinity": float("-inf")}.__getitem__


try:
    _scan = _json.make_scanner(_Decoding()) if _json is not None else None
except (AttributeError, TypeError):  # a C scanner that wants other settings
    _scan = None


def dumps(obj: Any, compact: bool = False) -> str:
    """``json.dumps(obj, sort_keys=True, default=str)`` — with ``compact``, and
    ``separators=(",", ":")`` — the same text, from the C encoder json.dumps itself uses."""
    item, key = (",", ":") if compact else (", ", ": ")
    if _json is not None:
        try:
            encode = _json.make_encoder(None, str, _json.encode_basestring_ascii, None, key,
                                        item, True, False, True)
        except (AttributeError, TypeError):  # a C encoder that wants other arguments
            pass
        else:
            return "".join(encode(obj, 0))
    import json
    return json.dumps(obj, sort_keys=True, default=str, separators=(item, key))


def loads(text: str) -> Any:
    """``json.loads(text)``: the same value, or ValueError."""
    if _scan is None:
        import json
        return json.loads(text)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except (StopIteration, SystemError):
        # Not JSON: json says what is wrong. (The C scanner raises its errors through
        # json.decoder, and fails with SystemError when nothing imported that.)
        value, end = None, -1
    if end < 0 or text[end:].strip(_WHITESPACE):
        import json
        return json.loads(text)  # raises json.JSONDecodeError, a ValueError
    return value


# -- names and hashes (what the deployer sends is checked before it names a path) -----------------

_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_ID_FIRST = _ALNUM | frozenset("_")
_ID_CHARS = _ALNUM | frozenset("_.@+-")
_NAME_CHARS = _ALNUM | frozenset("._-")
_VERSION_CHARS = _ALNUM | frozenset(".+!_-")
_HEX = frozenset("0123456789abcdef")


def _made_of(text: str, first: frozenset[str], rest: frozenset[str]) -> bool:
    return bool(text) and text[0] in first and all(c in rest for c in text)


def is_sha256(value: Any) -> bool:
    """A sha256 as the deployer writes it: 64 lowercase hex digits."""
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def is_pinned_requirement(line: str) -> bool:
    """``name==version`` and nothing else (no URL, option or marker)."""
    name, sep, version = line.partition("==")
    return bool(sep) and _made_of(name, _ALNUM, _NAME_CHARS) and _made_of(
        version, _ALNUM, _VERSION_CHARS)


def now_iso(epoch: float | None = None) -> str:
    """``epoch`` (default: now) in UTC, ISO 8601 to the second (``...T12:00:00+00:00``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                         time.gmtime(time.time() if epoch is None else epoch))


def fault(point: str) -> None:
    """End (or freeze) the process here when a test asked for a fault at ``point``."""
    action = _faults.get(point)
    if action is None:
        return
    sys.stderr.write(f"modeldeck-agent-fault: reached {point}\n")
    sys.stderr.flush()
    if _fault_dir:
        try:
            write_atomic(os.path.join(_fault_dir[0], "fault-reached"),
                         f"{point} {os.getpid()}\n".encode())
        except OSError:
            pass
    if action == "pause":
        while _fault_dir and os.path.exists(os.path.join(_fault_dir[0], "fault")):
            time.sleep(0.05)
        return
    if action == "sleep":
        time.sleep(3600)
    os._exit(FAULT_EXIT)


def read_fault_file(meta: str) -> str:
    """The fault spec in ``meta/fault`` (tests only; empty when there is none)."""
    try:
        with open(os.path.join(meta, "fault"), encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def parse_faults(spec: str) -> dict[str, str]:
    """``"a,b:sleep"`` → ``{"a": "exit", "b": "sleep"}``."""
    out = {}
    for item in (spec or "").split(","):
        name, _, action = item.strip().partition(":")
        if name:
            out[name] = action or "exit"
    return out


def fsync_dir(path: str) -> None:
    """Make a rename or unlink in ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_temp(folder: str, prefix: str, suffix: str = "") -> tuple[int, str]:
    """``(fd, path)`` of a new file in ``folder`` (mode 0600, opened by this process only):
    ``tempfile.mkstemp`` without importing tempfile, random and hashlib."""
    path = os.path.join(folder, f"{prefix}{os.urandom(6).hex()}{suffix}")
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), path


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary file and a rename."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = make_temp(folder, f".{os.path.basename(path)}.", ".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(folder)


def write_json(path: str, data: Any) -> None:
    """Write a JSON file atomically: an object a member per line, a list an item per line
    (what an admin reads on the host)."""
    if isinstance(data, dict) and data and all(isinstance(k, str) for k in data):
        text = "{\n" + ",\n".join(f" {dumps(k)}: {dumps(data[k])}" for k in sorted(data)) + "\n}"
    elif isinstance(data, list) and data:
        text = "[\n" + ",\n".join(" " + dumps(item) for item in data) + "\n]"
    else:
        text = dumps(data)
    write_atomic(path, (text + "\n").encode())


def read_json(path: str, default: Any = None) -> Any:
    """A JSON file's content, or ``default`` when missing or unreadable."""
    try:
        with open(path, "rb") as fh:
            return loads(fh.read().decode("utf-8"))
    except (OSError, ValueError):
        return default


def file_sha256(path: str) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remove_tree(path: str) -> None:
    """Delete a folder: renamed away first, so a crash never leaves half of it under its
    own name."""
    if not os.path.lexists(path):
        return
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
        return
    parent = os.path.dirname(path)
    trash = os.path.join(parent, f".trash-{os.path.basename(path)}-{os.urandom(4).hex()}")
    os.rename(path, trash)
    fsync_dir(parent)
    try:  # a folder of files (the lock) without importing shutil, which imports re
        with os.scandir(trash) as entries:
            names = [(e.path, e.is_dir(follow_symlinks=False)) for e in entries]
        if any(is_dir for _, is_dir in names):
            raise IsADirectoryError(trash)
        for name, _ in names:
            os.unlink(name)
        os.rmdir(trash)
    except OSError:
        import shutil

        shutil.rmtree(trash, ignore_errors=True)


def free_bytes(path: str) -> int:
    """Free bytes for an unprivileged user at ``path`` or its nearest existing parent."""
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    st = os.statvfs(path)
    return int(st.f_bavail * st.f_frsize)


def check_id(value: str, what: str = "release id") -> str:
    """A release id or env hash safe as a single path component."""
    if (not value or len(value) > 200 or not _made_of(value, _ID_FIRST, _ID_CHARS)
            or value.endswith(".partial") or ".." in value):
        raise AgentError(f"{what} {value!r} is not valid",
                         "use letters, digits and . _ - @ + (as modeldeck bundle names them)")
    return value


def check_relpath(rel: str) -> str:
    """A manifest path that stays inside the release folder."""
    parts = rel.split("/") if isinstance(rel, str) else [""]
    if (not rel or rel.startswith("/") or "\\" in rel or "\0" in rel
            or any(p in ("", ".", "..") for p in parts)):
        raise AgentError(f"the manifest lists an unsafe path {rel!r}",
                         "rebuild the release with `modeldeck bundle`")
    return rel


def read_stdin_json() -> tuple[Any, bytes]:
    """The JSON document on stdin, and its bytes."""
    raw = sys.stdin.buffer.read()
    return read_json_bytes(raw), raw


def read_json_bytes(raw: bytes) -> Any:
    """``raw`` parsed as JSON (sent on stdin)."""
    try:
        return loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise AgentError(f"stdin is not JSON ({exc})", "send the JSON document on stdin")


def tail_text(path: str, offset: int = 0, limit: int = 4000) -> str:
    """The end of a log file (from ``offset`` on), at most ``limit`` characters."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            start = max(offset, size - limit)
            fh.seek(start)
            data = fh.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    if start > offset and "\n" in text:
        text = text.split("\n", 1)[1]
    return text


def pid_alive(pid: Any) -> bool:
    """Whether process ``pid`` runs (a zombie counts as dead; our own zombies are reaped)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
        if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
            return False
    except (OSError, IndexError):
        pass
    return True


def proc_cmdline(pid: int) -> list[str]:
    """A process' arguments (empty when unknown)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            data = fh.read()
    except OSError:
        return []
    return [a.decode("utf-8", "surrogateescape") for a in data.split(b"\0") if a]


# -- the host layout -------------------------------------------------------------------------

class Root:
    """The paths of one deploy root."""

    def __init__(self, path: str) -> None:
        self.path = os.path.realpath(os.path.expanduser(path))
        j = os.path.join
        self.meta = j(self.path, ".modeldeck")
        self.lock = j(self.meta, "lock")
        self.journal = j(self.meta, "journal.json")
        self.history = j(self.meta, "history.json")
        self.activation_lock = j(self.meta, "activation.lock")
        self.activate_log = j(self.meta, "activate.log")
        self.releases = j(self.path, "releases")
        self.current = j(self.path, "current")
        self.wheelhouse = _pinned.get("wheelhouse") or j(self.path, "wheelhouse")
        self.wheel_index = j(self.wheelhouse, "index.json")
        self.envs = j(self.path, "envs")
        self.state = j(self.path, "state")
        self.run = j(self.path, "run")
        self.pidfile = j(self.run, "server.pid")
        self.server_json = j(self.run, "server.json")
        self.server_log = j(self.run, "server.log")

    def release(self, rid: str) -> str:
        return os.path.join(self.releases, rid)

    def signatures(self, rid: str) -> str:
        return os.path.join(self.path, "signatures", rid)

    def partial(self, rid: str) -> str:
        return os.path.join(self.releases, rid + ".partial")

    def is_complete(self, rid: str) -> bool:
        return os.path.isfile(os.path.join(self.release(rid), "manifest.json"))

    def complete_releases(self) -> list[str]:
        """Complete release ids, sorted by name."""
        try:
            names = os.listdir(self.releases)
        except OSError:
            return []
        return sorted(n for n in names if not n.startswith(".") and not n.endswith(".partial")
                      and self.is_complete(n))

    def partials(self) -> list[str]:
        try:
            names = os.listdir(self.releases)
        except OSError:
            return []
        return sorted(n[:-len(".partial")] for n in names
                      if n.endswith(".partial") and not n.startswith("."))

    def current_id(self) -> str | None:
        """The release ``current`` points to (``None`` without one)."""
        try:
            target = os.readlink(self.current)
        except OSError:
            return None
        return os.path.basename(target.rstrip("/")) or None

    def switch_current(self, rid: str | None) -> None:
        """Point ``current`` at ``releases/rid`` atomically (``None``: remove it)."""
        if rid is None:
            if os.path.islink(self.current):
                os.unlink(self.current)
                fsync_dir(self.path)
            return
        if os.path.lexists(self.current) and not os.path.islink(self.current):
            raise StepFailed(f"{self.current} is not a symlink; cannot switch it")
        tmp = f"{self.current}.tmp-{os.getpid()}-{os.urandom(3).hex()}"
        os.symlink(os.path.join("releases", rid), tmp)
        try:
            os.replace(tmp, self.current)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        fsync_dir(self.path)

    def history_entries(self) -> list[dict[str, Any]]:
        data = read_json(self.history, [])
        return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []

    def add_history(self, entry: dict[str, Any]) -> None:
        entries = self.history_entries()
        entries.append(entry)
        write_json(self.history, entries[-HISTORY_KEEP:])

    def last_ok(self, rid: str) -> dict[str, Any] | None:
        """The newest successful history entry of ``rid`` (its python, bind, port)."""
        for entry in reversed(self.history_entries()):
            if entry.get("release") == rid and entry.get("outcome", "ok") == "ok":
                return entry
        return None

    def previous_id(self) -> str | None:
        """The release that was current before the current one (for rollback and prune)."""
        cur = self.current_id()
        journal = read_json(self.journal, {})
        if isinstance(journal, dict) and journal.get("release") == cur and journal.get(
                "previous") not in (None, cur):
            return str(journal["previous"])
        for entry in reversed(self.history_entries()):
            rid = entry.get("release")
            if rid and rid != cur and entry.get("outcome", "ok") == "ok":
                return str(rid)
        return None


# -- the activation flock -----------------------------------------------------------------------

class ActivationLock:
    """``flock`` on ``.modeldeck/activation.lock``: held by whoever changes the server."""

    def __init__(self, root: Root) -> None:
        self.root = root
        self.fd: int | None = None

    def acquire(self) -> bool:
        os.makedirs(self.root.meta, exist_ok=True)
        fd = os.open(self.root.activation_lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def activation_running(root: Root) -> bool:
    """Whether an activation worker holds the activation lock now."""
    if not os.path.exists(root.activation_lock):
        return False
    lock = ActivationLock(root)
    if lock.acquire():
        lock.release()
        return False
    return True


def require_idle(root: Root) -> ActivationLock:
    """Take the activation lock or fail: an activation is running."""
    lock = ActivationLock(root)
    if not lock.acquire():
        journal = read_json(root.journal, {}) or {}
        raise AgentError(f"an activation of {journal.get('release', '?')} is running on this "
                         f"host (worker pid {journal.get('worker_pid', '?')})",
                         "wait for it: `journal --wait 120`")
    return lock


# -- HTTP to the server --------------------------------------------------------------------------

def connect_host(bind: str) -> str:
    """Where to connect to reach a server bound to ``bind``."""
    if bind in ("", "0.0.0.0"):
        return "127.0.0.1"
    if bind in ("::", "[::]"):
        return "[::1]"
    if ":" in bind and not bind.startswith("["):
        return f"[{bind}]"
    return bind


def http(method: str, bind: str, port: int, path: str, body: Any = None,
         token: str | None = None, timeout: float = 5.0) -> tuple[int | None, Any]:
    """``(status, parsed body)``; status ``None`` when the server cannot be reached."""
    url = f"http://{connect_host(bind)}:{int(port)}{path}"
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # imported here: urllib.request is ~80 ms of start-up that most agent calls never use
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    # no proxies: the server is on this machine, whatever http_proxy says
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status = exc.code
        try:
            raw = exc.read()
        finally:
            exc.close()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))
    text = raw.decode("utf-8", "replace")
    try:
        return status, loads(text)
    except ValueError:
        return status, text


def release_token(release_dir: str, token_file: str | None = None) -> str | None:
    """The bearer token the server of ``release_dir`` requires."""
    path = token_file or os.path.join(release_dir, "token")
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def error_message(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message", err))
        if err:
            return str(err)
        if body.get("reason"):
            return str(body["reason"])
    return str(body)[:500]


# -- the server process ------------------------------------------------------------------------

def server_command(root: Root, release_path: str, python: str, bind: str, port: int,
                   token_file: str | None) -> list[str]:
    """``PYTHON -m modeldeck.core.runtime serve RELEASE --host --port --state-dir [...]``."""
    cmd = [python, "-m", "modeldeck.core.runtime", "serve", release_path, "--host", bind,
           "--port", str(port), "--state-dir", root.state]
    if token_file:
        cmd += ["--token-file", token_file]
    return cmd


def is_our_server(root: Root, pid: int) -> bool:
    """Whether ``pid`` is a prediction server of this root (not a recycled pid)."""
    args = proc_cmdline(pid)
    if not args:
        # no /proc (not Linux): trust the pid file
        return pid_alive(pid) and not os.path.isdir("/proc/self")
    if "modeldeck.core.runtime" not in args or "serve" not in args:
        return False
    prefix = os.path.join(root.releases, "")
    return any(a.startswith(prefix) or a == root.current for a in args)


def our_servers(root: Root) -> list[int]:
    """Every running prediction server of this root (by /proc, besides the pid file)."""
    pids = []
    try:
        names = os.listdir("/proc")
    except OSError:
        names = []
    for name in names:
        if name.isdigit() and int(name) != os.getpid() and is_our_server(root, int(name)):
            if pid_alive(int(name)):
                pids.append(int(name))
    info = read_json(root.server_json, {}) or {}
    pid = info.get("pid")
    if isinstance(pid, int) and pid not in pids and pid_alive(pid) and is_our_server(root, pid):
        pids.append(pid)
    return sorted(pids)


def server_info(root: Root) -> dict[str, Any]:
    """``run/server.json`` (``{}`` when there is none)."""
    info = read_json(root.server_json, {})
    return info if isinstance(info, dict) else {}


def wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_server(root: Root, timeout: float = STOP_TIMEOUT) -> dict[str, Any]:
    """Stop this root's server(s): SIGTERM, wait ``timeout`` s, then SIGKILL."""
    import signal

    info = server_info(root)
    stopped = []
    if info.get("supervisor") == "systemd" and info.get("unit"):
        systemctl("stop", info["unit"], check=False)
    for pid in our_servers(root):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        if not wait_dead(pid, timeout):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_dead(pid, 5.0)
        stopped.append(pid)
    try:
        os.unlink(root.pidfile)
    except OSError:
        pass
    if info:
        info.update(pid=None, stopped_at=now_iso())
        write_json(root.server_json, info)
    return {"stopped": stopped, "release": info.get("release")}


def port_free(bind: str, port: int) -> bool:
    """Whether ``bind:port`` can be listened on now."""
    import socket
    host = bind.strip("[]") or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
    except OSError as exc:
        return exc.errno != errno.EADDRINUSE
    finally:
        sock.close()
    return True


def wait_port_free(bind: str, port: int, timeout: float = PORT_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not port_free(bind, port):
        if time.monotonic() > deadline:
            raise StepFailed(f"port {port} on {bind} is still in use by another program "
                             f"after {timeout:.0f} s (not ModelDeck's server of {bind})")
        time.sleep(0.1)


class Started:
    """A server just started."""

    def __init__(self, release: str, pid: int, proc: Any, log_offset: int, bind: str,
                 port: int, token: str | None) -> None:
        self.release = release
        self.pid = pid
        self.proc = proc
        self.log_offset = log_offset
        self.bind = bind
        self.port = port
        self.token = token

    def exited(self) -> int | None:
        """The exit code once the process ended."""
        if self.proc is not None:
            return self.proc.poll()
        return None if pid_alive(self.pid) else -1


def start_server(root: Root, rid: str, python: str, bind: str, port: int,
                 token_file: str | None = None, supervisor: str = "pidfile") -> Started:
    """Start the server of release ``rid`` (the real folder, not ``current``)."""
    import shutil
    import subprocess

    real = root.release(rid)
    if not os.path.isfile(os.path.join(real, "manifest.json")):
        raise StepFailed(f"release {rid} is not on the host")
    if not (os.path.isfile(python) and os.access(python, os.X_OK)) and not shutil.which(python):
        raise StepFailed(f"the server's Python {python} does not exist on the host")
    tok = token_file or (os.path.join(real, "token")
                         if os.path.isfile(os.path.join(real, "token")) else None)
    token = release_token(real, tok)
    os.makedirs(root.state, exist_ok=True)
    os.makedirs(root.run, exist_ok=True)
    with open(root.server_log, "ab") as log:
        log.seek(0, os.SEEK_END)
        offset = log.tell()
        log.write(f"--- {now_iso()} modeldeck agent: starting {rid} on {bind}:{port} with "
                  f"{python} ({supervisor})\n".encode())
        log.flush()
        if supervisor == "systemd":
            unit = write_unit(root, python, bind, port, token_file)
            install_unit(unit)
            systemctl("restart", unit["name"])
            pid = systemd_main_pid(unit["name"])
            proc = None
        else:
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", FAULT_ENV)}
            env["PYTHONPATH"] = os.path.join(real, "code")
            env["PYTHONUNBUFFERED"] = "1"
            # setsid: SIGHUP from the SSH session that ran us never reaches the server
            proc = subprocess.Popen(server_command(root, real, python, bind, port, tok),
                                    cwd=real, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    close_fds=True)
            pid = proc.pid
    write_atomic(root.pidfile, f"{pid}\n".encode())
    write_json(root.server_json, {
        "release": rid, "pid": pid, "bind": bind, "port": int(port), "python": python,
        "started_at": now_iso(), "supervisor": supervisor, "token_file": token_file,
        "log_offset": offset})
    return Started(rid, pid, proc, offset, bind, int(port), token)


def wait_ready(root: Root, started: Started, timeout: float) -> dict[str, Any]:
    """Poll ``/ready`` until 200; fail at once when the server exits or its check fails."""
    deadline = time.monotonic() + timeout
    last: Any = "no answer yet"
    while True:
        code = started.exited()
        if code is not None:
            time.sleep(0.1)  # let the last lines reach the log
            raise StepFailed(f"the server of {started.release} exited (code {code}) before "
                             f"it was ready", tail_text(root.server_log, started.log_offset))
        status, body = http("GET", started.bind, started.port, "/ready", token=started.token,
                            timeout=2.0)
        if status == 200:
            return body if isinstance(body, dict) else {}
        if status is not None:
            last = f"HTTP {status}: {error_message(body)}"
            if isinstance(body, dict) and body.get("state") == "failed":
                raise StepFailed(f"the server of {started.release} failed its self-check: "
                                 f"{body.get('reason')}",
                                 tail_text(root.server_log, started.log_offset))
            if status in (401, 403):
                raise StepFailed(f"the server of {started.release} refuses the release's "
                                 f"token ({last})")
        else:
            last = body
        if time.monotonic() > deadline:
            raise StepFailed(f"the server of {started.release} was not ready after "
                             f"{timeout:g} s ({last})",
                             tail_text(root.server_log, started.log_offset))
        time.sleep(0.1)


def smoke(root: Root, started: Started) -> dict[str, Any]:
    """POST the first self-check row to ``/v1/predict``; expect one prediction."""
    path = os.path.join(root.release(started.release), "model", "selfcheck.json")
    selfcheck = read_json(path)
    if not isinstance(selfcheck, dict) or not selfcheck.get("data"):
        return {"skipped": "the release has no self-check rows"}
    record = dict(zip(selfcheck["columns"], selfcheck["data"][0]))
    status, body = http("POST", started.bind, started.port, "/v1/predict",
                        {"records": [record]}, token=started.token, timeout=30.0)
    if status != 200:
        raise StepFailed(f"the smoke prediction got HTTP {status}: {error_message(body)}",
                         tail_text(root.server_log, started.log_offset))
    predictions = body.get("predictions") if isinstance(body, dict) else None
    if not isinstance(predictions, list) or len(predictions) != 1:
        raise StepFailed(f"the smoke prediction answered {str(body)[:300]}, not one "
                         "prediction")
    return {"prediction": predictions[0]}


# -- systemd -------------------------------------------------------------------------------------

def _unit_quote(arg: str) -> str:
    if arg and not any(c in arg for c in ' \t"\'\\$%;'):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace(
        "$", "$$")
    return f'"{escaped}"'


def unit_text(root: Root, python: str, bind: str, port: int,
              token_file: str | None = None) -> str:
    """The systemd (user) unit that runs ``current``'s server with ``Restart=on-failure``."""
    if token_file is None and os.path.isfile(os.path.join(root.current, "token")):
        token_file = os.path.join(root.current, "token")
    cmd = server_command(root, root.current, python, bind, port, token_file)
    return "\n".join([
        "# Written by the ModelDeck agent; rewritten at every activation.",
        "[Unit]",
        f"Description=ModelDeck prediction server ({root.path}, port {port})",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"WorkingDirectory={_unit_quote(root.current)}",
        f"Environment={_unit_quote('PYTHONPATH=' + os.path.join(root.current, 'code'))}",
        "Environment=PYTHONUNBUFFERED=1",
        "ExecStart=" + " ".join(_unit_quote(a) for a in cmd),
        "Restart=on-failure",
        "RestartSec=2",
        "KillSignal=SIGTERM",
        f"TimeoutStopSec={int(STOP_TIMEOUT)}",
        f"StandardOutput=append:{root.server_log}",
        f"StandardError=append:{root.server_log}",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ])


def write_unit(root: Root, python: str, bind: str, port: int,
               token_file: str | None = None) -> dict[str, str]:
    """Write ``run/modeldeck-<port>.service``; returns its name, path and text."""
    name = f"modeldeck-{int(port)}.service"
    text = unit_text(root, python, bind, port, token_file)
    path = os.path.join(root.run, name)
    write_atomic(path, text.encode())
    return {"name": name, "path": path, "text": text}


def install_unit(unit: dict[str, str]) -> None:
    """Copy the unit into the user's systemd folder and reload systemd."""
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    folder = os.path.join(config, "systemd", "user")
    write_atomic(os.path.join(folder, unit["name"]), unit["text"].encode())
    systemctl("daemon-reload")


def systemctl(*args: str, check: bool = True) -> str:
    import subprocess
    try:
        done = subprocess.run(["systemctl", "--user", *args], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        if check:
            raise StepFailed(f"systemctl --user {' '.join(args)} failed: {exc}")
        return ""
    out = done.stdout.decode("utf-8", "replace")
    if check and done.returncode != 0:
        raise StepFailed(f"systemctl --user {' '.join(args)} failed: {out.strip()[-500:]} "
                         "(a user unit needs `loginctl enable-linger` for this user)")
    return out


def systemd_main_pid(name: str) -> int:
    out = systemctl("show", "-p", "MainPID", "--value", name, check=False).strip()
    return int(out) if out.isdigit() else 0


# -- commands: inventory -------------------------------------------------------------------------

def _python_state(root: Root) -> list[Any]:
    """What the probe of this Python depends on: the interpreter file and the folders
    packages are installed in (installing, upgrading or removing one changes its folder;
    the agent's own folder and the working directory do not count)."""
    state: list[Any] = [sys.executable, sys.version]
    own = os.path.realpath(root.meta)
    for path in [sys.executable, *sys.path]:
        if path in ("", ".") or os.path.realpath(path) == own:
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        state.append([path, st.st_mtime_ns, st.st_size])
    return state


def _probe_python(root: Root) -> tuple[dict[str, str | None], str, str, bool]:
    """The installed versions of PACKAGES, the libc and whether venv works — cached in
    ``.modeldeck/probe-cache.json`` while the Python and its package folders are unchanged
    (reading package metadata and the libc version costs ~50 ms of each deploy)."""
    import importlib.util
    import platform

    if sys.flags.no_site:  # run with -S (as the deployer does): the packages' folders too
        import site
        site.main()
    state = _python_state(root)
    cache_path = os.path.join(root.meta, "probe-cache.json")
    cached = read_json(cache_path, {}) or {}
    entry = cached.get(sys.executable) if isinstance(cached, dict) else None
    if isinstance(entry, dict) and entry.get("state") == state:
        return (entry["packages"], entry["libc"], entry["libc_version"], entry["venv"])
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        metadata = None  # type: ignore[assignment]
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name) if metadata else None
        except Exception:  # noqa: BLE001 - PackageNotFoundError or a broken install
            versions[name] = None
    libc, libc_version = platform.libc_ver()
    venv = (importlib.util.find_spec("venv") is not None
            and importlib.util.find_spec("ensurepip") is not None)
    if os.path.isdir(root.meta):
        try:
            cached = cached if isinstance(cached, dict) else {}
            cached[sys.executable] = {"state": state, "packages": versions, "libc": libc,
                                      "libc_version": libc_version, "venv": venv}
            write_json(cache_path, cached)
        except OSError:
            pass  # a full disk: the next probe reads them again
    return versions, libc, libc_version, venv


def cmd_probe(root: Root, args: Args) -> dict[str, Any]:
    """What the host is: its Python, platform, disk, systemd and installed packages."""
    import platform

    versions, libc, libc_version, venv = _probe_python(root)
    return {
        "agent_version": AGENT_VERSION,
        "python": {"version": platform.python_version(), "executable": sys.executable,
                   "implementation": platform.python_implementation(),
                   "version_info": list(sys.version_info[:3])},
        "platform": {"system": platform.system(), "machine": platform.machine(),
                     "release": platform.release(),
                     "libc": f"{libc} {libc_version}".strip() or None},
        "root": root.path, "root_exists": os.path.isdir(root.path),
        "free_bytes": free_bytes(root.path),
        "systemd": os.path.isdir("/run/systemd/system"),
        "venv": venv,
        "packages": versions,
        "current": root.current_id(),
        "pinned": bool(_pinned),
        "requires_signatures": allowed_signers(root) is not None,
        # a pinned agent installs environments from its admin's wheels only
        "pinned_wheelhouse": (root.wheelhouse if _pinned and os.path.isdir(root.wheelhouse)
                              else None),
    }


def holder_public(holder: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in holder.items() if k != "token"}


def read_holder(root: Root) -> dict[str, Any] | None:
    if not os.path.isdir(root.lock):
        return None
    holder = read_json(os.path.join(root.lock, "owner.json"))
    if not isinstance(holder, dict):
        try:
            holder = {"unknown": True, "since": now_iso(os.stat(root.lock).st_mtime)}
        except OSError:
            return None
    return holder


def cmd_lock(root: Root, args: Args) -> dict[str, Any]:
    """Take the deploy lock, or exit 3 naming its holder."""
    try:
        owner = loads(args.owner)
    except ValueError as exc:
        raise AgentError(f"--owner is not JSON ({exc})",
                         'pass e.g. --owner \'{"who": "carol", "where": "laptop", "pid": 1, '
                         '"operation": "deploy"}\'')
    if not isinstance(owner, dict):
        raise AgentError("--owner must be a JSON object", 'pass {"who", "where", "pid", '
                         '"operation"}')
    os.makedirs(root.meta, exist_ok=True)
    token = os.urandom(16).hex()
    owner = dict(owner, since=now_iso(), token=token)
    tmp = os.path.join(root.meta, f".lock-{os.urandom(6).hex()}")
    os.mkdir(tmp, 0o700)
    write_json(os.path.join(tmp, "owner.json"), owner)
    try:
        # renaming a non-empty folder onto an existing one fails: the lock is atomic and
        # never exists without its owner.json
        os.rename(tmp, root.lock)
    except OSError as exc:
        remove_tree(tmp)
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
            raise
        holder = holder_public(read_holder(root) or {})
        raise AgentError(
            f"the host is locked by {holder.get('who', 'someone')} on "
            f"{holder.get('where', '?')} (pid {holder.get('pid', '?')}, "
            f"{holder.get('operation', '?')}) since {holder.get('since', '?')}",
            "wait for that operation to finish; if it died, unlock with --force",
            code=3, holder=holder)
    fsync_dir(root.meta)
    fault("after-lock")
    return {"ok": True, "token": token, "holder": holder_public(owner)}


def cmd_unlock(root: Root, args: Args) -> dict[str, Any]:
    """Release the deploy lock (with its token, or --force)."""
    holder = read_holder(root)
    if holder is None:
        return {"ok": True, "released": False}
    if not args.force and (not args.token or holder.get("token") != args.token):
        public = holder_public(holder)
        raise AgentError(f"the lock is held by {public.get('who', 'someone')} "
                         f"({public.get('operation', '?')} since {public.get('since', '?')}), "
                         "not with this token",
                         "unlock with the token `lock` returned, or --force if its holder "
                         "is dead", code=3, holder=public)
    remove_tree(root.lock)
    return {"ok": True, "released": True, "holder": holder_public(holder)}


# -- commands: upload -----------------------------------------------------------------------------

def load_wheel_index(root: Root) -> dict[str, dict[str, Any]]:
    """``wheelhouse/index.json`` entries still matching their file (size and mtime)."""
    data = read_json(root.wheel_index, {})
    files = data.get("files", {}) if isinstance(data, dict) else {}
    out = {}
    for name, entry in files.items():
        try:
            st = os.stat(os.path.join(root.wheelhouse, name))
        except OSError:
            continue
        if (isinstance(entry, dict) and entry.get("size") == st.st_size
                and entry.get("mtime_ns") == st.st_mtime_ns):
            out[name] = entry
    return out


def save_wheel_index(root: Root, files: dict[str, dict[str, Any]]) -> None:
    write_json(root.wheel_index, {"version": 1, "files": files})


def known_files(root: Root, exclude: str) -> dict[str, tuple[str, int]]:
    """sha256 → (path, size) of every file of the complete releases and the wheelhouse."""
    out: dict[str, tuple[str, int]] = {}
    for name, entry in load_wheel_index(root).items():
        out.setdefault(entry["sha256"], (os.path.join(root.wheelhouse, name), entry["size"]))
    for rid in reversed(root.complete_releases()):
        if rid == exclude:
            continue
        manifest = read_json(os.path.join(root.release(rid), "manifest.json"), {})
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(files, dict):
            continue
        for rel, sha in files.items():
            if not isinstance(sha, str) or sha in out:
                continue
            path = os.path.join(root.release(rid), rel)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if os.path.isfile(path) and not os.path.islink(path):
                out[sha] = (path, st.st_size)
    return out


def _stdin_manifest(rid: str) -> tuple[dict[str, str], bytes]:
    """The release manifest on stdin, checked: its ``files`` and raw bytes."""
    manifest, raw = read_stdin_json()
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise AgentError("stdin is not a release manifest (no \"files\")",
                         "send the release's manifest.json on stdin")
    if manifest.get("release_id") != rid:
        raise AgentError(f"the manifest is of release {manifest.get('release_id')!r}, "
                         f"not {rid!r}", "send the manifest of the release being prepared")
    files = {}
    for rel, sha in manifest["files"].items():
        check_relpath(rel)
        if not is_sha256(sha):
            raise AgentError(f"the manifest's sha256 of {rel} is not valid",
                             "rebuild the release with `modeldeck bundle`")
        files[rel] = sha
    return files, raw


def cmd_plan(root: Root, args: Args) -> dict[str, Any]:
    """What ``prepare`` would do, without writing anything (for ``deploy --plan``)."""
    rid = check_id(args.release)
    files, _raw = _stdin_manifest(rid)
    if root.is_complete(rid):
        return {"exists": True, "missing": [], "linked": 0, "linked_bytes": 0,
                "files": len(files), "free_bytes": free_bytes(root.path)}
    known = known_files(root, rid) if os.path.isdir(root.releases) else {}
    missing = [rel for rel, sha in sorted(files.items()) if sha not in known]
    linked = [known[sha][1] for sha in files.values() if sha in known]
    return {"exists": False, "missing": missing, "linked": len(linked),
            "linked_bytes": sum(linked), "files": len(files),
            "free_bytes": free_bytes(root.path)}


def cmd_prepare(root: Root, args: Args) -> dict[str, Any]:
    """Start an upload: the partial folder, with every already-present file hard-linked."""
    rid = check_id(args.release)
    files, raw = _stdin_manifest(rid)
    result: dict[str, Any] = {"exists": False, "missing": [], "linked": 0, "linked_bytes": 0,
                              "files": len(files), "manifest_written": True}
    if root.is_complete(rid):
        result.update(exists=True, manifest_written=False)
        result["free_bytes"] = free_bytes(root.path)
        return result
    partial = root.partial(rid)
    os.makedirs(root.releases, exist_ok=True)
    remove_tree(partial)
    os.makedirs(partial)
    write_atomic(os.path.join(partial, "manifest.json"), raw)
    known = known_files(root, rid)
    missing = []
    for rel, sha in sorted(files.items()):
        dest = os.path.join(partial, *rel.split("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        source = known.get(sha)
        if source is not None:
            try:
                os.link(source[0], dest)
            except OSError:  # another file system (EXDEV), no hard links, too many links
                missing.append(rel)
                continue
            result["linked"] += 1
            result["linked_bytes"] += source[1]
        else:
            missing.append(rel)
    fsync_dir(partial)
    result["missing"] = missing
    result["free_bytes"] = free_bytes(root.path)
    fault("after-prepare")
    return result


def _wheel_files(data: Any) -> dict[str, str]:
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise AgentError('stdin must be {"files": {"name.whl": "sha256", ...}}',
                         "send the wheel names and their sha256")
    for name, sha in files.items():
        if (not isinstance(name, str) or "/" in name or name.startswith(".")
                or name == "index.json" or not is_sha256(sha)):
            raise AgentError(f"bad wheel entry {name!r}: {sha!r}",
                             "send plain file names and lowercase hex sha256")
    return files


def cmd_prepare_wheels(root: Root, args: Args) -> dict[str, Any]:
    """Which of the given wheels the wheelhouse lacks (by name and sha256)."""
    files = _wheel_files(read_stdin_json()[0])
    os.makedirs(root.wheelhouse, exist_ok=True)
    index = load_wheel_index(root)
    missing = sorted(n for n, sha in files.items()
                     if index.get(n, {}).get("sha256") != sha)
    return {"missing": missing, "present": len(files) - len(missing),
            "wheelhouse": root.wheelhouse, "free_bytes": free_bytes(root.path)}


def cmd_verify_wheels(root: Root, args: Args) -> dict[str, Any]:
    """Hash the given wheels; record the good ones in the index, delete the bad ones."""
    files = _wheel_files(read_stdin_json()[0])
    index = load_wheel_index(root)
    bad = []
    hashed = 0
    for name, sha in sorted(files.items()):
        path = os.path.join(root.wheelhouse, name)
        if index.get(name, {}).get("sha256") == sha:
            continue
        try:
            got = file_sha256(path)
            st = os.stat(path)
        except OSError:
            bad.append(f"{name} is missing")
            continue
        hashed += 1
        if got != sha:
            bad.append(f"{name} differs (sha256 mismatch)")
            os.unlink(path)
            index.pop(name, None)
            continue
        index[name] = {"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    save_wheel_index(root, index)
    if bad:
        raise AgentError(f"{len(bad)} wheel(s) did not arrive intact: " + "; ".join(bad[:5]),
                         "upload them again (the bad ones were deleted)", problems=bad)
    return {"ok": True, "files": len(files), "hashed": hashed}


def expected_release_id(manifest: dict[str, Any]) -> str:
    """The id the manifest's content gives (``<model>-v<version>-<12 hex>``)."""
    import hashlib

    body = {k: v for k, v in manifest.items() if k not in UNHASHED}
    text = dumps(body, compact=True)
    model = manifest.get("model") or {}
    return (f"{model.get('name')}-v{model.get('version')}-"
            f"{hashlib.sha256(text.encode()).hexdigest()[:12]}")


def verify_folder(folder: str, rid: str) -> tuple[list[str], int, int]:
    """``(problems, files, bytes)`` of a release folder against its own manifest."""
    manifest = read_json(os.path.join(folder, "manifest.json"))
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return ["manifest.json is missing or not a release manifest"], 0, 0
    problems = []
    if manifest.get("release_id") != rid:
        problems.append(f"manifest.json is of release {manifest.get('release_id')!r}, "
                        f"not {rid!r}")
    expected = expected_release_id(manifest)
    if expected != manifest.get("release_id"):
        problems.append(f"manifest.json was changed after the release was built (its content "
                        f"gives id {expected})")
    files: dict[str, str] = manifest["files"]
    size = 0
    for rel, sha in sorted(files.items()):
        try:
            check_relpath(rel)
        except AgentError as exc:
            problems.append(exc.message)
            continue
        path = os.path.join(folder, *rel.split("/"))
        if os.path.islink(path):
            problems.append(f"{rel} is a symlink")
        elif not os.path.isfile(path):
            problems.append(f"{rel} is missing")
        elif file_sha256(path) != sha:
            problems.append(f"{rel} differs from the release (sha256 mismatch)")
        else:
            size += os.path.getsize(path)
    for top in CHECKED_FOLDERS:
        base = os.path.join(folder, top)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                rel = os.path.relpath(os.path.join(dirpath, name), folder).replace(os.sep, "/")
                if rel not in files:
                    problems.append(f"{rel} is not part of the release")
    return problems, len(files), size


def cmd_verify(root: Root, args: Args) -> dict[str, Any]:
    """Check every file of the upload (or of the complete release) against its manifest."""
    rid = check_id(args.release)
    folder = root.partial(rid)
    if not os.path.isdir(folder):
        folder = root.release(rid)
        if not os.path.isdir(folder):
            raise AgentError(f"nothing of release {rid} is on the host",
                             "run prepare and upload the missing files first")
    problems, count, size = verify_folder(folder, rid)
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise AgentError(f"release {rid} does not verify: " + "; ".join(problems[:5]) + more,
                         "upload the listed files again (prepare lists what is missing), "
                         "then verify", problems=problems)
    fault("after-verify")
    return {"ok": True, "release": rid, "files": count, "bytes": size,
            "complete": folder == root.release(rid)}


def cmd_commit(root: Root, args: Args) -> dict[str, Any]:
    """Rename the verified upload to ``releases/<id>`` (a no-op when already complete)."""
    rid = check_id(args.release)
    if root.is_complete(rid):
        return {"ok": True, "release": rid, "renamed": False}
    partial = root.partial(rid)
    if not os.path.isfile(os.path.join(partial, "manifest.json")):
        raise AgentError(f"there is no upload of release {rid} to commit",
                         "run prepare, upload and verify first")
    remove_tree(root.release(rid))  # an incomplete leftover without manifest
    os.rename(partial, root.release(rid))
    fsync_dir(root.releases)
    fault("after-commit")
    return {"ok": True, "release": rid, "renamed": True}


def cmd_receive(root: Root, args: Args) -> dict[str, Any]:
    """Files of an upload sent on stdin, for hosts without SFTP (a pinned agent): each is a
    JSON line ``{"path": REL, "size": N, "mode": M}`` and then its N bytes. Only files the
    upload's manifest lists, written into ``releases/<id>.partial`` (a temporary name, then
    renamed: a hard-linked file of an older release is replaced, never written through)."""
    rid = check_id(args.release)
    partial = root.partial(rid)
    manifest = read_json(os.path.join(partial, "manifest.json"))
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise AgentError(f"there is no upload of release {rid} in progress",
                         "run prepare first")
    stream = sys.stdin.buffer
    count = total = 0
    while True:
        header = stream.readline(4096)
        if not header.strip():
            break
        try:
            item = loads(header.decode("utf-8"))
            rel, size = check_relpath(item["path"]), int(item["size"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise AgentError(f"bad receive header {header[:120]!r}",
                             'send {"path", "size", "mode"} lines, each followed by the file')
        if rel not in manifest["files"] or size < 0:
            raise AgentError(f"{rel} is not a file of release {rid}",
                             "send only the files prepare listed as missing")
        dest = os.path.join(partial, *rel.split("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        fd, tmp = make_temp(os.path.dirname(dest), ".receive.")
        try:
            with os.fdopen(fd, "wb") as out:
                left = size
                while left:
                    chunk = stream.read(min(left, 1 << 20))
                    if not chunk:
                        raise AgentError(f"the upload of {rel} ended after "
                                         f"{size - left} of {size} bytes",
                                         "send it again")
                    out.write(chunk)
                    left -= len(chunk)
            os.chmod(tmp, int(item.get("mode", 0o644)) & 0o755)
            os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        count += 1
        total += size
    return {"ok": True, "release": rid, "files": count, "bytes": total}


def cmd_install_env(root: Root, args: Args) -> dict[str, Any]:
    """A virtual environment from the wheelhouse (``--no-index``), reused by hash."""
    import shutil

    name = check_id(args.hash, "environment hash")
    env = os.path.join(root.envs, name)
    python = os.path.join(env, "bin", "python")
    if os.path.isfile(os.path.join(env, ".complete")) and os.path.exists(python):
        return {"python": python, "reused": True, "seconds": 0.0}
    os.makedirs(root.envs, exist_ok=True)
    if _pinned and args.requirements_file != "-":
        raise AgentError("this host's pinned agent takes requirements on stdin only",
                         "pass --requirements-file - (ModelDeck does)")
    if args.requirements_file == "-":
        requirements = env + ".requirements.txt"
        write_atomic(requirements, sys.stdin.buffer.read())
    else:
        requirements = os.path.join(root.path, os.path.expanduser(args.requirements_file))
    if not os.path.isfile(requirements):
        raise AgentError(f"the requirements file {requirements} does not exist",
                         "upload it first")
    if _pinned:
        _check_pinned_requirements(requirements)
    started = time.monotonic()
    partial = env + ".partial"
    remove_tree(partial)
    remove_tree(env)  # a leftover without its .complete marker
    base = args.python or _pinned.get("python") or sys.executable

    def run(cmd: list[str], what: str, fix: str) -> None:
        import subprocess
        try:
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=args.timeout,
                                  env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1",
                                           PIP_NO_INPUT="1"))
            output, code = done.stdout.decode("utf-8", "replace"), done.returncode
        except (OSError, subprocess.TimeoutExpired) as exc:
            output, code = str(exc), -1
        if code != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise AgentError(f"{what} failed (exit {code}): {output.strip()[-1500:]}", fix,
                             output=output[-4000:])

    run([base, "-m", "venv", partial], f"{base} -m venv",
        "install the venv module on the host (Debian/Ubuntu: apt install python3-venv)")
    isolated = ["--isolated"] if _pinned else []  # no pip.conf, no PIP_* variables
    run([os.path.join(partial, "bin", "python"), "-m", "pip", "install", *isolated,
         "--no-index", "--no-cache-dir", "--no-compile", "--find-links", root.wheelhouse,
         "-r", requirements],
        "pip install --no-index", "upload the wheels the error names to the wheelhouse "
        "(built for this host's Python and platform)")
    shutil.copyfile(requirements, os.path.join(partial, "requirements.txt"))
    os.rename(partial, env)
    _fix_venv_paths(env, partial)
    write_json(os.path.join(env, ".complete"), {
        "created_at": now_iso(), "python": base, "requirements": file_sha256(requirements)})
    return {"python": python, "reused": False,
            "seconds": round(time.monotonic() - started, 3)}


def _check_pinned_requirements(path: str) -> None:
    """A pinned agent installs only ``name==version`` lines (no options: a line such as
    ``--find-links DIR`` would let the desktop install wheels it sent)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if line and not is_pinned_requirement(line):
                raise AgentError(f"this host's pinned agent installs only name==version "
                                 f"requirements, not {line[:80]!r}",
                                 "deploy with ModelDeck's own requirements")


def _fix_venv_paths(env: str, old: str) -> None:
    """Point the venv's scripts at its final folder (they name the one it was built in)."""
    old_b, new_b = old.encode(), env.encode()
    for folder in (os.path.join(env, "bin"), env):
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            if folder == env and name != "pyvenv.cfg":
                continue
            try:
                if os.path.getsize(path) > (1 << 20):
                    continue
                with open(path, "rb") as fh:
                    data = fh.read()
                if old_b in data:
                    write_atomic(path, data.replace(old_b, new_b),
                                 os.stat(path).st_mode & 0o7777)
            except OSError:
                continue


# -- commands: activation -------------------------------------------------------------------------

def _exit_code(pid: int) -> int | None:
    """The exit code of our child ``pid`` once it ended (-N: killed by signal N)."""
    done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        return None
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def spawn_worker(root: Root, params: dict[str, Any], lock: ActivationLock) -> int:
    """Fork the activation worker, detached from the SSH session (a session of its own,
    SIGHUP ignored, stdio on ``activate.log``), holding ``lock``; returns its pid. A fork,
    not a new interpreter: the switch starts ~50 ms sooner."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setsid()
        try:  # signal.py's C half: its enum classes would cost ~8 ms before the switch
            import _signal as signal
        except ImportError:
            import signal  # type: ignore[no-redef]
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        os.chdir(root.path)
        os.environ.pop(FAULT_ENV, None)
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(root.activate_log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        for target, source in ((0, null), (1, log), (2, log)):
            os.dup2(source, target)
        os.close(null)
        os.close(log)
        try:
            emit(Transaction(root, params).run())
            code = 0
        finally:
            lock.release()
    except BaseException:  # noqa: BLE001 - the log tells; the journal says where it stopped
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _before_activation(root: Root, args: Args
                       ) -> tuple[str, str, list[str] | None, ActivationLock]:
    """Check an activation may begin and take the activation lock: the release id, the
    server's Python, who signed the release (hosts that require it) and the lock."""
    rid = check_id(args.release)
    if not root.is_complete(rid):
        raise AgentError(f"release {rid} is not complete on the host",
                         "upload, verify and commit it first")
    python = args.python
    if os.sep not in python:
        import shutil
        python = shutil.which(python) or python
    python = os.path.abspath(os.path.expanduser(python))
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise AgentError(f"the server's Python {python} does not exist on the host",
                         "install the environment first (install-env) or pass its python")
    if args.supervisor not in ("pidfile", "systemd"):
        raise AgentError(f"--supervisor {args.supervisor} is not pidfile or systemd",
                         "use pidfile or systemd")
    if args.token_file and not os.path.isfile(args.token_file):
        raise AgentError(f"the token file {args.token_file} does not exist",
                         "upload it first")
    signed_by = check_signatures(root, rid)
    # The activation lock is taken here and handed to the worker (the same open file, so
    # the same flock): there is no moment between spawning and the worker starting when
    # `journal --wait` or another activate would find the host idle.
    return rid, python, signed_by, require_idle(root)


def cmd_activate(root: Root, args: Args) -> tuple[dict[str, Any], int]:
    """Run the switch transaction in a detached worker; print its journal. A refusal
    before anything switched says ``"began": false``."""
    try:
        rid, python, signed_by, lock = _before_activation(root, args)
    except AgentError as exc:
        exc.extra["began"] = False
        raise
    job = os.urandom(8).hex()
    params = {"id": job, "release": rid, "python": python, "bind": args.bind,
              "port": int(args.port), "ready_timeout": float(args.ready_timeout),
              "supervisor": args.supervisor, "token_file": args.token_file,
              "action": getattr(args, "action", "activate")}
    try:
        pid = spawn_worker(root, params, lock)
    finally:
        lock.release()  # the worker holds it now (its copy of the same open file)
    fault("parent-after-spawn")
    if getattr(args, "detach", False):
        return {"state": "running", "id": job, "worker_pid": pid, "release": rid}, 0
    while True:
        journal = read_json(root.journal, {}) or {}
        if journal.get("id") == job and journal.get("state") == "done":
            os.waitpid(pid, 0)
            return finish_journal(journal, signed_by)
        code = _exit_code(pid)
        if code is not None:
            journal = read_json(root.journal, {}) or {}
            if journal.get("id") == job and journal.get("state") == "done":
                return finish_journal(journal, signed_by)
            steps = journal.get("steps") if journal.get("id") == job else None
            raise AgentError(
                f"the activation worker died (exit {code})"
                + (f" after step {steps[-1]}" if steps else " before it began"),
                "run `recover` to bring the host back to a whole release",
                journal=journal if journal.get("id") == job else None,
                worker_log=tail_text(root.activate_log))
        time.sleep(0.05)


def finish_journal(journal: dict[str, Any], signed_by: list[str] | None = None
                   ) -> tuple[dict[str, Any], int]:
    """The answer of a finished activation: exit 0 whatever its outcome (the transaction
    ran to its end; ``ok``/``outcome`` say how), with a ``fix`` when it failed, and who
    signed the release when the host checked (``signed_by``)."""
    out = dict(journal, signed_by=signed_by)
    if out.get("outcome") == "ok":
        return out, 0
    if out.get("outcome") == "rolled-back":
        out["fix"] = (f"the host serves {out.get('previous')} again; fix what the error and "
                      "log_tail say, then deploy again")
    else:
        out["fix"] = ("the host serves no new release; see the error and log_tail, then "
                      "`recover` or deploy again")
    return out, 0


def save_journal(root: Root, journal: dict[str, Any]) -> None:
    write_json(root.journal, journal)


class Transaction:
    """One activation, journaled step by step (run by the detached worker)."""

    def __init__(self, root: Root, params: dict[str, Any]) -> None:
        self.root = root
        self.p = params
        self.journal: dict[str, Any] = {}

    def step(self, name: str, fn: Any) -> Any:
        started = time.monotonic()
        try:
            result = fn()
        except BaseException:
            self.journal["timings"][name] = round(time.monotonic() - started, 3)
            self.journal["failed_step"] = name
            save_journal(self.root, self.journal)
            raise
        self.journal["timings"][name] = round(time.monotonic() - started, 3)
        self.journal["steps"].append(name)
        save_journal(self.root, self.journal)
        fault(f"after-{name}")
        return result

    def run(self) -> dict[str, Any]:
        root, p = self.root, self.p
        rid = p["release"]
        stale = read_json(root.journal, {}) or {}
        recovered = None
        if stale.get("state") == "running":  # its worker died: we hold the flock now
            recovered = recover_journal(root, stale)
        previous = root.current_id()
        if previous is not None and not root.is_complete(previous):
            previous = None
        server = server_info(root)
        prev_run = self._run_settings(previous, server)
        self.journal = {
            "id": p["id"], "state": "running", "action": p.get("action", "activate"),
            "release": rid, "previous": previous, "python": p["python"], "bind": p["bind"],
            "port": p["port"], "supervisor": p["supervisor"], "token_file": p["token_file"],
            "ready_timeout": p["ready_timeout"], "previous_run": prev_run,
            "worker_pid": os.getpid(), "started_at": now_iso(),
            "finished_at": None, "steps": [], "timings": {}, "ok": False, "outcome": None,
            "error": None, "log_tail": "", "unchanged": False, "smoke": None, "running": None,
            "recovered_stale": recovered}
        save_journal(root, self.journal)
        fault("after-begin")
        started = None
        try:
            if previous == rid and self._already_serving(server):
                self.journal["unchanged"] = True
                started = Started(rid, server["pid"], None, 0, p["bind"], p["port"],
                                  release_token(root.release(rid), p["token_file"]))
            else:
                self.step("switch", lambda: root.switch_current(rid))
                self.step("stop", self._stop)
                started = self.step("start", lambda: start_server(
                    root, rid, p["python"], p["bind"], p["port"], p["token_file"],
                    p["supervisor"]))
                self.step("ready", lambda: wait_ready(root, started, p["ready_timeout"]))
            self.journal["smoke"] = self.step("smoke", lambda: smoke(root, started))
            self.journal.update(ok=True, outcome="ok")
        except Exception as exc:  # noqa: BLE001 - any failure switches back
            tail = exc.log_tail if isinstance(exc, StepFailed) else ""
            if not isinstance(exc, StepFailed):
                import traceback
                tail = traceback.format_exc()[-3000:]
            self.journal.update(error=str(exc) or type(exc).__name__, log_tail=tail)
            self.journal.update(switch_back(root, rid, previous, prev_run, p, str(exc)))
        served = rid if self.journal["outcome"] == "ok" else previous
        if self.journal["outcome"] == "failed":
            served = None
        self.journal.update(state="done", finished_at=now_iso(), running=served)
        root.add_history({"release": rid, "at": now_iso(), "action": self.journal["action"],
                          "outcome": self.journal["outcome"], "previous": previous,
                          "python": p["python"], "bind": p["bind"], "port": p["port"],
                          "serving": served})
        save_journal(root, self.journal)
        return self.journal

    def _stop(self) -> dict[str, Any]:
        result = stop_server(self.root)
        wait_port_free(self.p["bind"], self.p["port"])
        return result

    def _run_settings(self, rid: str | None, server: dict[str, Any]) -> dict[str, Any] | None:
        """How ``rid`` was served (python, bind, port) — to restart it on rollback."""
        if rid is None:
            return None
        if server.get("release") == rid and server.get("python"):
            src: dict[str, Any] = server
        else:
            src = self.root.last_ok(rid) or {}
        return {"python": src.get("python") or self.p["python"],
                "bind": src.get("bind") or self.p["bind"],
                "port": int(src.get("port") or self.p["port"]),
                "supervisor": src.get("supervisor") or "pidfile",
                "token_file": src.get("token_file")}

    def _already_serving(self, server: dict[str, Any]) -> bool:
        p = self.p
        pid = server.get("pid")
        if not (isinstance(pid, int) and pid_alive(pid) and is_our_server(self.root, pid)):
            return False
        if (server.get("release"), server.get("python"), server.get("bind"),
                server.get("port")) != (p["release"], p["python"], p["bind"], p["port"]):
            return False
        status, _ = http("GET", p["bind"], p["port"], "/ready",
                         token=release_token(self.root.release(p["release"]),
                                             p["token_file"]), timeout=2.0)
        return status == 200


def bring_up(root: Root, rid: str, run: dict[str, Any], ready_timeout: float,
             do_smoke: bool) -> Started:
    """Stop whatever runs, start ``rid`` with ``run``'s settings, wait ready (and smoke)."""
    stop_server(root)
    wait_port_free(run["bind"], run["port"])
    started = start_server(root, rid, run["python"], run["bind"], run["port"],
                           run.get("token_file"), run.get("supervisor") or "pidfile")
    wait_ready(root, started, ready_timeout)
    if do_smoke:
        smoke(root, started)
    return started


def switch_back(root: Root, rid: str, previous: str | None, prev_run: dict[str, Any] | None,
                p: dict[str, Any], error: str) -> dict[str, Any]:
    """After a failed activation: back to ``previous`` (or to nothing), journal fields."""
    try:
        stop_server(root)
    except Exception:  # noqa: BLE001 - the switch back goes on
        pass
    if previous is None or previous == rid or prev_run is None:
        if previous is None:
            root.switch_current(None)  # as before: no release
        return {"ok": False, "outcome": "failed"}
    try:
        root.switch_current(previous)
        fault("after-rollback-switch")
        bring_up(root, previous, prev_run, p.get("ready_timeout", 60.0), False)
        fault("after-rollback-start")
    except Exception as exc:  # noqa: BLE001 - reported with both errors
        extra = exc.log_tail if isinstance(exc, StepFailed) else ""
        return {"ok": False, "outcome": "failed",
                "error": f"{error}; switching back to {previous} failed too: {exc}",
                "rollback_log_tail": extra}
    return {"ok": False, "outcome": "rolled-back"}


def recover_journal(root: Root, journal: dict[str, Any]) -> dict[str, Any]:
    """Finish an activation whose worker died: the host ends on one whole release.

    The server is made to run on whatever ``current`` points to; when that is the new
    release and it does not come up ready (or fails the smoke test), ``current`` goes
    back to the previous release and that one is started.
    """
    rid = journal.get("release")
    previous = journal.get("previous")
    steps = list(journal.get("steps") or [])
    cur = root.current_id()
    timeout = float(journal.get("ready_timeout") or 60.0)
    new_run = {"python": journal.get("python"), "bind": journal.get("bind"),
               "port": int(journal.get("port") or 8080),
               "supervisor": journal.get("supervisor") or "pidfile",
               "token_file": journal.get("token_file")}
    prev_run = journal.get("previous_run") or dict(new_run)
    note = (f"the activation worker (pid {journal.get('worker_pid')}) died after "
            f"{steps[-1] if steps else 'its start'}")
    result: dict[str, Any] = {"from_step": steps[-1] if steps else None, "at": now_iso(),
                              "current_was": cur}
    outcome, error = "failed", note
    if cur is not None and not root.is_complete(cur):
        cur = None
    if cur is None:
        stop_server(root)
        root.switch_current(None)
        error = f"{note}; no release to serve"
    elif cur == rid and rid != previous:
        try:
            _ensure_serving(root, cur, new_run, timeout, do_smoke=True)
            outcome, error = "ok", None
        except Exception as exc:  # noqa: BLE001 - back to the previous release
            back = switch_back(root, rid, previous, prev_run, {"ready_timeout": timeout},
                               f"{note}; {rid} does not serve: {exc}")
            outcome = back["outcome"]
            error = back.get("error") or f"{note}; {rid} does not serve: {exc}"
    else:
        run = prev_run if cur == previous else new_run
        try:
            _ensure_serving(root, cur, run, timeout, do_smoke=False)
            outcome = "rolled-back" if cur != rid else "ok"
            error = None if outcome == "ok" else f"{note}; the host serves {cur} again"
        except Exception as exc:  # noqa: BLE001
            error = f"{note}; {cur} does not serve either: {exc}"
    result["outcome"] = outcome
    journal = dict(journal, state="done", finished_at=now_iso(), ok=outcome == "ok",
                   outcome=outcome, error=error, recovered=result,
                   running=root.current_id() if outcome != "failed" else None)
    root.add_history({"release": rid, "at": now_iso(), "action": "recover",
                      "outcome": outcome, "previous": previous,
                      "python": new_run["python"], "bind": new_run["bind"],
                      "port": new_run["port"]})
    save_journal(root, journal)
    return {k: journal.get(k) for k in ("id", "release", "previous", "outcome", "error",
                                         "recovered")}


def _ensure_serving(root: Root, rid: str, run: dict[str, Any], timeout: float,
                    do_smoke: bool) -> None:
    """Leave a ready server of ``rid`` running (the running one if it already is)."""
    info = server_info(root)
    pid = info.get("pid")
    if (info.get("release") == rid and isinstance(pid, int) and pid_alive(pid)
            and is_our_server(root, pid)):
        started = Started(rid, pid, None, int(info.get("log_offset") or 0),
                          info.get("bind") or run["bind"], int(info.get("port") or run["port"]),
                          release_token(root.release(rid), info.get("token_file")))
        try:
            wait_ready(root, started, timeout)
            if do_smoke:
                smoke(root, started)
            return
        except StepFailed:
            pass
    bring_up(root, rid, run, timeout, do_smoke)


def cmd_journal(root: Root, args: Args) -> dict[str, Any]:
    """The last activation's journal (waiting up to --wait s while it runs)."""
    deadline = time.monotonic() + max(0.0, args.wait)
    while True:
        running = activation_running(root)
        if running and time.monotonic() < deadline:
            time.sleep(0.1)
            continue
        journal = read_json(root.journal)
        if not isinstance(journal, dict):
            return {"state": "starting" if running else "none", "worker_alive": running,
                    "stale": False}
        out = dict(journal)
        out["worker_alive"] = running
        out["stale"] = journal.get("state") == "running" and not running
        return out


def cmd_recover(root: Root, args: Args) -> dict[str, Any]:
    """Make the host consistent after a crash: finish a dead activation, or start the
    server of ``current`` if none runs."""
    lock = require_idle(root)
    try:
        journal = read_json(root.journal, {}) or {}
        if journal.get("state") == "running":
            summary = recover_journal(root, journal)
            out = {"recovered": True, "outcome": summary["outcome"],
                   "release": summary["release"], "previous": summary["previous"],
                   "current": root.current_id(), "detail": summary["error"],
                   "journal": read_json(root.journal)}
            if summary["outcome"] == "failed":
                raise AgentError(f"the host could not be brought back to a serving release: "
                                 f"{summary['error']}", "see the journal and the server log; "
                                 "deploy a release that works", **out)
            return out
        cur = root.current_id()
        out: dict[str, Any] = {"recovered": False, "current": cur, "started": False}
        if cur is None or not root.is_complete(cur):
            return out
        info = server_info(root)
        pid = info.get("pid")
        if (info.get("release") == cur and isinstance(pid, int) and pid_alive(pid)
                and is_our_server(root, pid)):
            return out
        run = _settings_for(root, cur, info, Args(python=None, bind=None, port=None))
        bring_up(root, cur, run, 60.0, False)
        out["started"] = True
        return out
    except StepFailed as exc:
        raise AgentError(str(exc), "see the log tail; fix the release or deploy another",
                         log_tail=exc.log_tail)
    finally:
        lock.release()


def _settings_for(root: Root, rid: str, info: dict[str, Any],
                  args: Args) -> dict[str, Any]:
    src = info if info.get("release") == rid else (root.last_ok(rid) or info)
    python = args.python or src.get("python")
    if not python:
        raise AgentError(f"no Python is known for the server of {rid}",
                         "pass --python (the environment's bin/python)")
    return {"python": python, "bind": args.bind or src.get("bind") or "127.0.0.1",
            "port": int(args.port or src.get("port") or 8080),
            "supervisor": src.get("supervisor") or "pidfile",
            "token_file": src.get("token_file")}


def cmd_restart(root: Root, args: Args) -> dict[str, Any]:
    """Restart the server of ``current`` (same settings unless given)."""
    lock = require_idle(root)
    try:
        cur = root.current_id()
        if cur is None or not root.is_complete(cur):
            raise AgentError("no release is current on this host", "activate one first")
        run = _settings_for(root, cur, server_info(root), args)
        started = bring_up(root, cur, run, args.ready_timeout, False)
        return {"ok": True, "release": cur, "pid": started.pid, "bind": run["bind"],
                "port": run["port"], "python": run["python"]}
    except StepFailed as exc:
        raise AgentError(str(exc), "see log_tail; roll back with activate --release "
                         "<previous>", log_tail=exc.log_tail)
    finally:
        lock.release()


def cmd_stop(root: Root, args: Args) -> dict[str, Any]:
    """Stop the server (``current`` stays)."""
    lock = require_idle(root)
    try:
        return dict(stop_server(root), ok=True)
    finally:
        lock.release()


# -- commands: status and housekeeping -------------------------------------------------------------

def cmd_status(root: Root, args: Args) -> dict[str, Any]:
    """What the host has and runs (read only)."""
    cur = root.current_id()
    model = None
    if cur is not None:
        manifest = read_json(os.path.join(root.release(cur), "manifest.json"), {}) or {}
        m = manifest.get("model") if isinstance(manifest, dict) else None
        if isinstance(m, dict):
            model = {"name": m.get("name"), "version": m.get("version")}
    info = server_info(root)
    pid = info.get("pid")
    alive = isinstance(pid, int) and pid_alive(pid) and is_our_server(root, pid)
    server = None
    if info:
        server = {"pid": pid if alive else None, "alive": alive,
                  "release": info.get("release"), "bind": info.get("bind"),
                  "port": info.get("port"), "python": info.get("python"),
                  "started_at": info.get("started_at"), "supervisor": info.get("supervisor")}
    ready, detail = False, "no server runs"
    if alive and not getattr(args, "no_ready", False):
        token = release_token(root.release(str(info.get("release"))), info.get("token_file"))
        status, body = http("GET", info.get("bind") or "127.0.0.1", int(info.get("port") or 0),
                            "/ready", token=token, timeout=2.0)
        ready = status == 200
        detail = body if isinstance(body, dict) else f"HTTP {status}: {body}"
    journal = read_json(root.journal)
    activation = None
    if isinstance(journal, dict):
        running = activation_running(root)
        activation = {k: journal.get(k) for k in ("id", "state", "outcome", "release",
                                                   "previous", "error", "finished_at")}
        activation["worker_alive"] = running
        activation["stale"] = journal.get("state") == "running" and not running
    holder = read_holder(root)
    return {
        "root": root.path, "current": cur, "model": model, "previous": root.previous_id(),
        "releases": root.complete_releases(), "partials": root.partials(),
        "server": server, "ready": ready, "ready_detail": detail,
        "free_bytes": free_bytes(root.path),
        "lock": holder_public(holder) if holder else None,
        "activation": activation, "history": root.history_entries()[-20:],
        "agent_version": AGENT_VERSION,
    }


def _tree_unique_bytes(path: str) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if st.st_nlink == 1:
                total += st.st_size
    return total


def cmd_prune(root: Root, args: Args) -> dict[str, Any]:
    """Delete the oldest releases beyond ``--keep`` (never current or previous) and every
    partial upload."""
    import shutil

    if args.keep < 0:
        raise AgentError("--keep must be 0 or more", "pass e.g. --keep 3")
    lock = require_idle(root)
    try:
        cur, prev = root.current_id(), root.previous_id()
        order: dict[str, float] = {}
        for i, entry in enumerate(root.history_entries()):
            if entry.get("release"):
                order[str(entry["release"])] = 1e12 + i
        releases = root.complete_releases()

        def recency(rid: str) -> float:
            if rid in order:
                return order[rid]
            try:
                return os.stat(root.release(rid)).st_mtime
            except OSError:
                return 0.0

        newest = sorted(releases, key=recency, reverse=True)
        keep = set(newest[:args.keep]) | {r for r in (cur, prev) if r}
        removed, freed = [], 0
        for rid in newest:
            if rid not in keep:
                freed += _tree_unique_bytes(root.release(rid))
                remove_tree(root.release(rid))
                removed.append(rid)
        partials = []
        for rid in root.partials():
            freed += _tree_unique_bytes(root.partial(rid))
            remove_tree(root.partial(rid))
            partials.append(rid)
        try:
            for name in os.listdir(root.releases):
                if name.startswith(".trash-"):
                    shutil.rmtree(os.path.join(root.releases, name), ignore_errors=True)
        except OSError:
            pass
        return {"removed": removed, "partials_removed": partials,
                "kept": [r for r in newest if r in keep], "freed_bytes": freed}
    finally:
        lock.release()


def cmd_fetch(root: Root, args: Args) -> dict[str, Any]:
    """GET a path from the running server (with the release's token)."""
    if not args.path.startswith("/"):
        raise AgentError(f"--path {args.path!r} does not start with /",
                         "pass e.g. --path /v1/profile")
    info = server_info(root)
    bind = args.bind or info.get("bind")
    port = args.port or info.get("port")
    if not bind or not port:
        raise AgentError("no server was started on this host", "deploy a release first")
    rid = info.get("release") or root.current_id() or ""
    token = release_token(root.release(str(rid)), info.get("token_file"))
    status, body = http("GET", str(bind), int(port), args.path, token=token,
                        timeout=args.timeout)
    if status is None:
        raise AgentError(f"the server on {bind}:{port} does not answer ({body})",
                         "check `status`; restart it with `restart`")
    return {"status": status, "body": body}


def cmd_unit(root: Root, args: Args) -> dict[str, Any]:
    """Write the systemd unit of the server (without installing it)."""
    return write_unit(root, args.python, args.bind, args.port, args.token_file)


# -- compound commands: one process per deploy step (each call costs a Python start-up) ------

def cmd_begin(root: Root, args: Args) -> dict[str, Any]:
    """Take the deploy lock, probe the host and read its status (without asking the server
    /ready): a deploy's first call. Nothing else changes; the lock is freed on failure."""
    locked = cmd_lock(root, args)
    try:
        probe = cmd_probe(root, args)
        status = cmd_status(root, Args(no_ready=True))
    except BaseException:
        remove_tree(root.lock)
        raise
    return dict(locked, probe=probe, status=status)


def cmd_stage(root: Root, args: Args) -> dict[str, Any]:
    """Verify the uploaded release, rename it into ``releases/`` and keep the approvals'
    signatures sent on stdin (``{"signatures": {reviewer: armored signature}}``, optional)
    in ``signatures/<id>/<reviewer>.sig`` for :func:`check_signatures`."""
    raw = sys.stdin.buffer.read() if not sys.stdin.isatty() else b""
    data = read_json_bytes(raw) if raw.strip() else {}
    signatures = data.get("signatures") if isinstance(data, dict) else None
    if not isinstance(signatures, dict):
        signatures = {}
    verified = cmd_verify(root, args)
    committed = cmd_commit(root, args)
    rid = check_id(args.release)
    if isinstance(data, dict) and isinstance(data.get("manifest"), str):
        _adopt_manifest(root, rid, data["manifest"].encode("utf-8"))
    for reviewer, text in signatures.items():
        check_id(str(reviewer), "reviewer name")
        if not isinstance(text, str) or "BEGIN SSH SIGNATURE" not in text:
            raise AgentError(f"the signature of {reviewer} is not an SSH signature",
                             "send the armored text `ssh-keygen -Y sign` wrote")
        write_atomic(os.path.join(root.signatures(rid), f"{reviewer}.sig"), text.encode())
    return dict(verified, renamed=committed["renamed"], signatures=sorted(signatures))


def _adopt_manifest(root: Root, rid: str, raw: bytes) -> None:
    """Make the release's ``manifest.json`` these bytes — the ones the reviewers signed.
    Another build of the same release (a release already on the host from elsewhere) has
    the same files and id and differs only in when and by whom it was built; anything
    more is refused."""
    path = os.path.join(root.release(rid), "manifest.json")
    try:
        with open(path, "rb") as fh:
            if fh.read() == raw:
                return
    except OSError:
        pass
    ours = read_json(path, {}) or {}
    theirs = read_json_bytes(raw)
    if (not isinstance(theirs, dict) or expected_release_id(theirs) != rid
            or theirs.get("files") != ours.get("files")):
        raise AgentError(f"the signed manifest sent for {rid} is not a manifest of it",
                         "deploy the release folder the reviewers approved")
    write_atomic(path, raw)


def allowed_signers(root: Root) -> str | None:
    """The allowed-signers file that makes this host require signed releases: the host
    admin's ``/etc/modeldeck/allowed_signers`` (root-owned: the deploy user cannot change
    it), else ``.modeldeck/allowed_signers`` under the root; ``None``: not required. A
    pinned agent always requires them, from the file its admin named."""
    if _pinned:
        return _pinned["allowed_signers"]
    for path in (SYSTEM_ALLOWED_SIGNERS, os.path.join(root.meta, "allowed_signers")):
        if os.path.isfile(path):
            return path
    return None


def check_signatures(root: Root, rid: str) -> list[str] | None:
    """On a host that requires signed releases, the reviewers whose signature of release
    ``rid``'s manifest verifies (``ssh-keygen -Y verify`` against the allowed signers);
    ``None`` when the host does not require them.

    Raises
    ------
    AgentError
        None verifies (or ssh-keygen is missing): the host refuses to switch.
    """
    path = allowed_signers(root)
    if path is None:
        return None
    import shutil
    import subprocess

    if not os.path.isfile(path):
        raise AgentError(f"this host only runs approved releases, but its allowed-signers "
                         f"file {path} is missing", "its admin puts the reviewers' keys there "
                         "(`modeldeck hosts pin HOST --out DIR` writes the file)", signed_by=[])
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        raise AgentError("this host requires signed releases but has no ssh-keygen",
                         "install OpenSSH 8.2 or newer there (package openssh-client)")
    message = (file_sha256(os.path.join(root.release(rid), "manifest.json")) + "\n").encode()
    folder = root.signatures(rid)
    names = sorted(n for n in os.listdir(folder) if n.endswith(".sig")) \
        if os.path.isdir(folder) else []
    valid = []
    for name in names:
        done = subprocess.run([keygen, "-Y", "verify", "-f", path, "-I", name[:-4],
                               "-n", SIGNATURE_NAMESPACE, "-s", os.path.join(folder, name)],
                              input=message, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=60)
        if done.returncode == 0:
            valid.append(name[:-4])
    if not valid:
        raise AgentError(
            f"this host only runs approved releases, and release {rid} has "
            + (f"no signature that verifies against {path} (signed by: "
               f"{', '.join(n[:-4] for n in names)})" if names else "no signature"),
            "deploy a release approved with `modeldeck release approve` by a reviewer "
            f"whose key is in {path}", signed_by=[])
    return valid


def _unlock_own(root: Root, token: str) -> bool:
    """Free the deploy lock if ``token`` holds it."""
    holder = read_holder(root)
    if holder is None or holder.get("token") != token:
        return False
    remove_tree(root.lock)
    return True


def cmd_finish(root: Root, args: Args) -> tuple[dict[str, Any], int]:
    """Activate the committed release, prune old releases and free the deploy lock: a
    deploy's last call. The answer is the activation's (see ``activate``) plus ``pruned``
    and ``unlocked``. When the activation worker dies the lock stays: the deployer reads
    the journal (or runs ``recover``) and frees it."""
    answer, code = cmd_activate(root, args)
    try:
        answer["pruned"] = cmd_prune(root, args)
    except (AgentError, OSError) as exc:
        answer["prune_error"] = str(exc)
    answer["unlocked"] = _unlock_own(root, args.token)
    return answer, code


def cmd_rollback(root: Root, args: Args) -> tuple[dict[str, Any], int]:
    """Under the deploy lock, activate the previous release (or ``--to``), with the Python
    it last ran with: the whole rollback of a host in one call. The lock is always freed,
    also when the SSH connection died meanwhile."""
    locked = cmd_lock(root, args)
    try:
        current = root.current_id()
        target = args.to or root.previous_id() or ""
        if not target:
            raise AgentError("the host has no earlier release to go back to",
                             "deploy the version you want instead")
        have = root.complete_releases()
        if target not in have:
            raise AgentError(f"the host does not have release {target} (it has: "
                             f"{', '.join(have) or 'none'})",
                             "deploy it instead (`modeldeck deploy REF`)")
        last = root.last_ok(target) or {}
        python = last.get("python") or server_info(root).get("python") or args.python
        if not python:
            raise AgentError(f"the Python that served {target} is not known",
                             "pass --python")
        answer, code = cmd_activate(root, Args(
            release=target, python=python, bind=args.bind, port=args.port,
            ready_timeout=args.ready_timeout, supervisor=args.supervisor,
            token_file=args.token_file, action="rollback"))
        return dict(answer, target=target, previous=current), code
    finally:
        _unlock_own(root, locked["token"])


# -- main -----------------------------------------------------------------------------------------

_RELEASE = ("--release", {"required": True})
_OWNER = ("--owner", {"required": True, "help": 'JSON {"who","where","pid","operation"}'})
_SERVE = [("--bind", {"default": "127.0.0.1"}), ("--port", {"type": int, "default": 8080}),
          ("--ready-timeout", {"type": float, "default": 60.0}),
          ("--supervisor", {"default": "pidfile", "help": "pidfile or systemd"}),
          ("--token-file", {"default": None})]
#: command → (help, [(option, argparse keywords), ...])
SPEC: dict[str, tuple[str, list[tuple[str, dict[str, Any]]]]] = {
    "probe": ("Python, platform, disk, systemd, packages", []),
    "lock": ("take the deploy lock (exit 3 when held)", [_OWNER]),
    "unlock": ("release the deploy lock", [("--token", {"default": ""}),
                                           ("--force", {"action": "store_true"})]),
    "begin": ("lock, probe and status in one call (a deploy's first step)", [_OWNER]),
    "prepare": ("stdin manifest → the partial upload, hard-linking known files", [_RELEASE]),
    "plan": ("what prepare would do, read only", [_RELEASE]),
    "verify": ("hash every file of an upload against its manifest", [_RELEASE]),
    "commit": ("rename the verified upload into releases/", [_RELEASE]),
    "stage": ("verify and commit in one call", [_RELEASE]),
    "receive": ("files of the upload on stdin (hosts without SFTP)", [_RELEASE]),
    "prepare-wheels": ('stdin {"files": {name: sha256}} → missing wheels', []),
    "verify-wheels": ("hash uploaded wheels, record them in the index", []),
    "install-env": ("venv from the wheelhouse, reused by hash", [
        ("--hash", {"required": True}),
        ("--requirements-file", {"required": True, "help": "- reads it from stdin"}),
        ("--python", {"default": "", "help": "base interpreter (default: this one)"}),
        ("--timeout", {"type": float, "default": 1800.0})]),
    "activate": ("switch current, restart, ready, smoke; or switch back", [
        _RELEASE, ("--python", {"required": True, "help": "the environment's python"}),
        *_SERVE,
        ("--action", {"default": "activate", "help": "recorded in history (rollback...)"}),
        ("--detach", {"action": "store_true", "help": "answer once the worker runs"})]),
    "finish": ("activate, prune and unlock in one call (a deploy's last step)", [
        _RELEASE, ("--python", {"required": True, "help": "the environment's python"}),
        *_SERVE, ("--token", {"required": True, "help": "the deploy lock's token"}),
        ("--keep", {"type": int, "default": 3})]),
    "rollback": ("lock, switch back to the previous release (or --to), restart, unlock", [
        _OWNER, ("--to", {"default": ""}),
        ("--python", {"default": "", "help": "when the release's own is not known"}),
        *_SERVE]),
    "journal": ("the last activation's journal", [("--wait", {"type": float, "default": 0.0})]),
    "recover": ("finish an interrupted activation", []),
    "restart": ("restart the server of current", [
        ("--python", {"default": None}), ("--bind", {"default": None}),
        ("--port", {"type": int, "default": None}),
        ("--ready-timeout", {"type": float, "default": 60.0})]),
    "stop": ("stop the server", []),
    "status": ("releases, server, readiness, lock, history", [
        ("--no-ready", {"action": "store_true", "help": "do not ask the server /ready"})]),
    "prune": ("delete old releases and partial uploads", [("--keep", {"type": int,
                                                                      "default": 3})]),
    "fetch": ("GET a path from the running server", [
        ("--path", {"required": True}), ("--bind", {"default": None}),
        ("--port", {"type": int, "default": None}),
        ("--timeout", {"type": float, "default": 30.0})]),
    "unit": ("write the systemd unit text", [
        ("--python", {"required": True}), ("--bind", {"default": "127.0.0.1"}),
        ("--port", {"type": int, "default": 8080}), ("--token-file", {"default": None})]),
}


#: What every call takes before its command (``--fault``: tests only, left out of -h).
GLOBAL_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--root", {"required": True, "help": "the deploy root"}),
    ("--fault", {"default": "", "hidden": True})]


class _Help(Exception):
    """``-h``: the text to print instead of running a command."""


def _usage(where: str, message: str) -> AgentError:
    return AgentError(f"bad usage: {message}", f"see `{where} -h`")


def _key(option: str) -> str:
    return option[2:].replace("-", "_")


def parse_options(words: list[str], options: list[tuple[str, dict[str, Any]]],
                  where: str) -> dict[str, Any]:
    """``words`` read against ``options`` — ``(--name, keywords)`` with argparse's
    ``required``, ``default``, ``type`` and ``action="store_true"`` — as ``{name: value}``
    (``--ready-timeout`` → ``ready_timeout``); ``--name value`` or ``--name=value``.
    Raises AgentError ("bad usage: ...") or, for ``-h``, _Help."""
    spec = dict(options)
    values = {_key(name): False if kw.get("action") == "store_true" else kw.get("default")
              for name, kw in options}
    given = set()
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word in ("-h", "--help"):
            raise _Help(help_text(where, options))
        name, eq, value = word.partition("=")
        kw = spec.get(name) if name.startswith("--") else None
        if kw is None:
            raise _usage(where, f"unrecognized argument {word!r}")
        if kw.get("action") == "store_true":
            if eq:
                raise _usage(where, f"{name} takes no value")
            values[_key(name)] = True
        else:
            if not eq:
                if i == len(words):
                    raise _usage(where, f"{name} needs a value")
                value = words[i]
                i += 1
            kind = kw.get("type", str)
            try:
                values[_key(name)] = kind(value)
            except ValueError:
                what = "a whole number" if kind is int else "a number"
                raise _usage(where, f"{name} {value!r} is not {what}") from None
        given.add(name)
    missing = [name for name, kw in options if kw.get("required") and name not in given]
    if missing:
        raise _usage(where, "the following arguments are required: " + ", ".join(missing))
    return values


def help_text(where: str, options: list[tuple[str, dict[str, Any]]]) -> str:
    """The ``-h`` text of ``where`` (``agent.py`` lists the commands too)."""
    shown = [(name, kw) for name, kw in options if not kw.get("hidden")]
    words = []
    for name, kw in shown:
        word = name if kw.get("action") == "store_true" else f"{name} {_key(name).upper()}"
        words.append(word if kw.get("required") else f"[{word}]")
    lines = [f"usage: {where} {' '.join(words)}".rstrip()]
    if where == "agent.py":
        lines[0] += " COMMAND [options]"
        lines += ["", "ModelDeck's host agent: one JSON answer per call.", "", "commands:"]
        lines += [f"  {name:15} {text}" for name, (text, _) in SPEC.items()]
    if shown:
        lines += ["", "options:"]
        for name, kw in shown:
            text, default = kw.get("help", ""), kw.get("default")
            if default not in (None, "", False):
                text = f"{text} (default: {default})".lstrip()
            lines.append(f"  {name:18} {text}".rstrip())
    return "\n".join(lines) + "\n"


def parse_command(words: list[str]) -> Args:
    """``--root ROOT COMMAND [options]`` as Args: ``command``, ``root``, ``fault`` and the
    command's options from SPEC. (argparse would import re and gettext: ~20 ms of every
    call.)"""
    bare = [i for i, word in enumerate(words) if not word.startswith("-")
            and (i == 0 or words[i - 1] not in ("--root", "--fault"))]
    at = next((i for i in bare if words[i] in SPEC), None)
    if at is None:
        if "-h" in words or "--help" in words:
            raise _Help(help_text("agent.py", GLOBAL_OPTIONS))
        raise _usage("agent.py", (f"unknown command {words[bare[0]]!r}" if bare else
                                  "no COMMAND given") + " (one of: " + ", ".join(SPEC) + ")")
    command = words[at]
    values = parse_options(words[at + 1:], SPEC[command][1], f"agent.py {command}")
    values.update(parse_options(words[:at], GLOBAL_OPTIONS, "agent.py"))
    return Args(command=command, **values)


COMMANDS = {
    "probe": cmd_probe, "lock": cmd_lock, "unlock": cmd_unlock, "prepare": cmd_prepare,
    "plan": cmd_plan,
    "prepare-wheels": cmd_prepare_wheels, "verify-wheels": cmd_verify_wheels,
    "verify": cmd_verify, "commit": cmd_commit, "receive": cmd_receive,
    "install-env": cmd_install_env,
    "activate": cmd_activate, "journal": cmd_journal,
    "recover": cmd_recover, "restart": cmd_restart, "stop": cmd_stop, "status": cmd_status,
    "prune": cmd_prune, "fetch": cmd_fetch, "unit": cmd_unit,
    "begin": cmd_begin, "stage": cmd_stage, "finish": cmd_finish, "rollback": cmd_rollback,
}


def emit(obj: Any) -> None:
    sys.stdout.write(dumps(obj) + "\n")
    sys.stdout.flush()


def _check_pinned_python(root: Root, python: str) -> None:
    """A pinned agent serves and builds environments only with its admin's Python or an
    environment it installed itself (under ``envs/``, complete)."""
    path = os.path.abspath(os.path.expanduser(python))
    env = os.path.dirname(os.path.dirname(path))
    if path == _pinned["python"] or (
            os.path.dirname(env) == os.path.realpath(root.envs)
            and path == os.path.join(env, "bin", "python")
            and os.path.isfile(os.path.join(env, ".complete"))):
        return
    raise AgentError(f"this host's pinned agent runs only {_pinned['python']} or an "
                     f"environment it installed, not {python}",
                     "deploy without --python; ModelDeck picks the host's own")


def pinned_main(argv: list[str]) -> int:
    """The agent as the forced command of a deploy key (``authorized_keys``:
    ``command="PYTHON agent.py --pinned --root ROOT [--python P] [--allowed-signers F]
    [--wheelhouse D]"``): runs the call in ``$SSH_ORIGINAL_COMMAND`` only when it is
    ``modeldeck-agent COMMAND [options]``, under the admin's root, Python, allowed signers
    (required: every switch needs a valid signature) and wheelhouse, without faults.
    Anything else — a shell command, SFTP, a login — gets an answer saying the host is
    pinned (``"pinned": true``, its root and this script's sha256) and exit code 2."""
    import shlex

    try:
        opts = Args(**parse_options(argv, [
            ("--root", {"required": True}), ("--python", {"default": sys.executable}),
            ("--allowed-signers", {"default": SYSTEM_ALLOWED_SIGNERS}),
            ("--wheelhouse", {"default": PINNED_WHEELHOUSE})], "agent.py --pinned"))
    except (AgentError, _Help) as exc:
        emit({"error": "the pinned agent's forced command is wrong: "
                       + (exc.message if isinstance(exc, AgentError) else "it asks for -h"),
              "fix": "its admin fixes the command=\"...\" of the key in authorized_keys",
              "pinned": True})
        return 2
    _pinned.update(python=os.path.abspath(opts.python),
                   allowed_signers=os.path.abspath(opts.allowed_signers),
                   wheelhouse=os.path.abspath(opts.wheelhouse))
    original = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    try:
        words = shlex.split(original)
    except ValueError:
        words = []
    if len(words) < 2 or words[0] != PINNED_WORD or words[1] not in SPEC:
        import hashlib

        with open(os.path.abspath(__file__), "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        emit({"error": "this host's deploy key runs only ModelDeck's pinned agent, not "
                       f"{original[:80]!r}" if original else
                       "this host's deploy key runs only ModelDeck's pinned agent",
              "fix": f"call it as `{PINNED_WORD} COMMAND [options]` (ModelDeck does)",
              "pinned": True, "root": Root(opts.root).path, "agent_sha256": digest,
              "agent_version": AGENT_VERSION})
        return 2
    return main(["--root", opts.root, *words[1:]])


def main(argv: list[str] | None = None) -> int:
    """Run one command; prints one JSON object; returns the exit code."""
    if argv is None and sys.argv[1:2] == ["--pinned"]:
        return pinned_main(sys.argv[2:])
    try:
        words = sys.argv[1:] if argv is None else argv
        args = parse_command(words)
        root = Root(args.root)
        if _pinned:
            if args.command in ("prepare-wheels", "verify-wheels"):
                raise AgentError("this host's pinned agent takes no wheels from the desktop: "
                                 f"it installs from its admin's {root.wheelhouse}",
                                 "its admin puts the wheels there (the offline bundle's)")
            if args.command == "rollback":  # its --python is only a fallback
                args.python = _pinned["python"]
            elif getattr(args, "python", None):
                _check_pinned_python(root, args.python)
        else:  # faults are for tests; a pinned host takes none
            _fault_dir[:] = [root.meta]
            _faults.update(parse_faults(read_fault_file(root.meta)))
            _faults.update(parse_faults(os.environ.get(FAULT_ENV, "")))
            _faults.update(parse_faults(args.fault))
        result = COMMANDS[args.command](root, args)
        code = 0
        if isinstance(result, tuple):
            result, code = result
    except AgentError as exc:
        emit(dict(exc.extra, error=exc.message, fix=exc.fix))
        return exc.code
    except _Help as text:
        sys.stdout.write(str(text))
        return 0
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            import traceback
            emit({"error": f"the agent failed: {type(exc).__name__}: {exc}",
                  "fix": "check the deploy root's permissions",
                  "traceback": traceback.format_exc()})
            return 1
        emit({"error": f"the host's disk is full ({exc})",
              "fix": "free space on the host (prune old releases: `prune --keep 2`)",
              "disk_full": True})
        return 1
    except BaseException as exc:  # noqa: BLE001 - always one JSON answer
        import traceback
        emit({"error": f"the agent failed: {type(exc).__name__}: {exc}",
              "fix": "report this with the traceback", "traceback": traceback.format_exc()})
        return 1
    emit(result)
    return code


if __name__ == "__main__":
    sys.exit(main())
