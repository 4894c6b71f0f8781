"""Every bad input of the drift issue gives a clear per-feature status, never a crash or NaN."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modeldeck.core.drift import (
    DriftResult,
    FeatureDrift,
    build_reference,
    compare_profiles,
    empty_profile,
    profile_frame,
)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 2000
    return pd.DataFrame({
        "x": rng.normal(0.0, 1.0, n),
        "y": rng.normal(5.0, 2.0, n),
        "const": np.full(n, 7.0),
        "color": rng.choice(["red", "green", "blue"], size=n),
    })


def _compare(reference: pd.DataFrame, current: pd.DataFrame) -> DriftResult:
    _, ref = build_reference(reference)
    result = compare_profiles(ref, profile_frame(ref.spec, current, seed=1))
    json.dumps(result.to_dict(), allow_nan=False)  # never NaN, never infinity
    return result


def _current(reference: pd.DataFrame, **columns: object) -> pd.DataFrame:
    rng = np.random.default_rng(12)
    frame = reference.sample(n=1000, random_state=3).reset_index(drop=True).copy()
    frame["x"] = rng.normal(0.0, 1.0, 1000)
    for name, values in columns.items():
        frame[name] = values
    return frame


def _check(feature: FeatureDrift, status: str, text: str) -> None:
    assert feature.status == status, feature.reason
    assert text in feature.reason
    assert feature.reason  # always a sentence


def test_missing_column(reference: pd.DataFrame) -> None:
    result = _compare(reference, _current(reference).drop(columns=["y"]))
    _check(result.feature("y"), "not_testable", "column missing from the current data")
    assert result.not_testable == ("y", "const")  # const: constant in the reference
    assert result.feature("x").status == "ok"
    assert not result.drift


def test_column_missing_from_one_host_only(reference: pd.DataFrame) -> None:
    _, ref = build_reference(reference)
    cur = _current(reference)
    good = profile_frame(ref.spec, cur.iloc[:800], host="a", seed=1)
    bad = profile_frame(ref.spec, cur.iloc[800:].drop(columns=["y"]), host="b", seed=2)
    y = compare_profiles(ref, good.merge(bad)).feature("y")
    _check(y, "quality", "column absent from 200 of 1000 rows")
    assert "absent_column" in y.quality_flags


def test_extra_column_is_listed_and_ignored(reference: pd.DataFrame) -> None:
    result = _compare(reference, _current(reference, surprise=np.arange(1000)))
    assert result.extra_columns == ("surprise",)
    assert [f.name for f in result.features] == ["x", "y", "const", "color"]
    assert not result.drift


def test_strings_in_a_numeric_column(reference: pd.DataFrame) -> None:
    words = np.array(["n/a"] * 1000, dtype=object)
    result = _compare(reference, _current(reference, y=words))
    _check(result.feature("y"), "quality", "not numbers")
    assert "strings in a numeric column: 1000 of 1000 values are not numbers" in \
        result.feature("y").reason
    some = np.round(np.random.default_rng(1).normal(5, 2, 1000), 3).astype(object)
    some[:5] = "oops"
    y = _compare(reference, _current(reference, y=some)).feature("y")
    _check(y, "quality", "5 value(s) that are not numbers")
    assert y.quality_flags == ("invalid_values",)
    assert y.p_value is not None  # the remaining numbers are still compared


def test_all_nan_column(reference: pd.DataFrame) -> None:
    result = _compare(reference, _current(reference, y=np.full(1000, np.nan)))
    y = result.feature("y")
    _check(y, "quality", "missing values 0.0% → 100.0%")
    assert "all values missing in the current data" in y.reason
    assert y.p_value is None and y.wasserstein_sd is None
    # One row, missing, where the reference misses 30 %: no significant change of the
    # missing rate (Fisher), and nothing to compare: a clear status all the same.
    gappy = reference.copy()
    gappy.loc[gappy.index[:600], "y"] = np.nan
    tiny = _compare(gappy, _current(reference, y=np.full(1000, np.nan)).iloc[:1])
    _check(tiny.feature("y"), "not_testable", "all values missing in the current data")


def test_all_nan_reference_column() -> None:
    frame = pd.DataFrame({"x": np.arange(100.0), "gone": np.full(100, np.nan)})
    result = _compare(frame, frame)
    _check(result.feature("gone"), "not_testable", "no finite value in the reference data")
    assert result.feature("gone").kind == "unsupported"


def test_constant_reference_column(reference: pd.DataFrame) -> None:
    same = _compare(reference, _current(reference)).feature("const")
    _check(same, "not_testable", "constant in the reference (always 7)")
    moved = np.full(1000, 7.0)
    moved[:300] = 8.0
    changed = _compare(reference, _current(reference, const=moved)).feature("const")
    _check(changed, "quality", "30.0% of values outside the reference range")
    # settled by its relevance (10 % of 1000 rows past the range: p far below 1e-6), the
    # check flags on its own p-value, outside the features' family
    outside = next(q for q in changed.quality if q.name == "out_of_range")
    assert outside.flagged and outside.p_adjusted == outside.p_value < 1e-6


def test_empty_window(reference: pd.DataFrame) -> None:
    result = _compare(reference, _current(reference).iloc[:0])
    assert result.n_current == 0 and not result.drift
    assert {f.status for f in result.features} == {"not_testable"}
    assert all("empty window" in f.reason for f in result.features)
    assert result.summary == "the current data is empty: nothing to compare"
    _, ref = build_reference(reference)
    again = compare_profiles(ref, empty_profile(ref.spec))
    assert again.not_testable == ("x", "y", "const", "color")


def test_unseen_categories(reference: pd.DataFrame) -> None:
    colors = np.where(np.arange(1000) < 100, "purple", "red").astype(object)
    colors[100::2] = "green"
    color = _compare(reference, _current(reference, color=colors)).feature("color")
    assert color.flagged
    assert "unseen_categories" in color.quality_flags
    check = next(q for q in color.quality if q.name == "unseen_categories")
    assert check.current_count == 100 and check.current_rate == pytest.approx(0.1)
    assert "10.0% of values in categories the reference never had" in color.reason
    # A handful of unseen values among many: below the 0.5 % threshold, no alarm.
    few = _current(reference)
    few.loc[:2, "color"] = "purple"
    assert _compare(reference, few).feature("color").status == "ok"


def test_infinities(reference: pd.DataFrame) -> None:
    x = np.random.default_rng(2).normal(0, 1, 1000)
    x[:3] = np.inf
    x[3] = -np.inf
    feature = _compare(reference, _current(reference, x=x)).feature("x")
    _check(feature, "quality", "4 infinite value(s)")
    assert feature.quality_flags == ("infinities",)
    assert feature.wasserstein_sd is not None  # computed on the finite values


def test_only_infinities(reference: pd.DataFrame) -> None:
    feature = _compare(reference, _current(reference, x=np.full(1000, np.inf))).feature("x")
    _check(feature, "quality", "only infinite values in the current data")


def test_too_few_values(reference: pd.DataFrame) -> None:
    feature = _compare(reference, _current(reference).iloc[:4]).feature("x")
    _check(feature, "not_testable", "too few values to compare")


def test_missing_rate_jump_is_its_own_test(reference: pd.DataFrame) -> None:
    y = np.random.default_rng(3).normal(5.0, 2.0, 1000)
    y[:150] = np.nan
    feature = _compare(reference, _current(reference, y=y)).feature("y")
    _check(feature, "quality", "missing values 0.0% → 15.0%")
    check = next(q for q in feature.quality if q.name == "missing_rate")
    assert check.flagged and check.p_adjusted is not None and check.p_adjusted < 1e-10
    assert check.effect == pytest.approx(0.15)
