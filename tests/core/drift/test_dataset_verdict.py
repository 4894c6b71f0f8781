"""The data-set verdict's own level: sharper tests, BH over all features, a lower bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modeldeck.core.drift import DriftThresholds
from modeldeck.core.drift.stats import (
    binned_score_test,
    cauchy_combination,
    compare_frames,
)


def _counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1)


def test_binned_score_test_sees_shift_and_spread_with_their_sign() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(0, 1, 5_000)
    edges = np.quantile(ref, np.linspace(0.05, 0.95, 19))
    r = _counts(ref, edges)
    assert binned_score_test(r, r) == (0.0, 1.0)
    up = _counts(rng.normal(0.15, 1, 5_000), edges)
    z, p = binned_score_test(r, up)
    assert z > 0 and p < 1e-4
    assert binned_score_test(r, up, scale=True)[1] > 1e-3
    wide = _counts(rng.normal(0, 1.15, 5_000), edges)
    z, p = binned_score_test(r, wide, scale=True)
    assert z > 0 and p < 1e-4
    assert binned_score_test(r, wide)[1] > 1e-3
    assert binned_score_test([5, 0], [0, 0]) == (0.0, 1.0)


def test_binned_score_test_holds_its_level() -> None:
    rng = np.random.default_rng(2)
    p_values = []
    for _ in range(400):
        ref = rng.standard_t(5, 300)
        edges = np.quantile(ref, np.linspace(0.05, 0.95, 19))
        cur = rng.standard_t(5, 300)
        p_values.append(binned_score_test(_counts(ref, edges), _counts(cur, edges),
                                          scale=bool(len(p_values) % 2))[1])
    assert np.mean(np.asarray(p_values) < 0.05) < 0.09
    assert stats.kstest(p_values, "uniform").pvalue > 1e-3


def test_cauchy_combination() -> None:
    assert cauchy_combination([0.03]) == pytest.approx(0.03)
    assert cauchy_combination([0.2, 0.2, 0.2]) == pytest.approx(0.2)
    assert cauchy_combination([1e-8, 0.9, 0.9]) == pytest.approx(3e-8, rel=0.05)
    assert cauchy_combination([1e-300, 1.0]) < 1e-290
    assert 0.0 <= cauchy_combination([1.0, 1.0]) <= 1.0
    assert cauchy_combination([]) == 1.0


def _frames(n: int, moved: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Category ``c``: ``moved`` of the rows go from 'a' to 'd' in the current frame."""
    rng = np.random.default_rng(seed)
    cats, probs = np.array(["a", "b", "c", "d"]), [0.4, 0.3, 0.2, 0.1]

    def frame(p: list[float]) -> pd.DataFrame:
        return pd.DataFrame({"x": rng.normal(0, 1, n), "y": rng.lognormal(0, 0.5, n),
                             "c": cats[rng.choice(4, size=n, p=p)]})
    return frame(probs), frame([probs[0] - moved, probs[1], probs[2], probs[3] + moved])


def test_a_change_below_every_feature_bar_can_still_move_the_data_set() -> None:
    reference, current = _frames(50_000, 0.02, seed=3)
    result = compare_frames(reference, current, seed=3)
    c = result.feature("c")
    assert c.js_distance is not None and c.js_distance < 0.05   # below its own bar
    assert not result.flagged and c.status == "ok"                # the feature keeps its rule
    assert c.dataset_signal and c.dataset_relevant and c.dataset_p_adjusted < 0.05
    assert result.drift and result.dataset_features == ("c",)
    assert "significant for the data set as a whole, in c" in result.summary
    assert result.to_dict()["dataset_features"] == ["c"]
    # The data-set bar is configurable: at the features' own bar, or with two features
    # required, the same data are no data-set drift.
    assert not compare_frames(reference, current, seed=3,
                              thresholds=DriftThresholds(dataset_relevance=1.0)).drift
    assert not compare_frames(reference, current, seed=3,
                              thresholds=DriftThresholds(dataset_min_flagged=2)).drift


def test_the_data_set_level_keeps_a_relevance_bar() -> None:
    # 0.5 % of the rows moving is significant on 500 000 rows but below even half the bar.
    reference, current = _frames(500_000, 0.005, seed=4)
    result = compare_frames(reference, current, seed=4)
    assert result.feature("c").chi2_p_value < 1e-3
    assert not result.drift and not result.feature("c").dataset_signal


def test_no_drift_rarely_moves_the_data_set() -> None:
    alarms = sum(compare_frames(*_frames(500, 0.0, seed=s), seed=s).drift for s in range(40))
    assert alarms <= 4
