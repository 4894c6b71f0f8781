"""known_hosts files are parsed once per version, not once per connection."""

from __future__ import annotations

import os
from pathlib import Path

import paramiko

from modeldeck.core.deploy import transport as tp


def _line(name: str) -> str:
    blob = paramiko.RSAKey.generate(1024)
    return f"{name} {blob.get_name()} {blob.get_base64()}\n"


def test_a_file_is_parsed_again_only_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(_line("[127.0.0.2]:2222"))
    first = tp.parsed_known_hosts(path)
    assert tp.parsed_known_hosts(path) is first  # the same file: the same parse
    assert first.lookup("[127.0.0.2]:2222") and not first.lookup("[127.0.0.3]:2222")
    with path.open("a") as fh:  # trusting a host appends its line
        fh.write(_line("[127.0.0.3]:2222"))
    again = tp.parsed_known_hosts(path)
    assert again is not first and again.lookup("[127.0.0.3]:2222")
    # untrusting rewrites the file (a new inode), even to the same size and time
    stat = path.stat()
    replacement = tmp_path / "known_hosts.new"
    replacement.write_text(path.read_text().replace("127.0.0.3", "127.0.0.4"))
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, path)
    third = tp.parsed_known_hosts(path)
    assert third.lookup("[127.0.0.4]:2222") and not third.lookup("[127.0.0.3]:2222")


def test_recorded_keys_take_the_first_files_key(tmp_path: Path) -> None:
    user, workspace = tmp_path / "user_known_hosts", tmp_path / "workspace_known_hosts"
    user.write_text(_line("[127.0.0.2]:2222"))
    workspace.write_text(_line("[127.0.0.2]:2222") + _line("[127.0.0.3]:2222"))
    keys = tp.recorded_keys([tmp_path / "missing", user, workspace], "[127.0.0.2]:2222")
    assert keys == {"ssh-rsa": tp.parsed_known_hosts(user).lookup("[127.0.0.2]:2222")["ssh-rsa"]}
    assert keys["ssh-rsa"] != tp.parsed_known_hosts(workspace).lookup("[127.0.0.2]:2222")["ssh-rsa"]
    assert tp.recorded_keys([user, workspace], "[127.0.0.4]:2222") == {}
