"""What a version records about its data and environment: fingerprints, samples, versions."""

from __future__ import annotations

import hashlib
import io
import platform
import sys
import warnings
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

#: The reference sample stored with a version is at most this many rows.
REFERENCE_SAMPLE_ROWS = 50_000
SAMPLE_SEED = 20261127

_ENV_PACKAGES = ("numpy", "pandas", "scikit-learn", "scipy", "skops", "onnxruntime")


def capture_environment() -> dict[str, str]:
    """The Python, platform and library versions the model is registered under."""
    env = {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
    }
    for name in _ENV_PACKAGES:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return env


def fingerprint(frame: pd.DataFrame) -> dict[str, Any]:
    """Row and column counts and a sha256 of a canonical form of ``frame``.

    The canonical form is independent of file format and pandas internals: for each
    column in order, its name and type, then its values (numbers as float64 with one NaN,
    everything else as UTF-8 text with missing marked apart). Equal data, equal hash.
    """
    digest = hashlib.sha256()
    for name in frame.columns:
        series = frame[name]
        digest.update(f"\x1e{name}\x1f".encode())
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
                series.dtype):
            values = series.to_numpy(dtype="float64", na_value=np.nan).copy()
            values[np.isnan(values)] = np.nan  # one NaN bit pattern
            digest.update(b"n")
            digest.update(values.astype("<f8").tobytes())
        else:
            digest.update(b"s")
            for value in series.tolist():
                missing = value is None or (isinstance(value, float) and np.isnan(value)) \
                    or value is pd.NA or value is pd.NaT
                digest.update(b"\x00" if missing else str(value).encode("utf-8") + b"\x1f")
    return {"rows": int(len(frame)), "columns": int(frame.shape[1]),
            "sha256": digest.hexdigest()}


def reference_sample(frame: pd.DataFrame, rows: int = REFERENCE_SAMPLE_ROWS,
                     seed: int = SAMPLE_SEED) -> pd.DataFrame:
    """A seeded uniform sample of at most ``rows`` rows, in the original order."""
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    picked = np.sort(np.random.default_rng(seed).choice(len(frame), size=rows, replace=False))
    return frame.iloc[picked].reset_index(drop=True)


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Serialise a frame as Parquet (typed, compressed, columnar)."""
    buffer = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buffer, index=False, compression="zstd")
    return buffer.getvalue()


def from_parquet_bytes(data: bytes) -> pd.DataFrame:
    """Inverse of :func:`to_parquet_bytes`."""
    return pd.read_parquet(io.BytesIO(data))


def holdout_metrics(task: str, y_true: np.ndarray, y_pred: np.ndarray,
                    proba: np.ndarray | None, classes: tuple[Any, ...] | None) -> dict[str, float]:
    """Metrics of a version on its holdout set.

    Classification: accuracy, balanced accuracy, macro F1 and, with probabilities and at
    least two classes present, ROC AUC (one-vs-rest macro for more than two classes).
    Regression: MAE, RMSE, R².
    """
    from sklearn import metrics as skm

    out: dict[str, float] = {"rows": float(len(y_true))}
    with warnings.catch_warnings():
        # Degenerate holdouts (one class) make sklearn warn; the numbers still stand.
        warnings.simplefilter("ignore")
        if task == "classification":
            out["accuracy"] = float(skm.accuracy_score(y_true, y_pred))
            out["balanced_accuracy"] = float(skm.balanced_accuracy_score(y_true, y_pred))
            out["f1_macro"] = float(skm.f1_score(y_true, y_pred, average="macro"))
            if proba is not None and classes is not None and len(np.unique(y_true)) > 1:
                try:
                    if len(classes) == 2:
                        positive = np.asarray(y_true) == classes[1]
                        out["roc_auc"] = float(skm.roc_auc_score(positive, proba[:, 1]))
                    else:
                        out["roc_auc"] = float(skm.roc_auc_score(
                            y_true, proba, multi_class="ovr", labels=list(classes)))
                except ValueError:
                    pass  # labels in the holdout the model never saw: AUC undefined
        else:
            out["mae"] = float(skm.mean_absolute_error(y_true, y_pred))
            out["rmse"] = float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
            out["r2"] = float(skm.r2_score(y_true, y_pred))
    return out


#: Which metrics the GUI and CLI show first, per task.
KEY_METRICS = {
    "classification": ("accuracy", "f1_macro", "roc_auc"),
    "regression": ("rmse", "mae", "r2"),
}

#: Whether a larger value of a metric is better (for colouring deltas).
HIGHER_IS_BETTER = {
    "accuracy": True, "balanced_accuracy": True, "f1_macro": True, "roc_auc": True,
    "r2": True, "mae": False, "rmse": False,
}


#: Permutation importance is measured on at most this many holdout rows.
IMPORTANCE_ROWS = 5_000
IMPORTANCE_REPEATS = 5


def _score(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn import metrics as skm

    if task == "classification":
        return float(skm.balanced_accuracy_score(y_true, y_pred))
    return float(skm.r2_score(y_true, y_pred))


def permutation_importance(predict: Any, frame: pd.DataFrame, y_true: np.ndarray, task: str,
                           repeats: int = IMPORTANCE_REPEATS,
                           seed: int = SAMPLE_SEED) -> dict[str, Any]:
    """How much the model's holdout score drops when each input column is shuffled.

    The score is balanced accuracy for classifiers and R² for regressors; each column is
    shuffled ``repeats`` times (seeded) on at most :data:`IMPORTANCE_ROWS` holdout rows.
    Works for any model with ``predict(frame)`` (skops, ONNX, pickle alike), which is why it
    is computed here rather than with ``sklearn.inspection.permutation_importance``.

    Returns
    -------
    dict
        ``{"metric": name, "baseline": score, "features": {column: {"mean": drop,
        "std": spread}}}``; drops are clipped at 0 (shuffling cannot help a used column).
    """
    rng = np.random.default_rng(seed)
    if len(frame) > IMPORTANCE_ROWS:
        keep = np.sort(rng.choice(len(frame), size=IMPORTANCE_ROWS, replace=False))
        frame, y_true = frame.iloc[keep].reset_index(drop=True), np.asarray(y_true)[keep]
    else:
        frame = frame.reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baseline = _score(task, y_true, predict(frame))
        features: dict[str, dict[str, float]] = {}
        for column in frame.columns:
            drops = []
            for _ in range(repeats):
                shuffled = frame.copy()
                shuffled[column] = frame[column].to_numpy()[rng.permutation(len(frame))]
                drops.append(baseline - _score(task, y_true, predict(shuffled)))
            mean = float(np.mean(drops))
            # below 1e-9 the "drop" is floating-point noise of equal scores, not importance
            features[str(column)] = {"mean": mean if mean > 1e-9 else 0.0,
                                     "std": float(np.std(drops))}
    return {"metric": "balanced_accuracy" if task == "classification" else "r2",
            "baseline": baseline, "features": features}
