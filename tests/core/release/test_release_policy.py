"""The per-model gate policy file: defaults, the documented template, and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeldeck.core.errors import AlreadyExistsError, InvalidInputError
from modeldeck.core.release import (
    GatePolicy,
    default_policy_text,
    load_policy,
    policy_path,
    write_default_policy,
)
from modeldeck.core.workspace import Workspace


def _write(ws: Workspace, text: str, model: str = "m") -> Path:
    path = policy_path(ws, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_the_defaults(ws: Workspace) -> None:
    policy = load_policy(ws, "m")
    assert policy == GatePolicy() and policy.source is None
    assert policy.metric_thresholds("classification") == {"accuracy": 0.7,
                                                           "balanced_accuracy": 0.6}
    assert policy.metric_thresholds("regression") == {"r2": 0.2}
    assert policy.compared_metrics("regression") == ("rmse", "mae", "r2")


def test_the_written_default_file_reads_back_as_the_defaults(ws: Workspace) -> None:
    path = write_default_policy(ws, "m")
    assert path == ws.path / "policies" / "m.toml"
    assert load_policy(ws, "m") == GatePolicy()
    assert load_policy(ws, "m").source == str(path)
    assert 'model "m"' in path.read_text()
    with pytest.raises(AlreadyExistsError, match="--force"):
        write_default_policy(ws, "m")
    path.write_text("[approval]\nrequired = 3\n")
    write_default_policy(ws, "m", overwrite=True)
    assert path.read_text() == default_policy_text("m")


def test_values_override_the_defaults(ws: Workspace) -> None:
    _write(ws, """
[approval]
required = 2
[metrics]
accuracy = 0.9
rmse = 50
[regression]
tolerance = 0.02
metrics = ["accuracy"]
[schema]
acknowledged = ["age"]
allow_added = false
[latency]
rows = 10
budget_ms = 5
[gates]
skip = ["drift"]
""")
    policy = load_policy(ws, "m")
    assert policy.required_approvals == 2
    assert policy.metric_thresholds("regression") == {"accuracy": 0.9, "rmse": 50.0}
    assert policy.regression_tolerance == 0.02 and policy.compared_metrics("x") == ("accuracy",)
    assert policy.schema_acknowledged == ("age",) and not policy.schema_allow_added
    assert (policy.latency_rows, policy.latency_budget_ms) == (10, 5.0)
    assert policy.skip == ("drift",)
    assert policy.digest() != GatePolicy().digest()


@pytest.mark.parametrize(("text", "fragment"), [
    ("[approval\n", "is not valid TOML"),
    ("[approvals]\nrequired = 2\n", "unknown section [approvals]"),
    ("[approval]\nneeded = 2\n", "unknown key 'needed' in [approval]"),
    ("[approval]\nrequired = 0\n", "[approval] required must be a whole number of at least 1"),
    ("[metrics]\nprecision = 0.9\n", "unknown metric 'precision'"),
    ("[metrics]\naccuracy = 'high'\n", "[metrics] accuracy must be a number"),
    ("[regression]\ntolerance = -1\n", "must not be negative"),
    ("[gates]\nskip = ['speed']\n", "unknown name(s) speed"),
    ("[artifact]\nallow_pickle = 1\n", "must be true or false"),
])
def test_a_bad_file_is_refused_naming_the_problem(ws: Workspace, text: str,
                                                  fragment: str) -> None:
    path = _write(ws, text)
    with pytest.raises(InvalidInputError) as caught:
        load_policy(ws, "m")
    assert fragment in caught.value.message and str(path) in caught.value.message
    assert caught.value.fix
