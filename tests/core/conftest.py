"""Core fixtures: small fitted models and data files written to tmp_path."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modeldeck.core.registry import Registry
from modeldeck.core.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """An empty workspace; the test user is its admin."""
    workspace = Workspace.open(tmp_path / "ws", create=True)
    yield workspace
    workspace.close()


@pytest.fixture
def registry(ws: Workspace) -> Registry:
    return Registry(ws)


@pytest.fixture
def iris_files(tmp_path: Path) -> dict[str, Path]:
    """A fitted classifier (skops), reference and holdout CSVs with a string target."""
    import skops.io as sio
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    frame["species"] = np.asarray(data.target_names)[frame.pop("target")]
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    train, holdout = frame.iloc[:100], frame.iloc[100:]
    features = [c for c in frame.columns if c != "species"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(max_iter=1000).fit(train[features], train["species"])
    files = {"model": tmp_path / "iris.skops", "reference": tmp_path / "train.csv",
             "holdout": tmp_path / "holdout.csv", "reference_parquet": tmp_path / "train.parquet"}
    sio.dump(model, files["model"])
    train.to_csv(files["reference"], index=False)
    train.to_parquet(files["reference_parquet"], index=False)
    holdout.to_csv(files["holdout"], index=False)
    return files


@pytest.fixture
def regression_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3))
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                         "y": 2 * x[:, 0] - x[:, 1] + rng.normal(scale=0.1, size=300)})
