"""Drift monitoring: reference specs, mergeable profiles and per-feature drift statistics.

Flow
----
1. At registration, :func:`build_reference` turns a version's reference data and schema
   into a :class:`ReferenceSpec` (bin edges at reference quantiles, reference moments and
   categories) and the reference :class:`Profile`. Both are stored and reused — the
   reference is never profiled again.
2. Hosts (or the desktop) profile production data against the spec with
   :func:`profile_frame`: bin and category counts, missing / absent / non-number / ±inf
   counts, centred sums, min, max and a bounded uniform reservoir sample. Profiles of any
   hosts and windows merge exactly (:func:`merge_profiles`) and serialise compactly
   (:meth:`Profile.to_bytes`). Raw production rows never need to leave a host.
3. :func:`compare_profiles` compares the reference profile with a (merged) current
   profile and returns a :class:`DriftResult`: one :class:`FeatureDrift` per feature with
   every statistic (PSI, Jensen-Shannon, Wasserstein in reference sd, KS, chi-square, data
   quality checks), a status (``ok`` / ``drift`` / ``quality`` / ``not_testable`` with a
   reason) and the data-set verdict.

Statistics, thresholds and why
------------------------------
Per numeric feature: a Kolmogorov-Smirnov test on the bin counts (the distribution test:
every row, exact for merged profiles, blind to ties and rounding noise), the Wasserstein
distance and the exact mean shift in reference standard deviations (the effect sizes), PSI,
Jensen-Shannon, KS on the reservoir samples, binned chi-square and the sd ratio. Per
categorical feature: a chi-square two-sample test on the reference and current counts
(never a goodness-of-fit test that takes the reference shares as exact), Jensen-Shannon
distance (the effect size) and PSI. Data quality has its own checks: missing rate
(two-proportion test; Fisher's exact test for few events), unseen categories, values
outside the reference range, infinities, non-numbers, absent columns.

A feature is flagged only when its change is *practically relevant* (an effect size over
a :class:`DriftThresholds` threshold) **and** *statistically significant* after
Benjamini-Hochberg control over all tests of the comparison. Effect sizes alone alarm on
noise at small n; p-values alone alarm on negligible shifts at large n; both together do
neither. Defaults (configurable per model):

=======================  ========  ==================================================
threshold                default   meaning
=======================  ========  ==================================================
``alpha``                0.05      BH false-discovery level over all tests
``wasserstein_sd``       0.08      numeric: Wasserstein distance or |mean shift|, in
                                   reference standard deviations
``js_distance``          0.05      categorical: Jensen-Shannon distance (base 2)
``missing_rate``         0.005     change of the missing share (half a point)
``unseen_share``         0.005     share of values in never-seen categories
``out_of_range_share``   0.1       share outside the reference range
``infinite_share``       0         ±inf: any, when the reference had none (a fault)
``invalid_share``        0         non-numbers in a numeric column: any (a fault)
``dataset_min_flagged``  1         flagged features that make the data set drift
``dataset_relevance``    0.5       the data-set family's relevance bar, as a share of
                                   each feature's own threshold (1: the same bars)
=======================  ========  ==================================================

Why: a 0.1-sd shift is the smallest worth an alarm; the estimates wobble (the reservoir's
Wasserstein distance by about ±0.014 sd at 10 000 rows), so the threshold sits 20 % lower
to catch a 0.1-sd shift reliably from 50 000 rows on, while a 0.05-sd shift on a million rows
stays quiet. The Jensen-Shannon threshold matches a ~0.12-sd shift over 20 bins, or 5 % of
rows moving between categories. A small reference's range is easily exceeded by a few
percent of new rows, so out-of-range only counts from one row in ten. PSI is reported but
not used for the verdict (its noise floor over 20 bins is about ``19·(1/n + 1/m)``). With
these defaults no-drift data raise at most 5 % false alarms per feature and per data set
from 500 to 500 000 rows (``benchmarks/drift_bench.py`` prints false-alarm and detection
tables).

The data-set verdict (``DriftResult.drift``) is "at least ``dataset_min_flagged``
features flagged for drift or data quality, or moving at the data-set level": the flags
are already multiplicity controlled, so one is strong evidence. The data-set level is a
second Benjamini-Hochberg family at 0.8 × ``alpha`` (so the union stays under ``alpha``)
over the same tests (numeric: rank tests of shift and spread on the bin counts, pooled with
the binned KS) with a relevance bar of ``dataset_relevance`` × each feature's threshold:
it catches drifts a single feature's flag is too strict for (a 0.1-sd shift at 5 000
rows, a ×1.1 spread) without more than 5 % false data-set alarms. Untestable features
(missing column, all missing, constant reference...) carry their reason but do not set
the verdict. A report's verdict (``DriftReport.drift``) adds the multivariate tests when
they ran: a joint distribution that changed while no feature did (a correlation that
weakened or flipped) is drift too.

The tests assume independent rows: duplicated records (the same row scored again and
again) make every test overconfident.

Layering
--------
:mod:`modeldeck.core.drift.profile` is numpy + stdlib only (the on-host prediction server
imports it); the statistics (:mod:`modeldeck.core.drift.stats`, numpy + scipy) load lazily
from this package, so ``import modeldeck.core.drift.profile`` never imports scipy.
"""

from __future__ import annotations

from typing import Any

from modeldeck.core.drift.profile import (
    DEFAULT_BINS,
    DEFAULT_SAMPLE_SIZE,
    FeatureCounts,
    FeatureSpec,
    Profile,
    ReferenceSpec,
    build_reference,
    build_spec,
    empty_profile,
    merge_profiles,
    profile_frame,
)

_STATS = ("DriftResult", "DriftThresholds", "FeatureDrift", "QualityCheck",
          "compare_frames", "compare_profiles")
# Loaded on first use too (scipy, scikit-learn, pandas): name -> module.
_LAZY = {
    **{name: "stats" for name in _STATS},
    **{name: "report" for name in ("Advice", "DriftReport", "Histogram", "PerformancePoint",
                                   "PredictionWindow", "WindowDrift", "analyze")},
    **{name: "multivariate" for name in ("MultivariateConfig", "MultivariateResult",
                                         "multivariate_drift")},
    **{name: "performance" for name in ("Estimate", "OutputDrift", "PerformanceEstimator",
                                        "PredictionDrift", "prediction_drift",
                                        "realized_performance")},
    "render_html": "html",
}

__all__ = [
    "Advice",
    "DriftReport",
    "Estimate",
    "Histogram",
    "MultivariateConfig",
    "MultivariateResult",
    "OutputDrift",
    "PerformanceEstimator",
    "PerformancePoint",
    "PredictionDrift",
    "PredictionWindow",
    "WindowDrift",
    "analyze",
    "multivariate_drift",
    "prediction_drift",
    "realized_performance",
    "render_html",
    "DEFAULT_BINS",
    "DEFAULT_SAMPLE_SIZE",
    "DriftResult",
    "DriftThresholds",
    "FeatureCounts",
    "FeatureDrift",
    "FeatureSpec",
    "Profile",
    "QualityCheck",
    "ReferenceSpec",
    "build_reference",
    "build_spec",
    "compare_frames",
    "compare_profiles",
    "empty_profile",
    "merge_profiles",
    "profile_frame",
]


def __getattr__(name: str) -> Any:
    # The statistics need scipy; load them on first use so that the numpy-only profile
    # module stays importable without it (on-host prediction server).
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"modeldeck.core.drift.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
