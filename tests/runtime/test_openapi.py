"""The server's OpenAPI document (modeldeck.core.runtime.openapi)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest

from modeldeck.core.runtime.ids import ID_PATTERN
from modeldeck.core.runtime.openapi import column_schema, openapi_document
from modeldeck.core.runtime.validation import RequestError, Validator
from modeldeck.core.schema import ColumnSchema

SCHEMA = (
    ColumnSchema("age", "integer"),
    ColumnSchema("income", "float", nullable=True),
    ColumnSchema("member", "boolean"),
    ColumnSchema("city", "string", categories=("Berlin", "Paris")),
    ColumnSchema("segment", "string", nullable=True, categories=("a", "b")),
    ColumnSchema("note", "string"),
    ColumnSchema("seen", "datetime", nullable=True),
)
NAMES = [c.name for c in SCHEMA]
GOOD = {"age": 3, "income": None, "member": True, "city": "Paris", "segment": None,
        "note": "x", "seen": "2024-05-01T13:45:00Z"}
ROUTES = {("/health", "get"), ("/ready", "get"), ("/v1/model", "get"), ("/metrics", "get"),
          ("/v1/profile", "get"), ("/v1/predictions", "get"), ("/openapi.json", "get"),
          ("/v1/predict", "post"),
          ("/invocations", "post"), ("/v1/feedback", "post")}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# The Schema Object keywords of OpenAPI 3.0.3 (a JSON Schema subset plus OAS fields).
SCHEMA_KEYS = {"title", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
               "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
               "uniqueItems", "maxProperties", "minProperties", "required", "enum", "type",
               "allOf", "oneOf", "anyOf", "not", "items", "properties", "additionalProperties",
               "description", "format", "default", "nullable", "discriminator", "readOnly",
               "writeOnly", "xml", "externalDocs", "example", "deprecated", "$ref"}
TYPES = {"integer", "number", "string", "boolean", "array", "object"}


def document(token: bool = True, task: str = "classification",
             classes: Any = ("no", "yes")) -> dict[str, Any]:
    return openapi_document(SCHEMA, model="churn", version=3, task=task, classes=classes,
                            token=token)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/components/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items()
            for method, op in item.items()]


# --------------------------------------------------------------------------- a mini validator


def conforms(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` matches ``schema`` (the keywords the document uses)."""
    if "$ref" in schema:
        return conforms(doc, resolve(doc, schema["$ref"]), value)
    kind = schema.get("type")
    if value is None:  # OpenAPI 3.0: null only where "nullable" (or no "type") says so
        return ((kind is None or bool(schema.get("nullable")))
                and None in schema.get("enum", [None])
                and ("anyOf" not in schema or any(conforms(doc, s, value)
                                                  for s in schema["anyOf"]))
                and ("oneOf" not in schema or sum(conforms(doc, s, value)
                                                  for s in schema["oneOf"]) == 1))
    checks = {"integer": lambda v: type(v) is int or (type(v) is float and v.is_integer()),
              "number": lambda v: type(v) in (int, float), "string": lambda v: type(v) is str,
              "boolean": lambda v: type(v) is bool, "array": lambda v: type(v) is list,
              "object": lambda v: type(v) is dict}
    if kind is not None and not checks[kind](value):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if schema.get("format") == "date-time":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
    if kind == "array":
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems",
                                                                             len(value)):
            return False
        if schema.get("uniqueItems") and len(set(map(json.dumps, value))) != len(value):
            return False
        if not all(conforms(doc, schema["items"], v) for v in value):
            return False
    if kind == "object":
        props = schema.get("properties", {})
        if not set(schema.get("required", ())) <= set(value):
            return False
        extra = schema.get("additionalProperties", True)
        for key, v in value.items():
            if key in props:
                if not conforms(doc, props[key], v):
                    return False
            elif extra is False or (isinstance(extra, dict) and not conforms(doc, extra, v)):
                return False
    if "oneOf" in schema and sum(conforms(doc, s, value) for s in schema["oneOf"]) != 1:
        return False
    if "anyOf" in schema and not any(conforms(doc, s, value) for s in schema["anyOf"]):
        return False
    return True


def component(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


# --------------------------------------------------------------------------- structure


def _walk_schemas(doc: dict[str, Any], node: Any, where: str, seen: list[str]) -> None:
    """Check every Schema Object under ``node``."""
    assert isinstance(node, dict), where
    seen.append(where)
    unknown = set(node) - SCHEMA_KEYS
    assert not unknown, f"{where}: keywords {unknown} are not OpenAPI 3.0"
    if "$ref" in node:
        assert set(node) == {"$ref"}, f"{where}: siblings of $ref are ignored"
        resolve(doc, node["$ref"])
        return
    if "type" in node:
        assert node["type"] in TYPES, f"{where}: type {node['type']!r}"
    if node.get("type") == "array":
        assert "items" in node, f"{where}: an array needs items"
        _walk_schemas(doc, node["items"], where + "/items", seen)
    for name, sub in node.get("properties", {}).items():
        _walk_schemas(doc, sub, f"{where}/properties/{name}", seen)
    if "required" in node and "properties" in node:
        assert set(node["required"]) <= set(node["properties"]), where
    if isinstance(node.get("additionalProperties"), dict):
        _walk_schemas(doc, node["additionalProperties"], where + "/additionalProperties", seen)
    for key in ("oneOf", "anyOf", "allOf"):
        for i, sub in enumerate(node.get(key, ())):
            _walk_schemas(doc, sub, f"{where}/{key}/{i}", seen)
    if "nullable" in node:
        assert isinstance(node["nullable"], bool)


@pytest.mark.parametrize("token", [True, False])
@pytest.mark.parametrize("task, classes", [("classification", ("no", "yes")),
                                           ("classification", (0, 1, 2)),
                                           ("regression", None)])
def test_document_is_structurally_valid_openapi(token: bool, task: str, classes: Any) -> None:
    doc = document(token, task, classes)
    json.dumps(doc, allow_nan=False)
    assert doc["openapi"] == "3.0.3"
    assert isinstance(doc["info"]["title"], str) and doc["info"]["version"] == "3"
    assert set(doc) <= {"openapi", "info", "paths", "components", "security", "servers",
                        "tags", "externalDocs"}
    assert {(p, m) for p, m, _ in operations(doc)} == ROUTES
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))
    for name_group in doc["components"].values():
        for name in name_group:
            assert re.fullmatch(r"[A-Za-z0-9._-]+", name), name
    schemas_seen: list[str] = []
    for name, schema in doc["components"]["schemas"].items():
        _walk_schemas(doc, schema, f"#/components/schemas/{name}", schemas_seen)
    schemes = doc["components"].get("securitySchemes", {})
    for requirement in doc.get("security", []):
        assert set(requirement) <= set(schemes)
    for path, method, op in operations(doc):
        assert path.startswith("/") and method in METHODS
        assert op["responses"] and "200" in op["responses"], path
        for code, response in op["responses"].items():
            assert re.fullmatch(r"[1-5]\d\d|default", code)
            if "$ref" in response:
                response = resolve(doc, response["$ref"])
            assert response["description"]
            for media, content in response.get("content", {}).items():
                _walk_schemas(doc, content["schema"], f"{path} {code} {media}", schemas_seen)
        for parameter in op.get("parameters", []):
            if "$ref" in parameter:
                parameter = resolve(doc, parameter["$ref"])
            assert parameter["in"] in {"query", "header", "path", "cookie"}
            assert parameter["name"] and "schema" in parameter
        if "requestBody" in op:
            body = op["requestBody"]
            for content in body["content"].values():
                _walk_schemas(doc, content["schema"], f"{path} body", schemas_seen)
        for requirement in op.get("security", []):
            assert set(requirement) <= set(schemes)
    # every $ref anywhere resolves
    text = json.dumps(doc)
    for ref in re.findall(r'"\$ref": "([^"]+)"', text):
        resolve(doc, ref)
    # every component schema is used by some route
    for name in doc["components"]["schemas"]:
        assert f"#/components/schemas/{name}" in text


def test_request_examples_conform() -> None:
    doc = document()
    for path in ("/v1/predict", "/invocations", "/v1/feedback"):
        content = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert conforms(doc, content["schema"], content["example"]), path


# --------------------------------------------------------------------------- content


def test_inputs_are_typed_per_column() -> None:
    doc = document()
    record = doc["components"]["schemas"]["Record"]
    assert record["required"] == NAMES and record["additionalProperties"] is False
    props = record["properties"]
    assert props["age"] == {"type": "integer"}
    assert props["income"] == {"type": "number", "nullable": True}
    assert props["member"] == {"type": "boolean"}
    assert props["city"] == {"type": "string", "enum": ["Berlin", "Paris"]}
    assert props["segment"] == {"type": "string", "enum": ["a", "b", None], "nullable": True}
    assert props["note"] == {"type": "string"}
    assert props["seen"]["type"] == "string" and props["seen"]["format"] == "date-time"
    assert props["seen"]["nullable"] is True
    assert column_schema(SCHEMA[0]) == props["age"]
    assert doc["components"]["schemas"]["ColumnNames"]["items"]["enum"] == NAMES
    row = doc["components"]["schemas"]["Row"]
    assert row["minItems"] == row["maxItems"] == len(NAMES)
    assert "age, income, member" in row["description"]


def test_bearer_security_on_every_route_but_health() -> None:
    doc = document(token=True)
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer",
        "description": "The server's token: `Authorization: Bearer <token>`."}
    assert doc["security"] == [{"bearerAuth": []}]
    for path, _method, op in operations(doc):
        if path == "/health":
            assert op["security"] == [] and "401" not in op["responses"]
        else:
            assert "security" not in op  # inherits the document's bearerAuth
            assert op["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}

    open_doc = document(token=False)
    assert "security" not in open_doc
    assert "securitySchemes" not in open_doc["components"]
    assert all("401" not in op["responses"] for _, _, op in operations(open_doc))


def test_error_responses() -> None:
    doc = document()
    for path, more in (("/v1/predict", set()), ("/invocations", {"415"}),
                       ("/v1/feedback", {"404"})):
        responses = doc["paths"][path]["post"]["responses"]
        assert set(responses) == {"200", "400", "401", "413", "422", "503", "default"} | more
        for code in ("400", "413", "422", "503", "default", *more):
            response = resolve(doc, responses[code]["$ref"])
            assert response["content"]["application/json"]["schema"] == component(doc,
                                                                                   "Error")
    assert set(doc["paths"]["/v1/profile"]["get"]["responses"]) == {
        "200", "400", "401", "404", "503", "default"}
    for _path, _method, op in operations(doc):
        assert op["responses"]["default"] == {"$ref": "#/components/responses/Unexpected"}
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "fix", "details"]


def test_get_routes() -> None:
    doc = document()
    ready = doc["paths"]["/ready"]["get"]["responses"]
    assert ready["503"]["content"]["application/json"]["schema"] == component(doc, "Readiness")
    assert conforms(doc, component(doc, "Readiness"),
                    {"ready": False, "state": "loading", "reason": "self-check running",
                     "release": None, "self_check": None})
    assert conforms(doc, component(doc, "Health"),
                    {"status": "alive", "state": "ready", "release": "r-1",
                     "uptime_seconds": 1.5})
    logged = doc["paths"]["/v1/predictions"]["get"]
    names = [p.get("name") or resolve(doc, p["$ref"])["name"] for p in logged["parameters"]]
    assert names == ["since", "until", "limit", "labeled"]
    assert conforms(doc, component(doc, "LoggedRows"),
                    {"columns": ["prediction_id", "age"], "data": [["a-1", 3]], "rows": 1})
    predict = doc["paths"]["/v1/predict"]["post"]
    assert predict["parameters"][0]["name"] == "probabilities"
    # CSV is taken but not described: a schema for "any text" would promise too much
    assert list(doc["paths"]["/invocations"]["post"]["requestBody"]["content"]) == [
        "application/json"]
    assert conforms(doc, component(doc, "ModelInfo"), {
        "model": "churn", "version": 3, "release": "r-1", "task": "classification",
        "classes": ["no", "yes"], "schema": [c.to_dict() for c in SCHEMA], "metrics": {}})
    assert conforms(doc, component(doc, "Profiles"), {"windows": [
        {"start": "2024-05-01T13:00:00+00:00", "end": "2024-05-01T14:00:00+00:00",
         "rows": 10, "inputs": "TURQUk9G", "outputs": None}], "host": "h1"})


def test_metrics_and_profile_routes() -> None:
    doc = document()
    metrics = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    params = [resolve(doc, p["$ref"]) for p in doc["paths"]["/v1/profile"]["get"]["parameters"]]
    assert [(p["name"], p["in"], p["schema"]) for p in params] == [
        ("since", "query", {"type": "string", "format": "date-time"}),
        ("until", "query", {"type": "string", "format": "date-time"})]
    assert not any(p["required"] for p in params)


def test_feedback_bodies() -> None:
    doc = document()
    body = doc["paths"]["/v1/feedback"]["post"]["requestBody"]["content"]["application/json"]
    schema = body["schema"]
    assert conforms(doc, schema, {"prediction_id": "3f2a9c01b7e4-1a", "label": "yes"})
    assert conforms(doc, schema, {"feedback": [
        {"prediction_id": "3f2a9c01b7e4-1b", "label": "no"},
        {"prediction_id": "3f2a9c01b7e4-1c", "label": None}]})
    assert not conforms(doc, schema, {"feedback": []})
    assert not conforms(doc, schema, {"label": "yes"})
    assert not conforms(doc, schema, {"prediction_id": "3f2a9c01b7e4-1a", "label": "maybe"})
    item = doc["components"]["schemas"]["FeedbackItem"]["properties"]["prediction_id"]
    assert re.match(item["pattern"], "3f2a9c01b7e4-1a") and item["pattern"] == ID_PATTERN
    assert not conforms(doc, schema, {"prediction_id": "3f2a9c01b7e4-1a", "label": "yes",
                                      "extra": 1})
    regression = document(task="regression", classes=None)
    schema = regression["paths"]["/v1/feedback"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    assert conforms(regression, schema, {"prediction_id": "3f2a9c01b7e4-1a", "label": 3.5})
    assert not conforms(regression, schema, {"prediction_id": "3f2a9c01b7e4-1a",
                                             "label": "3.5"})
    response = component(doc, "FeedbackResponse")
    assert conforms(doc, response, {"accepted": 1, "unknown": ["a-9"], "invalid": ["x"]})


def test_predict_response_names_the_classes() -> None:
    doc = document(classes=("no", "yes"))
    prediction = doc["components"]["schemas"]["Prediction"]["properties"]
    assert prediction["prediction"] == {"description": "The predicted class.",
                                        "type": "string", "enum": ["no", "yes"]}
    assert set(prediction["probabilities"]["properties"]) == {"no", "yes"}
    answer = {"model": "churn", "version": 3, "release": "r-7",
              "predictions": [{"id": "3f2a9c01b7e4-0", "prediction": "yes",
                               "probabilities": {"no": 0.25, "yes": 0.75}},
                              {"id": "3f2a9c01b7e4-1", "prediction": "no"}]}
    assert conforms(doc, component(doc, "PredictResponse"), answer)
    assert not conforms(doc, component(doc, "PredictResponse"),
                        {**answer, "predictions": [{"id": "x", "prediction": "maybe"}]})
    numbers = document(classes=(0, 1, 2))["components"]["schemas"]["Prediction"]
    assert numbers["properties"]["prediction"]["type"] == "integer"
    assert set(numbers["properties"]["probabilities"]["properties"]) == {"0", "1", "2"}
    regression = document(task="regression", classes=None)
    assert regression["components"]["schemas"]["Prediction"]["properties"][
        "prediction"]["type"] == "number"
    assert conforms(regression, component(regression, "InvocationsResponse"),
                    {"predictions": [1.5, 2.0]})


# --------------------------------------------------------------------------- agreement


def test_what_the_validator_accepts_conforms() -> None:
    """Every accepted request form is described by the document, and vice versa."""
    doc = document()
    validator = Validator(SCHEMA)
    lists = [[GOOD[c] for c in NAMES]]
    predict = [[GOOD], {"records": [GOOD], "probabilities": True},
               {"columns": NAMES[::-1], "data": [[GOOD[c] for c in NAMES[::-1]]]}]
    invocations = [{"dataframe_split": {"columns": NAMES, "data": lists, "index": [0]}},
                   {"dataframe_split": {"data": lists}},
                   {"dataframe_records": [GOOD]}, {"instances": [GOOD]},
                   {"instances": lists}, {"inputs": lists}, {"inputs": [GOOD]},
                   {"inputs": GOOD, "params": {}}]
    # {"inputs": {column: [values]}} is accepted too, but described in words only (JSON
    # Schema cannot require the lists to be equally long)
    for payload in predict:
        assert validator.predict_request(payload).n == 1
        assert conforms(doc, component(doc, "PredictRequest"), payload), payload
    for payload in invocations:
        assert validator.mlflow_request(payload).n == 1
        assert conforms(doc, component(doc, "InvocationsRequest"), payload), payload
    for bad in ([{**GOOD, "city": "Rome"}], [{**GOOD, "age": "3"}], {"records": []},
                [{**GOOD, "zip": 1}], {"records": [GOOD], "probabilities": "yes"}):
        with pytest.raises(RequestError):
            validator.predict_request(bad)
        assert not conforms(doc, component(doc, "PredictRequest"), bad), bad


def test_validator_errors_conform_to_the_error_schema() -> None:
    doc = document()
    validator = Validator(SCHEMA, max_details=2)
    bodies = [b"", b"[1,", b"[]", b'[{"age": 1}]', b'{"x": 1}',
              json.dumps([{**GOOD, "age": "x", "city": "Rome"}] * 3).encode(),
              json.dumps([{**GOOD, "income": 1e400}]).encode()]
    codes = set()
    for body in bodies:
        with pytest.raises(RequestError) as info:
            validator.predict_request(validator.parse_json(body))
        payload = json.loads(json.dumps(info.value.to_dict(), allow_nan=False))
        assert conforms(doc, component(doc, "Error"), payload), payload
        codes.add(info.value.code)
    assert codes == {"malformed_json", "no_rows", "missing_column", "bad_format",
                     "wrong_type", "not_finite"}
