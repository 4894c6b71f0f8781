"""Multivariate drift: changes of the joint distribution that per-feature tests miss.

A correlation that flips sign while every marginal stays the same, a segment of the
population that appears in a combination of values the reference never had: each feature on
its own looks unchanged, the rows as a whole do not. Three detectors look at whole rows.

Domain classifier
-----------------
A :class:`~sklearn.ensemble.HistGradientBoostingClassifier` learns to tell reference rows
(label 0) from current rows (label 1): categorical columns natively
(``categorical_features``), missing values natively. Its stratified k-fold cross-validated
ROC AUC (the mean of the per-fold AUCs) is **the effect size**: 0.5 means the two samples
cannot be told apart, 1.0 that every row gives its origin away. The features it leaned on
are measured by permutation importance on the held-out folds (the AUC lost when one column
is shuffled); shuffling either of two features whose correlation flipped costs AUC, so both
show up.

**The alarm** needs significance too, from a permutation null: the domain labels are
shuffled ``permutations`` times and a cheap version of the procedure (at most
``null_rows`` rows per side, one stratified half split, a small model) is re-run on each;
the same cheap procedure on the true labels gives the observed value, so the test is exact
whatever the model does (p-value ``(1 + #null >= observed) / (1 + permutations)``). The
full AUC decides relevance, the cheap test significance.

PCA reconstruction error
------------------------
Numeric (and boolean) columns are standardised with the reference's mean and sd, missing
values imputed by the reference mean (a change in the missing rate is the per-feature
quality check's business). A PCA fitted on one half of the reference keeps the components
holding ``pca_variance`` of the variance (never all of them); a row's error is its mean
squared distance to that subspace. Rows that break the reference's correlations lie off the
subspace. The error of the current rows is compared with that of the *other* half of the
reference (also unseen by the PCA, so both are out of sample): the ratio of the means is the
effect size, a one-sided Mann-Whitney test on the per-row errors the significance.
Categorical columns are left out of the PCA (one-hot columns of rare categories would
dominate a standardised PCA); the domain classifier covers them.

Pairwise rank correlations
--------------------------
The reconstruction error spreads one pair's change over every column, so a single
correlation that weakens (0.6 to 0.3, say) among twenty independent columns barely moves
it. This detector looks at each pair of numeric columns directly: Spearman's rank
correlation on each side (rows where both are present; each column ranked once, all pairs
in a few matrix products), the difference tested on Fisher's z scale (``atanh``, variance
``1.06 / (n - 3)`` for a rank correlation), Benjamini-Hochberg across the pairs. A pair counts when its correlation moved by at least
``correlation_threshold`` and its adjusted p-value is within the detector's share of
``alpha``. Rank correlations ignore any monotone change of one column (a shift, a new
scale), which is the per-feature tests' business: this detector sees only how columns
move together, and names the pairs.

Verdict
-------
Multivariate drift is flagged when a detector is both relevant and significant:
classifier AUC ``>= auc_threshold`` and permutation p-value within its level, PCA error
ratio ``>= pca_ratio_threshold`` and Mann-Whitney p-value within its level, or a pair's
rank correlation moved by ``>= correlation_threshold`` with its BH-adjusted p-value within
its level. The levels split ``alpha`` (weighted Bonferroni: at most ``alpha`` false alarms
for the three): the classifier takes half, the PCA and the correlations share the other
half (a detector that cannot run leaves its share to the others).
Defaults and why:

=========================  ========  =====================================================
setting                    default   why
=========================  ========  =====================================================
``auc_threshold``          0.55      a single feature shifted by 0.18 sd gives AUC 0.55;
                                     smaller joint changes are not worth an alarm
``pca_ratio_threshold``    1.2       current rows 20 % further off the reference's
                                     principal subspace than reference rows
``correlation_threshold``  0.1       a pair's rank correlation moved by 0.1 (0.6 to
                                     0.5); a smaller change of how two columns move
                                     together is not worth an alarm
``alpha``                  0.05      shared by the detectors: 0.025 for the classifier,
                                     0.0125 each for the PCA and the correlations
``permutations``           39        the smallest count whose p-value can reach 0.025
``max_rows``               5 000     rows per side for the classifier (seeded subsample):
                                     AUC noise about ±0.006
``folds``                  3         folds of the cross-validated AUC (60 trees of 15
                                     leaves each)
``null_rows``              2 000     rows per side of the cheap procedure (10 trees of 7
                                     leaves, numeric columns cut to 32 quantile bins): a
                                     change with full AUC 0.55 still gets p = 0.025
``pca_max_rows``           20 000    rows per side for the PCA and the correlations
                                     (cheap)
``threads``                1         OpenMP / BLAS threads: on a busy 2-core desktop more
                                     threads spin and can run 10× slower
=========================  ========  =====================================================

With these defaults 50 000 rows × 25 columns a side take about 3 s of one core
(1.3 s classifier, 1.3 s permutation null, 0.3 s sampling, PCA and correlations);
sklearn's import adds about 1 s to the first call.

Too few rows, no usable column, all-missing or constant columns give a status with a reason
(``"not_testable"``), never an exception; unusable columns are listed with their reason.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from scipy import special

from modeldeck.core.drift.stats import DRIFT, NOT_TESTABLE, OK, benjamini_hochberg
from modeldeck.core.drift.stats import json_float as _num
from modeldeck.core.errors import DataError, InvalidInputError
from modeldeck.core.progress import CancelToken, Operation, ProgressEvent, run

#: HistGradientBoosting bins at most 255 values; categorical codes must stay below.
_MAX_CATEGORY_CODE = 253


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class MultivariateConfig:
    """Settings of :func:`multivariate_drift` (defaults and their reasons in the module
    docstring).

    Attributes
    ----------
    alpha
        False-alarm level shared by the detectors that run (Bonferroni).
    auc_threshold
        Relevance: cross-validated domain-classifier AUC at or above this.
    pca_ratio_threshold
        Relevance: current / reference mean PCA reconstruction error at or above this.
    correlation_threshold
        Relevance: a pair's rank correlation moved by at least this (absolute change).
    pca_variance
        Share of the reference variance the PCA keeps.
    max_rows
        Rows per side (seeded subsample) for the domain classifier.
    pca_max_rows
        Rows per side (seeded subsample) for the PCA and the pairwise correlations.
    folds
        Folds of the cross-validated AUC.
    max_iter, max_leaf_nodes, learning_rate, min_samples_leaf
        The domain classifier (``HistGradientBoostingClassifier``).
    permutations
        Permutations of the null; ``1 / (permutations + 1)`` must not exceed ``alpha / 2``.
    null_rows
        Rows per side of the cheap procedure run under the null.
    null_max_iter, null_max_leaf_nodes, null_learning_rate
        The cheap procedure's classifier.
    null_bins
        Quantile bins numeric columns are reduced to for the cheap procedure.
    min_rows
        Fewest rows per side for any test.
    importance_rows
        Held-out rows per fold (balanced) on which permutation importance is measured.
    top_features
        How many features :attr:`DomainClassifierResult.top_features` lists.
    threads
        OpenMP threads of the classifier (``None``: the library's default).
    """

    alpha: float = 0.05
    auc_threshold: float = 0.55
    pca_ratio_threshold: float = 1.2
    correlation_threshold: float = 0.1
    pca_variance: float = 0.9
    max_rows: int = 5_000
    pca_max_rows: int = 20_000
    folds: int = 3
    max_iter: int = 60
    max_leaf_nodes: int = 15
    learning_rate: float = 0.1
    min_samples_leaf: int = 20
    permutations: int = 39
    null_rows: int = 2_000
    null_max_iter: int = 10
    null_max_leaf_nodes: int = 7
    null_learning_rate: float = 0.3
    null_bins: int = 32
    min_rows: int = 30
    importance_rows: int = 1_000
    top_features: int = 5
    threads: int | None = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise InvalidInputError(f"alpha must be in (0, 1), got {self.alpha}",
                                    "use e.g. 0.05")
        if not 0.5 <= self.auc_threshold <= 1.0:
            raise InvalidInputError(f"auc_threshold must be in [0.5, 1], got "
                                    f"{self.auc_threshold}", "use e.g. 0.55")
        if not 0.0 < self.pca_variance < 1.0:
            raise InvalidInputError(f"pca_variance must be in (0, 1), got "
                                    f"{self.pca_variance}", "use e.g. 0.9")
        if self.pca_ratio_threshold < 1.0:
            raise InvalidInputError("pca_ratio_threshold must be >= 1", "use e.g. 1.2")
        if not 0.0 < self.correlation_threshold <= 2.0:
            raise InvalidInputError(f"correlation_threshold must be in (0, 2], got "
                                    f"{self.correlation_threshold}", "use e.g. 0.1")
        if self.folds < 2 or self.min_rows < 2 * self.folds:
            raise InvalidInputError("folds must be >= 2 and min_rows >= 2 * folds",
                                    "use e.g. folds=3, min_rows=30")
        if (self.permutations + 1) * self.alpha / 2.0 < 1.0:
            raise InvalidInputError(
                f"{self.permutations} permutations cannot give a p-value as small as "
                f"alpha / 2 = {self.alpha / 2:g}",
                f"use at least {math.ceil(2.0 / self.alpha) - 1} permutations")
        for name in ("max_rows", "pca_max_rows", "null_rows", "max_iter", "null_max_iter",
                     "max_leaf_nodes", "null_max_leaf_nodes", "min_samples_leaf",
                     "null_bins", "importance_rows"):
            if getattr(self, name) < 2:
                raise InvalidInputError(f"{name} must be at least 2", "use the default")
        if self.threads is not None and self.threads < 1:
            raise InvalidInputError("threads must be >= 1 or None", "use 1")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MultivariateConfig:
        """Inverse of :meth:`to_dict`; missing keys take their defaults.

        Raises
        ------
        InvalidInputError
            An unknown key or an invalid value.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(f"unknown multivariate setting(s): {', '.join(unknown)}",
                                    f"use {', '.join(sorted(known))}")
        return cls(**dict(data))


# --------------------------------------------------------------------------- results




class _Detector:
    """What every detector's result has: a status, hence whether it raised the alarm."""

    status: str

    @property
    def flagged(self) -> bool:
        """Whether this detector raised the alarm."""
        return self.status == DRIFT


@dataclass(frozen=True)
class FeatureImportance:
    """How much the domain classifier relied on one column.

    Attributes
    ----------
    name
        Column name.
    importance
        Held-out AUC lost when the column is shuffled (mean over folds; about 0 for a
        column the classifier did not use, slightly negative by chance).
    """

    name: str
    importance: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"name": self.name, "importance": _num(self.importance)}


@dataclass(frozen=True)
class DomainClassifierResult(_Detector):
    """The domain classifier's numbers and verdict.

    Attributes
    ----------
    status
        ``"ok"``, ``"drift"`` or ``"not_testable"``.
    reason
        A plain sentence explaining the status.
    auc
        Cross-validated ROC AUC of telling current from reference rows (mean of folds).
    auc_folds
        The per-fold AUCs.
    test_auc
        The cheap procedure's AUC on the true labels (what the null is compared with).
    null_mean, null_p95
        Mean and 95th percentile of the cheap procedure's AUC under shuffled labels.
    p_value
        ``(1 + #null >= test_auc) / (1 + permutations)``.
    alpha
        The level ``p_value`` is compared with (its share of ``alpha``, see the module).
    permutations
        Permutations run.
    relevant, significant
        ``auc >= auc_threshold``; ``p_value <= alpha``.
    n_reference, n_current
        Rows per side the classifier used (after subsampling).
    importances
        Every column's permutation importance, largest first.
    """

    status: str
    reason: str
    auc: float | None = None
    auc_folds: tuple[float, ...] = ()
    test_auc: float | None = None
    null_mean: float | None = None
    null_p95: float | None = None
    p_value: float | None = None
    alpha: float | None = None
    permutations: int = 0
    relevant: bool = False
    significant: bool = False
    n_reference: int = 0
    n_current: int = 0
    importances: tuple[FeatureImportance, ...] = ()
    top_n: int = 5

    @property
    def top_features(self) -> tuple[FeatureImportance, ...]:
        """The columns the classifier leaned on most (positive importance, at most
        ``top_n``)."""
        return tuple(f for f in self.importances if f.importance > 0)[:self.top_n]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"status": self.status, "reason": self.reason, "flagged": self.flagged,
                "auc": _num(self.auc), "auc_folds": [_num(a) for a in self.auc_folds],
                "test_auc": _num(self.test_auc), "null_mean": _num(self.null_mean),
                "null_p95": _num(self.null_p95), "p_value": _num(self.p_value),
                "alpha": _num(self.alpha), "permutations": self.permutations,
                "relevant": self.relevant, "significant": self.significant,
                "n_reference": self.n_reference, "n_current": self.n_current,
                "top_features": [f.to_dict() for f in self.top_features],
                "importances": [f.to_dict() for f in self.importances]}


@dataclass(frozen=True)
class PCAResult(_Detector):
    """The PCA reconstruction-error detector's numbers and verdict.

    Attributes
    ----------
    status
        ``"ok"``, ``"drift"`` or ``"not_testable"``.
    reason
        A plain sentence explaining the status.
    columns
        The numeric columns the PCA used.
    components
        Principal components kept.
    explained_variance
        Share of the reference (fit half) variance they hold.
    reference_error, current_error
        Mean per-row reconstruction error (mean squared standardised residual) of the
        held-out reference half and of the current rows.
    ratio
        ``current_error / reference_error``.
    p_value
        One-sided Mann-Whitney p-value that current errors are larger.
    alpha
        The level ``p_value`` is compared with.
    relevant, significant
        ``ratio >= pca_ratio_threshold``; ``p_value <= alpha``.
    n_fit, n_reference, n_current
        Reference rows the PCA was fitted on, held-out reference rows, current rows.
    """

    status: str
    reason: str
    columns: tuple[str, ...] = ()
    components: int = 0
    explained_variance: float | None = None
    reference_error: float | None = None
    current_error: float | None = None
    ratio: float | None = None
    p_value: float | None = None
    alpha: float | None = None
    relevant: bool = False
    significant: bool = False
    n_fit: int = 0
    n_reference: int = 0
    n_current: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"status": self.status, "reason": self.reason, "flagged": self.flagged,
                "columns": list(self.columns), "components": self.components,
                "explained_variance": _num(self.explained_variance),
                "reference_error": _num(self.reference_error),
                "current_error": _num(self.current_error), "ratio": _num(self.ratio),
                "p_value": _num(self.p_value), "alpha": _num(self.alpha),
                "relevant": self.relevant, "significant": self.significant,
                "n_fit": self.n_fit, "n_reference": self.n_reference,
                "n_current": self.n_current}


@dataclass(frozen=True)
class CorrelationChange:
    """One pair of columns whose rank correlation was compared.

    Attributes
    ----------
    a, b
        The two columns.
    reference, current
        Spearman's rank correlation on each side (rows where both are present).
    p_value
        Two-sided p-value of the difference (Fisher's z scale).
    p_adjusted
        The p-value after Benjamini-Hochberg across every pair compared.
    """

    a: str
    b: str
    reference: float
    current: float
    p_value: float
    p_adjusted: float

    @property
    def change(self) -> float:
        """``current - reference``."""
        return self.current - self.reference

    def describe(self) -> str:
        """``'x1' and 'x2': rank correlation 0.60 → 0.30``."""
        return (f"'{self.a}' and '{self.b}': rank correlation {self.reference:.2f} → "
                f"{self.current:.2f}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"a": self.a, "b": self.b, "reference": _num(self.reference),
                "current": _num(self.current), "change": _num(self.change),
                "p_value": _num(self.p_value), "p_adjusted": _num(self.p_adjusted)}


@dataclass(frozen=True)
class CorrelationResult(_Detector):
    """The pairwise rank-correlation detector's numbers and verdict.

    Attributes
    ----------
    status
        ``"ok"``, ``"drift"`` or ``"not_testable"``.
    reason
        A plain sentence explaining the status.
    columns
        The numeric columns compared pairwise.
    pairs
        Pairs compared.
    max_change
        The largest absolute change of a pair's rank correlation (the effect size).
    p_value
        The smallest BH-adjusted p-value among the pairs that moved by at least the
        threshold (among all pairs when none did).
    alpha
        The level ``p_value`` is compared with.
    relevant, significant
        A pair moved by ``>= correlation_threshold``; ``p_value <= alpha``.
    changes
        Every flagged pair (largest change first), then the other pairs with the smallest
        adjusted p-values, ``top_features`` in all (flagged pairs always listed). Before
        the verdict: every pair compared.
    flagged_pairs
        How many pairs are both relevant and significant.
    n_reference, n_current
        Rows per side compared (after subsampling).
    """

    status: str
    reason: str
    columns: tuple[str, ...] = ()
    pairs: int = 0
    max_change: float | None = None
    p_value: float | None = None
    alpha: float | None = None
    relevant: bool = False
    significant: bool = False
    changes: tuple[CorrelationChange, ...] = ()
    flagged_pairs: int = 0
    n_reference: int = 0
    n_current: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"status": self.status, "reason": self.reason, "flagged": self.flagged,
                "columns": list(self.columns), "pairs": self.pairs,
                "max_change": _num(self.max_change), "p_value": _num(self.p_value),
                "alpha": _num(self.alpha), "relevant": self.relevant,
                "significant": self.significant, "flagged_pairs": self.flagged_pairs,
                "changes": [c.to_dict() for c in self.changes],
                "n_reference": self.n_reference, "n_current": self.n_current}


@dataclass(frozen=True)
class MultivariateResult:
    """Multivariate drift between a reference and a current sample.

    Attributes
    ----------
    status
        ``"drift"`` (a detector flagged), ``"ok"`` or ``"not_testable"`` (no detector
        could run; see ``summary``).
    flagged
        Whether multivariate drift is flagged.
    summary
        One plain sentence.
    classifier, pca, correlations
        The three detectors.
    columns
        The columns compared.
    excluded
        ``(column, reason)`` for each input column left out.
    n_reference, n_current
        Rows given on each side.
    seed
        The seed of every random draw (same inputs and seed, same result).
    config
        The settings used.
    """

    status: str
    flagged: bool
    summary: str
    classifier: DomainClassifierResult
    pca: PCAResult
    correlations: CorrelationResult
    columns: tuple[str, ...]
    excluded: tuple[tuple[str, str], ...]
    n_reference: int
    n_current: int
    seed: int
    config: MultivariateConfig

    @property
    def auc(self) -> float | None:
        """The domain classifier's cross-validated AUC."""
        return self.classifier.auc

    @property
    def pca_ratio(self) -> float | None:
        """The PCA reconstruction error ratio."""
        return self.pca.ratio

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``"drift"`` is the verdict, as in the per-feature report)."""
        return {"drift": self.flagged, "status": self.status, "summary": self.summary,
                "classifier": self.classifier.to_dict(), "pca": self.pca.to_dict(),
                "correlations": self.correlations.to_dict(), "columns": list(self.columns),
                "excluded": [{"name": n, "reason": r} for n, r in self.excluded],
                "n_reference": self.n_reference, "n_current": self.n_current,
                "seed": self.seed, "config": self.config.to_dict()}


# --------------------------------------------------------------------------- entry points


def multivariate_drift(reference: pd.DataFrame, current: pd.DataFrame,
                       schema: Sequence[Any] | None = None,
                       config: MultivariateConfig | None = None, *, seed: int = 0,
                       cancel: CancelToken | None = None) -> MultivariateResult:
    """Test whether the joint distribution of the current rows differs from the reference.

    Parameters
    ----------
    reference, current
        The model's input columns, one row per prediction (pandas DataFrames). Numeric,
        boolean and categorical (string) columns; missing values allowed. Columns of the
        current data the schema does not name are ignored.
    schema
        The version's input schema (:class:`~modeldeck.core.schema.ColumnSchema` items);
        inferred from the reference sample when ``None``. Integer, float and boolean
        columns are numeric; string columns with a category list are categorical; free
        text and datetimes are left out.
    config
        Thresholds and sizes; :class:`MultivariateConfig` defaults if ``None``.
    seed
        Seed of every random draw (subsamples, folds, permutations, models).
    cancel
        Checked between folds and permutations.

    Returns
    -------
    MultivariateResult

    Raises
    ------
    Cancelled
        ``cancel`` was cancelled.
    DataError
        ``reference`` or ``current`` is not a DataFrame.
    """
    return run(iter_multivariate_drift(reference, current, schema, config, seed=seed,
                                       cancel=cancel))


def iter_multivariate_drift(reference: pd.DataFrame, current: pd.DataFrame,
                            schema: Sequence[Any] | None = None,
                            config: MultivariateConfig | None = None, *, seed: int = 0,
                            cancel: CancelToken | None = None
                            ) -> Operation[MultivariateResult]:
    """:func:`multivariate_drift` as a generator operation yielding progress events.

    Parameters and result are those of :func:`multivariate_drift`; drive it with
    :func:`modeldeck.core.progress.run` or a GUI worker.
    """
    config = config or MultivariateConfig()
    cancel = cancel or CancelToken()
    for name, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"the {name} data must be a pandas DataFrame, got "
                            f"{type(frame).__name__}", "load the data with pandas")
    n_ref, n_cur = len(reference), len(current)
    yield ProgressEvent("preparing", 0.0, "sampling and encoding rows")
    rng = np.random.default_rng(seed)
    ref_idx = _sample_index(n_ref, max(config.pca_max_rows, config.max_rows), rng)
    cur_idx = _sample_index(n_cur, max(config.pca_max_rows, config.max_rows), rng)
    prepared = _prepare(reference.iloc[ref_idx], current.iloc[cur_idx], schema)
    cancel.check()

    def _finish(clf: DomainClassifierResult, pca: PCAResult,
                corr: CorrelationResult) -> MultivariateResult:
        return _result(clf, pca, corr, prepared, n_ref, n_cur, seed, config)

    too_few = _too_few(n_ref, n_cur, config.min_rows)
    if not too_few and not prepared.names:
        too_few = "no usable column" + (f" ({_excluded_text(prepared.excluded)})"
                                        if prepared.excluded else "")
    if too_few:
        clf = DomainClassifierResult(NOT_TESTABLE, too_few, top_n=config.top_features)
        return _finish(clf, PCAResult(NOT_TESTABLE, too_few),
                       CorrelationResult(NOT_TESTABLE, too_few))

    # PCA and correlations first: they are cheap and tell how alpha is shared.
    yield ProgressEvent("pca", 0.05, "PCA reconstruction error and pairwise correlations")
    with _Limits(config.threads)():
        pca_draft = _pca(prepared, config, np.random.default_rng(rng.integers(2**32)))
        corr_draft = _correlations(prepared, config)
    alpha_clf, alpha_pca, alpha_corr = _alphas(config.alpha, pca_draft, corr_draft)
    pca = _pca_verdict(pca_draft, config, alpha_pca)
    corr = _correlation_verdict(corr_draft, config, alpha_corr)
    cancel.check()

    clf = yield from _classifier(prepared, config, int(rng.integers(2**31 - 1)), alpha_clf,
                                 cancel)
    yield ProgressEvent("done", 1.0, "multivariate drift computed")
    return _finish(clf, pca, corr)


def _alphas(alpha: float, pca: PCAResult, corr: CorrelationResult
            ) -> tuple[float, float, float]:
    """Each detector's level (weighted Bonferroni, the weights summing to one): half for
    the classifier, the other half shared by the PCA and the correlations that can run."""
    others = [d.status != NOT_TESTABLE for d in (pca, corr)]
    if not any(others):
        return alpha, alpha, alpha
    share = alpha / 2.0 / sum(others)
    return alpha / 2.0, share, share


# --------------------------------------------------------------------------- preparation


@dataclass
class _Prepared:
    """Encoded samples: float matrices, categorical codes as floats, NaN for missing."""

    names: list[str]
    categorical: np.ndarray   # bool mask over names
    ref: np.ndarray           # rows × columns (shuffled sample, nested prefixes)
    cur: np.ndarray
    excluded: list[tuple[str, str]]


def _sample_index(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded random order of at most ``cap`` of ``n`` rows; its prefixes are uniform
    samples too, so smaller caps nest inside larger ones."""
    if n <= cap:
        return rng.permutation(n)
    return rng.choice(n, size=cap, replace=False)


def _too_few(n_ref: int, n_cur: int, min_rows: int) -> str:
    if n_ref == 0 or n_cur == 0:
        side = "reference" if n_ref == 0 else "current"
        return f"the {side} data is empty"
    if min(n_ref, n_cur) < min_rows:
        return (f"too few rows ({n_ref} reference, {n_cur} current; at least {min_rows} "
                f"on each side are needed)")
    return ""


def _as_float(series: pd.Series, boolean: bool) -> np.ndarray:
    """Numbers as float64; anything that is not a finite number becomes NaN."""
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    elif boolean:
        text = series.astype(str).str.strip().str.lower()
        values = text.map({"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "1.0": 1.0,
                           "0.0": 0.0}).to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64,
                                                                 na_value=np.nan)
    values = np.array(values, dtype=np.float64)
    values[~np.isfinite(values)] = np.nan
    return values


def _as_codes(series: pd.Series, categories: Sequence[str]) -> np.ndarray:
    """Category codes as floats: the reference category's index, one shared code for
    values the reference never had, NaN for missing."""
    cats = [str(c) for c in categories][:_MAX_CATEGORY_CODE]
    lookup = {c: float(i) for i, c in enumerate(cats)}
    missing = series.isna().to_numpy()
    codes = np.array(series.astype(str).map(lookup).to_numpy(dtype=np.float64,
                                                             na_value=np.nan))
    codes[np.isnan(codes)] = float(len(cats))   # unseen
    codes[missing] = np.nan
    return codes


def _prepare(reference: pd.DataFrame, current: pd.DataFrame,
             schema: Sequence[Any] | None) -> _Prepared:
    if schema is None:
        from modeldeck.core.schema import infer_schema

        schema = infer_schema(reference)
    names: list[str] = []
    kinds: list[bool] = []
    ref_cols: list[np.ndarray] = []
    cur_cols: list[np.ndarray] = []
    excluded: list[tuple[str, str]] = []
    for column in schema:
        name, dtype = str(column.name), str(column.dtype)
        if name not in reference.columns:
            excluded.append((name, "absent from the reference data"))
            continue
        if name not in current.columns:
            excluded.append((name, "absent from the current data"))
            continue
        if dtype in ("integer", "float", "boolean"):
            r = _as_float(reference[name], dtype == "boolean")
            c = _as_float(current[name], dtype == "boolean")
            categorical = False
        elif dtype == "string" and column.categories is not None:
            r = _as_codes(reference[name], column.categories)
            c = _as_codes(current[name], column.categories)
            categorical = True
        elif dtype == "string":
            excluded.append((name, "free text: too many distinct values"))
            continue
        else:
            excluded.append((name, f"{dtype} columns are not compared"))
            continue
        both = np.concatenate([r, c])
        present = both[~np.isnan(both)]
        if present.size == 0:
            excluded.append((name, "no values on either side"))
            continue
        if np.unique(present).size == 1 and present.size == both.size:
            excluded.append((name, "constant: the same value in every row"))
            continue
        names.append(name)
        kinds.append(categorical)
        ref_cols.append(r)
        cur_cols.append(c)
    shape_r, shape_c = (len(reference), 0), (len(current), 0)
    return _Prepared(
        names=names, categorical=np.array(kinds, dtype=bool),
        ref=np.column_stack(ref_cols) if ref_cols else np.empty(shape_r),
        cur=np.column_stack(cur_cols) if cur_cols else np.empty(shape_c),
        excluded=excluded)


def _excluded_text(excluded: Sequence[tuple[str, str]]) -> str:
    return "; ".join(f"{n}: {r}" for n, r in excluded)


# --------------------------------------------------------------------------- classifier


def _rank_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of ``scores`` for ``y`` (0/1) with ties counted half (Mann-Whitney)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n1 = float(y.sum())
    n0 = float(y.size - n1)
    return float((ranks[y == 1].sum() - n1 * (n1 + 1.0) / 2.0) / (n1 * n0))


class _Limits:
    """The OpenMP / BLAS thread limit of the heavy steps, restored after each step (the
    operation is a generator: the limit must not outlive a step while it is suspended)."""

    def __init__(self, threads: int | None) -> None:
        self._threads = threads
        self._controller: Any = None
        if threads is not None:
            from threadpoolctl import ThreadpoolController

            self._controller = ThreadpoolController()

    def __call__(self) -> contextlib.AbstractContextManager[Any]:
        if self._controller is None:
            return contextlib.nullcontext()
        return self._controller.limit(limits=self._threads)  # type: ignore[no-any-return]


#: Shuffled copies of a test fold are scored in batches of at most this many rows.
_PREDICT_BATCH_ROWS = 200_000


def _fit_scores(limits: _Limits, model: Any, x_train: np.ndarray, y_train: np.ndarray,
                tests: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Fit ``model`` and return its current-class probability on each test matrix (stacked
    into few predict calls: HistGradientBoosting's predict costs a Python call per tree)."""
    out: list[np.ndarray] = []
    with limits():
        model.fit(x_train, y_train)
        batch: list[np.ndarray] = []
        rows = 0
        for k, t in enumerate(tests):
            batch.append(t)
            rows += len(t)
            if rows >= _PREDICT_BATCH_ROWS or k == len(tests) - 1:
                scores = model.predict_proba(np.vstack(batch))[:, 1]
                out.extend(np.split(scores, np.cumsum([len(b) for b in batch])[:-1]))
                batch, rows = [], 0
    return out


def _model(config: MultivariateConfig, cheap: bool, categorical: np.ndarray,
           seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=config.null_max_iter if cheap else config.max_iter,
        max_leaf_nodes=config.null_max_leaf_nodes if cheap else config.max_leaf_nodes,
        learning_rate=config.null_learning_rate if cheap else config.learning_rate,
        min_samples_leaf=config.min_samples_leaf,
        categorical_features=categorical if categorical.any() else None,
        early_stopping=False, random_state=seed)


def _split(x_ref: np.ndarray, x_cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.vstack([x_ref, x_cur])
    y = np.r_[np.zeros(len(x_ref), dtype=np.int8), np.ones(len(x_cur), dtype=np.int8)]
    return x, y


def _balanced_subset(y: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``budget`` row indices, as many of each label as possible up to half."""
    if len(y) <= budget:
        return np.arange(len(y))
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    n_pos = min(len(pos), max(budget // 2, budget - len(neg)))
    n_neg = min(len(neg), budget - n_pos)
    return np.sort(np.concatenate([rng.choice(pos, n_pos, replace=False),
                                   rng.choice(neg, n_neg, replace=False)]))


def _coarsen(x: np.ndarray, categorical: np.ndarray, levels: int) -> np.ndarray:
    """Numeric columns replaced by their quantile-bin index (``levels`` bins, NaN kept):
    the classifier then bins a handful of distinct values instead of computing quantiles
    on every fit, which is most of a small fit's cost. Labels play no part, so the null
    stays exact."""
    out = x.copy()
    steps = np.linspace(0.0, 1.0, levels + 1)[1:-1]
    for j in np.flatnonzero(~categorical):
        column = x[:, j]
        finite = column[~np.isnan(column)]
        if finite.size == 0:
            continue
        edges = np.unique(np.quantile(finite, steps))
        binned = np.searchsorted(edges, column, side="right").astype(np.float64)
        binned[np.isnan(column)] = np.nan
        out[:, j] = binned
    return out


def _classifier(prepared: _Prepared, config: MultivariateConfig, seed: int,
                alpha: float, cancel: CancelToken
                ) -> Operation[DomainClassifierResult]:
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(seed)
    limits = _Limits(config.threads)
    cats = prepared.categorical
    x_ref, x_cur = prepared.ref[:config.max_rows], prepared.cur[:config.max_rows]
    x, y = _split(x_ref, x_cur)
    folds = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=seed)
    aucs: list[float] = []
    drops = np.zeros((config.folds, len(prepared.names)))
    for k, (train, test) in enumerate(folds.split(x, y)):
        cancel.check()
        yield ProgressEvent("domain classifier", 0.1 + 0.3 * k / config.folds,
                            f"domain classifier, fold {k + 1} of {config.folds}")
        x_test, y_test = x[test], y[test]
        # Importance on a balanced subset of the fold: scoring a shuffled copy per column
        # costs more than the fit itself on the whole fold.
        some = _balanced_subset(y_test, config.importance_rows, rng)
        x_some, y_some = x_test[some], y_test[some]
        shuffled = []
        for j in range(len(prepared.names)):
            xs = x_some.copy()
            xs[:, j] = xs[rng.permutation(len(xs)), j]
            shuffled.append(xs)
        scores = _fit_scores(limits, _model(config, False, cats, seed), x[train], y[train],
                             [x_test, x_some, *shuffled])
        aucs.append(_rank_auc(y_test, scores[0]))
        base = _rank_auc(y_some, scores[1])
        drops[k] = [base - _rank_auc(y_some, s) for s in scores[2:]]
    importance = drops.mean(axis=0)
    order = np.argsort(-importance, kind="stable")
    importances = tuple(FeatureImportance(prepared.names[j], float(importance[j]))
                        for j in order)

    # The permutation null: the same cheap procedure on the true labels and on shuffled
    # ones (an exact test of "the two samples come from one distribution").
    n_ref_null = min(config.null_rows, len(x_ref))
    n_cur_null = min(config.null_rows, len(x_cur))
    xn, yn = _split(x_ref[:n_ref_null], x_cur[:n_cur_null])
    xn = _coarsen(xn, cats, config.null_bins)
    half = StratifiedKFold(n_splits=2, shuffle=True, random_state=seed + 1)

    def cheap(labels: np.ndarray) -> float:
        train, test = next(half.split(xn, labels))
        (scores,) = _fit_scores(limits, _model(config, True, cats, seed), xn[train],
                                labels[train], [xn[test]])
        return _rank_auc(labels[test], scores)

    observed = cheap(yn)
    null = np.empty(config.permutations)
    for k in range(config.permutations):
        cancel.check()
        if k % 5 == 0:
            yield ProgressEvent("permutation null", 0.4 + 0.6 * k / config.permutations,
                                f"permutation {k + 1} of {config.permutations}")
        null[k] = cheap(rng.permutation(yn))
    p_value = (1.0 + float(np.sum(null >= observed))) / (1.0 + config.permutations)
    auc = float(np.mean(aucs))
    relevant = auc >= config.auc_threshold
    significant = p_value <= alpha
    leaning = ", ".join(f.name for f in importances[:3] if f.importance > 0)
    if relevant and significant:
        status = DRIFT
        reason = (f"a classifier tells current from reference rows (AUC {auc:.3f}, "
                  f"permutation p = {p_value:.2g})"
                  + (f", mostly from {leaning}" if leaning else ""))
    elif relevant:
        status = OK
        reason = (f"AUC {auc:.3f} is within the noise of {len(x_ref)} + {len(x_cur)} rows "
                  f"(permutation p = {p_value:.2g} > {alpha:g})")
    elif significant:
        status = OK
        reason = (f"a detectable but small difference (AUC {auc:.3f} < "
                  f"{config.auc_threshold:g})")
    else:
        status = OK
        reason = f"current rows look like reference rows (AUC {auc:.3f})"
    return DomainClassifierResult(
        status=status, reason=reason, auc=auc, auc_folds=tuple(aucs), test_auc=observed,
        null_mean=float(null.mean()), null_p95=float(np.quantile(null, 0.95)),
        p_value=p_value, alpha=alpha, permutations=config.permutations,
        relevant=relevant, significant=significant, n_reference=len(x_ref),
        n_current=len(x_cur), importances=importances, top_n=config.top_features)


# --------------------------------------------------------------------------- PCA


def _pca(prepared: _Prepared, config: MultivariateConfig,
         rng: np.random.Generator) -> PCAResult:
    """Reconstruction errors (verdict left to :func:`_pca_verdict`)."""
    numeric = np.flatnonzero(~prepared.categorical)
    ref = prepared.ref[:config.pca_max_rows][:, numeric]
    cur = prepared.cur[:config.pca_max_rows][:, numeric]
    order = rng.permutation(len(ref))
    n_fit = len(ref) // 2
    fit, held = ref[order[:n_fit]], ref[order[n_fit:]]
    finite = ~np.isnan(fit)
    count = finite.sum(axis=0)
    filled = np.where(finite, fit, 0.0)
    mean = np.divide(filled.sum(axis=0), count, out=np.zeros(len(numeric)), where=count > 0)
    dev = np.where(finite, fit - mean, 0.0)
    var = np.divide((dev ** 2).sum(axis=0), count - 1, out=np.zeros(len(numeric)),
                    where=count > 1)
    sd = np.sqrt(var)
    usable = (count >= 2) & (sd > 1e-12 * np.maximum(1.0, np.abs(mean)))
    columns = tuple(prepared.names[numeric[j]] for j in np.flatnonzero(usable))
    if usable.sum() < 2:
        return PCAResult(NOT_TESTABLE, "fewer than two numeric columns that vary in the "
                         "reference", columns=columns)
    mean, sd = mean[usable], sd[usable]

    def standardise(a: np.ndarray) -> np.ndarray:
        z = (a[:, usable] - mean) / sd
        return np.where(np.isnan(z), 0.0, z)

    z_fit, z_held, z_cur = standardise(fit), standardise(held), standardise(cur)
    centre = z_fit.mean(axis=0)
    cov = np.cov(z_fit - centre, rowvar=False)
    eigenvalues, vectors = np.linalg.eigh(cov)
    eigenvalues, vectors = np.clip(eigenvalues[::-1], 0.0, None), vectors[:, ::-1]
    total = float(eigenvalues.sum())
    if total <= 0.0:
        return PCAResult(NOT_TESTABLE, "no variance in the reference", columns=columns)
    share = np.cumsum(eigenvalues) / total
    p = len(columns)
    k = min(int(np.searchsorted(share, config.pca_variance - 1e-12)) + 1, p - 1)
    basis = vectors[:, :k]

    def errors(z: np.ndarray) -> np.ndarray:
        centred = z - centre
        residual = centred - (centred @ basis) @ basis.T
        return np.asarray((residual ** 2).mean(axis=1))

    e_ref, e_cur = errors(z_held), errors(z_cur)
    ref_error, cur_error = float(e_ref.mean()), float(e_cur.mean())
    # A reference whose columns are exactly collinear has no error at all; any current
    # error is then infinitely many times larger: the floor keeps the ratio finite.
    ratio = cur_error / max(ref_error, 1e-12)
    both = np.concatenate([e_ref, e_cur])
    if np.ptp(both) <= 0.0:
        p_value = 1.0
    else:
        from scipy.stats import mannwhitneyu

        p_value = float(mannwhitneyu(e_cur, e_ref, alternative="greater").pvalue)
    return PCAResult(OK, "", columns=columns, components=k,
                     explained_variance=float(share[k - 1]), reference_error=ref_error,
                     current_error=cur_error, ratio=ratio, p_value=p_value,
                     n_fit=len(fit), n_reference=len(held), n_current=len(cur))


def _pca_verdict(draft: PCAResult, config: MultivariateConfig, alpha: float) -> PCAResult:
    if draft.status == NOT_TESTABLE:
        return draft
    assert draft.ratio is not None and draft.p_value is not None
    relevant = draft.ratio >= config.pca_ratio_threshold
    significant = draft.p_value <= alpha
    text = (f"reconstruction error ×{draft.ratio:.3g} of the reference's "
            f"(Mann-Whitney p = {draft.p_value:.2g}, {draft.components} of "
            f"{len(draft.columns)} components)")
    if relevant and significant:
        status, reason = DRIFT, f"rows moved off the reference's correlations: {text}"
    elif relevant:
        status, reason = OK, f"within the noise: {text}"
    elif significant:
        status, reason = OK, f"a detectable but small change: {text}"
    else:
        status, reason = OK, f"no change in the correlations: {text}"
    return replace(draft, status=status, reason=reason, alpha=alpha, relevant=relevant,
                   significant=significant)


# --------------------------------------------------------------------------- correlations

#: Variance of ``atanh`` of a Spearman correlation is about ``1.06 / (n - 3)`` (Fieller,
#: Hartley and Pearson 1957), a little more than Pearson's ``1 / (n - 3)``.
SPEARMAN_VARIANCE = 1.06


def _rank_correlations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman's correlation of every pair of columns of ``x`` and the number of rows
    where both are present.

    Each column is ranked once over its present values (ties share their average rank);
    a pair's correlation is the Pearson correlation of those ranks over the rows where both
    are present, all pairs at once (``O(n p²)`` in matrix products). For columns without
    missing values that is exactly Spearman's; for the rest it differs from ranking each
    pair's shared rows anew only in the ranks' spacing (the same estimator on both sides,
    which is what the test compares), and it avoids ranking every pair again.
    """
    from scipy.stats import rankdata

    present = ~np.isnan(x)
    ranks = np.where(present, rankdata(x, axis=0, nan_policy="omit"), 0.0)
    mask = present.astype(np.float64)
    rows = mask.T @ mask                       # rows where both columns are present
    sums = ranks.T @ mask                      # [i, j]: sum of i's ranks over those rows
    squares = (ranks * ranks).T @ mask
    products = ranks.T @ ranks
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = products - sums * sums.T / rows
        var = squares - sums * sums / rows
        rho = cov / np.sqrt(var * var.T)
    rho[(rows < 3) | ~np.isfinite(rho)] = np.nan
    return np.clip(rho, -1.0, 1.0), rows.astype(np.int64)


def _correlations(prepared: _Prepared, config: MultivariateConfig) -> CorrelationResult:
    """Every numeric pair's rank correlation on both sides (verdict left to
    :func:`_correlation_verdict`)."""
    numeric = np.flatnonzero(~prepared.categorical)
    ref = prepared.ref[:config.pca_max_rows][:, numeric]
    cur = prepared.cur[:config.pca_max_rows][:, numeric]
    varies = [np.nanstd(ref[:, j]) > 0 if np.isfinite(ref[:, j]).sum() >= 3 else False
              for j in range(len(numeric))]
    keep = np.flatnonzero(varies)
    columns = tuple(prepared.names[numeric[j]] for j in keep)
    if keep.size < 2:
        return CorrelationResult(NOT_TESTABLE, "fewer than two numeric columns that vary "
                                 "in the reference", columns=columns)
    rho_ref, n_ref = _rank_correlations(ref[:, keep])
    rho_cur, n_cur = _rank_correlations(cur[:, keep])
    upper = np.triu_indices(keep.size, k=1)
    r1, r2 = rho_ref[upper], rho_cur[upper]
    m1, m2 = n_ref[upper], n_cur[upper]
    usable = np.isfinite(r1) & np.isfinite(r2) & (m1 > 3) & (m2 > 3)
    if not usable.any():
        return CorrelationResult(NOT_TESTABLE, "no pair of numeric columns has values on "
                                 "both sides", columns=columns)
    ia, ib = upper[0][usable], upper[1][usable]
    r1, r2, m1, m2 = r1[usable], r2[usable], m1[usable], m2[usable]
    edge = 1.0 - 1e-9
    z = (np.arctanh(np.clip(r2, -edge, edge)) - np.arctanh(np.clip(r1, -edge, edge))) / \
        np.sqrt(SPEARMAN_VARIANCE / (m1 - 3) + SPEARMAN_VARIANCE / (m2 - 3))
    p_values = np.clip(2.0 * special.ndtr(-np.abs(z)), 0.0, 1.0)
    adjusted = benjamini_hochberg(p_values)
    changes = [CorrelationChange(columns[a], columns[b], float(x), float(y), float(p),
                                 float(q))
               for a, b, x, y, p, q in zip(ia, ib, r1, r2, p_values, adjusted)]
    return CorrelationResult(OK, "", columns=columns, pairs=len(changes),
                             changes=tuple(changes), n_reference=int(len(ref)),
                             n_current=int(len(cur)))


def _correlation_verdict(draft: CorrelationResult, config: MultivariateConfig,
                         alpha: float) -> CorrelationResult:
    if draft.status == NOT_TESTABLE:
        return draft
    threshold = config.correlation_threshold

    def sharpest_first(c: CorrelationChange) -> tuple[float, float]:
        return c.p_adjusted, -abs(c.change)

    moved = [c for c in draft.changes if abs(c.change) >= threshold]
    flagged = sorted((c for c in moved if c.p_adjusted <= alpha),
                     key=lambda c: -abs(c.change))
    sharpest = min(moved or draft.changes, key=sharpest_first)
    p_value = sharpest.p_adjusted
    biggest = max(draft.changes, key=lambda c: abs(c.change))
    others = sorted((c for c in draft.changes
                     if not (abs(c.change) >= threshold and c.p_adjusted <= alpha)),
                    key=sharpest_first)
    shown = tuple(flagged) + tuple(others[:max(config.top_features - len(flagged), 0)])
    if flagged:
        status = DRIFT
        more = f" (and {len(flagged) - 3} more pairs)" if len(flagged) > 3 else ""
        reason = ("columns move together differently: "
                  + "; ".join(f"{c.describe()} (p = {c.p_adjusted:.2g})" for c in flagged[:3])
                  + more)
    else:
        status = OK
        text = f"largest change {biggest.describe()} (adjusted p = {biggest.p_adjusted:.2g})"
        if moved:
            reason = f"within the noise over {draft.pairs} pairs: {text}"
        elif p_value <= alpha:
            reason = (f"a detectable but small change (under {threshold:g}): "
                      f"{sharpest.describe()} (adjusted p = {sharpest.p_adjusted:.2g})")
        else:
            reason = f"no pair of columns moves together differently: {text}"
    return replace(draft, status=status, reason=reason, max_change=abs(biggest.change),
                   p_value=p_value, alpha=alpha, relevant=bool(moved),
                   significant=p_value <= alpha, changes=shown, flagged_pairs=len(flagged))


# --------------------------------------------------------------------------- verdict


def _result(clf: DomainClassifierResult, pca: PCAResult, corr: CorrelationResult,
            prepared: _Prepared, n_ref: int, n_cur: int, seed: int,
            config: MultivariateConfig) -> MultivariateResult:
    detectors = (clf, pca, corr)
    flagged = any(d.flagged for d in detectors)
    if all(d.status == NOT_TESTABLE for d in detectors):
        status = NOT_TESTABLE
        summary = f"multivariate drift not testable: {clf.reason}"
    elif flagged:
        status = DRIFT
        parts = [d.reason for d in detectors if d.flagged]
        summary = "the joint distribution changed: " + "; ".join(parts)
    else:
        status = OK
        parts = [f"classifier AUC {clf.auc:.3f} (p = {clf.p_value:.2g})"
                 if clf.auc is not None and clf.p_value is not None else ""]
        if pca.ratio is not None and pca.p_value is not None:
            parts.append(f"PCA error ×{pca.ratio:.3g} (p = {pca.p_value:.2g})")
        if corr.max_change is not None:
            parts.append(f"rank correlations moved by at most {corr.max_change:.2f}")
        summary = "no multivariate drift: " + ", ".join(p for p in parts if p)
    return MultivariateResult(
        status=status, flagged=flagged, summary=summary, classifier=clf, pca=pca,
        correlations=corr, columns=tuple(prepared.names), excluded=tuple(prepared.excluded),
        n_reference=n_ref, n_current=n_cur, seed=seed, config=config)
