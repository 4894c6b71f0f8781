"""SSH signatures over release manifests (``ssh-keygen -Y sign`` / ``-Y verify``).

A reviewer approves a release by signing the *manifest message*: the sha256 of the release
folder's ``manifest.json`` as lowercase hex plus a newline. The signature is the standard
armored SSH signature (``-----BEGIN SSH SIGNATURE-----``) in the namespace
:data:`NAMESPACE`, so anyone can check it with OpenSSH alone::

    sha256sum manifest.json | cut -d' ' -f1 > message
    ssh-keygen -Y verify -f allowed_signers -I bob -n modeldeck-release -s bob.sig < message

with an allowed-signers file from :func:`allowed_signers_text`. This module needs only the
``ssh-keygen`` (and, for keys held by an agent, a running ``ssh-agent``) of OpenSSH 8.2 or
newer, and nothing else of ModelDeck, so a host can reuse it to check a release before
switching to it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from modeldeck.core.errors import ModelDeckError

#: The signature namespace: a signature made for a release cannot pass for anything else.
NAMESPACE = "modeldeck-release"
#: Seconds to wait for ``ssh-keygen`` (signing may ask for a key's passphrase on the tty).
TIMEOUT_S = 120.0
_SSH_KEYGEN = "ssh-keygen"


class SigningError(ModelDeckError):
    """A signature could not be made (no key, no agent, a key ssh-keygen cannot use)."""


def manifest_message(manifest: str | os.PathLike[str] | bytes) -> bytes:
    """The message a reviewer signs for a release: sha256 hex of ``manifest.json`` + ``\\n``.

    Parameters
    ----------
    manifest
        The manifest file's path, or its bytes.
    """
    data = manifest if isinstance(manifest, bytes) else Path(manifest).read_bytes()
    return (hashlib.sha256(data).hexdigest() + "\n").encode()


def _ssh_keygen() -> str:
    found = shutil.which(_SSH_KEYGEN)
    if found is None:
        raise SigningError("ssh-keygen was not found on PATH",
                           "install OpenSSH 8.2 or newer (package openssh-client)")
    return found


def _run(args: list[str], message: bytes) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run([_ssh_keygen(), *args], input=message, capture_output=True,
                              timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise SigningError(f"ssh-keygen did not answer within {TIMEOUT_S:.0f} s",
                           "if the key has a passphrase, load it into ssh-agent "
                           "(`ssh-add KEY`) and sign without --key") from None


def _first_line(output: bytes) -> str:
    lines = output.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no message"


def sign(message: bytes, key_path: str | os.PathLike[str] | None, *,
         public_key: str | None = None) -> str:
    """Sign ``message`` and return the armored SSH signature text.

    Parameters
    ----------
    message
        What to sign, e.g. :func:`manifest_message`.
    key_path
        A private key file. ``None`` signs with a key held by the running ``ssh-agent``
        (``$SSH_AUTH_SOCK``): the one whose public half is ``public_key`` (typically the
        key registered for the reviewer), else the agent's first key.
    public_key
        With ``key_path=None``: which of the agent's keys to use (an OpenSSH public key
        line).

    Raises
    ------
    SigningError
        No such key file, no agent or no matching key in it, or ssh-keygen refused.
    """
    if key_path is not None:
        path = Path(key_path).expanduser()
        if not path.is_file():
            raise SigningError(f"no private key file at {path}",
                               "pass the private key (e.g. ~/.ssh/id_ed25519), not the .pub")
        return _sign_with(path, message, f"key {path}")
    if not os.environ.get("SSH_AUTH_SOCK"):
        raise SigningError("no --key given and no ssh-agent is running (SSH_AUTH_SOCK unset)",
                           "pass --key PRIVATE_KEY, or start ssh-agent and `ssh-add` your key")
    public = public_key.strip() if public_key else _first_agent_key()
    with tempfile.TemporaryDirectory(prefix="modeldeck-sign-") as tmp:
        pub = Path(tmp) / "key.pub"
        pub.write_text(public + "\n", encoding="utf-8")
        return _sign_with(pub, message, "ssh-agent", agent=True)


def _sign_with(key: Path, message: bytes, what: str, agent: bool = False) -> str:
    done = _run(["-Y", "sign", "-q", "-n", NAMESPACE, "-f", str(key)], message)
    if done.returncode == 0 and b"BEGIN SSH SIGNATURE" in done.stdout:
        return done.stdout.decode()
    reason = _first_line(done.stderr)
    if agent and "No private key found" in reason:
        raise SigningError("the ssh-agent holds no private key for the registered public key "
                           f"({key.read_text(encoding='utf-8').split()[0]})",
                           "load the matching key with `ssh-add PRIVATE_KEY`, or pass --key "
                           "PRIVATE_KEY")
    if agent:
        raise SigningError(f"ssh-agent could not sign ({reason})",
                           "start ssh-agent and load your registered key with "
                           "`ssh-add ~/.ssh/id_ed25519`, or pass --key PRIVATE_KEY")
    raise SigningError(f"ssh-keygen could not sign with {what} ({reason})",
                       "pass an OpenSSH private key without a passphrase, or load it into "
                       "ssh-agent and leave out --key")


def _first_agent_key() -> str:
    ssh_add = shutil.which("ssh-add")
    if ssh_add is None:
        raise SigningError("ssh-add was not found on PATH", "install OpenSSH, or pass --key")
    done = subprocess.run([ssh_add, "-L"], capture_output=True, timeout=TIMEOUT_S,
                          check=False)
    keys = [line for line in done.stdout.decode().splitlines() if line.strip()]
    if done.returncode != 0 or not keys:
        raise SigningError("the ssh-agent holds no keys", "load yours with `ssh-add KEY`")
    return keys[0]


def allowed_signers_line(principal: str, public_key: str) -> str:
    """One ``allowed_signers`` line: ``principal namespaces="modeldeck-release" key``."""
    return f'{principal} namespaces="{NAMESPACE}" {public_key.strip()}'


def allowed_signers_text(users: Iterable[Any]) -> str:
    """An ``allowed_signers`` file for the users that have a registered key.

    Parameters
    ----------
    users
        :class:`~modeldeck.core.workspace.User` objects (anything with ``name`` and
        ``ssh_public_key``), or ``(name, public_key)`` pairs. Users without a key are left
        out; which users may sign (reviewers) is the caller's choice.
    """
    lines = []
    for user in users:
        name, key = (user if isinstance(user, tuple)
                     else (user.name, getattr(user, "ssh_public_key", None)))
        if key:
            lines.append(allowed_signers_line(str(name), str(key)))
    return "".join(line + "\n" for line in lines)


def verify(message: bytes, signature: str, reviewer: str, public_key: str | None) -> bool:
    """Whether ``signature`` is ``reviewer``'s valid signature of ``message``.

    Runs ``ssh-keygen -Y verify`` with a one-line allowed-signers file holding
    ``public_key`` for ``reviewer`` in :data:`NAMESPACE`. ``False`` for a missing key or
    signature, a signature by another key, over another message or in another namespace.
    Results are cached (the inputs fully determine them).
    """
    if not signature or not public_key:
        return False
    return _verify_cached(message, signature, reviewer, public_key.strip())


@functools.lru_cache(maxsize=512)
def _verify_cached(message: bytes, signature: str, reviewer: str, public_key: str) -> bool:
    with tempfile.TemporaryDirectory(prefix="modeldeck-verify-") as tmp:
        signers = Path(tmp) / "allowed_signers"
        signers.write_text(allowed_signers_line(reviewer, public_key) + "\n", encoding="utf-8")
        sig = Path(tmp) / "message.sig"
        sig.write_text(signature, encoding="utf-8")
        done = _run(["-Y", "verify", "-f", str(signers), "-I", reviewer, "-n", NAMESPACE,
                     "-s", str(sig)], message)
    return done.returncode == 0
