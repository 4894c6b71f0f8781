"""The drift report on the demo: windows, hosts, model outputs, advice, JSON, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modeldeck.core.drift.report import analyze
from modeldeck.core.errors import DataError, InvalidInputError
from modeldeck.core.progress import run
from modeldeck.core.registry import Registry
from modeldeck.core.workspace import Workspace


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_template: Path):
    """Reports of both demo models over the week of production data (computed once)."""
    import shutil

    path = tmp_path_factory.mktemp("report") / "ws"
    shutil.copytree(demo_template, path)
    ws = Workspace.open(path, actor="carol")
    registry = Registry(ws)
    reports = {}
    for model in ("breast-cancer", "diabetes"):
        files = sorted((path / "demo-data" / model).glob("production-day-[0-9].csv"))
        reports[model] = run(analyze(files, registry=registry, ref=f"{model}@production",
                                     multivariate=False))
    yield path, registry, reports
    ws.close()


def test_windows_and_hosts_come_from_the_data(demo) -> None:
    _path, _registry, reports = demo
    report = reports["breast-cancer"]
    assert report.window_unit == "day"
    assert [w.label for w in report.windows] == [f"2026-11-{d}" for d in range(16, 23)]
    assert report.hosts == ("edge-1", "edge-2")
    assert [h.label for h in report.by_host] == ["edge-1", "edge-2"]
    assert len(report.cells) == 14
    assert sum(w.rows for w in report.windows) == report.overall.n_current == 1400
    # merging cells is exact: a window's counts equal the sum of its hosts' counts
    day = report.profiles[("2026-11-20", None)]
    cells = [report.profiles[("2026-11-20", h)] for h in report.hosts]
    name = "mean texture"
    assert (day.features[name].counts == sum(c.features[name].counts for c in cells)).all()


def test_undrifted_days_raise_no_alarm_and_drifted_days_do(demo) -> None:
    _path, _registry, reports = demo
    for model, moved in (("breast-cancer", {"mean texture", "mean radius"}),
                         ("diabetes", {"bmi", "s5"})):
        report = reports[model]
        assert [w.result.drift for w in report.windows[:3]] == [False, False, False], model
        for w in report.windows[4:]:
            assert moved <= set(w.result.drifted), (model, w.label, w.result.flagged)
        assert report.drift


def test_a_fault_on_one_host_is_told_apart(demo) -> None:
    _path, _registry, reports = demo
    advice = reports["breast-cancer"].advice
    fault = next(a for a in advice if a.feature == "mean smoothness")
    assert fault.host == "edge-2" and fault.severity == "action"
    assert "edge-2" in fault.action and "integration" in fault.action
    assert fault.window == "2026-11-21"
    everywhere = next(a for a in advice if a.feature == "mean texture")
    assert everywhere.host is None and "every host" in everywhere.text
    units = next(a for a in reports["diabetes"].advice if a.feature == "bp")
    assert units.host == "edge-1" and units.rank == 1
    assert [a.rank for a in advice] == list(range(1, len(advice) + 1))


def test_advice_weighs_importance(demo) -> None:
    _path, _registry, reports = demo
    report = reports["breast-cancer"]
    assert report.importance and all(v >= 0 for v in report.importance.values())
    for a in report.advice:
        if a.feature and a.severity == "info":
            assert "barely uses" in a.title
            assert report.importance[a.feature] < 0.02 * sum(report.importance.values())


def test_model_outputs_and_label_free_performance(demo) -> None:
    _path, registry, reports = demo
    report = reports["breast-cancer"]
    assert report.predictions is not None
    assert len(report.performance) == 7
    baseline = registry.get_version("breast-cancer@production").metrics["accuracy"]
    for point in report.performance:
        est = point.estimated
        assert est is not None and est.metric == "accuracy"
        assert est.low <= est.value <= est.high
        assert abs(est.value - baseline) < 0.15
    assert any("not scored" in n for n in report.notes)  # the NaN rows on edge-2
    assert reports["diabetes"].performance[0].estimated is None  # a regressor: no CBPE
    assert all(p.realized is None for p in report.performance)  # no labels in the files


def test_realized_performance_when_the_data_carries_labels(demo) -> None:
    path, registry, _reports = demo
    folder = path / "demo-data" / "diabetes"
    day = pd.read_csv(folder / "production-day-2.csv")
    day["progression"] = pd.read_csv(folder / "production-day-2.labels.csv")["progression"]
    report = run(analyze(day, registry=registry, ref="diabetes:1", multivariate=False))
    realized = report.performance[0].realized
    assert realized is not None and report.performance[0].rows == 200
    assert set(realized) == {"mae", "rmse", "r2"} and realized["r2"] > 0


def test_histograms_and_window_scores(demo) -> None:
    _path, _registry, reports = demo
    report = reports["diabetes"]
    hist = report.histogram("bmi")
    assert len(hist.labels) == len(hist.reference) == len(hist.current)
    assert sum(hist.reference) == pytest.approx(1.0) and sum(hist.current) == pytest.approx(1.0)
    assert hist.edges is not None and len(hist.edges) == len(hist.labels)  # + missing cell
    sex = report.histogram("sex", window="2026-11-22", host="edge-1")
    assert sex.kind == "categorical" and sex.labels[-2:] == ("(other)", "(missing)")
    scores = report.window_scores("bmi")
    assert [s[0] for s in scores] == [w.label for w in report.windows]
    assert scores[-1][1] > scores[0][1] and scores[-1][2]
    with pytest.raises(InvalidInputError, match="no data for window"):
        report.histogram("bmi", window="1999-01-01")


def test_json_shape(demo) -> None:
    _path, _registry, reports = demo
    data = json.loads(json.dumps(reports["breast-cancer"].to_dict()))
    assert isinstance(data["drift"], bool)
    for feature in data["features"]:
        assert {"name", "drift", "method", "statistic", "p_value", "effect_size",
                "importance"} <= set(feature)
    assert "multivariate" in data and data["advice"][0]["rank"] == 1
    assert len(data["windows"]) == 7 and data["hosts"] == ["edge-1", "edge-2"]


def test_model_free_files_are_windows(demo) -> None:
    path, _registry, _reports = demo
    folder = path / "demo-data" / "diabetes"
    files = [folder / "production-day-1.csv", folder / "production-day-7.csv"]
    report = run(analyze(files, reference=folder / "reference.csv", time_column=None,
                         multivariate=False))
    assert report.model is None and report.importance == {}
    assert report.window_unit == "day"  # the files carry a timestamp column
    # a production file as the reference: its time and host columns are not features
    same = run(analyze(files[1], reference=files[0], multivariate=False))
    assert {"timestamp", "host"}.isdisjoint(f.name for f in same.features)
    frames = [pd.read_csv(f).drop(columns=["timestamp"]) for f in files]
    by_file = run(analyze(frames, reference=folder / "reference.csv", multivariate=False))
    assert [w.label for w in by_file.windows] == ["current-1", "current-2"]
    files_as_windows = run(analyze(files, reference=folder / "reference.csv", window="file",
                                   multivariate=False))
    assert [w.label for w in files_as_windows.windows] == ["production-day-1",
                                                           "production-day-7"]
    assert not by_file.windows[0].result.drift and by_file.windows[1].result.drift


def test_hour_and_week_windows() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=500)})
    times = pd.date_range("2026-11-16T00:00Z", periods=300, freq="20min")
    cur = pd.DataFrame({"timestamp": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "x": rng.normal(size=300)})
    hourly = run(analyze(cur, reference=ref, window="hour", multivariate=False))
    assert len(hourly.windows) == 100 and hourly.windows[0].label == "2026-11-16 00:00"
    assert hourly.windows[0].end == "2026-11-16T01:00:00Z"
    weekly = run(analyze(cur, reference=ref, window="week", multivariate=False))
    assert [w.label for w in weekly.windows] == ["2026-W47"]


def test_bad_input_gives_statuses_or_clear_errors(demo, tmp_path: Path) -> None:
    path, registry, _reports = demo
    folder = path / "demo-data" / "breast-cancer"
    frame = pd.read_csv(folder / "production-day-1.csv").drop(columns=["mean radius"])
    report = run(analyze(frame, registry=registry, ref="breast-cancer:1", multivariate=False))
    assert report.feature("mean radius").status == "not_testable"
    assert any("lacks mean radius" in n for n in report.notes)
    with pytest.raises(InvalidInputError, match="not both"):
        run(analyze(frame, registry=registry, ref="breast-cancer:1", reference=frame))
    with pytest.raises(InvalidInputError, match="unknown window"):
        run(analyze(frame, reference=frame, window="month"))
    bad_time = pd.read_csv(folder / "production-day-1.csv")
    bad_time.loc[3, "timestamp"] = "yesterday"
    with pytest.raises(DataError, match="current-1, data row 4: 'yesterday'") as info:
        run(analyze(bad_time, registry=registry, ref="breast-cancer:1", multivariate=False))
    assert "ISO 8601" in info.value.fix
    with pytest.raises(DataError, match="no time column 'when'"):
        run(analyze(frame, reference=frame, time_column="when"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        run(analyze(tmp_path / "empty.csv", reference=frame))


def test_per_model_thresholds_are_stored_audited_and_used(demo) -> None:
    path, registry, reports = demo
    day7 = path / "demo-data" / "diabetes" / "production-day-7.csv"
    assert registry.drift_thresholds("diabetes") == {}
    own = registry.set_drift_thresholds("diabetes", {"wasserstein_sd": 5.0})
    try:
        assert own == {"wasserstein_sd": 5.0}
        entry = registry.ws.audit_log(limit=1)[0]
        assert entry.action == "model.drift-thresholds" and entry.subject == "diabetes"
        lenient = run(analyze(day7, registry=registry, ref="diabetes@production",
                              multivariate=False))
        assert lenient.thresholds.wasserstein_sd == 5.0
        assert "s5" not in lenient.overall.drifted  # a 5-sd bar: no distribution alarm
        assert lenient.predictions.thresholds.wasserstein_sd == 5.0  # outputs use it too
        with pytest.raises(InvalidInputError, match="unknown drift threshold"):
            registry.set_drift_thresholds("diabetes", {"bogus": 1})
        with Workspace.open(path, actor="bob") as as_reviewer:  # may not edit models
            from modeldeck.core.errors import PermissionDeniedError

            with pytest.raises(PermissionDeniedError):
                Registry(as_reviewer).set_drift_thresholds("diabetes", {"alpha": 0.01})
    finally:
        assert registry.set_drift_thresholds("diabetes", {}, reset=True) == {}
    strict = run(analyze(day7, registry=registry, ref="diabetes@production",
                         multivariate=False))
    assert "s5" in strict.overall.drifted


def test_time_range(demo) -> None:
    path, registry, _reports = demo
    files = sorted((path / "demo-data" / "diabetes").glob("production-day-[0-9].csv"))
    report = run(analyze(files, registry=registry, ref="diabetes:1", multivariate=False,
                         since="2026-11-18", until="2026-11-20T00:00:00Z"))
    assert [w.label for w in report.windows] == ["2026-11-18", "2026-11-19"]
    assert report.overall.n_current == 400 and not report.drift
    with pytest.raises(DataError, match="no current rows fall in the time range"):
        run(analyze(files, registry=registry, ref="diabetes:1", since="2030-01-01"))
    with pytest.raises(InvalidInputError, match="not after"):
        run(analyze(files, registry=registry, ref="diabetes:1", since="2026-11-20",
                    until="2026-11-19"))
    with pytest.raises(InvalidInputError, match="not a date"):
        run(analyze(files, registry=registry, ref="diabetes:1", since="last tuesday"))


# -- the model's outputs per window and host ------------------------------------------------


def test_outputs_drift_per_window_on_the_demo(demo) -> None:
    """Clean days keep the outputs in place; the days the demo drifts move them.

    breast-cancer: the drifted size features push the malignancy score up enough to flag
    the last day only (over all windows together the outputs do not flag). diabetes: the
    unit change of 'bp' on edge-1 (from day 5) pulls the predictions down there, the
    growing 'bmi' and 's5' push them up on edge-2 (from day 6).
    """
    _path, _registry, reports = demo
    cancer = reports["breast-cancer"]
    assert [v.window for v in cancer.prediction_windows] == [w.label for w in cancer.windows]
    assert [v.rows for v in cancer.prediction_windows][:5] == [200] * 5  # all scored
    assert [v.flagged for v in cancer.prediction_windows] == [False] * 6 + [True]
    assert not cancer.predictions.flagged  # all windows together hide it
    assert cancer.predictions_since() == "2026-11-22"
    last = cancer.prediction_windows[-1].result
    assert last.output("proba_malignant").flagged
    assert [o.name for o in last.outputs] == ["predicted class", "proba_malignant"]
    scores = cancer.prediction_scores("proba_malignant")
    assert [s[0] for s in scores] == [w.label for w in cancer.windows]
    assert scores[-1][2] and scores[-1][1] > cancer.thresholds.wasserstein_sd

    diabetes = reports["diabetes"]
    assert not any(v.flagged for v in diabetes.prediction_windows[:4])
    assert diabetes.prediction_windows[4].flagged  # day 5: the unit change sets in
    assert [h.host for h in diabetes.prediction_hosts] == ["edge-1", "edge-2"]
    assert len(diabetes.prediction_cells) == 14
    assert not any(c.flagged for c in diabetes.prediction_cells if c.window < "2026-11-19")
    assert diabetes.predictions_since("edge-1") == "2026-11-20"
    assert diabetes.predictions_since("edge-2") == "2026-11-21"
    edge1 = [v.result.scores.current_mean for v in diabetes.prediction_views("edge-1")]
    edge2 = [v.result.scores.current_mean for v in diabetes.prediction_views("edge-2")]
    assert edge1[-1] < edge1[0] and edge2[-1] > edge2[0]  # opposite directions


def test_outputs_are_one_bh_family_per_window(demo) -> None:
    """As a window's features are: each window adjusts over its own outputs only."""
    from modeldeck.core.drift.stats import benjamini_hochberg

    _path, _registry, reports = demo
    for view in reports["breast-cancer"].prediction_windows:
        outputs = view.result.outputs
        raw = [o.p_value for o in outputs]
        assert [o.p_adjusted for o in outputs] == pytest.approx(
            benjamini_hochberg(raw).tolist())
        for o in outputs:
            assert o.flagged == (o.effect_size >= o.effect_threshold
                                 and o.p_adjusted <= view.result.thresholds.alpha)


def test_outputs_advice_says_since_when(demo) -> None:
    _path, _registry, reports = demo
    cancer = next(a for a in reports["breast-cancer"].advice if "outputs" in a.title)
    assert cancer.title == "The model's outputs shifted from day 2026-11-22 on"
    assert cancer.window == "2026-11-22" and cancer.feature is None
    assert "proba_malignant" in cancer.text and "moved up" in cancer.text
    diabetes = next(a for a in reports["diabetes"].advice if "outputs" in a.title)
    assert "in opposite directions" in diabetes.title
    assert "on edge-1 the predicted values moved down" in diabetes.text.lower()
    assert "from day 2026-11-20 on" in diabetes.text
    assert "edge-2" in diabetes.text and "from day 2026-11-21 on" in diabetes.text
    assert diabetes.window == "2026-11-20"


def test_outputs_advice_on_a_past_episode(demo) -> None:
    """Outputs that moved in one window and came back say so, in one readable sentence."""
    from dataclasses import replace

    from modeldeck.core.drift.report import _outputs_finding

    _path, _registry, reports = demo
    cancer = reports["breast-cancer"]
    calm = replace(cancer.prediction_windows[0], window="2026-11-23")
    later = replace(cancer, prediction_windows=cancer.prediction_windows + (calm,),
                    hosts=(), prediction_cells=())
    assert later.predictions_since() is None
    finding = _outputs_finding(later)
    assert finding["title"] == "The model's outputs shifted on 2026-11-22"
    assert finding["window"] == "2026-11-22"
    assert finding["text"].startswith("The scores (proba_malignant) moved up (mean ")
    assert "on 2026-11-22)." in finding["text"]
    assert "back in line with the holdout's in the latest window" in finding["text"]
    assert finding["text"].endswith("Over all windows merged the change is too small to flag.")


def test_outputs_json(demo) -> None:
    _path, _registry, reports = demo
    data = json.loads(json.dumps(reports["diabetes"].to_dict()))["predictions"]
    # the overall comparison's keys stay where they were
    assert {"drift", "task", "status", "summary", "class_mix", "scores"} <= set(data)
    assert [o["name"] for o in data["overall"]] == ["prediction"]
    assert {"name", "drift", "method", "statistic", "p_value", "p_adjusted", "effect_size",
            "effect_threshold"} <= set(data["overall"][0])
    assert len(data["windows"]) == 7 and data["windows"][4]["drift"] is True
    assert data["windows"][0]["window"] == "2026-11-16"
    assert data["windows"][0]["outputs"][0]["name"] == "prediction"
    assert data["since"] is None
    assert [(h["host"], h["since"]) for h in data["hosts"]] == [
        ("edge-1", "2026-11-20"), ("edge-2", "2026-11-21")]
    assert len(data["cells"]) == 14


def test_a_changed_correlation_alone_is_drift_for_the_report() -> None:
    # Both columns keep exactly their values; only how they pair up changes (0.8 -> -0.8):
    # no feature drifts, the report's verdict still says drift and why.
    rng = np.random.default_rng(3)
    n = 1500
    x = rng.normal(size=n)
    reference = pd.DataFrame({"x": x, "y": 0.8 * x + 0.6 * rng.normal(size=n),
                              "z": rng.normal(size=n)})
    target = -0.8 * reference["x"].to_numpy() + 0.6 * rng.normal(size=n)
    current = reference.copy()
    current["y"] = np.sort(reference["y"].to_numpy())[np.argsort(np.argsort(target))]
    report = run(analyze(current, reference=reference, time_column=None))
    assert not report.overall.drift and report.joint_drift and report.drift
    assert report.summary().startswith("Drift detected: the joint distribution changed")
    assert report.multivariate.correlations.flagged
    joint = next(a for a in report.advice if a.title == "The joint distribution changed")
    # the text says what the detectors saw, without repeating the title
    assert joint.text[:1].isupper() and joint.text.endswith(".")
    assert "joint distribution changed" not in joint.text.lower()
    assert report.to_dict()["drift"] is True
    from modeldeck.core.drift.html import render_html
    assert "Pairs whose rank correlation changed: x and y 0." in render_html(report)
    quiet = run(analyze(current, reference=reference, time_column=None, multivariate=False))
    assert not quiet.drift and quiet.summary().startswith("No relevant drift")


def test_windows_are_named_as_a_sentence_reads_them() -> None:
    from modeldeck.core.drift.report import _in_windows

    assert _in_windows("day", ["2026-11-22"]) == "on 2026-11-22"
    assert _in_windows("week", ["2026-W47"]) == "in week 2026-W47"
    assert _in_windows("hour", ["2026-11-22 13:00", "2026-11-22 14:00"]) == (
        "in the hours 2026-11-22 13:00, 2026-11-22 14:00")
    assert _in_windows(None, ["production-day-5"]) == "in production-day-5"
    many = [f"2026-11-{d}" for d in range(20, 27)]
    assert _in_windows("day", many) == (
        "on 2026-11-20, 2026-11-21, 2026-11-22, 2026-11-23, 2026-11-24 and 2 more")
