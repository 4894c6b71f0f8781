"""Realized performance from labels, next to the drift engine's estimated performance.

:func:`feedback_report` joins a model's labels to its logged predictions
(:func:`~modeldeck.core.feedback.labels.load_feedback`) and runs the drift engine's
:func:`~modeldeck.core.drift.report.analyze` on the rows — over all hosts and once per host
— so the realized metrics (from the labels) and the estimated ones (label-free, from the
calibrated holdout probabilities) of each window come from the same code as in
``modeldeck drift``, for the same windows. Both score the rows with the version asked
for: the realized numbers say how *that* version does on what production saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from modeldeck.core.drift.report import analyze
from modeldeck.core.errors import DataError
from modeldeck.core.feedback.labels import HOST_COLUMN, JoinReport, load_feedback, scorable
from modeldeck.core.progress import CancelToken, Operation, ProgressEvent, scaled
from modeldeck.core.registry import Registry
from modeldeck.core.workspace import Workspace

#: Window units a feedback report can use.
WINDOWS = ("hour", "day", "week")
#: How rows without a host are shown (imported feature rows without a host column).
NO_HOST = "(no host)"


@dataclass(frozen=True)
class WindowPerformance:
    """Realized and estimated performance of a version in one window (on one host).

    Attributes
    ----------
    window
        The window's label (``2026-11-22``, ``2026-11-22 14:00``, ``2026-W47``).
    host
        The host, or ``None`` for all hosts together.
    start, end
        ISO 8601 bounds of the window.
    rows
        Rows the version scored in the window.
    labeled
        Of the scored rows, those with a label (the realized metrics' rows).
    realized
        Metrics from the labels (``None`` without labeled rows).
    estimated
        The label-free estimate (:class:`~modeldeck.core.drift.performance.Estimate`;
        ``None`` for regressors or without holdout probabilities).
    """

    window: str
    host: str | None
    start: str | None
    end: str | None
    rows: int
    labeled: int
    realized: dict[str, float] | None
    estimated: Any | None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"window": self.window, "host": self.host, "start": self.start,
                "end": self.end, "rows": self.rows, "labeled": self.labeled,
                "realized": self.realized,
                "estimated": self.estimated.to_dict() if self.estimated is not None else None}


@dataclass(frozen=True)
class FeedbackReport:
    """The join of labels to predictions and the performance per window and host.

    Attributes
    ----------
    ref
        The version scored (``name:N``).
    window_unit
        ``hour``, ``day`` or ``week``.
    join
        How labels met predictions (:class:`~modeldeck.core.feedback.labels.JoinReport`).
    windows
        Per window over all hosts, in time order.
    cells
        Per window and host (each host's windows in time order).
    hosts
        The hosts seen.
    notes
        What could not be used, and why.
    """

    ref: str
    window_unit: str
    join: JoinReport
    windows: tuple[WindowPerformance, ...]
    cells: tuple[WindowPerformance, ...]
    hosts: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"ref": self.ref, "window_unit": self.window_unit, "join": self.join.to_dict(),
                "windows": [w.to_dict() for w in self.windows],
                "cells": [c.to_dict() for c in self.cells], "hosts": list(self.hosts),
                "notes": list(self.notes)}


def feedback_report(workspace: Workspace, ref: str, *, window: str = "day",
                    since: str | datetime | None = None, until: str | datetime | None = None,
                    hosts: Sequence[str] | None = None, cancel: CancelToken | None = None
                    ) -> Operation[FeedbackReport]:
    """Join the labels of ``ref``'s model and measure ``ref`` per window and host.

    A generator operation (progress events, cancel between steps).

    Parameters
    ----------
    workspace
        The open workspace.
    ref
        The version to measure (``NAME``, ``NAME:N``, ``NAME@ALIAS``).
    window
        ``hour``, ``day`` or ``week``.
    since, until
        Only rows served in ``[since, until)`` (ISO 8601 or datetimes).
    hosts
        Only rows served by these hosts.
    cancel
        Checked between steps.

    Raises
    ------
    DataError
        Nothing was pulled or imported for the model, or no row has a time.
    """
    cancel = cancel or CancelToken()
    if window not in WINDOWS:
        raise DataError(f"unknown window '{window}'", f"use one of: {', '.join(WINDOWS)}")
    registry = Registry(workspace)
    version = registry.get_version(ref)
    yield ProgressEvent("joining", 0.02, "joining labels to logged predictions")
    data = load_feedback(workspace, version.model, target=version.target, hosts=hosts)
    rows = data.rows
    notes: list[str] = []
    if rows.empty:
        raise DataError(f"no production rows of {version.model} in the workspace",
                        "pull them from the hosts (`modeldeck pull`) or import labeled rows "
                        "(`modeldeck feedback import MODEL FILE`)")
    timeless = rows["ts"].isna().to_numpy() if "ts" in rows.columns \
        else np.ones(len(rows), dtype=bool)
    if timeless.any():
        notes.append(f"{int(timeless.sum())} imported rows have no time and are in no window")
        rows = rows.loc[~timeless]
    if rows.empty:
        raise DataError("no production row has a time, so none falls in a window",
                        "import feature rows with a time column (--time-column)")
    rows = rows.assign(**{HOST_COLUMN: rows[HOST_COLUMN].astype(object).where(
        rows[HOST_COLUMN].notna(), NO_HOST)}) if HOST_COLUMN in rows.columns \
        else rows.assign(**{HOST_COLUMN: NO_HOST})
    cancel.check()
    hosts_seen = tuple(sorted(set(rows[HOST_COLUMN].tolist())))
    views: list[tuple[str | None, pd.DataFrame]] = [(None, rows)]
    views += [(h, rows.loc[(rows[HOST_COLUMN] == h).to_numpy()]) for h in hosts_seen]
    windows: list[WindowPerformance] = []
    cells: list[WindowPerformance] = []
    for i, (host, part) in enumerate(views):
        cancel.check()
        span = (0.05 + 0.9 * i / len(views), 0.05 + 0.9 * (i + 1) / len(views))
        yield ProgressEvent("measuring", span[0], f"measuring {version.ref} on "
                                                  f"{host or 'all hosts'}")
        try:
            # without its host column: the views per host are made here, with performance
            report = yield from scaled(analyze(
                part.drop(columns=[HOST_COLUMN]), registry=registry, ref=version.ref,
                time_column="ts", window=window, multivariate=False, since=since,
                until=until, cancel=cancel), *span)
        except DataError as exc:
            if host is None:
                raise
            notes.append(f"{host}: {exc.message}")
            continue
        if host is None:
            notes.extend(report.notes)
        points = _points(report, part, data.target, host, scorable(part, version))
        (windows if host is None else cells).extend(points)
    yield ProgressEvent("done", 1.0, data.join.summary())
    return FeedbackReport(version.ref, window, data.join, tuple(windows), tuple(cells),
                          hosts_seen, tuple(dict.fromkeys(notes)))


def _points(report: Any, rows: pd.DataFrame, target: str, host: str | None,
            scored: np.ndarray) -> list[WindowPerformance]:
    """One :class:`WindowPerformance` per window of an ``analyze`` report (``scored``: the
    rows the version could score)."""
    times = pd.to_datetime(rows["ts"], utc=True)
    labeled = rows[target].notna().to_numpy() & scored
    bounds = {w.label: (w.start, w.end) for w in report.windows}
    out = []
    for point in report.performance:
        start, end = bounds.get(point.window, (None, None))
        inside = np.ones(len(rows), dtype=bool)
        if start is not None and end is not None:
            inside = ((times >= pd.Timestamp(start)) & (times < pd.Timestamp(end))).to_numpy()
        out.append(WindowPerformance(point.window, host, start, end, point.rows,
                                     int((inside & labeled).sum()), point.realized,
                                     point.estimated))
    return out
