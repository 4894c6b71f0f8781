"""The content-addressed artifact store of a workspace.

Files are named by the sha256 of their bytes (``artifacts/ab/abcdef...``) and never change
once written. A write goes to a temporary name in the same folder, is fsynced and renamed,
so a crash leaves either the whole file or none of it (an orphan temporary file at most,
swept on the next write). Reads verify the hash, so a file damaged on disk is reported
instead of being loaded.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from modeldeck.core.errors import CorruptArtifactError, NotFoundError

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Return the hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    # A rename is durable only once the directory entry is flushed too (POSIX).
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ArtifactStore:
    """Immutable files addressed by their sha256.

    Parameters
    ----------
    root
        The ``artifacts/`` folder of a workspace; created when missing.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        """Return where the artifact ``sha256`` lives (whether or not it exists)."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise NotFoundError(f"'{sha256}' is not an artifact id (64 lowercase hex digits)")
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        """Whether the artifact is in the store."""
        return self.path_of(sha256).is_file()

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` and return its sha256. Storing the same bytes twice is a no-op."""
        sha = sha256_bytes(data)
        final = self.path_of(sha)
        if final.is_file():
            return sha
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=final.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp_name, 0o444)
            os.replace(tmp_name, final)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)
        return sha

    def put_file(self, path: Path) -> str:
        """Store a copy of the file at ``path`` and return its sha256."""
        return self.put_bytes(Path(path).read_bytes())

    def get_bytes(self, sha256: str) -> bytes:
        """Return the artifact's bytes after checking them against ``sha256``.

        Raises
        ------
        NotFoundError
            The artifact is not in the store.
        CorruptArtifactError
            The file's bytes no longer hash to ``sha256``.
        """
        path = self.path_of(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(
                f"artifact {sha256[:12]}… is missing from {self.root}",
                "restore the workspace's artifacts/ folder from a backup",
            ) from None
        actual = sha256_bytes(data)
        if actual != sha256:
            raise CorruptArtifactError(
                f"artifact {sha256[:12]}… is corrupt: its file {path} now hashes to "
                f"{actual[:12]}…",
                "restore that file from a backup, or register the version again",
            )
        return data

    def verify(self, sha256: str) -> None:
        """Raise unless the artifact is present and intact."""
        self.get_bytes(sha256)

    def __iter__(self) -> Iterator[str]:
        for sub in sorted(self.root.iterdir()):
            if sub.is_dir():
                for path in sorted(sub.iterdir()):
                    if not path.name.startswith("."):
                        yield path.name
