"""Per-feature drift statistics between a reference profile and a current profile.

Numbers (all computed, all reported, flagged or not)
----------------------------------------------------
Numeric features
    * **The feature's distribution test** (``method`` ``"ks_shift_spread"``): the Cauchy
      combination (:func:`cauchy_combination`) of three tests on the bin counts, each
      using every row (exact for merged profiles) and, because no reference value sits on
      a bin edge, blind to ties and small measurement noise (integers in the reference,
      the same values with rounding noise in production):

      - Kolmogorov-Smirnov on the binned counts (``binned_ks_*``, also the ``statistic``):
        the largest gap of the two cumulative shares at the bin edges, Smirnov's p-value
        — any change of shape;
      - two normal-scores rank tests (:func:`binned_score_test`): a shift
        (``location_*``) and a change of spread (``scale_*``), where KS is weak: at 500
        rows a side (``benchmarks/drift_bench.py``) a 0.25-sd shift is flagged 70 % of
        the time instead of ~45 % with KS alone, a ×1.25 spread 92 % instead of ~1 %,
        while 0.15 % of clean features are flagged.
    * Kolmogorov-Smirnov statistic and p-value on the reservoir samples (``ks_*``, as
      ``scipy.stats.ks_2samp``; reported, not used for the verdict: on tied reference
      values plus measurement noise it reports large, meaningless differences).
    * Wasserstein distance between the reservoir samples in reference standard deviations
      (a pure shift of ``d`` sd gives ``d``; a scale change by ``s`` about ``0.8·|s-1|``).
      **The effect size.**
    * PSI and Jensen-Shannon distance (base 2, in ``[0, 1]``) over the bins (the open
      tails merged into the outermost bins: values outside the reference range have their
      own check), a chi-square two-sample test on the bins (reported), the exact mean shift
      in reference sd and the sd ratio from the profiles' sums.
Categorical features
    * Chi-square two-sample test (the 2 × k contingency table of reference and current
      counts, unseen values as one more column; same numbers as
      ``scipy.stats.chi2_contingency``) — **the distribution test**. Never a goodness-of-fit
      test against the reference shares: that treats the reference as exact and alarms far
      above its nominal rate when both sides are samples.
    * Jensen-Shannon distance (**the effect size**) and PSI.
Data quality (each its own check)
    * missing rate: pooled two-proportion z-test (Fisher's exact test when an expected
      count is below 5), effect = change of the missing share;
    * unseen categories: share of values outside the reference categories, one-sided
      Fisher (hypergeometric) test against the reference's share;
    * out of range: share of finite values outside the reference range; p-value from the
      order statistics (with no drift, the chance that the ``t`` most extreme pooled values
      all come from the current sample, times ``t + 1`` for the two tails);
    * infinities, non-numbers in a numeric column, a column absent from part of the data:
      data faults, flagged whenever their share exceeds the threshold (default: any) and
      the reference had none.

When is a feature flagged
-------------------------
Only when the change is **practically relevant and statistically significant**:

* relevant: numeric ``wasserstein_sd >= 0.08`` or ``|mean_shift_sd| >= 0.08``;
  categorical ``js_distance >= 0.05``; a quality check's share beyond its own threshold
  (missing rate ±0.5 point, unseen categories 0.5 %, out of range 10 %);
* significant: Benjamini-Hochberg adjusted p-value ``<= alpha`` (0.05). The family is
  every test of the comparison: one distribution test per feature plus each quality check
  that has something to count (a check with no event on either side cannot reject and is
  left out, as in Tarone's method). An out-of-range check whose relevance bar alone is
  significant beyond doubt (the p-value of a share *at* the bar is at most
  :data:`SETTLED_P`, 1e-6: 10 % of 500 rows past a 500-row reference's range has
  p ~ 5e-14) is settled by its relevance and left out of the family too: it can only flag
  at a p-value that small, so counting it would only raise every other test's bar (at 500
  rows, 15-20 such checks beside 25 features). Its ``p_adjusted`` is its own p-value. The
  trade, measured on the same data (500 rows, 1 000 no-drift runs; 200 runs a drift): false
  data-set alarms 3.1 → 4.3 %, a +3 % missing-rate jump caught 88 → 95 %, a 0.25-sd shift
  68 → 70 %: BH spends its level on the tests that can reject.

A 0.02-sd shift on a million rows is significant but irrelevant: no alarm. Noise on 200
rows may look relevant but is not significant: no alarm either. Why these defaults:

* ``wasserstein_sd = 0.08``: a 0.1-sd shift is the smallest change worth an alarm. The
  threshold sits 20 % below it because the estimates wobble (the reservoir's W by about
  ±0.014 sd at 10 000 rows; the exact mean shift, from every row, far less), so that a
  0.1-sd shift is caught nearly always rather than half the time. The mean shift catches a
  plain shift precisely; W catches changes of scale and shape;
* ``js_distance = 0.05``: about what a 0.12-sd shift gives over 20 quantile bins, or 5 % of
  the rows moving from one category to another;
* ``out_of_range_share = 0.1``: a tail that moves a little is the distribution test's
  business (and a small reference's range is easily exceeded by a few percent); one row in
  ten beyond anything in the reference means the model extrapolates on much of its traffic;
* ``alpha = 0.05`` with BH: no drift at 500 to 500 000 rows flags at most 5 % of data sets.

PSI is reported, not used for the verdict: over 20 bins it carries a noise floor of about
``19 · (1/n + 1/m)`` (0.17 at 200 rows a side) and it jumps when tied values sit next to a
bin edge, so it says little about relevance on its own.

``benchmarks/drift_bench.py`` measures false alarms and detection for these defaults.

Independent rows are assumed. Duplicated rows (the same record scored repeatedly) make
every test overconfident: 200 rows that are copies of 100 are tested as 200.

Data-set verdict
----------------
``DriftResult.drift`` is true when at least ``dataset_min_flagged`` (default 1) features
count for it (``DriftResult.dataset_features``): each flagged feature, and each feature
that moved at the *data-set level*. That level asks "did the data set change at all, by a
relevant amount?" rather than "which feature moved by its full threshold?", and answers it
with a second Benjamini-Hochberg family over the same features' tests and quality checks, at
``0.8 · alpha`` (:data:`DATASET_ALPHA_SHARE`: the verdict is the union of both families),
with a lower relevance bar: ``dataset_relevance`` (default 0.5) times each threshold, so a
change of 2 % of the rows between categories (Jensen-Shannon ~0.03) or a ×1.1 spread
(Wasserstein ~0.08) counts for the data set on enough rows, while a 0.02-sd shift on a
million rows still does not.

Under no drift the union of both families stays under ``alpha`` (measured: 3.7 %, 2.7 %
and 1.0 % of no-drift data sets at 500, 5 000 and 50 000 rows over 1 000, 1 000 and 100
runs, none of 12 at 500 000; ``benchmarks/drift_bench.py`` measures it, with an oracle
bound beside each detection rate). The flags are multiplicity
controlled, so one feature is strong evidence; raise ``dataset_min_flagged`` for wide
models where one moving feature is routine. Features that cannot be tested (missing
column, all missing, constant reference...) say why in their ``reason`` but do not set the
verdict; ``DriftResult.not_testable`` lists them.
"""
from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

import numpy as np
from scipy import special
from scipy import stats as sps
from scipy.spatial import distance

from modeldeck.core.drift.profile import (
    CATEGORICAL,
    NUMERIC,
    FeatureCounts,
    FeatureSpec,
    Profile,
    build_reference,
    profile_frame,
)
from modeldeck.core.errors import DataError, InvalidInputError

OK = "ok"
#: The numeric features' distribution test (``FeatureDrift.method``).
SHIFT_SPREAD = "ks_shift_spread"
DRIFT = "drift"
QUALITY = "quality"
NOT_TESTABLE = "not_testable"
STATUSES = (OK, DRIFT, QUALITY, NOT_TESTABLE)

#: The data-set family's BH level, as a share of ``alpha``: the verdict is the union of two
#: families (the features' and the data-set level's), so the second spends a little less
#: to keep the union's false alarms under ``alpha`` (measured at 5 000 rows over 1 000
#: no-drift runs: 3.4 % of data sets at 0.8, 2.8 % at 0.6; an earlier engine measured 4 % at
#: the full ``alpha``).
DATASET_ALPHA_SHARE = 0.8

#: An out-of-range check whose share at its relevance bar would have at most this p-value
#: is settled by relevance and kept out of the Benjamini-Hochberg family (see the module
#: docstring): it adds at most this to the false-alarm rate of a comparison per feature.
SETTLED_P = 1e-6

#: Proportions are floored at this value in PSI (so an empty bin gives a large, finite term).
PSI_FLOOR = 1e-4


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class DriftThresholds:
    """When a change counts. Store one per model to tune it; the defaults are documented
    in the module docstring and measured by ``benchmarks/drift_bench.py``.

    Attributes
    ----------
    alpha
        Benjamini-Hochberg false-discovery level across all tests of a comparison.
    wasserstein_sd
        Numeric relevance: Wasserstein distance or absolute mean shift, in reference
        standard deviations.
    js_distance
        Categorical relevance: Jensen-Shannon distance (base 2).
    missing_rate
        Relevance of a change in the missing share (absolute, 0.005 = half a point).
    unseen_share
        Relevance of the share of values in categories the reference never had.
    out_of_range_share
        Relevance of the share of values outside the reference range.
    infinite_share, invalid_share
        Infinities / non-numbers in a numeric column are flagged above this share
        (default 0: any) when the reference had none.
    min_count
        Fewest valid values on each side for a distribution test.
    dataset_min_flagged
        Features that make the data-set verdict ``drift`` (flagged, or moved at the
        data-set level: see ``dataset_relevance``).
    dataset_relevance
        The data-set level's relevance bar, as a share of each feature's own threshold
        (0.5: half the Wasserstein/mean-shift, Jensen-Shannon and quality thresholds). A
        feature below its own bar still counts for the data-set verdict when its change
        reaches this bar and the data-set family finds it significant (BH over all
        features at 0.8 × alpha: see the module docstring). 1 keeps the features'
        own bars; 0 lets any significant change count.

        .. versionadded:: 0.1
    """

    alpha: float = 0.05
    wasserstein_sd: float = 0.08
    js_distance: float = 0.05
    missing_rate: float = 0.005
    unseen_share: float = 0.005
    out_of_range_share: float = 0.1
    infinite_share: float = 0.0
    invalid_share: float = 0.0
    min_count: int = 10
    dataset_min_flagged: int = 1
    dataset_relevance: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise InvalidInputError(f"alpha must be in (0, 1), got {self.alpha}",
                                    "use e.g. 0.05")
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
                raise InvalidInputError(f"threshold {f.name} must be a number >= 0, "
                                        f"got {value!r}", "fix the model's drift settings")
        if self.min_count < 2 or self.dataset_min_flagged < 1:
            raise InvalidInputError("min_count must be >= 2 and dataset_min_flagged >= 1",
                                    "fix the model's drift settings")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftThresholds:
        """Inverse of :meth:`to_dict`; missing keys take their defaults.

        Raises
        ------
        InvalidInputError
            An unknown key or an invalid value.
        """
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise InvalidInputError(f"unknown drift threshold(s): {', '.join(unknown)}",
                                    f"use {', '.join(known)}")
        values = {k: (int(v) if known[k].type in ("int", int) else float(v))
                  for k, v in data.items()}
        return cls(**values)


# --------------------------------------------------------------------------- pure statistics


def _proportions(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if c.ndim != 1 or total <= 0 or not np.isfinite(total):
        raise ValueError("counts must be a non-empty 1-D array with a positive sum")
    return c / total


def psi(reference_counts: Sequence[float] | np.ndarray,
        current_counts: Sequence[float] | np.ndarray, floor: float = PSI_FLOOR) -> float:
    """Population Stability Index of two count vectors over the same cells.

    ``sum((q - p) * ln(q / p))`` with ``p``, ``q`` the reference and current shares, each
    floored at ``floor`` so that empty cells give a large but finite term.

    Raises
    ------
    ValueError
        A count vector is empty or sums to zero.
    """
    p = np.maximum(_proportions(reference_counts), floor)
    q = np.maximum(_proportions(current_counts), floor)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(reference_counts: Sequence[float] | np.ndarray,
                current_counts: Sequence[float] | np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in ``[0, 1]``) of two count vectors.

    Same as ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.
    """
    p, q = _proportions(reference_counts), _proportions(current_counts)
    value = float(distance.jensenshannon(p, q, base=2.0))
    return 0.0 if math.isnan(value) else min(max(value, 0.0), 1.0)


def chi2_two_sample(reference_counts: Sequence[float] | np.ndarray,
                    current_counts: Sequence[float] | np.ndarray
                    ) -> tuple[float, float, int]:
    """Chi-square test of homogeneity of two count vectors (a 2 × k contingency table).

    Cells empty on both sides are dropped; with fewer than two cells left there is nothing
    to compare (statistic 0, p-value 1, 0 degrees of freedom). Same numbers as
    ``scipy.stats.chi2_contingency`` on the table (Yates' correction for a 2 × 2 table,
    as scipy does), without its per-call overhead.

    Returns
    -------
    statistic, p_value, dof
    """
    table = np.vstack([np.asarray(reference_counts, np.float64),
                       np.asarray(current_counts, np.float64)])
    table = table[:, table.sum(axis=0) > 0]
    rows = table.sum(axis=1)
    if table.shape[1] < 2 or (rows == 0).any():
        return 0.0, 1.0, 0
    expected = np.outer(rows, table.sum(axis=0)) / rows.sum()
    dof = table.shape[1] - 1
    observed = table
    if dof == 1:
        diff = expected - observed
        observed = observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
    stat = float(np.sum((observed - expected) ** 2 / expected))
    return stat, _clip_p(special.chdtrc(dof, stat)), dof


#: Above this many values on the larger side, the KS p-value is Smirnov's asymptotic one.
KS_EXACT_MAX = 2_000


def ks_two_sample(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and two-sided p-value.

    As ``scipy.stats.ks_2samp``: its exact p-value while both samples have at most
    :data:`KS_EXACT_MAX` values, beyond that Smirnov's asymptotic one exactly as its
    ``method="asymp"`` computes it (the exact computation costs ~10 ms a feature at
    10 000 values and changes nothing there).
    """
    if max(len(reference), len(current)) <= KS_EXACT_MAX:
        with warnings.catch_warnings():
            # ks_2samp warns when its exact computation falls back to the asymptotic
            # one; the fallback p-value is what we want either way.
            warnings.simplefilter("ignore", RuntimeWarning)
            res = sps.ks_2samp(reference, current)
        return float(res.statistic), _clip_p(res.pvalue)
    a, b = np.sort(reference), np.sort(current)
    stat, _ = _ecdf_distances(a, b)
    return stat, _smirnov_p(stat, a.size, b.size)


def _ecdf_distances(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """KS statistic and Wasserstein-1 distance of two *sorted* samples (one merge pass)."""
    both = np.concatenate([a, b])
    both.sort(kind="mergesort")
    fa = np.searchsorted(a, both[:-1], side="right") / a.size
    fb = np.searchsorted(b, both[:-1], side="right") / b.size
    gaps = np.abs(fa - fb)
    if gaps.size == 0:
        return 0.0, 0.0
    return float(gaps.max()), float(np.dot(gaps, np.diff(both)))


def _smirnov_p(stat: float, n: float, m: float) -> float:
    """Two-sided two-sample KS p-value (Smirnov), as ``ks_2samp(method="asymp")``."""
    en = n * m / (n + m)
    if en <= 10_000:
        return _clip_p(sps.kstwo.sf(stat, round(en)))
    return _clip_p(special.kolmogorov(stat * math.sqrt(en)))


def binned_ks(reference_counts: Sequence[float] | np.ndarray,
              current_counts: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Kolmogorov-Smirnov statistic and two-sided p-value of two binned samples.

    The statistic is the largest difference of the two cumulative shares at the bin edges
    (the full-data KS statistic restricted to the edges, so never larger than it); the
    p-value is Smirnov's, as ``scipy.stats.ks_2samp(method="asymp")`` computes it
    (``kstwo`` with ``n·m/(n+m)`` rows; its limit ``kstwobign`` above 10 000), which is
    conservative for binned data.
    """
    r, c = np.asarray(reference_counts, np.float64), np.asarray(current_counts, np.float64)
    n, m = r.sum(), c.sum()
    if n <= 0 or m <= 0:
        raise ValueError("counts must have a positive sum on both sides")
    if r.size < 2:
        return 0.0, 1.0
    stat = float(np.max(np.abs(np.cumsum(r)[:-1] / n - np.cumsum(c)[:-1] / m)))
    return stat, _smirnov_p(stat, n, m)


def binned_score_test(reference_counts: Sequence[float] | np.ndarray,
                      current_counts: Sequence[float] | np.ndarray,
                      scale: bool = False) -> tuple[float, float]:
    """Two-sample rank test on ordered bins with normal scores (van der Waerden).

    Each cell gets the normal score of its pooled mid-rank, ``Φ⁻¹(mid-cumulative pooled
    share)`` (squared for ``scale``: a Klotz-type test of spread); the statistic is the
    current-minus-reference mean score, standardised with its permutation variance. Like
    any rank test it is distribution-free under no drift (its scores come from the pooled
    counts), and it is the locally most powerful rank test for a shift (``scale``: a change
    of spread) of a normal feature: far sharper than KS for those changes.

    Returns
    -------
    z, p_value
        ``z > 0``: current values higher (``scale``: more spread); two-sided p-value.
        ``(0, 1)`` when fewer than two cells are occupied.
    """
    r, c = np.asarray(reference_counts, np.float64), np.asarray(current_counts, np.float64)
    n, m = r.sum(), c.sum()
    if n <= 0 or m <= 0:
        return 0.0, 1.0
    keep = (r + c) > 0
    r, c = r[keep], c[keep]
    pooled = (r + c) / (n + m)
    if pooled.size < 2:
        return 0.0, 1.0
    mid = np.cumsum(pooled) - pooled / 2.0
    scores = special.ndtri(np.clip(mid, 1e-12, 1.0 - 1e-12))
    if scale:
        scores = scores * scores
    mean = float(np.dot(pooled, scores))
    var = float(np.dot(pooled, (scores - mean) ** 2))
    if var <= 1e-15:
        return 0.0, 1.0
    total = n + m
    # Permutation variance of the difference of the two means of scores.
    se = math.sqrt(var * total / max(total - 1.0, 1.0) * (1.0 / n + 1.0 / m))
    z = float(np.dot(scores, c / m - r / n)) / se
    return z, _clip_p(2.0 * special.ndtr(-abs(z)))


def cauchy_combination(p_values: Sequence[float] | np.ndarray) -> float:
    """Cauchy combination (ACAT, Liu & Xie 2020) of p-values of the same hypothesis.

    ``0.5 - arctan(mean(tan((0.5 - p) π))) / π``: valid for any dependence between the
    tests (exactly so in the tail that matters, small p-values) and about as powerful as
    the best of them, so several tests of one feature can be pooled without paying a
    Bonferroni factor.
    """
    p = np.clip(np.asarray(p_values, np.float64), 1e-300, 1.0 - 1e-15)
    if p.size == 0:
        return 1.0
    small = p < 1e-15   # tan((0.5 - p) π) ≈ 1 / (p π) without loss of precision
    t = np.where(small, 1.0 / (np.maximum(p, 1e-300) * math.pi), np.tan((0.5 - p) * math.pi))
    stat = float(t.mean())
    if stat > 1e15:
        return _clip_p(1.0 / (stat * math.pi))
    return _clip_p(0.5 - math.atan(stat) / math.pi)


def wasserstein_sd(reference: np.ndarray, current: np.ndarray, sd: float) -> float:
    """Wasserstein-1 distance of two samples (as ``scipy.stats.wasserstein_distance``)
    divided by the reference sd ``sd`` (> 0)."""
    return _ecdf_distances(np.sort(reference), np.sort(current))[1] / sd


def two_proportion_test(ref_count: int, ref_total: int, cur_count: int, cur_total: int
                        ) -> tuple[float, float]:
    """Pooled two-proportion z-test, two-sided.

    Returns
    -------
    z, p_value
        ``z > 0`` when the current share is higher; ``(0, 1)`` when the pooled share is 0 or
        1 (nothing to test) or a side is empty.
    """
    if ref_total <= 0 or cur_total <= 0:
        return 0.0, 1.0
    pooled = (ref_count + cur_count) / (ref_total + cur_total)
    if pooled <= 0.0 or pooled >= 1.0:
        return 0.0, 1.0
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / ref_total + 1.0 / cur_total))
    z = (cur_count / cur_total - ref_count / ref_total) / se
    return z, _clip_p(2.0 * special.ndtr(-abs(z)))


def missing_rate_test(ref_count: int, ref_total: int, cur_count: int, cur_total: int
                      ) -> float:
    """Two-sided p-value of a change in a share (the missing rate): the pooled
    two-proportion z-test, or Fisher's exact test when an expected count is below 5 (the
    z-test is far too confident there: one missing value in one row is not z = 45)."""
    if ref_total <= 0 or cur_total <= 0:
        return 1.0
    events, total = ref_count + cur_count, ref_total + cur_total
    expected = min(events, total - events) * min(ref_total, cur_total) / total
    if expected < 5:
        table = [[ref_count, ref_total - ref_count], [cur_count, cur_total - cur_count]]
        return _clip_p(sps.fisher_exact(table).pvalue)
    return two_proportion_test(ref_count, ref_total, cur_count, cur_total)[1]


def excess_test(ref_count: int, ref_total: int, cur_count: int, cur_total: int) -> float:
    """One-sided Fisher exact p-value that the current share of an event exceeds the
    reference's (hypergeometric upper tail given both margins)."""
    events = ref_count + cur_count
    if events == 0 or cur_count == 0 or cur_total <= 0:
        return 1.0
    return _clip_p(sps.hypergeom.sf(cur_count - 1, ref_total + cur_total, events, cur_total))


def out_of_range_test(outside: int, ref_total: int, cur_total: int) -> float:
    """p-value of ``outside`` current values falling outside the reference's min..max.

    Under no drift the pooled sample is exchangeable, so the chance that the ``t`` most
    extreme values of one tail all come from the current sample is
    ``C(n_cur, t) / C(n_ref + n_cur, t)``; over both tails the chance of ``t`` in total is
    at most ``(t + 1)`` times that.
    """
    if outside <= 0 or cur_total <= 0:
        return 1.0
    t, n, total = outside, cur_total, ref_total + cur_total
    log_ratio = (special.gammaln(n + 1) - special.gammaln(n - t + 1)
                 - special.gammaln(total + 1) + special.gammaln(total - t + 1))
    return _clip_p(min(1.0, (t + 1) * math.exp(float(log_ratio))))


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (as ``scipy.stats.false_discovery_control``)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _clip_p(p: float) -> float:
    p = float(p)
    if math.isnan(p):
        return 1.0
    return min(max(p, 0.0), 1.0)


# --------------------------------------------------------------------------- results


def json_float(value: float | None) -> float | None:
    """JSON-safe float: ``None`` for missing, NaN or infinite (shared by the drift modules)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


_num = json_float


@dataclass(frozen=True)
class QualityCheck:
    """One data-quality check of one feature.

    Attributes
    ----------
    name
        ``"missing_rate"``, ``"unseen_categories"``, ``"out_of_range"``, ``"infinities"``,
        ``"invalid_values"`` (non-numbers in a numeric column) or ``"absent_column"``.
    reference_count, reference_total, current_count, current_total
        The events and the values they are counted among, on each side.
    effect
        Current share minus reference share.
    threshold
        The relevance threshold on ``|effect|`` (or on the current share for faults).
    p_value, p_adjusted
        The test's p-value and its Benjamini-Hochberg adjustment (``None`` for checks that
        are not tested statistically or have nothing to count).
    rule
        ``"significance"`` (relevant and BH-significant) or ``"fault"`` (flagged whenever
        the share exceeds the threshold and the reference had none).
    flagged
        Whether the check raised a quality problem.
    """

    name: str
    reference_count: int
    reference_total: int
    current_count: int
    current_total: int
    effect: float
    threshold: float
    p_value: float | None
    p_adjusted: float | None
    rule: str
    flagged: bool

    @property
    def reference_rate(self) -> float:
        """``reference_count / reference_total`` (0 when empty)."""
        return self.reference_count / self.reference_total if self.reference_total else 0.0

    @property
    def current_rate(self) -> float:
        """``current_count / current_total`` (0 when empty)."""
        return self.current_count / self.current_total if self.current_total else 0.0

    def describe(self) -> str:
        """One plain sentence."""
        ref, cur = 100 * self.reference_rate, 100 * self.current_rate
        what = {
            "missing_rate": f"missing values {ref:.1f}% → {cur:.1f}%",
            "unseen_categories": f"{cur:.1f}% of values in categories the reference never had",
            "out_of_range": f"{cur:.1f}% of values outside the reference range",
            "infinities": f"{self.current_count} infinite value(s) ({cur:.2f}%)",
            "invalid_values": f"{self.current_count} value(s) that are not numbers ({cur:.2f}%)",
            "absent_column": f"column absent from {self.current_count} of "
                             f"{self.current_total} rows",
        }.get(self.name, f"{self.name}: {ref:.1f}% → {cur:.1f}%")
        return what

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"name": self.name, "reference_count": self.reference_count,
                "reference_total": self.reference_total,
                "current_count": self.current_count, "current_total": self.current_total,
                "reference_rate": self.reference_rate, "current_rate": self.current_rate,
                "effect": _num(self.effect), "threshold": self.threshold,
                "p_value": _num(self.p_value), "p_adjusted": _num(self.p_adjusted),
                "rule": self.rule, "flagged": self.flagged, "message": self.describe()}


@dataclass(frozen=True)
class FeatureDrift:
    """Every number of one feature's comparison, and its verdict.

    Attributes
    ----------
    name, kind
        Feature name; ``"numeric"``, ``"categorical"`` or ``"unsupported"``.
    status
        ``"ok"``, ``"drift"`` (relevant and significant distribution change),
        ``"quality"`` (a data-quality check flagged, no distribution drift) or
        ``"not_testable"`` (see ``reason``). Never NaN, never empty.
    reason
        A plain sentence explaining the status.
    method
        The feature's distribution test: ``"ks_shift_spread"`` (numeric: the binned KS
        and the shift and spread rank tests, Cauchy-combined) or ``"chi2"``
        (categorical); ``""`` when the distribution is not testable.
    statistic, p_value, p_adjusted
        That test's statistic (numeric: the binned KS distance; the combination has none
        worth reading) and p-value, and the p-value's Benjamini-Hochberg adjustment.
    effect_size, effect_threshold
        Wasserstein distance in reference sd (numeric) or Jensen-Shannon distance
        (categorical), and its relevance threshold.
    relevant, significant
        The two halves of the flagging rule for the distribution. A numeric feature is
        relevant when its Wasserstein distance *or* its absolute mean shift reaches the
        threshold; a categorical one when its Jensen-Shannon distance does.
    psi, js_distance, wasserstein_sd, binned_ks_statistic, binned_ks_p_value,
    ks_statistic, ks_p_value, chi2_statistic, chi2_p_value, chi2_dof
        Every statistic (``None`` where it does not apply). ``ks_*`` are computed on the
        reservoir samples, ``binned_ks_*`` and ``chi2_*`` on the bin or category counts.
    reference_mean, current_mean, reference_sd, current_sd, mean_shift_sd, sd_ratio
        Moments from the profiles' sums (numeric only).
    n_reference, n_current
        Valid values (finite numbers / non-missing categories) on each side.
    rows_reference, rows_current
        Rows on each side.
    sample_reference, sample_current
        Reservoir values used for KS and Wasserstein.
    quality
        The data-quality checks.
    location_z, location_p_value, scale_z, scale_p_value
        Normal-scores rank tests on the bins (:func:`binned_score_test`) for a shift and
        for a change of spread (numeric only; two thirds of the distribution test).
    dataset_p_value, dataset_p_adjusted
        The data-set level's test of the distribution (the feature's own, ``p_value``)
        and its BH adjustment over the data-set family (every feature's test and quality
        checks), compared with ``0.8 · alpha``.
    dataset_relevant
        The distribution change reaches the data-set bar (``dataset_relevance`` times the
        feature's threshold).
    dataset_signal
        The feature counts for the data-set verdict: flagged, or its distribution (or a
        quality check) relevant at the data-set bar and BH-significant in the data-set
        family.

        .. versionadded:: 0.1 the location, scale and ``dataset_*`` fields
    """

    name: str
    kind: str
    status: str
    reason: str
    method: str = ""
    statistic: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    effect_size: float | None = None
    effect_threshold: float | None = None
    relevant: bool = False
    significant: bool = False
    psi: float | None = None
    js_distance: float | None = None
    wasserstein_sd: float | None = None
    binned_ks_statistic: float | None = None
    binned_ks_p_value: float | None = None
    ks_statistic: float | None = None
    ks_p_value: float | None = None
    chi2_statistic: float | None = None
    chi2_p_value: float | None = None
    chi2_dof: int | None = None
    reference_mean: float | None = None
    current_mean: float | None = None
    reference_sd: float | None = None
    current_sd: float | None = None
    mean_shift_sd: float | None = None
    sd_ratio: float | None = None
    n_reference: int = 0
    n_current: int = 0
    rows_reference: int = 0
    rows_current: int = 0
    sample_reference: int = 0
    sample_current: int = 0
    quality: tuple[QualityCheck, ...] = ()
    location_z: float | None = None
    location_p_value: float | None = None
    scale_z: float | None = None
    scale_p_value: float | None = None
    dataset_p_value: float | None = None
    dataset_p_adjusted: float | None = None
    dataset_relevant: bool = False
    dataset_signal: bool = False

    @property
    def flagged(self) -> bool:
        """Whether the feature is flagged (drift or a quality problem)."""
        return self.status in (DRIFT, QUALITY)

    @property
    def drift(self) -> bool:
        """Whether the feature is flagged (the JSON ``"drift"`` field)."""
        return self.flagged

    @property
    def quality_flags(self) -> tuple[str, ...]:
        """Names of the flagged quality checks."""
        return tuple(q.name for q in self.quality if q.flagged)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``None`` for numbers that do not apply; never NaN)."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "status": self.status,
                               "drift": self.flagged, "reason": self.reason,
                               "method": self.method}
        for f in fields(self):
            if f.name in out or f.name == "quality":
                continue
            value = getattr(self, f.name)
            out[f.name] = _num(value) if isinstance(value, float) else value
        out["quality"] = [q.to_dict() for q in self.quality]
        out["quality_flags"] = list(self.quality_flags)
        return out


@dataclass(frozen=True)
class DriftResult:
    """The comparison of a current profile with a reference profile.

    Attributes
    ----------
    drift
        The data-set verdict: at least ``thresholds.dataset_min_flagged`` features flagged
        or moved at the data-set level (:attr:`dataset_features`).
    features
        One :class:`FeatureDrift` per feature of the spec, in spec order.
    thresholds
        The thresholds used.
    n_reference, n_current
        Rows on each side.
    start, end, hosts
        The current profile's window and hosts.
    extra_columns
        Columns in the current data the model does not use (ignored).
    """

    drift: bool
    features: tuple[FeatureDrift, ...]
    thresholds: DriftThresholds
    n_reference: int
    n_current: int
    start: datetime | None = None
    end: datetime | None = None
    hosts: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()

    def feature(self, name: str) -> FeatureDrift:
        """The result of feature ``name`` (``KeyError`` if there is none)."""
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def flagged(self) -> tuple[str, ...]:
        """Names of flagged features (drift or quality)."""
        return tuple(f.name for f in self.features if f.flagged)

    @property
    def dataset_features(self) -> tuple[str, ...]:
        """Names of the features that count for the data-set verdict: flagged, or moved at
        the data-set level (:attr:`FeatureDrift.dataset_signal`)."""
        return tuple(f.name for f in self.features if f.flagged or f.dataset_signal)

    @property
    def drifted(self) -> tuple[str, ...]:
        """Names of features with status ``"drift"``."""
        return tuple(f.name for f in self.features if f.status == DRIFT)

    @property
    def quality_problems(self) -> tuple[str, ...]:
        """Names of features with a flagged quality check (whatever their status)."""
        return tuple(f.name for f in self.features if f.quality_flags)

    @property
    def not_testable(self) -> tuple[str, ...]:
        """Names of features with status ``"not_testable"``."""
        return tuple(f.name for f in self.features if f.status == NOT_TESTABLE)

    @property
    def summary(self) -> str:
        """One plain sentence."""
        n = len(self.features)
        if self.n_current == 0:
            return "the current data is empty: nothing to compare"
        parts = []
        if self.drifted:
            parts.append(f"distribution drift in {len(self.drifted)} of {n} features "
                         f"({', '.join(self.drifted)})")
        only_quality = [f.name for f in self.features if f.status == QUALITY]
        if only_quality:
            parts.append(f"data-quality problems in {', '.join(only_quality)}")
        below = [f.name for f in self.features if f.dataset_signal and not f.flagged]
        if below and self.drift:
            parts.append(f"smaller changes, significant for the data set as a whole, in "
                         f"{', '.join(below)}")
        if not parts:
            parts.append(f"no relevant drift in {n - len(self.not_testable)} tested features")
        if self.not_testable:
            parts.append(f"not testable: {', '.join(self.not_testable)}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form: ``{"drift": bool, "features": [...], ...}``."""
        return {"drift": self.drift, "summary": self.summary,
                "n_reference": self.n_reference, "n_current": self.n_current,
                "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None,
                "hosts": list(self.hosts), "extra_columns": list(self.extra_columns),
                "flagged": list(self.flagged), "not_testable": list(self.not_testable),
                "dataset_features": list(self.dataset_features),
                "thresholds": self.thresholds.to_dict(),
                "features": [f.to_dict() for f in self.features]}


# --------------------------------------------------------------------------- comparison


@dataclass
class _Draft:
    """Mutable per-feature working state of :func:`compare_profiles`."""

    spec: FeatureSpec
    values: dict[str, Any]
    untestable: str = ""          # why the distribution cannot be tested ("" if it can)
    relevant: bool = False
    p_value: float | None = None
    p_adjusted: float | None = None
    quality: list[dict[str, Any]] | None = None
    dataset_p_value: float | None = None
    dataset_p_adjusted: float | None = None
    dataset_relevant: bool = False


def compare_profiles(reference: Profile, current: Profile,
                     thresholds: DriftThresholds | None = None) -> DriftResult:
    """Compare a current profile with the reference profile, feature by feature.

    Parameters
    ----------
    reference
        The version's stored reference profile (:func:`build_reference`).
    current
        A profile of production data against the same spec (:func:`profile_frame`,
        possibly merged over hosts and windows).
    thresholds
        Relevance thresholds and the BH level; :class:`DriftThresholds` defaults if
        ``None``.

    Returns
    -------
    DriftResult

    Raises
    ------
    DataError
        The profiles were made against different reference specs.
    """
    thresholds = thresholds or DriftThresholds()
    if reference.spec.digest != current.spec.digest:
        raise DataError("the current profile was made against another reference spec",
                        "profile the current data against this version's reference spec")
    drafts = [_draft(f, reference.features[f.name], current.features[f.name], reference,
                     current, thresholds) for f in reference.spec.features]
    # One Benjamini-Hochberg family: every distribution test and every quality check that
    # has something to count and is decided by significance.
    _bh_family(drafts, "p_value", "p_adjusted")
    _dataset_family(drafts, thresholds)
    features = tuple(_finish(d, thresholds) for d in drafts)
    counted = sum(f.flagged or f.dataset_signal for f in features)
    return DriftResult(drift=counted >= thresholds.dataset_min_flagged, features=features,
                       thresholds=thresholds, n_reference=reference.n_rows,
                       n_current=current.n_rows, start=current.start, end=current.end,
                       hosts=current.hosts, extra_columns=current.extra_columns)


def _dataset_family(drafts: list[_Draft], t: DriftThresholds) -> None:
    """The data-set level's BH family: each feature's sharpest distribution test (see
    :attr:`FeatureDrift.dataset_p_value`) and its quality checks, every test counted
    whatever its effect (the relevance bar applies after, as for the features)."""
    _bh_family(drafts, "dataset_p_value", "dataset_p_adjusted")


def _bh_family(drafts: list[_Draft], p_attr: str, adjusted: str) -> None:
    """Benjamini-Hochberg over each draft's ``p_attr`` and its significance-decided
    quality checks; the adjusted values go to ``adjusted`` (on the draft and on each
    check). Checks settled by relevance (see :data:`SETTLED_P`) keep their own p-value."""
    settled = "dataset_settled" if adjusted.startswith("dataset") else "settled"
    slots: list[tuple[_Draft, dict[str, Any] | None]] = []
    pvals: list[float] = []
    for d in drafts:
        p = getattr(d, p_attr)
        if p is not None:
            slots.append((d, None))
            pvals.append(p)
        for q in d.quality or []:
            if q["p_value"] is not None and q["rule"] == "significance" and q["testable"]:
                if q.get(settled):
                    q[adjusted] = q["p_value"]
                    continue
                slots.append((d, q))
                pvals.append(q["p_value"])
    for (d, q), adj in zip(slots, benjamini_hochberg(pvals)):
        if q is None:
            setattr(d, adjusted, float(adj))
        else:
            q[adjusted] = float(adj)


def compare_frames(reference: Any, current: Any, schema: Sequence[Any] | None = None,
                   thresholds: DriftThresholds | None = None, *, seed: int = 0) -> DriftResult:
    """Drift between two data frames without a registered model (profiles both first).

    Parameters
    ----------
    reference, current
        pandas DataFrames.
    schema
        Input schema; inferred from ``reference`` when ``None``.
    thresholds
        As for :func:`compare_profiles`.
    seed
        Seed of the reservoir draws.
    """
    spec, ref_profile = build_reference(reference, schema, seed=seed)
    return compare_profiles(ref_profile, profile_frame(spec, current, seed=seed + 1),
                            thresholds)


_SORTED: weakref.WeakKeyDictionary[Profile, dict[str, np.ndarray]] = \
    weakref.WeakKeyDictionary()


def _sorted_sample(profile: Profile, name: str) -> np.ndarray:
    """The finite reservoir values of a numeric feature, sorted; cached per profile (the
    stored reference profile is compared with many windows and hosts)."""
    cache = _SORTED.setdefault(profile, {})
    if name not in cache:
        values = profile.numeric_sample(name)
        cache[name] = np.sort(values[np.isfinite(values)])
    return cache[name]


def _moments(counts: FeatureCounts, centre: float) -> tuple[float | None, float | None]:
    n = counts.valid
    if n == 0:
        return None, None
    mean = centre + counts.total / n
    if n < 2:
        return mean, None
    var = max(counts.total_sq - counts.total * counts.total / n, 0.0) / (n - 1)
    return mean, math.sqrt(var)


def _inner(counts: np.ndarray) -> np.ndarray:
    """Numeric bin counts with the two open tails merged into the outermost bins."""
    inner = counts[1:-1].astype(np.float64).copy()
    inner[0] += counts[0]
    inner[-1] += counts[-1]
    return inner


def _check(name: str, ref_count: int, ref_total: int, cur_count: int, cur_total: int,
           threshold: float, p_value: float | None, rule: str, testable: bool
           ) -> dict[str, Any]:
    ref_rate = ref_count / ref_total if ref_total else 0.0
    cur_rate = cur_count / cur_total if cur_total else 0.0
    return {"name": name, "reference_count": ref_count, "reference_total": ref_total,
            "current_count": cur_count, "current_total": cur_total,
            "effect": cur_rate - ref_rate, "threshold": threshold, "p_value": p_value,
            "p_adjusted": None, "rule": rule, "testable": testable}


def _fault_or_test(name: str, ref_count: int, ref_total: int, cur_count: int,
                   cur_total: int, threshold: float) -> dict[str, Any]:
    """A check of values that should never occur: a fault when the reference had none."""
    p = excess_test(ref_count, ref_total, cur_count, cur_total)
    rule = "fault" if ref_count == 0 else "significance"
    return _check(name, ref_count, ref_total, cur_count, cur_total, threshold, p, rule,
                  testable=cur_count > 0)


def _draft(fspec: FeatureSpec, rc: FeatureCounts, cc: FeatureCounts, reference: Profile,
           current: Profile, t: DriftThresholds) -> _Draft:
    d = _Draft(fspec, {"rows_reference": rc.rows, "rows_current": cc.rows,
                       "n_reference": rc.valid, "n_current": cc.valid})
    rows = cc.rows
    if fspec.kind not in (NUMERIC, CATEGORICAL):
        d.untestable = f"not profiled: {fspec.reason}"
        return d
    if rows == 0:
        d.untestable = "empty window: the current data has no rows"
        return d
    if cc.absent == rows:
        d.untestable = "column missing from the current data"
        return d
    present = rows - cc.absent
    quality = []
    if cc.absent:
        quality.append(_check("absent_column", rc.absent, rc.rows, cc.absent, rows, 0.0,
                              None, "fault", testable=False))
    ref_present = rc.rows - rc.absent
    z_p = missing_rate_test(rc.missing, ref_present, cc.missing, present)
    quality.append(_check("missing_rate", rc.missing, ref_present, cc.missing, present,
                          t.missing_rate, z_p, "significance",
                          testable=0 < rc.missing + cc.missing < ref_present + present))
    if fspec.kind == NUMERIC:
        quality.append(_fault_or_test("invalid_values", rc.invalid, ref_present, cc.invalid,
                                      present, t.invalid_share))
        quality.append(_fault_or_test("infinities", rc.pos_inf + rc.neg_inf, ref_present,
                                      cc.pos_inf + cc.neg_inf, present, t.infinite_share))
        ref_out = int(rc.counts[0] + rc.counts[-1])
        cur_out = int(cc.counts[0] + cc.counts[-1])
        p_out = (out_of_range_test(cur_out, rc.valid, cc.valid) if ref_out == 0
                 else excess_test(ref_out, rc.valid, cur_out, cc.valid))
        check = _check("out_of_range", ref_out, rc.valid, cur_out, cc.valid,
                       t.out_of_range_share, p_out, "significance",
                       testable=cur_out > 0 and rc.valid > 0)
        if ref_out == 0:  # settled by relevance when its bar is significant beyond doubt
            for key, share in (("settled", t.out_of_range_share),
                               ("dataset_settled", t.dataset_relevance * t.out_of_range_share)):
                bar = max(math.ceil(share * cc.valid), 1)
                check[key] = (share > 0 and bar <= cc.valid
                              and out_of_range_test(bar, rc.valid, cc.valid) <= SETTLED_P)
        quality.append(check)
        _numeric(d, fspec, rc, cc, reference, current, t)
    else:
        other = len(fspec.categories)
        p_unseen = excess_test(int(rc.counts[other]), rc.valid, int(cc.counts[other]),
                               cc.valid)
        quality.append(_check("unseen_categories", int(rc.counts[other]), rc.valid,
                              int(cc.counts[other]), cc.valid, t.unseen_share, p_unseen,
                              "significance", testable=cc.counts[other] > 0))
        _categorical(d, fspec, rc, cc, t)
    d.quality = quality
    return d


def _why_no_values(cc: FeatureCounts, present: int) -> str:
    if cc.invalid and cc.invalid + cc.missing == present:
        return (f"strings in a numeric column: {cc.invalid} of {present} values are not "
                "numbers")
    if cc.pos_inf + cc.neg_inf and cc.valid == 0 and cc.missing + cc.invalid < present:
        return "only infinite values in the current data"
    return "all values missing in the current data"


def _numeric(d: _Draft, fspec: FeatureSpec, rc: FeatureCounts, cc: FeatureCounts,
             reference: Profile, current: Profile, t: DriftThresholds) -> None:
    ref_mean, ref_sd = _moments(rc, fspec.mean)
    cur_mean, cur_sd = _moments(cc, fspec.mean)
    d.values.update(reference_mean=ref_mean, current_mean=cur_mean, reference_sd=ref_sd,
                    current_sd=cur_sd)
    sd = fspec.sd
    if sd > 0 and cur_mean is not None and ref_mean is not None:
        d.values["mean_shift_sd"] = (cur_mean - ref_mean) / sd
        if cur_sd is not None:
            d.values["sd_ratio"] = cur_sd / sd
    present = cc.rows - cc.absent
    if cc.valid == 0:
        d.untestable = _why_no_values(cc, present)
        return
    if fspec.edges[0] == fspec.edges[-1] or sd == 0:
        d.untestable = (f"constant in the reference (always {fspec.edges[0]:g}): only the "
                        "out-of-range check applies")
        return
    if rc.valid < t.min_count or cc.valid < t.min_count:
        d.untestable = (f"too few values to compare ({rc.valid} reference, {cc.valid} "
                        f"current; at least {t.min_count} needed)")
        return
    ref_bins, cur_bins = _inner(rc.counts), _inner(cc.counts)
    d_binned, p_binned = binned_ks(ref_bins, cur_bins)
    chi_stat, chi_p, chi_dof = chi2_two_sample(ref_bins, cur_bins)
    # The distribution test: shift and spread on every row's bin counts (tails included),
    # pooled with the binned KS (which catches any other change of shape).
    loc_z, loc_p = binned_score_test(rc.counts, cc.counts)
    scale_z, scale_p = binned_score_test(rc.counts, cc.counts, scale=True)
    d.values.update(psi=psi(ref_bins, cur_bins), js_distance=js_distance(ref_bins, cur_bins),
                    binned_ks_statistic=d_binned, binned_ks_p_value=p_binned,
                    chi2_statistic=chi_stat, chi2_p_value=chi_p, chi2_dof=chi_dof,
                    location_z=loc_z, location_p_value=loc_p, scale_z=scale_z,
                    scale_p_value=scale_p, method=SHIFT_SPREAD, statistic=d_binned,
                    effect_threshold=t.wasserstein_sd)
    d.p_value = d.dataset_p_value = cauchy_combination([p_binned, loc_p, scale_p])
    a, b = _sorted_sample(reference, fspec.name), _sorted_sample(current, fspec.name)
    d.values.update(sample_reference=int(a.size), sample_current=int(b.size))
    w = None
    if a.size >= 2 and b.size >= 2:
        ks_stat, w1 = _ecdf_distances(a, b)
        if max(a.size, b.size) <= KS_EXACT_MAX:
            ks_stat, ks_p = ks_two_sample(a, b)
        else:
            ks_p = _smirnov_p(ks_stat, a.size, b.size)
        w = w1 / sd
        d.values.update(ks_statistic=ks_stat, ks_p_value=ks_p, wasserstein_sd=w, effect_size=w)
    # Relevance: the Wasserstein distance (any change of shape) or the exact mean shift
    # from every row's sums (sharper for a plain shift than the reservoir's W).
    shift = d.values.get("mean_shift_sd")
    effect = max(w if w is not None else 0.0, abs(shift) if shift is not None else 0.0)
    d.relevant = effect >= t.wasserstein_sd and (w is not None or shift is not None)
    d.dataset_relevant = effect >= t.dataset_relevance * t.wasserstein_sd and effect > 0


def _categorical(d: _Draft, fspec: FeatureSpec, rc: FeatureCounts, cc: FeatureCounts,
                 t: DriftThresholds) -> None:
    present = cc.rows - cc.absent
    if cc.valid == 0:
        d.untestable = _why_no_values(cc, present)
        return
    if rc.valid < t.min_count or cc.valid < t.min_count:
        d.untestable = (f"too few values to compare ({rc.valid} reference, {cc.valid} "
                        f"current; at least {t.min_count} needed)")
        return
    ref, cur = rc.counts.astype(np.float64), cc.counts.astype(np.float64)
    chi_stat, chi_p, chi_dof = chi2_two_sample(ref, cur)
    js = js_distance(ref, cur)
    d.values.update(psi=psi(ref, cur), js_distance=js, chi2_statistic=chi_stat,
                    chi2_p_value=chi_p, chi2_dof=chi_dof, method="chi2", statistic=chi_stat,
                    effect_size=js, effect_threshold=t.js_distance)
    d.p_value = chi_p
    d.dataset_p_value = chi_p
    d.relevant = js >= t.js_distance
    d.dataset_relevant = js >= t.dataset_relevance * t.js_distance and js > 0


def _finish(d: _Draft, t: DriftThresholds) -> FeatureDrift:
    checks = []
    for q in d.quality or []:
        share = q["current_count"] / q["current_total"] if q["current_total"] else 0.0
        if q["rule"] == "fault":
            flagged = q["current_count"] > 0 and share > q["threshold"]
        else:
            flagged = (q["testable"] and abs(q["effect"]) >= q["threshold"]
                       and q["effect"] != 0 and q["p_adjusted"] is not None
                       and q["p_adjusted"] <= t.alpha)
        checks.append(QualityCheck(
            name=q["name"], reference_count=int(q["reference_count"]),
            reference_total=int(q["reference_total"]), current_count=int(q["current_count"]),
            current_total=int(q["current_total"]), effect=float(q["effect"]),
            threshold=float(q["threshold"]), p_value=_num(q["p_value"]),
            p_adjusted=_num(q["p_adjusted"]), rule=q["rule"], flagged=bool(flagged)))
    significant = d.p_adjusted is not None and d.p_adjusted <= t.alpha
    drifted = d.relevant and significant
    level = DATASET_ALPHA_SHARE * t.alpha
    dataset_signal = bool(
        d.dataset_relevant and d.dataset_p_adjusted is not None
        and d.dataset_p_adjusted <= level) or any(
        q["testable"] and q["effect"] != 0
        and abs(q["effect"]) >= t.dataset_relevance * q["threshold"]
        and q.get("dataset_p_adjusted") is not None and q["dataset_p_adjusted"] <= level
        for q in d.quality or [] if q["rule"] == "significance")
    bad = [q for q in checks if q.flagged]
    v = d.values
    if drifted:
        status = DRIFT
        reason = _drift_sentence(d, significant)
        if bad:
            reason += "; also " + "; ".join(q.describe() for q in bad)
    elif bad:
        status = QUALITY
        reason = "; ".join(q.describe() for q in bad)
        if d.untestable:
            reason += f" ({d.untestable})"
    elif d.untestable:
        status = NOT_TESTABLE
        reason = d.untestable
    else:
        status = OK
        reason = _ok_sentence(d, significant)
    clean = {k: (_num(x) if isinstance(x, float) else x) for k, x in v.items()}
    return FeatureDrift(name=d.spec.name, kind=d.spec.kind, status=status, reason=reason,
                        p_value=_num(d.p_value), p_adjusted=_num(d.p_adjusted),
                        relevant=bool(d.relevant), significant=bool(significant),
                        quality=tuple(checks), dataset_p_value=_num(d.dataset_p_value),
                        dataset_p_adjusted=_num(d.dataset_p_adjusted),
                        dataset_relevant=bool(d.dataset_relevant),
                        dataset_signal=dataset_signal, **clean)


def _effects_text(d: _Draft) -> str:
    v = d.values
    parts = []
    if v.get("wasserstein_sd") is not None:
        parts.append(f"Wasserstein {v['wasserstein_sd']:.3g} sd")
    if v.get("mean_shift_sd") is not None:
        parts.append(f"mean shift {v['mean_shift_sd']:+.3g} sd")
    if d.spec.kind == CATEGORICAL and v.get("js_distance") is not None:
        parts.append(f"JS {v['js_distance']:.3g}")
    if v.get("psi") is not None:
        parts.append(f"PSI {v['psi']:.3g}")
    return ", ".join(parts)


_TEST_NAMES = {SHIFT_SPREAD: "shift/spread/KS test", "chi2": "chi-square"}


def _drift_sentence(d: _Draft, significant: bool) -> str:
    test = _TEST_NAMES.get(d.values.get("method", ""), "test")
    return (f"distribution changed ({_effects_text(d)}; {test} p = {d.p_value:.2g}, "
            f"adjusted {d.p_adjusted:.2g})")


def _ok_sentence(d: _Draft, significant: bool) -> str:
    effects = _effects_text(d)
    if d.relevant and not significant:
        return (f"a change of this size ({effects}) is within the noise of "
                f"{d.values['n_current']} values (adjusted p = {d.p_adjusted:.2g})")
    if significant and not d.relevant:
        return f"a detectable but negligible change ({effects})"
    return f"no relevant change ({effects})"
