"""``modeldeck feedback import|imports|report``, ``modeldeck retrain`` and ``challenger``.

Thin click commands over :mod:`modeldeck.core.feedback`; registered on the root group by
:mod:`modeldeck.core.cli` (which imports this module at its end).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from modeldeck.core.cli import (
    _DASH,
    _App,
    _delta,
    _drift_progress,
    _echo_json,
    _key_metrics,
    _metrics_line,
    _num,
    _pairs,
    _progress_printer,
    _short,
    _table,
    _when,
    cli,
    json_option,
    pass_app,
)

_WINDOWS = ("hour", "day", "week")  # checked against core in the tests
_LISTS = ("missing", "duplicate", "conflicting", "unknown")
_data_path = click.Path(dir_okay=False, path_type=Path)


@cli.group()
def feedback() -> None:
    """Production labels: import them, see realized vs estimated performance.

    Labels come back from the hosts' /v1/feedback endpoint (fetched by `modeldeck pull`)
    or from files (`feedback import`). They are joined to the logged predictions by
    prediction id; predictions without a label, ids labeled twice (and conflicting
    labels) and labels naming no logged prediction are counted and listed, never dropped.
    """


@feedback.command("import", short_help="Import a labels file (ids + labels, or rows + labels).")
@click.argument("model")
@click.argument("data", metavar="FILE", type=_data_path)
@click.option("--labels", "labels_file", metavar="FILE", type=_data_path,
              help="The labels of FILE's rows in a separate file: a 'row' column (1-based "
                   "row numbers of FILE) and the label column, or one label per row.")
@click.option("--id-column", metavar="COL",
              help="The prediction id column (default: 'prediction_id' when present).")
@click.option("--label-column", metavar="COL",
              help="The label column (default: the model's target column, else 'label').")
@click.option("--time-column", metavar="COL",
              help="Feature rows: when each was served (default: 'timestamp' or 'ts').")
@click.option("--host-column", metavar="COL",
              help="Feature rows: where each was served (default: 'host').")
@json_option
@pass_app
def feedback_import(app: _App, model: str, data: Path, labels_file: Path | None,
                    id_column: str | None, label_column: str | None, time_column: str | None,
                    host_column: str | None, as_json: bool) -> None:
    """Store the labels in FILE (CSV or Parquet) for MODEL.

    FILE holds either prediction ids and labels (the ids the prediction server answered
    with), joined to the pulled predictions, or the model's input columns and a label
    (labeled production rows, optionally with a time and a host column). Each import is
    kept as it was given and audited; importing the same content again changes nothing.

    \b
    Examples:
      modeldeck feedback import breast-cancer labels.csv --id-column request_id
      modeldeck feedback import breast-cancer production-day-7.csv \\
        --labels production-day-7.labels.csv
    """
    from modeldeck.core.feedback import import_labels

    item = import_labels(app.workspace(), model, data, labels=labels_file,
                         id_column=id_column, label_column=label_column,
                         time_column=time_column, host_column=host_column)
    if as_json:
        _echo_json(item.to_dict())
        return
    kind = "prediction ids + labels" if item.kind == "ids" else "labeled feature rows"
    if item.already:
        click.echo(f"{data.name}: already imported as {item.id} on {_when(item.imported_at)} "
                   "(nothing changed)")
        return
    click.echo(f"Imported {item.rows} {kind} for {model} as {item.id}")
    if item.empty:
        click.echo(f"  {item.empty} rows without a label were left out")
    if item.invalid_ids:
        click.echo(f"  {item.invalid_ids} ids are not prediction ids (wrong --id-column?); "
                   "they will never join")
    click.echo(f"See how they join with `{app.command('feedback report ' + model)}`.")


@feedback.command("imports", short_help="List the imported labels files of a model.")
@click.argument("model")
@json_option
@pass_app
def feedback_imports(app: _App, model: str, as_json: bool) -> None:
    """List MODEL's label imports, oldest first."""
    from modeldeck.core.feedback import list_imports

    app.registry().get_model(model)
    items = list_imports(app.workspace(), model)
    if as_json:
        _echo_json([i.to_dict() for i in items])
        return
    if not items:
        click.echo(f"No labels imported for {model} yet.")
        return
    click.echo(_table(["ID", "KIND", "ROWS", "FILE", "IMPORTED", "BY"],
                      [[i.id, i.kind, i.rows, _short(i.source, 40), _when(i.imported_at),
                        i.actor] for i in items], right=[2]))


def _window_rows(points: Any, metrics: list[str], est_metric: str | None,
                 with_host: bool) -> list[list[Any]]:
    rows = []
    for p in points:
        row: list[Any] = [p.window] + ([p.host] if with_host else []) + [p.rows, p.labeled]
        row += [_num((p.realized or {}).get(m)) for m in metrics]
        if est_metric:
            est = p.estimated
            ok = est is not None and est.value is not None
            row += [_num(est.value) if ok else _DASH,
                    f"{_num(est.low)}–{_num(est.high)}" if ok and est.low is not None
                    and est.high is not None else _DASH]
        rows.append(row)
    return rows


def _report_text(app: _App, report: Any) -> None:
    join = report.join
    click.echo(f"{report.ref} on production labels ({report.window_unit} windows)")
    click.echo(_pairs([
        ("logged predictions", f"{join.predictions} pulled, {join.labeled} labeled "
                               f"({join.from_pulled} by the hosts, {join.from_imports} "
                               "imported)" if join.predictions else
                               f"none pulled yet (`{app.command('pull')}`)"),
        ("missing labels", join.missing),
        ("duplicate ids", f"{join.duplicates} ({len(join.conflicts)} with conflicting "
                          "labels; the last label counts)"),
        ("unknown ids", f"{join.unknown}" + (f" ({len(join.invalid_ids)} not prediction ids)"
                                             if join.invalid_ids else "")),
        ("labeled feature rows", f"{join.feature_rows}" + (
            f" (+{join.matched_rows} that were logged predictions: joined to them by "
            "their inputs, counted once)" if join.matched_rows else "")),
    ]))
    for c in join.conflicts[:5]:
        click.echo(f"  conflict {c.prediction_id}: "
                   + " → ".join(f"{label!s} ({src})" for label, src in zip(c.labels, c.sources)))
    if len(join.conflicts) > 5:
        click.echo(f"  … and {len(join.conflicts) - 5} more conflicts")
    found = [k for k, n in (("missing", join.missing), ("duplicate", join.duplicates),
                            ("unknown", join.unknown)) if n]
    if found:
        click.echo(f"  List the ids with `{app.command(f'feedback report {report.ref} --list')}"
                   f" {'|'.join(found)}`.")
    points = [*report.windows, *report.cells]
    task_metrics = list(dict.fromkeys(k for p in points for k in (p.realized or {})))
    metrics = [m for m in _key_metrics(["classification", "regression"]) if m in task_metrics]
    est_metric = next((p.estimated.metric for p in points if p.estimated is not None), None)
    headers = [*(f"REALIZED {m.upper()}" for m in metrics)]
    if est_metric:
        headers += [f"EST. {est_metric.upper()}", "BAND"]
    click.echo("\nRealized (labels) vs estimated (no labels) per window, all hosts")
    base = ["WINDOW", "ROWS", "LABELED"]
    click.echo(_table([*base, *headers], _window_rows(report.windows, metrics, est_metric,
                                                      False),
                      right=range(1, len(base) + len(headers)), indent=2))
    if report.cells and len(report.hosts) > 1:
        click.echo("\nPer host")
        base = ["WINDOW", "HOST", "ROWS", "LABELED"]
        click.echo(_table([*base, *headers], _window_rows(report.cells, metrics, est_metric,
                                                          True),
                          right=range(2, len(base) + len(headers)), indent=2))
    for note in report.notes:
        click.echo(f"note: {note}")


@feedback.command("report", short_help="Join report and realized vs estimated performance.")
@click.argument("ref")
@click.option("--window", type=click.Choice(_WINDOWS), default="day", show_default=True,
              help="Window length.")
@click.option("--since", metavar="TIME", help="Only rows served at or after this time.")
@click.option("--until", metavar="TIME", help="Only rows served before this time.")
@click.option("--hosts", metavar="H1,H2", help="Only rows these hosts served.")
@click.option("--list", "list_kind", type=click.Choice(_LISTS),
              help="Print the ids of one finding, one per line, and nothing else.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print progress.")
@json_option
@pass_app
def feedback_report(app: _App, ref: str, window: str, since: str | None, until: str | None,
                    hosts: str | None, list_kind: str | None, quiet: bool,
                    as_json: bool) -> None:
    """How labels joined the predictions of REF's model, and how REF did.

    The join report counts logged predictions without a label, ids labeled more than
    once (with conflicting labels) and labels naming no logged prediction. Then, per
    window and per host, the version's realized metrics (from the labels) stand next to
    the drift engine's estimate without labels for the same rows.

    \b
    Examples:
      modeldeck feedback report breast-cancer@production
      modeldeck feedback report breast-cancer@production --window week --json
      modeldeck feedback report breast-cancer@production --list unknown
    """
    from modeldeck.core.feedback import feedback_report as build, load_feedback
    from modeldeck.core.progress import run

    wanted = [h.strip() for h in hosts.split(",") if h.strip()] if hosts else None
    if list_kind:
        info = app.registry().get_version(ref)
        data = load_feedback(app.workspace(), info.model, target=info.target, hosts=wanted)
        ids = data.join.ids(list_kind)
        if as_json:
            _echo_json(list(ids))
        else:
            for pid in ids:
                click.echo(pid)
        return
    report = run(build(app.workspace(), ref, window=window, since=since, until=until,
                       hosts=wanted), _drift_progress(quiet or as_json))
    if as_json:
        _echo_json(report.to_dict())
        return
    _report_text(app, report)


def _challenger_text(result: Any) -> None:
    optimistic = " — these rows were trained on: optimistic" if result.in_training else ""
    click.echo(f"Challenger on {result.window} ({result.rows} labeled rows"
               + (f", {result.left_out} left out" if result.left_out else "")
               + f"){optimistic}")
    click.echo(_table(["METRIC", f"CHAMPION {result.champion}",
                       f"CANDIDATE {result.candidate}", "DELTA"],
                      [[m.name, _num(m.a), _num(m.b), _delta(m.delta)]
                       for m in result.metrics], right=[1, 2, 3], indent=2))
    winner = result.winner
    click.echo(f"  {winner} does better on {result.key_metric}" if winner
               else f"  a tie on {result.key_metric}")


@cli.command(short_help="Refit a version on its training data plus production labels.")
@click.argument("ref")
@click.option("--with-feedback", is_flag=True,
              help="Add the labeled production rows (pulled and imported). Without it the "
                   "estimator is refitted on its training data alone.")
@click.option("--since", metavar="TIME",
              help="Only production rows served at or after this time (ISO 8601).")
@click.option("--training", metavar="FILE", type=_data_path,
              help="The labeled data REF was trained on (checked against its recorded "
                   "fingerprint); not needed for a version made by retrain.")
@click.option("--window", type=click.Choice(_WINDOWS), default="day", show_default=True,
              help="The window held out for the challenger view.")
@click.option("--include-latest", is_flag=True,
              help="Train on the latest labeled window too (the challenger view is then "
                   "optimistic).")
@click.option("--champion", metavar="REF",
              help="The version to compare with (default: the production version).")
@click.option("--no-candidate", is_flag=True,
              help="Register the version but open no release candidate.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print progress.")
@json_option
@pass_app
def retrain(app: _App, ref: str, with_feedback: bool, since: str | None,
            training: Path | None, window: str, include_latest: bool, champion: str | None,
            no_candidate: bool, quiet: bool, as_json: bool) -> None:
    """Clone REF's estimator or pipeline and refit it: a new version and a release candidate.

    The refit uses REF's labeled training data plus, with --with-feedback, the labeled
    production rows. The latest labeled window is held out: candidate and champion are
    scored on it side by side (the challenger view). The new version records its parent
    and the fingerprints of both parts of its training data, keeps REF's holdout set, and
    enters the release flow as a candidate (QA gates, approval).

    \b
    Examples:
      modeldeck retrain breast-cancer@production --with-feedback --training reference.csv
      modeldeck retrain breast-cancer:3 --with-feedback --since 2026-11-19 --json
    """
    from modeldeck.core.feedback import retrain as run_retrain
    from modeldeck.core.progress import run

    result = run(run_retrain(app.workspace(), ref, with_feedback=with_feedback, since=since,
                             training=training, window=window, include_latest=include_latest,
                             champion=champion, open_candidate=not no_candidate),
                 _progress_printer(quiet or as_json))
    if as_json:
        _echo_json(result.to_dict())
        return
    info = result.version
    click.echo(f"Registered {info.ref} ({info.estimator}, parent {result.parent.ref})")
    span = (f", served {_when(result.feedback_from)} → {_when(result.feedback_until)}"
            if result.feedback_from and result.feedback_until else "")
    click.echo(_pairs([
        ("trained on", f"{result.reference_rows} rows of {result.reference_source}"
                       + (f" + {result.feedback_rows} labeled production rows{span}"
                          if with_feedback else "")),
        ("left out", ", ".join(f"{n} {why}" for why, n in result.left_out.items()) or None),
        ("holdout", _metrics_line(info)),
        ("holdout set", f"the same as {result.parent.ref}'s (the gates compare on it)"),
    ]))
    if result.challenger is not None:
        click.echo()
        _challenger_text(result.challenger)
    cand = result.candidate
    if cand is not None:
        passed = sum(1 for g in cand.gates if g.passed and not g.skipped)
        click.echo(f"\nRelease candidate #{cand.id}: {cand.status} ({passed} of "
                   f"{len(cand.gates)} gates passed)")
    for note in result.notes:
        click.echo(f"note: {note}")


@cli.command(short_help="Score a candidate and the champion on the latest labeled window.")
@click.argument("candidate_ref", metavar="CANDIDATE_REF")
@click.option("--champion", metavar="REF",
              help="The version to beat (default: the production version).")
@click.option("--window", type=click.Choice(_WINDOWS), default="day", show_default=True,
              help="Window length.")
@click.option("--at", "at_window", metavar="WINDOW",
              help="Use this window (e.g. 2026-11-21) instead of the latest labeled one.")
@json_option
@pass_app
def challenger(app: _App, candidate_ref: str, champion: str | None, window: str,
               at_window: str | None, as_json: bool) -> None:
    """Candidate and champion side by side on the latest labeled production window.

    Both versions score the same labeled rows (those both can score). When the window
    was part of the candidate's training data the numbers are marked optimistic.
    """
    from modeldeck.core.feedback import challenger as score

    result = score(app.workspace(), candidate_ref, champion, window=window, at=at_window)
    if as_json:
        _echo_json(result.to_dict())
        return
    _challenger_text(result)
