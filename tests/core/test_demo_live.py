"""The living demo (``modeldeck demo --live``): the demo's production run for real on two
local hosts — deployed through the deploy code, traffic through the real servers under its
own event times, labels back through their feedback endpoint, pulled, retrained into a
release candidate — and brought back up, not rebuilt, when its servers stopped."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from modeldeck.core.demo_live import LIVE_MODEL, make_live, stop_live
from modeldeck.core.deploy.hosts import HostStore, deployments
from modeldeck.core.deploy.pull import pulled_files
from modeldeck.core.deploy.rollout import fleet_status
from modeldeck.core.progress import run
from modeldeck.core.release import Releases
from modeldeck.core.workspace import Workspace


def _model(host) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://{host.serve_bind}:{host.serve_port}/v1/model", timeout=10) as r:
        return json.loads(r.read())


def test_the_living_demo_serves_real_traffic_and_comes_back_up(
        make_workspace: Callable[..., Path]) -> None:
    with Workspace.open(make_workspace(demo=True)) as ws:
        try:
            live = run(make_live(ws))
            hosts = HostStore(ws).list()
            assert [h.name for h in hosts] == live.hosts == ["edge-1", "edge-2"]
            assert all(h.transport == "local" for h in hosts)
            assert [s.healthy for s in fleet_status(ws, hosts)] == [True, True]
            assert {_model(h)["release"] for h in hosts} == {live.deployed}
            # a week of 200 rows a day, less what edge-2's broken feed lost
            assert live.rows_sent + live.rows_rejected == 7 * 200 and live.rows_rejected > 0
            rows = pd.concat(pd.read_parquet(p) for p in pulled_files(ws, LIVE_MODEL))
            assert set(rows["host"]) == {"edge-1", "edge-2"}
            # the rows are filed under their own days, the newest without labels yet
            days = pd.to_datetime(rows["ts"], utc=True).dt.floor("D")
            assert days.nunique() >= 7
            labeled = rows["diagnosis"].notna()
            assert live.labels_sent == labeled.sum() > 0
            assert days[labeled].max() < days.max()
            candidate = Releases(ws).get(live.candidate.id)
            assert candidate.status == "awaiting-approval" and candidate.author == "alice"
            assert live.retrained == f"{LIVE_MODEL}:3"

            # stopped, it is brought back up — not deployed or fed again
            assert stop_live(ws) == ["edge-1", "edge-2"]
            assert [s.healthy for s in fleet_status(ws, hosts)] == [False, False]
            before = len(deployments(ws, limit=None))
            again = run(make_live(ws))
            assert again.started == ["edge-1", "edge-2"] and not again.deployed
            assert [s.healthy for s in fleet_status(ws, hosts)] == [True, True]
            assert len(deployments(ws, limit=None)) == before
        finally:
            stop_live(ws)
