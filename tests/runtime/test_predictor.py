"""The prediction path's shortcuts give exactly scikit-learn's outputs, or are off."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modeldeck.core.modelio import wrap_estimator
from modeldeck.core.runtime.predictor import Predictor
from modeldeck.core.schema import ColumnSchema

COLUMNS = [f"x{i}" for i in range(6)]
SCHEMA = [ColumnSchema(c, "float") for c in COLUMNS]


def data(seed: int, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, 6)) * [1, 10, 0.01, 100, 1, 5], columns=COLUMNS)


def predictor(est, task: str, fit_frame: pd.DataFrame, y) -> Predictor:
    est.fit(fit_frame, y)
    p = Predictor(wrap_estimator(est), SCHEMA, task)
    p.check_paths(data(99, 50))
    return p


@pytest.mark.parametrize("classes", [("no", "yes"), (0, 1, 2)], ids=["binary", "multiclass"])
def test_linear_classifier_shortcut_is_exact(classes):
    frame = data(1)
    y = np.array(classes)[((frame["x0"] > 0).astype(int) + (
        frame["x1"] > 5).astype(int) * (len(classes) > 2)).to_numpy()]
    p = predictor(make_pipeline(StandardScaler(), LogisticRegression()), "classification",
                  frame, y)
    assert p.fast_path
    x = data(2).to_numpy()
    labels, proba = p.predict_frame(pd.DataFrame(x, columns=COLUMNS))
    est = p.model.estimator
    np.testing.assert_array_equal(proba, est.predict_proba(pd.DataFrame(x, columns=COLUMNS)))
    assert list(labels) == list(est.predict(pd.DataFrame(x, columns=COLUMNS)))


def test_linear_regression_shortcuts_are_exact():
    frame = data(3)
    y = frame["x0"] * 3 - frame["x3"] / 100
    for model in (LinearRegression(), Ridge(alpha=0.5)):
        p = predictor(make_pipeline(StandardScaler(), model), "regression", frame, y)
        assert p.fast_path
        x = data(4)
        got, none = p.predict_frame(x)
        assert none is None
        np.testing.assert_array_equal(got, p.model.estimator.predict(x))
    assert predictor(LinearRegression(), "regression", frame, y).fast_path  # no scaler


def test_values_the_shortcut_cannot_take_go_to_scikit_learn():
    frame = data(5)
    p = predictor(make_pipeline(StandardScaler(), LogisticRegression()), "classification",
                  frame, frame["x0"] > 0)
    assert p.fast_path
    for bad in (np.nan, 1e308):  # missing; overflows once scaled by 0.01
        x = np.array(data(6, 3).to_numpy())  # a writable copy
        x[1, 2] = bad
        with pytest.raises(ValueError), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # scikit-learn's overflow note
            p.predict_frame(pd.DataFrame(x, columns=COLUMNS))  # its error, as without it


def test_other_pipelines_keep_the_plain_path():
    frame = data(7)
    y = frame["x0"] > 0

    class MyLogistic(LogisticRegression):
        pass

    for est in (make_pipeline(PCA(3), LogisticRegression()), MyLogistic(),
                make_pipeline(StandardScaler(), MyLogistic())):
        assert not predictor(est, "classification", frame, y).fast_path
