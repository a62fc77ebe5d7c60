"""GxP-LogRetention: log groups are encrypted with a site key and keep records at least a year."""

from aws_cdk import CfnResource
from aws_cdk import aws_logs as logs
from cdk_nag import NagRuleCompliance

from policies.rules import Rule, resolved

MIN_RETENTION_DAYS = 365


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if not isinstance(node, logs.CfnLogGroup):
        return NagRuleCompliance.NOT_APPLICABLE
    days = resolved(node, node.retention_in_days)
    kept = days is None or (isinstance(days, int) and days >= MIN_RETENTION_DAYS)  # None: kept for ever
    encrypted = resolved(node, node.kms_key_id) is not None
    return NagRuleCompliance.COMPLIANT if kept and encrypted else NagRuleCompliance.NON_COMPLIANT


LOG_RETENTION = Rule(
    suffix="LogRetention",
    info="The log group is not KMS-encrypted with a site key or keeps records for less than 365 days.",
    explanation="Logs are part of the audit trail: encrypt them with the site's key and keep them at least a year.",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::Logs::LogGroup"}),
    clauses=("21 CFR 11.10(e)", "Annex 11 §9"),
)
