"""The HTTP face of :class:`~modeldeck.core.runtime.service.Service`: a plain WSGI app.

Routes (all JSON unless said otherwise)::

    GET  /health          alive (never needs the token)
    GET  /ready           model loaded and self-check passed (503 with the reason if not)
    GET  /v1/model        name, version, schema, metrics, release, self-check
    GET  /metrics         Prometheus text format
    GET  /v1/profile      ?since=&until= (ISO 8601): drift profiles per window
    GET  /v1/predictions  ?since=&until=&limit=&labeled=true: logged rows
    GET  /openapi.json    the API description
    POST /v1/predict      records or columns → a prediction and id per row
    POST /invocations     MLflow scoring-server formats (JSON, or CSV with text/csv)
    POST /v1/feedback     prediction id → true label

Every error is JSON ``{"error": {"code", "message", "fix", "details"}}`` with a 4xx/5xx
status; no request can take the server down (anything unexpected is a logged 500).
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from modeldeck.core.runtime.service import Service
from modeldeck.core.runtime.validation import RequestError

log = logging.getLogger("modeldeck.runtime.app")

_STATUS = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}
Handler = Callable[[dict[str, Any]], tuple[int, Any]]


class App:
    """The WSGI application of one :class:`Service`."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._token = service.token.encode() if service.token else None
        self.routes: dict[str, dict[str, Handler]] = {
            "/health": {"GET": self.health},
            "/ready": {"GET": self.ready},
            "/v1/model": {"GET": self.model},
            "/metrics": {"GET": self.metrics},
            "/v1/profile": {"GET": self.profile},
            "/v1/predictions": {"GET": self.predictions},
            "/openapi.json": {"GET": self.openapi},
            "/v1/predict": {"POST": self.predict},
            "/invocations": {"POST": self.invocations},
            "/v1/feedback": {"POST": self.feedback},
        }
        self._openapi: bytes | None = None

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO") or "/"
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        methods = self.routes.get(path)
        endpoint = path if methods is not None else "other"
        rows = 0
        headers: list[tuple[str, str]] = []
        try:
            if methods is None:
                raise RequestError(404, "not_found", f"no route {method} {path}",
                                   "routes: " + ", ".join(
                                       f"{' '.join(m)} {p}" for p, m in self.routes.items()))
            handler = methods.get(method)
            if handler is None:
                headers.append(("Allow", ", ".join(methods)))
                raise RequestError(405, "method_not_allowed",
                                   f"{path} does not take {method}",
                                   f"use {' or '.join(methods)}")
            if self._token is not None and path != "/health":
                self._authorize(environ, headers)
            status, body = handler(environ)
            if isinstance(body, tuple):  # (bytes, content type)
                payload, content_type = body
            else:
                payload, content_type = _dumps(body), "application/json"
                if status == 200 and isinstance(body, dict):
                    rows = len(body.get("predictions", ())) if endpoint in (
                        "/v1/predict", "/invocations") else 0
        except RequestError as exc:
            status, payload, content_type = exc.status, _dumps(exc.to_dict()), "application/json"
            self.service.metrics.error(exc.code)
        except Exception as exc:  # noqa: BLE001 - the server keeps answering
            log.exception("%s %s failed", method, path)
            status = 500
            payload = _dumps({"error": {
                "code": "internal", "message": f"internal error: {type(exc).__name__}",
                "fix": "the server log has the traceback; the server keeps running",
                "details": []}})
            content_type = "application/json"
            self.service.metrics.error("internal")
        headers += [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
        start_response(_STATUS.get(status, f"{status} Error"), headers)
        self.service.metrics.observe(endpoint, method, status,
                                     time.perf_counter() - started, rows)
        return [payload]

    # -- plumbing ------------------------------------------------------------------------

    def _authorize(self, environ: dict[str, Any], headers: list[tuple[str, str]]) -> None:
        given = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = given.partition(" ")
        assert self._token is not None
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(),
                                                                 self._token):
            headers.append(("WWW-Authenticate", 'Bearer realm="modeldeck"'))
            raise RequestError(401, "unauthorized",
                               "missing or wrong bearer token" if given else
                               "this server needs a bearer token",
                               "send the header `Authorization: Bearer <token>` with the "
                               "release's token")

    def _body(self, environ: dict[str, Any]) -> bytes:
        limit = self.service.config.max_body_bytes
        length = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        if length:
            try:
                size = int(length)
            except ValueError:
                raise RequestError(400, "bad_request", "Content-Length is not a number",
                                   "send a valid Content-Length") from None
            if size > limit:
                raise RequestError(413, "body_too_large", f"the body is {size} bytes, over "
                                   f"the limit of {limit}", "send fewer rows per request, "
                                   "or raise max_body_bytes in the release config")
            body = stream.read(size)
        else:
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise RequestError(413, "body_too_large", f"the body is over the limit of "
                                   f"{limit} bytes", "send fewer rows per request, or raise "
                                   "max_body_bytes in the release config")
        if not body:
            raise RequestError(400, "empty_body", "the request has no body",
                               "send JSON rows; see GET /openapi.json")
        return body

    def _json(self, environ: dict[str, Any]) -> Any:
        return self.service.validator.parse_json(self._body(environ))

    @staticmethod
    def _query(environ: dict[str, Any]) -> dict[str, str]:
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        return {k: v[-1] for k, v in query.items()}

    # -- routes ----------------------------------------------------------------------------

    def health(self, environ: dict[str, Any]) -> tuple[int, Any]:
        """Alive."""
        s = self.service
        return 200, {"status": "alive", "state": s.state, "release": s.manifest.release_id,
                     "uptime_seconds": round(time.time() - s.started_at, 3)}

    def ready(self, environ: dict[str, Any]) -> tuple[int, Any]:
        """Ready, or 503 with the reason."""
        body = self.service.readiness()
        return (200 if body["ready"] else 503), body

    def model(self, environ: dict[str, Any]) -> tuple[int, Any]:
        """The model's description."""
        return 200, self.service.model_info()

    def metrics(self, environ: dict[str, Any]) -> tuple[int, Any]:
        """Prometheus text."""
        s = self.service
        text = s.metrics.render(s.gauges(), info={
            "model": s.manifest.name, "version": str(s.manifest.version),
            "release": s.manifest.release_id})
        return 200, (text.encode(), "text/plain; version=0.0.4; charset=utf-8")

    def profile(self, environ: dict[str, Any]) -> tuple[int, Any]:
        """Per-window drift profiles of what was served."""
        query = self._query(environ)
        since, until = _instant(query.get("since"), "since"), _instant(query.get("until"),
                                                                        "until")
        return 200, self.service.profiles(since, until)

    def predictions(self, environ: dict[str, Any]) -> tuple[int, Any]:
        """Logged rows (with their labels)."""
        query = self._query(environ)
        try:
            limit = int(query.get("limit", "1000"))
        except ValueError:
            raise RequestError(400, "bad_query", f"limit {query['limit']!r} is not a number",
                               "use e.g. limit=1000") from None
        if not 1 <= limit <= 100_000:
            raise RequestError(400, "bad_query", f"limit must be 1 to 100000, not {limit}",
                               "use e.g. limit=1000")
        labeled = _flag(query, "labeled")
        return 200, self.service.logged_rows(_instant(query.get("since"), "since"),
                                             _instant(query.get("until"), "until"), limit,
                                             labeled)

    def openapi(self, environ: dict[str, Any]) -> tuple[int, Any]:
        """The OpenAPI document."""
        if self._openapi is None:
            from modeldeck.core.runtime.openapi import openapi_document

            m = self.service.manifest
            self._openapi = _dumps(openapi_document(
                m.schema, model=m.name, version=m.version, task=m.task, classes=m.classes,
                token=self._token is not None))
        return 200, (self._openapi, "application/json")

    def predict(self, environ: dict[str, Any]) -> tuple[int, Any]:
        """Predict rows given as records or columns."""
        service = self.service
        service.require_ready()
        rows = service.validator.predict_request(self._json(environ))
        query = self._query(environ) if environ.get("QUERY_STRING") else {}
        asked = _flag(query, "probabilities")  # parsed (and checked) in any case
        want = asked or bool(rows.options.get("probabilities"))
        served = service.serve(rows, "api")
        m = service.manifest
        return 200, {"model": m.name, "version": m.version, "release": m.release_id,
                     "predictions": service.records(served, want)}

    def invocations(self, environ: dict[str, Any]) -> tuple[int, Any]:
        """MLflow's scoring protocol: ``{"predictions": [...]}``."""
        service = self.service
        service.require_ready()
        content_type = (environ.get("CONTENT_TYPE") or "application/json").split(";")[0]
        content_type = content_type.strip().lower()
        if content_type == "text/csv":
            rows = self._csv_rows(self._body(environ))
        elif content_type in ("application/json", ""):
            rows = service.validator.mlflow_request(self._json(environ))
        else:
            raise RequestError(415, "unsupported_media_type",
                               f"/invocations does not take {content_type}",
                               "send application/json (dataframe_split, dataframe_records, "
                               "instances or inputs) or text/csv")
        served = service.serve(rows, "invocations")
        return 200, {"predictions": [r["prediction"] for r in service.records(served, False)]}

    def _csv_rows(self, body: bytes) -> Any:
        import pandas as pd

        try:
            frame = pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False)
        except Exception as exc:  # noqa: BLE001 - pandas' parser errors vary
            raise RequestError(400, "malformed_csv", f"the body is not CSV ({exc})",
                               "send a header line and one line per row") from None
        check = self.service.validator.check_frame(frame)
        if check.problems:
            raise RequestError(422, check.problems[0].rule,
                               f"{len({p.row for p in check.problems})} of {len(frame)} CSV "
                               f"rows are invalid: {check.problems[0].message}",
                               "fix the rows listed in details",
                               [p.to_dict() for p in check.problems[:20]])
        if check.extra_columns:
            raise RequestError(422, "extra_column", "the CSV has columns the model does not "
                               f"take: {', '.join(check.extra_columns)}",
                               "send exactly the model's columns (GET /v1/model)")
        if check.rows.n == 0:
            raise RequestError(400, "no_rows", "the CSV has no rows", "send at least one row")
        return check.rows

    def feedback(self, environ: dict[str, Any]) -> tuple[int, Any]:
        """True labels for logged predictions."""
        return self.service.feedback(self._json(environ))


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), allow_nan=False, default=str).encode()


def _flag(query: dict[str, str], name: str) -> bool:
    value = query.get(name)
    if value is None:
        return False
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise RequestError(400, "bad_query", f"{name}={value!r} is not true or false",
                       f"use {name}=true or {name}=false")


def _instant(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise RequestError(400, "bad_query", f"{name}={text!r} is not an ISO 8601 time",
                           f"use e.g. {name}=2026-11-27T08:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
