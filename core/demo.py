"""The demo workspace: real models on data sets that ship inside scikit-learn (no download).

Two models, two versions each, registered by a data scientist (``alice``), ``staging`` on
version 2 and ``production`` on version 1 (set by a reviewer, ``bob``), filled model cards,
and next to them in ``demo-data/`` the files a newcomer needs for the CLI tour (model files,
reference and holdout CSVs) and a week of "production" data from two hosts (``timestamp``
and ``host`` columns) in which drift sets in from day 4 on every host, plus one fault
confined to one host (missing values on edge-2, a unit change on edge-1), with the labels
in separate files for the feedback loop.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modeldeck.core.errors import AlreadyExistsError
from modeldeck.core.progress import CancelToken, Operation, ProgressEvent, scaled
from modeldeck.core.registry import ModelCard, Registry
from modeldeck.core.workspace import Workspace

DEMO_MODELS = ("breast-cancer", "diabetes")
DEMO_USERS = {"alice": "data-scientist", "bob": "reviewer"}
PRODUCTION_DAYS = 7
DRIFT_FROM_DAY = 4
SEED = 7


def _breast_cancer() -> tuple[pd.DataFrame, str]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns={"target": "diagnosis"})
    frame["diagnosis"] = np.where(frame["diagnosis"] == 1, "benign", "malignant")
    return frame, "diagnosis"


def _diabetes() -> tuple[pd.DataFrame, str]:
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True, scaled=False)
    frame = data.frame.rename(columns={"target": "progression"})
    frame["sex"] = np.where(frame["sex"] == 1, "female", "male")
    return frame, "progression"


def _split(frame: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, ...]:
    order = rng.permutation(len(frame))
    a, b = int(0.6 * len(frame)), int(0.8 * len(frame))
    return tuple(frame.iloc[idx].reset_index(drop=True)
                 for idx in (order[:a], order[a:b], order[b:]))


def _breast_cancer_models() -> list[tuple[Any, ModelCard, str]]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    card = dict(
        intended_use="Second-reader support for radiologists triaging fine-needle aspirate "
                     "reports; flags likely malignant samples for priority review.",
        limitations="Trained on 341 Wisconsin samples from one lab; not validated on other "
                    "imaging pipelines. Never a diagnosis on its own.",
        owner="Diagnostics ML team", contact="alice@example.org")
    return [
        (make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
         ModelCard(**card), "mean"),
        (HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08, random_state=SEED),
         ModelCard(**card), "all"),
    ]


def _diabetes_models() -> list[tuple[Any, ModelCard, str]]:
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    card = dict(
        intended_use="Estimates one-year disease progression to plan follow-up capacity; "
                     "used in aggregate, not for individual treatment decisions.",
        limitations="442 patients from one study; the 'sex' column is binary in the source "
                    "data. Error grows for progression scores above 250.",
        owner="Care planning analytics", contact="alice@example.org")

    def encode() -> Any:
        return make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["sex"]),
                                       remainder=StandardScaler())

    return [
        (make_pipeline(encode(), Ridge(alpha=1.0)), ModelCard(**card), "all"),
        (make_pipeline(encode(), GradientBoostingRegressor(n_estimators=150, max_depth=2,
                                                           random_state=SEED)),
         ModelCard(**card), "all"),
    ]


_DRIFT = {
    # feature -> relative shift per day once drift sets in
    "breast-cancer": {"mean radius": 0.06, "mean texture": 0.05, "worst radius": 0.05},
    "diabetes": {"bmi": 0.04, "s5": 0.03},
}


#: A fault confined to one host: (host, first day, feature, kind). "missing" blanks a share
#: of the values (a broken integration); "units" divides them by 10 (a unit change upstream).
_HOST_FAULT = {
    "breast-cancer": ("edge-2", 6, "mean smoothness", "missing"),
    "diabetes": ("edge-1", 5, "bp", "units"),
}
HOSTS = ("edge-1", "edge-2")
FIRST_DAY = datetime(2026, 11, 16, tzinfo=timezone.utc)


def _production_days(frame: pd.DataFrame, target: str, model: str,
                     rng: np.random.Generator, folder: Path) -> None:
    features = frame.drop(columns=[target])
    numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
    continuous = [c for c in numeric
                  if (features[c] == features[c].round()).mean() < 0.5]
    fault_host, fault_day, fault_column, fault_kind = _HOST_FAULT[model]
    for day in range(1, PRODUCTION_DAYS + 1):
        # Each day is 200 distinct records from the whole population (the data set the
        # reference was drawn from): resampling a small split with replacement would repeat
        # records, and repeated records make any test overconfident.
        picked = rng.choice(len(features), size=200, replace=False)
        rows = features.iloc[picked].reset_index(drop=True)
        labels = frame[target].iloc[picked].reset_index(drop=True)
        # Measurement noise so days differ from each other without drifting; only on
        # continuous measurements (jittering integer codes like diabetes' s4 would change
        # their distribution for real).
        for col in continuous:
            scale = float(features[col].std()) * 0.02
            rows[col] = rows[col] + rng.normal(0.0, scale, size=len(rows))
        if day >= DRIFT_FROM_DAY:
            for col, step in _DRIFT[model].items():
                rows[col] = rows[col] * (1.0 + step * (day - DRIFT_FROM_DAY + 1))
        host = rng.choice(HOSTS, size=len(rows))
        if day >= fault_day:
            on_host = host == fault_host
            if fault_kind == "missing":
                rows[fault_column] = rows[fault_column].where(
                    ~(on_host & (rng.random(len(rows)) < 0.4)))
            else:
                rows.loc[on_host, fault_column] = rows.loc[on_host, fault_column] / 10.0
        seconds = np.sort(rng.integers(0, 86_400, size=len(rows)))
        stamps = [FIRST_DAY + timedelta(days=day - 1, seconds=int(s)) for s in seconds]
        rows.insert(0, "host", host)
        rows.insert(0, "timestamp", [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in stamps])
        rows.to_csv(folder / f"production-day-{day}.csv", index=False)
        pd.DataFrame({"row": np.arange(1, len(rows) + 1), target: labels}).to_csv(
            folder / f"production-day-{day}.labels.csv", index=False)


#: The demo models' release policy: they may be deployed without a review, so that a first
#: deploy (the README's) just works; every other model needs an approved release.
DEMO_POLICY = """\
# The demo's models may be deployed without a review, so that a first `modeldeck deploy`
# just works. Every other model needs an approved release candidate (`modeldeck release`):
# delete this file (or set true) to see the demo go through the same approval.
[approval]
required_for_deploy = false
"""


def _write_policy(ws: Workspace, model: str) -> None:
    folder = ws.path / "policies"
    folder.mkdir(exist_ok=True)
    (folder / f"{model}.toml").write_text(DEMO_POLICY, encoding="utf-8")


def build_demo(ws: Workspace, cancel: CancelToken | None = None) -> Operation[list[str]]:
    """Fill ``ws`` with the demo (a generator operation); return the registered refs.

    Raises
    ------
    AlreadyExistsError
        The workspace already holds a demo model.
    PermissionDeniedError
        The acting user is not an admin (the demo registers users).
    """
    import skops.io as sio

    cancel = cancel or CancelToken()
    registry = Registry(ws)
    taken = [m.name for m in registry.list_models() if m.name in DEMO_MODELS]
    if taken:
        raise AlreadyExistsError(f"workspace {ws.path} already has the demo model(s) "
                                 f"{', '.join(taken)}",
                                 "run the demo in a new workspace (--workspace NEW_FOLDER)")
    ws.require("manage-users")
    existing = {u.name for u in ws.users()}
    for name, role in DEMO_USERS.items():
        if name not in existing:
            ws.add_user(name, role)
    alice = Registry(ws.as_user("alice"))
    bob = Registry(ws.as_user("bob"))
    rng = np.random.default_rng(SEED)
    refs: list[str] = []
    plans = [("breast-cancer", _breast_cancer, _breast_cancer_models,
              "Breast cancer diagnosis from digitised fine-needle aspirate images",
              ("classification", "healthcare")),
             ("diabetes", _diabetes, _diabetes_models,
              "One-year diabetes progression from baseline measurements",
              ("regression", "healthcare"))]
    steps = sum(len(p[2]()) for p in plans)
    done = 0
    try:
        for name, load, models, description, tags in plans:
            frame, target = load()
            train, holdout, _rest = _split(frame, rng)  # _rest: records never trained on
            folder = ws.path / "demo-data" / name
            folder.mkdir(parents=True, exist_ok=True)
            train.to_csv(folder / "reference.csv", index=False)
            holdout.to_csv(folder / "holdout.csv", index=False)
            _production_days(frame, target, name, rng, folder)
            for number, (estimator, card, columns) in enumerate(models(), start=1):
                cancel.check()
                span = (done / steps, (done + 1) / steps)
                done += 1
                yield ProgressEvent("training", span[0], f"training {name} version {number}")
                features = [c for c in train.columns if c != target]
                if columns == "mean":
                    features = [c for c in features if c.startswith("mean ")]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    estimator.fit(train[features], train[target])
                sio.dump(estimator, folder / f"v{number}.skops")
                info = yield from scaled(alice.register(
                    name, estimator, train[[*features, target]], holdout[[*features, target]],
                    target, card=card, description=description, tags=tags, cancel=cancel),
                    span[0] + 0.3 * (span[1] - span[0]), span[1])
                refs.append(info.ref)
            alice.set_alias(f"{name}:2", "staging")
            bob.set_alias(f"{name}:1", "production")
            _write_policy(ws, name)
    finally:
        alice.ws.close()
        bob.ws.close()
    yield ProgressEvent("done", 1.0, f"demo ready: {', '.join(refs)}")
    return refs
