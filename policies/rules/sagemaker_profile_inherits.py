"""GxP-SageMakerProfileInherits: a SageMaker user profile runs with its domain's role and network settings.

A profile's ``UserSettings`` replace the domain's defaults for that user: its own ``ExecutionRole`` can grant
more than the workspace role (other buckets, other sites' data), and its own ``SecurityGroups`` replace the
domain's, so the user's apps could open paths out of the VPC that the domain's groups close. Access is
then decided per user, outside what the domain (and its tests and rules) show.
"""

from aws_cdk import CfnResource
from aws_cdk import aws_sagemaker as sagemaker
from cdk_nag import NagRuleCompliance

from policies.rules import Rule, resolved

OVERRIDES = ("executionRole", "securityGroups")


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if not isinstance(node, sagemaker.CfnUserProfile):
        return NagRuleCompliance.NOT_APPLICABLE
    settings = resolved(node, node.user_settings) or {}
    overrides = [key for key in OVERRIDES if settings.get(key)]
    return NagRuleCompliance.NON_COMPLIANT if overrides else NagRuleCompliance.COMPLIANT


SAGEMAKER_PROFILE_INHERITS = Rule(
    suffix="SageMakerProfileInherits",
    info="The SageMaker user profile sets its own execution role or security groups instead of its domain's.",
    explanation="Leave ExecutionRole and SecurityGroups out of a profile's UserSettings: every analyst then works "
    "with the domain's least-privilege role and its VPC-only security groups.",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::SageMaker::UserProfile"}),
    clauses=("21 CFR 11.10(d)", "Annex 11 §12.1"),
)
