"""Build a release folder from a registered version (desktop side).

The folder (layout in :mod:`modeldeck.core.runtime.release`) is everything a host needs to
serve the version with ``python -m modeldeck.core.runtime serve RELEASE_DIR``: the artifact,
the schema, holdout rows with the predictions recorded at registration (for the host's
self-check), the drift specs of inputs and outputs, the server settings, and a copy of the
runtime code — only the runtime package and the few numpy-only modules it shares, so the
host needs numpy, pandas, scikit-learn, skops and waitress and nothing of the desktop.

Building is deterministic: the same version and settings give the same files and the same
release id (``<model>-v<version>-<digest>``), so a rebuilt release is recognised as the one
already on a host.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import modeldeck.core
from modeldeck.core.drift.profile import build_spec
from modeldeck.core.errors import InvalidInputError, ReleaseError
from modeldeck.core.runtime import release as rel
from modeldeck.core.runtime.config import ServerConfig
from modeldeck.core.runtime.outputs import json_value, outputs_frame, proba_names
from modeldeck.core.schema import schema_to_json

#: Holdout rows shipped for the self-check.
SELFCHECK_ROWS = 200
#: The modules of core the runtime imports (relative to the core package), besides
#: ``runtime/`` itself.
SHARED_MODULES = ("__init__.py", "errors.py", "progress.py", "schema.py", "modelio.py",
                  "drift/__init__.py", "drift/profile.py")
_EXTENSIONS = {"skops": "skops", "onnx": "onnx", "pickle": "pkl"}
_SERVE_SCRIPT = """#!/bin/sh
# Serve this release: bin/serve [--host 127.0.0.1] [--port 8080] [--state-dir DIR] ...
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PYTHONPATH="$HERE/code${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python3}" \\
    -m modeldeck.core.runtime serve "$HERE" "$@"
"""


@dataclass(frozen=True)
class BuiltRelease:
    """A release folder on disk."""

    path: Path
    release_id: str
    model: str
    version: int
    files: int
    size: int


def runtime_sources() -> dict[str, Path]:
    """The runtime code shipped in a release: ``code/...`` path → source file."""
    core = Path(modeldeck.core.__file__).resolve().parent
    out = {f"code/modeldeck/core/{name}": core / name for name in SHARED_MODULES}
    for path in sorted((core / "runtime").glob("*.py")):
        out[f"code/modeldeck/core/runtime/{path.name}"] = path
    return out


def build_release(registry: Any, ref: str, dest: str | Path, *,
                  config: ServerConfig | Mapping[str, Any] | None = None,
                  token: str | None = None, actor: str | None = None,
                  overwrite: bool = False) -> BuiltRelease:
    """Write the release folder of version ``ref`` to ``dest``.

    Parameters
    ----------
    registry
        The workspace's :class:`~modeldeck.core.registry.Registry`.
    ref
        ``NAME``, ``NAME:N`` or ``NAME@ALIAS``.
    dest
        The folder to create. Written next to it under a temporary name, then renamed, so
        a failed build leaves nothing half-written.
    config
        Server settings (:class:`ServerConfig` or a mapping of its fields).
    token
        A bearer token to require on every route but ``/health``.
    actor
        Recorded as ``built_by``.
    overwrite
        Replace an existing ``dest``.

    Raises
    ------
    ReleaseError
        ``dest`` exists (and not ``overwrite``), or the version cannot be bundled.
    """
    info = registry.get_version(ref)
    dest = Path(dest)
    if dest.exists() and not overwrite:
        raise ReleaseError(f"{dest} exists already", "choose another folder or pass "
                           "--overwrite")
    settings = config if isinstance(config, ServerConfig) else ServerConfig.from_dict(
        dict(config or {}))
    if token is not None and (not token.strip() or any(c.isspace() for c in token)):
        raise InvalidInputError("the token must be a non-empty string without spaces",
                                "use e.g. `python -c 'import secrets; "
                                "print(secrets.token_urlsafe(32))'`")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        files = _write_contents(registry, info, work, settings, token)
        manifest = _manifest(info, files, actor or "")
        (work / rel.MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True),
                                         encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    return BuiltRelease(dest, manifest["release_id"], info.model, info.version,
                        len(files) + 1, size)


def _write_contents(registry: Any, info: Any, work: Path, settings: ServerConfig,
                    token: str | None) -> dict[str, str]:
    def put(relpath: str, data: bytes, mode: int = 0o644) -> None:
        path = work / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)

    artifact = f"model/model.{_EXTENSIONS.get(info.artifact_format, 'bin')}"
    put(artifact, registry.ws.artifacts.get_bytes(info.artifact_sha256))
    selfcheck, outputs = _selfcheck(registry, info)
    put("model/selfcheck.json", json.dumps(selfcheck, separators=(",", ":")).encode())
    inputs_spec = registry.load_reference_profile(info).spec
    outputs_spec = build_spec(outputs)
    put("model/drift-spec.json", json.dumps(
        {"inputs": inputs_spec.to_dict(), "outputs": outputs_spec.to_dict()},
        sort_keys=True).encode())
    put(rel.CONFIG, json.dumps(settings.to_dict(), indent=2, sort_keys=True).encode())
    if token is not None:
        put(rel.TOKEN, token.strip().encode() + b"\n", 0o600)
    for relpath, source in runtime_sources().items():
        put(relpath, source.read_bytes())
    put("bin/serve", _SERVE_SCRIPT.encode(), 0o755)
    return {p.relative_to(work).as_posix(): rel.file_sha256(p)
            for p in sorted(work.rglob("*")) if p.is_file()}


def _selfcheck(registry: Any, info: Any) -> tuple[dict[str, Any], pd.DataFrame]:
    """The self-check rows with their recorded outputs, and the outputs frame of all the
    recorded rows (the reference for the outputs' drift spec)."""
    features = list(info.feature_names)
    if info.holdout_sha256 and info.holdout_predictions_sha256:
        frame = registry.load_holdout(info)[features]
        recorded = registry.load_holdout_predictions(info)
        source = "holdout"
        predictions = recorded["prediction"].to_numpy()
        proba_cols = proba_names(info.classes or ())
        proba = (recorded[proba_cols].to_numpy(np.float64)
                 if proba_cols and all(c in recorded.columns for c in proba_cols) else None)
    else:  # no holdout: record what the registered model predicts on reference rows now
        frame = registry.load_reference_sample(info)[features].head(SELFCHECK_ROWS * 5)
        model = registry.load_model(info)
        predictions = model.predict(frame)
        proba = model.predict_proba(frame)
        source = "reference sample (no holdout set was registered)"
    head = frame.head(SELFCHECK_ROWS)
    n = len(head)
    data = {
        "source": source,
        "columns": features,
        "data": [[json_value(v) for v in row] for row in head.itertuples(index=False)],
        "predictions": [json_value(v) for v in predictions[:n]],
        "probabilities": proba[:n].tolist() if proba is not None else None,
    }
    return data, outputs_frame(predictions, proba, info.classes, info.task)


def _manifest(info: Any, files: dict[str, str], actor: str) -> dict[str, Any]:
    artifact = next(p for p in files if p.startswith("model/model."))
    manifest: dict[str, Any] = {
        "format": rel.MANIFEST_FORMAT,
        "built_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "built_by": actor,
        "modeldeck": _package_version(),
        "model": {
            "name": info.model, "version": info.version, "task": info.task,
            "estimator": info.estimator, "format": info.artifact_format,
            "artifact": artifact, "artifact_sha256": info.artifact_sha256,
            "trusted_types": list(info.trusted_types),
            "classes": [json_value(c) for c in info.classes] if info.classes else None,
            "target": info.target, "schema": schema_to_json(info.schema),
            "metrics": dict(info.metrics), "environment": dict(info.environment),
        },
        "selfcheck": {"file": "model/selfcheck.json"},
        "drift": {"spec": "model/drift-spec.json"},
        "files": files,
    }
    manifest["release_id"] = rel.release_id_for(manifest)
    return manifest


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("modeldeck")
    except metadata.PackageNotFoundError:
        return "0+unknown"
