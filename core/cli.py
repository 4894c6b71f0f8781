"""``modeldeck``: the command-line face of the ModelDeck core.

Every command parses its arguments, calls core and prints what core returned; it computes
nothing itself (sqlite-utils' ``cli.py`` is the model). Errors are translated in one place,
:meth:`_ModelDeckGroup.invoke`:

- a :class:`~modeldeck.core.errors.ModelDeckError` (anything the user can act on) becomes
  one line ``error: <problem> — <fix>`` on stderr and exit status 1;
- any other exception is a bug: one line ``error: unexpected <Type>: <message>`` and exit
  status 1, with the traceback only under ``--debug``;
- usage errors keep click's own message and exit status 2.

Listing and show commands take ``--json`` (stable keys, dataclasses as objects). Progress
of long operations goes to stderr, so stdout stays parseable.

Heavy modules (pandas, scikit-learn, sqlite-utils) are imported inside the commands, so
``modeldeck --help`` answers at once.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import shlex
import shutil
import textwrap
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, TextIO

import click

from modeldeck.core.cli_hosts import hosts
from modeldeck.core.errors import ModelDeckError

if TYPE_CHECKING:
    from modeldeck.core.progress import ProgressEvent
    from modeldeck.core.registry import ModelCard, ModelInfo, Registry, VersionInfo
    from modeldeck.core.workspace import Workspace

_ROLES = ("data-scientist", "reviewer", "admin")  # checked against core in the tests
_TASKS = ("classification", "regression")
_CARD_FIELDS = ("intended_use", "limitations", "owner", "contact")
_DASH = "-"


# -- errors ---------------------------------------------------------------------------------


class _CliError(click.ClickException):
    """A user error: printed as one ``error: ...`` line; exit status 1."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))

    def show(self, file: IO[Any] | None = None) -> None:  # noqa: D102 - click's API
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
    # A library warning is worth a line, not a source listing (the default format).
    del filename, lineno, file, line  # warnings.showwarning's signature, unused here
    click.echo(f"warning: {category.__name__}: {_one_line(str(message))}", err=True)


class _ModelDeckGroup(click.Group):
    """The root group: turns every exception from a command into one ``error:`` line."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            with warnings.catch_warnings():
                if not debug:
                    warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except ModelDeckError as exc:
            if debug:
                raise
            raise _CliError(str(exc)) from None
        except OSError as exc:
            if exc.errno == errno.EPIPE or debug:  # click handles a closed pipe quietly
                raise
            raise _unexpected(exc) from None
        except Exception as exc:
            if debug:
                raise
            raise _unexpected(exc) from None


def _unexpected(exc: BaseException) -> _CliError:
    lines = str(exc).strip().splitlines()
    text = f": {lines[0]}" if lines else ""
    return _CliError(f"unexpected {type(exc).__name__}{text} "
                     "(run with --debug for the traceback)")


# -- the application context ----------------------------------------------------------------


class _App:
    """What every command needs: where the workspace is, opened on demand, closed at exit."""

    def __init__(self, workspace: Path | None, debug: bool) -> None:
        self.option = workspace
        self.debug = debug
        self._ws: Workspace | None = None

    @property
    def path(self) -> Path:
        from modeldeck.core.workspace import resolve_workspace_path

        return resolve_workspace_path(self.option)

    def command(self, rest: str) -> str:
        """A command line to suggest, with ``--workspace`` when one was given explicitly."""
        if self.option is None:
            return f"modeldeck {rest}"
        return f"modeldeck --workspace {shlex.quote(str(self.path))} {rest}"

    def workspace(self, create: bool = False, announce: bool = True) -> Workspace:
        """Open the workspace; with ``create``, create it (saying so on stderr if
        ``announce``)."""
        if self._ws is None:
            from modeldeck.core.workspace import Workspace

            path = self.path
            existed = Workspace.exists(path)
            self._ws = Workspace.open(path, create=create)
            if create and announce and not existed:
                click.echo(f"Created workspace {self._ws.path} (you, {self._ws.identity.name}, "
                           "are its admin)", err=True)
        return self._ws

    def registry(self, create: bool = False) -> Registry:
        from modeldeck.core.registry import Registry

        return Registry(self.workspace(create))

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None


pass_app = click.make_pass_decorator(_App)


# -- output helpers -------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Plain-JSON form of core values: dataclasses become objects, ±inf/NaN become null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(_jsonable(value), indent=2, ensure_ascii=False))


def _version_json(info: VersionInfo, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"ref": info.ref}
    out.update(_jsonable(info))
    out.update(extra)
    return out


def _num(value: float | None) -> str:
    """A metric with 4 significant digits (whole numbers from 1000 up)."""
    if value is None:
        return _DASH
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:.0f}"
    # '#' keeps trailing zeros (53.50, not 53.5) so columns of metrics line up.
    text = f"{value:#.4g}"
    return text.rstrip(".") if "e" not in text else text


def _delta(value: float | None) -> str:
    if value is None:
        return _DASH
    if value == 0:
        return "0"
    text = f"{value:+#.3g}"
    return text.rstrip(".") if "e" not in text else text


def _when(stamp: str) -> str:
    """``2026-05-01T12:34:56.123456Z`` → ``2026-05-01 12:34``."""
    return stamp[:16].replace("T", " ")


def _size(n: int) -> str:
    amount = float(n)
    for unit in ("bytes", "kB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{n} bytes"  # unreachable


def _short(text: str, width: int) -> str:
    text = _one_line(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _width() -> int:
    return max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], right: Iterable[int] = (),
           indent: int = 0) -> str:
    """Plain aligned columns; columns whose index is in ``right`` are right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    right = set(right)

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if i in right else v.ljust(w)
                 for i, (v, w) in enumerate(zip(values, widths, strict=True))]
        return (" " * indent + "  ".join(parts)).rstrip()

    return "\n".join([line(headers), *(line(r) for r in cells)])


def _pairs(pairs: Iterable[tuple[str, Any]], indent: int = 2) -> str:
    """``key  value`` lines with aligned values; long values wrap under themselves."""
    pairs = [(k, _DASH if v is None or v == "" else str(v)) for k, v in pairs]
    if not pairs:
        return ""
    key_width = max(len(k) for k, _ in pairs)
    lead = indent + key_width + 2
    out = []
    for key, value in pairs:
        wrapped = textwrap.wrap(value, width=max(30, _width() - lead)) or [value]
        out.append(" " * indent + key.ljust(key_width) + "  " + wrapped[0])
        out.extend(" " * lead + more for more in wrapped[1:])
    return "\n".join(out)


def _aliases_text(aliases: dict[str, int]) -> str:
    return ", ".join(f"{a}→{v}" for a, v in aliases.items()) or _DASH


def _progress_printer(quiet: bool, steps: Iterable[str] | None = None
                      ) -> Callable[[ProgressEvent], None]:
    """A progress callback writing ``[ 40%] message`` lines to stderr."""
    wanted = set(steps) if steps is not None else None

    def show(event: ProgressEvent) -> None:
        if quiet or (wanted is not None and event.step not in wanted):
            return
        pct = f"{event.fraction * 100:3.0f}%" if event.fraction is not None else "    "
        click.echo(f"[{pct}] {event.message or event.step}", err=True)

    return show


def _key_metrics(tasks: Iterable[str]) -> list[str]:
    from modeldeck.core.registry import KEY_METRICS

    names: list[str] = []
    for task in tasks:
        names.extend(n for n in KEY_METRICS.get(task, ()) if n not in names)
    return names


def _metrics_line(info: VersionInfo) -> str:
    names = [n for n in _key_metrics([info.task]) if n in info.metrics]
    if not names:
        return "no holdout metrics (register with --holdout FILE --target COLUMN to get some)"
    rows = info.metrics.get("rows")
    where = f"  (holdout, {rows:.0f} rows)" if rows is not None else ""
    return "   ".join(f"{n} {_num(info.metrics[n])}" for n in names) + where


def _models_table(models: Sequence[ModelInfo]) -> str:
    return _table(
        ["NAME", "VERSIONS", "LATEST", "ALIASES", "OWNER", "DESCRIPTION"],
        [[m.name, m.version_count, m.latest_version or _DASH, _aliases_text(m.aliases),
          _short(m.owner, 28) or _DASH, _short(m.description, 48) or _DASH] for m in models],
        right=(1, 2))


def _card_pairs(card: ModelCard) -> list[tuple[str, str]]:
    return [(name.replace("_", " "), getattr(card, name)) for name in _CARD_FIELDS]


def _card_status(card: ModelCard) -> str:
    missing = card.missing()
    if not missing:
        return "complete"
    return "incomplete: " + ", ".join(m.replace("_", " ") for m in missing) + " missing"


# -- the root group -------------------------------------------------------------------------


def _default_workspace_text() -> str:
    import platformdirs

    return str(platformdirs.user_data_path("modeldeck", appauthor=False) / "workspace")


@click.group(cls=_ModelDeckGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modeldeck", prog_name="modeldeck",
                      message="%(prog)s %(version)s")
@click.option("--workspace", "-w", type=click.Path(file_okay=False, path_type=Path),
              metavar="PATH",
              help="The workspace folder. Default: $MODELDECK_WORKSPACE, else "
                   f"{_default_workspace_text()}")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.pass_context
def cli(ctx: click.Context, workspace: Path | None, debug: bool) -> None:
    """ModelDeck: a registry for scikit-learn models, from the command line.

    A workspace is a folder holding the registry (models, versions, aliases, users and an
    audit log). Start with `modeldeck demo` to get one with two models in it, or
    `modeldeck init` for an empty one. You act as $MODELDECK_USER (default: your login).
    """
    app = _App(workspace, debug)
    ctx.obj = app
    ctx.call_on_close(app.close)


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print machine-readable JSON instead of text.")


# -- workspace ------------------------------------------------------------------------------


@cli.command()
@pass_app
def init(app: _App) -> None:
    """Create an empty workspace; you become its admin.

    Does nothing to a folder that is a workspace already.
    """
    from modeldeck.core.workspace import Workspace

    existed = Workspace.exists(app.path)
    ws = app.workspace(create=False) if existed else None
    if ws is not None:
        admins = [u.name for u in ws.users() if u.role == "admin"]
        click.echo(f"{ws.path} is a ModelDeck workspace already (admin: {', '.join(admins)}); "
                   "nothing changed.")
        return
    ws = app.workspace(create=True, announce=False)  # said on stdout below
    who = ws.identity.name
    click.echo(f"Created a ModelDeck workspace in {ws.path}")
    click.echo(f"You ({who}) are its admin.")
    click.echo("\nNext:")
    for rest, why in (("demo", "fill it with two demo models"),
                      ("register NAME --model FILE --reference DATA", "register your model"),
                      ("users add NAME --role ROLE", "let a colleague in")):
        click.echo(f"  {app.command(rest)}\n      {why}")


def _demo_live(app: _App, ws: Any, quiet: bool) -> None:
    from modeldeck.core.deploy.hosts import HostStore
    from modeldeck.core.demo_live import make_live
    from modeldeck.core.progress import run

    live = run(make_live(ws), _progress_printer(quiet, steps=(
        "hosts", "rollout", "traffic", "pulling", "retraining", "done")))
    hosts = {h.name: h for h in HostStore(ws).list()}
    if not live.deployed:
        click.echo("The living demo is serving" + (
            f" (started {', '.join(live.started)})." if live.started else "."))
    else:
        click.echo(f"The demo is live in {ws.path}: {live.deployed} serves on")
        for name in live.hosts:
            click.echo(f"  {name}  http://{hosts[name].serve_bind}:{hosts[name].serve_port}"
                       "/v1/predict")
        click.echo(f"A week of production traffic went through them: {live.rows_sent} rows "
                   f"served ({live.rows_rejected} refused: edge-2's feed lost values), "
                   f"{live.labels_sent} labels returned, {live.rows_pulled} rows pulled.")
        if live.candidate is not None:
            click.echo(f"Retrained on them: {live.retrained}, release candidate "
                       f"{live.candidate.id} ({live.candidate.status}).")
    click.echo("\nTry:")
    for rest in ("status", "drift breast-cancer@production --pulled",
                 "feedback report breast-cancer@production", "release list",
                 "demo --stop"):
        click.echo("  " + app.command(rest))


@cli.command()
@click.option("--live", is_flag=True,
              help="Also bring it to life on this machine: deploy to two local hosts, send "
                   "a week of production traffic through their servers, return labels, "
                   "pull, retrain (on a live demo: start the servers that stopped).")
@click.option("--stop", is_flag=True, help="Stop the living demo's servers.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print progress.")
@pass_app
def demo(app: _App, live: bool, stop: bool, quiet: bool) -> None:
    """Fill the workspace with the demo (creating it if needed).

    Two models trained on data sets that ship with scikit-learn, two versions each,
    `staging` on version 2 and `production` on version 1, users alice (data-scientist)
    and bob (reviewer), and in demo-data/ the files to try `register` with. With --live,
    `production` also runs on two local hosts (edge-1, edge-2) with real traffic, labels
    and a retraining candidate awaiting bob's approval; nothing is faked.

    \b
    Examples:
      modeldeck --workspace demo-ws demo --live
      modeldeck --workspace demo-ws demo --stop
    """
    from modeldeck.core.demo import DEMO_MODELS, build_demo
    from modeldeck.core.progress import run

    ws = app.workspace(create=True)
    if stop:
        from modeldeck.core.demo_live import stop_live

        stopped = stop_live(ws)
        click.echo(f"Stopped the servers of {', '.join(stopped)}." if stopped
                   else "No server of the living demo was running.")
        return
    have = {m.name for m in app.registry().list_models()} & set(DEMO_MODELS)
    if not (live and have):
        run(build_demo(ws), _progress_printer(quiet, steps=("training", "done")))
    if live:
        _demo_live(app, ws, quiet)
        return
    registry = app.registry()
    click.echo(f"Demo ready in {ws.path}\n")
    click.echo(_models_table(registry.list_models()))
    users = ", ".join(f"{u.name} ({u.role})" for u in ws.users())
    click.echo(f"\nUsers: {users}")
    click.echo(f"Files to try `register` with: {ws.path / 'demo-data'}")
    click.echo("\nTry:")
    for rest in ("models", "versions breast-cancer", "show breast-cancer@production",
                 "compare breast-cancer@production breast-cancer@staging"):
        click.echo("  " + app.command(rest))


@cli.command()
@json_option
@pass_app
def whoami(app: _App, as_json: bool) -> None:
    """Who you act as in this workspace, and your role.

    Set $MODELDECK_USER to act as someone else (default: your login name).
    """
    ws = app.workspace()
    who = ws.identity
    if as_json:
        _echo_json({"name": who.name, "role": who.role, "workspace": str(ws.path)})
        return
    if who.role is None:
        click.echo(f"{who.name} (not registered in {ws.path}: you can only read; an admin "
                   f"can add you with `modeldeck users add {who.name} --role data-scientist`)")
    else:
        click.echo(f"{who.name} ({who.role}) in {ws.path}")


# -- models and versions --------------------------------------------------------------------


@cli.command()
@click.option("--search", "-s", "query", default="", metavar="TEXT",
              help="Only models whose name, description, owner or tags contain TEXT.")
@json_option
@pass_app
def models(app: _App, query: str, as_json: bool) -> None:
    """List the models, with their versions and aliases."""
    found = app.registry().list_models(query)
    if as_json:
        _echo_json(found)
    elif found:
        click.echo(_models_table(found))
    elif query:
        click.echo(f"No model matches '{query}'.")
    else:
        click.echo("No models yet. Register one with "
                   f"`{app.command('register NAME --model FILE --reference DATA')}`, "
                   f"or try `{app.command('demo')}` in a new workspace.")


@cli.command(short_help="List a model's versions with aliases and key metrics.")
@click.argument("name")
@json_option
@pass_app
def versions(app: _App, name: str, as_json: bool) -> None:
    """List the versions of model NAME, oldest first, with aliases and key metrics."""
    found = app.registry().list_versions(name)
    if as_json:
        _echo_json([_version_json(v) for v in found])
        return
    if not found:
        click.echo(f"Model '{name}' has no versions yet.")
        return
    metrics = _key_metrics(dict.fromkeys(v.task for v in found))
    headers = ["VERSION", "ALIASES", "CREATED (UTC)", "AUTHOR", "ESTIMATOR",
               *(m.upper() for m in metrics), "PARENT"]
    rows = [[v.version, ", ".join(v.aliases) or _DASH, _when(v.created_at), v.author,
             v.estimator, *(_num(v.metrics.get(m)) for m in metrics), v.parent or _DASH]
            for v in found]
    click.echo(_table(headers, rows, right=[0, *range(5, 5 + len(metrics))]))


@cli.command()
@click.argument("ref")
@json_option
@pass_app
def show(app: _App, ref: str, as_json: bool) -> None:
    """Everything recorded about a version.

    REF is NAME (the latest version), NAME:VERSION or NAME@ALIAS. Shows the model card,
    metrics, input schema, environment, data fingerprints, lineage and artifacts.
    """
    registry = app.registry()
    info = registry.get_version(ref)
    chain = [v.ref for v in registry.lineage(info.ref)]
    model = registry.get_model(info.model)
    if as_json:
        _echo_json(_version_json(info, lineage=chain, model_description=model.description,
                                 model_tags=list(model.tags)))
        return
    latest = " (latest)" if info.version == model.latest_version else ""
    aliases = f"  [{', '.join(info.aliases)}]" if info.aliases else ""
    click.echo(f"{info.ref}{latest}{aliases}")
    if model.description:
        click.echo(model.description)
    if model.tags:
        click.echo("tags: " + ", ".join(model.tags))
    classes = f" (classes: {', '.join(map(str, info.classes))})" if info.classes else ""
    click.echo()
    click.echo(_pairs([
        ("registered", f"{_when(info.created_at)} UTC by {info.author}"),
        ("estimator", f"{info.estimator} ({info.task})"),
        ("target", f"{info.target}{classes}" if info.target else None),
        ("parent", info.parent),
        ("lineage", " ← ".join(chain)),
        ("aliases", ", ".join(info.aliases) or None),
        ("artifact", f"{info.artifact_format}, {_size(info.artifact_size)}"),
        ("trusted types", ", ".join(info.trusted_types) or "none beyond the defaults"),
    ]))
    click.echo(f"\nModel card ({_card_status(info.card)})")
    click.echo(_pairs(_card_pairs(info.card)))
    rows = info.metrics.get("rows")
    if info.metrics:
        where = f" ({rows:.0f} rows)" if rows is not None else ""
        click.echo(f"\nMetrics on the holdout set{where}")
        click.echo(_pairs([(k, _num(v)) for k, v in info.metrics.items() if k != "rows"]))
    else:
        click.echo("\nMetrics: none (registered without a holdout set)")
    click.echo(f"\nInput schema ({len(info.schema)} columns)")
    click.echo(_table(["COLUMN", "TYPE", "NULLABLE", "CATEGORIES"], [
        [c.name, c.dtype, "yes" if c.nullable else "no",
         _short(", ".join(c.categories), 50) if c.categories is not None else _DASH]
        for c in info.schema], indent=2))
    click.echo("\nEnvironment at registration")
    click.echo(_pairs(info.environment.items()))
    click.echo("\nData fingerprints")
    click.echo(_table(["DATA", "ROWS", "COLUMNS", "SHA256"],
                      [[name, fp.get("rows"), fp.get("columns"), fp.get("sha256")]
                       for name, fp in info.fingerprints.items()], right=(1, 2), indent=2))
    click.echo("\nArtifacts (sha256)")
    click.echo(_pairs([
        ("model", info.artifact_sha256),
        ("reference sample", info.reference_sample_sha256),
        ("holdout", info.holdout_sha256),
        ("holdout predictions", info.holdout_predictions_sha256),
    ]))


@cli.command(short_help="Compare two versions: metrics, schema, environment.")
@click.argument("ref_a", metavar="REF_A")
@click.argument("ref_b", metavar="REF_B")
@json_option
@pass_app
def compare(app: _App, ref_a: str, ref_b: str, as_json: bool) -> None:
    """Compare two versions: metric changes (B − A), schema and environment differences."""
    from modeldeck.core.registry import HIGHER_IS_BETTER

    result = app.registry().compare(ref_a, ref_b)
    a, b, schema = result.a, result.b, result.schema
    if as_json:
        _echo_json({
            "a": a.ref, "b": b.ref,
            "estimator": {"a": a.estimator, "b": b.estimator},
            "metrics": [{"name": m.name, "a": m.a, "b": m.b, "delta": m.delta}
                        for m in result.metrics],
            "schema": {
                "added": schema.added, "removed": schema.removed,
                "retyped": [{"column": c, "a": x, "b": y} for c, x, y in schema.retyped],
                "nullability": [{"column": c, "a": x, "b": y}
                                for c, x, y in schema.nullability],
                "compatible": schema.is_compatible,
            },
            "environment": [{"key": k, "a": x, "b": y} for k, x, y in result.environment],
        })
        return

    def label(info: VersionInfo) -> str:
        return info.ref + (f" [{', '.join(info.aliases)}]" if info.aliases else "")

    click.echo(f"{label(a)}  →  {label(b)}\n")
    click.echo(_pairs([("estimator", a.estimator if a.estimator == b.estimator
                        else f"{a.estimator} → {b.estimator}")], indent=0))
    if result.metrics:
        rows = []
        for m in result.metrics:
            verdict = ""
            if m.delta is not None and m.name in HIGHER_IS_BETTER and m.delta != 0:
                verdict = "better" if (m.delta > 0) == HIGHER_IS_BETTER[m.name] else "worse"
            rows.append([m.name, _num(m.a), _num(m.b), _delta(m.delta), verdict])
        click.echo()
        click.echo(_table(["METRIC", a.ref, b.ref, "CHANGE", ""], rows, right=(1, 2, 3)))
    else:
        click.echo("\nMetrics: neither version has holdout metrics")
    click.echo()
    if schema.is_empty:
        click.echo(f"Schema: same {len(b.schema)} columns")
    else:
        counts = [(len(schema.added), "added"), (len(schema.removed), "removed"),
                  (len(schema.retyped), "retyped"),
                  (len(schema.nullability), "changed nullability")]
        what = ", ".join(f"{n} column{'s' if n > 1 else ''} {verb}" for n, verb in counts if n)
        verdict = "compatible (no column removed or retyped)" if schema.is_compatible else \
            "INCOMPATIBLE (columns removed or retyped)"
        click.echo(f"Schema: {what}; {verdict}")
        lines = [f"  + {c.name} ({c.dtype})" for c in schema.added]
        lines += [f"  - {c.name} ({c.dtype})" for c in schema.removed]
        lines += [f"  ~ {n}: {x} → {y}" for n, x, y in schema.retyped]
        lines += [f"  ~ {n}: {'nullable' if x else 'not nullable'} → "
                  f"{'nullable' if y else 'not nullable'}" for n, x, y in schema.nullability]
        click.echo("\n".join(lines))
    click.echo()
    if not result.environment:
        click.echo("Environment: same")
    else:
        click.echo("Environment differences")
        click.echo(_table(["", a.ref, b.ref],
                          [[k, x or _DASH, y or _DASH] for k, x, y in result.environment],
                          indent=2))


def _card_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for name, text in reversed([
        ("intended-use", "What the model is for (model card)."),
        ("limitations", "What it must not be used for, known weaknesses (model card)."),
        ("owner", "The team or person responsible (model card)."),
        ("contact", "Whom to contact about it (model card)."),
    ]):
        func = click.option(f"--{name}", metavar="TEXT", help=text)(func)
    return func


@cli.command()
@click.argument("name")
@click.option("--model", "model_file", required=True, metavar="FILE",
              type=click.Path(path_type=Path),
              help="The fitted model: .skops (recommended), .onnx, or .pkl/.joblib with "
                   "--trust-pickle.")
@click.option("--reference", required=True, metavar="DATA", type=click.Path(path_type=Path),
              help="The training (reference) data, CSV or Parquet.")
@click.option("--holdout", metavar="DATA", type=click.Path(path_type=Path),
              help="Held-out data (CSV or Parquet) with the target column, for metrics.")
@click.option("--target", metavar="COLUMN", help="The target column of --holdout.")
@click.option("--trust-pickle", is_flag=True,
              help="Load a pickle/joblib file although it can run code (only for files "
                   "you trust). It is stored as skops when possible.")
@click.option("--trust-type", "trust_types", multiple=True, metavar="TYPE",
              help="Trust this type found in a .skops file (repeatable).")
@click.option("--task", type=click.Choice(_TASKS),
              help="The task of an ONNX model (guessed from its outputs otherwise).")
@click.option("--parent", metavar="REF", help="The version this one derives from "
                                             "(default: the model's latest version).")
@click.option("--description", metavar="TEXT", help="Describe the model (all versions).")
@click.option("--tag", "tags", multiple=True, metavar="TAG",
              help="Tag a new model (repeatable).")
@_card_options
@click.option("--quiet", "-q", is_flag=True, help="Do not print progress.")
@json_option
@pass_app
def register(app: _App, name: str, model_file: Path, reference: Path, holdout: Path | None,
             target: str | None, trust_pickle: bool, trust_types: tuple[str, ...],
             task: str | None, parent: str | None, description: str | None,
             tags: tuple[str, ...], intended_use: str | None, limitations: str | None,
             owner: str | None, contact: str | None, quiet: bool, as_json: bool) -> None:
    """Register a fitted model as the next version of NAME.

    The workspace is created if needed. ModelDeck stores the model (as skops unless it is
    ONNX), infers the input schema from the reference data, scores the holdout set and
    records the environment and data fingerprints. Model card fields not given are
    copied from the parent version.

    \b
    Example:
      modeldeck register breast-cancer --model model.skops \\
        --reference train.csv --holdout test.csv --target diagnosis
    """
    from modeldeck.core.progress import run

    registry = app.registry(create=True)
    given = {"intended_use": intended_use, "limitations": limitations, "owner": owner,
             "contact": contact}
    card = {k: v for k, v in given.items() if v is not None}  # the rest: from the parent
    info = run(registry.register(
        name, model_file, reference, holdout, target, trust_pickle=trust_pickle,
        trusted_types=trust_types, card=card, description=description, tags=tags,
        parent=parent, task=task), _progress_printer(quiet))
    if as_json:
        _echo_json(_version_json(info))
        return
    parent_text = f", parent {info.parent}" if info.parent else ""
    click.echo(f"Registered {info.ref} ({info.estimator}, {info.task}{parent_text})")
    click.echo("  " + _metrics_line(info))
    if info.trusted_types:
        click.echo("  trusted types: " + ", ".join(info.trusted_types))
    click.echo(f"  model card: {_card_status(info.card)}")
    click.echo(f"See it all with `{app.command('show ' + info.ref)}`.")


@cli.command(short_help="Check that stored files are intact and models load.")
@click.argument("refs", nargs=-1, metavar="[REF]...")
@json_option
@pass_app
def verify(app: _App, refs: tuple[str, ...], as_json: bool) -> None:
    """Check that versions' stored files are intact and their models load.

    Reads every artifact of each version (the model, the reference sample, the holdout
    set and its predictions), checks it against its sha256, and loads the model with its
    trusted types. Without REF, checks every version of every model. Exits with status 1
    if any check fails.
    """
    registry = app.registry()
    if refs:
        targets = [registry.get_version(r) for r in refs]
    else:
        targets = [v for m in registry.list_models() for v in registry.list_versions(m.name)]
    results = [dataclasses.asdict(registry.verify_version(info)) for info in targets]
    for r in results:
        r["error"] = _one_line(r["error"]) if r["error"] else None
    failed = [r for r in results if not r["ok"]]
    if as_json:
        _echo_json(results)
    elif len(results) > 1 or not failed:  # one failed version: the error line says it all
        for r in results:
            click.echo(f"{r['ref']}  " + ("ok" if r["ok"] else f"FAILED: {r['error']}"))
    if not results and not as_json:
        click.echo("No versions to check.")
    if len(results) == 1 and failed:
        raise _CliError(f"{failed[0]['ref']}: {failed[0]['error']}")
    if failed:
        raise _CliError(f"{len(failed)} of {len(results)} versions failed the check "
                        f"({', '.join(r['ref'] for r in failed)}) — see the lines above")


@cli.command("drift-thresholds", short_help="Show or set a model's drift thresholds.")
@click.argument("name")
@click.argument("settings", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--reset", is_flag=True, help="Go back to the defaults (then apply any KEY=VALUE).")
@json_option
@pass_app
def drift_thresholds(app: _App, name: str, settings: tuple[str, ...], reset: bool,
                     as_json: bool) -> None:
    """Show the drift thresholds model NAME is judged by, or set some of them.

    A feature is flagged only when its change exceeds its threshold AND is significant
    after Benjamini-Hochberg control at level alpha. `modeldeck drift` uses the model's
    own values; the others keep their defaults. Changes are audited.

    \b
    Examples:
      modeldeck drift-thresholds breast-cancer
      modeldeck drift-thresholds breast-cancer wasserstein_sd=0.15 dataset_min_flagged=2
      modeldeck drift-thresholds breast-cancer --reset
    """
    from modeldeck.core.drift.stats import DriftThresholds

    registry = app.registry()
    values: dict[str, float] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        try:
            values[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise click.UsageError(f"'{item}' is not KEY=VALUE with a number, "
                                   "e.g. wasserstein_sd=0.15")
    own = (registry.set_drift_thresholds(name, values, reset=reset) if values or reset
           else registry.drift_thresholds(name))
    defaults = DriftThresholds().to_dict()
    effective = DriftThresholds.from_dict(own).to_dict()
    if as_json:
        _echo_json({"model": name, "own": own, "effective": effective, "defaults": defaults})
        return
    rows = [(key, f"{effective[key]:g}", f"{defaults[key]:g}",
             "set for this model" if key in own else "default") for key in effective]
    click.echo(_table(["THRESHOLD", "VALUE", "DEFAULT", ""], rows, right=(1, 2)))


# -- drift ----------------------------------------------------------------------------------

_WINDOWS = ("file", "hour", "day", "week")  # checked against core in the tests
#: Marks of the per-window grid.
_MARKS = {"drift": "●", "quality": "◆", "ok": "·", "not_testable": "-"}
#: Exit status of `drift --fail-on-drift` when the data set drifted.
DRIFT_EXIT_CODE = 3


def _drift_effect(f: Any) -> str:
    """``0.859 (11.5×)``: the effect size and how far past its threshold it is."""
    if f.effect_size is None:
        return _DASH
    if not f.effect_threshold:
        return _num(f.effect_size)
    return f"{_num(f.effect_size)} ({f.effect_size / f.effect_threshold:.1f}×)"


def _p_text(value: float | None) -> str:
    return _DASH if value is None else f"{value:.2g}"


def _drift_progress(quiet: bool) -> Callable[[ProgressEvent], None]:
    """:func:`_progress_printer`, at most one line per 5 % within a step (a week of hourly
    windows on ten hosts is 1680 profiling events)."""
    show = _progress_printer(quiet)
    last: dict[str, float] = {}

    def throttled(event: ProgressEvent) -> None:
        fraction = event.fraction if event.fraction is not None else -1.0
        if event.step in last and 0 <= fraction - last[event.step] < 0.05 \
                and event.step != "done":
            return
        last[event.step] = fraction
        show(event)

    return throttled


def _short_labels(labels: Sequence[str]) -> tuple[str, list[str]]:
    """Window labels without their common prefix (cut at a separator), and the prefix:
    ``2026-11-16, 2026-11-17`` → ``2026-11-``, ``16, 17``."""
    if len(labels) < 2:
        return "", list(labels)
    prefix = labels[0]
    for label in labels[1:]:
        while not label.startswith(prefix):
            prefix = prefix[:-1]
    while prefix and prefix[-1].isalnum():
        prefix = prefix[:-1]  # never cut inside a number or a word
    rest = [label[len(prefix):] for label in labels]
    return (prefix, rest) if all(rest) else ("", list(labels))


def _drift_grid(report: Any) -> str:
    """Features × windows marks: the data-set verdict, then every feature flagged
    somewhere (the others in one line)."""
    prefix, short = _short_labels([w.label for w in report.windows])
    names = [f.name for f in report.features]
    flagged_somewhere = [n for n in names if report.feature(n).flagged
                         or any(n in w.result.flagged for w in report.windows)]
    rows = [["(data set)", *(_MARKS["drift"] if w.result.drift else _MARKS["ok"]
                             for w in report.windows)]]
    for name in flagged_somewhere:
        marks = []
        for w in report.windows:
            try:
                marks.append(_MARKS.get(w.result.feature(name).status, "?"))
            except KeyError:
                marks.append(_MARKS["not_testable"])
        rows.append([_short(name, 32), *marks])
    header = f"WINDOW {prefix}…" if prefix else "WINDOW"
    text = _table([header, *short], rows, indent=2)
    rest = len(names) - len(flagged_somewhere)
    if rest and flagged_somewhere:
        text += f"\n  (the other {rest} features: no flag in any window)"
    return text


def _drift_performance(report: Any) -> str:
    """Per-window performance: estimated without labels (with its band), and realized
    where the current data has the target column; ``""`` when there is neither."""
    points = [p for p in report.performance
              if p.realized or (p.estimated is not None and p.estimated.value is not None)]
    if not points:
        return ""
    realized = list(dict.fromkeys(k for p in points for k in (p.realized or {})))
    metric = next((p.estimated.metric for p in points if p.estimated is not None), None)
    headers = ["WINDOW", "ROWS"]
    if metric:
        headers += [f"EST. {metric.upper()}", "BAND"]
    headers += [f"REALIZED {name.upper()}" for name in realized]
    rows = []
    for p in points:
        row = [p.window, p.rows]
        if metric:
            est = p.estimated
            ok_est = est is not None and est.value is not None
            row += [_num(est.value) if ok_est else _DASH,
                    f"{_num(est.low)}–{_num(est.high)}"
                    if ok_est and est.low is not None and est.high is not None else _DASH]
        row += [_num((p.realized or {}).get(name)) for name in realized]
        rows.append(row)
    title = "Performance per window"
    if metric:
        title += " (estimated without labels; the band is where the realized value should fall)"
    return title + "\n" + _table(headers, rows, right=range(1, len(headers)), indent=2)


def _drift_outputs(report: Any) -> str:
    """The model's outputs per window, one line each: the verdict, each output's effect
    (× its threshold, ``●`` when flagged) and, with several hosts, where they drifted;
    ``""`` with fewer than two windows."""
    views = list(getattr(report, "prediction_windows", ()) or ())
    if len(views) < 2:
        return ""
    names = list(dict.fromkeys(o.name for v in views for o in v.result.outputs))
    by_cell: dict[str, list[str]] = {}
    for cell in getattr(report, "prediction_cells", ()) or ():
        if cell.flagged:
            by_cell.setdefault(cell.window, []).append(cell.host)
    hosts = len(report.hosts) > 1
    headers = ["WINDOW", "ROWS", "OUTPUTS", *(n.upper() for n in names)]
    if hosts:
        headers.append("DRIFTED ON")
    rows = []
    for v in views:
        outputs = {o.name: o for o in v.result.outputs}
        row: list[Any] = [v.window, v.rows, v.result.status.replace("_", " ")]
        for name in names:
            o = outputs.get(name)
            row.append(_DASH if o is None or o.effect_size is None else
                       f"{_MARKS['drift'] if o.flagged else _MARKS['ok']} {_drift_effect(o)}")
        if hosts:
            row.append(", ".join(by_cell.get(v.window, [])) or _DASH)
        rows.append(row)
    title = (f"Model outputs per window ({_MARKS['drift']} flagged; effect: JS of the class "
             "shares, Wasserstein sd of scores)")
    text = title + "\n" + _table(headers, rows, right=[1], indent=2)
    since = report.predictions_since()
    if since is not None:
        text += f"\n  drifting since {since}"
    if hosts:  # when the hosts tell more than all of them merged
        by_host = {h: report.predictions_since(h) for h in report.hosts}
        on_hosts = [f"{h} since {w}" for h, w in by_host.items() if w is not None]
        if on_hosts and set(by_host.values()) != {since}:
            text += f"\n  by host: drifting on {', '.join(on_hosts)}"
    return text


def _drift_text(report: Any, sources: str, skipped_multivariate: bool, top: int = 5) -> None:
    """The human-readable drift report on stdout."""
    overall = report.overall
    verdict = "DRIFT" if report.drift else "NO DRIFT"
    against = f"{report.model}'s reference" if report.model else "the reference data"
    click.echo(f"{verdict}  {sources} ({overall.n_current} rows) vs {against} "
               f"({overall.n_reference} rows)")
    summary = report.summary()
    for prefix in ("Drift detected: ", "No relevant drift: "):
        if summary.startswith(prefix):  # the verdict says it already
            summary = summary[len(prefix)].upper() + summary[len(prefix) + 1:]
    click.echo(textwrap.fill(summary, width=_width()))
    has_importance = bool(report.importance)
    headers = ["FEATURE", "STATUS", "METHOD", "STATISTIC", "P (ADJ)", "EFFECT (× THRESHOLD)"]
    if has_importance:
        headers.append("IMPORTANCE")
    rows = []
    for f in report.features:
        row = [_short(f.name, 32), f.status.replace("_", " "), f.method or _DASH,
               _num(f.statistic), _p_text(f.p_adjusted), _drift_effect(f)]
        if has_importance:
            row.append(_num(report.importance.get(f.name)))
        rows.append(row)
    click.echo()
    click.echo(_table(headers, rows, right=[3, 4, 5, 6]))
    untestable = [f for f in report.features if f.status == "not_testable"]
    for f in untestable:
        click.echo(f"  {f.name}: {f.reason}")
    quality = [(f.name, q) for f in report.features for q in f.quality if q.flagged]
    for name, q in quality:
        click.echo(f"  {name}: {q.describe()}")

    click.echo()
    lines: list[tuple[str, Any]] = []
    multi = report.multivariate
    if multi is not None:
        state = "drift" if multi.flagged else getattr(multi, "status", "ok").replace("_", " ")
        lines.append(("multivariate", f"{state} — {multi.summary}"))
    else:
        lines.append(("multivariate", "skipped (--no-multivariate)" if skipped_multivariate
                      else "not run"))
    pred = report.predictions
    if pred is not None:
        flagged = bool(getattr(pred, "flagged", getattr(pred, "drift", False)))
        summary = getattr(pred, "summary", "")
        summary = summary() if callable(summary) else summary
        together = " (all windows together)" if len(report.windows) > 1 else ""
        lines.append(("model outputs", ("drift" if flagged else "ok") + together
                      + (f" — {summary}" if summary else "")))
    elif report.model:
        lines.append(("model outputs", "not analysed (see the notes)"))
    click.echo(_pairs(lines, indent=0))

    outputs = _drift_outputs(report)
    if outputs:
        click.echo("\n" + outputs)
    perf = _drift_performance(report)
    if perf:
        click.echo("\n" + perf)
    if len(report.windows) > 1:
        click.echo(f"\nPer window ({_MARKS['drift']} drift, {_MARKS['quality']} data quality, "
                   f"{_MARKS['ok']} ok, {_MARKS['not_testable']} not testable)")
        click.echo(_drift_grid(report))
    if report.hosts:
        click.echo("\nPer host")
        click.echo(_table(["HOST", "ROWS", "VERDICT", "FLAGGED"],
                          [[h.host, h.rows, "drift" if h.result.drift else "ok",
                            _short(", ".join(h.result.flagged), 60) or _DASH]
                           for h in report.by_host], right=(1,), indent=2))

    advice = list(report.advice)
    if advice:
        shown = advice[:top]
        more = f" (top {top} of {len(advice)}; --json or --html for all)" \
            if len(advice) > top else ""
        click.echo(f"\nAdvice{more}")
        width = _width()
        for a in shown:
            lead = f"{a.rank:>2}. "
            click.echo(textwrap.fill(f"[{a.severity}] {a.title}", width=width,
                                     initial_indent=lead, subsequent_indent=" " * len(lead)))
            click.echo(textwrap.fill(a.text, width=width, initial_indent=" " * len(lead),
                                     subsequent_indent=" " * len(lead)))
            click.echo(textwrap.fill(a.action, width=width,
                                     initial_indent=" " * len(lead) + "→ ",
                                     subsequent_indent=" " * (len(lead) + 2)))
    notes = list(getattr(report, "notes", ()) or ())
    if notes:
        click.echo("\nNotes")
        for note in notes:
            click.echo(textwrap.fill(note, width=_width(), initial_indent="  - ",
                                     subsequent_indent="    "))


def _expand_currents(values: Sequence[Path]) -> list[Path]:
    """``--current`` values with quoted wildcards expanded (``'day-*.csv'``), in name order."""
    import glob

    out: list[Path] = []
    for value in values:
        text = str(value)
        if value.exists() or not any(c in text for c in "*?["):
            out.append(value)
            continue
        matches = sorted(glob.glob(text))
        if not matches:
            raise _CliError(f"no file matches {text} — check the folder and the pattern "
                            "(quote it, so that modeldeck expands it rather than the shell)")
        out.extend(Path(m) for m in matches)
    return out


def _write_html(report: Any, out: Path) -> None:
    from modeldeck.core.drift.html import render_html

    text = render_html(report)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _CliError(f"cannot write the HTML report to {out} ({exc.strerror or exc}) — "
                        "pick a folder that exists and that you may write to") from None


@cli.command(short_help="Check current data for drift against a model or reference data.")
@click.argument("ref", required=False)
@click.option("--current", "currents", multiple=True, metavar="DATA",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Current (production) data, CSV or Parquet; repeat for several files, "
                   "or quote a pattern ('day-*.csv'). Without a time column, each file is "
                   "one window.")
@click.option("--reference", metavar="DATA", type=click.Path(dir_okay=False, path_type=Path),
              help="Compare with this data instead of a model version's reference (no "
                   "model needed).")
@click.option("--pulled", is_flag=True,
              help="Use what `modeldeck pull` fetched from the hosts serving REF's model "
                   "(windows by serving time, views per host, realized performance from "
                   "the labels that came back).")
@click.option("--time-column", metavar="COL",
              help="Cut the current data into windows by this time column (default: "
                   "'timestamp' when present).")
@click.option("--window", type=click.Choice(_WINDOWS),
              help="Window length with a time column, or 'file': one window per "
                   "--current file.  [default: day]")
@click.option("--host-column", metavar="COL",
              help="Per-host views by this column (default: 'host' when present).")
@click.option("--since", metavar="TIME",
              help="Only rows at or after this date/time (ISO 8601; needs a time column).")
@click.option("--until", metavar="TIME",
              help="Only rows before this date/time (ISO 8601; needs a time column).")
@click.option("--no-multivariate", is_flag=True,
              help="Skip the multivariate tests (domain classifier, PCA, pairwise "
                   "correlations; a few seconds).")
@click.option("--html", "html_out", metavar="OUT",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML report (charts inline, no network).")
@click.option("--fail-on-drift", is_flag=True,
              help=f"Exit with status {DRIFT_EXIT_CODE} when the data set drifted (for CI "
                   "and cron).")
@click.option("--quiet", "-q", is_flag=True, help="Do not print progress.")
@json_option
@pass_app
def drift(app: _App, ref: str | None, currents: tuple[Path, ...], reference: Path | None,
          pulled: bool, time_column: str | None, window: str | None, host_column: str | None,
          since: str | None, until: str | None, no_multivariate: bool, html_out: Path | None, fail_on_drift: bool, quiet: bool,
          as_json: bool) -> None:
    """Compare current data with a model version's reference data, or with any data.

    With REF (NAME, NAME:VERSION or NAME@ALIAS) the version's stored reference profile,
    feature importance and holdout predictions are used: features are ranked by how much
    the model relies on them, and the model's outputs and estimated performance are
    checked too. With --reference instead, any two data sets are compared.

    A feature is flagged only when its change is both larger than its threshold and
    statistically significant across all features; data-quality problems (missing
    values, unseen categories, out-of-range values, infinities) are flagged on their own.
    Exit status: 0, or 3 with --fail-on-drift when the data set drifted.

    \b
    Examples:
      modeldeck drift breast-cancer@production --current day-6.csv --current day-7.csv
      modeldeck drift breast-cancer@production --current 'day-*.csv' --html drift.html
      modeldeck drift --reference train.csv --current today.csv --fail-on-drift
      modeldeck pull --group edge && modeldeck drift breast-cancer@production --pulled
    """
    from modeldeck.core.drift.report import analyze
    from modeldeck.core.progress import run

    if (ref is None) == (reference is None):
        raise click.UsageError("give a model version (REF) or --reference DATA, not both"
                               if ref is not None else
                               "give a model version (REF) or --reference DATA")
    if pulled:
        from modeldeck.core.deploy.pull import pulled_files, pulled_folder

        if ref is None:
            raise click.UsageError("--pulled needs a model version (REF)")
        model = app.registry().get_version(ref).model
        found = pulled_files(app.workspace(), model)
        if not found:
            raise _CliError(f"nothing was pulled for {model} yet (no files in "
                            f"{pulled_folder(app.workspace(), model)}) — run "
                            f"`{app.command('pull')}` first")
        currents = currents + tuple(found)
        time_column = time_column or "ts"
        host_column = host_column or "host"
    if not currents:
        raise click.UsageError("give the current data: --current DATA (or --pulled)")
    currents = tuple(_expand_currents(currents))
    registry = app.registry() if ref is not None else None
    report = run(analyze(list(currents), registry=registry, ref=ref, reference=reference,
                         since=since, until=until,
                         time_column=time_column, window=window, host_column=host_column,
                         multivariate=not no_multivariate),
                 _drift_progress(quiet))
    if html_out is not None:
        _write_html(report, html_out)
    if as_json:
        _echo_json(report.to_dict())
    else:
        files = (currents[0].name if len(currents) == 1 else f"{len(currents)} files")
        _drift_text(report, files, no_multivariate)
    if html_out is not None:
        click.echo(f"Wrote the HTML report to {html_out}", err=True)
    if fail_on_drift and report.drift:
        click.get_current_context().exit(DRIFT_EXIT_CODE)


# -- aliases --------------------------------------------------------------------------------


@cli.group()
def alias() -> None:
    """Set, remove and trace aliases (production, staging, ...)."""


@alias.command("set", short_help="Point an alias at a version.")
@click.argument("ref")
@click.argument("alias_name", metavar="ALIAS")
@pass_app
def alias_set(app: _App, ref: str, alias_name: str) -> None:
    """Point ALIAS at the version REF (moving it if it points elsewhere).

    Only reviewers and admins may move `production`. REF may itself be an alias:
    `alias set NAME@staging production` promotes what staging points at.
    """
    event = app.registry().set_alias(ref, alias_name)
    was = f" (was version {event.previous})" if event.previous is not None else ""
    if event.previous == event.version:
        was = " (unchanged)"
    click.echo(f"{event.model}@{event.alias} → version {event.version}{was}")


@alias.command("rm")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@pass_app
def alias_rm(app: _App, name: str, alias_name: str) -> None:
    """Remove ALIAS from model NAME."""
    event = app.registry().remove_alias(name, alias_name)
    click.echo(f"Removed {event.model}@{event.alias} (was version {event.previous})")


@alias.command("history", short_help="Show every move of a model's aliases.")
@click.argument("name")
@click.argument("alias_name", metavar="[ALIAS]", required=False)
@json_option
@pass_app
def alias_history(app: _App, name: str, alias_name: str | None, as_json: bool) -> None:
    """Every move of model NAME's aliases (or of ALIAS only), newest first."""
    events = app.registry().alias_history(name, alias_name)
    if as_json:
        _echo_json(events)
        return
    if not events:
        click.echo(f"No alias of '{name}' was ever set." if alias_name is None
                   else f"Alias '{alias_name}' of '{name}' was never set.")
        return

    def change(version: int | None, previous: int | None) -> str:
        if version is None:
            return f"removed (was {previous})"
        return f"{previous} → {version}" if previous is not None else f"set to {version}"

    click.echo(_table(["AT (UTC)", "ALIAS", "CHANGE", "BY"],
                      [[_when(e.at), e.alias, change(e.version, e.previous), e.actor]
                       for e in events]))


# -- model cards ----------------------------------------------------------------------------


@cli.group(short_help="Show and edit model cards.")
def card() -> None:
    """Show and edit model cards (what a version is for and must not be used for)."""


@card.command("show")
@click.argument("ref")
@json_option
@pass_app
def card_show(app: _App, ref: str, as_json: bool) -> None:
    """Show the model card of version REF."""
    info = app.registry().get_version(ref)
    if as_json:
        _echo_json({"ref": info.ref, "card": info.card, "missing": info.card.missing()})
        return
    click.echo(f"Model card of {info.ref} ({_card_status(info.card)})")
    click.echo(_pairs(_card_pairs(info.card)))


@card.command("set")
@click.argument("ref")
@_card_options
@pass_app
def card_set(app: _App, ref: str, intended_use: str | None, limitations: str | None,
             owner: str | None, contact: str | None) -> None:
    """Edit the model card of version REF; fields not given stay as they are."""
    from modeldeck.core.registry import ModelCard

    given = {"intended_use": intended_use, "limitations": limitations, "owner": owner,
             "contact": contact}
    if all(v is None for v in given.values()):
        raise click.UsageError("give at least one of --intended-use, --limitations, "
                               "--owner, --contact")
    registry = app.registry()
    old = registry.get_version(ref).card
    new = ModelCard(**{k: v if v is not None else getattr(old, k) for k, v in given.items()})
    info = registry.update_card(ref, new)
    click.echo(f"Updated the model card of {info.ref} ({_card_status(info.card)})")
    click.echo(_pairs(_card_pairs(info.card)))


# -- audit ----------------------------------------------------------------------------------


@cli.group()
def audit() -> None:
    """Read and verify the tamper-evident audit log."""


def _payload_text(payload: dict[str, Any]) -> str:
    parts = []
    for key, value in payload.items():
        if isinstance(value, (dict, list)) or value is None or value == "":
            continue
        text = str(value)
        if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
            continue  # hashes are in --json; here they would crowd out the rest
        parts.append(f"{key}={text}")
    return _short(" ".join(parts), 70)


@audit.command("log")
@click.option("--limit", "-n", type=click.IntRange(min=0), default=20, show_default=True,
              help="Show at most N rows, newest first (0: all).")
@click.option("--subject", metavar="S", help="Only rows about S (a model name matches "
                                             "its versions too, e.g. breast-cancer).")
@click.option("--action", metavar="A", help="Only actions starting with A (e.g. alias).")
@click.option("--actor", metavar="U", help="Only rows by user U.")
@json_option
@pass_app
def audit_log(app: _App, limit: int, subject: str | None, action: str | None,
              actor: str | None, as_json: bool) -> None:
    """Show the audit log: who changed what, when, newest first."""
    entries = app.workspace().audit_log(limit=limit or None, subject=subject, action=action,
                                        actor=actor)
    if as_json:
        _echo_json(entries)
        return
    if not entries:
        click.echo("No audit rows match.")
        return
    click.echo(_table(["SEQ", "AT (UTC)", "ACTOR", "ROLE", "ACTION", "SUBJECT", "DETAILS"],
                      [[e.seq, _when(e.at), e.actor, e.role or _DASH, e.action, e.subject,
                        _payload_text(e.payload)] for e in entries], right=(0,)))
    if limit and len(entries) == limit:
        click.echo(f"(the {limit} newest rows; --limit 0 shows all)")


@audit.command("verify", short_help="Check the audit log's hash chain.")
@click.option("--expect-head", metavar="HASH",
              help="The head hash recorded earlier; catches rows deleted at the end.")
@json_option
@pass_app
def audit_verify(app: _App, expect_head: str | None, as_json: bool) -> None:
    """Check the audit log's hash chain; exit status 1 if it was tampered with.

    Prints the head hash when the chain is intact: keep it somewhere else and pass it
    back later with --expect-head to also detect rows deleted from the end.
    """
    result = app.workspace().verify_audit(expect_head)
    if as_json:
        _echo_json(result)
    if not result.ok:
        bad = result.first_bad_seq or 0
        if expect_head is not None and app.workspace().verify_audit().ok:
            # every row checks out, but the chain does not end where it should
            raise _CliError(f"the audit log does not end at the expected head: "
                            f"{result.problem} — rows 1 to {result.head_seq} check out; check "
                            "the hash you passed, else restore modeldeck.db from a backup")
        good = f"rows 1 to {bad - 1} check out" if bad > 1 else "no row checks out"
        raise _CliError(f"the audit log is broken at row {bad}: {result.problem} — {good}; "
                        "restore modeldeck.db from a backup and find out who edited it")
    if not as_json:
        click.echo(f"Audit log intact: {result.rows_checked} rows, head row {result.head_seq}")
        click.echo(f"head hash {result.head_hash}")


# -- users ----------------------------------------------------------------------------------


@cli.group(invoke_without_command=True,
           short_help="List users; add, change or remove them (admins).")
@json_option
@click.pass_context
def users(ctx: click.Context, as_json: bool) -> None:
    """List the workspace's users and their roles (or manage them: see the commands).

    Roles: data-scientist (register, edit models, move aliases other than production),
    reviewer (move any alias, including production), admin (everything, and manage users).
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(_App)
    assert app is not None
    ws = app.workspace()
    found = ws.users()
    if as_json:
        _echo_json(found)
        return
    me = ws.identity.name

    def key_text(key: str | None) -> str:
        if not key:
            return _DASH
        parts = key.split()
        return f"{parts[0]} {parts[2]}" if len(parts) > 2 else parts[0]

    click.echo(_table(["NAME", "ROLE", "SSH KEY", "ADDED (UTC)", "BY"],
                      [[u.name + (" (you)" if u.name == me else ""), u.role,
                        _short(key_text(u.ssh_public_key), 40), _when(u.created_at),
                        u.created_by] for u in found]))


def _read_key(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _CliError(f"cannot read the public key file {path} ({exc}) — pass the .pub "
                        "file, e.g. ~/.ssh/id_ed25519.pub") from None


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(_ROLES), help="The user's role.")
@click.option("--ssh-key", "ssh_key", metavar="PUBKEY_FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Their OpenSSH public key file (e.g. id_ed25519.pub).")
@pass_app
def users_add(app: _App, name: str, role: str, ssh_key: Path | None) -> None:
    """Register user NAME with a role (admins only)."""
    user = app.workspace().add_user(name, role, _read_key(ssh_key))
    key = " with an SSH key" if user.ssh_public_key else ""
    click.echo(f"Added {user.name} as {user.role}{key}.")


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(_ROLES))
@pass_app
def users_set_role(app: _App, name: str, role: str) -> None:
    """Change the role of user NAME (admins only)."""
    ws = app.workspace()
    old = ws.get_user(name).role
    user = ws.set_role(name, role)
    click.echo(f"{user.name} is now {user.role} (was {old}).")


@users.command("set-key")
@click.argument("name")
@click.argument("pubkey_file", metavar="PUBKEY_FILE",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_app
def users_set_key(app: _App, name: str, pubkey_file: Path) -> None:
    """Register or replace the SSH public key of user NAME (admins only)."""
    user = app.workspace().set_user_key(name, _read_key(pubkey_file) or "")
    click.echo(f"Set the SSH key of {user.name}.")


@users.command("rm")
@click.argument("name")
@pass_app
def users_rm(app: _App, name: str) -> None:
    """Unregister user NAME (admins only). The last admin cannot be removed."""
    ws = app.workspace()
    old = ws.get_user(name).role
    ws.remove_user(name)
    click.echo(f"Removed {name} (was {old}).")


# -- releases and serving -------------------------------------------------------------------


def _server_settings(settings: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"'{item}' is not KEY=VALUE, e.g. threads=4")
        values[key.strip()] = value.strip()
    return values


def _read_token(path: Path | None) -> str | None:
    if path is None:
        return None
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise click.UsageError(f"{path} is empty — put the token in it")
    return token


@cli.command(short_help="Build the release folder a host serves.")
@click.argument("ref")
@click.option("--out", "-o", "out", required=True, type=click.Path(path_type=Path),
              help="The folder to write (must not exist, unless --overwrite).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="A server setting for config.json (repeatable), e.g. --set threads=4.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Require this bearer token on every route but /health.")
@click.option("--overwrite", is_flag=True, help="Replace the folder if it exists.")
@json_option
@pass_app
def bundle(app: _App, ref: str, out: Path, settings: tuple[str, ...], token_file: Path | None,
           overwrite: bool, as_json: bool) -> None:
    """Write the release folder of REF: artifact, manifest with the sha256 of every file,
    holdout rows for the host's self-check, drift specs, server settings and the runtime
    code. Copy it to a host and run `bin/serve` there (Python with numpy, pandas,
    scikit-learn, skops and waitress is all it needs).

    \b
    Examples:
      modeldeck bundle breast-cancer@production --out /media/usb/bc-release
      modeldeck bundle diabetes:2 -o rel --set threads=4 --set folder_enabled=true
    """
    from modeldeck.core.bundle import build_release

    registry = app.registry()
    built = build_release(registry, ref, out, config=_server_settings(settings),
                          token=_read_token(token_file), actor=app.workspace().identity.name,
                          overwrite=overwrite)
    if as_json:
        _echo_json({"path": str(built.path), "release_id": built.release_id,
                    "model": built.model, "version": built.version, "files": built.files,
                    "bytes": built.size})
        return
    click.echo(f"Built release {built.release_id} ({built.files} files, {_size(built.size)}) "
               f"in {built.path}")
    click.echo(f"On the host: {shlex.quote(str(built.path))}/bin/serve --port 8080")


@cli.command(short_help="Serve a version's predictions over HTTP on this machine.")
@click.argument("ref")
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", "-p", type=int, default=None, help="TCP port (default 8080).")
@click.option("--threads", type=int, default=None, help="Worker threads (default 8).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Any other server setting (repeatable), e.g. --set max_rows=1000.")
@click.option("--folder", is_flag=True, default=None,
              help="Folder mode: score CSV/Parquet files dropped into STATE/folder/inbox.")
@click.option("--webhook", metavar="URL", help="POST every prediction batch to URL.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Require this bearer token on every route but /health.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Prediction log, folder mode and dead letters "
                   "(default WORKSPACE/serve/NAME/state).")
@click.option("--port-file", type=click.Path(dir_okay=False, path_type=Path), hidden=True,
              help="Write the bound port to this file (with --port 0).")
@pass_app
def serve(app: _App, ref: str, host: str | None, port: int | None, threads: int | None,
          settings: tuple[str, ...], folder: bool | None, webhook: str | None,
          token_file: Path | None, state_dir: Path | None, port_file: Path | None) -> None:
    """Serve version REF locally, exactly as a host would: build its release folder (under
    the workspace), self-check it, and answer predictions until Ctrl-C.

    \b
    Examples:
      modeldeck serve breast-cancer@production
      curl -s localhost:8080/v1/predict -H 'Content-Type: application/json' \\
           -d '[{"mean radius": 14.1, ...}]'
      modeldeck serve diabetes --port 9000 --folder --webhook http://127.0.0.1:9100/in
    """
    from modeldeck.core.bundle import build_release
    from modeldeck.core.runtime import server
    from modeldeck.core.runtime.config import ServerConfig

    registry = app.registry()
    info = registry.get_version(ref)
    root = app.workspace().path / "serve" / info.model
    overrides = {"host": host, "port": port, "threads": threads, "folder_enabled": folder,
                 "webhook_url": webhook}
    config = ServerConfig.from_dict(_server_settings(settings)).with_overrides(**overrides)
    staging = root / "releases" / ".building"
    built = build_release(registry, info.ref, staging, actor=app.workspace().identity.name,
                          overwrite=True)
    target = root / "releases" / built.release_id
    if target.exists():
        shutil.rmtree(staging)
    else:
        staging.rename(target)
    app.close()  # the server needs no workspace; do not hold the database open
    server.setup_logging()
    click.echo(f"Serving {info.ref} (release {built.release_id}) on "
               f"http://{config.host}:{config.port} — Ctrl-C stops.", err=True)
    click.echo(f"Try: curl -s http://{config.host}:{config.port}/ready", err=True)
    code = server.serve(target, config, state_dir=state_dir, token=_read_token(token_file),
                        port_file=port_file)
    raise SystemExit(code)


cli.add_command(hosts)  # `modeldeck hosts ...` lives in modeldeck.core.cli_hosts
# deploy, rollback, status and hosts trust/untrust/probe/unlock register themselves on import
import modeldeck.core.cli_deploy  # noqa: E402,F401
import modeldeck.core.cli_feedback  # noqa: E402,F401
import modeldeck.core.cli_release  # noqa: E402,F401


# -- entry point ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the ``modeldeck`` command line (the console script's entry point)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="modeldeck")
    raise SystemExit(0)  # cli.main exits itself in standalone mode


if __name__ == "__main__":
    main()
