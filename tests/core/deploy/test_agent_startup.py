"""The host agent's own plumbing, which keeps each call's start-up at ~20 ms of CPU: JSON
through json's C half, a command line parsed from SPEC, names checked without ``re`` — each
must answer exactly as json, argparse and the regular expressions it replaces did."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeldeck.core.deploy import agent
from modeldeck.core.deploy.session import AGENT_FLAGS, agent_boot

AGENT_DIR = Path(agent.__file__).resolve().parent

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=25)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_dumps_writes_what_json_dumps_writes(value: Any) -> None:
    assert agent.dumps(value) == json.dumps(value, sort_keys=True, default=str)
    assert agent.dumps(value, compact=True) == json.dumps(
        value, sort_keys=True, default=str, separators=(",", ":"))
    assert agent.loads(agent.dumps(value)) == value


@settings(max_examples=200, deadline=None)
@given(json_values, st.sampled_from(["", " ", "\n", " \t\r\n "]))
def test_loads_reads_what_json_loads_reads(value: Any, space: str) -> None:
    text = space + json.dumps(value, indent=1) + space
    assert agent.loads(text) == json.loads(text)


def test_loads_refuses_what_json_refuses() -> None:
    for bad in ["", "  ", "{not json", '{"a": 1} extra', "[1, 2", '{"a" 1}', "nul", "'x'"]:
        with pytest.raises(ValueError):
            json.loads(bad)
        with pytest.raises(ValueError):
            agent.loads(bad)
    assert math.isnan(agent.loads("NaN")) and agent.loads("-Infinity") == -math.inf
    # objects of other types are written as their str, as json.dumps(default=str) does
    assert agent.dumps({"p": Path("/x")}) == '{"p": "/x"}'


def test_json_files_keep_a_member_per_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    journal = {"steps": ["switch", "stop"], "id": "é", "timings": {"switch": 0.01}}
    agent.write_json(str(path), journal)
    assert path.read_text().splitlines()[1] == ' "id": "\\u00e9",'
    assert json.loads(path.read_text()) == journal == agent.read_json(str(path))
    agent.write_json(str(path), [{"a": 1}, {"b": 2}])
    assert path.read_text() == '[\n {"a": 1},\n {"b": 2}\n]\n'
    for empty in ({}, [], None):
        agent.write_json(str(path), empty)
        assert json.loads(path.read_text()) == empty


def test_release_ids_hashes_and_requirements_are_checked_as_before() -> None:
    for good in ["breast-cancer-v3-0123456789ab", "a", "_x", "m@1+local.2", "x" * 200]:
        assert agent.check_id(good) == good
    for bad in ["", "-x", ".x", "a/b", "a b", "x" * 201, "a..b", "r.partial", "id\n", "é"]:
        with pytest.raises(agent.AgentError):
            agent.check_id(bad)
    assert agent.is_sha256("0" * 64) and agent.is_sha256("ab" * 32)
    assert not any(agent.is_sha256(v) for v in ["0" * 63, "A" * 64, "g" * 64, None, 1])
    for good in ["numpy==2.1.0", "scikit-learn==1.5.2", "a.b_c==1.0+local!x"]:
        assert agent.is_pinned_requirement(good)
    for bad in ["numpy", "numpy>=2", "numpy==", "==1", "-r x==1", "numpy==1 ; x", "a==b==c",
                "https://x/y.whl==1"]:
        assert not agent.is_pinned_requirement(bad)


def test_the_command_line_is_read_from_spec() -> None:
    args = agent.parse_command(["--root", "/srv/md", "rollback", "--owner", "{}",
                                "--port=9001", "--ready-timeout", "2.5", "--to", "r1"])
    assert (args.command, args.root, args.fault) == ("rollback", "/srv/md", "")
    assert (args.owner, args.port, args.ready_timeout, args.to) == ("{}", 9001, 2.5, "r1")
    assert (args.bind, args.supervisor, args.token_file) == ("127.0.0.1", "pidfile", None)
    assert agent.parse_command(["--root", "r", "status", "--no-ready"]).no_ready is True
    assert agent.parse_command(["--root", "r", "status"]).no_ready is False
    # a value that is a command's name is a value
    assert agent.parse_command(["--root", "status", "--fault", "x", "journal"]).root == "status"
    for words, says in [
            (["--root", "r", "nope"], "unknown command 'nope' (one of: probe, lock,"),
            (["--root", "r"], "no COMMAND given"),
            (["journal"], "required: --root"),
            (["--root", "r", "lock"], "required: --owner"),
            (["--root", "r", "journal", "--wait"], "--wait needs a value"),
            (["--root", "r", "journal", "--wait", "soon"], "'soon' is not a number"),
            (["--root", "r", "prune", "--keep", "2.5"], "'2.5' is not a whole number"),
            (["--root", "r", "journal", "--nope", "1"], "unrecognized argument '--nope'"),
            (["--root", "r", "status", "--no-ready=yes"], "takes no value")]:
        with pytest.raises(agent.AgentError) as caught:
            agent.parse_command(words)
        assert "bad usage" in caught.value.message and says in caught.value.message, words
        assert "-h" in caught.value.fix


def test_help_lists_the_commands_and_each_commands_options() -> None:
    with pytest.raises(agent._Help) as top:
        agent.parse_command(["-h"])
    text = str(top.value)
    assert text.startswith("usage: agent.py --root ROOT COMMAND [options]")
    assert all(f"  {name} " in text for name in agent.SPEC) and "--fault" not in text
    with pytest.raises(agent._Help) as one:
        agent.parse_command(["rollback", "-h"])
    assert "--owner OWNER [--to TO]" in str(one.value)
    assert "--port             (default: 8080)" in str(one.value)


def test_a_call_imports_nothing_heavy(tmp_path: Path) -> None:
    """A call the way the deployer makes it (``python -S -c BOOT``): the lock, the journal and
    an unlock import neither json, re, argparse nor enum (each is milliseconds of every
    call on 20 hosts at once)."""
    meta = tmp_path / "root" / ".modeldeck"
    meta.mkdir(parents=True)
    (meta / "agent.py").write_bytes((AGENT_DIR / "agent.py").read_bytes())
    heavy = ["argparse", "enum", "hashlib", "json", "re", "shutil", "signal", "tempfile"]
    probe = (f"import atexit, sys; atexit.register(lambda: sys.stderr.write("
             f"'loaded: ' + ','.join(m for m in {heavy!r} if m in sys.modules)))")
    root = str(meta.parent)
    owner = json.dumps({"who": "carol", "where": "ci", "pid": 1, "operation": "rollback"})
    token = ""
    for words in (["lock", "--owner", owner], ["journal"], ["unlock", "--token", "TOKEN"]):
        words = [w.replace("TOKEN", token) for w in words]
        done = subprocess.run([sys.executable, *AGENT_FLAGS, f"{probe}; {agent_boot()}",
                               str(meta), "--root", root, *words],
                              capture_output=True, timeout=60)
        answer = json.loads(done.stdout)
        assert done.returncode == 0 and "error" not in answer, (words, answer)
        token = answer.get("token", token)
        assert done.stderr.decode().strip() == "loaded:", (words, done.stderr.decode())
    assert answer["released"] is True
    # JSON it cannot read is told as json.loads tells it (json is imported for that alone)
    done = subprocess.run([sys.executable, *AGENT_FLAGS, agent_boot(), str(meta), "--root",
                           root, "prepare", "--release", "x-v1-abc"], input=b'{"files": [1,',
                          capture_output=True, timeout=60)
    answer = json.loads(done.stdout)
    assert done.returncode == 1 and answer["error"].startswith("stdin is not JSON (Expecting")
