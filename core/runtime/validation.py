"""Request and data-file validation against a model's input schema.

The prediction server builds one :class:`Validator` per loaded model version from the
version's input schema (:class:`~modeldeck.core.schema.ColumnSchema` items) and runs every
request body and every folder-mode file through it. It answers with typed per-column numpy
arrays (:class:`Rows`) or raises a :class:`RequestError` that names each bad value (row,
column, value and the rule it breaks) and says what to send instead. Nothing else escapes:
any JSON value is either accepted or turned into a :class:`RequestError`.

Column arrays (``Rows.columns``)
--------------------------------
``integer`` and ``float`` columns become float64 (NaN for missing; an integer column takes
``2`` and ``2.0`` but not ``2.5``), ``boolean`` an object array of ``True``/``False``/``None``,
``string`` an object array of ``str``/``None`` and ``datetime`` ``datetime64[ns]`` (NaT for
missing) in UTC: ISO 8601 text with an offset is converted to UTC, text without one is taken
as UTC. Only 1677-09-22 to 2262-04-11 fits in nanoseconds; other dates are ``bad_datetime``.

JSON requests are strict: ``true`` is not a number, ``1`` is not a string or a boolean,
``"1.5"`` is not a number. Folder files (:meth:`Validator.check_frame`) are text, so there
``"1.5"``, ``"true"``/``"false"``/``"1"``/``"0"`` (any case) and ISO 8601 text convert, an
empty cell is missing, and in numeric, boolean and datetime columns so are ``NA``, ``N/A``,
``NaN``, ``-nan``, ``null``, ``None``, ``NaT`` and ``#N/A`` (any case); in string columns only
the empty cell is missing (``"NA"`` may well be a country code).

Speed
-----
This runs on every request, so the common case does no per-cell pandas work and almost no
per-cell Python: the records are turned into column tuples by ``operator.itemgetter`` and
``zip``, the cell types of all numeric columns are checked at once with
``set(map(type, ...))`` and the numeric columns become one float64 block in a single
``np.array`` call, checked for NaN, ±inf and fractions with a handful of vectorised calls.
Per-cell Python loops run only for columns holding something unusual (nulls, wrong types),
to name each bad cell. Up to 16 rows of an all-numeric schema go row-major straight into the
``(n, k)`` matrix. Measured (2-core VM, busy): 1 row × 30 numeric columns 14 µs as records,
20-30 µs as columns + data; 100 rows × 30 about 0.25-0.3 ms either way. ``json.loads`` of
the body costs more than the validation (about 1-1.5 ms for 100 × 30 floats).
"""

from __future__ import annotations

import difflib
import json
import math
import reprlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from modeldeck.core.errors import DataError
from modeldeck.core.schema import DTYPES, ColumnSchema

# Error codes (``RequestError.code`` and ``RowProblem.rule``).
MALFORMED_JSON = "malformed_json"
BAD_FORMAT = "bad_format"
NO_ROWS = "no_rows"
TOO_MANY_ROWS = "too_many_rows"
MISSING_COLUMN = "missing_column"
EXTRA_COLUMN = "extra_column"
WRONG_TYPE = "wrong_type"
MISSING_VALUE = "missing_value"
NOT_FINITE = "not_finite"
UNKNOWN_CATEGORY = "unknown_category"
BAD_DATETIME = "bad_datetime"

#: HTTP status of each error code.
STATUS: dict[str, int] = {
    MALFORMED_JSON: 400, BAD_FORMAT: 400, NO_ROWS: 400, TOO_MANY_ROWS: 413,
    MISSING_COLUMN: 422, EXTRA_COLUMN: 422, WRONG_TYPE: 422, MISSING_VALUE: 422,
    NOT_FINITE: 422, UNKNOWN_CATEGORY: 422, BAD_DATETIME: 422,
}

#: The datetimes ``datetime64[ns]`` holds (whole days inside its range).
DATETIME_RANGE = ("1677-09-22", "2262-04-11")

#: At most this many allowed categories are quoted in an ``unknown_category`` message.
MAX_QUOTED_CATEGORIES = 10

_NUMERIC_DTYPES = ("integer", "float")
# Up to this many rows, an all-numeric request is converted row-major in one step.
_SMALL_BATCH = 16
_NUMBER_TYPES = frozenset((int, float))
_BOOL_TYPES = frozenset((bool,))
_STR_TYPES = frozenset((str,))
_TEXT_TYPES = frozenset((str, type(None)))
# Spellings of "no value" in the text cells of a data file (compared lower-cased, stripped);
# string columns treat only the empty cell as missing.
_NA_TEXT = frozenset(("", "na", "n/a", "nan", "-nan", "null", "none", "nat", "#n/a"))
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}
_NAT = np.datetime64("NaT", "ns")
EXAMPLE_TIME = "2024-05-01T13:45:00Z"
_PREDICT_KEYS = ("records", "columns", "data", "probabilities", "event_time")
_MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_SPLIT_KEYS = ("columns", "data", "index")

_short = reprlib.Repr()
_short.maxlevel = 3
_short.maxstring = 40
_short.maxother = 40
_short.maxlist = 6
_short.maxtuple = 6
_short.maxdict = 6


# --------------------------------------------------------------------------- results


class RequestError(Exception):
    """A request (or data file) the server refuses, with the HTTP answer to give.

    Parameters
    ----------
    status
        HTTP status: 400 (unreadable / wrong shape), 413 (too many rows), 422 (values that
        do not fit the schema).
    code
        Machine-readable code: one of the module's error codes (see :data:`STATUS`).
    message
        What is wrong, naming the column, row and value.
    fix
        What to send instead.
    details
        Up to ``max_details`` :meth:`RowProblem.to_dict` items.
    more
        How many further problems were left out of ``details``.
    """

    def __init__(self, status: int, code: str, message: str, fix: str = "",
                 details: list[dict[str, Any]] | None = None, more: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fix = fix
        self.details = list(details) if details else []
        self.more = more

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.status, self.code, self.message, self.fix, self.details,
                             self.more))

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body: ``{"error": {"code", "message", "fix", "details"}}``, plus
        ``"more"`` (the number of problems left out of ``details``) when some were."""
        body: dict[str, Any] = {"code": self.code, "message": self.message, "fix": self.fix,
                                "details": self.details}
        if self.more:
            body["more"] = self.more
        return {"error": body}


@dataclass(frozen=True)
class RowProblem:
    """One bad value (or a row lacking a column).

    Attributes
    ----------
    row
        0-based position of the row in the input rows; ``None`` when the problem concerns
        the whole request (a column missing from every row, or from ``"columns"``).
    column
        The column, or ``None`` when the problem concerns a whole row.
    value
        The offending value, JSON-safe: NaN and ±inf as ``"NaN"``/``"Infinity"``/
        ``"-Infinity"``, long text cut to 80 characters, lists, objects and odd objects as a
        repr cut to 80 characters.
    rule
        The error code of the problem (``"wrong_type"``, ``"missing_value"``...).
    message
        The problem in words, e.g. ``"row 3, column 'age': 'abc' is not a number (the column
        takes integers)"``.
    """

    row: int | None
    column: str | None
    value: Any
    rule: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"row": self.row, "column": self.column, "value": self.value, "rule": self.rule,
                "message": self.message}


@dataclass(eq=False)  # holds numpy arrays: compare their columns instead
class Rows:
    """Validated input rows, one typed numpy array per schema column.

    Attributes
    ----------
    columns
        Every schema column in schema order: float64 for integer and float columns (NaN
        missing), object arrays of ``bool``/``None`` and ``str``/``None`` for boolean and
        string columns, ``datetime64[ns]`` (NaT missing, UTC) for datetime columns.
    n
        Number of rows.
    options
        Request options, e.g. ``{"probabilities": True}``; only those the request gave.
    """

    columns: dict[str, np.ndarray]
    n: int
    options: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame, columns in schema order (built on first use)."""
        index = pd.RangeIndex(self.n)
        matrix = self.matrix
        if matrix is not None and matrix.shape[1]:
            # One float block: about 3x faster to build than from the column dict.
            return pd.DataFrame(matrix, columns=pd.Index(list(self.columns)), index=index,
                                copy=False)
        return pd.DataFrame(self.columns, index=index, copy=False)

    @cached_property
    def matrix(self) -> np.ndarray | None:
        """float64 ``(n, columns)`` when every column is integer or float (NaN for missing),
        else ``None``."""
        arrays = list(self.columns.values())
        if not all(a.dtype == np.float64 for a in arrays):
            return None
        if not arrays:
            return np.empty((self.n, 0))
        return np.stack(arrays, axis=1)


@dataclass(eq=False)  # holds numpy arrays: compare their columns instead
class FrameCheck:
    """The outcome of checking a data file (:meth:`Validator.check_frame`).

    Attributes
    ----------
    rows
        The good rows only, converted.
    good
        0-based positions of the good rows in the input frame (int64).
    problems
        Every problem of every bad row, sorted by row then schema column.
    extra_columns
        Columns of the file that are not model inputs (ignored, to be passed through).
    """

    rows: Rows
    good: np.ndarray
    problems: list[RowProblem]
    extra_columns: tuple[str, ...]


# --------------------------------------------------------------------------- validator


@dataclass(frozen=True)
class _Column:
    pos: int
    name: str
    dtype: str
    nullable: bool
    categories: tuple[str, ...] | None
    catset: frozenset[str] | None


# (row, column position, rule, value, why): a problem before it is put in words. ``why``
# refines the wording ("fraction": an integer column got 2.5; "overflow": an integer
# too large for a float).
_Issue = tuple[int, int, str, Any, str]


def event_time(value: Any) -> float:
    """A request's ``"event_time"`` (ISO 8601 with a time zone) as epoch seconds.

    Raises
    ------
    RequestError
        422 ``bad_event_time``: not a date-time with a time zone.
    """
    from datetime import datetime

    try:
        if not isinstance(value, str):
            raise ValueError
        stamp = datetime.fromisoformat(value)
        if stamp.tzinfo is None:
            raise ValueError
        return stamp.timestamp()
    except (ValueError, OverflowError, OSError):
        raise RequestError(422, "bad_event_time", f'"event_time" {_show(value)} is not a '
                           "date and time with its time zone",
                           'send e.g. "event_time": "2026-11-20T14:00:00Z"') from None


class Validator:
    """Checks and converts requests and data files for one model's input schema.

    Stateless after construction, so one instance serves any number of threads.

    Parameters
    ----------
    schema
        The model's input columns, in the order the model takes them.
    max_rows
        Most rows one request may carry (``too_many_rows``, HTTP 413, above it).
    max_details
        Most problems listed in a :class:`RequestError`'s ``details`` (the rest are
        counted in ``more``).

    Raises
    ------
    DataError
        The schema is empty, names a column twice or has a dtype this module does not know.
    """

    def __init__(self, schema: Sequence[ColumnSchema], *, max_rows: int = 100_000,
                 max_details: int = 20) -> None:
        columns = tuple(schema)
        if not columns:
            raise DataError("the model's input schema has no columns",
                            "register the version again with its reference data")
        names = [c.name for c in columns]
        twice = sorted(name for name, count in Counter(names).items() if count > 1)
        if twice:
            raise DataError(f"the input schema names {_quoted(twice)} more than once",
                            "give every input column a unique name")
        for c in columns:
            if c.dtype not in DTYPES:
                raise DataError(f"input column {c.name!r} has dtype {c.dtype!r}, which the "
                                f"prediction server does not know",
                                f"use one of {', '.join(DTYPES)}")
        if max_rows < 1 or max_details < 0:
            raise DataError(f"max_rows must be at least 1 and max_details at least 0, got "
                            f"{max_rows} and {max_details}", "use the defaults")
        self.schema: tuple[ColumnSchema, ...] = columns
        self.names: tuple[str, ...] = tuple(names)
        self.max_rows = max_rows
        self.max_details = max_details
        self._specs = tuple(
            _Column(i, c.name, c.dtype, bool(c.nullable),
                    tuple(c.categories) if c.categories is not None else None,
                    frozenset(c.categories) if c.categories is not None else None)
            for i, c in enumerate(columns))
        self._pos = {name: i for i, name in enumerate(self.names)}
        self._numeric = tuple(s for s in self._specs if s.dtype in _NUMERIC_DTYPES)
        self._others = tuple(s for s in self._specs if s.dtype not in _NUMERIC_DTYPES)
        self._integer_rows = np.array([i for i, s in enumerate(self._numeric)
                                       if s.dtype == "integer"], dtype=np.intp)
        self._all_numeric = not self._others
        integer_positions = [s.pos for s in self._specs if s.dtype == "integer"]
        self._integer_getter = (_row_getter(integer_positions) if integer_positions
                                else None)
        self._getter = _row_getter(self.names)
        self._cells: dict[str, Callable[[_Column, Sequence[Any]],
                                        tuple[np.ndarray, list[_Issue]]]] = {
            "integer": self._numeric_cells, "float": self._numeric_cells,
            "boolean": self._boolean_cells, "string": self._string_cells,
            "datetime": self._datetime_cells,
        }
        example = {s.name: example_value(s) for s in self._specs[:3]}
        ellipsis = ", ..." if len(self._specs) > 3 else ""
        self._example_record = json.dumps(example)[:-1] + ellipsis + "}"
        self._example_columns = json.dumps(list(example))[:-1] + ellipsis + "]"
        self._example_row = json.dumps(list(example.values()))[:-1] + ellipsis + "]"

    # ------------------------------------------------------------------ entry points

    def parse_json(self, body: bytes | bytearray | memoryview | str) -> Any:
        """Decode a request body.

        Raises
        ------
        RequestError
            400 ``malformed_json``: empty, not UTF-8 (the byte position is named), not JSON
            (line, column and the text around the error are named) or nested too deeply.
        """
        if isinstance(body, str):
            text = body
        else:
            try:
                text = bytes(body).decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise RequestError(
                    400, MALFORMED_JSON,
                    f"the request body is not UTF-8 text: byte {exc.start} "
                    f"({bytes(body)[exc.start:exc.start + 1]!r}) cannot be decoded",
                    "encode the body as UTF-8 and send Content-Type: application/json; "
                    "charset=utf-8") from None
        if not text.strip():
            raise RequestError(400, MALFORMED_JSON, "the request body is empty",
                               f"send a JSON body such as [{self._example_record}]")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            near = text[max(0, exc.pos - 20):exc.pos + 20]
            raise RequestError(
                400, MALFORMED_JSON,
                f"the request body is not valid JSON: {exc.msg} at line {exc.lineno}, column "
                f"{exc.colno} (character {exc.pos}), near {near!r}",
                "fix the JSON syntax at that position (a missing comma or quote, a trailing "
                "comma, single quotes?); a JSON encoder such as Python's json.dumps always "
                "writes valid JSON") from None
        except RecursionError:
            raise RequestError(400, MALFORMED_JSON,
                               "the request body is nested too deeply to read",
                               f"send a flat list of records such as [{self._example_record}]"
                               ) from None
        except ValueError:  # the only other ValueError: an integer of over 4300 digits
            raise RequestError(400, MALFORMED_JSON,
                               "the request body cannot be read: it holds an integer of more "
                               "than 4300 digits", "send numbers that fit in a 64-bit float"
                               ) from None

    def predict_request(self, payload: Any) -> Rows:
        """Validate a ``/v1/predict`` body (already decoded, see :meth:`parse_json`).

        Accepted forms: a list of records ``[{"col": value, ...}, ...]``;
        ``{"records": [...]}``; ``{"columns": [...], "data": [[...], ...]}``. The object
        forms may add ``"probabilities": true|false`` and ``"event_time": ISO 8601 with a
        time zone`` — when the rows happened, for a batch scored after the fact; the log
        files them under that time (both in ``Rows.options``; the event time as epoch
        seconds, checked against the log's bounds by the service).

        Raises
        ------
        RequestError
            400 ``bad_format`` / ``no_rows``, 413 ``too_many_rows``, 422 ``missing_column``,
            ``extra_column``, ``wrong_type``, ``missing_value``, ``not_finite``,
            ``unknown_category``, ``bad_datetime``, ``bad_event_time``.
        """
        if type(payload) is list:
            return self._records(payload, {}, "the request body")
        if not isinstance(payload, dict):
            raise self._bad_format(f"the request body is {_kind(payload)}, not a list of "
                                   f"records or an object")
        unknown = [k for k in payload if k not in _PREDICT_KEYS]
        if unknown:
            raise self._bad_format(f"the request has {_keys_text(unknown, _PREDICT_KEYS)}")
        options: dict[str, Any] = {}
        if "probabilities" in payload:
            flag = payload["probabilities"]
            if type(flag) is not bool:
                raise self._bad_format(f'"probabilities" must be true or false, not '
                                       f"{_show(flag)}")
            options["probabilities"] = flag
        if "event_time" in payload:
            options["event_time"] = event_time(payload["event_time"])
        if "records" in payload:
            if "columns" in payload or "data" in payload:
                raise self._bad_format('the request has both "records" and "columns"/"data"')
            return self._records(payload["records"], options, '"records"')
        if "columns" in payload and "data" in payload:
            return self._split(payload["columns"], payload["data"], options, "")
        if "columns" in payload or "data" in payload:
            have, lack = ("columns", "data") if "columns" in payload else ("data", "columns")
            raise self._bad_format(f'the request has "{have}" but no "{lack}"')
        raise self._bad_format('the request object has no "records" and no "columns"/"data"')

    def mlflow_request(self, payload: Any) -> Rows:
        """Validate an MLflow-style ``/invocations`` body (already decoded).

        Accepted forms: ``{"dataframe_split": {"columns": [...], "data": [[...]]}}`` (an
        ``"index"`` is ignored); ``{"dataframe_records": [...]}``; ``{"instances": [...]}``
        (records, or lists in schema order); ``{"inputs": ...}`` (records, an object of
        column → list of values, or lists in schema order). An optional ``"params"`` is
        ignored.

        Raises
        ------
        RequestError
            As :meth:`predict_request`.
        """
        try:
            return self._mlflow(payload)
        except RequestError as error:
            if error.code == BAD_FORMAT:  # list the /invocations forms, not /v1/predict's
                error.fix = self._bad_format("", mlflow=True).fix
            raise

    def _mlflow(self, payload: Any) -> Rows:
        if not isinstance(payload, dict):
            raise self._bad_format(f"the request body is {_kind(payload)}, not an object")
        unknown = [k for k in payload if k not in _MLFLOW_KEYS and k != "params"]
        if unknown:
            raise self._bad_format(f"the request has {_keys_text(unknown, _MLFLOW_KEYS)}")
        if payload.get("params") is not None and not isinstance(payload["params"], dict):
            raise self._bad_format(f'"params" is {_kind(payload["params"])}, not an object '
                                   "(it is ignored, but must be an object of named values)")
        given = [k for k in _MLFLOW_KEYS if k in payload]
        if len(given) != 1:
            what = ("none of" if not given else f"{len(given)} of")
            raise self._bad_format(f"the request has {what} the input fields "
                                   f"{', '.join(_MLFLOW_KEYS)}; it needs exactly one")
        key = given[0]
        value = payload[key]
        where = f'"{key}"'
        if key == "dataframe_split":
            if not isinstance(value, dict):
                raise self._bad_format(f'"dataframe_split" is {_kind(value)}, not an object')
            odd = [k for k in value if k not in _SPLIT_KEYS]
            if odd:
                raise self._bad_format(f'"dataframe_split" has {_keys_text(odd, _SPLIT_KEYS)}')
            if "data" not in value:
                raise self._bad_format('"dataframe_split" has no "data"')
            if "index" in value and type(value["index"]) is not list:
                raise self._bad_format(f'"dataframe_split" "index" is {_kind(value["index"])}, '
                                       "not a list (it is ignored, but must be a list)")
            if "columns" not in value:
                return self._positional(value["data"], {}, '"dataframe_split" "data"')
            return self._split(value["columns"], value["data"], {}, '"dataframe_split" ')
        if key == "dataframe_records":
            return self._records(value, {}, where)
        if isinstance(value, dict) and key == "inputs":
            return self._columnar(value, {}, where)
        if type(value) is not list:
            also = ", an object of column lists" if key == "inputs" else ""
            raise self._bad_format(f"{where} is {_kind(value)}, not a list of records{also} "
                                   f"or a list of rows")
        if value and isinstance(value[0], (list, tuple)):
            return self._positional(value, {}, where)
        return self._records(value, {}, where)

    def check_frame(self, frame: pd.DataFrame) -> FrameCheck:
        """Check and convert a data file (folder mode), row by row.

        Parameters
        ----------
        frame
            Read with ``pd.read_csv(path, dtype=str, keep_default_na=False)`` (all text,
            ``""`` missing) or a typed frame (Parquet). Text converts per column: numbers
            such as ``"1.5"``, booleans ``"true"``/``"false"``/``"1"``/``"0"`` (any case), ISO
            8601 datetimes.

        Returns
        -------
        FrameCheck
            The good rows converted, their positions, every problem of the bad rows, and
            the columns that are not model inputs.

        Raises
        ------
        RequestError
            422 ``missing_column`` when the file lacks an input column (the whole file is
            unusable then).
        """
        labels = [str(c) for c in frame.columns]
        first: dict[str, int] = {}
        for j, label in enumerate(labels):
            first.setdefault(label, j)
        missing = [name for name in self.names if name not in first]
        extra = tuple(dict.fromkeys(label for label in labels if label not in self._pos))
        if missing:
            raise self._missing_error({m: None for m in missing}, dict.fromkeys(extra), 0,
                                      subject="the file", place="the header row",
                                      extra_ok=True)
        n = len(frame)
        arrays: list[np.ndarray] = []
        issues: list[_Issue] = []
        for spec in self._specs:
            array, found = self._frame_column(spec, frame.iloc[:, first[spec.name]])
            arrays.append(array)
            issues += found
        issues.sort(key=_issue_order)
        cache: dict[tuple[int, str], str] = {}
        problems = [self._problem(issue, cache) for issue in issues]
        if issues:
            bad = np.zeros(n, dtype=bool)
            bad[[issue[0] for issue in issues]] = True
            good = np.flatnonzero(~bad)
            arrays = [a[good] for a in arrays]
        else:
            good = np.arange(n, dtype=np.intp)
        rows = Rows(dict(zip(self.names, arrays)), int(good.size), {})
        return FrameCheck(rows, good.astype(np.int64, copy=False), problems, extra)

    # ------------------------------------------------------------------ request shapes

    def _count(self, n: int) -> None:
        if n == 0:
            raise RequestError(400, NO_ROWS, "the request has no rows",
                               f"send at least one record, e.g. [{self._example_record}]")
        if n > self.max_rows:
            raise RequestError(
                413, TOO_MANY_ROWS,
                f"the request has {n} rows; this server takes at most {self.max_rows} per "
                f"request",
                f"split the rows into requests of at most {self.max_rows} rows each (or use "
                f"the server's folder mode for large files)")

    def _records(self, records: Any, options: dict[str, Any], where: str) -> Rows:
        if not isinstance(records, (list, tuple)):
            raise self._bad_format(f"{where} is {_kind(records)}, not a list of records")
        n = len(records)
        self._count(n)
        k = len(self.names)
        table = None
        if all(type(r) is dict and len(r) == k for r in records):
            try:
                table = list(map(self._getter, records))
            except KeyError:
                table = None
        if table is None:
            table = self._records_slow(records, where)
        if self._all_numeric and n <= _SMALL_BATCH:
            rows = self._small_numeric(table, n, options)
            if rows is not None:
                return rows
        return self._convert(list(zip(*table)), n, options)

    def _records_slow(self, records: Sequence[Any], where: str) -> list[tuple[Any, ...]]:
        """The records of a request whose key sets differ from the schema: name every row
        lacking a column or carrying an extra one (or return the rows in schema order)."""
        odd = [i for i, r in enumerate(records) if not isinstance(r, dict)]
        if odd:
            raise self._shape_error(
                f"{where} must be a list of records (JSON objects), but "
                + _rows_text(odd, [f"is {_kind(records[i])}" for i in odd]),
                [RowProblem(i, None, _json_safe(records[i]), BAD_FORMAT,
                            f"row {i}: {_kind(records[i])}, not a record")
                 for i in odd], len(odd))
        missing: dict[str, list[int]] = {}
        extra: dict[Any, list[int]] = {}
        names, pos = self.names, self._pos
        for i, record in enumerate(records):
            if len(record) == len(names) and all(name in record for name in names):
                continue
            for name in names:
                if name not in record:
                    missing.setdefault(name, []).append(i)
            for key in record:
                if key not in pos:
                    extra.setdefault(key, []).append(i)
        if missing or extra:
            raise self._missing_error(missing, extra, len(records))
        return [tuple(record[name] for name in names) for record in records]

    def _split(self, columns: Any, data: Any, options: dict[str, Any], prefix: str) -> Rows:
        where = f'{prefix}"columns"'
        if not isinstance(columns, (list, tuple)):
            raise self._bad_format(f"{where} is {_kind(columns)}, not a list of column names")
        if not set(map(type, columns)) <= _STR_TYPES:
            odd = [c for c in columns if not isinstance(c, str)]
            if odd:
                raise self._bad_format(f"{where} must hold column names (strings), but has "
                                       f"{_show(odd[0])}")
        seen = {name: j for j, name in enumerate(columns)}
        if len(seen) != len(columns):
            twice = [name for j, name in enumerate(columns) if seen[name] != j]
            raise self._bad_format(f"{where} names {_quoted(dict.fromkeys(twice))} more than "
                                   f"once")
        rows = self._rows_of(data, len(columns), f'{prefix}"data"', where)
        if seen.keys() != self._pos.keys():
            missing = {name: None for name in self.names if name not in seen}
            extra = {name: None for name in columns if name not in self._pos}
            raise self._missing_error(missing, extra, len(rows), place=where)
        # None: the columns come in schema order (the common case, nothing to reorder).
        order = None if seen == self._pos else [seen[name] for name in self.names]
        if self._all_numeric and len(rows) <= _SMALL_BATCH:
            table = rows if order is None else list(map(_row_getter(order), rows))
            small = self._small_numeric(table, len(rows), options)
            if small is not None:
                return small
        transposed = list(zip(*rows))
        if order is not None:
            transposed = [transposed[j] for j in order]
        return self._convert(transposed, len(rows), options)

    def _positional(self, data: Any, options: dict[str, Any], where: str) -> Rows:
        rows = self._rows_of(data, len(self.names), where, None)
        if self._all_numeric and len(rows) <= _SMALL_BATCH:
            small = self._small_numeric(rows, len(rows), options)
            if small is not None:
                return small
        return self._convert(list(zip(*rows)), len(rows), options)

    def _rows_of(self, data: Any, width: int, where: str, columns: str | None
                 ) -> Sequence[Any]:
        """``data`` as a list of rows (lists) of ``width`` values each, or a 400; the values
        match the names in ``columns`` (a request field), or the schema when ``None``."""
        if not isinstance(data, (list, tuple)):
            raise self._bad_format(f"{where} is {_kind(data)}, not a list of rows")
        self._count(len(data))
        if all(type(r) is list and len(r) == width for r in data):
            return data
        odd = [i for i, r in enumerate(data)
               if not isinstance(r, (list, tuple)) or len(r) != width]
        if not odd:  # tuples from a Python caller
            return data
        why = [f"has {len(data[i])} values" if isinstance(data[i], (list, tuple))
               else f"is {_kind(data[i])}" for i in odd]
        raise self._shape_error(
            f"every row of {where} must be a list of {width} values ("
            + (f"one per name in {columns}" if columns is not None else
               f"the model's columns in order: {_quoted(self.names, 30)}") + "), but "
            + _rows_text(odd, why),
            [RowProblem(i, None, _json_safe(data[i]), BAD_FORMAT, f"row {i}: {w}")
             for i, w in zip(odd, why)], len(odd))

    def _columnar(self, mapping: dict[Any, Any], options: dict[str, Any], where: str) -> Rows:
        missing = {name: None for name in self.names if name not in mapping}
        extra = {key: None for key in mapping if key not in self._pos}
        if missing or extra:
            raise self._missing_error(missing, extra, 0, place=where)
        values = [mapping[name] for name in self.names]
        lists = [isinstance(v, (list, tuple)) for v in values]
        if not any(lists):  # one row given as column -> value
            return self._convert([(v,) for v in values], 1, options)
        if not all(lists):
            name = self.names[lists.index(False)]
            raise self._bad_format(f"{where} mixes lists and single values: column {name!r} "
                                   f"is {_kind(mapping[name])}")
        lengths = {len(v) for v in values}
        if len(lengths) > 1:
            sizes = ", ".join(f"{name!r}: {len(v)}" for name, v in zip(self.names, values))
            raise self._bad_format(f"the column lists of {where} differ in length ({sizes})")
        n = lengths.pop()
        self._count(n)
        return self._convert(values, n, options)

    # ------------------------------------------------------------------ conversion

    def _small_numeric(self, table: Sequence[Sequence[Any]], n: int, options: dict[str, Any]
                       ) -> Rows | None:
        """The fast path of a few rows of an all-numeric schema, from the rows in schema
        order; ``None`` when any value is not a fine number (the caller then runs
        :meth:`_convert`, which names the bad values)."""
        types = set(map(type, chain.from_iterable(table)))
        if not types <= _NUMBER_TYPES:
            return None
        try:
            matrix = np.array(table, dtype=np.float64)
        except (OverflowError, ValueError, TypeError):
            return None
        if matrix.shape != (n, len(self.names)):
            return None
        if float in types:
            if not np.isfinite(matrix).all():
                return None
            # Integer columns: a float there (2.0 is fine, 2.5 is not) is rare, so look
            # at their cell types before computing anything.
            integer_cells = (chain.from_iterable(map(self._integer_getter, table))
                             if self._integer_getter is not None else ())
            if float in set(map(type, integer_cells)):
                whole = matrix[:, self._integer_rows]
                if (whole != np.trunc(whole)).any():
                    return None
        # Rows of a 1-to-16-row matrix's transpose: strided views, too short to matter.
        rows = Rows(dict(zip(self.names, matrix.T)), n, options)
        rows.__dict__["matrix"] = matrix  # cached_property storage
        return rows

    def _convert(self, cols: list[Sequence[Any]], n: int, options: dict[str, Any]) -> Rows:
        """Typed arrays from one sequence of ``n`` JSON values per schema column."""
        arrays: list[Any] = [None] * len(self._specs)
        issues: list[_Issue] = []
        block = self._numeric_block(cols, n, arrays, issues) if self._numeric else None
        for spec in self._others:
            arrays[spec.pos], found = self._cells[spec.dtype](spec, cols[spec.pos])
            issues += found
        if issues:
            raise self._values_error(issues)
        rows = Rows(dict(zip(self.names, arrays)), n, options)
        if block is not None and not self._others:
            rows.__dict__["matrix"] = block.T  # cached_property storage: no second copy
        return rows

    def _numeric_block(self, cols: list[Sequence[Any]], n: int, arrays: list[Any],
                       issues: list[_Issue]) -> np.ndarray | None:
        """Convert every numeric column at once when all their cells are JSON numbers (one
        ``np.array`` call); else column by column, naming each bad cell."""
        specs = self._numeric
        group = [cols[s.pos] for s in specs]
        types = set(map(type, chain.from_iterable(group)))
        block = None
        if types <= _NUMBER_TYPES:
            try:
                block = np.array(group, dtype=np.float64)
            except (OverflowError, ValueError, TypeError):  # an int beyond float range
                block = None
        if block is None or block.shape != (len(specs), n):
            for s in specs:
                arrays[s.pos], found = self._numeric_cells(s, cols[s.pos])
                issues += found
            return None
        fractions = float in types and self._integer_rows.size > 0
        if float in types and not np.isfinite(block).all():
            for i, s in enumerate(specs):
                issues += _numeric_checks(s, block[i], group[i], (), fractions)
        elif fractions:
            whole = block[self._integer_rows]
            if (whole != np.trunc(whole)).any():
                for i in self._integer_rows.tolist():
                    issues += _numeric_checks(specs[i], block[i], group[i], (), True)
        for s, column in zip(specs, block):
            arrays[s.pos] = column
        return block

    def _numeric_cells(self, spec: _Column, values: Sequence[Any]
                       ) -> tuple[np.ndarray, list[_Issue]]:
        out = np.empty(len(values))
        issues: list[_Issue] = []
        bad: list[int] = []
        pos = spec.pos
        for i, v in enumerate(values):
            t = type(v)
            if not (t is float or t is int or _is_number(v)):
                out[i] = np.nan
                if not _is_missing(v):
                    issues.append((i, pos, WRONG_TYPE, v, ""))
                    bad.append(i)
                continue
            try:
                out[i] = v
            except OverflowError:
                out[i] = np.nan
                issues.append((i, pos, NOT_FINITE, v, "overflow"))
                bad.append(i)
        issues += _numeric_checks(spec, out, values, bad, True)
        return out, issues

    def _boolean_cells(self, spec: _Column, values: Sequence[Any]
                       ) -> tuple[np.ndarray, list[_Issue]]:
        if set(map(type, values)) == _BOOL_TYPES:
            return _object_array(values), []
        out: list[Any] = [None] * len(values)
        issues: list[_Issue] = []
        for i, v in enumerate(values):
            if v is True or v is False:
                out[i] = v
            elif isinstance(v, np.bool_):
                out[i] = bool(v)
            elif _is_missing(v):
                if not spec.nullable:
                    issues.append((i, spec.pos, MISSING_VALUE, v, ""))
            else:
                issues.append((i, spec.pos, WRONG_TYPE, v, ""))
        return _object_array(out), issues

    def _string_cells(self, spec: _Column, values: Sequence[Any]
                      ) -> tuple[np.ndarray, list[_Issue]]:
        if set(map(type, values)) == _STR_TYPES and (
                spec.catset is None or spec.catset.issuperset(values)):
            return _object_array(values), []
        out: list[Any] = [None] * len(values)
        issues: list[_Issue] = []
        for i, v in enumerate(values):
            if isinstance(v, str):
                out[i] = text = str(v)
                if spec.catset is not None and text not in spec.catset:
                    issues.append((i, spec.pos, UNKNOWN_CATEGORY, v, ""))
            elif _is_missing(v):
                if not spec.nullable:
                    issues.append((i, spec.pos, MISSING_VALUE, v, ""))
            else:
                issues.append((i, spec.pos, WRONG_TYPE, v, ""))
        return _object_array(out), issues

    def _datetime_cells(self, spec: _Column, values: Sequence[Any]
                        ) -> tuple[np.ndarray, list[_Issue]]:
        out = np.full(len(values), _NAT)
        issues: list[_Issue] = []
        texts: list[str] = []
        where: list[int] = []
        for i, v in enumerate(values):
            if isinstance(v, str):
                texts.append(v.strip())
                where.append(i)
            elif _is_missing(v):
                if not spec.nullable:
                    issues.append((i, spec.pos, MISSING_VALUE, v, ""))
            elif isinstance(v, (datetime, date)):  # Python callers; pd.Timestamp included
                texts.append(v.isoformat())
                where.append(i)
            elif isinstance(v, np.datetime64):
                texts.append(str(v))
                where.append(i)
            else:
                issues.append((i, spec.pos, WRONG_TYPE, v, ""))
        if texts:
            parsed, ok = _parse_datetimes(texts)
            out[where] = parsed
            for j in np.flatnonzero(~ok).tolist():
                issues.append((where[j], spec.pos, BAD_DATETIME, values[where[j]], ""))
        return out, issues

    # ------------------------------------------------------------------ data files

    def _frame_column(self, spec: _Column, series: pd.Series
                      ) -> tuple[np.ndarray, list[_Issue]]:
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            series = series.astype(object)
            dtype = series.dtype
        kind = getattr(dtype, "kind", "O")
        if spec.dtype in _NUMERIC_DTYPES and kind in "iuf":
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            return values, _numeric_checks(spec, values, values, (), True)
        if spec.dtype == "boolean" and kind in "iuf":
            numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
            out = _object_array([True if x == 1 else False if x == 0 else None
                                 for x in numbers.tolist()])
            issues: list[_Issue] = []
            for i in np.flatnonzero((numbers != 0) & (numbers != 1)).tolist():
                if not math.isnan(numbers[i]):
                    issues.append((i, spec.pos, WRONG_TYPE, numbers[i], ""))
                elif not spec.nullable:
                    issues.append((i, spec.pos, MISSING_VALUE, None, ""))
            return out, issues
        if spec.dtype == "datetime" and kind == "M":
            if getattr(dtype, "tz", None) is not None:
                series = series.dt.tz_convert(None)
            return self._datetimes(spec, series.to_numpy(), None)
        values = series.to_numpy(dtype=object, na_value=None)
        return self._object_column(spec, values)

    def _object_column(self, spec: _Column, values: np.ndarray
                       ) -> tuple[np.ndarray, list[_Issue]]:
        """Cells of a text column (CSV) or of a column of Python objects."""
        types = set(map(type, values))
        if types <= _TEXT_TYPES:
            return self._text_column(spec, values)
        is_text = np.fromiter((type(v) is str for v in values), dtype=bool, count=len(values))
        if not is_text.any():
            return self._cells[spec.dtype](spec, values)
        # A mix (a Python caller's frame): text cells as text, the others as JSON values.
        text_at, other_at = np.flatnonzero(is_text), np.flatnonzero(~is_text)
        text_out, text_issues = self._text_column(spec, values[text_at])
        other_out, other_issues = self._cells[spec.dtype](spec, values[other_at])
        out = np.empty(len(values), dtype=text_out.dtype)
        out[text_at] = text_out
        out[other_at] = other_out
        issues = [(int(text_at[i]), *rest) for i, *rest in text_issues]
        issues += [(int(other_at[i]), *rest) for i, *rest in other_issues]
        return out, issues

    def _text_column(self, spec: _Column, values: np.ndarray
                     ) -> tuple[np.ndarray, list[_Issue]]:
        """Cells that are all ``str`` or ``None``, read as text."""
        pos = spec.pos
        issues: list[_Issue] = []
        if spec.dtype in _NUMERIC_DTYPES:
            numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
            out = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = []
            for i in np.flatnonzero(np.isnan(out)).tolist():
                if not _is_na_text(values[i]):
                    issues.append((i, pos, WRONG_TYPE, values[i], ""))
                    bad.append(i)
            issues += _numeric_checks(spec, out, values, bad, True)
            return out, issues
        if spec.dtype == "boolean":
            flags: list[Any] = [None] * len(values)
            for i, v in enumerate(values):
                flag = _BOOL_TEXT.get(v.strip().lower()) if v is not None else None
                if flag is not None:
                    flags[i] = flag
                elif not _is_na_text(v):
                    issues.append((i, pos, WRONG_TYPE, v, ""))
                elif not spec.nullable:
                    issues.append((i, pos, MISSING_VALUE, v, ""))
            return _object_array(flags), issues
        if spec.dtype == "string":
            distinct = set(values)
            if None not in distinct and "" not in distinct and (
                    spec.catset is None or spec.catset.issuperset(distinct)):
                return values, []
            texts: list[Any] = [None] * len(values)
            for i, v in enumerate(values):
                if v is None or v == "":
                    if not spec.nullable:
                        issues.append((i, pos, MISSING_VALUE, v, ""))
                    continue
                texts[i] = v
                if spec.catset is not None and v not in spec.catset:
                    issues.append((i, pos, UNKNOWN_CATEGORY, v, ""))
            return _object_array(texts), issues
        return self._datetimes(spec, None, values)

    def _datetimes(self, spec: _Column, typed: np.ndarray | None, texts: np.ndarray | None
                   ) -> tuple[np.ndarray, list[_Issue]]:
        """A datetime column from ``datetime64`` values (``typed``) or text cells."""
        issues: list[_Issue] = []
        if typed is not None:
            missing = np.isnat(typed)
            out, ok = _to_ns(typed)
            issues += [(i, spec.pos, BAD_DATETIME, typed[i], "")
                       for i in np.flatnonzero(~ok & ~missing).tolist()]
            shown: Sequence[Any] = [None] * len(typed)  # NaT reads as null
        else:
            assert texts is not None
            missing = np.fromiter((_is_na_text(v) for v in texts), dtype=bool,
                                  count=len(texts))
            given = np.flatnonzero(~missing).tolist()
            out = np.full(len(texts), _NAT)
            if given:
                parsed, ok = _parse_datetimes([texts[i].strip() for i in given])
                out[given] = parsed
                issues += [(given[j], spec.pos, BAD_DATETIME, texts[given[j]], "")
                           for j in np.flatnonzero(~ok).tolist()]
            shown = texts
        if not spec.nullable:
            issues += [(i, spec.pos, MISSING_VALUE, shown[i], "")
                       for i in np.flatnonzero(missing).tolist()]
        return out, issues

    # ------------------------------------------------------------------ errors

    def _bad_format(self, message: str, mlflow: bool = False) -> RequestError:
        if mlflow:
            fix = (f'send one of: {{"dataframe_split": {{"columns": {self._example_columns}, '
                   f'"data": [{self._example_row}]}}}}; {{"dataframe_records": '
                   f'[{self._example_record}]}}; {{"instances": [{self._example_record}]}} '
                   f'(or rows in schema order); {{"inputs": ...}} (records, an object of '
                   f'column -> list, or rows in schema order); an optional "params" object '
                   f'is ignored')
        else:
            fix = (f'send one of: a list of records [{self._example_record}]; '
                   f'{{"records": [{self._example_record}]}}; {{"columns": '
                   f'{self._example_columns}, "data": [{self._example_row}]}}; the object '
                   f'forms may add "probabilities": true')
        return RequestError(400, BAD_FORMAT, message, fix)

    def _shape_error(self, message: str, problems: list[RowProblem], count: int
                     ) -> RequestError:
        error = self._bad_format(message)
        error.details = [p.to_dict() for p in problems[:self.max_details]]
        error.more = max(0, count - self.max_details)
        return error

    def _missing_error(self, missing: dict[str, list[int] | None],
                       extra: dict[Any, list[int] | None], n: int, *,
                       subject: str = "the request", place: str = "every record",
                       extra_ok: bool = False) -> RequestError:
        """``missing_column`` (or ``extra_column`` when nothing is missing). The values of
        ``missing`` / ``extra`` are the rows concerned, or ``None`` for all rows; with
        ``extra_ok`` (data files) extra columns only serve to suggest renames."""
        model = f"the model takes exactly these {len(self.names)} columns: " + _quoted(
            self.names, 30)
        parts: list[str] = []
        details: list[RowProblem] = []
        for table, rule, verb in ((missing, MISSING_COLUMN, "has no column"),
                                  ({} if extra_ok else extra, EXTRA_COLUMN,
                                   "has a column the model does not take:")):
            if not table:
                continue
            whole = [name for name, rows in table.items() if rows is None or len(rows) == n]
            partial = {name: rows for name, rows in table.items()
                       if rows is not None and len(rows) < n}
            if whole:
                what = ("has no column" + ("s" if len(whole) > 1 else "")
                        if rule == MISSING_COLUMN else
                        ("has columns the model does not take:" if len(whole) > 1
                         else "has a column the model does not take:"))
                parts.append(f"{subject} {what} {_quoted(whole, 30)}")
                details += [RowProblem(None, _name(name), None, rule,
                                       f"column {_name(name)!r}: "
                                       + (f"missing from {subject}" if rule == MISSING_COLUMN
                                          else "not an input of this model"))
                            for name in whole]
            if partial:
                by_row: dict[int, list[Any]] = {}
                for name, rows in partial.items():
                    for row in rows or ():
                        by_row.setdefault(row, []).append(name)
                shown = "; ".join(f"row {row} {verb} {_quoted(names, 10)}"
                                  for row, names in sorted(by_row.items())[:3])
                more = f" (and {len(by_row) - 3} more rows)" if len(by_row) > 3 else ""
                parts.append(f"{len(by_row)} of {n} rows differ in their columns: {shown}"
                             f"{more}")
                details += sorted(
                    (RowProblem(row, _name(name), None, rule,
                                f"row {row}, column {_name(name)!r}: "
                                + ("missing from the record" if rule == MISSING_COLUMN
                                   else "not an input of this model"))
                     for name, rows in partial.items() for row in rows or ()),
                    key=lambda p: (p.row, self._pos.get(p.column, len(self.names))))
        renames = self._renames(list(missing), list(extra))
        hint = ("rename " + ", ".join(f"{a!r} to {b!r}" for a, b in renames) + "; "
                if renames else "")
        if missing:
            fix = f"{hint}include every input column in {place} ({model})"
            if extra and not extra_ok:
                fix += "; drop the others"
            elif extra_ok:
                fix += "; other columns are passed through"
            code = MISSING_COLUMN
        else:
            fix = f"drop {_quoted([_name(k) for k in extra], 30)}: {model}"
            code = EXTRA_COLUMN
        count = len(details)
        return RequestError(422, code, "; ".join(parts), fix,
                            [p.to_dict() for p in details[:self.max_details]],
                            more=max(0, count - self.max_details))

    def _renames(self, missing: list[str], extra: list[Any]) -> list[tuple[str, str]]:
        """(given, wanted) pairs where an extra column looks like a missing one."""
        offered = {k.lower(): k for k in extra if isinstance(k, str)}
        pairs = []
        for name in missing:
            hit = offered.get(name.lower())
            if hit is None:
                close = difflib.get_close_matches(name, list(offered.values()), n=1,
                                                  cutoff=0.8)
                hit = close[0] if close else None
            if hit is not None:
                pairs.append((hit, name))
        return pairs

    def _values_error(self, issues: list[_Issue]) -> RequestError:
        issues.sort(key=_issue_order)
        cache: dict[tuple[int, str], str] = {}
        problems = [self._problem(issue, cache)
                    for issue in issues[:max(self.max_details, 3)]]
        count = len(issues)
        if count == 1:
            message = problems[0].message
        else:
            rows = len({issue[0] for issue in issues})
            message = (f"{count} values in {rows} row{'s' if rows > 1 else ''} do not fit "
                       f"the model's input schema (rows counted from 0): "
                       + "; ".join(p.message for p in problems[:3])
                       + (f"; and {count - 3} more" if count > 3 else ""))
        fixes: dict[tuple[str, int], str] = {}
        for issue in issues:
            key = (issue[2], issue[1])
            if key not in fixes:
                fixes[key] = self._fix(issue[2], self._specs[issue[1]])
                if len(fixes) == 3:
                    break
        fix = "; ".join(dict.fromkeys(fixes.values()))
        return RequestError(422, issues[0][2], message, fix,
                            [p.to_dict() for p in problems[:self.max_details]],
                            more=max(0, count - self.max_details))

    def _problem(self, issue: _Issue, cache: dict[tuple[int, str], str]) -> RowProblem:
        row, pos, rule, value, why = issue
        spec = self._specs[pos]
        return RowProblem(row, spec.name, _json_safe(value), rule,
                          f"row {row}, column {spec.name!r}: "
                          f"{_explain(rule, spec, value, why, cache)}")

    def _fix(self, rule: str, spec: _Column) -> str:
        name = repr(spec.name)
        if rule == MISSING_VALUE:
            return (f"give column {name} a value in every row: the model was trained without "
                    f"missing values there")
        if rule == NOT_FINITE:
            return (f"give column {name} finite numbers (no Infinity, nothing beyond "
                    f"±1.8e308)")
        if rule == UNKNOWN_CATEGORY:
            return (f"give column {name} one of the categories the model was trained on: "
                    f"{_categories_text(spec)}")
        if rule == BAD_DATETIME or spec.dtype == "datetime":
            return (f"give column {name} ISO 8601 date-times such as '{EXAMPLE_TIME}' or "
                    f"'2024-05-01' (without an offset they are taken as UTC), between "
                    f"{DATETIME_RANGE[0]} and {DATETIME_RANGE[1]}")
        null = ", or null" if spec.nullable else ""
        if spec.dtype == "integer":
            return f"give column {name} whole numbers such as 42{null}"
        if spec.dtype == "float":
            return f"give column {name} numbers such as 3.5{null}"
        if spec.dtype == "boolean":
            return f"give column {name} true or false{null}"
        cats = f" (one of {_categories_text(spec)})" if spec.categories is not None else ""
        return f"give column {name} text (JSON strings){cats}{null}"


# --------------------------------------------------------------------------- helpers


def _row_getter(keys: Iterable[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """``row -> tuple of row[key] for key in keys`` (a tuple even for one key)."""
    keys = list(keys)
    if len(keys) == 1:
        key = keys[0]
        return lambda row: (row[key],)
    return itemgetter(*keys)


def _numeric_checks(spec: _Column, values: np.ndarray, raw: Sequence[Any],
                    skip: Sequence[int], fractions: bool) -> list[_Issue]:
    """Missing values in a column that is not nullable, ±inf, and fractions in an integer
    column; ``skip`` lists rows already reported (they hold NaN)."""
    issues: list[_Issue] = []
    finite = np.isfinite(values)
    if not finite.all():
        nan = np.isnan(values)
        if not spec.nullable:
            skipped = set(skip)
            issues += [(i, spec.pos, MISSING_VALUE, raw[i], "")
                       for i in np.flatnonzero(nan).tolist() if i not in skipped]
        issues += [(i, spec.pos, NOT_FINITE, raw[i], "")
                   for i in np.flatnonzero(~finite & ~nan).tolist()]
    if fractions and spec.dtype == "integer":
        fraction = finite & (values != np.trunc(values))
        issues += [(i, spec.pos, WRONG_TYPE, raw[i], "fraction")
                   for i in np.flatnonzero(fraction).tolist()]
    return issues


def _parse_datetimes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """ISO 8601 ``texts`` as naive UTC ``datetime64[ns]`` and a mask of those that parsed
    and fit in nanoseconds (the others are NaT)."""
    try:
        parsed = pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce")
    except (ValueError, TypeError, OverflowError):
        # errors="coerce" should make this unreachable; one odd text must not fail the rest.
        if len(texts) == 1:
            return np.full(1, _NAT), np.zeros(1, dtype=bool)
        parts = [_parse_datetimes([t]) for t in texts]
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return _to_ns(parsed.tz_convert(None).to_numpy())


def _to_ns(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``datetime64`` of any unit as ``datetime64[ns]``; values outside the nanosecond range
    become NaT (mask False), as do NaT values."""
    values = np.asarray(values)
    low = np.datetime64(DATETIME_RANGE[0]).astype(values.dtype)
    high = np.datetime64(DATETIME_RANGE[1]).astype(values.dtype)
    ok = ~np.isnat(values)
    ok[ok] = (values[ok] >= low) & (values[ok] < high)
    out = np.full(values.shape, _NAT)
    out[ok] = values[ok].astype("datetime64[ns]")
    return out, ok


def _object_array(values: Sequence[Any]) -> np.ndarray:
    """A 1-D object array of scalar ``values``."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _is_number(v: Any) -> bool:
    """An int or float (Python or numpy) that is not a boolean."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _is_missing(v: Any) -> bool:
    """None, NaN, pandas' NA and NaT."""
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (float, np.floating)):
        return bool(v != v)
    if isinstance(v, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(v))
    return False


def _is_na_text(v: Any) -> bool:
    return v is None or v.strip().lower() in _NA_TEXT


def _issue_order(issue: _Issue) -> tuple[int, int]:
    return issue[0], issue[1]


def _explain(rule: str, spec: _Column, value: Any, why: str,
             cache: dict[tuple[int, str], str]) -> str:
    shown = _show(value)
    if rule == MISSING_VALUE:
        return f"missing value ({shown}), but the column does not allow missing values"
    if rule == NOT_FINITE:
        if why == "overflow":
            return f"{shown} is too large for a 64-bit float"
        return f"{shown} is not a finite number"
    if rule == UNKNOWN_CATEGORY:
        text = str(value)
        key = (spec.pos, text[:200])
        if key not in cache:
            cache[key] = _suggest(text, spec.categories or ())
        return f"{shown} is not a known category{cache[key]} (known: {_categories_text(spec)})"
    if rule == BAD_DATETIME:
        return (f"{shown} is not an ISO 8601 date-time between {DATETIME_RANGE[0]} and "
                f"{DATETIME_RANGE[1]} (e.g. '{EXAMPLE_TIME}')")
    if spec.dtype == "integer":
        if why == "fraction":
            return f"{shown} is not a whole number (the column takes integers)"
        return f"{shown} is not a number (the column takes integers)"
    if spec.dtype == "float":
        return f"{shown} is not a number"
    if spec.dtype == "boolean":
        return f"{shown} is not true or false"
    if spec.dtype == "string":
        return f"{shown} is not text (the column takes strings)"
    return f"{shown} is not an ISO 8601 date-time string"


def _suggest(text: str, categories: Sequence[str]) -> str:
    folded = text.strip().casefold()
    for c in categories:
        if c.casefold() == folded:
            return f", did you mean {c!r}?"
    close = difflib.get_close_matches(text[:100], categories, n=1, cutoff=0.75)
    return f", did you mean {close[0]!r}?" if close else ""


def _categories_text(spec: _Column) -> str:
    cats = spec.categories or ()
    shown = ", ".join(repr(c) for c in cats[:MAX_QUOTED_CATEGORIES])
    if len(cats) > MAX_QUOTED_CATEGORIES:
        shown += f", ... ({len(cats)} in all, listed in the model's input schema)"
    return shown


def example_value(spec: Any) -> Any:
    """A valid example value of a column (anything with ``dtype`` and ``categories``: a
    :class:`~modeldeck.core.schema.ColumnSchema` too), for error hints and the OpenAPI
    document."""
    if spec.dtype == "integer":
        return 0
    if spec.dtype == "float":
        return 0.5
    if spec.dtype == "boolean":
        return True
    if spec.dtype == "datetime":
        return EXAMPLE_TIME
    return spec.categories[0] if spec.categories else "text"


def _kind(v: Any) -> str:
    """What a JSON value is, in words."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"a boolean ({_show(v)})"
    if isinstance(v, (int, float)):
        return f"a number ({_show(v)})"
    if isinstance(v, str):
        return f"a string ({_show(v)})"
    if isinstance(v, (list, tuple)):
        return f"a list of {len(v)} item{'s' if len(v) != 1 else ''}"
    if isinstance(v, dict):
        return f"an object with {len(v)} key{'s' if len(v) != 1 else ''}"
    return f"a {type(v).__name__}"


def _show(v: Any) -> str:
    """A value as the user wrote it (JSON spelling), short."""
    if isinstance(v, np.datetime64):
        return "NaT" if np.isnat(v) else repr(str(v))
    if isinstance(v, np.generic):
        v = v.item()
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, str):
        return repr(v if len(v) <= 60 else v[:60] + "…")
    if isinstance(v, int):
        if v.bit_length() > 200:
            return f"an integer of about {int(v.bit_length() * math.log10(2)) + 1} digits"
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return repr(v)
    if isinstance(v, (list, tuple, dict)):
        return _kind(v)
    if isinstance(v, (datetime, date)):
        return repr(v.isoformat())
    return f"a {type(v).__name__} ({_short_repr(v)})"


def _json_safe(v: Any) -> Any:
    """``v`` as a JSON value for ``RowProblem.value``."""
    if isinstance(v, np.datetime64):
        return None if np.isnat(v) else str(v)
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v if v.bit_length() <= 200 else _show(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else _show(v)
    if isinstance(v, str):
        return v if len(v) <= 80 else v[:79] + "…"
    if v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return _short_repr(v)


def _short_repr(v: Any) -> str:
    try:
        text = _short.repr(v)
    except Exception:  # noqa: BLE001 - an object's own __repr__ may raise anything
        text = f"<{type(v).__name__}>"
    return text if len(text) <= 80 else text[:79] + "…"


def _name(key: Any) -> str:
    return key if isinstance(key, str) else _short_repr(key)


def _quoted(names: Iterable[Any], limit: int | None = None) -> str:
    items = [_name(n) for n in names]
    shown = ", ".join(repr(n) for n in items[:limit])
    if limit is not None and len(items) > limit:
        shown += f", ... ({len(items)} in all)"
    return shown


def _keys_text(unknown: list[Any], allowed: Sequence[str]) -> str:
    """``"the key 'recods' (did you mean 'records'?), which it does not take"``."""
    parts = []
    for key in unknown[:5]:
        close = (difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                 if isinstance(key, str) else [])
        parts.append(repr(_name(key)) + (f" (did you mean {close[0]!r}?)" if close else ""))
    more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
    return (f"the key{'s' if len(unknown) > 1 else ''} {', '.join(parts)}{more}, which it does "
            f"not take (it takes {', '.join(repr(a) for a in allowed)})")


def _rows_text(rows: list[int], why: list[str]) -> str:
    shown = "; ".join(f"row {r} {w}" for r, w in zip(rows[:3], why[:3]))
    return shown + (f" (and {len(rows) - 3} more rows)" if len(rows) > 3 else "")
