"""Pull what the hosts' servers saw into the workspace: drift profiles, logged predictions
and the labels that came back through ``/v1/feedback``.

Everything travels over the SSH connection deploys use: the host's agent asks its own
server on the host's loopback (``agent.py fetch``), so no port is opened to the desktop and
bastions work the same. Per host and model the workspace keeps::

    WORKSPACE/pulled/<model>/<host>.parquet          logged rows: prediction_id, ts, host,
                                                      source, the inputs, prediction,
                                                      proba_<class>, and the label (named
                                                      as the model's target column)
    WORKSPACE/pulled/<model>/<host>.profiles.json    the hourly window profiles

Pulls are incremental and idempotent: rows are merged by prediction id (a label that
arrived since the last pull replaces the empty one), window profiles by window start (a
window still filling is replaced by its newer profile). The logged rows are what
``modeldeck drift REF --pulled`` analyses per window and host, and their labels give the
realized performance next to the estimated one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from modeldeck.core.deploy import trust
from modeldeck.core.deploy.session import HostSession
from modeldeck.core.errors import ModelDeckError
from modeldeck.core.progress import CancelToken, Operation, ProgressEvent

#: Rows asked per request (the server's limit is 100,000).
PAGE_ROWS = 50_000
PULLED = "pulled"


@dataclass(frozen=True)
class PullResult:
    """What one host gave."""

    host: str
    ok: bool
    model: str = ""
    version: int | None = None
    release_id: str = ""
    windows: int = 0
    rows: int = 0
    new_rows: int = 0
    labeled: int = 0
    rows_file: str = ""
    error: str = ""


def pulled_folder(workspace: Any, model: str) -> Path:
    """Where the pulled files of ``model`` live."""
    return Path(workspace.path) / PULLED / model


def pulled_files(workspace: Any, model: str, hosts: Sequence[str] | None = None) -> list[Path]:
    """The pulled row files of ``model`` (of ``hosts`` only, when given)."""
    folder = pulled_folder(workspace, model)
    files = sorted(p for p in folder.glob("*.parquet")) if folder.is_dir() else []
    if hosts is not None:
        files = [p for p in files if p.stem in set(hosts)]
    return files


def _fetch(session: HostSession, path: str, query: dict[str, Any]) -> Any:
    text = path + ("?" + urlencode({k: v for k, v in query.items() if v is not None})
                   if any(v is not None for v in query.values()) else "")
    answer = session.agent("fetch", "--path", text, "--timeout", "120", timeout=180)
    status, body = answer.get("status"), answer.get("body")
    if status != 200:
        detail = body.get("message") if isinstance(body, dict) else body
        raise ModelDeckError(f"{session.name}: GET {path} answered {status}: {detail}",
                             "check the host's server with `modeldeck status`")
    return body


def _write_parquet(frame: pd.DataFrame, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def _write_json(data: Any, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, target)


def _target_name(workspace: Any, model: str, version: int | None) -> str | None:
    from modeldeck.core.registry import Registry

    try:
        info = Registry(workspace).get_version(f"{model}:{version}" if version else model)
    except ModelDeckError:
        return None
    return info.target


def _pull_host(workspace: Any, host: Any, lookup: Callable[[str], Any | None],
               since: str | None, cancel: CancelToken) -> tuple[PullResult, Any, Any]:
    """Fetch one host's profiles and rows (network only; files are written by the caller
    in the calling thread)."""
    try:
        session = HostSession.start(trust.connect(workspace, host, lookup), host)
    except ModelDeckError as exc:
        return PullResult(host.name, False, error=str(exc)), None, None
    try:
        profiles = _fetch(session, "/v1/profile", {"since": since})
        pages = []
        after = since
        while True:
            cancel.check()
            page = _fetch(session, "/v1/predictions", {"since": after, "limit": PAGE_ROWS})
            frame = pd.DataFrame(page.get("data", []), columns=page.get("columns", []))
            pages.append(frame)
            if len(frame) < PAGE_ROWS or "ts" not in frame.columns:
                break
            after = str(frame["ts"].iloc[-1])
        rows = pd.concat(pages, ignore_index=True) if pages else pd.DataFrame()
    except ModelDeckError as exc:
        return PullResult(host.name, False, error=str(exc)), None, None
    finally:
        session.close()
    return PullResult(host.name, True, model=str(profiles.get("model", "")),
                      version=profiles.get("version"),
                      release_id=str(profiles.get("release", ""))), profiles, rows


def store_pulled(workspace: Any, result: PullResult, profiles: dict[str, Any],
                 rows: pd.DataFrame) -> PullResult:
    """Keep what was pulled from ``result.host`` in the workspace: its profiles merged by
    window (newest answer wins) and its logged rows merged by prediction id (the newer
    copy, with its label, wins)."""
    folder = pulled_folder(workspace, result.model)
    folder.mkdir(parents=True, exist_ok=True)
    # profiles: merged by window start, newest answer wins
    profile_file = folder / f"{result.host}.profiles.json"
    known: dict[str, Any] = {}
    if profile_file.is_file():
        try:
            known = {w["start"]: w for w in json.loads(profile_file.read_text())["windows"]}
        except (OSError, ValueError, KeyError, TypeError):
            known = {}
    for window in profiles.get("windows", []):
        known[window["start"]] = {**window, "release": profiles.get("release")}
    _write_json({"model": result.model, "host": result.host,
                 "encoding": profiles.get("encoding"),
                 "window_seconds": profiles.get("window_seconds"),
                 "windows": [known[k] for k in sorted(known)]}, profile_file)
    # rows: merged by prediction id, the newer copy (with its label) wins
    target = _target_name(workspace, result.model, result.version) or "label"
    rows = rows.copy()
    if "label" in rows.columns and target != "label" and target not in rows.columns:
        rows = rows.rename(columns={"label": target})
    rows.insert(2 if len(rows.columns) >= 2 else 0, "host", result.host)
    rows_file = folder / f"{result.host}.parquet"
    new = len(rows)
    if rows_file.is_file():
        old = pd.read_parquet(rows_file)
        before = set(old["prediction_id"]) if "prediction_id" in old.columns else set()
        rows = pd.concat([old, rows], ignore_index=True)
        if "prediction_id" in rows.columns:
            rows = rows.drop_duplicates("prediction_id", keep="last")
            new = len(set(rows["prediction_id"]) - before)
    if "ts" in rows.columns:
        rows["ts"] = pd.to_datetime(rows["ts"], utc=True, format="ISO8601")
        rows = rows.sort_values("ts", kind="stable").reset_index(drop=True)
    if len(rows):
        _write_parquet(rows, rows_file)
    labeled = int(rows[target].notna().sum()) if target in rows.columns else 0
    return PullResult(result.host, True, result.model, result.version, result.release_id,
                      windows=len(profiles.get("windows", [])), rows=len(rows), new_rows=new,
                      labeled=labeled, rows_file=str(rows_file) if len(rows) else "")


def _last_seen(workspace: Any, host: str) -> str | None:
    """The newest row time already pulled from ``host`` (any model), to pull from."""
    base = Path(workspace.path) / PULLED
    newest = None
    for path in base.glob(f"*/{host}.parquet") if base.is_dir() else []:
        try:
            ts = pd.read_parquet(path, columns=["ts"])["ts"]
        except (OSError, ValueError, KeyError):
            continue
        if len(ts):
            value = pd.Timestamp(ts.max())
            newest = value if newest is None or value > newest else newest
    return None if newest is None else newest.isoformat()


def pull(workspace: Any, hosts: Sequence[Any], *, since: str | None = None,
         full: bool = False, parallel: int = 8, cancel: CancelToken | None = None
         ) -> Operation[list[PullResult]]:
    """Fetch profiles, logged predictions and labels from ``hosts`` into the workspace.

    ``since`` (ISO 8601) bounds what is asked; by default each host is asked only for what
    came after the newest row already pulled from it (``full`` asks for everything its log
    still keeps — labels given to old predictions since then arrive that way).
    """
    from modeldeck.core.deploy.hosts import HostStore

    cancel = cancel or CancelToken()
    lookup = {h.name: h for h in HostStore(workspace).list()}.get
    starts = {h.name: since if since or full else _last_seen(workspace, h.name)
              for h in hosts}
    yield ProgressEvent("pulling", 0.0, f"asking {len(hosts)} hosts")
    results: list[PullResult] = []
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(hosts) or 1)),
                            thread_name_prefix="pull") as pool:
        futures = [pool.submit(_pull_host, workspace, h, lookup, starts[h.name], cancel)
                   for h in hosts]
        for i, future in enumerate(futures):
            result, profiles, rows = future.result()
            if result.ok:
                try:
                    result = store_pulled(workspace, result, profiles, rows)
                except (OSError, ValueError) as exc:
                    result = PullResult(result.host, False, error=f"cannot store: {exc}")
            results.append(result)
            yield ProgressEvent("pulling", (i + 1) / len(futures),
                                f"{result.host}: " + (f"{result.new_rows} new rows, "
                                                      f"{result.windows} windows"
                                                      if result.ok else result.error))
    ok = [r for r in results if r.ok]
    if ok:
        with workspace.mutate("host.pull", ",".join(r.host for r in ok), None) as change:
            change.payload = {r.host: {"model": r.model, "version": r.version,
                                       "new_rows": r.new_rows, "windows": r.windows,
                                       "labeled": r.labeled} for r in ok}
    return results
