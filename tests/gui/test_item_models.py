"""The Qt item models over registry dataclasses: model tester, paging, roles."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt

from modeldeck.core.registry import ModelCard, ModelInfo, PagedList, VersionInfo
from modeldeck.core.schema import ColumnSchema
from modeldeck.gui.item_models import (
    KeyValueTableModel,
    ModelRole,
    RegistryTableModel,
    SchemaTableModel,
    SortProxyModel,
    VersionsTableModel,
    delta_quality,
    format_delta,
    format_number,
)


def model_info(name: str, versions: int = 2, production: int | None = 1) -> ModelInfo:
    aliases = {"production": production} if production else {}
    return ModelInfo(name, f"{name} model", "team", ("demo",), "2024-05-01T10:00:00Z",
                     "alice", versions, versions, aliases)


def version_info(number: int, aliases: tuple[str, ...] = (), accuracy: float = 0.9,
                 task: str = "classification") -> VersionInfo:
    metrics = ({"accuracy": accuracy, "f1_macro": accuracy - 0.01, "roc_auc": 0.95, "rows": 50.0}
               if task == "classification" else {"rmse": 3.0, "mae": 2.0, "r2": 0.5})
    return VersionInfo(
        model="m", version=number, created_at=f"2024-05-0{number}T10:00:00Z", author="alice",
        task=task, estimator="LogisticRegression", artifact_format="skops",
        artifact_sha256="ab" * 32, artifact_size=2048, trusted_types=(),
        schema=(ColumnSchema("x", "float"), ColumnSchema("c", "string", True, ("a", "b"))),
        target="y", classes=(0, 1), metrics=metrics, environment={"python": "3.11"},
        fingerprints={}, card=ModelCard(), parent=f"m:{number - 1}" if number > 1 else None,
        aliases=aliases, reference_sample_sha256="cd" * 32, holdout_sha256=None,
        holdout_predictions_sha256=None)


class FakePager:
    """search_models over a fixed list, in pages."""

    def __init__(self, names):
        self.names = sorted(names)
        self.calls: list[tuple[str, int, str | None]] = []

    def __call__(self, query, max_results, page_token):
        self.calls.append((query, max_results, page_token))
        matching = [n for n in self.names if query in n and n > (page_token or "")]
        page = matching[:max_results]
        token = page[-1] if len(matching) > max_results else None
        return PagedList([model_info(n) for n in page], token)


def test_registry_model_passes_model_tester(qtmodeltester):
    model = RegistryTableModel(FakePager(["a", "b", "c", "d", "e"]), page_size=2)
    model.set_query("")
    qtmodeltester.check(model)


def test_registry_model_pages_with_fetch_more(qtbot):
    pager = FakePager([f"model-{i:02d}" for i in range(7)])
    model = RegistryTableModel(pager, page_size=3)
    model.set_query("")
    assert model.rowCount() == 3
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert model.rowCount() == 7
    assert not model.canFetchMore(QModelIndex())
    assert [call[2] for call in pager.calls] == [None, "model-02", "model-05"]


def test_registry_model_query_resets(qtbot):
    model = RegistryTableModel(FakePager(["apple", "banana", "cherry"]), page_size=10)
    model.set_query("an")
    assert [model.model_at(r).name for r in range(model.rowCount())] == ["banana"]
    with qtbot.wait_signal(model.modelReset):
        model.set_query("")
    assert model.rowCount() == 3


def test_registry_model_roles(qtbot):
    model = RegistryTableModel(FakePager(["alpha"]), page_size=10)
    model.set_query("")
    index = model.index(0, RegistryTableModel.NAME)
    assert index.data() == "alpha"
    assert index.data(ModelRole.key) == "alpha"
    assert index.data(ModelRole.item).name == "alpha"
    assert "production v1" in index.data(ModelRole.detail)
    assert model.index(0, RegistryTableModel.PRODUCTION).data() == "v1"
    assert model.index(0, RegistryTableModel.VERSIONS).data(ModelRole.sort) == 2
    assert index.data(Qt.ItemDataRole.UserRole + 500) is None
    assert model.data(QModelIndex()) is None


def test_versions_model_passes_model_tester(qtmodeltester):
    model = VersionsTableModel([version_info(1, ("production",)), version_info(2, ("staging",))])
    qtmodeltester.check(model)


def test_versions_model_columns_and_badges(qtbot):
    model = VersionsTableModel([version_info(1, ("production",), 0.8), version_info(2, (), 0.9)])
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert headers == ["Version", "Aliases", "Created", "Author", "Accuracy", "F1 (macro)",
                       "ROC AUC"]
    assert model.index(0, VersionsTableModel.ALIASES).data(ModelRole.aliases) == ("production",)
    assert model.index(1, 4).data() == "0.9000"
    assert model.index(1, 4).data(ModelRole.sort) == 0.9
    with qtbot.wait_signal(model.dataChanged):
        model.update_aliases({"production": 2, "staging": 2})
    assert model.index(0, VersionsTableModel.ALIASES).data(ModelRole.aliases) == ()
    assert model.index(1, VersionsTableModel.ALIASES).data(ModelRole.aliases) == (
        "production", "staging")
    assert model.index(0, 0).data(Qt.ItemDataRole.UserRole + 99) is None


def test_regression_versions_show_core_key_metrics(qtbot):
    model = VersionsTableModel([version_info(1, task="regression")])
    assert model.metric_names == ("rmse", "mae", "r2")


def test_schema_and_key_value_models_pass_model_tester(qtmodeltester):
    schema = SchemaTableModel(version_info(1).schema, "y")
    qtmodeltester.check(schema)
    assert schema.index(1, 3).data() == "a, b"
    table = KeyValueTableModel(("Metric", "Value"), [("accuracy", 0.5), ("rows", None)])
    qtmodeltester.check(table)
    assert table.index(1, 1).data() == "—"


def test_sort_proxy_sorts_numbers_as_numbers(qtmodeltester):
    model = VersionsTableModel([version_info(n) for n in (1, 2, 10)])
    proxy = SortProxyModel()
    proxy.setSourceModel(model)
    proxy.sort(VersionsTableModel.VERSION, Qt.SortOrder.DescendingOrder)
    assert [proxy.index(r, 0).data() for r in range(3)] == ["v10", "v2", "v1"]
    qtmodeltester.check(proxy)


def test_metric_formatting_follows_core_directions():
    assert format_number(None) == "—"
    assert format_number(0.123456) == "0.1235"
    assert format_delta("accuracy", 0.05) == "+0.0500"
    assert format_delta("rmse", -1.5) == "−1.5000"
    assert delta_quality("accuracy", 0.05) == 1
    assert delta_quality("rmse", 0.5) == -1
    assert delta_quality("rmse", -0.5) == 1
    assert delta_quality("something-new", 1.0) == 0
