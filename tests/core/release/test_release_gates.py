"""Each QA gate passing and failing, on the demo's real models and release folders.

The gates are run one at a time on a :class:`GateContext`, so each case changes exactly one
thing: the policy, the version compared with, the release folder, or the data.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from modeldeck.core.bundle import build_release
from modeldeck.core.progress import run
from modeldeck.core.registry import ModelCard, Registry
from modeldeck.core.release import GatePolicy, GateResult
from modeldeck.core.release.gates import (
    GateContext,
    artifact_gate,
    card_gate,
    drift_gate,
    latency_gate,
    metrics_gate,
    regression_gate,
    run_gates,
    schema_gate,
)
from modeldeck.core.workspace import Workspace

REFS = ("breast-cancer:1", "breast-cancer:2", "diabetes:1", "diabetes:2")


@pytest.fixture(scope="module")
def gated(demo_template: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Registry, dict[str, Path]]]:
    """A demo copy (read-only here) and a release folder per demo version."""
    base = tmp_path_factory.mktemp("gates")
    shutil.copytree(demo_template, base / "ws")
    ws = Workspace.open(base / "ws", actor="alice")
    registry = Registry(ws)
    folders = {ref: build_release(registry, ref, base / "releases" / ref).path for ref in REFS}
    yield registry, folders
    ws.close()


MakeContext = Callable[..., GateContext]


@pytest.fixture
def context(gated: tuple[Registry, dict[str, Path]]) -> MakeContext:
    """``context(ref, production=REF|None, policy=GatePolicy(...), folder=PATH)``."""
    registry, folders = gated

    def make(ref: str, production: str | None = None, policy: GatePolicy | None = None,
             folder: Path | None = None, cls: type[GateContext] = GateContext) -> GateContext:
        return cls(registry, registry.get_version(ref),
                   registry.get_version(production) if production else None,
                   folder or folders[ref], policy or GatePolicy())

    return make


def _scored(ctx: GateContext) -> GateContext:
    """Run the gates the later ones build on (artifact loads the model, metrics scores)."""
    assert artifact_gate(ctx).passed
    metrics_gate(ctx)
    return ctx


def _drift(ctx: GateContext) -> GateResult:
    result = run(drift_gate(ctx))
    assert isinstance(result, GateResult)
    return result


# --------------------------------------------------------------------------- artifact


def test_artifact_passes_for_a_skops_release(context: MakeContext) -> None:
    ctx = context("breast-cancer:2")
    gate = artifact_gate(ctx)
    assert gate.passed and not gate.skipped and gate.value == 0
    assert "model/model.skops (skops)" in gate.detail
    assert ctx.model is not None and ctx.model.format == "skops"


def test_artifact_fails_for_a_changed_release_file(context: MakeContext,
                                                   gated: tuple[Registry, dict[str, Path]],
                                                   tmp_path: Path) -> None:
    folder = tmp_path / "release"
    shutil.copytree(gated[1]["breast-cancer:2"], folder)
    selfcheck = folder / "model" / "selfcheck.json"
    selfcheck.write_text(selfcheck.read_text().replace("[", "[ ", 1))
    gate = artifact_gate(context("breast-cancer:2", folder=folder))
    assert not gate.passed and gate.value == 1 and gate.threshold == 0
    assert "model/selfcheck.json differs from the release" in gate.detail


def test_artifact_refuses_a_pickle_unless_the_policy_allows_it(
        make_workspace: Callable[..., Path], iris_files: dict[str, Path],
        tmp_path: Path) -> None:
    import re

    import joblib
    import skops.io as sio

    model = sio.load(iris_files["model"], trusted=sio.get_untrusted_types(
        file=iris_files["model"]))
    model.pattern_ = re.compile("iris")  # skops cannot store a compiled pattern: stays pickle
    pickled = tmp_path / "iris.joblib"
    joblib.dump(model, pickled)
    with Workspace.open(make_workspace(demo=False)) as ws:
        registry = Registry(ws)
        info = run(registry.register("iris", pickled, iris_files["reference"],
                                     iris_files["holdout"], "species", trust_pickle=True))
        folder = build_release(registry, info.ref, tmp_path / "rel").path
        refused = artifact_gate(GateContext(registry, info, None, folder, GatePolicy()))
        allowed = artifact_gate(GateContext(registry, info, None, folder,
                                            GatePolicy(allow_pickle=True)))
    assert not refused.passed and refused.value == "pickle"
    assert "can run any code" in refused.detail
    assert allowed.passed and "(pickle)" in allowed.detail


# --------------------------------------------------------------------------- card


def test_card_passes_when_complete(context: MakeContext) -> None:
    gate = card_gate(context("breast-cancer:2"))
    assert gate.passed and gate.value == 0


def test_card_fails_naming_the_missing_fields(context: MakeContext) -> None:
    ctx = context("breast-cancer:2")
    ctx.candidate = dataclasses.replace(ctx.candidate, card=ModelCard(intended_use="triage"))
    gate = card_gate(ctx)
    assert not gate.passed and gate.value == 3 and gate.threshold == 0
    assert "limitations, owner, contact" in gate.detail
    relaxed = card_gate(dataclasses.replace(ctx, policy=GatePolicy(
        card_required=("intended_use",))))
    assert relaxed.passed


# --------------------------------------------------------------------------- metrics


def test_metrics_pass_the_default_thresholds(context: MakeContext) -> None:
    ctx = context("breast-cancer:2")
    artifact_gate(ctx)
    gate = metrics_gate(ctx)
    assert gate.passed
    assert gate.threshold == {"accuracy": 0.7, "balanced_accuracy": 0.6}
    assert gate.value["accuracy"] == pytest.approx(ctx.candidate.metrics["accuracy"])


def test_metrics_fail_below_a_minimum(context: MakeContext) -> None:
    ctx = context("breast-cancer:2", policy=GatePolicy(min_metrics={"accuracy": 0.999}))
    artifact_gate(ctx)
    gate = metrics_gate(ctx)
    assert not gate.passed and gate.threshold == {"accuracy": 0.999}
    assert "is below the minimum 0.999" in gate.detail


def test_metrics_fail_above_a_maximum_error(context: MakeContext) -> None:
    ctx = context("diabetes:1", policy=GatePolicy(min_metrics={"rmse": 10.0, "r2": 0.1}))
    artifact_gate(ctx)
    gate = metrics_gate(ctx)
    assert not gate.passed and gate.value["rmse"] > 10
    assert "rmse" in gate.detail and "above the maximum 10" in gate.detail
    assert "r2" not in gate.detail  # r2 passed


def test_metrics_fail_when_the_model_does_not_load(context: MakeContext) -> None:
    gate = metrics_gate(context("breast-cancer:2"))  # the artifact gate never ran
    assert not gate.passed and "cannot be scored" in gate.detail


# --------------------------------------------------------------------------- regression


def test_regression_passes_for_a_better_candidate(context: MakeContext) -> None:
    ctx = _scored(context("breast-cancer:2", production="breast-cancer:1"))
    gate = regression_gate(ctx)
    assert gate.passed and gate.value >= -0.01 and gate.threshold == -0.01
    assert "against production breast-cancer:1" in gate.detail
    # both scored now on the same holdout: production's numbers are not its registered ones
    accuracy = ctx.comparison["metrics"]["accuracy"]
    assert accuracy[1] > accuracy[0]


def test_regression_fails_beyond_the_tolerance(context: MakeContext) -> None:
    ctx = _scored(context("diabetes:2", production="diabetes:1"))
    gate = regression_gate(ctx)
    assert not gate.passed and gate.value < -0.01
    assert "beyond the allowed 1.0 % regression" in gate.detail
    lenient = _scored(context("diabetes:2", production="diabetes:1",
                              policy=GatePolicy(regression_tolerance=0.5)))
    assert regression_gate(lenient).passed


def test_regression_is_skipped_without_production(context: MakeContext) -> None:
    gate = regression_gate(_scored(context("breast-cancer:2")))
    assert gate.passed and gate.skipped and "in production yet" in gate.detail
    itself = regression_gate(_scored(context("breast-cancer:1", production="breast-cancer:1")))
    assert itself.skipped and "the production version itself" in itself.detail


# --------------------------------------------------------------------------- schema


def test_schema_passes_when_columns_are_only_added(context: MakeContext) -> None:
    gate = schema_gate(context("breast-cancer:2", production="breast-cancer:1"))
    assert gate.passed and gate.value == 0
    assert "adds 20 column(s)" in gate.detail


def test_schema_fails_when_production_columns_are_dropped(context: MakeContext) -> None:
    gate = schema_gate(context("breast-cancer:1", production="breast-cancer:2"))
    assert not gate.passed and gate.value == 20
    assert "drops radius error" in gate.detail and "not acknowledged" in gate.detail


def test_schema_passes_when_the_drop_is_acknowledged(context: MakeContext) -> None:
    dropped = [c.name for c in context("breast-cancer:2").candidate.schema
               if not c.name.startswith("mean ")]
    gate = schema_gate(context("breast-cancer:1", production="breast-cancer:2",
                               policy=GatePolicy(schema_acknowledged=tuple(dropped))))
    assert gate.passed and "acknowledged:" in gate.detail


def test_schema_fails_on_added_columns_when_the_policy_refuses_them(
        context: MakeContext) -> None:
    gate = schema_gate(context("breast-cancer:2", production="breast-cancer:1",
                               policy=GatePolicy(schema_allow_added=False)))
    assert not gate.passed and gate.value == 20


# --------------------------------------------------------------------------- latency


def test_latency_passes_within_the_budget(context: MakeContext) -> None:
    ctx = context("diabetes:1", policy=GatePolicy(latency_rows=200, latency_repeats=2))
    artifact_gate(ctx)
    gate = latency_gate(ctx)
    assert gate.passed and 0 < gate.value <= 500 and gate.threshold == 500
    assert "Predicting 200 rows took" in gate.detail and "median of 2 runs" in gate.detail


def test_latency_fails_over_the_budget(context: MakeContext) -> None:
    ctx = context("diabetes:1", policy=GatePolicy(latency_budget_ms=0.001, latency_rows=50,
                                                   latency_repeats=1))
    artifact_gate(ctx)
    gate = latency_gate(ctx)
    assert not gate.passed and gate.value > 0.001 and "over the budget" in gate.detail


# --------------------------------------------------------------------------- drift


def test_drift_passes_for_a_holdout_like_production_reference(context: MakeContext) -> None:
    ctx = context("breast-cancer:2", production="breast-cancer:1")
    gate = _drift(ctx)
    assert gate.passed and gate.value == 0 and gate.threshold == 0
    names = {line["name"] for line in ctx.comparison["drift"]}
    assert names == {c.name for c in ctx.production.schema}  # type: ignore[union-attr]


class _ShiftedHoldout(GateContext):
    """The candidate's holdout with two features moved by 40 %: real drift."""

    def holdout(self) -> pd.DataFrame | None:
        frame = super().holdout()
        assert frame is not None
        for column in ("mean radius", "mean texture"):
            frame[column] = frame[column] * 1.4
        return frame


def test_drift_fails_when_the_holdout_drifts(context: MakeContext) -> None:
    ctx = context("breast-cancer:2", production="breast-cancer:1", cls=_ShiftedHoldout)
    gate = _drift(ctx)
    assert not gate.passed and gate.value >= 2 and gate.threshold == 0
    assert "mean radius" in gate.detail and "over the limit of 0" in gate.detail
    tolerant = context("breast-cancer:2", production="breast-cancer:1", cls=_ShiftedHoldout,
                       policy=GatePolicy(drift_max_flagged=30))
    assert _drift(tolerant).passed


def test_drift_fails_when_production_columns_are_missing(context: MakeContext) -> None:
    gate = _drift(context("breast-cancer:1", production="breast-cancer:2"))
    assert not gate.passed and "lacks production's input column(s)" in gate.detail


# --------------------------------------------------------------------------- all together


def test_run_gates_reports_progress_and_honours_skip(context: MakeContext) -> None:
    ctx = context("breast-cancer:2", production="breast-cancer:1",
                  policy=GatePolicy(skip=("latency",)))
    events: list[float | None] = []
    results = run(run_gates(ctx), lambda e: events.append(e.fraction))
    assert [r.name for r in results] == ["artifact", "card", "metrics", "regression", "schema",
                                         "latency", "drift"]
    latency = results[5]
    assert latency.skipped and latency.passed and "[gates] skip" in latency.detail
    assert all(r.passed for r in results)
    fractions = [f for f in events if f is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    json.dumps([dataclasses.asdict(r) for r in results])  # values are plain JSON


def test_run_gates_stops_when_cancelled(context: MakeContext) -> None:
    from modeldeck.core.errors import Cancelled

    ctx = context("breast-cancer:2")
    operation = run_gates(ctx)
    next(operation)
    ctx.cancel.cancel()
    with pytest.raises(Cancelled), warnings.catch_warnings():
        run(operation)
