"""Prediction drift, realized performance and label-free estimated performance (CBPE)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from modeldeck.core.drift.performance import (
    OTHER_CLASS,
    PerformanceEstimator,
    class_indices,
    prediction_drift,
    realized_performance,
)
from modeldeck.core.errors import DataError, InvalidInputError

W = np.array([1.5, 2.0])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _sample(n: int, rng: np.random.Generator, near_boundary: bool = False
            ) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and labels of a problem where P(y = 1 | x) = sigmoid(w·x)."""
    x = rng.normal(size=(n, 2))
    if near_boundary:
        # Covariate shift toward the decision boundary: the component along w shrinks.
        unit = W / np.linalg.norm(W)
        x = x - np.outer(x @ unit, unit) * 0.8
    y = (rng.random(n) < _sigmoid(x @ W)).astype(int)
    return x, y


def _proba(x: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """The model: calibrated at temperature 1, overconfident above."""
    p = _sigmoid(temperature * (x @ W))
    return np.column_stack([1.0 - p, p])


def _realized(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    return realized_performance(y, proba.argmax(axis=1), proba, "classification",
                                [0, 1]).metrics


# --------------------------------------------------------------------------- estimated


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_estimate_band_holds_the_realized_value(temperature: float) -> None:
    hits = {"accuracy": 0, "f1_macro": 0, "roc_auc": 0}
    seeds = range(8)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        x_hold, y_hold = _sample(2000, rng)
        estimator = PerformanceEstimator(seed=seed).fit(_proba(x_hold, temperature), y_hold,
                                                        [0, 1])
        x_new, y_new = _sample(2000, rng)
        proba = _proba(x_new, temperature)
        realized = _realized(y_new, proba)
        for metric, est in estimator.estimate_all(proba).items():
            assert est.status == "ok" and est.rows == 2000
            assert est.low is not None and est.high is not None and est.value is not None
            assert est.low < est.value < est.high and est.high - est.low < 0.1
            hits[metric] += est.low <= realized[metric] <= est.high
    assert min(hits.values()) >= 7, hits   # a 95 % band: 7 of 8 or better
    if temperature != 1.0:
        assert estimator.method in ("sigmoid", "isotonic")   # overconfidence corrected


def test_overconfident_raw_probabilities_would_overestimate() -> None:
    rng = np.random.default_rng(3)
    x_hold, y_hold = _sample(3000, rng)
    x_new, y_new = _sample(3000, rng)
    proba = _proba(x_new, 3.0)
    naive = float(proba.max(axis=1).mean())
    est = PerformanceEstimator().fit(_proba(x_hold, 3.0), y_hold, [0, 1]).estimate(proba)
    realized = _realized(y_new, proba)["accuracy"]
    assert naive - realized > 0.05
    assert est.value is not None and abs(est.value - realized) < 0.03


def test_estimate_drops_under_shift_toward_the_boundary_before_labels() -> None:
    rng = np.random.default_rng(7)
    x_hold, y_hold = _sample(2000, rng)
    estimator = PerformanceEstimator().fit(_proba(x_hold), y_hold, [0, 1])
    x_same, _ = _sample(2000, rng)
    x_hard, y_hard = _sample(2000, rng, near_boundary=True)
    before = estimator.estimate(_proba(x_same))
    after = estimator.estimate(_proba(x_hard))       # probabilities only: no labels
    assert before.value is not None and after.value is not None
    assert before.value - after.value > 0.1
    assert after.high is not None and after.high < (before.low or 0.0)
    realized = _realized(y_hard, _proba(x_hard))["accuracy"]
    assert after.low is not None and after.low <= realized <= after.high


def test_multiclass_estimate_from_the_registry_layout() -> None:
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 1.0], [1.0, -0.5], [-1.0, -0.5]])
    classes = ["ant", "bee", "cat"]

    def sample(n: int) -> tuple[pd.DataFrame, np.ndarray]:
        x = rng.normal(size=(n, 2))
        logits = 2.0 * x @ centres.T
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        y = np.array([rng.choice(3, p=row) for row in p])
        frame = pd.DataFrame({"prediction": np.asarray(classes)[p.argmax(axis=1)]})
        for i, c in enumerate(classes):
            frame[f"proba_{c}"] = p[:, i]
        return frame, np.asarray(classes)[y]

    hold, y_hold = sample(1500)
    estimator = PerformanceEstimator().fit(hold, y_hold, classes)
    new, y_new = sample(1500)
    estimates = estimator.estimate_all(new)
    proba = new[[f"proba_{c}" for c in classes]].to_numpy()
    realized = realized_performance(y_new, new["prediction"], proba, "classification",
                                    classes).metrics
    for metric, est in estimates.items():
        assert est.low is not None and est.high is not None
        assert est.low <= realized[metric] <= est.high, (metric, est, realized[metric])


def test_estimator_round_trips_through_json() -> None:
    rng = np.random.default_rng(4)
    x_hold, y_hold = _sample(1000, rng)
    estimator = PerformanceEstimator(calibration="isotonic", seed=9).fit(
        _proba(x_hold, 2.0), np.where(y_hold == 1, "yes", "no"), ["no", "yes"])
    stored = json.loads(json.dumps(estimator.to_dict(), allow_nan=False))
    restored = PerformanceEstimator.from_dict(stored)
    x_new, _ = _sample(500, rng)
    proba = _proba(x_new, 2.0)
    assert restored.estimate_all(proba) == estimator.estimate_all(proba)
    assert restored.classes == ("no", "yes") and restored.method == "isotonic"
    assert set(stored["calibration_error"]) == {"accuracy", "f1_macro", "roc_auc"}
    with pytest.raises(DataError):
        PerformanceEstimator.from_dict({"kind": "something else"})


def test_degenerate_holdouts_and_windows_give_a_status() -> None:
    rng = np.random.default_rng(5)
    x, y = _sample(500, rng)
    one_class = PerformanceEstimator().fit(_proba(x), np.ones(500, dtype=int), [0, 1])
    assert not one_class.fitted and "one class" in one_class.reason
    est = one_class.estimate(_proba(x))
    assert est.status == "not_testable" and est.value is None and "one class" in est.reason
    json.dumps(est.to_dict(), allow_nan=False)
    # the unfitted state survives storage too
    assert not PerformanceEstimator.from_dict(one_class.to_dict()).fitted

    few = PerformanceEstimator().fit(_proba(x[:10]), y[:10], [0, 1])
    assert not few.fitted and "only 10" in few.reason

    fitted = PerformanceEstimator().fit(_proba(x), y, [0, 1])
    empty = fitted.estimate(np.empty((0, 2)))
    assert empty.status == "not_testable" and empty.rows == 0
    holes = _proba(x[:50])
    holes[:20, 0] = np.nan
    assert fitted.estimate(holes).rows == 30               # rows with NaN left out
    single = fitted.estimate(_proba(x[:1]), "roc_auc")      # one row: AUC undefined
    assert single.status == "not_testable"
    with pytest.raises(DataError):
        fitted.estimate(np.zeros((5, 3)))
    with pytest.raises(InvalidInputError):
        fitted.estimate(_proba(x), "precision")


def test_labels_match_classes_by_their_text() -> None:
    assert class_indices([1, 1.0, "1", np.int64(0), None, np.nan, "2"], [0, 1]).tolist() \
        == [1, 1, 1, 0, -1, -1, -1]
    assert class_indices([True, "False"], [False, True]).tolist() == [1, 0]
    assert class_indices(["1.0", 2.0, "-3.00"], [1, 2, -3]).tolist() == [0, 1, 2]


# --------------------------------------------------------------------------- realized


def test_realized_classification_matches_sklearn_and_drops_unlabeled_rows() -> None:
    rng = np.random.default_rng(6)
    x, y = _sample(400, rng)
    proba = _proba(x)
    pred = proba.argmax(axis=1)
    labels = y.astype(object)
    labels[:25] = None                                  # labels not arrived yet
    result = realized_performance(labels, pred, proba, "classification", [0, 1])
    assert result.status == "ok" and result.rows == 375 and result.unlabeled == 25
    assert result.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y[25:], pred[25:]))
    assert result.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y[25:],
                                                                        proba[25:, 1]))
    json.dumps(result.to_dict(), allow_nan=False)
    # CSV labels as text still match integer classes
    text = realized_performance([str(v) for v in y], pred, proba, "classification", [0, 1])
    assert text.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))


def test_realized_regression_and_empty_window() -> None:
    y = np.array([1.0, 2.0, 3.0, np.nan])
    result = realized_performance(y, [1.5, 2.0, 2.5, 9.0], task="regression")
    assert result.rows == 3 and result.unlabeled == 1
    assert result.metrics["mae"] == pytest.approx(1.0 / 3.0)
    assert result.metrics["rmse"] == pytest.approx(np.sqrt(0.5 / 3.0))
    empty = realized_performance([], [], task="classification", classes=[0, 1])
    assert empty.status == "not_testable" and empty.rows == 0
    with pytest.raises(InvalidInputError):
        realized_performance([1], [1, 2], task="regression")


# --------------------------------------------------------------------------- prediction drift


def _predictions(x: np.ndarray) -> pd.DataFrame:
    proba = _proba(x)
    return pd.DataFrame({"prediction": proba.argmax(axis=1), "proba_0": proba[:, 0],
                         "proba_1": proba[:, 1]})


def test_changed_class_mix_is_flagged() -> None:
    rng = np.random.default_rng(8)
    reference = _predictions(_sample(2000, rng)[0])
    x_new = _sample(2000, rng)[0] + np.array([0.5, 0.5])   # more positives predicted
    result = prediction_drift(reference, _predictions(x_new), "classification")
    assert result.flagged and result.status == "drift"
    mix, scores = result.class_mix, result.scores
    assert mix is not None and mix.flagged and mix.classes == ("0", "1")
    assert mix.current_shares["1"] > mix.reference_shares["1"] + 0.1
    assert mix.chi2_p_value < 1e-10 and mix.p_adjusted >= mix.chi2_p_value
    assert scores is not None and scores.score == "proba_1" and scores.flagged
    assert "predicted-class mix changed" in result.summary
    json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unchanged_predictions_are_not_flagged(seed: int) -> None:
    rng = np.random.default_rng(20 + seed)
    reference = _predictions(_sample(2000, rng)[0])
    current = _predictions(_sample(1500, rng)[0])
    result = prediction_drift(reference, current, "classification")
    assert not result.flagged and result.status == "ok"
    assert result.class_mix is not None and result.scores is not None
    assert result.scores.ks_p_value is not None


def test_multiclass_scores_use_the_top_probability_and_unseen_classes_get_a_cell() -> None:
    rng = np.random.default_rng(9)

    def frame(n: int, sharp: float, labels: list[str]) -> pd.DataFrame:
        logits = sharp * rng.normal(size=(n, 3))
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        out = pd.DataFrame({"prediction": rng.choice(labels, size=n)})
        for i, c in enumerate("abc"):
            out[f"proba_{c}"] = p[:, i]
        return out

    reference = frame(1000, 3.0, ["a", "b", "c"])
    current = frame(1000, 0.5, ["a", "b", "c", "d"])      # less sure, a new class
    result = prediction_drift(reference, current, "classification")
    assert result.scores is not None and result.scores.score == "max_proba"
    assert result.scores.flagged
    assert (result.scores.current_mean or 1.0) < (result.scores.reference_mean or 0.0)
    assert result.class_mix is not None and result.class_mix.classes[-1] == OTHER_CLASS


def test_regression_prediction_drift() -> None:
    rng = np.random.default_rng(10)
    reference = pd.DataFrame({"prediction": rng.normal(100.0, 10.0, 3000)})
    same = pd.DataFrame({"prediction": rng.normal(100.0, 10.0, 2000)})
    moved = pd.DataFrame({"prediction": rng.normal(103.0, 10.0, 2000)})
    quiet = prediction_drift(reference, same, "regression")
    assert not quiet.flagged and quiet.class_mix is None
    loud = prediction_drift(reference, moved, "regression")
    assert loud.flagged and loud.scores is not None and loud.scores.score == "prediction"
    assert loud.scores.wasserstein_sd == pytest.approx(0.3, abs=0.06)
    assert loud.scores.psi is not None and loud.scores.psi > 0


def test_prediction_drift_degenerate_inputs() -> None:
    rng = np.random.default_rng(11)
    reference = _predictions(_sample(500, rng)[0])
    empty = prediction_drift(reference, reference.iloc[:0], "classification")
    assert empty.status == "not_testable" and not empty.flagged
    assert "no predictions" in empty.summary
    labels_only = prediction_drift(reference, reference[["prediction"]], "classification")
    assert labels_only.scores is not None and labels_only.scores.status == "not_testable"
    assert labels_only.class_mix is not None and labels_only.status == "ok"
    no_column = prediction_drift(reference, pd.DataFrame({"x": [1.0]}), "regression")
    assert no_column.status == "not_testable"
    bad = prediction_drift(pd.DataFrame({"prediction": [1.0] * 50}),
                           pd.DataFrame({"prediction": ["n/a"] * 50}), "regression")
    assert bad.status == "not_testable"
    json.dumps(bad.to_dict(), allow_nan=False)
    with pytest.raises(InvalidInputError):
        prediction_drift(reference, reference, "ranking")
