"""GxP-BackupCoverage: every stateful resource of a site that AWS Backup can back up (its DynamoDB tables and
its lake buckets) is in a backup selection of the site's plans (Annex 11 §7.2 regular back-ups, Part 11
§11.10(c) records retrievable throughout their retention).

The rule runs on each DynamoDB table and each lake bucket (``dmc:zone``) of a site's stack (tagged
``dmc:site``) and looks for an ``AWS::Backup::BackupSelection`` anywhere in that site stack or its nested
stacks that names the resource's ARN, or selects it by one of its tags (``ListOfTags``, whose conditions AWS
Backup ORs). A construct on a bare stack (no ``dmc:site``) is not judged: the site, not the table, lacks
the plan.
"""

from typing import Any

from aws_cdk import CfnResource
from aws_cdk import aws_backup as backup
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from cdk_nag import NagRuleCompliance

from policies import tag_keys
from policies.rules import Rule, in_stack_of, resolved, resource_tag, site_resources, stack_tag


def _tags(node: CfnResource) -> set[tuple[str, str]]:
    """(key, value) of the resource's tags (of any replica, for a global table)."""
    if isinstance(node, dynamodb.CfnGlobalTable):
        tags = [tag for replica in resolved(node, node.replicas) or [] for tag in replica.get("tags") or []]
    else:
        tags = resolved(node, node.tags.render_tags()) or []  # type: ignore[attr-defined]
    return {(str(tag.get("key")), str(tag.get("value"))) for tag in tags}


def _selects(selection: dict[str, Any], arn: Any, tags: set[tuple[str, str]]) -> bool:
    if arn in (selection.get("resources") or []):
        return True
    return any(
        str(condition.get("conditionType", "")).upper() == "STRINGEQUALS"
        and (condition.get("conditionKey"), condition.get("conditionValue")) in tags
        for condition in selection.get("listOfTags") or []
    )


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if isinstance(node, s3.CfnBucket) and resource_tag(node, tag_keys.ZONE) is None:
        return NagRuleCompliance.NOT_APPLICABLE  # not a lake bucket
    if not isinstance(node, (s3.CfnBucket, dynamodb.CfnTable, dynamodb.CfnGlobalTable)):
        return NagRuleCompliance.NOT_APPLICABLE
    if stack_tag(node, tag_keys.SITE) is None:
        return NagRuleCompliance.NOT_APPLICABLE
    arn = resolved(node, node.attr_arn)
    tags = _tags(node)
    for selection in site_resources(node, backup.CfnBackupSelection):
        if _selects(in_stack_of(node, selection.backup_selection) or {}, arn, tags):
            return NagRuleCompliance.COMPLIANT
    return NagRuleCompliance.NON_COMPLIANT


BACKUP_COVERAGE = Rule(
    suffix="BackupCoverage",
    info="The DynamoDB table or lake bucket is in no backup selection of the site's backup plans.",
    explanation="Annex 11 asks for regular back-ups of all relevant data that can be restored: add the resource "
    "to the site's SiteBackup selection (factory_constructs/audit/site_backup.py).",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"}),
    clauses=("21 CFR 11.10(c)", "Annex 11 §7.2"),
)
