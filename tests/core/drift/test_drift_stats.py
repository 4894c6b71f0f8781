"""Exact values of the drift statistics against scipy and hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modeldeck.core.drift import DriftThresholds
from modeldeck.core.drift.stats import (
    benjamini_hochberg,
    binned_ks,
    chi2_two_sample,
    excess_test,
    missing_rate_test,
    js_distance,
    ks_two_sample,
    out_of_range_test,
    psi,
    two_proportion_test,
    wasserstein_sd,
)
from modeldeck.core.errors import InvalidInputError


def test_psi_by_hand() -> None:
    ref, cur = [50, 30, 20], [40, 30, 30]
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.3, 0.3])
    expected = (0.4 - 0.5) * math.log(0.4 / 0.5) + 0 + (0.3 - 0.2) * math.log(0.3 / 0.2)
    assert psi(ref, cur) == pytest.approx(expected, rel=1e-12)
    assert psi(p, q) == pytest.approx(0.0628, abs=1e-4)
    assert psi(ref, ref) == 0.0
    # An empty cell is floored at 1e-4, so PSI stays finite.
    assert psi([10, 0], [5, 5]) == pytest.approx(
        (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - 1e-4) * math.log(0.5 / 1e-4), rel=1e-12)
    with pytest.raises(ValueError):
        psi([0, 0], [1, 1])


def test_js_distance_matches_scipy() -> None:
    ref, cur = np.array([10, 20, 30, 40.0]), np.array([40, 30, 20, 10.0])
    assert js_distance(ref, cur) == pytest.approx(
        jensenshannon(ref / ref.sum(), cur / cur.sum(), base=2), rel=1e-12)
    # By hand: disjoint supports are as far apart as can be (1 in base 2).
    assert js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert js_distance([3, 3], [1, 1]) == 0.0


@pytest.mark.parametrize("ref, cur", [
    ([10, 20, 30], [20, 20, 20]),
    ([120, 80], [90, 110]),              # 2 x 2: Yates' correction, as scipy applies it
    ([5, 0, 7, 9], [3, 0, 12, 4]),       # a cell empty on both sides is dropped
    ([1000, 2000, 3000, 0], [900, 2100, 2900, 15]),
])
def test_chi2_matches_chi2_contingency(ref: list[int], cur: list[int]) -> None:
    table = np.array([ref, cur])
    table = table[:, table.sum(axis=0) > 0]
    expected = stats.chi2_contingency(table)
    stat, p, dof = chi2_two_sample(ref, cur)
    assert stat == pytest.approx(expected.statistic, rel=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)
    assert dof == expected.dof


def test_chi2_by_hand_and_degenerate_tables() -> None:
    # Table [[10, 30], [30, 10]] without the 2x2 correction would be 20; with Yates
    # |O - E| = 10 - 0.5 per cell: 4 * 9.5**2 / 20 = 18.05.
    stat, p, dof = chi2_two_sample([10, 30], [30, 10])
    assert stat == pytest.approx(18.05)
    assert dof == 1
    assert p == pytest.approx(stats.chi2.sf(18.05, 1))
    assert chi2_two_sample([5, 0], [7, 0]) == (0.0, 1.0, 0)
    assert chi2_two_sample([0, 0], [7, 3]) == (0.0, 1.0, 0)


def test_ks_matches_ks_2samp() -> None:
    rng = np.random.default_rng(0)
    small_a, small_b = rng.normal(size=300), rng.normal(0.2, size=250)
    big_a, big_b = rng.normal(size=6000), rng.normal(0.05, size=5000)
    for a, b in ((small_a, small_b), (big_a, big_b)):
        method = "auto" if max(a.size, b.size) <= 2000 else "asymp"
        expected = stats.ks_2samp(a, b, method=method)
        stat, p = ks_two_sample(a, b)
        assert stat == pytest.approx(expected.statistic, abs=1e-12)
        assert p == pytest.approx(expected.pvalue, rel=1e-9)
    # By hand: {1, 2, 3} vs {4, 5, 6}: the ECDFs are 1 apart at 3.
    assert ks_two_sample(np.array([1.0, 2, 3]), np.array([4.0, 5, 6]))[0] == 1.0


def test_wasserstein_matches_scipy_in_sd_units() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=4000), rng.exponential(size=3000)
    assert wasserstein_sd(a, b, 2.0) == pytest.approx(
        stats.wasserstein_distance(a, b) / 2.0, rel=1e-12)
    # By hand: shifting every value by 3 moves the distribution by 3 (= 1.5 sd of 2).
    assert wasserstein_sd(a, a + 3.0, 2.0) == pytest.approx(1.5)


def test_binned_ks_equals_ks_2samp_when_every_value_has_its_bin() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 12, 900), rng.integers(1, 13, 700)
    cells = np.arange(0, 13)
    ref, cur = np.bincount(a, minlength=13), np.bincount(b, minlength=13)
    stat, p = binned_ks(ref, cur)
    expected = stats.ks_2samp(a, b, method="asymp")
    assert stat == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)
    assert cells.size == ref.size
    # Above 10 000 effective rows: Kolmogorov's limit distribution.
    big = binned_ks(ref * 100, cur * 100)
    assert big[0] == pytest.approx(stat)
    en = 90000 * 70000 / 160000
    assert big[1] == pytest.approx(stats.kstwobign.sf(stat * math.sqrt(en)), rel=1e-9)
    assert binned_ks([5], [7]) == (0.0, 1.0)


def test_two_proportion_test_by_hand() -> None:
    # 10/200 vs 30/200: pooled 0.1, se = sqrt(0.1 * 0.9 * 2 / 200) = 0.03
    z, p = two_proportion_test(10, 200, 30, 200)
    assert z == pytest.approx(0.1 / 0.03)
    assert p == pytest.approx(2 * stats.norm.sf(0.1 / 0.03), rel=1e-12)
    assert two_proportion_test(0, 100, 0, 50) == (0.0, 1.0)
    assert two_proportion_test(100, 100, 50, 50) == (0.0, 1.0)
    assert two_proportion_test(3, 0, 1, 10) == (0.0, 1.0)


def test_missing_rate_test_is_exact_for_small_counts() -> None:
    # Expected missing counts below 5: Fisher's exact test (two-sided).
    assert missing_rate_test(0, 2000, 1, 1) == pytest.approx(
        stats.fisher_exact([[0, 2000], [1, 0]]).pvalue, rel=1e-12)
    assert missing_rate_test(2, 300, 4, 200) == pytest.approx(
        stats.fisher_exact([[2, 298], [4, 196]]).pvalue, rel=1e-12)
    # Plenty of events: the pooled z-test.
    assert missing_rate_test(10, 200, 30, 200) == two_proportion_test(10, 200, 30, 200)[1]
    assert missing_rate_test(0, 10, 0, 0) == 1.0


def test_excess_test_is_fishers_one_sided_test() -> None:
    expected = stats.fisher_exact([[12, 488], [3, 497]], alternative="greater").pvalue
    # current 12 of 500 vs reference 3 of 500
    assert excess_test(3, 500, 12, 500) == pytest.approx(expected, rel=1e-9)
    assert excess_test(0, 500, 0, 500) == 1.0


def test_out_of_range_test_by_hand() -> None:
    # 2 of 5 current values beyond the range of 5 reference values: C(5,2)/C(10,2) = 10/45,
    # times 3 for the ways to split 2 between the two tails.
    assert out_of_range_test(2, 5, 5) == pytest.approx(3 * 10 / 45)
    assert out_of_range_test(0, 5, 5) == 1.0
    assert out_of_range_test(30, 1000, 1000) < 1e-6


def test_benjamini_hochberg_matches_scipy() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5, 0.002, 0.04, 1.0])
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p),
                               rtol=1e-12)
    assert benjamini_hochberg([]).size == 0


def test_thresholds_round_trip_and_validation() -> None:
    t = DriftThresholds(alpha=0.01, wasserstein_sd=0.2, dataset_min_flagged=2)
    assert DriftThresholds.from_dict(t.to_dict()) == t
    assert DriftThresholds.from_dict({}) == DriftThresholds()
    with pytest.raises(InvalidInputError, match="unknown"):
        DriftThresholds.from_dict({"wasserstein": 0.1})
    with pytest.raises(InvalidInputError, match="alpha"):
        DriftThresholds(alpha=1.5)
    with pytest.raises(InvalidInputError, match="js_distance"):
        DriftThresholds(js_distance=-1)
    with pytest.raises(InvalidInputError, match="min_count"):
        DriftThresholds(min_count=1)
