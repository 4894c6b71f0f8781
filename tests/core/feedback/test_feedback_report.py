"""Realized metrics per window and host, next to the drift engine's estimate."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from feedback_helpers import MODEL

from modeldeck.core.errors import Cancelled, DataError
from modeldeck.core.feedback import feedback_report, import_labels
from modeldeck.core.progress import CancelToken, ProgressEvent, run
from modeldeck.core.workspace import Workspace


def test_realized_per_window_and_host(demo_ws: Workspace, served: Callable) -> None:
    logs = served(range(1, 8), labeled_days=range(1, 8), label_share=0.8, seed=1)
    events: list[ProgressEvent] = []
    report = run(feedback_report(demo_ws, f"{MODEL}@production"), events.append)
    assert events[-1].step == "done" and events[-1].fraction == 1.0
    assert report.ref == f"{MODEL}:1" and report.hosts == ("edge-1", "edge-2")
    assert [w.window for w in report.windows] == [f"2026-11-{d}" for d in range(16, 23)]
    assert {(c.window, c.host) for c in report.cells} == {
        (f"2026-11-{d}", h) for d in range(16, 23) for h in ("edge-1", "edge-2")}

    # The logged predictions are the production version's own: its realized accuracy
    # per window and host is the share of logged predictions equal to the label.
    rows = pd.concat(logs.values(), ignore_index=True)
    rows["day"] = rows["ts"].dt.strftime("%Y-%m-%d")
    for point in [*report.windows, *report.cells]:
        part = rows.loc[(rows["day"] == point.window).to_numpy()
                        & (rows["host"] == point.host if point.host else True)]
        labeled = part.loc[part["label"].notna()]
        assert point.rows == len(part)
        assert point.labeled == len(labeled)
        assert point.realized["accuracy"] == pytest.approx(
            float((labeled["prediction"] == labeled["label"]).mean()))
        assert point.estimated is not None and point.estimated.metric == "accuracy"
        assert point.estimated.low <= point.estimated.value <= point.estimated.high

    # The drift from day 4 shows in the realized numbers, and the estimate follows it.
    by_day = {w.window: w for w in report.windows}
    clean = np.mean([by_day[f"2026-11-{d}"].realized["accuracy"] for d in (16, 17, 18)])
    assert by_day["2026-11-22"].realized["accuracy"] < clean - 0.05
    assert by_day["2026-11-22"].estimated.value < np.mean(
        [by_day[f"2026-11-{d}"].estimated.value for d in (16, 17, 18)])
    data = report.to_dict()
    assert data["join"]["labeled"] == int(rows["label"].notna().sum())
    assert len(data["cells"]) == 14


def test_report_of_imported_feature_rows_and_notes(demo_ws: Workspace) -> None:
    folder = demo_ws.path / "demo-data" / MODEL
    for day in (6, 7):
        import_labels(demo_ws, MODEL, folder / f"production-day-{day}.csv",
                      labels=folder / f"production-day-{day}.labels.csv")
    # a feature row file without times counts, but falls in no window
    timeless = pd.read_csv(folder / "production-day-5.csv").drop(columns=["timestamp"])
    timeless["diagnosis"] = pd.read_csv(folder / "production-day-5.labels.csv")["diagnosis"]
    import_labels(demo_ws, MODEL, timeless)
    report = run(feedback_report(demo_ws, f"{MODEL}:1", window="week"))
    assert report.join.feature_rows == 600 and report.join.predictions == 0
    assert [w.window for w in report.windows] == ["2026-W47"]
    week = report.windows[0]
    # v1 needs 'mean smoothness', which edge-2 lost on some rows of days 6-7
    day6, day7 = (pd.read_csv(folder / f"production-day-{d}.csv") for d in (6, 7))
    complete = sum(int(d["mean smoothness"].notna().sum()) for d in (day6, day7))
    assert week.rows == week.labeled == complete < 400
    assert any("no time" in n for n in report.notes)
    assert any("missing model inputs" in n for n in report.notes)


def test_report_needs_rows_and_can_be_cancelled(demo_ws: Workspace, served: Callable) -> None:
    with pytest.raises(DataError, match="no production rows"):
        run(feedback_report(demo_ws, f"{MODEL}@production"))
    served(range(1, 3))
    token = CancelToken()
    op = feedback_report(demo_ws, f"{MODEL}@production", cancel=token)
    next(op)
    token.cancel()
    with pytest.raises(Cancelled):
        run(op)
