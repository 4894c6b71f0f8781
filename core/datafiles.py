"""Reading tabular data files (CSV, Parquet) with errors that say what is wrong and where."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from modeldeck.core.errors import DataError

CSV_SUFFIXES = (".csv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise DataError(f"{path.name}: unsupported data format '{suffix or 'no extension'}'",
                    "use a .csv (UTF-8, comma-separated, header row) or a .parquet file")


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise DataError(f"data file {path} does not exist", "check the path")
    if not path.is_file():
        raise DataError(f"{path} is not a file", "pass a .csv or .parquet file")


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path.name} is not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start} (line {line}) cannot be decoded",
            "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
        ) from None


def _check_rectangular(path: Path, text: str) -> list[str]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path.name} is empty", "export the data with a header row") from None
    except csv.Error as exc:
        raise DataError(f"{path.name} line 1: {exc}", "fix the header row") from None
    if not any(h.strip() for h in header):
        raise DataError(f"{path.name} has an empty header row", "put the column names first")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"{path.name}: column '{name}' appears twice in the header",
                            "give every column a unique name")
        seen.add(name)
    rows = 0
    try:
        for fields in reader:
            if not fields:  # blank line
                continue
            rows += 1
            if len(fields) != len(header):
                raise DataError(
                    f"{path.name} line {reader.line_num} has {len(fields)} fields, "
                    f"the header has {len(header)} (a ragged row)",
                    "fix that line, or quote fields containing commas",
                )
    except csv.Error as exc:
        raise DataError(f"{path.name} line {reader.line_num}: {exc}",
                        "fix the quoting on that line") from None
    if rows == 0:
        raise DataError(f"{path.name} has a header but no data rows",
                        "export the data rows too")
    return header


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame.

    CSV must be UTF-8 with a header row and the same number of fields on every line.

    Raises
    ------
    DataError
        Missing file, unsupported format, not UTF-8, ragged rows, duplicate or empty
        header, no data rows, or an unreadable Parquet file; the message names the line.
    """
    path = Path(path)
    _check_exists(path)
    if _kind(path) == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types for damaged files
            raise DataError(f"{path.name} is not a readable Parquet file ({exc})",
                            "re-export it, or convert it to CSV") from None
        if frame.empty:
            raise DataError(f"{path.name} has no data rows", "export the data rows too")
        frame.columns = [str(c) for c in frame.columns]
        return frame
    text = _decode(path, path.read_bytes())
    _check_rectangular(path, text)
    try:
        return pd.read_csv(io.StringIO(text), skip_blank_lines=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path.name} cannot be parsed as CSV ({exc})",
                        "check the separator is a comma") from None


def read_columns(path: str | Path) -> list[str]:
    """Return the column names of a CSV or Parquet file without reading all of it."""
    path = Path(path)
    _check_exists(path)
    if _kind(path) == "parquet":
        try:
            import pyarrow.parquet as pq

            return [str(n) for n in pq.read_schema(path).names]
        except Exception as exc:
            raise DataError(f"{path.name} is not a readable Parquet file ({exc})",
                            "re-export it, or convert it to CSV") from None
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    first = head.split(b"\n", 1)[0]
    text = _decode(path, first)
    header = next(csv.reader([text.rstrip("\r")]), [])
    if not header:
        raise DataError(f"{path.name} is empty", "export the data with a header row")
    return header
