"""Multivariate drift: domain classifier with a permutation null, PCA reconstruction error,
pairwise rank correlations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modeldeck.core.drift.multivariate import (
    MultivariateConfig,
    MultivariateResult,
    iter_multivariate_drift,
    multivariate_drift,
)
from modeldeck.core.errors import Cancelled, DataError, InvalidInputError
from modeldeck.core.progress import CancelToken

#: Smaller samples than the defaults, so that each comparison takes well under a second.
FAST = MultivariateConfig(max_rows=1000, pca_max_rows=2000, max_iter=30, null_rows=300)


def _frame(n: int, rng: np.random.Generator, rho: float = 0.9, shift: float = 0.0
           ) -> pd.DataFrame:
    x1 = rng.normal(size=n)
    x2 = rho * x1 + np.sqrt(1.0 - rho ** 2) * rng.normal(size=n)
    return pd.DataFrame({
        "x1": x1, "x2": x2,
        "z0": rng.normal(size=n) + shift, "z1": rng.exponential(size=n),
        "color": rng.choice(["red", "green", "blue"], size=n),
    })


def _flipped(reference: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The reference rows with x2's values re-paired so that corr(x1, x2) is about -0.9:
    every column keeps exactly the same values, only the pairing changes."""
    x1 = reference["x1"].to_numpy()
    target = -0.9 * x1 + np.sqrt(1.0 - 0.81) * rng.normal(size=len(x1))
    ranks = np.argsort(np.argsort(target))
    current = reference.copy()
    current["x2"] = np.sort(reference["x2"].to_numpy())[ranks]
    return current


@pytest.fixture(scope="module")
def flip() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(11)
    reference = _frame(1000, rng)
    return reference, _flipped(reference, rng)


@pytest.fixture(scope="module")
def flip_result(flip: tuple[pd.DataFrame, pd.DataFrame]) -> MultivariateResult:
    return multivariate_drift(*flip, config=FAST, seed=1)


def test_correlation_flip_is_flagged_while_marginals_are_identical(flip, flip_result) -> None:
    reference, current = flip
    assert np.corrcoef(reference["x1"], reference["x2"])[0, 1] > 0.85
    assert np.corrcoef(current["x1"], current["x2"])[0, 1] < -0.85
    for column in reference.columns:   # per-feature tests cannot see anything
        assert (np.sort(reference[column].to_numpy())
                == np.sort(current[column].to_numpy())).all()

    result = flip_result
    assert result.flagged and result.status == "drift"
    clf, pca = result.classifier, result.pca
    assert clf.flagged and clf.auc is not None and clf.auc > 0.8
    assert clf.p_value == pytest.approx(1 / 40)       # no shuffled run came close
    assert clf.null_mean is not None and abs(clf.null_mean - 0.5) < 0.05
    assert {f.name for f in clf.top_features[:2]} == {"x1", "x2"}
    assert pca.flagged and pca.ratio is not None and pca.ratio > 5
    assert set(pca.columns) == {"x1", "x2", "z0", "z1"}   # categorical left out
    corr = result.correlations
    assert corr.flagged and corr.flagged_pairs == 1 and corr.pairs == 6
    top = corr.changes[0]
    assert (top.a, top.b) == ("x1", "x2") and top.reference > 0.85 and top.current < -0.85
    assert corr.max_change == pytest.approx(abs(top.change))
    assert "'x1' and 'x2'" in corr.reason
    assert "joint distribution changed" in result.summary
    assert result.columns == ("x1", "x2", "z0", "z1", "color")


def test_result_serialises_to_plain_json(flip_result) -> None:
    data = flip_result.to_dict()
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert back["drift"] is True
    assert back["classifier"]["permutations"] == 39
    assert back["classifier"]["top_features"][0]["name"] in ("x1", "x2")
    assert back["config"]["max_rows"] == 1000
    assert back["correlations"]["flagged"] is True
    assert back["correlations"]["changes"][0]["a"] == "x1"
    assert MultivariateConfig.from_dict(back["config"]) == FAST


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_distribution_is_not_flagged(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    reference, current = _frame(600, rng), _frame(500, rng)
    result = multivariate_drift(reference, current, config=FAST, seed=seed)
    assert not result.flagged and result.status == "ok"
    assert result.classifier.auc is not None and result.classifier.auc < 0.55
    assert result.pca.ratio is not None and result.pca.ratio < 1.2
    assert not result.correlations.flagged and result.correlations.status == "ok"
    assert 0.0 < (result.classifier.p_value or 0.0) <= 1.0
    assert result.summary.startswith("no multivariate drift")


def test_mean_shift_is_flagged_and_located() -> None:
    rng = np.random.default_rng(5)
    reference, current = _frame(1000, rng), _frame(1000, rng, shift=1.0)
    result = multivariate_drift(reference, current, config=FAST, seed=0)
    assert result.flagged and result.classifier.flagged
    assert result.classifier.auc is not None and result.classifier.auc > 0.65
    assert result.classifier.top_features[0].name == "z0"


def test_categorical_association_change_is_flagged() -> None:
    # Two categorical columns that agree 90 % of the time in the reference and 10 % in the
    # current data; each column's own frequencies stay uniform. No numeric column: the PCA
    # cannot run and the classifier gets the whole alpha.
    rng = np.random.default_rng(2)

    def sample(n: int, agree: float) -> pd.DataFrame:
        a = rng.choice(list("abcd"), size=n)
        other = rng.choice(list("abcd"), size=n)
        b = np.where(rng.random(n) < agree, a, other)
        frame = pd.DataFrame({"a": a, "b": b}).astype(object)
        frame.loc[rng.random(n) < 0.05, "b"] = None
        return frame

    result = multivariate_drift(sample(800, 0.9), sample(800, 0.1), config=FAST, seed=0)
    assert result.pca.status == "not_testable"
    assert result.correlations.status == "not_testable"
    assert result.classifier.alpha == pytest.approx(0.05)
    assert result.flagged and result.classifier.auc is not None
    assert result.classifier.auc > 0.7


def _coupled(n: int, rho: float, rng: np.random.Generator, width: int = 12) -> pd.DataFrame:
    """``width`` independent columns of which ``c0`` and ``c1`` have correlation ``rho``."""
    frame = pd.DataFrame({f"c{j}": rng.normal(size=n) for j in range(width)})
    frame["c1"] = rho * frame["c0"] + np.sqrt(1.0 - rho ** 2) * frame["c1"]
    return frame


def test_one_weakened_correlation_among_many_columns_is_named() -> None:
    # 0.6 -> 0.2 in one pair of twelve columns: the rows' reconstruction error barely moves
    # (one small component of twelve), the pair's own rank correlation does.
    rng = np.random.default_rng(8)
    reference, current = _coupled(2000, 0.6, rng), _coupled(2000, 0.2, rng)
    result = multivariate_drift(reference, current, config=FAST, seed=0)
    corr = result.correlations
    assert result.flagged and corr.flagged and corr.pairs == 66
    assert corr.flagged_pairs == 1 and (corr.changes[0].a, corr.changes[0].b) == ("c0", "c1")
    assert corr.alpha == pytest.approx(0.0125) and result.pca.alpha == pytest.approx(0.0125)
    assert result.classifier.alpha == pytest.approx(0.025)
    assert "'c0' and 'c1'" in result.summary


def test_rank_correlations_are_spearmans_on_rows_where_both_are_present() -> None:
    from scipy.stats import spearmanr

    rng = np.random.default_rng(4)
    reference, current = _coupled(400, 0.5, rng, width=3), _coupled(300, 0.5, rng, width=3)
    current.loc[rng.random(300) < 0.2, "c1"] = np.nan
    current.loc[:40, "c2"] = current.loc[:40, "c2"].round()   # ties
    everything = MultivariateConfig(top_features=3)
    corr = multivariate_drift(reference, current, config=everything, seed=0).correlations
    assert corr.pairs == 3 and len(corr.changes) == 3
    for change in corr.changes:
        both = current[[change.a, change.b]].dropna()
        expected = spearmanr(both[change.a], both[change.b]).statistic
        # exact without missing values; with them, each column is ranked once over its
        # own values (not anew per pair), which moves the estimate by well under 0.01
        close = 1e-12 if len(both) == len(current) else 0.005
        assert change.current == pytest.approx(expected, abs=close)
        assert change.reference == pytest.approx(
            spearmanr(reference[change.a], reference[change.b]).statistic, abs=1e-12)


def test_monotone_changes_of_one_column_leave_the_correlations_alone() -> None:
    # A shift, a new scale, a log and more missing values: the per-feature tests' business;
    # how the columns move together is unchanged.
    rng = np.random.default_rng(6)
    reference = _coupled(1500, 0.6, rng, width=4)
    current = _coupled(1500, 0.6, rng, width=4)
    current["c0"] = 3.0 * current["c0"] + 10.0
    current["c1"] = np.exp(current["c1"])
    current.loc[rng.random(1500) < 0.3, "c2"] = np.nan
    result = multivariate_drift(reference, current, config=FAST, seed=0)
    assert not result.correlations.flagged
    assert result.correlations.max_change is not None and result.correlations.max_change < 0.1
    assert result.flagged   # the classifier sees the shift


def test_same_seed_same_result(flip, flip_result) -> None:
    again = multivariate_drift(*flip, config=FAST, seed=1)
    assert again.to_dict() == flip_result.to_dict()


@pytest.mark.parametrize("n_ref, n_cur, words", [
    (0, 100, "reference data is empty"),
    (100, 0, "current data is empty"),
    (100, 12, "too few rows"),
])
def test_too_few_rows_give_a_status(n_ref: int, n_cur: int, words: str) -> None:
    rng = np.random.default_rng(0)
    result = multivariate_drift(_frame(n_ref, rng), _frame(n_cur, rng), config=FAST)
    assert result.status == "not_testable" and not result.flagged
    assert words in result.summary
    assert result.classifier.status == result.pca.status == "not_testable"
    json.dumps(result.to_dict(), allow_nan=False)


def test_unusable_columns_are_listed_and_the_rest_compared() -> None:
    rng = np.random.default_rng(4)
    n = 300
    reference = pd.DataFrame({
        "x": rng.normal(size=n), "y": rng.normal(size=n),
        "empty": np.full(n, np.nan), "constant": np.ones(n),
        "text": [f"note {i}" for i in range(n)],
        "when": pd.date_range("2026-01-01", periods=n, freq="h"),
    })
    current = reference.sample(frac=1.0, random_state=1).reset_index(drop=True)
    current = current.drop(columns=["y"])
    current["x"] = current["x"].astype(object)
    current.loc[:9, "x"] = "n/a"            # strings in a numeric column
    current.loc[10:14, "x"] = np.inf          # infinities
    current["extra"] = 1.0                    # a column the model does not use
    result = multivariate_drift(reference, current, config=FAST)
    reasons = dict(result.excluded)
    assert set(reasons) == {"y", "empty", "constant", "text", "when"}
    assert "absent from the current data" in reasons["y"]
    assert "no values" in reasons["empty"]
    assert "constant" in reasons["constant"]
    assert "free text" in reasons["text"]
    assert "datetime" in reasons["when"]
    assert result.columns == ("x",)
    assert result.pca.status == "not_testable"        # one numeric column: no PCA
    assert result.classifier.status in ("ok", "drift")
    json.dumps(result.to_dict(), allow_nan=False)


def test_no_usable_column_gives_a_status() -> None:
    n = 100
    reference = pd.DataFrame({"empty": np.full(n, np.nan), "constant": np.zeros(n)})
    result = multivariate_drift(reference, reference.copy(), config=FAST)
    assert result.status == "not_testable"
    assert "no usable column" in result.summary and "constant" in result.summary


def test_constant_reference_column_that_moves_is_compared() -> None:
    # Constant in the reference, varying in the current data: no sd for the PCA, but the
    # classifier sees it, and that is multivariate drift.
    rng = np.random.default_rng(6)
    reference = pd.DataFrame({"k": np.zeros(400), "x": rng.normal(size=400)})
    current = pd.DataFrame({"k": rng.integers(0, 3, 400).astype(float),
                            "x": rng.normal(size=400)})
    result = multivariate_drift(reference, current, config=FAST)
    assert result.pca.status == "not_testable"
    assert result.flagged and result.classifier.top_features[0].name == "k"


def test_not_a_frame_is_a_data_error() -> None:
    with pytest.raises(DataError):
        multivariate_drift(np.zeros((10, 2)), pd.DataFrame())  # type: ignore[arg-type]


def test_progress_and_cancel(flip) -> None:
    reference, current = flip
    token = CancelToken()
    operation = iter_multivariate_drift(reference, current, config=FAST, cancel=token)
    steps = []
    with pytest.raises(Cancelled):
        for event in operation:
            steps.append(event.step)
            if event.step == "permutation null":
                token.cancel()
    assert steps[:2] == ["preparing", "pca"] and "domain classifier" in steps


def test_config_is_validated() -> None:
    with pytest.raises(InvalidInputError, match="permutations"):
        MultivariateConfig(permutations=19)          # cannot reach alpha / 2 = 0.025
    MultivariateConfig(permutations=19, alpha=0.1)
    with pytest.raises(InvalidInputError):
        MultivariateConfig(auc_threshold=0.4)
    with pytest.raises(InvalidInputError, match="correlation_threshold"):
        MultivariateConfig(correlation_threshold=0.0)
    with pytest.raises(InvalidInputError, match="unknown"):
        MultivariateConfig.from_dict({"max_row": 10})
