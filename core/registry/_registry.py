"""The registry facade: what the CLI, the GUI and the tests call."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modeldeck.core.datafiles import read_table
from modeldeck.core.drift.profile import Profile, build_reference
from modeldeck.core.errors import DataError, InvalidInputError, ModelDeckError, \
    ModelFileError, NotFoundError
from modeldeck.core.modelio import LoadedModel, ModelFile, from_estimator, load_model, \
    read_model_file
from modeldeck.core.progress import CancelToken, Operation, ProgressEvent
from modeldeck.core.registry import lineage
from modeldeck.core.registry.refs import check_name, parse_ref
from modeldeck.core.registry.store import NewVersion, RegistryStore, SqliteRegistryStore
from modeldeck.core.registry.types import (
    AliasEvent,
    MetricDelta,
    ModelCard,
    ModelInfo,
    PagedList,
    VersionComparison,
    VersionInfo,
)
from modeldeck.core.schema import diff_schema, infer_schema, infinite_cells, schema_to_json
from modeldeck.core.workspace import Workspace

DataInput = str | Path | pd.DataFrame


def _frame(data: DataInput, role: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise DataError(f"the {role} data has no rows", f"pass a non-empty {role} data set")
        frame = data.copy()
        frame.columns = [str(c) for c in frame.columns]
        return frame
    return read_table(data)


def _rows_text(positions: list[int]) -> str:
    shown = ", ".join(str(p + 1) for p in positions[:5])
    more = f" and {len(positions) - 5} more" if len(positions) > 5 else ""
    return f"data row{'s' if len(positions) > 1 else ''} {shown}{more}"


def _check_finite(frame: pd.DataFrame, columns: Iterable[str], role: str) -> None:
    bad = infinite_cells(frame[list(columns)])
    if bad:
        name, rows = next(iter(bad.items()))
        raise DataError(
            f"the {role} data has infinite values in column '{name}' ({_rows_text(rows)})"
            + (f"; also in {', '.join(list(bad)[1:])}" if len(bad) > 1 else ""),
            "replace or drop them; models cannot learn from or be checked on ±inf")


def _label_values(series: pd.Series, classes: tuple[Any, ...] | None) -> np.ndarray:
    """Target values cast to the type of the model's classes (CSV reads 1 as int, '1' as str)."""
    values = series.to_numpy()
    if not classes:
        return values
    sample = classes[0]
    try:
        if isinstance(sample, str):
            return series.astype(str).to_numpy()
        if isinstance(sample, (bool, np.bool_)):
            return series.astype(bool).to_numpy()
        if isinstance(sample, (int, np.integer)):
            return series.astype("int64").to_numpy()
    except (TypeError, ValueError):
        return values
    return values


@dataclass(frozen=True)
class VersionCheck:
    """The outcome of :meth:`Registry.verify_version`."""

    ref: str
    ok: bool
    error: str | None
    format: str | None


class Registry:
    """Models, versions, aliases and model cards of one workspace.

    Parameters
    ----------
    workspace
        The open workspace.
    store
        Where records live; the workspace's SQLite database by default.
    """

    def __init__(self, workspace: Workspace, store: RegistryStore | None = None) -> None:
        self.ws = workspace
        self.store = store or SqliteRegistryStore(workspace)

    # -- reading ------------------------------------------------------------------------

    def search_models(self, query: str = "", max_results: int = 100,
                      page_token: str | None = None) -> PagedList[ModelInfo]:
        """Models matching ``query`` (name, description, owner, tags), a page at a time."""
        if max_results < 1:
            raise InvalidInputError("max_results must be at least 1")
        return self.store.search_models(query, max_results, page_token)

    def list_models(self, query: str = "") -> list[ModelInfo]:
        """Every model matching ``query``, all pages."""
        out: list[ModelInfo] = []
        token = None
        while True:
            page = self.search_models(query, 500, token)
            out.extend(page)
            token = page.token
            if token is None:
                return out

    def get_model(self, name: str) -> ModelInfo:
        """One model by name."""
        return self.store.get_model(name)

    def list_versions(self, name: str) -> list[VersionInfo]:
        """All versions of a model, oldest first."""
        return self.store.list_versions(name)

    def get_version(self, ref: str) -> VersionInfo:
        """The version ``ref`` (``NAME``, ``NAME:VERSION``, ``NAME@ALIAS``) points to."""
        return self.store.get_version(parse_ref(ref))

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of the model's aliases, newest first."""
        return self.store.alias_history(name, alias)

    def lineage(self, ref: str) -> list[VersionInfo]:
        """The version and its ancestors, newest first, following ``parent``."""
        chain = [self.get_version(ref)]
        seen = {chain[0].ref}
        while chain[-1].parent and chain[-1].parent not in seen:
            seen.add(chain[-1].parent)
            chain.append(self.get_version(chain[-1].parent))
        return chain

    # -- artifacts of a version -----------------------------------------------------------

    def load_model(self, ref: str | VersionInfo) -> LoadedModel:
        """Load a version's model, verifying its artifact and trusted types."""
        info = ref if isinstance(ref, VersionInfo) else self.get_version(ref)
        data = self.ws.artifacts.get_bytes(info.artifact_sha256)
        return load_model(data, info.artifact_format, info.trusted_types, info.task, info.classes)

    def _frame_artifact(self, sha: str | None, what: str, ref: str) -> pd.DataFrame:
        if sha is None:
            raise DataError(f"{ref} was registered without {what}",
                            "register a version with --holdout and --target")
        return lineage.from_parquet_bytes(self.ws.artifacts.get_bytes(sha))

    def load_reference_sample(self, ref: str | VersionInfo) -> pd.DataFrame:
        """The stored reference sample (at most 50k rows)."""
        info = ref if isinstance(ref, VersionInfo) else self.get_version(ref)
        return self._frame_artifact(info.reference_sample_sha256, "reference data", info.ref)

    def load_holdout(self, ref: str | VersionInfo) -> pd.DataFrame:
        """The stored holdout set (features and target)."""
        info = ref if isinstance(ref, VersionInfo) else self.get_version(ref)
        return self._frame_artifact(info.holdout_sha256, "a holdout set", info.ref)

    def load_reference_profile(self, ref: str | VersionInfo) -> Profile:
        """The version's reference profile for the drift engine.

        Computed once at registration and stored; a version registered before profiles
        existed gets one computed from its stored reference sample, stored and recorded
        (audited) on first use, so it is never recomputed after that.
        """
        info = ref if isinstance(ref, VersionInfo) else self.get_version(ref)
        if info.reference_profile_sha256:
            return Profile.from_bytes(self.ws.artifacts.get_bytes(info.reference_profile_sha256))
        sample = self.load_reference_sample(info)
        _spec, profile = build_reference(sample[list(info.feature_names)], info.schema)
        data = profile.to_bytes()
        sha = self.ws.artifacts.put_bytes(data)
        self.store.set_reference_profile(parse_ref(info.ref), sha, len(data))
        return profile

    def load_holdout_predictions(self, ref: str | VersionInfo) -> pd.DataFrame:
        """The version's own predictions on its holdout set (``prediction``, ``proba_*``)."""
        info = ref if isinstance(ref, VersionInfo) else self.get_version(ref)
        return self._frame_artifact(info.holdout_predictions_sha256, "holdout predictions",
                                    info.ref)

    # -- changes ------------------------------------------------------------------------

    def register(
        self, name: str, model: Any, reference: DataInput,
        holdout: DataInput | None = None, target: str | None = None, *,
        trust_pickle: bool = False, trusted_types: Iterable[str] = (),
        card: ModelCard | Mapping[str, str] | None = None, description: str | None = None,
        tags: Iterable[str] = (), parent: str | None = None, task: str | None = None,
        cancel: CancelToken | None = None,
    ) -> Operation[VersionInfo]:
        """Register a fitted model as the next version of ``name`` (a generator operation).

        Parameters
        ----------
        name
            The model's name; created on its first version.
        model
            A model file (``.skops``, ``.onnx``, ``.pkl``/``.joblib`` with ``trust_pickle``)
            or a fitted scikit-learn estimator / pipeline.
        reference
            The training (reference) data: a CSV/Parquet path or a DataFrame.
        holdout, target
            Optional holdout data and its target column; metrics and stored holdout
            predictions come from them.
        trust_pickle
            Allow loading a pickle/joblib file (it can run code).
        trusted_types
            Extra skops types to trust for this version.
        card
            The model card. ``None`` copies the parent version's card; a mapping sets the
            fields it names on a copy of the parent's card; a :class:`ModelCard` is taken
            as it is.
        description, tags
            Model metadata.
        parent
            The parent version's reference (default: the model's latest version).
        task
            ``"classification"`` or ``"regression"`` for ONNX graphs (guessed otherwise).
        cancel
            Checked between steps; nothing is recorded when cancelled.

        Yields
        ------
        ProgressEvent
            One per step.

        Returns
        -------
        VersionInfo
            The new version. Artifacts are written before the one transaction that records
            the version, so an interrupted registration leaves no version behind.
        """
        cancel = cancel or CancelToken()
        check_name(name)
        self.ws.require("register")
        parent_ref = parse_ref(parent) if parent else None
        if holdout is not None and not target:
            raise InvalidInputError("a holdout set needs its target column",
                                    "pass --target COLUMN (the true label or value)")
        if target and holdout is None:
            raise InvalidInputError("--target was given without --holdout",
                                    "pass the holdout data set that holds the target")

        card = self._card_for(name, parent, card)

        yield ProgressEvent("reading data", 0.05, "reading the reference data")
        ref_frame = _frame(reference, "reference")
        hold_frame = None
        if holdout is not None:
            hold_frame = _frame(holdout, "holdout")
            if target not in hold_frame.columns:
                raise DataError(f"the holdout data has no target column '{target}'",
                                f"its columns are: {', '.join(hold_frame.columns[:20])}")
            missing_target = hold_frame[target].isna()
            if missing_target.any():
                rows = np.flatnonzero(missing_target.to_numpy()).tolist()
                raise DataError(f"the target column '{target}' is empty in {_rows_text(rows)}",
                                "drop unlabeled rows from the holdout set")
        cancel.check()

        yield ProgressEvent("loading model", 0.2, "loading and checking the model")
        prepared = self._prepare_model(model, trust_pickle, trusted_types, task, ref_frame,
                                       target)
        loaded = prepared.model
        features = self._features(loaded, ref_frame, hold_frame, target)
        _check_finite(ref_frame, features, "reference")
        if hold_frame is not None:
            _check_finite(hold_frame, features, "holdout")
        schema = infer_schema(ref_frame, features)
        if hold_frame is not None:
            mismatch = diff_schema(schema, infer_schema(hold_frame, features)).retyped
            # integer vs float is a gap in the data, not a different column
            mismatch = tuple(m for m in mismatch if {m[1], m[2]} != {"integer", "float"})
            if mismatch:
                col, a, b = mismatch[0]
                raise DataError(f"column '{col}' is {a} in the reference data but {b} in the "
                                f"holdout data", "make both files hold the same kind of values")
        cancel.check()

        yield ProgressEvent("scoring", 0.4, "scoring the model")
        metrics: dict[str, float] = {}
        predictions = None
        probe = hold_frame if hold_frame is not None else ref_frame.head(200)
        y_pred, proba = self._predict(loaded, probe[list(features)],
                                      "holdout" if hold_frame is not None else "reference")
        importance: dict[str, Any] = {}
        if hold_frame is not None:
            y_true = _label_values(hold_frame[target], loaded.classes)
            metrics = lineage.holdout_metrics(loaded.task, y_true, y_pred, proba, loaded.classes)
            cancel.check()
            yield ProgressEvent("importance", 0.5, "measuring feature importance on the holdout")
            importance = lineage.permutation_importance(
                loaded.predict, hold_frame[list(features)], y_true, loaded.task)
            predictions = pd.DataFrame({"prediction": y_pred})
            if proba is not None and loaded.classes is not None:
                for i, label in enumerate(loaded.classes):
                    predictions[f"proba_{label}"] = proba[:, i]
        cancel.check()

        yield ProgressEvent("fingerprinting", 0.6, "fingerprinting the data")
        fingerprints = {"reference": lineage.fingerprint(ref_frame[list(features)])}
        sample = lineage.reference_sample(ref_frame[list(features)])
        yield ProgressEvent("profiling", 0.7, "profiling the reference data for drift")
        _spec, reference_profile = build_reference(ref_frame[list(features)], schema)
        blobs: dict[str, bytes] = {
            "artifact": prepared.artifact,
            "reference": lineage.to_parquet_bytes(sample),
            "profile": reference_profile.to_bytes(),
        }
        if target and target in ref_frame.columns:
            # the reference sample with its labels: what a retraining candidate refits on
            # (modeldeck.core.feedback.retrain), so no training file is needed later
            labeled = ref_frame[[*features, target]]
            fingerprints["training"] = {**lineage.fingerprint(labeled),
                                        "sample_rows": min(len(labeled),
                                                           lineage.REFERENCE_SAMPLE_ROWS)}
            blobs["training"] = lineage.to_parquet_bytes(lineage.reference_sample(labeled))
        if hold_frame is not None and predictions is not None:
            keep = [*features, target]
            fingerprints["holdout"] = lineage.fingerprint(hold_frame[keep])
            blobs["holdout"] = lineage.to_parquet_bytes(hold_frame[keep])
            blobs["predictions"] = lineage.to_parquet_bytes(predictions)
        cancel.check()

        yield ProgressEvent("storing", 0.8, "writing artifacts")
        shas = {key: self.ws.artifacts.put_bytes(data) for key, data in blobs.items()}
        if "training" in shas:
            fingerprints["training"]["artifact"] = shas["training"]
        cancel.check()
        new = NewVersion(
            model=name, task=loaded.task, estimator=loaded.estimator_name,
            artifact_format=prepared.format, artifact_sha256=shas["artifact"],
            artifact_size=len(prepared.artifact), trusted_types=prepared.trusted_types,
            schema=schema_to_json(schema), target=target,
            classes=list(loaded.classes) if loaded.classes is not None else None,
            metrics=metrics, environment=lineage.capture_environment(),
            fingerprints=fingerprints, card=card, parent=parent_ref,
            reference_sample_sha256=shas["reference"], holdout_sha256=shas.get("holdout"),
            holdout_predictions_sha256=shas.get("predictions"),
            importance=importance, reference_profile_sha256=shas["profile"],
            artifact_sizes={shas[k]: len(v) for k, v in blobs.items()},
            description=description, tags=tuple(tags), note=prepared.note,
        )
        yield ProgressEvent("recording", 0.95, "recording the version")
        info = self.store.create_version(new)
        yield ProgressEvent("done", 1.0, f"registered {info.ref}")
        return info

    def _card_for(self, name: str, parent: str | None,
                  card: ModelCard | Mapping[str, str] | None) -> ModelCard:
        if isinstance(card, ModelCard):
            return card
        try:
            base = self.get_version(parent or name).card
        except NotFoundError:
            if parent:
                raise
            base = ModelCard()  # the model's first version
        if card:
            unknown = set(card) - set(ModelCard().to_dict())
            if unknown:
                raise InvalidInputError(
                    f"unknown model card field(s): {', '.join(sorted(unknown))}",
                    f"use: {', '.join(ModelCard().to_dict())}")
            base = replace(base, **{k: str(v) for k, v in card.items()})
        return base

    def verify_version(self, ref: str | VersionInfo) -> VersionCheck:
        """Check every stored file of a version against its sha256 and load its model.

        Returns a :class:`VersionCheck`; problems are reported in it, not raised.
        """
        info = ref if isinstance(ref, VersionInfo) else self.get_version(ref)
        try:
            loaded = self.load_model(info)
            self.load_reference_sample(info)
            if info.holdout_sha256:
                self.load_holdout(info)
            if info.holdout_predictions_sha256:
                self.load_holdout_predictions(info)
        except ModelDeckError as exc:
            return VersionCheck(info.ref, False, str(exc), None)
        return VersionCheck(info.ref, True, None, loaded.format)

    @staticmethod
    def _prepare_model(model: Any, trust_pickle: bool, trusted_types: Iterable[str],
                       task: str | None, ref_frame: pd.DataFrame,
                       target: str | None) -> ModelFile:
        if isinstance(model, (str, Path)):
            sample = ref_frame.drop(columns=[target]) if target in ref_frame.columns else \
                ref_frame
            return read_model_file(model, trust_pickle=trust_pickle,
                                   trusted_types=trusted_types, task=task, sample=sample)
        return from_estimator(model, trusted_types)

    @staticmethod
    def _features(loaded: LoadedModel, ref_frame: pd.DataFrame, hold_frame: pd.DataFrame | None,
                  target: str | None) -> tuple[str, ...]:
        if loaded.feature_names is not None:
            features = loaded.feature_names
            for frame, role in ((ref_frame, "reference"), (hold_frame, "holdout")):
                if frame is None:
                    continue
                missing = [c for c in features if c not in frame.columns]
                if missing:
                    raise ModelFileError(
                        f"the {role} data lacks {len(missing)} column(s) the model expects: "
                        f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}",
                        f"pass the data the model was trained on (it has: "
                        f"{', '.join(list(frame.columns)[:10])}"
                        f"{' …' if frame.shape[1] > 10 else ''})")
            return features
        features = tuple(c for c in ref_frame.columns if c != target)
        expected = getattr(loaded.estimator, "n_features_in_", None)
        if expected is not None and expected != len(features):
            raise ModelFileError(
                f"the model expects {expected} input columns but the reference data has "
                f"{len(features)} (besides the target)",
                "pass the data the model was trained on, with the same columns in order")
        return features

    @staticmethod
    def _predict(loaded: LoadedModel, frame: pd.DataFrame,
                 role: str) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            y_pred = loaded.predict(frame)
            proba = loaded.predict_proba(frame)
        except Exception as exc:  # the model's own error, whatever its type
            nan_cols = [c for c in frame.columns if frame[c].isna().any()]
            fix = (f"the {role} data has missing values in {', '.join(nan_cols[:5])}: impute "
                   "them, or register a pipeline that starts with an imputer"
                   if nan_cols else "check the data has the columns and types the model "
                   "was trained on")
            raise ModelFileError(f"the model fails to predict on the {role} data: "
                                 f"{str(exc).splitlines()[0][:300]}", fix) from None
        if len(y_pred) != len(frame):
            raise ModelFileError(f"the model returned {len(y_pred)} predictions for "
                                 f"{len(frame)} rows", "check the model's input shape")
        return y_pred, proba

    def set_alias(self, ref: str, alias: str) -> AliasEvent:
        """Point ``alias`` at the version ``ref``; the move is audited and kept as history."""
        return self.store.set_alias(parse_ref(ref), alias)

    def remove_alias(self, name: str, alias: str) -> AliasEvent:
        """Remove alias ``alias`` of model ``name``."""
        return self.store.remove_alias(name, alias)

    def update_model(self, name: str, *, description: str | None = None,
                     owner: str | None = None, tags: Iterable[str] | None = None) -> ModelInfo:
        """Change a model's description, owner or tags."""
        return self.store.update_model(name, description=description, owner=owner,
                                       tags=tuple(tags) if tags is not None else None)

    def update_card(self, ref: str, card: ModelCard) -> VersionInfo:
        """Replace the model card of version ``ref``."""
        return self.store.update_card(parse_ref(ref), card)

    def drift_thresholds(self, name: str) -> dict[str, float]:
        """The model's own drift thresholds (only those that differ from the defaults)."""
        self.store.get_model(name)  # NotFoundError for an unknown model
        row = self.ws.db.conn.execute("SELECT drift_thresholds FROM models WHERE name = ?",
                                      (name,)).fetchone()
        return dict(json.loads(row[0]))

    def set_drift_thresholds(self, name: str, values: Mapping[str, float],
                             reset: bool = False) -> dict[str, float]:
        """Set (or with ``reset`` clear) some of a model's drift thresholds; audited.

        Raises
        ------
        InvalidInputError
            An unknown threshold name or an invalid value (the message lists the names).
        """
        from modeldeck.core.drift.stats import DriftThresholds

        merged = {} if reset else self.drift_thresholds(name)
        merged.update({k: float(v) for k, v in values.items()})
        DriftThresholds.from_dict(merged)  # validates names and values
        with self.ws.mutate("model.drift-thresholds", name, "edit-model") as change:
            change.db.conn.execute("UPDATE models SET drift_thresholds = ? WHERE name = ?",
                                   (json.dumps(merged, sort_keys=True), name))
            change.payload.update(thresholds=merged, reset=reset)
        return merged

    def compare(self, ref_a: str, ref_b: str) -> VersionComparison:
        """Metric deltas (b − a), schema diff and environment diff of two versions."""
        a, b = self.get_version(ref_a), self.get_version(ref_b)
        names = list(dict.fromkeys([*a.metrics, *b.metrics]))
        metrics = [MetricDelta(n, a.metrics.get(n), b.metrics.get(n)) for n in names
                   if n != "rows"]
        keys = list(dict.fromkeys([*a.environment, *b.environment]))
        env = [(k, a.environment.get(k), b.environment.get(k)) for k in keys
               if a.environment.get(k) != b.environment.get(k)]
        return VersionComparison(a, b, metrics, diff_schema(a.schema, b.schema), env)
