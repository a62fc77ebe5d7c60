"""API Gateway REST (Lambda proxy) events built from the OpenAPI contract, as the gateway would send them.

``api_event("getLatestValue", path={"path": ...}, groups=("operator",))`` looks the operation up in the
document, so a test can only build a request for a route that exists, with the path template API Gateway
puts in ``resource``, and refuses a parameter the operation does not declare (a typo would otherwise
quietly test the "unknown parameter" answer).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from factory_constructs.api.api_handler.contract import load_contract, operations

CONTRACT = load_contract()
OPERATIONS = {op.operation_id: op for op in operations(CONTRACT)}
IAM_ARN = "arn:aws:iam::123456789012:role/mes-integration"


def _declared(operation_id: str) -> dict[str, str]:
    op = OPERATIONS[operation_id]
    spec = CONTRACT["paths"][op.path][op.method.lower()]
    found = {}
    for item in spec.get("parameters", []):
        if "$ref" in item:
            item = CONTRACT["components"]["parameters"][item["$ref"].rsplit("/", 1)[1]]
        found[item["name"]] = item["in"]
    return found


def api_event(
    operation_id: str,
    *,
    path: dict[str, str] | None = None,
    query: dict[str, Any] | None = None,
    body: Any = None,
    groups: tuple[str, ...] | None = ("analyst",),
    iam: bool = False,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
    unchecked_query: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The proxy event of one call. ``groups=None`` with ``iam=False``: a caller without identity.

    ``unchecked_query`` adds parameters the operation does not declare, for the tests of that answer.
    """
    op = OPERATIONS[operation_id]
    declared = _declared(operation_id)
    path = path or {}
    query = {name: value for name, value in (query or {}).items() if value is not None}
    wrong = [name for name in path if declared.get(name) != "path"]
    wrong += [name for name in query if declared.get(name) != "query"]
    assert not wrong, f"{operation_id} declares no such parameter(s): {wrong}"
    rendered = op.path
    for name, value in path.items():
        rendered = rendered.replace("{" + name + "}", value)
    texts = {name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in query.items()}
    texts.update({name: str(value) for name, value in (unchecked_query or {}).items()})
    context: dict[str, Any] = {
        "requestId": str(uuid.uuid4()),
        "resourcePath": op.path,
        "httpMethod": op.method,
        "stage": "api",
        "identity": {"userArn": IAM_ARN if iam else None, "sourceIp": "10.0.0.1"},
    }
    if groups is not None and not iam:
        context["authorizer"] = {
            "claims": {"sub": "user-sub-1", "cognito:username": "alice", "cognito:groups": ",".join(groups)}
        }
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    return {
        "resource": op.path,
        "path": rendered,
        "httpMethod": op.method,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "multiValueHeaders": {},
        "queryStringParameters": texts or None,
        "multiValueQueryStringParameters": {name: [value] for name, value in texts.items()} or None,
        "pathParameters": path or None,
        "stageVariables": None,
        "requestContext": context,
        "body": raw_body,
        "isBase64Encoded": False,
    }


def answer(response: dict[str, Any]) -> tuple[int, Any]:
    """(status, parsed body) of a proxy response."""
    return response["statusCode"], json.loads(response["body"])
