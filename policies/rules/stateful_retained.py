"""GxP-StatefulRetained: on an audit-trail site, no stateful resource is deleted with its stack."""

from aws_cdk import CfnDeletionPolicy, CfnResource
from cdk_nag import NagRuleCompliance

from policies import tag_keys
from policies.rules import STATEFUL_RESOURCE_TYPES, Rule, stack_tag


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if stack_tag(node, tag_keys.AUDIT_TRAIL) != "true":
        return NagRuleCompliance.NOT_APPLICABLE
    policy = node.cfn_options.deletion_policy
    retained = policy in (CfnDeletionPolicy.RETAIN, CfnDeletionPolicy.SNAPSHOT)
    return NagRuleCompliance.COMPLIANT if retained else NagRuleCompliance.NON_COMPLIANT


STATEFUL_RETAINED = Rule(
    suffix="StatefulRetained",
    info="A stateful resource of a Part 11 / Annex 11 site would be deleted with its stack.",
    explanation="Records must survive a stack deletion: keep DeletionPolicy Retain (lake.retain_data: true).",
    evaluate=_evaluate,
    resource_types=STATEFUL_RESOURCE_TYPES,
    clauses=("21 CFR 11.10(c)", "Annex 11 §7.1", "Annex 11 §17"),
)
