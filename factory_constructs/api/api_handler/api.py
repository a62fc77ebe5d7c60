"""The framework every API Gateway handler of the site API runs on: route, authorize, parse, answer.

One ``Api`` per Lambda function (``catalog``, ``values``, ``commands``, ``alerts``) maps the contract's
operations of that function (``x-dmc-handler``) to route functions by ``operationId``; building it fails
if a route is missing or is not in the document, so the contract and the code cannot drift apart.

A request goes through, in this order (each step answers a ``Problem`` if it fails):

1. the route, from API Gateway's ``resource`` (the path template) and ``httpMethod``: 404 / 405;
2. the caller: a Cognito user (``authorizer.claims``: ``sub``, ``cognito:groups``) must be in one of the
   operation's ``x-dmc-groups`` (403); an IAM caller (``identity.userArn``) was already authorized by
   its IAM policy at the gateway; neither is 403;
3. the parameters and the body, against the document's schemas: 400 naming the ``field``, 413 for a
   body above ``MAX_BODY_BYTES``;
4. the route function ``route(request, deps) -> body`` (200) or ``Reply`` (another status). It raises
   ``ApiError`` for what the caller should hear; anything else is logged with the request id and
   answered 500 without detail.

Adding a handler: write route functions taking ``(Request, deps)``, build ``Api("<handler>", {operationId:
function})`` at import, and in ``entry.py`` call ``api.handle(event, context, deps_factory)``; the
factory (settings and clients) runs inside the error handling, so a misconfiguration is a logged 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from .contract import Operation, load_contract, operations
from .logs import log, log_exception
from .problems import ApiError, bad_parameter, problem
from .schema import SchemaError, check, coerce_parameter, resolve

D = TypeVar("D")
# Far above any body the document allows (a batch of 100 latest entries is about 60 KB).
MAX_BODY_BYTES = 256 * 1024
_JSON = "application/json"
_PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Caller:
    """Who is asking: a Cognito user (``sub``) with groups, or an IAM principal (its ARN)."""

    kind: str  # "cognito" or "iam"
    id: str
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Request:
    """A routed, authorized request with typed parameters (defaults applied) and the checked body."""

    operation: Operation
    params: dict[str, Any]
    body: Any
    caller: Caller
    request_id: str
    now: datetime


@dataclass(frozen=True)
class Reply:
    """A route's answer with a status other than 200, or with headers of its own."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[Request, D], Any]


class Api(Generic[D]):
    """The routes of one handler, checked against the contract when built."""

    def __init__(self, handler: str, routes: Mapping[str, Route[D]], *, contract: dict[str, Any] | None = None):
        self.contract = contract if contract is not None else load_contract()
        self.handler = handler
        mine = {op.operation_id: op for op in operations(self.contract) if op.handler == handler}
        missing = sorted(set(mine) - set(routes))
        unknown = sorted(set(routes) - set(mine))
        if missing or unknown:
            raise ValueError(
                f"{handler} routes do not match the contract: missing {missing or 'none'}, not in the document "
                f"as {handler} operations {unknown or 'none'}; fix: route exactly the document's operations"
            )
        self.routes = dict(routes)
        self._by_template: dict[str, dict[str, Operation]] = {}
        for op in operations(self.contract):
            self._by_template.setdefault(op.path, {})[op.method] = op

    def handle(
        self,
        event: dict[str, Any],
        context: Any,
        deps: Callable[[], D],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> dict[str, Any]:
        """The API Gateway (REST, Lambda proxy) response to ``event``; never raises."""
        started = time.perf_counter()
        context_ = event.get("requestContext") or {}
        request_id = str(context_.get("requestId") or getattr(context, "aws_request_id", "") or "unknown")
        method, template = str(event.get("httpMethod", "")), str(event.get("resource", ""))
        operation_id = ""
        try:
            operation = self._operation(method, template)
            operation_id = operation.operation_id
            caller = _caller(context_, operation)
            request = Request(
                operation=operation,
                params=self._params(operation, event),
                body=self._body(operation, event),
                caller=caller,
                request_id=request_id,
                now=now(),
            )
            result = self.routes[operation.operation_id](request, deps())
            reply = result if isinstance(result, Reply) else Reply(200, result)
            response = _response(reply.status, reply.body, _JSON, request_id, reply.headers)
        except ApiError as error:
            response = _response(error.status, error.problem(request_id), _PROBLEM, request_id, error.headers)
        except Exception as error:  # the one place an unexpected error becomes a bare 500
            log_exception("unhandled error", error, request_id=request_id, operation=operation_id)
            response = _response(500, problem(500, "internal", request_id=request_id), _PROBLEM, request_id)
        log(
            "request",
            request_id=request_id,
            handler=self.handler,
            method=method,
            resource=template,
            operation=operation_id,
            status=response["statusCode"],
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        return response

    def _operation(self, method: str, template: str) -> Operation:
        methods = self._by_template.get(template)
        if methods is None:
            raise ApiError(404, "no-route", f"no route {template!r}; fix: use a path of the API document")
        if method not in methods:
            allow = ", ".join(sorted(methods))
            raise ApiError(405, "method-not-allowed", f"{template} answers {allow}", headers={"Allow": allow})
        operation = methods[method]
        if operation.handler != self.handler:
            # API Gateway sent another function's route here: a deployment fault, not the caller's.
            raise RuntimeError(f"{method} {template} belongs to handler {operation.handler}, not {self.handler}")
        return operation

    def _spec(self, operation: Operation) -> dict[str, Any]:
        spec: dict[str, Any] = self.contract["paths"][operation.path][operation.method.lower()]
        return spec

    def _params(self, operation: Operation, event: dict[str, Any]) -> dict[str, Any]:
        declared = [resolve(self.contract, item) for item in self._spec(operation).get("parameters", ())]
        path_values = event.get("pathParameters") or {}
        query = _query(event)
        known = {item["name"] for item in declared if item["in"] == "query"}
        unknown = sorted(set(query) - known)
        if unknown:
            allowed = ", ".join(sorted(known)) or "none"
            raise bad_parameter(unknown[0], f"unknown query parameter {unknown[0]!r}; fix: use only {allowed}")
        params: dict[str, Any] = {}
        for item in declared:
            name, schema = item["name"], item["schema"]
            if item["in"] == "path":
                text = urllib.parse.unquote(str(path_values.get(name, "")))
            elif name in query:
                values = query[name]
                if len(values) != 1:
                    raise bad_parameter(name, f"{name} is given {len(values)} times; fix: give it once")
                text = values[0]
            elif item.get("required"):
                raise bad_parameter(name, f"{name} is missing; fix: give it ({item.get('description', '')})")
            else:
                default = resolve(self.contract, schema).get("default")
                if default is not None:
                    params[name] = default
                continue
            try:
                params[name] = check(self.contract, schema, coerce_parameter(self.contract, schema, text, name), name)
            except SchemaError as error:
                raise bad_parameter(error.field, str(error)) from error
        return params

    def _body(self, operation: Operation, event: dict[str, Any]) -> Any:
        spec = self._spec(operation).get("requestBody")
        if spec is None:
            return None
        raw = event.get("body")
        if raw is None or raw == "":
            raise bad_parameter("body", "the request body is missing; fix: send a JSON object")
        try:
            data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else str(raw).encode()
        except (binascii.Error, ValueError) as error:
            raise bad_parameter("body", "the body is marked base64 but is not; fix: send JSON") from error
        if len(data) > MAX_BODY_BYTES:
            raise ApiError(413, "too-large", f"the body has {len(data)} bytes, more than {MAX_BODY_BYTES}")
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise bad_parameter("body", f"the body is not JSON ({type(error).__name__}); fix: send JSON") from error
        schema = resolve(self.contract, spec)["content"][_JSON]["schema"]
        try:
            return check(self.contract, schema, body, "")
        except SchemaError as error:
            raise bad_parameter(error.field or "body", str(error)) from error


def _query(event: dict[str, Any]) -> dict[str, list[str]]:
    multi = event.get("multiValueQueryStringParameters")
    if multi:
        return {name: [str(value) for value in values] for name, values in multi.items()}
    single = event.get("queryStringParameters") or {}
    return {name: [str(value)] for name, value in single.items()}


def _groups(claim: Any) -> frozenset[str]:
    """``cognito:groups`` as a set: a list, or the string API Gateway makes of it ("a,b" or "[a b]")."""
    if isinstance(claim, list):
        return frozenset(str(item) for item in claim)
    if isinstance(claim, str):
        return frozenset(part for part in claim.strip("[]").replace(",", " ").split() if part)
    return frozenset()


def _caller(context: dict[str, Any], operation: Operation) -> Caller:
    claims = (context.get("authorizer") or {}).get("claims")
    if isinstance(claims, dict) and claims.get("sub"):
        groups = _groups(claims.get("cognito:groups"))
        if not groups & set(operation.groups):
            raise ApiError(
                403,
                "forbidden",
                f"{operation.method} {operation.path} is for the group(s) {', '.join(operation.groups)}; the caller "
                f"is in {', '.join(sorted(groups)) or 'no group'}; fix: ask the site's administrator for a group",
            )
        return Caller(kind="cognito", id=str(claims["sub"]), groups=groups)
    user_arn = (context.get("identity") or {}).get("userArn")
    if user_arn:
        return Caller(kind="iam", id=str(user_arn))
    raise ApiError(403, "forbidden", "the request carries no caller identity; fix: call through the site's API")


def _response(
    status: int, body: Any, content_type: str, request_id: str, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {
            "Content-Type": content_type,
            "Cache-Control": "no-store",
            "X-Request-Id": request_id,
            **(headers or {}),
        },
        "body": json.dumps(body, separators=(",", ":"), allow_nan=False),
        "isBase64Encoded": False,
    }
