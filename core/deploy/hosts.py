"""The hosts ModelDeck deploys to, their deployment history and their last known status.

A :class:`Host` is a deploy target reached over SSH (``transport="ssh"``) or a folder on
this machine (``transport="local"``, the same release steps with the server as a local
process). :class:`HostStore` keeps them in the workspace; every change is one audited
transaction that only admins may make (permission ``manage-hosts``).

Hosts can be imported from the inventories admins already keep:
:func:`parse_ssh_config` reads an OpenSSH client config and
:func:`parse_ansible_inventory` an Ansible inventory (INI, YAML, or the JSON of
``ansible-inventory --list``); :meth:`HostStore.import_hosts` stores what they return.

The deploy code records what it did with :func:`record_deployment` (audited, permission
``deploy``) and caches what it saw on each host with :func:`set_status` (not audited).
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import difflib
import fnmatch
import glob
import ipaddress
import json
import os
import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from modeldeck.core.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from modeldeck.core.workspace import Workspace
from modeldeck.core.workspace._clock import utc_now

#: Host and group names: letters, digits, ``_``, ``.``, ``-``; not starting with ``.``/``-``.
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,62}$")
TRANSPORTS = ("ssh", "local")
SYSTEMD_MODES = ("no", "yes", "auto")
ACTIONS = ("deploy", "rollback")
OUTCOMES = ("ok", "failed", "rolled-back", "cancelled", "unknown")
DEFAULT_ROOT = "~/modeldeck"

_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9_.%:-]+$")
_HOP_RE = re.compile(r"^(?:(?P<user>[^\s@,/]+)@)?(?P<host>\[[0-9A-Za-z:.%]+\]|[A-Za-z0-9_.%-]+)"
                     r"(?::(?P<port>\d{1,5}))?$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


# -- the host ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Host:
    """A deploy target.

    Attributes
    ----------
    name
        Unique name in the workspace (``[A-Za-z0-9_.-]``), used by ``--hosts``.
    transport
        ``"ssh"`` or ``"local"`` (a folder on this machine).
    hostname
        The address or DNS name to connect to (ssh); ``""`` for local hosts.
    port
        The SSH port.
    user
        The login; ``""`` means the current user.
    identity_file
        A private key file on this machine; ``""`` means ssh-agent and the default keys.
    proxy_jump
        ``""``, ``[user@]host[:port]`` (hops separated by commas, as OpenSSH) or the name
        of another host to jump through.
    root
        The deploy root on the host (``~/...`` or absolute; local hosts: an absolute
        folder on this machine).
    python
        The host's interpreter used to build the venv and run the agent.
    groups
        Group names, sorted.
    labels
        Free ``key=value`` pairs.
    serve_bind, serve_port
        Where the prediction server listens on the host.
    systemd
        ``"no"`` (a pidfile-supervised process), ``"yes"`` (a generated unit) or
        ``"auto"`` (a unit when the host has systemd).
    created_at, created_by
        Filled in by :meth:`HostStore.add`.
    """

    name: str
    transport: str = "ssh"
    hostname: str = ""
    port: int = 22
    user: str = ""
    identity_file: str = ""
    proxy_jump: str = ""
    root: str = DEFAULT_ROOT
    python: str = "python3"
    groups: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    serve_bind: str = "127.0.0.1"
    serve_port: int = 8080
    systemd: str = "no"
    created_at: str = ""
    created_by: str = ""

    @property
    def is_local(self) -> bool:
        """Whether the host is a folder on this machine."""
        return self.transport == "local"

    @property
    def address(self) -> str:
        """``user@hostname:port`` (parts left out when default) or ``local``."""
        if self.is_local:
            return "local"
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port != 22 else ""
        return f"{user}{host}{port}"

    def settings(self) -> dict[str, Any]:
        """The host's settings as plain values (everything but ``created_*``)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("created_at", "created_by")}
        out["groups"] = list(self.groups)
        out["labels"] = dict(self.labels)
        return out

    def checked(self) -> Host:
        """Return a validated, normalised copy.

        Normalising sorts and de-duplicates groups, expands ``~`` in ``identity_file``
        (and in a local host's ``root``), strips brackets from IPv6 addresses, and blanks
        the SSH-only settings of local hosts.

        Raises
        ------
        InvalidInputError
            A setting is malformed; the message names the host and the setting.
        """
        return _check_host(self)


def check_host_name(name: str, what: str = "host") -> str:
    """Return ``name`` if it is a valid host (or group) name, else raise InvalidInputError."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInputError(
            f"'{name}' is not a valid {what} name",
            "use letters, digits, '_', '.' or '-' (at most 100), starting with a letter, "
            "digit or '_'")
    return name


def parse_labels(items: Iterable[str]) -> dict[str, str]:
    """Parse ``key=value`` strings (as given to ``--label``) into a dict.

    Raises
    ------
    InvalidInputError
        An item has no ``=`` or an invalid key.
    """
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInputError(f"label '{item}' is not key=value",
                                    "write it as key=value, e.g. --label rack=b2")
        labels[key.strip()] = value.strip()
    return _check_labels(labels, "")


def _bad(host: str, message: str, fix: str) -> InvalidInputError:
    prefix = f"host '{host}': " if host else ""
    return InvalidInputError(prefix + message, fix)


def _check_text(host: str, what: str, value: object, *, allow_empty: bool = True,
                allow_spaces: bool = False, max_len: int = 1000) -> str:
    if not isinstance(value, str):
        raise _bad(host, f"{what} must be text, not {type(value).__name__}",
                   f"give {what} as a string")
    text = value.strip()
    if not text and not allow_empty:
        raise _bad(host, f"{what} is empty", f"give a {what}")
    if _CONTROL_RE.search(text) or (not allow_spaces and any(c.isspace() for c in text)):
        raise _bad(host, f"{what} '{text}' contains spaces or control characters",
                   f"give a {what} without them")
    if text.startswith("-"):
        # Would be read as an option by ssh or a shell command built from it.
        raise _bad(host, f"{what} '{text}' starts with '-'", f"give a {what} without it")
    if len(text) > max_len:
        raise _bad(host, f"{what} is longer than {max_len} characters", f"shorten the {what}")
    return text


def _check_port(host: str, what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value).strip())
        except ValueError:
            raise _bad(host, f"{what} '{value}' is not a number",
                       f"give the {what} as a number from 1 to 65535") from None
    if not 1 <= value <= 65535:
        raise _bad(host, f"{what} {value} is out of range",
                   f"give the {what} as a number from 1 to 65535")
    return value


def _check_address(host: str, what: str, value: str) -> str:
    text = _check_text(host, what, value, allow_empty=False, max_len=253)
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if "@" in text:
        raise _bad(host, f"{what} '{text}' contains a user name",
                   "give the user separately (--user), the address alone")
    if ":" in text:
        try:
            ipaddress.IPv6Address(text.split("%")[0])
        except ValueError:
            raise _bad(host, f"{what} '{text}' is not an address",
                       "give the port separately (--port), the address alone") from None
    if not _HOSTNAME_RE.match(text):
        raise _bad(host, f"{what} '{text}' is not a DNS name or IP address",
                   "give an address such as 10.0.0.5 or web1.example.com")
    return text


def _check_proxy_jump(host: str, value: str) -> str:
    text = _check_text(host, "proxy jump", value, max_len=1000)
    if text.lower() == "none":
        return ""
    if not text:
        return ""
    for hop in text.split(","):
        hop = hop.removeprefix("ssh://")
        match = _HOP_RE.match(hop)
        if not match or (match["port"] and not 1 <= int(match["port"]) <= 65535):
            raise _bad(host, f"proxy jump '{text}' is not [user@]host[:port]",
                       "give the bastion as [user@]host[:port] or the name of another host")
        if hop == host:
            raise _bad(host, "a host cannot jump through itself",
                       "give another host as its proxy jump, or none")
    return text


def _check_root(host: Host) -> str:
    text = _check_text(host.name, "root", host.root, allow_empty=False, allow_spaces=True)
    if host.is_local:
        path = Path(text).expanduser()
        if not path.is_absolute():
            raise _bad(host.name, f"the root of a local host must be an absolute folder, "
                       f"not '{text}'", "give a folder on this machine, e.g. ~/modeldeck-local")
        text = os.path.normpath(path)
        if text == os.path.normpath(path.anchor) or text == str(Path.home()):
            raise _bad(host.name, f"root '{text}' is not a folder of its own",
                       "give a folder only ModelDeck uses, e.g. ~/modeldeck-local")
        return text
    if not (text.startswith("/") or text.startswith("~")):
        raise _bad(host.name, f"root '{text}' is neither absolute nor under the home folder",
                   "give e.g. ~/modeldeck or /srv/modeldeck")
    text = posixpath.normpath(text)
    if text in ("/", "~") or re.fullmatch(r"~[^/]*", text):
        raise _bad(host.name, f"root '{text}' is not a folder of its own",
                   "give a folder only ModelDeck uses, e.g. ~/modeldeck")
    return text


def _check_labels(labels: object, host: str) -> dict[str, str]:
    if not isinstance(labels, Mapping):
        raise _bad(host, "labels must be key=value pairs", "give labels as key=value")
    out = {}
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_KEY_RE.match(key):
            raise _bad(host, f"'{key}' is not a valid label key",
                       "use letters, digits, '_', '.', '/' or '-' (at most 63)")
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str):
            value = str(value)
        if _CONTROL_RE.search(value) or len(value) > 200:
            raise _bad(host, f"the value of label '{key}' is too long or has control "
                       "characters", "give a single line of at most 200 characters")
        out[key] = value.strip()
    return dict(sorted(out.items()))


def _check_host(host: Host) -> Host:
    name = check_host_name(host.name)
    if host.transport not in TRANSPORTS:
        raise _bad(name, f"unknown transport '{host.transport}'",
                   f"use one of: {', '.join(TRANSPORTS)}")
    groups = host.groups
    if isinstance(groups, str):
        groups = (groups,)
    checked_groups = tuple(sorted({check_host_name(g, "group") for g in groups}))
    if host.systemd not in SYSTEMD_MODES:
        raise _bad(name, f"systemd must be one of {', '.join(SYSTEMD_MODES)}, "
                   f"not '{host.systemd}'", "use no, yes or auto")
    common = dict(
        root=_check_root(host),
        python=_check_text(name, "python", host.python, allow_empty=False),
        groups=checked_groups,
        labels=_check_labels(host.labels, name),
        serve_bind=_check_address(name, "serve bind address", host.serve_bind),
        serve_port=_check_port(name, "serve port", host.serve_port),
    )
    if host.is_local:
        return dataclasses.replace(host, hostname="", port=22, user="", identity_file="",
                                   proxy_jump="", **common)
    if not (host.hostname or "").strip():
        raise _bad(name, "an ssh host needs a hostname",
                   "give its address (--hostname), or --local PATH for a folder on this "
                   "machine")
    identity = _check_text(name, "identity file", host.identity_file, allow_spaces=True)
    if identity.lower() == "none":
        identity = ""
    return dataclasses.replace(
        host,
        hostname=_check_address(name, "hostname", host.hostname),
        port=_check_port(name, "port", host.port),
        user=_check_text(name, "user", host.user, max_len=256),
        identity_file=os.path.expanduser(identity) if identity else "",
        proxy_jump=_check_proxy_jump(name, host.proxy_jump),
        **common,
    )


def _host_from_row(row: Mapping[str, Any]) -> Host:
    values = dict(row)
    values["groups"] = tuple(json.loads(values["groups"]))
    values["labels"] = json.loads(values["labels"])
    return Host(**values)


def _host_to_row(host: Host) -> dict[str, Any]:
    row = {f.name: getattr(host, f.name) for f in dataclasses.fields(host)}
    row["groups"] = json.dumps(list(host.groups))
    row["labels"] = json.dumps(host.labels, sort_keys=True)
    return row


def _changes(old: Host, new: Host) -> dict[str, list[Any]]:
    before, after = old.settings(), new.settings()
    return {k: [before[k], after[k]] for k in after if before[k] != after[k]}


def _not_found(name: str, names: Sequence[str]) -> NotFoundError:
    close = difflib.get_close_matches(name, list(names), n=3)
    if close:
        hint = "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    else:
        hint = "list them with `modeldeck hosts`; add one with `modeldeck hosts add`"
    return NotFoundError(f"no host named '{name}'", hint)


# -- the store -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    """What :meth:`HostStore.import_hosts` did (or would do, with ``dry_run``).

    Attributes
    ----------
    added
        Names of new hosts.
    updated
        Names of existing hosts whose settings were replaced (``replace=True`` only).
    skipped
        Names of existing hosts left as they were: without ``replace``, or identical.
    """

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


_COLUMNS = ", ".join(f.name for f in dataclasses.fields(Host))
_SETTABLE = tuple(f.name for f in dataclasses.fields(Host)
                  if f.name not in ("created_at", "created_by"))


class HostStore:
    """The workspace's hosts.

    Reading is open to everyone; adding, changing and removing hosts needs the
    ``manage-hosts`` permission (admins) and writes one audit row per change.
    """

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    # -- reading ---------------------------------------------------------------------------

    def list(self, group: str | None = None) -> builtins.list[Host]:
        """All hosts, by name; with ``group``, only that group's members."""
        hosts = [_host_from_row(r) for r in self.ws.db.query(
            f"SELECT {_COLUMNS} FROM hosts ORDER BY name")]
        if group is not None:
            hosts = [h for h in hosts if group in h.groups]
        return hosts

    def names(self) -> builtins.list[str]:
        """The names of all hosts, sorted."""
        return [r[0] for r in self.ws.db.conn.execute("SELECT name FROM hosts ORDER BY name")]

    def groups(self) -> dict[str, builtins.list[str]]:
        """Every group with the names of its hosts, both sorted."""
        out: dict[str, builtins.list[str]] = {}
        for host in self.list():
            for group in host.groups:
                out.setdefault(group, []).append(host.name)
        return dict(sorted(out.items()))

    def get(self, name: str) -> Host:
        """The host ``name``.

        Raises
        ------
        NotFoundError
            No such host; the message suggests close names.
        """
        for row in self.ws.db.query(f"SELECT {_COLUMNS} FROM hosts WHERE name = ?", [name]):
            return _host_from_row(row)
        raise _not_found(name, self.names())

    def select(self, names: str | Sequence[str] | None = None,
               group: str | None = None) -> builtins.list[Host]:
        """The hosts a command targets (``--hosts a,b`` and/or ``--group g``).

        Parameters
        ----------
        names
            Host names in the order wanted, as a sequence or one comma-separated string.
            Shell-style patterns (``web*``) match several hosts.
        group
            A group; its hosts follow the named ones.

        Returns
        -------
        list of Host
            The named hosts plus the group's, without duplicates; all hosts when neither
            is given.

        Raises
        ------
        NotFoundError
            A name or pattern matches no host, or the group has no hosts.
        """
        everything = {h.name: h for h in self.list()}
        if names is None and group is None:
            return list(everything.values())
        if isinstance(names, str):
            names = [n for n in (p.strip() for p in names.split(",")) if n]
        chosen: dict[str, Host] = {}
        for name in names or ():
            if any(c in name for c in "*?["):
                matched = fnmatch.filter(everything, name)
                if not matched:
                    raise NotFoundError(f"no host matches '{name}'",
                                        "list the hosts with `modeldeck hosts`")
                chosen.update((m, everything[m]) for m in sorted(matched))
            elif name in everything:
                chosen[name] = everything[name]
            else:
                raise _not_found(name, builtins.list(everything))
        if group is not None:
            members = [h for h in everything.values() if group in h.groups]
            if not members:
                known = sorted({g for h in everything.values() for g in h.groups})
                close = difflib.get_close_matches(group, known, n=1)
                hint = (f"did you mean '{close[0]}'?" if close else
                        f"known groups: {', '.join(known)}" if known else
                        "add hosts to a group with `modeldeck hosts edit NAME --group G`")
                raise NotFoundError(f"no host is in group '{group}'", hint)
            chosen.update((h.name, h) for h in members if h.name not in chosen)
        return builtins.list(chosen.values())

    # -- changing --------------------------------------------------------------------------

    def add(self, host: Host) -> Host:
        """Add a host (admins only) and return it as stored.

        Raises
        ------
        AlreadyExistsError
            A host with that name exists.
        InvalidInputError
            A setting is malformed (see :meth:`Host.checked`).
        """
        host = host.checked()
        with self.ws.mutate("host.add", host.name, "manage-hosts") as change:
            conn = change.db.conn
            if conn.execute("SELECT 1 FROM hosts WHERE name = ?", (host.name,)).fetchone():
                raise AlreadyExistsError(
                    f"host '{host.name}' exists already",
                    f"change it with `modeldeck hosts edit {host.name} ...`, or pick "
                    "another name")
            host = dataclasses.replace(host, created_at=utc_now(),
                                       created_by=self.ws.identity.name)
            change.db["hosts"].insert(_host_to_row(host))
            self._check_jumps(conn)
            change.payload.update(host.settings())
        return self.get(host.name)

    def update(self, name: str, /, **changes: Any) -> Host:
        """Change some settings of host ``name`` (admins only) and return it.

        ``changes`` are :class:`Host` fields; ``name=NEW`` renames the host (its deployment
        history and the hosts jumping through it follow). Changing nothing writes nothing.

        Raises
        ------
        NotFoundError, AlreadyExistsError, InvalidInputError
        """
        unknown = sorted(set(changes) - set(_SETTABLE))
        if unknown:
            raise InvalidInputError(f"hosts have no setting {', '.join(unknown)}",
                                    f"use one of: {', '.join(_SETTABLE)}")
        if "groups" in changes and isinstance(changes["groups"], str):
            changes["groups"] = (changes["groups"],)
        old = self.get(name)
        new = dataclasses.replace(old, **changes).checked()
        if new == old:
            self.ws.require("manage-hosts")
            return old
        with self.ws.mutate("host.update", name, "manage-hosts") as change:
            conn = change.db.conn
            old = self.get(name)
            new = dataclasses.replace(old, **changes).checked()
            if new.name != name:
                if conn.execute("SELECT 1 FROM hosts WHERE name = ?", (new.name,)).fetchone():
                    raise AlreadyExistsError(f"host '{new.name}' exists already",
                                             "pick another new name")
                conn.execute("UPDATE deployments SET host = ? WHERE host = ?", (new.name, name))
                conn.execute("UPDATE host_status SET host = ? WHERE host = ?", (new.name, name))
                conn.execute("UPDATE hosts SET proxy_jump = ? WHERE proxy_jump = ?",
                             (new.name, name))
            row = _host_to_row(new)
            sets = ", ".join(f"{k} = ?" for k in row)
            conn.execute(f"UPDATE hosts SET {sets} WHERE name = ?", [*row.values(), name])
            self._check_jumps(conn)
            diff = _changes(old, new)
            change.payload.update({k: after for k, (_, after) in diff.items()})
            change.payload["previous"] = {k: before for k, (before, _) in diff.items()}
        return self.get(new.name)

    def remove(self, name: str) -> Host:
        """Remove host ``name`` (admins only) and return what it was.

        Its deployment history stays in the workspace; its cached status goes.

        Raises
        ------
        NotFoundError
            No such host.
        InvalidInputError
            Other hosts jump through it (change them first).
        """
        with self.ws.mutate("host.remove", name, "manage-hosts") as change:
            host = self.get(name)
            users = [r[0] for r in change.db.conn.execute(
                "SELECT name FROM hosts WHERE proxy_jump = ? ORDER BY name", (name,))]
            if users:
                raise InvalidInputError(
                    f"host '{name}' is the proxy jump of {', '.join(users)}",
                    "give them another one first (`modeldeck hosts edit NAME --proxy-jump "
                    "...`) or remove them too")
            change.db.conn.execute("DELETE FROM hosts WHERE name = ?", (name,))
            change.db.conn.execute("DELETE FROM host_status WHERE host = ?", (name,))
            change.payload.update(host.settings())
        return host

    def import_hosts(self, hosts: Iterable[Host], replace: bool = False, *,
                     groups: Sequence[str] = (), source: str = "",
                     dry_run: bool = False) -> ImportResult:
        """Add many hosts at once (admins only), as one audited transaction.

        Parameters
        ----------
        hosts
            What :func:`parse_ssh_config` or :func:`parse_ansible_inventory` returned.
        replace
            Overwrite the settings of hosts that exist already (else they are skipped).
        groups
            Groups to add every imported host to.
        source
            Where the hosts come from (a file name), recorded in the audit log.
        dry_run
            Only report what would happen; write nothing.

        Raises
        ------
        InvalidInputError
            A host is malformed, or a name appears twice.
        """
        extra = tuple(check_host_name(g, "group") for g in groups)
        incoming: dict[str, Host] = {}
        for host in hosts:
            host = dataclasses.replace(host, groups=(*host.groups, *extra)).checked()
            if host.name in incoming:
                raise InvalidInputError(f"host '{host.name}' is listed twice",
                                        "list every host once")
            incoming[host.name] = host
        result = self._plan_import(incoming, replace)
        if dry_run:
            return result
        if not result.added and not result.updated:
            self.ws.require("manage-hosts")
            return result
        subject = source or f"{len(incoming)} hosts"
        with self.ws.mutate("host.import", subject, "manage-hosts") as change:
            result = self._plan_import(incoming, replace)  # again, inside the write lock
            now, who = utc_now(), self.ws.identity.name
            updated: dict[str, Any] = {}
            for name in result.added:
                host = dataclasses.replace(incoming[name], created_at=now, created_by=who)
                change.db["hosts"].insert(_host_to_row(host))
            for name in result.updated:
                old = self.get(name)
                new = dataclasses.replace(incoming[name], created_at=old.created_at,
                                          created_by=old.created_by)
                row = _host_to_row(new)
                sets = ", ".join(f"{k} = ?" for k in row)
                change.db.conn.execute(f"UPDATE hosts SET {sets} WHERE name = ?",
                                       [*row.values(), name])
                updated[name] = _changes(old, new)
            self._check_jumps(change.db.conn)
            change.payload.update(
                source=source, replace=replace, groups=list(extra),
                added={n: incoming[n].settings() for n in result.added},
                updated=updated, skipped=list(result.skipped))
        return result

    def _plan_import(self, incoming: Mapping[str, Host], replace: bool) -> ImportResult:
        existing = {h.name: h for h in self.list()}
        added, updated, skipped = [], [], []
        for name, host in incoming.items():
            old = existing.get(name)
            if old is None:
                added.append(name)
            elif replace and old.settings() != host.settings():
                updated.append(name)
            else:
                skipped.append(name)
        return ImportResult(tuple(added), tuple(updated), tuple(skipped))

    @staticmethod
    def _check_jumps(conn: Any) -> None:
        """Refuse proxy-jump cycles among stored hosts (a jumps via b, b via a)."""
        jumps = dict(conn.execute("SELECT name, proxy_jump FROM hosts WHERE proxy_jump != ''"))
        for start in jumps:
            seen = [start]
            hop = jumps.get(start)
            while hop in jumps:
                if hop in seen:
                    raise InvalidInputError(
                        "the proxy jumps of " + " → ".join([*seen, hop]) + " form a loop",
                        "make one of them connect directly (--proxy-jump '')")
                seen.append(hop)
                hop = jumps[hop]


# -- deployment history and host status ----------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """One deploy or rollback on one host, as recorded in the workspace.

    Attributes
    ----------
    id
        Row id, increasing.
    host
        The host's name (kept after the host is removed).
    action
        ``"deploy"`` or ``"rollback"``.
    release_id, previous_release
        The release switched to, and the one running before (``""`` if none).
    model, version
        What the release serves (``""``/``None`` when unknown, e.g. a rollback).
    outcome
        ``"ok"``, ``"failed"``, ``"rolled-back"``, ``"cancelled"`` or ``"unknown"``
        (recorded before the outcome was known, never finished).
    detail
        An error or a note, or a JSON object (``{"error": ..., "timings": ...}``) when
        recorded from a mapping: see :attr:`details` and :attr:`note`.
    bytes_sent
        Bytes uploaded to the host.
    started_at, finished_at
        UTC time stamps; ``finished_at`` is ``None`` until finished.
    actor
        Who ran it.
    """

    id: int
    host: str
    action: str
    release_id: str
    model: str
    version: int | None
    previous_release: str
    outcome: str
    detail: str
    bytes_sent: int
    started_at: str
    finished_at: str | None
    actor: str

    @property
    def details(self) -> dict[str, Any]:
        """``detail`` as a mapping: the recorded JSON object, or ``{"note": text}``."""
        if self.detail.startswith("{"):
            try:
                data = json.loads(self.detail)
            except ValueError:
                data = None
            if isinstance(data, dict):
                return data
        return {"note": self.detail} if self.detail else {}

    @property
    def note(self) -> str:
        """A one-line note: the error recorded in ``detail``, or its text."""
        data = self.details
        return str(data.get("error") or data.get("note") or "")

    @property
    def seconds(self) -> float | None:
        """How long it took, or ``None`` when unfinished."""
        if not self.finished_at:
            return None
        start = datetime.strptime(self.started_at, _TIME_FORMAT)
        end = datetime.strptime(self.finished_at, _TIME_FORMAT)
        return (end - start).total_seconds()


@dataclass(frozen=True)
class HostStatus:
    """What was last seen on a host (a cache written by probes and deploys).

    Attributes
    ----------
    host
        The host's name.
    checked_at
        When (UTC).
    reachable
        Whether the host answered.
    release_id, model, version
        What its ``current`` release serves (``None`` when unknown or none).
    healthy
        Whether its server answered ``/ready`` (``None`` when not checked).
    detail
        An error or a note.
    free_bytes
        Free disk space at the deploy root (``None`` when unknown).
    fingerprint
        The host key's SHA256 fingerprint seen (``""`` for local hosts).
    """

    host: str
    checked_at: str
    reachable: bool
    release_id: str | None = None
    model: str | None = None
    version: int | None = None
    healthy: bool | None = None
    detail: str = ""
    free_bytes: int | None = None
    fingerprint: str = ""


def _detail_text(detail: str | Mapping[str, Any]) -> str:
    if isinstance(detail, str):
        return detail
    return json.dumps(dict(detail), default=str, ensure_ascii=False)


def _check_choice(what: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidInputError(f"unknown {what} '{value}'", f"use one of: {', '.join(allowed)}")


def record_deployment(workspace: Workspace, host: str, action: str, release_id: str, *,
                      outcome: str = "unknown", model: str = "", version: int | None = None,
                      previous_release: str = "", detail: str | Mapping[str, Any] = "",
                      bytes_sent: int = 0, started_at: str | None = None,
                      finished_at: str | None = None) -> int:
    """Record a deploy or rollback on ``host`` (permission ``deploy``; audited).

    Record it with ``outcome="unknown"`` before switching anything and finish it with
    :func:`finish_deployment`, so a crash in between leaves an honest row. ``detail`` is
    text, or a mapping stored as a JSON object (an ``"error"`` key is its :attr:`note`).

    Returns
    -------
    int
        The row id.
    """
    _check_choice("action", action, ACTIONS)
    _check_choice("outcome", outcome, OUTCOMES)
    started_at = started_at or utc_now()
    text = _detail_text(detail)
    with workspace.mutate(f"deploy.{action}", host, "deploy") as change:
        row = dict(host=host, action=action, release_id=release_id, model=model,
                   version=version, previous_release=previous_release, outcome=outcome,
                   detail=text, bytes_sent=int(bytes_sent), started_at=started_at,
                   finished_at=finished_at, actor=workspace.identity.name)
        cursor = change.db.conn.execute(
            f"INSERT INTO deployments ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()))
        row_id = int(cursor.lastrowid or 0)
        change.payload.update(id=row_id, release_id=release_id, model=model, version=version,
                              previous_release=previous_release, outcome=outcome,
                              detail=detail if isinstance(detail, str) else dict(detail),
                              bytes_sent=int(bytes_sent))
    return row_id


def finish_deployment(workspace: Workspace, deployment_id: int, outcome: str, *,
                      detail: str | Mapping[str, Any] | None = None, bytes_sent: int | None = None,
                      finished_at: str | None = None, release_id: str | None = None,
                      previous_release: str | None = None, model: str | None = None,
                      version: int | None = None) -> Deployment:
    """Set the outcome of a recorded deployment (permission ``deploy``; audited as
    ``deploy.finish``). ``release_id``, ``previous_release``, ``model`` and ``version``
    fill in what was learnt on the host (a rollback's target, the release replaced)."""
    _check_choice("outcome", outcome, OUTCOMES)
    old = get_deployment(workspace, deployment_id)
    with workspace.mutate("deploy.finish", old.host, "deploy") as change:
        change.db.conn.execute(
            "UPDATE deployments SET outcome = ?, detail = ?, bytes_sent = ?, finished_at = ?, "
            "release_id = ?, previous_release = ?, model = ?, version = ? WHERE id = ?",
            (outcome, old.detail if detail is None else _detail_text(detail),
             old.bytes_sent if bytes_sent is None else int(bytes_sent),
             finished_at or utc_now(), old.release_id if release_id is None else release_id,
             old.previous_release if previous_release is None else previous_release,
             old.model if model is None else model,
             old.version if version is None else version, deployment_id))
        change.payload.update(id=deployment_id, action=old.action, release_id=old.release_id,
                              outcome=outcome,
                              detail=detail if isinstance(detail, (str, type(None))) else
                              dict(detail),
                              bytes_sent=old.bytes_sent if bytes_sent is None else bytes_sent)
    return get_deployment(workspace, deployment_id)


_DEPLOYMENT_COLUMNS = ", ".join(f.name for f in dataclasses.fields(Deployment))


def get_deployment(workspace: Workspace, deployment_id: int) -> Deployment:
    """One recorded deployment; :class:`NotFoundError` if there is none with that id."""
    for row in workspace.db.query(
            f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?", [deployment_id]):
        return Deployment(**row)
    raise NotFoundError(f"no deployment #{deployment_id}",
                        "list them with `modeldeck hosts history`")


def deployments(workspace: Workspace, host: str | None = None,
                limit: int | None = 100) -> list[Deployment]:
    """Recorded deploys and rollbacks, newest first; of one host, or of all."""
    sql = f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments"
    params: list[Any] = []
    if host is not None:
        sql += " WHERE host = ?"
        params.append(host)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return [Deployment(**row) for row in workspace.db.query(sql, params)]


def set_status(workspace: Workspace, host: str, *, reachable: bool,
               release_id: str | None = None, model: str | None = None,
               version: int | None = None, healthy: bool | None = None, detail: str = "",
               free_bytes: int | None = None, fingerprint: str = "",
               checked_at: str | None = None) -> HostStatus:
    """Cache what was just seen on ``host``, replacing what was cached before.

    Not audited and open to every role: it is an observation, not a change.
    """
    status = HostStatus(host=host, checked_at=checked_at or utc_now(),
                        reachable=bool(reachable), release_id=release_id, model=model,
                        version=version, healthy=None if healthy is None else bool(healthy),
                        detail=detail, free_bytes=free_bytes, fingerprint=fingerprint)
    row = dataclasses.asdict(status)
    # One statement: atomic without an explicit transaction.
    workspace.db.conn.execute(
        f"INSERT OR REPLACE INTO host_status ({', '.join(row)}) "
        f"VALUES ({', '.join('?' * len(row))})", list(row.values()))
    return status


def _status_from_row(row: Mapping[str, Any]) -> HostStatus:
    values = dict(row)
    values["reachable"] = bool(values["reachable"])
    if values["healthy"] is not None:
        values["healthy"] = bool(values["healthy"])
    return HostStatus(**values)


def statuses(workspace: Workspace) -> list[HostStatus]:
    """The cached status of every host that has one, sorted by host name."""
    return [_status_from_row(row) for row in workspace.db.query(
        "SELECT * FROM host_status ORDER BY host")]


def get_status(workspace: Workspace, host: str) -> HostStatus | None:
    """The cached status of ``host``, or ``None``."""
    for row in workspace.db.query("SELECT * FROM host_status WHERE host = ?", [host]):
        return _status_from_row(row)
    return None


# -- importers: shared ---------------------------------------------------------------------


def _checked_from(where: str, host: Host) -> Host:
    try:
        return host.checked()
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc.message}", exc.fix) from None


def _read_error(where: str, problem: str, fix: str) -> InvalidInputError:
    return InvalidInputError(f"{where}: {problem}", fix)


def _jump_from_ssh_args(text: str, where: str, name: str) -> str:
    """The ProxyJump in ssh command-line arguments (``-J``, ``-o ProxyJump=``, or a
    ``ProxyCommand`` of the form ``ssh -W %h:%p [user@]bastion``), or ``""``."""
    try:
        args = shlex.split(text)
    except ValueError as exc:
        raise _read_error(where, f"cannot split the ssh arguments of '{name}' ({exc})",
                          "fix the quoting") from None
    jump, command = "", ""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-J" and i + 1 < len(args):
            jump, i = args[i + 1], i + 2
            continue
        if arg.startswith("-J") and len(arg) > 2:
            jump = arg[2:]
        elif arg.startswith("-o"):
            option = arg[2:] if len(arg) > 2 else (args[i + 1] if i + 1 < len(args) else "")
            if len(arg) == 2:
                i += 1
            key, _, value = option.replace("=", " ", 1).partition(" ")
            if key.lower() == "proxyjump":
                jump = value.strip()
            elif key.lower() == "proxycommand":
                command = value.strip()
        i += 1
    if command and not jump:
        jump = _jump_from_proxy_command(command)
        if not jump:
            raise _read_error(
                where, f"'{name}' uses ProxyCommand '{command}', which ModelDeck does not run",
                "use ProxyJump (ssh -J) instead, e.g. ProxyJump bastion")
    return "" if jump.lower() == "none" else jump


def _jump_from_proxy_command(command: str) -> str:
    """``ssh [-p P] [-l U] -W %h:%p [user@]bastion`` → ``[user@]bastion[:P]``; else ``""``.

    (paramiko has already replaced ``%h:%p`` with the target when it comes from a config.)
    """
    try:
        args = shlex.split(command)
    except ValueError:
        return ""
    if not args or os.path.basename(args[0]) != "ssh" or "-W" not in args:
        return ""
    port = user = ""
    target = []
    i = 1
    while i < len(args):
        arg = args[i]
        if arg in ("-p", "-l", "-W", "-i", "-o", "-F") and i + 1 < len(args):
            if arg == "-p":
                port = args[i + 1]
            elif arg == "-l":
                user = args[i + 1]
            i += 2
            continue
        if arg.startswith("-"):
            if arg not in ("-q", "-x", "-a", "-T", "-4", "-6", "-C", "-v", "-N"):
                return ""
        else:
            target.append(arg)
        i += 1
    if len(target) != 1:
        return ""
    hop = target[0]
    if user and "@" not in hop:
        hop = f"{user}@{hop}"
    return f"{hop}:{port}" if port else hop


# -- importers: OpenSSH client config ------------------------------------------------------


def _keyword(line: str) -> tuple[str, str]:
    text = line.strip()
    if not text or text.startswith("#"):
        return "", ""
    match = re.match(r"(\S+?)(?:\s*=\s*|\s+)(.*)$", text)
    if not match:
        return text.lower(), ""
    return match[1].lower(), match[2].strip()


def _expand_includes(text: str, path: Path, depth: int = 0
                     ) -> list[tuple[str, str]]:
    """The config's lines with ``Include`` files inlined, each with ``file:line``."""
    if depth > 16:
        raise _read_error(str(path), "Include nests deeper than 16 files",
                          "remove the Include loop")
    out: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        key, value = _keyword(line)
        if key != "include":
            out.append((line, f"{path}:{number}"))
            continue
        for pattern in value.split():
            pattern = os.path.expanduser(pattern.strip('"'))
            if os.path.isabs(pattern):
                candidates = [pattern]
            else:  # OpenSSH: relative to ~/.ssh; failing that, next to this file
                candidates = [os.path.join(os.path.expanduser("~/.ssh"), pattern),
                              os.path.join(str(path.parent), pattern)]
            for candidate in candidates:
                files = sorted(glob.glob(candidate))
                if files:
                    break
            for name in files:  # like ssh, a pattern matching nothing is no error
                try:
                    included = Path(name).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise _read_error(f"{path}:{number}", f"cannot read Include {name} ({exc})",
                                      "fix or remove the Include line") from None
                out.extend(_expand_includes(included, Path(name), depth + 1))
    return out


def parse_ssh_config(text: str, path: str | os.PathLike[str] = "ssh config") -> list[Host]:
    """Read the hosts of an OpenSSH client config (``~/.ssh/config``).

    Every ``Host`` alias without wildcards becomes a host named after the alias, with the
    settings ``ssh`` would use for it (paramiko's lookup, so ``Host *`` and matching
    wildcard blocks supply defaults): HostName, User, Port, the first IdentityFile (``~``
    expanded) and ProxyJump (as written: it may name another alias). A ``ProxyCommand``
    of the form ``ssh -W %h:%p bastion`` becomes a ProxyJump. ``Include`` is followed;
    ``Match`` blocks are ignored (evaluating them could run commands).

    Parameters
    ----------
    text
        The config's text.
    path
        Its file name, for error messages and relative Includes.

    Raises
    ------
    InvalidInputError
        The config cannot be parsed, or an alias cannot be a host (its name, port...);
        the message names the file and line.
    """
    import paramiko  # heavy; only needed here

    path = Path(path)
    lines = _expand_includes(text, path)
    kept: list[tuple[str, str]] = []
    in_match = False
    for line, where in lines:
        key, _ = _keyword(line)
        if key == "match":
            in_match = True
        elif key == "host":
            in_match = False
        if not in_match:
            kept.append((line, where))
    aliases: dict[str, str] = {}
    for line, where in kept:
        key, value = _keyword(line)
        if key != "host":
            continue
        try:
            patterns = shlex.split(value)
        except ValueError:
            patterns = value.split()
        for pattern in patterns:
            if any(c in pattern for c in "*?!"):
                continue  # a wildcard or negation: defaults for others, not a host
            aliases.setdefault(pattern, where)
    try:
        config = paramiko.SSHConfig.from_text("\n".join(line for line, _ in kept))
    except Exception as exc:  # paramiko raises ConfigParseError and plain exceptions
        raise _read_error(str(path), f"not a readable OpenSSH config ({exc})",
                          "check it with `ssh -G HOST -F FILE`") from None
    hosts = []
    for alias, where in aliases.items():
        if not NAME_RE.match(alias):
            raise _read_error(where, f"Host alias '{alias}' cannot be a ModelDeck host name",
                              "use letters, digits, '_', '.' or '-' for the alias")
        try:
            options = config.lookup(alias)
        except Exception as exc:
            raise _read_error(where, f"cannot resolve the settings of '{alias}' ({exc})",
                              "check it with `ssh -G ALIAS -F FILE`") from None
        identity = options.get("identityfile") or [""]
        jump = str(options.get("proxyjump", "") or "")
        command = str(options.get("proxycommand", "") or "")
        if command and command.lower() != "none" and not jump:
            jump = _jump_from_proxy_command(command)
            if not jump:
                raise _read_error(
                    where, f"'{alias}' uses ProxyCommand, which ModelDeck does not run",
                    "use ProxyJump instead, e.g. `ProxyJump bastion`")
        port = options.get("port", 22)
        if not str(port).strip().isdigit():
            raise _read_error(where, f"'{alias}' has Port '{port}', not a number",
                              "give a port from 1 to 65535")
        hosts.append(_checked_from(where, Host(
            name=alias, transport="ssh", hostname=str(options.get("hostname") or alias),
            port=int(port), user=str(options.get("user", "") or ""),
            identity_file=os.path.expanduser(str(identity[0])),
            proxy_jump="" if jump.lower() == "none" else jump)))
    return hosts


# -- importers: Ansible inventory ----------------------------------------------------------


@dataclass
class _Group:
    where: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Inventory:
    path: str
    groups: dict[str, _Group] = field(default_factory=dict)
    hostvars: dict[str, dict[str, Any]] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)

    def group(self, name: str, where: str) -> _Group:
        if name not in self.groups:
            self.groups[name] = _Group(where)
        return self.groups[name]

    def add_host(self, group: str, host: str, variables: Mapping[str, Any], where: str) -> None:
        self.where.setdefault(host, where)
        self.hostvars.setdefault(host, {}).update(variables)
        members = self.group(group, where).hosts
        if host not in members:
            members.append(host)


_RANGE_RE = re.compile(r"\[([^\]:]+):([^\]:]+)(?::(\d+))?\]")


def _expand_range(pattern: str, where: str) -> list[str]:
    """Ansible host ranges: ``web[01:03]`` → web01, web02, web03; ``db-[a:c]``; strides."""
    match = _RANGE_RE.search(pattern)
    if not match:
        return [pattern]
    start, end, stride = match[1], match[2], int(match[3] or 1)
    head, tail = pattern[:match.start()], pattern[match.end():]
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") and len(start) > 1 else 0
        items = [str(i).zfill(width) for i in range(int(start), int(end) + 1, stride)]
    elif len(start) == 1 and len(end) == 1 and start.isalpha() and end.isalpha():
        items = [chr(i) for i in range(ord(start), ord(end) + 1, stride)]
    else:
        raise _read_error(where, f"'{pattern}' is not a host range",
                          "write ranges as [01:10] or [a:f]")
    if not items or stride < 1:
        raise _read_error(where, f"the range in '{pattern}' is empty",
                          "put the smaller bound first")
    out = []
    for item in items:
        out.extend(_expand_range(head + item + tail, where))
        if len(out) > 10000:
            raise _read_error(where, f"'{pattern}' expands to more than 10000 hosts",
                              "use a smaller range")
    return out


def _split_host_port(token: str) -> tuple[str, int | None]:
    bare = _RANGE_RE.sub("", token)
    if bare.count(":") == 1:
        name, _, port = token.rpartition(":")
        if port.isdigit():
            return name, int(port)
    return token, None


def _ini_value(text: str) -> Any:
    """A value as Ansible's INI parser reads it: a Python literal if it is one."""
    text = text.strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return text


def _parse_ini(text: str, path: str) -> _Inventory:
    inv = _Inventory(path)
    inv.group("ungrouped", f"{path}:1")
    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        where = f"{path}:{number}"
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            match = re.fullmatch(r"\[([^\]:\s]+)(?::(\w+))?\]\s*(?:[#;].*)?", line)
            if not match or (match[2] or "hosts") not in ("hosts", "vars", "children"):
                raise _read_error(where, f"'{line}' is not a section header",
                                  "write [group], [group:vars] or [group:children]")
            section, kind = match[1], match[2] or "hosts"
            inv.group(section, where)
            continue
        if kind == "vars":
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise _read_error(where, f"'{line}' is not key=value",
                                  f"write the variables of [{section}:vars] as key=value")
            inv.groups[section].vars[key.strip()] = _ini_value(value)
            continue
        if kind == "children":
            child = line.split()[0]
            inv.group(child, where)
            if child not in inv.groups[section].children:
                inv.groups[section].children.append(child)
            continue
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as exc:
            raise _read_error(where, f"cannot read '{line}' ({exc})", "fix the quoting") from None
        if not tokens:
            continue
        variables: dict[str, Any] = {}
        for token in tokens[1:]:
            key, sep, value = token.partition("=")
            if not sep or not key:
                raise _read_error(where, f"'{token}' after host '{tokens[0]}' is not key=value",
                                  "write host variables as key=value")
            variables[key] = _ini_value(value)
        name, port = _split_host_port(tokens[0])
        if port is not None:
            variables.setdefault("ansible_port", port)
        for host in _expand_range(name, where):
            inv.add_host(section, host, variables, where)
    return inv


def _yaml_loader() -> Any:
    import yaml  # only needed for YAML inventories

    class _Mapping(dict):  # type: ignore[type-arg]
        """A mapping that remembers the line of each key."""

        lines: dict[Any, int]

    class Loader(yaml.SafeLoader):
        def construct_yaml_map(self, node: Any) -> Any:  # noqa: D102 - PyYAML's hook
            data = _Mapping()
            data.lines = {}
            yield data
            for key_node, _ in node.value:
                key = self.construct_object(key_node)
                if isinstance(key, (str, int)):
                    data.lines[key] = key_node.start_mark.line + 1
            data.update(self.construct_mapping(node))

    Loader.add_constructor("tag:yaml.org,2002:map", Loader.construct_yaml_map)
    return Loader


def _line(mapping: Any, key: Any, path: str) -> str:
    lines = getattr(mapping, "lines", {})
    return f"{path}:{lines[key]}" if key in lines else path


def _parse_yaml_group(inv: _Inventory, name: str, body: Any, where: str) -> None:
    group = inv.group(name, where)
    if body is None:
        return
    if not isinstance(body, Mapping):
        raise _read_error(where, f"group '{name}' is not a mapping",
                          "give a group as a mapping with hosts:, children: and vars:")
    for key, value in body.items():
        at = _line(body, key, inv.path)
        if key == "hosts":
            if value is None:
                continue
            if isinstance(value, list):  # the JSON of `ansible-inventory --list`
                value = {h: None for h in value}
            if not isinstance(value, Mapping):
                raise _read_error(at, f"the hosts of group '{name}' are not a mapping",
                                  "list hosts as `name:` lines under hosts:")
            for host, variables in value.items():
                host_at = _line(value, host, inv.path)
                if variables is not None and not isinstance(variables, Mapping):
                    raise _read_error(host_at, f"the variables of host '{host}' are not a "
                                      "mapping", "give them as key: value lines")
                name_part, port = _split_host_port(str(host))
                merged = dict(variables or {})
                if port is not None:
                    merged.setdefault("ansible_port", port)
                for expanded in _expand_range(name_part, host_at):
                    inv.add_host(name, expanded, merged, host_at)
        elif key == "children":
            if value is None:
                continue
            if isinstance(value, list):
                value = {c: None for c in value}
            if not isinstance(value, Mapping):
                raise _read_error(at, f"the children of group '{name}' are not a mapping",
                                  "list child groups as `name:` lines under children:")
            for child, child_body in value.items():
                child = str(child)
                if child not in group.children:
                    group.children.append(child)
                _parse_yaml_group(inv, child, child_body, _line(value, child, inv.path))
        elif key == "vars":
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise _read_error(at, f"the vars of group '{name}' are not a mapping",
                                  "give them as key: value lines")
            group.vars.update(value)
        else:
            raise _read_error(at, f"group '{name}' has an unknown key '{key}'",
                              "a group has only hosts:, children: and vars:")


def _parse_yaml(text: str, path: str) -> _Inventory:
    import yaml

    try:
        data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _read_error(where, f"not valid YAML ({problem})",
                          "fix the indentation or quoting there") from None
    inv = _Inventory(path)
    if data is None:
        return inv
    if not isinstance(data, Mapping):
        raise _read_error(path, "the inventory is not a mapping of groups",
                          "start it with `all:` and its hosts:, children: and vars:")
    meta = data.get("_meta")
    for name, body in data.items():
        if name == "_meta":
            continue
        _parse_yaml_group(inv, str(name), body, _line(data, name, path))
    if isinstance(meta, Mapping):
        for host, variables in (meta.get("hostvars") or {}).items():
            if isinstance(variables, Mapping):
                inv.hostvars.setdefault(str(host), {}).update(variables)
    return inv


def _looks_like_yaml(text: str, path: str) -> bool:
    if path.lower().endswith((".yml", ".yaml", ".json")):
        return True
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if stripped.startswith("---"):
            return True
        if stripped.startswith("[") or stripped.startswith("{"):
            return stripped.startswith("{")
        return bool(re.match(r"^[^\s=]+:\s*(#.*)?$", stripped))
    return False


def _resolve(inv: _Inventory) -> list[Host]:
    """Turn groups, children and variables into hosts, with Ansible's variable precedence:
    ``all`` vars, then group vars from the shallowest group to the deepest (ties by name),
    then host vars."""
    groups = inv.groups
    for name, group in groups.items():
        for child in group.children:
            if child == "all":
                raise _read_error(group.where, f"group '{name}' has 'all' as a child",
                                  "'all' contains every group; remove it from children")
    parents: dict[str, set[str]] = {name: set() for name in groups}
    for name, group in groups.items():
        for child in group.children:
            parents[child].add(name)
    depth: dict[str, int] = {"all": 0}

    def depth_of(name: str, trail: tuple[str, ...]) -> int:
        if name in depth:
            return depth[name]
        if name in trail:
            raise _read_error(groups[name].where, "the children of groups form a loop: "
                              + " → ".join([*trail, name]), "remove one of the children links")
        ups = parents[name] - {"all"}
        depth[name] = 1 + max((depth_of(p, (*trail, name)) for p in ups), default=0)
        return depth[name]

    for name in groups:
        depth_of(name, ())

    def ancestors(name: str) -> set[str]:
        out = {name}
        for parent in parents.get(name, ()):
            out |= ancestors(parent)
        return out

    member_of: dict[str, set[str]] = {}
    for name, group in groups.items():
        for host in group.hosts:
            member_of.setdefault(host, set()).update(ancestors(name))
    hosts = []
    for host, where in inv.where.items():
        in_groups = member_of.get(host, set()) - {"all", "ungrouped"}
        variables: dict[str, Any] = dict(groups["all"].vars) if "all" in groups else {}
        for name in sorted(in_groups | ({"ungrouped"} & member_of.get(host, set())),
                           key=lambda g: (depth[g], g)):
            variables.update(groups[name].vars)
        variables.update(inv.hostvars.get(host, {}))
        hosts.append(_host_from_vars(host, sorted(in_groups), variables, where))
    return hosts


def _host_from_vars(name: str, groups: list[str], variables: Mapping[str, Any],
                    where: str) -> Host:
    def get(*keys: str, default: Any = None) -> Any:
        for key in keys:
            value = variables.get(key)
            if value is not None and value != "":
                if isinstance(value, str) and "{{" in value:
                    raise _read_error(where, f"'{name}' has a template in {key} ({value}), "
                                      "which ModelDeck does not evaluate",
                                      "give a literal value, or import the output of "
                                      "`ansible-inventory -i FILE --list`")
                return value
        return default

    if not NAME_RE.match(name):
        raise _read_error(where, f"'{name}' cannot be a ModelDeck host name",
                          "give it a simple alias and set ansible_host to its address")
    connection = str(get("ansible_connection", default="ssh"))
    if connection not in ("ssh", "paramiko", "smart", "local"):
        raise _read_error(where, f"'{name}' uses ansible_connection={connection}; "
                          "ModelDeck deploys over SSH or to a local folder",
                          f"import an inventory without '{name}', or set "
                          "ansible_connection=ssh for it")
    local = connection == "local"
    python = str(get("modeldeck_python", "ansible_python_interpreter", default="python3"))
    if python.startswith("auto"):
        python = "python3"
    labels = get("modeldeck_labels", default={})
    if not isinstance(labels, Mapping):
        raise _read_error(where, f"modeldeck_labels of '{name}' is not a mapping",
                          "give labels as a mapping of key: value")
    ssh_args = " ".join(str(get(k, default="")) for k in (
        "ansible_ssh_common_args", "ansible_ssh_extra_args"))
    try:
        port = _check_port(name, "port", get("ansible_port", "ansible_ssh_port", default=22))
    except InvalidInputError as exc:
        raise _read_error(where, exc.message, exc.fix or "") from None
    return _checked_from(where, Host(
        name=name,
        transport="local" if local else "ssh",
        hostname="" if local else str(get("ansible_host", "ansible_ssh_host", default=name)),
        port=port,
        user=str(get("ansible_user", "ansible_ssh_user", default="")),
        identity_file=os.path.expanduser(str(get(
            "ansible_ssh_private_key_file", "ansible_private_key_file", default=""))),
        proxy_jump=_jump_from_ssh_args(ssh_args, where, name) if ssh_args.strip() else "",
        root=str(get("modeldeck_root", default=DEFAULT_ROOT)),
        python=python,
        groups=tuple(groups),
        labels={str(k): v for k, v in labels.items()},
        serve_bind=str(get("modeldeck_serve_bind", default="127.0.0.1")),
        serve_port=get("modeldeck_serve_port", default=8080),
        systemd=str(get("modeldeck_systemd", default="no")).lower(),
    ))


def parse_ansible_inventory(text: str, path: str | os.PathLike[str] = "inventory"
                            ) -> list[Host]:
    """Read the hosts of an Ansible inventory: INI, YAML, or ``ansible-inventory --list``
    JSON (chosen by the file's extension, else by its content).

    Groups (with ``[g:children]`` / ``children:`` nesting; a host is in every group
    above it), ``[g:vars]`` / ``vars:`` and host variables are merged the way Ansible
    does. Used variables: ``ansible_host``, ``ansible_port`` (or ``host:port``),
    ``ansible_user``, ``ansible_ssh_private_key_file``, ``ansible_python_interpreter``,
    ``ansible_connection`` (``local`` makes a local host), a ProxyJump in
    ``ansible_ssh_common_args`` / ``ansible_ssh_extra_args``, and ModelDeck's own
    ``modeldeck_root``, ``modeldeck_python``, ``modeldeck_serve_bind``,
    ``modeldeck_serve_port``, ``modeldeck_systemd`` and ``modeldeck_labels``. Host
    ranges (``web[01:03]``) are expanded. ``all`` and ``ungrouped`` are not groups here.

    Raises
    ------
    InvalidInputError
        The file cannot be parsed or a host cannot be made; the message names the file
        and line.
    """
    where = str(path)
    inv = _parse_yaml(text, where) if _looks_like_yaml(text, where) else _parse_ini(text, where)
    return _resolve(inv)


def read_inventory_file(path: str | os.PathLike[str], kind: str) -> list[Host]:
    """Read hosts from a file: ``kind`` is ``"ssh-config"`` or ``"ansible"``.

    Raises
    ------
    InvalidInputError
        The file cannot be read or parsed.
    """
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidInputError(f"cannot read {file} ({reason})",
                                "check the path and that it is a text file") from None
    if kind == "ssh-config":
        return parse_ssh_config(text, file)
    if kind == "ansible":
        return parse_ansible_inventory(text, file)
    raise InvalidInputError(f"unknown inventory kind '{kind}'", "use ssh-config or ansible")
