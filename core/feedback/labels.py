"""Ground-truth labels: imported from files, pulled from the hosts, joined to predictions.

Labels reach the workspace two ways:

* **pulled** — the hosts' ``/v1/feedback`` endpoint stores a label next to the logged
  prediction it belongs to; ``modeldeck pull`` brings both back into
  ``WORKSPACE/pulled/<model>/<host>.parquet`` (:mod:`modeldeck.core.deploy.pull`).
* **imported** — :func:`import_labels` reads a CSV or Parquet file of either kind:

  - *id labels*: a prediction id column (``prediction_id``) and a label column, joined to
    the logged predictions later;
  - *feature rows*: the model's input columns and a label column (optionally a time and a
    host column), labeled production rows that need no join. Their labels may come in a
    separate file (``labels``) matched by a ``row`` column (1-based row number) or by order.

Each import is stored as one immutable Parquet file plus a JSON sidecar under
``WORKSPACE/feedback/<model>/`` (written to a temporary name, then renamed) and recorded
in the audit log (``feedback.import``). Importing the same content again changes nothing.

:func:`load_feedback` joins everything: logged predictions (pulled) with the labels that
name them, by prediction id, and reports in a :class:`JoinReport` what did not fit —
predictions without a label (*missing*), ids labeled more than once (*duplicate*, and
*conflicting* when the labels differ), labels naming no logged prediction (*unknown*). None
of them is dropped silently: they are counted and listed. When an id has several labels the
last one wins, in this order: the pulled label, then imports oldest first (as the host's own
log lets a later label replace an earlier one). Unknown ids are kept in the store, so they
join once the predictions they name are pulled.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modeldeck.core.datafiles import read_table
from modeldeck.core.drift.performance import label_key
from modeldeck.core.errors import DataError, InvalidInputError
from modeldeck.core.registry import Registry, VersionInfo
from modeldeck.core.registry.lineage import fingerprint
from modeldeck.core.runtime.ids import parse_id
from modeldeck.core.workspace import Workspace
from modeldeck.core.workspace._clock import utc_now

FEEDBACK = "feedback"
ID_COLUMN = "prediction_id"
TIME_COLUMNS = ("timestamp", "ts")
HOST_COLUMN = "host"
ROW_COLUMN = "row"
#: Kinds of import.
IDS, ROWS = "ids", "rows"
#: The ``source`` of rows and labels in a :class:`FeedbackData` frame.
PULLED = "pulled"
#: Columns of a joined frame that are not model inputs.
META_COLUMNS = (ID_COLUMN, "ts", HOST_COLUMN, "source", "label_source", ROW_COLUMN)


@dataclass(frozen=True)
class LabelImport:
    """One imported labels file, as stored.

    Attributes
    ----------
    id
        ``<UTC time to the microsecond>Z-<8 hex>``; names the stored files.
    model
        The model the labels belong to.
    kind
        ``"ids"`` (prediction id + label) or ``"rows"`` (feature rows + label).
    source
        The imported file's name (``"(data frame)"`` for a frame).
    rows
        Labels stored.
    empty
        Rows of the file without a label (not stored).
    invalid_ids
        Ids that are not prediction ids at all (stored; they will never join).
    imported_at, actor
        When and by whom.
    sha256
        Fingerprint of the stored content (an import of equal content is a no-op).
    path
        The stored Parquet file.
    already
        ``True`` when this content had been imported before (nothing was written).
    """

    id: str
    model: str
    kind: str
    source: str
    rows: int
    empty: int
    invalid_ids: int
    imported_at: str
    actor: str
    sha256: str
    path: str
    already: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class LabelConflict:
    """A prediction id labeled more than once with different labels.

    ``labels`` and ``sources`` are in precedence order; ``chosen`` (the last) is used.
    """

    prediction_id: str
    labels: tuple[Any, ...]
    sources: tuple[str, ...]

    @property
    def chosen(self) -> Any:
        """The label that is used (the last one)."""
        return self.labels[-1]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"prediction_id": self.prediction_id, "labels": list(self.labels),
                "sources": list(self.sources), "chosen": self.chosen}


@dataclass(frozen=True)
class JoinReport:
    """How the labels met the logged predictions.

    Attributes
    ----------
    model
        The model.
    predictions
        Logged predictions pulled from the hosts.
    labeled
        Of them, those with a label (pulled or imported).
    from_pulled, from_imports
        Labeled predictions whose (winning) label came from the host or from an import.
    missing_ids
        Predictions without a label.
    duplicate_ids
        Ids labeled more than once (conflicting or not).
    conflicts
        Ids labeled more than once with different labels.
    unknown_ids
        Imported ids naming no pulled prediction (not pulled yet, past the host's
        retention, or not a prediction of this model).
    invalid_ids
        Of the unknown ids, those that are not prediction ids at all.
    feature_rows
        Labeled rows imported with their inputs that are rows of their own (no logged
        prediction has their inputs).
    imports
        The imports read.
    matched_rows
        Imported feature rows that were logged predictions too (the same inputs, from the
        same host when the row names one): their labels join those predictions, as an id
        label would, so the row counts once.
    """

    model: str
    predictions: int
    labeled: int
    from_pulled: int
    from_imports: int
    missing_ids: tuple[str, ...]
    duplicate_ids: tuple[str, ...]
    conflicts: tuple[LabelConflict, ...]
    unknown_ids: tuple[str, ...]
    invalid_ids: tuple[str, ...]
    feature_rows: int
    imports: tuple[LabelImport, ...] = ()
    matched_rows: int = 0

    @property
    def missing(self) -> int:
        """Predictions without a label."""
        return len(self.missing_ids)

    @property
    def duplicates(self) -> int:
        """Ids labeled more than once."""
        return len(self.duplicate_ids)

    @property
    def unknown(self) -> int:
        """Imported labels naming no pulled prediction."""
        return len(self.unknown_ids)

    def ids(self, kind: str) -> tuple[str, ...]:
        """The ids of one finding: ``missing``, ``duplicate``, ``conflicting``, ``unknown``.

        Raises
        ------
        InvalidInputError
            Another ``kind``.
        """
        lists = {"missing": self.missing_ids, "duplicate": self.duplicate_ids,
                 "conflicting": tuple(c.prediction_id for c in self.conflicts),
                 "unknown": self.unknown_ids}
        if kind not in lists:
            raise InvalidInputError(f"unknown list '{kind}'", f"use one of: {', '.join(lists)}")
        return lists[kind]

    def summary(self) -> str:
        """One line: counts of every finding."""
        text = (f"{self.labeled} of {self.predictions} logged predictions labeled, "
                f"{self.missing} missing, {self.duplicates} duplicate "
                f"({len(self.conflicts)} conflicting), {self.unknown} unknown ids")
        if self.feature_rows:
            text += f"; {self.feature_rows} labeled feature rows imported"
        if self.matched_rows:
            text += (f"; {self.matched_rows} imported feature rows were logged predictions "
                     "(joined to them by their inputs)")
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form: counts, the conflicts and the id lists."""
        return {"model": self.model, "predictions": self.predictions, "labeled": self.labeled,
                "from_pulled": self.from_pulled, "from_imports": self.from_imports,
                "missing": self.missing, "duplicates": self.duplicates,
                "conflicting": len(self.conflicts), "unknown": self.unknown,
                "invalid": len(self.invalid_ids), "feature_rows": self.feature_rows,
                "matched_rows": self.matched_rows,
                "conflicts": [c.to_dict() for c in self.conflicts],
                "missing_ids": list(self.missing_ids),
                "duplicate_ids": list(self.duplicate_ids),
                "unknown_ids": list(self.unknown_ids),
                "imports": [i.to_dict() for i in self.imports]}


@dataclass(frozen=True)
class FeedbackData:
    """Production rows of a model with their labels, and how the join went.

    Attributes
    ----------
    model, target
        The model and the label column's name (the model's target).
    rows
        One row per logged prediction (``source`` ``"pulled"``) and per imported feature
        row (``source`` ``"import:<id>"``): ``prediction_id`` (missing for feature rows),
        ``ts`` (UTC; missing when a feature row had no time), ``host``, the inputs, the
        logged ``prediction`` and ``proba_*`` (pulled rows), the label (column ``target``;
        missing when none came) and ``label_source``.
    join
        The :class:`JoinReport`.
    """

    model: str
    target: str
    rows: pd.DataFrame = field(repr=False)
    join: JoinReport

    def labeled(self) -> pd.DataFrame:
        """The rows that have a label."""
        return self.rows.loc[self.rows[self.target].notna().to_numpy()]


# --------------------------------------------------------------------------- storage


def feedback_folder(workspace: Workspace, model: str) -> Path:
    """Where the imported labels of ``model`` live."""
    return Path(workspace.path) / FEEDBACK / model


def list_imports(workspace: Workspace, model: str) -> list[LabelImport]:
    """The imports of ``model``, oldest first (an import without its sidecar is ignored:
    it was interrupted before it was recorded)."""
    folder = feedback_folder(workspace, model)
    out = []
    for meta in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        data["path"] = str(meta.with_suffix(".parquet"))
        if Path(data["path"]).is_file():
            out.append(LabelImport(**{k: data[k] for k in LabelImport.__dataclass_fields__
                                      if k in data}))
    return sorted(out, key=lambda i: (i.imported_at, i.id))


def read_import(item: LabelImport) -> pd.DataFrame:
    """The stored rows of one import."""
    return pd.read_parquet(item.path)


def _frame(data: str | Path | pd.DataFrame, role: str) -> tuple[pd.DataFrame, str]:
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise DataError(f"the {role} has no rows", f"pass a non-empty {role}")
        frame = data.copy()
        frame.columns = [str(c) for c in frame.columns]
        return frame.reset_index(drop=True), "(data frame)"
    return read_table(data), Path(data).name


def _attach_labels(frame: pd.DataFrame, labels: pd.DataFrame, label_column: str,
                   source: str) -> pd.DataFrame:
    """Put the label column of a separate labels file onto ``frame``: by its ``row`` column
    (1-based row numbers of ``frame``), or row by row when it has none."""
    if label_column not in labels.columns:
        raise DataError(f"the labels file has no column '{label_column}'",
                        f"its columns are: {', '.join(labels.columns[:20])}; name the "
                        "label column with --label-column")
    if label_column in frame.columns:
        raise DataError(f"{source} has a '{label_column}' column already",
                        "pass the labels in one file only")
    if ROW_COLUMN in labels.columns:
        numbers = pd.to_numeric(labels[ROW_COLUMN], errors="coerce")
        bad = numbers.isna() | (numbers < 1) | (numbers > len(frame)) | (numbers % 1 != 0)
        if bad.any():
            first = labels[ROW_COLUMN].iloc[int(np.flatnonzero(bad.to_numpy())[0])]
            raise DataError(f"{int(bad.sum())} '{ROW_COLUMN}' value(s) of the labels file are "
                            f"not row numbers of {source} (1 to {len(frame)}), e.g. {first!r}",
                            f"the '{ROW_COLUMN}' column counts {source}'s data rows from 1")
        out = frame.copy()
        out[label_column] = pd.Series([None] * len(frame), dtype=object)
        positions = numbers.astype("int64").to_numpy() - 1
        if len(set(positions.tolist())) != len(positions):
            raise DataError(f"the labels file names some rows of {source} twice",
                            "give each row one label")
        out.loc[positions, label_column] = labels[label_column].to_numpy(dtype=object)
        return out
    if len(labels) != len(frame):
        raise DataError(f"the labels file has {len(labels)} rows, {source} has {len(frame)}",
                        f"give one label per row in order, or add a '{ROW_COLUMN}' column "
                        "with row numbers")
    out = frame.copy()
    out[label_column] = labels[label_column].to_numpy(dtype=object)
    return out


def _times(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    times = pd.to_datetime(frame[column], utc=True, errors="coerce", format="mixed")
    bad = times.isna() & frame[column].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{int(bad.sum())} value(s) of the time column '{column}' in {source} "
                        f"are not times (data row {row + 1}: {frame[column].iloc[row]!r})",
                        "use ISO 8601 times such as 2026-11-20T14:05:00Z, or name another "
                        "column with --time-column")
    return times


def _pick_column(frame: pd.DataFrame, explicit: str | None, defaults: Sequence[str],
                 what: str, source: str) -> str | None:
    if explicit:
        if explicit not in frame.columns:
            raise DataError(f"{source} has no {what} column '{explicit}'",
                            f"its columns are: {', '.join(frame.columns[:20])}")
        return explicit
    return next((c for c in defaults if c in frame.columns), None)


def import_labels(workspace: Workspace, model: str, data: str | Path | pd.DataFrame, *,
                  labels: str | Path | pd.DataFrame | None = None,
                  id_column: str | None = None, label_column: str | None = None,
                  time_column: str | None = None, host_column: str | None = None
                  ) -> LabelImport:
    """Store the labels of a file for ``model`` (audited as ``feedback.import``).

    Parameters
    ----------
    workspace
        The open workspace; the acting user needs the ``edit-model`` permission.
    model
        A registered model.
    data
        CSV/Parquet path or frame: a prediction id column and a label column (*id
        labels*), or the model's input columns and a label column (*feature rows*).
    labels
        The labels of feature rows in a separate file: a label column and a ``row`` column
        (1-based row numbers of ``data``), or one label per row in order.
    id_column
        The prediction id column (default: ``prediction_id`` when present).
    label_column
        The label column (default: the model's target column, else ``label``).
    time_column, host_column
        Feature rows: when and where each was served (default: ``timestamp`` or ``ts``,
        and ``host``, when present).

    Returns
    -------
    LabelImport
        What was stored; ``already`` is set (and nothing written) when equal content was
        imported before.

    Raises
    ------
    NotFoundError
        Unknown model.
    DataError
        Unreadable file, no label column, neither ids nor the model's inputs, bad times.
    PermissionDeniedError
        The acting user may not edit models.
    """
    registry = Registry(workspace)
    versions = registry.list_versions(registry.get_model(model).name)
    workspace.require("edit-model")
    target = _target(versions)
    frame, source = _frame(data, "labels data")
    label_column = label_column or (target if target in frame.columns or labels is not None
                                    else None)
    if labels is not None:
        label_frame, _ = _frame(labels, "labels file")
        frame = _attach_labels(frame, label_frame, label_column or target, source)
        label_column = label_column or target
    if label_column is None:
        label_column = "label" if "label" in frame.columns else None
    if label_column is None or label_column not in frame.columns:
        wanted = label_column or target
        raise DataError(f"{source} has no label column '{wanted}'",
                        f"its columns are: {', '.join(frame.columns[:20])}; name the label "
                        "column with --label-column")
    id_col = _pick_column(frame, id_column, (ID_COLUMN,), "prediction id", source)
    label_values = frame[label_column].to_numpy(dtype=object)
    has_label = np.array([label_key(v) is not None for v in label_values], dtype=bool)
    empty = int((~has_label).sum())
    rows_no = np.arange(1, len(frame) + 1)
    if id_col is not None:
        kind = IDS
        ids = frame[id_col].astype("string").str.strip()
        stored = pd.DataFrame({ID_COLUMN: ids.to_numpy(dtype=object),
                               target: label_values, ROW_COLUMN: rows_no})
        stored = stored.loc[has_label & ids.notna().to_numpy()].reset_index(drop=True)
        empty = len(frame) - len(stored)
        invalid = int(sum(parse_id(i) is None for i in stored[ID_COLUMN]))
    else:
        kind = ROWS
        invalid = 0
        _check_inputs(frame, versions, source)
        time_col = _pick_column(frame, time_column, TIME_COLUMNS, "time", source)
        host_col = _pick_column(frame, host_column, (HOST_COLUMN,), "host", source)
        inputs = [c for c in frame.columns if c not in {label_column, time_col, host_col}
                  and c not in META_COLUMNS]
        stored = frame[inputs].copy()
        stored.insert(0, "ts", _times(frame, time_col, source) if time_col
                      else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]"))
        stored.insert(1, HOST_COLUMN, frame[host_col].astype("string").to_numpy(dtype=object)
                      if host_col else np.full(len(frame), None, dtype=object))
        stored[target] = label_values
        stored[ROW_COLUMN] = rows_no
        stored = stored.loc[has_label].reset_index(drop=True)
    if stored.empty:
        raise DataError(f"{source} has no labeled rows (the '{label_column}' column is empty)",
                        "fill in the labels, or name another column with --label-column")
    # One type per column for Parquet: labels typed as the file had them, or text.
    stored[target] = _one_type(stored[target])
    digest = fingerprint(stored.drop(columns=[ROW_COLUMN]))["sha256"]
    for earlier in list_imports(workspace, model):
        if earlier.sha256 == digest:
            return LabelImport(**{**earlier.to_dict(), "already": True})
    return _store(workspace, model, stored, kind=kind, source=source, empty=empty,
                  invalid=invalid, digest=digest)


def scorable(frame: pd.DataFrame, version: VersionInfo) -> np.ndarray:
    """Which rows ``version`` can score: every input present that its schema does not allow
    to be missing (the prediction server refuses the others)."""
    if any(c not in frame.columns for c in version.feature_names):
        return np.zeros(len(frame), dtype=bool)
    needed = [c.name for c in version.schema if not c.nullable]
    return frame[needed].notna().all(axis=1).to_numpy() if needed \
        else np.ones(len(frame), dtype=bool)


def _target(versions: Sequence[VersionInfo]) -> str:
    """The model's label column name: its latest version's target (``label`` without)."""
    for info in reversed(versions):
        if info.target:
            return info.target
    return "label"


def _check_inputs(frame: pd.DataFrame, versions: Sequence[VersionInfo], source: str) -> None:
    """Feature rows must hold the inputs of at least one version of the model."""
    if any(all(c in frame.columns for c in v.feature_names) for v in versions):
        return
    latest = versions[-1]
    missing = [c for c in latest.feature_names if c not in frame.columns]
    raise DataError(
        f"{source} has no '{ID_COLUMN}' column and lacks {len(missing)} input column(s) of "
        f"{latest.ref}: {', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}",
        "import prediction ids and labels (name the id column with --id-column), or rows "
        "with the model's input columns and a label")


def _one_type(series: pd.Series) -> pd.Series:
    values = series.to_numpy(dtype=object)
    kinds = {type(v.item() if isinstance(v, np.generic) else v) for v in values}
    if kinds <= {int} or kinds <= {int, float} or kinds <= {float} or kinds <= {bool}:
        return pd.Series(values.tolist(), dtype=object).infer_objects()
    return pd.Series([str(v.item() if isinstance(v, np.generic) else v) for v in values],
                     dtype=object)


def _store(workspace: Workspace, model: str, stored: pd.DataFrame, *, kind: str, source: str,
           empty: int, invalid: int, digest: str) -> LabelImport:
    """Write the import atomically and record it in the same step as its audit row."""
    folder = feedback_folder(workspace, model)
    folder.mkdir(parents=True, exist_ok=True)
    now = utc_now()
    # the time to the microsecond, so ids sort as the imports were made
    import_id = re.sub(r"[-:]", "", now) + "-" + digest[:8]
    target = folder / f"{import_id}.parquet"
    item = LabelImport(import_id, model, kind, source, len(stored), empty, invalid, now,
                       workspace.identity.name, digest, str(target))
    meta = {k: v for k, v in item.to_dict().items() if k not in ("path", "already")}
    tmp_rows = _temp(folder, target.name)
    tmp_meta = _temp(folder, target.with_suffix(".json").name)
    placed: list[Path] = []
    try:
        stored.to_parquet(tmp_rows, index=False)
        Path(tmp_meta).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        with workspace.mutate("feedback.import", model, "edit-model") as change:
            change.payload = {**meta, "file": f"{FEEDBACK}/{model}/{target.name}"}
            # The sidecar last: list_imports only sees an import once both are in place.
            os.replace(tmp_rows, target)
            placed.append(target)
            os.replace(tmp_meta, target.with_suffix(".json"))
            placed.append(target.with_suffix(".json"))
    except BaseException:
        for path in (*placed, Path(tmp_rows), Path(tmp_meta)):
            path.unlink(missing_ok=True)
        raise
    return item


def _temp(folder: Path, name: str) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    os.close(fd)
    return tmp


# --------------------------------------------------------------------------- the join


def load_feedback(workspace: Workspace, model: str, *, target: str | None = None,
                  hosts: Sequence[str] | None = None) -> FeedbackData:
    """Join the pulled predictions of ``model`` with every label that came for them.

    Parameters
    ----------
    workspace
        The open workspace.
    model
        The model's name.
    target
        The label column's name (default: the model's target).
    hosts
        Only rows served by these hosts (pulled predictions, and imported feature rows by
        their host column); labels of other hosts' predictions are left out of the report.

    Returns
    -------
    FeedbackData
        The rows (logged predictions and imported feature rows) with their labels, and the
        :class:`JoinReport`.
    """
    from modeldeck.core.deploy.pull import pulled_files

    registry = Registry(workspace)
    versions = registry.list_versions(registry.get_model(model).name)
    target = target or _target(versions)
    pulled: list[pd.DataFrame] = []
    elsewhere: set[str] = set()   # ids other hosts served: neither joined nor unknown
    for path in pulled_files(workspace, model):
        if hosts is None or path.stem in set(hosts):
            pulled.append(pd.read_parquet(path))
        else:
            elsewhere.update(pd.read_parquet(path, columns=[ID_COLUMN])[ID_COLUMN].tolist())
    logged = (pd.concat(pulled, ignore_index=True) if pulled
              else pd.DataFrame({ID_COLUMN: pd.Series([], dtype=object)}))
    if target not in logged.columns:
        logged[target] = pd.Series([None] * len(logged), dtype=object)
    logged[target] = logged[target].astype(object)
    logged["source"] = PULLED
    logged["label_source"] = logged[target].map(
        lambda v: PULLED if label_key(v) is not None else None).astype(object)
    if "ts" in logged.columns:
        logged["ts"] = pd.to_datetime(logged["ts"], utc=True, format="ISO8601")

    imports = list_imports(workspace, model)
    # Every label an id got, in precedence order: the pulled one, then imports oldest first.
    claims: dict[str, list[tuple[Any, str]]] = {}
    for pid, label in zip(logged[ID_COLUMN].tolist(), logged[target].tolist()):
        if label_key(label) is not None:
            claims.setdefault(pid, []).append((label, PULLED))
    feature_frames: list[pd.DataFrame] = []
    matcher = _RowMatcher(logged, versions)
    matched = 0
    for item in imports:
        stored = read_import(item)
        if item.kind == IDS:
            for pid, label in zip(stored[ID_COLUMN].tolist(), stored[target].tolist()):
                claims.setdefault(pid, []).append((label, f"import:{item.id}"))
        else:
            stored = stored.drop(columns=[ROW_COLUMN], errors="ignore")
            hostless = stored[HOST_COLUMN].isna().to_numpy()
            if hosts is not None:
                keep = stored[HOST_COLUMN].isin(list(hosts)).to_numpy() | hostless
                stored, hostless = stored.loc[keep], hostless[keep]
            # A row that was also served is that prediction's label, not a second row.
            pids = matcher.match(stored)
            for pid, label in zip(pids, stored[target].tolist()):
                if pid is not None:
                    claims.setdefault(pid, []).append((label, f"import:{item.id}"))
            own = np.array([p is None for p in pids], dtype=bool)
            matched += int((~own).sum())
            if hosts is not None:  # a row without a host is on these hosts if served there
                own &= ~hostless
            stored = stored.loc[own].copy()
            stored["source"] = f"import:{item.id}"
            stored["label_source"] = f"import:{item.id}"
            stored[target] = stored[target].astype(object)
            feature_frames.append(stored)

    known = set(logged[ID_COLUMN].tolist())
    duplicates: list[str] = []
    conflicts: list[LabelConflict] = []
    unknown: list[str] = []
    winner: dict[str, tuple[Any, str]] = {}
    for pid, got in claims.items():
        if pid not in known:
            if pid not in elsewhere:
                unknown.append(pid)
            continue
        winner[pid] = got[-1]
        if len(got) > 1:
            duplicates.append(pid)
            if len({label_key(label) for label, _ in got}) > 1:
                conflicts.append(LabelConflict(pid, tuple(label for label, _ in got),
                                               tuple(src for _, src in got)))
    if winner:
        position = {pid: i for i, pid in enumerate(logged[ID_COLUMN].tolist())}
        at = np.fromiter((position[p] for p in winner), dtype=np.int64, count=len(winner))
        labels = logged[target].to_numpy(dtype=object).copy()
        sources = logged["label_source"].to_numpy(dtype=object).copy()
        labels[at] = [v[0] for v in winner.values()]
        sources[at] = [v[1] for v in winner.values()]
        logged[target], logged["label_source"] = labels, sources
    has = logged[target].map(label_key).notna().to_numpy()
    from_pulled = int((logged["label_source"].to_numpy(dtype=object)[has] == PULLED).sum())
    rows = pd.concat([logged, *feature_frames], ignore_index=True) if feature_frames \
        else logged
    if "ts" in rows.columns:
        rows["ts"] = pd.to_datetime(rows["ts"], utc=True)
        rows = rows.sort_values("ts", kind="stable", na_position="last").reset_index(drop=True)
    join = JoinReport(
        model=model, predictions=len(logged), labeled=int(has.sum()),
        from_pulled=from_pulled, from_imports=int(has.sum()) - from_pulled,
        missing_ids=tuple(logged.loc[~has, ID_COLUMN].astype(str).tolist()),
        duplicate_ids=tuple(duplicates), conflicts=tuple(conflicts),
        unknown_ids=tuple(unknown),
        invalid_ids=tuple(p for p in unknown if parse_id(p) is None),
        feature_rows=sum(len(f) for f in feature_frames), imports=tuple(imports),
        matched_rows=matched)
    return FeedbackData(model, target, rows, join)


class _RowMatcher:
    """Finds the logged prediction an imported feature row is, by its inputs.

    A row matches a logged prediction with exactly the same values of the model's inputs
    (numbers compared as floats: ``5`` is ``5.0``; missing matches missing) and, when the
    row names its host, from that host. Each logged prediction is matched at most once, in
    time order, so a file with a row twice matches two predictions with those inputs (two
    records), and a row with no counterpart left stays a row of its own.
    """

    def __init__(self, logged: pd.DataFrame, versions: Sequence[VersionInfo]) -> None:
        self.logged = logged
        self.columns: list[str] = []
        # the newest version whose inputs the log has
        for info in reversed(versions):
            if info.feature_names and all(c in logged.columns for c in info.feature_names):
                self.columns = list(info.feature_names)
                break
        self.used = np.zeros(len(logged), dtype=bool)
        self.ids = logged[ID_COLUMN].to_numpy(dtype=object)
        self.hosts = (logged[HOST_COLUMN].to_numpy(dtype=object)
                      if HOST_COLUMN in logged.columns
                      else np.full(len(logged), None, dtype=object))
        self._table: dict[int, list[int]] | None = None

    def _positions(self) -> dict[int, list[int]]:
        """Logged row positions by the hash of their inputs, in time order (built once)."""
        if self._table is None:
            keys = _row_hashes(self.logged, self.columns, self.logged)
            order = (np.argsort(self.logged["ts"].to_numpy(), kind="stable")
                     if "ts" in self.logged.columns else np.arange(len(self.logged)))
            self._table = {}
            for at in order.tolist():
                self._table.setdefault(int(keys[at]), []).append(at)
        return self._table

    def match(self, rows: pd.DataFrame) -> list[str | None]:
        """The prediction id each of ``rows`` was logged as (``None``: not logged)."""
        if not self.columns or not all(c in rows.columns for c in self.columns):
            return [None] * len(rows)
        table = self._positions()
        keys = _row_hashes(rows, self.columns, self.logged)
        hosts = (rows[HOST_COLUMN].to_numpy(dtype=object) if HOST_COLUMN in rows.columns
                 else np.full(len(rows), None, dtype=object))
        out: list[str | None] = []
        for key, host in zip(keys.tolist(), hosts.tolist()):
            anywhere = host is None or pd.isna(host)
            found = next((at for at in table.get(int(key), ())
                          if not self.used[at] and (anywhere or self.hosts[at] == host)), None)
            if found is not None:
                self.used[found] = True
            out.append(None if found is None else str(self.ids[found]))
        return out


def _row_hashes(frame: pd.DataFrame, columns: list[str], logged: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's ``columns``, normalised as in ``logged``: numbers as
    floats, anything else as text, missing as missing."""
    parts = {}
    for c in columns:
        series = frame[c]
        if pd.api.types.is_numeric_dtype(logged[c]) and not pd.api.types.is_bool_dtype(
                logged[c]):
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
            parts[c] = np.where(values == 0, 0.0, values)   # -0.0 is 0.0
        else:
            parts[c] = np.array([None if v is None or (isinstance(v, float) and np.isnan(v))
                                 else str(v) for v in series.tolist()], dtype=object)
    normal = pd.DataFrame(parts)
    return pd.util.hash_pandas_object(normal, index=False).to_numpy()
