"""Per-model release gate policy: ``WORKSPACE/policies/<model>.toml``.

Every key is optional; a missing file or key keeps the default documented in
:data:`DEFAULT_POLICY_TEXT` (which ``modeldeck release policy MODEL --init`` writes). The
policy in force when the gates run is stored with the candidate, so editing the file later
changes only the next run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from modeldeck.core.errors import AlreadyExistsError, InvalidInputError
from modeldeck.core.registry.lineage import HIGHER_IS_BETTER, KEY_METRICS

POLICY_FOLDER = "policies"
#: The gates, in the order they run.
GATE_NAMES = ("artifact", "card", "metrics", "regression", "schema", "latency", "drift")
#: Holdout metric thresholds when the policy names none, per task.
DEFAULT_MIN_METRICS: dict[str, dict[str, float]] = {
    "classification": {"accuracy": 0.7, "balanced_accuracy": 0.6},
    "regression": {"r2": 0.2},
}
CARD_FIELDS = ("intended_use", "limitations", "owner", "contact")

DEFAULT_POLICY_TEXT = """\
# Release gate policy of model "{model}" (ModelDeck).
# Every key is optional: delete one to get its default back. The gates run when a
# candidate is created (`modeldeck release create REF`) or again (`release gates ID`).

[approval]
# Reviewers (not the author) who must approve, each signing the release manifest with
# the SSH key registered for them (`modeldeck users set-key NAME PUBKEY_FILE`).
required = 1
# Whether `modeldeck deploy` refuses versions without an approved candidate (whose
# signatures verify against the release's manifest). Keep true outside experiments.
required_for_deploy = true

# Holdout metrics the candidate must reach, scored on its holdout set when the gates run:
# a minimum for scores (accuracy, balanced_accuracy, f1_macro, roc_auc, r2), a maximum
# for errors (mae, rmse). Without this table: {metrics_default}.
# [metrics]
# accuracy = 0.9

[regression]
# Production and the candidate are both scored now on the candidate's holdout set; the
# candidate may be worse than production on each of these metrics by at most this
# share (0.01 = 1 %). Default metrics: the task's key metrics ({key_metrics}).
tolerance = 0.01
# metrics = {key_metrics_list}

[schema]
# Input columns production takes that the candidate may drop or retype (acknowledged
# breaking changes; clients must be updated first).
acknowledged = []
# Whether the candidate may need input columns production did not (clients must send
# them).
allow_added = true

[latency]
# Predicting a batch of `rows` rows (holdout rows, repeated) must take at most
# `budget_ms` milliseconds (the median of `repeats` timed runs after a warm-up).
rows = 1000
budget_ms = 500.0
repeats = 3

[drift]
# How many features of the candidate's holdout set may drift against production's
# reference data (the drift engine with the model's drift thresholds).
max_flagged_features = 0

[card]
# Model card fields that must be filled.
required = ["intended_use", "limitations", "owner", "contact"]

[artifact]
# Let a pickle artifact pass (it can run code when loaded); skops and ONNX always pass
# when they load with the version's trusted types only.
allow_pickle = false

[gates]
# Gates recorded as skipped instead of run: artifact, card, metrics, regression, schema,
# latency, drift.
skip = []
"""


@dataclass(frozen=True)
class GatePolicy:
    """What a candidate must pass, and how many approvals it needs.

    ``min_metrics`` and ``regression_metrics`` are ``None`` when the policy leaves them to
    the task's defaults (:meth:`metric_thresholds`, :meth:`compared_metrics`).
    """

    required_approvals: int = 1
    required_for_deploy: bool = True
    min_metrics: dict[str, float] | None = None
    regression_tolerance: float = 0.01
    regression_metrics: tuple[str, ...] | None = None
    schema_acknowledged: tuple[str, ...] = ()
    schema_allow_added: bool = True
    latency_rows: int = 1000
    latency_budget_ms: float = 500.0
    latency_repeats: int = 3
    drift_max_flagged: int = 0
    card_required: tuple[str, ...] = CARD_FIELDS
    allow_pickle: bool = False
    skip: tuple[str, ...] = ()
    source: str | None = field(default=None, compare=False)

    def metric_thresholds(self, task: str) -> dict[str, float]:
        """The holdout metric thresholds for a model of ``task``."""
        if self.min_metrics is not None:
            return dict(self.min_metrics)
        return dict(DEFAULT_MIN_METRICS.get(task, {}))

    def compared_metrics(self, task: str) -> tuple[str, ...]:
        """The metrics the regression gate compares for a model of ``task``."""
        if self.regression_metrics is not None:
            return self.regression_metrics
        return tuple(KEY_METRICS.get(task, ()))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (stored with each gate run)."""
        out = asdict(self)
        out.pop("source")
        return out

    def digest(self) -> str:
        """sha256 of :meth:`to_dict`, to tell policies apart in the audit log."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def policy_path(workspace: Any, model: str) -> Path:
    """``WORKSPACE/policies/<model>.toml``."""
    return Path(workspace.path) / POLICY_FOLDER / f"{model}.toml"


def load_policy(workspace: Any, model: str) -> GatePolicy:
    """The model's gate policy: its TOML file over the defaults (defaults without a file).

    Raises
    ------
    InvalidInputError
        The file is not valid TOML, or has an unknown key or a bad value (named, with the
        file).
    """
    path = policy_path(workspace, model)
    if not path.is_file():
        return GatePolicy()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"the gate policy {path} is not valid TOML ({exc})",
                                "fix it, or delete it to use the defaults") from None
    return _parse(data, str(path))


_SECTIONS: dict[str, dict[str, str]] = {
    # section -> key -> GatePolicy field
    "approval": {"required": "required_approvals",
                 "required_for_deploy": "required_for_deploy"},
    "regression": {"tolerance": "regression_tolerance", "metrics": "regression_metrics"},
    "schema": {"acknowledged": "schema_acknowledged", "allow_added": "schema_allow_added"},
    "latency": {"rows": "latency_rows", "budget_ms": "latency_budget_ms",
                "repeats": "latency_repeats"},
    "drift": {"max_flagged_features": "drift_max_flagged"},
    "card": {"required": "card_required"},
    "artifact": {"allow_pickle": "allow_pickle"},
    "gates": {"skip": "skip"},
}


def _parse(data: dict[str, Any], source: str) -> GatePolicy:
    def bad(what: str, fix: str) -> InvalidInputError:
        return InvalidInputError(f"the gate policy {source}: {what}", fix)

    values: dict[str, Any] = {}
    for section, body in data.items():
        if section == "metrics":
            values["min_metrics"] = _metrics_table(body, bad)
            continue
        keys = _SECTIONS.get(section)
        if keys is None or not isinstance(body, dict):
            raise bad(f"unknown section [{section}]",
                      f"use: {', '.join(['metrics', *_SECTIONS])}")
        for key, value in body.items():
            if key not in keys:
                raise bad(f"unknown key '{key}' in [{section}]",
                          f"[{section}] takes: {', '.join(keys)}")
            values[keys[key]] = _check(keys[key], value, f"[{section}] {key}", bad)
    return GatePolicy(**values, source=source)


def _metrics_table(body: Any, bad: Any) -> dict[str, float]:
    if not isinstance(body, dict):
        raise bad("[metrics] must be a table of metric = threshold", "e.g. accuracy = 0.9")
    out = {}
    for name, value in body.items():
        if name not in HIGHER_IS_BETTER:
            raise bad(f"unknown metric '{name}' in [metrics]",
                      f"use: {', '.join(HIGHER_IS_BETTER)}")
        out[name] = _number(value, f"[metrics] {name}", bad)
    return out


def _number(value: Any, where: str, bad: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        raise bad(f"{where} must be a number (got {value!r})", "write e.g. 0.9")
    return float(value)


def _check(name: str, value: Any, where: str, bad: Any) -> Any:
    """Validate one policy value for the :class:`GatePolicy` field ``name``."""
    if name in ("required_approvals", "latency_rows", "latency_repeats", "drift_max_flagged"):
        low = 0 if name == "drift_max_flagged" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise bad(f"{where} must be a whole number of at least {low} (got {value!r})",
                      f"write e.g. {max(low, 1)}")
        return value
    if name in ("regression_tolerance", "latency_budget_ms"):
        number = _number(value, where, bad)
        if number < 0:
            raise bad(f"{where} must not be negative", "write e.g. 0.01")
        return number
    if name in ("schema_allow_added", "allow_pickle", "required_for_deploy"):
        if not isinstance(value, bool):
            raise bad(f"{where} must be true or false (got {value!r})", "write true or false")
        return value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(f"{where} must be a list of names (got {value!r})", 'write e.g. ["a", "b"]')
    allowed = {"regression_metrics": tuple(HIGHER_IS_BETTER), "card_required": CARD_FIELDS,
               "skip": GATE_NAMES}.get(name)
    unknown = [v for v in value if allowed is not None and v not in allowed]
    if unknown:
        raise bad(f"{where}: unknown name(s) {', '.join(unknown)}",
                  f"use: {', '.join(allowed or ())}")
    return tuple(value)


def default_policy_text(model: str) -> str:
    """The documented default policy file for ``model``."""
    return DEFAULT_POLICY_TEXT.format(
        model=model,
        metrics_default="; ".join(f"{task}: " + ", ".join(f"{k} >= {v}" for k, v in m.items())
                                  for task, m in DEFAULT_MIN_METRICS.items()),
        key_metrics="; ".join(f"{t}: {', '.join(m)}" for t, m in KEY_METRICS.items()),
        key_metrics_list=json.dumps(list(KEY_METRICS["classification"])))


def write_default_policy(workspace: Any, model: str, overwrite: bool = False) -> Path:
    """Write :func:`default_policy_text` to the model's policy file (atomically).

    Raises
    ------
    AlreadyExistsError
        The file exists and ``overwrite`` is false.
    """
    path = policy_path(workspace, model)
    if path.exists() and not overwrite:
        raise AlreadyExistsError(f"{path} exists already",
                                 "edit it, or pass --force to replace it with the defaults")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(default_policy_text(model))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
