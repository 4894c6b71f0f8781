"""The serving logic, HTTP aside: start-up self-check, predictions with ids, logging,
profiles, feedback, folder mode and the webhook, wired together.

:class:`Service` is what :mod:`modeldeck.core.runtime.app` (the WSGI layer) calls; it
knows nothing of HTTP. It is usable in-process for tests and by ``modeldeck serve``.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modeldeck.core.drift.profile import ReferenceSpec
from modeldeck.core.errors import ModelDeckError, ReleaseError
from modeldeck.core.modelio import load_model
from modeldeck.core.runtime import release as rel
from modeldeck.core.runtime.config import ServerConfig
from modeldeck.core.runtime.ids import IdAllocator, id_list
from modeldeck.core.runtime.metrics import Metrics
from modeldeck.core.runtime.outputs import json_value, proba_columns
from modeldeck.core.runtime.predictor import Predictor
from modeldeck.core.runtime.validation import RequestError, Rows, Validator

log = logging.getLogger("modeldeck.runtime.service")

STARTING, READY, FAILED, STOPPING = "starting", "ready", "failed", "stopping"
#: How far ahead of the server's clock a request's ``event_time`` may be (clock skew).
EVENT_TIME_SKEW = 300.0


@dataclass(frozen=True)
class Served:
    """The outputs of one served batch."""

    boot: str
    first: int
    n: int
    predictions: np.ndarray
    probabilities: np.ndarray | None

    @property
    def ids(self) -> list[str]:
        """The prediction ids, one per row."""
        return id_list(self.boot, self.first, self.n)


def default_state_dir(release_dir: Path) -> Path:
    """``<root>/state`` for the deploy layout ``<root>/releases/<id>``, else
    ``<release>/state``."""
    release_dir = release_dir.resolve()
    if release_dir.parent.name == "releases":
        return release_dir.parent.parent / "state"
    return release_dir / "state"


class Service:
    """One release being served.

    Parameters
    ----------
    release_dir
        The release folder.
    config
        Settings (usually the release's ``config.json`` with command-line overrides).
    state_dir
        Where the log, the folder-mode folders and the dead letters live (outlives
        releases); :func:`default_state_dir` when ``None``.
    token
        Bearer token required on every route but ``/health`` (``None``: the release's
        ``token`` file if it has one, else no token).

    Raises
    ------
    ReleaseError
        The folder is no release (no or broken manifest). Anything wrong deeper (files,
        model, self-check) does not raise: the service starts, answers ``/health`` and
        reports the reason on ``/ready``.
    """

    def __init__(self, release_dir: str | Path, config: ServerConfig | None = None, *,
                 state_dir: str | Path | None = None, token: str | None = None) -> None:
        self.release_dir = Path(release_dir).resolve()
        self.manifest = rel.read_manifest(self.release_dir)
        self.config = config or ServerConfig.from_dict(rel.read_config(self.release_dir))
        self.state_dir = Path(state_dir) if state_dir else default_state_dir(self.release_dir)
        if token is None:
            token_file = self.release_dir / rel.TOKEN
            if token_file.is_file():
                token = token_file.read_text(encoding="utf-8").strip() or None
        self.token = token
        self.validator = Validator(self.manifest.schema, max_rows=self.config.max_rows)
        self.ids = IdAllocator()
        self.metrics = Metrics()
        self.host_name = self.config.host_name or socket.gethostname()
        self.state = STARTING
        self.reason = "self-check running"
        self.check: rel.SelfCheck | None = None
        self.predictor: Predictor | None = None
        self.log: Any = None
        self.webhook: Any = None
        self.folder: Any = None
        self.started_at = time.time()
        # the response's probability keys, made once (not per request)
        self._proba_keys = [str(json_value(c)) for c in self.manifest.classes or ()]
        self._startup: threading.Thread | None = None
        self._ready = threading.Event()

    # -- life cycle --------------------------------------------------------------------

    def start(self, wait: bool = False) -> None:
        """Run the self-check in the background (``wait``: in this thread), then open the
        log, the webhook and the folder watcher."""
        if wait:
            self._start_up()
            return
        self._startup = threading.Thread(target=self._start_up, name="modeldeck-startup",
                                         daemon=True)
        self._startup.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the start-up finished (either way); whether it is ready."""
        self._ready.wait(timeout)
        return self.state == READY

    def _start_up(self) -> None:
        try:
            predictor = self._load()
            # _load verified every file before loading the model from them
            check = rel.self_check(self.release_dir, self.manifest, predictor.predict_frame,
                                   files_verified=True)
            self.check = check
            if not check.ok:
                self._fail(check.reason)
                return
            self._open_outputs()
            self.predictor = predictor
            self.state, self.reason = READY, check.reason
            log.info("ready: %s %s (release %s): %s", self.manifest.name,
                     self.manifest.version, self.manifest.release_id, check.reason)
            self._open_folder()
        except ModelDeckError as exc:
            self._fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - reported on /ready, never a crash
            log.exception("start-up failed")
            self._fail(f"{type(exc).__name__}: {exc}")
        finally:
            self._ready.set()

    def _fail(self, reason: str) -> None:
        self.state, self.reason = FAILED, reason
        log.error("NOT READY: %s", reason)

    def _load(self) -> Predictor:
        problems = rel.verify_files(self.release_dir, self.manifest)
        if problems:
            raise ReleaseError("release files do not match the manifest: "
                               + "; ".join(problems[:5]),
                               "redeploy the release; do not edit files on the host")
        data = (self.release_dir / self.manifest.artifact).read_bytes()
        model = load_model(data, self.manifest.artifact_format, self.manifest.trusted_types,
                           self.manifest.task, self.manifest.classes)
        if self.manifest.classes is not None:
            model.classes = self.manifest.classes
        predictor = Predictor(model, self.manifest.schema, self.manifest.task)
        stored = rel.load_selfcheck_rows(self.release_dir, self.manifest)
        if stored is not None:
            predictor.check_paths(stored[0])
        return predictor

    def _specs(self) -> tuple[ReferenceSpec | None, ReferenceSpec | None]:
        info = self.manifest.raw.get("drift") or {}
        if not info.get("spec"):
            return None, None
        data = json.loads((self.release_dir / info["spec"]).read_text(encoding="utf-8"))
        return (ReferenceSpec.from_dict(data["inputs"]) if data.get("inputs") else None,
                ReferenceSpec.from_dict(data["outputs"]) if data.get("outputs") else None)

    def _open_outputs(self) -> None:
        cfg = self.config
        if cfg.log_enabled or cfg.webhook_url or cfg.folder_enabled:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        if cfg.log_enabled:
            from modeldeck.core.runtime.logstore import LogStore

            inputs_spec, outputs_spec = self._specs()
            self.log = LogStore(
                self.state_dir / "predictions.db", task=self.manifest.task,
                classes=self.manifest.classes, input_spec=inputs_spec,
                output_spec=outputs_spec, host=self.host_name,
                window_seconds=cfg.window_seconds, flush_interval=cfg.log_flush_interval,
                max_bytes=cfg.log_max_bytes, max_age_days=cfg.log_max_age_days,
                profile_days=cfg.profile_days, profile_sample_rows=cfg.profile_sample_rows)
            self.log.start()
        if cfg.webhook_url:
            from modeldeck.core.runtime.webhook import WebhookPusher

            self.webhook = WebhookPusher(
                cfg.webhook_url, self.state_dir / "dead-letter",
                max_attempts=cfg.webhook_max_attempts, backoff=cfg.webhook_backoff_seconds,
                timeout=cfg.webhook_timeout_seconds)
            self.webhook.start()

    def _open_folder(self) -> None:
        cfg = self.config
        if not cfg.folder_enabled:
            return
        from modeldeck.core.runtime.folder import FolderWatcher

        self.folder = FolderWatcher(
            Path(cfg.folder_path) if cfg.folder_path else self.state_dir / "folder",
            check=self.validator.check_frame, score=self.score_for_folder,
            policy=cfg.folder_policy, poll_interval=cfg.folder_poll_seconds,
            settle_seconds=cfg.folder_settle_seconds, on_result=self._on_folder_result)
        self.folder.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the folder watcher, deliver or dead-letter the webhook queue, flush the log."""
        self.state = STOPPING if self.state == READY else self.state
        for part in (self.folder, self.webhook, self.log):
            if part is None:
                continue
            try:
                (part.stop if hasattr(part, "stop") else part.close)(timeout)
            except Exception:  # noqa: BLE001 - close the others anyway
                log.exception("closing %s failed", type(part).__name__)
        if self._startup is not None:
            self._startup.join(timeout)

    # -- predictions ---------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether predictions are served."""
        return self.state == READY

    def require_ready(self) -> Predictor:
        """The predictor, or a 503 :class:`RequestError` saying why there is none."""
        predictor = self.predictor
        if predictor is None or self.state != READY:
            raise RequestError(503, "not_ready", f"the model is not ready ({self.state}): "
                               f"{self.reason}", "see GET /ready; the server log has details")
        return predictor

    def serve(self, rows: Rows, source: str) -> Served:
        """Predict ``rows``, give them ids, log them (under their ``event_time`` when the
        request gave one) and push them to the webhook."""
        predictor = self.require_ready()
        now = time.time()
        at = rows.options.get("event_time", now)
        if not now - self.config.log_max_age_days * 86_400 <= at <= now + EVENT_TIME_SKEW:
            raise RequestError(
                422, "bad_event_time", f"the event time {_iso(at)} is "
                + ("in the future" if at > now else
                   f"older than the log keeps ({self.config.log_max_age_days:g} days)"),
                "send rows of the log's time span (log_max_age_days in the server config)")
        try:
            predictions, proba = predictor.predict_rows(rows)
        except (ValueError, ArithmeticError) as exc:
            # rows that fit the schema but the model cannot compute with (values so
            # extreme that its arithmetic overflows, say): the request's values, not a bug
            log.warning("the model refused %d rows: %s", rows.n, exc)
            raise RequestError(422, "model_rejected_input", "the model cannot predict these "
                               f"values: {str(exc).splitlines()[0][:300]}",
                               "check the values are in the range the model was trained on "
                               "(GET /v1/model has the schema)") from None
        except Exception as exc:  # noqa: BLE001 - the model's own error, whatever its type
            self.metrics.error("model_error")
            log.warning("the model failed on %d rows: %s", rows.n, exc)
            raise RequestError(500, "model_error", "the model failed on the request: "
                               f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                               "check the values against GET /v1/model; the rows passed "
                               "validation, so report this with the request") from None
        first = self.ids.take(rows.n)
        served = Served(self.ids.boot, first, rows.n, predictions, proba)
        if self.log is not None:
            from modeldeck.core.runtime.logstore import LogBatch

            batch = LogBatch(ts=at, boot=served.boot, first=first, n=rows.n,
                             inputs=rows, predictions=predictions, probabilities=proba,
                             source=source)
            if not self.log.append(batch):
                self.metrics.error("log_dropped", rows.n)
        if self.webhook is not None:
            self.webhook.push(self._webhook_payload(rows, served, source))
        return served

    def records(self, served: Served, probabilities: bool) -> list[dict[str, Any]]:
        """The per-row response objects: id, prediction and (asked for) probabilities."""
        ids = served.ids
        predictions = served.predictions.tolist()
        if served.probabilities is not None and probabilities and self.manifest.classes:
            keys = self._proba_keys
            return [{"id": i, "prediction": _clean(p),
                     "probabilities": dict(zip(keys, row))}
                    for i, p, row in zip(ids, predictions, served.probabilities.tolist())]
        return [{"id": i, "prediction": _clean(p)} for i, p in zip(ids, predictions)]

    def score_for_folder(self, rows: Rows, source: str) -> pd.DataFrame:
        """Folder mode's scorer: ``prediction_id``, ``prediction``, ``proba_*``."""
        served = self.serve(rows, source)
        return pd.DataFrame({"prediction_id": served.ids,
                             "prediction": [_clean(p) for p in served.predictions.tolist()],
                             **proba_columns(served.probabilities, self.manifest.classes)})

    def _on_folder_result(self, result: Any) -> None:
        if result.status != "done":
            self.metrics.error(f"folder_{result.status}")
        log.info("folder mode: %s → %s (%d rows, %d scored, %d bad)", result.name,
                 result.status, result.rows, result.scored, result.bad_rows)

    def _webhook_payload(self, rows: Rows, served: Served, source: str) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.manifest.name, "version": self.manifest.version,
            "release": self.manifest.release_id, "host": self.host_name, "source": source,
            "served_at": datetime.now(timezone.utc).isoformat(),
            "predictions": self.records(served, True),
        }
        if self.config.webhook_include_inputs:
            frame = rows.frame
            payload["inputs"] = [{k: json_value(v) for k, v in zip(frame.columns, row)}
                                 for row in frame.itertuples(index=False)]
        return payload

    # -- information ---------------------------------------------------------------------

    def readiness(self) -> dict[str, Any]:
        """What ``/ready`` says."""
        return {"ready": self.state == READY, "state": self.state, "reason": self.reason,
                "release": self.manifest.release_id,
                "self_check": self.check.to_dict() if self.check else None}

    def model_info(self) -> dict[str, Any]:
        """What ``/v1/model`` says."""
        m = self.manifest
        import sklearn

        return {
            "model": m.name, "version": m.version, "release": m.release_id, "task": m.task,
            "estimator": m.estimator, "format": m.artifact_format,
            "classes": [json_value(c) for c in m.classes] if m.classes else None,
            "target": m.target, "schema": [c.to_dict() for c in m.schema],
            "metrics": m.metrics, "registered_environment": m.environment,
            "runtime": {"numpy": np.__version__, "pandas": pd.__version__,
                        "scikit-learn": sklearn.__version__,
                        "code": str(Path(__file__).resolve().parent)},
            "host": self.host_name, "state": self.state,
            "self_check": self.check.to_dict() if self.check else None,
            "built_at": m.built_at, "built_by": m.built_by,
            "logging": self.log is not None, "webhook": self.webhook is not None,
            "folder_mode": self.folder is not None,
        }

    def profiles(self, since: datetime | None, until: datetime | None) -> dict[str, Any]:
        """What ``/v1/profile`` says: base64 profiles per window."""
        import base64

        if self.log is None:
            raise RequestError(404, "no_log", "this server keeps no prediction log, so it has "
                               "no profiles", "enable log_enabled in the release config")
        self.log.flush(5.0)
        windows = []
        for w in self.log.profiles(since, until):
            windows.append({
                "start": w.start.isoformat(), "end": w.end.isoformat(), "rows": w.rows,
                "inputs": base64.b64encode(w.inputs.to_bytes()).decode() if w.inputs else None,
                "outputs": (base64.b64encode(w.outputs.to_bytes()).decode()
                            if w.outputs else None)})
        return {"model": self.manifest.name, "version": self.manifest.version,
                "release": self.manifest.release_id, "host": self.host_name,
                "window_seconds": self.config.window_seconds,
                "encoding": "base64 of modeldeck.core.drift.profile.Profile.to_bytes",
                "windows": windows}

    def feedback(self, payload: Any) -> tuple[int, dict[str, Any]]:
        """Record true labels: ``{"prediction_id", "label"}`` or ``{"feedback": [...]}``."""
        if self.log is None:
            raise RequestError(404, "no_log", "this server keeps no prediction log, so "
                               "feedback cannot be joined to predictions",
                               "enable log_enabled in the release config")
        items = payload.get("feedback") if isinstance(payload, dict) else None
        if items is None:
            items = [payload]
        if not isinstance(items, list) or not items:
            raise RequestError(400, "bad_format", "feedback must be an object or a list",
                               'send {"prediction_id": "...", "label": ...} or '
                               '{"feedback": [{...}, ...]}')
        if isinstance(payload, dict) and "feedback" in payload and len(payload) > 1:
            raise RequestError(400, "bad_format", "send either one label or a \"feedback\" "
                               f"list, not both (keys: {', '.join(sorted(map(str, payload)))})",
                               'send {"prediction_id": "...", "label": ...} or '
                               '{"feedback": [{...}, ...]}')
        pairs = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "prediction_id" not in item or "label" not in item:
                raise RequestError(400, "bad_format", f"feedback item {i} lacks "
                                   "prediction_id or label",
                                   'each item is {"prediction_id": "...", "label": ...}')
            extra = sorted(set(map(str, item)) - {"prediction_id", "label"})
            if extra:
                raise RequestError(400, "bad_format", f"feedback item {i} has unexpected "
                                   f"key(s): {', '.join(repr(k) for k in extra[:5])}",
                                   'each item is {"prediction_id": "...", "label": ...}')
            if not isinstance(item["prediction_id"], str):
                raise RequestError(422, "wrong_type", f"feedback item {i}: prediction_id "
                                   "must be a string", "send the id /v1/predict returned")
            pairs.append((item["prediction_id"], self._label(i, item["label"])))
        result = self.log.add_feedback(pairs)
        body = {"accepted": result.accepted, "unknown": list(result.unknown),
                "invalid": list(result.invalid)}
        if result.accepted == 0:
            raise RequestError(404, "unknown_prediction_id", "none of the prediction ids is "
                               "in this host's log", "send ids returned by /v1/predict on "
                               "this host (logs older than the retention are gone)",
                               [{"prediction_id": p, "rule": "unknown_prediction_id"}
                                for p in [*result.invalid, *result.unknown][:20]])
        return 200, body

    def _label(self, i: int, label: Any) -> Any:
        """A feedback label checked against the model: one of its classes, or a number."""
        if label is None:
            return None  # takes an earlier label back
        classes = self.manifest.classes
        if self.manifest.task == "classification" and classes is not None:
            for known in classes:
                if type(label) is not bool and label == known or (
                        isinstance(label, str) and label == str(known)):
                    return known
            shown = ", ".join(repr(json_value(c)) for c in classes[:10])
            raise RequestError(422, "unknown_label", f"feedback item {i}: {label!r} is not "
                               "one of the model's classes", f"send one of: {shown}",
                               [{"row": i, "value": json_value(label) if isinstance(
                                   label, (str, int, float)) else repr(label)[:80],
                                 "rule": "unknown_label"}])
        if isinstance(label, bool) or not isinstance(label, (int, float)) or (
                isinstance(label, float) and not math.isfinite(label)):
            raise RequestError(422, "wrong_type", f"feedback item {i}: the label of a "
                               f"regression model must be a finite number, not {label!r:.80}",
                               "send the true value as a JSON number")
        return label

    def logged_rows(self, since: datetime | None, until: datetime | None, limit: int,
                    labeled_only: bool) -> dict[str, Any]:
        """What ``/v1/predictions`` says: logged rows, columnar."""
        if self.log is None:
            raise RequestError(404, "no_log", "this server keeps no prediction log",
                               "enable log_enabled in the release config")
        self.log.flush(5.0)
        frame = self.log.rows(since, until, limit=limit, labeled_only=labeled_only)
        data = [[json_value(v) for v in row] for row in frame.itertuples(index=False)]
        return {"columns": [str(c) for c in frame.columns], "data": data,
                "rows": len(data)}

    def gauges(self) -> dict[str, tuple[str, Any]]:
        """Scrape-time gauges for ``/metrics``."""
        out: dict[str, tuple[str, Any]] = {
            "modeldeck_ready": ("1 when the model is loaded and its self-check passed.",
                                lambda: 1.0 if self.state == READY else 0.0),
            "modeldeck_uptime_seconds": ("Seconds since the server started.",
                                         lambda: round(time.time() - self.started_at, 3)),
        }
        if self.log is not None:
            out["modeldeck_log_backlog_rows"] = ("Rows served but not yet written to the log.",
                                                 lambda: self.log.backlog_rows)
            out["modeldeck_log_rows_written"] = ("Rows written to the log since start.",
                                                 lambda: self.log.rows_written)
            out["modeldeck_log_dropped_rows"] = ("Rows not logged because the backlog was "
                                                 "full.", lambda: self.log.dropped_rows)
        if self.webhook is not None:
            out["modeldeck_webhook_queue"] = ("Prediction batches waiting for the webhook.",
                                              lambda: self.webhook.queue_size)
            out["modeldeck_webhook_delivered"] = ("Batches delivered to the webhook.",
                                                  lambda: self.webhook.delivered)
            out["modeldeck_webhook_dead_lettered"] = ("Batches moved to the dead-letter "
                                                      "folder.",
                                                      lambda: self.webhook.dead_lettered)
        return out


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value
