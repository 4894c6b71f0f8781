"""Request and data-file validation (modeldeck.core.runtime.validation)."""

from __future__ import annotations

import json
import pickle
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modeldeck.core.errors import DataError
from modeldeck.core.runtime.validation import (
    STATUS,
    FrameCheck,
    RequestError,
    RowProblem,
    Rows,
    Validator,
)
from modeldeck.core.schema import ColumnSchema

CITIES = ("Berlin", "Lyon", "Paris")
SCHEMA = (
    ColumnSchema("age", "integer"),
    ColumnSchema("income", "float", nullable=True),
    ColumnSchema("member", "boolean"),
    ColumnSchema("city", "string", categories=CITIES),
    ColumnSchema("note", "string", nullable=True),
    ColumnSchema("seen", "datetime", nullable=True),
)
NAMES = [c.name for c in SCHEMA]
GOOD = {"age": 42, "income": 1234.5, "member": True, "city": "Paris", "note": "hello",
        "seen": "2024-05-01T13:45:00Z"}
NUMERIC = tuple(ColumnSchema(f"x{i}", "integer" if i % 3 == 0 else "float") for i in range(30))


@pytest.fixture
def validator() -> Validator:
    return Validator(SCHEMA)


@pytest.fixture
def numeric() -> Validator:
    return Validator(NUMERIC)


_DROP = object()


def record(**changes: Any) -> dict[str, Any]:
    """``GOOD`` with some values changed (``_DROP`` removes the key)."""
    out = dict(GOOD)
    for key, value in changes.items():
        if value is _DROP:
            out.pop(key)
        else:
            out[key] = value
    return out


def refused(call: Any, *args: Any) -> RequestError:
    with pytest.raises(RequestError) as info:
        call(*args)
    error = info.value
    assert error.status == STATUS[error.code]
    assert error.message and error.fix
    json.dumps(error.to_dict(), allow_nan=False)  # the body is strict JSON
    return error


def numeric_record(i: int = 0) -> dict[str, Any]:
    return {c.name: (i + j if c.dtype == "integer" else (i + j) / 4 + 0.1)
            for j, c in enumerate(NUMERIC)}


# --------------------------------------------------------------------------- result types


def test_request_error_body_and_text() -> None:
    error = RequestError(422, "wrong_type", "row 0, column 'age': 'x' is not a number",
                         "give column 'age' whole numbers", [{"row": 0}], more=3)
    assert str(error) == error.message
    assert error.to_dict() == {"error": {
        "code": "wrong_type", "message": error.message, "fix": error.fix,
        "details": [{"row": 0}], "more": 3}}
    assert "more" not in RequestError(400, "no_rows", "m").to_dict()["error"]
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.status, copy.code, copy.message, copy.fix, copy.details, copy.more) == (
        422, "wrong_type", error.message, error.fix, [{"row": 0}], 3)


def test_row_problem_to_dict() -> None:
    problem = RowProblem(3, "age", "abc", "wrong_type", "row 3, column 'age': ...")
    assert problem.to_dict() == {"row": 3, "column": "age", "value": "abc",
                                 "rule": "wrong_type", "message": "row 3, column 'age': ..."}


@pytest.mark.parametrize("schema, fragment", [
    ((), "no columns"),
    ((ColumnSchema("a", "float"), ColumnSchema("a", "integer")), "'a' more than once"),
    ((ColumnSchema("a", "complex"),), "dtype 'complex'"),
])
def test_a_bad_schema_is_refused_at_construction(schema: Any, fragment: str) -> None:
    with pytest.raises(DataError, match=fragment):
        Validator(schema)


# --------------------------------------------------------------------------- parse_json


def test_parse_json_reads_utf8_json(validator: Validator) -> None:
    assert validator.parse_json(b'[{"a": 1}]') == [{"a": 1}]
    assert validator.parse_json("\ufeff[1]".encode()) == [1]  # a UTF-8 BOM is fine
    assert validator.parse_json(bytearray(b'{"x": NaN}'))["x"] != 0  # NaN reads as NaN


@pytest.mark.parametrize("body, fragments", [
    (b"", ["empty"]),
    (b"   \n", ["empty"]),
    (b'[{"a": 1},\n {"a": 2,}]', ["not valid JSON", "line 2, column 10", "near"]),
    (b"[{'a': 1}]", ["not valid JSON", "line 1, column 3"]),
    (b'[{"a": "caf\xe9"}]', ["not UTF-8", "byte 11"]),
    (b"[" * 100_000 + b"]" * 100_000, ["nested too deeply"]),
    (b"[" + b"9" * 5000 + b"]", ["cannot be read"]),
])
def test_parse_json_refuses_bad_bodies(validator: Validator, body: bytes,
                                       fragments: list[str]) -> None:
    error = refused(validator.parse_json, body)
    assert (error.status, error.code) == (400, "malformed_json")
    for fragment in fragments:
        assert fragment in error.message


# --------------------------------------------------------------------------- conversion


def test_every_dtype_converts(validator: Validator) -> None:
    rows = validator.predict_request([
        GOOD,
        record(age=7.0, income=None, member=False, city="Berlin", note=None, seen=None),
        record(seen="2024-05-01T15:45:00+02:00", income=3),
        record(seen="2024-05-01", note=""),
    ])
    assert isinstance(rows, Rows) and rows.n == 4 and rows.options == {}
    assert list(rows.columns) == NAMES
    cols = rows.columns
    assert cols["age"].dtype == np.float64 and cols["age"].tolist() == [42, 7, 42, 42]
    assert cols["income"].dtype == np.float64
    assert np.isnan(cols["income"][1]) and cols["income"][2] == 3.0
    assert cols["member"].dtype == object
    assert cols["member"].tolist() == [True, False, True, True]
    assert cols["city"].dtype == object and cols["city"].tolist()[:2] == ["Paris", "Berlin"]
    assert cols["note"].tolist() == ["hello", None, "hello", ""]
    assert cols["seen"].dtype == np.dtype("datetime64[ns]")
    # Offsets are converted to UTC; times without one are taken as UTC.
    assert cols["seen"][0] == np.datetime64("2024-05-01T13:45:00")
    assert np.isnat(cols["seen"][1])
    assert cols["seen"][2] == np.datetime64("2024-05-01T13:45:00")
    assert cols["seen"][3] == np.datetime64("2024-05-01T00:00:00")


def test_frame_and_matrix(validator: Validator, numeric: Validator) -> None:
    rows = validator.predict_request([GOOD, record(income=None)])
    assert rows.matrix is None
    frame = rows.frame
    assert list(frame.columns) == NAMES and len(frame) == 2
    assert frame["age"].dtype == np.float64 and frame["seen"].dtype.kind == "M"
    assert frame["member"].tolist() == [True, True]
    assert rows.frame is frame  # built once

    records = [numeric_record(i) for i in range(3)]
    num = numeric.predict_request(records)
    expected = np.array([[r[c.name] for c in NUMERIC] for r in records], dtype=np.float64)
    assert num.matrix is not None and num.matrix.shape == (3, 30)
    np.testing.assert_array_equal(num.matrix, expected)
    np.testing.assert_array_equal(num.frame.to_numpy(), expected)
    assert list(num.frame.columns) == [c.name for c in NUMERIC]
    assert (num.frame.dtypes == np.float64).all()


@pytest.mark.parametrize("n", [1, 16, 17, 200])
def test_small_and_large_numeric_batches_agree(numeric: Validator, n: int) -> None:
    """The row-major fast path (up to 16 rows) and the column path give the same arrays."""
    records = [numeric_record(i) for i in range(n)]
    split = {"columns": list(reversed([c.name for c in NUMERIC])),
             "data": [[r[c.name] for c in reversed(NUMERIC)] for r in records]}
    for rows in (numeric.predict_request(records), numeric.predict_request(split),
                 numeric.mlflow_request({"instances": [list(r.values()) for r in records]})):
        assert rows.n == n and list(rows.columns) == [c.name for c in NUMERIC]
        for j, c in enumerate(NUMERIC):
            assert rows.columns[c.name].dtype == np.float64
            assert rows.columns[c.name].tolist() == [r[c.name] for r in records]
        assert rows.matrix is not None and rows.matrix.shape == (n, 30)


def test_integer_columns_take_whole_floats_and_big_ints(numeric: Validator) -> None:
    rows = numeric.predict_request([numeric_record() | {"x0": 2.0, "x3": 2**70}])
    assert rows.columns["x0"][0] == 2.0 and rows.columns["x3"][0] == float(2**70)


# --------------------------------------------------------------------------- formats


def test_predict_formats(validator: Validator) -> None:
    expected = validator.predict_request([GOOD, record(age=1)]).columns
    shuffled = NAMES[::-1]
    forms = [
        {"records": [GOOD, record(age=1)]},
        {"records": [GOOD, record(age=1)], "probabilities": False},
        {"columns": shuffled, "data": [[GOOD[c] for c in shuffled],
                                       [record(age=1)[c] for c in shuffled]]},
    ]
    for form in forms:
        rows = validator.predict_request(form)
        assert rows.n == 2
        for name in NAMES:
            np.testing.assert_array_equal(rows.columns[name], expected[name])
    assert validator.predict_request(forms[1]).options == {"probabilities": False}
    assert validator.predict_request(
        {"records": [GOOD], "probabilities": True}).options == {"probabilities": True}


def test_mlflow_formats(validator: Validator) -> None:
    expected = validator.predict_request([GOOD, record(age=1)]).columns
    lists = [[GOOD[c] for c in NAMES], [record(age=1)[c] for c in NAMES]]
    forms = [
        {"dataframe_split": {"columns": NAMES, "data": lists}},
        {"dataframe_split": {"index": [5, 6], "columns": NAMES, "data": lists}},
        {"dataframe_split": {"data": lists}},
        {"dataframe_records": [GOOD, record(age=1)]},
        {"instances": [GOOD, record(age=1)]},
        {"instances": lists},
        {"inputs": [GOOD, record(age=1)]},
        {"inputs": lists},
        {"inputs": {c: [GOOD[c], record(age=1)[c]] for c in NAMES}},
        {"inputs": [GOOD, record(age=1)], "params": {"anything": [1, 2]}},
    ]
    for form in forms:
        rows = validator.mlflow_request(form)
        assert rows.n == 2, form
        for name in NAMES:
            np.testing.assert_array_equal(rows.columns[name], expected[name])
    one = validator.mlflow_request({"inputs": dict(GOOD)})  # a single row as column -> value
    assert one.n == 1 and one.columns["age"].tolist() == [42.0]


@pytest.mark.parametrize("payload, fragments", [
    (5, ["a number (5)"]),
    ("[1]", ["a string"]),
    ({"recods": [GOOD]}, ["'recods'", "did you mean 'records'"]),
    ({"records": [GOOD], "columns": NAMES}, ["both"]),
    ({"columns": NAMES}, ['no "data"']),
    ({"data": [[1]]}, ['no "columns"']),
    ({}, ['no "records"']),
    ({"records": GOOD}, ['"records" is an object']),
    ({"records": [GOOD], "probabilities": "yes"}, ['"probabilities" must be true or false']),
    ([GOOD, [1, 2]], ["row 1 is a list of 2 items"]),
    ({"columns": "age", "data": [[1]]}, ["not a list of column names"]),
    ({"columns": [1, 2], "data": [[1, 2]]}, ["column names (strings)"]),
    ({"columns": ["age", "age"], "data": [[1, 1]]}, ["'age' more than once"]),
    ({"columns": NAMES, "data": [[1] * 6, [1] * 5, "x"]},
     ["row 1 has 5 values", "row 2 is a string"]),
])
def test_predict_bad_format(validator: Validator, payload: Any, fragments: list[str]) -> None:
    error = refused(validator.predict_request, payload)
    assert (error.status, error.code) == (400, "bad_format")
    for fragment in fragments:
        assert fragment in error.message
    assert '"records"' in error.fix and '"columns"' in error.fix  # lists the accepted forms


def test_bad_format_rows_are_detailed(validator: Validator) -> None:
    error = refused(validator.predict_request,
                    {"columns": NAMES, "data": [[1] * 6, [1] * 5, [1] * 7]})
    assert [(d["row"], d["rule"]) for d in error.details] == [(1, "bad_format"),
                                                               (2, "bad_format")]


@pytest.mark.parametrize("payload, fragments", [
    ([GOOD], ["a list of 1 item, not an object"]),
    ({"dataframe_records": [GOOD], "instances": [GOOD]}, ["2 of the input fields"]),
    ({"params": {}}, ["none of the input fields"]),
    ({"inputs": [GOOD], "extra": 1}, ["'extra'"]),
    ({"dataframe_split": [[1]]}, ['"dataframe_split" is a list']),
    ({"dataframe_split": {"columns": NAMES}}, ['no "data"']),
    ({"dataframe_split": {"data": [], "orient": "split"}}, ["'orient'"]),
    ({"instances": "x"}, ['"instances" is a string']),
    ({"instances": [[1, 2]]}, ["row 0 has 2 values", "'age', 'income'"]),
    ({"inputs": {"age": [1], **{c: 1 for c in NAMES[1:]}}}, ["mixes lists"]),
    ({"inputs": {c: [1] * (2 if c == "age" else 1) for c in NAMES}}, ["differ in length"]),
])
def test_mlflow_bad_format(validator: Validator, payload: Any, fragments: list[str]) -> None:
    error = refused(validator.mlflow_request, payload)
    assert (error.status, error.code) == (400, "bad_format")
    for fragment in fragments:
        assert fragment in error.message
    assert "dataframe_split" in error.fix and "inputs" in error.fix


# --------------------------------------------------------------------------- row counts


@pytest.mark.parametrize("payload", [[], {"records": []}, {"columns": NAMES, "data": []}])
def test_no_rows(validator: Validator, payload: Any) -> None:
    error = refused(validator.predict_request, payload)
    assert (error.status, error.code) == (400, "no_rows")


@pytest.mark.parametrize("payload", [{"dataframe_records": []}, {"instances": []},
                                     {"inputs": {c: [] for c in NAMES}},
                                     {"dataframe_split": {"columns": NAMES, "data": []}}])
def test_no_rows_mlflow(validator: Validator, payload: Any) -> None:
    assert refused(validator.mlflow_request, payload).code == "no_rows"


def test_too_many_rows() -> None:
    validator = Validator(SCHEMA, max_rows=3)
    assert validator.predict_request([GOOD] * 3).n == 3
    for call, payload in [(validator.predict_request, [GOOD] * 4),
                          (validator.predict_request, {"columns": NAMES, "data": [[0]] * 4}),
                          (validator.mlflow_request, {"inputs": {c: [0] * 4 for c in NAMES}})]:
        error = refused(call, payload)
        assert (error.status, error.code) == (413, "too_many_rows")
        assert "4 rows" in error.message and "at most 3" in error.fix


# --------------------------------------------------------------------------- columns


def test_missing_column_everywhere(validator: Validator) -> None:
    error = refused(validator.predict_request, [record(age=_DROP, city=_DROP)] * 2)
    assert (error.status, error.code) == (422, "missing_column")
    assert "'age', 'city'" in error.message
    assert "exactly these 6 columns" in error.fix and "'seen'" in error.fix
    assert [(d["row"], d["column"]) for d in error.details] == [(None, "age"),
                                                                (None, "city")]


def test_missing_column_in_some_rows_names_row_and_column(validator: Validator) -> None:
    error = refused(validator.predict_request,
                    [GOOD, record(age=_DROP), GOOD, record(city=_DROP, note=_DROP)])
    assert error.code == "missing_column"
    assert "2 of 4 rows" in error.message
    assert "row 1 has no column 'age'" in error.message
    assert "row 3 has no column 'city', 'note'" in error.message
    assert [(d["row"], d["column"], d["rule"]) for d in error.details] == [
        (1, "age", "missing_column"), (3, "city", "missing_column"),
        (3, "note", "missing_column")]


def test_misspelt_column_gets_a_rename_hint(validator: Validator) -> None:
    error = refused(validator.predict_request, [record(age=_DROP, Age=3)])
    assert error.code == "missing_column"
    assert "'Age'" in error.message and "does not take" in error.message
    assert error.fix.startswith("rename 'Age' to 'age'")
    error = refused(validator.predict_request,
                    {"columns": [*NAMES[1:], "agee"], "data": [[0] * 6]})
    assert error.code == "missing_column" and "rename 'agee' to 'age'" in error.fix


def test_extra_column(validator: Validator) -> None:
    error = refused(validator.predict_request, [record(zip="75001", id=9)])
    assert (error.status, error.code) == (422, "extra_column")
    assert "'zip', 'id'" in error.message
    assert "exactly these 6 columns" in error.fix and error.fix.startswith("drop 'zip', 'id'")
    error = refused(validator.predict_request, [GOOD, record(zip="75001")])
    assert error.code == "extra_column" and "row 1 has a column" in error.message
    assert error.details[0]["row"] == 1 and error.details[0]["column"] == "zip"
    error = refused(validator.mlflow_request,
                    {"inputs": {**{c: [GOOD[c]] for c in NAMES}, "zip": ["1"]}})
    assert error.code == "extra_column"


def test_missing_column_in_columnar_forms(validator: Validator) -> None:
    error = refused(validator.mlflow_request, {"inputs": {"age": [1]}})
    assert error.code == "missing_column" and "'income'" in error.message
    error = refused(validator.mlflow_request,
                    {"dataframe_split": {"columns": ["age"], "data": [[1]]}})
    assert error.code == "missing_column"


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("change, rule, value, fragments", [
    ({"age": "abc"}, "wrong_type", "abc", ["'abc' is not a number", "takes integers"]),
    ({"age": True}, "wrong_type", True, ["true is not a number"]),
    ({"age": 2.5}, "wrong_type", 2.5, ["2.5 is not a whole number"]),
    ({"income": "1.5"}, "wrong_type", "1.5", ["'1.5' is not a number"]),
    ({"income": [1]}, "wrong_type", "[1]", ["a list of 1 item is not a number"]),
    ({"member": 1}, "wrong_type", 1, ["1 is not true or false"]),
    ({"member": "true"}, "wrong_type", "true", ["'true' is not true or false"]),
    ({"note": 5}, "wrong_type", 5, ["5 is not text"]),
    ({"city": {"a": 1}}, "wrong_type", "{'a': 1}", ["an object with 1 key is not text"]),
    ({"seen": 1714571100}, "wrong_type", 1714571100, ["not an ISO 8601 date-time string"]),
    ({"age": None}, "missing_value", None, ["missing value (null)", "does not allow"]),
    ({"age": float("nan")}, "missing_value", "NaN", ["missing value (NaN)"]),
    ({"member": None}, "missing_value", None, ["missing value (null)"]),
    ({"city": None}, "missing_value", None, ["missing value (null)"]),
    ({"income": float("inf")}, "not_finite", "Infinity", ["Infinity is not a finite number"]),
    ({"age": -float("inf")}, "not_finite", "-Infinity", ["-Infinity is not a finite"]),
    ({"income": 10**400}, "not_finite", None, ["too large for a 64-bit float"]),
    ({"city": "paris"}, "unknown_category", "paris",
     ["'paris' is not a known category, did you mean 'Paris'?",
      "known: 'Berlin', 'Lyon', 'Paris'"]),
    ({"city": "Rome"}, "unknown_category", "Rome", ["'Rome' is not a known category (known"]),
    ({"seen": "yesterday"}, "bad_datetime", "yesterday", ["'yesterday' is not an ISO 8601"]),
    ({"seen": "2024-13-01"}, "bad_datetime", "2024-13-01", ["between 1677-09-22"]),
    ({"seen": "9999-12-31"}, "bad_datetime", "9999-12-31", ["and 2262-04-11"]),
])
def test_value_problems(validator: Validator, change: dict[str, Any], rule: str, value: Any,
                        fragments: list[str]) -> None:
    column = next(iter(change))
    error = refused(validator.predict_request, [GOOD, GOOD, record(**change)])
    assert (error.status, error.code) == (422, rule)
    assert error.message.startswith(f"row 2, column '{column}': ")
    for fragment in fragments:
        assert fragment in error.message
    assert f"'{column}'" in error.fix
    [detail] = error.details
    assert (detail["row"], detail["column"], detail["rule"]) == (2, column, rule)
    assert detail["message"] == error.message
    if value is not None or rule != "not_finite":
        assert detail["value"] == value
    else:
        assert "integer" in detail["value"]  # a huge int is summarised, not dumped


def test_nullable_columns_take_null(validator: Validator) -> None:
    rows = validator.predict_request([record(income=None, note=None, seen=None),
                                      record(income=float("nan"))])
    assert np.isnan(rows.columns["income"]).all()


def test_unknown_category_quotes_at_most_ten() -> None:
    cats = tuple(f"c{i:02d}" for i in range(25))
    validator = Validator([ColumnSchema("c", "string", categories=cats)])
    error = refused(validator.predict_request, [{"c": "zz"}])
    assert "'c09'" in error.message and "'c10'" not in error.message
    assert "25 in all" in error.message and "25 in all" in error.fix


def test_many_problems_are_summarised_and_capped(validator: Validator) -> None:
    rows = [GOOD] * 5 + [record(age="x", city="Rome")] * 30
    error = refused(validator.predict_request, rows)
    assert error.code == "wrong_type"  # the first problem, by row then column
    assert error.message.startswith("60 values in 30 rows do not fit")
    assert "row 5, column 'age': 'x' is not a number" in error.message
    assert "row 5, column 'city': 'Rome'" in error.message
    assert "and 57 more" in error.message
    assert len(error.details) == 20 and error.more == 40
    assert error.to_dict()["error"]["more"] == 40
    assert [(d["row"], d["column"]) for d in error.details[:3]] == [
        (5, "age"), (5, "city"), (6, "age")]
    assert "'age'" in error.fix and "'city'" in error.fix


def test_max_details_is_configurable() -> None:
    validator = Validator(SCHEMA, max_details=2)
    error = refused(validator.predict_request, [record(age="x")] * 5)
    assert len(error.details) == 2 and error.more == 3


def test_numeric_problems_in_the_block_path(numeric: Validator) -> None:
    """A batch beyond the small-batch fast path, with every kind of numeric problem."""
    records = [numeric_record(i) for i in range(40)]
    records[3]["x0"] = 1.5
    records[7]["x1"] = float("nan")
    records[9]["x2"] = float("-inf")
    records[20]["x4"] = "7"
    records[30]["x5"] = None
    error = refused(numeric.predict_request, records)
    assert [(d["row"], d["column"], d["rule"]) for d in error.details] == [
        (3, "x0", "wrong_type"), (7, "x1", "missing_value"), (9, "x2", "not_finite"),
        (20, "x4", "wrong_type"), (30, "x5", "missing_value")]
    for small in ([records[3]], [records[7]], [records[9]]):
        assert refused(numeric.predict_request, small).details[0]["row"] == 0


def test_python_callers_may_pass_numpy_scalars(validator: Validator) -> None:
    rows = validator.predict_request([record(age=np.int64(3), income=np.float32(1.5),
                                             member=np.bool_(True), city=np.str_("Lyon"))])
    assert rows.columns["age"].tolist() == [3.0] and rows.columns["member"].tolist() == [True]


# --------------------------------------------------------------------------- data files


def write_csv(path: Path, text: str) -> pd.DataFrame:
    path.write_text(text, encoding="utf-8")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_check_frame_converts_text(tmp_path: Path, validator: Validator) -> None:
    frame = write_csv(tmp_path / "in.csv", (
        "id,age,income,member,city,note,seen\n"
        "a,42,1234.5,true,Paris,hello,2024-05-01T13:45:00Z\n"
        "b, 7 ,,FALSE,Berlin,,\n"
        "c,3.0,NA,1,Lyon,NA,2024-05-01 15:45:00+02:00\n"
        "d,1e2,-2.5e3,0,Paris,x,NaT\n"))
    check = validator.check_frame(frame)
    assert isinstance(check, FrameCheck)
    assert check.problems == [] and check.good.tolist() == [0, 1, 2, 3]
    assert check.extra_columns == ("id",)
    cols = check.rows.columns
    assert check.rows.n == 4 and list(cols) == NAMES
    assert cols["age"].tolist() == [42.0, 7.0, 3.0, 100.0]
    assert cols["income"][0] == 1234.5 and np.isnan(cols["income"][1:3]).all()
    assert cols["member"].tolist() == [True, False, True, False]
    assert cols["city"].tolist() == ["Paris", "Berlin", "Lyon", "Paris"]
    assert cols["note"].tolist() == ["hello", None, "NA", "x"]  # "NA" is text in strings
    assert cols["seen"].dtype == np.dtype("datetime64[ns]")
    assert cols["seen"][0] == cols["seen"][2] == np.datetime64("2024-05-01T13:45:00")
    assert np.isnat(cols["seen"][1]) and np.isnat(cols["seen"][3])


def test_check_frame_reports_every_problem_of_bad_rows(tmp_path: Path,
                                                        validator: Validator) -> None:
    frame = write_csv(tmp_path / "in.csv", (
        "age,income,member,city,note,seen\n"
        "42,1.5,true,Paris,,\n"
        "4.5,inf,yes,Rome,,soon\n"
        ",abc,,,,\n"
        "1,2,false,Lyon,,2024-01-01\n"))
    check = validator.check_frame(frame)
    assert check.good.tolist() == [0, 3] and check.good.dtype == np.int64
    assert check.rows.n == 2 and check.rows.columns["age"].tolist() == [42.0, 1.0]
    assert [(p.row, p.column, p.rule, p.value) for p in check.problems] == [
        (1, "age", "wrong_type", "4.5"), (1, "income", "not_finite", "inf"),
        (1, "member", "wrong_type", "yes"), (1, "city", "unknown_category", "Rome"),
        (1, "seen", "bad_datetime", "soon"),
        (2, "age", "missing_value", ""), (2, "income", "wrong_type", "abc"),
        (2, "member", "missing_value", ""), (2, "city", "missing_value", "")]
    assert check.problems[0].message == ("row 1, column 'age': '4.5' is not a whole number "
                                         "(the column takes integers)")
    assert check.extra_columns == ()


def test_check_frame_missing_column_fails_the_file(validator: Validator) -> None:
    frame = pd.DataFrame({"Age": ["1"], "income": ["1"], "member": ["true"]}, dtype=str)
    error = refused(validator.check_frame, frame)
    assert (error.status, error.code) == (422, "missing_column")
    assert "the file has no columns 'age', 'city', 'note', 'seen'" == error.message
    assert error.fix.startswith("rename 'Age' to 'age'; include every input column in the "
                                "header row")
    assert "passed through" in error.fix


def test_check_frame_typed_parquet(tmp_path: Path, validator: Validator) -> None:
    source = pd.DataFrame({
        "age": pd.array([1, 2, None, 4], dtype="Int64"),
        "income": [1.5, np.nan, 2.0, np.inf],
        "member": pd.array([True, False, None, True], dtype="boolean"),
        "city": pd.Categorical(["Paris", "Lyon", "Paris", "Rome"]),
        "note": ["a", None, "c", "d"],
        "seen": pd.to_datetime(["2024-01-01T00:00:00+01:00", None, "2024-01-02T00:00:00Z",
                                "2024-01-03T00:00:00Z"], utc=True),
        "extra": [1, 2, 3, 4],
    })
    source.to_parquet(tmp_path / "in.parquet")
    check = validator.check_frame(pd.read_parquet(tmp_path / "in.parquet"))
    assert check.good.tolist() == [0, 1]
    assert [(p.row, p.column, p.rule) for p in check.problems] == [
        (2, "age", "missing_value"), (2, "member", "missing_value"),
        (3, "income", "not_finite"), (3, "city", "unknown_category")]
    cols = check.rows.columns
    assert cols["age"].tolist() == [1.0, 2.0] and cols["member"].tolist() == [True, False]
    assert cols["note"].tolist() == ["a", None]
    assert cols["seen"][0] == np.datetime64("2023-12-31T23:00:00")
    assert check.extra_columns == ("extra",)


def test_check_frame_typed_mismatches() -> None:
    validator = Validator([ColumnSchema("n", "float"), ColumnSchema("b", "boolean"),
                           ColumnSchema("s", "string"), ColumnSchema("t", "datetime")])
    frame = pd.DataFrame({"n": [True, False, True], "b": [0, 1, 2],
                          "s": [1.5, 2.5, 3.5],
                          "t": [1, 2, 3]})
    check = validator.check_frame(frame)
    assert check.good.tolist() == []
    rules = {(p.row, p.column): p.rule for p in check.problems}
    assert rules[(0, "n")] == "wrong_type" and rules[(0, "s")] == "wrong_type"
    assert rules[(0, "t")] == "wrong_type" and rules[(2, "b")] == "wrong_type"
    assert (0, "b") not in rules and (1, "b") not in rules  # 0 and 1 are booleans


def test_check_frame_mixed_object_column() -> None:
    validator = Validator([ColumnSchema("n", "integer", nullable=True)])
    frame = pd.DataFrame({"n": pd.Series(["1", 2, None, 3.5, "x", np.nan], dtype=object)})
    check = validator.check_frame(frame)
    assert [(p.row, p.rule) for p in check.problems] == [(3, "wrong_type"), (4, "wrong_type")]
    assert check.good.tolist() == [0, 1, 2, 5]
    assert check.rows.columns["n"][:2].tolist() == [1.0, 2.0]


def test_check_frame_empty_file(tmp_path: Path, validator: Validator) -> None:
    frame = write_csv(tmp_path / "in.csv", ",".join(NAMES) + "\n")
    check = validator.check_frame(frame)
    assert check.rows.n == 0 and check.good.tolist() == [] and check.problems == []
    assert all(len(a) == 0 for a in check.rows.columns.values())
    assert len(check.rows.frame) == 0


# --------------------------------------------------------------------------- properties

_scalars = (st.none() | st.booleans() | st.floats() | st.text(max_size=12)
            | st.integers(min_value=-(10**30), max_value=10**30)
            | st.integers(min_value=-(10**1000), max_value=10**1000)
            | st.sampled_from(["", "Paris", "2024-05-01", "2024-05-01T13:45:00+02:00", "NaN",
                               "9999-01-01", "1.5", "true"]))
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)
_valid = {
    "age": st.integers(-1000, 1000) | st.integers(-1000, 1000).map(float),
    "income": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-10**6, 10**6)
    | st.none(),
    "member": st.booleans(),
    "city": st.sampled_from(CITIES),
    "note": st.text(max_size=8) | st.none(),
    "seen": st.datetimes(datetime(1700, 1, 1), datetime(2200, 1, 1)).map(
        lambda d: d.isoformat() + "Z") | st.dates(date(1700, 1, 1), date(2200, 1, 1)).map(
        lambda d: d.isoformat()) | st.none(),
}
_clean = st.fixed_dictionaries(_valid)
_keys = st.sampled_from(NAMES) | st.sampled_from(["Age", "zip"])


@st.composite
def _record(draw: Any) -> Any:
    """A valid record, most often with one thing wrong (a value, a key), or any JSON."""
    mode = draw(st.sampled_from(["clean"] * 6 + ["value", "value", "drop", "add", "json"]))
    if mode == "json":
        return draw(_json)
    out = draw(_clean)
    if mode == "value":
        out[draw(st.sampled_from(NAMES))] = draw(_scalars | _json)
    elif mode == "drop":
        out.pop(draw(st.sampled_from(NAMES)))
    elif mode == "add":
        out[draw(_keys)] = draw(_scalars)
    return out


@st.composite
def _payload(draw: Any) -> Any:
    """Every request form, built from mostly valid records, sometimes with a part swapped
    for random JSON."""
    records = draw(st.lists(_record(), max_size=6))
    clean = [r for r in records if isinstance(r, dict)]
    columns = draw(st.permutations(NAMES) | st.lists(_keys, max_size=7, unique=True))
    rows: Any = [[r.get(c) for c in columns] for r in clean]
    positional = [[r.get(c) for c in NAMES] for r in clean]
    if draw(st.integers(0, 4)) == 0 and rows:
        rows[draw(st.integers(0, len(rows) - 1))] = draw(_json)
    form = draw(st.sampled_from([
        records, {"records": records}, {"columns": columns, "data": rows},
        {"dataframe_split": {"columns": columns, "data": rows, "index": list(range(len(rows)))}},
        {"dataframe_split": {"data": positional}},
        {"dataframe_records": records}, {"instances": records}, {"instances": positional},
        {"inputs": records}, {"inputs": positional},
        {"inputs": {c: [r.get(c) for r in clean] for c in columns}},
        {"inputs": clean[0] if clean else {}},
    ]))
    if isinstance(form, dict) and draw(st.integers(0, 5)) == 0:
        key = draw(st.sampled_from([*form, "probabilities", "params", "x"]))
        form = {**form, key: draw(_json)}
    elif isinstance(form, dict) and draw(st.booleans()):
        form = {**form, "probabilities": draw(st.booleans())}
    return draw(st.just(form) | _json) if draw(st.integers(0, 9)) == 0 else form


_PROPERTY = settings(max_examples=300, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow,
                                            HealthCheck.data_too_large])


def _only_request_errors(call: Any, payload: Any) -> None:
    try:
        rows = call(payload)
    except RequestError as error:
        assert error.status == STATUS[error.code]
        assert error.message and error.fix
        assert len(error.details) <= 20
        json.dumps(error.to_dict(), allow_nan=False)
        return
    assert isinstance(rows, Rows) and rows.n >= 1 and list(rows.columns) == NAMES
    for spec in SCHEMA:
        array = rows.columns[spec.name]
        assert len(array) == rows.n
        kind = {"integer": "f", "float": "f", "boolean": "O", "string": "O",
                "datetime": "M"}[spec.dtype]
        assert array.dtype.kind == kind


@_PROPERTY
@given(_payload())
def test_random_payloads_raise_only_request_errors(payload: Any) -> None:
    validator = Validator(SCHEMA, max_rows=5)
    _only_request_errors(validator.predict_request, payload)
    _only_request_errors(validator.mlflow_request, payload)


@_PROPERTY
@given(st.binary(max_size=60) | _json.map(lambda v: json.dumps(v).encode()[:40])
       | st.text(max_size=30).map(str.encode))
def test_random_bodies_raise_only_request_errors(body: bytes) -> None:
    validator = Validator(SCHEMA)
    try:
        payload = validator.parse_json(body)
    except RequestError as error:
        assert error.code == "malformed_json" and error.status == 400
        return
    _only_request_errors(validator.predict_request, payload)


@settings(max_examples=60, deadline=None, database=None)
@given(st.lists(st.tuples(*[st.text(max_size=8) | st.sampled_from(
    ["", "1", "2.5", "NA", "inf", "true", "0", "Paris", "2024-05-01", "1e400", " 3 "])
    for _ in SCHEMA]), max_size=8))
def test_random_text_files_never_crash(cells: list[tuple[str, ...]]) -> None:
    frame = pd.DataFrame(cells, columns=NAMES, dtype=str) if cells else pd.DataFrame(
        {c: pd.Series([], dtype=str) for c in NAMES})
    check = Validator(SCHEMA).check_frame(frame)
    bad = {p.row for p in check.problems}
    assert sorted(bad | set(check.good.tolist())) == list(range(len(cells)))
    assert not bad & set(check.good.tolist())
    assert check.rows.n == len(check.good)
    assert [(p.row, NAMES.index(p.column or "")) for p in check.problems] == sorted(
        (p.row, NAMES.index(p.column or "")) for p in check.problems)
    for p in check.problems:
        json.dumps(p.to_dict(), allow_nan=False)
