"""Registering versions, what they record, references, aliases, compare, paging."""

from __future__ import annotations

import operator
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modeldeck.core.errors import CorruptArtifactError, InvalidInputError, NotFoundError, \
    PermissionDeniedError
from modeldeck.core.progress import CancelToken, ProgressEvent, run
from modeldeck.core.registry import ModelCard, Registry, parse_ref
from modeldeck.core.registry.lineage import fingerprint, reference_sample
from modeldeck.core.workspace import Workspace


def _register(registry: Registry, name: str, files: dict[str, Path], **kw: object):
    return run(registry.register(name, files["model"], files["reference"], files["holdout"],
                                 "species", **kw))


def test_register_records_everything(registry: Registry, iris_files: dict[str, Path]) -> None:
    events: list[ProgressEvent] = []
    card = ModelCard("triage", "iris only", "ml team", "ml@example.org")
    info = run(registry.register("iris", iris_files["model"], iris_files["reference"],
                                 iris_files["holdout"], "species", card=card,
                                 description="flowers", tags=["demo"]), events.append)
    assert info.ref == "iris:1" and info.version == 1
    assert [e.step for e in events][-1] == "done"
    fractions = [e.fraction for e in events if e.fraction is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert info.task == "classification" and info.estimator == "LogisticRegression"
    assert info.artifact_format == "skops"
    assert info.author == registry.ws.identity.name
    assert [c.name for c in info.schema] == ["sepal_length", "sepal_width", "petal_length",
                                            "petal_width"]
    assert all(c.dtype == "float" and not c.nullable for c in info.schema)
    assert info.target == "species"
    assert info.classes == ("setosa", "versicolor", "virginica")
    assert set(info.metrics) == {"rows", "accuracy", "balanced_accuracy", "f1_macro", "roc_auc"}
    assert 0.8 < info.metrics["accuracy"] <= 1.0 and info.metrics["rows"] == 50
    assert {"python", "numpy", "scikit-learn", "pandas", "platform"} <= set(info.environment)
    assert info.fingerprints["reference"]["rows"] == 100
    assert info.fingerprints["holdout"]["rows"] == 50
    assert len(info.fingerprints["reference"]["sha256"]) == 64
    assert info.card == card and info.parent is None
    model = registry.get_model("iris")
    assert model.description == "flowers" and model.tags == ("demo",)
    assert model.owner == "ml team"
    # the stored artifacts come back, verified
    assert registry.ws.artifacts.get_bytes(info.artifact_sha256) == iris_files["model"].read_bytes()
    sample = registry.load_reference_sample(info)
    assert list(sample.columns) == list(info.feature_names) and len(sample) == 100
    holdout = registry.load_holdout(info)
    predictions = registry.load_holdout_predictions(info)
    assert len(holdout) == len(predictions) == 50
    assert list(predictions.columns) == ["prediction", "proba_setosa", "proba_versicolor",
                                         "proba_virginica"]
    loaded = registry.load_model("iris:1")
    assert (loaded.predict(holdout[list(info.feature_names)]) == predictions["prediction"]).all()
    entry = registry.ws.audit_log(limit=1)[0]
    assert entry.action == "version.register" and entry.subject == "iris:1"
    assert entry.payload["artifact_sha256"] == info.artifact_sha256


def test_versions_number_up_and_link_parents(registry: Registry,
                                            iris_files: dict[str, Path]) -> None:
    for _ in range(3):
        _register(registry, "iris", iris_files)
    assert [v.version for v in registry.list_versions("iris")] == [1, 2, 3]
    assert registry.get_version("iris:3").parent == "iris:2"
    assert registry.get_version("iris").version == 3
    explicit = _register(registry, "iris", iris_files, parent="iris:1")
    assert explicit.parent == "iris:1"
    assert [v.ref for v in registry.lineage("iris:4")] == ["iris:4", "iris:1"]


def test_parquet_and_csv_give_the_same_fingerprint(registry: Registry,
                                                   iris_files: dict[str, Path]) -> None:
    a = _register(registry, "iris", iris_files)
    b = run(registry.register("iris", iris_files["model"], iris_files["reference_parquet"]))
    assert a.fingerprints["reference"] == b.fingerprints["reference"]
    assert b.metrics == {} and b.holdout_sha256 is None
    with pytest.raises(Exception, match="without a holdout"):
        registry.load_holdout(b)


def test_regression_metrics_and_in_memory_estimator(registry: Registry,
                                                    regression_frame: pd.DataFrame) -> None:
    from sklearn.linear_model import LinearRegression

    train, hold = regression_frame.iloc[:200], regression_frame.iloc[200:]
    model = LinearRegression().fit(train[["a", "b", "c"]], train["y"])
    info = run(registry.register("lin", model, train, hold, "y"))
    assert info.task == "regression" and info.classes is None
    assert set(info.metrics) == {"rows", "mae", "rmse", "r2"}
    assert info.metrics["r2"] > 0.95 and info.metrics["rmse"] < 0.2
    assert info.target == "y" and "y" not in info.feature_names


def test_model_without_feature_names_uses_data_columns(registry: Registry,
                                                       regression_frame: pd.DataFrame) -> None:
    from sklearn.linear_model import Ridge

    model = Ridge().fit(regression_frame[["a", "b", "c"]].to_numpy(), regression_frame["y"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn: "X has feature names, but Ridge was fitted without"
        info = run(registry.register("ridge", model, regression_frame, regression_frame, "y"))
    assert info.feature_names == ("a", "b", "c")


def test_reference_sample_is_bounded_and_seeded() -> None:
    frame = pd.DataFrame({"x": np.arange(60_000)})
    a, b = reference_sample(frame), reference_sample(frame)
    assert len(a) == 50_000 and a.equals(b)
    assert a["x"].is_monotonic_increasing  # original order kept
    assert len(reference_sample(frame.head(10))) == 10


def test_fingerprint_is_canonical() -> None:
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0], "s": ["x", None, "z"]})
    same = pd.DataFrame({"a": [1, None, 3], "s": ["x", np.nan, "z"]})
    assert fingerprint(frame) == fingerprint(same)
    assert fingerprint(frame)["sha256"] != fingerprint(frame.iloc[::-1])["sha256"]
    assert fingerprint(frame) != fingerprint(frame.rename(columns={"a": "b"}))


def test_onnx_model_is_accepted(registry: Registry, iris_files: dict[str, Path],
                                tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier

    train = pd.read_csv(iris_files["reference"])
    features = [c for c in train.columns if c != "species"]
    rf = RandomForestClassifier(n_estimators=10, random_state=0).fit(
        train[features].to_numpy(np.float32), train["species"])
    path = tmp_path / "rf.onnx"
    path.write_bytes(to_onnx(rf, train[features].to_numpy(np.float32)[:1]).SerializeToString())
    info = _register(registry, "iris-onnx", {**iris_files, "model": path})
    assert info.artifact_format == "onnx" and info.task == "classification"
    assert info.classes == ("setosa", "versicolor", "virginica")
    assert info.metrics["accuracy"] > 0.8 and "roc_auc" in info.metrics
    loaded = registry.load_model(info)
    assert loaded.predict(pd.read_csv(iris_files["holdout"])[features]).shape == (50,)


def test_trusted_pickle_is_stored_as_skops(registry: Registry, iris_files: dict[str, Path],
                                           tmp_path: Path) -> None:
    import skops.io as sio

    pkl = tmp_path / "iris.pkl"
    pkl.write_bytes(pickle.dumps(sio.load(iris_files["model"])))
    info = _register(registry, "iris", {**iris_files, "model": pkl}, trust_pickle=True)
    assert info.artifact_format == "skops"
    assert registry.ws.audit_log(limit=1)[0].payload["note"].startswith("converted")
    assert registry.load_model(info).estimator_name == "LogisticRegression"


def test_untrusted_skops_types_are_listed_then_accepted_explicitly(
        registry: Registry, iris_files: dict[str, Path], tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from modeldeck.core.errors import UntrustedTypesError

    train = pd.read_csv(iris_files["reference"])
    features = [c for c in train.columns if c != "species"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_pipeline(FunctionTransformer(operator.pos),
                              LogisticRegression(max_iter=500)).fit(train[features],
                                                                   train["species"])
    path = tmp_path / "logpipe.skops"
    sio.dump(model, path)
    untrusted = [t for t in sio.get_untrusted_types(file=path)]
    assert untrusted == ["_operator.pos"]
    with pytest.raises(UntrustedTypesError, match="_operator.pos") as info:
        _register(registry, "logpipe", {**iris_files, "model": path})
    assert "--trust-type" in str(info.value)
    with pytest.raises(NotFoundError):
        registry.get_model("logpipe")
    version = _register(registry, "logpipe", {**iris_files, "model": path},
                        trusted_types=["_operator.pos"])
    assert version.trusted_types == ("_operator.pos",)
    assert registry.load_model(version).estimator_name == "LogisticRegression"


def test_swapped_artifact_with_untrusted_types_is_refused_on_load(
        registry: Registry, iris_files: dict[str, Path]) -> None:
    info = _register(registry, "iris", iris_files)
    path = registry.ws.artifacts.path_of(info.artifact_sha256)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(CorruptArtifactError, match="corrupt"):
        registry.load_model("iris:1")


def test_references() -> None:
    assert parse_ref("m").version is None and parse_ref("m").alias is None
    assert parse_ref("m:3").version == 3
    assert parse_ref("m@production").alias == "production"
    assert str(parse_ref("m@production")) == "m@production"
    for bad in ["", "m:", "m:0", "m:x", "m@", "m@Prod", "bad name", "-m"]:
        with pytest.raises(InvalidInputError):
            parse_ref(bad)


def test_unknown_things_are_named(make_workspace) -> None:
    with Workspace.open(make_workspace()) as ws:
        registry = Registry(ws)
        with pytest.raises(NotFoundError, match="breast-cancer'?\\?") as info:
            registry.get_version("breast-cancr")
        assert "did you mean" in str(info.value)
        with pytest.raises(NotFoundError, match="no version 9") as info:
            registry.get_version("diabetes:9")
        assert "1 to 2" in str(info.value)
        with pytest.raises(NotFoundError, match="no alias 'prod'") as info:
            registry.get_version("diabetes@prod")
        assert "production, staging" in str(info.value)


def test_aliases_move_with_history_and_audit(make_workspace) -> None:
    with Workspace.open(make_workspace()) as ws:
        registry = Registry(ws)
        assert registry.get_version("diabetes@production").version == 1
        event = registry.set_alias("diabetes:2", "production")
        assert (event.version, event.previous) == (2, 1)
        assert registry.get_version("diabetes:2").aliases == ("production", "staging")
        registry.set_alias("diabetes:1", "production")  # a rollback reads like this
        removed = registry.remove_alias("diabetes", "staging")
        assert removed.version is None and removed.previous == 2
        history = registry.alias_history("diabetes")
        assert [(h.alias, h.version, h.previous) for h in history] == [
            ("staging", None, 2), ("production", 1, 2), ("production", 2, 1),
            ("production", 1, None), ("staging", 2, None)]
        assert [h.actor for h in history][-2:] == ["bob", "alice"]
        assert registry.get_model("diabetes").aliases == {"production": 1}
        assert [e.action for e in ws.audit_log(limit=3)] == ["alias.remove", "alias.set",
                                                             "alias.set"]
        with pytest.raises(NotFoundError):
            registry.remove_alias("diabetes", "staging")
        assert ws.verify_audit().ok


def test_production_alias_needs_a_reviewer(make_workspace) -> None:
    path = make_workspace()
    with Workspace.open(path, actor="alice") as ws:
        registry = Registry(ws)
        registry.set_alias("diabetes:1", "canary")  # a data scientist may move other aliases
        with pytest.raises(PermissionDeniedError, match="reviewer"):
            registry.set_alias("diabetes:2", "production")
        assert registry.get_version("diabetes@production").version == 1
    with Workspace.open(path, actor="bob") as ws:
        assert Registry(ws).set_alias("diabetes:2", "production").version == 2
        with pytest.raises(PermissionDeniedError, match="reviewer"):
            list(Registry(ws).register("x", None, pd.DataFrame({"a": [1]})))


def test_compare(make_workspace) -> None:
    with Workspace.open(make_workspace()) as ws:
        result = Registry(ws).compare("breast-cancer:1", "breast-cancer:2")
        deltas = {m.name: m for m in result.metrics}
        assert set(deltas) == {"accuracy", "balanced_accuracy", "f1_macro", "roc_auc"}
        acc = deltas["accuracy"]
        assert acc.delta == pytest.approx(acc.b - acc.a)
        assert len(result.schema.added) == 20 and not result.schema.removed
        assert result.schema.is_compatible
        assert result.environment == []
        back = Registry(ws).compare("breast-cancer:2", "breast-cancer:1")
        assert len(back.schema.removed) == 20 and not back.schema.is_compatible


def test_search_pages_and_filters(ws: Workspace, regression_frame: pd.DataFrame) -> None:
    from sklearn.linear_model import LinearRegression

    registry = Registry(ws)
    model = LinearRegression().fit(regression_frame[["a", "b", "c"]], regression_frame["y"])
    for i in range(7):
        run(registry.register(f"m{i}", model, regression_frame,
                              description="churn" if i % 2 else "fraud"))
    page = registry.search_models(max_results=3)
    names = [m.name for m in page]
    while page.token:
        page = registry.search_models(max_results=3, page_token=page.token)
        names += [m.name for m in page]
    assert names == [f"m{i}" for i in range(7)]
    assert [m.name for m in registry.list_models("CHURN")] == ["m1", "m3", "m5"]
    assert registry.search_models("nothing").token is None


def test_cancel_records_nothing(registry: Registry, iris_files: dict[str, Path]) -> None:
    token = CancelToken()
    op = registry.register("iris", iris_files["model"], iris_files["reference"],
                           iris_files["holdout"], "species", cancel=token)
    next(op)
    token.cancel()
    from modeldeck.core.errors import Cancelled

    with pytest.raises(Cancelled):
        run(op)
    assert registry.list_models() == []
    assert [e.action for e in registry.ws.audit_log()] == ["workspace.create"]


def test_model_card_and_metadata_edits(make_workspace) -> None:
    with Workspace.open(make_workspace()) as ws:
        registry = Registry(ws)
        card = ModelCard("new use", "", "team", "t@example.org")
        assert registry.update_card("diabetes:2", card).card.missing() == ["limitations"]
        assert registry.get_version("diabetes:2").card == card
        info = registry.update_model("diabetes", owner="new team", tags=["x"])
        assert info.owner == "new team" and info.tags == ("x",)
        assert [e.action for e in ws.audit_log(limit=2)] == ["model.update", "version.card"]
