"""A WSGI stand-in for API Gateway, in-process: it serves the OpenAPI document, matches a request to the
document's path templates, builds the REST proxy event API Gateway would send (``resource``, path and
query parameters, the Cognito authorizer's claims) and calls the function the operation names.

What API Gateway itself would answer before any Lambda runs (no such route: 403 "Missing Authentication
Token") is answered here as the handlers' 404 Problem, so every answer comes from our code.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from factory_constructs.api.api_handler.contract import load_contract, operations

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class Gateway:
    """WSGI app: ``Gateway({"catalog": entry.catalog, ...}, groups=("operator", ...))``."""

    def __init__(self, handlers: Mapping[str, Handler], *, groups: tuple[str, ...]) -> None:
        self.contract = load_contract()
        self.document = json.dumps(self.contract).encode()
        self.handlers = dict(handlers)
        self.groups = groups
        self.calls = 0
        self._routes = []
        for template in sorted({op.path for op in operations(self.contract)}):
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            methods = {op.method: op for op in operations(self.contract) if op.path == template}
            self._routes.append((re.compile(f"^{pattern}$"), template, methods))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/openapi.json":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [self.document]
        response = self.invoke(environ, path)
        status = response["statusCode"]
        start_response(f"{status} {HTTPStatus(status).phrase}", list(response["headers"].items()))
        return [response["body"].encode()]

    def invoke(self, environ: dict[str, Any], path: str) -> dict[str, Any]:
        self.calls += 1
        method = environ["REQUEST_METHOD"]
        template, methods, found = "/unknown" + path, {}, None
        for pattern, known, by_method in self._routes:
            found = pattern.match(path)
            if found:
                template, methods = known, by_method
                break
        op = methods.get(method) or next(iter(methods.values()), None)
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode("utf-8", "replace") if length else None
        headers = {
            key[5:].replace("_", "-").title(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if "CONTENT_TYPE" in environ:
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        event = {
            "resource": template,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": {name: urllib.parse.unquote(value) for name, value in found.groupdict().items()}
            if found
            else None,
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "identity": {"userArn": None},
                "authorizer": {
                    "claims": {"sub": "fuzz", "cognito:username": "fuzz", "cognito:groups": ",".join(self.groups)}
                },
            },
            "body": body,
            "isBase64Encoded": False,
        }
        # An unknown route reaches a handler too (any will do: each answers 404 for a route it does not know).
        handler = self.handlers[op.handler if op else "catalog"]
        return handler(event, None)
