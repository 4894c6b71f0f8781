"""Bad input gets a clear error that names the problem and the fix, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modeldeck.core.datafiles import read_columns, read_table
from modeldeck.core.errors import DataError, InvalidInputError, ModelDeckError, ModelFileError
from modeldeck.core.progress import run
from modeldeck.core.registry import Registry


@pytest.fixture
def unchanged(registry: Registry):
    """Yield; then assert the workspace holds nothing but its creation."""
    before = registry.ws.verify_audit()
    yield
    after = registry.ws.verify_audit()
    assert after.ok and after.head_hash == before.head_hash
    assert registry.list_models() == []


def _bad(registry: Registry, files: dict[str, Path], **overrides: object) -> ModelDeckError:
    args: dict[str, object] = {"model": files["model"], "reference": files["reference"],
                               "holdout": files["holdout"], "target": "species"}
    args.update(overrides)
    with pytest.raises(ModelDeckError) as info:
        run(registry.register("iris", **args))  # type: ignore[arg-type]
    message = str(info.value)
    assert info.value.fix, f"no fix given: {message}"
    assert "\n" not in message
    return info.value


def _write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


@pytest.mark.usefixtures("unchanged")
class TestRegisterRefuses:
    def test_columns_the_model_expects_are_missing(self, registry, iris_files, tmp_path):
        frame = pd.read_csv(iris_files["reference"]).drop(columns=["petal_width"])
        frame.to_csv(tmp_path / "short.csv", index=False)
        error = _bad(registry, iris_files, reference=tmp_path / "short.csv")
        assert isinstance(error, ModelFileError)
        assert "petal_width" in error.message and "reference" in error.message

    def test_empty_csv(self, registry, iris_files, tmp_path):
        error = _bad(registry, iris_files, reference=_write(tmp_path / "e.csv", ""))
        assert isinstance(error, DataError) and "empty" in error.message

    def test_header_only_csv(self, registry, iris_files, tmp_path):
        header = "sepal_length,sepal_width,petal_length,petal_width,species\n"
        error = _bad(registry, iris_files, reference=_write(tmp_path / "h.csv", header))
        assert "no data rows" in error.message

    def test_empty_frame(self, registry, iris_files):
        error = _bad(registry, iris_files, reference=pd.DataFrame())
        assert "no rows" in error.message

    def test_infinite_values(self, registry, iris_files, tmp_path):
        frame = pd.read_csv(iris_files["reference"])
        frame.loc[[3, 8], "sepal_width"] = np.inf
        frame.to_csv(tmp_path / "inf.csv", index=False)
        error = _bad(registry, iris_files, reference=tmp_path / "inf.csv")
        assert "sepal_width" in error.message and "rows 4, 9" in error.message

    def test_missing_target_values(self, registry, iris_files, tmp_path):
        frame = pd.read_csv(iris_files["holdout"])
        frame.loc[2, "species"] = None
        frame.to_csv(tmp_path / "nan.csv", index=False)
        error = _bad(registry, iris_files, holdout=tmp_path / "nan.csv")
        assert "species" in error.message and "row 3" in error.message

    def test_nan_the_model_cannot_handle(self, registry, iris_files, tmp_path):
        frame = pd.read_csv(iris_files["holdout"])
        frame.loc[5, "petal_length"] = np.nan
        frame.to_csv(tmp_path / "nan.csv", index=False)
        error = _bad(registry, iris_files, holdout=tmp_path / "nan.csv")
        assert "fails to predict" in error.message
        assert "petal_length" in error.fix and "imput" in error.fix

    def test_non_utf8_csv(self, registry, iris_files, tmp_path):
        text = pd.read_csv(iris_files["reference"]).to_csv(index=False)
        text = text.replace("setosa", "setosä", 1)
        error = _bad(registry, iris_files,
                     reference=_write(tmp_path / "latin.csv", text.encode("latin-1")))
        assert "not UTF-8" in error.message and "line" in error.message
        assert "UTF-8" in error.fix

    def test_ragged_csv(self, registry, iris_files, tmp_path):
        lines = iris_files["reference"].read_text().splitlines()
        lines[4] += ",extra"
        error = _bad(registry, iris_files,
                     reference=_write(tmp_path / "ragged.csv", "\n".join(lines) + "\n"))
        assert "line 5" in error.message and "6 fields" in error.message

    def test_unknown_target(self, registry, iris_files):
        error = _bad(registry, iris_files, target="label")
        assert "label" in error.message and "species" in error.fix

    def test_holdout_without_target(self, registry, iris_files):
        error = _bad(registry, iris_files, target=None)
        assert isinstance(error, InvalidInputError) and "--target" in error.fix

    def test_pickle_without_trust(self, registry, iris_files, tmp_path):
        error = _bad(registry, iris_files, model=_write(tmp_path / "m.pkl", b"\x80\x04N."))
        assert "runs any code" in error.message and "--trust-pickle" in error.fix

    def test_unknown_model_format(self, registry, iris_files, tmp_path):
        error = _bad(registry, iris_files, model=_write(tmp_path / "m.bin", b"x"))
        assert ".skops" in error.fix

    def test_broken_skops_file(self, registry, iris_files, tmp_path):
        error = _bad(registry, iris_files, model=_write(tmp_path / "m.skops", b"not a zip"))
        assert "skops" in error.message

    def test_missing_files(self, registry, iris_files, tmp_path):
        assert "does not exist" in _bad(registry, iris_files,
                                        model=tmp_path / "nope.skops").message
        assert "does not exist" in _bad(registry, iris_files,
                                        reference=tmp_path / "nope.csv").message

    def test_bad_name(self, registry, iris_files):
        with pytest.raises(InvalidInputError, match="not a valid model name"):
            run(registry.register("no spaces please", iris_files["model"],
                                  iris_files["reference"]))

    def test_not_an_estimator(self, registry, iris_files):
        error = _bad(registry, iris_files, model={"weights": [1, 2]})
        assert "classifier nor a regressor" in error.message


def test_retyped_column_between_reference_and_holdout(registry, iris_files, tmp_path,
                                                      unchanged):
    frame = pd.read_csv(iris_files["holdout"])
    frame["sepal_width"] = "wide"
    frame.to_csv(tmp_path / "typed.csv", index=False)
    error = _bad(registry, iris_files, holdout=tmp_path / "typed.csv")
    assert "sepal_width" in error.message


@pytest.mark.parametrize("reader", [read_table, read_columns])
def test_readers_name_unsupported_formats(tmp_path: Path, reader: Callable) -> None:
    with pytest.raises(DataError, match="unsupported data format '.xlsx'"):
        reader(_write(tmp_path / "x.xlsx", b"PK"))


def test_read_columns_of_csv_and_parquet(iris_files: dict[str, Path]) -> None:
    expected = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    assert read_columns(iris_files["reference"]) == expected
    assert read_columns(iris_files["reference_parquet"]) == expected


def test_damaged_parquet(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_table(_write(tmp_path / "x.parquet", b"PAR1 nonsense"))


def test_duplicate_header(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="'a' appears twice"):
        read_table(_write(tmp_path / "d.csv", "a,b,a\n1,2,3\n"))
