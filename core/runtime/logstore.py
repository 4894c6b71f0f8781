"""The host's prediction log and its per-window drift profiles.

Every batch the server scores (a request, or a folder-mode file) is appended to a
:class:`LogStore`. ``append`` only queues the batch; a named daemon thread, the *writer*,
writes the queue to disk every ``flush_interval`` seconds and keeps one drift profile per
time window up to date, so the request path never waits on the disk.

Storage: why SQLite and not rotating JSONL files
------------------------------------------------
The log is one stdlib :mod:`sqlite3` file in WAL mode with ``synchronous=NORMAL`` and
``auto_vacuum=INCREMENTAL``, holding one row per served *batch*, not per prediction.

* **Write throughput.** A flush is one transaction of many batch rows; a batch's inputs and
  outputs are one compact columnar blob (below), so the per-row cost is a ``memcpy`` of its
  float64 cells. JSONL would format and later parse every cell as text (≈ 10× the bytes and
  a ``repr`` per float), which alone costs more than the whole writer does here.
* **Crash safety.** A WAL commit is atomic: after ``kill -9`` (or any crash of the process)
  the database opens intact and holds exactly the transactions committed before the crash;
  ``synchronous=NORMAL`` only gives up the last commits on an *OS* crash or power loss, and
  even then the file stays consistent. A JSONL file cut mid-line needs repair logic, and a
  profile kept next to it cannot be updated atomically with the rows.
* **Id lookups for feedback.** Prediction ids are contiguous per batch (``ids.py``), so a
  label's id is found with one range query on the ``(boot, first_counter)`` index; no
  per-row index, no file scan. JSONL would need a side index or a scan of every file.
* **Retention.** Deleting by age (index on ``ts``) or the oldest batches by size is a
  ``DELETE`` plus ``PRAGMA incremental_vacuum``, in the same file, while the server keeps
  writing. Rotating files only delete at file granularity and need their own bookkeeping
  of which ids live where.

Payload format (one blob per batch)
-----------------------------------
``b"MDLB"``, a format byte (``1``), a flags byte (bit 0: the JSON part is zlib level 1
compressed), a little-endian ``uint32`` length, the JSON part ``{"n": rows, "o": [input
column names in order], "a": [[role, name, dtype, shape-or-values], ...]}``, then the raw
little-endian bytes of every entry whose dtype is not ``"json"``, in entry order. Roles:
``I`` the float64 input columns as one ``(columns, rows)`` block (``name`` lists them),
``i`` any other input column, ``p`` the predictions, ``q`` the ``(rows, classes)``
probabilities (``name`` lists the ``proba_<class>`` names), ``t`` the rows' own serving
times (float64 epoch seconds; only in a batch joined from consecutive requests, see
:func:`_coalesce` — otherwise every row has the batch's time). Numbers, booleans and
datetimes (``<M8[ns]``) are raw; object columns (strings, booleans with ``None``) are
JSON lists inside the JSON part. No pickle. For a numbers-only batch the JSON part depends
on the column layout alone and is made once per layout.

Deviation from a "zlib the whole blob" design, measured: zlib level 1 costs 0.25-0.65 ms
per 100-row × 30-float batch on a server core (float64 mantissas barely compress), i.e.
0.12-0.33 CPU-seconds per second at 50 000 rows/s — more than the whole writer budget. The
raw numeric part is therefore stored as is; only the JSON part (strings, which compress
well) is compressed, and only when it is longer than :data:`_COMPRESS_MIN` bytes.

Crash bound
-----------
After ``kill -9`` of the server the database opens intact (``PRAGMA integrity_check`` is
``ok``) and holds every batch of every committed write. The writer commits the queue every
``flush_interval`` seconds (at once when the backlog reaches ``max_batch_rows``), and again
right after each of its slower steps (a profile update, at most once a second; a profile
checkpoint; a retention pass), so a batch waits at most ``flush_interval`` plus one such
step before it is committed. At most the rows appended in that time — the last
``flush_interval`` seconds plus the one flush in progress — are lost, and they are always
the *newest* ones: batches are committed in append order and whole, so what survives is
exactly a prefix of what was appended. Measured at 50 000 rows/s (100-row batches, 30
floats, defaults), 12 kills lost 900 to 16 000 rows, i.e. 0.02-0.32 s of traffic. Every
:meth:`LogStore.flush` that returns ``True`` is a durability point (everything appended
before the call is committed). While writes fail (disk full, a lock held elsewhere) the
batches wait in memory, up to ``max_backlog_rows``, and a crash then loses that backlog. An
OS crash or power loss may in addition roll back the commits since the WAL was last synced
(``synchronous=NORMAL``); the file stays consistent. ``tests/runtime/test_logstore.py``
checks this with a writer process killed by SIGKILL at random moments.

Retention
---------
Every :data:`RETENTION_INTERVAL` seconds and at start: batches older than ``max_age_days``
go (with their labels); window profiles older than ``profile_days`` go. ``max_bytes`` caps
the batches (the log proper; the window profiles, bounded by ``profile_days``, come on
top): the file size is checked after every flush, and when the batches take more than
``max_bytes`` the oldest are deleted down to :data:`SIZE_TARGET` of it. Freed pages go
back to the file system (``PRAGMA incremental_vacuum``). Before deleting anything the
profiles are checkpointed, so deleted rows are never missing from them after a crash.

Profiles
--------
Per window ``floor(ts / window_seconds)``, the inputs are profiled with
:func:`~modeldeck.core.drift.profile.profile_frame` against ``input_spec`` and the
outputs (:func:`~modeldeck.core.runtime.outputs.outputs_frame`) against ``output_spec``,
vectorised over all pending batches of a window at once, then merged into the window's
running profile (:meth:`Profile.merge`). A merge costs about 10 ms whatever its size (it
hashes both reservoirs), so the writer profiles at most once per
:data:`_PROFILE_INTERVAL` seconds, or when :meth:`LogStore.flush` asks for it.
Profiles are checkpointed to the ``profiles`` table every ``profile_checkpoint`` seconds
and at close, in one transaction together with the id of the last batch they include;
:meth:`LogStore.start` replays the batches written after that id. After a crash the
profiles therefore equal, count for count, the profiles of the rows in the log.
Only the newest window and windows changed since the last checkpoint stay in memory.

Cost
----
Measured on a shared 2-vCPU VM at 50 000 rows/s (500 batches/s of 100 rows × 30 float
inputs, binary classifier outputs, default settings): the writer thread uses 0.16 CPU-s per
second of traffic (SQLite ≈ 0.07, profiles ≈ 0.05, payload encoding ≈ 0.03, checkpoints
and retention ≈ 0.01) and :meth:`LogStore.append` about 3 µs. That is with
``OPENBLAS_NUM_THREADS=1``: by default OpenBLAS runs ``np.dot`` over more than 10 000
values (the profile's sum of squares) on several threads that then spin, which costs the
process another ~0.15 CPU-s per second for nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import sqlite3
import struct
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from modeldeck.core.drift.profile import Profile, ReferenceSpec, profile_frame
from modeldeck.core.errors import DataError
from modeldeck.core.runtime.ids import id_list, parse_id
from modeldeck.core.runtime.outputs import (
    PROBA_PREFIX,
    json_value,
    outputs_frame,
    proba_columns,
    proba_names,
)

log = logging.getLogger("modeldeck.runtime.logstore")

#: Format of the database (``meta.format``); a newer file is refused.
FORMAT = 1
#: Page size of a new log. The WAL writes (and checkpoints) a page per system call: at
#: 13 MB/s of batches, 16 kB pages cut the writer's SQLite CPU by a quarter against the
#: 4 kB default (64 kB: a little more, but a commit of one small batch would then write
#: ~5 × 64 kB to the WAL).
PAGE_SIZE = 16384
#: Seconds a connection waits for another writer's lock before the statement fails.
BUSY_TIMEOUT = 5.0
#: Seconds between retention passes (age, size and profile age); size is also checked
#: after every flush, cheaply.
RETENTION_INTERVAL = 30.0
#: Size retention deletes down to this share of ``max_bytes``, so it does not run again
#: after every flush once the log is full.
SIZE_TARGET = 0.9
#: Longest wait between two attempts of a failing flush.
MAX_RETRY_DELAY = 5.0

_PAYLOAD_MAGIC = b"MDLB"
_PAYLOAD_FORMAT = 1
_COMPRESS_MIN = 512
#: Pending rows are profiled at least this often (seconds), at every flush() and before
#: every checkpoint; more often when they exceed :data:`_PROFILE_ROWS`.
_PROFILE_INTERVAL = 1.0
_PROFILE_ROWS = 100_000
#: Rough per-batch bytes outside the payload (row, index entries), for size retention.
_ROW_OVERHEAD = 96
_RAW_KINDS = "biufcmM"
_F8 = np.dtype(np.float64)
_LITTLE = sys.byteorder == "little"
#: Payload prefixes of number-only layouts: (rows, column names, dtypes) → bytes.
_HEADERS: dict[tuple[Any, ...], bytes] = {}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    boot TEXT NOT NULL,
    first_counter INTEGER NOT NULL,
    n INTEGER NOT NULL,
    source TEXT NOT NULL,
    size INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_ids ON batches (boot, first_counter);
CREATE INDEX IF NOT EXISTS batches_ts ON batches (ts);
CREATE TABLE IF NOT EXISTS feedback (
    boot TEXT NOT NULL,
    counter INTEGER NOT NULL,
    batch INTEGER NOT NULL,
    label TEXT NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (boot, counter)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS feedback_batch ON feedback (batch);
CREATE TABLE IF NOT EXISTS profiles (
    win INTEGER PRIMARY KEY,
    start_ts REAL NOT NULL,
    end_ts REAL NOT NULL,
    n_rows INTEGER NOT NULL,
    inputs BLOB,
    outputs BLOB,
    last_batch INTEGER NOT NULL,
    updated REAL NOT NULL
);
"""


class RowsLike(Protocol):
    """What :class:`LogBatch` needs of its inputs (``validation.Rows`` fits)."""

    @property
    def columns(self) -> Mapping[str, np.ndarray]:
        """Input column name → 1-D array, schema order."""


@dataclass
class LogBatch:
    """One served batch (a request or a folder-mode file).

    Attributes
    ----------
    ts
        Epoch seconds (UTC) when it was served.
    boot, first, n
        Its prediction ids are ``id_list(boot, first, n)``.
    inputs
        The validated inputs: an object with ``.columns`` (name → 1-D array of length
        ``n``, schema order), e.g. ``validation.Rows``.
    predictions
        1-D, length ``n``.
    probabilities
        ``(n, len(classes))`` or ``None``.
    source
        ``"api"``, ``"invocations"`` or ``"folder:<file name>"``.
    """

    ts: float
    boot: str
    first: int
    n: int
    inputs: RowsLike
    predictions: np.ndarray
    probabilities: np.ndarray | None
    source: str = "api"
    times: np.ndarray | None = None


@dataclass(frozen=True)
class WindowProfile:
    """The profiles of one time window ``[start, end)`` of this host's traffic.

    Attributes
    ----------
    start, end
        Timezone-aware UTC bounds.
    rows
        Rows served in the window.
    inputs
        Profile of the inputs against the input spec (``None``: no spec).
    outputs
        Profile of the outputs against the output spec (``None``: no spec).
    """

    start: datetime
    end: datetime
    rows: int
    inputs: Profile | None
    outputs: Profile | None


@dataclass(frozen=True)
class FeedbackResult:
    """What :meth:`LogStore.add_feedback` did.

    Attributes
    ----------
    accepted
        Items stored (or, for a ``None`` label, whose earlier label was removed).
    unknown
        Well-formed ids that are not in the log (never served here, or past retention).
    invalid
        Ids that are not prediction ids at all.
    """

    accepted: int
    unknown: tuple[str, ...]
    invalid: tuple[str, ...]


@dataclass
class _Columns:
    """A decoded batch's inputs (a :class:`RowsLike`)."""

    columns: dict[str, np.ndarray]
    n: int


@dataclass
class _Window:
    rows: int = 0
    inputs: Profile | None = None
    outputs: Profile | None = None
    dirty: bool = False


@dataclass
class Payload:
    """A decoded batch payload (:func:`decode_payload`).

    Attributes
    ----------
    columns
        Input column name → 1-D array, in logged order.
    predictions
        1-D predictions.
    probabilities
        ``(rows, classes)`` or ``None``.
    proba_names
        The ``proba_<class>`` names of the probability columns.
    times
        Per-row serving times (epoch seconds) of a batch joined from several requests
        (:func:`_coalesce`); ``None``: every row has the batch's time.
    """

    columns: dict[str, np.ndarray]
    predictions: np.ndarray
    probabilities: np.ndarray | None
    proba_names: tuple[str, ...]
    times: np.ndarray | None = None


@dataclass
class _Written:
    """A batch on disk whose rows are not in the profiles yet."""

    id: int
    batch: LogBatch
    block: np.ndarray | None = None        # its float64 input columns, (columns, rows)
    block_names: tuple[str, ...] = ()


class LogStore:
    """The prediction log of one host: batches, feedback labels and window profiles.

    Parameters
    ----------
    path
        The SQLite file (created with its folder's permission; the folder must exist).
    task
        ``"classification"`` or ``"regression"``.
    classes
        The model's class labels, in the order of the probability columns.
    input_spec, output_spec
        Reference specs the inputs and outputs are profiled against (``None``: that
        profile is not kept; rows are still counted per window).
    host
        Host name recorded in the profiles.
    window_seconds
        Length of a profile window.
    flush_interval
        Seconds between the writer's flushes (the crash bound, see the module docstring).
    max_batch_rows
        Most rows per write transaction; a backlog this long wakes the writer at once.
    max_backlog_rows
        ``append`` refuses batches (and counts them as dropped) beyond this many queued
        rows. A batch is always accepted into an empty backlog, whatever its size.
    max_bytes
        Size cap of the database; the oldest batches go first.
    max_age_days
        Batches older than this are deleted.
    profile_days
        Window profiles older than this are deleted.
    profile_checkpoint
        Seconds between profile checkpoints (the replay work after a crash).
    profile_sample_rows
        Reservoir rows per window profile. It sets the profiles' disk use: about
        ``rows × numeric features × 8`` bytes per window (2 000 × 30 features: 480 kB; a
        month of hourly windows ≈ 350 MB), on top of ``max_bytes``. Merged windows keep the
        smallest capacity, so this is also the sample the desktop's multivariate tests see.
    clock
        Epoch seconds now; drives retention ages and the checkpoint / retention schedule.
    """

    def __init__(self, path: str | Path, *, task: str, classes: Sequence[Any] | None,
                 input_spec: ReferenceSpec | None = None,
                 output_spec: ReferenceSpec | None = None, host: str | None = None,
                 window_seconds: int = 3600, flush_interval: float = 0.2,
                 max_batch_rows: int = 20_000, max_backlog_rows: int = 500_000,
                 max_bytes: int = 1 << 30, max_age_days: float = 30.0,
                 profile_days: float = 90.0, profile_checkpoint: float = 10.0,
                 profile_sample_rows: int = 2_000,
                 clock: Callable[[], float] = time.time) -> None:
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', not {task!r}")
        if window_seconds <= 0 or flush_interval <= 0 or max_batch_rows <= 0:
            raise ValueError("window_seconds, flush_interval and max_batch_rows must be > 0")
        self.path = Path(path)
        self.task = task
        self.classes = list(classes) if classes is not None else None
        self.input_spec = input_spec
        self.output_spec = output_spec
        self.host = host
        self.window_seconds = int(window_seconds)
        self.flush_interval = float(flush_interval)
        self.max_batch_rows = int(max_batch_rows)
        self.max_backlog_rows = int(max_backlog_rows)
        self.max_bytes = int(max_bytes)
        self.max_age_days = float(max_age_days)
        self.profile_days = float(profile_days)
        self.profile_sample_rows = int(profile_sample_rows)
        self.profile_checkpoint = float(profile_checkpoint)
        self._clock = clock
        self._proba_names = (proba_names(self.classes)
                             if self.classes is not None else None)

        # Queue state, guarded by _lock (append runs on request threads).
        self._lock = threading.Lock()
        self._queue: deque[tuple[int, LogBatch]] = deque()
        self._seq = 0                # sequence number of the last appended batch
        self._done_seq = 0           # every batch up to this one has left the queue
        self._backlog_rows = 0
        self._rows_written = 0
        self._dropped_rows = 0
        self._dropping = False
        self._closed = False
        self._flush_errors = 0
        self.last_error: str | None = None

        # Writer handshake for flush(): a ticket per request, served after a full cycle.
        self._cond = threading.Condition()
        self._requested = 0
        self._served = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        # Writer-owned state (the writer thread, or start()/close() around it).
        self._conn: sqlite3.Connection | None = None
        self._unprofiled: list[_Written] = []
        self._unprofiled_rows = 0
        self._profiled_at = 0.0
        self._profiled_id = 0        # last batch id included in the profiles
        self._checkpoint_id = 0      # last batch id included in the checkpointed profiles
        self._checkpointed_at = 0.0
        self._retained_at = 0.0
        self._retry_delay = self.flush_interval
        self._profile_bytes = 0          # bytes of the stored window profiles
        self._close_deadline = math.inf

        # Window profiles: written by the writer, read by profiles().
        self._profile_lock = threading.Lock()
        self._windows: dict[int, _Window] = {}

        # Queries (profiles, rows, feedback, stats) from any thread, one at a time.
        self._query_lock = threading.Lock()
        self._query: sqlite3.Connection | None = None

    # ------------------------------------------------------------------ counters

    @property
    def backlog_rows(self) -> int:
        """Rows appended but not yet written."""
        return self._backlog_rows

    @property
    def rows_written(self) -> int:
        """Rows written to the database since :meth:`start`."""
        return self._rows_written

    @property
    def dropped_rows(self) -> int:
        """Rows never logged: backlog full, appended after close, or unencodable."""
        return self._dropped_rows

    @property
    def flush_errors(self) -> int:
        """Failed writer steps (a flush, a checkpoint, a retention pass); see
        :attr:`last_error`."""
        return self._flush_errors

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Open (or create) the database, replay the batches the checkpointed profiles
        lack, apply retention and start the writer thread.

        Raises
        ------
        DataError
            The file is not a prediction log (or is of a newer format) or cannot be opened.
        RuntimeError
            Called twice, or after :meth:`close`.
        """
        if self._thread is not None or self._closed:
            raise RuntimeError("LogStore.start() may be called once, before close()")
        try:
            conn = _connect(self.path)
        except sqlite3.OperationalError as exc:
            raise DataError(f"cannot open the prediction log {self.path}: {exc}",
                            "check the folder exists and is writable") from None
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{self.path} is not a usable prediction log: {exc}",
                            "move the file away; the server creates a new log") from None
        try:
            self._open(conn)
            self._conn = conn
            self._query = _connect(self.path)
        except sqlite3.DatabaseError as exc:
            conn.close()
            self._conn = None
            raise DataError(f"{self.path} is not a usable prediction log: {exc}",
                            "move the file away; the server creates a new log") from None
        except BaseException:
            conn.close()
            self._conn = None
            raise
        self._checkpointed_at = self._retained_at = self._clock()
        self._profiled_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="modeldeck-logstore-writer",
                                        daemon=True)
        self._thread.start()

    def _open(self, conn: sqlite3.Connection) -> None:
        # page_size and auto_vacuum take effect only before the first table exists.
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.DatabaseError(f"cannot switch to WAL mode (got {mode})")
        conn.execute("PRAGMA journal_size_limit=67108864")
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        fmt = int(meta.get("format", FORMAT))
        if fmt > FORMAT:
            conn.execute("ROLLBACK")
            raise DataError(f"the prediction log {self.path} has format {fmt}, newer than "
                            f"this server reads ({FORMAT})", "upgrade the server, or move "
                            "the file away")
        key = self._profile_key()
        checkpoint = int(meta.get("checkpoint", 0))
        if meta.get("profile_key", key) != key:
            # The profiles were made against another reference (another model version) or
            # another window length: they cannot merge with new ones.
            count = conn.execute("SELECT count(*) FROM profiles").fetchone()[0]
            conn.execute("DELETE FROM profiles")
            checkpoint = _last_batch_id(conn)
            log.warning("the prediction log's profiles were made for another model spec "
                        "or window length: %d window profiles discarded, profiling anew "
                        "from batch %d", count, checkpoint + 1)
        conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                         [("format", str(FORMAT)), ("profile_key", key),
                          ("checkpoint", str(checkpoint))])
        conn.execute("COMMIT")
        self._checkpoint_id = self._profiled_id = checkpoint
        self._profile_bytes = _profile_bytes(conn)
        self._replay(conn, checkpoint)
        self._maintain(conn, self._clock(), retention=True, force_checkpoint=False)

    def _profile_key(self) -> str:
        parts = {"inputs": self.input_spec.digest if self.input_spec else None,
                 "outputs": self.output_spec.digest if self.output_spec else None,
                 "window_seconds": self.window_seconds, "task": self.task,
                 "proba": self._proba_names}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def _replay(self, conn: sqlite3.Connection, after: int) -> None:
        """Profile the batches written after the last checkpoint (a crash's gap)."""
        replayed = rows = 0
        cursor = conn.execute("SELECT id, ts, boot, first_counter, n, source, payload "
                              "FROM batches WHERE id > ? ORDER BY id", (after,))
        try:
            while True:
                chunk = cursor.fetchmany(256)
                if not chunk:
                    break
                for id_, ts, boot, first, n, source, payload in chunk:
                    try:
                        decoded = decode_payload(payload)
                    except DataError as exc:
                        log.error("batch %d of the prediction log is unreadable (%s); "
                                  "its rows are left out of the profiles", id_, exc)
                        continue
                    batch = LogBatch(ts, boot, first, n, _Columns(decoded.columns, n),
                                     decoded.predictions, decoded.probabilities, source)
                    self._unprofiled.append(_Written(id_, batch))
                    self._unprofiled_rows += n
                    replayed += 1
                    rows += n
                    if self._unprofiled_rows >= self.max_batch_rows:
                        self._profile_pending(conn)
                self._profiled_id = max(self._profiled_id, chunk[-1][0])
        finally:
            cursor.close()
        self._profile_pending(conn)
        if replayed:
            log.info("replayed %d batches (%d rows) into the window profiles", replayed, rows)

    def append(self, batch: LogBatch) -> bool:
        """Queue a served batch for the log (never waits on the disk).

        Returns
        -------
        bool
            ``False`` when the batch is dropped (and counted in :attr:`dropped_rows`):
            the backlog is full, or the store is closed.

        Raises
        ------
        ValueError
            The predictions or probabilities do not have ``batch.n`` rows.
        """
        n = batch.n
        if len(batch.predictions) != n or (batch.probabilities is not None
                                           and len(batch.probabilities) != n):
            raise ValueError(f"a batch of {n} rows with {len(batch.predictions)} predictions")
        with self._lock:
            if self._closed or (self._backlog_rows
                                and self._backlog_rows + n > self.max_backlog_rows):
                self._dropped_rows += n
                first_drop, self._dropping = not self._dropping, True
                closed = self._closed
            else:
                self._seq += 1
                self._queue.append((self._seq, batch))
                self._backlog_rows += n
                self._dropping = False
                if self._backlog_rows >= self.max_batch_rows:
                    self._wake.set()
                return True
        if first_drop:
            log.warning("prediction log %s: dropping rows (%s); see dropped_rows",
                        self.path, "closed" if closed else
                        f"backlog of {self.max_backlog_rows} rows full")
        return False

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything appended so far is on disk and in the profiles.

        Returns
        -------
        bool
            ``True`` when it is; ``False`` on timeout, when the writer's attempt failed
            (see :attr:`last_error`; the batches stay queued and are retried), or when
            the writer is not running and batches are queued.
        """
        with self._lock:
            target = self._seq
        thread = self._thread
        if thread is None or not thread.is_alive():
            with self._lock:
                return self._done_seq >= target
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._requested += 1
            ticket = self._requested
        self._wake.set()
        with self._cond:
            while self._served < ticket:
                remaining = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if remaining <= 0 or not thread.is_alive():
                    break
                self._cond.wait(remaining)
        with self._lock:
            return self._done_seq >= target

    def close(self, timeout: float = 10.0) -> None:
        """Flush, checkpoint the profiles, stop the writer and close the database.

        Batches that cannot be written within ``timeout`` are counted as dropped (and
        logged). Safe to call twice.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        thread = self._thread
        self._close_deadline = time.monotonic() + timeout
        stuck = False
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join(timeout)
            stuck = thread.is_alive()
            if stuck:
                log.error("the prediction log writer did not stop within %.1f s", timeout)
        with self._lock:
            lost = self._backlog_rows
            if lost and not stuck:
                self._dropped_rows += lost
                self._backlog_rows = 0
                self._queue.clear()
        if lost:
            log.error("prediction log %s closed with %d rows not written", self.path, lost)
        with self._query_lock:
            if self._query is not None:
                self._query.close()
                self._query = None
        if self._conn is not None and not stuck:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ writer

    def _run(self) -> None:
        conn = self._conn
        assert conn is not None
        failures = 0
        while True:
            if not self._stop.is_set():
                self._wake.wait(self._retry_delay if failures else self.flush_interval)
            self._wake.clear()
            stopping = self._stop.is_set()
            with self._cond:
                ticket = self._requested
            try:
                ok = self._cycle(conn, final=stopping, forced=ticket > self._served)
            except Exception as exc:  # noqa: BLE001 - the writer never dies
                self._error("the prediction log writer failed", exc)
                ok = False
            failures = 0 if ok else failures + 1
            self._retry_delay = min(MAX_RETRY_DELAY, self.flush_interval * 2 ** failures)
            with self._cond:
                self._served = max(self._served, ticket)
                self._cond.notify_all()
            if stopping:
                if ok or self._backlog_rows == 0 or time.monotonic() >= self._close_deadline:
                    break
                time.sleep(min(self._retry_delay, max(0.0, self._close_deadline
                                                       - time.monotonic())))
            elif self._backlog_rows >= self.max_batch_rows:
                self._wake.set()

    def _cycle(self, conn: sqlite3.Connection, final: bool, forced: bool) -> bool:
        """Write the queue, update the profiles when due, maintain when due.

        The queue is written again right after each slower step (profiling, a checkpoint,
        retention), so rows never wait for those longer than they take."""
        if not self._drain(conn):
            return False
        tick = time.monotonic()
        if self._unprofiled and (final or forced or self._unprofiled_rows >= _PROFILE_ROWS
                                 or tick - self._profiled_at >= _PROFILE_INTERVAL):
            self._profile_pending(conn)
            self._profiled_at = tick
            if not self._drain(conn):
                return False
        now = self._clock()
        retention = not 0 <= now - self._retained_at < RETENTION_INTERVAL
        try:
            self._maintain(conn, now, retention=retention, force_checkpoint=final)
        except sqlite3.Error as exc:
            self._error("prediction log maintenance (checkpoint / retention) failed", exc)
            return False
        return self._drain(conn)

    def _drain(self, conn: sqlite3.Connection) -> bool:
        """Write the batches queued now, ``max_batch_rows`` rows per transaction."""
        with self._lock:
            todo = len(self._queue)
        while todo > 0:
            with self._lock:
                chunk: list[tuple[int, LogBatch]] = []
                rows = 0
                for item in itertools.islice(self._queue, 0, todo):
                    if chunk and rows + item[1].n > self.max_batch_rows:
                        break
                    chunk.append(item)
                    rows += item[1].n
            try:
                self._write(conn, chunk)
            except sqlite3.Error as exc:
                self._error(f"writing {rows} rows to the prediction log failed "
                            "(kept queued, retrying)", exc)
                return False
            todo -= len(chunk)
        return True

    def _write(self, conn: sqlite3.Connection, chunk: list[tuple[int, LogBatch]]) -> None:
        records = []
        good: list[_Written] = []
        bad_rows = 0
        for joined, parts in _coalesce([batch for _seq, batch in chunk], self.window_seconds):
            try:
                encoded = [(joined, _encode(joined.inputs.columns, joined.predictions,
                                            joined.probabilities, self._proba_names,
                                            joined.times))]
            except Exception:  # noqa: BLE001 - retried part by part below
                encoded = []
                for batch in parts:
                    try:
                        encoded.append((batch, _encode(batch.inputs.columns, batch.predictions,
                                                       batch.probabilities, self._proba_names,
                                                       batch.times)))
                    except Exception as exc:  # noqa: BLE001 - one bad batch must not block
                        log.error("a batch of %d rows cannot be encoded and is not logged: "
                                  "%s", batch.n, exc)
                        bad_rows += batch.n
            for batch, (payload, block, names) in encoded:
                records.append((float(batch.ts), batch.boot, int(batch.first), int(batch.n),
                                batch.source, len(payload), payload))
                good.append(_Written(0, batch, block, names))
        last_id = 0
        if records:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO batches (ts, boot, first_counter, n, source, size, payload) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", records)
                last_id = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        written = sum(w.batch.n for w in good)
        with self._lock:
            for _ in chunk:
                self._queue.popleft()
            self._backlog_rows -= written + bad_rows
            self._rows_written += written
            self._dropped_rows += bad_rows
            self._done_seq = chunk[-1][0]
        # AUTOINCREMENT ids of one transaction by the only writer are consecutive.
        first_id = last_id - len(good) + 1
        for i, item in enumerate(good):
            item.id = first_id + i
        self._unprofiled.extend(good)
        self._unprofiled_rows += written

    def _profile_pending(self, conn: sqlite3.Connection) -> None:
        """Profile every written-but-unprofiled batch: one profile_frame per window (and
        column layout), one merge into the window's running profile.

        Batches whose window profile cannot be read back from the database stay pending
        (retried later, and no checkpoint is written meanwhile); batches that fail to
        profile are left out, with an error (a replay after a crash fails the same way).
        """
        pending, self._unprofiled, self._unprofiled_rows = self._unprofiled, [], 0
        if not pending:
            return
        groups: dict[tuple[Any, ...], list[_Written]] = {}
        for item in pending:
            b = item.batch
            key = (int(b.ts // self.window_seconds), tuple(b.inputs.columns),
                   b.probabilities is None)
            groups.setdefault(key, []).append(item)
        failed: list[_Written] = []
        for (win, _names, _no_proba), items in groups.items():
            try:
                state = self._window(conn, win)
            except sqlite3.Error as exc:
                self._error(f"reading the profile of window {win} failed (retrying)", exc)
                failed.extend(items)
                continue
            try:
                increment = self._profile_group(win, items)
            except Exception as exc:  # noqa: BLE001 - the rows are on disk; keep going
                self._error(f"profiling {sum(i.batch.n for i in items)} rows of window {win} "
                            "failed; they are left out of its profile", exc)
                continue
            merged = _Window(
                rows=state.rows + increment.rows,
                inputs=_merge(state.inputs, increment.inputs),
                outputs=_merge(state.outputs, increment.outputs), dirty=True)
            with self._profile_lock:
                self._windows[win] = merged
        # With nothing pending, every batch up to this id is in the profiles.
        self._profiled_id = max(self._profiled_id, max(item.id for item in pending))
        if failed:
            failed.sort(key=lambda item: item.id)
            self._unprofiled = failed + self._unprofiled
            self._unprofiled_rows = sum(item.batch.n for item in self._unprofiled)

    def _profile_group(self, win: int, items: list[_Written]) -> _Window:
        start, end = self._bounds(win)
        batches = [item.batch for item in items]
        rows = sum(b.n for b in batches)
        inputs = outputs = None
        if self.input_spec is not None:
            table: dict[str, Any] = {}
            names = items[0].block_names
            if names and all(item.block_names == names for item in items):
                # One concatenation for all float columns (a row per column).
                block = np.concatenate([item.block for item in items], axis=1)
                table.update(zip(names, block))
            for name in batches[0].inputs.columns:
                if name not in table:
                    table[name] = _profile_column(np.concatenate(
                        [np.asarray(b.inputs.columns[name]) for b in batches]))
            inputs = profile_frame(self.input_spec, table, window=(start, end),
                                   host=self.host, sample_size=self.profile_sample_rows)
        if self.output_spec is not None:
            predictions = np.concatenate([np.asarray(b.predictions) for b in batches])
            proba = (None if batches[0].probabilities is None else
                     np.concatenate([np.asarray(b.probabilities, dtype=np.float64)
                                     for b in batches]))
            outputs = profile_frame(self.output_spec,
                                    _outputs_columns(predictions, proba, self.classes,
                                                     self.task),
                                    window=(start, end), host=self.host,
                                    sample_size=self.profile_sample_rows)
        return _Window(rows, inputs, outputs)

    def _window(self, conn: sqlite3.Connection, win: int) -> _Window:
        """A window's running state: in memory, else its checkpoint, else empty."""
        state = self._windows.get(win)
        if state is not None:
            return state
        row = conn.execute("SELECT n_rows, inputs, outputs FROM profiles WHERE win = ?",
                           (win,)).fetchone()
        if row is None:
            return _Window()
        try:
            return _Window(int(row[0]), _load_profile(row[1]), _load_profile(row[2]))
        except DataError as exc:
            self._error(f"the stored profile of window {win} is unreadable; it restarts "
                        "from the new rows", exc)
            return _Window()

    def _maintain(self, conn: sqlite3.Connection, now: float, *, retention: bool,
                  force_checkpoint: bool) -> None:
        if force_checkpoint or not 0 <= now - self._checkpointed_at < self.profile_checkpoint:
            self._checkpoint(conn, now)
        if retention:
            self._retain(conn, now)
            self._retained_at = now
        elif _file_bytes(conn) - self._profile_bytes > self.max_bytes:
            self._retain(conn, now, by_age=False)

    def _checkpoint(self, conn: sqlite3.Connection, now: float) -> None:
        """Write every changed window and the id of the last batch they include, in one
        transaction; then forget all but the newest window."""
        if self._unprofiled:
            self._profile_pending(conn)
            if self._unprofiled:
                return  # the profiles lack some batches: no consistent checkpoint now
        self._checkpointed_at = now
        dirty = [(w, s) for w, s in self._windows.items() if s.dirty]
        if not dirty and self._checkpoint_id == self._profiled_id:
            return
        records = []
        for win, state in dirty:
            start, end = self._bounds(win)
            records.append((win, start.timestamp(), end.timestamp(), state.rows,
                            state.inputs.to_bytes() if state.inputs is not None else None,
                            state.outputs.to_bytes() if state.outputs is not None else None,
                            self._profiled_id, now))
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR REPLACE INTO profiles (win, start_ts, end_ts, n_rows, "
                             "inputs, outputs, last_batch, updated) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", records)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'checkpoint'",
                         (str(self._profiled_id),))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        self._checkpoint_id = self._profiled_id
        self._profile_bytes = _profile_bytes(conn)
        newest = max(self._windows, default=None)
        with self._profile_lock:
            for win, state in dirty:
                state.dirty = False
            self._windows = {w: s for w, s in self._windows.items() if w == newest}

    def _retain(self, conn: sqlite3.Connection, now: float, by_age: bool = True) -> None:
        """Delete batches past ``max_age_days``, the oldest ones while the batches take
        more than ``max_bytes``, profiles past ``profile_days``; give the space back."""
        # Deleted batches must already be in the checkpointed profiles, or a crash right
        # after this pass would leave their rows out of the profiles for good.
        if self._checkpoint_id != self._profiled_id or self._unprofiled or any(
                s.dirty for s in self._windows.values()):
            self._checkpoint(conn, now)
            if self._unprofiled:
                return
        deleted = 0
        if by_age:
            cutoff = now - self.max_age_days * 86400.0
            deleted += self._delete(conn, "ts < ?", (cutoff,))
            profile_cutoff = now - self.profile_days * 86400.0
            conn.execute("DELETE FROM profiles WHERE end_ts <= ?", (profile_cutoff,))
            with self._profile_lock:
                self._windows = {w: s for w, s in self._windows.items()
                                 if self._bounds(w)[1].timestamp() > profile_cutoff}
            self._profile_bytes = _profile_bytes(conn)
        # max_bytes caps the log proper; the window profiles (bounded by profile_days)
        # come on top, or a long profile history would eat the whole log.
        for _ in range(8):
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            if pages * page_size - self._profile_bytes <= self.max_bytes:
                break
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            excess = ((pages - free) * page_size - self._profile_bytes
                      - int(self.max_bytes * SIZE_TARGET))
            last = None
            if excess > 0:
                freed = 0
                cursor = conn.execute("SELECT id, size FROM batches ORDER BY id")
                try:
                    for id_, size in cursor:
                        # A payload longer than a quarter page spills into whole pages.
                        freed += (size + _ROW_OVERHEAD if size < page_size // 4
                                  else -(-size // (page_size - 4)) * page_size)
                        last = id_
                        if freed >= excess:
                            break
                finally:
                    cursor.close()
            if last is not None:
                deleted += self._delete(conn, "id <= ?", (last,))
            _vacuum(conn)
            if last is None:
                break
        else:
            log.warning("prediction log %s is still over max_bytes after retention",
                        self.path)
        if deleted:
            _vacuum(conn)
            log.info("retention: deleted %d batches from the prediction log", deleted)

    @staticmethod
    def _delete(conn: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> int:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"DELETE FROM feedback WHERE batch IN "
                         f"(SELECT id FROM batches WHERE {where})", args)
            count = conn.execute(f"DELETE FROM batches WHERE {where}", args).rowcount
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return int(count)

    def _error(self, what: str, exc: BaseException) -> None:
        self._flush_errors += 1
        self.last_error = f"{what}: {type(exc).__name__}: {exc}"
        log.error("%s", self.last_error, exc_info=not isinstance(exc, sqlite3.Error))

    def _bounds(self, win: int) -> tuple[datetime, datetime]:
        start = win * self.window_seconds
        return (datetime.fromtimestamp(start, timezone.utc),
                datetime.fromtimestamp(start + self.window_seconds, timezone.utc))

    # ------------------------------------------------------------------ queries

    def _connection(self) -> sqlite3.Connection:
        if self._query is None:
            raise RuntimeError("the prediction log is not open: call start() first")
        return self._query

    def profiles(self, since: datetime | None = None, until: datetime | None = None
                 ) -> list[WindowProfile]:
        """The window profiles overlapping ``[since, until)``, oldest first.

        Naive datetimes are taken as UTC. Windows with rows not yet flushed show what the
        writer has profiled so far (call :meth:`flush` first for everything).
        """
        lo = -math.inf if since is None else _epoch(since)
        hi = math.inf if until is None else _epoch(until)
        with self._profile_lock:
            memory = {w: s for w, s in self._windows.items()
                      if self._overlaps(w, lo, hi)}
        out: dict[int, WindowProfile] = {}
        with self._query_lock:
            conn = self._connection()
            rows = conn.execute("SELECT win, n_rows, inputs, outputs FROM profiles "
                                "WHERE end_ts > ? AND start_ts < ? ORDER BY win",
                                (max(lo, -1e300), min(hi, 1e300))).fetchall()
        for win, n_rows, inputs, outputs in rows:
            if win in memory:
                continue
            start, end = self._bounds(win)
            out[win] = WindowProfile(start, end, int(n_rows), _load_profile(inputs),
                                     _load_profile(outputs))
        for win, state in memory.items():
            start, end = self._bounds(win)
            out[win] = WindowProfile(start, end, state.rows, state.inputs, state.outputs)
        return [out[w] for w in sorted(out)]

    def _overlaps(self, win: int, lo: float, hi: float) -> bool:
        start = win * self.window_seconds
        return start < hi and start + self.window_seconds > lo

    def add_feedback(self, items: Sequence[tuple[str, Any]]) -> FeedbackResult:
        """Record the true label of logged predictions.

        The backlog is flushed first, so ids served just now are found. A second label for
        an id replaces the first; a ``None`` (or NaN) label removes the id's label.

        Parameters
        ----------
        items
            ``(prediction id, label)`` pairs; labels are stored as JSON.

        Returns
        -------
        FeedbackResult
            Accepted count, ids not in the log, ids that are not prediction ids.
        """
        self.flush()
        invalid: list[str] = []
        parsed: list[tuple[str, str, int, str | None]] = []
        for pid, label in items:
            key = parse_id(pid) if isinstance(pid, str) else None
            if key is None:
                invalid.append(pid if isinstance(pid, str) else repr(pid))
                continue
            value = json_value(label)
            parsed.append((pid, key[0], key[1],
                           None if value is None else json.dumps(value, default=_json_default)))
        unknown: list[str] = []
        accepted = 0
        now = self._clock()
        with self._query_lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for pid, boot, counter, text in parsed:
                    row = conn.execute(
                        "SELECT id, first_counter, n FROM batches WHERE boot = ? AND "
                        "first_counter <= ? ORDER BY first_counter DESC LIMIT 1",
                        (boot, counter)).fetchone()
                    if row is None or counter >= row[1] + row[2]:
                        unknown.append(pid)
                        continue
                    if text is None:
                        conn.execute("DELETE FROM feedback WHERE boot = ? AND counter = ?",
                                     (boot, counter))
                    else:
                        conn.execute("INSERT OR REPLACE INTO feedback (boot, counter, batch, "
                                     "label, ts) VALUES (?, ?, ?, ?, ?)",
                                     (boot, counter, row[0], text, now))
                    accepted += 1
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        return FeedbackResult(accepted, tuple(unknown), tuple(invalid))

    def rows(self, since: datetime | None = None, until: datetime | None = None,
             limit: int = 10_000, labeled_only: bool = False) -> pd.DataFrame:
        """Logged rows served in ``[since, until)``, oldest first.

        Parameters
        ----------
        since, until
            Bounds on the serving time (naive datetimes are UTC); ``None``: open.
        limit
            At most this many rows (the oldest ones).
        labeled_only
            Only rows with a feedback label.

        Returns
        -------
        pandas.DataFrame
            ``prediction_id``, ``ts`` (``datetime64[ns, UTC]``), ``source``, the input
            columns, ``prediction``, ``proba_<class>`` and ``label`` (``None`` when no
            feedback).
        """
        lo = -1e300 if since is None else _epoch(since)
        hi = 1e300 if until is None else _epoch(until)
        # a joined batch's rows were served up to COALESCE_SECONDS after its own time
        where = "ts >= ? AND ts < ?"
        if labeled_only:
            where += " AND id IN (SELECT batch FROM feedback)"
        parts: list[_Part] = []
        total = 0
        with self._query_lock:
            conn = self._connection()
            conn.execute("BEGIN")  # one snapshot for the batches and their labels
            try:
                cursor = conn.execute(
                    "SELECT id, ts, boot, first_counter, n, source, payload FROM batches "
                    f"WHERE {where} ORDER BY ts, id", (lo - COALESCE_SECONDS, hi))
                try:
                    while total < limit:
                        chunk = cursor.fetchmany(128)
                        if not chunk:
                            break
                        labels = _labels(conn, [r[0] for r in chunk])
                        for id_, ts, boot, first, n, source, payload in chunk:
                            part = _rows_part(ts, boot, first, n, source, payload,
                                              labels.get(id_))
                            if (part.ts < lo).any() or (part.ts >= hi).any():
                                part = part.take((part.ts >= lo) & (part.ts < hi))
                            if labeled_only:
                                part = part.take(np.fromiter(
                                    (v is not None for v in part.label), bool, n))
                            if total + len(part.label) > limit:
                                part = part.take(slice(0, limit - total))
                            if len(part.label):
                                parts.append(part)
                                total += len(part.label)
                            if total >= limit:
                                break
                finally:
                    cursor.close()
            finally:
                conn.execute("COMMIT")
        return _rows_frame(parts, self._proba_names)

    def stats(self) -> dict[str, Any]:
        """What the log holds.

        Returns
        -------
        dict
            ``rows``, ``batches``, ``bytes`` (database size, the retention measure),
            ``wal_bytes``, ``oldest`` / ``newest`` (serving times, UTC datetimes or
            ``None``), ``labels``, ``windows`` (window profiles), and the writer counters
            ``backlog_rows``, ``rows_written``, ``dropped_rows``, ``flush_errors``,
            ``last_error``.
        """
        with self._query_lock:
            conn = self._connection()
            batches, rows, oldest, newest = conn.execute(
                "SELECT count(*), coalesce(sum(n), 0), min(ts), max(ts) FROM batches"
            ).fetchone()
            labels = conn.execute("SELECT count(*) FROM feedback").fetchone()[0]
            stored = {w for (w,) in conn.execute("SELECT win FROM profiles")}
            size = _file_bytes(conn)
        with self._profile_lock:
            windows = len(stored | set(self._windows))
        wal = Path(f"{self.path}-wal")
        return {"rows": int(rows), "batches": int(batches), "bytes": size,
                "wal_bytes": wal.stat().st_size if wal.exists() else 0,
                "oldest": _utc(oldest), "newest": _utc(newest), "labels": int(labels),
                "windows": windows, "backlog_rows": self.backlog_rows,
                "rows_written": self.rows_written, "dropped_rows": self.dropped_rows,
                "flush_errors": self.flush_errors, "last_error": self.last_error}


# --------------------------------------------------------------------------- payloads


#: Consecutive batches are stored as one when they were served at most this far apart.
COALESCE_SECONDS = 1.0


def _coalesce(batches: list[LogBatch], window_seconds: int
              ) -> list[tuple[LogBatch, list[LogBatch]]]:
    """Join runs of batches that continue each other into one batch each.

    A run is joined when its ids are contiguous (same boot, each batch's first counter right
    after the previous one's last), its source, window, column names and dtypes and the
    presence of probabilities agree, and it spans at most :data:`COALESCE_SECONDS`. One
    request per batch would otherwise cost one payload encoding and one row each; at 1 000
    single-row requests a second that is most of the writer's work. The joined batch has the
    first batch's time and carries every row's own time (``times``). Returns each joined
    batch with the batches it was made of.
    """
    out: list[tuple[LogBatch, list[LogBatch]]] = []
    run: list[LogBatch] = []

    def close_run() -> None:
        if len(run) == 1:
            out.append((run[0], [run[0]]))
        elif run:
            head = run[0]
            names = list(head.inputs.columns)
            columns = {name: np.concatenate([np.asarray(b.inputs.columns[name]) for b in run])
                       for name in names}
            proba = (None if head.probabilities is None else
                     np.concatenate([np.asarray(b.probabilities) for b in run]))
            times = np.concatenate([b.times if b.times is not None else np.full(b.n, b.ts)
                                    for b in run]).astype(np.float64)
            out.append((LogBatch(
                ts=head.ts, boot=head.boot, first=head.first, n=sum(b.n for b in run),
                inputs=_Columns(columns, sum(b.n for b in run)),
                predictions=np.concatenate([np.asarray(b.predictions) for b in run]),
                probabilities=proba, source=head.source, times=times), list(run)))
        run.clear()

    for batch in batches:
        if run and _continues(run[0], run[-1], batch, window_seconds):
            run.append(batch)
            continue
        close_run()
        run.append(batch)
    close_run()
    return out


def _continues(head: LogBatch, last: LogBatch, batch: LogBatch, window_seconds: int) -> bool:
    if (batch.boot != last.boot or batch.first != last.first + last.n
            or batch.source != head.source
            or batch.ts - head.ts > COALESCE_SECONDS or batch.ts < head.ts
            or int(batch.ts // window_seconds) != int(head.ts // window_seconds)
            or (batch.probabilities is None) != (head.probabilities is None)):
        return False
    a, b = head.inputs.columns, batch.inputs.columns
    if list(a) != list(b):
        return False
    # the same kind of values (strings of other lengths join fine)
    if np.asarray(batch.predictions).dtype.kind != np.asarray(head.predictions).dtype.kind:
        return False
    return all(np.asarray(a[k]).dtype.kind == np.asarray(b[k]).dtype.kind for k in a)


def encode_payload(columns: Mapping[str, np.ndarray], predictions: np.ndarray,
                   probabilities: np.ndarray | None,
                   proba_names: Sequence[str] | None = None) -> bytes:
    """One batch's inputs and outputs as a payload blob (see the module docstring).

    Parameters
    ----------
    columns
        Input column name → 1-D array (all of the same length as ``predictions``).
    predictions
        1-D predictions.
    probabilities
        ``(rows, classes)`` or ``None``.
    proba_names
        The names of the probability columns (``proba_<class>``); ``proba_<i>`` if
        ``None``.

    Raises
    ------
    ValueError
        Columns of different lengths, or probabilities that do not fit ``proba_names``.
    """
    return _encode(columns, predictions, probabilities, proba_names)[0]


def _encode(columns: Mapping[str, np.ndarray], predictions: np.ndarray,
            probabilities: np.ndarray | None, proba_names: Sequence[str] | None,
            times: np.ndarray | None = None
            ) -> tuple[bytes, np.ndarray | None, tuple[str, ...]]:
    """The payload, plus the float64 input block ``(columns, rows)`` and its column names
    (the writer profiles the concatenated blocks of many batches in one go)."""
    predictions = np.asarray(predictions)
    n = len(predictions)
    floats: list[np.ndarray] = []
    float_names: list[str] = []
    entries: list[list[Any]] = []
    raws: list[Any] = []
    has_json = False
    for name, values in columns.items():
        arr = values if type(values) is np.ndarray else np.asarray(values)
        if len(arr) != n:
            raise ValueError(f"column {name!r} has {len(arr)} values, not {n}")
        if arr.dtype is _F8 and arr.ndim == 1:
            floats.append(arr)
            float_names.append(name)
        else:
            has_json |= _add_array(entries, raws, "i", name, arr)
    items: list[tuple[str, Any, np.ndarray]] = [("p", "prediction", predictions)]
    if probabilities is not None:
        proba = np.asarray(probabilities, dtype=np.float64)
        names = (list(proba_names) if proba_names is not None
                 else [f"{PROBA_PREFIX}{i}" for i in range(proba.shape[1])])
        if proba.ndim != 2 or proba.shape != (n, len(names)):
            raise ValueError(f"probabilities of shape {proba.shape} for {n} rows and "
                             f"{len(names)} classes")
        items.append(("q", names, proba))
    if times is not None:
        items.append(("t", "ts", np.asarray(times, dtype=np.float64)))
    for role, name, arr in items:
        if len(arr) != n:
            raise ValueError(f"{name!r} has {len(arr)} values, not {n}")
        has_json |= _add_array(entries, raws, role, name, arr)
    block = None
    if floats:
        block = np.concatenate(floats).reshape(len(floats), n)
        entries.insert(0, ["I", float_names, "<f8", [len(floats), n]])
        raws.insert(0, _raw_bytes(block))
    order = list(columns)
    if has_json:
        head = json.dumps({"n": n, "a": entries, "o": order}, separators=(",", ":"),
                          default=_json_default).encode()
        flags = 0
        if len(head) > _COMPRESS_MIN:
            packed = zlib.compress(head, 1)
            if len(packed) < len(head):
                head, flags = packed, 1
        prefix = b"".join([_PAYLOAD_MAGIC, bytes((_PAYLOAD_FORMAT, flags)),
                           struct.pack("<I", len(head)), head])
    else:
        # Numbers only: the header depends on the layout alone, so it is made once.
        key = (n, tuple(order), tuple(e[0] for e in entries), tuple(e[2] for e in entries),
               tuple(tuple(e[1]) if isinstance(e[1], list) else e[1] for e in entries))
        cached = _HEADERS.get(key)
        if cached is not None:
            prefix = cached
        else:
            head = json.dumps({"n": n, "a": entries, "o": order},
                              separators=(",", ":")).encode()
            prefix = b"".join([_PAYLOAD_MAGIC, bytes((_PAYLOAD_FORMAT, 0)),
                               struct.pack("<I", len(head)), head])
            if len(_HEADERS) >= 256:
                _HEADERS.clear()
            _HEADERS[key] = prefix
    return b"".join([prefix, *raws]), block, tuple(float_names)


def _add_array(entries: list[list[Any]], raws: list[Any], role: str, name: Any,
               arr: np.ndarray) -> bool:
    """Append one array's header entry (and raw bytes); ``True`` when it went to JSON."""
    if arr.dtype.kind in _RAW_KINDS:
        if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and not _LITTLE):
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        arr = np.ascontiguousarray(arr)
        entries.append([role, name, arr.dtype.newbyteorder("<").str, list(arr.shape)])
        raws.append(_raw_bytes(arr))
        return False
    entries.append([role, name, "json", arr.tolist()])
    return True


def _raw_bytes(arr: np.ndarray) -> memoryview:
    # A byte view (no copy); datetime64 has no buffer interface of its own.
    return arr.reshape(-1).view(np.uint8).data


def decode_payload(data: bytes) -> Payload:
    """Inverse of :func:`encode_payload`.

    Raises
    ------
    DataError
        ``data`` is not a payload, is truncated or of a newer format.
    """
    if data[:4] != _PAYLOAD_MAGIC or len(data) < 10:
        raise DataError("not a prediction log payload", "the log file is damaged")
    if data[4] > _PAYLOAD_FORMAT:
        raise DataError(f"payload format {data[4]} is newer than this server reads",
                        "upgrade the server")
    try:
        (length,) = struct.unpack_from("<I", data, 6)
        head = data[10:10 + length]
        if data[5] & 1:
            head = zlib.decompress(head)
        header = json.loads(head)
        n = int(header["n"])
        offset = 10 + length
        columns: dict[str, np.ndarray] = {}
        out = Payload({}, np.zeros(0), None, ())
        for role, name, dtype, spec in header["a"]:
            if dtype == "json":
                arr = np.empty(len(spec), dtype=object)
                arr[:] = spec
            else:
                dt = np.dtype(dtype)
                shape = tuple(int(s) for s in spec)
                count = math.prod(shape)
                if offset + count * dt.itemsize > len(data):
                    raise ValueError("truncated")
                arr = np.frombuffer(data, dtype=dt, count=count, offset=offset).reshape(shape)
                arr = arr.astype(dt.newbyteorder("="), copy=True)
                offset += count * dt.itemsize
            if role == "I":
                if arr.shape[1:] != (n,) or len(arr) != len(name):
                    raise ValueError("bad column block")
                columns.update(zip((str(x) for x in name), arr))
                continue
            if len(arr) != n:
                raise ValueError(f"{name!r} has {len(arr)} rows, not {n}")
            if role == "i":
                columns[str(name)] = arr
            elif role == "p":
                out.predictions = arr
            elif role == "q":
                out.probabilities = arr
                out.proba_names = tuple(str(x) for x in name)
            elif role == "t":
                out.times = arr
        out.columns = {str(c): columns[str(c)] for c in header.get("o", columns)}
        if len(out.predictions) != n:
            raise ValueError("no predictions")
    except (zlib.error, struct.error, ValueError, KeyError, TypeError,
            UnicodeDecodeError) as exc:
        raise DataError(f"corrupt prediction log payload ({exc})",
                        "the log file is damaged") from None
    return out


def _outputs_columns(predictions: np.ndarray, probabilities: np.ndarray | None,
                    classes: Sequence[Any] | None, task: str) -> dict[str, Any]:
    """The columns of :func:`outputs_frame`, ready for ``profile_frame``, without its
    per-row Python loop when the labels are plain numbers, booleans or strings.

    Each distinct label is converted once (by :func:`outputs_frame` itself), then spread
    to the rows; any other label type goes through :func:`outputs_frame` row by row.
    """
    if task == "classification":
        preds = np.asarray(predictions)
        plain = preds.dtype.kind in "biuUS" or (
            preds.dtype.kind == "O" and pd.api.types.infer_dtype(preds, skipna=False)
            == "string")
        if plain:
            codes, uniques = pd.factorize(preds, use_na_sentinel=False)
            labels = outputs_frame(np.asarray(uniques), None, None, task)["prediction"]
            prediction: Any = pd.Series(labels.to_numpy()[codes], dtype=object)
        else:
            prediction = outputs_frame(preds, None, None, task)["prediction"]
    else:
        prediction = np.asarray(predictions, dtype=np.float64)
    return {"prediction": prediction, **proba_columns(probabilities, classes)}


# --------------------------------------------------------------------------- helpers


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
    # check_same_thread=False: each connection is used by one thread at a time (the writer
    # connection by start(), then the writer thread, then close(); the query connection
    # under _query_lock).
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("rollback failed")


def _last_batch_id(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'batches'").fetchone()
    return int(row[0]) if row else 0


def _vacuum(conn: sqlite3.Connection) -> None:
    # The pragma frees one page per step, and execute() steps once (its rows have no
    # columns, so fetchall() gets none); executescript() steps it to the end.
    conn.executescript("PRAGMA incremental_vacuum;")


def _profile_bytes(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT coalesce(sum(length(inputs)), 0) + "
                       "coalesce(sum(length(outputs)), 0) FROM profiles").fetchone()
    return int(row[0])


def _file_bytes(conn: sqlite3.Connection) -> int:
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int(conn.execute("PRAGMA page_count").fetchone()[0]) * int(page_size)


def _merge(a: Profile | None, b: Profile | None) -> Profile | None:
    if a is None:
        return b
    if b is None:
        return a
    return a.merge(b)


def _load_profile(data: bytes | None) -> Profile | None:
    return Profile.from_bytes(data) if data is not None else None


def _profile_column(values: np.ndarray) -> Any:
    """Numbers stay arrays; anything else becomes a Series, so that ``profile_frame``
    takes its vectorised pandas path (factorize) instead of a per-row loop."""
    if values.dtype.kind in "fiu":
        return values
    # dtype=object: no conversion to pandas' string dtype (a copy of every string).
    return pd.Series(values, dtype=object if values.dtype.kind == "O" else None, copy=False)


def _json_default(value: Any) -> Any:
    converted = json_value(value)
    if converted is value:
        return str(value)
    return converted


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def _utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc)


def _labels(conn: sqlite3.Connection, batch_ids: list[int]) -> dict[int, dict[int, Any]]:
    out: dict[int, dict[int, Any]] = {}
    marks = ",".join("?" * len(batch_ids))
    for batch, counter, label in conn.execute(
            f"SELECT batch, counter, label FROM feedback WHERE batch IN ({marks})",
            batch_ids):
        out.setdefault(batch, {})[counter] = json.loads(label)
    return out


def _rows_part(ts: float, boot: str, first: int, n: int, source: str, payload: bytes,
               labels: Mapping[int, Any] | None) -> _Part:
    decoded = decode_payload(payload)
    label = np.full(n, None, dtype=object)
    for counter, value in (labels or {}).items():
        label[counter - first] = value
    outputs: dict[str, np.ndarray] = {"prediction": decoded.predictions}
    if decoded.probabilities is not None:
        for i, name in enumerate(decoded.proba_names):
            outputs[name] = decoded.probabilities[:, i]
    times = decoded.times if decoded.times is not None else np.full(n, ts)
    return _Part(np.asarray(id_list(boot, first, n), dtype=object), times,
                 np.full(n, source, dtype=object), decoded.columns, outputs, label)


@dataclass
class _Part:
    """Some rows of one batch, for :meth:`LogStore.rows`."""

    ids: np.ndarray
    ts: np.ndarray
    source: np.ndarray
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    label: np.ndarray

    def take(self, keep: Any) -> _Part:
        return _Part(self.ids[keep], self.ts[keep], self.source[keep],
                     {k: v[keep] for k, v in self.inputs.items()},
                     {k: v[keep] for k, v in self.outputs.items()}, self.label[keep])


def _rows_frame(parts: list[_Part], proba_names: Sequence[str] | None) -> pd.DataFrame:
    inputs: dict[str, None] = {}
    outputs: dict[str, None] = {"prediction": None}
    for part in parts:
        inputs.update(dict.fromkeys(part.inputs))
        outputs.update(dict.fromkeys(part.outputs))
    if not parts:
        outputs.update(dict.fromkeys(proba_names or ()))

    def column(values: list[np.ndarray | None]) -> Any:
        pieces = [v if v is not None else np.full(len(part.label), None, dtype=object)
                  for v, part in zip(values, parts)]
        out = np.concatenate(pieces) if pieces else np.zeros(0, dtype=object)
        # Object columns stay object (pandas would turn strings into its string dtype and
        # None into NaN): rows() gives back what was logged.
        return pd.Series(out, dtype=object) if out.dtype.kind == "O" else out

    data: dict[str, Any] = {
        "prediction_id": column([p.ids for p in parts]),
        "ts": pd.to_datetime(np.asarray(column([p.ts for p in parts]), dtype=np.float64),
                             unit="s", utc=True),
        "source": column([p.source for p in parts])}
    for name in inputs:
        data[name] = column([p.inputs.get(name) for p in parts])
    for name in outputs:
        data[name] = column([p.outputs.get(name) for p in parts])
    data["label"] = column([p.label for p in parts])
    return pd.DataFrame(data)
