"""GxP-KmsRotation: customer-managed keys rotate (Annex 11 §12 security, Part 11 §11.10(d))."""

from aws_cdk import CfnResource
from aws_cdk import aws_kms as kms
from cdk_nag import NagRuleCompliance

from policies.rules import Rule, resolved


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if not isinstance(node, kms.CfnKey):
        return NagRuleCompliance.NOT_APPLICABLE
    if resolved(node, node.key_spec) not in (None, "SYMMETRIC_DEFAULT"):
        return NagRuleCompliance.NOT_APPLICABLE  # AWS rotates only symmetric keys
    return (
        NagRuleCompliance.COMPLIANT
        if resolved(node, node.enable_key_rotation) is True
        else NagRuleCompliance.NON_COMPLIANT
    )


KMS_ROTATION = Rule(
    suffix="KmsRotation",
    info="The KMS key does not rotate.",
    explanation="Keys protecting GxP records rotate yearly so that one exposed key material covers a bounded period.",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::KMS::Key"}),
    clauses=("21 CFR 11.30", "Annex 11 §12.1", "GDPR Art. 32"),
)
