"""``modeldeck deploy``, ``rollback``, ``status`` and ``hosts trust/untrust/probe/unlock``.

Thin click commands over :mod:`modeldeck.core.deploy`; registered on the root group by
:mod:`modeldeck.core.cli`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from modeldeck.core.cli import (
    _App,
    _CliError,
    _echo_json,
    _jsonable,
    _short,
    _size,
    _table,
    _when,
    _width,
    cli,
    pass_app,
)
from modeldeck.core.cli_hosts import hosts
from modeldeck.core.progress import CancelToken, ProgressEvent

_DASH = "—"


def _select(app: _App, names: str | None, group: str | None, every: bool = True) -> list[Any]:
    from modeldeck.core.deploy.hosts import HostStore

    store = HostStore(app.workspace())
    wanted = [n.strip() for n in names.split(",") if n.strip()] if names else None
    if wanted is None and group is None and not every:
        raise _CliError("no hosts named — say which: --hosts H1,H2 or --group G")
    chosen = store.select(names=wanted, group=group)
    if not chosen:
        raise _CliError("no hosts match — add some with `modeldeck hosts add` or "
                        "`modeldeck hosts import`")
    return chosen


class _FleetProgress:
    """Deploy events on stderr: a bar per host on a terminal, plain lines otherwise."""

    def __init__(self, hosts: Sequence[str], quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.order = list(hosts)
        self.lines: dict[str, str] = {h: f"{h}: waiting" for h in hosts}
        self.drawn = 0
        self.last_step: dict[str, str] = {}

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        host = getattr(event, "host", "")
        level = getattr(event, "level", "info")
        if not host:
            self._plain(f"{event.message or event.step}")
            return
        if self.tty:
            self.lines[host] = self._bar(host, event)
            if level in ("warning", "error") or event.step == "host done":
                self._plain(f"{event.message}")
            self._draw()
            return
        done = getattr(event, "bytes_done", 0)
        if done and event.step == self.last_step.get(host):
            return  # byte counts only on a terminal
        self.last_step[host] = event.step
        click.echo(f"[{host}] {event.message or event.step}", err=True)

    def _bar(self, host: str, event: ProgressEvent) -> str:
        frac = getattr(event, "host_fraction", None)
        old = self.lines.get(host, "")
        if frac is None and event.step == "host done":
            frac = 1.0
        width = 20
        filled = int(round((frac or 0.0) * width))
        bar = "#" * filled + "." * (width - filled)
        done, total = getattr(event, "bytes_done", 0), getattr(event, "bytes_total", 0)
        extra = f" {_size(done)}/{_size(total)}" if total else ""
        text = event.message if event.step == "host done" else (event.step or old)
        name = host.ljust(max(len(h) for h in self.order) if self.order else 8)
        pct = f"{(frac or 0) * 100:3.0f}%"
        return _short(f"{name} [{bar}] {pct} {text}{extra}", _width())

    def _draw(self) -> None:
        out = sys.stderr
        if self.drawn:
            out.write(f"\x1b[{self.drawn}F")
        for host in self.order:
            out.write("\x1b[2K" + self.lines.get(host, host) + "\n")
        self.drawn = len(self.order)
        out.flush()

    def _plain(self, text: str) -> None:
        if self.tty and self.drawn:
            sys.stderr.write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0
        click.echo(text, err=True)
        if self.tty and self.order and any(not v.endswith("waiting") for v in
                                           self.lines.values()):
            self._draw()


def _drive(operation: Any, progress: _FleetProgress, cancel: CancelToken) -> Any:
    """Run a core operation; Ctrl-C cancels it cleanly (hosts finish their switch)."""
    interrupted = False
    while True:
        try:
            event = next(operation)
        except StopIteration as stop:
            return stop.value
        except KeyboardInterrupt:
            if interrupted:
                raise
            interrupted = True
            cancel.cancel()
            click.echo("cancelling: hosts stop after their current step "
                       "(Ctrl-C again to abort at once)", err=True)
            continue
        progress(event)


def _results_table(results: Sequence[Any]) -> str:
    rows = []
    for r in results:
        sent = _size(r.bytes_sent) if r.bytes_sent else _DASH
        rows.append([r.host, r.outcome, r.running or _DASH, sent, f"{r.seconds:.1f} s",
                     _short(r.error, 60) if r.error else ""])
    return _table(["HOST", "OUTCOME", "RUNNING NOW", "SENT", "TIME", "PROBLEM"], rows,
                  right=(3, 4))


def _finish(result: Any, as_json: bool) -> None:
    if as_json:
        _echo_json(result)
    else:
        click.echo(_results_table(result.results))
        if result.stopped:
            click.echo(f"Stopped: {result.stopped}.")
    if not result.ok:
        bad = [r for r in result.results if not r.ok]
        if as_json:
            raise SystemExit(1)
        first = bad[0]
        reason = first.error.split(" — ")[0] if first.error else first.outcome
        raise _CliError(
            f"{len(bad)} of {len(result.results)} hosts did not end on the "
            f"{'new' if result.action == 'deploy' else 'requested'} release "
            f"({first.host}: {reason}) — fix what the PROBLEM column says and run it again; "
            f"`modeldeck hosts history {first.host}` keeps the details")


@cli.command(short_help="Deploy a version to hosts: canary first, then in parallel.")
@click.argument("ref")
@click.option("--hosts", "names", metavar="H1,H2", help="The hosts, by name.")
@click.option("--group", "-g", help="Every host of this group.")
@click.option("--canary", type=click.IntRange(0), default=1, show_default=True,
              help="Hosts deployed (and checked) first; if one fails, the rest are left.")
@click.option("--parallel", type=click.IntRange(1), default=8, show_default=True,
              help="Hosts deployed at once after the canary.")
@click.option("--max-failures", type=click.IntRange(0), default=0, show_default=True,
              help="Failed hosts tolerated before the rollout stops.")
@click.option("--keep", type=click.IntRange(2), default=5, show_default=True,
              help="Releases kept on each host (older ones are pruned).")
@click.option("--wheelhouse", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Wheels for hosts without numpy/scikit-learn (air-gapped install).")
@click.option("--build-wheelhouse", is_flag=True,
              help="Download the wheels here (pip download) for the hosts' Python.")
@click.option("--plan", "only_plan", is_flag=True,
              help="Show what would change on each host; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@pass_app
def deploy(app: _App, ref: str, names: str | None, group: str | None, canary: int,
           parallel: int, max_failures: int, keep: int, wheelhouse: Path | None,
           build_wheelhouse: bool, only_plan: bool, as_json: bool, quiet: bool) -> None:
    """Deploy version REF to hosts over SSH (or into local folders).

    Each host: lock, probe (an incompatible host is refused before any upload), install
    the Python environment if needed (from a wheelhouse, no internet on the host), upload
    what the host does not already have, verify every sha256 there, switch atomically,
    restart, wait for /ready and run a smoke prediction — and switch back by itself if
    anything fails.

    \b
    Examples:
      modeldeck deploy breast-cancer@production --group edge --canary 1
      modeldeck deploy breast-cancer@production --hosts edge-1,edge-2 --plan
      modeldeck deploy diabetes:2 --hosts airgap-1 --wheelhouse /media/usb/wheels
    """
    from modeldeck.core.deploy import rollout as ro

    chosen = _select(app, names, group, every=False)
    options = ro.DeployOptions(canary=canary, parallel=parallel, max_failures=max_failures,
                               keep=keep, wheelhouse=wheelhouse,
                               build_wheelhouse=build_wheelhouse)
    ws = app.workspace()
    cancel = CancelToken()
    progress = _FleetProgress([h.name for h in chosen], quiet or as_json)
    if only_plan:
        plans = _drive(ro.plan(ws, ref, chosen, options), progress, cancel)
        if as_json:
            _echo_json(plans)
            return
        rows = [[p.host, p.current or _DASH, p.action, str(p.files_to_send),
                 _size(p.bytes_to_send), p.env or _DASH] for p in plans]
        click.echo(f"Plan for {plans[0].target if plans else ref} (nothing changed):")
        click.echo(_table(["HOST", "RUNNING NOW", "WOULD DO", "FILES", "TO SEND", "PYTHON"],
                          rows, right=(3, 4)))
        for p in plans:
            for problem in p.problems:
                click.echo(f"  {p.host}: {problem}")
        return
    result = _drive(ro.rollout(ws, ref, chosen, options, cancel=cancel), progress, cancel)
    if not as_json:
        click.echo(f"Release {result.release_id} ({result.model} v{result.version}), "
                   f"{result.seconds:.1f} s:")
    _finish(result, as_json)


@cli.command(short_help="Switch hosts back to their previous (or a named) release.")
@click.option("--hosts", "names", metavar="H1,H2", help="The hosts, by name.")
@click.option("--group", "-g", help="Every host of this group.")
@click.option("--all", "every", is_flag=True, help="Every host.")
@click.option("--to", "to", metavar="RELEASE", help="A release id still on the hosts.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@pass_app
def rollback(app: _App, names: str | None, group: str | None, every: bool, to: str | None,
             as_json: bool, quiet: bool) -> None:
    """Roll hosts back to the release they ran before (or to --to RELEASE). Nothing is
    uploaded: the release is still on each host, so this takes about a second plus the
    server's restart.

    \b
    Examples:
      modeldeck rollback --hosts edge-1
      modeldeck rollback --group edge --to breast-cancer-v1-0a1b2c3d4e5f
    """
    from modeldeck.core.deploy import rollout as ro

    chosen = _select(app, names, group, every=every)
    cancel = CancelToken()
    progress = _FleetProgress([h.name for h in chosen], quiet or as_json)
    result = _drive(ro.rollback(app.workspace(), chosen, to=to, cancel=cancel), progress,
                    cancel)
    if not as_json:
        click.echo(f"Rollback, {result.seconds:.1f} s:")
    _finish(result, as_json)


@cli.command(short_help="What runs where: release and health of every host.")
@click.option("--hosts", "names", metavar="H1,H2", help="Only these hosts.")
@click.option("--group", "-g", help="Only this group.")
@click.option("--cached", is_flag=True, help="Show the last known state; contact no host.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def status(app: _App, names: str | None, group: str | None, cached: bool,
           as_json: bool) -> None:
    """Ask every host what it runs: model, version, release id, health (the server's
    /ready), free disk. Unreachable hosts are listed with the reason.

    \b
    Examples:
      modeldeck status
      modeldeck status --group edge --json
    """
    from modeldeck.core.deploy import hosts as hosts_mod
    from modeldeck.core.deploy import rollout as ro

    chosen = _select(app, names, group)
    ws = app.workspace()
    if cached:
        known = {s.host: s for s in hosts_mod.statuses(ws)}
        states = [_cached_state(h.name, known.get(h.name)) for h in chosen]
    else:
        states = ro.fleet_status(ws, chosen)
    if as_json:
        _echo_json([{"host": s.host, "reachable": s.reachable, "model": s.model or None,
                     "version": s.version, "release_id": s.release_id or None,
                     "healthy": s.healthy, "detail": s.detail, "free_bytes": s.free_bytes,
                     "releases": s.releases, "checked_at": s.checked_at} for s in states])
        return
    rows = []
    for s in states:
        health = ("ready" if s.healthy else "NOT READY") if s.release_id else _DASH
        if not s.reachable:
            health = "unreachable"
        version = f"v{s.version}" if s.version is not None else _DASH
        rows.append([s.host, s.model or _DASH, version, s.release_id or _DASH, health,
                     _size(s.free_bytes) if s.free_bytes is not None else _DASH,
                     _when(s.checked_at) if s.checked_at else _DASH])
    click.echo(_table(["HOST", "MODEL", "VERSION", "RELEASE", "HEALTH", "FREE", "CHECKED"],
                      rows, right=(5,)))
    for s in states:
        if s.detail and (not s.reachable or not s.healthy):
            click.echo(f"  {s.host}: {_short(s.detail, _width() - len(s.host) - 4)}")


@cli.command(short_help="Fetch profiles, logged predictions and labels from the hosts.")
@click.option("--hosts", "names", metavar="H1,H2", help="Only these hosts.")
@click.option("--group", "-g", help="Only this group.")
@click.option("--since", metavar="TIME",
              help="Ask for what was served from this time on (ISO 8601). Default: what "
                   "came after the last pull from each host.")
@click.option("--full", is_flag=True,
              help="Ask for everything the hosts' logs keep (labels given to old "
                   "predictions since the last pull arrive this way).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@pass_app
def pull(app: _App, names: str | None, group: str | None, since: str | None, full: bool,
         as_json: bool, quiet: bool) -> None:
    """Fetch from every host's server what it saw: the drift profiles of each window,
    the logged predictions and the labels sent back to /v1/feedback. It travels over
    SSH (the host's agent asks its own server on the host), into WORKSPACE/pulled/;
    then `modeldeck drift REF --pulled` analyses it per window and host, with realized
    performance where labels came back.

    \b
    Examples:
      modeldeck pull --group edge
      modeldeck drift breast-cancer@production --pulled --html drift.html
    """
    from modeldeck.core.deploy import pull as pl

    chosen = _select(app, names, group)
    cancel = CancelToken()
    progress = _FleetProgress([], quiet or as_json)
    results = _drive(pl.pull(app.workspace(), chosen, since=since, full=full, cancel=cancel),
                     progress, cancel)
    if as_json:
        _echo_json(results)
    else:
        rows = [[r.host, "ok" if r.ok else "failed", f"{r.model} v{r.version}" if r.ok
                 else _DASH, str(r.new_rows) if r.ok else _DASH, str(r.rows) if r.ok else
                 _DASH, str(r.labeled) if r.ok else _DASH, str(r.windows) if r.ok else _DASH,
                 _short(r.error, 50)] for r in results]
        click.echo(_table(["HOST", "PULL", "MODEL", "NEW ROWS", "ROWS", "LABELED",
                           "WINDOWS", "PROBLEM"], rows, right=(3, 4, 5, 6)))
    bad = [r for r in results if not r.ok]
    if bad:
        if as_json:
            raise SystemExit(1)
        raise _CliError(f"{len(bad)} of {len(results)} hosts could not be pulled "
                        f"({bad[0].host}: {bad[0].error.split(' — ')[0]}) — check them with "
                        "`modeldeck status`")


def _cached_state(name: str, status: Any) -> Any:
    from modeldeck.core.deploy.rollout import HostState

    if status is None:
        return HostState(host=name, reachable=False, detail="never checked")
    return HostState(host=name, reachable=bool(status.reachable),
                     release_id=status.release_id or "", model=status.model or "",
                     version=status.version, healthy=bool(status.healthy),
                     detail=status.detail or "", free_bytes=status.free_bytes,
                     checked_at=status.checked_at or "")


@hosts.command("trust", short_help="Trust a host's SSH key after checking its fingerprint.")
@click.argument("name")
@click.option("--fingerprint", metavar="SHA256:...",
              help="Accept the key only if it has this fingerprint (no question asked).")
@pass_app
def hosts_trust(app: _App, name: str, fingerprint: str | None) -> None:
    """Read the key host NAME presents and record it in the workspace's known_hosts.

    Without --fingerprint you are shown the key's SHA256 fingerprint and asked; compare
    it with what the host's admin reads there (`ssh-keygen -lf
    /etc/ssh/ssh_host_ed25519_key.pub`). A key that differs from one trusted before is
    never accepted: that may be a man-in-the-middle.
    """
    from modeldeck.core.deploy import trust
    from modeldeck.core.deploy.hosts import HostStore

    ws = app.workspace()
    store = HostStore(ws)
    host = store.get(name)
    lookup = {h.name: h for h in store.list()}.get

    def confirm(scanned: Any) -> bool:
        click.echo(f"{host.name} ({scanned.endpoint}) presents this {scanned.key_type} key:")
        click.echo(f"  {scanned.fingerprint}")
        if not sys.stdin.isatty():
            raise _CliError("no terminal to confirm the fingerprint on — pass "
                            f"--fingerprint {scanned.fingerprint} once you have checked it")
        return click.confirm("Trust it?", default=False)

    scanned = trust.trust_host(ws, host, lookup, fingerprint=fingerprint, confirm=confirm)
    click.echo(f"Trusted {host.name}: {scanned.key_type} {scanned.fingerprint} "
               f"(in {trust.workspace_known_hosts(ws)})")


@hosts.command("untrust", short_help="Forget the SSH key recorded for a host.")
@click.argument("name")
@pass_app
def hosts_untrust(app: _App, name: str) -> None:
    """Remove host NAME's key from the workspace's known_hosts (do this only once its
    admin confirmed the key really changed; then `modeldeck hosts trust NAME`)."""
    from modeldeck.core.deploy import trust
    from modeldeck.core.deploy.hosts import HostStore

    ws = app.workspace()
    removed = trust.untrust_host(ws, HostStore(ws).get(name))
    click.echo(f"Removed {removed} key line(s) of {name}." if removed
               else f"No key of {name} was recorded in the workspace.")


@hosts.command("probe", short_help="Check a host can serve a model, before deploying.")
@click.argument("name")
@click.option("--ref", help="Check against this version's environment "
                            "(default: the newest version of the first model).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def hosts_probe(app: _App, name: str, ref: str | None, as_json: bool) -> None:
    """Connect to host NAME and report its Python, platform, free disk, systemd and the
    versions of numpy / pandas / scikit-learn there, with a verdict for REF's model.

    \b
    Examples:
      modeldeck hosts probe edge-1 --ref breast-cancer@production
    """
    from modeldeck.core.deploy import probe as pr
    from modeldeck.core.deploy.hosts import HostStore

    ws = app.workspace()
    store = HostStore(ws)
    report = pr.probe_host(ws, store.get(name), {h.name: h for h in store.list()}.get, ref)
    if as_json:
        _echo_json(report)
        if report.verdict == "incompatible":
            raise SystemExit(1)
        return
    pairs = [("python", f"{report.python} ({report.python_path})"),
             ("platform", report.platform), ("free disk", _size(report.free_bytes)
                                             if report.free_bytes is not None else _DASH),
             ("systemd", "yes" if report.systemd else "no"),
             ("venv", "yes" if report.venv else "no"),
             ("agent", "pinned by the host's admin" if report.pinned
              else "uploaded by ModelDeck"),
             ("signatures", "required (only approved releases run)"
              if report.requires_signatures else "not required")]
    for pkg, version in report.packages.items():
        pairs.append((pkg, version or "not installed"))
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        click.echo(f"  {key.ljust(width)}  {value}")
    click.echo(f"Verdict for {report.ref}: {report.verdict} — {report.reason}")
    if report.verdict == "incompatible":
        raise SystemExit(1)


@hosts.command("pin", short_help="Write the kit that pins ModelDeck's agent on a host.")
@click.argument("name")
@click.option("--out", "-o", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the kit into (created).")
@click.option("--key", metavar="PUB", type=click.Path(dir_okay=False, path_type=Path),
              help="The deploy key's public key (default: the host's identity file + .pub).")
@click.option("--wheelhouse", metavar="DIR", type=click.Path(file_okay=False, exists=True,
                                                             path_type=Path),
              help="Wheels for the host's Python, copied into the kit (for a host whose "
                   "Python lacks the runtime's packages).")
@pass_app
def hosts_pin(app: _App, name: str, out: Path, key: Path | None,
              wheelhouse: Path | None) -> None:
    """Write into DIR what host NAME's admin installs to pin ModelDeck's agent there: the
    agent (root-owned), the reviewers' allowed_signers, the deploy key's forced-command
    line for authorized_keys and INSTALL.md with the steps. A pinned host runs only
    releases a reviewer signed, even if this desktop is compromised.

    \b
    Examples:
      modeldeck hosts pin edge-1 --out pin-edge-1
      modeldeck hosts pin edge-1 --out kit --key ~/.ssh/deploy.pub --wheelhouse wheels/
    """
    from modeldeck.core.deploy.hosts import HostStore
    from modeldeck.core.deploy.pinning import write_kit

    ws = app.workspace()
    ws.require("manage-hosts")
    kit = write_kit(ws, HostStore(ws).get(name), out, key=key, wheelhouse=wheelhouse)
    click.echo(f"Wrote the pinning kit of {name} to {kit.folder}: agent.py (sha256 "
               f"{kit.agent_sha256[:12]}…), allowed_signers ({', '.join(kit.signers)}), "
               "authorized_keys.line, INSTALL.md.")
    if not kit.key_known:
        click.echo("The deploy key is not known: put its public key into "
                   "authorized_keys.line (or run again with --key KEY.pub).")
    click.echo(f"Next: follow {kit.folder / 'INSTALL.md'} on the host, then "
               f"`modeldeck hosts probe {name}` says the agent is pinned.")


@hosts.command("unlock", short_help="Free a host's deploy lock left by a dead deploy.")
@click.argument("name")
@pass_app
def hosts_unlock(app: _App, name: str) -> None:
    """Remove the deploy lock on host NAME. Only for a lock whose deploy is gone (the
    lock names who took it, from where, and when)."""
    from modeldeck.core.deploy import probe as pr
    from modeldeck.core.deploy.hosts import HostStore

    ws = app.workspace()
    store = HostStore(ws)
    holder = pr.force_unlock(ws, store.get(name), {h.name: h for h in store.list()}.get)
    click.echo(f"Freed {name}'s deploy lock" + (f" (held by {holder})" if holder else "")
               + ".")


__all__ = ["deploy", "pull", "rollback", "status", "_jsonable"]
