"""The OpenAPI body of an ``AWS::ApiGateway::RestApi``, as the API rules read it.

cdk-nag checks REST API authorization and validation on ``AWS::ApiGateway::Method`` resources, which an API
imported from a document (``SpecRestApi``, a ``Body``) does not have: there, the document is the definition,
so these rules read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aws_cdk import CfnResource
from aws_cdk import aws_apigateway as apigateway

from policies.rules import resolved

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "x-amazon-apigateway-any-method")


def body_of(node: CfnResource) -> dict[str, Any] | None:
    """The inline body; None when the API has none the template holds (no body, or a ``BodyS3Location``:
    an object in a bucket that no rule can read at synth time)."""
    if not isinstance(node, apigateway.CfnRestApi):
        return None
    body = resolved(node, node.body)
    return body if isinstance(body, dict) else None


def operations_of(body: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every operation in the body."""
    for path, item in (body.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                yield method, path, operation
