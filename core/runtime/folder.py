"""Folder mode: CSV and Parquet files dropped into ``inbox/`` come back scored in ``outbox/``.

The way most legacy systems integrate: they can write a file to a share and read one back,
nothing more. Under the watcher's root::

    inbox/    files to score: ``*.csv`` and ``*.parquet`` (any case)
    outbox/   ``<stem>.predictions.csv`` per input file
    done/     inputs whose every row was scored
    failed/   inputs with bad rows, or that could not be read or scored, each next to a
              ``<name>.error.txt`` a person can act on

Guarantees
----------
- **Files still being written are left alone.** A file is taken only once its mtime is older
  than ``settle_seconds``; names starting with ``.`` or ending in ``.tmp``/``.part`` are
  never taken (write to such a name, then rename, and the file is taken at the next poll). A
  file whose size or mtime changes while it is read is put back for the next poll.
- **Outputs are atomic.** Every file the watcher writes is written to a dot-name in the
  same folder, fsynced, then ``os.replace``\\ d into place: a reader of ``outbox/`` never sees
  half a file.
- **No input is lost or half-processed.** An input leaves ``inbox/`` only by a rename into
  ``done/`` or ``failed/``, and only after its output and error file are in place. A crash
  in between leaves the input in ``inbox/``, so it is scored again at the next start (at
  least once: the second output gets a ``-<UTC timestamp>`` suffix, nothing is overwritten).
  Names that clash in ``outbox/``, ``done/`` or ``failed/`` get the same suffix.
- **The watcher thread never dies on one file.** Any error is caught, logged and counted; a
  file that fails unexpectedly three times in a row is moved to ``failed/`` with the reason.
  While the model is not ready (``score`` raises an error with ``status == 503``) files wait
  in ``inbox/``.

CSV is read as text with the stdlib :mod:`csv` module (UTF-8, a BOM is skipped), every
cell a ``str`` and ``""`` for missing, the same cells ``pd.read_csv(dtype=str,
keep_default_na=False)`` gives, so ``check`` sees the same frame. Reading it ourselves gives
exact line numbers (quoted fields spanning lines, blank lines) and lets a line with the wrong
number of fields be one bad row instead of an unreadable file. Parquet is read with
``pd.read_parquet`` (pyarrow); its "line" is the 1-based row number.
"""

from __future__ import annotations

import csv
import errno
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modeldeck.core.errors import InvalidInputError
from modeldeck.core.runtime.files import fsync_dir, write_atomic

if TYPE_CHECKING:
    from modeldeck.core.runtime.validation import FrameCheck, Rows

log = logging.getLogger("modeldeck.runtime.folder")

POLICIES = ("score_valid", "reject_file")
INBOX, OUTBOX, DONE, FAILED = "inbox", "outbox", "done", "failed"
#: Bad rows listed one by one in an error file; the rest are counted.
MAX_LISTED = 1000
#: A file failing with an unexpected error this many times in a row goes to ``failed/``.
MAX_UNEXPECTED = 3
_EXTENSIONS = (".csv", ".parquet")
_IGNORED_SUFFIXES = (".tmp", ".part")
_ROW_PREFIX = re.compile(r"^row \d+(?:, column '[^']*')?:?\s*")


@dataclass(frozen=True)
class FileResult:
    """What became of one input file.

    Attributes
    ----------
    name
        The file's name in ``inbox/``.
    status
        ``"done"`` (every row scored), ``"partial"`` (the good rows scored, the bad ones
        listed in the error file) or ``"failed"`` (nothing scored).
    rows
        Data rows in the file (0 when it could not be read).
    scored
        Rows scored (in ``output``).
    bad_rows
        Rows rejected.
    output
        The predictions file in ``outbox/``, or ``None`` when nothing was written.
    moved_to
        Where the input file is now (in ``done/`` or ``failed/``).
    error_file
        The error report in ``failed/``, or ``None`` for ``done``.
    message
        One line saying what happened.
    """

    name: str
    status: str
    rows: int
    scored: int
    bad_rows: int
    output: Path | None
    moved_to: Path
    error_file: Path | None
    message: str


@dataclass(frozen=True)
class _Problem:
    """One problem of one bad row, located by file line (or Parquet row) number."""

    line: int
    column: str | None
    value: Any
    rule: str
    message: str


@dataclass
class _Table:
    """An input file as read: the well-formed rows, their line numbers, the malformed ones."""

    frame: pd.DataFrame
    lines: np.ndarray                 # int64, the line (row) number of each frame row
    malformed: list[_Problem]         # lines with the wrong number of fields
    header: list[str]

    @property
    def rows(self) -> int:
        return len(self.frame) + len(self.malformed)


class _Unreadable(Exception):
    """The whole file cannot be used; ``message`` says why, ``fix`` what to do."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


class FolderWatcher:
    """Scores the files dropped into ``root/inbox`` (see the module docstring).

    Parameters
    ----------
    root
        The folder holding ``inbox``, ``outbox``, ``done`` and ``failed`` (created by
        :meth:`start` and :meth:`scan_once`).
    check
        Validates a frame read from a file (``Validator.check_frame``); may raise an error
        with ``message`` and ``fix`` (e.g. a missing column) to reject the whole file.
    score
        ``score(rows, source)`` predicts the checked rows (``source`` is
        ``"folder:<name>"``) and returns ``prediction_id``, ``prediction`` and ``proba_*``
        columns, one row per input row, in order.
    policy
        ``"score_valid"``: score the good rows of a file with bad ones; ``"reject_file"``:
        any bad row means nothing of the file is scored.
    poll_interval
        Seconds between scans of ``inbox/``.
    settle_seconds
        A file is taken once its mtime is at least this old.
    max_file_bytes
        Larger files are moved to ``failed/`` unread.
    on_result
        Called with every :class:`FileResult` (from the watcher thread); its errors are
        logged and ignored.
    """

    def __init__(self, root: str | Path, *,
                 check: Callable[[pd.DataFrame], FrameCheck],
                 score: Callable[[Rows, str], pd.DataFrame],
                 policy: str = "score_valid", poll_interval: float = 1.0,
                 settle_seconds: float = 1.0, max_file_bytes: int = 1 << 30,
                 on_result: Callable[[FileResult], None] | None = None) -> None:
        if policy not in POLICIES:
            raise InvalidInputError(f"unknown folder policy {policy!r}",
                                    f"use one of: {', '.join(POLICIES)}")
        if poll_interval <= 0:
            raise InvalidInputError(f"poll_interval must be > 0, not {poll_interval}")
        self.root = Path(root)
        self.inbox = self.root / INBOX
        self.outbox = self.root / OUTBOX
        self.done = self.root / DONE
        self.failed = self.root / FAILED
        self.check = check
        self.score = score
        self.policy = policy
        self.poll_interval = float(poll_interval)
        self.settle_seconds = float(settle_seconds)
        self.max_file_bytes = int(max_file_bytes)
        self.on_result = on_result
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._scan_lock = threading.Lock()
        self._counts = {"done": 0, "partial": 0, "failed": 0, "errors": 0}
        self._unexpected: dict[str, tuple[tuple[int, int], int]] = {}
        self._stuck: dict[str, tuple[int, int]] = {}
        self.last_error: str | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Create the folders and start the watcher thread (a no-op when it runs)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._ensure_dirs()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="modeldeck-folder-watcher",
                                        daemon=True)
        self._thread.start()
        log.info("folder mode: watching %s", self.inbox)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the watcher thread after the file it is working on, waiting up to
        ``timeout`` seconds (a file is never abandoned half-way)."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            return
        thread.join(timeout)
        if thread.is_alive():
            log.warning("folder mode: the watcher is still busy with a file after %.1f s; "
                        "it stops when that file is finished", timeout)
        else:
            self._thread = None

    @property
    def running(self) -> bool:
        """Whether the watcher thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def counts(self) -> dict[str, int]:
        """Files ``done``, ``partial`` and ``failed`` so far, and unexpected ``errors``."""
        return dict(self._counts)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan_once()
            except Exception as exc:  # noqa: BLE001 - the thread must survive anything
                self._counts["errors"] += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("folder mode: scanning %s failed", self.inbox)
            if self._stop.wait(self.poll_interval):
                break

    # -- scanning ------------------------------------------------------------------------

    def scan_once(self, settle: bool = True) -> list[FileResult]:
        """Process every file ready in ``inbox/`` now, oldest first.

        Parameters
        ----------
        settle
            Take only files whose mtime is at least ``settle_seconds`` old (``False``:
            take every candidate, e.g. from a test or an admin command).

        Returns
        -------
        list of FileResult
            One per file moved out of ``inbox/``; files left for later have none.
        """
        with self._scan_lock:
            self._ensure_dirs()
            results = []
            in_thread = threading.current_thread() is self._thread
            for name, signature in self._candidates(settle):
                if in_thread and self._stop.is_set():
                    break
                path = self.inbox / name
                try:
                    result = self._process(path, signature)
                except Exception as exc:  # noqa: BLE001 - one file never stops the rest
                    result = self._unexpected_error(path, signature, exc)
                else:
                    self._unexpected.pop(name, None)
                if result is None:
                    continue
                self._counts[result.status] += 1
                results.append(result)
                if self.on_result is not None:
                    try:
                        self.on_result(result)
                    except Exception:  # noqa: BLE001 - a callback's bug is not ours to die of
                        log.exception("folder mode: on_result failed for %s", name)
            return results

    def _ensure_dirs(self) -> None:
        for folder in (self.inbox, self.outbox, self.done, self.failed):
            folder.mkdir(parents=True, exist_ok=True)

    def _candidates(self, settle: bool) -> list[tuple[str, tuple[int, int]]]:
        """``(name, (size, mtime_ns))`` of the files to take now, oldest first."""
        now = time.time()
        found = []
        with os.scandir(self.inbox) as entries:
            for entry in entries:
                name = entry.name
                lower = name.lower()
                if (name.startswith(".") or lower.endswith(_IGNORED_SUFFIXES)
                        or not lower.endswith(_EXTENSIONS)):
                    continue
                try:
                    if not entry.is_file():
                        continue
                    st = entry.stat()
                except OSError:
                    continue  # gone meanwhile
                signature = (st.st_size, st.st_mtime_ns)
                if self._stuck.get(name) == signature:
                    continue
                if settle and now - st.st_mtime < self.settle_seconds:
                    continue  # still being written (or just written): next poll
                found.append((st.st_mtime_ns, name, signature))
        found.sort()
        return [(name, signature) for _, name, signature in found]

    # -- one file ------------------------------------------------------------------------

    def _process(self, path: Path, signature: tuple[int, int]) -> FileResult | None:
        name = path.name
        size = signature[0]
        if size > self.max_file_bytes:
            return self._finish(path, signature, status="failed", rows=0, problems=[],
                                reason=f"the file is {size:,} bytes, more than the "
                                       f"{self.max_file_bytes:,} bytes folder mode takes",
                                fix="split it into smaller files and drop those into inbox/")
        try:
            table = _read(path)
        except FileNotFoundError:
            log.debug("folder mode: %s disappeared before it was read", name)
            return None
        except _Unreadable as exc:
            return self._finish(path, signature, status="failed", rows=0, problems=[],
                                reason=exc.message, fix=exc.fix)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if (st.st_size, st.st_mtime_ns) != signature:
            log.info("folder mode: %s changed while it was read; trying again later", name)
            return None

        try:
            check = self.check(table.frame)
        except Exception as exc:  # noqa: BLE001 - RequestError (missing column) or a bug
            reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            fix = getattr(exc, "fix", "") or "check the file against the model's input columns"
            if len(table.header) == 1 and any(s in table.header[0] for s in ";\t|"):
                fix += ("; the header is one single column: the file seems to use another "
                        "separator than ',' (save it as comma-separated CSV)")
            return self._finish(path, signature, status="failed", rows=table.rows,
                                problems=table.malformed, reason=reason, fix=fix)

        problems = list(table.malformed) + [_problem(p, table.lines) for p in check.problems]
        problems.sort(key=lambda p: p.line)
        bad_rows = len({p.line for p in problems})
        good = np.asarray(check.good, dtype=np.intp)
        if len(good) != check.rows.n or (len(good) and not (
                0 <= good.min() and good.max() < len(table.frame))):
            raise RuntimeError(f"the check returned {check.rows.n} rows but {len(good)} "
                               f"positions in 0..{len(table.frame) - 1}")
        where = "row" if path.suffix.lower() == ".parquet" else "line"

        if bad_rows and self.policy == "reject_file":
            return self._finish(
                path, signature, status="failed", rows=table.rows, problems=problems,
                reason=f"{bad_rows} of {table.rows} rows are invalid; policy reject_file "
                       "scores a file only when every row is valid",
                fix="correct the rows listed below and drop the whole file into inbox/ again")
        if len(good) == 0 and bad_rows:
            return self._finish(
                path, signature, status="failed", rows=table.rows, problems=problems,
                reason=f"none of the {table.rows} rows is valid",
                fix="correct the rows listed below and drop the file into inbox/ again")

        if len(good):
            try:
                scored = self._score(check.rows, len(good), f"folder:{name}")
            except Exception as exc:  # noqa: BLE001 - the model's or the server's error
                if getattr(exc, "status", None) == 503:
                    log.info("folder mode: %s waits, the model is not ready: %s", name, exc)
                    return None
                log.warning("folder mode: scoring %s failed: %s", name, exc)
                return self._finish(
                    path, signature, status="failed", rows=table.rows, problems=problems,
                    reason=f"scoring failed: {type(exc).__name__}: {_first_line(exc)}",
                    fix="the rows passed validation, so the model or the server failed "
                        "(see the server log); to try again, move the file from failed/ "
                        "back into inbox/")
        else:
            scored = pd.DataFrame({"prediction_id": pd.Series([], dtype=object),
                                   "prediction": pd.Series([], dtype=object)})
        inputs = table.frame.iloc[good].reset_index(drop=True)
        out = pd.concat([pd.DataFrame({"line": table.lines[good]}), inputs, scored], axis=1)
        output = self._write_output(name, out)
        if not bad_rows:
            return self._finish(path, signature, status="done", rows=table.rows, problems=[],
                                reason="", fix="", output=output, scored=len(good))
        return self._finish(
            path, signature, status="partial", rows=table.rows, problems=problems,
            reason=f"{bad_rows} of {table.rows} rows are invalid and were not scored",
            fix=f"correct the rows listed below and drop a file with only those rows into "
                f"inbox/ again; the other {len(good)} rows are scored already (their {where} "
                "numbers are in the predictions file's 'line' column)",
            output=output, scored=len(good))

    def _score(self, rows: Rows, n: int, source: str) -> pd.DataFrame:
        scored = self.score(rows, source)
        if not isinstance(scored, pd.DataFrame) or len(scored) != n:
            got = len(scored) if isinstance(scored, pd.DataFrame) else type(scored).__name__
            raise ValueError(f"the scorer returned {got} rows for {n}")
        scored = scored.reset_index(drop=True)
        first = [c for c in ("prediction_id", "prediction") if c in scored.columns]
        return scored[first + [c for c in scored.columns if c not in first]]

    def _write_output(self, name: str, frame: pd.DataFrame) -> Path:
        stem = name.rsplit(".", 1)[0]
        final = _unique(self.outbox, stem, ".predictions.csv")
        write_atomic(final, self.outbox / f".{name}.tmp",
                      lambda fh: frame.to_csv(fh, index=False, lineterminator="\n"))
        return final

    def _finish(self, path: Path, signature: tuple[int, int], *, status: str, rows: int,
                problems: Sequence[_Problem], reason: str, fix: str,
                output: Path | None = None, scored: int = 0) -> FileResult:
        """Write the error file (not for ``done``), then move the input out of inbox/."""
        name = path.name
        folder = self.done if status == "done" else self.failed
        stem, dot, ext = name.rpartition(".")
        moved_to = _unique(folder, stem, dot + ext) if dot else _unique(folder, name, "")
        bad_rows = len({p.line for p in problems})
        error_file = None
        if status != "done":
            error_file = self.failed / f"{moved_to.name}.error.txt"
            text = _error_text(name, status, rows=rows, scored=scored, bad_rows=bad_rows,
                               problems=problems, reason=reason, fix=fix, output=output,
                               moved_to=moved_to, parquet=name.lower().endswith(".parquet"))
            write_atomic(error_file, self.failed / f".{error_file.name}.tmp",
                          lambda fh: fh.write(text))
        try:
            _move(path, moved_to)
        except OSError as exc:
            # The output (if any) is in place; the input stays in inbox/ but is not taken
            # again until it changes, so it is not scored over and over.
            self._stuck[name] = signature
            log.error("folder mode: could not move %s to %s: %s; it stays in inbox/ and is "
                      "skipped until it changes", name, folder, exc)
            raise
        self._stuck.pop(name, None)
        if status == "done":
            message = f"{scored} of {rows} rows scored"
        elif status == "partial":
            message = f"{scored} of {rows} rows scored, {bad_rows} bad rows (see {error_file})"
        else:
            message = f"{reason} (see {error_file})"
        log.log(logging.INFO if status == "done" else logging.WARNING,
                "folder mode: %s %s: %s", name, status, message)
        return FileResult(name, status, rows, scored, bad_rows, output, moved_to, error_file,
                          message)

    def _unexpected_error(self, path: Path, signature: tuple[int, int],
                          exc: Exception) -> FileResult | None:
        name = path.name
        self._counts["errors"] += 1
        self.last_error = f"{name}: {type(exc).__name__}: {exc}"
        previous, count = self._unexpected.get(name, (signature, 0))
        count = count + 1 if previous == signature else 1
        self._unexpected[name] = (signature, count)
        log.error("folder mode: %s failed unexpectedly (%d of %d)", name, count,
                  MAX_UNEXPECTED, exc_info=exc)
        if count < MAX_UNEXPECTED or not path.exists() or self._stuck.get(name) == signature:
            return None
        self._unexpected.pop(name, None)
        try:
            return self._finish(path, signature, status="failed", rows=0, problems=[],
                                reason=f"internal error: {type(exc).__name__}: "
                                       f"{_first_line(exc)}",
                                fix="this is a bug in the server, not a problem of the file; "
                                    "report it with the server log, then move the file from "
                                    "failed/ back into inbox/")
        except Exception:  # noqa: BLE001 - leave it in inbox, skipped until it changes
            self._stuck[name] = signature
            log.exception("folder mode: could not move %s to failed/ either; it stays in "
                          "inbox/ and is skipped until it changes", name)
            return None


# -- reading ---------------------------------------------------------------------------


def _read(path: Path) -> _Table:
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path)
    return _read_csv(path)


def _read_csv(path: Path) -> _Table:
    header: list[str] | None = None
    records: list[list[str]] = []
    lines: list[int] = []
    malformed: list[_Problem] = []
    start = 1
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, strict=True)
            try:
                for record in reader:
                    end = reader.line_num
                    if not record or (len(record) == 1 and not record[0].strip()
                                      and (header is None or len(header) > 1)):
                        start = end + 1
                        continue  # a blank line, as pandas skips them
                    if header is None:
                        header = _header(record)
                    elif len(record) == len(header):
                        records.append(record)
                        lines.append(start)
                    else:
                        malformed.append(_Problem(
                            start, None, f"{len(record)} fields", "wrong_field_count",
                            f"has {len(record)} fields, the header has {len(header)}"))
                    start = end + 1
            except csv.Error as exc:
                raise _Unreadable(*_csv_error(exc, start)) from None
    except UnicodeDecodeError:
        raise _Unreadable(_not_utf8(path), "save the file as UTF-8 (in Excel: 'CSV UTF-8 "
                          "(comma delimited)'), then drop it into inbox/ again") from None
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise _Unreadable(f"the file cannot be read: {exc}",
                          "check the file's permissions") from None
    if header is None:
        raise _Unreadable("the file is empty: not even a header line",
                          "write a header line with the column names, then one line per row")
    columns = list(zip(*records)) if records else [()] * len(header)
    frame = pd.DataFrame({h: list(c) for h, c in zip(header, columns)}, columns=header,
                         dtype=str)
    return _Table(frame, np.asarray(lines, dtype=np.int64), malformed, header)


def _header(record: list[str]) -> list[str]:
    names = [n if n != "" else f"Unnamed: {i}" for i, n in enumerate(record)]
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            raise _Unreadable(f"column {n!r} appears twice in the header (columns "
                              f"{seen[n] + 1} and {i + 1})",
                              "give every column its own name")
        seen[n] = i
    return names


def _csv_error(exc: csv.Error, start: int) -> tuple[str, str]:
    text = str(exc)
    if "unexpected end of data" in text:
        return (f"line {start}: a quoted field that starts on this line is never closed",
                'close the quote (") on that line; a quote inside a quoted field is '
                'written twice ("")')
    if "field larger than field limit" in text:
        return (f"line {start}: a field longer than the CSV field limit ({text})",
                'usually a quote (") opened and not closed on that line')
    return (f"line {start}: not valid CSV: {text}",
            'quote fields that contain commas, quotes or line breaks with "..." and write a '
            'quote inside them twice ("")')


def _not_utf8(path: Path) -> str:
    """Which line is not UTF-8 (found by a second, binary pass: UTF-8 sequences never
    contain a newline byte, so lines decode one by one)."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                column = len(raw[:exc.start].decode("utf-8")) + 1
                return (f"line {number} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                        f"character {column}); the file may be in a legacy encoding such as "
                        "Windows-1252")
    return "the file is not UTF-8 text"


def _read_parquet(path: Path) -> _Table:
    try:
        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise _Unreadable(f"reading Parquet needs pyarrow, which is not installed on this "
                          f"host ({_first_line(exc)})",
                          "install pyarrow in the server's environment, or drop CSV files "
                          "instead") from None
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors vary
        raise _Unreadable(f"not a readable Parquet file: {type(exc).__name__}: "
                          f"{_first_line(exc)}",
                          "write the file again (it may be truncated or still being copied: "
                          "copy to a .part name, then rename)") from None
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()  # a named index is data (often the id to join on)
    else:
        frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    header = list(frame.columns)
    return _Table(frame, np.arange(1, len(frame) + 1, dtype=np.int64), [], header)


# -- reporting ---------------------------------------------------------------------------


def _problem(problem: Any, lines: np.ndarray) -> _Problem:
    """A validator's ``RowProblem`` (0-based frame row) located by file line."""
    row = problem.row
    if row is None:
        line = 0  # the whole file
    else:
        line = int(lines[row]) if 0 <= row < len(lines) else int(row) + 2
    message = str(problem.message)
    return _Problem(line, problem.column, problem.value, str(problem.rule),
                    _ROW_PREFIX.sub("", message) or message)


def _show(value: Any) -> str:
    if value is None or (isinstance(value, str) and value == ""):
        return "(empty)"
    if isinstance(value, float) and value != value:
        return "(empty)"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _error_text(name: str, status: str, *, rows: int, scored: int, bad_rows: int,
                problems: Sequence[_Problem], reason: str, fix: str, output: Path | None,
                moved_to: Path, parquet: bool) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    unit = "row" if parquet else "line"
    out = [f"ModelDeck folder mode: {name}", f"Processed: {when}",
           f"Result: {status.upper()}", "", "What happened:", f"  {reason}", ""]
    if output is not None:
        out.append(f"Scored: {scored} of {rows} rows; their predictions are in {output}")
    else:
        out.append("Scored: nothing; no predictions file was written for this file"
                   f" ({rows} {'row' if rows == 1 else 'rows'} read)")
    out += [f"The input file was moved to: {moved_to}", "", "What to do:", f"  {fix}"]
    if problems:
        where = ("row numbers count the first data row as row 1" if parquet else
                 "line numbers are lines of the file; the header is line 1")
        out += ["", f"Bad rows: {bad_rows} ({len(problems)} problems; {where})"]
        for p in problems[:MAX_LISTED]:
            column = f", column {p.column!r}" if p.column is not None else ""
            where = f"{unit} {p.line}" if p.line else "every row"
            out.append(f"  {where}{column}, value {_show(p.value)}: {p.rule}: {p.message}")
        if len(problems) > MAX_LISTED:
            rest = problems[MAX_LISTED:]
            more_rows = len({p.line for p in rest} - {p.line for p in problems[:MAX_LISTED]})
            out.append(f"  ... and {len(rest)} more problems ({more_rows} more bad rows) "
                       "not listed")
    return "\n".join(out) + "\n"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else "")[:300]


# -- files -----------------------------------------------------------------------------


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _unique(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/<stem><suffix>``, or with ``-<UTC timestamp>`` (then ``-2``, ...) after the
    stem when that name is taken."""
    candidate = folder / f"{stem}{suffix}"
    if not os.path.lexists(candidate):
        return candidate
    stamp = _stamp()
    candidate = folder / f"{stem}-{stamp}{suffix}"
    n = 2
    while os.path.lexists(candidate):
        candidate = folder / f"{stem}-{stamp}-{n}{suffix}"
        n += 1
    return candidate


def _move(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; across file systems, copy to a dot-name next to ``dst``,
    rename that into place, then remove ``src``."""
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = dst.parent / f".{dst.name}.tmp"
        try:
            shutil.copy2(src, tmp)
            os.replace(tmp, dst)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        src.unlink()
    fsync_dir(dst.parent)
