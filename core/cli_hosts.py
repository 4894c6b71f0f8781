"""``modeldeck hosts ...``: list, add, edit, remove and import deploy targets; history.

A thin click layer over :mod:`modeldeck.core.deploy.hosts`, registered on the root group by
:mod:`modeldeck.core.cli`. This module imports nothing of ``modeldeck.core.cli`` at import
time (that module imports this one), so the output helpers are fetched with :func:`_ui`
when a command runs; commands get the ``_App`` with ``click.pass_obj``.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from modeldeck.core.cli import _App
    from modeldeck.core.deploy.hosts import Deployment, Host, HostStore

_SYSTEMD = ("no", "yes", "auto")  # checked against core in the tests

_json_option = click.option("--json", "as_json", is_flag=True,
                            help="Print machine-readable JSON instead of text.")


def _ui() -> ModuleType:
    """``modeldeck.core.cli``, for its output helpers (imported late: it imports us)."""
    from modeldeck.core import cli

    return cli


def _store(app: _App) -> HostStore:
    from modeldeck.core.deploy.hosts import HostStore

    return HostStore(app.workspace())


def _groups_text(host: Host) -> str:
    return ",".join(host.groups) or "-"


def _labels_text(host: Host) -> str:
    return " ".join(f"{k}={v}" for k, v in host.labels.items()) or "-"


def _hosts_table(hosts: list[Host]) -> str:
    ui = _ui()
    return str(ui._table(
        ["NAME", "ADDRESS", "VIA", "ROOT", "PYTHON", "GROUPS", "LABELS"],
        [[h.name, h.address, h.proxy_jump or "-", ui._short(h.root, 36),
          ui._short(h.python, 24), ui._short(_groups_text(h), 30),
          ui._short(_labels_text(h), 30)] for h in hosts]))


def _host_pairs(host: Host) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [("transport", host.transport)]
    if not host.is_local:
        pairs += [("hostname", host.hostname), ("port", host.port),
                  ("user", host.user or "(the current user)"),
                  ("identity file", host.identity_file or "(ssh-agent, default keys)"),
                  ("proxy jump", host.proxy_jump)]
    pairs += [("root", host.root), ("python", host.python),
              ("groups", ", ".join(host.groups)), ("labels", _labels_text(host)),
              ("server", f"{host.serve_bind}:{host.serve_port}"), ("systemd", host.systemd),
              ("added", f"{_ui()._when(host.created_at)} UTC by {host.created_by}")]
    return pairs


def _list(app: _App, group: str | None, as_json: bool) -> None:
    ui = _ui()
    store = _store(app)
    found = store.list(group)
    if as_json:
        ui._echo_json(found)
        return
    if not found:
        if group is not None:
            known = ", ".join(store.groups()) or "none yet"
            click.echo(f"No host is in group '{group}' (groups: {known}).")
        else:
            click.echo("No hosts yet. Add one with `" + app.command(
                "hosts add NAME --hostname ADDRESS") + "` or import them with `" +
                app.command("hosts import --ssh-config ~/.ssh/config") + "`.")
        return
    click.echo(_hosts_table(found))


# -- the group -------------------------------------------------------------------------------


@click.group(invoke_without_command=True,
             short_help="List the hosts to deploy to; add, edit, import or remove them.")
@click.option("--group", "-g", metavar="G", help="Only the hosts in group G.")
@_json_option
@click.pass_context
def hosts(ctx: click.Context, group: str | None, as_json: bool) -> None:
    """List the hosts releases are deployed to (or manage them: see the commands).

    A host is reached over SSH (an address, optionally a user, port, key and a bastion to
    jump through), or is a folder on this machine (--local PATH) where the server runs as
    a local process. Adding, changing and removing hosts is for admins.
    """
    if ctx.invoked_subcommand is not None:
        return
    _list(ctx.obj, group, as_json)


@hosts.command("list")
@click.option("--group", "-g", metavar="G", help="Only the hosts in group G.")
@_json_option
@click.pass_obj
def hosts_list(app: _App, group: str | None, as_json: bool) -> None:
    """List the hosts, by name."""
    _list(app, group, as_json)


@hosts.command("show")
@click.argument("name")
@_json_option
@click.pass_obj
def hosts_show(app: _App, name: str, as_json: bool) -> None:
    """Show one host's settings, last known status and recent deployments."""
    from modeldeck.core.deploy.hosts import deployments, get_status

    ui = _ui()
    host = _store(app).get(name)
    ws = app.workspace()
    status = get_status(ws, name)
    recent = deployments(ws, name, limit=5)
    if as_json:
        ui._echo_json({"host": host, "status": status, "deployments": recent})
        return
    click.echo(f"{host.name}  {host.address}")
    click.echo(ui._pairs(_host_pairs(host)))
    if status is not None:
        health = {True: "healthy", False: "unhealthy", None: "health unknown"}[status.healthy]
        seen = "reachable" if status.reachable else "unreachable"
        running = status.release_id or "no release"
        if status.model:
            running += f" ({status.model}:{status.version})"
        click.echo(f"\nLast seen {ui._when(status.checked_at)} UTC: {seen}, {running}, "
                   f"{health}" + (f" — {status.detail}" if status.detail else ""))
    if recent:
        click.echo("\nRecent deployments:")
        click.echo(_history_table(recent, indent=2))


# -- adding and changing -------------------------------------------------------------------


def _settings_options(func: Any) -> Any:
    """The options shared by ``hosts add`` and ``hosts edit``."""
    options = [
        click.option("--hostname", "-H", metavar="ADDRESS",
                     help="The address or DNS name to connect to over SSH."),
        click.option("--local", "local", metavar="PATH",
                     help="Make it a local host: deploy into folder PATH on this machine."),
        click.option("--port", "-p", type=int, help="The SSH port (default 22)."),
        click.option("--user", "-u", metavar="LOGIN",
                     help="The SSH login (default: your user name; '' to clear)."),
        click.option("--identity-file", "-i", metavar="KEY",
                     help="A private key file (default: ssh-agent and your default keys)."),
        click.option("--proxy-jump", "-J", metavar="HOST",
                     help="Jump through this bastion: [user@]host[:port] or another "
                          "host's name ('' to connect directly)."),
        click.option("--root", metavar="DIR",
                     help="The deploy root on the host (default ~/modeldeck)."),
        click.option("--python", metavar="PY",
                     help="The host's Python interpreter (default python3)."),
        click.option("--serve-bind", metavar="ADDR",
                     help="Where the prediction server listens (default 127.0.0.1)."),
        click.option("--serve-port", type=int, help="The prediction server's port "
                                                    "(default 8080)."),
        click.option("--systemd", type=click.Choice(_SYSTEMD),
                     help="Run the server as a systemd unit: no (a supervised process), "
                          "yes, or auto (when the host has systemd)."),
        click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
                     help="A label (repeatable), e.g. --label rack=b2."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@hosts.command("add")
@click.argument("name")
@_settings_options
@click.option("--group", "-g", "groups", multiple=True, metavar="G",
              help="Put the host in group G (repeatable).")
@_json_option
@click.pass_obj
def hosts_add(app: _App, name: str, hostname: str | None, local: str | None,
              port: int | None, user: str | None, identity_file: str | None,
              proxy_jump: str | None, root: str | None, python: str | None,
              serve_bind: str | None, serve_port: int | None, systemd: str | None,
              labels: tuple[str, ...], groups: tuple[str, ...], as_json: bool) -> None:
    """Add host NAME (admins only).

    Over SSH, --hostname defaults to NAME (like a Host alias in ~/.ssh/config); with
    --local PATH the host is a folder on this machine.

    \b
      modeldeck hosts add web1 --hostname 10.0.0.11 --user deploy --group web
      modeldeck hosts add web2 -H 10.0.0.12 -J bastion --label rack=b2
      modeldeck hosts add laptop --local ~/modeldeck-local
    """
    from modeldeck.core.deploy.hosts import Host, parse_labels
    from modeldeck.core.errors import InvalidInputError

    if hostname is not None and local is not None:
        raise InvalidInputError("give either --hostname (an SSH host) or --local (a folder "
                                "on this machine), not both", "drop one of them")
    if local is not None and root is not None:
        raise InvalidInputError("--local PATH is the root of a local host",
                                "give the folder once, with --local PATH")
    values = _given(port=port, user=user, identity_file=identity_file,
                    proxy_jump=proxy_jump, python=python, serve_bind=serve_bind,
                    serve_port=serve_port, systemd=systemd, root=root)
    if local is not None:
        values.update(transport="local", root=local)
    else:
        values.update(transport="ssh", hostname=hostname if hostname is not None else name)
    host = _store(app).add(Host(name=name, groups=groups, labels=parse_labels(labels),
                                **values))
    if as_json:
        _ui()._echo_json(host)
        return
    where = f"folder {host.root}" if host.is_local else f"{host.address}, root {host.root}"
    via = f", via {host.proxy_jump}" if host.proxy_jump else ""
    click.echo(f"Added host {host.name} ({where}{via}).")


@hosts.command("edit")
@click.argument("name")
@_settings_options
@click.option("--group", "-g", "groups", multiple=True, metavar="G",
              help="Add the host to group G (repeatable).")
@click.option("--ungroup", "ungroups", multiple=True, metavar="G",
              help="Take the host out of group G (repeatable).")
@click.option("--unlabel", "unlabels", multiple=True, metavar="KEY",
              help="Remove label KEY (repeatable).")
@click.option("--rename", metavar="NEW", help="Rename the host (its history follows).")
@_json_option
@click.pass_obj
def hosts_edit(app: _App, name: str, hostname: str | None, local: str | None,
               port: int | None, user: str | None, identity_file: str | None,
               proxy_jump: str | None, root: str | None, python: str | None,
               serve_bind: str | None, serve_port: int | None, systemd: str | None,
               labels: tuple[str, ...], groups: tuple[str, ...], ungroups: tuple[str, ...],
               unlabels: tuple[str, ...], rename: str | None, as_json: bool) -> None:
    """Change settings of host NAME (admins only); options left out stay as they are.

    --hostname turns a local host into an SSH host; --local PATH the other way round.

    \b
      modeldeck hosts edit web1 --port 2222 --group canary
      modeldeck hosts edit web1 --proxy-jump '' --ungroup canary --unlabel rack
    """
    from modeldeck.core.deploy.hosts import parse_labels
    from modeldeck.core.errors import InvalidInputError

    if hostname is not None and local is not None:
        raise InvalidInputError("give either --hostname or --local, not both",
                                "drop one of them")
    if local is not None and root is not None:
        raise InvalidInputError("--local PATH is the root of a local host",
                                "give the folder once, with --local PATH")
    store = _store(app)
    old = store.get(name)
    changes = _given(hostname=hostname, port=port, user=user, identity_file=identity_file,
                     proxy_jump=proxy_jump, root=root, python=python, serve_bind=serve_bind,
                     serve_port=serve_port, systemd=systemd, name=rename)
    if hostname is not None:
        changes["transport"] = "ssh"
    if local is not None:
        changes.update(transport="local", root=local)
    if groups or ungroups:
        missing = [g for g in ungroups if g not in old.groups]
        if missing:
            raise InvalidInputError(f"host '{name}' is not in group {', '.join(missing)}",
                                    f"its groups: {', '.join(old.groups) or 'none'}")
        changes["groups"] = tuple(g for g in (*old.groups, *groups) if g not in ungroups)
    if labels or unlabels:
        missing = [k for k in unlabels if k not in old.labels]
        if missing:
            raise InvalidInputError(f"host '{name}' has no label {', '.join(missing)}",
                                    f"its labels: {', '.join(old.labels) or 'none'}")
        merged = {k: v for k, v in old.labels.items() if k not in unlabels}
        merged.update(parse_labels(labels))
        changes["labels"] = merged
    if not changes:
        raise InvalidInputError("nothing to change",
                                "give at least one option, e.g. --port 2222 (see --help)")
    new = store.update(name, **changes)
    if as_json:
        _ui()._echo_json(new)
        return
    before, after = old.settings(), new.settings()
    diffs = [f"{k.replace('_', ' ')} {_value_text(before[k])} → {_value_text(after[k])}"
             for k in after if before[k] != after[k]]
    if not diffs:
        click.echo(f"Host {name} already had these settings; nothing changed.")
        return
    click.echo(f"Updated host {new.name}: " + "; ".join(diffs) + ".")


def _value_text(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return repr(value) if value == "" else str(value)


@hosts.command("rm")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@click.pass_obj
def hosts_rm(app: _App, names: tuple[str, ...]) -> None:
    """Remove hosts (admins only). Their deployment history stays in the workspace.

    Nothing on the hosts themselves is touched.
    """
    store = _store(app)
    for name in names:
        store.get(name)  # all or nothing for unknown names
    for name in names:
        host = store.remove(name)
        click.echo(f"Removed host {host.name} ({host.address}); its history is kept.")


# -- importing -----------------------------------------------------------------------------


@hosts.command("import")
@click.option("--ssh-config", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Import the Host aliases of an OpenSSH client config, e.g. "
                   "~/.ssh/config.")
@click.option("--ansible-inventory", metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Import the hosts of an Ansible inventory (INI, YAML, or the JSON of "
                   "`ansible-inventory --list`).")
@click.option("--replace", is_flag=True,
              help="Overwrite the settings of hosts that exist already (else they are "
                   "skipped).")
@click.option("--group", "-g", "groups", multiple=True, metavar="G",
              help="Also put every imported host in group G (repeatable).")
@click.option("--dry-run", "-n", is_flag=True, help="Show what would change; change nothing.")
@_json_option
@click.pass_obj
def hosts_import(app: _App, ssh_config: Path | None, ansible_inventory: Path | None,
                 replace: bool, groups: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Import hosts from an OpenSSH config or an Ansible inventory (admins only).

    From an SSH config, every Host alias without wildcards becomes a host with the
    HostName, User, Port, IdentityFile and ProxyJump ssh would use (Host * defaults
    included). From an Ansible inventory, hosts keep their groups (children included)
    and ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file and
    ansible_python_interpreter; modeldeck_root, modeldeck_serve_port... set ModelDeck's
    own settings. All hosts are imported in one change, or none.

    \b
      modeldeck hosts import --ssh-config ~/.ssh/config --dry-run
      modeldeck hosts import --ansible-inventory inventory.ini --group prod
    """
    from modeldeck.core.deploy.hosts import read_inventory_file
    from modeldeck.core.errors import InvalidInputError

    if (ssh_config is None) == (ansible_inventory is None):
        raise InvalidInputError("give one file to import from",
                                "pass --ssh-config FILE or --ansible-inventory FILE")
    source = ssh_config or ansible_inventory
    assert source is not None
    kind = "ssh-config" if ssh_config is not None else "ansible"
    found = read_inventory_file(source, kind)
    result = _store(app).import_hosts(found, replace, groups=groups,
                                      source=str(source.expanduser()), dry_run=dry_run)
    if as_json:
        _ui()._echo_json({"source": str(source), "dry_run": dry_run, "added": result.added,
                          "updated": result.updated, "skipped": result.skipped,
                          "hosts": found})
        return
    if not found:
        click.echo(f"No hosts in {source}.")
        return
    would = "Would import" if dry_run else "Imported"
    click.echo(f"{would} from {source}: {len(result.added)} added, {len(result.updated)} "
               f"updated, {len(result.skipped)} skipped.")
    for label, names in (("added", result.added), ("updated", result.updated),
                         ("skipped", result.skipped)):
        if names:
            click.echo(f"  {label}: {', '.join(names)}")
    if result.skipped and not replace:
        click.echo("  (skipped hosts exist already or are unchanged; --replace overwrites "
                   "their settings)")
    if dry_run:
        click.echo(_hosts_table([h for h in found if h.name in (*result.added,
                                                                 *result.updated)]
                                or found))


# -- history -------------------------------------------------------------------------------


def _history_table(rows: list[Deployment], indent: int = 0) -> str:
    ui = _ui()

    def took(row: Deployment) -> str:
        seconds = row.seconds
        return "-" if seconds is None else f"{seconds:.1f} s"

    def model(row: Deployment) -> str:
        if not row.model:
            return "-"
        return f"{row.model}:{row.version}" if row.version is not None else row.model

    return str(ui._table(
        ["ID", "STARTED (UTC)", "HOST", "ACTION", "MODEL", "RELEASE", "PREVIOUS", "OUTCOME",
         "TOOK", "SENT", "BY", "DETAIL"],
        [[r.id, ui._when(r.started_at), r.host, r.action, model(r), ui._short(r.release_id, 24),
          ui._short(r.previous_release, 24) or "-", r.outcome, took(r),
          ui._size(r.bytes_sent), r.actor, ui._short(r.note, 40) or "-"] for r in rows],
        right=(0, 8, 9), indent=indent))


@hosts.command("history")
@click.argument("host", required=False)
@click.option("--limit", "-n", type=click.IntRange(min=0), default=20, show_default=True,
              help="Show at most N deployments, newest first (0: all).")
@_json_option
@click.pass_obj
def hosts_history(app: _App, host: str | None, limit: int, as_json: bool) -> None:
    """Show the deploys and rollbacks of HOST (or of every host), newest first."""
    from modeldeck.core.deploy.hosts import deployments

    ws = app.workspace()
    rows = deployments(ws, host, limit=limit or None)
    if host is not None and not rows:
        _store(app).get(host)  # an unknown (never deployed) host is an error, with hints
    if as_json:
        _ui()._echo_json(rows)
        return
    if not rows:
        click.echo(f"No deployments to {host} yet." if host else "No deployments yet.")
        return
    click.echo(_history_table(rows))
    if limit and len(rows) == limit:
        click.echo(f"(the {limit} newest; --limit 0 shows all)")
