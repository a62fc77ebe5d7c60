"""Residency-ApiRegionalEndpoint: a REST API is served from its own region, not through CloudFront's
worldwide edge locations.

An edge-optimized API (what API Gateway and ``SpecRestApi`` create by default) terminates TLS at the
CloudFront point of presence nearest the caller, anywhere in the world, so the requests and answers that
carry plant data pass through locations outside the site's data regions. A REGIONAL or PRIVATE endpoint
keeps them in the region of the stack, which Residency-StackRegion checks.
"""

from aws_cdk import CfnResource
from aws_cdk import aws_apigateway as apigateway
from cdk_nag import NagRuleCompliance

from policies.rules import Rule, resolved

RESIDENT_TYPES = frozenset({"REGIONAL", "PRIVATE"})


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if not isinstance(node, apigateway.CfnRestApi):
        return NagRuleCompliance.NOT_APPLICABLE
    configuration = resolved(node, node.endpoint_configuration) or {}
    types = configuration.get("types") or ["EDGE"]  # API Gateway's default
    imported = (resolved(node, node.parameters) or {}).get("endpointConfigurationTypes")
    resident = set(types) <= RESIDENT_TYPES and (imported is None or imported in RESIDENT_TYPES)
    return NagRuleCompliance.COMPLIANT if resident else NagRuleCompliance.NON_COMPLIANT


API_REGIONAL_ENDPOINT = Rule(
    suffix="ApiRegionalEndpoint",
    info="The REST API is edge-optimized (the default): its traffic passes through CloudFront edge locations "
    "outside the site's data regions.",
    explanation="Set EndpointConfiguration Types to REGIONAL (or PRIVATE), and endpointConfigurationTypes the "
    "same where the body is imported, so the API is served from its own region only.",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::ApiGateway::RestApi"}),
    clauses=("GDPR Art. 44",),
)
