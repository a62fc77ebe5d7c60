"""GxP-ApiOperationsAuthorized: every operation of a REST API's OpenAPI body requires one authorization
API Gateway enforces (Part 11 §11.10(d), Annex 11 §12.1: access limited to authorized individuals).

API Gateway applies exactly one authorization type per method: an operation whose ``security`` lists
alternatives is imported with one of them only, and a document-level ``security`` is not applied at all.
So each operation must name exactly one requirement, of schemes API Gateway enforces (IAM ``awsSigv4``,
a Cognito user pool, a Lambda authorizer), or carry ``x-amazon-apigateway-auth`` of type AWS_IAM.
"""

from typing import Any

from aws_cdk import CfnResource
from cdk_nag import NagRuleCompliance

from policies.rules import Rule
from policies.rules.openapi_body import body_of, operations_of

ENFORCED_AUTH_TYPES = frozenset({"awsSigv4", "cognito_user_pools", "custom"})


def _enforced_schemes(body: dict[str, Any]) -> set[str]:
    schemes = (body.get("components") or {}).get("securitySchemes") or body.get("securityDefinitions") or {}
    return {
        name
        for name, scheme in schemes.items()
        if isinstance(scheme, dict) and scheme.get("x-amazon-apigateway-authtype") in ENFORCED_AUTH_TYPES
    }


def _authorized(operation: dict[str, Any], enforced: set[str]) -> bool:
    auth = operation.get("x-amazon-apigateway-auth")
    if isinstance(auth, dict) and str(auth.get("type", "")).upper() == "AWS_IAM":
        return True
    security = operation.get("security")
    if not isinstance(security, list) or len(security) != 1 or not isinstance(security[0], dict):
        return False
    return bool(security[0]) and all(name in enforced for name in security[0])


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    body = body_of(node)
    if body is None:
        return NagRuleCompliance.NON_COMPLIANT  # no document in the template to prove it
    enforced = _enforced_schemes(body)
    every = all(_authorized(operation, enforced) for _, _, operation in operations_of(body))
    return NagRuleCompliance.COMPLIANT if every else NagRuleCompliance.NON_COMPLIANT


API_OPERATIONS_AUTHORIZED = Rule(
    suffix="ApiOperationsAuthorized",
    info="An operation of the REST API's OpenAPI body has no single authorization that API Gateway enforces, "
    "or the body is not in the template.",
    explanation="Give every operation exactly one security requirement naming IAM (awsSigv4), a Cognito user "
    "pool or a Lambda authorizer: API Gateway applies one authorization per method and ignores alternatives "
    "and document-level security. Keep the body inline so that this can be checked.",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::ApiGateway::RestApi"}),
    clauses=("21 CFR 11.10(d)", "Annex 11 §12.1"),
)
