"""The living demo: the demo workspace's production, for real, on this machine.

:func:`make_live` deploys ``breast-cancer@production`` to two *local* hosts, ``edge-1`` and
``edge-2`` (the same release steps as over SSH, into ``WORKSPACE/demo-hosts/<host>``, with
the prediction server as a local process), sends the demo's week of production data
through their real servers — each row to the host the data names, filed under its own
time (the request's ``event_time``, the week shifted to end now), so drift sets in over
the days and one host's fault stays on that host — returns the true labels of the older
days' rows through the servers' feedback endpoint (the latest day's labels have not come
back yet), pulls profiles, predictions and labels into the workspace, and retrains the
model on them, which opens a release candidate for a reviewer. Every number the GUI then
shows comes from the engine. :func:`stop_live` stops the demo's servers;
:func:`make_live` on a live demo only starts the servers that stopped.
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from modeldeck.core.demo import FIRST_DAY, HOSTS, PRODUCTION_DAYS
from modeldeck.core.errors import ModelDeckError, NotFoundError
from modeldeck.core.progress import CancelToken, Operation, ProgressEvent, scaled
from modeldeck.core.workspace import Workspace

LIVE_MODEL = "breast-cancer"
LIVE_REF = f"{LIVE_MODEL}@production"
TARGET = "diagnosis"
GROUP = "demo"
#: Days whose labels have come back (the latest day's have not).
LABELED_DAYS = PRODUCTION_DAYS - 1


@dataclass
class LiveDemo:
    """What :func:`make_live` did."""

    hosts: list[str]
    started: list[str] = field(default_factory=list)
    deployed: str = ""
    rows_sent: int = 0
    rows_rejected: int = 0
    labels_sent: int = 0
    rows_pulled: int = 0
    candidate: Any | None = None
    retrained: str = ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_hosts(ws: Workspace) -> list[Any]:
    """The living demo's local hosts, adding those missing (``WORKSPACE/demo-hosts/``)."""
    from modeldeck.core.deploy.hosts import Host, HostStore

    store = HostStore(ws)
    known = {h.name: h for h in store.list()}
    out = []
    for name in HOSTS:
        if name not in known:
            root = (ws.path / "demo-hosts" / name).resolve()
            store.add(Host(name=name, transport="local", root=str(root), python=sys.executable,
                           groups=(GROUP,), serve_bind="127.0.0.1", serve_port=_free_port(),
                           labels={"demo": "live"}))
        out.append(store.get(name))
    return out


def _post(host: Any, path: str, body: Any) -> Any:
    request = urllib.request.Request(
        f"http://{host.serve_bind}:{host.serve_port}{path}", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            error = json.loads(exc.read() or b"{}").get("error") or {}
        raise ModelDeckError(f"{host.name} answered {exc.code} to {path}: "
                             f"{error.get('message', exc.reason)}", error.get("fix")) from None


def _week(ws: Workspace) -> pd.DataFrame:
    """The demo's production week (rows, host, labels), its times shifted to end now."""
    folder = ws.path / "demo-data" / LIVE_MODEL
    days = []
    for day in range(1, PRODUCTION_DAYS + 1):
        rows = pd.read_csv(folder / f"production-day-{day}.csv")
        labels = pd.read_csv(folder / f"production-day-{day}.labels.csv")
        days.append(rows.assign(day=day, **{TARGET: labels[TARGET].to_numpy()}))
    week = pd.concat(days, ignore_index=True)
    stamps = pd.to_datetime(week.pop("timestamp"), utc=True)
    now = pd.Timestamp(datetime.now(timezone.utc))
    end = FIRST_DAY + timedelta(days=PRODUCTION_DAYS)
    week["at"] = stamps + (now.floor("h") - pd.Timestamp(end))
    return week


def _send_traffic(ws: Workspace, hosts: dict[str, Any], features: list[str],
                  cancel: CancelToken) -> Operation[tuple[int, int, int]]:
    """Each row to its host, an hour of one host per request, under its own time, and the
    labels of the older days back through the feedback endpoint: rows and labels sent,
    rows the servers refused."""
    week = _week(ws)
    groups = list(week.groupby(["host", week["at"].dt.floor("h")], sort=True))
    sent = labels = rejected = 0
    for i, ((host, hour), part) in enumerate(groups):
        cancel.check()
        # rows with a value missing where the model takes none (edge-2's broken feed) are
        # refused by the server (422, counted in its /metrics): sent apart, so the rest
        # of the hour gets through
        whole = part[features].notna().all(axis=1)
        if not whole.all():
            broken = part.loc[~whole, features].astype(object)
            try:
                _post(hosts[host], "/v1/predict", {
                    "columns": features, "event_time": hour.isoformat(),
                    "data": broken.where(broken.notna(), None).values.tolist()})
            except ModelDeckError:
                rejected += int((~whole).sum())
            part = part[whole]
        if part.empty:
            continue
        answer = _post(hosts[host], "/v1/predict", {
            "columns": features, "data": part[features].values.tolist(),
            "event_time": hour.isoformat()})
        sent += len(part)
        back = [{"prediction_id": p["id"], "label": label}
                for p, label, day in zip(answer["predictions"], part[TARGET], part["day"])
                if day <= LABELED_DAYS]
        if back:
            labels += _post(hosts[host], "/v1/feedback", {"feedback": back})["accepted"]
        if i % 12 == 0:
            yield ProgressEvent("traffic", i / len(groups),
                                f"sent {sent} rows to {', '.join(hosts)}")
    return sent, labels, rejected


def _running(ws: Workspace, hosts: list[Any]) -> list[Any]:
    from modeldeck.core.deploy.rollout import fleet_status

    states = {s.host: s for s in fleet_status(ws, hosts)}
    return [h for h in hosts if states[h.name].healthy]


def make_live(ws: Workspace, cancel: CancelToken | None = None) -> Operation[LiveDemo]:
    """Bring the demo in ``ws`` to life (see the module docstring); on a live demo, start
    the servers that stopped. The acting user must be the workspace's admin (it deploys).

    Raises
    ------
    NotFoundError
        The workspace has no demo (run :func:`~modeldeck.core.demo.build_demo` first).
    """
    from modeldeck.core.deploy import pull as pull_mod
    from modeldeck.core.deploy import rollout as ro
    from modeldeck.core.deploy.hosts import deployments
    from modeldeck.core.feedback.retrain import retrain
    from modeldeck.core.registry import Registry

    cancel = cancel or CancelToken()
    if LIVE_MODEL not in {m.name for m in Registry(ws).list_models()}:
        raise NotFoundError(f"workspace {ws.path} has no demo to bring to life",
                            "run `modeldeck demo --live` on a new workspace folder")
    ws.require("deploy")
    hosts = demo_hosts(ws)
    live = LiveDemo([h.name for h in hosts])
    yield ProgressEvent("hosts", 0.0, "checking the demo's hosts")
    deployed_before = [d for d in deployments(ws, limit=None)
                       if d.host in live.hosts and d.outcome == "ok"]
    if deployed_before:
        down = [h for h in hosts if h not in _running(ws, hosts)]
        if down:
            yield ProgressEvent("restarting", 0.5, "starting the servers of "
                                + ", ".join(h.name for h in down))
            with ThreadPoolExecutor(max_workers=len(down)) as pool:
                list(pool.map(lambda h: _restart(ws, h), down))
            live.started = [h.name for h in down]
        yield ProgressEvent("done", 1.0, "the demo's hosts are serving")
        return live

    result = yield from scaled(ro.rollout(ws, LIVE_REF, hosts, ro.DeployOptions(canary=0),
                                          cancel=cancel), 0.0, 0.3)
    if not result.ok:
        problems = "; ".join(f"{r.host}: {r.error}" for r in result.results if not r.ok)
        raise ModelDeckError(f"the demo could not deploy to its local hosts: {problems}",
                             "see `modeldeck status`; the hosts' logs are in "
                             f"{ws.path / 'demo-hosts'}")
    live.deployed, live.started = result.release_id, list(live.hosts)
    by_name = {h.name: h for h in hosts}
    live.rows_sent, live.labels_sent, live.rows_rejected = yield from scaled(
        _send_traffic(ws, by_name, list(Registry(ws).get_version(LIVE_REF).feature_names), cancel),
        0.3, 0.6)
    pulled = yield from scaled(pull_mod.pull(ws, hosts, full=True, cancel=cancel), 0.6, 0.7)
    live.rows_pulled = sum(r.new_rows for r in pulled if r.ok)
    yield ProgressEvent("retraining", 0.7, "retraining on the labeled production rows")
    made = yield from scaled(retrain(ws.as_user("alice"), LIVE_REF, cancel=cancel), 0.7, 1.0)
    live.retrained, live.candidate = made.version.ref, made.candidate
    yield ProgressEvent("done", 1.0, "the demo is live")
    return live


def _agent(ws: Workspace, host: Any, command: str, timeout: float = 60) -> dict[str, Any]:
    """One agent call on a demo host (local: no SSH, no key to trust)."""
    from modeldeck.core.deploy import trust
    from modeldeck.core.deploy.session import HostSession

    session = HostSession.start(trust.connect(ws, host, lambda _n: None), host)
    try:
        return session.agent(command, timeout=timeout)
    finally:
        session.close()


def _restart(ws: Workspace, host: Any) -> None:
    _agent(ws, host, "restart", timeout=120)


def stop_live(ws: Workspace) -> list[str]:
    """Stop the servers of the demo's local hosts; the names of those stopped."""
    from modeldeck.core.deploy.hosts import HostStore

    stopped = []
    for host in HostStore(ws).list():
        if host.transport == "local" and host.name in HOSTS:
            if _agent(ws, host, "stop").get("stopped"):
                stopped.append(host.name)
    return stopped
