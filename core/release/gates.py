"""The QA gates a release candidate must pass before reviewers see it.

Each gate is a small function of a :class:`GateContext` returning a
:class:`~modeldeck.core.release.types.GateResult` (value, threshold, pass/fail and one
sentence). They check the *release folder* (what would deploy), not just the registry:

- ``artifact``: every file matches the manifest, and the model loads with the version's
  trusted types only (a pickle artifact fails unless the policy allows it);
- ``card``: the model card fields the policy requires are filled;
- ``metrics``: holdout metrics, scored now with the released artifact, reach the thresholds;
- ``regression``: production, scored now on the same holdout set, is not better than the
  candidate by more than the tolerance;
- ``schema``: no input column production takes is dropped or retyped unless acknowledged;
- ``latency``: a batch of N rows is predicted within the budget;
- ``drift``: the candidate's holdout set does not drift against production's reference.

:func:`run_gates` runs them in order as an operation (progress events, cancel checks).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modeldeck.core.errors import Cancelled, ModelDeckError, UntrustedTypesError
from modeldeck.core.modelio import LoadedModel, load_model
from modeldeck.core.progress import CancelToken, Operation, ProgressEvent, scaled
from modeldeck.core.registry import HIGHER_IS_BETTER, Registry, VersionInfo
from modeldeck.core.registry.lineage import holdout_metrics
from modeldeck.core.release.policy import GATE_NAMES, GatePolicy
from modeldeck.core.release.types import GateResult
from modeldeck.core.runtime import release as rel
from modeldeck.core.schema import diff_schema

#: Seed of the rows picked for the latency batch.
LATENCY_SEED = 20261127


@dataclass
class GateContext:
    """What the gates look at, and what they learn for each other and the comparison.

    ``model`` is set by the artifact gate (``None`` when it does not load); ``comparison``
    collects candidate-vs-production numbers for
    :meth:`~modeldeck.core.release.Releases.compare_to_production`.
    """

    registry: Registry
    candidate: VersionInfo
    production: VersionInfo | None
    release_dir: Path
    policy: GatePolicy
    cancel: CancelToken = field(default_factory=CancelToken)
    model: LoadedModel | None = None
    scores: dict[str, float] | None = None
    comparison: dict[str, Any] = field(default_factory=dict)

    def holdout(self) -> pd.DataFrame | None:
        """The candidate's stored holdout set, or ``None`` when it was registered without."""
        if not self.candidate.holdout_sha256:
            return None
        return self.registry.load_holdout(self.candidate)

    @property
    def compares(self) -> bool:
        """Whether there is another version in production to compare with."""
        return self.production is not None and self.production.ref != self.candidate.ref


def _result(name: str, passed: bool, value: Any, threshold: Any, detail: str) -> GateResult:
    return GateResult(name, bool(passed), value, threshold, detail)


def _skipped(name: str, detail: str) -> GateResult:
    return GateResult(name, True, None, None, detail, skipped=True)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _score(model: LoadedModel, frame: pd.DataFrame, target: str,
           features: tuple[str, ...]) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # feature-name and degenerate-metric warnings
        x = frame[list(features)]
        return holdout_metrics(model.task, frame[target].to_numpy(), model.predict(x),
                               model.predict_proba(x), model.classes)


# --------------------------------------------------------------------------- the gates


def artifact_gate(ctx: GateContext) -> GateResult:
    """Every release file matches the manifest; the model loads with trusted types only."""
    manifest = rel.read_manifest(ctx.release_dir)
    problems = rel.verify_files(ctx.release_dir, manifest)
    if problems:
        return _result("artifact", False, len(problems), 0,
                       f"The release folder is damaged: {'; '.join(problems[:3])}.")
    fmt = manifest.artifact_format
    if fmt == "pickle" and not ctx.policy.allow_pickle:
        return _result("artifact", False, "pickle", "skops or onnx",
                       "The artifact is a pickle, which can run any code when loaded; "
                       "register the model as skops or ONNX (or set [artifact] allow_pickle).")
    data = (ctx.release_dir / manifest.artifact).read_bytes()
    try:
        ctx.model = load_model(data, fmt, manifest.trusted_types, manifest.task,
                               manifest.classes)
    except UntrustedTypesError as exc:
        return _result("artifact", False, len(exc.types), 0,
                       f"The {fmt} artifact holds types nobody trusted: "
                       f"{', '.join(exc.types[:5])}.")
    except ModelDeckError as exc:
        return _result("artifact", False, "does not load", "loads", f"{exc.message}.")
    extra = len(manifest.trusted_types)
    return _result("artifact", True, 0, 0,
                   f"{manifest.artifact} ({fmt}) matches the manifest and loads with "
                   f"scikit-learn's own types plus {extra} type(s) trusted at registration.")


def card_gate(ctx: GateContext) -> GateResult:
    """The model card fields named in the policy are filled."""
    card = ctx.candidate.card.to_dict()
    missing = [f for f in ctx.policy.card_required if not str(card.get(f, "")).strip()]
    if missing:
        names = ", ".join(m.replace("_", " ") for m in missing)
        return _result("card", False, len(missing), 0,
                       f"The model card lacks {names}; fill it with `modeldeck card edit "
                       f"{ctx.candidate.ref}`.")
    return _result("card", True, 0, 0, f"The model card has all {len(ctx.policy.card_required)}"
                   " required fields.")


def metrics_gate(ctx: GateContext) -> GateResult:
    """Holdout metrics of the released artifact, scored now, reach the thresholds."""
    thresholds = ctx.policy.metric_thresholds(ctx.candidate.task)
    if ctx.model is None:
        return _result("metrics", False, None, thresholds,
                       "The artifact does not load, so it cannot be scored.")
    holdout = ctx.holdout()
    if holdout is None or not ctx.candidate.target:
        return _result("metrics", False, None, thresholds,
                       f"{ctx.candidate.ref} was registered without a holdout set; register "
                       "it with --holdout FILE --target COLUMN.")
    ctx.scores = _score(ctx.model, holdout, ctx.candidate.target, ctx.candidate.feature_names)
    shown = {k: ctx.scores.get(k) for k in thresholds}
    misses = []
    for name, limit in thresholds.items():
        got = ctx.scores.get(name)
        higher = HIGHER_IS_BETTER.get(name, True)
        if got is None:
            misses.append(f"{name} is not measured for a {ctx.candidate.task} model")
        elif (got < limit) if higher else (got > limit):
            side = "below the minimum" if higher else "above the maximum"
            misses.append(f"{name} {_fmt(got)} is {side} {_fmt(limit)}")
    rows = int(ctx.scores.get("rows", len(holdout)))
    if misses:
        return _result("metrics", False, shown, thresholds,
                       f"On the holdout set ({rows} rows) " + "; ".join(misses) + ".")
    said = ", ".join(f"{k} {_fmt(ctx.scores[k])} "
                     f"{'≥' if HIGHER_IS_BETTER.get(k, True) else '≤'} {_fmt(v)}"
                     for k, v in thresholds.items())
    return _result("metrics", True, shown, thresholds,
                   f"On the holdout set ({rows} rows): {said or 'no thresholds set'}.")


def _relative_gain(name: str, production: float, candidate: float) -> float:
    """How much better the candidate is (negative: worse), as a share of production."""
    gain = candidate - production if HIGHER_IS_BETTER.get(name, True) else production - candidate
    return gain / abs(production) if production != 0 else gain


def regression_gate(ctx: GateContext) -> GateResult:
    """Production, scored now on the candidate's holdout set, is not clearly better."""
    tolerance = ctx.policy.regression_tolerance
    if not ctx.compares:
        return _skipped("regression", _nothing_to_compare(ctx))
    assert ctx.production is not None
    if ctx.model is None or ctx.scores is None:
        return _result("regression", False, None, -tolerance,
                       "The candidate could not be scored on a holdout set (see the metrics "
                       "gate).")
    holdout = ctx.holdout()
    assert holdout is not None
    missing = [c for c in ctx.production.feature_names if c not in holdout.columns]
    if missing or ctx.production.target != ctx.candidate.target:
        what = (f"lacks production's input column(s) {', '.join(missing[:5])}" if missing
                else f"has target '{ctx.candidate.target}', production "
                     f"'{ctx.production.target}'")
        return _result("regression", False, None, -tolerance,
                       f"The candidate's holdout set {what}, so production cannot be scored "
                       "on it; skip the gate in the policy if that is intended.")
    prod_model = ctx.registry.load_model(ctx.production)
    prod_scores = _score(prod_model, holdout, ctx.candidate.target or "",
                         ctx.production.feature_names)
    names = [n for n in ctx.policy.compared_metrics(ctx.candidate.task)
             if n in ctx.scores and n in prod_scores]
    ctx.comparison["metrics"] = {n: [prod_scores[n], ctx.scores[n]] for n in
                                 dict.fromkeys([*ctx.scores, *prod_scores])
                                 if n != "rows" and n in ctx.scores and n in prod_scores}
    if not names:
        return _result("regression", False, None, -tolerance,
                       "No metric to compare was measured for both versions.")
    gains = {n: _relative_gain(n, prod_scores[n], ctx.scores[n]) for n in names}
    worst = min(gains, key=lambda n: gains[n])
    said = ", ".join(f"{n} {_fmt(ctx.scores[n])} vs {_fmt(prod_scores[n])} "
                     f"({gains[n] * 100:+.1f} %)" for n in names)
    passed = gains[worst] >= -tolerance - 1e-12
    verdict = "within" if passed else "beyond"
    return _result("regression", passed, round(gains[worst], 6), -tolerance,
                   f"On the same holdout set against production {ctx.production.ref}: {said}; "
                   f"the worst, {worst}, is {verdict} the allowed {tolerance * 100:.1f} % "
                   "regression.")


def schema_gate(ctx: GateContext) -> GateResult:
    """No input column of production is dropped or retyped unless acknowledged."""
    acknowledged = list(ctx.policy.schema_acknowledged)
    if not ctx.compares:
        return _skipped("schema", _nothing_to_compare(ctx))
    assert ctx.production is not None
    diff = diff_schema(ctx.production.schema, ctx.candidate.schema)
    # integer <-> float is the same column with or without a gap, not a new type
    retyped = [r for r in diff.retyped if {r[1], r[2]} != {"integer", "float"}]
    breaking = [c.name for c in diff.removed] + [r[0] for r in retyped]
    if not ctx.policy.schema_allow_added:
        breaking += [c.name for c in diff.added]
    blocking = [b for b in breaking if b not in acknowledged]
    parts = []
    if diff.removed:
        parts.append("drops " + ", ".join(c.name for c in diff.removed))
    if retyped:
        parts.append("retypes " + ", ".join(f"{n} ({a} → {b})" for n, a, b in retyped))
    if diff.added:
        parts.append(f"adds {len(diff.added)} column(s) clients must send "
                     f"({', '.join(c.name for c in diff.added[:5])}"
                     f"{' …' if len(diff.added) > 5 else ''})")
    said = "; ".join(parts) or "takes the same input columns with the same types"
    if blocking:
        return _result("schema", False, len(blocking), 0,
                       f"Against production {ctx.production.ref} the candidate {said}; not "
                       f"acknowledged: {', '.join(blocking)} (add them to [schema] "
                       "acknowledged once clients are updated).")
    return _result("schema", True, 0, 0,
                   f"Against production {ctx.production.ref} the candidate {said}"
                   + (f" (acknowledged: {', '.join(acknowledged)})" if acknowledged else "")
                   + ".")


def latency_gate(ctx: GateContext) -> GateResult:
    """A batch of ``latency_rows`` rows is predicted within ``latency_budget_ms``."""
    budget, rows = ctx.policy.latency_budget_ms, ctx.policy.latency_rows
    if ctx.model is None:
        return _result("latency", False, None, budget,
                       "The artifact does not load, so its latency cannot be measured.")
    source = ctx.holdout()
    if source is None:
        source = ctx.registry.load_reference_sample(ctx.candidate)
    frame = source[list(ctx.candidate.feature_names)]
    picked = np.random.default_rng(LATENCY_SEED).integers(0, len(frame), size=rows)
    batch = frame.iloc[picked].reset_index(drop=True)
    model = ctx.model
    timings = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for run in range(ctx.policy.latency_repeats + 1):
            ctx.cancel.check()
            start = time.perf_counter()
            model.predict(batch)
            model.predict_proba(batch)
            if run:  # the first run warms caches up and is not counted
                timings.append((time.perf_counter() - start) * 1000)
    median = float(np.median(timings))
    passed = median <= budget
    return _result("latency", passed, round(median, 2), budget,
                   f"Predicting {rows} rows took {median:.1f} ms (median of "
                   f"{len(timings)} runs), {'within' if passed else 'over'} the budget of "
                   f"{budget:g} ms.")


def drift_gate(ctx: GateContext) -> Operation[GateResult]:
    """The candidate's holdout set does not drift against production's reference data."""
    from modeldeck.core.drift.report import analyze

    limit = ctx.policy.drift_max_flagged
    if not ctx.compares:
        return _skipped("drift", _nothing_to_compare(ctx))
    assert ctx.production is not None
    holdout = ctx.holdout()
    if holdout is None:
        return _result("drift", False, None, limit,
                       f"{ctx.candidate.ref} has no holdout set to compare with production's "
                       "reference data.")
    missing = [c for c in ctx.production.feature_names if c not in holdout.columns]
    if missing:
        return _result("drift", False, None, limit,
                       f"The holdout set lacks production's input column(s) "
                       f"{', '.join(missing[:5])}, so it cannot be compared with production's "
                       "reference data; skip the gate in the policy if that is intended.")
    report = yield from analyze(holdout[list(ctx.production.feature_names)],
                                registry=ctx.registry, ref=ctx.production.ref, window="file",
                                multivariate=False, cancel=ctx.cancel)
    flagged = list(report.overall.flagged)
    ctx.comparison["drift"] = [
        {"name": f.name, "status": f.status, "effect_size": _finite(f.effect_size),
         "threshold": _finite(f.effect_threshold), "flagged": f.flagged}
        for f in report.features]
    ctx.comparison["drift_summary"] = report.summary()
    passed = len(flagged) <= limit
    said = (f"{len(flagged)} feature(s) flagged ({', '.join(flagged[:5])}"
            f"{' …' if len(flagged) > 5 else ''})" if flagged else "no feature flagged")
    return _result("drift", passed, len(flagged), limit,
                   f"The candidate's holdout set ({len(holdout)} rows) against production "
                   f"{ctx.production.ref}'s reference data: {said}, "
                   f"{'within' if passed else 'over'} the limit of {limit}.")


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _nothing_to_compare(ctx: GateContext) -> str:
    if ctx.production is None:
        return f"No version of {ctx.candidate.model} is in production yet: nothing to compare."
    return f"{ctx.candidate.ref} is the production version itself: nothing to compare."


_GATES: dict[str, Callable[[GateContext], Any]] = {
    "artifact": artifact_gate, "card": card_gate, "metrics": metrics_gate,
    "regression": regression_gate, "schema": schema_gate, "latency": latency_gate,
    "drift": drift_gate,
}


def run_gates(ctx: GateContext) -> Operation[list[GateResult]]:
    """Run every gate of :data:`~modeldeck.core.release.policy.GATE_NAMES` in order.

    A gate named in the policy's ``[gates] skip`` is recorded as skipped. A gate that hits
    a problem it cannot measure past (unreadable data, say) fails with that problem as its
    detail; cancellation stops everything (:class:`~modeldeck.core.errors.Cancelled`).
    """
    results = []
    for i, name in enumerate(GATE_NAMES):
        ctx.cancel.check()
        start, end = i / len(GATE_NAMES), (i + 1) / len(GATE_NAMES)
        yield ProgressEvent("gates", start, f"gate {i + 1}/{len(GATE_NAMES)}: {name}")
        if name in ctx.policy.skip:
            results.append(_skipped(name, "Skipped: the policy lists it under [gates] skip."))
            continue
        try:
            outcome = _GATES[name](ctx)
            if not isinstance(outcome, GateResult):  # a generator gate (drift)
                outcome = yield from scaled(outcome, start, end)
        except Cancelled:
            raise
        except ModelDeckError as exc:
            outcome = _result(name, False, None, None, f"The gate could not run: {exc}.")
        results.append(outcome)
    ctx.comparison.setdefault("production", ctx.production.ref if ctx.production else None)
    if ctx.scores is not None and "metrics" not in ctx.comparison:
        ctx.comparison["metrics"] = {n: [None, v] for n, v in ctx.scores.items() if n != "rows"}
    yield ProgressEvent("gates", 1.0, f"{sum(r.passed for r in results)}/{len(results)} "
                        "gates passed")
    return results
