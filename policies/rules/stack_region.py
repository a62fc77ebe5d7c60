"""Residency-StackRegion: every resource holding data lives in one of its site's allowed data regions."""

from aws_cdk import CfnResource, Stack, Token
from cdk_nag import NagRuleCompliance

from policies import tag_keys
from policies.rules import DATA_RESOURCE_TYPES, Rule, stack_tag


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    allowed = (stack_tag(node, tag_keys.DATA_REGIONS) or "").split()
    region = Stack.of(node).region
    if Token.is_unresolved(region) or region not in allowed:
        return NagRuleCompliance.NON_COMPLIANT
    return NagRuleCompliance.COMPLIANT


STACK_REGION = Rule(
    suffix="StackRegion",
    info="A data-holding resource's stack has no concrete region inside its site's allowed data regions.",
    explanation="Data residency: a site's stacks carry the dmc:data-regions tag and are deployed only to one of "
    "those regions (set env.region explicitly; region-agnostic stacks cannot be proven resident).",
    evaluate=_evaluate,
    resource_types=DATA_RESOURCE_TYPES,
    clauses=("GDPR Art. 44",),
)
