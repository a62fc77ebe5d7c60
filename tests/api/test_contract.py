"""The OpenAPI document is valid, complete and the single source of the routes: every operation has a
handler route, no route exists outside the document, and what the document promises (security, groups,
Problem errors, typed parameters) holds for every operation, including those added later."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from envelope.tag_envelope import LINE_PATH_RE, TAG_PATH_RE
from factory_constructs.api.api_handler import alerts, catalog, commands, entry, values
from factory_constructs.api.api_handler.api import Api
from factory_constructs.api.api_handler.contract import (
    HANDLERS,
    from_url_path,
    load_contract,
    operations,
    to_url_path,
)
from factory_constructs.api.api_handler.schema import SUPPORTED, resolve
from factory_constructs.api.api_handler.settings import VARIABLES

CONTRACT = load_contract()
APIS: dict[str, Api[Any]] = {
    "catalog": catalog.API,
    "values": values.API,
    "commands": commands.API,
    "alerts": alerts.API,
}
SPECS = [
    (f"{method.upper()} {path}", spec)
    for path, item in CONTRACT["paths"].items()
    for method, spec in item.items()
    if method in ("get", "post", "put", "patch", "delete")
]


def test_the_document_is_valid_openapi_3_0() -> None:
    assert CONTRACT["openapi"] == "3.0.3"
    validate(CONTRACT)


def test_the_document_carries_no_aws_integration() -> None:
    text = str(CONTRACT)
    assert "x-amazon-apigateway" not in text


def test_every_operation_has_a_route_and_every_route_an_operation() -> None:
    declared = {(op.handler, op.operation_id) for op in operations(CONTRACT)}
    routed = {(handler, operation_id) for handler, api in APIS.items() for operation_id in api.routes}
    assert routed == declared
    assert set(APIS) == set(HANDLERS)
    assert len({op.operation_id for op in operations(CONTRACT)}) == len(declared)


def test_every_handler_and_stream_function_has_an_entry_point_and_its_variables() -> None:
    for name in VARIABLES:
        assert callable(getattr(entry, name)), name
    assert set(HANDLERS) <= set(VARIABLES)


@pytest.mark.parametrize(("where", "spec"), SPECS, ids=[where for where, _ in SPECS])
def test_every_operation_is_secured_grouped_and_answers_problems(where: str, spec: dict[str, Any]) -> None:
    assert spec["security"] == [{"sigv4": []}, {"cognito": []}]
    assert spec["x-dmc-handler"] in HANDLERS
    assert spec["x-dmc-groups"] and set(spec["x-dmc-groups"]) <= {"operator", "engineer", "analyst"}
    responses = spec["responses"]
    assert {"400", "403", "500"} <= set(responses)
    for status, response in responses.items():
        response = resolve(CONTRACT, response)
        if status.startswith(("4", "5")):
            assert response["content"]["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }, status
        else:
            assert "application/json" in response["content"], status


@pytest.mark.parametrize(("where", "spec"), SPECS, ids=[where for where, _ in SPECS])
def test_every_parameter_and_body_is_typed_with_keywords_the_handlers_check(where: str, spec: dict[str, Any]) -> None:
    schemas = [resolve(CONTRACT, parameter)["schema"] for parameter in spec.get("parameters", [])]
    if "requestBody" in spec:
        schemas.append(spec["requestBody"]["content"]["application/json"]["schema"])
    for schema in schemas:
        for node in walk(schema):
            assert set(node) <= SUPPORTED, f"{where}: {sorted(set(node) - SUPPORTED)}"
            assert "type" in node or "$ref" in node or "allOf" in node or "oneOf" in node or "enum" in node, node


def walk(schema: dict[str, Any], seen: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Every schema node under ``schema``, following $ref once each."""
    nodes = [schema]
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return nodes
        return nodes + walk(resolve(CONTRACT, schema), seen | {schema["$ref"]})
    children = list(schema.get("properties", {}).values()) + schema.get("allOf", []) + schema.get("oneOf", [])
    if isinstance(schema.get("items"), dict):
        children.append(schema["items"])
    for child in children:
        nodes += walk(child, seen)
    return nodes


def test_path_parameters_are_the_envelope_paths_with_tildes() -> None:
    tag = re.compile(CONTRACT["components"]["parameters"]["TagPath"]["schema"]["pattern"])
    line = re.compile(CONTRACT["components"]["parameters"]["LinePath"]["schema"]["pattern"])
    for path in ("acme/plantA/press/line1/cell1/temp", "a.b/c-d/e_f/g/h/i"):
        assert TAG_PATH_RE.match(path) and tag.match(to_url_path(path)) and from_url_path(to_url_path(path)) == path
    assert not tag.match("acme/plantA/press/line1/cell1/temp") and not tag.match("acme~plantA~press")
    assert LINE_PATH_RE.match("acme/plantA/press/line1") and line.match("press~line1") and not line.match("press/line1")
    body_path = re.compile(CONTRACT["components"]["schemas"]["TagPathString"]["pattern"])
    assert body_path.pattern == TAG_PATH_RE.pattern


def test_pagination_and_times_are_the_same_on_every_list_route() -> None:
    for where, spec in SPECS:
        names = {resolve(CONTRACT, parameter)["name"]: parameter for parameter in spec.get("parameters", [])}
        if "cursor" in names:
            assert names["cursor"] == {"$ref": "#/components/parameters/Cursor"}, where
            assert names["limit"] == {"$ref": "#/components/parameters/Limit"}, where
            page = resolve(CONTRACT, spec["responses"]["200"])["content"]["application/json"]["schema"]
            assert "nextCursor" in resolve(CONTRACT, page)["properties"], where
        for name in ("from", "to"):
            if name in names:
                assert (
                    resolve(CONTRACT, names[name])["schema"]["pattern"]
                    == CONTRACT["components"]["schemas"]["Timestamp"]["pattern"]
                )


def test_operations_names_each_broken_operation() -> None:
    broken = copy.deepcopy(CONTRACT)
    broken["paths"]["/tags"]["get"]["x-dmc-handler"] = "reports"
    broken["paths"]["/alerts"]["get"]["x-dmc-groups"] = ["visitor"]
    with pytest.raises(ValueError) as raised:
        operations(broken)
    assert str(raised.value) == (
        "OpenAPI contract invalid: GET /tags: x-dmc-handler 'reports' is not one of catalog, values, commands, alerts; "
        "GET /alerts: x-dmc-groups ['visitor'] is not a non-empty list of operator, engineer, analyst; "
        "fix: correct openapi.json"
    )


def test_an_api_must_route_exactly_its_operations() -> None:
    with pytest.raises(
        ValueError, match=r"missing \['listDatasets'\], not in the document as catalog operations \['listAlerts'\]"
    ):
        Api[Any]("catalog", {"listTags": catalog.list_tags, "listAlerts": alerts.list_alerts})
