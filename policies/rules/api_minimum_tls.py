"""GxP-ApiMinimumTls: a REST API accepts TLS 1.2 or later only (Part 11 §11.30 open systems, Annex 11 §12).

A regional REST API's default security policy is the legacy TLS_1_0. ``TLS_1_2`` and every enhanced
policy (``SecurityPolicy_...``) refuse TLS 1.0 and 1.1. An OpenAPI body's
``x-amazon-apigateway-security-policy``, when present, must hold one of them too.
"""

from aws_cdk import CfnResource
from aws_cdk import aws_apigateway as apigateway
from cdk_nag import NagRuleCompliance

from policies.rules import Rule, resolved
from policies.rules.openapi_body import body_of

BODY_KEY = "x-amazon-apigateway-security-policy"


def _modern(policy: object) -> bool:
    return isinstance(policy, str) and (policy == "TLS_1_2" or policy.startswith("SecurityPolicy_"))


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if not isinstance(node, apigateway.CfnRestApi):
        return NagRuleCompliance.NOT_APPLICABLE
    body = body_of(node) or {}
    in_body = body.get(BODY_KEY)
    modern = _modern(resolved(node, node.security_policy)) and (in_body is None or _modern(in_body))
    return NagRuleCompliance.COMPLIANT if modern else NagRuleCompliance.NON_COMPLIANT


API_MINIMUM_TLS = Rule(
    suffix="ApiMinimumTls",
    info="The REST API accepts TLS older than 1.2 (its security policy is unset, TLS_1_0, or so in its body).",
    explanation="Set SecurityPolicy to TLS_1_2 or an enhanced policy (SecurityPolicy_..., with an endpoint access "
    "mode); a regional REST API otherwise negotiates TLS 1.0.",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::ApiGateway::RestApi"}),
    clauses=("21 CFR 11.30", "GDPR Art. 32"),
)
