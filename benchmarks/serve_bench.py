"""Prediction-server benchmark: ModelDeck vs MLflow's scoring server vs a bare WSGI ceiling.

Run on demand (not part of the test suite), from the repository root::

    # once: MLflow lives in its own venv, never in the test venv (.venv)
    python3 -m venv .venv-bench && .venv-bench/bin/pip install -e '.[bench]'

    .venv/bin/python benchmarks/serve_bench.py       # all three: about 3 minutes on an idle machine
    .venv/bin/python benchmarks/serve_bench.py --only bare,mlflow --seconds 3
    .venv/bin/python benchmarks/serve_bench.py --clients 1,16 --json /tmp/serve-bench.json

What it measures: the demo's ``breast-cancer@production`` model (a StandardScaler +
LogisticRegression pipeline on 10 numeric columns), the same fitted estimator in all three
servers, each started in its own process session on 127.0.0.1:

* ``modeldeck`` -- a release folder built with ``modeldeck bundle`` and served with
  ``python -m modeldeck.core.runtime serve`` (waitress, ``--threads`` threads), request
  validation and the prediction log on (the release's defaults); ``POST /v1/predict`` with a
  JSON list of records.
* ``bare`` -- the ceiling on this machine: a WSGI app on waitress with the same thread count
  that only does ``json.loads`` -> ``np.array`` -> ``predict_proba`` -> ``json.dumps`` on
  the same records body (no validation, no logging).
* ``mlflow`` -- ``mlflow models serve --env-manager local`` (uvicorn, its defaults: one
  worker) on the estimator saved with ``mlflow.sklearn.save_model`` (with a signature, so
  MLflow checks the input schema too, and ``predict_proba`` as the pyfunc); ``POST
  /invocations`` with ``{"dataframe_split": ...}``. Its interpreter is ``--mlflow-python``
  (default ``.venv-bench/bin/python``); without one MLflow is skipped and the reason printed.

For each server, rows per request (1 and 100) and number of concurrent clients (``--clients``,
default 1, 4, 16): closed-loop clients on keep-alive ``http.client`` connections (each sends
its next request when the previous answer is read), split over ``--client-procs`` processes
with threads inside, so that the load generator's CPU is spread over both cores like the
server's. Each cell has ``--warmup`` seconds that are not counted, then ``--seconds``
measured seconds (a request counts when it completes inside that window) and at most
``--max-requests`` requests in all. All servers are up together and take turns cell by
cell, so that other load on the machine hits them alike (``--sequential``: one server at a
time). Request bodies are encoded once beforehand and rotate over the release's 114 holdout
rows. Server CPU is the utime+stime of every process in the server's session
(``/proc/<pid>/stat``) over the measured window, divided by the requests completed; client
CPU likewise for the client processes; "other" is the CPU the rest of the machine used
meanwhile (``/proc/stat``): a cell where it tops 15% of a core is measured again
(``--busy-retries``; the quietest attempt is kept) and the table warns if it stays high.
On 2 cores they all compete: a server's throughput here is what it does with the CPU the
clients (and anything else running) leave it.

Output: one table row per cell (req/s, rows/s, p50/p99 latency, server CPU ms/request,
server, client and other CPU in % of one core, errors), the ratios ModelDeck/MLflow and
ModelDeck/bare per cell, and PASS/FAIL for the targets of the issue:

1. single-row throughput at 16 clients >= 10x MLflow's;
2. >= 70% of the bare ceiling's throughput (every cell measured; the worst is shown);
3. single-row p99 latency < 3 ms at 1 client;
4. >= 40,000 rows/s with 100-row requests (best client count).

The exit code is 0 when every target that could be evaluated passed, 1 when one failed or a
requested server could not be measured, 2 on bad usage. Every process the benchmark starts is
stopped (by its process id / process group) before it exits, also on Ctrl-C.

The script's top level uses the standard library only: the client processes (spawned) and
the helper commands ``_bare`` and ``_export-mlflow`` (run under the servers' interpreters)
import this file without needing ModelDeck.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing as mp
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

REPO = Path(__file__).resolve().parent.parent
MODEL_REF = "breast-cancer@production"
SERVERS = ("modeldeck", "bare", "mlflow")
HOST = "127.0.0.1"
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
#: Seconds a server may take to answer its readiness route.
READY_TIMEOUT = {"modeldeck": 120.0, "bare": 60.0, "mlflow": 180.0}
#: Per-request socket timeout of the clients.
REQUEST_TIMEOUT = 30.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: Above this much CPU used by other programs during a cell, the table warns.
OTHER_CPU_WARN_PCT = 15.0
#: Seconds to wait before measuring such a cell again (``--busy-retries``).
BUSY_PAUSE = 5.0

# The issue's targets.
TARGET_VS_MLFLOW = 10.0
TARGET_VS_BARE = 0.70
TARGET_P99_MS = 3.0
TARGET_ROWS_PER_S = 40_000.0

MLFLOW_SETUP_HINT = ("python3 -m venv .venv-bench && .venv-bench/bin/pip install -e '.[bench]' "
                     "(from the repository root)")


class BenchError(Exception):
    """A server could not be set up, started or checked (the message says why)."""


# --------------------------------------------------------------------------- /proc


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, or ``None`` if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name is in parentheses and may itself contain spaces or parentheses
    return raw[raw.rindex(")") + 2:].split()


def _session_pids(sid: int) -> list[int]:
    """The processes whose session id is ``sid`` (a server started with its own session)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and int(fields[3]) == sid:
                pids.append(int(entry))
    return pids


def _machine_busy_seconds() -> float:
    """CPU seconds all processors spent busy since boot (``/proc/stat``; guest time is
    already inside user time)."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (those still alive)."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLK_TCK


# --------------------------------------------------------------------------- load generator


@dataclass
class LoadSpec:
    """What the client threads send: bodies rotate, every answer must be 200."""

    port: int
    path: str
    bodies: list[bytes]
    rows: int


def _client_thread(spec: LoadSpec, offset: int, opened: threading.Barrier,
                   start: threading.Event, schedule: list[float], cap: int,
                   out: dict[str, Any]) -> None:
    """One closed-loop client: a keep-alive connection, one request at a time."""
    conn = http.client.HTTPConnection(HOST, spec.port, timeout=REQUEST_TIMEOUT)
    latencies = array("d")
    errors = 0
    first_error = ""
    sent = 0
    i = offset
    try:
        # open the connection before the clock starts (an unmeasured request)
        try:
            conn.request("POST", spec.path, spec.bodies[i % len(spec.bodies)], JSON_HEADERS)
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            conn.close()
        finally:
            opened.wait()
        start.wait()
        warm_end, end = schedule
        n_bodies = len(spec.bodies)
        while sent < cap:
            t0 = time.monotonic()
            if t0 >= end:
                break
            body = spec.bodies[i % n_bodies]
            i += 1
            sent += 1
            ok = False
            try:
                conn.request("POST", spec.path, body, JSON_HEADERS)
                response = conn.getresponse()
                payload = response.read()
                ok = response.status == 200
                if not ok and not first_error:
                    first_error = f"HTTP {response.status}: {payload[:200]!r}"
            except (OSError, http.client.HTTPException) as exc:
                conn.close()  # the next request reconnects
                if not first_error:
                    first_error = f"{type(exc).__name__}: {exc}"
                time.sleep(0.01)  # a dead server must not turn this into a busy loop
            t1 = time.monotonic()
            if warm_end <= t1 <= end:
                if ok:
                    latencies.append(t1 - t0)
                else:
                    errors += 1
    finally:
        conn.close()
        out.update(latencies=latencies.tobytes(), errors=errors, first_error=first_error,
                   sent=sent)


def _client_process(pipe: Any, spec: LoadSpec, n_threads: int, first_offset: int,
                    cap_per_thread: int) -> None:
    """A load-generator process (spawned): ``n_threads`` closed-loop clients.

    Protocol on ``pipe``: send ``"ready"`` once every connection is open, receive
    ``(warm_end, end)`` in ``time.monotonic()`` seconds (the clock is system-wide), send the
    list of the threads' results at the end.
    """
    opened = threading.Barrier(n_threads + 1, timeout=REQUEST_TIMEOUT * 2)
    start = threading.Event()
    schedule: list[float] = []
    results: list[dict[str, Any]] = [{} for _ in range(n_threads)]
    stride = max(1, len(spec.bodies) // max(1, n_threads))
    threads = [threading.Thread(target=_client_thread,
                                args=(spec, first_offset + k * stride, opened, start, schedule,
                                      cap_per_thread, results[k]), daemon=True)
               for k in range(n_threads)]
    for t in threads:
        t.start()
    opened.wait()  # every thread has its connection open and one request answered
    pipe.send("ready")
    schedule.extend(pipe.recv())
    start.set()
    for t in threads:
        t.join()
    pipe.send(results)


@dataclass
class Cell:
    """One measurement: a server, rows per request and number of clients."""

    server: str
    rows: int
    clients: int
    seconds: float
    requests: int = 0
    errors: int = 0
    first_error: str = ""
    req_per_s: float = 0.0
    rows_per_s: float = 0.0
    p50_ms: float = math.nan
    p90_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    mean_ms: float = math.nan
    server_cpu_ms_per_req: float = math.nan
    server_cpu_pct: float = math.nan
    client_cpu_pct: float = math.nan
    client_cpu_ms_per_req: float = math.nan
    #: CPU used on the machine by everything else (other programs compete for the cores)
    other_cpu_pct: float = math.nan


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (``nan`` if empty)."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def run_cell(server: str, server_pid: int, spec: LoadSpec, clients: int, args: Any) -> Cell:
    """Drive ``clients`` closed-loop clients for warm-up + ``args.seconds``; measure."""
    ctx = mp.get_context("spawn")
    n_procs = max(1, min(args.client_procs, clients))
    per_proc = [clients // n_procs + (1 if k < clients % n_procs else 0) for k in range(n_procs)]
    cap_per_thread = max(1, args.max_requests // clients)
    procs: list[Any] = []
    pipes: list[Any] = []
    try:
        offset = 0
        for n_threads in per_proc:
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=_client_process, daemon=True,
                               args=(child_end, spec, n_threads, offset, cap_per_thread))
            proc.start()
            child_end.close()
            procs.append(proc)
            pipes.append(parent_end)
            offset += n_threads * 7  # different threads start on different bodies
        for pipe in pipes:
            if not pipe.poll(REQUEST_TIMEOUT * 2 + 30) or pipe.recv() != "ready":
                raise BenchError("a client process did not start")
        warm_end = time.monotonic() + args.warmup
        end = warm_end + args.seconds
        for pipe in pipes:
            pipe.send((warm_end, end))
        client_pids = [p.pid for p in procs]

        time.sleep(max(0.0, warm_end - time.monotonic()))
        server_pids = _session_pids(server_pid)
        s0, c0, m0 = _cpu_seconds(server_pids), _cpu_seconds(client_pids), _machine_busy_seconds()
        t0 = time.monotonic()
        time.sleep(max(0.0, end - time.monotonic()))
        server_pids = sorted(set(server_pids) | set(_session_pids(server_pid)))
        s1, c1, m1 = _cpu_seconds(server_pids), _cpu_seconds(client_pids), _machine_busy_seconds()
        t1 = time.monotonic()

        results: list[dict[str, Any]] = []
        for pipe in pipes:
            if not pipe.poll(REQUEST_TIMEOUT + 30):
                raise BenchError("a client process did not report back")
            results.extend(pipe.recv())
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        for pipe in pipes:
            pipe.close()

    latencies = array("d")
    cell = Cell(server, spec.rows, clients, args.seconds)
    for r in results:
        if "latencies" not in r:  # the thread died (its traceback is on stderr)
            raise BenchError("a client thread failed")
        latencies.frombytes(r["latencies"])
        cell.errors += r["errors"]
        cell.first_error = cell.first_error or r["first_error"]
    values = sorted(latencies)
    n = cell.requests = len(values)
    cell.req_per_s = n / args.seconds
    cell.rows_per_s = cell.req_per_s * spec.rows
    cell.p50_ms = _percentile(values, 0.50) * 1e3
    cell.p90_ms = _percentile(values, 0.90) * 1e3
    cell.p99_ms = _percentile(values, 0.99) * 1e3
    cell.max_ms = values[-1] * 1e3 if values else math.nan
    cell.mean_ms = sum(values) / n * 1e3 if n else math.nan
    window = t1 - t0
    cell.server_cpu_pct = (s1 - s0) / window * 100
    cell.client_cpu_pct = (c1 - c0) / window * 100
    cell.other_cpu_pct = max(0.0, (m1 - m0) - (s1 - s0) - (c1 - c0)) / window * 100
    if n:
        cell.server_cpu_ms_per_req = (s1 - s0) / n * 1e3
        cell.client_cpu_ms_per_req = (c1 - c0) / n * 1e3
    return cell


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    """A server under test: its process (leader of its own session) and how to talk to it."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    path: str
    log_file: Path
    notes: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        return self.proc.poll() is None


def _start(cmd: list[str], log_file: Path, env: dict[str, str] | None = None,
           cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in a new session (so its whole tree can be measured and stopped)."""
    with open(log_file, "wb") as log:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True)


def stop(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the process group that ``proc`` leads, then SIGKILL whatever is left of it."""
    pgid = proc.pid  # start_new_session: the child leads its own group
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace
    # the leader and whatever it started (MLflow's CLI execs uvicorn in a child process)
    while (proc.poll() is None or _session_pids(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is None or _session_pids(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait_port_file(proc: subprocess.Popen[bytes], path: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"exited with code {proc.returncode} before listening")
        try:
            return int(path.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            time.sleep(0.05)
    raise BenchError(f"wrote no port file within {timeout:.0f} s")


def _get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _post(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request("POST", path, body, JSON_HEADERS)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _wait_ready(server: Server, route: str, timeout: float) -> None:
    """Poll ``GET route`` until 200; fail early if the process dies or reports ``failed``."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not server.alive():
            raise BenchError(f"exited with code {server.proc.returncode} while starting")
        try:
            status, body = _get(server.port, route)
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if status == 200:
                return
            last = f"HTTP {status}: {body[:300].decode(errors='replace')}"
            try:
                state = json.loads(body)
            except ValueError:
                state = None
            if isinstance(state, dict) and state.get("state") == "failed":
                raise BenchError(f"GET {route} says it failed: {state.get('reason')}")
        time.sleep(0.1)
    raise BenchError(f"not ready within {timeout:.0f} s (last: {last})")


@dataclass
class Setup:
    """Everything built once: the release, the estimator file, the request bodies."""

    work: Path
    release: Path
    estimator_file: Path
    columns: list[str]
    data: list[list[float]]
    classes: list[Any]
    sklearn_version: str


def build_setup(args: Any, work: Path) -> Setup:
    """Demo workspace (unless given), release folder, pickled estimator, holdout rows."""
    workspace = Path(args.workspace) if args.workspace else work / "workspace"
    cli = [sys.executable, "-m", "modeldeck.core.cli", "--workspace", str(workspace)]
    if not (workspace / "modeldeck.db").exists():
        print(f"building the demo workspace in {workspace} ...", flush=True)
        subprocess.run([*cli, "demo", "-q"], check=True, stdout=subprocess.DEVNULL)
    release = work / "release"
    subprocess.run([*cli, "bundle", MODEL_REF, "--out", str(release), "--overwrite"],
                   check=True, stdout=subprocess.DEVNULL)

    import sklearn

    from modeldeck.core.registry import Registry
    from modeldeck.core.workspace import Workspace

    with Workspace.open(workspace) as ws:
        estimator = Registry(ws).load_model(MODEL_REF).estimator
    estimator_file = work / "estimator.pkl"
    estimator_file.write_bytes(pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL))
    selfcheck = json.loads((release / "model" / "selfcheck.json").read_text(encoding="utf-8"))
    columns, data = list(selfcheck["columns"]), [list(r) for r in selfcheck["data"]]
    if len(data) < 2:
        raise BenchError(f"the release's selfcheck.json has only {len(data)} row(s)")
    return Setup(work, release, estimator_file, columns, data,
                 [c.item() if hasattr(c, "item") else c for c in estimator.classes_],
                 sklearn.__version__)


def _row_windows(data: list[list[float]], rows: int) -> list[list[list[float]]]:
    """Request contents of ``rows`` rows each, rotating over the holdout rows."""
    n = len(data)
    starts = range(n) if rows == 1 else range(0, n, max(1, n // 16))
    return [[data[(s + k) % n] for k in range(rows)] for s in starts]


def bodies_for(server: str, setup: Setup, rows: int) -> list[bytes]:
    """The encoded request bodies of ``server`` for ``rows`` rows per request."""
    out = []
    for window in _row_windows(setup.data, rows):
        if server == "mlflow":
            doc: Any = {"dataframe_split": {"columns": setup.columns, "data": window}}
        else:
            doc = [dict(zip(setup.columns, row)) for row in window]
        out.append(json.dumps(doc).encode())
    return out


def _labels_of(server: str, answer: Any, classes: list[Any]) -> list[Any]:
    """Predicted labels in a server's answer (probabilities -> the likelier class)."""
    if server == "modeldeck":
        return [r["prediction"] for r in answer["predictions"]]
    probabilities = answer["predictions"] if server == "mlflow" else answer
    return [classes[max(range(len(p)), key=p.__getitem__)] for p in probabilities]


def check_answers(server: Server, setup: Setup, row_counts: list[int]) -> list[Any]:
    """One request of each size: 200 with one prediction per row; the last size's labels."""
    labels: list[Any] = []
    for rows in row_counts:
        body = bodies_for(server.name, setup, rows)[0]
        status, payload = _post(server.port, server.path, body)
        if status != 200:
            raise BenchError(f"POST {server.path} ({rows} rows) answered HTTP {status}: "
                             f"{payload[:300].decode(errors='replace')}")
        try:
            got = _labels_of(server.name, json.loads(payload), setup.classes)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise BenchError(f"unexpected answer to {rows} rows ({exc!r}): "
                             f"{payload[:300].decode(errors='replace')}") from None
        if len(got) != rows:
            raise BenchError(f"{rows} rows sent, {len(got)} predictions back")
        labels = got
    return labels


def start_modeldeck(setup: Setup, args: Any) -> Server:
    """``python -m modeldeck.core.runtime serve RELEASE`` (logging on: the release default)."""
    port_file, state = setup.work / "modeldeck.port", setup.work / "modeldeck-state"
    log_file = setup.work / "modeldeck.log"
    port_file.unlink(missing_ok=True)  # a kept --work-dir has the last run's
    shutil.rmtree(state, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(setup.release / "code"))
    proc = _start([args.server_python, "-m", "modeldeck.core.runtime", "serve",
                   str(setup.release), "--port", "0", "--port-file", str(port_file),
                   "--state-dir", str(state), "--threads", str(args.threads)],
                  log_file, env=env, cwd=setup.work)
    return _await_server(Server("modeldeck", proc, 0, "/v1/predict", log_file), port_file)


def start_bare(setup: Setup, args: Any) -> Server:
    """This file's ``_bare`` command: the WSGI ceiling on waitress."""
    port_file, log_file = setup.work / "bare.port", setup.work / "bare.log"
    port_file.unlink(missing_ok=True)
    columns_file = setup.work / "columns.json"
    columns_file.write_text(json.dumps(setup.columns), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = _start([args.server_python, str(Path(__file__).resolve()), "_bare",
                   str(setup.estimator_file), str(columns_file), str(port_file),
                   str(args.threads)], log_file, env=env, cwd=setup.work)
    return _await_server(Server("bare", proc, 0, "/predict", log_file), port_file)


def _await_server(server: Server, port_file: Path) -> Server:
    """Wait for a started server's port file and /ready; stop it if it never comes up."""
    try:
        server.port = _wait_port_file(server.proc, port_file, READY_TIMEOUT[server.name])
        _wait_ready(server, "/ready", READY_TIMEOUT[server.name])
    except BaseException:
        stop(server.proc)
        raise
    return server


def _mlflow_env(python: str) -> dict[str, str]:
    """The environment for MLflow: its venv's bin first (it execs ``uvicorn``), no telemetry."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    return env


def find_mlflow_python(args: Any) -> tuple[str | None, str]:
    """The interpreter with MLflow, and its version (or ``None`` and why not)."""
    candidates = [args.mlflow_python] if args.mlflow_python else [
        str(REPO / ".venv-bench" / "bin" / "python"), sys.executable]
    reasons = []
    for python in candidates:
        if not Path(python).exists():
            reasons.append(f"{python}: no such interpreter")
            continue
        probe = subprocess.run(
            [python, "-c", "import mlflow, numpy, pandas, sklearn; print(mlflow.__version__, "
                           "numpy.__version__, pandas.__version__, sklearn.__version__)"],
            capture_output=True, text=True, env=_mlflow_env(python), timeout=120)
        if probe.returncode == 0:
            mlflow_v, numpy_v, pandas_v, sklearn_v = probe.stdout.split()
            return python, (f"mlflow {mlflow_v} (numpy {numpy_v}, pandas {pandas_v}, "
                            f"scikit-learn {sklearn_v}) in {python}")
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        reasons.append(f"{python}: {last}")
    return None, "; ".join(reasons) + f". Install it with: {MLFLOW_SETUP_HINT}"


def start_mlflow(setup: Setup, args: Any, python: str) -> Server:
    """Save the estimator as an MLflow model, then ``mlflow models serve --env-manager local``."""
    model_dir = setup.work / "mlflow-model"
    sample_file = setup.work / "sample.json"
    sample_file.write_text(json.dumps({"columns": setup.columns, "data": setup.data}),
                           encoding="utf-8")
    env = _mlflow_env(python)
    export = subprocess.run([python, str(Path(__file__).resolve()), "_export-mlflow",
                             str(setup.estimator_file), str(sample_file), str(model_dir)],
                            capture_output=True, text=True, env=env, cwd=setup.work)
    if export.returncode != 0:
        raise BenchError("could not save the MLflow model:\n" + export.stderr[-2000:])
    port, log_file = _free_port(), setup.work / "mlflow.log"
    proc = _start([python, "-m", "mlflow", "models", "serve", "-m", str(model_dir),
                   "--env-manager", "local", "-p", str(port), "-h", HOST],
                  log_file, env=env, cwd=setup.work)
    server = Server("mlflow", proc, port, "/invocations", log_file)
    notes = [line for line in export.stdout.splitlines() if line.strip()]
    server.notes.extend(notes)
    try:
        _wait_ready(server, "/ping", READY_TIMEOUT["mlflow"])
    except BaseException:
        stop(proc)
        raise
    return server


# --------------------------------------------------------------------------- report


def _fmt(value: float, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else format(value, spec)


def print_table(cells: list[Cell]) -> None:
    print()
    head = (f"{'server':<10} {'rows':>4} {'clients':>7} {'req/s':>9} {'rows/s':>9} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'srv ms/req':>10} {'srv CPU':>7} {'cli CPU':>7} "
            f"{'other':>6} {'errors':>6}")
    print(head)
    print("-" * len(head))
    for c in cells:
        print(f"{c.server:<10} {c.rows:>4} {c.clients:>7} {_fmt(c.req_per_s, ',.1f'):>9} "
              f"{_fmt(c.rows_per_s, ',.0f'):>9} {_fmt(c.p50_ms, '.2f'):>8} "
              f"{_fmt(c.p99_ms, '.2f'):>8} {_fmt(c.server_cpu_ms_per_req, '.2f'):>10} "
              f"{_fmt(c.server_cpu_pct, '.0f') + '%':>7} "
              f"{_fmt(c.client_cpu_pct, '.0f') + '%':>7} "
              f"{_fmt(c.other_cpu_pct, '.0f') + '%':>6} {c.errors:>6}")
    print(f"srv/cli CPU: the server's and the clients' CPU in % of one core over the measured "
          f"window ({os.cpu_count()} cores = {100 * (os.cpu_count() or 1)}%); other: every other "
          f"process on the machine")
    busy = [c for c in cells if c.other_cpu_pct > OTHER_CPU_WARN_PCT]
    if busy:
        print(f"WARNING: other programs used more than {OTHER_CPU_WARN_PCT:.0f}% of a core in "
              f"{len(busy)} of {len(cells)} cells: those figures are low; run again on an idle "
              f"machine")
    for c in cells:
        if c.errors:
            print(f"  {c.server} {c.rows} rows x {c.clients} clients, first error: "
                  f"{c.first_error}")


def ratios(cells: list[Cell]) -> list[dict[str, Any]]:
    """Per (rows, clients): ModelDeck's throughput over MLflow's and over the bare ceiling's."""
    by_key = {(c.server, c.rows, c.clients): c for c in cells}
    out = []
    for rows, clients in sorted({(c.rows, c.clients) for c in cells}):
        ours = by_key.get(("modeldeck", rows, clients))
        row: dict[str, Any] = {"rows": rows, "clients": clients}
        for other in ("mlflow", "bare"):
            theirs = by_key.get((other, rows, clients))
            row[f"vs_{other}"] = (ours.req_per_s / theirs.req_per_s
                                  if ours and theirs and theirs.req_per_s else None)
            row[f"p99_vs_{other}"] = (ours.p99_ms / theirs.p99_ms
                                      if ours and theirs and theirs.requests else None)
        # MLflow against the ceiling, for reference even when ModelDeck was not run
        bare, mlf = by_key.get(("bare", rows, clients)), by_key.get(("mlflow", rows, clients))
        row["mlflow_vs_bare"] = (mlf.req_per_s / bare.req_per_s
                                 if mlf and bare and bare.req_per_s else None)
        out.append(row)
    return out


def print_ratios(rows: list[dict[str, Any]]) -> None:
    def r(value: float | None, spec: str, suffix: str = "") -> str:
        return "-" if value is None else format(value, spec) + suffix

    print()
    head = (f"{'rows':>4} {'clients':>7}  {'ModelDeck/MLflow':>16} {'ModelDeck/bare':>14} "
            f"{'MLflow/bare':>11}   {'p99 MD/MLflow':>13} {'p99 MD/bare':>11}")
    print("throughput ratios (req/s) and p99 latency ratios")
    print(head)
    print("-" * len(head))
    for row in rows:
        print(f"{row['rows']:>4} {row['clients']:>7}  {r(row['vs_mlflow'], '.1f', 'x'):>16} "
              f"{r(row['vs_bare'], '.0%'):>14} {r(row['mlflow_vs_bare'], '.1%'):>11}   "
              f"{r(row['p99_vs_mlflow'], '.2f'):>13} {r(row['p99_vs_bare'], '.2f'):>11}")


def evaluate_targets(cells: list[Cell]) -> list[dict[str, Any]]:
    """PASS / FAIL / SKIP (with the figures) for each of the issue's targets."""
    by_key = {(c.server, c.rows, c.clients): c for c in cells}
    ours = [c for c in cells if c.server == "modeldeck"]
    targets: list[dict[str, Any]] = []

    def add(name: str, status: str, detail: str) -> None:
        targets.append({"target": name, "status": status, "detail": detail})

    def usable(c: Cell | None) -> TypeGuard[Cell]:
        return c is not None and c.requests > 0 and c.errors == 0

    name = f"single-row req/s at 16 clients >= {TARGET_VS_MLFLOW:g}x MLflow's"
    md, mlf = by_key.get(("modeldeck", 1, 16)), by_key.get(("mlflow", 1, 16))
    if usable(md) and usable(mlf):
        ratio = md.req_per_s / mlf.req_per_s
        add(name, "PASS" if ratio >= TARGET_VS_MLFLOW else "FAIL",
            f"{md.req_per_s:,.0f} vs {mlf.req_per_s:,.0f} req/s = {ratio:.1f}x")
    else:
        add(name, "SKIP", "needs ModelDeck and MLflow, 1 row x 16 clients, without errors")

    name = f">= {TARGET_VS_BARE:.0%} of the bare ceiling's throughput (every cell)"
    pairs: list[tuple[Cell, Cell]] = []
    for c in ours:
        bare = by_key.get(("bare", c.rows, c.clients))
        if usable(bare) and bare.req_per_s:
            pairs.append((c, bare))
    if pairs and all(usable(c) for c, _ in pairs):
        worst_c, worst_b = min(pairs, key=lambda p: p[0].req_per_s / p[1].req_per_s)
        worst = worst_c.req_per_s / worst_b.req_per_s
        add(name, "PASS" if worst >= TARGET_VS_BARE else "FAIL",
            f"worst {worst:.0%} at {worst_c.rows} row(s) x {worst_c.clients} client(s) "
            f"({worst_c.req_per_s:,.0f} vs {worst_b.req_per_s:,.0f} req/s)")
    elif pairs:
        add(name, "FAIL", "ModelDeck had errors or served nothing in some cell")
    else:
        add(name, "SKIP", "needs ModelDeck and bare cells with the same rows and clients")

    name = f"single-row p99 < {TARGET_P99_MS:g} ms at 1 client"
    md = by_key.get(("modeldeck", 1, 1))
    if usable(md):
        add(name, "PASS" if md.p99_ms < TARGET_P99_MS else "FAIL",
            f"p99 {md.p99_ms:.2f} ms (p50 {md.p50_ms:.2f} ms)")
    else:
        add(name, "SKIP" if md is None else "FAIL",
            "needs ModelDeck, 1 row x 1 client, without errors")

    name = f">= {TARGET_ROWS_PER_S:,.0f} rows/s with 100-row requests (best client count)"
    hundred = [c for c in ours if c.rows == 100]
    if any(usable(c) for c in hundred):
        best = max((c for c in hundred if usable(c)), key=lambda c: c.rows_per_s)
        add(name, "PASS" if best.rows_per_s >= TARGET_ROWS_PER_S else "FAIL",
            f"{best.rows_per_s:,.0f} rows/s at {best.clients} client(s)")
    else:
        add(name, "FAIL" if hundred else "SKIP", "needs ModelDeck 100-row cells without errors")
    return targets


# --------------------------------------------------------------------------- main


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="ModelDeck's prediction server vs MLflow's and a bare WSGI ceiling.")
    parser.add_argument("--only", default=",".join(SERVERS),
                        help="comma-separated servers to run (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="measured seconds per cell (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="unmeasured seconds before each cell (default %(default)s)")
    parser.add_argument("--clients", default="1,4,16",
                        help="concurrent client counts (default %(default)s)")
    parser.add_argument("--rows", default="1,100",
                        help="rows per request (default %(default)s)")
    parser.add_argument("--threads", type=int, default=8,
                        help="server threads for ModelDeck and bare (default %(default)s, "
                             "the release's)")
    parser.add_argument("--sequential", action="store_true",
                        help="run one server at a time, alone (default: all up at once, "
                             "taking turns cell by cell)")
    parser.add_argument("--busy-retries", type=int, default=2,
                        help=f"measure a cell again (at most this many times) while other "
                             f"programs use more than {OTHER_CPU_WARN_PCT:g}%% of a core "
                             f"(default %(default)s)")
    parser.add_argument("--client-procs", type=int, default=2,
                        help="processes the clients are spread over (default %(default)s)")
    parser.add_argument("--max-requests", type=int, default=500_000,
                        help="upper bound on requests per cell, all clients together "
                             "(default %(default)s)")
    parser.add_argument("--workspace", help="an existing workspace with the demo models "
                                            "(default: build one in the work folder)")
    parser.add_argument("--server-python", default=sys.executable,
                        help="interpreter for the ModelDeck and bare servers (default: this "
                             "one)")
    parser.add_argument("--mlflow-python",
                        help="interpreter with mlflow (default: .venv-bench/bin/python, "
                             "else this one if it has mlflow)")
    parser.add_argument("--work-dir", help="keep releases, models and server logs here "
                                           "(default: a temporary folder, removed after)")
    parser.add_argument("--json", dest="json_out", help="also write the results to this file")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SERVERS))
    if unknown or not only:
        parser.error(f"--only takes {', '.join(SERVERS)}; not {', '.join(unknown) or 'empty'}")
    args.only = [s for s in SERVERS if s in only]
    try:
        args.clients = sorted({int(c) for c in args.clients.split(",") if c.strip()})
        args.rows = sorted({int(r) for r in args.rows.split(",") if r.strip()})
    except ValueError:
        parser.error("--clients and --rows take comma-separated whole numbers")
    if not args.clients or min(args.clients) < 1 or not args.rows or min(args.rows) < 1:
        parser.error("--clients and --rows need numbers >= 1")
    if (args.seconds <= 0 or args.warmup < 0 or args.threads < 1 or args.client_procs < 1
            or args.busy_retries < 0):
        parser.error("--seconds > 0, --warmup >= 0, --threads >= 1, --client-procs >= 1, "
                     "--busy-retries >= 0")
    return args


def _server_versions(python: str) -> str:
    probe = subprocess.run(
        [python, "-c", "import numpy, sklearn, waitress, importlib.metadata as m; "
                       "print(numpy.__version__, sklearn.__version__, m.version('waitress'))"],
        capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        return f"{python}: {probe.stderr.strip()[-200:]}"
    numpy_v, sklearn_v, waitress_v = probe.stdout.split()
    return f"numpy {numpy_v}, scikit-learn {sklearn_v}, waitress {waitress_v} in {python}"


def start_server(name: str, setup: Setup, args: Any, mlflow_python: str | None) -> Server:
    if name == "modeldeck":
        return start_modeldeck(setup, args)
    if name == "bare":
        return start_bare(setup, args)
    assert mlflow_python is not None
    return start_mlflow(setup, args, mlflow_python)


def measure(servers: dict[str, Server], setup: Setup, args: Any,
            failed: dict[str, str]) -> list[Cell]:
    """Every (rows, clients) cell, printed as it goes.

    The servers take turns cell by cell, so that a change in what else runs on the machine
    hits them alike (their ratios are the point); the idle ones count as "other" meanwhile.
    A server that dies is recorded in ``failed`` and left out of the remaining cells.
    """
    cells = []
    for rows in args.rows:
        specs = {name: LoadSpec(server.port, server.path, bodies_for(name, setup, rows), rows)
                 for name, server in servers.items()}
        for clients in args.clients:
            for name, server in servers.items():
                if name in failed:
                    continue
                if not server.alive():
                    failed[name] = f"died (exit code {server.proc.returncode}) during the run"
                    print(f"   {name}: {failed[name]}; last lines of {server.log_file}:\n"
                          f"{_tail(server.log_file)}", flush=True)
                    continue
                try:
                    cell = run_cell(name, server.proc.pid, specs[name], clients, args)
                    # another program took CPU meanwhile: measure again (keep the quietest)
                    for _ in range(args.busy_retries):
                        if cell.other_cpu_pct <= OTHER_CPU_WARN_PCT:
                            break
                        print(f"   {name:<9} {rows:>3} row(s) x {clients:>2} client(s): other "
                              f"programs used {cell.other_cpu_pct:.0f}% of a core, again in "
                              f"{BUSY_PAUSE:g} s", flush=True)
                        time.sleep(BUSY_PAUSE)
                        again = run_cell(name, server.proc.pid, specs[name], clients, args)
                        cell = min(cell, again, key=lambda c: c.other_cpu_pct)
                except BenchError as exc:
                    failed[name] = f"{rows} row(s) x {clients} client(s): {exc}"
                    print(f"   {name}: {failed[name]}", flush=True)
                    continue
                cells.append(cell)
                print(f"   {name:<9} {rows:>3} row(s) x {clients:>2} client(s): "
                      f"{cell.req_per_s:>8,.1f} req/s  p50 {cell.p50_ms:6.2f} ms  p99 "
                      f"{cell.p99_ms:7.2f} ms  server {cell.server_cpu_ms_per_req:5.2f} ms "
                      f"CPU/req  other {cell.other_cpu_pct:3.0f}%  errors {cell.errors}",
                      flush=True)
    return cells


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    args = _parse_args(argv)
    own_work = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="serve-bench-")) if own_work else Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    cells: list[Cell] = []
    skipped: dict[str, str] = {}
    notes: list[str] = []
    meta: dict[str, Any] = {
        "cpus": os.cpu_count(), "python": sys.version.split()[0], "threads": args.threads,
        "seconds": args.seconds, "warmup": args.warmup, "clients": args.clients,
        "rows": args.rows, "client_procs": args.client_procs, "model": MODEL_REF,
        "servers_python": _server_versions(args.server_python)}
    print(f"serve_bench: {MODEL_REF}, {os.cpu_count()} CPUs, Python {meta['python']}; "
          f"{args.seconds:g} s per cell after {args.warmup:g} s warm-up; clients "
          f"{args.clients} over up to {args.client_procs} processes; server threads "
          f"{args.threads}")
    print(f"ModelDeck and bare: {meta['servers_python']}")
    mlflow_python = None
    if "mlflow" in args.only:
        mlflow_python, mlflow_info = find_mlflow_python(args)
        meta["mlflow"] = mlflow_info
        print(f"MLflow: {mlflow_info}" if mlflow_python else f"MLflow: SKIPPED, {mlflow_info}")
        if mlflow_python is None:
            skipped["mlflow"] = mlflow_info
    print(f"work folder: {work}", flush=True)
    labels: dict[str, list[Any]] = {}
    running: dict[str, Server] = {}

    def start(name: str) -> None:
        print(f"== {name}: starting", flush=True)
        started = time.monotonic()
        try:
            server = start_server(name, setup, args, mlflow_python)
        except BenchError as exc:
            skipped[name] = str(exc)
            log = work / f"{name}.log"
            print(f"   {name} NOT MEASURED: {exc}\n   last lines of {log}:\n{_tail(log)}",
                  flush=True)
            return
        running[name] = server
        print(f"   ready in {time.monotonic() - started:.1f} s on port {server.port} "
              f"(pid {server.proc.pid})", flush=True)
        for line in server.notes:
            print(f"   {line}")
        try:
            labels[name] = check_answers(server, setup, args.rows)
        except BenchError as exc:
            skipped[name] = f"wrong answer: {exc}"
            print(f"   {name} NOT MEASURED: {skipped[name]}", flush=True)
            stop(running.pop(name).proc)

    def stop_all() -> None:
        while running:
            stop(running.popitem()[1].proc)

    try:
        setup = build_setup(args, work)
        names = [n for n in args.only if n not in skipped]
        # one server at a time (--sequential), or all of them up together, taking turns
        for group in ([[n] for n in names] if args.sequential else [names]):
            for name in group:
                start(name)
            if running:
                print("measuring ...", flush=True)
                cells.extend(measure(dict(running), setup, args, skipped))
            stop_all()
        state = work / "modeldeck-state"
        if "modeldeck" in names and state.is_dir():
            size = sum(p.stat().st_size for p in state.rglob("*") if p.is_file())
            notes.append(f"ModelDeck's state folder (prediction log) holds {size / 1e6:.1f} MB "
                         f"after the run")
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 1
    finally:
        stop_all()
        if own_work:
            shutil.rmtree(work, ignore_errors=True)

    reference = labels.get("bare")
    for name, got in labels.items():
        if reference is not None and name != "bare" and got != reference:
            notes.append(f"WARNING: {name}'s predicted labels in the answer check differ "
                         f"from the bare ceiling's")
    if reference is not None and len(labels) > 1 and not any("WARNING" in n for n in notes):
        notes.append(f"answer check: {', '.join(labels)} predict the same labels")
    print_table(cells)
    ratio_rows = ratios(cells)
    print_ratios(ratio_rows)
    targets = evaluate_targets(cells)
    print("\ntargets (ModelDeck: validation and prediction log on)")
    for t in targets:
        print(f"  [{t['status']}] {t['target']}: {t['detail']}")
    for name, reason in skipped.items():
        print(f"  {name} was not measured: {reason.splitlines()[0]}")
    for note in notes:
        print(f"  {note}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            {"meta": meta, "cells": [asdict(c) for c in cells], "ratios": ratio_rows,
             "targets": targets, "skipped": skipped, "notes": notes},
            indent=2, default=str), encoding="utf-8")
        print(f"\nresults written to {args.json_out}")
    failed = any(t["status"] == "FAIL" for t in targets) or bool(skipped)
    return 1 if failed else 0


# --------------------------------------------------------------------------- helper commands


def _serve_bare(estimator_file: str, columns_file: str, port_file: str, threads: str) -> int:
    """``_bare``: the ceiling -- json.loads, np.array, predict_proba, json.dumps on waitress."""
    import logging
    import warnings

    import numpy as np
    from waitress import create_server

    # as ModelDeck's server does: waitress warns on every queued request otherwise
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)

    # our own file, written by this benchmark a moment ago
    estimator = pickle.loads(Path(estimator_file).read_bytes())  # noqa: S301
    columns = json.loads(Path(columns_file).read_text(encoding="utf-8"))
    # fitted on a DataFrame; a plain array makes scikit-learn warn on every call
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    predict_proba = estimator.predict_proba

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["REQUEST_METHOD"] == "GET":
            body, status = b'{"ready": true}', "200 OK"
        else:
            size = int(environ.get("CONTENT_LENGTH") or 0)
            records = json.loads(environ["wsgi.input"].read(size))
            x = np.array([[r[c] for c in columns] for r in records], dtype=float)
            body, status = json.dumps(predict_proba(x).tolist()).encode(), "200 OK"
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        return [body]

    server = create_server(app, host=HOST, port=0, threads=int(threads),
                           asyncore_use_poll=True, ident="bare")
    tmp = Path(f"{port_file}.tmp")
    tmp.write_text(str(server.effective_port), encoding="utf-8")
    os.replace(tmp, port_file)

    def _stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.close()
    return 0


def _export_mlflow(estimator_file: str, sample_file: str, out_dir: str) -> int:
    """``_export-mlflow``: save the estimator as an MLflow model (run under MLflow's Python)."""
    import warnings

    import mlflow.sklearn
    import pandas as pd
    import sklearn
    from mlflow.models import infer_signature

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator = pickle.loads(Path(estimator_file).read_bytes())  # noqa: S301 - ours
    for w in caught:  # e.g. scikit-learn's InconsistentVersionWarning
        print(f"note: loading the estimator: {w.category.__name__}: {w.message}")
    sample = json.loads(Path(sample_file).read_text(encoding="utf-8"))
    frame = pd.DataFrame(sample["data"], columns=sample["columns"])
    signature = infer_signature(frame, estimator.predict_proba(frame))
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    # explicit requirements: skips MLflow's requirement inference (it loads the model in a
    # subprocess); --env-manager local never reads them anyway
    mlflow.sklearn.save_model(estimator, out_dir, signature=signature,
                              pyfunc_predict_fn="predict_proba",
                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
    print(f"MLflow model saved with mlflow {mlflow.__version__}, scikit-learn "
          f"{sklearn.__version__}, pyfunc predict_proba, with a signature")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_bare":
        sys.exit(_serve_bare(*sys.argv[2:6]))
    if len(sys.argv) > 1 and sys.argv[1] == "_export-mlflow":
        sys.exit(_export_mlflow(*sys.argv[2:5]))
    sys.exit(main())
