"""A release folder: what it holds, how it is verified, loaded and self-checked.

Layout (built on the desktop by :mod:`modeldeck.core.bundle`, read here on the host)::

    RELEASE_DIR/
      manifest.json          what the release is, and the sha256 of every other file
      config.json            server settings (threads, limits, log retention, folder mode,
                             webhook); command-line options override them
      token                  optional bearer token (then every route but /health needs it)
      model/model.<fmt>      the artifact (skops, onnx, or a trusted pickle)
      model/selfcheck.json   holdout rows and the predictions recorded at registration
      model/drift-spec.json  the reference specs of the inputs and the outputs
      code/modeldeck/...     the runtime code (numpy-only shared modules + this package)
      bin/serve              ``PYTHONPATH=code python -m modeldeck.core.runtime serve .``

The manifest is itself protected: the release id ends with the first 12 hex characters of
the sha256 of the manifest's canonical JSON (everything but the id and the build stamp), so
a changed manifest no longer matches its id.

Self-check, at every start: every file's sha256 against the manifest (and no unlisted file
under ``model/`` or ``code/``), the artifact loaded with its trusted types only, then the
stored holdout rows predicted and compared with the predictions recorded at registration:
labels exactly, numbers to ``rtol=1e-9`` for scikit-learn artifacts (deterministic; the
tolerance only absorbs last-bit differences of another BLAS build) and to ``atol=1e-4``
for ONNX (float32 arithmetic).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modeldeck.core.errors import ModelDeckError, ReleaseError
from modeldeck.core.schema import ColumnSchema, schema_from_json

log = logging.getLogger("modeldeck.runtime.release")

MANIFEST = "manifest.json"
CONFIG = "config.json"
TOKEN = "token"
MANIFEST_FORMAT = 1
#: Top-level folders whose every file must be listed in the manifest.
CHECKED_FOLDERS = ("model", "code", "bin")
_UNHASHED = ("release_id", "built_at", "built_by")


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_digest(manifest: dict[str, Any]) -> str:
    """The sha256 of the manifest's canonical JSON, without its id and build stamp (so a
    rebuild of the same content has the same id)."""
    body = {k: v for k, v in manifest.items() if k not in _UNHASHED}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def release_id_for(manifest: dict[str, Any]) -> str:
    """``<model>-v<version>-<12 hex of the manifest digest>``."""
    model = manifest["model"]
    return f"{model['name']}-v{model['version']}-{manifest_digest(manifest)[:12]}"


@dataclass(frozen=True)
class Manifest:
    """The parsed ``manifest.json``."""

    release_id: str
    name: str
    version: int
    task: str
    estimator: str
    artifact: str
    artifact_format: str
    trusted_types: tuple[str, ...]
    classes: tuple[Any, ...] | None
    target: str | None
    schema: tuple[ColumnSchema, ...]
    metrics: dict[str, float]
    environment: dict[str, str]
    files: dict[str, str]
    built_at: str
    built_by: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """Parse; raises :class:`ReleaseError` naming what is missing."""
        try:
            model = data["model"]
            classes = model.get("classes")
            return cls(
                release_id=str(data["release_id"]), name=str(model["name"]),
                version=int(model["version"]), task=str(model["task"]),
                estimator=str(model.get("estimator", "")), artifact=str(model["artifact"]),
                artifact_format=str(model["format"]),
                trusted_types=tuple(model.get("trusted_types", ())),
                classes=tuple(classes) if classes is not None else None,
                target=model.get("target"), schema=schema_from_json(model["schema"]),
                metrics=dict(model.get("metrics", {})),
                environment=dict(model.get("environment", {})),
                files=dict(data["files"]), built_at=str(data.get("built_at", "")),
                built_by=str(data.get("built_by", "")), raw=data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ReleaseError(f"the release manifest is incomplete ({exc!r} missing or bad)",
                               "rebuild the release with `modeldeck bundle`") from None


def read_manifest(release_dir: Path) -> Manifest:
    """Read and parse ``release_dir/manifest.json``.

    Raises
    ------
    ReleaseError
        No manifest, not JSON, a newer format, or incomplete.
    """
    path = release_dir / MANIFEST
    if not path.is_file():
        raise ReleaseError(f"{release_dir} is not a release folder (no {MANIFEST})",
                           "pass the folder `modeldeck bundle` wrote")
    data = _json_object(path, "rebuild the release with `modeldeck bundle`")
    if int(data.get("format", 0)) > MANIFEST_FORMAT:
        raise ReleaseError(f"the release manifest is of format {data.get('format')}, newer "
                           f"than this runtime reads ({MANIFEST_FORMAT})",
                           "deploy the runtime that came with the release")
    return Manifest.from_dict(data)


def verify_files(release_dir: Path, manifest: Manifest) -> list[str]:
    """Every problem with the release's files (empty when all is well).

    Checks the manifest against its release id, every listed file's sha256, and that no
    unlisted file sits under ``model/``, ``code/`` or ``bin/`` (compiled ``__pycache__``
    aside).
    """
    problems = []
    expected_id = release_id_for(manifest.raw)
    if expected_id != manifest.release_id:
        problems.append(f"manifest.json was changed after the release was built (its "
                        f"content gives id {expected_id}, it says {manifest.release_id})")
    for rel, sha in sorted(manifest.files.items()):
        path = release_dir / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
        elif file_sha256(path) != sha:
            problems.append(f"{rel} differs from the release (sha256 mismatch)")
    for folder in CHECKED_FOLDERS:
        base = release_dir / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                rel = path.relative_to(release_dir).as_posix()
                if rel not in manifest.files:
                    problems.append(f"{rel} is not part of the release")
    return problems


def read_config(release_dir: Path) -> dict[str, Any]:
    """The release's ``config.json`` (``{}`` when there is none)."""
    path = release_dir / CONFIG
    if not path.is_file():
        return {}
    return _json_object(path, "fix the file or rebuild the release")


def _json_object(path: Path, fix: str) -> dict[str, Any]:
    """A file's JSON object, or a :class:`ReleaseError` naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReleaseError(f"{path} cannot be read as JSON ({exc})", fix) from None
    if not isinstance(data, dict):
        raise ReleaseError(f"{path} does not hold a JSON object", fix)
    return data


@dataclass(frozen=True)
class SelfCheck:
    """The outcome of the start-up self-check."""

    ok: bool
    reason: str
    rows: int = 0
    mismatches: int = 0
    max_abs_diff: float = 0.0
    files_checked: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (for ``/ready`` and ``/v1/model``)."""
        return {"ok": self.ok, "reason": self.reason, "rows": self.rows,
                "mismatches": self.mismatches, "max_abs_diff": self.max_abs_diff,
                "files_checked": self.files_checked}


def load_selfcheck_rows(release_dir: Path, manifest: Manifest
                        ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None] | None:
    """The stored self-check rows, expected predictions and probabilities (or ``None``)."""
    info = manifest.raw.get("selfcheck") or {}
    rel = info.get("file")
    if not rel:
        return None
    data = json.loads((release_dir / rel).read_text(encoding="utf-8"))
    frame = pd.DataFrame(data["data"], columns=data["columns"])
    for column in manifest.schema:
        if column.name not in frame.columns:
            continue
        if column.dtype in ("integer", "float"):
            frame[column.name] = pd.to_numeric(frame[column.name]).astype("float64")
        elif column.dtype == "datetime":
            frame[column.name] = pd.to_datetime(frame[column.name])
    predictions = np.asarray(data["predictions"], dtype=object)
    proba = data.get("probabilities")
    return frame, predictions, (np.asarray(proba, dtype=np.float64) if proba else None)


def compare_outputs(fmt: str, expected: np.ndarray, got: np.ndarray,
                    expected_proba: np.ndarray | None, got_proba: np.ndarray | None,
                    task: str) -> tuple[int, float]:
    """``(mismatching rows, largest absolute difference)`` of two sets of outputs."""
    atol, rtol = (1e-4, 1e-4) if fmt == "onnx" else (1e-12, 1e-9)
    mismatches = np.zeros(len(expected), dtype=bool)
    max_diff = 0.0
    if task == "regression":
        e = np.asarray(expected, dtype=np.float64)
        g = np.asarray(got, dtype=np.float64)
        mismatches |= ~np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        if len(e):
            max_diff = float(np.nanmax(np.abs(g - e), initial=0.0))
    else:
        labels = np.asarray([str(v) for v in got], dtype=object)
        wanted = np.asarray([str(v) for v in expected], dtype=object)
        differ = labels != wanted
        if fmt == "onnx" and got_proba is not None and got_proba.shape[1] > 1:
            top = np.sort(got_proba, axis=1)
            differ &= (top[:, -1] - top[:, -2]) > atol  # a near tie may go either way
        mismatches |= differ
    if expected_proba is not None and got_proba is not None:
        if expected_proba.shape != got_proba.shape:
            mismatches |= True
        else:
            close = np.isclose(got_proba, expected_proba, rtol=rtol, atol=atol)
            mismatches |= ~close.all(axis=1)
            max_diff = max(max_diff, float(np.abs(got_proba - expected_proba).max(initial=0)))
    return int(mismatches.sum()), max_diff


def self_check(release_dir: Path, manifest: Manifest, predict: Any, *,
               files_verified: bool = False) -> SelfCheck:
    """Verify the files, then predict the stored rows with ``predict`` and compare.

    ``predict(frame) -> (predictions, probabilities or None)`` is the server's own
    prediction path, so what is checked is what will serve. ``files_verified``: the caller
    has just verified them (before loading the model from them); not hashed again.
    """
    problems = [] if files_verified else verify_files(release_dir, manifest)
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        return SelfCheck(False, "release files do not match the manifest: "
                         + "; ".join(problems[:5]) + more, files_checked=len(manifest.files))
    stored = load_selfcheck_rows(release_dir, manifest)
    if stored is None:
        return SelfCheck(True, "files verified; the release has no holdout rows to predict",
                         files_checked=len(manifest.files))
    frame, expected, expected_proba = stored
    try:
        got, got_proba = predict(frame)
    except ModelDeckError as exc:
        return SelfCheck(False, f"the model fails on its holdout rows: {exc}",
                         rows=len(frame), files_checked=len(manifest.files))
    except Exception as exc:  # noqa: BLE001 - any model failure is a failed check
        return SelfCheck(False, f"the model fails on its holdout rows: "
                         f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                         rows=len(frame), files_checked=len(manifest.files))
    if expected_proba is None:
        got_proba = None
    mismatches, max_diff = compare_outputs(manifest.artifact_format, expected, got,
                                           expected_proba, got_proba, manifest.task)
    if mismatches:
        return SelfCheck(False, f"{mismatches} of {len(frame)} holdout rows predict differently "
                         f"from the predictions recorded at registration (largest difference "
                         f"{max_diff:.3g}): the host's libraries "
                         f"(scikit-learn {_version('sklearn')}, numpy {np.__version__}) "
                         f"may differ from the registration environment (scikit-learn "
                         f"{manifest.environment.get('scikit-learn', '?')}, numpy "
                         f"{manifest.environment.get('numpy', '?')})", rows=len(frame),
                         mismatches=mismatches, max_abs_diff=max_diff,
                         files_checked=len(manifest.files))
    return SelfCheck(True, f"files verified; {len(frame)} holdout rows predicted as recorded "
                     f"at registration", rows=len(frame), max_abs_diff=max_diff,
                     files_checked=len(manifest.files))


def _version(module: str) -> str:
    try:
        return str(__import__(module).__version__)
    except Exception:  # noqa: BLE001 - informational only
        return "?"
