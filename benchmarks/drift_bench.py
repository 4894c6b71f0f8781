"""Drift engine benchmark: speed, peak memory and detection quality (run on demand).

    python benchmarks/drift_bench.py            # full run (about 15 minutes on 2 cores)
    python benchmarks/drift_bench.py --quick    # under a minute, rough quality figures
    python benchmarks/drift_bench.py --only speed|quality

Speed and memory: 20 numeric + 5 categorical features, reference 100k rows, current 100k and
1M rows. The reference spec and profile are built once, stored as bytes and loaded back
(never recomputed); the timed path is "profile the current frame + load the stored reference
profile + full per-feature report". Each size runs in a fresh subprocess so its peak RSS
(``resource.getrusage``) is its own; a second, untimed pass under tracemalloc gives the
engine's own peak allocation (tracemalloc slows allocation-heavy code, so it never runs in
the timed pass).

Quality: no-drift controls (same distribution on both sides) at n = 500, 5k, 50k, 500k
give the false-alarm rate per feature and per data set; graded injected drifts give the
detection rate of the drifted feature and of the data-set verdict. The reference is a fresh
sample of ``min(n, 50 000)`` rows each repetition (the registry stores at most 50 000).
Each drift case changes one column of the repetition's current frame; only that column is
profiled again and spliced into the frame's profile (the other 24 would be identical), and
the full comparison runs on the result. Selection-bias and correlation-only drifts belong to
the multivariate detectors and are not measured here.

Evidently is compared only when ``import evidently`` works (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

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
               strings: bool = True) -> pd.DataFrame:
    """``n`` rows of the benchmark's 25 features; ``drift`` edits the frame in place.

    Columns are added one at a time (no consolidated copy), so the frame's peak memory is
    about its final size: 8 bytes a cell for numbers, an arrow string column per category.
    """
    frame = pd.DataFrame(index=pd.RangeIndex(n))
    for j in range(N_NUMERIC):
        frame[f"num_{j}"] = _numeric(j, n, rng)
    for j, (cats, probs) in enumerate(CATEGORIES):
        codes = rng.choice(len(cats), size=n, p=probs).astype(np.int8)
        column = pd.Categorical.from_codes(codes, categories=cats)
        frame[f"cat_{j}"] = column.astype("str") if strings else column
    for name, share in BASE_MISSING.items():
        _set_missing(frame, name, share, rng)
    if drift is not None:
        drift(frame, rng)
    return frame


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
    cases = [Case("mean shift", f"{s:g} sd", "num_0", _shift("num_0", s))
             for s in (0.1, 0.25, 0.5)]
    cases += [Case("mean shift (skewed)", f"{s:g} sd", "num_1", _shift("num_1", s))
              for s in (0.1, 0.25, 0.5)]
    cases += [Case("scale change", f"x{f:g}", "num_6", _scale("num_6", f))
              for f in (1.1, 1.25, 1.5)]
    cases += [Case("category frequency", f"{m:.0%} moved", "cat_1", _category_shift(1, m))
              for m in (0.02, 0.05, 0.1)]
    cases += [Case("missing-rate jump", f"+{e:.0%}", "num_5", _missing_jump("num_5", e))
              for e in (0.01, 0.03, 0.1)]
    return cases


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


def run_speed(sizes: list[int], n_reference: int, repeats: int) -> list[dict[str, float]]:
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
              f"{r['rss_before_mb']:>10.0f}MB "
              f"{r['rss_after_data_mb']:>6.0f}MB {r['peak_rss_mb']:>7.0f}MB "
              f"{r['traced_peak_mb']:>14.0f}MB {r['current_bytes'] / 1e6:>12.2f}MB")
    print("targets at 1M rows: total < 3 s, peak < 0.5 GB. Peak RSS is the whole process: "
          "Python + numpy/pandas/scipy/pyarrow, the input frame and the engine's temporaries.")
    big = rows[-1]
    print(f"1M rows: {'meets' if big['total_s'] < 3 else 'MISSES'} the time target, "
          f"{'meets' if big['peak_rss_mb'] < 512 else 'MISSES'} the memory target")
    return rows


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
    others: int = 0
    other_total: int = 0

    def add(self, result: DriftResult, feature: str | None) -> None:
        flagged = set(result.flagged)
        self.runs += 1
        self.alarms += result.drift
        if feature is not None:
            self.hits += feature in flagged
            flagged.discard(feature)
        self.others += len(flagged)
        self.other_total += len(result.features) - (feature is not None)


def run_quality(sizes: list[int], reps: dict[int, int], seed: int,
                thresholds: DriftThresholds) -> dict[tuple[str, str, int], _Tally]:
    rng = np.random.default_rng(seed)
    cases = drift_cases()
    tallies: dict[tuple[str, str, int], _Tally] = {}
    for n in sizes:
        for _ in range(reps[n]):
            reference = make_frame(min(n, REFERENCE_CAP), rng, strings=False)
            _, ref_profile = build_reference(reference, seed=int(rng.integers(2**31)))
            spec = ref_profile.spec
            current = make_frame(n, rng, strings=False)
            draw = int(rng.integers(2**31))
            base = profile_frame(spec, current, seed=draw)
            tallies.setdefault(("none", "", n), _Tally()).add(
                compare_profiles(ref_profile, base, thresholds), None)
            for case in cases:
                column = current[[case.feature]].copy()
                case.apply(column, rng)
                part = profile_frame(spec, column, seed=draw)
                result = compare_profiles(ref_profile, _splice(base, part, case.feature),
                                          thresholds)
                tallies.setdefault((case.kind, case.size, n), _Tally()).add(
                    result, case.feature)

    print("\n== False alarms on no-drift controls (reference min(n, 50k) rows) ==")
    print(f"{'n':>8} {'reps':>5} {'per feature':>12} {'per data set':>13}")
    for n in sizes:
        t = tallies[("none", "", n)]
        print(f"{n:>8,} {t.runs:>5} {100 * t.others / t.other_total:>11.2f}% "
              f"{100 * t.alarms / t.runs:>12.1f}%")
    print("target: at most 5% per feature and per data set at every n")

    print("\n== Detection of injected drifts: drifted feature flagged / data-set verdict "
          "(other features flagged) ==")
    print(f"{'kind':<21}{'size':<11}" + "".join(f"{f'n={n:,}':>22}" for n in sizes))
    right = total = 0
    for case in cases:
        cells = []
        for n in sizes:
            t = tallies[(case.kind, case.size, n)]
            right, total = right + t.alarms, total + t.runs
            cells.append(f"{100 * t.hits / t.runs:>4.0f}% /{100 * t.alarms / t.runs:>4.0f}% "
                         f"({100 * t.others / t.other_total:.1f}%)")
        print(f"{case.kind:<21}{case.size:<11}" + "".join(f"{c:>22}" for c in cells))
    print(f"data-set verdict right on {100 * right / total:.1f}% of drifted cases (every kind, "
          "size and n above, the tiny ones included)")
    for n in sizes:
        runs = [tallies[(c.kind, c.size, n)] for c in cases]
        share = sum(t.alarms for t in runs) / sum(t.runs for t in runs)
        print(f"  at n={n:,}: {100 * share:.1f}%")
    return tallies


def evidently_note() -> None:
    try:
        import evidently  # noqa: F401
    except ImportError:
        print("\n== Evidently comparison skipped: `import evidently` failed (install the "
              "`bench` extra with pandas<3 to compare) ==")
        return
    print("\n== Evidently is installed, but the side-by-side comparison is not "
          "implemented yet ==")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (< 1 min)")
    parser.add_argument("--only", choices=("speed", "quality"))
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--speed-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--reference-rows", type=int, default=100_000, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=REPEATS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.speed_child:
        print(json.dumps(_speed_child(args.speed_child, args.reference_rows, args.repeats)))
        return
    started = time.perf_counter()
    if args.only in (None, "speed"):
        if args.quick:
            run_speed([1_000_000], args.reference_rows, 1)
        else:
            run_speed([100_000, 1_000_000], args.reference_rows, args.repeats)
    if args.only in (None, "quality"):
        sizes = [500, 5_000, 50_000, 500_000]
        reps = ({500: 25, 5_000: 10, 50_000: 4, 500_000: 1} if args.quick else
                {500: 400, 5_000: 200, 50_000: 60, 500_000: 12})
        thresholds = DriftThresholds()
        print(f"\nthresholds: {thresholds}")
        run_quality(sizes, reps, args.seed, thresholds)
        evidently_note()
    print(f"\ndone in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
