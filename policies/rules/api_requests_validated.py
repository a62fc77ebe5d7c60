"""GxP-ApiRequestsValidated: API Gateway checks every request of a REST API's OpenAPI body against the
document before a handler runs (Annex 11 §5 data checks on input, Part 11 §11.10(h) input validity).

Each operation names (or inherits from the document) a validator of ``x-amazon-apigateway-request-validators``
that validates both the parameters and the body. cdk-nag's APIG2 looks only for a separate
``AWS::ApiGateway::RequestValidator`` resource and ignores validators inside the body (cdk-nag issue 1075).
"""

from typing import Any

from aws_cdk import CfnResource
from cdk_nag import NagRuleCompliance

from policies.rules import Rule
from policies.rules.openapi_body import body_of, operations_of

VALIDATOR_KEY = "x-amazon-apigateway-request-validator"
VALIDATORS_KEY = "x-amazon-apigateway-request-validators"


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    body = body_of(node)
    if body is None:
        return NagRuleCompliance.NON_COMPLIANT
    validators: dict[str, Any] = body.get(VALIDATORS_KEY) or {}
    complete = {
        name
        for name, validator in validators.items()
        if isinstance(validator, dict)
        and validator.get("validateRequestBody") is True
        and validator.get("validateRequestParameters") is True
    }
    default = body.get(VALIDATOR_KEY)
    every = all(operation.get(VALIDATOR_KEY, default) in complete for _, _, operation in operations_of(body))
    return NagRuleCompliance.COMPLIANT if every else NagRuleCompliance.NON_COMPLIANT


API_REQUESTS_VALIDATED = Rule(
    suffix="ApiRequestsValidated",
    info="An operation of the REST API's OpenAPI body is not validated (parameters and body) by API Gateway, "
    "or the body is not in the template.",
    explanation="Declare a validator with validateRequestBody and validateRequestParameters in "
    "x-amazon-apigateway-request-validators and name it on every operation (or as the document's default), so "
    "that malformed input never reaches a handler. Keep the body inline so that this can be checked.",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::ApiGateway::RestApi"}),
    clauses=("Annex 11 §5",),
)
