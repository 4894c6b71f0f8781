"""Drift of a model's outputs, and its performance with and without labels.

Prediction drift (:func:`prediction_drift`)
-------------------------------------------
Predictions have the registry's layout: a ``prediction`` column and, for classifiers with
``predict_proba``, one ``proba_<class>`` column per class in the model's class order.

* classifiers: the predicted-class mix (chi-square two-sample test on the 2 × k table of
  counts, PSI, Jensen-Shannon distance; classes the reference never predicted form one
  more cell) and the scores: the positive-class probability (the second class) for a
  binary model, the largest probability (the model's confidence) for a multiclass one —
  Kolmogorov-Smirnov test, Wasserstein distance in reference sd, PSI over ten reference
  quantile bins;
* regressors: the predicted values, with the same three numbers.

Each part is flagged like a feature in :mod:`modeldeck.core.drift.stats`, with the same
:class:`~modeldeck.core.drift.stats.DriftThresholds`: practically relevant (class mix:
Jensen-Shannon ``>= js_distance``; scores: Wasserstein distance or absolute mean shift, in
reference sd, ``>= wasserstein_sd``) **and** significant after Benjamini-Hochberg over the
parts tested (chi-square for the mix, KS for the scores). PSI is reported, not used for
the verdict, as for features. :attr:`PredictionDrift.outputs` gives the parts in one shape
(:class:`OutputDrift`: name, test, p-values, effect size and threshold, verdict), like a
feature's. The drift report runs one comparison per time window and host, each its own
Benjamini-Hochberg family, as the features of a window are.

Realized performance (:func:`realized_performance`)
---------------------------------------------------
Accuracy, balanced accuracy, macro F1 and ROC AUC (classification) or MAE, RMSE and R²
(regression) of one window with labels, as the registry computes them on the holdout set
(:func:`modeldeck.core.registry.lineage.holdout_metrics`).

Estimated performance without labels (:class:`PerformanceEstimator`)
--------------------------------------------------------------------
Confidence-based performance estimation (CBPE, as in NannyML): when a classifier's
probabilities are calibrated, the chance that a prediction is right is its probability, so
a window's expected accuracy is the mean calibrated probability of the predicted class, and
the expected confusion matrix (``E[TP_c] = sum of P(c)`` over rows predicted ``c``, ...)
gives expected F1 and ROC AUC. A drop shows as soon as the model gets less sure — more rows
near its decision boundary — long before labels arrive. It cannot see a change of the
relation between inputs and labels (concept drift) that leaves the model equally confident;
realized performance does, when labels come.

* **Calibration** on the holdout set (probabilities and labels, stored by the registry):
  per class, one-vs-rest, by isotonic regression or Platt scaling (a logistic curve on the
  score's logit), or left as is; rows renormalised. ``calibration="auto"`` (the default)
  picks whichever of the three has the lowest cross-fitted Brier score (5 folds): a model
  that is already calibrated is left alone, isotonic needs more rows than Platt to win.
* **Band**: labels are drawn from the calibrated probabilities of the window's rows
  (``simulations`` times, seeded) and the metric computed for each draw: the central 95 %
  is the spread of the realized metric at this window's size. The calibration's own error
  (the gap between the cross-fitted estimate and the realized metric on the holdout) is
  added in quadrature on each side. The realized value should fall inside the band about
  95 % of the time when the calibration transfers.

The fitted estimator serialises to plain JSON (:meth:`PerformanceEstimator.to_dict`) so it
is stored with a version and reused for every window.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from modeldeck.core.drift.profile import numeric_edges
from modeldeck.core.drift.stats import json_float as _num
from modeldeck.core.drift.stats import (
    DRIFT,
    NOT_TESTABLE,
    OK,
    DriftThresholds,
    benjamini_hochberg,
    chi2_two_sample,
    js_distance,
    ks_two_sample,
    psi,
    wasserstein_sd,
)
from modeldeck.core.errors import DataError, InvalidInputError

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)

#: Column holding the predicted class or value.
PREDICTION = "prediction"
#: Prefix of the per-class probability columns.
PROBA_PREFIX = "proba_"
#: Cell of the class mix for predicted classes the reference never predicted.
OTHER_CLASS = "(other)"
#: Name of the predicted-class mix among a comparison's outputs (:class:`OutputDrift`).
CLASS_OUTPUT = "predicted class"
#: Quantile bins of the scores' PSI.
SCORE_BINS = 10

#: Metrics :class:`PerformanceEstimator` estimates.
ESTIMATED_METRICS = ("accuracy", "f1_macro", "roc_auc")
#: Calibration methods of :class:`PerformanceEstimator`.
CALIBRATIONS = ("auto", "none", "sigmoid", "isotonic")

_FORMAT = 1
_WHOLE_NUMBER = re.compile(r"^[+-]?\d+\.0+$")




def label_key(value: Any) -> str | None:
    """A label as text, so that 1, 1.0, "1" and np.int64(1) match; ``None`` if missing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            return str(int(value))
    if isinstance(value, np.generic):
        value = value.item()
    text = str(value)
    if _WHOLE_NUMBER.match(text):   # "1.0" (a float class written as text) is class 1
        return text.split(".", 1)[0].lstrip("+") or "0"
    return text


def _json_label(value: Any) -> Any:
    """A class label as a plain JSON value."""
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def class_indices(values: Sequence[Any] | np.ndarray | pd.Series,
                  classes: Sequence[Any]) -> np.ndarray:
    """Position of each value in ``classes``; ``-1`` for missing or unknown values.

    Labels match by their text, so ``1``, ``1.0``, ``"1"`` and ``np.int64(1)`` are the same
    class (CSV files and Parquet files type labels differently).

    Parameters
    ----------
    values
        Labels or predicted classes.
    classes
        The model's classes, in its order.

    Returns
    -------
    numpy.ndarray
        ``int64`` indices.
    """
    lookup = {label_key(c): i for i, c in enumerate(classes)}
    items = values.tolist() if isinstance(values, (np.ndarray, pd.Series)) else list(values)
    return np.fromiter((lookup.get(label_key(v), -1) for v in items), dtype=np.int64,
                       count=len(items))


def prediction_layout(frame: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray | None,
                                                    tuple[str, ...]]:
    """Split a predictions frame into predictions, probabilities and class names.

    Parameters
    ----------
    frame
        A ``prediction`` column and optional ``proba_<class>`` columns (the registry's
        holdout predictions, or a window of logged predictions).

    Returns
    -------
    predictions, proba, classes
        The ``prediction`` column (``None`` if absent), the probabilities as a float
        matrix in column order (``None`` if there are none) and the class names taken from
        the probability columns.
    """
    proba_cols = [c for c in frame.columns if str(c).startswith(PROBA_PREFIX)]
    predictions = frame[PREDICTION].to_numpy() if PREDICTION in frame.columns else None
    if not proba_cols:
        return predictions, None, ()
    proba = np.array(frame[proba_cols].apply(pd.to_numeric, errors="coerce")
                     .to_numpy(dtype=np.float64, na_value=np.nan))
    return predictions, proba, tuple(str(c)[len(PROBA_PREFIX):] for c in proba_cols)


# --------------------------------------------------------------------------- prediction drift


@dataclass(frozen=True)
class ClassMixDrift:
    """Drift of the predicted-class mix.

    Attributes
    ----------
    classes
        The cells: the reference's classes, plus :data:`OTHER_CLASS` when the current
        window predicted a class the reference never did.
    reference_counts, current_counts
        Predictions per cell.
    chi2_statistic, chi2_p_value, chi2_dof
        Chi-square test of homogeneity of the 2 × k table.
    p_adjusted
        Benjamini-Hochberg adjusted p-value (over the parts of this comparison).
    psi, js_distance
        Population Stability Index (reported only) and Jensen-Shannon distance (base 2)
        of the shares.
    relevant, significant, flagged
        JS ``>= js_distance``; adjusted p-value ``<= alpha``; both.
    """

    classes: tuple[str, ...]
    reference_counts: tuple[int, ...]
    current_counts: tuple[int, ...]
    chi2_statistic: float
    chi2_p_value: float
    chi2_dof: int
    psi: float
    js_distance: float
    p_adjusted: float = 1.0
    relevant: bool = False
    significant: bool = False
    flagged: bool = False

    @property
    def reference_shares(self) -> dict[str, float]:
        """Share of each cell in the reference."""
        total = sum(self.reference_counts) or 1
        return {c: n / total for c, n in zip(self.classes, self.reference_counts)}

    @property
    def current_shares(self) -> dict[str, float]:
        """Share of each cell in the current window."""
        total = sum(self.current_counts) or 1
        return {c: n / total for c, n in zip(self.classes, self.current_counts)}

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"classes": list(self.classes), "reference_counts": list(self.reference_counts),
                "current_counts": list(self.current_counts),
                "reference_shares": self.reference_shares,
                "current_shares": self.current_shares,
                "chi2_statistic": _num(self.chi2_statistic),
                "chi2_p_value": _num(self.chi2_p_value), "chi2_dof": self.chi2_dof,
                "p_adjusted": _num(self.p_adjusted), "psi": _num(self.psi),
                "js_distance": _num(self.js_distance), "relevant": self.relevant,
                "significant": self.significant, "flagged": self.flagged}


@dataclass(frozen=True)
class ScoreDrift:
    """Drift of a numeric model output (a probability or a predicted value).

    Attributes
    ----------
    score
        What was compared: ``"proba_<class>"`` (binary), ``"max_proba"`` (multiclass) or
        ``"prediction"`` (regression).
    status, reason
        ``"ok"``, ``"drift"`` or ``"not_testable"``, and why.
    ks_statistic, ks_p_value, p_adjusted
        Two-sample Kolmogorov-Smirnov test, and its Benjamini-Hochberg adjustment.
    wasserstein_sd, mean_shift_sd
        Wasserstein distance and mean shift in reference standard deviations (``None`` if
        the reference is constant).
    psi
        PSI over ten reference quantile bins (reported only).
    reference_mean, current_mean, reference_sd, current_sd
        Moments of the finite values.
    n_reference, n_current
        Finite values on each side.
    relevant, significant, flagged
        Wasserstein or absolute mean shift over ``wasserstein_sd``; adjusted p-value
        ``<= alpha``; both.
    """

    score: str
    status: str
    reason: str
    ks_statistic: float | None = None
    ks_p_value: float | None = None
    p_adjusted: float | None = None
    wasserstein_sd: float | None = None
    mean_shift_sd: float | None = None
    psi: float | None = None
    reference_mean: float | None = None
    current_mean: float | None = None
    reference_sd: float | None = None
    current_sd: float | None = None
    n_reference: int = 0
    n_current: int = 0
    relevant: bool = False
    significant: bool = False
    flagged: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"score": self.score, "status": self.status, "reason": self.reason,
                "ks_statistic": _num(self.ks_statistic), "ks_p_value": _num(self.ks_p_value),
                "p_adjusted": _num(self.p_adjusted),
                "wasserstein_sd": _num(self.wasserstein_sd),
                "mean_shift_sd": _num(self.mean_shift_sd), "psi": _num(self.psi),
                "reference_mean": _num(self.reference_mean),
                "current_mean": _num(self.current_mean),
                "reference_sd": _num(self.reference_sd), "current_sd": _num(self.current_sd),
                "n_reference": self.n_reference, "n_current": self.n_current,
                "relevant": self.relevant, "significant": self.significant,
                "flagged": self.flagged}


@dataclass(frozen=True)
class OutputDrift:
    """One model output of a comparison, in the shape of a feature's result.

    Attributes
    ----------
    name
        :data:`CLASS_OUTPUT` for the predicted-class mix, else the score's name
        (``"proba_<class>"``, ``"max_proba"`` or ``"prediction"``).
    kind
        ``"class_mix"`` or ``"score"``.
    status, reason
        ``"ok"``, ``"drift"`` or ``"not_testable"``, and why.
    method
        ``"chi-square"`` (class mix) or ``"ks"`` (scores); ``None`` when not testable.
    statistic, p_value, p_adjusted
        The test's statistic, p-value and Benjamini-Hochberg adjusted p-value.
    effect_name, effect_size, effect_threshold
        ``"js_distance"`` (class mix) or ``"wasserstein_sd"`` (scores: the larger of the
        Wasserstein distance and the absolute mean shift, in reference sd, as the
        relevance rule uses them), its value and the threshold it is judged by.
    relevant, significant, flagged
        As for a feature: flagged = relevant and significant.
    """

    name: str
    kind: str
    status: str
    reason: str
    method: str | None
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    effect_name: str
    effect_size: float | None
    effect_threshold: float
    relevant: bool = False
    significant: bool = False
    flagged: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``"drift"`` is the verdict, as for features)."""
        return {"name": self.name, "kind": self.kind, "drift": self.flagged,
                "status": self.status, "reason": self.reason, "method": self.method,
                "statistic": _num(self.statistic), "p_value": _num(self.p_value),
                "p_adjusted": _num(self.p_adjusted), "effect_name": self.effect_name,
                "effect_size": _num(self.effect_size),
                "effect_threshold": _num(self.effect_threshold),
                "relevant": self.relevant, "significant": self.significant}


@dataclass(frozen=True)
class PredictionDrift:
    """Drift of a model's outputs between its holdout predictions and a window.

    Attributes
    ----------
    task
        ``"classification"`` or ``"regression"``.
    status
        ``"drift"``, ``"ok"`` or ``"not_testable"``.
    flagged
        Whether the outputs drifted (class mix or scores flagged).
    summary
        One plain sentence.
    n_reference, n_current
        Prediction rows on each side.
    class_mix
        The predicted-class mix (classifiers; ``None`` otherwise or when untestable).
    scores
        The scores or predicted values (``None`` for a classifier without probabilities).
    thresholds
        The thresholds used.
    """

    task: str
    status: str
    flagged: bool
    summary: str
    n_reference: int
    n_current: int
    class_mix: ClassMixDrift | None
    scores: ScoreDrift | None
    thresholds: DriftThresholds

    @property
    def outputs(self) -> tuple[OutputDrift, ...]:
        """The compared outputs: the predicted-class mix (classifiers), then the scores."""
        out = []
        t = self.thresholds
        mix = self.class_mix
        if mix is not None:
            status = DRIFT if mix.flagged else OK
            ref, cur = mix.reference_shares, mix.current_shares
            moved = max(mix.classes, key=lambda c: abs(cur[c] - ref[c]))
            shares = f"class {moved}: {100 * ref[moved]:.1f}% → {100 * cur[moved]:.1f}%"
            verdict = ("changed" if mix.flagged else "a change this size is within the noise"
                       if mix.relevant else "a detectable but negligible change"
                       if mix.significant else "no relevant change")
            out.append(OutputDrift(
                CLASS_OUTPUT, "class_mix", status,
                f"predicted class shares: {verdict} ({shares}; JS {mix.js_distance:.3g}, "
                f"adjusted p = {mix.p_adjusted:.2g})",
                "chi-square", mix.chi2_statistic, mix.chi2_p_value, mix.p_adjusted,
                "js_distance", mix.js_distance, t.js_distance, mix.relevant,
                mix.significant, mix.flagged))
        s = self.scores
        if s is not None:
            sizes = [abs(v) for v in (s.wasserstein_sd, s.mean_shift_sd) if v is not None]
            tested = s.ks_p_value is not None
            out.append(OutputDrift(
                s.score, "score", s.status, s.reason, "ks" if tested else None,
                s.ks_statistic, s.ks_p_value, s.p_adjusted, "wasserstein_sd",
                max(sizes) if sizes else None, t.wasserstein_sd, s.relevant, s.significant,
                s.flagged))
        return tuple(out)

    def output(self, name: str) -> OutputDrift:
        """The result of one output by name (``KeyError`` if it was not compared)."""
        for o in self.outputs:
            if o.name == name:
                return o
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``"drift"`` is the verdict)."""
        return {"drift": self.flagged, "task": self.task, "status": self.status,
                "summary": self.summary, "n_reference": self.n_reference,
                "n_current": self.n_current,
                "class_mix": self.class_mix.to_dict() if self.class_mix else None,
                "scores": self.scores.to_dict() if self.scores else None,
                "thresholds": self.thresholds.to_dict()}


def prediction_drift(reference: pd.DataFrame, current: pd.DataFrame, task: str, *,
                     thresholds: DriftThresholds | None = None) -> PredictionDrift:
    """Compare a window's predictions with the reference (holdout) predictions.

    Parameters
    ----------
    reference
        The version's holdout predictions: a ``prediction`` column and, for classifiers
        with probabilities, ``proba_<class>`` columns in the model's class order.
    current
        A window's predictions, same layout.
    task
        ``"classification"`` or ``"regression"``.
    thresholds
        Relevance thresholds and the BH level (:class:`DriftThresholds` defaults if
        ``None``).

    Returns
    -------
    PredictionDrift
        Empty sides, a missing ``prediction`` column or missing probabilities give a
        ``"not_testable"`` part with its reason, never an exception.

    Raises
    ------
    InvalidInputError
        ``task`` is neither ``"classification"`` nor ``"regression"``.
    """
    if task not in TASKS:
        raise InvalidInputError(f"unknown task {task!r}", f"use one of {', '.join(TASKS)}")
    t = thresholds or DriftThresholds()
    n_ref, n_cur = len(reference), len(current)
    ref_pred, ref_proba, classes = prediction_layout(reference)
    cur_pred, cur_proba, cur_classes = prediction_layout(current)
    mix: ClassMixDrift | None = None
    mix_reason = ""
    scores: ScoreDrift
    if task == CLASSIFICATION:
        if ref_pred is None or cur_pred is None:
            mix_reason = "no 'prediction' column in the " + (
                "reference" if ref_pred is None else "current") + " predictions"
        else:
            mix, mix_reason = _class_mix(ref_pred, cur_pred, classes)
        if ref_proba is None:
            scores = ScoreDrift("proba", NOT_TESTABLE, "the model gives no probabilities")
        elif cur_proba is None or cur_classes != classes:
            scores = ScoreDrift("proba", NOT_TESTABLE, "the current predictions have no "
                                "probabilities for the reference's classes")
        elif len(classes) == 2:
            scores = _score_drift(f"{PROBA_PREFIX}{classes[1]}", ref_proba[:, 1],
                                  cur_proba[:, 1], t)
        else:
            scores = _score_drift("max_proba", _row_max(ref_proba), _row_max(cur_proba), t)
    else:
        if ref_pred is None or cur_pred is None:
            scores = ScoreDrift(PREDICTION, NOT_TESTABLE, "no 'prediction' column in the " + (
                "reference" if ref_pred is None else "current") + " predictions")
        else:
            scores = _score_drift(PREDICTION, _floats(ref_pred), _floats(cur_pred), t)

    # One Benjamini-Hochberg family over the parts that were tested.
    tested: list[str] = []
    pvals: list[float] = []
    if mix is not None:
        tested.append("mix")
        pvals.append(mix.chi2_p_value)
    if scores.ks_p_value is not None:
        tested.append("scores")
        pvals.append(scores.ks_p_value)
    adjusted = dict(zip(tested, benjamini_hochberg(pvals).tolist()))
    if mix is not None:
        p_adj = adjusted["mix"]
        relevant = mix.js_distance >= t.js_distance
        significant = p_adj <= t.alpha
        mix = replace(mix, p_adjusted=p_adj, relevant=relevant, significant=significant,
                      flagged=relevant and significant)
    if scores.ks_p_value is not None:
        scores = _score_verdict(scores, adjusted["scores"], t)

    flagged = bool((mix is not None and mix.flagged) or scores.flagged)
    summary, status = _prediction_summary(task, mix, mix_reason, scores, n_cur, flagged)
    return PredictionDrift(task=task, status=status, flagged=flagged, summary=summary,
                           n_reference=n_ref, n_current=n_cur, class_mix=mix, scores=scores,
                           thresholds=t)


def _row_max(proba: np.ndarray) -> np.ndarray:
    out = np.full(len(proba), np.nan)
    ok = ~np.isnan(proba).any(axis=1)
    if proba.shape[1] and ok.any():
        out[ok] = proba[ok].max(axis=1)
    return out


def _floats(values: np.ndarray) -> np.ndarray:
    x = np.array(pd.to_numeric(pd.Series(values), errors="coerce")
                 .to_numpy(dtype=np.float64, na_value=np.nan))
    x[~np.isfinite(x)] = np.nan
    return x


def _key_counts(values: np.ndarray) -> dict[str, int]:
    """Rows per label key (missing values left out); keys are made once per distinct
    value, as the report counts every window and host."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    per_value = np.bincount(codes[codes >= 0], minlength=len(uniques))
    out: dict[str, int] = {}
    for value, n in zip(uniques.tolist(), per_value.tolist()):
        key = label_key(value)
        if key is not None and n:
            out[key] = out.get(key, 0) + int(n)
    return out


def _class_mix(ref_pred: np.ndarray, cur_pred: np.ndarray, classes: Sequence[str]
               ) -> tuple[ClassMixDrift | None, str]:
    ref_keys = _key_counts(ref_pred)
    cur_keys = _key_counts(cur_pred)
    if not ref_keys:
        return None, "no predictions in the reference"
    if not cur_keys:
        return None, "no predictions in the current window"
    cells = [str(label_key(c)) for c in classes] or sorted(ref_keys)
    for k in sorted(set(ref_keys) - set(cells)):
        cells.append(k)
    index = {c: i for i, c in enumerate(cells)}
    ref_counts = np.zeros(len(cells) + 1, dtype=np.int64)
    cur_counts = np.zeros(len(cells) + 1, dtype=np.int64)
    for k, n in ref_keys.items():
        ref_counts[index[k]] += n
    for k, n in cur_keys.items():
        cur_counts[index.get(k, len(cells))] += n
    if cur_counts[-1] == 0:
        ref_counts, cur_counts = ref_counts[:-1], cur_counts[:-1]
    else:
        cells.append(OTHER_CLASS)
    stat, p, dof = chi2_two_sample(ref_counts, cur_counts)
    return ClassMixDrift(tuple(cells), tuple(int(x) for x in ref_counts),
                         tuple(int(x) for x in cur_counts), stat, p, dof,
                         psi(ref_counts, cur_counts), js_distance(ref_counts, cur_counts)), ""


def _score_drift(name: str, ref: np.ndarray, cur: np.ndarray, t: DriftThresholds
                 ) -> ScoreDrift:
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    n_ref, n_cur = int(ref.size), int(cur.size)
    if min(n_ref, n_cur) < t.min_count:
        side = "reference" if n_ref < t.min_count else "current window"
        return ScoreDrift(name, NOT_TESTABLE, f"fewer than {t.min_count} values in the "
                          f"{side}", n_reference=n_ref, n_current=n_cur)
    ref_sd = float(np.std(ref, ddof=1))
    cur_sd = float(np.std(cur, ddof=1))
    ks, ks_p = ks_two_sample(ref, cur)
    w = wasserstein_sd(ref, cur, ref_sd) if ref_sd > 0 else None
    shift = (float(cur.mean()) - float(ref.mean())) / ref_sd if ref_sd > 0 else None
    edges = np.asarray(numeric_edges(ref, SCORE_BINS))
    inner = edges[1:-1]
    bins = inner.size + 1
    score_psi = psi(np.bincount(np.searchsorted(inner, ref, side="right"), minlength=bins),
                    np.bincount(np.searchsorted(inner, cur, side="right"), minlength=bins))
    return ScoreDrift(name, OK, "", ks_statistic=ks, ks_p_value=ks_p, wasserstein_sd=w,
                      mean_shift_sd=shift, psi=score_psi, reference_mean=float(ref.mean()),
                      current_mean=float(cur.mean()), reference_sd=ref_sd,
                      current_sd=cur_sd, n_reference=n_ref, n_current=n_cur)


def _score_verdict(s: ScoreDrift, p_adjusted: float, t: DriftThresholds) -> ScoreDrift:
    relevant = bool((s.wasserstein_sd is not None and s.wasserstein_sd >= t.wasserstein_sd)
                    or (s.mean_shift_sd is not None
                        and abs(s.mean_shift_sd) >= t.wasserstein_sd))
    significant = p_adjusted <= t.alpha
    flagged = relevant and significant
    effects = (f"Wasserstein {s.wasserstein_sd:.3g} sd, " if s.wasserstein_sd is not None
               else "") + f"PSI {s.psi:.3g}, KS p = {s.ks_p_value:.2g}"
    what = f"mean {s.reference_mean or 0.0:.3g} → {s.current_mean or 0.0:.3g}"
    if flagged:
        status, reason = DRIFT, f"{s.score} changed ({what}; {effects})"
    elif relevant:
        status, reason = OK, f"{s.score}: a change this size is within the noise ({effects})"
    elif significant:
        status, reason = OK, f"{s.score}: a detectable but negligible change ({effects})"
    else:
        status, reason = OK, f"{s.score}: no relevant change ({effects})"
    return replace(s, status=status, reason=reason, p_adjusted=p_adjusted,
                   relevant=relevant, significant=significant, flagged=flagged)


def _prediction_summary(task: str, mix: ClassMixDrift | None, mix_reason: str,
                        scores: ScoreDrift, n_cur: int, flagged: bool) -> tuple[str, str]:
    if n_cur == 0:
        return "the current window has no predictions: nothing to compare", NOT_TESTABLE
    parts = []
    if mix is not None and mix.flagged:
        ref, cur = mix.reference_shares, mix.current_shares
        moved = max(mix.classes, key=lambda c: abs(cur[c] - ref[c]))
        parts.append(f"the predicted-class mix changed (class {moved}: "
                     f"{100 * ref[moved]:.1f}% → {100 * cur[moved]:.1f}%, "
                     f"JS {mix.js_distance:.3g}, adjusted p = {mix.p_adjusted:.2g})")
    if scores.flagged:
        parts.append(scores.reason)
    if parts:
        return "model outputs drifted: " + "; ".join(parts), DRIFT
    if (mix is None and task == CLASSIFICATION) and scores.status == NOT_TESTABLE:
        return f"prediction drift not testable: {mix_reason or scores.reason}", NOT_TESTABLE
    if task == REGRESSION and scores.status == NOT_TESTABLE:
        return f"prediction drift not testable: {scores.reason}", NOT_TESTABLE
    return "no relevant change in the model's outputs", OK


# --------------------------------------------------------------------------- realized


@dataclass(frozen=True)
class RealizedPerformance:
    """Performance of one window with ground-truth labels.

    Attributes
    ----------
    task
        ``"classification"`` or ``"regression"``.
    status, reason
        ``"ok"`` or ``"not_testable"`` (no labeled row), and why.
    rows
        Labeled rows the metrics use.
    unlabeled
        Rows left out: missing label, missing prediction, or a label that is not one of
        the model's classes.
    metrics
        ``accuracy``, ``balanced_accuracy``, ``f1_macro`` and, with probabilities and both
        classes present, ``roc_auc``; or ``mae``, ``rmse``, ``r2``.
    """

    task: str
    status: str
    reason: str
    rows: int
    unlabeled: int = 0
    metrics: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"task": self.task, "status": self.status, "reason": self.reason,
                "rows": self.rows, "unlabeled": self.unlabeled,
                "metrics": {k: _num(v) for k, v in self.metrics.items()}}


def realized_performance(y_true: Sequence[Any] | np.ndarray | pd.Series,
                         y_pred: Sequence[Any] | np.ndarray | pd.Series,
                         proba: np.ndarray | None = None, task: str = CLASSIFICATION,
                         classes: Sequence[Any] | None = None) -> RealizedPerformance:
    """Realized metrics of a window whose labels arrived.

    Parameters
    ----------
    y_true
        Ground-truth labels (or values); missing ones are left out.
    y_pred
        The model's predictions for the same rows.
    proba
        Class probabilities (rows × classes, in ``classes`` order), for ROC AUC.
    task
        ``"classification"`` or ``"regression"``.
    classes
        The model's classes in its order (classification). Labels match classes by text
        (``1``, ``1.0`` and ``"1"`` are one class). Without ``classes`` labels are compared
        as text and no ROC AUC is computed.

    Returns
    -------
    RealizedPerformance
        Status ``"not_testable"`` when no row has a label.

    Raises
    ------
    InvalidInputError
        Unknown ``task``, or inputs of different lengths.
    """
    from modeldeck.core.registry.lineage import holdout_metrics

    if task not in TASKS:
        raise InvalidInputError(f"unknown task {task!r}", f"use one of {', '.join(TASKS)}")
    y_true_a, y_pred_a = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    if len(y_true_a) != len(y_pred_a) or (proba is not None and len(proba) != len(y_true_a)):
        raise InvalidInputError("labels, predictions and probabilities must have one row "
                                "each per prediction", "pass the rows of one window")
    n = len(y_true_a)
    if task == REGRESSION:
        t, p = _floats(y_true_a), _floats(y_pred_a)
        keep = np.isfinite(t) & np.isfinite(p)
        if not keep.any():
            return RealizedPerformance(task, NOT_TESTABLE, "no labeled rows", 0, n)
        metrics = holdout_metrics(task, t[keep], p[keep], None, None)
    else:
        if classes is not None and len(classes) > 0:
            cls = np.asarray([_json_label(c) for c in classes])
            if cls.dtype == object:   # mixed label types: compare them as text
                cls = cls.astype(str)
            ti, pi = class_indices(y_true_a, classes), class_indices(y_pred_a, classes)
            keep = (ti >= 0) & (pi >= 0)
            if proba is not None:
                keep &= ~np.isnan(np.asarray(proba, dtype=np.float64)).any(axis=1)
            if not keep.any():
                return RealizedPerformance(task, NOT_TESTABLE, "no labeled rows", 0, n)
            pr = None if proba is None else np.asarray(proba, dtype=np.float64)[keep]
            metrics = holdout_metrics(task, cls[ti[keep]], cls[pi[keep]], pr, tuple(classes))
        else:
            tk = np.array([label_key(v) for v in y_true_a], dtype=object)
            pk = np.array([label_key(v) for v in y_pred_a], dtype=object)
            keep = np.array([a is not None and b is not None for a, b in zip(tk, pk)],
                            dtype=bool)
            if not keep.any():
                return RealizedPerformance(task, NOT_TESTABLE, "no labeled rows", 0, n)
            metrics = holdout_metrics(task, tk[keep].astype(str), pk[keep].astype(str),
                                      None, None)
    rows = int(keep.sum())
    metrics = {k: float(v) for k, v in metrics.items() if k != "rows"}
    return RealizedPerformance(task, OK, "", rows, n - rows, metrics)


# --------------------------------------------------------------------------- estimated


@dataclass(frozen=True)
class Estimate:
    """An estimated metric of a window without labels.

    Attributes
    ----------
    metric
        ``"accuracy"``, ``"f1_macro"`` or ``"roc_auc"``.
    value
        The expected value (``None`` when not testable).
    low, high
        The band: where the realized value should fall (about 95 % of windows).
    rows
        Rows of the window with usable probabilities.
    status, reason
        ``"ok"`` or ``"not_testable"`` (estimator not fitted, empty window...), and why.
    """

    metric: str
    value: float | None
    low: float | None
    high: float | None
    rows: int
    status: str = OK
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"metric": self.metric, "value": _num(self.value), "low": _num(self.low),
                "high": _num(self.high), "rows": self.rows, "status": self.status,
                "reason": self.reason}


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1.0 - 1e-6)
    return np.asarray(np.log(q) - np.log1p(-q))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


def _fit_platt(score: np.ndarray, target: np.ndarray) -> dict[str, Any]:
    """Platt scaling on the score's logit, with Platt's smoothed targets (finite even when
    one side is empty): Newton steps on the two parameters, halved until the log loss
    falls (plain Newton overshoots from far starting points)."""
    u = _logit(score)
    n_pos = float(target.sum())
    n_neg = float(target.size - n_pos)
    y = np.where(target, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    design = np.column_stack([u, np.ones_like(u)])

    def loss(theta: np.ndarray) -> float:
        z = design @ theta
        return float(np.sum(np.logaddexp(0.0, z) - y * z))

    theta = np.array([1.0, 0.0])
    current = loss(theta)
    for _ in range(100):
        p = _sigmoid(design @ theta)
        grad = design.T @ (p - y)
        hess = design.T @ (design * (p * (1.0 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-6:
            trial = theta - scale * step
            value = loss(trial)
            if value <= current:
                break
            scale /= 2.0
        else:
            break   # no descent left: at the optimum up to rounding
        theta, improvement, current = trial, current - value, value
        if float(np.abs(scale * step).max()) < 1e-9 or improvement < 1e-12:
            break
    return {"kind": "sigmoid", "a": float(theta[0]), "b": float(theta[1])}


def _fit_isotonic(score: np.ndarray, target: np.ndarray) -> dict[str, Any]:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(score, target.astype(np.float64))
    return {"kind": "isotonic", "x": iso.X_thresholds_.tolist(),
            "y": iso.y_thresholds_.tolist()}


def _apply(calibrator: Mapping[str, Any], score: np.ndarray) -> np.ndarray:
    kind = calibrator["kind"]
    if kind == "sigmoid":
        return _sigmoid(float(calibrator["a"]) * _logit(score) + float(calibrator["b"]))
    if kind == "isotonic":
        return np.asarray(np.interp(score, np.asarray(calibrator["x"], dtype=np.float64),
                                    np.asarray(calibrator["y"], dtype=np.float64)))
    return np.asarray(score, dtype=np.float64)


def _fit_method(method: str, proba: np.ndarray, labels: np.ndarray) -> list[dict[str, Any]]:
    """One calibrator per column to calibrate (the positive class only when binary)."""
    k = proba.shape[1]
    columns = [1] if k == 2 else list(range(k))
    out = []
    for c in columns:
        target = labels == c
        if method == "sigmoid":
            out.append(_fit_platt(proba[:, c], target))
        elif method == "isotonic":
            out.append(_fit_isotonic(proba[:, c], target))
        else:
            out.append({"kind": "none"})
    return out


def _calibrate(calibrators: Sequence[Mapping[str, Any]], proba: np.ndarray) -> np.ndarray:
    k = proba.shape[1]
    if k == 2:
        p1 = np.clip(_apply(calibrators[0], proba[:, 1]), 0.0, 1.0)
        return np.column_stack([1.0 - p1, p1])
    cal = np.column_stack([np.clip(_apply(c, proba[:, j]), 0.0, 1.0)
                           for j, c in enumerate(calibrators)])
    total = cal.sum(axis=1, keepdims=True)
    raw_total = proba.sum(axis=1, keepdims=True)
    fallback = np.divide(proba, raw_total, out=np.full_like(proba, 1.0 / k),
                         where=raw_total > 0)
    return np.asarray(np.divide(cal, total, out=fallback, where=total > 0))


def _weighted_auc(scores: np.ndarray, weights: np.ndarray) -> float | None:
    """Expected ROC AUC when each row is positive with probability ``w``: expected
    correctly ordered positive-negative pairs over expected pairs (ties count half)."""
    order = np.argsort(scores, kind="mergesort")
    s, w = scores[order], weights[order]
    uniq, start = np.unique(s, return_index=True)
    pos = np.add.reduceat(w, start)
    neg = np.add.reduceat(1.0 - w, start)
    # A row is never paired with itself: its own positive-negative product leaves both the
    # pairs counted (as a tie) and the pairs possible.
    own = float(np.sum(w * (1.0 - w)))
    pairs = float(pos.sum()) * float(neg.sum()) - own
    if pairs <= 0.0:
        return None
    below = np.cumsum(neg) - neg   # negative weight at strictly lower scores
    return float((np.sum(pos * (below + 0.5 * neg)) - 0.5 * own) / pairs)


def _expected(metric: str, cal: np.ndarray, raw: np.ndarray, pred: np.ndarray
              ) -> float | None:
    """Expected metric of rows with calibrated probabilities ``cal``."""
    n, k = cal.shape
    if metric == "accuracy":
        return float(cal[np.arange(n), pred].mean())
    if metric == "f1_macro":
        f1s = []
        for c in range(k):
            mine = pred == c
            tp = float(cal[mine, c].sum())
            fp = float((1.0 - cal[mine, c]).sum())
            fn = float(cal[~mine, c].sum())
            denominator = 2.0 * tp + fp + fn
            f1s.append(2.0 * tp / denominator if denominator > 0 else 0.0)
        return float(np.mean(f1s))
    if k == 2:
        return _weighted_auc(raw[:, 1], cal[:, 1])
    aucs = [a for a in (_weighted_auc(raw[:, c], cal[:, c]) for c in range(k))
            if a is not None]
    return float(np.mean(aucs)) if aucs else None


def _rank_ties(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return np.asarray(rankdata(values), dtype=np.float64)


def _simulate(metrics: Sequence[str], cal: np.ndarray, raw: np.ndarray, pred: np.ndarray,
              simulations: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each metric's realized value for ``simulations`` label draws from ``cal`` (NaN where
    a draw leaves it undefined, e.g. one class only for ROC AUC). All metrics share the
    draws."""
    n, k = cal.shape
    out = {m: np.full(simulations, np.nan) for m in metrics}
    ranks = ([_rank_ties(raw[:, 1])] if k == 2 else
             [_rank_ties(raw[:, c]) for c in range(k)]) if "roc_auc" in metrics else []
    cum = np.cumsum(cal[:, :-1], axis=1)
    chunk = max(1, min(simulations, 2_000_000 // max(1, n * (k - 1))))
    done = 0
    while done < simulations:
        b = min(chunk, simulations - done)
        u = rng.random((b, n))
        if k == 2:
            labels = (u < cal[None, :, 1]).astype(np.int8)
        else:
            labels = np.zeros((b, n), dtype=np.int8 if k < 127 else np.int32)
            for j in range(k - 1):
                labels += u >= cum[None, :, j]
        for metric in metrics:
            out[metric][done:done + b] = _metric_of_draws(metric, labels, pred, ranks, k)
        done += b
    return out


def _draws(metrics: Sequence[str], cal: np.ndarray, raw: np.ndarray, pred: np.ndarray,
           simulations: int, rng: np.random.Generator, max_rows: int) -> dict[str, np.ndarray]:
    """Simulated realized values of each metric, for a window of ``len(cal)`` rows.

    Above ``max_rows`` rows the labels are drawn for a uniform subsample only and each
    draw's distance to the subsample's expected value is shrunk by ``sqrt(max_rows / n)``
    (the metrics are averages over rows or pairs of rows: their spread falls as one over
    the square root of the rows), around the whole window's expected value.
    """
    n = len(cal)
    if n <= max_rows:
        return _simulate(metrics, cal, raw, pred, simulations, rng)
    some = np.sort(rng.choice(n, size=max_rows, replace=False))
    sub = _simulate(metrics, cal[some], raw[some], pred[some], simulations, rng)
    shrink = math.sqrt(max_rows / n)
    out = {}
    for metric in metrics:
        centre = _expected(metric, cal[some], raw[some], pred[some])
        whole = _expected(metric, cal, raw, pred)
        if centre is None or whole is None:
            out[metric] = np.full(simulations, np.nan)
        else:
            out[metric] = whole + (sub[metric] - centre) * shrink
    return out


def _auc_of_draws(positive: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    n1 = positive.sum(axis=1).astype(np.float64)
    n0 = positive.shape[1] - n1
    r1 = positive.astype(np.float64) @ ranks
    denominator = n1 * n0
    return np.asarray(np.divide(r1 - n1 * (n1 + 1.0) / 2.0, denominator,
                                out=np.full_like(n1, np.nan), where=denominator > 0))


def _metric_of_draws(metric: str, labels: np.ndarray, pred: np.ndarray,
                     ranks: Sequence[np.ndarray], k: int) -> np.ndarray:
    if metric == "accuracy":
        return np.asarray((labels == pred[None, :]).mean(axis=1))
    if metric == "f1_macro":
        total = np.zeros(len(labels))
        present = np.zeros(len(labels))
        for c in range(k):
            truth = labels == c
            mine = (pred == c)[None, :]
            tp = (truth & mine).sum(axis=1).astype(np.float64)
            fp = float(mine.sum()) - tp
            fn = truth.sum(axis=1) - tp
            denominator = 2.0 * tp + fp + fn
            f1 = np.divide(2.0 * tp, denominator, out=np.zeros_like(tp),
                           where=denominator > 0)
            used = (denominator > 0).astype(np.float64)   # sklearn: labels seen anywhere
            total += f1 * used
            present += used
        return np.asarray(np.divide(total, present, out=np.full_like(total, np.nan),
                                    where=present > 0))
    if k == 2:
        return _auc_of_draws(labels == 1, ranks[0])
    per_class = np.column_stack([_auc_of_draws(labels == c, ranks[c]) for c in range(k)])
    valid = ~np.isnan(per_class)
    count = valid.sum(axis=1)
    return np.asarray(np.divide(np.where(valid, per_class, 0.0).sum(axis=1), count,
                                out=np.full(len(labels), np.nan), where=count > 0))


class PerformanceEstimator:
    """Label-free performance estimation (CBPE) for a classifier with probabilities.

    Fit once on the version's holdout probabilities and labels (:meth:`fit`), store with
    the version (:meth:`to_dict`), and estimate each window from its probabilities alone
    (:meth:`estimate`).

    Parameters
    ----------
    calibration
        ``"auto"`` (lowest cross-fitted Brier score of the three below), ``"none"``,
        ``"sigmoid"`` (Platt) or ``"isotonic"``.
    simulations
        Label draws per window for the band.
    confidence
        Coverage of the band.
    folds
        Folds of the cross-fitting on the holdout.
    min_rows
        Fewest holdout rows with a label to fit.
    max_simulated_rows
        Above this many rows the band is simulated on a uniform subsample and scaled to
        the window's size (the spread of these metrics falls as one over the square root
        of the rows).
    seed
        Seed of the folds and of the label draws (same window, same band).
    """

    def __init__(self, *, calibration: str = "auto", simulations: int = 500,
                 confidence: float = 0.95, folds: int = 5, min_rows: int = 30,
                 max_simulated_rows: int = 10_000, seed: int = 0) -> None:
        if calibration not in CALIBRATIONS:
            raise InvalidInputError(f"unknown calibration {calibration!r}",
                                    f"use one of {', '.join(CALIBRATIONS)}")
        if (simulations < 20 or not 0.5 < confidence < 1.0 or folds < 2 or min_rows < 2
                or max_simulated_rows < 100):
            raise InvalidInputError("simulations must be >= 20, confidence in (0.5, 1), "
                                    "folds >= 2, min_rows >= 2 and max_simulated_rows "
                                    ">= 100", "use the defaults")
        self.calibration = calibration
        self.simulations = int(simulations)
        self.confidence = float(confidence)
        self.folds = int(folds)
        self.min_rows = int(min_rows)
        self.max_simulated_rows = int(max_simulated_rows)
        self.seed = int(seed)
        self.classes: tuple[Any, ...] = ()
        self.method: str | None = None
        self.calibrators: list[dict[str, Any]] = []
        self.calibration_error: dict[str, float] = {}
        self.calibration_sd: dict[str, float] = {}
        self.selection: dict[str, float] = {}
        self.holdout_rows = 0
        self.holdout_realized: dict[str, float] = {}
        self.holdout_estimated: dict[str, float] = {}
        self.status = NOT_TESTABLE
        self.reason = "not fitted"

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` succeeded (estimates are available)."""
        return self.status == OK

    # -- fitting ------------------------------------------------------------------------

    def fit(self, holdout_proba: np.ndarray | pd.DataFrame,
            holdout_labels: Sequence[Any] | np.ndarray | pd.Series,
            classes: Sequence[Any]) -> PerformanceEstimator:
        """Calibrate on the holdout set and measure the calibration's own error.

        Parameters
        ----------
        holdout_proba
            The model's probabilities on the holdout rows: a rows × classes matrix in
            ``classes`` order, or the registry's predictions frame (``proba_<class>``
            columns).
        holdout_labels
            The holdout's true labels.
        classes
            The model's classes in its order (at least two).

        Returns
        -------
        PerformanceEstimator
            ``self``; check :attr:`fitted`, :attr:`status` and :attr:`reason`: a holdout
            with one class, too few rows or no usable row leaves it unfitted (every
            estimate then says why) rather than raising.

        Raises
        ------
        DataError
            The probabilities do not have one column per class, or a different number of
            rows than the labels.
        """
        self.classes = tuple(_json_label(c) for c in classes)
        proba = self._matrix(holdout_proba)
        labels = class_indices(np.asarray(holdout_labels, dtype=object)
                               if not isinstance(holdout_labels, pd.Series)
                               else holdout_labels, self.classes)
        if len(labels) != len(proba):
            raise DataError(f"{len(proba)} probability rows but {len(labels)} labels",
                            "pass the holdout's probabilities and labels, row by row")
        keep = (labels >= 0) & ~np.isnan(proba).any(axis=1)
        proba, labels = proba[keep], labels[keep]
        self.holdout_rows = int(keep.sum())
        self.calibrators, self.method = [], None
        if len(self.classes) < 2:
            return self._unfitted("the model has fewer than two classes")
        present = np.unique(labels)
        if len(labels) < self.min_rows:
            return self._unfitted(f"only {len(labels)} labeled holdout rows (at least "
                                  f"{self.min_rows} are needed)")
        if present.size < 2:
            only = self.classes[int(present[0])] if present.size else None
            return self._unfitted(f"the holdout labels hold one class only ({only}): "
                                  "calibration needs both outcomes")

        methods = ("none", "sigmoid", "isotonic") if self.calibration == "auto" \
            else (self.calibration,)
        counts = np.bincount(labels, minlength=len(self.classes))
        splits = int(min(self.folds, counts[counts > 0].min()))
        oof: dict[str, np.ndarray] = {}
        for method in methods:
            if method == "none":
                oof[method] = _calibrate(_fit_method("none", proba, labels), proba)
            elif splits >= 2:
                oof[method] = self._cross_fit(method, proba, labels, splits)
        onehot = np.eye(len(self.classes))[labels]
        self.selection = {m: float(np.mean(np.sum((p - onehot) ** 2, axis=1)))
                          for m, p in oof.items()}
        if not self.selection:   # a class with a single row: nothing can be cross-fitted
            self.method = self.calibration
            oof_best = _calibrate(_fit_method(self.method, proba, labels), proba)
        else:
            self.method = min(self.selection, key=lambda m: self.selection[m])
            oof_best = oof[self.method]
        self.calibrators = _fit_method(self.method, proba, labels)

        pred = np.argmax(proba, axis=1)
        realized = _realized_indices(labels, pred, proba)
        self.holdout_realized = {m: v for m, v in realized.items() if v is not None}
        self.holdout_estimated = {}
        self.calibration_error = {}
        self.calibration_sd = {}
        # Only the spread's sd is kept: 200 draws pin it to about 5 %.
        spread = _draws(ESTIMATED_METRICS, oof_best, proba, pred, min(self.simulations, 200),
                        np.random.default_rng(self.seed), self.max_simulated_rows)
        for metric in ESTIMATED_METRICS:
            est = _expected(metric, oof_best, proba, pred)
            if est is not None:
                self.holdout_estimated[metric] = est
            if est is not None and realized.get(metric) is not None:
                self.calibration_error[metric] = abs(est - float(realized[metric] or 0.0))
            draws = spread[metric][~np.isnan(spread[metric])]
            if draws.size > 1:
                self.calibration_sd[metric] = float(np.std(draws, ddof=1))
        self.status, self.reason = OK, ""
        return self

    def _unfitted(self, reason: str) -> PerformanceEstimator:
        self.status, self.reason = NOT_TESTABLE, reason
        return self

    def _cross_fit(self, method: str, proba: np.ndarray, labels: np.ndarray,
                   splits: int) -> np.ndarray:
        from sklearn.model_selection import StratifiedKFold

        out = np.empty_like(proba)
        folds = StratifiedKFold(n_splits=splits, shuffle=True, random_state=self.seed)
        for train, test in folds.split(proba, labels):
            calibrators = _fit_method(method, proba[train], labels[train])
            out[test] = _calibrate(calibrators, proba[test])
        return out

    def _matrix(self, proba: np.ndarray | pd.DataFrame) -> np.ndarray:
        if isinstance(proba, pd.DataFrame):
            by_class = {}
            for column in proba.columns:
                name = str(column)
                if name.startswith(PROBA_PREFIX):
                    by_class[name[len(PROBA_PREFIX):]] = column
            missing = [c for c in self.classes if str(label_key(c)) not in by_class
                       and str(c) not in by_class]
            if missing:
                raise DataError(f"no probability column for class(es) "
                                f"{', '.join(map(str, missing))}",
                                "pass the predictions frame with its proba_<class> columns")
            columns = [by_class.get(str(c), by_class.get(str(label_key(c))))
                       for c in self.classes]
            matrix = np.array(proba[columns].apply(pd.to_numeric, errors="coerce")
                              .to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            matrix = np.array(proba, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(self.classes):
            raise DataError(f"probabilities have shape {matrix.shape}, expected rows × "
                            f"{len(self.classes)} classes",
                            "pass predict_proba output in the model's class order")
        matrix[~np.isfinite(matrix)] = np.nan
        return matrix

    # -- estimating ---------------------------------------------------------------------

    def calibrated(self, proba: np.ndarray | pd.DataFrame) -> np.ndarray:
        """The calibrated probabilities of a window (rows with missing values dropped).

        Parameters
        ----------
        proba
            Probabilities, as for :meth:`estimate`.

        Raises
        ------
        InvalidInputError
            The estimator is not fitted.
        """
        if not self.fitted:
            raise InvalidInputError(f"the performance estimator is not fitted: {self.reason}",
                                    "fit it on a holdout set with both outcomes")
        matrix = self._matrix(proba)
        matrix = matrix[~np.isnan(matrix).any(axis=1)]
        return _calibrate(self.calibrators, matrix)

    def estimate(self, proba: np.ndarray | pd.DataFrame, metric: str = "accuracy",
                 predicted: Sequence[Any] | np.ndarray | None = None) -> Estimate:
        """Estimate one metric of a window from its probabilities alone.

        Parameters
        ----------
        proba
            The window's probabilities (rows × classes in the model's order, or a frame
            with ``proba_<class>`` columns). Rows with missing values are left out.
        metric
            ``"accuracy"``, ``"f1_macro"`` or ``"roc_auc"``.
        predicted
            The model's predicted classes when they are not the most probable class (a
            custom threshold); the arg-max of ``proba`` otherwise.

        Returns
        -------
        Estimate
            ``status="not_testable"`` with a reason when the estimator is not fitted or the
            window has no usable row.

        Raises
        ------
        InvalidInputError
            Unknown ``metric``.
        DataError
            ``proba`` does not have one column per class.
        """
        return self.estimate_all(proba, (metric,), predicted)[metric]

    def estimate_all(self, proba: np.ndarray | pd.DataFrame,
                     metrics: Sequence[str] = ESTIMATED_METRICS,
                     predicted: Sequence[Any] | np.ndarray | None = None
                     ) -> dict[str, Estimate]:
        """Estimate several metrics of a window (see :meth:`estimate`).

        Returns
        -------
        dict of str to Estimate
            One entry per metric, in the order asked.
        """
        unknown = [m for m in metrics if m not in ESTIMATED_METRICS]
        if unknown:
            raise InvalidInputError(f"unknown metric(s) {', '.join(unknown)}",
                                    f"use {', '.join(ESTIMATED_METRICS)}")
        if not self.fitted:
            return {m: Estimate(m, None, None, None, 0, NOT_TESTABLE, self.reason)
                    for m in metrics}
        raw = self._matrix(proba)
        ok = ~np.isnan(raw).any(axis=1)
        if predicted is not None:
            pred_all = class_indices(np.asarray(predicted, dtype=object), self.classes)
            if len(pred_all) != len(raw):
                raise DataError(f"{len(pred_all)} predictions for {len(raw)} rows",
                                "pass one predicted class per row")
            ok &= pred_all >= 0
        raw = raw[ok]
        rows = int(len(raw))
        if rows == 0:
            return {m: Estimate(m, None, None, None, 0, NOT_TESTABLE,
                                "the window has no rows with probabilities")
                    for m in metrics}
        pred = np.argmax(raw, axis=1) if predicted is None else pred_all[ok]
        cal = _calibrate(self.calibrators, raw)
        out: dict[str, Estimate] = {}
        tail = (1.0 - self.confidence) / 2.0
        z = NormalDist().inv_cdf(1.0 - tail)
        values = {m: _expected(m, cal, raw, pred) for m in metrics}
        simulated = _draws([m for m, v in values.items() if v is not None], cal, raw, pred,
                           self.simulations, np.random.default_rng(self.seed),
                           self.max_simulated_rows)
        for metric in metrics:
            value = values[metric]
            if value is None:
                out[metric] = Estimate(metric, None, None, None, rows, NOT_TESTABLE,
                                       "the model predicts a single outcome for every row "
                                       "of the window")
                continue
            draws = simulated[metric]
            draws = draws[~np.isnan(draws)]
            if draws.size < self.simulations / 2:
                out[metric] = Estimate(metric, None, None, None, rows, NOT_TESTABLE,
                                       f"{metric} is undefined for most label draws of a "
                                       f"window of {rows} rows (one outcome only)")
                continue
            q_low, q_high = (float(q) for q in np.quantile(draws, [tail, 1.0 - tail]))
            calibration = math.hypot(self.calibration_error.get(metric, 0.0),
                                     z * self.calibration_sd.get(metric, 0.0))
            low = value - math.hypot(max(value - q_low, 0.0), calibration)
            high = value + math.hypot(max(q_high - value, 0.0), calibration)
            out[metric] = Estimate(metric, value, max(0.0, low), min(1.0, high), rows)
        return out

    # -- storage ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, to store with a version (:meth:`from_dict` reads it back)."""
        return {"format": _FORMAT, "kind": "cbpe", "status": self.status,
                "reason": self.reason, "classes": list(self.classes),
                "calibration": self.calibration, "method": self.method,
                "calibrators": [dict(c) for c in self.calibrators],
                "calibration_error": dict(self.calibration_error),
                "calibration_sd": dict(self.calibration_sd),
                "selection": dict(self.selection), "holdout_rows": self.holdout_rows,
                "holdout_realized": dict(self.holdout_realized),
                "holdout_estimated": dict(self.holdout_estimated),
                "simulations": self.simulations, "confidence": self.confidence,
                "folds": self.folds, "min_rows": self.min_rows,
                "max_simulated_rows": self.max_simulated_rows, "seed": self.seed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PerformanceEstimator:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        DataError
            Not a stored estimator, or one of a newer format.
        """
        if data.get("kind") != "cbpe" or not isinstance(data.get("format"), int):
            raise DataError("not a stored performance estimator", None)
        if int(data["format"]) > _FORMAT:
            raise DataError(f"performance estimator format {data['format']} is newer than "
                            f"this ModelDeck ({_FORMAT})", "upgrade ModelDeck")
        est = cls(calibration=str(data["calibration"]), simulations=int(data["simulations"]),
                  confidence=float(data["confidence"]), folds=int(data["folds"]),
                  min_rows=int(data["min_rows"]),
                  max_simulated_rows=int(data.get("max_simulated_rows", 10_000)),
                  seed=int(data["seed"]))
        est.classes = tuple(data["classes"])
        est.method = data.get("method")
        est.calibrators = [dict(c) for c in data.get("calibrators", [])]
        est.calibration_error = {str(k): float(v)
                                 for k, v in data.get("calibration_error", {}).items()}
        est.calibration_sd = {str(k): float(v)
                              for k, v in data.get("calibration_sd", {}).items()}
        est.selection = {str(k): float(v) for k, v in data.get("selection", {}).items()}
        est.holdout_rows = int(data.get("holdout_rows", 0))
        est.holdout_realized = {str(k): float(v)
                                for k, v in data.get("holdout_realized", {}).items()}
        est.holdout_estimated = {str(k): float(v)
                                 for k, v in data.get("holdout_estimated", {}).items()}
        est.status, est.reason = str(data["status"]), str(data.get("reason", ""))
        return est


def _realized_indices(labels: np.ndarray, pred: np.ndarray, proba: np.ndarray
                      ) -> dict[str, float | None]:
    """Realized accuracy, macro F1 and ROC AUC of class indices (same definitions as the
    simulated draws)."""
    k = proba.shape[1]
    ranks = [_rank_ties(proba[:, 1])] if k == 2 else [_rank_ties(proba[:, c])
                                                      for c in range(k)]
    out: dict[str, float | None] = {}
    for metric in ESTIMATED_METRICS:
        value = float(_metric_of_draws(metric, labels[None, :], pred, ranks, k)[0])
        out[metric] = value if math.isfinite(value) else None
    return out
