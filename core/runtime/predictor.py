"""The model's prediction path on the host: the cheapest call that gives the right answer.

Every served row needs a prediction and, for classifiers with ``predict_proba``, the class
probabilities (they are logged and profiled even when the client did not ask for them).
Two shortcuts keep a request close to the bare ``predict_proba`` call:

* **numpy input** — when every input column is numeric and the artifact is a scikit-learn
  object, the validated columns go in as one float64 matrix instead of a DataFrame (a
  DataFrame costs more to build than a small model costs to run). scikit-learn's "X does
  not have valid feature names" warning is filtered once at start: the validator already
  put the columns in the fitted order.
* **labels from probabilities** — for estimators whose ``predict`` is by definition the
  arg-max of ``predict_proba`` (linear models, trees and forests, boosting, naive Bayes,
  nearest neighbours, the MLP), the labels are taken from the probabilities instead of
  running the model twice.

* **linear pipelines without the per-call checks** — for a pipeline of ``StandardScaler``
  steps ending in ``LogisticRegression``, ``LinearRegression`` or ``Ridge`` (exactly those
  classes), the arithmetic of their ``transform`` / ``predict_proba`` / ``predict`` is done
  here, with the same numpy operations in the same order. scikit-learn spends most of a
  small call on checking its input (about 0.45 ms of a 0.5 ms single-row
  ``predict_proba``); the validator has already checked it. Rows that are not finite before
  or after scaling take scikit-learn's own path, so its errors are the errors.

All are confirmed on the release's holdout rows before serving (:meth:`check_paths`: the
shortcut must give bit-identical outputs to the plain calls, else it is switched off), and
the self-check then runs through the very path that serves.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modeldeck.core.modelio import LoadedModel
from modeldeck.core.schema import ColumnSchema

#: Estimators whose ``predict`` is ``classes_[argmax(predict_proba)]``.
ARGMAX_ESTIMATORS = frozenset({
    "LogisticRegression", "LogisticRegressionCV", "SGDClassifier",
    "DecisionTreeClassifier", "ExtraTreeClassifier", "RandomForestClassifier",
    "ExtraTreesClassifier", "GradientBoostingClassifier", "HistGradientBoostingClassifier",
    "GaussianNB", "MultinomialNB", "BernoulliNB", "ComplementNB", "CategoricalNB",
    "KNeighborsClassifier", "MLPClassifier", "LinearDiscriminantAnalysis",
    "QuadraticDiscriminantAnalysis",
})
_NUMERIC = ("integer", "float")
FastPath = Callable[[np.ndarray], "np.ndarray | None"]


def quiet_feature_name_warnings() -> None:
    """Silence scikit-learn's feature-name warning for numpy input (process-wide, once)."""
    warnings.filterwarnings("ignore", message="X does not have valid feature names",
                            category=UserWarning)


class Predictor:
    """Predicts validated rows with a loaded model.

    Parameters
    ----------
    model
        The loaded artifact.
    schema
        The input schema (column order of the matrix).
    task
        ``"classification"`` or ``"regression"``.
    """

    def __init__(self, model: LoadedModel, schema: Sequence[ColumnSchema], task: str) -> None:
        self.model = model
        self.task = task
        self.columns = [c.name for c in schema]
        self.classes = model.classes
        impl = model._impl
        self._predict_proba = None
        if task == "classification" and hasattr(impl, "predict_proba"):
            self._predict_proba = impl.predict_proba
        self._predict = impl.predict
        self.numpy_input = (model.format in ("skops", "pickle")
                            and all(c.dtype in _NUMERIC for c in schema))
        self.labels_from_proba = (self._predict_proba is not None
                                  and model.estimator_name in ARGMAX_ESTIMATORS
                                  and self.classes is not None)
        self._class_array = np.asarray(self.classes, dtype=object) if self.classes else None
        self._fast: FastPath | None = (compile_linear(impl, task) if self.numpy_input
                                       else None)
        if self.numpy_input:
            quiet_feature_name_warnings()

    @property
    def has_probabilities(self) -> bool:
        """Whether the model gives class probabilities."""
        return self._predict_proba is not None

    def predict_rows(self, rows: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Predict validated rows (an object with ``.matrix`` and ``.frame``)."""
        matrix = rows.matrix if self.numpy_input else None
        return self._run(matrix if matrix is not None else rows.frame)

    def predict_frame(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Predict a DataFrame holding the schema's columns (the self-check's path)."""
        frame = frame[self.columns]
        if self.numpy_input:
            return self._run(frame.to_numpy(dtype=np.float64))
        return self._run(frame)

    @property
    def fast_path(self) -> bool:
        """Whether the linear shortcut is on."""
        return self._fast is not None

    def _run(self, x: Any) -> tuple[np.ndarray, np.ndarray | None]:
        if self._fast is not None and type(x) is np.ndarray:
            out = self._fast(x)
            if out is not None:
                if self.task == "regression":
                    return out, None
                return self._class_array[out.argmax(axis=1)], out
        return self._plain(x)

    def _plain(self, x: Any) -> tuple[np.ndarray, np.ndarray | None]:
        proba = None
        if self._predict_proba is not None:
            proba = np.asarray(self._predict_proba(x), dtype=np.float64)
        if self.labels_from_proba and proba is not None:
            predictions = self._class_array[proba.argmax(axis=1)]
        else:
            predictions = np.asarray(self._predict(x))
        return predictions, proba

    def check_paths(self, frame: pd.DataFrame) -> None:
        """Turn off a shortcut that disagrees with the plain calls on ``frame``."""
        if self._fast is not None:
            x = frame[self.columns].to_numpy(np.float64)
            fast = self._fast(x)
            if self.task == "regression":
                plain = np.asarray(self._predict(x), dtype=np.float64)
            else:
                plain = np.asarray(self._predict_proba(x), dtype=np.float64)
            if fast is None or fast.shape != plain.shape or not np.array_equal(fast, plain):
                self._fast = None
            elif self.task == "classification":
                labels = np.asarray(self._predict(x), dtype=object)
                if [str(v) for v in labels] != [str(v) for v in
                                                self._class_array[fast.argmax(axis=1)]]:
                    self._fast = None
        if self.numpy_input:
            plain = np.asarray(self._predict(frame[self.columns]))
            fast = np.asarray(self._predict(frame[self.columns].to_numpy(np.float64)))
            if plain.shape != fast.shape or not np.array_equal(plain, fast):
                self.numpy_input = False
        if self.labels_from_proba:
            x = frame[self.columns]
            x = x.to_numpy(np.float64) if self.numpy_input else x
            plain = np.asarray(self._predict(x), dtype=object)
            proba = np.asarray(self._predict_proba(x))
            derived = self._class_array[proba.argmax(axis=1)]
            if [str(v) for v in plain] != [str(v) for v in derived]:
                self.labels_from_proba = False


def compile_linear(estimator: Any, task: str) -> FastPath | None:
    """The arithmetic of a ``[StandardScaler...] + linear model`` pipeline as one function
    of a float64 matrix, or ``None`` for anything else.

    The function returns class probabilities (classification) or predictions
    (regression), or ``None`` when a value is not finite before or after scaling (the
    caller then runs scikit-learn, whose checks raise the proper error).
    """
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = ([s for _, s in estimator.steps] if type(estimator) is Pipeline
             else [estimator])
    if any(s is None or s == "passthrough" for s in steps):
        return None
    *scalers, model = steps
    if not all(type(s) is StandardScaler for s in scalers):
        return None
    shifts = [(s.mean_ if s.with_mean else None, s.scale_ if s.with_std else None)
              for s in scalers]
    coef, intercept = getattr(model, "coef_", None), getattr(model, "intercept_", None)
    if coef is None or intercept is None or np.asarray(coef).dtype != np.float64:
        return None
    coef_t = coef.T if coef.ndim == 2 else coef

    def scaled(x: np.ndarray) -> np.ndarray | None:
        if not np.isfinite(x).all():
            return None
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            for mean, scale in shifts:
                x = x - mean if mean is not None else x.copy()
                if scale is not None:
                    x /= scale
        if shifts and not np.isfinite(x).all():
            return None
        return x

    if task == "classification" and type(model) is LogisticRegression:
        from scipy.special import expit
        from sklearn.utils.extmath import softmax

        binary = len(model.classes_) <= 2

        def proba(x: np.ndarray) -> np.ndarray | None:
            z = scaled(x)
            if z is None:
                return None
            scores = z @ coef_t + intercept
            if binary:
                p = expit(scores.reshape(-1))
                return np.stack([1 - p, p], axis=1)
            return softmax(scores, copy=False)

        return proba
    if task == "regression" and type(model) in (LinearRegression, Ridge):

        def predict(x: np.ndarray) -> np.ndarray | None:
            z = scaled(x)
            return None if z is None else z @ coef_t + intercept

        return predict
    return None
