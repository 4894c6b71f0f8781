"""compare_profiles: the flagging rule, the verdict, the result objects."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modeldeck.core.drift import (
    DriftResult,
    DriftThresholds,
    build_reference,
    compare_frames,
    compare_profiles,
    profile_frame,
)
from modeldeck.core.drift.stats import STATUSES, benjamini_hochberg, cauchy_combination
from modeldeck.core.errors import DataError


def _data(n: int, rng: np.random.Generator, shift: float = 0.0,
          probs: tuple[float, ...] = (0.5, 0.3, 0.2)) -> pd.DataFrame:
    return pd.DataFrame({
        "a": rng.normal(shift, 1.0, n),
        "b": rng.lognormal(0.0, 0.5, n),
        "c": rng.integers(0, 5, n),
        "cat": rng.choice(["x", "y", "z"], size=n, p=list(probs)),
    })


def _json(result: DriftResult) -> dict:
    # allow_nan=False: the JSON form never holds NaN or infinity.
    return json.loads(json.dumps(result.to_dict(), allow_nan=False))


def test_no_drift_no_flag() -> None:
    rng = np.random.default_rng(0)
    result = compare_frames(_data(3000, rng), _data(3000, rng))
    assert not result.drift
    assert result.flagged == ()
    assert {f.status for f in result.features} == {"ok"}
    assert "no relevant drift in 4 tested features" in result.summary


def test_a_real_shift_is_flagged_with_every_number() -> None:
    rng = np.random.default_rng(1)
    result = compare_frames(_data(3000, rng), _data(3000, rng, shift=0.5))
    assert result.drift
    assert result.flagged == ("a",)
    a = result.feature("a")
    assert a.status == "drift" and a.flagged and a.relevant and a.significant
    assert a.method == "ks_shift_spread" and a.statistic == a.binned_ks_statistic
    assert a.p_value == pytest.approx(cauchy_combination(
        [a.binned_ks_p_value, a.location_p_value, a.scale_p_value]))
    assert a.location_z > 5 and a.dataset_p_value == a.p_value
    assert a.wasserstein_sd == pytest.approx(0.5, abs=0.06)
    assert a.mean_shift_sd == pytest.approx(0.5, abs=0.06)
    assert a.effect_size == a.wasserstein_sd
    assert a.p_adjusted is not None and a.p_adjusted < 1e-10
    for name in ("psi", "js_distance", "binned_ks_statistic", "binned_ks_p_value",
                 "ks_statistic", "ks_p_value", "chi2_statistic", "chi2_p_value", "sd_ratio"):
        assert getattr(a, name) is not None, name
    assert "distribution changed" in a.reason
    # Unflagged features still carry all their numbers.
    b = result.feature("b")
    assert b.status == "ok" and b.ks_p_value is not None and b.wasserstein_sd is not None


def test_a_change_of_spread_ks_misses_is_flagged() -> None:
    """500 rows a side, ×1.3 spread: the binned KS barely moves (the two cumulative shares
    cross in the middle), the spread rank test does."""
    rng = np.random.default_rng(3)
    ref = _data(500, rng)
    cur = _data(500, rng)
    cur["a"] = rng.normal(0.0, 1.3, 500)
    result = compare_frames(ref, cur)
    a = result.feature("a")
    assert a.binned_ks_p_value > 0.01 and a.scale_p_value < 1e-4 and a.scale_z > 0
    assert a.status == "drift" and result.flagged == ("a",)
    assert "shift/spread/KS test p = " in a.reason


def test_tiny_shift_on_many_rows_is_significant_but_not_relevant() -> None:
    rng = np.random.default_rng(2)
    ref = _data(50_000, rng)
    cur = _data(500_000, rng, shift=0.03)
    result = compare_frames(ref, cur)
    a = result.feature("a")
    assert a.significant and not a.relevant
    assert a.status == "ok" and not result.drift
    assert "negligible" in a.reason


def test_noise_on_few_rows_is_not_significant() -> None:
    rng = np.random.default_rng(3)
    result = compare_frames(_data(300, rng), _data(40, rng))
    assert not result.drift
    assert any(f.relevant and not f.significant for f in result.features)
    noisy = next(f for f in result.features if f.relevant and not f.significant)
    assert "within the noise" in noisy.reason


def test_categorical_frequency_change_is_a_two_sample_chi2() -> None:
    rng = np.random.default_rng(4)
    result = compare_frames(_data(4000, rng), _data(4000, rng, probs=(0.4, 0.3, 0.3)))
    cat = result.feature("cat")
    assert cat.status == "drift"
    assert cat.method == "chi2" and cat.chi2_dof == 2
    assert cat.effect_size == cat.js_distance and cat.js_distance >= 0.05
    assert result.flagged == ("cat",)


def test_adjusted_p_values_are_benjamini_hochberg_over_all_tests() -> None:
    rng = np.random.default_rng(5)
    result = compare_frames(_data(2000, rng), _data(2000, rng, shift=0.2))
    # The family: one distribution test per feature and every quality check with
    # something to count (here: a few values beyond the reference range) unless its
    # relevance bar settles it: 10 % of 2000 values past a 2000-row reference's range
    # would have p ~ 1e-200, so such a check keeps its own p-value, outside the family.
    raw = [f.p_value for f in result.features]
    adjusted = [f.p_adjusted for f in result.features]
    checks = [q for f in result.features for q in f.quality if q.p_adjusted is not None]
    assert checks and all(q.name == "out_of_range" and q.current_count > 0 for q in checks)
    assert all(q.p_adjusted == q.p_value for q in checks)
    np.testing.assert_allclose(adjusted, benjamini_hochberg(raw), rtol=1e-12)

    # On 40 rows a side the bar (4 values) is not beyond doubt (p ~ 0.3): the out-of-range
    # checks with something to count are in the family.
    small = compare_frames(_data(40, rng), _data(40, rng, shift=0.2))
    raw = [f.p_value for f in small.features]
    adjusted = [f.p_adjusted for f in small.features]
    checks = [q for f in small.features for q in f.quality if q.p_adjusted is not None]
    assert checks and all(q.name == "out_of_range" for q in checks)
    raw += [q.p_value for q in checks]
    adjusted += [q.p_adjusted for q in checks]
    np.testing.assert_allclose(adjusted, benjamini_hochberg(raw), rtol=1e-12)
    # Checks with nothing to count (no missing value anywhere) are not in the family.
    assert all(q.p_adjusted is None for f in result.features for q in f.quality
               if q.name == "missing_rate")


def test_thresholds_are_per_model() -> None:
    rng = np.random.default_rng(6)
    ref, cur = _data(5000, rng), _data(5000, rng, shift=0.15)
    assert compare_frames(ref, cur).drift
    strict = DriftThresholds(wasserstein_sd=0.3)
    result = compare_frames(ref, cur, thresholds=strict)
    assert not result.drift
    assert result.thresholds == strict
    two = DriftThresholds(dataset_min_flagged=2)
    assert not compare_frames(ref, cur, thresholds=two).drift


def test_profiles_of_another_spec_are_refused() -> None:
    rng = np.random.default_rng(7)
    _, ref = build_reference(_data(100, rng))
    spec2, _ = build_reference(_data(100, rng))
    with pytest.raises(DataError, match="another reference spec"):
        compare_profiles(ref, profile_frame(spec2, _data(100, rng)))


def test_merged_host_profiles_compare_like_the_whole() -> None:
    rng = np.random.default_rng(8)
    spec, ref = build_reference(_data(2000, rng))
    cur = _data(3000, rng, shift=0.3)
    parts = [profile_frame(spec, cur.iloc[i::3], host=f"h{i}", seed=i) for i in range(3)]
    merged = parts[0].merge(parts[1]).merge(parts[2])
    whole = compare_profiles(ref, profile_frame(spec, cur, seed=9))
    split = compare_profiles(ref, merged)
    assert split.hosts == ("h0", "h1", "h2")
    assert split.flagged == whole.flagged == ("a",)
    # The binned test and the bins' statistics use every row: identical.
    for f, g in zip(split.features, whole.features):
        assert f.binned_ks_p_value == g.binned_ks_p_value
        assert f.psi == g.psi and f.chi2_statistic == g.chi2_statistic


def test_to_dict_has_the_cli_fields_and_no_nan() -> None:
    rng = np.random.default_rng(9)
    data = _json(compare_frames(_data(500, rng), _data(500, rng, shift=0.6)))
    assert data["drift"] is True
    assert isinstance(data["features"], list)
    for feature in data["features"]:
        for key in ("name", "drift", "method", "statistic", "p_value", "effect_size",
                    "status", "reason", "quality"):
            assert key in feature
        assert feature["status"] in STATUSES
    assert [f["name"] for f in data["features"] if f["drift"]] == ["a"]
    assert data["thresholds"]["wasserstein_sd"] == DriftThresholds().wasserstein_sd
