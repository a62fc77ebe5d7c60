"""GxP-RawObjectLock: an audit-trail site's raw zone is immutable (Object Lock, compliance mode)."""

from aws_cdk import CfnResource
from aws_cdk import aws_s3 as s3
from cdk_nag import NagRuleCompliance

from policies import tag_keys
from policies.rules import Rule, resolved, resource_tag, stack_tag


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if not isinstance(node, s3.CfnBucket) or resource_tag(node, tag_keys.ZONE) != "raw":
        return NagRuleCompliance.NOT_APPLICABLE
    if stack_tag(node, tag_keys.AUDIT_TRAIL) != "true":
        return NagRuleCompliance.NOT_APPLICABLE
    lock = resolved(node, node.object_lock_configuration) or {}
    mode = lock.get("rule", {}).get("defaultRetention", {}).get("mode")
    enabled = resolved(node, node.object_lock_enabled) is True
    return NagRuleCompliance.COMPLIANT if enabled and mode == "COMPLIANCE" else NagRuleCompliance.NON_COMPLIANT


RAW_OBJECT_LOCK = Rule(
    suffix="RawObjectLock",
    info="The raw zone of a Part 11 / Annex 11 site is not under Object Lock in compliance mode.",
    explanation="Original electronic records must be protected from alteration and deletion for their retention "
    "period; governance mode can be bypassed, compliance mode cannot.",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::S3::Bucket"}),
    clauses=("21 CFR 11.10(c)", "21 CFR 11.10(e)", "Annex 11 §7.1", "Annex 11 §17"),
)
