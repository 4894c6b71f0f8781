"""``modeldeck release ...``: candidates, QA gates, signed approvals, timelines, policies.

Thin click commands over :mod:`modeldeck.core.release`; registered on the root group by
:mod:`modeldeck.core.cli` (imported at its end, like :mod:`modeldeck.core.cli_deploy`).
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

import click

from modeldeck.core.cli import (
    _App,
    _delta,
    _echo_json,
    _jsonable,
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
from modeldeck.core.release import (
    STATUSES,
    Candidate,
    CandidateComparison,
    GatePolicy,
    Releases,
)

_DASH = "-"


def _releases(app: _App) -> Releases:
    return Releases(app.workspace())


# -- text ---------------------------------------------------------------------------------


def _value_text(value: Any) -> str:
    """A gate value or threshold: numbers with 4 digits, ``{metric: x}`` as ``metric x``."""
    if value is None:
        return _DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value_text(v)}" for k, v in value.items()) or _DASH
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value) or _DASH
    return str(value)


def _gate_value(name: str, value: Any) -> str:
    """Like :func:`_value_text`; the regression gate's relative change as a percentage."""
    if name == "regression" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value * 100:+.1f} %"
    return _value_text(value)


def _gate_state(passed: bool, skipped: bool) -> str:
    return "skipped" if skipped else ("pass" if passed else "FAIL")


def _approvals_text(cand: Candidate) -> str:
    return f"{cand.valid_approvals}/{cand.required_approvals}"


def _candidates_table(found: list[Candidate]) -> str:
    return _table(
        ["ID", "CANDIDATE", "STATUS", "GATES", "APPROVALS", "AUTHOR", "CREATED (UTC)"],
        [[c.id, c.ref, c.status,
          f"{sum(g.passed for g in c.gates)}/{len(c.gates)}", _approvals_text(c), c.author,
          _when(c.created_at)] for c in found], right=(0,))


def _gates_text(cand: Candidate) -> str:
    if not cand.gates:
        return "  (the gates have not run)"
    table = _table(["GATE", "RESULT", "VALUE", "THRESHOLD"],
                   [[g.name, _gate_state(g.passed, g.skipped),
                     _short(_gate_value(g.name, g.value), 44),
                     _short(_gate_value(g.name, g.threshold), 44)] for g in cand.gates],
                   indent=2)
    details = _pairs([(g.name, g.detail) for g in cand.gates])
    return f"{table}\n\n{details}"


def _comparison_text(comparison: CandidateComparison) -> str:
    if comparison.production is None:
        return "  No version is in production: nothing to compare with."
    if comparison.production == comparison.candidate:
        return f"  {comparison.candidate} is itself the production version."
    lines = [f"  {comparison.candidate} against production {comparison.production}, both "
             "scored on the candidate's holdout set:"]
    if comparison.metrics:
        lines.append(_table(["METRIC", "PRODUCTION", "CANDIDATE", "DELTA"],
                            [[m.name, _num(m.a), _num(m.b), _delta(m.delta)]
                             for m in comparison.metrics], right=(1, 2, 3), indent=4))
    schema = comparison.schema
    parts = []
    if schema.removed:
        parts.append("removed " + ", ".join(c.name for c in schema.removed))
    if schema.retyped:
        parts.append("retyped " + ", ".join(f"{n} ({a}→{b})" for n, a, b in schema.retyped))
    if schema.added:
        parts.append(f"added {len(schema.added)} column(s)")
    lines.append(f"  schema: {'; '.join(parts) or 'same input columns'}")
    flagged = [d.name for d in comparison.drift if d.flagged]
    lines.append(f"  drift of the holdout vs production's reference: {comparison.drift_summary}"
                 + (f" Flagged: {', '.join(flagged)}." if flagged else ""))
    return "\n".join(lines)


def _approvals_block(cand: Candidate) -> str:
    if not cand.approvals:
        return "  none yet"
    return _table(["REVIEWER", "DECISION", "SIGNATURE", "AT (UTC)", "COMMENT"],
                  [[a.reviewer, a.decision,
                    "valid" if a.verified else ("INVALID" if a.signature else "unsigned"),
                    _when(a.at), _short(a.comment, 50) or _DASH] for a in cand.approvals],
                  indent=2)


def _next_step(app: _App, cand: Candidate) -> str:
    steps = {
        "gates-failed": f"fix what failed, then `{app.command(f'release gates {cand.id}')}`",
        "awaiting-approval": f"a reviewer other than {cand.author} runs "
                             f"`{app.command(f'release approve {cand.id}')}`",
        "approved": f"deploy it: `{app.command(f'deploy {cand.ref} --hosts ...')}`",
    }
    return steps.get(cand.status, "")


def _show_candidate(app: _App, rel: Releases, cand: Candidate) -> None:
    click.echo(f"Release candidate {cand.id}: {cand.ref} — {cand.status}")
    click.echo(_pairs([
        ("release", cand.release_id),
        ("manifest sha256", cand.manifest_sha256),
        ("author", cand.author + (f" (candidate opened by {cand.created_by})"
                                  if cand.created_by != cand.author else "")),
        ("created", f"{_when(cand.created_at)} UTC"),
        ("approvals", f"{_approvals_text(cand)} valid (policy asks for "
                      f"{cand.required_approvals})"),
    ]))
    click.echo("\nGates:")
    click.echo(_gates_text(cand))
    click.echo("\nCompared with production:")
    click.echo(_comparison_text(rel.compare_to_production(cand.id)))
    click.echo("\nApprovals:")
    click.echo(_approvals_block(cand))
    step = _next_step(app, cand)
    if step:
        click.echo(f"\nNext: {step}.")


def _candidate_json(rel: Releases, cand: Candidate) -> dict[str, Any]:
    out: dict[str, Any] = _jsonable(cand)
    out["gates_passed"] = cand.gates_passed
    out["valid_approvals"] = cand.valid_approvals
    out["comparison"] = _jsonable(rel.compare_to_production(cand.id))
    return out


def _policy_pairs(policy: GatePolicy, task_hint: str | None) -> list[tuple[str, Any]]:
    tasks = [task_hint] if task_hint else ["classification", "regression"]
    metric_lines = "; ".join(
        f"{t}: " + (", ".join(f"{k} {v:g}" for k, v in policy.metric_thresholds(t).items())
                    or "none") for t in tasks)
    compared = "; ".join(f"{t}: {', '.join(policy.compared_metrics(t))}" for t in tasks)
    return [
        ("approvals", policy.required_approvals),
        ("holdout metrics", metric_lines),
        ("regression", f"at most {policy.regression_tolerance * 100:g} % worse on {compared}"),
        ("schema", f"acknowledged: {', '.join(policy.schema_acknowledged) or 'none'}; "
                   f"added columns {'allowed' if policy.schema_allow_added else 'refused'}"),
        ("latency", f"{policy.latency_rows} rows within {policy.latency_budget_ms:g} ms "
                    f"(median of {policy.latency_repeats})"),
        ("drift", f"at most {policy.drift_max_flagged} flagged feature(s)"),
        ("card", ", ".join(policy.card_required) or "nothing required"),
        ("artifact", "pickle allowed" if policy.allow_pickle else "skops or ONNX only"),
        ("skipped gates", ", ".join(policy.skip) or "none"),
    ]


def _run_operation(op: Any, quiet: bool) -> Candidate:
    from modeldeck.core.progress import run

    steps = {"building", "gates", "recorded"}  # the drift engine's own steps stay quiet
    result: Candidate = run(op, _progress_printer(quiet, steps=steps))
    return result


# -- the group ----------------------------------------------------------------------------


@cli.group(short_help="Release candidates: QA gates, signed approvals, timeline.")
def release() -> None:
    """Put a model version up for release: QA gates, then signed approvals by reviewers.

    `release create REF` builds the version's release folder (exactly what a deploy sends)
    and runs the gates of the model's policy (`release policy MODEL`). A reviewer who is not
    the author approves with `release approve ID`, signing the release manifest with the SSH
    key registered for them (`users set-key`); deploys refuse a release without enough valid
    signatures. You act as $MODELDECK_USER (default: your login).
    """


@release.command("create", short_help="Open a release candidate for a version; run its gates.")
@click.argument("ref")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")
@json_option
@pass_app
def release_create(app: _App, ref: str, quiet: bool, as_json: bool) -> None:
    """Make version REF (NAME:VERSION, NAME@ALIAS) a release candidate and run its gates.

    Data scientists and admins may. The release folder goes to WORKSPACE/releases/; the
    gates follow WORKSPACE/policies/<model>.toml (defaults without it).
    """
    rel = _releases(app)
    _run_and_show(app, rel, rel.create(ref), quiet, as_json)


@release.command("gates", short_help="Run a candidate's gates again.")
@click.argument("candidate_id", metavar="ID", type=int)
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")
@json_option
@pass_app
def release_gates(app: _App, candidate_id: int, quiet: bool, as_json: bool) -> None:
    """Run the gates of candidate ID again, e.g. after editing the policy or model card."""
    rel = _releases(app)
    _run_and_show(app, rel, rel.run_gates(candidate_id), quiet, as_json)


def _run_and_show(app: _App, rel: Releases, operation: Any, quiet: bool,
                  as_json: bool) -> None:
    """Run a gates operation (progress on stderr unless quiet) and show its candidate."""
    cand = _run_operation(operation, quiet or as_json)
    if as_json:
        _echo_json(_candidate_json(rel, cand))
        return
    _show_candidate(app, rel, cand)


@release.command("list", short_help="List release candidates, newest first.")
@click.option("--model", "-m", metavar="NAME", help="Only this model's candidates.")
@click.option("--status", "-s", type=click.Choice(STATUSES), help="Only candidates in it.")
@json_option
@pass_app
def release_list(app: _App, model: str | None, status: str | None, as_json: bool) -> None:
    """List release candidates with their status, gates and valid approvals."""
    rel = _releases(app)
    found = rel.list(model=model, status=status)
    if as_json:
        _echo_json(found)
        return
    if not found:
        click.echo("No release candidates" + (" match." if model or status else " yet. Open "
                   f"one with `{app.command('release create MODEL:VERSION')}`."))
        return
    click.echo(_candidates_table(found))


@release.command("show", short_help="Show a candidate: gates, production comparison, approvals.")
@click.argument("candidate_id", metavar="ID", type=int)
@json_option
@pass_app
def release_show(app: _App, candidate_id: int, as_json: bool) -> None:
    """Show candidate ID: its gates with values, how it compares with production, and
    its approvals (with whether each signature verifies now)."""
    rel = _releases(app)
    cand = rel.get(candidate_id)
    if as_json:
        _echo_json(_candidate_json(rel, cand))
        return
    _show_candidate(app, rel, cand)


_key_option = click.option(
    "--key", "key", metavar="PRIVATE_KEY", type=click.Path(dir_okay=False, path_type=Path),
    help="Sign with this private key file. Default: ssh-agent, with your registered key.")


@release.command("approve", short_help="Approve a candidate, signing its manifest.")
@click.argument("candidate_id", metavar="ID", type=int)
@click.option("--comment", "-c", default="", help="Why (optional).")
@_key_option
@pass_app
def release_approve(app: _App, candidate_id: int, comment: str, key: Path | None) -> None:
    """Approve candidate ID as a reviewer (not its author).

    Signs the sha256 of the release's manifest.json with your SSH key (ssh-keygen -Y sign,
    namespace modeldeck-release); the approval counts only if the signature verifies
    against the public key registered for you.
    """
    rel = _releases(app)
    cand = rel.approve(candidate_id, comment=comment, key=key)
    click.echo(f"Approved candidate {cand.id} ({cand.ref}) as {app.workspace().identity.name}"
               f" with a valid signature: {_approvals_text(cand)} approvals, now "
               f"{cand.status}.")
    step = _next_step(app, cand)
    if step:
        click.echo(f"Next: {step}.")


@release.command("reject", short_help="Reject a candidate, saying why.")
@click.argument("candidate_id", metavar="ID", type=int)
@click.option("--comment", "-c", required=True, help="What must change.")
@_key_option
@pass_app
def release_reject(app: _App, candidate_id: int, comment: str, key: Path | None) -> None:
    """Reject candidate ID as a reviewer (not its author); signed when you have a key."""
    cand = _releases(app).reject(candidate_id, comment=comment, key=key)
    click.echo(f"Rejected candidate {cand.id} ({cand.ref}).")


@release.command("timeline", short_help="Show what happened to a candidate.")
@click.argument("candidate_id", metavar="ID", type=int)
@json_option
@pass_app
def release_timeline(app: _App, candidate_id: int, as_json: bool) -> None:
    """Show candidate ID's timeline: created, gates, approvals, deploys, rollbacks."""
    events = _releases(app).timeline(candidate_id)
    if as_json:
        _echo_json(events)
        return
    click.echo(_table(["AT (UTC)", "BY", "WHAT", "DETAIL"],
                      [[_when(e.at), e.actor, e.action, _short(e.detail, 70)] for e in events]))


@release.command("verify", short_help="Check a release may be deployed; export signatures.")
@click.argument("candidate", metavar="ID_OR_RELEASE")
@click.option("--export", "export", metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Write message, allowed_signers and <reviewer>.sig there, for "
                   "`ssh-keygen -Y verify`.")
@pass_app
def release_verify(app: _App, candidate: str, export: Path | None) -> None:
    """Check that candidate (or release id) ID_OR_RELEASE may be deployed: approved, its
    manifest unchanged, enough signatures verifying against the registered keys."""
    from modeldeck.core.release import signing

    rel = _releases(app)
    cand = rel.check_deployable(candidate)
    signatures = rel.signatures_for(cand.id)
    click.echo(f"Release {cand.release_id} (candidate {cand.id}, {cand.ref}) may be "
               f"deployed: {len(signatures)} valid signature(s) by "
               f"{', '.join(signatures)} over manifest sha256 {cand.manifest_sha256}.")
    if export is None:
        return
    export.mkdir(parents=True, exist_ok=True)
    (export / "message").write_text(cand.manifest_sha256 + "\n", encoding="utf-8")
    users = [app.workspace().get_user(name) for name in signatures]
    (export / "allowed_signers").write_text(signing.allowed_signers_text(users),
                                            encoding="utf-8")
    for name, text in signatures.items():
        (export / f"{name}.sig").write_text(text, encoding="utf-8")
    first = next(iter(signatures))

    def there(name: str) -> str:
        return shlex.quote(str(export / name))

    click.echo(f"Wrote {export}/message, allowed_signers and {len(signatures)} .sig file(s). "
               f"Check with: ssh-keygen -Y verify -f {there('allowed_signers')} -I {first} "
               f"-n {signing.NAMESPACE} -s {there(first + '.sig')} < {there('message')}")


@release.command("policy", short_help="Show a model's gate policy; write the default file.")
@click.argument("model")
@click.option("--init", "init", is_flag=True,
              help="Write the documented default policy to WORKSPACE/policies/MODEL.toml.")
@click.option("--force", is_flag=True, help="With --init: replace an existing file.")
@json_option
@pass_app
def release_policy(app: _App, model: str, init: bool, force: bool, as_json: bool) -> None:
    """Show the gate policy of MODEL (its TOML file over the defaults)."""
    from modeldeck.core.registry import Registry
    from modeldeck.core.release import load_policy, policy_path, write_default_policy

    ws = app.workspace()
    registry = Registry(ws)
    registry.get_model(model)  # an unknown model is an error, not an empty policy
    if init:
        with ws.mutate("release.policy-init", model, "release") as change:
            path = write_default_policy(ws, model, overwrite=force)
            change.payload.update(file=str(path))
        click.echo(f"Wrote the default policy to {path}; edit it, then run the gates.",
                   err=as_json)
    policy = load_policy(ws, model)
    path = policy_path(ws, model)
    if as_json:
        _echo_json({"model": model, "file": str(path), "exists": path.is_file(),
                    **policy.to_dict()})
        return
    versions = registry.list_versions(model)
    task = versions[-1].task if versions else None
    source = str(path) if path.is_file() else f"defaults (no {path})"
    click.echo(f"Gate policy of {model}: {source}")
    click.echo(_pairs(_policy_pairs(policy, task)))
