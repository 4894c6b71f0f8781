"""Drift engine benchmark: speed, peak memory and detection quality (run on demand).

    python benchmarks/drift_bench.py            # full run (about 45 minutes on 2 cores)
    python benchmarks/drift_bench.py --quick    # about 5-10 minutes, rough quality figures
    python benchmarks/drift_bench.py --only speed|quality
    python benchmarks/drift_bench.py --no-evidently --no-joint   # ModelDeck per-feature only
    python benchmarks/drift_bench.py --only quality --sizes 500 --reps 30   # one size, closer

Run it with the test venv (``.venv/bin/python``). Evidently, when present, runs in its own
venv and process (see below).

Speed and memory: 20 numeric + 5 categorical features, reference 100k rows, current 100k and
1M rows. The reference spec and profile are built once, stored as bytes and loaded back
(never recomputed); the timed path is "profile the current frame + load the stored reference
profile + full per-feature report". Each size runs in a fresh subprocess so its peak RSS
(``resource.getrusage``) is its own; a second, untimed pass under tracemalloc gives the
engine's own peak allocation (tracemalloc slows allocation-heavy code, so it never runs in
the timed pass).

Quality: no-drift controls (same distribution on both sides) at n = 500, 5k, 50k, 500k
give the false-alarm rate per feature and per data set (1 000 runs at 500 and 5 000 rows,
100 at 50 000: controls are cheap, and a rate near a 5 % target needs many runs to mean
anything); graded injected drifts give the
detection rate of the drifted feature and of the data-set verdict. The reference is a fresh
sample of ``min(n, 50 000)`` rows each repetition (the registry stores at most 50 000).
Each drift case changes one column of the repetition's current frame; only that column is
profiled again and spliced into the frame's profile (the other 24 would be identical), and
the full comparison runs on the result.

Whole-row drifts (fewer repetitions: each runs :func:`multivariate_drift`, 2-3 s a call):
*selection bias* (the current rows are a biased subset of the same population: a row is kept
with probability ``logistic(beta * z(num_0))``) and *correlation-only change* (``num_12`` and
``num_18`` have rank correlation 0.6 in every frame; the drifted frames get 0.3, 0 or -0.6 by
permuting ``num_18``, so both marginals are exactly unchanged). For these the table shows the
per-feature result, the multivariate (domain classifier, PCA, pairwise rank correlations)
verdict and "either" (a report's data-set verdict); for correlation-only the multivariate
verdict is the data-set detection. The controls also run
the multivariate detector, for its false-alarm rate.

Evidently side by side
----------------------
Evidently's ``DataDriftPreset`` (its defaults) runs on the same data when its interpreter is
available (``--evidently-python``, default ``.venv-evidently/bin/python``; skipped with the
reason printed otherwise, or with ``--no-evidently``). Evidently 0.7 needs ``pandas<3`` and
ModelDeck's test venv has pandas 3, so it is *not* a dependency in ``pyproject.toml`` (the
pins conflict) and lives in its own, git-ignored venv::

    python3 -m venv .venv-evidently
    .venv-evidently/bin/pip install 'evidently==0.7.*' 'pandas<3' numpy scipy pyarrow

Data go to Evidently's process as Parquet files in a temp dir. Speed: one fresh process per
size; its ``Report.run`` + ``snapshot.dict()`` time (frames already in memory, raw reference
included: Evidently has no stored profile) and the process's peak RSS (``getrusage``) are set
against ModelDeck's, with ratios. Quality: the same controls and drifts per repetition (one
Evidently process per repetition); single-column drifts are spliced as for ModelDeck (only
the drifted column is compared again, Evidently's per-column tests being independent), the
data-set verdict is the preset's (at least 50 % of the columns drifted).

Like for like: the last table applies Evidently's rule to ModelDeck's own tests (each
column on its own, no Benjamini-Hochberg across features, no relevance bar), at p < 0.05
and at the level where ModelDeck's tests flag as many clean columns as Evidently's did in
the same controls (the fair comparison of two tests is at the same false-alarm rate; where
Evidently flagged none, the level where ModelDeck flags none of its own), beside Evidently's
rate: the power of the tests, apart from the calibration ModelDeck's flags add. A cell below
Evidently's is tested against run-to-run noise (one-sided Fisher test of the two counts:
Evidently has far fewer runs).
"""


from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats as sps

from modeldeck.core.drift import (
    DriftResult,
    DriftThresholds,
    Profile,
    build_reference,
    compare_profiles,
    profile_frame,
)

N_NUMERIC = 20
N_CATEGORICAL = 5
CATEGORIES = [
    (["a", "b", "c"], [0.5, 0.3, 0.2]),
    (["north", "south", "east", "west"], [0.4, 0.3, 0.2, 0.1]),
    (["x1", "x2", "x3", "x4", "x5", "x6"], [0.3, 0.25, 0.2, 0.1, 0.1, 0.05]),
    (["yes", "no"], [0.7, 0.3]),
    ([f"k{i}" for i in range(10)], [0.3, 0.2, 0.1, 0.1, 0.08, 0.07, 0.05, 0.04, 0.03, 0.03]),
]
#: Baseline missing share of some features (controls are not all complete data).
BASE_MISSING = {"num_3": 0.02, "num_11": 0.05, "cat_2": 0.01}
REFERENCE_CAP = 50_000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Base (reference) rank correlation of the coupled pair; the correlation-only drift changes
#: it while both marginals stay exactly the same (the current values are a permutation).
COUPLED = ("num_12", "num_18")
BASE_RHO = 0.6
#: Timed repetitions of the speed benchmark (the best is reported, and the median).
REPEATS = 3


# --------------------------------------------------------------------------- data


def _numeric(j: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Feature ``num_j``: normal, skewed, heavy-tailed, bounded, integer or bimodal."""
    kind = j % 6
    if kind == 0:
        return rng.normal(10.0 + j, 2.0, n)
    if kind == 1:
        return rng.lognormal(1.0, 0.6, n)
    if kind == 2:
        return rng.standard_t(5, n) * 3.0
    if kind == 3:
        return rng.uniform(0.0, 100.0, n)
    if kind == 4:
        return rng.poisson(4.0, n).astype(np.float64)
    mix = rng.random(n) < 0.35
    return np.where(mix, rng.normal(-2.0, 0.7, n), rng.normal(2.0, 1.0, n))


def make_frame(n: int, rng: np.random.Generator,
               drift: Callable[[pd.DataFrame, np.random.Generator], None] | None = None,
               strings: bool = True, rho: float = BASE_RHO) -> pd.DataFrame:
    """``n`` rows of the benchmark's 25 features; ``drift`` edits the frame in place.

    Columns are added one at a time (no consolidated copy), so the frame's peak memory is
    about its final size: 8 bytes a cell for numbers, an arrow string column per category.
    """
    frame = pd.DataFrame(index=pd.RangeIndex(n))
    for j in range(N_NUMERIC):
        frame[f"num_{j}"] = _numeric(j, n, rng)
    _couple(frame, *COUPLED, rho, rng)
    for j, (cats, probs) in enumerate(CATEGORIES):
        codes = rng.choice(len(cats), size=n, p=probs).astype(np.int8)
        column = pd.Categorical.from_codes(codes, categories=cats)
        frame[f"cat_{j}"] = column.astype("str") if strings else column
    for name, share in BASE_MISSING.items():
        _set_missing(frame, name, share, rng)
    if drift is not None:
        drift(frame, rng)
    return frame


def _couple(frame: pd.DataFrame, a: str, b: str, rho: float,
            rng: np.random.Generator) -> None:
    """Permute column ``b`` so its correlation with ``a`` is about ``rho`` (Gaussian copula).

    ``b``'s values are only reordered, so its marginal distribution is exactly unchanged.
    """
    x = frame[a].to_numpy(dtype=np.float64)
    z = (x - x.mean()) / x.std()
    score = rho * z + np.sqrt(1.0 - rho * rho) * rng.standard_normal(len(x))
    ranks = np.empty(len(x), dtype=np.intp)
    ranks[np.argsort(score, kind="stable")] = np.arange(len(x))
    frame[b] = np.sort(frame[b].to_numpy(dtype=np.float64))[ranks]


def _set_missing(frame: pd.DataFrame, name: str, share: float,
                 rng: np.random.Generator) -> None:
    mask = rng.random(len(frame)) < share
    frame.loc[mask, name] = np.nan if name.startswith("num") else None


def _sd(name: str) -> float:
    sample = _numeric(int(name.split("_")[1]), 200_000, np.random.default_rng(99))
    return float(np.std(sample))


@dataclass(frozen=True)
class Case:
    """One injected drift: the feature it touches and how."""

    kind: str
    size: str
    feature: str
    apply: Callable[[pd.DataFrame, np.random.Generator], None]
    #: ``oracle(n_current, n_reference)``: the oracle power (see :func:`oracle_mean_shift`).
    oracle: Callable[[int, int], float] | None = None


def _shift(name: str, sds: float) -> Callable[[pd.DataFrame, np.random.Generator], None]:
    delta = sds * _sd(name)

    def apply(frame: pd.DataFrame, _rng: np.random.Generator) -> None:
        frame[name] = frame[name] + delta
    return apply


def _scale(name: str, factor: float) -> Callable[[pd.DataFrame, np.random.Generator], None]:
    def apply(frame: pd.DataFrame, _rng: np.random.Generator) -> None:
        mean = float(frame[name].mean())
        frame[name] = mean + (frame[name] - mean) * factor
    return apply


def _category_shift(j: int, moved: float) -> Callable[[pd.DataFrame, np.random.Generator], None]:
    """Move ``moved`` of the probability mass from the first category to the last."""
    cats, probs = CATEGORIES[j]
    name = f"cat_{j}"

    def apply(frame: pd.DataFrame, rng: np.random.Generator) -> None:
        first = (frame[name] == cats[0]).to_numpy()
        flip = first & (rng.random(len(frame)) < moved / probs[0])
        values = frame[name].to_numpy(dtype=object).copy()
        values[flip] = cats[-1]
        frame[name] = pd.array(values, dtype="str")
    return apply


def _missing_jump(name: str, extra: float) -> Callable[[pd.DataFrame, np.random.Generator], None]:
    def apply(frame: pd.DataFrame, rng: np.random.Generator) -> None:
        _set_missing(frame, name, extra, rng)
    return apply


def drift_cases() -> list[Case]:
    """The graded injected drifts, one feature each."""
    cases = [Case("mean shift", f"{s:g} sd", "num_0", _shift("num_0", s),
                  oracle_mean_shift(s)) for s in (0.1, 0.25, 0.5)]
    cases += [Case("mean shift (skewed)", f"{s:g} sd", "num_1", _shift("num_1", s),
                   oracle_mean_shift(s)) for s in (0.1, 0.25, 0.5)]
    cases += [Case("scale change", f"x{f:g}", "num_6", _scale("num_6", f),
                   oracle_scale(f)) for f in (1.1, 1.25, 1.5)]
    cases += [Case("category frequency", f"{m:.0%} moved", "cat_1", _category_shift(1, m),
                   oracle_category(1, m)) for m in (0.02, 0.05, 0.1)]
    cases += [Case("missing-rate jump", f"+{e:.0%}", "num_5", _missing_jump("num_5", e),
                   oracle_missing(BASE_MISSING.get("num_5", 0.0), e))
              for e in (0.01, 0.03, 0.1)]
    return cases


# --------------------------------------------------------------------------- oracle power
#
# What ANY data-set verdict could detect at most: the power of the best single test for a
# drift that knows which feature moved, how and in which direction, at a 5 % false-alarm
# rate (one-sided, alpha = ORACLE_ALPHA), with the reference's rows (min(n, 50 000)) on the
# other side. A real verdict does not know the feature (it must guard all 25 at once), nor
# the kind or direction of the change, so it can only do worse; a miss where the oracle's
# power is low is statistically unavoidable. The tests are the classical optimal ones for
# each kind (normal theory, exact where cheap):
#
# * mean shift by d sd: the two-sample z-test on the means, power
#   Phi(d / sqrt(1/n + 1/m) - z_0.95) (the Neyman-Pearson test for a normal feature; for the
#   skewed feature the same z-test on the means, by the central limit theorem);
# * scale change by f (a normal feature): the one-sided F-test of the variances;
# * category frequency: the score test of the known change of shares (weights
#   (q_k - p_k) / p_k on the current-minus-reference shares; normal approximation with the
#   variance under each hypothesis); it beats a two-proportion test on any single category;
# * missing-rate jump: a column with no missing values in the reference: Fisher's exact
#   one-sided test (exact power over the binomial count of the current side); otherwise
#   the one-sided two-proportion z-test;
# * selection bias: the z-test on num_0's mean with the selected distribution's mean and
#   sd (computed numerically); correlation-only: Fisher's z-test of the two correlations.

ORACLE_ALPHA = 0.05
#: A case counts as "oracle-detectable" at a size when the oracle's power reaches this.
ORACLE_DETECTABLE = 0.9


def _z_alpha() -> float:
    from scipy import stats
    return float(stats.norm.isf(ORACLE_ALPHA))


def oracle_mean_shift(sds: float, sd_current: float = 1.0) -> Callable[[int, int], float]:
    """Power of the one-sided two-sample z-test on the means for a shift of ``sds`` sd."""
    from scipy import stats

    def power(n: int, m: int) -> float:
        se = np.sqrt(sd_current ** 2 / n + 1.0 / m)
        return float(stats.norm.cdf(abs(sds) / se - _z_alpha() * np.sqrt(1 / n + 1 / m) / se))
    return power


def oracle_scale(factor: float) -> Callable[[int, int], float]:
    """Power of the one-sided F-test of the variances (normal feature) for a factor."""
    from scipy import stats

    def power(n: int, m: int) -> float:
        if factor >= 1:
            crit = stats.f.isf(ORACLE_ALPHA, n - 1, m - 1)
            return float(stats.f.sf(crit / factor ** 2, n - 1, m - 1))
        crit = stats.f.ppf(ORACLE_ALPHA, n - 1, m - 1)
        return float(stats.f.cdf(crit / factor ** 2, n - 1, m - 1))
    return power


def oracle_category(j: int, moved: float) -> Callable[[int, int], float]:
    """Power of the score test of :func:`_category_shift`'s known change of shares."""
    from scipy import stats
    p = np.asarray(CATEGORIES[j][1], dtype=np.float64)
    q = p.copy()
    q[0] -= moved
    q[-1] += moved
    w = (q - p) / p
    delta2 = float(np.sum((q - p) ** 2 / p))          # E_q[w] - E_p[w]; also Var_p(w)
    var_q = float(np.sum(q * w * w) - np.sum(q * w) ** 2)

    def power(n: int, m: int) -> float:
        crit = _z_alpha() * np.sqrt(delta2 * (1 / n + 1 / m))
        return float(stats.norm.cdf((delta2 - crit) / np.sqrt(var_q / n + delta2 / m)))
    return power


def oracle_missing(base: float, extra: float) -> Callable[[int, int], float]:
    """Power of the one-sided test of a missing share ``base`` -> ``base + extra``
    (:func:`_set_missing` on top of the base: ``base + extra - base * extra``)."""
    from scipy import special, stats
    rate = base + extra - base * extra

    def power(n: int, m: int) -> float:
        if base == 0.0:
            # The reference has no missing value: Fisher's one-sided p-value of b missing
            # current values is C(n, b) / C(n + m, b); power = P(b >= the first b that
            # reaches alpha).
            b = np.arange(0, n + 1, dtype=np.float64)
            log_p = (special.gammaln(n + 1) - special.gammaln(n - b + 1)
                     - special.gammaln(n + m + 1) + special.gammaln(n + m - b + 1))
            first = int(np.argmax(log_p <= np.log(ORACLE_ALPHA)))
            return float(stats.binom.sf(first - 1, n, rate))
        se0 = np.sqrt(base * (1 - base) * (1 / n + 1 / m))
        se1 = np.sqrt(rate * (1 - rate) / n + base * (1 - base) / m)
        return float(stats.norm.cdf((rate - base - _z_alpha() * se0) / se1))
    return power


def _selection_moments(beta: float) -> tuple[float, float]:
    """Mean and sd (in sd of the population) of z kept with probability logistic(beta z)."""
    z = np.linspace(-9.0, 9.0, 20_001)
    weight = np.exp(-0.5 * z * z) / (1.0 + np.exp(-beta * z))
    mean = float(np.sum(z * weight) / np.sum(weight))
    var = float(np.sum((z - mean) ** 2 * weight) / np.sum(weight))
    return mean, float(np.sqrt(var))


def oracle_selection(beta: float) -> Callable[[int, int], float]:
    """Power of the z-test on num_0's mean under selection ``logistic(beta z)``."""
    mean, sd = _selection_moments(beta)
    return oracle_mean_shift(mean, sd)


def oracle_correlation(rho: float, base: float = BASE_RHO) -> Callable[[int, int], float]:
    """Power of Fisher's one-sided z-test of a correlation ``base`` -> ``rho``."""
    from scipy import stats
    gap = abs(np.arctanh(rho) - np.arctanh(base))

    def power(n: int, m: int) -> float:
        return float(stats.norm.cdf(gap / np.sqrt(1 / (n - 3) + 1 / (m - 3)) - _z_alpha()))
    return power


@dataclass(frozen=True)
class JointCase:
    """A drift of whole rows: ``make(n, rng)`` draws the whole current frame.

    ``feature`` is the column a per-feature test should flag (``None``: no marginal moves,
    only the joint distribution; the multivariate detector is the one expected to alarm).
    """

    kind: str
    size: str
    feature: str | None
    make: Callable[[int, np.random.Generator], pd.DataFrame]
    oracle: Callable[[int, int], float] | None = None


def _selection(beta: float) -> Callable[[int, np.random.Generator], pd.DataFrame]:
    """Keep rows with probability ``logistic(beta * z)``, ``z`` = standardised ``num_0``."""
    def make(n: int, rng: np.random.Generator) -> pd.DataFrame:
        while True:
            frame = make_frame(int(2.5 * n) + 100, rng, strings=False)
            x = frame["num_0"].to_numpy()
            z = (x - x.mean()) / x.std()
            keep = np.flatnonzero(rng.random(len(x)) < 1.0 / (1.0 + np.exp(-beta * z)))
            if len(keep) >= n:
                return frame.iloc[keep[:n]].reset_index(drop=True)
    return make


def _correlation(rho: float) -> Callable[[int, np.random.Generator], pd.DataFrame]:
    def make(n: int, rng: np.random.Generator) -> pd.DataFrame:
        return make_frame(n, rng, strings=False, rho=rho)
    return make


def joint_cases() -> list[JointCase]:
    """Selection bias and correlation-only drifts (whole rows change)."""
    cases = [JointCase("selection bias", f"beta {b:g}", "num_0", _selection(b),
                       oracle_selection(b)) for b in (0.2, 0.5, 1.0)]
    cases += [JointCase("correlation only", f"rho {BASE_RHO:g}>{r:g}", None, _correlation(r),
                        oracle_correlation(r)) for r in (0.3, 0.0, -0.6)]
    return cases


# --------------------------------------------------------------------------- evidently

#: Run by the Evidently interpreter (its own venv, pandas<3): reads the jobs file, runs
#: Evidently's DataDriftPreset with its defaults on each job, prints one JSON line.
_EVIDENTLY_CHILD = r"""
import json, resource, sys, time
import pandas as pd
import evidently
from evidently import Report
from evidently.presets import DataDriftPreset

def rss_mb():
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except OSError:
        return 0.0
    import os
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

jobs = json.load(open(sys.argv[1]))
rss_start = rss_mb()
out = {"version": evidently.__version__, "pandas": pd.__version__, "rss_start_mb": rss_start,
       "results": []}
cache = {}
for job in jobs:
    if job["reference"] not in cache:
        cache.clear()
        cache[job["reference"]] = pd.read_parquet(job["reference"])
    reference = cache[job["reference"]]
    current = pd.read_parquet(job["current"])
    if job.get("columns"):
        reference = reference[job["columns"]]
    rss_data = rss_mb()
    t0 = time.perf_counter()
    snapshot = Report([DataDriftPreset()], include_tests=job.get("tests", True)).run(
        current, reference)
    data = snapshot.dict()
    seconds = time.perf_counter() - t0
    drifted, methods, dataset = [], {}, None
    for test in data.get("tests", []):
        params = test["metric_config"]["params"]
        if params["type"].endswith("ValueDrift"):
            methods[params["column"]] = params.get("method")
            if test["status"] == "FAIL":
                drifted.append(params["column"])
        elif params["type"].endswith("DriftedColumnsCount"):
            dataset = test["status"] == "FAIL"
    share = None
    for metric in data["metrics"]:
        if metric["config"]["type"].endswith("DriftedColumnsCount"):
            share = metric["value"]["share"]
    out["results"].append({"seconds": seconds, "drifted": drifted, "dataset_drift": dataset,
                           "share": share, "methods": methods, "rss_after_data_mb": rss_data,
                           "n_current": len(current), "n_columns": current.shape[1]})
    del current, snapshot, data
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps(out))
"""


def evidently_python(path: str) -> tuple[str | None, str]:
    """The Evidently interpreter, or ``None`` and why it cannot be used."""
    if not os.path.exists(path):
        return None, (f"{path} not found (create it: python3 -m venv .venv-evidently && "
                      ".venv-evidently/bin/pip install 'evidently==0.7.*' 'pandas<3' numpy "
                      "scipy pyarrow)")
    probe = subprocess.run([path, "-c", "import evidently, pyarrow; print(evidently.__version__)"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return None, f"{path} cannot import evidently/pyarrow: {probe.stderr.strip()[-300:]}"
    return path, probe.stdout.strip()


def run_evidently(python: str, jobs: list[dict[str, object]], workdir: str) -> dict:
    """Run Evidently's jobs in one fresh process; its peak RSS is its own."""
    jobs_path = os.path.join(workdir, "jobs.json")
    with open(jobs_path, "w") as handle:
        json.dump(jobs, handle)
    t0 = time.perf_counter()
    out = subprocess.run([python, "-c", _EVIDENTLY_CHILD, jobs_path],
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"Evidently child failed:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    return result


# --------------------------------------------------------------------------- speed


def _speed_child(n_current: int, n_reference: int, repeats: int) -> dict[str, float]:
    """Run in a fresh process: time and memory of one profile + report."""
    import resource

    rng = np.random.default_rng(1)
    build_reference(make_frame(1000, rng))  # warm up imports and caches
    rss_start = _rss_mb()
    reference = make_frame(n_reference, rng)
    spec, ref_profile = build_reference(reference)
    stored = ref_profile.to_bytes()
    del reference, ref_profile
    current = make_frame(n_current, rng)
    rss_data = _rss_mb()
    runs = []
    for _ in range(repeats):  # best of the runs, as timeit does: other load only adds time
        t0 = time.perf_counter()
        reference_profile = Profile.from_bytes(stored)   # stored once, loaded, not recomputed
        t1 = time.perf_counter()
        current_profile = profile_frame(spec, current, seed=2)
        t2 = time.perf_counter()
        result = compare_profiles(reference_profile, current_profile)
        t3 = time.perf_counter()
        result.to_dict()
        runs.append((t3 - t0, t1 - t0, t2 - t1, t3 - t2))
    total, load, prof, report = min(runs)
    median = sorted(r[0] for r in runs)[len(runs) // 2]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    # A second, traced pass for the engine's own allocations (tracemalloc slows the
    # allocation-heavy parts, so it never runs in the timed pass).
    tracemalloc.start()
    compare_profiles(Profile.from_bytes(stored), profile_frame(spec, current, seed=2))
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"n_current": n_current, "n_reference": n_reference, "load_reference_s": load,
            "profile_s": prof, "report_s": report, "total_s": total, "median_total_s": median,
            "traced_peak_mb": traced_peak / 2**20, "rss_before_mb": rss_start,
            "rss_after_data_mb": rss_data, "peak_rss_mb": peak,
            "reference_bytes": len(stored), "current_bytes": len(current_profile.to_bytes()),
            "flagged": len(result.flagged)}


def _rss_mb() -> float:
    """Current resident set size (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_speed(sizes: list[int], n_reference: int, repeats: int,
              ev_python: str | None = None) -> list[dict[str, float]]:
    rows = []
    for n in sizes:
        out = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--speed-child", str(n),
             "--reference-rows", str(n_reference), "--repeats", str(repeats)],
            capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("\n== Speed and memory (20 numeric + 5 categorical features, reference "
          f"{n_reference:,} rows, stored reference profile reused) ==")
    print(f"best of {repeats} run(s) (median total in brackets)")
    print(f"{'current rows':>12} {'load ref':>9} {'profile':>9} {'report':>9} {'total':>18} "
          f"{'runtime RSS':>12} {'+ data':>8} {'peak RSS':>9} {'engine (traced)':>16} "
          f"{'profile bytes':>14}")
    for r in rows:
        print(f"{r['n_current']:>12,} {r['load_reference_s']:>8.3f}s {r['profile_s']:>8.3f}s "
              f"{r['report_s']:>8.3f}s {r['total_s']:>8.3f}s ({r['median_total_s']:.3f}s) "
              f"{r['rss_before_mb']:>9.0f}MiB "
              f"{r['rss_after_data_mb']:>5.0f}MiB {r['peak_rss_mb']:>6.0f}MiB "
              f"{r['traced_peak_mb']:>13.0f}MiB {r['current_bytes'] / 1e6:>12.2f}MB")
    print("targets at 1M rows: total < 3 s, peak < 0.5 GiB (512 MiB). Peak RSS is the whole "
          "process: Python + numpy/pandas/scipy/pyarrow (the runtime column), the input frame "
          "(+ data) and the engine's temporaries (traced: the engine's own allocations).")
    big = rows[-1]
    print(f"1M rows: {'meets' if big['total_s'] < 3 else 'MISSES'} the time target, "
          f"{'meets' if big['peak_rss_mb'] < 512 else 'MISSES'} the memory target")
    if ev_python is not None:
        run_speed_evidently(rows, n_reference, ev_python)
    return rows


def run_speed_evidently(rows: list[dict[str, float]], n_reference: int, python: str) -> None:
    """Evidently's DataDriftPreset (defaults) on the same shape of data, one process a size.

    Evidently has no stored reference profile: each run takes the raw reference rows, so its
    timed path is "report on raw reference + current" (``Report.run`` and ``snapshot.dict()``,
    the frames already in memory). Peak RSS is the Evidently process's own (reading the
    Parquet files included).
    """
    import tempfile

    results = []
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as workdir:
        rng = np.random.default_rng(1)
        ref_path = os.path.join(workdir, "reference.parquet")
        make_frame(n_reference, rng).to_parquet(ref_path)
        for r in rows:
            cur_path = os.path.join(workdir, "current.parquet")
            make_frame(int(r["n_current"]), rng).to_parquet(cur_path)
            out = run_evidently(python, [{"reference": ref_path, "current": cur_path,
                                          "tests": False}], workdir)
            results.append(out)
            os.remove(cur_path)
    first = results[0]
    print(f"\n== ModelDeck vs Evidently {first['version']} DataDriftPreset (defaults; "
          f"pandas {first['pandas']}, own process each) ==")
    print(f"{'current rows':>12} {'ModelDeck':>10} {'Evidently':>10} {'speed-up':>9} "
          f"{'MD peak RSS':>12} {'EV peak RSS':>12} {'MD/EV memory':>13} "
          f"{'EV process wall':>16}")
    for r, ev in zip(rows, results):
        ev_s = ev["results"][0]["seconds"]
        print(f"{r['n_current']:>12,} {r['total_s']:>9.3f}s {ev_s:>9.2f}s "
              f"{ev_s / r['total_s']:>8.1f}x {r['peak_rss_mb']:>9.0f}MiB "
              f"{ev['peak_rss_mb']:>9.0f}MiB {r['peak_rss_mb'] / ev['peak_rss_mb']:>12.2f} "
              f"{ev['process_wall_s']:>15.1f}s")
    print("ModelDeck: stored reference profile + profile current + report (best of runs); "
          "Evidently: one Report.run on raw reference + current (frames already loaded). "
          "Targets at 1M rows: >= 20x faster, <= 0.25 of Evidently's peak memory.")
    r, ev = rows[-1], results[-1]
    speedup = ev["results"][0]["seconds"] / r["total_s"]
    ratio = r["peak_rss_mb"] / ev["peak_rss_mb"]
    print(f"{r['n_current']:,} rows: {speedup:.1f}x faster "
          f"({'meets' if speedup >= 20 else 'MISSES'} 20x), memory {ratio:.2f} of Evidently's "
          f"({'meets' if ratio <= 0.25 else 'MISSES'} 0.25)")


# --------------------------------------------------------------------------- quality


def _splice(base: Profile, part: Profile, name: str) -> Profile:
    """``base`` with feature ``name`` taken from ``part`` (same rows, same reservoir draw).

    The drift cases each change one column of the same current frame, so only that column
    is profiled again; the other 24 keep their counts and reservoir columns.
    """
    features = dict(base.features)
    features[name] = part.features[name]
    numeric, codes = base.sample_numeric.copy(), base.sample_codes.copy()
    num_names = [f.name for f in base.spec.numeric]
    cat_names = [f.name for f in base.spec.categorical]
    if name in num_names:
        numeric[:, num_names.index(name)] = part.numeric_sample(name)
    else:
        codes[:, cat_names.index(name)] = part.code_sample(name)
    return replace(base, features=features, sample_numeric=numeric, sample_codes=codes)


@dataclass
class _Tally:
    runs: int = 0
    hits: int = 0
    alarms: int = 0
    multi_runs: int = 0
    multi: int = 0
    either: int = 0
    multi_only: int = 0
    # each feature's own p-value (see _column_p_values): the drifted feature's, the
    # clean features'
    column_drifted: list[float] = field(default_factory=list)
    column_clean: dict[str, list[float]] = field(default_factory=dict)   # by column type
    # clean columns flagged and tested, by column type (numeric, categorical)
    others_by: dict[str, int] = field(default_factory=dict)
    total_by: dict[str, int] = field(default_factory=dict)

    @property
    def others(self) -> int:
        """Clean columns flagged, over all runs."""
        return sum(self.others_by.values())

    @property
    def other_total(self) -> int:
        """Clean columns tested, over all runs."""
        return sum(self.total_by.values())

    def add(self, result: DriftResult, feature: str | None) -> None:
        self.add_flags(set(result.flagged), bool(result.drift), feature)
        for name, p in _column_p_values(result).items():
            if name == feature:
                self.column_drifted.append(p)
            else:
                self.column_clean.setdefault(_column_type(name), []).append(p)

    def add_flags(self, flagged: set[str], drift: bool, feature: str | None) -> None:
        """One run over the bench's columns (N_NUMERIC + N_CATEGORICAL)."""
        flagged = set(flagged)
        self.runs += 1
        self.alarms += drift
        if feature is not None:
            self.hits += feature in flagged
            flagged.discard(feature)
        for kind, count in (("numeric", N_NUMERIC), ("categorical", N_CATEGORICAL)):
            drifted = feature is not None and _column_type(feature) == kind
            self.total_by[kind] = self.total_by.get(kind, 0) + count - drifted
            self.others_by[kind] = self.others_by.get(kind, 0) + sum(
                _column_type(name) == kind for name in flagged)

    def add_multi(self, flagged: bool, drift: bool) -> None:
        """The multivariate verdict of the run just added (``drift``: its per-feature one)."""
        self.multi_runs += 1
        self.multi += flagged
        self.either += flagged or drift
        self.multi_only += flagged and not drift

    def cell(self, feature: bool = True) -> str:
        hit = f"{100 * self.hits / self.runs:>4.0f}%" if feature else "   -"
        return (f"{hit} /{100 * self.alarms / self.runs:>4.0f}% "
                f"({100 * self.others / max(self.other_total, 1):.1f}%)")


#: Evidently's per-column level (its defaults: each column's own test at p < 0.05).
COLUMN_ALPHA = 0.05


def _column_type(name: str) -> str:
    """``numeric`` or ``categorical``, from the bench's column names."""
    return "categorical" if name.startswith("cat_") else "numeric"


def _column_p_values(result: DriftResult) -> dict[str, float]:
    """Each feature's own p-value, for Evidently's rule on ModelDeck's tests: a column on
    its own, with no multiplicity control across columns and no relevance bar. A feature
    has several tests (its distribution test and the quality checks with something to
    count, e.g. the missing rate; a check with no event on either side cannot reject and
    is left out, as in the engine's own family); they are Bonferroni-combined within the
    feature (the smallest times their number), so a clean column falls under 0.05 at most
    5 % of the time, as one of Evidently's should. This sets the power of the tests apart
    from the calibration (BH across features, relevance) that the flags add."""
    out = {}
    for f in result.features:
        ps = [f.p_value] + [q.p_value for q in f.quality
                            if q.reference_count + q.current_count > 0]
        ps = [p for p in ps if p is not None and math.isfinite(p)]
        out[f.name] = min(1.0, min(ps) * len(ps)) if ps else 1.0
    return out


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def run_quality(sizes: list[int], reps: dict[int, int], seed: int,
                thresholds: DriftThresholds, joint_reps: dict[int, int] | None = None,
                ev_python: str | None = None, ev_reps: dict[int, int] | None = None,
                control_reps: dict[int, int] | None = None
                ) -> dict[tuple[str, str, int], _Tally]:
    import tempfile

    rng = np.random.default_rng(seed)
    cases = drift_cases()
    joints = joint_cases()
    joint_reps = joint_reps or {}
    control_reps = control_reps or {}
    ev_reps = ev_reps if ev_python is not None else {}
    tallies: dict[tuple[str, str, int], _Tally] = {}
    ev_tallies: dict[tuple[str, str, int], _Tally] = {}
    ev_info: dict[str, object] = {}
    multi_seconds: list[float] = []
    if joint_reps:
        from modeldeck.core.drift import multivariate_drift
    workdir = tempfile.mkdtemp(prefix="drift-bench-quality-")
    try:
        for n in sizes:
            for rep in range(max(reps[n], joint_reps.get(n, 0), control_reps.get(n, 0))):
                do_cases = rep < reps[n]
                do_control = rep < control_reps.get(n, 0)
                do_joint = rep < joint_reps.get(n, 0)
                do_ev = do_joint and rep < ev_reps.get(n, 0)
                jobs: list[dict[str, object]] = []
                keys: list[tuple[tuple[str, str, int], str | None, str]] = []
                reference = make_frame(min(n, REFERENCE_CAP), rng, strings=False)
                _, ref_profile = build_reference(reference, seed=int(rng.integers(2**31)))
                spec = ref_profile.spec
                current = make_frame(n, rng, strings=False)
                draw = int(rng.integers(2**31))
                base = profile_frame(spec, current, seed=draw)
                control = compare_profiles(ref_profile, base, thresholds)
                t = tallies.setdefault(("none", "", n), _Tally())
                if do_cases or do_joint or do_control:
                    t.add(control, None)
                if do_joint:
                    t0 = time.perf_counter()
                    multi = multivariate_drift(reference, current, seed=draw)
                    multi_seconds.append(time.perf_counter() - t0)
                    t.add_multi(multi.flagged, bool(control.drift))
                ref_path = os.path.join(workdir, f"ref_{n}_{rep}.parquet")
                if do_ev:
                    reference.to_parquet(ref_path)
                    path = os.path.join(workdir, f"cur_{n}_{rep}_none.parquet")
                    current.to_parquet(path)
                    jobs.append({"reference": ref_path, "current": path})
                    keys.append((("none", "", n), None, "full"))
                for i, case in enumerate(cases if do_cases or do_ev else []):
                    column = current[[case.feature]].copy()
                    case.apply(column, rng)
                    if do_cases:
                        part = profile_frame(spec, column, seed=draw)
                        result = compare_profiles(ref_profile, _splice(base, part, case.feature),
                                                  thresholds)
                        tallies.setdefault((case.kind, case.size, n), _Tally()).add(
                            result, case.feature)
                    if do_ev:
                        path = os.path.join(workdir, f"cur_{n}_{rep}_{i}.parquet")
                        column.to_parquet(path)
                        jobs.append({"reference": ref_path, "current": path,
                                     "columns": [case.feature]})
                        keys.append(((case.kind, case.size, n), case.feature, "splice"))
                for i, jcase in enumerate(joints if do_joint else []):
                    frame = jcase.make(n, rng)
                    result = compare_profiles(ref_profile, profile_frame(spec, frame, seed=draw),
                                              thresholds)
                    t0 = time.perf_counter()
                    multi = multivariate_drift(reference, frame, seed=draw)
                    multi_seconds.append(time.perf_counter() - t0)
                    t = tallies.setdefault((jcase.kind, jcase.size, n), _Tally())
                    t.add(result, jcase.feature)
                    t.add_multi(multi.flagged, bool(result.drift))
                    if do_ev:
                        path = os.path.join(workdir, f"cur_{n}_{rep}_j{i}.parquet")
                        frame.to_parquet(path)
                        jobs.append({"reference": ref_path, "current": path})
                        keys.append(((jcase.kind, jcase.size, n), jcase.feature, "full"))
                if jobs:
                    out = run_evidently(ev_python, jobs, workdir)
                    ev_info.update(version=out["version"], pandas=out["pandas"])
                    results = out["results"]
                    base_flags = set(results[0]["drifted"])
                    n_cols = results[0]["n_columns"]
                    for (key, feature, mode), res in zip(keys, results):
                        if mode == "splice":
                            flags = (base_flags - {feature}) | (set(res["drifted"]) & {feature})
                            drift = len(flags) / n_cols >= 0.5   # the preset's drift_share
                        else:
                            flags, drift = set(res["drifted"]), bool(res["dataset_drift"])
                            ev_info.setdefault(f"methods_{n}", res["methods"])
                        t = ev_tallies.setdefault(key, _Tally())
                        t.add_flags(flags, drift, feature)
                        t.add_multi(bool(flags), drift)   # "multi" here: any column drifted
                    for name in os.listdir(workdir):
                        os.remove(os.path.join(workdir, name))
    finally:
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)

    print("\n== False alarms on no-drift controls (reference min(n, 50k) rows) ==")
    print(f"{'n':>8} {'reps':>5} {'per feature':>12} {'per data set':>13} "
          f"{'multivariate':>13}")
    for n in sizes:
        t = tallies[("none", "", n)]
        print(f"{n:>8,} {t.runs:>5} {100 * t.others / t.other_total:>11.2f}% "
              f"{100 * t.alarms / t.runs:>12.1f}% "
              f"{_pct(t.multi, t.multi_runs):>8} of {t.multi_runs}")
    print("target: at most 5% per feature and per data set at every n")

    print("\n== Detection of injected drifts: drifted feature flagged / data-set verdict "
          "(other features flagged) [oracle power] ==")
    print("oracle power: the best single test that knows which feature moved, how and in "
          "which direction,\nat a 5% false-alarm rate (see oracle_mean_shift): no verdict "
          "can do better; a miss where it is low is unavoidable")
    print(f"{'kind':<21}{'size':<11}" + "".join(f"{f'n={n:,}':>29}" for n in sizes))
    # (verdicts right, runs, oracle power summed over runs) overall, per n, and among the
    # cells the oracle detects with at least ORACLE_DETECTABLE power
    right = total = 0
    bound = 0.0
    per_n = {n: [0, 0, 0.0, 0, 0] for n in sizes}
    # each drifted case (kind, size, n) once: the share of its runs the verdict caught
    case_rates: list[float] = []
    for case in cases:
        cells = []
        for n in sizes:
            t = tallies[(case.kind, case.size, n)]
            power = case.oracle(n, min(n, REFERENCE_CAP)) if case.oracle else float("nan")
            right, total, bound = right + t.alarms, total + t.runs, bound + power * t.runs
            row = per_n[n]
            row[0] += t.alarms
            row[1] += t.runs
            row[2] += power * t.runs
            if power >= ORACLE_DETECTABLE:
                row[3] += t.alarms
                row[4] += t.runs
            case_rates.append(t.alarms / t.runs)
            cells.append(f"{t.cell()} [{100 * power:3.0f}%]")
        print(f"{case.kind:<21}{case.size:<11}" + "".join(f"{c:>29}" for c in cells))
    easy = sum(r[3] for r in per_n.values()), sum(r[4] for r in per_n.values())
    print(f"data-set verdict right on {100 * right / total:.1f}% of drifted cases (every kind, "
          f"size and n above, the tiny ones included; weighted by runs); the oracle's bound "
          f"on this figure: {100 * bound / total:.1f}%")
    print(f"  among cases the oracle detects with >= {ORACLE_DETECTABLE:.0%} power: "
          f"{_pct(easy[0], easy[1])} of {easy[1]} runs")
    for n in sizes:
        r = per_n[n]
        print(f"  at n={n:,}: {100 * r[0] / r[1]:.1f}% (oracle bound {100 * r[2] / r[1]:.1f}%; "
              f"oracle-detectable cases: {_pct(r[3], r[4])})")

    if joint_reps:
        print("\n== Selection bias and correlation-only drifts (whole rows): per-feature "
              "(drifted feature / verdict (others)) | multivariate | either ==")
        print(f"reps per n: {', '.join(f'{n:,}: {joint_reps.get(n, 0)}' for n in sizes)}; "
              f"multivariate_drift took {np.median(multi_seconds):.1f} s median per call; "
              f"correlation pair {COUPLED[0]}/{COUPLED[1]}, base rho {BASE_RHO:g}; "
              "selection keeps a row with probability logistic(beta * z(num_0))")
        print("[oracle power] as above (selection: z-test on num_0's mean; correlation: "
              "Fisher's z-test of the pair's correlation)")
        oracles = {(j.kind, j.size): j.oracle for j in joints}
        print(f"{'kind':<21}{'size':<14}" + "".join(f"{f'n={n:,}':>43}" for n in sizes))
        for key_kind, key_size, feature in ([("none", "", None)] +
                                            [(j.kind, j.size, j.feature) for j in joints]):
            cells = []
            for n in sizes:
                t = tallies.get((key_kind, key_size, n))
                if t is None or not t.multi_runs:
                    cells.append("-")
                    continue
                oracle = oracles.get((key_kind, key_size))
                power = f" [{100 * oracle(n, min(n, REFERENCE_CAP)):3.0f}%]" if oracle else ""
                cells.append(f"{t.cell(feature is not None)} | {_pct(t.multi, t.multi_runs):>4}"
                             f" | {_pct(t.either, t.multi_runs):>4}{power}")
            label = "no drift (control)" if key_kind == "none" else key_kind
            print(f"{label:<21}{key_size:<14}" + "".join(f"{c:>43}" for c in cells))
        print("for correlation-only the data-set detection is the multivariate verdict "
              "(no marginal changes: the per-feature tests are right to stay quiet)")
        # The report's verdict is the union: the per-feature verdict's rate (over every
        # control) plus the runs only the multivariate tests raised (over the controls
        # that ran them: fewer, each takes seconds).
        controls = [(n, tallies[("none", "", n)]) for n in sizes]
        print("false data-set alarms of a report with the multivariate tests (per-feature "
              "verdict + multivariate alone): "
              + ", ".join(f"{100 * (t.alarms / t.runs + t.multi_only / t.multi_runs):.1f}% "
                          f"({100 * t.alarms / t.runs:.1f}% + {t.multi_only} of "
                          f"{t.multi_runs}) at n={n:,}" for n, t in controls if t.multi_runs)
              + " (target: at most 5%)")
        for j in joints:
            for n in sizes:
                t = tallies.get((j.kind, j.size, n))
                if t is not None and t.multi_runs:
                    case_rates.append(t.either / t.multi_runs)
    if case_rates:
        print(f"\ndata-set verdict (a report's \"drift\": per-feature or, for whole-row "
              f"drifts, multivariate) right on {100 * float(np.mean(case_rates)):.1f}% of the "
              f"{len(case_rates)} drifted cases, each kind, size and n counted once "
              "(target: at least 90%)")

    if ev_tallies:
        _print_evidently_quality(ev_tallies, ev_info, sizes, cases, joints, ev_reps)
    _print_per_column(tallies, ev_tallies, sizes, cases, joints)
    return tallies


def _print_per_column(tallies: dict[tuple[str, str, int], _Tally],
                      ev: dict[tuple[str, str, int], _Tally], sizes: list[int],
                      cases: list[Case], joints: list[JointCase]) -> None:
    """The same runs under Evidently's rule (:func:`_column_p_values`): how often
    ModelDeck's tests flag the drifted column at p < 0.05 and at the level where they
    flag as many clean columns as Evidently did, beside Evidently's own rate."""
    print("\n== Like for like with Evidently's rule: each column's own tests, no BH across "
          "features, no relevance bar (the tests' power; the flags above add the "
          "calibration) ==")
    print("cells: drifted feature flagged by ModelDeck's tests at p < 0.05 / at Evidently's "
          "false-alarm rate [Evidently's rate]; the control rows: clean columns flagged "
          "[Evidently's]")
    print("the false-alarm rates are matched per column type: Evidently's chi-square treats "
          "the reference shares as exact and flags far more clean categorical columns than "
          "numeric ones")
    print(f"{'kind':<21}{'size':<14}" + "".join(f"{f'n={n:,}':>24}" for n in sizes))
    # ModelDeck's per-column level at which it flags Evidently's share of clean columns
    matched: dict[tuple[int, str], float] = {}
    for kind in ("numeric", "categorical"):
        cells = []
        for n in sizes:
            control, theirs = tallies.get(("none", "", n)), ev.get(("none", "", n))
            if control is None or not control.column_clean.get(kind):
                cells.append("-")
                continue
            clean = np.asarray(control.column_clean[kind])
            cell = f"{100 * np.mean(clean < COLUMN_ALPHA):.1f}%"
            if theirs is not None and theirs.total_by.get(kind):
                rate = theirs.others_by[kind] / theirs.total_by[kind]
                # Evidently flagged none: the level just below ModelDeck's smallest clean
                # p-value, so that ModelDeck flags none of its own (more) clean columns
                matched[(n, kind)] = (float(np.quantile(clean, rate)) if rate > 0
                                      else float(np.nextafter(clean.min(), 0.0)))
                cell += f" [{100 * rate:.1f}%]"
            cells.append(cell)
        print(f"{'no drift: ' + kind:<35}" + "".join(f"{c:>24}" for c in cells))
    rows = [(c.kind, c.size, c.feature) for c in cases]
    rows += [(j.kind, j.size, j.feature) for j in joints if j.feature is not None]
    below = []
    for kind, size, feature in rows:
        cells = []
        for n in sizes:
            t = tallies.get((kind, size, n))
            if t is None or not t.column_drifted:
                cells.append("-")
                continue
            drifted = np.asarray(t.column_drifted)
            ours = 100 * np.mean(drifted < COLUMN_ALPHA)
            cell = f"{ours:.0f}%"
            theirs = ev.get((kind, size, n))
            level = matched.get((n, _column_type(feature)))
            if level is not None and theirs is not None and theirs.runs:
                hits = int(np.sum(drifted <= level))
                at_rate = 100 * hits / len(drifted)
                their = 100 * theirs.hits / theirs.runs
                cell += f" / {at_rate:.0f}% [{their:.0f}%]"
                if at_rate + 1e-9 < their:
                    # one-sided Fisher test: is Evidently's rate higher beyond run-to-run
                    # noise (it has far fewer runs than ModelDeck)?
                    p = sps.fisher_exact([[theirs.hits, theirs.runs - theirs.hits],
                                          [hits, len(drifted) - hits]],
                                         alternative="greater").pvalue
                    below.append((p, f"{kind} {size} at n={n:,} ({at_rate:.0f}% of "
                                     f"{len(drifted)} vs {their:.0f}% of {theirs.runs}, "
                                     f"Fisher p = {p:.2g})"))
            cells.append(cell)
        print(f"{kind:<21}{size:<14}" + "".join(f"{c:>24}" for c in cells))
    if matched:
        print("at Evidently's false-alarm rate: ModelDeck's per-column level set so that it "
              "flags the same share of clean columns of the type ("
              + ", ".join(f"{kind} p <= {level:.3g} at n={n:,}"
                          for (n, kind), level in matched.items()) + ")")
        beyond = [text for p, text in below if p < 0.05]
        noise = [text for p, text in below if p >= 0.05]
        print("ModelDeck's tests below Evidently's at the same false-alarm rate, beyond "
              "noise (one-sided Fisher p < 0.05): " + ("; ".join(beyond) or "none"))
        if noise:
            print("  below within run-to-run noise: " + "; ".join(noise))


def _print_evidently_quality(ev: dict[tuple[str, str, int], _Tally], info: dict[str, object],
                             sizes: list[int], cases: list[Case], joints: list[JointCase],
                             ev_reps: dict[int, int]) -> None:
    ev_sizes = [n for n in sizes if ("none", "", n) in ev]
    print(f"\n== Evidently {info.get('version')} DataDriftPreset defaults, same data: "
          "drifted feature flagged / data-set verdict (other features flagged) ==")
    print(f"reps per n: {', '.join(f'{n:,}: {ev_reps.get(n, 0)}' for n in sizes)}; "
          "data-set drift = at least 50% of the columns drifted (the preset's drift_share)")
    for n in ev_sizes:
        methods = info.get(f"methods_{n}") or {}
        used = sorted({str(m) for m in methods.values()})
        print(f"  methods at n={n:,}: {', '.join(used)}")
    print("cells: drifted feature / preset verdict (other features flagged) | any column "
          "drifted (a one-column data-set rule, as ModelDeck's)")
    print(f"{'kind':<21}{'size':<14}" + "".join(f"{f'n={n:,}':>29}" for n in ev_sizes))
    rows = [("no drift (control)", "", "none", None)]
    rows += [(c.kind, c.size, c.kind, c.feature) for c in cases]
    rows += [(j.kind, j.size, j.kind, j.feature) for j in joints]
    for label, size, kind, feature in rows:
        cells = []
        for n in ev_sizes:
            t = ev.get((kind, size, n))
            cells.append("-" if t is None else
                         f"{t.cell(feature is not None)} | {_pct(t.multi, t.multi_runs):>4}")
        print(f"{label:<21}{size:<14}" + "".join(f"{c:>29}" for c in cells))
    print("the control row's figures are false alarms: preset verdict (per feature) | any "
          "column")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a few minutes)")
    parser.add_argument("--only", choices=("speed", "quality"))
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--evidently-python", default=os.path.join(ROOT, ".venv-evidently",
                                                                   "bin", "python"),
                        help="interpreter of the Evidently venv (default: %(default)s)")
    parser.add_argument("--no-evidently", action="store_true", help="skip Evidently")
    parser.add_argument("--no-joint", action="store_true",
                        help="skip selection-bias / correlation-only cases (multivariate)")
    parser.add_argument("--sizes", default="500,5000,50000,500000",
                        help="quality: the row counts to run (default: %(default)s)")
    parser.add_argument("--reps", type=int,
                        help="quality: this many repetitions of everything (drift cases, "
                             "whole-row cases, Evidently) at each size")
    parser.add_argument("--speed-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--reference-rows", type=int, default=100_000, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=REPEATS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.speed_child:
        print(json.dumps(_speed_child(args.speed_child, args.reference_rows, args.repeats)))
        return
    started = time.perf_counter()
    ev_python = None
    if args.no_evidently:
        print("Evidently comparison skipped: --no-evidently")
    else:
        ev_python, detail = evidently_python(args.evidently_python)
        print(f"Evidently: {detail}" if ev_python else
              f"Evidently comparison skipped: {detail}")
    if args.only in (None, "speed"):
        if args.quick:
            run_speed([1_000_000], args.reference_rows, 1, ev_python)
        else:
            run_speed([100_000, 1_000_000], args.reference_rows, args.repeats, ev_python)
    if args.only in (None, "quality"):
        try:
            sizes = [int(x) for x in args.sizes.split(",")]
        except ValueError:
            parser.error(f"--sizes {args.sizes!r}: give row counts, e.g. 500,5000")
        if not sizes or min(sizes) < 50:
            parser.error("--sizes: each size needs at least 50 rows")
        reps = ({500: 25, 5_000: 10, 50_000: 4, 500_000: 1} if args.quick else
                {500: 400, 5_000: 200, 50_000: 60, 500_000: 12})
        joint_reps = ({} if args.no_joint else
                      {500: 3, 5_000: 2, 50_000: 1, 500_000: 1} if args.quick else
                      {500: 40, 5_000: 20, 50_000: 8, 500_000: 3})
        ev_reps = ({500: 3, 5_000: 2, 50_000: 1} if args.quick else
                   {500: 20, 5_000: 10, 50_000: 4, 500_000: 1})
        # More no-drift controls than drift repetitions: a 5 % false-alarm target needs
        # many clean runs to mean anything (at 200 runs a true 3.4 % reads 5.0 % or more one
        # time in seven) and controls are cheap (0.1-0.3 s each up to 5 000 rows).
        control_reps = ({500: 100, 5_000: 40} if args.quick else
                        {500: 1000, 5_000: 1000, 50_000: 100})
        if args.reps is not None:
            if args.reps < 1:
                parser.error("--reps must be at least 1")
            reps = {n: args.reps for n in sizes}
            joint_reps = {} if args.no_joint else dict(reps)
            ev_reps, control_reps = dict(reps), {}
        else:
            # a size outside the defaults runs as often as the nearest default size
            nearest = {n: min(reps, key=lambda k: abs(k - n)) for n in sizes if n not in reps}
            for table in (reps, joint_reps, ev_reps, control_reps):
                for n, near in nearest.items():
                    if near in table:
                        table[n] = table[near]
        # Evidently needs the joint frames of a repetition (so at most joint_reps).
        ev_reps = {n: min(ev_reps.get(n, 0), joint_reps.get(n, 0)) for n in sizes}
        thresholds = DriftThresholds()
        print(f"\nthresholds: {thresholds}")
        run_quality(sizes, reps, args.seed, thresholds, joint_reps, ev_python, ev_reps,
                    control_reps)
    print(f"\ndone in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
