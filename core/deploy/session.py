"""One host's side of a deploy: a connection plus the agent script that runs there.

Every step on a host is one call of the stdlib-only agent (``agent.py``, uploaded to
``<root>/.modeldeck/agent.py`` whenever its content changed) that answers with one JSON
object, so a step costs one round trip and the host does its own hashing, linking and
switching. See :mod:`modeldeck.core.deploy.agent` for the host layout.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from modeldeck.core.deploy import transport as tp
from modeldeck.core.errors import DeployError, HostLockedError

AGENT_PATH = Path(__file__).with_name("agent.py")


def agent_source() -> bytes:
    """The agent script's bytes."""
    return AGENT_PATH.read_bytes()


def _root_expression(root: str) -> str:
    """A shell word for ``root`` that expands ``~`` on the host."""
    if root == "~":
        return '"$HOME"'
    if root.startswith("~/"):
        return '"$HOME"/' + tp.quote(root[2:])
    return tp.quote(root)


class HostSession:
    """A connection to ``host`` with its deploy root resolved and the agent in place."""

    def __init__(self, connection: tp.Connection, host: Any, root: str) -> None:
        self.connection = connection
        self.host = host
        self.root = root

    @property
    def name(self) -> str:
        return self.host.name

    @classmethod
    def start(cls, connection: tp.Connection, host: Any) -> HostSession:
        """Resolve the deploy root on the host and upload the agent if it changed."""
        source = agent_source()
        digest = hashlib.sha256(source).hexdigest()
        found = connection.run(
            f"R={_root_expression(host.root)}; mkdir -p \"$R/.modeldeck\" && cd \"$R\" && "
            "pwd -P && (cat .modeldeck/agent.sha256 2>/dev/null || true)")
        lines = found.text().splitlines()
        if found.returncode != 0 or not lines:
            raise DeployError(f"{host.name}: cannot create the deploy root {host.root} "
                              f"({found.error_text()})",
                              "choose a root the SSH user may write "
                              f"(`modeldeck hosts edit {host.name} --root DIR`)")
        session = cls(connection, host, lines[0].strip())
        if len(lines) < 2 or lines[1].strip() != digest:
            session._upload_agent(source, digest)
        return session

    def _upload_agent(self, source: bytes, digest: str) -> None:
        target = f"{self.root}/.modeldeck/agent.py"
        with tempfile.NamedTemporaryFile(suffix=".py") as fh:
            fh.write(source)
            fh.flush()
            self.connection.put(Path(fh.name), target + ".tmp")
        done = self.connection.run(
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
        words = [self.host.python, self.path(".modeldeck", "agent.py"), "--root", self.root,
                 command, *args]
        done = self.connection.run(" ".join(tp.quote(w) for w in words), stdin=stdin,
                                   timeout=timeout)
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
            raise DeployError(f"{self.name}: {answer.get('error') or 'the agent failed'}",
                              answer.get("fix") or None)
        return answer

    def write_file(self, remote: str, data: bytes) -> None:
        """Write ``data`` to ``remote`` atomically (temp name, then rename)."""
        folder = remote.rsplit("/", 1)[0] or "/"
        done = self.connection.run(f"mkdir -p {tp.quote(folder)} && "
                                   f"cat > {tp.quote(remote + '.tmp')} && "
                                   f"mv -f {tp.quote(remote + '.tmp')} {tp.quote(remote)}",
                                   stdin=data)
        if done.returncode != 0:
            raise DeployError(f"{self.name}: cannot write {remote} ({done.error_text()})",
                              "check the host's free disk and permissions")

    def close(self) -> None:
        self.connection.close()
