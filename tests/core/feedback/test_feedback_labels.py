"""Label imports and their join to logged predictions: nothing is dropped silently."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from feedback_helpers import MODEL, demo_day

from modeldeck.core.errors import DataError, NotFoundError, PermissionDeniedError
from modeldeck.core.feedback import feedback_folder, import_labels, list_imports, load_feedback
from modeldeck.core.workspace import Workspace


def _audit_actions(ws: Workspace) -> list[str]:
    return [e.action for e in ws.audit_log(limit=None)]


def test_ids_missing_duplicate_conflicting_unknown(demo_ws: Workspace, served: Callable,
                                                   tmp_path: Path) -> None:
    # Days 1-2 served on both hosts; half of day 1 labeled through the hosts' endpoint.
    logs = served(range(1, 3), labeled_days=[1], label_share=0.5, seed=3)
    rows = pd.concat(logs.values(), ignore_index=True)
    pulled_labeled = rows.loc[rows["label"].notna()]
    unlabeled = rows.loc[rows["label"].isna()]
    assert len(pulled_labeled) > 50 and len(unlabeled) > 200

    same = pulled_labeled.iloc[:5]             # labeled again, same label: duplicates
    flipped = pulled_labeled.iloc[5:8]         # labeled again, other label: conflicts
    fresh = unlabeled.iloc[:40]                # labeled for the first time
    unknown = ["0123456789ab-7", "0123456789ab-8", "not-an-id"]
    other = {"benign": "malignant", "malignant": "benign"}
    first = pd.DataFrame({
        "prediction_id": [*same["prediction_id"], *flipped["prediction_id"],
                          *fresh["prediction_id"], *unknown, fresh["prediction_id"].iloc[0]],
        "diagnosis": [*same["true_label"], *(other[v] for v in flipped["true_label"]),
                      *fresh["true_label"], "benign", "benign", "benign", None],
    })
    path = tmp_path / "labels.csv"
    first.to_csv(path, index=False)
    item = import_labels(demo_ws, MODEL, path)
    assert (item.kind, item.rows, item.empty, item.invalid_ids) == ("ids", 51, 1, 1)

    # A second file relabels one fresh id differently: the later import wins.
    relabel = fresh.iloc[[1]]
    second = pd.DataFrame({"request": relabel["prediction_id"],
                           "truth": [other[relabel["true_label"].iloc[0]]]})
    import_labels(demo_ws, MODEL, second, id_column="request", label_column="truth")

    data = load_feedback(demo_ws, MODEL)
    join = data.join
    assert join.predictions == len(rows)
    assert join.labeled == len(pulled_labeled) + len(fresh)
    assert join.from_pulled == len(pulled_labeled) - len(same) - len(flipped)
    assert join.from_imports == len(same) + len(flipped) + len(fresh)
    assert join.missing == len(unlabeled) - len(fresh)
    assert set(join.ids("missing")) == set(unlabeled["prediction_id"].iloc[40:])
    assert set(join.duplicate_ids) == {*same["prediction_id"], *flipped["prediction_id"],
                                       relabel["prediction_id"].iloc[0]}
    conflicts = {c.prediction_id: c for c in join.conflicts}
    assert set(conflicts) == {*flipped["prediction_id"], relabel["prediction_id"].iloc[0]}
    pid = flipped["prediction_id"].iloc[0]
    assert conflicts[pid].sources[0] == "pulled"
    assert conflicts[pid].sources[1] == f"import:{item.id}"
    assert conflicts[pid].chosen == other[flipped["true_label"].iloc[0]]
    assert set(join.unknown_ids) == set(unknown) and join.invalid_ids == ("not-an-id",)
    assert "3 unknown ids" in join.summary()

    # the chosen labels are the ones in the joined rows
    labels = data.rows.set_index("prediction_id")["diagnosis"]
    assert labels[pid] == conflicts[pid].chosen
    assert labels[relabel["prediction_id"].iloc[0]] == other[relabel["true_label"].iloc[0]]
    assert labels[same["prediction_id"].iloc[0]] == same["true_label"].iloc[0]


def test_unknown_ids_join_once_pulled(demo_ws: Workspace, served: Callable,
                                      tmp_path: Path) -> None:
    """Labels for predictions not pulled yet are kept and join after the next pull."""
    logs = served(range(1, 2))
    edge1 = logs["edge-1"]
    # pretend only edge-2 had been pulled: drop edge-1's file, import labels for it
    (demo_ws.path / "pulled" / MODEL / "edge-1.parquet").rename(tmp_path / "edge-1.parquet")
    import_labels(demo_ws, MODEL, edge1[["prediction_id", "true_label"]],
                  label_column="true_label")
    assert load_feedback(demo_ws, MODEL).join.unknown == len(edge1)
    (tmp_path / "edge-1.parquet").rename(demo_ws.path / "pulled" / MODEL / "edge-1.parquet")
    join = load_feedback(demo_ws, MODEL).join
    assert (join.unknown, join.labeled) == (0, len(edge1))
    # seen from edge-2 alone, edge-1's labels are neither joined nor unknown
    only = load_feedback(demo_ws, MODEL, hosts=["edge-2"])
    assert (only.join.predictions, only.join.labeled, only.join.unknown) == (
        len(logs["edge-2"]), 0, 0)
    assert set(only.rows["host"]) == {"edge-2"}


def test_feature_rows_with_separate_labels(demo_ws: Workspace) -> None:
    folder = demo_ws.path / "demo-data" / MODEL
    item = import_labels(demo_ws, MODEL, folder / "production-day-5.csv",
                         labels=folder / "production-day-5.labels.csv")
    assert (item.kind, item.rows, item.empty) == ("rows", 200, 0)
    data = load_feedback(demo_ws, MODEL)
    assert data.join.feature_rows == 200 and data.join.predictions == 0
    day = demo_day(demo_ws.path, 5)
    rows = data.rows
    assert rows["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist() == day["timestamp"].tolist()
    assert rows["host"].tolist() == day["host"].tolist()
    assert rows["diagnosis"].tolist() == day["diagnosis"].tolist()
    assert rows["mean radius"].tolist() == day["mean radius"].tolist()

    # labels in order, no row column; some rows unlabeled: counted, not stored
    features = pd.read_csv(folder / "production-day-6.csv")
    labels = pd.read_csv(folder / "production-day-6.labels.csv")[["diagnosis"]]
    labels.loc[:9, "diagnosis"] = None
    item = import_labels(demo_ws, MODEL, features, labels=labels)
    assert (item.rows, item.empty) == (190, 10)
    assert load_feedback(demo_ws, MODEL).join.feature_rows == 390


def test_feature_rows_that_were_served_count_once(demo_ws: Workspace, served: Callable
                                                 ) -> None:
    """A labeled file of rows that the hosts also served (and partly labeled by id) joins
    those predictions by their inputs: every production record counts once."""
    logs = served(range(1, 3), labeled_days=[1], label_share=0.5, seed=5)
    logged = pd.concat(logs.values(), ignore_index=True)
    pulled_labeled = int(logged["label"].notna().sum())
    assert 0 < pulled_labeled < len(logged)

    day1, day2 = demo_day(demo_ws.path, 1), demo_day(demo_ws.path, 2)
    # Day 1 as a feature file without its host column (ints where the log has floats, a
    # few flipped labels: conflicts with the pulled ones); day 2 with its hosts, one row
    # claiming the wrong host, and a row nobody served.
    first = day1.drop(columns=["host"])
    first["mean radius"] = first["mean radius"].astype(object)
    first.loc[0, "mean radius"] = float(first.loc[0, "mean radius"])
    import_labels(demo_ws, MODEL, first)
    second = day2.copy()
    wrong = second.index[second["host"] == "edge-1"][0]
    second.loc[wrong, "host"] = "edge-2"
    extra = second.iloc[[1]].copy()
    extra["mean radius"] = extra["mean radius"] + 1000.0
    extra["host"] = "edge-1"
    import_labels(demo_ws, MODEL, pd.concat([second, extra], ignore_index=True))

    data = load_feedback(demo_ws, MODEL)
    join = data.join
    features = [c for c in day1.columns if c not in {"timestamp", "host", "diagnosis"}]
    scorable = day1[features].notna().all(axis=1).sum() + day2[features].notna().all(
        axis=1).sum()
    assert join.predictions == len(logged) == scorable
    # every logged prediction matched but the one whose file row names another host
    assert join.matched_rows == len(logged) - 1
    assert join.feature_rows == len(day1) + len(day2) - join.matched_rows + 1
    assert join.labeled == len(logged) - 1 and join.missing == 1
    assert join.duplicates == pulled_labeled and not join.conflicts
    # each record once; the row that names another host and the unserved row are rows
    # of their own (the logged prediction the first was stays unlabeled)
    assert len(data.rows) == len(logged) + 2
    assert len(data.labeled()) == len(logged) - 1 + 2
    assert "were logged predictions" in join.summary()
    assert json.loads(json.dumps(join.to_dict()))["matched_rows"] == join.matched_rows

    # Seen from edge-1: day 1's rows (no host) are edge-1's where edge-1 served them; the
    # other host's rows neither match nor stay; the unserved row names edge-1.
    only = load_feedback(demo_ws, MODEL, hosts=["edge-1"])
    assert only.join.predictions == len(logs["edge-1"])
    assert only.join.matched_rows == len(logs["edge-1"]) - 1 and only.join.missing == 1
    assert set(only.rows["host"]) == {"edge-1"}
    assert len(only.rows) == len(logs["edge-1"]) + 1


def test_import_is_atomic_audited_and_idempotent(demo_ws: Workspace) -> None:
    day = demo_day(demo_ws.path, 7)
    before = len(demo_ws.audit_log(limit=None))
    item = import_labels(demo_ws, MODEL, day)
    files = sorted(p.name for p in feedback_folder(demo_ws, MODEL).iterdir())
    assert files == [f"{item.id}.json", f"{item.id}.parquet"]   # no temp files left
    meta = json.loads((feedback_folder(demo_ws, MODEL) / f"{item.id}.json").read_text())
    assert meta["sha256"] == item.sha256 and meta["actor"] == demo_ws.identity.name
    entry = demo_ws.audit_log(limit=1)[0]
    assert (entry.action, entry.subject) == ("feedback.import", MODEL)
    assert entry.payload["rows"] == 200 and entry.payload["sha256"] == item.sha256
    assert demo_ws.verify_audit().ok

    again = import_labels(demo_ws, MODEL, day.copy())
    assert again.already and again.id == item.id
    assert len(demo_ws.audit_log(limit=None)) == before + 1
    assert [i.id for i in list_imports(demo_ws, MODEL)] == [item.id]


def test_failed_audit_leaves_no_files(demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch
                                      ) -> None:
    from modeldeck.core.workspace import audit

    def broken(*_a: object, **_k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(audit, "append", broken)
    with pytest.raises(OSError):
        import_labels(demo_ws, MODEL, demo_day(demo_ws.path, 7))
    assert list(feedback_folder(demo_ws, MODEL).iterdir()) == []
    assert list_imports(demo_ws, MODEL) == []


def test_bad_imports_say_why(demo_ws: Workspace, tmp_path: Path) -> None:
    day = demo_day(demo_ws.path, 7)
    with pytest.raises(DataError, match="no label column 'diagnosis'"):
        import_labels(demo_ws, MODEL, day.drop(columns=["diagnosis"]))
    with pytest.raises(DataError, match="lacks 30 input column"):
        import_labels(demo_ws, MODEL, day[["timestamp", "diagnosis"]])
    with pytest.raises(DataError, match="no prediction id column 'rid'"):
        import_labels(demo_ws, MODEL, day, id_column="rid")
    bad_time = day.assign(timestamp="yesterday")
    with pytest.raises(DataError, match="not times"):
        import_labels(demo_ws, MODEL, bad_time)
    labels = pd.DataFrame({"row": [1, 999], "diagnosis": ["benign", "benign"]})
    with pytest.raises(DataError, match="not row numbers"):
        import_labels(demo_ws, MODEL, day.drop(columns=["diagnosis"]), labels=labels)
    with pytest.raises(NotFoundError):
        import_labels(demo_ws, "no-such-model", day)
    with pytest.raises(PermissionDeniedError):
        import_labels(demo_ws.as_user("bob"), MODEL, day)   # a reviewer
    assert not feedback_folder(demo_ws, MODEL).exists() or \
        list(feedback_folder(demo_ws, MODEL).iterdir()) == []
    assert "feedback.import" not in _audit_actions(demo_ws)
