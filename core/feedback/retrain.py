"""Retraining candidates from production labels, and the challenger view.

:func:`retrain` closes the feedback loop: it clones a version's estimator or pipeline
(:func:`sklearn.base.clone`: same steps, same hyper-parameters, unfitted), refits it on the
version's labeled training data plus the labeled production rows, registers the result as a
new version of the model and opens a release candidate for it
(:class:`modeldeck.core.release.Releases`), where the QA gates and the reviewers take over.

Training data
-------------
The registry keeps a version's reference sample *without* its target column (it is what
drift is measured against), so the labels of the original training rows come from:

1. ``training`` — the labeled file the version was trained on, accepted only when its input
   columns match the version's recorded reference fingerprint (or, within float noise, its
   stored reference sample): a retrain never mixes in other data by mistake;
2. a version made by :func:`retrain` stores its full labeled training set as an artifact
   (fingerprint ``training``, key ``artifact``), so it can be retrained again without a file;
3. a reference sample that does hold the target column.

Lineage
-------
The new version's parent is the retrained version. Its fingerprints add, next to the
registry's own (``reference``: all training inputs; ``holdout``):

* ``training`` — the labeled training set (inputs + target), with its ``artifact``;
* ``training:reference`` — the part that came from the parent's training data;
* ``training:feedback`` — the labeled production rows, with ``from`` / ``until`` (their
  serving times) and the import and pull sources counted.

The new version keeps the parent's holdout set, so the release gates compare candidate and
production on the same rows.

Challenger
----------
The latest labeled production window (``window``: hour, day or week) is held out of the
training by default, and candidate and champion (the ``production`` version) are scored on
its labeled rows side by side (:class:`Challenger`). With ``include_latest`` the window is
trained on too; the challenger view then says so (``in_training``), since its numbers flatter
the candidate.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modeldeck.core.drift.performance import class_indices, realized_performance
from modeldeck.core.drift.report import parse_instant, window_labels
from modeldeck.core.errors import DataError, ModelFileError, NotFoundError
from modeldeck.core.feedback.labels import FeedbackData, _frame, load_feedback, scorable
from modeldeck.core.progress import CancelToken, Operation, ProgressEvent, scaled
from modeldeck.core.registry import (
    HIGHER_IS_BETTER,
    KEY_METRICS,
    MetricDelta,
    NewVersion,
    Registry,
    SqliteRegistryStore,
    VersionInfo,
)
from modeldeck.core.registry.lineage import fingerprint, from_parquet_bytes, to_parquet_bytes
from modeldeck.core.workspace import Workspace

#: Window units of the challenger view.
WINDOWS = ("hour", "day", "week")


@dataclass(frozen=True)
class Challenger:
    """Candidate and champion scored on the same labeled production rows.

    Attributes
    ----------
    candidate, champion
        The two versions (``name:N``).
    window
        The window's label; ``start`` / ``end`` its ISO 8601 bounds.
    rows
        Labeled rows both versions scored.
    left_out
        Labeled rows of the window left out (an input missing that one of the models
        cannot do without, or a label that is not one of the model's classes).
    metrics
        One :class:`~modeldeck.core.registry.MetricDelta` per metric: ``a`` the
        champion, ``b`` the candidate.
    key_metric
        The metric that decides :attr:`winner` (accuracy; RMSE for regressors).
    in_training
        Whether the window's rows were part of the candidate's training data (then its
        numbers are optimistic).
    """

    candidate: str
    champion: str
    window: str
    start: str | None
    end: str | None
    rows: int
    left_out: int
    metrics: tuple[MetricDelta, ...]
    key_metric: str
    in_training: bool = False

    def metric(self, name: str) -> MetricDelta:
        """One metric of both versions (``KeyError`` if unknown)."""
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def winner(self) -> str | None:
        """The version that does better on :attr:`key_metric` (``None`` on a tie)."""
        m = self.metric(self.key_metric)
        if m.a is None or m.b is None or m.a == m.b:
            return None
        better_b = (m.b > m.a) == HIGHER_IS_BETTER.get(m.name, True)
        return self.candidate if better_b else self.champion

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"candidate": self.candidate, "champion": self.champion,
                "window": self.window, "start": self.start, "end": self.end,
                "rows": self.rows, "left_out": self.left_out, "key_metric": self.key_metric,
                "winner": self.winner, "in_training": self.in_training,
                "metrics": [{"name": m.name, "champion": m.a, "candidate": m.b,
                             "delta": m.delta} for m in self.metrics]}


@dataclass(frozen=True)
class RetrainResult:
    """What :func:`retrain` made.

    Attributes
    ----------
    parent, version
        The retrained version and the new one.
    reference_rows, feedback_rows
        Training rows from the parent's training data and from production.
    reference_source
        Where the parent's labeled training data came from.
    feedback_from, feedback_until
        Serving times of the production rows trained on (ISO 8601; ``None`` without).
    left_out
        Labeled production rows not trained on, by reason.
    held_out
        The window held out for the challenger view (``None``: none).
    challenger
        The :class:`Challenger` (``None`` without labeled production rows).
    candidate
        The release candidate (``modeldeck.core.release.Candidate``), or ``None``.
    notes
        Anything worth knowing (warnings of the fit, release module missing...).
    """

    parent: VersionInfo
    version: VersionInfo
    reference_rows: int
    feedback_rows: int
    reference_source: str
    feedback_from: str | None
    feedback_until: str | None
    left_out: dict[str, int]
    held_out: str | None
    challenger: Challenger | None
    candidate: Any | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        cand = self.candidate
        return {"parent": self.parent.ref, "version": self.version.ref,
                "metrics": self.version.metrics, "reference_rows": self.reference_rows,
                "feedback_rows": self.feedback_rows, "reference_source": self.reference_source,
                "feedback_from": self.feedback_from, "feedback_until": self.feedback_until,
                "left_out": self.left_out, "held_out": self.held_out,
                "fingerprints": self.version.fingerprints,
                "challenger": self.challenger.to_dict() if self.challenger else None,
                "candidate": None if cand is None else {
                    "id": cand.id, "status": cand.status, "release_id": cand.release_id},
                "notes": list(self.notes)}


class _LineageStore(SqliteRegistryStore):
    """The workspace's registry store, recording a retrain's extra fingerprints (and the
    training-set artifact) in the same transaction as the version itself."""

    def __init__(self, workspace: Workspace, fingerprints: dict[str, dict[str, Any]],
                 artifacts: dict[str, int]) -> None:
        super().__init__(workspace)
        self._fingerprints = fingerprints
        self._artifacts = artifacts

    def create_version(self, new: NewVersion) -> VersionInfo:
        return super().create_version(replace(
            new, fingerprints={**new.fingerprints, **self._fingerprints},
            artifact_sizes={**new.artifact_sizes, **self._artifacts}))


# --------------------------------------------------------------------------- helpers


def _labels_as_classes(values: pd.Series, version: VersionInfo) -> tuple[pd.Series, np.ndarray]:
    """Labels typed as the model's classes (text, numbers...), and which rows have one.

    Classification: a label matches a class by text (``1``, ``1.0``, ``"1"``); others are
    left out. Regression: numbers only.
    """
    if version.task == "classification" and version.classes:
        idx = class_indices(values, version.classes)
        keep = idx >= 0
        classes = pd.Series(list(version.classes))
        return pd.Series(classes.to_numpy()[np.maximum(idx, 0)], index=values.index), keep
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers, numbers.notna().to_numpy() & np.isfinite(numbers.to_numpy(dtype=float))


def _same_rows(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Equal frames, numbers compared within float noise (a CSV round trip)."""
    if a.shape != b.shape or list(a.columns) != list(b.columns):
        return False
    for name in a.columns:
        x, y = a[name], b[name]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            if not np.allclose(x.to_numpy(dtype=float), y.to_numpy(dtype=float),
                               rtol=1e-9, atol=0.0, equal_nan=True):
                return False
        elif x.astype(str).tolist() != y.astype(str).tolist():
            return False
    return True


def _reference_part(registry: Registry, version: VersionInfo,
                    training: str | Path | pd.DataFrame | None) -> tuple[pd.DataFrame, str]:
    """The version's labeled training rows (inputs + target) and where they came from."""
    features, target = list(version.feature_names), version.target
    assert target is not None  # checked by the caller
    if training is not None:
        frame, name = _frame(training, "training data")
        missing = [c for c in [*features, target] if c not in frame.columns]
        if missing:
            raise DataError(f"{name} lacks column(s) {', '.join(missing[:8])} of {version.ref}",
                            "pass the labeled data the version was trained on")
        part = frame[[*features, target]].reset_index(drop=True)
        expected = version.fingerprints.get("reference", {}).get("sha256")
        if fingerprint(part[features])["sha256"] != expected:
            from modeldeck.core.registry.lineage import reference_sample

            stored = registry.load_reference_sample(version)
            if not _same_rows(reference_sample(part[features]), stored[features]):
                raise DataError(
                    f"{name} is not the data {version.ref} was trained on (its input columns "
                    "match neither the recorded reference fingerprint nor the stored sample)",
                    f"pass the training file {version.ref} was registered with (`modeldeck "
                    f"show {version.ref}` lists its fingerprint)")
        return part, f"{name} (matches {version.ref}'s reference fingerprint)"
    stored_set = version.fingerprints.get("training", {}).get("artifact")
    if stored_set:
        frame = from_parquet_bytes(registry.ws.artifacts.get_bytes(stored_set))
        return frame[[*features, target]], f"the labeled training set stored with {version.ref}"
    sample = registry.load_reference_sample(version)
    if target in sample.columns:
        return sample[[*features, target]], f"{version.ref}'s stored reference sample"
    raise DataError(
        f"the labels of {version.ref}'s training rows are not in the workspace (the registry "
        f"keeps the reference sample without its '{target}' column)",
        "pass the labeled data it was registered with: --training FILE")


def _windows(rows: pd.DataFrame, unit: str) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    """Window labels of rows with a time, cut as the drift report cuts them."""
    return window_labels([("feedback", rows)], rows, "ts", unit)


def _iso(value: Any) -> str | None:
    return None if value is None else pd.Timestamp(value).isoformat()


def _score(registry: Registry, version: VersionInfo, rows: pd.DataFrame,
           labels: pd.Series) -> dict[str, float]:
    model = registry.load_model(version)
    inputs = rows[list(version.feature_names)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's feature-name chatter; scores stand
        predicted = model.predict(inputs)
        proba = model.predict_proba(inputs)
    result = realized_performance(labels.to_numpy(dtype=object), predicted, proba,
                                  version.task, version.classes)
    return {k: float(v) for k, v in result.metrics.items()}


def _champion(registry: Registry, candidate: VersionInfo, champion: str | None) -> VersionInfo:
    if champion:
        return registry.get_version(champion)
    try:
        return registry.get_version(f"{candidate.model}@production")
    except NotFoundError:
        if candidate.parent:
            return registry.get_version(candidate.parent)
        raise NotFoundError(f"{candidate.model} has no production version to challenge",
                            "name the champion with --champion REF") from None


def _challenge(registry: Registry, candidate: VersionInfo, champion: VersionInfo,
               data: FeedbackData, window: str, label: str | None = None) -> Challenger | None:
    """Score both versions on the labeled rows of window ``label`` (default: the latest)."""
    labeled = data.labeled()
    labeled = labeled.loc[labeled["ts"].notna().to_numpy()] if "ts" in labeled.columns \
        else labeled.iloc[0:0]
    if labeled.empty:
        return None
    labels, starts, ends = _windows(labeled, window)
    label = label or list(starts)[-1]
    rows = labeled.loc[labels == label]
    y, known = _labels_as_classes(rows[data.target], candidate)
    keep = known & scorable(rows, candidate) & scorable(rows, champion)
    if not keep.any():
        return None
    rows, y = rows.loc[keep], y.loc[keep]
    a = _score(registry, champion, rows, y)
    b = _score(registry, candidate, rows, y)
    names = list(dict.fromkeys([*a, *b]))
    until = candidate.fingerprints.get("training:feedback", {}).get("until")
    in_training = until is not None and pd.Timestamp(until) >= pd.Timestamp(starts[label])
    return Challenger(candidate.ref, champion.ref, label, _iso(starts[label]),
                      _iso(ends[label]), int(keep.sum()), int((~keep).sum()),
                      tuple(MetricDelta(n, a.get(n), b.get(n)) for n in names),
                      KEY_METRICS[candidate.task][0], in_training)


def challenger(workspace: Workspace, candidate: str, champion: str | None = None, *,
               window: str = "day", at: str | None = None) -> Challenger:
    """Score a candidate and the champion on the latest labeled production window.

    Parameters
    ----------
    workspace
        The open workspace.
    candidate
        The candidate version (``NAME:N``...).
    champion
        The version to beat (default: the model's ``production`` version, else the
        candidate's parent).
    window
        ``hour``, ``day`` or ``week``.
    at
        A window label to use instead of the latest (``2026-11-21``).

    Raises
    ------
    DataError
        No labeled production row with a time that both versions can score.
    """
    if window not in WINDOWS:
        raise DataError(f"unknown window '{window}'", f"use one of: {', '.join(WINDOWS)}")
    registry = Registry(workspace)
    cand = registry.get_version(candidate)
    champ = _champion(registry, cand, champion)
    data = load_feedback(workspace, cand.model, target=cand.target)
    result = _challenge(registry, cand, champ, data, window, at)
    if result is None:
        raise DataError(f"no labeled production rows of {cand.model} with a time to score",
                        "pull labels from the hosts (`modeldeck pull`) or import them "
                        "(`modeldeck feedback import`)")
    return result


# --------------------------------------------------------------------------- retrain


def retrain(workspace: Workspace, ref: str, *, with_feedback: bool = True,
            since: str | datetime | None = None,
            training: str | Path | pd.DataFrame | None = None, window: str = "day",
            include_latest: bool = False, champion: str | None = None,
            open_candidate: bool = True, cancel: CancelToken | None = None
            ) -> Operation[RetrainResult]:
    """Refit ``ref``'s estimator on its training data plus labeled production rows.

    A generator operation; see the module docstring for the data, lineage and challenger.

    Parameters
    ----------
    workspace
        The open workspace; the acting user needs the ``register`` permission (and the
        release module's for the candidate).
    ref
        The version to retrain (``NAME@production``...).
    with_feedback
        Add the labeled production rows (pulled and imported); ``False`` refits on the
        training data alone.
    since
        Only production rows served at or after this time (ISO 8601 or datetime).
    training
        The labeled data ``ref`` was trained on (path or frame), when the workspace does
        not hold it.
    window
        The window unit of the held-out latest window and the challenger view.
    include_latest
        Train on the latest labeled window too (the challenger view is then optimistic).
    champion
        The version the challenger view compares with (default: ``production``).
    open_candidate
        Open a release candidate for the new version (runs the QA gates).
    cancel
        Checked between steps; nothing is registered when cancelled before that step.

    Raises
    ------
    ModelFileError
        The model cannot be refitted (an ONNX graph).
    DataError
        No labeled training data, no usable labeled production rows.
    """
    from sklearn.base import clone

    cancel = cancel or CancelToken()
    if window not in WINDOWS:
        raise DataError(f"unknown window '{window}'", f"use one of: {', '.join(WINDOWS)}")
    registry = Registry(workspace)
    workspace.require("register")
    parent = registry.get_version(ref)
    if parent.target is None:
        raise DataError(f"{parent.ref} was registered without a target column, so there is "
                        "nothing to learn", "register a version with --holdout and --target")
    features, target = list(parent.feature_names), parent.target
    yield ProgressEvent("reading", 0.02, f"loading {parent.ref}")
    loaded = registry.load_model(parent)
    if loaded.estimator is None:
        raise ModelFileError(f"{parent.ref} is an ONNX graph and cannot be refitted",
                             "register the scikit-learn pipeline it came from and retrain "
                             "that")
    reference, reference_source = _reference_part(registry, parent, training)
    y_ref, ok_ref = _labels_as_classes(reference[target], parent)
    if not ok_ref.all():
        raise DataError(f"{int((~ok_ref).sum())} training rows have a label that is not one "
                        f"of {parent.ref}'s classes", "check the target column")
    reference = reference.assign(**{target: y_ref})
    cancel.check()

    notes: list[str] = []
    left_out: dict[str, int] = {}
    feedback = reference.iloc[0:0]
    held_out: str | None = None
    data: FeedbackData | None = None
    if with_feedback:
        yield ProgressEvent("joining", 0.08, "joining production labels to predictions")
        data = load_feedback(workspace, parent.model, target=target)
        rows = data.labeled()
        if "ts" not in rows.columns:
            rows = rows.assign(ts=pd.Series(pd.NaT, index=rows.index,
                                            dtype="datetime64[ns, UTC]"))
        if since is not None:
            low = parse_instant(since, "since")
            before = (rows["ts"] < low).to_numpy() | rows["ts"].isna().to_numpy()
            if before.any():
                left_out["before --since"] = int(before.sum())
            rows = rows.loc[~before]
        timed = rows.loc[rows["ts"].notna().to_numpy()]
        if not include_latest and not timed.empty:
            _labels, starts, _ends = _windows(timed, window)
            held_out = list(starts)[-1]
            latest = rows["ts"].notna().to_numpy() & (
                rows["ts"] >= pd.Timestamp(starts[held_out])).to_numpy()
            left_out["held out for the challenger"] = int(latest.sum())
            rows = rows.loc[~latest]
        y_fb, known = _labels_as_classes(rows[target], parent)
        if (~known).any():
            left_out["label not a class of the model"] = int((~known).sum())
        usable = scorable(rows, parent)
        if (known & ~usable).any():
            left_out["missing inputs"] = int((known & ~usable).sum())
        keep = known & usable
        # reindex: rows logged by a version with other inputs lack some (never kept)
        feedback = rows.reindex(columns=features).loc[keep].assign(**{target: y_fb.loc[keep]})
        feedback_times = rows.loc[keep, "ts"]
        if feedback.empty:
            raise DataError(
                f"no labeled production rows of {parent.model} to train on"
                + (f" (left out: {', '.join(f'{v} {k}' for k, v in left_out.items())})"
                   if left_out else ""),
                "pull labels (`modeldeck pull`) or import them (`modeldeck feedback import`); "
                "with a single labeled window, pass --include-latest")
    cancel.check()

    combined = pd.concat([reference[[*features, target]], feedback[[*features, target]]],
                         ignore_index=True)
    yield ProgressEvent("fitting", 0.15, f"refitting {loaded.estimator_name} on "
                                         f"{len(reference)} + {len(feedback)} rows")
    estimator = clone(loaded.estimator)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(combined[features], combined[target])
    notes.extend(dict.fromkeys(f"fit: {type(w.message).__name__}: "
                               f"{str(w.message).splitlines()[0][:200]}" for w in caught))
    cancel.check()

    training_bytes = to_parquet_bytes(combined)
    training_sha = workspace.artifacts.put_bytes(training_bytes)
    extra: dict[str, dict[str, Any]] = {
        "training": {**fingerprint(combined), "artifact": training_sha},
        "training:reference": {**fingerprint(reference[[*features, target]]),
                               "parent": parent.ref},
    }
    feedback_from = feedback_until = None
    if with_feedback:
        times = feedback_times.dropna()
        feedback_from = _iso(times.min()) if len(times) else None
        feedback_until = _iso(times.max()) if len(times) else None
        extra["training:feedback"] = {**fingerprint(feedback[[*features, target]]),
                                      "from": feedback_from, "until": feedback_until}
    store = _LineageStore(workspace, extra, {training_sha: len(training_bytes)})
    holdout = registry.load_holdout(parent) if parent.holdout_sha256 else None
    version = yield from scaled(Registry(workspace, store).register(
        parent.model, estimator, combined, holdout, target if holdout is not None else None,
        trusted_types=parent.trusted_types, parent=parent.ref, cancel=cancel), 0.25, 0.7)

    result_challenger = None
    if data is not None:
        yield ProgressEvent("challenger", 0.72, "scoring candidate and champion on the latest "
                                                "labeled window")
        try:
            champ = _champion(registry, version, champion)
            result_challenger = _challenge(registry, version, champ, data, window, held_out)
        except NotFoundError as exc:
            notes.append(f"no challenger view: {exc}")
    with workspace.mutate("model.retrain", version.ref, "register") as change:
        change.payload = {
            "parent": parent.ref, "reference_rows": len(reference),
            "feedback_rows": len(feedback), "since": None if since is None else str(since),
            "held_out": held_out, "left_out": left_out,
            "challenger": result_challenger.to_dict() if result_challenger else None}

    candidate = None
    if open_candidate:
        try:
            from modeldeck.core.release import Releases
        except ImportError:
            notes.append("no release candidate: the release module is not installed")
        else:
            yield ProgressEvent("candidate", 0.75, f"opening a release candidate for "
                                                   f"{version.ref}")
            candidate = yield from scaled(Releases(workspace).create(version.ref, cancel=cancel),
                                           0.75, 1.0)
    yield ProgressEvent("done", 1.0, f"registered {version.ref} (parent {parent.ref})")
    return RetrainResult(parent, version, len(reference), len(feedback), reference_source,
                         feedback_from, feedback_until, left_out, held_out, result_challenger,
                         candidate, tuple(notes))
