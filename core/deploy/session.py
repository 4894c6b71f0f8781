"""One host's side of a deploy: a connection plus the agent script that runs there.

Every step on a host is one call of the stdlib-only agent (``agent.py``, uploaded to
``<root>/.modeldeck/agent.py`` whenever its content changed) that answers with one JSON
object, so a step costs one round trip and the host does its own hashing, linking and
switching. See :mod:`modeldeck.core.deploy.agent` for the host layout.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modeldeck.core.deploy import transport as tp
from modeldeck.core.errors import DeployError, HostLockedError
from modeldeck.core.progress import CancelToken

AGENT_PATH = Path(__file__).with_name("agent.py")
#: The first word of a pinned agent's calls (``agent.PINNED_WORD``).
PINNED_WORD = "modeldeck-agent"
#: Bytes per ``receive`` call when uploading to a pinned agent (a progress step each).
RECEIVE_BATCH = 8 << 20


def agent_source() -> bytes:
    """The agent script's bytes."""
    return AGENT_PATH.read_bytes()


@functools.cache
def _agent_digest() -> str:
    return hashlib.sha256(agent_source()).hexdigest()


#: How the host's Python runs the agent: ``-S`` skips the site module (~6 ms of every call;
#: the agent needs the standard library only, and its probe adds site-packages itself).
AGENT_FLAGS = ("-S", "-c")


@functools.cache
def agent_boot() -> str:
    """The agent's ``BOOT`` line (``python -c BOOT DIR --root ...`` imports it, so the host
    caches its bytecode), read from its source: importing the agent here would need
    ``fcntl``, which a Windows desktop lacks."""
    found = re.search(r'^BOOT = \((.+?)\)$', agent_source().decode("utf-8"), re.M | re.S)
    assert found, "agent.py defines BOOT"
    return str(ast.literal_eval("(" + found.group(1) + ")"))


def _root_expression(root: str) -> str:
    """A shell word for ``root`` that expands ``~`` on the host."""
    if root == "~":
        return '"$HOME"'
    if root.startswith("~/"):
        return '"$HOME"/' + tp.quote(root[2:])
    return tp.quote(root)


class AgentRefused(DeployError):
    """The host's agent answered with an error (the connection is fine): ``answer`` is its
    JSON answer (``"began": false`` from an activation that did not begin, ...)."""

    def __init__(self, message: str, fix: str | None = None, *,
                 answer: dict[str, Any]) -> None:
        super().__init__(message, fix)
        self.answer = answer


def _pinned_hello(done: tp.CommandResult) -> dict[str, Any] | None:
    """The answer of a pinned agent to a call that is not an agent call (it answers every
    shell command so), else ``None``."""
    first = done.stdout.lstrip().split(b"\n", 1)[0]
    if not first.startswith(b"{"):
        return None
    try:
        answer = json.loads(first.decode("utf-8", "replace"))
    except ValueError:
        return None
    return answer if isinstance(answer, dict) and answer.get("pinned") is True else None


class HostSession:
    """A connection to ``host`` with its deploy root resolved and the agent in place.

    On a host whose admin pinned the agent (the deploy key's forced command, see the
    agent's docstring) the session is ``pinned``: every call is ``modeldeck-agent COMMAND``,
    files go through the agent's ``receive``, the root is the one the admin fixed, and the
    agent there must be this ModelDeck's."""

    def __init__(self, connection: tp.Connection, host: Any, root: str,
                 pinned: bool = False, agent_dir: str | None = None) -> None:
        self.connection = connection
        self.host = host
        self.root = root
        self.pinned = pinned
        #: where the agent runs from: ``<root>/.modeldeck``, or a temporary folder of a
        #: :meth:`look` session (removed by :meth:`close`)
        self.agent_dir = agent_dir or f"{root}/.modeldeck"
        self._temporary = agent_dir is not None

    @property
    def name(self) -> str:
        return self.host.name

    @classmethod
    def start(cls, connection: tp.Connection, host: Any) -> HostSession:
        """Resolve the deploy root on the host and upload the agent if it changed."""
        pinned, root, current = cls._ask_root(
            connection, host, "mkdir -p \"$R/.modeldeck\" && cd \"$R\" && pwd -P && "
            "(cat .modeldeck/agent.sha256 2>/dev/null || true)")
        if pinned is not None:
            return pinned
        session = cls(connection, host, root)
        if not current:
            session._upload_agent(agent_source(), _agent_digest())
        return session

    @classmethod
    def _ask_root(cls, connection: tp.Connection, host: Any, script: str
                  ) -> tuple[HostSession | None, str, bool]:
        """Run ``script`` with ``$R`` the deploy root; it prints the root, then the host's
        agent sha256. Returns the session of a pinned host (else ``None``), the root and
        whether the host's agent is this one."""
        found = connection.run(f"R={_root_expression(host.root)}; {script}")
        hello = _pinned_hello(found)
        if hello is not None:
            return cls._pinned(connection, host, hello, _agent_digest()), "", True
        lines = found.text().splitlines()
        root = cls._root_from(found, lines, host)
        return None, root, len(lines) >= 2 and lines[1].strip() == _agent_digest()

    @classmethod
    def look(cls, connection: tp.Connection, host: Any) -> HostSession:
        """A session that changes nothing on the host (for ``deploy --plan``): neither the
        deploy root nor the agent is created; when the host's agent is missing or out of
        date, this one runs from a temporary folder, removed by :meth:`close`. Only
        read-only agent calls (probe, status, plan) belong on it."""
        pinned, root, current = cls._ask_root(
            connection, host, "if [ -d \"$R\" ]; then cd \"$R\" && pwd -P && "
            "(cat .modeldeck/agent.sha256 2>/dev/null || true); else echo \"$R\"; fi")
        if pinned is not None:
            return pinned
        if current:
            return cls(connection, host, root)
        made = connection.run("mktemp -d \"${TMPDIR:-/tmp}/modeldeck-plan.XXXXXX\"")
        folder = made.text().strip()
        if made.returncode != 0 or not folder:
            raise DeployError(f"{host.name}: cannot make a temporary folder for the agent "
                              f"({made.error_text()})", "check the host's /tmp")
        with tempfile.NamedTemporaryFile(suffix=".py") as fh:
            fh.write(agent_source())
            fh.flush()
            connection.put(Path(fh.name), f"{folder}/agent.py")
        return cls(connection, host, root, agent_dir=folder)

    @classmethod
    def start_and_run(cls, connection: tp.Connection, host: Any, command: str, *args: str,
                      stdin: bytes | None = None, timeout: float | None = tp.COMMAND_TIMEOUT,
                      outcome: bool = False) -> tuple[HostSession, dict[str, Any]]:
        """:meth:`start` and the first :meth:`agent` call in one remote command when the
        host's agent is current (one exec less per host: a rollback is then one command);
        otherwise the agent is uploaded first."""
        try:
            return cls._start_and_run(connection, host, command, *args, stdin=stdin,
                                      timeout=timeout, outcome=outcome)
        except BaseException:
            connection.close()  # the caller never got a session to close
            raise

    @classmethod
    def _start_and_run(cls, connection: tp.Connection, host: Any, command: str, *args: str,
                       stdin: bytes | None, timeout: float | None, outcome: bool
                       ) -> tuple[HostSession, dict[str, Any]]:
        source, digest = agent_source(), _agent_digest()
        words = " ".join(tp.quote(w) for w in [host.python, *AGENT_FLAGS, agent_boot()])
        rest = " ".join(tp.quote(w) for w in [command, *args])
        # shell builtins only, but for a first mkdir: every fork costs the host ~1 ms and
        # this runs at the start of every deploy and rollback
        done = connection.run(
            f"R={_root_expression(host.root)}; "
            "{ [ -d \"$R/.modeldeck\" ] || mkdir -p \"$R/.modeldeck\"; } && cd -P \"$R\" && "
            "R=$PWD && echo \"$R\" && D= && { IFS= read -r D < .modeldeck/agent.sha256; } "
            f"2>/dev/null; if [ \"$D\" = {digest} ]; then "
            f"echo agent-ok && exec {words} \"$R/.modeldeck\" --root \"$R\" {rest}; "
            "else echo agent-missing; fi", stdin=stdin, timeout=timeout)
        hello = _pinned_hello(done)
        if hello is not None:
            session = cls._pinned(connection, host, hello, digest)
            return session, session.agent(command, *args, stdin=stdin, timeout=timeout,
                                          outcome=outcome)
        head, _, body = done.stdout.partition(b"\n")
        marker, _, answer = body.partition(b"\n")
        lines = [head.decode("utf-8", "replace")] + ([marker.decode()] if marker else [])
        session = cls(connection, host, cls._root_from(done, lines, host))
        if marker.strip() != b"agent-ok":
            session._upload_agent(source, digest)
            return session, session.agent(command, *args, stdin=stdin, timeout=timeout,
                                          outcome=outcome)
        return session, session._answer(dataclasses.replace(done, stdout=answer), command,
                                         outcome)

    @classmethod
    def _pinned(cls, connection: tp.Connection, host: Any, hello: dict[str, Any],
                digest: str) -> HostSession:
        """The session of a host that answered as a pinned agent."""
        if not hello.get("root"):  # its forced command is broken
            raise DeployError(f"{host.name}: {hello.get('error')}", hello.get("fix"))
        theirs = str(hello.get("agent_sha256") or "")
        if theirs != digest:
            raise DeployError(
                f"{host.name} runs a pinned ModelDeck agent that is not this ModelDeck's "
                f"(its sha256 {theirs[:12]}…, this one's {digest[:12]}…)",
                f"the host's admin installs this version's agent: `modeldeck hosts pin "
                f"{host.name} --out DIR` writes it and the steps (DIR/INSTALL.md)")
        return cls(connection, host, str(hello["root"]), pinned=True)

    @staticmethod
    def _root_from(found: tp.CommandResult, lines: list[str], host: Any) -> str:
        if (found.returncode != 0 and len(lines) < 2) or not lines or not lines[0].strip():
            raise DeployError(f"{host.name}: cannot create the deploy root {host.root} "
                              f"({found.error_text()})",
                              "choose a root the SSH user may write "
                              f"(`modeldeck hosts edit {host.name} --root DIR`)")
        return lines[0].strip()

    def _upload_agent(self, source: bytes, digest: str) -> None:
        target = f"{self.root}/.modeldeck/agent.py"
        with tempfile.NamedTemporaryFile(suffix=".py") as fh:
            fh.write(source)
            fh.flush()
            self.connection.put(Path(fh.name), target + ".tmp")
        done = self.connection.run(
            f"rm -rf {tp.quote(self.root + '/.modeldeck/__pycache__')} && "
            f"mv -f {tp.quote(target + '.tmp')} {tp.quote(target)} && "
            f"printf '%s\\n' {digest} > {tp.quote(self.root + '/.modeldeck/agent.sha256')}")
        if done.returncode != 0:
            raise DeployError(f"{self.name}: cannot install the deploy agent "
                              f"({done.error_text()})",
                              "check the free disk and permissions of the deploy root")

    def path(self, *parts: str) -> str:
        """An absolute path under the deploy root."""
        return "/".join([self.root, *parts])

    def agent(self, command: str, *args: str, stdin: bytes | None = None,
              timeout: float | None = tp.COMMAND_TIMEOUT,
              outcome: bool = False) -> dict[str, Any]:
        """Run one agent command on the host and return its JSON answer.

        With ``outcome``, an answer that carries an ``"outcome"`` (an activation that
        failed and switched back) is returned rather than raised.

        Raises
        ------
        HostLockedError
            Another deploy holds the host's lock (the answer names the holder).
        DeployError
            The agent failed (its error and fix), or the host's Python could not run it.
        """
        words = ([PINNED_WORD, command, *args] if self.pinned else
                 [self.host.python, *AGENT_FLAGS, agent_boot(), self.agent_dir,
                  "--root", self.root, command, *args])
        done = self.connection.run(" ".join(tp.quote(w) for w in words), stdin=stdin,
                                   timeout=timeout)
        return self._answer(done, command, outcome)

    def _answer(self, done: tp.CommandResult, command: str, outcome: bool) -> dict[str, Any]:
        """The agent's JSON answer in ``done`` (see :meth:`agent` for what raises)."""
        if done.returncode == 127 or (done.returncode != 0 and not done.stdout.strip()
                                      and b"not found" in done.stderr):
            raise DeployError(f"{self.name}: there is no '{self.host.python}' on the host",
                              "install Python 3.8 or newer there, or point ModelDeck at it: "
                              f"`modeldeck hosts edit {self.name} --python /path/to/python3`")
        try:
            answer = json.loads(done.stdout.decode("utf-8", "replace").strip() or "null")
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise DeployError(f"{self.name}: the agent's '{command}' failed "
                              f"(exit {done.returncode}): {done.error_text()}",
                              "check the host's Python and the deploy root")
        if done.returncode == 3:
            holder = answer.get("holder") or {}
            raise HostLockedError(
                f"{self.name} is being changed by {holder.get('who', 'someone')} from "
                f"{holder.get('where', '?')} since {holder.get('since', '?')} "
                f"({holder.get('operation', 'a deploy')})",
                "wait for it to finish; if that deploy died, free the host with "
                f"`modeldeck hosts unlock {self.name}`")
        if outcome and answer.get("outcome"):
            return answer
        if done.returncode != 0 or answer.get("error"):
            raise AgentRefused(f"{self.name}: {answer.get('error') or 'the agent failed'}",
                               answer.get("fix") or None, answer=answer)
        return answer

    def send_files(self, folder: Path, relpaths: list[str], partial: str, release_id: str,
                   *, on_bytes: Callable[[int], None] | None = None,
                   cancel: CancelToken | None = None) -> None:
        """Upload ``folder/<relpath>`` to ``partial/<relpath>`` — over SFTP, or on a pinned
        host through the agent's ``receive`` (batches of about :data:`RECEIVE_BATCH`)."""
        if not self.pinned:
            for relpath in relpaths:
                if cancel is not None:
                    cancel.check()
                self.connection.put(folder / relpath, f"{partial}/{relpath}",
                                    on_bytes=on_bytes, cancel=cancel)
            return
        batch, size = bytearray(), 0
        for i, relpath in enumerate(relpaths):
            if cancel is not None:
                cancel.check()
            path = folder / relpath
            data = path.read_bytes()
            header = {"path": relpath, "size": len(data), "mode": path.stat().st_mode & 0o755}
            batch += json.dumps(header).encode() + b"\n" + data
            size += len(data)
            if len(batch) >= RECEIVE_BATCH or i == len(relpaths) - 1:
                self.agent("receive", "--release", release_id, stdin=bytes(batch) + b"\n",
                           timeout=600)
                if on_bytes is not None:
                    on_bytes(size)
                batch, size = bytearray(), 0

    def write_file(self, remote: str, data: bytes) -> None:
        """Write ``data`` to ``remote`` atomically (temp name, then rename)."""
        if self.pinned:
            raise DeployError(f"{self.name}'s pinned agent takes no files but releases",
                              "this is a bug of ModelDeck: report it")
        folder = remote.rsplit("/", 1)[0] or "/"
        done = self.connection.run(f"mkdir -p {tp.quote(folder)} && "
                                   f"cat > {tp.quote(remote + '.tmp')} && "
                                   f"mv -f {tp.quote(remote + '.tmp')} {tp.quote(remote)}",
                                   stdin=data)
        if done.returncode != 0:
            raise DeployError(f"{self.name}: cannot write {remote} ({done.error_text()})",
                              "check the host's free disk and permissions")

    def close(self) -> None:
        if self._temporary:
            try:
                self.connection.run(f"rm -rf {tp.quote(self.agent_dir)}")
            except DeployError:
                pass  # the connection is gone; the host's /tmp cleaning takes it
        self.connection.close()
