"""The site API's contract: the OpenAPI document beside this file, and the operations it declares.

Standard library only: the handlers route from this module inside Lambda, the CDK construct builds the
REST API from the same document, and the tests check one against the other, so a route cannot exist in
one place and not the other.

Conventions the document fixes for every route (its ``info.description`` says the same to callers):

* Tag paths inside URL paths write every ``/`` as ``~`` (``acme~plantA~press~line1~cell1~temp``); the
  envelope's path segments (``[A-Za-z0-9_.-]+``) never hold ``~``, so the mapping is one to one, and no
  caller has to percent-encode ``/`` as ``%2F`` (which API Gateway and many proxies decode or refuse).
  A line in a URL path is ``area~line``: the API is per site, the enterprise and site are implied.
* Times are RFC 3339 in UTC with a ``Z`` suffix; ranges are ``from`` exclusive, ``to`` inclusive.
* Lists are paginated with ``limit`` and an opaque ``cursor`` (the previous page's ``nextCursor``).
* Errors are ``application/problem+json`` with the ``Problem`` schema.

Every operation carries ``x-dmc-handler`` (which Lambda function answers it, one of ``HANDLERS``) and
``x-dmc-groups`` (the Cognito groups allowed; IAM callers are allowed by their IAM policy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DOCUMENT = Path(__file__).with_name("openapi.json")
HANDLERS = ("catalog", "values", "commands", "alerts")
GROUPS = ("operator", "engineer", "analyst")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
HANDLER_KEY = "x-dmc-handler"
GROUPS_KEY = "x-dmc-groups"
# Path segments of tags and lines as the envelope defines them, and the separator used in URL paths.
PATH_SEPARATOR = "~"


@dataclass(frozen=True)
class Operation:
    """One method on one path template of the document."""

    method: str  # upper case, as API Gateway reports it: "GET"
    path: str  # the template: "/tags/{path}/latest"
    operation_id: str
    handler: str
    groups: tuple[str, ...]


@cache
def _load() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


def load_contract() -> dict[str, Any]:
    """The OpenAPI document, parsed anew on each call (callers may change their copy)."""
    document: dict[str, Any] = json.loads(_load())
    return document


def operations(contract: dict[str, Any]) -> list[Operation]:
    """Every operation of ``contract``; raises ValueError naming each one without a valid handler or groups."""
    found = []
    problems = []
    for path, item in contract.get("paths", {}).items():
        for method in METHODS:
            if method not in item:
                continue
            spec = item[method]
            where = f"{method.upper()} {path}"
            handler = spec.get(HANDLER_KEY)
            groups = spec.get(GROUPS_KEY)
            wrong = []
            if handler not in HANDLERS:
                wrong.append(f"{where}: {HANDLER_KEY} {handler!r} is not one of {', '.join(HANDLERS)}")
            if not isinstance(groups, list) or not groups or any(group not in GROUPS for group in groups):
                wrong.append(f"{where}: {GROUPS_KEY} {groups!r} is not a non-empty list of {', '.join(GROUPS)}")
            if not spec.get("operationId"):
                wrong.append(f"{where}: operationId is missing")
            problems.extend(wrong)
            if wrong:
                continue
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    operation_id=spec["operationId"],
                    handler=handler,
                    groups=tuple(groups),
                )
            )
    if problems:
        raise ValueError("OpenAPI contract invalid: " + "; ".join(problems) + "; fix: correct openapi.json")
    return found


def to_url_path(path: str) -> str:
    """A tag or line path as it goes into a URL path: ``/`` written as ``~``."""
    return path.replace("/", PATH_SEPARATOR)


def from_url_path(segment: str) -> str:
    """The tag or line path a URL path parameter names (``~`` back to ``/``)."""
    return segment.replace(PATH_SEPARATOR, "/")
