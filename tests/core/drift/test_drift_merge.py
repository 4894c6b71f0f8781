"""Merging profiles: exact counts, associativity, commutativity, a uniform reservoir."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from modeldeck.core.drift import Profile, build_reference, merge_profiles, profile_frame

_REFERENCE = pd.DataFrame({
    "x": np.linspace(-3.0, 3.0, 200),
    "n": np.tile(np.arange(5), 40),
    "c": np.tile(["a", "b", "c", "d"], 50),
})
SPEC, _ = build_reference(_REFERENCE, n_bins=8)

_values = st.one_of(st.floats(-10, 10, allow_nan=False), st.just(np.nan), st.just(np.inf),
                    st.just(-np.inf), st.integers(-2, 6).map(float))
_rows = st.tuples(_values, st.one_of(st.integers(-1, 7), st.none()),
                  st.sampled_from(["a", "b", "c", "d", "zz", None]))
_chunks = st.lists(_rows, min_size=0, max_size=40)


def _frame(rows: list[tuple[float, int | None, str | None]]) -> pd.DataFrame:
    return pd.DataFrame({"x": pd.Series([r[0] for r in rows], dtype="float64"),
                         "n": pd.Series([r[1] for r in rows], dtype="Float64"),
                         "c": pd.Series([r[2] for r in rows], dtype="object")})


def _profile(rows: list[tuple[float, int | None, str | None]], seed: int = 0,
             sample_size: int = 16) -> Profile:
    return profile_frame(SPEC, _frame(rows), sample_size=sample_size, seed=seed)


@settings(max_examples=60, deadline=None)
@given(_chunks, _chunks)
def test_merge_is_commutative(a: list, b: list) -> None:
    pa, pb = _profile(a, 1), _profile(b, 2)
    ab, ba = pa.merge(pb), pb.merge(pa)
    assert ab.equal_counts(ba)
    assert ab.to_bytes() == ba.to_bytes()  # reservoir too: the draw is seeded canonically


@settings(max_examples=60, deadline=None)
@given(_chunks, _chunks, _chunks)
def test_merge_is_associative_and_equals_the_concatenation(a: list, b: list, c: list) -> None:
    pa, pb, pc = _profile(a, 1), _profile(b, 2), _profile(c, 3)
    left, right = pa.merge(pb).merge(pc), pa.merge(pb.merge(pc))
    whole = _profile(a + b + c, 4)
    assert left.equal_counts(right)
    assert left.equal_counts(whole)
    assert merge_profiles([pa, pb, pc]).equal_counts(whole)
    for name in SPEC.names:
        assert left.features[name].rows == len(a) + len(b) + len(c)
        assert left.features[name].total == pytest.approx(whole.features[name].total,
                                                          rel=1e-9, abs=1e-9)
        assert left.features[name].total_sq == pytest.approx(whole.features[name].total_sq,
                                                             rel=1e-9, abs=1e-9)
    # The merged reservoir holds min(capacity, n) rows, every one a row of the inputs.
    assert left.sample_rows == min(16, len(a) + len(b) + len(c))
    pool = {tuple(r) for r in np.nan_to_num(whole.sample_numeric, nan=1e9).tolist()}
    pool |= {tuple(r) for p in (pa, pb, pc)
             for r in np.nan_to_num(p.sample_numeric, nan=1e9).tolist()}
    assert {tuple(r) for r in np.nan_to_num(left.sample_numeric, nan=1e9).tolist()} <= pool


@settings(max_examples=40, deadline=None)
@given(_chunks, st.booleans())
def test_serialisation_round_trip(rows: list, compress: bool) -> None:
    prof = _profile(rows, 5)
    back = Profile.from_bytes(prof.to_bytes(compress=compress))
    assert back.equal_counts(prof)
    assert back.to_bytes() == prof.to_bytes()
    np.testing.assert_array_equal(back.sample_numeric, prof.sample_numeric)
    np.testing.assert_array_equal(back.sample_codes, prof.sample_codes)


def test_merged_reservoir_is_uniform() -> None:
    # Three windows of very different sizes, each profiled with its own reservoir, merged
    # in different orders: every row of the union must be equally likely to be kept.
    spec, _ = build_reference(pd.DataFrame({"x": np.arange(100.0)}))
    sizes = (30, 300, 3000)
    offsets = np.cumsum((0,) + sizes[:-1])
    total, capacity, trials = sum(sizes), 60, 1500
    kept = np.zeros(total, dtype=np.int64)
    rng = np.random.default_rng(20240501)
    for trial in range(trials):
        parts = [profile_frame(spec, pd.DataFrame({"x": np.arange(o, o + s, dtype=float)}),
                               sample_size=capacity, seed=int(rng.integers(2**31)))
                 for o, s in zip(offsets, sizes)]
        order = rng.permutation(3)
        merged = parts[order[0]].merge(parts[order[1]], seed=int(rng.integers(2**31)))
        merged = merged.merge(parts[order[2]], seed=int(rng.integers(2**31)))
        picked = merged.numeric_sample("x").astype(int)
        assert len(set(picked.tolist())) == capacity
        kept[picked] += 1
    # Per window: kept rows ~ trials * capacity * size / total.
    per_window = np.array([kept[o:o + s].sum() for o, s in zip(offsets, sizes)])
    expected = trials * capacity * np.array(sizes) / total
    assert stats.chisquare(per_window, expected).pvalue > 0.001
    # Per row, pooled into 37 groups of 90 rows: inclusion counts are uniform.
    groups = kept.reshape(37, 90).sum(axis=1)
    assert stats.chisquare(groups).pvalue > 0.001


def test_reservoir_of_one_frame_is_uniform() -> None:
    spec, _ = build_reference(pd.DataFrame({"x": np.arange(100.0)}))
    frame = pd.DataFrame({"x": np.arange(1000.0)})
    kept = np.zeros(1000, dtype=np.int64)
    for seed in range(400):
        kept[profile_frame(spec, frame, sample_size=50, seed=seed).numeric_sample("x")
             .astype(int)] += 1
    assert stats.chisquare(kept.reshape(20, 50).sum(axis=1)).pvalue > 0.001
