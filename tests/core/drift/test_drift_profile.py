"""Reference specs and profiles: bins, counts, serialisation (hand-computed values)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from modeldeck.core.drift import (
    Profile,
    ReferenceSpec,
    build_reference,
    build_spec,
    empty_profile,
    merge_profiles,
    profile_frame,
)
from modeldeck.core.drift.profile import numeric_edges
from modeldeck.core.errors import Cancelled, DataError
from modeldeck.core.progress import CancelToken
from modeldeck.core.schema import ColumnSchema, infer_schema


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "x": np.arange(1.0, 101.0),
        "k": np.tile([0, 0, 1, 1, 1], 20),
        "color": np.tile(["red", "green", "blue", "red"], 25),
        "flag": np.tile([True, False], 50),
    })


def test_quantile_edges_sit_between_reference_values() -> None:
    # The quartiles of 1..100 (as reference values) are 25, 50, 75: each edge moves to the
    # midpoint of the gap below; the outer edges sit half a gap beyond the min and max.
    assert numeric_edges(np.arange(1.0, 101.0), 4) == (0.5, 24.5, 49.5, 74.5, 100.5)


def test_discrete_constant_and_empty_edges() -> None:
    assert numeric_edges(np.array([0.0, 0.0, 1.0, 1.0, 1.0, 2.0]), 20) == (-0.5, 0.5, 1.5, 2.5)
    assert numeric_edges(np.array([3.0, 3.0, 3.0]), 20) == (3.0, 3.0)
    assert numeric_edges(np.array([]), 20) == ()
    # Heavy ties: a value holding 3/4 of the reference stays whole in one bin, and the
    # quantiles inside it collapse into one edge.
    tied = np.array([0.0] * 90 + list(np.arange(1.0, 11.0)) * 3)
    assert numeric_edges(tied, 10) == (-0.5, 0.5, 1.5, 5.5, 10.5)


def test_build_spec_kinds() -> None:
    frame = _frame()
    frame["text"] = [f"id-{i}" for i in range(100)]
    frame["when"] = pd.date_range("2024-01-01", periods=100, freq="D")
    frame["empty"] = np.nan
    spec = build_spec(frame, n_bins=4)
    kinds = {f.name: f.kind for f in spec.features}
    assert kinds == {"x": "numeric", "k": "numeric", "color": "categorical",
                     "flag": "categorical", "text": "categorical", "when": "unsupported",
                     "empty": "unsupported"}
    x = spec.feature("x")
    assert x.edges == (0.5, 24.5, 49.5, 74.5, 100.5)
    assert x.mean == pytest.approx(50.5)
    assert x.sd == pytest.approx(np.std(np.arange(1.0, 101.0), ddof=1))
    assert (x.min, x.max, x.count) == (1.0, 100.0, 100)
    assert spec.feature("k").edges == (-0.5, 0.5, 1.5)
    assert spec.feature("color").categories == ("blue", "green", "red")
    assert spec.feature("flag").categories == ("False", "True")
    assert "free text" not in spec.feature("text").reason  # 100 ids are still categories
    assert "no finite value" in spec.feature("empty").reason


def test_free_text_column_is_unsupported() -> None:
    frame = pd.DataFrame({"text": [f"id-{i}" for i in range(300)]})
    spec = build_spec(frame)
    assert spec.feature("text").kind == "unsupported"
    assert "free text" in spec.feature("text").reason


def test_build_spec_rejects_missing_schema_column_and_too_few_bins() -> None:
    with pytest.raises(DataError, match="no column 'nope'"):
        build_spec(_frame(), (ColumnSchema("nope", "float"),))
    with pytest.raises(DataError, match="n_bins"):
        build_spec(_frame(), n_bins=1)


def test_numeric_counts_by_hand() -> None:
    spec, _ = build_reference(_frame(), n_bins=4)
    current = pd.DataFrame({"x": [0.0, 0.5, 24.5, 60.0, 100.5, 101.0, np.nan, np.inf, -np.inf],
                            "k": [0, 1, 2, 3, -1, 1, 1, 1, np.nan],
                            "color": ["red"] * 9, "flag": [True] * 9})
    prof = profile_frame(spec, current, seed=0)
    x = prof.features["x"]
    assert x.counts.tolist() == [1, 1, 1, 1, 1, 1]
    assert (x.missing, x.pos_inf, x.neg_inf, x.invalid, x.absent) == (1, 1, 1, 0, 0)
    assert x.rows == 9
    finite = np.array([0.0, 0.5, 24.5, 60.0, 100.5, 101.0])
    assert x.total == pytest.approx(np.sum(finite - 50.5))
    assert x.total_sq == pytest.approx(np.sum((finite - 50.5) ** 2))
    assert (x.min, x.max) == (0.0, 101.0)
    k = prof.features["k"]
    # edges (-0.5, 0.5, 1.5): -1 below, 0 | 1,1,1,1 | 2, 3 above, one missing
    assert k.counts.tolist() == [1, 1, 4, 2]
    assert k.missing == 1


def test_categorical_counts_unseen_and_missing() -> None:
    spec, ref = build_reference(_frame())
    assert ref.features["color"].counts.tolist() == [25, 25, 50, 0]
    assert ref.features["flag"].counts.tolist() == [50, 50, 0]
    current = pd.DataFrame({"x": [1.0] * 6, "k": [0] * 6,
                            "color": ["red", "blue", "purple", None, "teal", "purple"],
                            "flag": [True, False, None, True, True, True]})
    prof = profile_frame(spec, current, seed=0)
    color = prof.features["color"]
    assert color.counts.tolist() == [1, 0, 1, 3]
    assert color.missing == 1
    assert color.unseen == ("purple", "teal")
    flag = prof.features["flag"]
    assert flag.counts.tolist() == [1, 4, 0]
    assert flag.missing == 1
    codes = prof.code_sample("color")
    assert sorted(codes.tolist()) == [-1, 0, 2, 3, 3, 3]


def test_categories_match_by_text_whatever_the_dtype() -> None:
    spec = build_spec(pd.DataFrame({"c": ["1", "2", "3"] * 10}))
    prof = profile_frame(spec, pd.DataFrame({"c": [1, 2, 3, 4]}), seed=0)
    assert prof.features["c"].counts.tolist() == [1, 1, 1, 1]


def test_strings_in_a_numeric_column_are_counted_not_raised() -> None:
    spec = build_spec(pd.DataFrame({"x": np.arange(50.0)}))
    prof = profile_frame(spec, pd.DataFrame({"x": ["1.5", "abc", None, "2", "n/a"]}), seed=0)
    x = prof.features["x"]
    assert (x.invalid, x.missing, x.valid) == (2, 1, 2)
    assert x.rows == 5


def test_absent_and_extra_columns() -> None:
    spec, _ = build_reference(_frame())
    prof = profile_frame(spec, pd.DataFrame({"x": [1.0, 2.0], "other": [1, 2]}), seed=0)
    assert prof.features["color"].absent == 2
    assert prof.features["color"].rows == 2
    assert prof.extra_columns == ("other",)
    assert np.isnan(prof.numeric_sample("k")).all()


def test_profile_of_a_mapping_of_arrays() -> None:
    spec, _ = build_reference(_frame())
    data = {"x": np.array([1.0, 2.0, 200.0]), "k": np.array([0, 1, 1]),
            "color": np.array(["red", "pink", None], dtype=object),
            "flag": np.array([True, True, False])}
    prof = profile_frame(spec, data, seed=0)
    assert prof.features["x"].counts.sum() == 3
    assert prof.features["x"].counts[-1] == 1
    assert prof.features["color"].counts.tolist() == [0, 0, 1, 1]
    assert prof.features["color"].missing == 1
    assert prof.features["color"].unseen == ("pink",)
    with pytest.raises(DataError, match="different lengths"):
        profile_frame(spec, {"x": np.zeros(2), "k": np.zeros(3)})
    with pytest.raises(DataError, match="cannot profile"):
        profile_frame(spec, [1, 2, 3])


def test_reservoir_is_bounded_and_drawn_from_the_data() -> None:
    spec = build_spec(pd.DataFrame({"x": np.arange(100.0)}))
    frame = pd.DataFrame({"x": np.arange(10_000.0)})
    prof = profile_frame(spec, frame, sample_size=500, seed=3)
    sample = prof.numeric_sample("x")
    assert sample.shape == (500,)
    assert len(set(sample.tolist())) == 500
    assert set(sample.tolist()) <= set(range(10_000))
    small = profile_frame(spec, frame.iloc[:20], sample_size=500, seed=3)
    assert sorted(small.numeric_sample("x").tolist()) == list(range(20))


def test_round_trip_bytes_keeps_everything() -> None:
    spec, ref = build_reference(_frame(), n_bins=4)
    start = datetime(2024, 5, 1, tzinfo=timezone.utc)
    current = pd.DataFrame({"x": [np.inf, np.nan, 3.0], "k": ["a", 1, 2],
                            "color": ["x", None, "red"], "zzz": [1, 2, 3]})
    prof = profile_frame(spec, current, (start, start + timedelta(hours=1)), "host-a", seed=1)
    for compress in (True, False):
        back = Profile.from_bytes(prof.to_bytes(compress=compress))
        assert back.equal_counts(prof)
        assert back.to_bytes() == prof.to_bytes()
        assert (back.start, back.end, back.hosts) == (prof.start, prof.end, ("host-a",))
        assert back.extra_columns == ("zzz",)
        assert back.features["color"].unseen == ("x",)
        np.testing.assert_array_equal(back.sample_numeric, prof.sample_numeric)
        np.testing.assert_array_equal(back.sample_codes, prof.sample_codes)
        assert back.features["x"].total == prof.features["x"].total
    assert ref.to_bytes()[:6] == b"MDPROF"


def test_from_bytes_rejects_garbage() -> None:
    spec, ref = build_reference(_frame())
    data = ref.to_bytes()
    with pytest.raises(DataError, match="not a ModelDeck profile"):
        Profile.from_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(DataError, match="corrupt or truncated"):
        Profile.from_bytes(data[:40])
    with pytest.raises(DataError, match="newer"):
        Profile.from_bytes(data[:6] + bytes([99]) + data[7:])


def test_spec_json_round_trip_and_digest() -> None:
    spec = build_spec(_frame())
    back = ReferenceSpec.from_json(spec.to_json())
    assert back == spec
    assert back.digest == spec.digest
    json.loads(spec.to_json())  # plain JSON
    other = build_spec(_frame().assign(x=np.arange(2.0, 102.0)))
    assert other.digest != spec.digest
    with pytest.raises(DataError, match="newer"):
        ReferenceSpec.from_dict({**spec.to_dict(), "spec_version": 99})


def test_merge_needs_the_same_spec() -> None:
    _, a = build_reference(_frame())
    _, b = build_reference(_frame().assign(x=np.arange(2.0, 102.0)))
    with pytest.raises(DataError, match="different reference specs"):
        a.merge(b)
    with pytest.raises(DataError, match="no profile"):
        merge_profiles([])


def test_merge_combines_windows_and_hosts() -> None:
    spec, _ = build_reference(_frame())
    day = datetime(2024, 5, 1, tzinfo=timezone.utc)
    a = profile_frame(spec, _frame(), (day, day + timedelta(days=1)), "a", seed=1)
    b = profile_frame(spec, _frame(), ("2024-05-02T00:00:00", "2024-05-03T00:00:00"), "b",
                      seed=2)
    merged = a.merge(b)
    assert merged.hosts == ("a", "b")
    assert merged.start == day
    assert merged.end == day + timedelta(days=2)
    assert merged.n_rows == 200
    with pytest.raises(DataError, match="before it starts"):
        profile_frame(spec, _frame(), (day, day - timedelta(days=1)))
    with pytest.raises(DataError, match="ISO 8601"):
        profile_frame(spec, _frame(), ("yesterday", None))


def test_empty_profile_is_the_merge_identity() -> None:
    spec, ref = build_reference(_frame())
    empty = empty_profile(spec)
    assert empty.n_rows == 0
    assert ref.merge(empty).equal_counts(ref)
    assert empty.merge(ref).equal_counts(ref)
    assert profile_frame(spec, _frame().iloc[:0]).equal_counts(empty)


def test_profiling_checks_the_cancel_token() -> None:
    spec, _ = build_reference(_frame())
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        profile_frame(spec, _frame(), cancel=token)


def test_schema_decides_the_kind() -> None:
    frame = _frame()
    schema = infer_schema(frame)
    assert build_spec(frame, schema) == build_spec(frame)


def test_profile_module_needs_neither_scipy_nor_pandas() -> None:
    # The on-host prediction server imports the profile module: numpy and stdlib only.
    code = ("import sys\nimport modeldeck.core.drift.profile\n"
            "print(sorted(m for m in ('scipy', 'pandas', 'sqlite_utils', 'click', 'paramiko')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
