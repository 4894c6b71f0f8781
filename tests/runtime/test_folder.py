"""Folder mode against the real Validator: good, partial, unreadable and empty files, the
reject_file policy, unsettled and ignored files, name clashes, Parquet, scorer failures
and the watcher thread."""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modeldeck.core.errors import InvalidInputError
from modeldeck.core.runtime import folder as folder_module
from modeldeck.core.runtime.folder import FileResult, FolderWatcher
from modeldeck.core.runtime.validation import RequestError, Rows, Validator
from modeldeck.core.schema import ColumnSchema

SCHEMA = (ColumnSchema("x1", "float"), ColumnSchema("x2", "float"),
          ColumnSchema("x3", "float", nullable=True),
          ColumnSchema("color", "string", categories=("blue", "green", "red")))
HEADER = "id,x1,x2,x3,color\n"
GOOD = HEADER + "007,1.5,2,,red\n008,0.5,1,3,blue\n009,2,2,2,green\n"
STAMPED = r"-\d{8}T\d{6}Z(-\d+)?"


class Scorer:
    """A stand-in model: ``high`` when x1 > 1; records what it was asked."""

    def __init__(self, fail_on: str | None = None, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, int]] = []
        self.fail_on = fail_on
        self.error = error
        self.next_id = 0

    def __call__(self, rows: Rows, source: str) -> pd.DataFrame:
        self.calls.append((source, rows.n))
        if self.fail_on is not None and self.fail_on in source:
            raise self.error or RuntimeError("the model exploded")
        x1 = rows.columns["x1"]
        high = 1.0 / (1.0 + np.exp(-(x1 - 1.0)))
        ids = [f"abc-{i:x}" for i in range(self.next_id, self.next_id + rows.n)]
        self.next_id += rows.n
        return pd.DataFrame({"prediction_id": ids,
                             "prediction": np.where(x1 > 1, "high", "low").astype(object),
                             "proba_high": high, "proba_low": 1.0 - high})


@pytest.fixture
def scorer() -> Scorer:
    return Scorer()


@pytest.fixture
def make_watcher(tmp_path: Path, scorer: Scorer) -> Callable[..., FolderWatcher]:
    made: list[FolderWatcher] = []

    def make(**kwargs: Any) -> FolderWatcher:
        kwargs.setdefault("check", Validator(SCHEMA).check_frame)
        kwargs.setdefault("score", scorer)
        watcher = FolderWatcher(tmp_path / "folder", **kwargs)
        watcher.scan_once()  # creates the folders (the inbox is empty)
        made.append(watcher)
        return watcher

    yield make
    for watcher in made:
        watcher.stop()


def drop(watcher: FolderWatcher, name: str, content: str | bytes) -> Path:
    path = watcher.inbox / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def read_output(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def only(results: list[FileResult]) -> FileResult:
    assert len(results) == 1, results
    return results[0]


def test_a_good_csv_is_scored_and_moved_to_done(make_watcher: Any, scorer: Scorer) -> None:
    watcher = make_watcher()
    drop(watcher, "batch.csv", GOOD)
    result = only(watcher.scan_once(settle=False))
    assert (result.status, result.rows, result.scored, result.bad_rows) == ("done", 3, 3, 0)
    assert result.output == watcher.outbox / "batch.predictions.csv"
    assert result.moved_to == watcher.done / "batch.csv"
    assert result.error_file is None
    out = read_output(result.output)
    assert list(out.columns) == ["line", "id", "x1", "x2", "x3", "color", "prediction_id",
                                 "prediction", "proba_high", "proba_low"]
    assert out["line"].tolist() == ["2", "3", "4"]
    assert out["id"].tolist() == ["007", "008", "009"]  # as read: legacy ids keep their zeros
    assert out["x3"].tolist() == ["", "3", "2"]
    assert out["prediction"].tolist() == ["high", "low", "high"]
    assert out["prediction_id"].tolist() == ["abc-0", "abc-1", "abc-2"]
    assert scorer.calls == [("folder:batch.csv", 3)]
    assert names(watcher.inbox) == [] and names(watcher.failed) == []
    assert names(watcher.outbox) == ["batch.predictions.csv"]  # no temp file left behind
    assert names(watcher.done) == ["batch.csv"]
    assert (watcher.done / "batch.csv").read_text(encoding="utf-8") == GOOD
    assert watcher.counts == {"done": 1, "partial": 0, "failed": 0, "errors": 0}


def test_bad_rows_give_a_partial_result_and_an_error_file(make_watcher: Any) -> None:
    watcher = make_watcher()
    drop(watcher, "mixed.csv", HEADER + "1,1.5,2,,red\n"       # line 2 good
                               "2,abc,2,3,purple\n"            # line 3: two problems
                               "3,1,,3,blue\n"                 # line 4: missing x2
                               "4,3,1,1,green\n")              # line 5 good
    result = only(watcher.scan_once(settle=False))
    assert (result.status, result.rows, result.scored, result.bad_rows) == ("partial", 4, 2, 2)
    assert result.moved_to == watcher.failed / "mixed.csv"
    assert result.error_file == watcher.failed / "mixed.csv.error.txt"
    out = read_output(result.output)
    assert out["line"].tolist() == ["2", "5"]
    assert out["id"].tolist() == ["1", "4"]
    text = result.error_file.read_text(encoding="utf-8")
    assert "Result: PARTIAL" in text
    assert f"Scored: 2 of 4 rows; their predictions are in {result.output}" in text
    assert f"The input file was moved to: {result.moved_to}" in text
    assert "line 3, column 'x1', value 'abc': wrong_type: 'abc' is not a number" in text
    assert "line 3, column 'color', value 'purple': unknown_category:" in text
    assert "line 4, column 'x2', value (empty): missing_value:" in text
    assert "drop a file with only those rows" in text
    assert names(watcher.failed) == ["mixed.csv", "mixed.csv.error.txt"]
    assert names(watcher.inbox) == []


def test_line_numbers_are_lines_of_the_file(make_watcher: Any) -> None:
    watcher = make_watcher()
    drop(watcher, "lines.csv", 'id,note,x1,x2,x3,color\n'
                               '1,"a note\nover two lines",1,1,1,red\n'   # lines 2-3
                               '\n'                                       # line 4, blank
                               '2,short,1,1,red\n'                        # line 5: 5 fields
                               '3,"x",bad,1,1,red\r\n'                    # line 6
                               '4,ok,2,2,2,blue\n')                       # line 7
    result = only(watcher.scan_once(settle=False))
    assert (result.status, result.rows, result.scored, result.bad_rows) == ("partial", 4, 2, 2)
    out = read_output(result.output)
    assert out["line"].tolist() == ["2", "7"]
    assert out["note"].tolist() == ["a note\nover two lines", "ok"]
    text = result.error_file.read_text(encoding="utf-8")
    assert "line 5, value '5 fields': wrong_field_count: has 5 fields, the header has 6" in text
    assert "line 6, column 'x1', value 'bad': wrong_type" in text


def test_reject_file_policy_scores_nothing_of_a_file_with_bad_rows(make_watcher: Any,
                                                                  scorer: Scorer) -> None:
    watcher = make_watcher(policy="reject_file")
    drop(watcher, "strict.csv", HEADER + "1,1,1,1,red\n2,1,1,1,purple\n")
    drop(watcher, "fine.csv", GOOD)
    os.utime(watcher.inbox / "strict.csv", (1_000, 1_000))  # oldest first
    strict, fine = watcher.scan_once(settle=False)
    assert (strict.status, strict.scored, strict.bad_rows, strict.output) == ("failed", 0, 1,
                                                                              None)
    text = strict.error_file.read_text(encoding="utf-8")
    assert "Scored: nothing" in text and "reject_file" in text
    assert "line 3, column 'color', value 'purple': unknown_category" in text
    assert fine.status == "done"
    assert names(watcher.outbox) == ["fine.predictions.csv"]
    assert scorer.calls == [("folder:fine.csv", 3)]


def test_a_file_with_only_bad_rows_fails_without_output(make_watcher: Any,
                                                        scorer: Scorer) -> None:
    watcher = make_watcher()
    drop(watcher, "bad.csv", HEADER + "1,x,1,1,red\n")
    result = only(watcher.scan_once(settle=False))
    assert (result.status, result.scored, result.bad_rows, result.output) == ("failed", 0, 1,
                                                                              None)
    assert names(watcher.outbox) == [] and scorer.calls == []


def test_a_header_only_file_is_done_with_an_empty_output(make_watcher: Any,
                                                         scorer: Scorer) -> None:
    watcher = make_watcher()
    drop(watcher, "empty.csv", HEADER)
    result = only(watcher.scan_once(settle=False))
    assert (result.status, result.rows, result.scored) == ("done", 0, 0)
    out = read_output(result.output)
    assert len(out) == 0
    assert list(out.columns) == ["line", "id", "x1", "x2", "x3", "color", "prediction_id",
                                 "prediction"]
    assert scorer.calls == []


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "the file is empty: not even a header line"),
    ("id,x1,x2,x3,color\n1,1,1,1,red\n2,2,2,2,caf\u00e9\n".encode("cp1252"),
     "line 3 is not UTF-8 text (byte 0xe9 at character 12)"),
    (HEADER + '1,1,1,1,red\n2,"2,2,2,red\n3,1,1,1,red\n',
     "line 3: a quoted field that starts on this line is never closed"),
    ("id,x1,x1,x2,x3,color\n1,1,1,1,1,red\n", "column 'x1' appears twice in the header"),
    ("id,x1,x3,color\n1,1,1,red\n", "the file has no column 'x2'"),
    ("id;x1;x2;x3;color\n1;1;1;1;red\n", "seems to use another separator than ','"),
])
def test_an_unusable_file_fails_with_a_reason(make_watcher: Any, scorer: Scorer,
                                              content: str | bytes, expected: str) -> None:
    watcher = make_watcher()
    drop(watcher, "broken.csv", content)
    result = only(watcher.scan_once(settle=False))
    assert (result.status, result.output, result.scored) == ("failed", None, 0)
    assert result.moved_to == watcher.failed / "broken.csv"
    text = result.error_file.read_text(encoding="utf-8")
    assert expected in text
    assert "What to do:" in text
    assert scorer.calls == [] and names(watcher.outbox) == []


def test_a_utf8_bom_is_skipped(make_watcher: Any) -> None:
    watcher = make_watcher()
    drop(watcher, "excel.csv", b"\xef\xbb\xbf" + GOOD.encode())
    result = only(watcher.scan_once(settle=False))
    assert result.status == "done"
    assert read_output(result.output).columns[1] == "id"


def test_unsettled_and_ignored_files_are_left_alone(make_watcher: Any) -> None:
    watcher = make_watcher(settle_seconds=3600)
    old = time.time() - 7200
    for name in ("settled.CSV", ".hidden.csv", "upload.csv.part", "upload.tmp", "notes.txt"):
        drop(watcher, name, GOOD)
        os.utime(watcher.inbox / name, (old, old))
    drop(watcher, "being-written.csv", GOOD)  # mtime now: still being written
    result = only(watcher.scan_once())
    assert result.name == "settled.CSV" and result.status == "done"
    assert names(watcher.inbox) == [".hidden.csv", "being-written.csv", "notes.txt",
                                    "upload.csv.part", "upload.tmp"]
    assert watcher.scan_once() == []


def test_a_file_that_changes_while_read_is_left_for_the_next_poll(make_watcher: Any,
                                                                  monkeypatch: Any) -> None:
    watcher = make_watcher()
    path = drop(watcher, "growing.csv", GOOD)
    real_read = folder_module._read

    def read_then_append(p: Path) -> Any:
        table = real_read(p)
        with open(p, "a", encoding="utf-8") as fh:
            fh.write("010,1,1,1,red\n")
        return table

    monkeypatch.setattr(folder_module, "_read", read_then_append)
    assert watcher.scan_once(settle=False) == []
    assert path.exists() and names(watcher.outbox) == []
    monkeypatch.setattr(folder_module, "_read", real_read)
    result = only(watcher.scan_once(settle=False))
    assert (result.status, result.rows) == ("done", 4)


def test_name_clashes_get_a_utc_timestamp_suffix(make_watcher: Any) -> None:
    watcher = make_watcher()
    drop(watcher, "daily.csv", GOOD)
    first = only(watcher.scan_once(settle=False))
    drop(watcher, "daily.csv", HEADER + "1,5,5,5,red\n")
    second = only(watcher.scan_once(settle=False))
    assert first.moved_to == watcher.done / "daily.csv"
    assert re.fullmatch(f"daily{STAMPED}\\.csv", second.moved_to.name)
    assert re.fullmatch(f"daily{STAMPED}\\.predictions\\.csv", second.output.name)
    assert len(read_output(first.output)) == 3  # the first output was not overwritten
    assert len(read_output(second.output)) == 1
    drop(watcher, "other.csv", HEADER + "1,x,5,5,red\n")
    assert only(watcher.scan_once(settle=False)).moved_to == watcher.failed / "other.csv"
    drop(watcher, "other.csv", HEADER + "1,x,5,5,red\n")
    again = only(watcher.scan_once(settle=False))
    assert re.fullmatch(f"other{STAMPED}\\.csv", again.moved_to.name)
    assert again.error_file == watcher.failed / f"{again.moved_to.name}.error.txt"
    assert (watcher.failed / "other.csv.error.txt").exists()  # the first report is kept


def test_parquet_rows_are_numbered_from_one(make_watcher: Any) -> None:
    pytest.importorskip("pyarrow")
    watcher = make_watcher()
    frame = pd.DataFrame({"x1": [1.5, 0.5, 2.0], "x2": [2.0, 1.0, 2.0],
                          "x3": [np.nan, 3.0, 2.0], "color": ["red", "purple", "green"]},
                         index=pd.Index([7, 8, 9], name="id"))
    frame.to_parquet(watcher.inbox / "batch.parquet")
    result = only(watcher.scan_once(settle=False))
    assert (result.status, result.rows, result.scored, result.bad_rows) == ("partial", 3, 2, 1)
    assert result.output == watcher.outbox / "batch.predictions.csv"
    out = read_output(result.output)
    assert out["line"].tolist() == ["1", "3"]
    assert out["id"].tolist() == ["7", "9"]  # the named index is data, kept to join on
    text = result.error_file.read_text(encoding="utf-8")
    assert "row 2, column 'color', value 'purple': unknown_category" in text
    assert "row numbers count the first data row as row 1" in text


def test_a_corrupt_parquet_file_fails(make_watcher: Any) -> None:
    watcher = make_watcher()
    drop(watcher, "torn.parquet", b"PAR1 this is not really parquet")
    result = only(watcher.scan_once(settle=False))
    assert result.status == "failed"
    assert "not a readable Parquet file" in result.error_file.read_text(encoding="utf-8")


def test_a_scorer_failure_fails_that_file_only(make_watcher: Any, tmp_path: Path) -> None:
    scorer = Scorer(fail_on="boom")
    watcher = make_watcher(score=scorer)
    drop(watcher, "boom.csv", GOOD)
    drop(watcher, "fine.csv", GOOD)
    os.utime(watcher.inbox / "boom.csv", (1_000, 1_000))
    boom, fine = watcher.scan_once(settle=False)
    assert (boom.status, boom.output, boom.moved_to) == ("failed", None,
                                                         watcher.failed / "boom.csv")
    assert (watcher.failed / "boom.csv").read_text(encoding="utf-8") == GOOD  # intact
    text = boom.error_file.read_text(encoding="utf-8")
    assert "scoring failed: RuntimeError: the model exploded" in text
    assert "move the file from failed/ back into inbox/" in text
    assert fine.status == "done"


def test_files_wait_in_the_inbox_while_the_model_is_not_ready(make_watcher: Any) -> None:
    scorer = Scorer(fail_on="batch", error=RequestError(503, "not_ready", "loading"))
    watcher = make_watcher(score=scorer)
    path = drop(watcher, "batch.csv", GOOD)
    assert watcher.scan_once(settle=False) == []
    assert path.exists() and names(watcher.failed) == [] and names(watcher.outbox) == []
    scorer.fail_on = None
    assert only(watcher.scan_once(settle=False)).status == "done"


def test_a_file_over_the_size_limit_fails_unread(make_watcher: Any, scorer: Scorer) -> None:
    watcher = make_watcher(max_file_bytes=20)
    drop(watcher, "big.csv", GOOD)
    result = only(watcher.scan_once(settle=False))
    assert result.status == "failed" and scorer.calls == []
    assert "more than the 20 bytes" in result.error_file.read_text(encoding="utf-8")


def test_more_than_1000_problems_are_counted_not_listed(make_watcher: Any) -> None:
    watcher = make_watcher()
    drop(watcher, "many.csv", HEADER + "".join(f"{i},x,1,1,red\n" for i in range(1005)))
    result = only(watcher.scan_once(settle=False))
    text = result.error_file.read_text(encoding="utf-8")
    assert "line 1001, column 'x1'" in text and "line 1002," not in text
    assert "... and 5 more problems (5 more bad rows) not listed" in text


def test_an_unexpected_error_moves_the_file_to_failed_after_three_tries(
        make_watcher: Any, scorer: Scorer) -> None:
    def check(frame: pd.DataFrame) -> Any:
        result = Validator(SCHEMA).check_frame(frame)
        result.good = np.array([0, 1, 99])  # a position that does not exist: a bug
        return result

    watcher = make_watcher(check=check)
    path = drop(watcher, "odd.csv", GOOD)
    assert watcher.scan_once(settle=False) == []
    assert watcher.scan_once(settle=False) == []
    assert path.exists()
    result = only(watcher.scan_once(settle=False))
    assert result.status == "failed"
    assert "internal error" in result.error_file.read_text(encoding="utf-8")
    assert watcher.counts["errors"] == 3 and watcher.last_error


def test_the_watcher_thread_scores_files_and_survives_errors(make_watcher: Any) -> None:
    seen: queue.Queue[FileResult] = queue.Queue()

    def on_result(result: FileResult) -> None:
        seen.put(result)
        raise RuntimeError("a broken callback does not stop the watcher")

    watcher = make_watcher(poll_interval=0.01, settle_seconds=0, on_result=on_result)
    watcher.start()
    [thread] = [t for t in threading.enumerate() if t.name == "modeldeck-folder-watcher"]
    assert thread.daemon and watcher.running
    drop(watcher, "bad.csv", b"\xff\xfe not text")
    assert seen.get(timeout=10).status == "failed"
    drop(watcher, "good.csv", GOOD)
    assert seen.get(timeout=10).status == "done"
    watcher.stop()
    assert not thread.is_alive() and not watcher.running


def test_an_unknown_policy_is_refused(tmp_path: Path, scorer: Scorer) -> None:
    with pytest.raises(InvalidInputError):
        FolderWatcher(tmp_path, check=Validator(SCHEMA).check_frame, score=scorer,
                      policy="score_some")
