"""Residency-EventTargetsResident: an EventBridge rule sends events only to its site's data regions, and
never to an HTTP endpoint.

A rule may target an event bus of any region and account (the KPI summaries a site forwards to a
cross-site bus), or an API destination (an HTTP endpoint anywhere). A target named by a literal ARN must be
in one of the stack's ``dmc:data-regions``; an API destination is refused. A target named by a reference to a
resource of the site's templates is in the stack's own region, which Residency-StackRegion checks.
"""

from typing import Any

from aws_cdk import CfnResource, Stack, Token
from aws_cdk import aws_events as events
from cdk_nag import NagRuleCompliance

from policies import tag_keys
from policies.rules import Rule, resolved, stack_tag

_PSEUDO = {"AWS::Partition": "aws", "AWS::AccountId": "account", "AWS::URLSuffix": "amazonaws.com"}


def _literal(value: Any, region: str) -> str | None:
    """An ARN as text, ``Ref AWS::Region`` read as the stack's region; None when it names a resource."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and list(value) == ["Fn::Join"]:
        separator, parts = value["Fn::Join"]
        texts = []
        for part in parts:
            if isinstance(part, dict) and part.get("Ref") == "AWS::Region":
                texts.append(region)
            elif isinstance(part, dict) and part.get("Ref") in _PSEUDO:
                texts.append(_PSEUDO[part["Ref"]])
            elif isinstance(part, str):
                texts.append(part)
            else:
                return None
        return str(separator).join(texts)
    return None


def _evaluate(node: CfnResource) -> NagRuleCompliance:
    if not isinstance(node, events.CfnRule):
        return NagRuleCompliance.NOT_APPLICABLE
    allowed = (stack_tag(node, tag_keys.DATA_REGIONS) or "").split()
    region = Stack.of(node).region
    for target in resolved(node, node.targets) or []:
        arn = _literal(target.get("arn"), "" if Token.is_unresolved(region) else region)
        if arn is None:
            continue
        parts = arn.split(":", 5)
        if len(parts) < 6:
            return NagRuleCompliance.NON_COMPLIANT
        _, _, service, target_region, _, resource = parts
        if service == "events" and resource.startswith("api-destination/"):
            return NagRuleCompliance.NON_COMPLIANT
        if target_region not in allowed:
            return NagRuleCompliance.NON_COMPLIANT
    return NagRuleCompliance.COMPLIANT


EVENT_TARGETS_RESIDENT = Rule(
    suffix="EventTargetsResident",
    info="An EventBridge rule sends events outside the site's data regions, or to an HTTP API destination.",
    explanation="Data residency: forward events only to buses and services in one of the site's data regions "
    "(dmc:data-regions), and never to API destinations, which can be anywhere.",
    evaluate=_evaluate,
    resource_types=frozenset({"AWS::Events::Rule"}),
    clauses=("GDPR Art. 44",),
)
