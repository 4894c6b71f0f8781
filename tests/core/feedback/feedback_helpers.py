"""Plays the demo's production days through the runtime's prediction log (see conftest)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from modeldeck.core.demo import HOSTS
from modeldeck.core.registry import Registry
from modeldeck.core.workspace import Workspace

MODEL = "breast-cancer"


@dataclass
class _Rows:
    columns: dict[str, np.ndarray]
    n: int


def demo_day(ws_path: Path, day: int, model: str = MODEL) -> pd.DataFrame:
    """One production day of the demo with its labels (column named as the target)."""
    folder = ws_path / "demo-data" / model
    rows = pd.read_csv(folder / f"production-day-{day}.csv")
    labels = pd.read_csv(folder / f"production-day-{day}.labels.csv")
    target = [c for c in labels.columns if c != "row"][0]
    rows[target] = labels.set_index("row").loc[np.arange(1, len(rows) + 1), target].to_numpy()
    return rows


def serve_days(ws: Workspace, log_dir: Path, days: Iterable[int], *,
               labeled_days: Iterable[int] = (), ref: str = f"{MODEL}@production",
               label_share: float = 1.0, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Serve the demo days with ``ref`` on each demo host, log them, give back the labels
    of ``labeled_days`` (a ``label_share`` of their rows) and store the pull's files.

    Returns each host's logged rows (with ``host`` and the true label in ``true_label``)."""
    from modeldeck.core.deploy.pull import PullResult, store_pulled
    from modeldeck.core.runtime.ids import IdAllocator
    from modeldeck.core.runtime.logstore import LogBatch, LogStore

    registry = Registry(ws)
    info = registry.get_version(ref)
    model = registry.load_model(info)
    features = list(info.feature_names)
    labeled_days = set(labeled_days)
    rng = np.random.default_rng(seed)
    out: dict[str, pd.DataFrame] = {}
    log_dir.mkdir(parents=True, exist_ok=True)
    for host in HOSTS:
        store = LogStore(log_dir / f"{host}.db", task=info.task, classes=list(info.classes),
                         host=host, max_age_days=3650, flush_interval=0.05)
        store.start()
        ids = IdAllocator()
        truth: dict[str, object] = {}
        feedback: list[tuple[str, object]] = []
        try:
            for day in days:
                frame = demo_day(ws.path, day, info.model)
                frame = frame.loc[(frame["host"] == host).to_numpy()]
                # the server refuses rows with missing inputs (422): they are never logged
                frame = frame.loc[frame[features].notna().all(axis=1).to_numpy()]
                if frame.empty:
                    continue
                n = len(frame)
                first = ids.take(n)
                times = np.array([datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
                                  for t in frame["timestamp"]])
                inputs = frame[features]
                store.append(LogBatch(float(times[0]), ids.boot, first, n,
                                      _Rows({c: inputs[c].to_numpy(dtype=np.float64)
                                             for c in features}, n),
                                      model.predict(inputs), model.predict_proba(inputs),
                                      times=times))
                pids = [f"{ids.boot}-{c:x}" for c in range(first, first + n)]
                truth.update(zip(pids, frame[info.target]))
                if day in labeled_days:
                    chosen = rng.random(n) < label_share
                    feedback += [(p, y) for p, y, c in zip(pids, frame[info.target], chosen)
                                 if c]
            assert store.flush()
            if feedback:
                result = store.add_feedback(feedback)
                assert result.accepted == len(feedback)
            rows = store.rows(limit=1_000_000)
        finally:
            store.close()
        store_pulled(ws, PullResult(host, True, model=info.model, version=info.version,
                                    release_id="demo"), {"windows": []}, rows)
        rows = rows.assign(host=host, true_label=rows["prediction_id"].map(truth))
        out[host] = rows
    return out
