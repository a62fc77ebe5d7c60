"""The handler framework: routing, the caller check, parameter and body parsing, and the Problem answers,
never a stack trace. Runs the real routes against moto, with a query port that fails on purpose."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import pytest
from api_events import answer, api_event
from api_world import LINE_PATH, ApiAws, settings

from factory_constructs.api.api_handler import values as value_routes
from factory_constructs.api.api_handler.api import MAX_BODY_BYTES
from factory_constructs.api.api_handler.contract import to_url_path
from factory_constructs.api.api_handler.queries import QueryFailed, Row

TEMP = f"{LINE_PATH}/cell1/temp"
RANGE = {"from": "2026-01-05T08:00:00Z", "to": "2026-01-05T09:00:00Z"}


class FailingQueries:
    """A query port whose every statement fails the given way."""

    def __init__(self, failure: QueryFailed) -> None:
        self.failure = failure

    def run_many(self, statements: Sequence[str]) -> list[list[Row] | QueryFailed]:
        return [self.failure for _ in statements]


@pytest.fixture
def deps(aws: ApiAws) -> value_routes.Deps:
    aws.seed_latest([("cell1/temp", 21.5, "good", "2026-01-05T08:30:00.000Z", 7)])
    return value_routes.Deps(settings("values"), aws.dynamodb, FailingQueries(QueryFailed("boom", timed_out=True)))


def handle(deps: Any, event: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    response = value_routes.API.handle(event, None, lambda: deps)
    status, body = answer(response)
    return status, body, response["headers"]


def test_an_answer_carries_json_the_request_id_and_no_caching(deps: value_routes.Deps) -> None:
    event = api_event("getLatestValue", path={"path": to_url_path(TEMP)}, groups=("engineer",))
    status, body, headers = handle(deps, event)
    assert status == 200 and body["value"] == 21.5
    assert headers == {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "X-Request-Id": event["requestContext"]["requestId"],
    }


def test_an_unknown_route_and_a_wrong_method_are_problems(deps: value_routes.Deps) -> None:
    event = api_event("getLatestValue", path={"path": to_url_path(TEMP)})
    status, body, headers = handle(deps, {**event, "resource": "/nothing"})
    assert (status, body["type"], headers["Content-Type"]) == (
        404,
        "urn:dmc:problem:no-route",
        "application/problem+json",
    )
    status, body, headers = handle(deps, {**event, "httpMethod": "DELETE"})
    assert (status, headers["Allow"]) == (405, "GET")


def test_a_route_of_another_function_is_a_bare_500(deps: value_routes.Deps, capsys: pytest.CaptureFixture[str]) -> None:
    event = api_event("listTags")
    status, body, _ = handle(deps, event)
    assert status == 500 and set(body) == {"type", "title", "status", "requestId"}
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    error = next(line for line in logged if line["level"] == "ERROR")
    assert "belongs to handler catalog" in error["traceback"]
    assert error["request_id"] == event["requestContext"]["requestId"] == body["requestId"]


def test_an_unexpected_error_is_logged_with_its_trace_and_answered_without_detail(
    deps: value_routes.Deps, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> value_routes.Deps:
        raise KeyError("LATEST_TABLE secret detail")

    event = api_event("getLatestValue", path={"path": to_url_path(TEMP)})
    status, body = answer(value_routes.API.handle(event, None, broken))
    assert status == 500 and "secret" not in json.dumps(body) and body["title"] == "Internal error"
    out = capsys.readouterr().out
    assert "secret detail" in out and "Traceback" in out


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({"sub": "u1", "cognito:groups": "operator"}, 200),
        ({"sub": "u1", "cognito:groups": "[guest operator]"}, 200),
        ({"sub": "u1", "cognito:groups": ["analyst"]}, 200),
        ({"sub": "u1", "cognito:groups": "guest"}, 403),
        ({"sub": "u1"}, 403),
    ],
)
def test_cognito_groups_are_read_in_every_form_api_gateway_gives_them(
    deps: value_routes.Deps, claims: dict[str, Any], status: int
) -> None:
    event = api_event("getLatestValue", path={"path": to_url_path(TEMP)})
    event["requestContext"]["authorizer"] = {"claims": claims}
    assert handle(deps, event)[0] == status


def test_a_caller_without_identity_is_forbidden(deps: value_routes.Deps) -> None:
    status, body, _ = handle(deps, api_event("getLatestValue", path={"path": to_url_path(TEMP)}, groups=None))
    assert status == 403 and "no caller identity" in body["detail"]


def test_an_iam_caller_passes_the_group_check(deps: value_routes.Deps) -> None:
    assert handle(deps, api_event("getLatestValue", path={"path": to_url_path(TEMP)}, iam=True))[0] == 200


def test_forbidden_comes_before_any_parameter_check(deps: value_routes.Deps) -> None:
    event = api_event("getTagHistory", path={"path": "bad"}, groups=("operator",))
    assert handle(deps, event)[0] == 403


def test_unknown_repeated_and_missing_parameters_are_named(deps: value_routes.Deps) -> None:
    path = {"path": to_url_path(TEMP)}
    status, body, _ = handle(deps, api_event("getTagHistory", path=path, query=RANGE, unchecked_query={"window": "1"}))
    assert (status, body["field"]) == (400, "window") and "use only" in body["detail"]
    event = api_event("getTagHistory", path=path, query=RANGE)
    event["multiValueQueryStringParameters"]["from"] = [RANGE["from"], RANGE["from"]]
    status, body, _ = handle(deps, event)
    assert (status, body["field"], body["detail"]) == (400, "from", "from is given 2 times; fix: give it once")
    status, body, _ = handle(deps, api_event("getTagHistory", path=path, query={"from": RANGE["from"]}))
    assert (status, body["field"]) == (400, "to") and body["detail"].startswith("to is missing; fix: give it")


@pytest.mark.parametrize(
    ("raw", "base64_encoded", "status", "field", "words"),
    [
        (None, False, 400, "body", "the request body is missing"),
        ("{not json", False, 400, "body", "the body is not JSON"),
        ("[]", False, 400, "body", "is a list, not an object"),
        ('{"entries": [], "x": 1}', False, 400, "body", "unknown field(s) x"),
        ('{"entries": []}', False, 400, "entries", "fewer than 1"),
        ("not base64!", True, 400, "body", "marked base64"),
        (
            base64.b64encode(b'{"entries": [{"entryId": "a", "path": "%s"}]}' % TEMP.encode()).decode(),
            True,
            200,
            None,
            "",
        ),
        ("x" * (MAX_BODY_BYTES + 1), False, 413, None, "more than"),
    ],
)
def test_bodies_are_checked_against_the_document(
    deps: value_routes.Deps, raw: str | None, base64_encoded: bool, status: int, field: str | None, words: str
) -> None:
    event = api_event("batchGetLatestValues", raw_body=raw)
    event["isBase64Encoded"] = base64_encoded
    got, body, _ = handle(deps, event)
    assert got == status, body
    assert body.get("field") == field and words in body.get("detail", "")


def test_a_query_out_of_time_is_a_504_and_a_failed_one_a_bare_500(deps: value_routes.Deps) -> None:
    event = api_event("getTagHistory", path={"path": to_url_path(TEMP)}, query=RANGE)
    status, body, _ = handle(deps, event)
    assert (status, body["type"]) == (504, "urn:dmc:problem:query-timeout")
    failed = value_routes.Deps(deps.settings, deps.dynamodb, FailingQueries(QueryFailed("SYNTAX_ERROR at line 1")))
    status, body, _ = handle(failed, event)
    assert status == 500 and "SYNTAX" not in json.dumps(body)
    batch = api_event("batchGetTagHistory", body={"entries": [{"entryId": "a", "path": TEMP, **RANGE}]})
    status, body, _ = handle(deps, batch)
    assert status == 200 and body["errorEntries"][0]["error"]["status"] == 504
