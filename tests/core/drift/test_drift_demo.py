"""The drift engine on the demo's week of production data.

The demo drifts breast-cancer's 'mean radius', 'mean texture', 'worst radius' and diabetes'
'bmi', 's5' a few percent more each day from day 4 on every host, and adds one fault on
one host: breast-cancer's 'mean smoothness' loses values on edge-2 from day 6, diabetes'
'bp' changes units on edge-1 from day 5. Days 1-3 are clean.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from modeldeck.core.drift import DriftResult, build_reference, compare_profiles, profile_frame
from modeldeck.core.registry import Registry
from modeldeck.core.workspace import Workspace

#: feature -> (first flagged day, expected status)
EXPECTED = {
    "breast-cancer": {"mean radius": (5, "drift"), "mean texture": (5, "drift"),
                      "worst radius": (5, "drift"), "mean smoothness": (6, "quality")},
    "diabetes": {"bmi": (5, "drift"), "s5": (5, "drift"), "bp": (5, "drift")},
}
#: The features that drift a little more each day (the others are one-off host faults).
GROWING = {"breast-cancer": ("mean radius", "mean texture", "worst radius"),
           "diabetes": ("bmi", "s5")}
VERSIONS = ("breast-cancer:1", "breast-cancer:2", "diabetes:1", "diabetes:2")


@pytest.fixture(scope="module")
def results(demo_template: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> dict[tuple[str, int], DriftResult]:
    """Every version × day, against the version's stored reference sample."""
    path = tmp_path_factory.mktemp("drift-demo") / "ws"
    shutil.copytree(demo_template, path)
    out = {}
    with Workspace.open(path) as ws:
        registry = Registry(ws)
        for ref in VERSIONS:
            info = registry.get_version(ref)
            spec, reference = build_reference(registry.load_reference_sample(info),
                                              info.schema)
            for day in range(1, 8):
                frame = pd.read_csv(path / "demo-data" / info.model
                                    / f"production-day-{day}.csv")
                out[(ref, day)] = compare_profiles(
                    reference, profile_frame(spec, frame, seed=day))
    return out


def _expected(ref: str, result: DriftResult, day: int) -> dict[str, str]:
    names = {f.name for f in result.features}
    return {name: status for name, (first, status) in EXPECTED[ref.split(":")[0]].items()
            if name in names and day >= first}


@pytest.mark.parametrize("ref", VERSIONS)
@pytest.mark.parametrize("day", [1, 2, 3])
def test_clean_days_raise_no_alarm(results: dict, ref: str, day: int) -> None:
    result = results[(ref, day)]
    assert not result.drift, result.summary
    assert {f.status for f in result.features} <= {"ok", "not_testable"}


@pytest.mark.parametrize("ref", VERSIONS)
@pytest.mark.parametrize("day", [5, 6, 7])
def test_drifted_features_and_only_they_are_flagged(results: dict, ref: str,
                                                    day: int) -> None:
    result = results[(ref, day)]
    expected = _expected(ref, result, day)
    assert result.drift
    assert {f.name: f.status for f in result.features if f.flagged} == expected, \
        result.summary


def test_host_faults_are_told_apart_from_drift(results: dict) -> None:
    smoothness = results[("breast-cancer:2", 6)].feature("mean smoothness")
    assert smoothness.quality_flags == ("missing_rate",)
    assert "missing values 0.0% →" in smoothness.reason
    bp = results[("diabetes:1", 5)].feature("bp")
    assert bp.status == "drift" and "out_of_range" in bp.quality_flags
    assert bp.mean_shift_sd is not None and bp.mean_shift_sd < -1


def test_host_and_timestamp_columns_are_extra(results: dict) -> None:
    assert results[("diabetes:1", 1)].extra_columns == ("host", "timestamp")


@pytest.mark.parametrize("ref", VERSIONS)
def test_drift_grows_day_by_day(results: dict, ref: str) -> None:
    for name in GROWING[ref.split(":")[0]]:
        try:
            shifts = [results[(ref, day)].feature(name).mean_shift_sd for day in (5, 7)]
        except KeyError:
            continue  # version 1 of breast-cancer uses the "mean" features only
        assert shifts[0] is not None and shifts[1] is not None
        assert abs(shifts[1]) > abs(shifts[0]) > 0.2
