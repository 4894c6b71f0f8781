"""``modeldeck.core.release.signing``: real ssh-keygen signatures, checked both ways."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from modeldeck.core.release import signing
from modeldeck.core.release.signing import SigningError
from modeldeck.core.workspace import User


def _pub(key: Path) -> str:
    return key.with_suffix(".pub").read_text()


def test_manifest_message_is_the_sha256_hex_and_a_newline(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(b"{}")
    expected = b"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\n"
    assert signing.manifest_message(manifest) == expected == signing.manifest_message(b"{}")


def test_a_signature_verifies_only_for_its_key_message_and_name(
        ssh_key: Callable[[str], Path]) -> None:
    bob, other = ssh_key("bob"), ssh_key("other")
    message = signing.manifest_message(b"release")
    signature = signing.sign(message, bob)
    assert signature.startswith("-----BEGIN SSH SIGNATURE-----")
    assert signing.verify(message, signature, "bob", _pub(bob))
    assert not signing.verify(message, signature, "bob", _pub(other))
    assert not signing.verify(signing.manifest_message(b"changed"), signature, "bob", _pub(bob))
    assert not signing.verify(message, signature, "bob", None)
    assert not signing.verify(message, "", "bob", _pub(bob))


def test_signatures_are_checkable_with_plain_ssh_keygen(
        tmp_path: Path, ssh_key: Callable[[str], Path]) -> None:
    bob, dave = ssh_key("bob"), ssh_key("dave")
    message = signing.manifest_message(b"release")
    (tmp_path / "bob.sig").write_text(signing.sign(message, bob))
    users = [User("bob", "reviewer", _pub(bob), "", ""), ("dave", _pub(dave)),
             User("erin", "reviewer", None, "", "")]
    text = signing.allowed_signers_text(users)
    assert text.count("\n") == 2 and 'bob namespaces="modeldeck-release" ssh-ed25519' in text
    (tmp_path / "allowed_signers").write_text(text)

    def verify(identity: str, namespace: str = signing.NAMESPACE) -> int:
        return subprocess.run(
            ["ssh-keygen", "-Y", "verify", "-f", str(tmp_path / "allowed_signers"), "-I",
             identity, "-n", namespace, "-s", str(tmp_path / "bob.sig")],
            input=message, capture_output=True, check=False).returncode

    assert verify("bob") == 0
    assert verify("dave") != 0  # dave's key did not sign it
    assert verify("bob", "git") != 0  # a release signature is no commit signature


def test_signing_errors_name_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     ssh_key: Callable[[str], Path]) -> None:
    with pytest.raises(SigningError, match="no private key file at") as caught:
        signing.sign(b"x\n", tmp_path / "missing")
    assert "not the .pub" in (caught.value.fix or "")
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(SigningError, match="no ssh-agent is running"):
        signing.sign(b"x\n", None, public_key=_pub(ssh_key("k")))
    (tmp_path / "junk").write_text("not a key\n")
    with pytest.raises(SigningError, match="could not sign with key"):
        signing.sign(b"x\n", tmp_path / "junk")
