"""The drift report: per-feature, per-window, per-host, multivariate, model outputs, advice.

:func:`analyze` is what the CLI (``modeldeck drift``), the Drift page and the HTML report
run. It profiles the current data once per *cell* (a time window on a host), and gets every
other view by merging those profiles, which is exact (counts add up): a window is the merge
of its hosts, a host the merge of its windows, the overall view the merge of everything.
Each view is then compared with the reference profile (stored with the model version, never
recomputed) by :func:`~modeldeck.core.drift.stats.compare_profiles`.

Windows come from a time column (``timestamp`` by default, when present) cut by hour, day
or week; without one, each current file (or frame) is its own window, named after it. Hosts
come from a host column (``host`` by default, when present). Neither column is a model input.

The model's outputs (model-aware mode) are compared with its holdout predictions the same
way: overall, per window, per host and per window × host
(:attr:`DriftReport.prediction_windows`, ``prediction_hosts``, ``prediction_cells``), each
comparison one Benjamini-Hochberg family over its outputs (class mix, scores), as a
window's features are one family; :meth:`DriftReport.predictions_since` says from which
window on the outputs have kept drifting.

Advice ranks findings by how far a change goes past its threshold times how much the model
relies on the feature (permutation importance measured on the holdout at registration),
and says for each what to do next.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modeldeck.core.datafiles import read_table
from modeldeck.core.drift.profile import (
    CATEGORICAL,
    NUMERIC,
    Profile,
    ReferenceSpec,
    build_reference,
    merge_profiles,
    profile_frame,
)
from modeldeck.core.drift.stats import (
    DRIFT,
    NOT_TESTABLE,
    DriftResult,
    DriftThresholds,
    FeatureDrift,
    compare_profiles,
)
from modeldeck.core.drift.stats import json_float as _num
from modeldeck.core.errors import DataError, InvalidInputError, ModelDeckError
from modeldeck.core.progress import CancelToken, Operation, ProgressEvent, scaled

#: "file": one window per current file (or frame), whatever time columns the data has.
WINDOW_UNITS = ("file", "hour", "day", "week")
DEFAULT_TIME_COLUMN = "timestamp"
DEFAULT_HOST_COLUMN = "host"
#: The seed of every reservoir draw and merge, so a report is reproducible.
SEED = 20261127
#: A feature whose permutation importance is below this share of the total is "barely used".
MINOR_IMPORTANCE_SHARE = 0.02

Current = str | Path | pd.DataFrame


@dataclass(frozen=True)
class WindowDrift:
    """The comparison of one view of the current data (a window, a host, or both)."""

    label: str
    start: str | None
    end: str | None
    host: str | None
    rows: int
    result: DriftResult

    def to_dict(self) -> dict[str, Any]:
        """Compact JSON form: the verdict and each feature's key numbers."""
        return {"window": self.label, "start": self.start, "end": self.end,
                "host": self.host, "rows": self.rows, "drift": self.result.drift,
                "flagged": list(self.result.flagged),
                "features": {f.name: {"status": f.status, "effect_size": f.effect_size,
                                      "p_adjusted": f.p_adjusted}
                             for f in self.result.features}}


@dataclass(frozen=True)
class PredictionWindow:
    """The model's outputs in one view of the current data: a window, a host, or both.

    Attributes
    ----------
    window, host
        The view (``None``: all windows, all hosts).
    start, end
        The window's bounds (ISO 8601; ``None`` for file windows and host views).
    rows
        Scored rows in the view.
    result
        The comparison with the holdout predictions
        (:class:`~modeldeck.core.drift.performance.PredictionDrift`).
    """

    window: str | None
    host: str | None
    start: str | None
    end: str | None
    rows: int
    result: Any

    @property
    def label(self) -> str:
        """The window's label, else the host's."""
        return self.window or self.host or "all"

    @property
    def flagged(self) -> bool:
        """Whether any output drifted in this view."""
        return bool(self.result.flagged)

    def to_dict(self) -> dict[str, Any]:
        """Compact JSON form: the verdict and each output's key numbers."""
        return {"window": self.window, "host": self.host, "start": self.start,
                "end": self.end, "rows": self.rows, "drift": self.flagged,
                "status": self.result.status, "summary": self.result.summary,
                "outputs": [o.to_dict() for o in self.result.outputs]}


@dataclass(frozen=True)
class Histogram:
    """Reference and current shares of one feature over the same cells."""

    feature: str
    kind: str
    labels: tuple[str, ...]
    edges: tuple[float, ...] | None
    reference: tuple[float, ...]
    current: tuple[float, ...]


@dataclass(frozen=True)
class Advice:
    """One finding, in plain words, with what to do about it."""

    rank: int
    severity: str
    title: str
    text: str
    action: str
    feature: str | None = None
    window: str | None = None
    host: str | None = None
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"rank": self.rank, "severity": self.severity, "title": self.title,
                "text": self.text, "action": self.action, "feature": self.feature,
                "window": self.window, "host": self.host, "score": _num(self.score)}


@dataclass(frozen=True)
class PerformancePoint:
    """Model performance in one window: realized (with labels) and/or estimated."""

    window: str
    rows: int
    realized: dict[str, float] | None
    estimated: Any | None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        est = self.estimated.to_dict() if self.estimated is not None else None
        return {"window": self.window, "rows": self.rows, "realized": self.realized,
                "estimated": est}


@dataclass(frozen=True)
class DriftReport:
    """Everything an analyst needs to see about drift; see the module docstring."""

    model: str | None
    created_at: str
    overall: DriftResult
    windows: tuple[WindowDrift, ...]
    hosts: tuple[str, ...]
    by_host: tuple[WindowDrift, ...]
    cells: tuple[WindowDrift, ...]
    importance: dict[str, float]
    multivariate: Any | None
    predictions: Any | None
    performance: tuple[PerformancePoint, ...]
    advice: tuple[Advice, ...]
    thresholds: DriftThresholds
    window_unit: str | None = None
    notes: tuple[str, ...] = ()
    prediction_windows: tuple[PredictionWindow, ...] = ()
    prediction_hosts: tuple[PredictionWindow, ...] = ()
    prediction_cells: tuple[PredictionWindow, ...] = ()
    reference_profile: Profile | None = field(default=None, repr=False, compare=False)
    profiles: dict[tuple[str | None, str | None], Profile] = field(
        default_factory=dict, repr=False, compare=False)

    @property
    def drift(self) -> bool:
        """The data-set verdict over all current data: features moved (see
        :attr:`DriftResult.drift`) or, when it was tested, the joint distribution changed."""
        return self.overall.drift or self.joint_drift

    @property
    def joint_drift(self) -> bool:
        """Whether the multivariate tests (when run) flagged the joint distribution."""
        return self.multivariate is not None and bool(getattr(self.multivariate, "flagged",
                                                              False))

    @property
    def features(self) -> tuple[FeatureDrift, ...]:
        """Overall per-feature results: flagged first, then by importance."""
        return tuple(sorted(self.overall.features,
                            key=lambda f: (not f.flagged, -self.importance.get(f.name, 0.0),
                                           f.name)))

    def feature(self, name: str) -> FeatureDrift:
        """The overall result of one feature (``KeyError`` if unknown)."""
        return self.overall.feature(name)

    def window_scores(self, feature: str) -> list[tuple[str, float | None, bool]]:
        """``(window, effect size, flagged)`` of a feature in each window, in time order."""
        out = []
        for view in self.windows:
            f = view.result.feature(feature)
            out.append((view.label, f.effect_size, f.flagged))
        return out

    def prediction_views(self, host: str | None = None) -> tuple[PredictionWindow, ...]:
        """The model's outputs per window, in time order (on ``host`` only if given)."""
        if host is None or len(self.hosts) < 2:
            return self.prediction_windows
        return tuple(v for v in self.prediction_cells if v.host == host)

    def prediction_scores(self, output: str, host: str | None = None
                          ) -> list[tuple[str, float | None, bool]]:
        """``(window, effect size, flagged)`` of a model output in each window, in time
        order (on ``host`` only if given); ``None`` where it was not compared.

        ``output`` is an :attr:`~modeldeck.core.drift.performance.OutputDrift.name`
        (``"predicted class"``, ``"proba_<class>"``, ``"max_proba"``, ``"prediction"``).
        """
        by_window = {v.window: v for v in self.prediction_views(host)}
        out: list[tuple[str, float | None, bool]] = []
        for w in self.windows:
            view = by_window.get(w.label)
            try:
                o = view.result.output(output) if view is not None else None
            except KeyError:
                o = None
            out.append((w.label, o.effect_size if o is not None else None,
                        bool(o is not None and o.flagged)))
        return out

    def predictions_since(self, host: str | None = None) -> str | None:
        """The window from which on the model's outputs have kept drifting.

        The earliest window such that it and every later window where the outputs could
        be tested are flagged (on ``host`` only if given); ``None`` when the latest tested
        window is not flagged.
        """
        since = None
        for view in reversed(self.prediction_views(host)):
            if view.result.status == NOT_TESTABLE:
                continue
            if not view.flagged:
                break
            since = view.window
        return since

    def histogram(self, feature: str, window: str | None = None,
                  host: str | None = None) -> Histogram:
        """Reference vs current shares of ``feature`` (in a window and/or on a host)."""
        if self.reference_profile is None:
            raise InvalidInputError("this report carries no profiles")
        key = (window, host)
        if key not in self.profiles:
            raise InvalidInputError(
                f"no data for window {window!r} on host {host!r}",
                f"windows: {', '.join(w.label for w in self.windows)}; "
                f"hosts: {', '.join(self.hosts) or 'none'}")
        return _histogram(self.reference_profile, self.profiles[key], feature)

    def summary(self) -> str:
        """One sentence: the verdict and what drives it."""
        verdict = "Drift detected" if self.drift else "No relevant drift"
        text = f"{verdict}: {self.overall.summary}"
        if self.joint_drift and self.overall.drift:
            text += "; the joint distribution changed too"
        elif self.joint_drift:
            text = (f"{verdict}: the joint distribution changed (the features move together "
                    f"differently); each feature on its own: {self.overall.summary}")
        return text + "."

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``drift``, ``features``, ``multivariate``, ``advice``, ...)."""
        features = []
        for f in self.features:
            item = f.to_dict()
            item["importance"] = self.importance.get(f.name)
            features.append(item)
        return {
            "model": self.model, "created_at": self.created_at, "drift": self.drift,
            "dataset_features": list(self.overall.dataset_features),
            "summary": self.summary(), "window_unit": self.window_unit,
            "rows_reference": self.overall.n_reference, "rows_current": self.overall.n_current,
            "features": features,
            "multivariate": self.multivariate.to_dict() if self.multivariate else None,
            "predictions": self._predictions_dict(),
            "performance": [p.to_dict() for p in self.performance],
            "windows": [w.to_dict() for w in self.windows],
            "hosts": list(self.hosts), "by_host": [h.to_dict() for h in self.by_host],
            "cells": [c.to_dict() for c in self.cells],
            "advice": [a.to_dict() for a in self.advice],
            "thresholds": self.thresholds.to_dict(), "notes": list(self.notes),
        }

    def _predictions_dict(self) -> dict[str, Any] | None:
        """The overall comparison's keys, plus ``overall`` (its outputs), ``since`` and the
        ``windows``, ``hosts`` and ``cells`` views."""
        if self.predictions is None:
            return None
        out: dict[str, Any] = self.predictions.to_dict()
        out["overall"] = [o.to_dict() for o in self.predictions.outputs]
        out["since"] = self.predictions_since()
        out["windows"] = [v.to_dict() for v in self.prediction_windows]
        out["hosts"] = [{**v.to_dict(), "since": self.predictions_since(v.host)}
                        for v in self.prediction_hosts]
        out["cells"] = [v.to_dict() for v in self.prediction_cells]
        return out


# --------------------------------------------------------------------------- analysis


def analyze(
    current: Current | Sequence[Current], *, registry: Any = None, ref: str | None = None,
    reference: Current | None = None, time_column: str | None = None,
    window: str | None = None, host_column: str | None = None,
    thresholds: DriftThresholds | None = None, multivariate: bool = True,
    since: str | datetime | None = None, until: str | datetime | None = None,
    cancel: CancelToken | None = None,
) -> Operation[DriftReport]:
    """Compare current data with a model version's reference (or any reference data).

    A generator operation: yields :class:`~modeldeck.core.progress.ProgressEvent` and
    returns a :class:`DriftReport`.

    Parameters
    ----------
    current
        A CSV/Parquet path or a DataFrame, or several (without a time column each is one
        window, named after the file).
    registry, ref
        Model-aware mode: a :class:`~modeldeck.core.registry.Registry` and a reference
        (``NAME``, ``NAME:N``, ``NAME@ALIAS``); the version's stored reference profile,
        feature importance and holdout predictions are used.
    reference
        Model-free mode: the reference data (path or DataFrame).
    time_column, window
        Cut the current data into windows of ``window`` (hour, day, week; default day) by
        ``time_column`` (default: a column named ``timestamp`` when present); ``"file"``
        makes each current file (or frame) one window.
    host_column
        Per-host views by this column (default: a column named ``host`` when present).
    thresholds
        Relevance thresholds; if ``None``, the model's own (``Registry.set_drift_thresholds``)
        over the :class:`DriftThresholds` defaults in model-aware mode, else the defaults.
    multivariate
        Run the multivariate tests: domain classifier, PCA, pairwise correlations (a few
        seconds).
    since, until
        Keep only rows whose time is at or after ``since`` and before ``until`` (ISO 8601
        or datetimes; dates mean midnight UTC). Needs a time column.
    cancel
        Checked between steps.

    Raises
    ------
    InvalidInputError
        Neither or both of ``ref`` and ``reference``; an unknown window unit.
    DataError
        Unreadable or empty current data, a time column that does not parse.
    """
    cancel = cancel or CancelToken()
    if (ref is None) == (reference is None):
        raise InvalidInputError("give either a model version or reference data, not both",
                                "`modeldeck drift REF --current …` or "
                                "`modeldeck drift --reference DATA --current …`")
    if ref is not None and registry is None:
        raise InvalidInputError("a model reference needs the registry to read it from")
    if window is not None and window not in WINDOW_UNITS:
        raise InvalidInputError(f"unknown window '{window}'",
                                f"use one of: {', '.join(WINDOW_UNITS)}")
    yield ProgressEvent("reading", 0.02, "reading the reference")
    version = None
    importance: dict[str, float] = {}
    if ref is not None:
        version = registry.get_version(ref)
        if thresholds is None:
            thresholds = DriftThresholds.from_dict(registry.drift_thresholds(version.model))
        reference_profile = registry.load_reference_profile(version)
        importance = version.feature_importance()
    else:
        ref_frame = _read(reference, "reference")
        # The time and host columns describe rows, they are not features (a production
        # file used as the reference has them too).
        meta = [c for c in (time_column or DEFAULT_TIME_COLUMN, host_column or
                            DEFAULT_HOST_COLUMN) if c in ref_frame.columns]
        ref_frame = ref_frame.drop(columns=meta)
        _spec, reference_profile = build_reference(ref_frame, seed=SEED)
    spec = reference_profile.spec
    thresholds = thresholds or DriftThresholds()

    yield ProgressEvent("reading", 0.08, "reading the current data")
    frames = _read_current(current)
    data = pd.concat([f for _, f in frames], ignore_index=True) if len(frames) > 1 \
        else frames[0][1]
    notes: list[str] = []
    time_column = None if window == "file" else _pick(time_column, DEFAULT_TIME_COLUMN,
                                                       data, spec, "time")
    host_column = _pick(host_column, DEFAULT_HOST_COLUMN, data, spec, "host")
    if since is not None or until is not None:
        data, frames = _time_range(data, frames, time_column, since, until)
    labels, starts, ends = window_labels(frames, data, time_column, window or "day")
    window_unit = (window or "day") if time_column else None
    hosts_col = (data[host_column].astype("string").fillna("(unknown)").to_numpy()
                 if host_column else None)
    hosts = tuple(sorted(set(hosts_col.tolist()))) if hosts_col is not None else ()
    cancel.check()

    # One profile per cell (window × host); every other view is a merge of cells.
    order = list(dict.fromkeys(labels.tolist()))
    cell_keys = [(w, h) for w in order for h in (hosts or (None,))]
    cells: dict[tuple[str, str | None], Profile] = {}
    for i, (w, h) in enumerate(cell_keys):
        cancel.check()
        mask = labels == w
        if h is not None:
            mask = mask & (hosts_col == h)
        if not mask.any():
            continue
        yield ProgressEvent("profiling", 0.1 + 0.4 * i / len(cell_keys),
                            f"profiling window {w}" + (f" on {h}" if h else ""))
        cells[(w, h)] = profile_frame(spec, data.loc[mask], window=(starts[w], ends[w]),
                                      host=h, seed=SEED + i)
    profiles: dict[tuple[str | None, str | None], Profile] = {}
    for w in order:
        profiles[(w, None)] = _merge([p for (cw, _h), p in cells.items() if cw == w])
    for h in hosts:
        profiles[(None, h)] = _merge([p for (_w, ch), p in cells.items() if ch == h])
    if len(hosts) > 1:
        profiles.update({k: v for k, v in cells.items()})
    profiles[(None, None)] = _merge(list(cells.values()))

    yield ProgressEvent("comparing", 0.55, "testing every feature")

    def compare(key: tuple[str | None, str | None], label: str) -> WindowDrift:
        profile = profiles[key]
        start, end = (starts.get(key[0]), ends.get(key[0])) if key[0] else (None, None)
        return WindowDrift(label, _iso(start), _iso(end), key[1], profile.n_rows,
                           compare_profiles(reference_profile, profile, thresholds))

    overall = compare_profiles(reference_profile, profiles[(None, None)], thresholds)
    window_views = tuple(compare((w, None), w) for w in order)
    host_views = tuple(compare((None, h), h) for h in hosts)
    cell_views = tuple(compare((w, h), w) for (w, h) in cells if len(hosts) > 1)
    cancel.check()

    features = [f.name for f in spec.features if f.kind in (NUMERIC, CATEGORICAL)]
    multi = None
    if multivariate:
        yield ProgressEvent("multivariate", 0.62, "testing the joint distribution")
        ref_sample = registry.load_reference_sample(version) if version is not None \
            else ref_frame
        present = [c for c in features if c in data.columns]
        multi = yield from _multivariate(ref_sample[present], data[present],
                                         version.schema if version is not None else None,
                                         cancel)
    predictions, performance = None, ()
    outputs = _Outputs()
    if version is not None:
        yield ProgressEvent("predictions", 0.85, "scoring the current data with the model")
        outputs, performance, more = _model_outputs(
            registry, version, data, labels, order, cancel, thresholds=thresholds,
            hosts_col=hosts_col, hosts=hosts,
            bounds={w: (_iso(starts.get(w)), _iso(ends.get(w))) for w in order})
        predictions = outputs.overall
        notes.extend(more)

    report = DriftReport(
        model=version.ref if version is not None else None,
        created_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        overall=overall, windows=window_views, hosts=hosts, by_host=host_views,
        cells=cell_views, importance=importance, multivariate=multi,
        predictions=predictions, performance=tuple(performance), advice=(),
        thresholds=thresholds, window_unit=window_unit, notes=tuple(notes),
        prediction_windows=outputs.windows, prediction_hosts=outputs.hosts,
        prediction_cells=outputs.cells,
        reference_profile=reference_profile, profiles=profiles)
    advice = advise(report, version)
    report = DriftReport(**{**report.__dict__, "advice": tuple(advice)})
    yield ProgressEvent("done", 1.0, report.summary())
    return report


def _multivariate(reference: pd.DataFrame, current: pd.DataFrame, schema: Any,
                  cancel: CancelToken) -> Operation[Any]:
    from modeldeck.core.drift.multivariate import iter_multivariate_drift

    if reference.shape[1] == 0 or current.empty:
        return None
    return (yield from scaled(iter_multivariate_drift(reference, current, schema, seed=SEED,
                                                      cancel=cancel), 0.62, 0.85))


@dataclass(frozen=True)
class _Outputs:
    """Prediction drift over all current data and per window, host and cell."""

    overall: Any = None
    windows: tuple[PredictionWindow, ...] = ()
    hosts: tuple[PredictionWindow, ...] = ()
    cells: tuple[PredictionWindow, ...] = ()


def _output_views(reference: pd.DataFrame, current: pd.DataFrame, task: str,
                  thresholds: DriftThresholds, labels: np.ndarray, order: list[str],
                  hosts_col: np.ndarray | None, hosts: tuple[str, ...],
                  cell_keys: list[tuple[str, str]],
                  bounds: dict[str, tuple[str | None, str | None]], cancel: CancelToken
                  ) -> _Outputs:
    """Compare the outputs with the holdout's overall and in every view the inputs have:
    each window, each host, and each window × host (``cell_keys``) when there are several
    hosts. A view whose rows were all left unscored is still a view (not testable)."""
    from modeldeck.core.drift import performance as perf

    def view(mask: np.ndarray | None, window: str | None, host: str | None
             ) -> PredictionWindow:
        cancel.check()
        part = current if mask is None else current.loc[mask]
        start, end = bounds.get(window, (None, None)) if window else (None, None)
        return PredictionWindow(window, host, start, end, len(part),
                                perf.prediction_drift(reference, part, task,
                                                      thresholds=thresholds))

    overall = view(None, None, None).result
    windows = tuple(view(labels == w, w, None) for w in order)
    by_host: tuple[PredictionWindow, ...] = ()
    cells: tuple[PredictionWindow, ...] = ()
    if hosts_col is not None:
        by_host = tuple(view(hosts_col == h, None, h) for h in hosts)
        present = set(cell_keys)
        cells = tuple(view((labels == w) & (hosts_col == h), w, h)
                      for w in order for h in hosts if (w, h) in present)
    return _Outputs(overall, windows, by_host, cells)


def _model_outputs(registry: Any, version: Any, data: pd.DataFrame, labels: np.ndarray,
                   order: list[str], cancel: CancelToken, *,
                   thresholds: DriftThresholds | None = None,
                   hosts_col: np.ndarray | None = None, hosts: tuple[str, ...] = (),
                   bounds: dict[str, tuple[str | None, str | None]] | None = None,
                   ) -> tuple[_Outputs, list[PerformancePoint], list[str]]:
    """Prediction drift (overall and per view) and per-window performance; problems
    become notes, not errors."""
    from modeldeck.core.drift import performance as perf

    notes: list[str] = []
    thresholds = thresholds or DriftThresholds()
    # The cells the inputs have (before unscorable rows are dropped), so that each one has
    # its outputs' view too, if only a not-testable one.
    cell_keys = (list(dict.fromkeys(zip(labels.tolist(), hosts_col.tolist())))
                 if hosts_col is not None and len(hosts) > 1 else [])
    missing = [c for c in version.feature_names if c not in data.columns]
    if missing:
        return _Outputs(), [], [f"model outputs not analysed: the current data lacks "
                                f"{', '.join(missing[:5])}"]
    inputs = data[list(version.feature_names)]
    # Rows with missing inputs are what the prediction server would refuse (unless the
    # model's schema allows them): score the others, and say how many were left out.
    nullable = {c.name for c in version.schema if c.nullable}
    scorable = inputs[[c for c in inputs.columns if c not in nullable]].notna().all(axis=1)
    keep = scorable.to_numpy()
    if not keep.all():
        notes.append(f"{int((~keep).sum())} current rows with missing model inputs were not "
                     "scored (the reference had none there)")
        data, inputs, labels = data.loc[keep], inputs.loc[keep], labels[keep]
        if hosts_col is not None:
            hosts_col = hosts_col[keep]
    if inputs.empty:
        return _Outputs(), [], [*notes, "model outputs not analysed: no scorable rows"]
    try:
        model = registry.load_model(version)
        predicted = model.predict(inputs)
        proba = model.predict_proba(inputs)
    except ModelDeckError as exc:
        return _Outputs(), [], [*notes, f"model outputs not analysed: {exc}"]
    except Exception as exc:  # the model's own error on unexpected values
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return _Outputs(), [], [*notes, f"model outputs not analysed: the model fails on "
                                        f"the current data ({first})"]
    current = pd.DataFrame({"prediction": predicted})
    if proba is not None and version.classes is not None:
        for i, label in enumerate(version.classes):
            current[f"proba_{label}"] = proba[:, i]
    outputs = _Outputs()
    reference = None
    if version.holdout_predictions_sha256:
        reference = registry.load_holdout_predictions(version)
        outputs = _output_views(reference, current, version.task, thresholds, labels, order,
                                hosts_col, hosts, cell_keys, bounds or {}, cancel)
    else:
        notes.append("prediction drift not analysed: the version has no holdout predictions")
    estimator = None
    if (version.task == "classification" and proba is not None and reference is not None
            and version.holdout_sha256 and version.target):
        holdout = registry.load_holdout(version)
        proba_cols = [f"proba_{c}" for c in version.classes]
        if all(c in reference.columns for c in proba_cols):
            estimator = perf.PerformanceEstimator().fit(
                reference[proba_cols].to_numpy(), holdout[version.target].to_numpy(),
                version.classes)
    points = []
    has_target = version.target is not None and version.target in data.columns
    for w in order:
        cancel.check()
        mask = labels == w
        realized = None
        if has_target:
            y = data.loc[mask, version.target]
            known = y.notna().to_numpy()
            if known.any():
                realized = perf.realized_performance(
                    y.to_numpy()[known], predicted[mask][known],
                    proba[mask][known] if proba is not None else None,
                    version.task, version.classes)
        estimated = estimator.estimate(proba[mask]) if estimator is not None else None
        points.append(PerformancePoint(w, int(mask.sum()), _metrics_dict(realized), estimated))
    return outputs, points, notes


def _metrics_dict(realized: Any) -> dict[str, float] | None:
    """The realized metrics of a window as ``{name: value}`` (``None`` without labels)."""
    if realized is None or getattr(realized, "status", "ok") != "ok":
        return None
    return {k: float(v) for k, v in realized.metrics.items() if v is not None}


# --------------------------------------------------------------------------- advice


def _share(importance: dict[str, float]) -> dict[str, float]:
    total = sum(v for v in importance.values() if v > 0)
    return {k: (max(v, 0.0) / total if total > 0 else 0.0) for k, v in importance.items()}


def advise(report: DriftReport, version: Any = None) -> list[Advice]:
    """Rank the report's findings and say for each what to do (see the module docstring)."""
    share = _share(report.importance)
    model_name = version.model if version is not None else None
    drafts: list[tuple[int, float, Advice]] = []  # (severity order, score, advice)
    severity_order = {"action": 0, "watch": 1, "info": 2}

    def add(severity: str, score: float, **kw: Any) -> None:
        drafts.append((severity_order[severity], score,
                       Advice(rank=0, severity=severity, score=score, **kw)))

    for f in report.overall.features:
        if not f.flagged:
            continue
        first = next((w for w, _e, flagged in report.window_scores(f.name) if flagged), None)
        one_host, where = _where(report, f.name, lambda r: (r.flagged, r.flagged or (
            r.relevant and r.p_value is not None and r.p_value < report.thresholds.alpha)))
        since = f" since {first}" if first else ""
        imp = share.get(f.name)
        uses = ("" if imp is None else
                f" The model relies on it ({imp:.0%} of its permutation importance)."
                if imp >= MINOR_IMPORTANCE_SHARE else
                " The model barely uses it "
                f"({imp:.1%} of its permutation importance).")
        ratio = (f.effect_size / f.effect_threshold
                 if f.effect_size is not None and f.effect_threshold else 1.0)
        weight = imp if imp is not None else 0.5
        if f.status == DRIFT:
            text = f"'{f.name}' {f.reason}{(' ' + where) if where else ''}{since}.{uses}"
            if imp is not None and imp < MINOR_IMPORTANCE_SHARE:
                add("info", ratio * weight, title=f"{f.name} moved, but the model barely uses it",
                    text=text, action="No action needed for this model; keep watching it.",
                    feature=f.name, window=first, host=one_host)
            elif one_host:
                add("action", ratio * (weight + 0.1), title=f"{f.name} shifted on {one_host} only",
                    text=text, action=f"Check what feeds {one_host}: a change seen on one "
                    "host only is usually its upstream system or integration, not the world.",
                    feature=f.name, window=first, host=one_host)
            else:
                action = ("Compare recent labeled rows against the holdout; if performance "
                          "is falling, prepare a retraining candidate"
                          + (f" of {model_name}" if model_name else "") + ".")
                add("action" if imp is None or imp >= 0.1 else "watch",
                    ratio * (weight + 0.1), title=f"{f.name} shifted{(' ' + where) if where else ''}",
                    text=text, action=action, feature=f.name, window=first, host=one_host)
        for q in f.quality:
            if not q.flagged:
                continue
            q_one, _ = _where(report, f.name, lambda r, n=q.name: _quality_state(
                r, n, report.thresholds.alpha))
            text = (f"'{f.name}': {q.describe()}"
                    + (f" on {q_one} only" if q_one else "") + f"{since}.{uses}")
            action = (f"An upstream data fault on {q_one}: check its integration and the "
                      "system that sends it this column." if q_one else
                      "Check the upstream data source or pipeline for this column: values "
                      "the model never saw in training are reaching it.")
            add("action", (abs(q.effect) / q.threshold if q.threshold else 1.0) * (weight + 0.2),
                title=f"{f.name}: {q.name.replace('_', ' ')} problem"
                + (f" on {q_one}" if q_one else ""),
                text=text, action=action, feature=f.name, window=first, host=q_one)

    multi = report.multivariate
    if multi is not None and getattr(multi, "flagged", False):
        # the title says it; the text gives what each detector saw
        body = str(getattr(multi, "summary", "") or "").removeprefix(
            "the joint distribution changed: ")
        add("watch" if report.overall.flagged else "action", 1.0,
            title="The joint distribution changed",
            text=(body[:1].upper() + body[1:] + ("" if body.endswith(".") else ".")
                  if body else "A classifier can tell current rows from reference rows."),
            action="Look at how the features named there move together (e.g. a correlation "
            "that flipped); retrain if the model depends on that relationship.")

    finding = _outputs_finding(report)
    if finding is not None:
        add("watch", 0.9, **finding)

    estimates = [(p.window, p.estimated) for p in report.performance
                 if p.estimated is not None and getattr(p.estimated, "value", None) is not None]
    if estimates and version is not None:
        metric = getattr(estimates[0][1], "metric", "accuracy")
        baseline = version.metrics.get(metric)
        last_window, last = estimates[-1]
        if baseline is not None and last.high is not None and last.high < baseline:
            labeled = sum(p.rows for p in report.performance if p.realized)
            add("action", 2.0 + (baseline - last.value),
                title=f"Estimated {metric} fell below the holdout's",
                text=(f"Without labels, {metric} in {last_window} is estimated at "
                      f"{last.value:.3f} (band {last.low:.3f}–{last.high:.3f}), below "
                      f"{baseline:.3f} on the holdout set."),
                action=(f"A retraining candidate of {version.model} is recommended; "
                        f"{labeled} labeled production rows are available"
                        + ("" if labeled else " yet — import labels first (feedback)") + "."),
                window=last_window)

    below = [f.name for f in report.overall.features if f.dataset_signal and not f.flagged]
    if below and report.overall.drift:
        # The data-set verdict's lower-bar family saw what no feature's own rule
        # could: name the features, say it is small.
        names = ", ".join(f"'{n}'" for n in below[:5]) + (
            f" and {len(below) - 5} more" if len(below) > 5 else "")
        add("watch", 0.5 * sum(share.get(n, 0.5) for n in below),
            title="The data set moved a little",
            text=(f"Small changes in {names}: below each feature's own threshold, but "
                  "significant for the data set as a whole (at least "
                  f"{report.thresholds.dataset_relevance:.0%} of the thresholds)."),
            action="Keep watching these features: if the change grows they will be "
                   "flagged on their own; nothing to retrain for yet.",
            feature=below[0])
    if not drafts:
        tested = len(report.overall.features) - len(report.overall.not_testable)
        add("info", 0.0, title="No relevant drift",
            text=f"None of the {tested} tested features moved beyond its threshold "
            f"with statistical significance.", action="Nothing to do.")
    drafts.sort(key=lambda d: (d[0], -d[1]))
    return [Advice(**{**a.__dict__, "rank": i + 1}) for i, (_s, _sc, a) in enumerate(drafts)]


def _in_windows(unit: str | None, windows: Sequence[str]) -> str:
    """``on 2026-11-22`` (days), ``in week 2026-W47``, ``in the hour 2026-11-22 13:00``,
    ``in production-day-5`` (file windows); several windows are listed, the first five
    named."""
    names = list(windows)
    listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    if unit == "day":
        return f"on {listed}"
    if unit in ("week", "hour"):
        plural = "s" if len(names) > 1 else ""
        return f"in {'week' if unit == 'week' else 'the hour'}{plural} {listed}"
    return f"in {listed}"


def _output_change(result: Any, window: str | None = None, unit: str | None = None) -> str:
    """What moved in a flagged comparison of the outputs, in words: ``the predicted class
    shares moved (malignant 37.0% → 45.5% on 2026-11-22)``."""
    where = f" {_in_windows(unit, [window])}" if window else ""
    parts = []
    mix = result.class_mix
    if mix is not None and mix.flagged:
        ref, cur = mix.reference_shares, mix.current_shares
        moved = max(mix.classes, key=lambda c: abs(cur[c] - ref[c]))
        parts.append(f"the predicted class shares moved ({moved} {100 * ref[moved]:.1f}% → "
                     f"{100 * cur[moved]:.1f}%{where})")
    scores = result.scores
    if scores is not None and scores.flagged:
        what = ("the predicted values" if scores.score == "prediction" else
                "the model's confidence (max_proba)" if scores.score == "max_proba" else
                f"the scores ({scores.score})")
        ref_mean, cur_mean = scores.reference_mean or 0.0, scores.current_mean or 0.0
        parts.append(f"{what} moved {_direction(result)} (mean {ref_mean:.3g} → "
                     f"{cur_mean:.3g}{where})")
    return " and ".join(parts) or "the model's outputs moved"


def _direction(result: Any) -> str | None:
    """``"up"`` or ``"down"``: where a flagged score's mean went (``None`` otherwise)."""
    scores = result.scores
    if scores is None or not scores.flagged or None in (scores.reference_mean,
                                                        scores.current_mean):
        return None
    return "up" if scores.current_mean > scores.reference_mean else "down"


def _from_window(report: DriftReport, window: str) -> str:
    """``from day 2026-11-21 on`` (``from production-day-5 on`` for file windows)."""
    unit = f"{report.window_unit} " if report.window_unit else ""
    return f"from {unit}{window} on"


def _outputs_finding(report: DriftReport) -> dict[str, Any] | None:
    """The advice about the model's outputs (``None`` when they did not move): since which
    window they keep drifting, on all hosts merged or on some hosts only."""
    predictions = report.predictions
    if predictions is None:
        return None
    action = ("Check whether the business expects this change in outcomes; if not, trace it "
              "to the input features that moved in the same windows.")
    since = report.predictions_since()
    many = len(report.hosts) > 1
    on_hosts = {h: report.predictions_since(h) for h in report.hosts} if many else {}
    moving = {h: w for h, w in on_hosts.items() if w is not None}
    if since is not None:
        views = report.prediction_views()
        latest = next(v for v in reversed(views) if v.result.status != NOT_TESTABLE)
        change = _output_change(latest.result, None if latest.window == since
                                else latest.window, report.window_unit)
        where = ("" if not many else " on every host" if len(moving) == len(report.hosts)
                 else f" (by host: on {' and '.join(moving)})" if moving else "")
        first = views[0].window == since
        text = (f"{change[:1].upper()}{change[1:]}: the outputs differ from the holdout's"
                f"{where} {_from_window(report, since)}"
                + (" (in every window)" if first and len(views) > 1 else "") + ".")
        one = next(iter(moving)) if len(moving) == 1 and many else None
        return dict(title=f"The model's outputs shifted {_from_window(report, since)}",
                    text=text, action=action, window=since, host=one)
    if moving:
        parts = []
        ways = set()
        for host, start in moving.items():
            views = report.prediction_views(host)
            latest = next(v for v in reversed(views) if v.result.status != NOT_TESTABLE)
            parts.append(f"on {host} "
                         f"{_output_change(latest.result, latest.window, report.window_unit)} "
                         f"{_from_window(report, start)}")
            ways.add(_direction(latest.result))
        opposite = {"up", "down"} <= ways
        merged = (" Merged over all hosts the changes cancel out." if opposite else
                  " Merged over all hosts the change is too small to flag.")
        one = next(iter(moving)) if len(moving) == 1 else None
        text = "; ".join(parts)
        return dict(title=("The model's outputs shifted on " + " and ".join(moving)
                           + (" only" if one else
                              ", in opposite directions" if opposite else "")),
                    text=text[:1].upper() + text[1:] + "." + merged,
                    action=(f"Look at the input findings for {one} and the other hosts in "
                            "those windows: outputs that move on one host only usually come "
                            "from what feeds that host."
                            if one else "Compare the hosts' inputs in those windows: "
                            "different changes on different hosts point to what feeds each "
                            "of them rather than to the world."),
                    window=min(moving.values(), key=_window_position(report)), host=one)
    flagged = [v for v in report.prediction_windows if v.flagged]
    if flagged:
        # Moved in some windows but not in the latest: a past episode, worth a look.
        when = _in_windows(report.window_unit, [str(v.window) for v in flagged])
        last = flagged[-1]
        change = _output_change(last.result, last.window, report.window_unit)
        merged = ("Over all windows merged they moved too." if predictions.flagged else
                  "Over all windows merged the change is too small to flag.")
        return dict(title=f"The model's outputs shifted {when}",
                    text=(f"{change[:1].upper()}{change[1:]}. They are back in line with "
                          f"the holdout's in the latest window. {merged}"),
                    action=action, window=last.window)
    if predictions.flagged:
        change = _output_change(predictions)
        return dict(title="The model's outputs shifted",
                    text=(f"{change[:1].upper()}{change[1:]} over all windows merged, "
                          "though no single window's change is large enough to flag."),
                    action=action, window=None)
    return None


def _window_position(report: DriftReport) -> Any:
    order = {w.label: i for i, w in enumerate(report.windows)}
    return lambda w: order.get(w, len(order))


def _quality_state(result: FeatureDrift, check: str, alpha: float) -> tuple[bool, bool]:
    for c in result.quality:
        if c.name == check:
            evident = abs(c.effect) >= c.threshold and (c.p_value is None or c.p_value < alpha)
            return c.flagged, c.flagged or evident
    return False, False


def _where(report: DriftReport, feature: str,
           state: Any) -> tuple[str | None, str]:
    """Which hosts a change is on: ``(the one host it is confined to, words)``.

    ``state(feature_result)`` gives ``(flagged, present)`` on a host, where present means
    relevant and significant before the multiple-testing correction; a change is confined to
    one host only when it is flagged there and not present on any other host (a host with
    less data may lack the evidence for a flag, yet still show the change).
    """
    if not report.hosts:
        return None, ""
    states = {h.host: state(h.result.feature(feature)) for h in report.by_host}
    flagged = [h for h, (flag, _present) in states.items() if flag]
    present = [h for h, (_flag, pres) in states.items() if pres]
    if len(report.hosts) > 1 and len(flagged) == 1 and present == flagged:
        return flagged[0], f"only on {flagged[0]}"
    if len(present) == len(report.hosts):
        return None, "on every host"
    return None, f"on {', '.join(flagged)}" if flagged else ""


# --------------------------------------------------------------------------- helpers




def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _merge(profiles: list[Profile]) -> Profile:
    if len(profiles) == 1:
        return profiles[0]
    return merge_profiles(profiles)


def _read(item: Current | None, role: str) -> pd.DataFrame:
    if isinstance(item, pd.DataFrame):
        if item.empty:
            raise DataError(f"the {role} data has no rows", f"pass non-empty {role} data")
        return item
    return read_table(item)  # type: ignore[arg-type]


def _read_current(current: Current | Sequence[Current]) -> list[tuple[str, pd.DataFrame]]:
    items: Iterable[Current] = [current] if isinstance(current, (str, Path, pd.DataFrame)) \
        else current
    out = []
    for i, item in enumerate(items):
        name = Path(item).stem if isinstance(item, (str, Path)) else f"current-{i + 1}"
        out.append((name, _read(item, "current")))
    if not out:
        raise DataError("no current data was given", "pass one or more --current files")
    names = [n for n, _ in out]
    if len(set(names)) != len(names):  # same stem in two folders: keep them apart
        out = [(f"{n}-{i + 1}", f) for i, (n, f) in enumerate(out)]
    return out


def _pick(explicit: str | None, default: str, data: pd.DataFrame, spec: ReferenceSpec,
          what: str) -> str | None:
    if explicit is not None:
        if explicit not in data.columns:
            raise DataError(f"the current data has no {what} column '{explicit}'",
                            f"its columns are: {', '.join(map(str, data.columns[:15]))}")
        return explicit
    if default in data.columns and default not in spec.names:
        return default
    return None


def parse_instant(value: str | datetime, what: str) -> pd.Timestamp:
    """``value`` (a date, a time, ISO text) as a UTC timestamp (naive means UTC); ``what``
    names the option in the error (``--since``)."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"--{what} '{value}' is not a date or time",
                                "write e.g. 2026-11-20 or 2026-11-20T14:00:00Z") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _time_range(data: pd.DataFrame, frames: list[tuple[str, pd.DataFrame]],
                time_column: str | None, since: str | datetime | None,
                until: str | datetime | None
                ) -> tuple[pd.DataFrame, list[tuple[str, pd.DataFrame]]]:
    """Keep the rows in ``[since, until)``; the per-file frames are cut the same way."""
    if time_column is None:
        raise DataError("a time range needs a time column, and the current data has none",
                        "add a 'timestamp' column or name one with --time-column")
    low = parse_instant(since, "since") if since is not None else None
    high = parse_instant(until, "until") if until is not None else None
    if low is not None and high is not None and high <= low:
        raise InvalidInputError("the time range is empty: --until is not after --since",
                                "swap or widen the two dates")

    def keep(frame: pd.DataFrame) -> np.ndarray:
        times = pd.to_datetime(frame[time_column], utc=True, errors="coerce", format="mixed")
        mask = np.ones(len(frame), dtype=bool)
        if low is not None:
            mask &= (times >= low).to_numpy()
        if high is not None:
            mask &= (times < high).to_numpy()
        return mask | times.isna().to_numpy()  # unparseable times are reported later

    frames = [(name, frame.loc[keep(frame)]) for name, frame in frames]
    frames = [(name, frame) for name, frame in frames if len(frame)]
    if not frames:
        raise DataError("no current rows fall in the time range",
                        "widen --since/--until (the data's times are in its "
                        f"'{time_column}' column)")
    data = pd.concat([f for _, f in frames], ignore_index=True)
    return data, frames


_WINDOW_FORMAT = {"hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d", "week": "%G-W%V"}


def window_labels(frames: list[tuple[str, pd.DataFrame]], data: pd.DataFrame,
                  time_column: str | None, unit: str
                  ) -> tuple[np.ndarray, dict[str, datetime | None], dict[str, datetime | None]]:
    """The window of each row of ``data`` (the ``frames`` concatenated): by ``unit``
    (hour, day, week) of ``time_column``, or one window per frame without one; with each
    window's start and end."""
    if time_column is None:
        labels = np.concatenate([np.full(len(f), name, dtype=object) for name, f in frames])
        return labels, {n: None for n, _ in frames}, {n: None for n, _ in frames}
    times = pd.to_datetime(data[time_column], utc=True, errors="coerce", format="mixed")
    bad = times.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        for name, frame in frames:  # name the file and its own row number
            if row < len(frame):
                break
            row -= len(frame)
        value = frame[time_column].iloc[row] if time_column in frame.columns else None
        where = (f"{name} has no '{time_column}' column" if time_column not in frame.columns
                 else f"first in {name}, data row {row + 1}: {value!r}")
        raise DataError(
            f"{int(bad.sum())} value(s) of the time column '{time_column}' are not times "
            f"({where})",
            "use ISO 8601 times such as 2026-11-20T14:05:00Z, or pick another --time-column")
    floor = {"hour": "h", "day": "D"}.get(unit)
    if floor:
        starts_ts = times.dt.floor(floor)
    else:  # ISO weeks start on Monday
        day = times.dt.floor("D")
        starts_ts = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    labels = starts_ts.dt.strftime(_WINDOW_FORMAT[unit]).to_numpy(dtype=object)
    step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}
    starts: dict[str, datetime | None] = {}
    ends: dict[str, datetime | None] = {}
    for label, start in zip(labels, starts_ts):
        if label not in starts:
            starts[label] = start.to_pydatetime()
            ends[label] = start.to_pydatetime() + step[unit]
    order = sorted(starts, key=lambda k: starts[k])  # type: ignore[arg-type, return-value]
    return labels, {k: starts[k] for k in order}, {k: ends[k] for k in order}


def _histogram(reference: Profile, current: Profile, name: str) -> Histogram:
    fspec = reference.spec.feature(name)
    rc, cc = reference.features[name], current.features[name]
    if fspec.kind == NUMERIC:
        edges = list(fspec.edges)
        labels = [f"< {edges[0]:.4g}"]
        labels += [f"[{a:.4g}, {b:.4g})" for a, b in zip(edges[:-1], edges[1:])]
        labels += [f"> {edges[-1]:.4g}"]
        full_edges: tuple[float, ...] | None = (-math.inf, *edges, math.inf)
    elif fspec.kind == CATEGORICAL:
        labels = [*fspec.categories, "(other)"]
        full_edges = None
    else:
        labels, full_edges = [], None
    labels.append("(missing)")

    def shares(counts: Any) -> tuple[float, ...]:
        cells = np.append(np.asarray(counts.counts, dtype=float), counts.missing)
        total = cells.sum()
        return tuple((cells / total).tolist()) if total else tuple(0.0 for _ in cells)

    return Histogram(name, fspec.kind, tuple(labels), full_edges, shares(rc), shares(cc))
