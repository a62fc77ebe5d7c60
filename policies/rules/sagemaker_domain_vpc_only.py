"""Residency-SageMakerDomainVpcOnly: a SageMaker Studio domain's apps reach the network only through the site VPC.

Mirrors AWS Config's SAGEMAKER_DOMAIN_IN_VPC. A domain without ``AppNetworkAccessType`` gets
``PublicInternetOnly``: its notebooks then reach the internet directly, outside the VPC's endpoints, security
groups and flow logs, and can send the curated data they read anywhere. cdk-nag has no rule for domains.
"""

from aws_cdk import CfnResource
from aws_cdk import aws_sagemaker as sagemaker
from cdk_nag import NagRuleCompliance

from policies.rules import Rule, resolved


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if not isinstance(node, sagemaker.CfnDomain):
        return NagRuleCompliance.NOT_APPLICABLE
    # SageMaker's default when the property is absent is PublicInternetOnly.
    vpc_only = resolved(node, node.app_network_access_type) == "VpcOnly"
    return NagRuleCompliance.COMPLIANT if vpc_only else NagRuleCompliance.NON_COMPLIANT


SAGEMAKER_DOMAIN_VPC_ONLY = Rule(
    suffix="SageMakerDomainVpcOnly",
    info="The SageMaker domain is not VpcOnly: its apps reach the internet directly (PublicInternetOnly is the "
    "default).",
    explanation="Set AppNetworkAccessType to VpcOnly with the site's private subnets and security groups, so the "
    "apps reach only what the site's VPC offers (its endpoints), under its flow logs.",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::SageMaker::Domain"}),
    clauses=("GDPR Art. 44",),
)
