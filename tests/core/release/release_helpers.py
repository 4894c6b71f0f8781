"""Helpers of the release tests (imported as a plain module, like tests/cli/cli_helpers).

The demo's ``alice`` (data scientist) authored every version; ``bob`` (reviewer) comes with
the demo, ``dave`` is a second reviewer added here, ``carol`` is the admin. Keys are real
ed25519 keys made by ``ssh-keygen`` in the test's temp folder; ``bob`` and ``dave`` have
theirs registered, ``mallory``'s key belongs to nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modeldeck.core.progress import run
from modeldeck.core.release import Candidate, Releases
from modeldeck.core.workspace import Workspace

ADMIN = "carol"
#: A policy that skips the two slowest gates, for tests about approvals, not gates.
FAST_POLICY = '[gates]\nskip = ["latency", "drift"]\n'


@dataclass
class Demo:
    """A private copy of the demo workspace, with helpers to act as its users."""

    path: Path
    keys: dict[str, Path]
    opened: list[Workspace]

    def releases(self, user: str) -> Releases:
        """:class:`Releases` acting as ``user``."""
        ws = Workspace.open(self.path, actor=user)
        self.opened.append(ws)
        return Releases(ws)

    def create(self, ref: str = "breast-cancer:2", user: str = "alice") -> Candidate:
        """Open a candidate (and run its gates) as ``user``."""
        return run(self.releases(user).create(ref))

    def policy(self, model: str, text: str) -> None:
        """Write the model's policy file."""
        folder = self.path / "policies"
        folder.mkdir(exist_ok=True)
        (folder / f"{model}.toml").write_text(text, encoding="utf-8")
