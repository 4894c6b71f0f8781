"""Saving and loading model artifacts: skops (default), ONNX, and trusted pickle.

skops files are loaded with an explicit list of trusted types, so loading never runs
arbitrary code: the types skops trusts itself, :data:`TRUSTED_SKLEARN_TYPES` (scikit-learn
internals ModelDeck vouches for), and whatever the user explicitly trusted for that version
(recorded with it). Anything else is refused, listing the types. Pickle and joblib files
execute code when loaded, so they are read only when the user says the file is trusted;
ModelDeck then stores the model as skops so later loads are safe.

Numpy/pandas/scikit-learn/skops only (onnxruntime imported lazily for ONNX), so the
on-host prediction server can share it.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modeldeck.core.errors import ModelFileError, UntrustedTypesError

#: scikit-learn and numpy internals that appear in skops files of ordinary estimators and
#: that skops does not trust on its own. They hold fitted state only, no callables.
TRUSTED_SKLEARN_TYPES: frozenset[str] = frozenset({
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
})

FORMATS = ("skops", "onnx", "pickle")
TASKS = ("classification", "regression")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


@dataclass
class LoadedModel:
    """A model ready to predict, whatever its artifact format.

    Attributes
    ----------
    format
        ``"skops"``, ``"onnx"`` or ``"pickle"``.
    task
        ``"classification"`` or ``"regression"``.
    estimator_name
        The estimator's class name (the last pipeline step's, for pipelines).
    feature_names
        The input columns the model was fitted on, when it knows them.
    classes
        Class labels of a classifier, in the order of :meth:`predict_proba` columns.
    """

    format: str
    task: str
    estimator_name: str
    feature_names: tuple[str, ...] | None
    classes: tuple[Any, ...] | None
    _impl: Any

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predict one value per row."""
        return np.asarray(self._impl.predict(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Class probabilities per row (columns follow :attr:`classes`), or ``None``."""
        if self.task != "classification" or not hasattr(self._impl, "predict_proba"):
            return None
        return np.asarray(self._impl.predict_proba(frame), dtype="float64")

    @property
    def estimator(self) -> Any:
        """The underlying scikit-learn object (``None`` for ONNX)."""
        return None if self.format == "onnx" else self._impl


def _untrusted(data: bytes) -> list[str]:
    import skops.io as sio

    try:
        return list(sio.get_untrusted_types(data=data))
    except Exception as exc:  # a damaged zip, a non-skops file
        raise ModelFileError(f"not a readable skops file ({exc})",
                             "save the model with `skops.io.dump(model, path)`") from None


def _refuse_untrusted(names: Iterable[str], trusted: Iterable[str]) -> list[str]:
    """Return every untrusted type, raising if any is not covered by an explicit trust."""
    names = list(names)
    allowed = TRUSTED_SKLEARN_TYPES | set(trusted)
    refused = sorted(n for n in names if n not in allowed)
    if refused:
        raise UntrustedTypesError(
            refused,
            f"the skops file contains types nobody trusted: {', '.join(refused)}",
            "inspect them; if you trust them pass --trust-type NAME for each "
            "(GUI: the trusted types field)",
        )
    return names


def _describe_estimator(est: Any) -> tuple[str, str, tuple[str, ...] | None, tuple[Any, ...] | None]:
    from sklearn.base import is_classifier, is_regressor

    final = est.steps[-1][1] if hasattr(est, "steps") else est
    name = type(final).__name__
    try:
        kind = "classification" if is_classifier(est) else \
            "regression" if is_regressor(est) else None
    except (AttributeError, TypeError):  # not a scikit-learn estimator at all
        kind = None
    if kind is not None:
        task = kind
    else:
        raise ModelFileError(
            f"{name} is neither a classifier nor a regressor",
            "register a fitted scikit-learn classifier, regressor, or a pipeline ending in one",
        )
    if not hasattr(est, "predict"):
        raise ModelFileError(f"{name} has no predict()", "register a fitted estimator")
    names = getattr(est, "feature_names_in_", None)
    features = tuple(str(n) for n in names) if names is not None else None
    classes = getattr(est, "classes_", None)
    return task, name, features, (tuple(np.asarray(classes).tolist())
                                  if classes is not None else None)


def wrap_estimator(est: Any, fmt: str = "skops") -> LoadedModel:
    """Wrap a fitted scikit-learn estimator or pipeline.

    Raises
    ------
    ModelFileError
        It is not a fitted classifier or regressor.
    """
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    task, name, features, classes = _describe_estimator(est)
    try:
        check_is_fitted(est)
    except NotFittedError:
        raise ModelFileError(f"{name} is not fitted", "fit it before registering") from None
    except TypeError:
        pass  # not an estimator check_is_fitted knows; predict() will tell
    return LoadedModel(fmt, task, name, features, classes, est)


def dump_skops(est: Any, trusted_types: Iterable[str] = ()) -> tuple[bytes, tuple[str, ...]]:
    """Serialise ``est`` with skops; return the bytes and the extra types it needs trusted.

    Raises
    ------
    UntrustedTypesError
        The estimator contains types outside skops' defaults, :data:`TRUSTED_SKLEARN_TYPES`
        and ``trusted_types``.
    """
    import skops.io as sio

    try:
        data = sio.dumps(est)
    except Exception as exc:
        raise ModelFileError(f"{type(est).__name__} cannot be saved with skops ({exc})",
                             "register it as ONNX, or as a trusted pickle") from None
    needed = _refuse_untrusted(_untrusted(data), trusted_types)
    return data, tuple(sorted(set(needed) - TRUSTED_SKLEARN_TYPES))


class _OnnxModel:
    """Adapter giving an onnxruntime session scikit-learn's predict/predict_proba."""

    def __init__(self, data: bytes) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelFileError(
                "ONNX models need onnxruntime, which is not installed",
                "pip install 'modeldeck[onnx]'",
            ) from None
        try:
            options = ort.SessionOptions()
            options.log_severity_level = 3
            self.session = ort.InferenceSession(data, options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelFileError(f"not a loadable ONNX model ({exc})",
                                 "export it again, e.g. with skl2onnx") from None
        self.inputs = self.session.get_inputs()
        self.outputs = self.session.get_outputs()

    @property
    def feature_names(self) -> tuple[str, ...] | None:
        if len(self.inputs) > 1:
            return tuple(i.name for i in self.inputs)
        return None

    @property
    def has_proba(self) -> bool:
        return len(self.outputs) >= 2

    def _feed(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        def cast(values: np.ndarray, onnx_type: str) -> np.ndarray:
            if "string" in onnx_type:
                return values.astype(str).astype(object)
            if "int64" in onnx_type:
                return values.astype(np.int64)
            if "double" in onnx_type:
                return values.astype(np.float64)
            return values.astype(np.float32)

        if len(self.inputs) == 1:
            only = self.inputs[0]
            return {only.name: cast(frame.to_numpy(), only.type)}
        return {i.name: cast(frame[[i.name]].to_numpy(), i.type) for i in self.inputs}

    def _run(self, frame: pd.DataFrame) -> list[Any]:
        return list(self.session.run(None, self._feed(frame)))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.asarray(self._run(frame)[0])
        if out.ndim > 1 and out.shape[1] == 1:  # regressors emit an (n, 1) tensor
            out = out[:, 0]
        return out

    def classes(self, frame: pd.DataFrame) -> tuple[Any, ...] | None:
        out = self._run(frame)
        if len(out) < 2:
            return None
        proba = out[1]
        if isinstance(proba, list) and proba and isinstance(proba[0], dict):
            return tuple(proba[0].keys())
        return None

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        proba = self._run(frame)[1]
        if isinstance(proba, list):  # ZipMap output: one {label: p} dict per row
            keys = list(proba[0].keys())
            return np.array([[row[k] for k in keys] for row in proba], dtype="float64")
        return np.asarray(proba, dtype="float64")


def load_onnx(data: bytes, task: str | None = None,
              sample: pd.DataFrame | None = None) -> LoadedModel:
    """Load ONNX bytes with onnxruntime.

    The task is ``task`` when given, else classification when the graph has a second
    (probability) output. Class labels are read from a ZipMap output using ``sample``.
    """
    model = _OnnxModel(data)
    guessed = "classification" if model.has_proba else "regression"
    if task is not None and task not in TASKS:
        raise ModelFileError(f"unknown task '{task}'", f"use one of: {', '.join(TASKS)}")
    task = task or guessed
    classes = None
    if task == "classification" and sample is not None and len(sample):
        try:
            classes = model.classes(sample.head(1))
        except Exception:  # noqa: BLE001 - a feed problem surfaces at predict time
            classes = None
    name = model.session.get_modelmeta().graph_name or "ONNX graph"
    return LoadedModel("onnx", task, name, model.feature_names, classes, model)


def load_model(data: bytes, fmt: str, trusted_types: Sequence[str] = (),
               task: str | None = None, classes: Sequence[Any] | None = None) -> LoadedModel:
    """Load stored artifact bytes.

    Parameters
    ----------
    data
        The artifact's bytes.
    fmt
        ``"skops"``, ``"onnx"`` or ``"pickle"``.
    trusted_types
        Extra skops types the user trusted for this version.
    task, classes
        Recorded at registration; used for ONNX graphs, which do not carry them.

    Raises
    ------
    UntrustedTypesError
        A skops file holds types outside the trusted list (e.g. it was swapped).
    ModelFileError
        The bytes cannot be loaded in that format.
    """
    if fmt == "skops":
        import skops.io as sio

        names = _refuse_untrusted(_untrusted(data), trusted_types)
        try:
            est = sio.loads(data, trusted=names)
        except Exception as exc:
            raise ModelFileError(f"the skops artifact cannot be loaded ({exc})",
                                 "check the scikit-learn version matches the registered one") \
                from None
        return wrap_estimator(est, "skops")
    if fmt == "onnx":
        loaded = load_onnx(data, task)
        if classes is not None:
            loaded.classes = tuple(classes)
        return loaded
    if fmt == "pickle":
        return wrap_estimator(_unpickle(data, "stored artifact"), "pickle")
    raise ModelFileError(f"unknown artifact format '{fmt}'", f"use one of: {', '.join(FORMATS)}")


def _unpickle(data: bytes, what: str) -> Any:
    import joblib

    try:
        return joblib.load(io.BytesIO(data))
    except Exception:
        try:
            return pickle.loads(data)  # noqa: S301 - only reached with trust_pickle
        except Exception as exc:
            raise ModelFileError(f"{what} is not a loadable pickle/joblib file ({exc})",
                                 "check the file, or save the model with skops") from None


@dataclass
class ModelFile:
    """A model read from a user's file, ready to be stored.

    Attributes
    ----------
    model
        The loaded model.
    artifact
        The bytes to store (skops for scikit-learn objects, the original for ONNX).
    format
        The stored format.
    trusted_types
        Extra types the stored skops artifact needs trusted (recorded with the version).
    note
        What ModelDeck did with the file, for the audit log.
    """

    model: LoadedModel
    artifact: bytes
    format: str
    trusted_types: tuple[str, ...]
    note: str


def from_estimator(est: Any, trusted_types: Iterable[str] = ()) -> ModelFile:
    """Prepare an in-memory fitted estimator for storage as skops."""
    loaded = wrap_estimator(est, "skops")
    data, needed = dump_skops(est, trusted_types)
    return ModelFile(loaded, data, "skops", needed, "saved as skops")


def read_model_file(path: str | Path, *, trust_pickle: bool = False,
                    trusted_types: Iterable[str] = (), task: str | None = None,
                    sample: pd.DataFrame | None = None) -> ModelFile:
    """Read a model file chosen by the user.

    ``.skops`` is checked for untrusted types; ``.onnx`` is loaded with onnxruntime;
    ``.pkl``/``.pickle``/``.joblib`` only with ``trust_pickle`` and is then re-saved as
    skops (types it needs are trusted on the strength of ``trust_pickle``), or kept as
    pickle when skops cannot represent it.

    Raises
    ------
    ModelFileError, UntrustedTypesError
        Unknown extension, unreadable file, pickle without trust, untrusted skops types.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist", "check the path")
    suffix = path.suffix.lower()
    data = path.read_bytes()
    trusted = tuple(trusted_types)
    if suffix == ".skops":
        import skops.io as sio

        names = _refuse_untrusted(_untrusted(data), trusted)
        try:
            est = sio.loads(data, trusted=names)
        except Exception as exc:
            raise ModelFileError(f"{path.name} cannot be loaded ({exc})",
                                 "check it was saved with a compatible scikit-learn") from None
        return ModelFile(wrap_estimator(est, "skops"), data, "skops",
                         tuple(sorted(set(names) - TRUSTED_SKLEARN_TYPES)), "stored as given")
    if suffix == ".onnx":
        return ModelFile(load_onnx(data, task, sample), data, "onnx", (), "stored as given")
    if suffix in PICKLE_SUFFIXES:
        if not trust_pickle:
            raise ModelFileError(
                f"{path.name} is a pickle/joblib file, and loading one runs any code it contains",
                "save the model with skops (`skops.io.dump`), or pass --trust-pickle if you "
                "trust where the file came from",
            )
        est = _unpickle(data, path.name)
        loaded = wrap_estimator(est, "skops")
        try:
            import skops.io as sio

            skops_data = sio.dumps(est)
            needed = tuple(sorted(set(_untrusted(skops_data)) - TRUSTED_SKLEARN_TYPES))
            sio.loads(skops_data, trusted=list(_untrusted(skops_data)))
        except Exception:  # skops cannot represent it: keep the trusted pickle
            loaded.format = "pickle"
            return ModelFile(loaded, data, "pickle", (),
                             "kept as pickle (skops cannot represent it); trusted by the user")
        return ModelFile(loaded, skops_data, "skops", needed,
                         "converted from a trusted pickle to skops")
    raise ModelFileError(
        f"{path.name}: unknown model format '{suffix or 'no extension'}'",
        "use .skops (recommended), .onnx, or .pkl/.joblib with --trust-pickle",
    )
