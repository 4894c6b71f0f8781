"""Hosts: the store, validation, audit and permissions, importers, deployment history."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from modeldeck.core.deploy.hosts import (
    Host,
    HostStatus,
    HostStore,
    ImportResult,
    deployments,
    finish_deployment,
    get_deployment,
    get_status,
    parse_ansible_inventory,
    parse_labels,
    parse_ssh_config,
    read_inventory_file,
    record_deployment,
    set_status,
    statuses,
)
from modeldeck.core.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from modeldeck.core.workspace import Workspace, _migrations


@pytest.fixture
def store(ws: Workspace) -> HostStore:
    return HostStore(ws)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private $HOME, so ``~`` expands predictably."""
    folder = tmp_path / "home"
    (folder / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(folder))
    return folder


def _web(name: str = "web1", **extra: object) -> Host:
    return Host(name=name, hostname="10.0.0.11", **extra)  # type: ignore[arg-type]


def _actions(ws: Workspace) -> list[str]:
    return [e.action for e in ws.audit_log(newest_first=False, limit=None)]


# -- the store -----------------------------------------------------------------------------


def test_add_get_list_remove_round_trip(ws: Workspace, store: HostStore) -> None:
    added = store.add(Host(name="web1", hostname="web1.example.com", port=2222, user="deploy",
                           groups=("web", "canary", "web"), labels={"rack": "b2"},
                           proxy_jump="bastion.example.com", python="/usr/bin/python3.11",
                           serve_port=9000, systemd="auto"))
    assert added.transport == "ssh" and added.root == "~/modeldeck"
    assert added.groups == ("canary", "web")  # sorted, no duplicates
    assert added.created_by == ws.identity.name and added.created_at.endswith("Z")
    assert added.address == "deploy@web1.example.com:2222"
    assert store.get("web1") == added
    store.add(Host(name="db1", hostname="10.0.0.20"))
    assert [h.name for h in store.list()] == ["db1", "web1"]
    assert [h.name for h in store.list(group="web")] == ["web1"]
    assert store.list(group="nope") == []
    assert store.groups() == {"canary": ["web1"], "web": ["web1"]}
    removed = store.remove("web1")
    assert removed == added
    assert store.names() == ["db1"]
    assert _actions(ws) == ["workspace.create", "host.add", "host.add", "host.remove"]
    remove_row = ws.audit_log(limit=1)[0]
    assert remove_row.subject == "web1" and remove_row.payload["hostname"] == "web1.example.com"
    assert ws.verify_audit().ok


def test_local_host_is_normalised(store: HostStore, home: Path) -> None:
    host = store.add(Host(name="laptop", transport="local", hostname="ignored", user="x",
                          root="~/md-local/", proxy_jump="bastion"))
    assert host.root == str(home / "md-local")
    assert (host.hostname, host.user, host.proxy_jump, host.port) == ("", "", "", 22)
    assert host.is_local and host.address == "local"


def test_ipv6_and_identity_file_are_normalised(store: HostStore, home: Path) -> None:
    host = store.add(Host(name="v6", hostname="[2001:db8::5]", identity_file="~/.ssh/id_x"))
    assert host.hostname == "2001:db8::5"
    assert host.address == "[2001:db8::5]"
    assert host.identity_file == str(home / ".ssh" / "id_x")


@pytest.mark.parametrize("host, fragment", [
    (Host(name="bad name", hostname="h"), "not a valid host name"),
    (Host(name="-x", hostname="h"), "not a valid host name"),
    (Host(name="web1"), "needs a hostname"),
    (Host(name="web1", hostname="deploy@web1"), "contains a user name"),
    (Host(name="web1", hostname="web1:2222"), "--port"),
    (Host(name="web1", hostname="web 1"), "spaces"),
    (Host(name="web1", hostname="-oProxyCommand=x"), "starts with '-'"),
    (_web(port=0), "port 0 is out of range"),
    (_web(port=70000), "out of range"),
    (_web(serve_port=0), "serve port 0"),
    (_web(user="-l root"), "user"),
    (_web(transport="telnet"), "unknown transport"),
    (_web(systemd="maybe"), "systemd"),
    (_web(groups=("good", "bad group")), "not a valid group name"),
    (_web(labels={"bad key": "v"}), "not a valid label key"),
    (_web(labels={"k": "line\nbreak"}), "control"),
    (_web(proxy_jump="a b"), "spaces"),
    (_web(proxy_jump="user@host:99999"), "not [user@]host[:port]"),
    (_web(proxy_jump="web1"), "cannot jump through itself"),
    (_web(root="/"), "not a folder of its own"),
    (_web(root="~"), "not a folder of its own"),
    (_web(root="relative/dir"), "neither absolute nor under the home folder"),
    (_web(serve_bind="0.0.0.0:80"), "serve bind address"),
    (_web(python=""), "python is empty"),
    (Host(name="l", transport="local", root="relative"), "absolute folder"),
])
def test_invalid_hosts_are_refused(ws: Workspace, store: HostStore, host: Host,
                                   fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        store.add(host)
    assert fragment in str(info.value)
    assert info.value.fix
    assert store.list() == []
    assert _actions(ws) == ["workspace.create"]


def test_duplicate_and_unknown_names(store: HostStore) -> None:
    store.add(_web("web1"))
    store.add(_web("web2"))
    with pytest.raises(AlreadyExistsError, match="hosts edit web1"):
        store.add(_web("web1"))
    with pytest.raises(NotFoundError) as info:
        store.get("web3")
    assert "did you mean" in str(info.value)
    assert "'web1'" in str(info.value) and "'web2'" in str(info.value)
    with pytest.raises(NotFoundError, match="modeldeck hosts"):
        store.get("zzzzzz")


def test_update_changes_only_what_is_given(ws: Workspace, store: HostStore) -> None:
    store.add(_web("web1", user="deploy"))
    new = store.update("web1", port=2222, groups=["web"], labels={"rack": "a1"})
    assert (new.port, new.user, new.groups, new.labels) == (2222, "deploy", ("web",),
                                                            {"rack": "a1"})
    row = ws.audit_log(limit=1)[0]
    assert row.action == "host.update" and row.subject == "web1"
    assert row.payload == {"port": 2222, "groups": ["web"], "labels": {"rack": "a1"},
                           "previous": {"port": 22, "groups": [], "labels": {}}}
    before = len(ws.audit_log(limit=None))
    assert store.update("web1", port=2222) == new  # no change, no audit row
    assert len(ws.audit_log(limit=None)) == before
    with pytest.raises(InvalidInputError, match="no setting colour"):
        store.update("web1", colour="red")
    with pytest.raises(InvalidInputError, match="out of range"):
        store.update("web1", port=0)
    with pytest.raises(NotFoundError):
        store.update("nope", port=1)
    assert store.get("web1") == new


def test_switching_transport(store: HostStore, tmp_path: Path) -> None:
    store.add(_web("web1", proxy_jump="bastion"))
    local = store.update("web1", transport="local", root=str(tmp_path / "deploys"))
    assert local.is_local and local.hostname == "" and local.proxy_jump == ""
    back = store.update("web1", transport="ssh", hostname="10.0.0.12")
    assert back.hostname == "10.0.0.12" and back.root == str(tmp_path / "deploys")


def test_rename_moves_history_status_and_jumps(ws: Workspace, store: HostStore) -> None:
    store.add(_web("bastion"))
    store.add(_web("web1", proxy_jump="bastion"))
    record_deployment(ws, "bastion", "deploy", "r1", outcome="ok")
    set_status(ws, "bastion", reachable=True)
    renamed = store.update("bastion", name="jump")
    assert renamed.name == "jump" and store.names() == ["jump", "web1"]
    assert store.get("web1").proxy_jump == "jump"
    assert [d.host for d in deployments(ws)] == ["jump"]
    assert [st.host for st in statuses(ws)] == ["jump"]
    with pytest.raises(AlreadyExistsError):
        store.update("jump", name="web1")


def test_remove_keeps_history_and_refuses_a_bastion_in_use(ws: Workspace,
                                                           store: HostStore) -> None:
    store.add(_web("bastion"))
    store.add(_web("web1", proxy_jump="bastion"))
    with pytest.raises(InvalidInputError, match="proxy jump of web1"):
        store.remove("bastion")
    record_deployment(ws, "web1", "deploy", "r1", outcome="ok")
    set_status(ws, "web1", reachable=True)
    store.remove("web1")
    assert [d.host for d in deployments(ws)] == ["web1"]
    assert statuses(ws) == []
    store.remove("bastion")
    with pytest.raises(NotFoundError):
        store.remove("bastion")


def test_proxy_jump_loops_are_refused(store: HostStore) -> None:
    store.add(_web("a"))
    store.add(_web("b", proxy_jump="a"))
    with pytest.raises(InvalidInputError, match="form a loop"):
        store.update("a", proxy_jump="b")
    assert store.get("a").proxy_jump == ""


def test_select(store: HostStore) -> None:
    assert store.select() == []
    for name, groups in (("web1", ("web",)), ("web2", ("web", "canary")), ("db1", ("db",))):
        store.add(_web(name, groups=groups))
    names = lambda hosts: [h.name for h in hosts]  # noqa: E731
    assert names(store.select()) == ["db1", "web1", "web2"]
    assert names(store.select(["web2", "db1"])) == ["web2", "db1"]
    assert names(store.select("web2, db1")) == ["web2", "db1"]
    assert names(store.select("web*")) == ["web1", "web2"]
    assert names(store.select(group="web")) == ["web1", "web2"]
    assert names(store.select(["db1"], group="canary")) == ["db1", "web2"]
    with pytest.raises(NotFoundError, match="did you mean 'web1'"):
        store.select(["web1", "wbe1"])
    with pytest.raises(NotFoundError, match="no host matches 'app\\*'"):
        store.select("app*")
    with pytest.raises(NotFoundError, match="did you mean 'web'"):
        store.select(group="webs")


def test_parse_labels() -> None:
    assert parse_labels(["rack=b2", "zone = eu-1", "empty="]) == {
        "empty": "", "rack": "b2", "zone": "eu-1"}
    with pytest.raises(InvalidInputError, match="key=value"):
        parse_labels(["rack"])


# -- permissions ---------------------------------------------------------------------------


def test_only_admins_manage_hosts(ws: Workspace, store: HostStore) -> None:
    store.add(_web("web1"))
    ws.add_user("alice", "data-scientist")
    ws.add_user("bob", "reviewer")
    for name in ("alice", "bob"):
        other = ws.as_user(name)
        try:
            theirs = HostStore(other)
            assert [h.name for h in theirs.list()] == ["web1"]  # reading is open
            for attempt in (lambda: theirs.add(_web("web2")),
                            lambda: theirs.update("web1", port=2),
                            lambda: theirs.update("web1", port=22),  # even a no-op
                            lambda: theirs.remove("web1"),
                            lambda: theirs.import_hosts([_web("web3")]),
                            lambda: record_deployment(other, "web1", "deploy", "r1")):
                with pytest.raises(PermissionDeniedError, match="may not"):
                    attempt()
            set_status(other, "web1", reachable=False)  # a cache, open to everyone
        finally:
            other.close()
    assert store.names() == ["web1"] and deployments(ws) == []


# -- importing -----------------------------------------------------------------------------


def test_import_hosts(ws: Workspace, store: HostStore) -> None:
    store.add(_web("web1", port=2200))
    store.add(_web("web2"))
    incoming = [_web("web1", port=2222), _web("web2"), _web("web3")]
    plan = store.import_hosts(incoming, dry_run=True)
    assert plan == ImportResult(added=("web3",), updated=(), skipped=("web1", "web2"))
    assert store.names() == ["web1", "web2"]
    result = store.import_hosts(incoming, groups=["imported"], source="/etc/inv")
    assert result == plan
    assert store.get("web1").port == 2200
    assert store.get("web3").groups == ("imported",)
    replaced = store.import_hosts(incoming, replace=True)
    # web2 already equals what is imported (no extra group this time); web3 lost 'imported'
    assert replaced == ImportResult(added=(), updated=("web1", "web3"), skipped=("web2",))
    assert store.get("web1").port == 2222
    rows = [e for e in ws.audit_log(limit=None, newest_first=False)
            if e.action == "host.import"]
    assert [r.subject for r in rows] == ["/etc/inv", "3 hosts"]
    assert list(rows[0].payload["added"]) == ["web3"]
    assert rows[1].payload["updated"]["web1"] == {"port": [2200, 2222]}
    before = len(ws.audit_log(limit=None))
    assert store.import_hosts(incoming, replace=True).added == ()
    assert len(ws.audit_log(limit=None)) == before  # nothing changed, nothing written


def test_import_is_all_or_nothing(store: HostStore) -> None:
    with pytest.raises(InvalidInputError, match="needs a hostname"):
        store.import_hosts([_web("ok1"), Host(name="broken")])
    with pytest.raises(InvalidInputError, match="listed twice"):
        store.import_hosts([_web("ok1"), _web("ok1")])
    with pytest.raises(InvalidInputError, match="group"):
        store.import_hosts([_web("ok1")], groups=["bad group"])
    assert store.list() == []


SSH_CONFIG = """\
# Our fleet
Host bastion
    HostName 203.0.113.10
    User jump
    Port 2200

Host web1 web2
    HostName %h.prod.example.com
    ProxyJump bastion
    IdentityFile ~/.ssh/id_deploy

Host db1
    HostName 10.1.0.5
    User postgres
    ProxyCommand ssh -q -W %h:%p ops@bastion.example.com

Host legacy
    Hostname=10.1.0.9
    Port=2022
    IdentityFile none

Host *.internal web-*
    User internal

Match exec "touch {marker}"
    User hacked

Host *
    User deploy
    IdentityFile ~/.ssh/id_default
    ServerAliveInterval 30
"""


def test_parse_ssh_config(tmp_path: Path, home: Path) -> None:
    marker = tmp_path / "match-exec-ran"
    hosts = {h.name: h for h in parse_ssh_config(SSH_CONFIG.format(marker=marker),
                                                 tmp_path / "config")}
    assert list(hosts) == ["bastion", "web1", "web2", "db1", "legacy"]  # no wildcard entries
    assert not marker.exists()  # Match blocks are never evaluated
    bastion = hosts["bastion"]
    assert (bastion.hostname, bastion.user, bastion.port) == ("203.0.113.10", "jump", 2200)
    assert bastion.identity_file == str(home / ".ssh" / "id_default")  # from Host *
    web1 = hosts["web1"]
    assert (web1.hostname, web1.user, web1.port) == ("web1.prod.example.com", "deploy", 22)
    assert web1.proxy_jump == "bastion"  # an imported alias, kept as written
    assert web1.identity_file == str(home / ".ssh" / "id_deploy")
    assert hosts["web2"].hostname == "web2.prod.example.com"
    assert hosts["db1"].proxy_jump == "ops@bastion.example.com"
    assert (hosts["db1"].user, hosts["db1"].hostname) == ("postgres", "10.1.0.5")
    legacy = hosts["legacy"]
    assert (legacy.hostname, legacy.port) == ("10.1.0.9", 2022)
    assert all(h.transport == "ssh" and h.root == "~/modeldeck" for h in hosts.values())


def test_ssh_config_include(tmp_path: Path, home: Path) -> None:
    (home / ".ssh" / "conf.d").mkdir()
    (home / ".ssh" / "conf.d" / "a.conf").write_text("Host inc-a\n  HostName 10.9.0.1\n")
    (tmp_path / "extra.conf").write_text("Host inc-b\n  User bee\n")
    text = f"Include conf.d/*.conf\nInclude {tmp_path / 'extra.conf'}\nInclude missing/*\n"
    hosts = parse_ssh_config(text, tmp_path / "config")
    assert [(h.name, h.hostname, h.user) for h in hosts] == [
        ("inc-a", "10.9.0.1", ""), ("inc-b", "inc-b", "bee")]


@pytest.mark.parametrize("text, fragment", [
    ("Host ok\n  HostName h\n\nHost web\n  Port twenty\n", "config:4: 'web' has Port"),
    ("Host web\n  ProxyCommand nc -X 5 -x proxy:1080 %h %p\n", "config:1: 'web' uses "
                                                               "ProxyCommand"),
    ("Host we@b\n  HostName h\n", "config:1: Host alias 'we@b'"),
    ("Host web\n  HostName user@h\n", "config:1: host 'web': hostname 'user@h'"),
])
def test_ssh_config_errors_name_file_and_line(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_ssh_config(text, tmp_path / "config")
    assert f"{tmp_path}/{fragment}" in str(info.value)
    assert info.value.fix


INVENTORY_INI = """\
# production
mail.example.com ansible_host=192.0.2.25

[web]
web[01:03].example.com ansible_user=deploy
web-canary.example.com:2222 modeldeck_labels="{'tier': 'canary'}"

[db]
db1 ansible_host=10.0.0.20 ansible_python_interpreter=/usr/bin/python3.11  # primary
db2 ansible_host=10.0.0.21 ansible_ssh_common_args='-o ProxyJump=ops@bastion:2200'

[local]
workstation ansible_connection=local modeldeck_root=/srv/modeldeck

[prod:children]
web
db

[prod:vars]
ansible_user=admin
ansible_ssh_private_key_file=~/.ssh/prod_key
modeldeck_serve_port=9090

[db:vars]
ansible_user=dba

[all:vars]
ansible_port=2022
modeldeck_root=~/md
"""


def test_parse_ansible_ini(home: Path) -> None:
    hosts = {h.name: h for h in parse_ansible_inventory(INVENTORY_INI, "prod.ini")}
    assert list(hosts) == ["mail.example.com", "web01.example.com", "web02.example.com",
                           "web03.example.com", "web-canary.example.com", "db1", "db2",
                           "workstation"]
    mail = hosts["mail.example.com"]
    assert (mail.hostname, mail.port, mail.groups, mail.root) == ("192.0.2.25", 2022, (),
                                                                  "~/md")
    web = hosts["web02.example.com"]
    assert web.hostname == "web02.example.com"
    assert web.user == "deploy"  # host var beats group vars
    assert web.groups == ("prod", "web")  # a child's host is in its parents too
    assert web.identity_file == str(home / ".ssh" / "prod_key")
    assert (web.port, web.serve_port) == (2022, 9090)
    canary = hosts["web-canary.example.com"]
    assert canary.port == 2222 and canary.labels == {"tier": "canary"}
    assert canary.user == "admin"
    db1 = hosts["db1"]
    assert db1.user == "dba"  # the deeper group (db) beats its parent (prod)
    assert db1.python == "/usr/bin/python3.11"
    assert hosts["db2"].proxy_jump == "ops@bastion:2200"
    local = hosts["workstation"]
    assert local.is_local and local.root == "/srv/modeldeck" and local.groups == ("local",)


INVENTORY_YAML = """\
all:
  vars:
    ansible_user: deploy
  hosts:
    lonely.example.com:
  children:
    web:
      hosts:
        web[1:2]:
          ansible_host: 10.0.1.10
        web-canary:
          ansible_host: 10.0.1.99
          ansible_port: 2222
          modeldeck_labels: {tier: canary}
      vars:
        ansible_python_interpreter: /opt/python/bin/python3
        modeldeck_systemd: auto
    eu:
      children:
        web:
        db:
          hosts:
            db1:
              ansible_host: 10.0.2.1
              ansible_user: dba
              ansible_ssh_extra_args: -J bastion
"""


def test_parse_ansible_yaml(home: Path) -> None:
    hosts = {h.name: h for h in parse_ansible_inventory(INVENTORY_YAML, "inv.yml")}
    assert list(hosts) == ["lonely.example.com", "web1", "web2", "web-canary", "db1"]
    assert hosts["lonely.example.com"].groups == ()
    assert hosts["lonely.example.com"].user == "deploy"
    web1 = hosts["web1"]
    assert (web1.hostname, web1.port, web1.python, web1.systemd) == (
        "10.0.1.10", 22, "/opt/python/bin/python3", "auto")
    assert web1.groups == ("eu", "web")
    canary = hosts["web-canary"]
    assert canary.port == 2222 and canary.labels == {"tier": "canary"}
    db1 = hosts["db1"]
    assert (db1.user, db1.proxy_jump, db1.groups) == ("dba", "bastion", ("db", "eu"))


def test_parse_ansible_inventory_list_json() -> None:
    listing = {
        "_meta": {"hostvars": {"a1": {"ansible_host": "10.0.0.1", "ansible_user": "u"},
                               "a2": {"ansible_host": "10.0.0.2"}}},
        "all": {"children": ["ungrouped", "app"]},
        "app": {"hosts": ["a1", "a2"], "vars": {"ansible_port": 2200}},
        "ungrouped": {"hosts": []},
    }
    hosts = parse_ansible_inventory(json.dumps(listing), "list.json")
    assert [(h.name, h.hostname, h.port, h.user, h.groups) for h in hosts] == [
        ("a1", "10.0.0.1", 2200, "u", ("app",)), ("a2", "10.0.0.2", 2200, "", ("app",))]


@pytest.mark.parametrize("path, text, fragment", [
    ("inv.ini", "[web]\nweb1 ansible_port\n", "inv.ini:2: 'ansible_port' after host"),
    ("inv.ini", "[web:bogus]\nweb1\n", "inv.ini:1: '[web:bogus]' is not a section"),
    ("inv.ini", "[web]\nweb1 ansible_port=0\n", "inv.ini:2: host 'web1': port 0"),
    ("inv.ini", "[web]\nweb1 ansible_user='{{ lookup(\"env\", \"USER\") }}'\n",
     "inv.ini:2: 'web1' has a template in ansible_user"),
    ("inv.ini", "[web]\nwin1 ansible_connection=winrm\n", "inv.ini:2: 'win1' uses "
                                                          "ansible_connection=winrm"),
    ("inv.ini", "[a:children]\nb\n[b:children]\na\n[b]\nh1\n", "form a loop"),
    ("inv.yml", "all:\n  hosts:\n    web1:\n      ansible_port: [1\n", "inv.yml:5: not valid"),
    ("inv.yml", "all:\n  children:\n    web:\n      host:\n        web1:\n",
     "inv.yml:4: group 'web' has an unknown key 'host'"),
    ("inv.yml", "all:\n  hosts:\n    web1:\n      ansible_host: 'a b'\n",
     "inv.yml:3: host 'web1': hostname 'a b'"),
])
def test_inventory_errors_name_file_and_line(path: str, text: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_ansible_inventory(text, path)
    assert fragment in str(info.value)
    assert info.value.fix


def test_read_inventory_file(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("[web]\nweb1\n")
    assert [h.name for h in read_inventory_file(tmp_path / "hosts", "ansible")] == ["web1"]
    with pytest.raises(InvalidInputError, match="cannot read .*missing"):
        read_inventory_file(tmp_path / "missing", "ssh-config")


# -- history and status --------------------------------------------------------------------


def test_deployment_history_round_trip(ws: Workspace, store: HostStore) -> None:
    store.add(_web("web1"))
    first = record_deployment(ws, "web1", "deploy", "bc-v1-aaa", model="breast-cancer",
                              version=1, outcome="ok", bytes_sent=1234,
                              started_at="2026-01-01T10:00:00.000000Z",
                              finished_at="2026-01-01T10:00:02.500000Z")
    second = record_deployment(ws, "web1", "deploy", "bc-v2-bbb", model="breast-cancer",
                               version=2, previous_release="bc-v1-aaa")
    other = record_deployment(ws, "db1", "rollback", "x-v1", outcome="ok")
    assert first < second < other
    pending = get_deployment(ws, second)
    assert pending.outcome == "unknown" and pending.finished_at is None
    assert pending.seconds is None and pending.actor == ws.identity.name
    done = finish_deployment(ws, second, "rolled-back", detail="smoke test failed",
                             bytes_sent=99)
    assert (done.outcome, done.detail, done.bytes_sent) == ("rolled-back",
                                                            "smoke test failed", 99)
    assert done.finished_at is not None and done.seconds is not None
    assert [d.id for d in deployments(ws)] == [other, second, first]
    assert [d.id for d in deployments(ws, "web1")] == [second, first]
    assert [d.id for d in deployments(ws, limit=1)] == [other]
    assert get_deployment(ws, first).seconds == pytest.approx(2.5)
    audit = [(e.action, e.subject) for e in reversed(ws.audit_log(limit=4))]
    assert audit == [("deploy.deploy", "web1"), ("deploy.deploy", "web1"),
                     ("deploy.rollback", "db1"), ("deploy.finish", "web1")]
    assert ws.audit_log(limit=1)[0].payload["outcome"] == "rolled-back"
    structured = record_deployment(ws, "web1", "deploy", "bc-v3", outcome="failed",
                                   detail={"error": "disk full", "timings": {"upload": 1.5}})
    row = get_deployment(ws, structured)
    assert row.details == {"error": "disk full", "timings": {"upload": 1.5}}
    assert row.note == "disk full" and done.note == "smoke test failed"
    assert ws.audit_log(limit=1)[0].payload["detail"]["error"] == "disk full"
    with pytest.raises(InvalidInputError, match="unknown action"):
        record_deployment(ws, "web1", "redeploy", "r")
    with pytest.raises(InvalidInputError, match="unknown outcome"):
        finish_deployment(ws, first, "great")
    with pytest.raises(NotFoundError):
        get_deployment(ws, 999)


def test_host_status_cache_is_not_audited(ws: Workspace) -> None:
    before = len(ws.audit_log(limit=None))
    assert get_status(ws, "web1") is None
    set_status(ws, "web1", reachable=True, release_id="r1", model="m", version=3,
               healthy=True, free_bytes=10**9, fingerprint="SHA256:abc",
               checked_at="2026-01-01T00:00:00.000000Z")
    set_status(ws, "web2", reachable=False, detail="connection refused")
    latest = set_status(ws, "web1", reachable=True, release_id="r2", healthy=False)
    assert get_status(ws, "web1") == latest
    found = {st.host: st for st in statuses(ws)}
    assert list(found) == ["web1", "web2"]
    assert found["web1"].release_id == "r2" and found["web1"].healthy is False
    assert found["web2"] == HostStatus(host="web2", checked_at=found["web2"].checked_at,
                                       reachable=False, detail="connection refused")
    assert len(ws.audit_log(limit=None)) == before


# -- schema --------------------------------------------------------------------------------


def test_migration_4_upgrades_an_older_workspace(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr("modeldeck.core.workspace._workspace.MIGRATIONS",
                      _migrations.MIGRATIONS[:3])
        patch.setattr("modeldeck.core.workspace._workspace.SCHEMA_VERSION", 3)
        Workspace.open(tmp_path / "old", create=True).close()
    with sqlite3.connect(tmp_path / "old" / "modeldeck.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    with Workspace.open(tmp_path / "old") as ws:
        assert ws.schema_version == _migrations.SCHEMA_VERSION >= 4
        assert {"hosts", "deployments", "host_status"} <= set(ws.db.table_names())
        HostStore(ws).add(_web("web1"))
        assert ws.audit_log(limit=2)[1].payload == {"from": 3,
                                                    "to": _migrations.SCHEMA_VERSION}
        assert ws.verify_audit().ok


def test_host_text_round_trip_through_the_database(ws: Workspace, store: HostStore) -> None:
    host = store.add(_web("web1", labels={"a": "1", "owner": "ops team"}, groups=("x",)))
    stored = ws.db.conn.execute("SELECT groups, labels FROM hosts").fetchone()
    assert json.loads(stored[0]) == ["x"] and json.loads(stored[1]) == host.labels
    assert store.get("web1").labels == {"a": "1", "owner": "ops team"}
