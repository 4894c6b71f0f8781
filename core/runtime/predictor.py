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

Both are confirmed on the release's holdout rows by the self-check before serving (which
runs through this very path), and both fall back to the plain calls otherwise.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
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

    def _run(self, x: Any) -> tuple[np.ndarray, np.ndarray | None]:
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
