"""`modeldeck drift`: model-aware on the demo's week, model-free on any two files.

The demo's production days carry ``timestamp`` and ``host`` columns (two hosts); drift sets
in from day 4 in breast-cancer ('mean radius', 'mean texture', 'worst radius') and diabetes
('bmi', 's5'). Most runs skip the multivariate tests (--no-multivariate) to stay fast; one
run of each mode keeps them.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import as_json, ok, user_error

from modeldeck.core.cli import _WINDOWS, DRIFT_EXIT_CODE

DRIFTED = {"breast-cancer": {"mean radius", "mean texture", "worst radius"},
           "diabetes": {"bmi", "s5"}}
#: production is version 1, staging version 2 (breast-cancer:1 uses the 'mean …' features
#: only, so 'worst radius' is not among its inputs).
REFS = ("breast-cancer@production", "breast-cancer@staging", "diabetes@production",
        "diabetes@staging")


def _days(ws: Path, model: str, days: range) -> list[str]:
    args = []
    for day in days:
        args += ["--current", str(ws / "demo-data" / model / f"production-day-{day}.csv")]
    return args


@pytest.fixture
def two_csvs(tmp_path: Path) -> tuple[Path, Path]:
    """A reference and a current file: 'shift' moves by 1 sd, 'colour' changes its mix."""
    rng = np.random.default_rng(11)
    n = 500
    reference = pd.DataFrame({"shift": rng.normal(0, 1, n), "steady": rng.normal(0, 1, n),
                              "colour": rng.choice(["red", "blue"], n, p=[0.7, 0.3])})
    current = pd.DataFrame({"shift": rng.normal(1, 1, n), "steady": rng.normal(0, 1, n),
                            "colour": rng.choice(["red", "blue"], n, p=[0.3, 0.7])})
    paths = tmp_path / "reference.csv", tmp_path / "current.csv"
    reference.to_csv(paths[0], index=False)
    current.to_csv(paths[1], index=False)
    return paths


# -- model-aware, on the demo ---------------------------------------------------------------


@pytest.mark.parametrize("ref", REFS)
def test_the_undrifted_days_raise_no_alarm(invoke, demo_ws, ref):
    model = ref.split("@")[0]
    report = as_json(invoke("drift", ref, *_days(demo_ws, model, range(1, 4)),
                            "--no-multivariate", "--json", "-q", ws=demo_ws))
    assert report["drift"] is False, report["summary"]
    assert [f["name"] for f in report["features"] if f["drift"]] == []
    assert [w["window"] for w in report["windows"]] == ["2026-11-16", "2026-11-17",
                                                        "2026-11-18"]


@pytest.mark.parametrize("ref", REFS)
def test_the_drifted_features_are_flagged(invoke, demo_ws, ref):
    model = ref.split("@")[0]
    report = as_json(invoke("drift", ref, *_days(demo_ws, model, range(4, 8)),
                            "--no-multivariate", "--json", "-q", ws=demo_ws))
    assert report["drift"] is True
    statuses = {f["name"]: f["status"] for f in report["features"]}
    drifted = DRIFTED[model] & set(statuses)
    assert drifted == DRIFTED[model] or ref == "breast-cancer@production"
    for name in drifted:
        assert statuses[name] == "drift", (name, statuses[name])
    assert all(f["importance"] is not None for f in report["features"]), \
        "model-aware features carry the version's permutation importance"
    assert set(report["hosts"]) == {"edge-1", "edge-2"}
    assert report["advice"] and report["advice"][0]["rank"] == 1


def test_the_text_report_reads_top_down_and_writes_html(invoke, demo_ws, tmp_path):
    out = tmp_path / "report.html"
    pattern = demo_ws / "demo-data" / "breast-cancer" / "production-day-[4-7].csv"
    result = invoke("drift", "breast-cancer@production", "--current", pattern, "--html", out,
                    "--fail-on-drift", ws=demo_ws)
    assert result.exit_code == DRIFT_EXIT_CODE, (result.output, result.exception)
    text = result.stdout
    lines = text.splitlines()
    assert lines[0].startswith("DRIFT  4 files (800 rows) vs breast-cancer:1's reference")
    order = [text.index(h) for h in ("FEATURE", "multivariate", "Per window", "Per host",
                                     "Advice")]
    assert order == sorted(order)
    table = {line.split("  ")[0]: line for line in lines
             if line.startswith(tuple(DRIFTED["breast-cancer"]))}
    assert set(table) == {"mean radius", "mean texture"}  # version 1's inputs
    for line in table.values():
        assert " drift " in line, line
    assert "Performance per window" in text and "EST. ACCURACY" in text
    assert "→ " in text  # advice comes with its next step
    assert "[" in result.stderr and "Wrote the HTML report to" in result.stderr
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "http://" not in page
    parser = HTMLParser()
    parser.feed(page)
    for name in table:
        assert name in page
    assert 'id="performance"' in page and 'id="predictions"' in page
    # the model's outputs per window: a line each, and a chart per output in the page
    assert "Model outputs per window" in text and "PROBA_MALIGNANT" in text
    assert "drift of proba_malignant per window" in page


def test_outputs_per_window_in_json_and_text(invoke, demo_ws):
    days = _days(demo_ws, "breast-cancer", range(1, 8))
    report = as_json(invoke("drift", "breast-cancer@production", *days, "--no-multivariate",
                            "--json", "-q", ws=demo_ws))
    predictions = report["predictions"]
    assert predictions["drift"] is False and predictions["status"] == "ok"  # as before
    assert [o["name"] for o in predictions["overall"]] == ["predicted class",
                                                          "proba_malignant"]
    windows = predictions["windows"]
    assert [w["window"] for w in windows] == [f"2026-11-{d}" for d in range(16, 23)]
    assert [w["drift"] for w in windows] == [False] * 6 + [True]
    assert {"window", "rows", "drift", "outputs"} <= set(windows[0])
    assert {"name", "drift", "effect_size", "p_adjusted"} <= set(windows[0]["outputs"][0])
    assert predictions["since"] == "2026-11-22"
    assert [h["host"] for h in predictions["hosts"]] == ["edge-1", "edge-2"]
    outputs = next(a for a in report["advice"] if "outputs" in a["title"])
    assert "from day 2026-11-22 on" in outputs["title"] and outputs["window"] == "2026-11-22"

    text = ok(invoke("drift", "breast-cancer@production", *days, "--no-multivariate", "-q",
                     ws=demo_ws)).stdout
    lines = text.splitlines()
    start = lines.index(next(line for line in lines
                             if line.startswith("Model outputs per window")))
    assert lines[start + 1].split() == ["WINDOW", "ROWS", "OUTPUTS", "PREDICTED", "CLASS",
                                        "PROBA_MALIGNANT", "DRIFTED", "ON"]
    rows = lines[start + 2:start + 9]
    assert [r.split()[0] for r in rows] == [f"2026-11-{d}" for d in range(16, 23)]
    assert rows[-1].split()[2] == "drift" and "●" in rows[-1] and "edge-1" in rows[-1]
    assert all(r.split()[2] == "ok" for r in rows[:-1])
    assert "drifting since 2026-11-22" in text


def test_progress_goes_to_stderr_and_quiet_silences_it(invoke, two_csvs):
    reference, current = two_csvs
    loud = ok(invoke("drift", "--reference", reference, "--current", current,
                     "--no-multivariate"))
    quiet = ok(invoke("drift", "--reference", reference, "--current", current,
                      "--no-multivariate", "-q"))
    assert "%]" in loud.stderr and quiet.stderr == ""
    assert loud.stdout == quiet.stdout


# -- model-free -----------------------------------------------------------------------------


def test_any_two_files_without_a_workspace(invoke, two_csvs, tmp_path):
    reference, current = two_csvs
    result = ok(invoke("drift", "--reference", reference, "--current", current, "-q"))
    assert result.stdout.startswith("DRIFT  current.csv (500 rows) vs the reference data "
                                    "(500 rows)")
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()
            if line.split() and line.split()[0] in {"shift", "steady", "colour"}}
    assert rows == {"shift": "drift", "colour": "drift", "steady": "ok"}
    assert "multivariate  drift" in result.stdout
    assert not (tmp_path / "xdg-data" / "modeldeck").exists()  # no workspace was made


def test_json_shape(invoke, two_csvs):
    reference, current = two_csvs
    report = as_json(invoke("drift", "--reference", reference, "--current", current,
                            "--json", "-q", "--no-multivariate"))
    assert report["drift"] is True and report["model"] is None
    assert {"drift", "features", "multivariate", "advice", "windows", "summary",
            "thresholds"} <= set(report)
    assert report["multivariate"] is None  # --no-multivariate
    for f in report["features"]:
        assert {"name", "drift", "method", "statistic", "p_value", "effect_size", "status",
                "p_adjusted", "reason"} <= set(f)
        assert isinstance(f["drift"], bool)
    by_name = {f["name"]: f for f in report["features"]}
    assert by_name["shift"]["method"] == "ks_shift_spread" and by_name["colour"]["method"] == "chi2"
    assert by_name["shift"]["drift"] and not by_name["steady"]["drift"]
    assert report["advice"][0]["feature"] in {"shift", "colour"}
    assert {"severity", "title", "text", "action"} <= set(report["advice"][0])


def test_fail_on_drift_exits_0_without_drift(invoke, two_csvs):
    reference, _current = two_csvs
    result = invoke("drift", "--reference", reference, "--current", reference, "-q",
                    "--no-multivariate", "--fail-on-drift")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("NO DRIFT")


# -- bad input ------------------------------------------------------------------------------


def test_a_missing_current_file(invoke, two_csvs, tmp_path):
    reference, _current = two_csvs
    user_error(invoke("drift", "--reference", reference, "--current", tmp_path / "nope.csv"),
               "nope.csv")


def test_an_empty_current_file(invoke, two_csvs, tmp_path):
    reference, _current = two_csvs
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    user_error(invoke("drift", "--reference", reference, "--current", empty, "-q"),
               "empty.csv")
    header_only = tmp_path / "header.csv"
    header_only.write_text("shift,steady,colour\n", encoding="utf-8")
    user_error(invoke("drift", "--reference", reference, "--current", header_only, "-q"),
               "header.csv")


def test_a_column_missing_from_the_current_data(invoke, demo_ws, tmp_path):
    day = pd.read_csv(demo_ws / "demo-data" / "diabetes" / "production-day-2.csv")
    path = tmp_path / "no-bmi.csv"
    day.drop(columns=["bmi"]).to_csv(path, index=False)
    report = as_json(invoke("drift", "diabetes@production", "--current", path, "--json", "-q",
                            "--no-multivariate", ws=demo_ws))
    bmi = next(f for f in report["features"] if f["name"] == "bmi")
    assert bmi["status"] == "not_testable" and "missing" in bmi["reason"]
    assert bmi["drift"] is False and report["drift"] is False


def test_strings_in_a_numeric_column_are_a_quality_problem(invoke, two_csvs, tmp_path):
    reference, current = two_csvs
    frame = pd.read_csv(current).astype({"steady": object})
    frame.loc[:20, "steady"] = "n/a?"
    path = tmp_path / "strings.csv"
    frame.to_csv(path, index=False)
    report = as_json(invoke("drift", "--reference", reference, "--current", path, "--json",
                            "-q", "--no-multivariate"))
    steady = next(f for f in report["features"] if f["name"] == "steady")
    assert steady["drift"] is True and "invalid_values" in steady["quality_flags"]


@pytest.mark.parametrize("args, fragment", [
    (["no-such-model", "--current", "{day}"], "no-such-model"),
    (["diabetes@production", "--current", "{day}", "--time-column", "when"], "when"),
    (["diabetes@production", "--current", "{day}", "--html", "{tmp}/no/such/dir/r.html",
      "--no-multivariate"], "r.html"),
    (["diabetes@production", "--current", "{tmp}/day-*.csv"], "day-*.csv"),
])
def test_user_errors_are_one_line(invoke, demo_ws, tmp_path, args, fragment):
    day = demo_ws / "demo-data" / "diabetes" / "production-day-1.csv"
    argv = [a.format(day=day, tmp=tmp_path) for a in args]
    user_error(invoke("drift", *argv, "-q", ws=demo_ws), fragment)


@pytest.mark.parametrize("args", [
    ["--current", "x.csv"],                                   # neither REF nor --reference
    ["diabetes", "--reference", "r.csv", "--current", "x.csv"],  # both
    ["diabetes"],                                             # no --current
    ["diabetes", "--current", "x.csv", "--window", "month"],
])
def test_usage_errors(invoke, args):
    result = invoke("drift", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_window_choices_match_core():
    from modeldeck.core.drift.report import WINDOW_UNITS

    assert tuple(_WINDOWS) == tuple(WINDOW_UNITS)


def test_drift_thresholds_command(invoke, demo_ws):
    shown = invoke("drift-thresholds", "diabetes", ws=demo_ws)
    assert shown.exit_code == 0 and "wasserstein_sd" in shown.stdout
    assert "set for this model" not in shown.stdout
    changed = invoke("drift-thresholds", "diabetes", "wasserstein_sd=0.2", "--json", ws=demo_ws)
    assert changed.exit_code == 0, changed.output
    data = as_json(changed)
    assert data["own"] == {"wasserstein_sd": 0.2} and data["effective"]["wasserstein_sd"] == 0.2
    bad = invoke("drift-thresholds", "diabetes", "bogus=1", ws=demo_ws)
    assert bad.exit_code == 1 and "unknown drift threshold" in bad.stderr
    assert invoke("drift-thresholds", "diabetes", "wasserstein_sd", ws=demo_ws).exit_code == 2
    reset = invoke("drift-thresholds", "diabetes", "--reset", "--json", ws=demo_ws)
    assert as_json(reset)["own"] == {}


def test_drift_time_range(invoke, demo_ws):
    folder = demo_ws / "demo-data" / "breast-cancer"
    result = invoke("drift", "breast-cancer@production", "--current",
                    str(folder / "production-day-?.csv"), "--since", "2026-11-16",
                    "--until", "2026-11-19", "--no-multivariate", "--json", ws=demo_ws)
    data = as_json(result)
    assert [w["window"] for w in data["windows"]] == ["2026-11-16", "2026-11-17", "2026-11-18"]
    assert data["drift"] is False
    bad = invoke("drift", "breast-cancer@production", "--current",
                 str(folder / "production-day-1.csv"), "--since", "2031-01-01", ws=demo_ws)
    assert bad.exit_code == 1 and "time range" in bad.stderr
