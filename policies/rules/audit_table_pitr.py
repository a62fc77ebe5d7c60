"""GxP-AuditTablePitr: a DynamoDB table of audit records keeps point-in-time recovery (Part 11 §11.10(c)
protection of records, Annex 11 §7.1, §7.2).

Audit tables are the ones tagged ``dmc:record`` = ``audit`` (policies/tag_keys.py): the commands of the site
API with their gateway audit results. Point-in-time recovery restores such a table to any second of the last
35 days, so an item overwritten or deleted by mistake is not lost. A global table (``TableV2``) carries its
tags and its recovery setting per replica: every audit replica must have it.
"""

from typing import Any

from aws_cdk import CfnResource
from aws_cdk import aws_dynamodb as dynamodb
from cdk_nag import NagRuleCompliance

from policies import tag_keys
from policies.rules import Rule, resolved, resource_tag


def _enabled(specification: Any) -> bool:
    return isinstance(specification, dict) and specification.get("pointInTimeRecoveryEnabled") is True


def _audit(tags: Any) -> bool:
    return any(tag.get("key") == tag_keys.RECORD and tag.get("value") == tag_keys.AUDIT_RECORD for tag in tags or [])


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if isinstance(node, dynamodb.CfnTable):
        if resource_tag(node, tag_keys.RECORD) != tag_keys.AUDIT_RECORD:
            return NagRuleCompliance.NOT_APPLICABLE
        enabled = _enabled(resolved(node, node.point_in_time_recovery_specification))
        return NagRuleCompliance.COMPLIANT if enabled else NagRuleCompliance.NON_COMPLIANT
    if isinstance(node, dynamodb.CfnGlobalTable):
        audited = [replica for replica in resolved(node, node.replicas) or [] if _audit(replica.get("tags"))]
        if not audited:
            return NagRuleCompliance.NOT_APPLICABLE
        every = all(_enabled(replica.get("pointInTimeRecoverySpecification")) for replica in audited)
        return NagRuleCompliance.COMPLIANT if every else NagRuleCompliance.NON_COMPLIANT
    return NagRuleCompliance.NOT_APPLICABLE


AUDIT_TABLE_PITR = Rule(
    suffix="AuditTablePitr",
    info="A DynamoDB table of audit records (dmc:record = audit) has no point-in-time recovery.",
    explanation="Audit records must survive an overwrite or delete by mistake: enable point-in-time recovery "
    "(PointInTimeRecoverySpecification, on every replica of a global table).",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"}),
    clauses=("21 CFR 11.10(c)", "Annex 11 §7.1", "Annex 11 §7.2"),
)
