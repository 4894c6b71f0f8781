"""`modeldeck feedback import|imports|report`, `retrain` and `challenger` on the demo.

The demo's production days come with their labels in separate files (a ``row`` column);
imported as labeled feature rows they are the production labels of the loop: the report
shows realized next to estimated accuracy per day and host, and the retrained candidate
must beat the production version on the held-out, most drifted day.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from cli_helpers import as_json, ok, user_error

from modeldeck.core.cli_feedback import _WINDOWS
from modeldeck.core.feedback.report import WINDOWS

MODEL = "breast-cancer"


def _import_days(invoke, ws: Path, days: range) -> None:
    folder = ws / "demo-data" / MODEL
    for day in days:
        out = ok(invoke("feedback", "import", MODEL, folder / f"production-day-{day}.csv",
                        "--labels", folder / f"production-day-{day}.labels.csv", ws=ws))
        assert "Imported 200 labeled feature rows" in out.stdout


def test_windows_match_core() -> None:
    assert _WINDOWS == WINDOWS


def test_import_report_and_lists(invoke, demo_ws: Path, tmp_path: Path) -> None:
    _import_days(invoke, demo_ws, range(1, 8))
    folder = demo_ws / "demo-data" / MODEL
    again = ok(invoke("feedback", "import", MODEL, folder / "production-day-7.csv",
                      "--labels", folder / "production-day-7.labels.csv", ws=demo_ws))
    assert "already imported" in again.stdout
    imports = as_json(invoke("feedback", "imports", MODEL, "--json", ws=demo_ws))
    assert [i["source"] for i in imports] == [f"production-day-{d}.csv" for d in range(1, 8)]

    # ids that name no logged prediction: stored, counted and listed
    ids = tmp_path / "ids.csv"
    pd.DataFrame({"prediction_id": ["0123456789ab-1", "0123456789ab-2"],
                  "diagnosis": ["benign", "malignant"]}).to_csv(ids, index=False)
    out = ok(invoke("feedback", "import", MODEL, ids, ws=demo_ws)).stdout
    assert "Imported 2 prediction ids + labels" in out
    listed = ok(invoke("feedback", "report", f"{MODEL}@production", "--list", "unknown",
                       ws=demo_ws)).stdout.split()
    assert listed == ["0123456789ab-1", "0123456789ab-2"]

    text = ok(invoke("feedback", "report", f"{MODEL}@production", "-q", ws=demo_ws)).stdout
    assert "unknown ids           2" in text
    assert "REALIZED ACCURACY" in text and "EST. ACCURACY" in text
    assert "Per host" in text and "edge-2" in text

    report = as_json(invoke("feedback", "report", f"{MODEL}@production", "--json",
                            ws=demo_ws))
    assert report["join"]["feature_rows"] == 1400 and report["join"]["unknown"] == 2
    assert [w["window"] for w in report["windows"]] == [f"2026-11-{d}" for d in range(16, 23)]
    assert len(report["cells"]) == 14
    first, last = report["windows"][0], report["windows"][-1]
    assert last["realized"]["accuracy"] < first["realized"]["accuracy"]
    assert all(w["estimated"]["metric"] == "accuracy" for w in report["windows"])


def test_retrain_and_challenger(invoke, demo_ws: Path) -> None:
    _import_days(invoke, demo_ws, range(1, 8))
    training = demo_ws / "demo-data" / MODEL / "reference.csv"
    result = as_json(invoke("retrain", f"{MODEL}@production", "--with-feedback",
                            "--training", training, "--json", ws=demo_ws))
    assert (result["parent"], result["version"]) == (f"{MODEL}:1", f"{MODEL}:3")
    assert result["held_out"] == "2026-11-22"
    ch = result["challenger"]
    assert ch["winner"] == f"{MODEL}:3" and not ch["in_training"]
    accuracy = {m["name"]: m for m in ch["metrics"]}["accuracy"]
    assert accuracy["candidate"] > accuracy["champion"] + 0.05
    assert result["candidate"]["status"] in ("awaiting-approval", "gates-failed")
    assert set(result["fingerprints"]) >= {"training:reference", "training:feedback"}

    text = ok(invoke("challenger", f"{MODEL}:3", ws=demo_ws)).stdout
    assert "Challenger on 2026-11-22" in text
    assert f"{MODEL}:3 does better on accuracy" in text
    shown = ok(invoke("show", f"{MODEL}:3", ws=demo_ws)).stdout
    assert "training:feedback" in shown and f"parent         {MODEL}:1" in shown

    # a second retrain, from the retrained version: no training file needed, text output
    text = ok(invoke("retrain", f"{MODEL}:3", "--with-feedback", "--since", "2026-11-19",
                     "--no-candidate", "-q", ws=demo_ws)).stdout
    assert f"Registered {MODEL}:4" in text and "before --since" in text


def test_errors_say_what_to_do(invoke, demo_ws: Path, tmp_path: Path) -> None:
    user_error(invoke("retrain", f"{MODEL}@production", "--with-feedback", ws=demo_ws),
               "no labeled production rows")
    user_error(invoke("feedback", "report", f"{MODEL}@production", ws=demo_ws),
               "no production rows", "modeldeck feedback import")
    user_error(invoke("feedback", "import", "nope", tmp_path / "x.csv", ws=demo_ws))
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(bad, index=False)
    user_error(invoke("feedback", "import", MODEL, bad, ws=demo_ws), "no label column")
    user_error(invoke("challenger", f"{MODEL}:2", ws=demo_ws), "no labeled production rows")
