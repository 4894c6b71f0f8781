"""The host agent (core/deploy/agent.py) run as a subprocess on temporary deploy roots, with
real release folders and real prediction servers on free loopback ports."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

AGENT = Path(__file__).resolve().parents[3] / "core" / "deploy" / "agent.py"
DEMO_ADMIN = "carol"
TOKEN = "agent-test-token"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def built(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three release folders of the demo (read them only): ``a`` breast-cancer@production,
    ``b`` breast-cancer@staging with a bearer token, ``c`` the same version as ``b`` with
    other settings (so it shares its artifact with ``b``)."""
    from modeldeck.core.bundle import build_release
    from modeldeck.core.registry import Registry
    from modeldeck.core.workspace import Workspace

    root = tmp_path_factory.mktemp("agent-releases")
    workspace = shutil.copytree(demo_template, root / "workspace")
    with Workspace.open(workspace, actor=DEMO_ADMIN) as ws:
        registry = Registry(ws)
        return {
            "a": build_release(registry, "breast-cancer@production", root / "a").path,
            "b": build_release(registry, "breast-cancer@staging", root / "b",
                               token=TOKEN).path,
            "c": build_release(registry, "breast-cancer@staging", root / "c",
                               config={"threads": 3}).path,
        }


def release_id(folder: Path) -> str:
    return json.loads((folder / "manifest.json").read_text())["release_id"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pids_under(root: Path) -> list[int]:
    """Processes whose command line names the deploy root (servers, workers)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            args = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(str(root).encode() in a for a in args):
            out.append(int(name))
    return out


class Agent:
    """Runs ``agent.py --root ROOT ...`` and parses its one JSON answer."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port

    def run(self, *args: str, stdin: bytes = b"", env: dict[str, str] | None = None,
            timeout: float = 180) -> tuple[int, dict[str, Any]]:
        done = subprocess.run([sys.executable, str(AGENT), "--root", str(self.root), *args],
                              input=stdin, capture_output=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
        lines = done.stdout.decode().splitlines()
        if not lines:
            return done.returncode, {"_stderr": done.stderr.decode()}
        assert len(lines) == 1, done.stdout
        return done.returncode, json.loads(lines[0])

    def ok(self, *args: str, **kw: Any) -> dict[str, Any]:
        code, answer = self.run(*args, **kw)
        assert code == 0, answer
        assert "error" not in answer or answer["error"] is None, answer
        return answer

    def activate(self, rid: str, *extra: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        return self.run("activate", "--release", rid, "--python", sys.executable,
                        "--port", str(self.port), "--ready-timeout", "60", *extra, **kw)

    def upload(self, folder: Path) -> dict[str, Any]:
        """prepare, copy what is missing, verify, commit."""
        manifest = (folder / "manifest.json").read_bytes()
        rid = release_id(folder)
        prep = self.ok("prepare", "--release", rid, stdin=manifest)
        partial = self.root / "releases" / f"{rid}.partial"
        for rel in prep["missing"]:
            shutil.copy2(folder / rel, partial / rel)
        if not prep["exists"]:
            self.ok("verify", "--release", rid)
            self.ok("commit", "--release", rid)
        return prep

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read())


@pytest.fixture
def make_agent(tmp_path: Path) -> Iterator[Callable[[], Agent]]:
    """Factory of agents on fresh deploy roots; stops every server they started."""
    made: list[Agent] = []

    def make() -> Agent:
        agent = Agent(tmp_path / f"host{len(made)}", free_port())
        made.append(agent)
        return agent

    yield make
    for agent in made:
        if agent.root.exists():
            agent.run("stop", timeout=60)
        for pid in _pids_under(agent.root):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for agent in made:
        assert _pids_under(agent.root) == [], "processes left behind"


def corrupt(path: Path) -> None:
    """Change a file without touching its hard-linked twins."""
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data + b"corrupted")


# -- no server -----------------------------------------------------------------------------

def test_lock_is_exclusive_and_names_its_holder(make_agent: Callable[[], Agent]) -> None:
    agent = make_agent()
    owner = json.dumps({"who": "carol", "where": "laptop", "pid": 123, "operation": "deploy"})
    taken = agent.ok("lock", "--owner", owner)
    assert taken["token"] and taken["holder"]["who"] == "carol"
    assert (agent.root / ".modeldeck" / "lock" / "owner.json").is_file()

    code, refused = agent.run("lock", "--owner", json.dumps({"who": "dave", "where": "ci",
                                                             "pid": 9, "operation": "rollback"}))
    assert code == 3
    holder = refused["holder"]
    assert (holder["who"], holder["where"], holder["pid"], holder["operation"]) == (
        "carol", "laptop", 123, "deploy")
    assert holder["since"] and "token" not in holder
    assert "carol" in refused["error"] and refused["fix"]

    code, wrong = agent.run("unlock", "--token", "not-the-token")
    assert code == 3 and wrong["holder"]["who"] == "carol"
    assert agent.ok("status")["lock"]["who"] == "carol"
    assert agent.ok("unlock", "--token", taken["token"])["released"] is True
    assert agent.ok("status")["lock"] is None
    assert agent.ok("unlock", "--token", "x")["released"] is False

    again = agent.ok("lock", "--owner", owner)
    assert agent.ok("unlock", "--force")["released"] is True
    assert again["token"] != taken["token"]


def test_usage_errors_are_json(make_agent: Callable[[], Agent]) -> None:
    agent = make_agent()
    code, answer = agent.run("no-such-command")
    assert code == 1 and "bad usage" in answer["error"] and answer["fix"]
    code, answer = agent.run("activate", "--release", "nope", "--python", sys.executable)
    assert code == 1 and "not complete" in answer["error"]
    code, answer = agent.run("prepare", "--release", "x-v1-abc", stdin=b"{not json")
    assert code == 1 and "not JSON" in answer["error"]
    code, answer = agent.run("prepare", "--release", "../evil", stdin=b"{}")
    assert code == 1 and "not valid" in answer["error"]


def test_probe_reports_this_python(make_agent: Callable[[], Agent]) -> None:
    from importlib import metadata

    agent = make_agent()
    probe = agent.ok("probe")
    assert probe["python"]["executable"] == sys.executable
    assert probe["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert probe["packages"]["numpy"] == metadata.version("numpy")
    assert probe["packages"]["scikit-learn"] == metadata.version("scikit-learn")
    assert probe["free_bytes"] > 0 and probe["root_exists"] is False
    assert probe["systemd"] is os.path.isdir("/run/systemd/system")
    assert probe["venv"] is True and probe["current"] is None
    assert probe["platform"]["system"] == "Linux"
    status = agent.ok("status")
    assert status["current"] is None and status["server"] is None
    assert not agent.root.exists()  # looking changes nothing


def test_probe_caches_package_versions_until_a_package_folder_changes(
        make_agent: Callable[[], Agent], tmp_path: Path) -> None:
    agent = make_agent()
    (agent.root / ".modeldeck").mkdir(parents=True)
    site = tmp_path / "site"
    site.mkdir()
    env = {"PYTHONPATH": str(site)}
    first = agent.ok("probe", env=env)
    assert (agent.root / ".modeldeck" / "probe-cache.json").is_file()
    assert agent.ok("probe", env=env)["packages"] == first["packages"]
    # "pip install waitress==99.0" into a folder on the path: the cache no longer holds
    dist = site / "waitress-99.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: waitress\nVersion: 99.0\n")
    assert agent.ok("probe", env=env)["packages"]["waitress"] == "99.0"


def test_systemd_unit_text(make_agent: Callable[[], Agent]) -> None:
    agent = make_agent()
    unit = agent.ok("unit", "--python", "/opt/env/bin/python", "--bind", "0.0.0.0",
                    "--port", "9123")
    root = str(agent.root.resolve())
    assert unit["name"] == "modeldeck-9123.service"
    assert Path(unit["path"]) == agent.root.resolve() / "run" / "modeldeck-9123.service"
    text = Path(unit["path"]).read_text()
    assert text == unit["text"]
    assert (f"ExecStart=/opt/env/bin/python -m modeldeck.core.runtime serve {root}/current "
            f"--host 0.0.0.0 --port 9123 --state-dir {root}/state\n") in text
    assert f"WorkingDirectory={root}/current\n" in text
    assert f"Environment=PYTHONPATH={root}/current/code\n" in text
    assert "Restart=on-failure\n" in text and "[Install]" in text


def test_verify_catches_tampered_missing_and_extra_files(
        make_agent: Callable[[], Agent], built: dict[str, Path]) -> None:
    agent = make_agent()
    folder = built["a"]
    rid = release_id(folder)
    prep = agent.ok("prepare", "--release", rid, stdin=(folder / "manifest.json").read_bytes())
    assert prep["exists"] is False and prep["linked"] == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(prep["missing"]) == sorted(manifest["files"])
    partial = agent.root / "releases" / f"{rid}.partial"
    for rel in prep["missing"]:
        shutil.copy2(folder / rel, partial / rel)

    (partial / "model" / "model.skops").write_bytes(b"tampered")
    (partial / "code" / "extra.py").write_text("print('hi')\n")
    (partial / "bin" / "serve").unlink()
    pycache = partial / "code" / "modeldeck" / "__pycache__"
    pycache.mkdir()
    (pycache / "x.pyc").write_bytes(b"ignored")
    code, answer = agent.run("verify", "--release", rid)
    assert code == 1
    problems = answer["problems"]
    assert "model/model.skops differs from the release (sha256 mismatch)" in problems
    assert "code/extra.py is not part of the release" in problems
    assert "bin/serve is missing" in problems
    assert len(problems) == 3, problems

    shutil.copy2(folder / "model" / "model.skops", partial / "model" / "model.skops")
    shutil.copy2(folder / "bin" / "serve", partial / "bin" / "serve")
    (partial / "code" / "extra.py").unlink()
    assert agent.ok("verify", "--release", rid) == {
        "ok": True, "release": rid, "files": len(manifest["files"]),
        "bytes": sum((folder / r).stat().st_size for r in manifest["files"]),
        "complete": False}

    # a manifest changed after the build no longer matches its id
    changed = dict(manifest, model=dict(manifest["model"], version=99))
    (partial / "manifest.json").write_text(json.dumps(changed))
    code, answer = agent.run("verify", "--release", rid)
    assert code == 1 and any("changed after the release was built" in p
                             for p in answer["problems"])
    shutil.copy2(folder / "manifest.json", partial / "manifest.json")

    assert agent.ok("commit", "--release", rid)["renamed"] is True
    assert agent.ok("commit", "--release", rid)["renamed"] is False
    assert agent.ok("verify", "--release", rid)["complete"] is True
    again = agent.ok("prepare", "--release", rid, stdin=(folder / "manifest.json").read_bytes())
    assert again["exists"] is True and again["missing"] == []


def _wheel(folder: Path, name: str = "mdagent_probe", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": "VALUE = 42\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    with zipfile.ZipFile(path, "w") as zf:
        for arc, text in files.items():
            zf.writestr(arc, text)
        zf.writestr(f"{dist}/RECORD", "".join(f"{a},,\n" for a in files) + f"{dist}/RECORD,,\n")
    return path


def test_wheelhouse_and_install_env(make_agent: Callable[[], Agent], tmp_path: Path) -> None:
    import hashlib

    agent = make_agent()
    wheel = _wheel(tmp_path)
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    request = json.dumps({"files": {wheel.name: sha}}).encode()
    assert agent.ok("prepare-wheels", stdin=request)["missing"] == [wheel.name]
    house = agent.root / "wheelhouse"
    (house / wheel.name).write_bytes(b"truncated")
    code, answer = agent.run("verify-wheels", stdin=request)
    assert code == 1 and "differs" in answer["problems"][0]
    assert not (house / wheel.name).exists()  # the bad upload is gone
    shutil.copy2(wheel, house / wheel.name)
    assert agent.ok("verify-wheels", stdin=request) == {"ok": True, "files": 1, "hashed": 1}
    assert json.loads((house / "index.json").read_text())["files"][wheel.name]["sha256"] == sha
    assert agent.ok("prepare-wheels", stdin=request)["missing"] == []

    req = agent.root / "req-h1.txt"
    req.write_text("mdagent_probe==1.0\n")
    env = agent.ok("install-env", "--hash", "h1", "--requirements-file", str(req))
    assert env["reused"] is False
    python = Path(env["python"])
    assert python == agent.root.resolve() / "envs" / "h1" / "bin" / "python"
    assert (python.parent.parent / ".complete").is_file()
    assert not (agent.root / "envs" / "h1.partial").exists()
    out = subprocess.run([str(python), "-c", "import mdagent_probe; print(mdagent_probe.VALUE)"],
                         capture_output=True, check=True)
    assert out.stdout.strip() == b"42"
    assert agent.ok("install-env", "--hash", "h1", "--requirements-file", str(req))[
        "reused"] is True

    req.write_text("not_in_the_wheelhouse==1\n")
    code, answer = agent.run("install-env", "--hash", "h2", "--requirements-file", str(req))
    assert code == 1 and "pip install --no-index" in answer["error"]
    assert not (agent.root / "envs" / "h2").exists()
    assert not (agent.root / "envs" / "h2.partial").exists()


def _pinned(root: Path, original: str | None, *options: str, stdin: bytes = b""
            ) -> tuple[int, dict[str, Any]]:
    """The agent as a deploy key's forced command, asked ``original`` by the client."""
    env = {k: v for k, v in os.environ.items() if k != "SSH_ORIGINAL_COMMAND"}
    if original is not None:
        env["SSH_ORIGINAL_COMMAND"] = original
    done = subprocess.run([sys.executable, str(AGENT), "--pinned", "--root", str(root),
                           *options], input=stdin, capture_output=True, env=env, timeout=180)
    [line] = done.stdout.decode().splitlines()
    return done.returncode, json.loads(line)


def test_a_pinned_agent_runs_only_its_own_calls_with_its_admins_settings(
        tmp_path: Path) -> None:
    import hashlib

    root, house, signers = tmp_path / "root", tmp_path / "wheels", tmp_path / "signers"
    house.mkdir()
    _wheel(house)
    options = ("--allowed-signers", str(signers), "--wheelhouse", str(house))
    digest = hashlib.sha256(AGENT.read_bytes()).hexdigest()
    for original in (None, "sh -c 'touch owned'", "modeldeck-agent --root /tmp probe",
                     "internal-sftp", "modeldeck-agent nonsense"):
        code, hello = _pinned(root, original, *options)
        assert code == 2 and hello["pinned"] is True, (original, hello)
        assert hello["agent_sha256"] == digest and hello["root"] == str(root.resolve())
    assert not (tmp_path / "owned").exists()
    code, probe = _pinned(root, "modeldeck-agent probe", *options)
    assert code == 0 and probe["pinned"] and probe["requires_signatures"], probe
    assert probe["pinned_wheelhouse"] == str(house)
    code, bad = _pinned(root, "modeldeck-agent probe --root /tmp", *options)
    assert code == 1 and "bad usage" in bad["error"]

    # environments: requirements on stdin, name==version only, wheels from the admin's
    code, refused = _pinned(root, "modeldeck-agent install-env --hash h1 "
                                  "--requirements-file /etc/passwd", *options)
    assert code == 1 and "on stdin only" in refused["error"]
    code, refused = _pinned(root, "modeldeck-agent install-env --hash h1 --requirements-file -",
                            *options, stdin=b"--find-links /tmp\nmdagent_probe==1.0\n")
    assert code == 1 and "only name==version" in refused["error"]
    code, refused = _pinned(root, "modeldeck-agent verify-wheels", *options,
                            stdin=b'{"files": {}}')
    assert code == 1 and "takes no wheels from the desktop" in refused["error"]
    # the admin's Python or environments it installed itself (the deploy over SSH installs
    # one: tests/deploy/test_deploy_pinned.py); faults are not taken
    for python in ("/bin/sh", str(root / "envs" / "h2" / "bin" / "python")):
        code, refused = _pinned(root, f"modeldeck-agent restart --python {python}", *options)
        assert code == 1 and "runs only" in refused["error"], refused
    code, answer = _pinned(root, f"modeldeck-agent restart --python {sys.executable}",
                           *options)
    assert code == 1 and "no release is current" in answer["error"], answer
    code, refused = _pinned(root, "modeldeck-agent --fault after-lock lock --owner {}",
                            *options)
    assert code == 2


def test_receive_takes_only_the_files_of_the_upload(make_agent: Callable[[], Agent],
                                                    built: dict[str, Path]) -> None:
    agent = make_agent()
    folder = built["a"]
    rid = release_id(folder)
    code, refused = agent.run("receive", "--release", rid, stdin=b"")
    assert code == 1 and "no upload of release" in refused["error"]
    missing = agent.ok("prepare", "--release", rid,
                       stdin=(folder / "manifest.json").read_bytes())["missing"]

    def frames(*names: str, data: bytes | None = None) -> bytes:
        out = b""
        for name in names:
            body = (folder / name).read_bytes() if data is None else data
            out += json.dumps({"path": name, "size": len(body), "mode": 0o644}).encode()
            out += b"\n" + body
        return out + b"\n"

    code, refused = agent.run("receive", "--release", rid, stdin=frames("../evil", data=b"x"))
    assert code == 1 and "unsafe path" in refused["error"]
    code, refused = agent.run("receive", "--release", rid, stdin=frames("code/extra.py",
                                                                         data=b"x"))
    assert code == 1 and "not a file of release" in refused["error"]
    truncated = frames(missing[0])[:-40]
    code, refused = agent.run("receive", "--release", rid, stdin=truncated)
    assert code == 1 and "ended after" in refused["error"]
    got = agent.ok("receive", "--release", rid, stdin=frames(*missing))
    assert got["files"] == len(missing)
    assert agent.ok("stage", "--release", rid)["files"] > 0


# -- with servers ----------------------------------------------------------------------------

def test_deploy_redeploy_hard_links_status_fetch_prune(
        make_agent: Callable[[], Agent], built: dict[str, Path]) -> None:
    agent = make_agent()
    a, b, c = (release_id(built[k]) for k in "abc")
    first = agent.upload(built["a"])
    assert first["linked"] == 0
    code, journal = agent.activate(a)
    assert code == 0, journal
    assert journal["ok"] is True and journal["outcome"] == "ok"
    assert journal["release"] == a and journal["previous"] is None and journal["error"] is None
    assert journal["running"] == a
    assert set(journal["timings"]) == {"switch", "stop", "start", "ready", "smoke"}
    assert len(journal["smoke"]["prediction"]) >= 1
    assert os.readlink(agent.root / "current") == f"releases/{a}"
    assert agent.get("/ready")[0] == 200

    status = agent.ok("status")
    assert status["current"] == a and status["ready"] is True
    assert status["model"] == {"name": "breast-cancer", "version": 1}
    server = status["server"]
    assert server["alive"] is True and server["release"] == a and server["port"] == agent.port
    assert server["bind"] == "127.0.0.1" and server["python"] == sys.executable
    assert status["releases"] == [a] and status["partials"] == []
    assert status["history"][-1]["release"] == a and status["history"][-1]["outcome"] == "ok"
    assert status["activation"]["state"] == "done" and status["activation"]["stale"] is False
    run = agent.root / "run"
    pid = int((run / "server.pid").read_text())
    assert pid == server["pid"]
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert str(agent.root.resolve() / "releases" / a).encode() in cmdline

    # the second release: files already on the host are hard-linked, not sent again
    second = agent.upload(built["b"])
    assert second["linked"] > 0 and second["linked_bytes"] > 0
    assert len(second["missing"]) + second["linked"] == second["files"]
    assert "model/model.skops" in second["missing"]  # another version: another artifact
    shared = "code/modeldeck/core/runtime/app.py"
    assert shared not in second["missing"]
    assert ((agent.root / "releases" / a / shared).stat().st_ino
            == (agent.root / "releases" / b / shared).stat().st_ino)
    code, journal = agent.activate(b)
    assert code == 0, journal
    assert journal["outcome"] == "ok" and journal["previous"] == a
    assert agent.get("/ready")[0] == 401  # b wants its token
    assert agent.get("/ready", TOKEN)[0] == 200
    assert not _alive(pid)  # a's server was stopped

    fetched = agent.ok("fetch", "--path", "/v1/model")
    assert fetched["status"] == 200 and fetched["body"]["release"] == b
    status = agent.ok("status")
    assert status["current"] == b and status["previous"] == a and status["ready"] is True

    # activating what already serves changes nothing
    code, journal = agent.activate(b)
    assert code == 0 and journal["unchanged"] is True and journal["steps"] == ["smoke"]

    # prune keeps current and previous whatever --keep says, and drops partial uploads
    third = agent.upload(built["c"])
    assert "model/model.skops" not in third["missing"]  # same artifact as b
    junk = agent.root / "releases" / "junk-v1-000000000000.partial"
    junk.mkdir()
    pruned = agent.ok("prune", "--keep", "0")
    assert pruned["removed"] == [c]
    assert pruned["partials_removed"] == ["junk-v1-000000000000"]
    assert sorted(pruned["kept"]) == sorted([a, b])
    assert sorted(agent.ok("status")["releases"]) == sorted([a, b])
    assert (agent.root / "releases" / b / "model" / "model.skops").is_file()

    stopped = agent.ok("stop")
    assert stopped["stopped"] and agent.ok("status")["server"]["alive"] is False
    restarted = agent.ok("restart")
    assert restarted["release"] == b and agent.get("/ready", TOKEN)[0] == 200


def test_the_compound_calls_a_deploy_and_a_rollback_use(
        make_agent: Callable[[], Agent], built: dict[str, Path]) -> None:
    """begin (lock + probe + status), stage (verify + commit), finish (activate + prune +
    unlock) and rollback (lock + activate the previous release + unlock), run the way the
    deployer runs them: imported, with the bytecode cached beside the agent."""
    agent = make_agent()
    meta = agent.root / ".modeldeck"
    meta.mkdir(parents=True)
    shutil.copy2(AGENT, meta / "agent.py")
    from modeldeck.core.deploy.session import agent_boot

    boot = agent_boot()

    def call(*args: str, stdin: bytes = b"") -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-c", boot, str(meta), "--root",
                               str(agent.root), *args], input=stdin, capture_output=True,
                              timeout=180)
        answer = json.loads(done.stdout)
        assert done.returncode == 0 and not answer.get("error"), answer
        return answer

    owner = json.dumps({"who": "carol", "where": "ci", "pid": 1, "operation": "deploy"})
    a, b = release_id(built["a"]), release_id(built["b"])
    for rid, folder in ((a, built["a"]), (b, built["b"])):
        begun = call("begin", "--owner", owner)
        assert begun["probe"]["python"]["executable"] == sys.executable
        assert begun["status"]["ready"] is False  # begin never asks the server
        assert (meta / "lock").is_dir()
        prepared = call("prepare", "--release", rid, stdin=(folder / "manifest.json")
                        .read_bytes())
        for rel in prepared["missing"]:
            shutil.copy2(folder / rel, agent.root / "releases" / f"{rid}.partial" / rel)
        staged = call("stage", "--release", rid)
        assert staged["renamed"] is True and staged["release"] == rid
        finished = call("finish", "--release", rid, "--python", sys.executable,
                        "--port", str(agent.port), "--token", begun["token"], "--keep", "1")
        assert finished["outcome"] == "ok" and finished["running"] == rid, finished
        assert finished["unlocked"] is True and not (meta / "lock").exists()
        assert finished["pruned"]["removed"] == []  # current and previous are always kept
    assert list((meta / "__pycache__").glob("agent.*.pyc")), "the bytecode is cached"
    assert agent.get("/ready", TOKEN)[0] == 200

    back = call("rollback", "--owner", owner, "--port", str(agent.port))
    assert back["outcome"] == "ok" and back["target"] == a and back["previous"] == b
    assert os.readlink(agent.root / "current") == f"releases/{a}"
    assert agent.get("/ready")[0] == 200 and not (meta / "lock").exists()
    assert agent.ok("status")["history"][-1]["action"] == "rollback"
    # a rollback to a release the host lacks is refused, and the lock is freed
    code, refused = agent.run("rollback", "--owner", owner, "--to", "nope-v1-000000000000")
    assert code == 1 and "does not have release nope-v1-000000000000" in refused["error"]
    assert not (meta / "lock").exists()


def test_a_host_that_requires_signatures_switches_only_to_signed_releases(
        make_agent: Callable[[], Agent], built: dict[str, Path], tmp_path: Path) -> None:
    """With an allowed-signers file on the host, activate verifies the release manifest's
    signatures with ssh-keygen before switching: unsigned or wrongly signed → refused, the
    host stays as it was; signed by an allowed reviewer → switched."""
    from modeldeck.core.release import signing

    agent = make_agent()
    a = release_id(built["a"])
    agent.upload(built["a"])
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("bob", "mallory"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                        str(keys / name)], check=True)
    meta = agent.root / ".modeldeck"
    meta.mkdir(exist_ok=True)
    (meta / "allowed_signers").write_text(
        f"bob {(keys / 'bob.pub').read_text().split()[0]} "
        f"{(keys / 'bob.pub').read_text().split()[1]}\n")
    message = signing.manifest_message(built["a"] / "manifest.json")

    def sign(key: str) -> str:
        (tmp_path / "message").write_bytes(message)
        (tmp_path / "message.sig").unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(keys / key), "-n",
                        signing.NAMESPACE, str(tmp_path / "message")], check=True)
        return (tmp_path / "message.sig").read_text()

    code, refused = agent.activate(a)
    assert code == 1 and "only runs approved releases" in refused["error"], refused
    assert "no signature" in refused["error"] and not (agent.root / "current").exists()
    # mallory signs as bob: her key is not bob's
    staged = agent.ok("stage", "--release", a,
                      stdin=json.dumps({"signatures": {"bob": sign("mallory")}}).encode())
    assert staged["signatures"] == ["bob"]
    code, refused = agent.activate(a)
    assert code == 1 and "signed by: bob" in refused["error"], refused
    # the host's copy came from another build (built_at differs): its bytes are not the
    # signed ones until the signed manifest is sent along — and only a true twin is taken
    on_host = agent.root / "releases" / a / "manifest.json"
    twin = json.loads(on_host.read_text())
    twin["built_at"] = "2020-01-01T00:00:00+00:00"
    on_host.write_text(json.dumps(twin))
    signed = (built["a"] / "manifest.json").read_text()
    agent.ok("stage", "--release", a,
             stdin=json.dumps({"signatures": {"bob": sign("bob")}}).encode())
    code, refused = agent.activate(a)
    assert code == 1 and "signed by: bob" in refused["error"], refused
    forged = json.loads(signed)
    forged["files"]["model/model.skops"] = "0" * 64
    code, bad = agent.run("stage", "--release", a, stdin=json.dumps(
        {"signatures": {"bob": sign("bob")}, "manifest": json.dumps(forged)}).encode())
    assert code == 1 and "not a manifest of it" in bad["error"], bad
    agent.ok("stage", "--release", a, stdin=json.dumps(
        {"signatures": {"bob": sign("bob")}, "manifest": signed}).encode())
    assert on_host.read_text() == signed
    code, journal = agent.activate(a)
    assert code == 0 and journal["outcome"] == "ok" and journal["signed_by"] == ["bob"]
    code, bad = agent.run("stage", "--release", a,
                          stdin=json.dumps({"signatures": {"../x": "nope"}}).encode())
    assert code == 1 and "reviewer name" in bad["error"]


def test_the_agent_checks_the_namespace_reviewers_sign_in() -> None:
    from modeldeck.core.deploy import agent
    from modeldeck.core.release import signing

    assert agent.SIGNATURE_NAMESPACE == signing.NAMESPACE


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def test_a_failing_release_rolls_back(make_agent: Callable[[], Agent],
                                      built: dict[str, Path]) -> None:
    agent = make_agent()
    a, c = release_id(built["a"]), release_id(built["c"])
    agent.upload(built["a"])
    assert agent.activate(a)[0] == 0
    agent.upload(built["c"])
    corrupt(agent.root / "releases" / c / "model" / "model.skops")

    code, journal = agent.activate(c)
    assert code == 0  # the transaction ran to its end; its outcome says how
    assert journal["outcome"] == "rolled-back" and journal["ok"] is False
    assert journal["running"] == a
    assert journal["release"] == c and journal["previous"] == a
    assert "self-check" in journal["error"] and journal["fix"]
    assert journal["failed_step"] == "ready"
    assert "starting " + c in journal["log_tail"]
    assert os.readlink(agent.root / "current") == f"releases/{a}"
    assert agent.get("/ready")[0] == 200 and agent.get("/ready")[1]["release"] == a
    status = agent.ok("status")
    assert status["current"] == a and status["server"]["release"] == a and status["ready"]
    assert status["history"][-1]["outcome"] == "rolled-back"


def test_a_server_that_exits_at_once_is_reported_at_once(
        make_agent: Callable[[], Agent], built: dict[str, Path]) -> None:
    agent = make_agent()
    a, c = release_id(built["a"]), release_id(built["c"])
    agent.upload(built["a"])
    agent.upload(built["c"])
    assert agent.activate(a)[0] == 0
    # bad settings: the server exits before it listens; the log says why
    config = agent.root / "releases" / c / "config.json"
    config.unlink()
    config.write_text(json.dumps({"threads": 0}))
    code, journal = agent.activate(c)
    assert code == 0 and journal["outcome"] == "rolled-back"
    assert "exited" in journal["error"] and "threads" in journal["log_tail"]
    assert journal["failed_step"] == "ready"
    assert journal["timings"]["ready"] < 30  # not the 60 s ready timeout
    assert agent.get("/ready")[1]["release"] == a


def test_a_failing_first_release_leaves_no_current(make_agent: Callable[[], Agent],
                                                   built: dict[str, Path]) -> None:
    agent = make_agent()
    c = release_id(built["c"])
    agent.upload(built["c"])
    corrupt(agent.root / "releases" / c / "model" / "model.skops")
    code, journal = agent.activate(c)
    assert code == 0 and journal["outcome"] == "failed" and journal["previous"] is None
    assert journal["running"] is None and journal["fix"]
    assert not os.path.lexists(agent.root / "current")
    status = agent.ok("status")
    assert status["current"] is None and status["server"]["alive"] is False
    assert _pids_under(agent.root) == []


def test_a_crash_mid_activation_is_recovered(make_agent: Callable[[], Agent],
                                             built: dict[str, Path]) -> None:
    agent = make_agent()
    a, b, c = (release_id(built[k]) for k in "abc")
    for key in "abc":
        agent.upload(built[key])
    assert agent.activate(a)[0] == 0
    old_pid = agent.ok("status")["server"]["pid"]

    # the host "crashes" right after switching current: the old server still runs
    code, answer = agent.activate(b, env={"MODELDECK_AGENT_FAULT": "after-switch"})
    assert code == 1 and "worker died" in answer["error"] and "recover" in answer["fix"]
    assert answer["journal"]["steps"] == ["switch"]
    status = agent.ok("status")
    assert status["current"] == b and status["server"]["release"] == a
    assert status["activation"]["stale"] is True and status["activation"]["state"] == "running"
    assert agent.ok("journal")["stale"] is True
    recovered = agent.ok("recover")
    assert recovered["recovered"] is True and recovered["outcome"] == "ok"
    assert recovered["release"] == b and recovered["current"] == b
    assert not _alive(old_pid)
    assert agent.get("/ready", TOKEN)[1]["release"] == b
    assert agent.ok("journal")["state"] == "done"
    assert agent.ok("recover")["recovered"] is False  # nothing left to do

    # a crash with a stale journal is recovered by the next activate before it runs
    code, answer = agent.activate(a, env={"MODELDECK_AGENT_FAULT": "after-start"})
    assert code == 1 and answer["journal"]["steps"] == ["switch", "stop", "start"]
    code, journal = agent.activate(a)
    assert code == 0, journal
    assert journal["recovered_stale"]["outcome"] == "ok"  # a was started and is fine
    assert journal["outcome"] == "ok" and agent.get("/ready")[1]["release"] == a


def test_a_crash_on_the_way_to_a_broken_release_recovers_to_the_previous(
        make_agent: Callable[[], Agent], built: dict[str, Path]) -> None:
    agent = make_agent()
    a, c = release_id(built["a"]), release_id(built["c"])
    agent.upload(built["a"])
    agent.upload(built["c"])
    assert agent.activate(a)[0] == 0
    corrupt(agent.root / "releases" / c / "model" / "model.skops")
    # the host "crashes" after stopping the old server: nothing serves until recover
    code, answer = agent.activate(c, env={"MODELDECK_AGENT_FAULT": "after-stop"})
    assert code == 1 and answer["journal"]["steps"] == ["switch", "stop"]
    assert agent.ok("status")["server"]["alive"] is False
    recovered = agent.ok("recover")
    assert recovered["outcome"] == "rolled-back" and recovered["current"] == a
    assert recovered["journal"]["running"] == a and c in recovered["detail"]
    assert os.readlink(agent.root / "current") == f"releases/{a}"
    assert agent.get("/ready")[1]["release"] == a


def test_the_worker_finishes_when_its_parent_dies(make_agent: Callable[[], Agent],
                                                  built: dict[str, Path]) -> None:
    agent = make_agent()
    a = release_id(built["a"])
    agent.upload(built["a"])
    code, answer = agent.activate(a, env={"MODELDECK_AGENT_FAULT": "parent-after-spawn"})
    assert code == 99 and "_stderr" in answer  # the SSH side died without an answer
    journal = agent.ok("journal", "--wait", "90")
    assert journal["state"] == "done" and journal["outcome"] == "ok", journal
    assert journal["stale"] is False and journal["worker_alive"] is False
    assert agent.get("/ready")[0] == 200

    code, answer = agent.activate(a, "--detach")
    assert code == 0 and answer["state"] == "running"
    assert agent.ok("journal", "--wait", "90")["id"] == answer["id"]
