"""GxP-S3Versioned: every bucket keeps prior versions (Part 11 §11.10(e), Annex 11 §7.1)."""

from aws_cdk import CfnResource
from aws_cdk import aws_s3 as s3
from cdk_nag import NagRuleCompliance

from policies.rules import Rule, resolved


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if not isinstance(node, s3.CfnBucket):
        return NagRuleCompliance.NOT_APPLICABLE
    versioning = resolved(node, node.versioning_configuration) or {}
    return NagRuleCompliance.COMPLIANT if versioning.get("status") == "Enabled" else NagRuleCompliance.NON_COMPLIANT


S3_VERSIONED = Rule(
    suffix="S3Versioned",
    info="The S3 bucket does not keep object versions.",
    explanation="GxP records must not be lost by overwrite or delete: enable versioning so every change is kept.",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::S3::Bucket"}),
    clauses=("21 CFR 11.10(c)", "Annex 11 §7.1"),
)
