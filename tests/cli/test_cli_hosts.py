"""`modeldeck hosts ...`: list, add, show, edit, rm, import and history, text and --json."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import as_json, ok, user_error

from modeldeck.core.cli_hosts import _SYSTEMD


@pytest.fixture
def ws(invoke, tmp_path: Path) -> Path:
    """An empty workspace (carol is its admin) with alice as data scientist."""
    path = tmp_path / "ws"
    ok(invoke("init", ws=path))
    ok(invoke("users", "add", "alice", "--role", "data-scientist", ws=path))
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    (folder / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(folder))
    return folder


def test_systemd_choices_match_core():
    from modeldeck.core.deploy.hosts import SYSTEMD_MODES

    assert tuple(_SYSTEMD) == SYSTEMD_MODES


def test_no_hosts_yet(invoke, ws):
    for args in (("hosts",), ("hosts", "list")):
        result = ok(invoke(*args, ws=ws))
        assert "No hosts yet" in result.stdout and "hosts import --ssh-config" in result.stdout
    assert as_json(invoke("hosts", "--json", ws=ws)) == []
    assert "No host is in group 'web'" in ok(invoke("hosts", "list", "-g", "web", ws=ws)).stdout


def test_add_list_show_edit_rm(invoke, ws, tmp_path):
    result = ok(invoke("hosts", "add", "web1", "--hostname", "10.0.0.11", "--user", "deploy",
                       "--group", "web", "-g", "canary", "--label", "rack=b2", ws=ws))
    assert result.stdout == "Added host web1 (deploy@10.0.0.11, root ~/modeldeck).\n"
    ok(invoke("hosts", "add", "bastion", "-H", "203.0.113.10", "-p", "2200", ws=ws))
    added = as_json(invoke("hosts", "add", "web2", "-J", "bastion", "--root", "/srv/md",
                           "--python", "/usr/bin/python3.11", "--serve-port", "9000",
                           "--systemd", "auto", "--json", ws=ws))
    assert added["hostname"] == "web2"  # defaults to the name, like an ssh alias
    assert (added["proxy_jump"], added["root"], added["serve_port"], added["systemd"]) == (
        "bastion", "/srv/md", 9000, "auto")
    local = ok(invoke("hosts", "add", "laptop", "--local", str(tmp_path / "deploys"), ws=ws))
    assert f"folder {tmp_path / 'deploys'}" in local.stdout

    table = ok(invoke("hosts", ws=ws)).stdout.splitlines()
    assert table[0].split() == ["NAME", "ADDRESS", "VIA", "ROOT", "PYTHON", "GROUPS", "LABELS"]
    assert [line.split()[0] for line in table[1:]] == ["bastion", "laptop", "web1", "web2"]
    assert "203.0.113.10:2200" in table[1] and "local" in table[2]
    assert "canary,web" in table[3] and "rack=b2" in table[3]
    assert [h["name"] for h in as_json(invoke("hosts", "list", "--group", "web", "--json",
                                              ws=ws))] == ["web1"]

    shown = ok(invoke("hosts", "show", "web2", ws=ws)).stdout
    assert shown.startswith("web2  web2\n")
    assert "proxy jump     bastion" in shown and "(ssh-agent, default keys)" in shown
    assert as_json(invoke("hosts", "show", "web2", "--json", ws=ws))["host"]["name"] == "web2"

    edited = ok(invoke("hosts", "edit", "web1", "--port", "2222", "--ungroup", "canary",
                       "--unlabel", "rack", "--label", "zone=eu", ws=ws)).stdout
    assert edited == ("Updated host web1: port 22 → 2222; groups [canary, web] → [web]; "
                      "labels {rack=b2} → {zone=eu}.\n")
    assert "nothing changed" in ok(invoke("hosts", "edit", "web1", "--port", "2222",
                                          ws=ws)).stdout
    renamed = as_json(invoke("hosts", "edit", "bastion", "--rename", "jump", "--json", ws=ws))
    assert renamed["name"] == "jump"
    assert as_json(invoke("hosts", "show", "web2", "--json", ws=ws))["host"]["proxy_jump"] \
        == "jump"
    to_ssh = as_json(invoke("hosts", "edit", "laptop", "-H", "127.0.0.1", "--json", ws=ws))
    assert to_ssh["transport"] == "ssh" and to_ssh["root"] == str(tmp_path / "deploys")

    user_error(invoke("hosts", "rm", "jump", ws=ws), "proxy jump of web2")
    user_error(invoke("hosts", "rm", "web2", "nope", ws=ws), "no host named 'nope'")
    removed = ok(invoke("hosts", "rm", "web2", "jump", ws=ws)).stdout
    assert removed.splitlines() == ["Removed host web2 (web2); its history is kept.",
                                    "Removed host jump (203.0.113.10:2200); its history is "
                                    "kept."]
    actions = [row["action"] for row in as_json(invoke("audit", "log", "--json", ws=ws))]
    assert actions[:7] == ["host.remove", "host.remove", "host.update", "host.update",
                           "host.update", "host.add", "host.add"]


@pytest.mark.parametrize("args, fragments", [
    (("add", "web1", "--hostname", "deploy@10.0.0.1"), ("contains a user name", "--user")),
    (("add", "web1", "--hostname", "10.0.0.1:22"), ("--port",)),
    (("add", "web 1"), ("not a valid host name",)),
    (("add", "web1", "--port", "0"), ("port 0 is out of range",)),
    (("add", "web1", "-H", "h", "--local", "/tmp/x"), ("not both",)),
    (("add", "web1", "--local", "relative"), ("absolute folder",)),
    (("add", "web1", "--label", "nokey"), ("key=value",)),
    (("edit", "web"), ("no host named 'web'", "did you mean 'web1'?")),
    (("edit", "web1"), ("nothing to change",)),
    (("edit", "web1", "--ungroup", "db"), ("not in group db",)),
    (("add", "web1"), ("exists already", "hosts edit web1")),
    (("show", "wbe1"), ("did you mean 'web1'?",)),
    (("history", "nope"), ("no host named 'nope'",)),
    (("import",), ("--ssh-config FILE or --ansible-inventory FILE",)),
    (("import", "--ssh-config", "/nonexistent/config"), ("cannot read /nonexistent/config",)),
])
def test_errors_are_one_line(invoke, ws, args, fragments):
    ok(invoke("hosts", "add", "web1", "-H", "10.0.0.11", ws=ws))
    user_error(invoke("hosts", *args, ws=ws), *fragments)


def test_data_scientists_cannot_change_hosts(invoke, ws):
    ok(invoke("hosts", "add", "web1", "-H", "10.0.0.11", ws=ws))
    alice = {"MODELDECK_USER": "alice"}
    assert ok(invoke("hosts", ws=ws, env=alice)).stdout.startswith("NAME")
    for args in (("add", "web2", "-H", "h"), ("edit", "web1", "--port", "2"),
                 ("rm", "web1")):
        user_error(invoke("hosts", *args, ws=ws, env=alice),
                   "role 'data-scientist', which may not add, change or trust hosts")


SSH_CONFIG = """\
Host bastion
    HostName 203.0.113.10
    User jump

Host web1 web2
    HostName %h.example.com
    ProxyJump bastion
    IdentityFile ~/.ssh/id_deploy

Host web* *.example.com
    Port 2222

Host *
    User deploy
"""


def test_import_ssh_config(invoke, ws, tmp_path, home):
    config = tmp_path / "ssh_config"
    config.write_text(SSH_CONFIG)
    ok(invoke("hosts", "add", "web1", "-H", "old.example.com", ws=ws))
    dry = ok(invoke("hosts", "import", "--ssh-config", config, "--dry-run", ws=ws)).stdout
    assert dry.startswith(f"Would import from {config}: 2 added, 0 updated, 1 skipped.")
    assert "  added: bastion, web2\n  skipped: web1\n" in dry
    assert "--replace overwrites" in dry
    assert len(as_json(invoke("hosts", "--json", ws=ws))) == 1  # a dry run changes nothing

    done = ok(invoke("hosts", "import", "--ssh-config", config, "--group", "prod",
                     ws=ws)).stdout
    assert done.startswith(f"Imported from {config}: 2 added, 0 updated, 1 skipped.")
    hosts = {h["name"]: h for h in as_json(invoke("hosts", "--json", ws=ws))}
    assert hosts["web1"]["hostname"] == "old.example.com"
    web2 = hosts["web2"]
    assert (web2["hostname"], web2["port"], web2["user"], web2["proxy_jump"]) == (
        "web2.example.com", 2222, "deploy", "bastion")
    assert web2["identity_file"] == str(home / ".ssh" / "id_deploy")
    assert web2["groups"] == ["prod"]
    assert hosts["bastion"]["user"] == "jump" and hosts["bastion"]["port"] == 22

    replaced = as_json(invoke("hosts", "import", "--ssh-config", config, "--replace",
                              "--group", "prod", "--json", ws=ws))
    assert (replaced["added"], replaced["updated"], replaced["skipped"]) == (
        [], ["web1"], ["bastion", "web2"])
    assert as_json(invoke("hosts", "show", "web1", "--json", ws=ws))["host"]["hostname"] \
        == "web1.example.com"
    audit = as_json(invoke("audit", "log", "--action", "host.import", "--json", ws=ws))
    assert [row["subject"] for row in audit] == [str(config), str(config)]


def test_import_ansible_inventories(invoke, ws, tmp_path):
    ini = tmp_path / "inventory.ini"
    ini.write_text("[web]\nweb[1:2] ansible_host=10.0.0.1\n\n[prod:children]\nweb\n\n"
                   "[prod:vars]\nansible_user=deploy\nmodeldeck_root=/srv/modeldeck\n")
    found = as_json(invoke("hosts", "import", "--ansible-inventory", ini, "--json", ws=ws))
    assert found["added"] == ["web1", "web2"]
    assert [(h["user"], h["root"], h["groups"]) for h in found["hosts"]] == [
        ("deploy", "/srv/modeldeck", ["prod", "web"])] * 2
    yml = tmp_path / "inventory.yml"
    yml.write_text("all:\n  children:\n    db:\n      hosts:\n        db1:\n"
                   "          ansible_host: 10.0.0.9\n          ansible_port: 2200\n")
    ok(invoke("hosts", "import", "--ansible-inventory", yml, ws=ws))
    db1 = as_json(invoke("hosts", "show", "db1", "--json", ws=ws))["host"]
    assert (db1["hostname"], db1["port"], db1["groups"]) == ("10.0.0.9", 2200, ["db"])
    bad = tmp_path / "bad.yml"
    bad.write_text("all:\n  hosts:\n    h1:\n      ansible_port: [1\n")
    user_error(invoke("hosts", "import", "--ansible-inventory", bad, ws=ws),
               f"{bad}:5: not valid YAML")


def test_history(invoke, ws):
    from modeldeck.core.deploy.hosts import finish_deployment, record_deployment
    from modeldeck.core.workspace import Workspace

    ok(invoke("hosts", "add", "web1", "-H", "10.0.0.11", ws=ws))
    assert ok(invoke("hosts", "history", ws=ws)).stdout == "No deployments yet.\n"
    assert ok(invoke("hosts", "history", "web1", ws=ws)).stdout == \
        "No deployments to web1 yet.\n"
    with Workspace.open(ws) as workspace:
        first = record_deployment(workspace, "web1", "deploy", "bc-v1-abc",
                                  model="breast-cancer", version=1, outcome="ok",
                                  bytes_sent=2_500_000,
                                  started_at="2026-01-01T10:00:00.000000Z",
                                  finished_at="2026-01-01T10:00:03.000000Z")
        second = record_deployment(workspace, "web1", "rollback", "bc-v0-xyz",
                                   previous_release="bc-v1-abc")
        finish_deployment(workspace, second, "failed",
                          detail={"error": "connection lost", "timings": {"switch": 0.1}})
    lines = ok(invoke("hosts", "history", "web1", ws=ws)).stdout.splitlines()
    assert lines[0].split()[:6] == ["ID", "STARTED", "(UTC)", "HOST", "ACTION", "MODEL"]
    assert lines[1].split()[0] == str(second) and "rollback" in lines[1]
    assert "failed" in lines[1] and "connection lost" in lines[1]
    assert "breast-cancer:1" in lines[2] and "3.0 s" in lines[2] and "2.5 MB" in lines[2]
    rows = as_json(invoke("hosts", "history", "--json", ws=ws))
    assert [r["id"] for r in rows] == [second, first]
    assert rows[1]["bytes_sent"] == 2_500_000 and rows[1]["outcome"] == "ok"
    limited = ok(invoke("hosts", "history", "-n", "1", ws=ws)).stdout
    assert "(the 1 newest; --limit 0 shows all)" in limited
    ok(invoke("hosts", "rm", "web1", ws=ws))
    assert len(as_json(invoke("hosts", "history", "web1", "--json", ws=ws))) == 2
    shown = ok(invoke("hosts", "history", "web1", ws=ws)).stdout
    assert "bc-v0-xyz" in shown


def test_pin_writes_the_kit_a_hosts_admin_installs(invoke, ws, tmp_path, ssh_key):
    from modeldeck.core.deploy.session import agent_source

    ok(invoke("hosts", "add", "edge", "-H", "10.0.0.5", "--user", "deploy", "--root",
              "/srv/md", ws=ws))
    user_error(invoke("hosts", "pin", "edge", "--out", str(tmp_path / "kit"), ws=ws),
               "no reviewer", "users set-key")
    key = ssh_key("bob")
    ok(invoke("users", "add", "bob", "--role", "reviewer", "--ssh-key",
              str(key.with_suffix(".pub")), ws=ws))
    user_error(invoke("hosts", "pin", "edge", "--out", str(tmp_path / "kit"), "--key",
                      str(key), ws=ws), "not an OpenSSH public key")
    done = ok(invoke("hosts", "pin", "edge", "--out", str(tmp_path / "kit"), ws=ws)).stdout
    assert "allowed_signers (bob)" in done and "deploy key is not known" in done
    kit = tmp_path / "kit"
    assert (kit / "agent.py").read_bytes() == agent_source()
    assert (kit / "allowed_signers").read_text().startswith('bob namespaces="modeldeck-release"')
    line = (kit / "authorized_keys.line").read_text()
    assert line.startswith('command="/usr/bin/python3 /opt/modeldeck/agent.py --pinned '
                           '--root /srv/md",restrict ')
    steps = (kit / "INSTALL.md").read_text()
    assert "install -m 644 allowed_signers /etc/modeldeck/allowed_signers" in steps
    assert "install -d -o deploy -m 755 /srv/md" in steps
    # the deploy key given: the line is whole; wheels go along for the host's venv
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "x-1.0-py3-none-any.whl").write_bytes(b"wheel")
    done = ok(invoke("hosts", "pin", "edge", "--out", str(kit), "--key",
                     str(key.with_suffix(".pub")), "--wheelhouse", str(wheels), ws=ws)).stdout
    assert "not known" not in done
    assert (kit / "authorized_keys.line").read_text().strip().endswith("bob")
    assert (kit / "wheelhouse" / "x-1.0-py3-none-any.whl").is_file()
    assert "/var/lib/modeldeck/wheelhouse" in (kit / "INSTALL.md").read_text()
