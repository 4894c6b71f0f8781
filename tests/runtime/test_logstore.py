"""The prediction log: round trips, id lookups, feedback, window profiles, retention,
back-pressure, a failing disk, and a real ``kill -9`` in the middle of writing."""

from __future__ import annotations

import json
import logging
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modeldeck.core.drift.profile import ReferenceSpec, build_spec, profile_frame
from modeldeck.core.errors import DataError
from modeldeck.core.runtime import logstore
from modeldeck.core.runtime.ids import IdAllocator, format_id, id_list, parse_id
from modeldeck.core.runtime.logstore import (
    FeedbackResult,
    LogBatch,
    LogStore,
    decode_payload,
    encode_payload,
)
from modeldeck.core.runtime.outputs import outputs_frame
from modeldeck.core.schema import ColumnSchema

DAY = 86400.0
T0 = 1_700_000_040.0  # a multiple of 60 (window boundaries in the tests)
CLASSES = ["no", "yes"]
SCHEMA = (
    ColumnSchema("num", "float", nullable=True),
    ColumnSchema("count", "integer"),
    ColumnSchema("flag", "boolean", nullable=True),
    ColumnSchema("cat", "string", nullable=True, categories=("a", "b", "c")),
    ColumnSchema("text", "string", nullable=True),
    ColumnSchema("when", "datetime", nullable=True),
)
INPUT_NAMES = [c.name for c in SCHEMA]


@dataclass
class Rows:
    """What the server's validation.Rows gives the log: columns and a row count."""

    columns: dict[str, np.ndarray]
    n: int


def _inputs(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """One batch's input columns, in the dtypes validation produces (every oddity in)."""
    num = rng.normal(size=n)
    num[rng.random(n) < 0.1] = np.nan
    num[rng.random(n) < 0.03] = np.inf
    num[rng.random(n) < 0.03] = -np.inf
    when = np.datetime64("2024-05-01T00:00:00", "ns") + rng.integers(
        0, 10**15, n).astype("timedelta64[ns]")
    when[rng.random(n) < 0.1] = np.datetime64("NaT")
    return {
        "num": num,
        "count": rng.integers(0, 12, n).astype(np.float64),
        "flag": np.array(rng.choice(np.array([True, False, None], dtype=object), n),
                         dtype=object),
        "cat": np.array(rng.choice(np.array(["a", "b", "c", "zz", None], dtype=object), n),
                        dtype=object),
        "text": np.array([f"héllo ✓ {rng.integers(1000)}" if rng.random() > 0.2 else None
                          for _ in range(n)], dtype=object),
        "when": when,
    }


def _reference() -> pd.DataFrame:
    rng = np.random.default_rng(123)
    frame = pd.DataFrame({k: pd.Series(v, dtype=object if v.dtype == object else None)
                          for k, v in _inputs(rng, 600).items()})
    frame["num"] = frame["num"].replace([np.inf, -np.inf], np.nan)
    return frame


INPUT_SPEC = build_spec(_reference(), SCHEMA)


def _output_spec(classes: list[Any] | None, task: str = "classification") -> ReferenceSpec:
    rng = np.random.default_rng(5)
    n = 400
    if task == "regression":
        return build_spec(outputs_frame(rng.normal(size=n), None, None, task))
    assert classes is not None
    p_last = rng.random(n)
    picks = np.array(classes, dtype=object)[(p_last > 0.5).astype(int)]
    return build_spec(outputs_frame(picks, np.column_stack([1 - p_last, p_last]), classes,
                                    task))


OUTPUT_SPEC = _output_spec(CLASSES)


class Feeder:
    """Makes batches with real contiguous ids from its own allocator."""

    def __init__(self, seed: int = 0, classes: list[Any] | None = None,
                 task: str = "classification", label_dtype: Any = None) -> None:
        self.ids = IdAllocator()
        self.rng = np.random.default_rng(seed)
        self.classes = classes if classes is not None else CLASSES
        self.task = task
        self.label_dtype = label_dtype

    def batch(self, n: int, ts: float = T0, source: str = "api", proba: bool = True,
              columns: dict[str, np.ndarray] | None = None) -> LogBatch:
        first = self.ids.take(n)
        cols = columns if columns is not None else _inputs(self.rng, n)
        if self.task == "regression":
            return LogBatch(ts, self.ids.boot, first, n, Rows(cols, n),
                            self.rng.normal(size=n), None, source)
        p_last = self.rng.random(n)
        picks = [self.classes[int(p > 0.5)] for p in p_last]
        predictions = np.array(picks, dtype=self.label_dtype)
        probabilities = np.column_stack([1 - p_last, p_last]) if proba else None
        return LogBatch(ts, self.ids.boot, first, n, Rows(cols, n), predictions,
                        probabilities, source)


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[Callable[..., LogStore]]:
    """Factory of started stores on ``tmp_path / "log.db"``; all closed at the end.

    The clock stands still one day after ``T0`` unless a test passes its own: the batches
    of the tests are of ``T0``, years ago, and must not fall to retention."""
    stores: list[LogStore] = []
    still = FakeClock(T0 + DAY)

    def make(path: Path | None = None, start: bool = True, **settings: Any) -> LogStore:
        kwargs: dict[str, Any] = {"task": "classification", "classes": CLASSES,
                                  "input_spec": INPUT_SPEC, "output_spec": OUTPUT_SPEC,
                                  "host": "h1", "flush_interval": 0.02, "clock": still}
        kwargs.update(settings)
        store = LogStore(path or tmp_path / "log.db", **kwargs)
        stores.append(store)
        if start:
            store.start()
        return store

    yield make
    for store in stores:
        store.close()


def _input_frame(batches: list[LogBatch]) -> pd.DataFrame:
    """The batches' inputs as the frame validation.Rows.frame would give."""
    return pd.DataFrame({name: np.concatenate([b.inputs.columns[name] for b in batches])
                         for name in batches[0].inputs.columns})


def _outputs(batches: list[LogBatch], classes: list[Any] | None = None,
             task: str = "classification") -> pd.DataFrame:
    proba = (None if batches[0].probabilities is None
             else np.concatenate([b.probabilities for b in batches]))
    return outputs_frame(np.concatenate([b.predictions for b in batches]), proba,
                         classes if classes is not None else CLASSES, task)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


# --------------------------------------------------------------------------- round trips


def test_every_input_dtype_and_output_round_trips(open_store: Callable[..., LogStore]) -> None:
    store = open_store()
    feed = Feeder()
    batches = [feed.batch(1, T0), feed.batch(7, T0 + 1.25), feed.batch(30, T0 + 2),
               feed.batch(5, T0 + 3, source="folder:in.csv")]
    for batch in batches:
        assert store.append(batch)
    assert store.flush()

    frame = store.rows()
    assert list(frame.columns) == ["prediction_id", "ts", "source", *INPUT_NAMES,
                                   "prediction", "proba_no", "proba_yes", "label"]
    assert frame["prediction_id"].tolist() == [
        i for b in batches for i in id_list(b.boot, b.first, b.n)]
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert frame["ts"].tolist() == [pd.Timestamp(b.ts, unit="s", tz="UTC")
                                    for b in batches for _ in range(b.n)]
    assert frame["source"].tolist() == [b.source for b in batches for _ in range(b.n)]
    for name in ("num", "count"):
        assert frame[name].dtype == np.float64
        np.testing.assert_array_equal(frame[name].to_numpy(),
                                      np.concatenate([b.inputs.columns[name] for b in batches]))
    for name in ("flag", "cat", "text"):
        assert frame[name].dtype == object
        expected = [v for b in batches for v in b.inputs.columns[name].tolist()]
        assert frame[name].tolist() == expected
        assert [type(v) for v in frame[name]] == [type(v) for v in expected]
    assert frame["when"].dtype == np.dtype("datetime64[ns]")
    np.testing.assert_array_equal(frame["when"].to_numpy(),
                                  np.concatenate([b.inputs.columns["when"] for b in batches]))
    assert frame["prediction"].tolist() == [p for b in batches for p in b.predictions.tolist()]
    np.testing.assert_array_equal(frame[["proba_no", "proba_yes"]].to_numpy(),
                                  np.concatenate([b.probabilities for b in batches]))
    assert frame["label"].tolist() == [None] * len(frame)


def test_regression_outputs_round_trip_without_probabilities(
        open_store: Callable[..., LogStore]) -> None:
    spec = _output_spec(None, "regression")
    store = open_store(task="regression", classes=None, output_spec=spec)
    feed = Feeder(task="regression")
    batches = [feed.batch(n, T0 + i) for i, n in enumerate((3, 40, 1))]
    for batch in batches:
        store.append(batch)
    assert store.flush()
    frame = store.rows()
    assert list(frame.columns)[-2:] == ["prediction", "label"]
    np.testing.assert_array_equal(frame["prediction"].to_numpy(),
                                  np.concatenate([b.predictions for b in batches]))
    [window] = store.profiles()
    assert window.outputs is not None
    assert window.outputs.equal_counts(profile_frame(spec, _outputs(batches, None,
                                                                    "regression")))


def test_rows_respects_time_range_and_limit(open_store: Callable[..., LogStore]) -> None:
    store = open_store()
    feed = Feeder()
    batches = [feed.batch(10, T0 + i * 10) for i in range(5)]
    for batch in reversed(batches):  # appended out of time order: rows() sorts by time
        store.append(batch)
    assert store.flush()
    frame = store.rows(since=_utc(T0 + 10), until=_utc(T0 + 40))
    assert frame["prediction_id"].tolist() == [
        i for b in batches[1:4] for i in id_list(b.boot, b.first, b.n)]
    naive = store.rows(since=datetime.fromtimestamp(T0 + 10, timezone.utc).replace(tzinfo=None),
                       until=datetime.fromtimestamp(T0 + 40, timezone.utc).replace(tzinfo=None))
    assert naive["prediction_id"].tolist() == frame["prediction_id"].tolist()
    limited = store.rows(limit=15)
    assert limited["prediction_id"].tolist() == (
        id_list(batches[0].boot, batches[0].first, 10)
        + id_list(batches[1].boot, batches[1].first, 5))
    empty = store.rows(since=_utc(T0 + 1000))
    assert len(empty) == 0
    assert list(empty.columns) == ["prediction_id", "ts", "source", "prediction", "proba_no",
                                   "proba_yes", "label"]


def test_payloads_are_checked_when_read() -> None:
    rng = np.random.default_rng(1)
    columns = _inputs(rng, 4)
    blob = encode_payload(columns, np.array(["no", "yes", "no", "no"]), rng.random((4, 2)),
                          ["proba_no", "proba_yes"])
    decoded = decode_payload(blob)
    assert list(decoded.columns) == INPUT_NAMES
    assert decoded.proba_names == ("proba_no", "proba_yes")
    for bad in (b"", b"nonsense" * 3, blob[:-5], blob[:12], b"MDLB\x09" + blob[5:]):
        with pytest.raises(DataError):
            decode_payload(bad)
    with pytest.raises(ValueError, match="3 values, not 4"):
        encode_payload({"x": np.zeros(3)}, np.zeros(4), None)


def test_append_rejects_batches_whose_outputs_do_not_match_n(
        open_store: Callable[..., LogStore]) -> None:
    store = open_store()
    batch = Feeder().batch(4)
    batch.n = 5
    with pytest.raises(ValueError, match="4 predictions"):
        store.append(batch)


# --------------------------------------------------------------------------- feedback


def test_feedback_finds_ids_replaces_labels_and_reports_unknown_and_invalid(
        open_store: Callable[..., LogStore]) -> None:
    store = open_store()
    a, b = Feeder(1), Feeder(2)
    first = a.batch(5, T0)
    gap = a.ids.take(3)  # served but never logged (e.g. dropped): not in the log
    second = a.batch(4, T0 + 1)
    other = b.batch(2, T0 + 2)
    for batch in (first, second, other):
        store.append(batch)
    ids1, ids2, ids3 = (id_list(x.boot, x.first, x.n) for x in (first, second, other))
    past_end = format_id(a.ids.boot, second.first + second.n)
    in_gap = format_id(a.ids.boot, gap + 1)
    stranger = format_id("0" * 12, 0)

    # No flush: add_feedback flushes the backlog itself, so fresh ids are found.
    result = store.add_feedback([
        (ids1[0], "yes"), (ids1[4], "no"), (ids2[3], np.int64(1)), (ids3[1], True),
        (in_gap, "x"), (past_end, "x"), (stranger, "x"),
        ("nope", "x"), (42, "x"), ("", "x"), (ids1[1].upper(), "x")])  # type: ignore[list-item]
    assert result == FeedbackResult(4, (in_gap, past_end, stranger),
                                    ("nope", "42", "", ids1[1].upper()))

    assert store.add_feedback([(ids1[0], "no")]) == FeedbackResult(1, (), ())  # replaces
    labeled = store.rows(labeled_only=True)
    assert labeled["prediction_id"].tolist() == [ids1[0], ids1[4], ids2[3], ids3[1]]
    assert labeled["label"].tolist() == ["no", "no", 1, True]
    assert store.stats()["labels"] == 4

    assert store.add_feedback([(ids1[4], None)]).accepted == 1  # a null label removes it
    assert store.rows(labeled_only=True)["prediction_id"].tolist() == [ids1[0], ids2[3],
                                                                       ids3[1]]
    everything = store.rows()
    assert everything["label"].tolist() == (
        ["no", None, None, None, None] + [None, None, None, 1] + [None, True])
    assert store.rows(labeled_only=True, limit=2)["prediction_id"].tolist() == [ids1[0],
                                                                                ids2[3]]


# --------------------------------------------------------------------------- profiles


@pytest.mark.parametrize("classes, label_dtype", [
    (["no", "yes"], None),          # numpy str labels
    (["no", "yes"], object),        # str labels in an object array
    ([0, 1], np.int64),             # integer labels
    ([False, True], bool),          # boolean labels
    ([0.0, 1.0], np.float64),       # float labels (outputs_frame's own row-by-row path)
])
def test_window_profiles_equal_the_profile_of_the_logged_rows(
        open_store: Callable[..., LogStore], classes: list[Any], label_dtype: Any) -> None:
    spec = _output_spec(classes)
    store = open_store(classes=classes, output_spec=spec)
    feed = Feeder(3, classes=classes, label_dtype=label_dtype)
    rng = np.random.default_rng(3)
    batches = [feed.batch(int(rng.integers(1, 60)), T0 + i) for i in range(40)]
    for batch in batches[:25]:
        store.append(batch)
    assert store.flush()
    for batch in batches[25:]:
        store.append(batch)
    assert store.flush()

    def check(store: LogStore, batches: list[LogBatch]) -> None:
        [window] = store.profiles()
        assert window.rows == sum(b.n for b in batches)
        assert window.start == _utc(T0 - T0 % 3600) and window.end == window.start + timedelta(
            hours=1)
        assert window.inputs is not None and window.outputs is not None
        assert window.inputs.equal_counts(profile_frame(INPUT_SPEC, _input_frame(batches)))
        assert window.outputs.equal_counts(profile_frame(spec, _outputs(batches, classes)))
        assert window.inputs.hosts == ("h1",)
        assert (window.inputs.start, window.inputs.end) == (window.start, window.end)

    check(store, batches)
    # The checkpoint written at close, then more rows merged into it.
    store.close()
    reopened = open_store(classes=classes, output_spec=spec)
    check(reopened, batches)
    more = [feed.batch(20, T0 + 100 + i) for i in range(3)]
    for batch in more:
        reopened.append(batch)
    assert reopened.flush()
    check(reopened, batches + more)


def test_windows_split_by_time_and_select_by_range(open_store: Callable[..., LogStore]) -> None:
    store = open_store(window_seconds=60)
    feed = Feeder(4)
    batches = {0: [feed.batch(5, T0 + 1), feed.batch(8, T0 + 59.5)],
               60: [feed.batch(3, T0 + 60), feed.batch(6, T0 + 61)],
               300: [feed.batch(4, T0 + 300)]}
    for group in batches.values():
        for batch in group:
            store.append(batch)
    assert store.flush()

    windows = store.profiles()
    assert [w.start for w in windows] == [_utc(T0), _utc(T0 + 60), _utc(T0 + 300)]
    for window, (offset, group) in zip(windows, batches.items()):
        assert window.end == _utc(T0 + offset + 60)
        assert window.rows == sum(b.n for b in group)
        assert window.inputs is not None and window.outputs is not None
        assert window.inputs.equal_counts(profile_frame(INPUT_SPEC, _input_frame(group)))
        assert window.outputs.equal_counts(profile_frame(OUTPUT_SPEC, _outputs(group)))

    def starts(since: float | None, until: float | None) -> list[datetime]:
        return [w.start for w in store.profiles(
            None if since is None else _utc(since), None if until is None else _utc(until))]

    assert starts(T0 + 30, T0 + 60) == [_utc(T0)]                  # [since, until)
    assert starts(T0 + 60, None) == [_utc(T0 + 60), _utc(T0 + 300)]
    assert starts(None, T0 + 60.001) == [_utc(T0), _utc(T0 + 60)]
    assert starts(T0 + 120, T0 + 300) == []
    naive = store.profiles(datetime.fromtimestamp(T0 + 60, timezone.utc).replace(tzinfo=None))
    assert [w.start for w in naive] == [_utc(T0 + 60), _utc(T0 + 300)]
    # The same after the profiles went through the database.
    store.close()
    assert [w.rows for w in open_store(window_seconds=60).profiles()] == [13, 9, 4]


def test_batches_with_and_without_probabilities_share_a_window(
        open_store: Callable[..., LogStore]) -> None:
    store = open_store()
    feed = Feeder(5)
    with_proba = [feed.batch(10, T0), feed.batch(5, T0 + 2)]
    without = [feed.batch(7, T0 + 1, proba=False)]
    for batch in (with_proba[0], without[0], with_proba[1]):
        store.append(batch)
    assert store.flush()
    [window] = store.profiles()
    expected = profile_frame(OUTPUT_SPEC, _outputs(with_proba)).merge(
        profile_frame(OUTPUT_SPEC, _outputs(without)))
    assert window.outputs is not None and window.outputs.equal_counts(expected)
    assert window.outputs.features["proba_yes"].absent == 7
    frame = store.rows()
    assert frame["proba_yes"].isna().sum() == 7


def test_profiles_made_for_another_spec_are_discarded(
        open_store: Callable[..., LogStore], caplog: pytest.LogCaptureFixture) -> None:
    store = open_store()
    feed = Feeder(6)
    store.append(feed.batch(10, T0))
    assert store.flush()
    store.close()
    with caplog.at_level(logging.WARNING, "modeldeck.runtime.logstore"):
        reopened = open_store(window_seconds=60)
    assert "1 window profiles discarded" in caplog.text
    assert reopened.profiles() == []
    assert len(reopened.rows()) == 10  # the rows themselves stay
    new = feed.batch(4, T0 + 5)
    reopened.append(new)
    assert reopened.flush()
    [window] = reopened.profiles()
    assert window.rows == 4


def test_a_log_without_specs_still_counts_rows_per_window(
        open_store: Callable[..., LogStore]) -> None:
    store = open_store(input_spec=None, output_spec=None)
    store.append(Feeder().batch(6))
    assert store.flush()
    [window] = store.profiles()
    assert (window.rows, window.inputs, window.outputs) == (6, None, None)


# --------------------------------------------------------------------------- retention


def test_retention_by_age_deletes_old_batches_labels_and_profiles(
        open_store: Callable[..., LogStore]) -> None:
    now = T0 + 200 * DAY
    clock = FakeClock(now)
    store = open_store(clock=clock, max_age_days=30, profile_days=90)
    feed = Feeder(7)
    ancient = feed.batch(2, now - 100 * DAY)
    old = feed.batch(3, now - 40 * DAY)
    recent = feed.batch(3, now - 29.99 * DAY)
    new = feed.batch(3, now - 60)
    for batch in (ancient, old, recent, new):
        store.append(batch)
    assert store.add_feedback([(format_id(old.boot, old.first), "yes"),
                               (format_id(new.boot, new.first), "no")]).accepted == 2
    assert len(store.rows()) == 11  # the next retention pass is not due yet
    assert len(store.profiles()) == 4

    clock.advance(31)
    assert store.flush()  # the writer's cycle runs the pass that is now due
    assert store.rows()["prediction_id"].tolist() == (
        id_list(recent.boot, recent.first, 3) + id_list(new.boot, new.first, 3))
    assert store.stats()["labels"] == 1
    hour = 3600
    assert [w.start.timestamp() for w in store.profiles()] == [
        (b.ts // hour) * hour for b in (old, recent, new)]  # ancient: past profile_days

    clock.advance(DAY)
    assert store.flush()
    assert len(store.rows()) == 3
    store.close()

    clock.advance(30 * DAY)  # retention also runs when the log is opened
    assert len(open_store(clock=clock, max_age_days=30, profile_days=90).rows()) == 0


def test_retention_by_size_keeps_the_newest_batches_under_max_bytes(
        open_store: Callable[..., LogStore]) -> None:
    max_bytes = 1_000_000
    store = open_store(input_spec=None, output_spec=None, max_bytes=max_bytes)
    feed = Feeder(8)
    rng = np.random.default_rng(8)
    batches = []
    for i in range(80):  # 100 rows × 30 random floats ≈ 27 kB each, 2.2 MB in all
        columns = {f"x{j}": rng.normal(size=100) for j in range(30)}
        batches.append(feed.batch(100, T0 + 2 * i, columns=columns))  # 2 s apart: not joined
        store.append(batches[-1])
        if i % 5 == 4:
            assert store.flush()
    stats = store.stats()
    assert 0 < stats["bytes"] <= max_bytes
    kept = [parse_id(i) for i in store.rows(limit=10**6)["prediction_id"]]
    firsts = sorted({c - c % 100 for _, c in kept})  # type: ignore[misc]
    assert len(firsts) >= 10
    assert firsts == [b.first for b in batches[-len(firsts):]]  # the newest, none missing
    assert stats["batches"] == len(firsts)


# --------------------------------------------------------------------------- back-pressure


def test_a_full_backlog_drops_and_counts_without_blocking(
        open_store: Callable[..., LogStore], caplog: pytest.LogCaptureFixture) -> None:
    store = open_store(start=False, max_backlog_rows=250)  # no writer yet: nothing drains
    feed = Feeder(9)
    with caplog.at_level(logging.WARNING, "modeldeck.runtime.logstore"):
        assert store.append(feed.batch(100))
        assert store.append(feed.batch(100))
        assert not store.append(feed.batch(100))
        assert not store.append(feed.batch(60))
    assert caplog.text.count("dropping rows") == 1  # once per episode, not per batch
    assert (store.backlog_rows, store.dropped_rows) == (200, 160)
    assert not store.flush()  # queued, and no writer to write it

    store.start()
    assert store.flush()
    assert (store.backlog_rows, store.rows_written, len(store.rows())) == (0, 200, 200)
    assert store.append(feed.batch(1000))  # an empty backlog takes any batch
    assert store.flush()
    assert store.rows_written == 1200
    store.close()
    assert not store.append(feed.batch(1))
    assert store.dropped_rows == 161
    assert store.flush()  # nothing pending
    store.close()  # twice is fine


def test_an_unencodable_batch_is_dropped_and_the_rest_written(
        open_store: Callable[..., LogStore], caplog: pytest.LogCaptureFixture) -> None:
    store = open_store()
    feed = Feeder(10)
    columns = _inputs(np.random.default_rng(10), 4)
    columns["num"] = columns["num"][:2]  # a column too short
    bad = feed.batch(4, columns=columns)
    good = feed.batch(3)
    with caplog.at_level(logging.ERROR, "modeldeck.runtime.logstore"):
        store.append(bad)
        store.append(good)
        assert store.flush()
    assert "cannot be encoded" in caplog.text
    assert store.dropped_rows == 4
    assert store.rows()["prediction_id"].tolist() == id_list(good.boot, good.first, 3)
    assert store.profiles()[0].rows == 3


def test_the_writer_survives_a_failing_flush_and_retries(
        open_store: Callable[..., LogStore], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holds the database's write lock (an admin's sqlite3 shell, a backup
    tool): writes fail with SQLITE_BUSY, the batches stay queued, appends keep returning at
    once, and everything is written when the lock goes away."""
    monkeypatch.setattr(logstore, "BUSY_TIMEOUT", 0.05)
    store = open_store()
    feed = Feeder(11)
    before = feed.batch(5)
    store.append(before)
    assert store.flush()

    during = [feed.batch(7), feed.batch(2)]
    with closing(sqlite3.connect(tmp_path / "log.db", isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")
        for batch in during:
            assert store.append(batch)  # never waits on the lock
        assert not store.flush(timeout=30)
        assert store.flush_errors >= 1
        assert store.last_error is not None and "locked" in store.last_error
        assert store.backlog_rows == 9
        assert not store.flush(timeout=30)  # still failing, still alive
        other.execute("ROLLBACK")
    assert store.flush()
    assert store.backlog_rows == 0 and store.rows_written == 14
    assert store.rows()["prediction_id"].tolist() == [
        i for b in (before, *during) for i in id_list(b.boot, b.first, b.n)]
    [window] = store.profiles()
    assert window.inputs is not None
    assert window.inputs.equal_counts(profile_frame(INPUT_SPEC,
                                                    _input_frame([before, *during])))


def test_start_refuses_a_file_that_is_not_a_log(open_store: Callable[..., LogStore],
                                                tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database\n" * 200)
    with pytest.raises(DataError, match="not a usable prediction log"):
        open_store(path=junk)

    newer = tmp_path / "newer.db"
    open_store(path=newer).close()
    with closing(sqlite3.connect(newer)) as conn, conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'format'")
    with pytest.raises(DataError, match="format 99"):
        open_store(path=newer)

    store = open_store()
    with pytest.raises(RuntimeError):
        store.start()


def test_stats_describe_the_log(open_store: Callable[..., LogStore]) -> None:
    store = open_store()
    feed = Feeder(12)
    store.append(feed.batch(4, T0))
    store.append(feed.batch(6, T0 + 7200))
    assert store.flush()
    stats = store.stats()
    assert {k: stats[k] for k in ("rows", "batches", "labels", "windows", "backlog_rows",
                                  "rows_written", "dropped_rows", "flush_errors",
                                  "last_error")} == {
        "rows": 10, "batches": 2, "labels": 0, "windows": 2, "backlog_rows": 0,
        "rows_written": 10, "dropped_rows": 0, "flush_errors": 0, "last_error": None}
    assert (stats["oldest"], stats["newest"]) == (_utc(T0), _utc(T0 + 7200))
    assert stats["bytes"] > 0


# --------------------------------------------------------------------------- kill -9


def _read_lines(fd: int, buffer: bytearray, deadline: float) -> list[str]:
    """The complete lines available on ``fd`` (waits until at least one or EOF)."""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("the writer process printed nothing in time")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError
            buffer.extend(chunk)
    text, _, rest = bytes(buffer).rpartition(b"\n")
    buffer[:] = rest
    return text.decode().splitlines()


def _run_and_kill(db: Path, config: Path, seed: int, flushes: int, delay: float,
                  stderr: Path) -> tuple[str, int]:
    """Run the writer until it has reported ``flushes`` flushes, wait ``delay``, SIGKILL it.

    Returns its boot id and the rows it had appended before its last successful flush
    (counting lines it printed up to the moment it died)."""
    script = Path(__file__).with_name("_log_writer.py")
    boot, durable, seen = "", 0, 0
    buffer = bytearray()
    with stderr.open("wb") as err, subprocess.Popen(
            [sys.executable, str(script), str(db), str(config), str(seed)],
            stdout=subprocess.PIPE, stderr=err) as proc:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()

        def take(lines: list[str]) -> None:
            nonlocal boot, durable, seen
            for line in lines:
                word, value = line.split()
                if word == "ready":
                    boot = value
                else:
                    durable, seen = int(value), seen + 1

        try:
            deadline = time.monotonic() + 120
            while seen < flushes:
                take(_read_lines(fd, buffer, deadline))
            time.sleep(delay)
        except (EOFError, AssertionError):
            proc.kill()
            proc.wait()
            raise AssertionError("the writer process failed:\n"
                                 + stderr.read_text(errors="replace")) from None
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
        # What it printed before it died (its writes before the kill are all in the pipe).
        rest = bytearray(buffer)
        while chunk := os.read(fd, 65536):
            rest.extend(chunk)
        take(rest.decode().splitlines())
    assert proc.returncode == -signal.SIGKILL
    return boot, durable


@pytest.mark.slow
def test_kill_9_keeps_the_database_intact_and_loses_only_the_unflushed_tail(
        tmp_path: Path) -> None:
    """A real writer process is SIGKILLed three times at random moments (mid-append,
    mid-transaction, mid-checkpoint...) on the same log. The log then opens intact; every
    row a flush had acknowledged is there; what is lost is only a tail of each run's rows
    (no holes, no torn batches); and the window profiles (checkpoint + replay) equal the
    profiles of the rows in the log, window by window."""
    settings = {"task": "classification", "classes": CLASSES, "host": "crash-test",
                "window_seconds": 1, "flush_interval": 0.02, "profile_checkpoint": 0.15}
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"counter": np.arange(1000, dtype=float),
                              "x": rng.normal(size=1000),
                              "cat": rng.choice(["a", "b", "c"], 1000)})
    spec = build_spec(reference, (ColumnSchema("counter", "float"), ColumnSchema("x", "float"),
                                  ColumnSchema("cat", "string", True, ("a", "b", "c"))))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"settings": settings, "inputs": spec.to_dict(),
                                  "outputs": OUTPUT_SPEC.to_dict()}), encoding="utf-8")
    db = tmp_path / "crash.db"
    pick = random.Random(7)
    durable: dict[str, int] = {}
    for run in range(3):
        boot, flushed = _run_and_kill(db, config, run, flushes=pick.randint(3, 25),
                                      delay=pick.uniform(0.0, 0.05),
                                      stderr=tmp_path / f"writer{run}.err")
        durable[boot] = flushed
    assert all(durable.values())

    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        batches = conn.execute("SELECT n, ts FROM batches ORDER BY ts, id").fetchall()
    store = LogStore(db, input_spec=spec, output_spec=OUTPUT_SPEC,
                     **settings)  # type: ignore[arg-type]
    store.start()
    try:
        frame = store.rows(limit=10**9)
        boots = frame["prediction_id"].str.slice(0, 12)
        assert set(boots) == set(durable)
        for boot, flushed in durable.items():
            mine = frame[boots == boot]
            counters = [parse_id(i)[1] for i in mine["prediction_id"]]  # type: ignore[index]
            assert sorted(counters) == list(range(len(counters)))  # a prefix: no holes
            assert len(counters) >= flushed  # nothing a flush acknowledged is lost
            np.testing.assert_array_equal(mine["counter"].to_numpy(), counters)  # intact

        window_of_row = np.repeat([int(ts // 1) for _, ts in batches], [n for n, _ in batches])
        windows = store.profiles()
        assert sum(w.rows for w in windows) == len(frame)
        assert {int(w.start.timestamp()) for w in windows} == set(window_of_row)
        for window in windows:
            rows = frame[window_of_row == int(window.start.timestamp())]
            assert window.rows == len(rows)
            assert window.inputs is not None and window.outputs is not None
            assert window.inputs.equal_counts(
                profile_frame(spec, rows[["counter", "x", "cat"]].reset_index(drop=True)))
            assert window.outputs.equal_counts(profile_frame(OUTPUT_SPEC, outputs_frame(
                rows["prediction"].to_numpy(), rows[["proba_no", "proba_yes"]].to_numpy(),
                CLASSES, "classification")))
    finally:
        store.close()


# --------------------------------------------------------------------------- coalescing


def test_consecutive_requests_are_stored_as_one_batch_with_their_own_times(
        open_store: Callable[..., LogStore]) -> None:
    store = open_store()
    feed = Feeder(21)
    singles = [feed.batch(1, T0 + 0.01 * i) for i in range(300)]  # 300 requests in 3 s
    later = feed.batch(5, T0 + 10)  # not within a second of the others
    other = feed.batch(2, T0 + 10.1, source="folder:x.csv")  # another source
    for batch in [*singles, later, other]:
        assert store.append(batch)
    assert store.flush()
    # joined per second of traffic, never across sources or gaps
    assert store.stats()["batches"] <= 6
    frame = store.rows(limit=10**6)
    assert len(frame) == 307
    assert frame["prediction_id"].tolist() == [
        *(i for b in singles for i in id_list(b.boot, b.first, 1)),
        *id_list(later.boot, later.first, 5), *id_list(other.boot, other.first, 2)]
    served = [b.ts for b in singles] + [later.ts] * 5 + [other.ts] * 2
    np.testing.assert_allclose(frame["ts"].astype("int64").to_numpy() / 1e9, served)
    # exact time filtering inside a joined batch, and feedback on a middle row
    window = store.rows(since=datetime.fromtimestamp(T0 + 0.995, timezone.utc),
                        until=datetime.fromtimestamp(T0 + 1.995, timezone.utc), limit=10**6)
    assert len(window) == 100
    middle = id_list(singles[150].boot, singles[150].first, 1)[0]
    assert store.add_feedback([(middle, "yes")]).accepted == 1
    assert store.rows(labeled_only=True)["prediction_id"].tolist() == [middle]
    assert sum(w.rows for w in store.profiles()) == 307
