"""The model's outputs as a frame, and JSON-safe values (shared by the server's parts).

The same layout as the registry's holdout predictions (``prediction`` and one
``proba_<class>`` column per class, in the model's class order), so the drift engine
compares served outputs with the version's own holdout outputs column for column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

PROBA_PREFIX = "proba_"


def outputs_frame(predictions: np.ndarray, probabilities: np.ndarray | None,
                  classes: Sequence[Any] | None, task: str) -> pd.DataFrame:
    """The outputs of ``len(predictions)`` rows as a frame.

    Parameters
    ----------
    predictions
        One prediction per row.
    probabilities
        ``(rows, classes)`` class probabilities, or ``None``.
    classes
        The class labels in the order of the probability columns (classifiers).
    task
        ``"classification"`` (predictions become strings, a categorical column) or
        ``"regression"`` (float64).
    """
    if task == "classification":
        prediction = np.asarray([str(json_value(p)) for p in predictions], dtype=object)
    else:
        prediction = np.asarray(predictions, dtype=np.float64)
    return pd.DataFrame({"prediction": prediction,
                         **proba_columns(probabilities, classes)})


def proba_names(classes: Sequence[Any]) -> list[str]:
    """The ``proba_<class>`` column names, in class order."""
    return [f"{PROBA_PREFIX}{json_value(label)}" for label in classes]


def proba_columns(probabilities: np.ndarray | None, classes: Sequence[Any] | None
                  ) -> dict[str, np.ndarray]:
    """``proba_<class>`` → that class's probabilities (``{}`` without probabilities)."""
    if probabilities is None or classes is None:
        return {}
    proba = np.asarray(probabilities, dtype=np.float64)
    return {name: proba[:, i] for i, name in enumerate(proba_names(classes))}


def json_value(value: Any) -> Any:
    """``value`` as a plain JSON value: numpy scalars unwrapped, NaN and ±inf as ``None``,
    datetimes as ISO 8601 strings, bytes decoded."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is pd.NaT:
        return None
    return value
