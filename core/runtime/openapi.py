"""The OpenAPI 3.0.3 document of the prediction server (served at ``/openapi.json``).

Built per loaded model version, so request bodies are typed column by column from the
version's input schema (integer -> ``integer``, float -> ``number``, boolean, string with
``enum`` = its categories, datetime -> ``string`` ``date-time``; ``nullable`` per column) and
the predict response lists the model's classes. Clients can generate code from it, and the
"try it" consoles of API gateways show real column names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modeldeck.core.runtime.ids import ID_PATTERN
from modeldeck.core.runtime.outputs import json_value
from modeldeck.core.runtime.validation import STATUS, example_value
from modeldeck.core.schema import ColumnSchema

OPENAPI_VERSION = "3.0.3"

_ERROR_RESPONSES = {
    "400": ("BadRequest", "The body is not JSON or not one of the accepted forms, or has no "
                          "rows (codes malformed_json, bad_format, no_rows)."),
    "401": ("Unauthorized", "No bearer token, or the wrong one."),
    "404": ("NotFound", "Nothing to return (e.g. no drift profile for that period)."),
    "413": ("TooLarge", "Too many rows (code too_many_rows) or too large a body."),
    "415": ("UnsupportedMediaType", "A content type the route does not take."),
    "422": ("Unprocessable", "Values that do not fit the model's input schema: "
                             "missing_column, extra_column, wrong_type, missing_value, "
                             "not_finite, unknown_category, bad_datetime."),
    "503": ("Unavailable", "The server is starting, stopping or has no model loaded."),
    "default": ("Unexpected", "Any other error (e.g. 405 method not allowed, 500 internal "
                              "error), with the same body."),
}


def openapi_document(schema: Sequence[ColumnSchema], *, model: str, version: int, task: str,
                     classes: Sequence[Any] | None, token: bool) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document of the server for one model version.

    Parameters
    ----------
    schema
        The version's input columns, in model order.
    model, version
        The model name and version number being served.
    task
        ``"classification"`` or ``"regression"``.
    classes
        The classifier's classes, in the order of its probabilities (``None`` otherwise).
    token
        Whether the server requires a bearer token: then every route but ``/health``
        declares the ``bearerAuth`` security scheme and a 401 response.

    Returns
    -------
    dict
        A plain-JSON OpenAPI document (every ``$ref`` points into its ``components``).
    """
    columns = tuple(schema)
    labels = [json_value(c) for c in classes] if classes is not None else None
    schemas = _schemas(columns, task, labels)
    components: dict[str, Any] = {
        "schemas": schemas,
        "responses": {name: {"description": text, "content": _json("Error")}
                      for name, text in _ERROR_RESPONSES.values()},
        "parameters": {
            "since": _time_parameter("since", "Start of the period (inclusive), ISO 8601; "
                                              "default: the oldest profile kept."),
            "until": _time_parameter("until", "End of the period (exclusive), ISO 8601; "
                                              "default: now."),
        },
    }
    if token:
        components["securitySchemes"] = {"bearerAuth": {
            "type": "http", "scheme": "bearer",
            "description": "The server's token: `Authorization: Bearer <token>`."}}
    example = {c.name: example_value(c) for c in columns}
    paths: dict[str, Any] = {
        "/health": {"get": _operation(
            "health", "Liveness: the process answers.", {"200": _ok("Alive.", "Health")},
            errors=(), token=False, public=True)},
        "/ready": {"get": _operation(
            "ready", "Readiness: a model is loaded and the server takes predictions.",
            {"200": _ok("Ready.", "Readiness"),
             "503": _ok("Not ready (yet), with the reason.", "Readiness")},
            errors=(), token=token)},
        "/v1/model": {"get": _operation(
            "model_info", "The model served: name, version, task, classes and input schema.",
            {"200": _ok("The model.", "ModelInfo")}, errors=("503",), token=token)},
        "/metrics": {"get": _operation(
            "metrics", "Server metrics in the Prometheus text format.",
            {"200": {"description": "Prometheus metrics.",
                     "content": {"text/plain": {"schema": {"type": "string"}}}}},
            errors=(), token=token)},
        "/v1/profile": {"get": _operation(
            "profile", "The drift profiles of the time windows overlapping [since, until).",
            {"200": _ok("The profiles.", "Profiles")}, errors=("400", "404", "503"),
            token=token, parameters=[{"$ref": "#/components/parameters/since"},
                                     {"$ref": "#/components/parameters/until"}])},
        "/v1/predictions": {"get": _operation(
            "predictions", "Logged predictions of [since, until), oldest first, with their "
                           "inputs and feedback labels.",
            {"200": _ok("The logged rows, columnar.", "LoggedRows")},
            errors=("400", "404", "503"), token=token,
            parameters=[{"$ref": "#/components/parameters/since"},
                        {"$ref": "#/components/parameters/until"},
                        {"name": "limit", "in": "query", "required": False,
                         "description": "Most rows to return.",
                         "schema": {"type": "integer", "minimum": 1, "maximum": 100_000,
                                    "default": 1000}},
                        {"name": "labeled", "in": "query", "required": False,
                         "description": "Only rows with a feedback label.",
                         "schema": {"type": "boolean", "default": False}}])},
        "/openapi.json": {"get": _operation(
            "openapi", "This document.",
            {"200": {"description": "The OpenAPI document.",
                     "content": {"application/json": {"schema": {
                         "type": "object", "additionalProperties": True}}}}},
            errors=(), token=token)},
        "/v1/predict": {"post": _operation(
            "predict", "Predict: one prediction (with its id) per input row, in order.",
            {"200": _ok("The predictions.", "PredictResponse")},
            errors=("400", "413", "422", "503"), token=token,
            parameters=[{"name": "probabilities", "in": "query", "required": False,
                         "description": "Return class probabilities (as the body's "
                                        "\"probabilities\": true).",
                         "schema": {"type": "boolean", "default": False}}],
            body=_body("PredictRequest", "Rows as records or as columns + data.",
                       {"records": [example], "probabilities": True}))},
        "/invocations": {"post": _operation(
            "invocations", "MLflow-compatible scoring (dataframe_split, dataframe_records, "
                           "instances or inputs).",
            {"200": _ok("The predictions, in input order.", "InvocationsResponse")},
            errors=("400", "413", "415", "422", "503"), token=token,
            body=_body("InvocationsRequest", "An MLflow scoring request. (CSV text with a "
                                             "header line is taken too, as Content-Type "
                                             "text/csv; its columns are the model's.)",
                       {"dataframe_records": [example]}))},
        "/v1/feedback": {"post": _operation(
            "feedback", "Ground-truth labels for earlier predictions, by prediction id (a "
                        "second label for an id replaces the first).",
            {"200": _ok("What was accepted.", "FeedbackResponse")},
            errors=("400", "404", "413", "422", "503"), token=token,
            body=_body("FeedbackRequest", "One label or a list of labels.",
                       {"prediction_id": "3f2a9c01b7e4-1a", "label": _label_example(
                           task, labels)}))},
    }
    inputs = ", ".join(f"{c.name} ({c.dtype}{', nullable' if c.nullable else ''})"
                       for c in columns)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"{model} v{version} — ModelDeck prediction server",
            "version": str(version),
            "description": (f"Serves version {version} of the {task} model '{model}'. "
                            f"Inputs, in order: {inputs}. Errors are "
                            '`{"error": {"code", "message", "fix", "details"}}`.'),
        },
        "paths": paths,
        "components": components,
    }
    if token:
        document["security"] = [{"bearerAuth": []}]
    return document


# --------------------------------------------------------------------------- pieces


def _operation(operation_id: str, summary: str, responses: dict[str, Any], *,
               errors: Sequence[str], token: bool, public: bool = False,
               parameters: list[dict[str, Any]] | None = None,
               body: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    if parameters:
        out["parameters"] = parameters
    if body is not None:
        out["requestBody"] = body
    codes = [*errors, *(["401"] if token else [])]
    out["responses"] = {**responses, **{
        code: {"$ref": f"#/components/responses/{_ERROR_RESPONSES[code][0]}"}
        for code in [*sorted(codes), "default"]}}
    if public:
        out["security"] = []  # no token needed, even when the server has one
    return out


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def _ok(description: str, name: str) -> dict[str, Any]:
    return {"description": description, "content": _json(name)}


def _body(name: str, description: str, example: Any, csv: bool = False) -> dict[str, Any]:
    content: dict[str, Any] = _json(name)
    content["application/json"]["example"] = example
    if csv:
        content["text/csv"] = {"schema": {
            "type": "string", "description": "A header line with the model's columns, then "
                                             "one line per row (empty cell = missing)."}}
    return {"required": True, "description": description, "content": content}


def _time_parameter(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string", "format": "date-time"}}


#: ``"event_time"`` of a predict request (see Validator.predict_request).
_EVENT_TIME = {"type": "string", "format": "date-time",
               "description": "When the rows happened (ISO 8601 with a time zone), for a "
                              "batch scored after the fact: the prediction log files them "
                              "under that time. At most 5 minutes ahead, and no older "
                              "than the log keeps. Default: now."}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def column_schema(column: ColumnSchema) -> dict[str, Any]:
    """The JSON schema of one input column's values.

    Parameters
    ----------
    column
        The input column.

    Returns
    -------
    dict
        ``integer``, ``number``, ``boolean``, ``string`` (``enum`` of its categories) or
        ``string`` ``date-time``; ``nullable`` when the column is.
    """
    out: dict[str, Any]
    if column.dtype == "integer":
        out = {"type": "integer"}
    elif column.dtype == "float":
        out = {"type": "number"}
    elif column.dtype == "boolean":
        out = {"type": "boolean"}
    elif column.dtype == "datetime":
        out = {"type": "string", "format": "date-time",
               "description": "ISO 8601; without an offset it is taken as UTC"}
    else:
        out = {"type": "string"}
        if column.categories is not None:
            out["enum"] = [*column.categories, *([None] if column.nullable else [])]
    if column.nullable:
        out["nullable"] = True
    return out




def _label_schema(task: str, labels: list[Any] | None) -> dict[str, Any]:
    """A feedback label: one of the classes, or a number; null takes a label back."""
    if task == "classification" and labels is not None:
        return {"description": "The true class (null removes an earlier label).",
                "enum": [*labels, None], "nullable": True}
    return {"type": "number", "nullable": True,
            "description": "The true value (null removes an earlier label)."}


def _schemas(columns: tuple[ColumnSchema, ...], task: str, labels: list[Any] | None
             ) -> dict[str, Any]:
    names = [c.name for c in columns]
    cells: list[dict[str, Any]] = []
    for c in columns:
        cell = column_schema(c)
        if cell not in cells:
            cells.append(cell)
    prediction = _prediction_schema(task, labels)
    probabilities: dict[str, Any] = {
        "type": "object",
        "description": "Class probabilities (when asked for with \"probabilities\": true).",
        "additionalProperties": {"type": "number"}}
    if labels is not None:
        probabilities["properties"] = {str(label): {"type": "number"} for label in labels}
    order = ", ".join(names)
    return {
        "Record": {"type": "object", "description": "One input row by column name.",
                   "properties": {c.name: column_schema(c) for c in columns},
                   "required": names, "additionalProperties": False},
        "Records": {"type": "array", "items": _ref("Record"), "minItems": 1},
        "Row": {"type": "array", "description": f"One input row as values in this order: "
                                                f"{order}.",
                "items": {"anyOf": cells}, "minItems": len(names), "maxItems": len(names)},
        "Rows": {"type": "array", "items": _ref("Row"), "minItems": 1},
        "ColumnNames": {"type": "array", "items": {"type": "string", "enum": names},
                        "uniqueItems": True, "minItems": len(names), "maxItems": len(names)},
        "PredictRequest": {"oneOf": [
            _ref("Records"),
            {"type": "object", "properties": {"records": _ref("Records"),
                                              "probabilities": {"type": "boolean"},
                                              "event_time": _EVENT_TIME},
             "required": ["records"], "additionalProperties": False},
            {"type": "object", "properties": {"columns": _ref("ColumnNames"),
                                              "data": _ref("Rows"),
                                              "probabilities": {"type": "boolean"},
                                              "event_time": _EVENT_TIME},
             "required": ["columns", "data"], "additionalProperties": False},
        ]},
        "InvocationsRequest": {"oneOf": [
            _mlflow_form("dataframe_split", {
                "type": "object", "properties": {"columns": _ref("ColumnNames"),
                                                 "data": _ref("Rows"),
                                                 "index": {"type": "array", "items": {}}},
                "required": ["data"], "additionalProperties": False}),
            _mlflow_form("dataframe_records", _ref("Records")),
            _mlflow_form("instances", {"oneOf": [_ref("Records"), _ref("Rows")]}),
            # "inputs" also takes an object of equally long column lists; JSON Schema
            # cannot say "equally long", so that form is described in words only
            _mlflow_form("inputs", {"oneOf": [_ref("Records"), _ref("Rows"), _ref("Record")],
                                    "description": "Records, rows in schema order, one "
                                                   "record, or {column: [values...]} with "
                                                   "lists of equal length."}),
        ]},
        "Prediction": {"type": "object", "properties": {
            "id": {"type": "string", "description": "The prediction id: send it back with "
                                                    "the label to /v1/feedback."},
            "prediction": prediction, "probabilities": probabilities},
            "required": ["id", "prediction"]},
        "PredictResponse": {"type": "object", "properties": {
            "model": {"type": "string"}, "version": {"type": "integer"},
            "release": {"type": "string", "nullable": True},
            "predictions": {"type": "array", "items": _ref("Prediction")}},
            "required": ["model", "version", "release", "predictions"]},
        "InvocationsResponse": {"type": "object", "properties": {
            "predictions": {"type": "array", "items": prediction}},
            "required": ["predictions"]},
        "FeedbackItem": {"type": "object", "properties": {
            "prediction_id": {"type": "string", "pattern": ID_PATTERN,
                              "description": "An id /v1/predict returned on this host."},
            "label": _label_schema(task, labels)},
            "required": ["prediction_id", "label"], "additionalProperties": False},
        "FeedbackRequest": {"oneOf": [
            _ref("FeedbackItem"),
            {"type": "object", "properties": {"feedback": {
                "type": "array", "items": _ref("FeedbackItem"), "minItems": 1}},
             "required": ["feedback"], "additionalProperties": False},
        ]},
        "FeedbackResponse": {"type": "object", "properties": {
            "accepted": {"type": "integer", "description": "Labels stored."},
            "unknown": {"type": "array", "items": {"type": "string"},
                        "description": "Well-formed ids that are not in the log."},
            "invalid": {"type": "array", "items": {"type": "string"},
                        "description": "Ids that are not prediction ids."}},
            "required": ["accepted", "unknown", "invalid"]},
        "Health": {"type": "object", "properties": {
            "status": {"type": "string"}, "state": {"type": "string"},
            "release": {"type": "string", "nullable": True},
            "uptime_seconds": {"type": "number"}},
            "required": ["status"], "additionalProperties": True},
        "Readiness": {"type": "object", "properties": {
            "ready": {"type": "boolean"}, "state": {"type": "string"},
            "reason": {"type": "string", "nullable": True},
            "release": {"type": "string", "nullable": True},
            "self_check": {"type": "object", "nullable": True, "additionalProperties": True}},
            "required": ["ready"], "additionalProperties": True},
        "InputColumn": {"type": "object", "properties": {
            "name": {"type": "string"},
            "dtype": {"type": "string",
                      "enum": ["integer", "float", "boolean", "string", "datetime"]},
            "nullable": {"type": "boolean"},
            "categories": {"type": "array", "items": {"type": "string"}}},
            "required": ["name", "dtype", "nullable"]},
        "ModelInfo": {"type": "object", "properties": {
            "model": {"type": "string"}, "version": {"type": "integer"},
            "release": {"type": "string", "nullable": True},
            "task": {"type": "string", "enum": ["classification", "regression"]},
            "classes": {"type": "array", "items": {}, "nullable": True},
            "schema": {"type": "array", "items": _ref("InputColumn"),
                       "description": "The input columns, in model order."}},
            "additionalProperties": True},
        "Profiles": {"type": "object", "properties": {
            "windows": {"type": "array", "items": {"type": "object", "properties": {
                "start": {"type": "string", "format": "date-time"},
                "end": {"type": "string", "format": "date-time"},
                "rows": {"type": "integer"},
                "inputs": {"type": "string", "format": "byte", "nullable": True},
                "outputs": {"type": "string", "format": "byte", "nullable": True}},
                "additionalProperties": True}}},
            "additionalProperties": True,
            "description": "The drift profiles (one per time window) of the period; see "
                           "\"encoding\" for the profile bytes."},
        "LoggedRows": {"type": "object", "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "data": {"type": "array", "items": {"type": "array", "items": {}}},
            "rows": {"type": "integer"}},
            "required": ["columns", "data"], "additionalProperties": True},
        "RowProblem": {"type": "object", "properties": {
            "row": {"type": "integer", "nullable": True,
                    "description": "0-based row; null when the whole request is concerned."},
            "column": {"type": "string", "nullable": True},
            "value": {"description": "The offending value (JSON-safe, long ones cut)."},
            "rule": {"type": "string"}, "message": {"type": "string"}},
            "description": "One problem; request validation fills every field (other "
                           "errors may list e.g. prediction_id and rule only).",
            "additionalProperties": True},
        "Error": {"type": "object", "properties": {"error": {
            "type": "object", "properties": {
                "code": {"type": "string", "description": "Validation codes: "
                         + ", ".join(sorted(STATUS)) + "."},
                "message": {"type": "string"},
                "fix": {"type": "string", "description": "What to send instead."},
                "details": {"type": "array", "items": _ref("RowProblem")},
                "more": {"type": "integer", "description": "Problems left out of details."}},
            "required": ["code", "message", "fix", "details"]}},
            "required": ["error"]},
    }


def _mlflow_form(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {key: value, "params": {
        "type": "object", "nullable": True, "additionalProperties": True,
        "description": "Ignored."}},
        "required": [key], "additionalProperties": False}


def _prediction_schema(task: str, labels: list[Any] | None) -> dict[str, Any]:
    if task != "classification":
        return {"type": "number", "nullable": True}
    if not labels:
        return {"description": "The predicted class."}
    kinds = {type(label) for label in labels}
    out: dict[str, Any] = {"description": "The predicted class."}
    if kinds == {str}:
        out["type"] = "string"
    elif kinds == {bool}:
        out["type"] = "boolean"
    elif kinds == {int}:
        out["type"] = "integer"
    elif kinds <= {int, float}:
        out["type"] = "number"
    out["enum"] = labels
    return out


def _label_example(task: str, labels: list[Any] | None) -> Any:
    if task == "classification":
        return labels[0] if labels else "yes"
    return 1.0
