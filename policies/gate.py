"""The compliance gate: every pack runs as a validation plugin on every synth, and every acknowledgment that
relies on a compensating control finds it there."""

from __future__ import annotations

import jsii
from aws_cdk import App, CfnResource, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NagRuleCompliance, NIST80053R5Checks, PCIDSS321Checks
from constructs import IConstruct, IValidation

from policies.acknowledge import BackedAcknowledgment, backed_acknowledgments
from policies.packs import GxPChecks, ResidencyChecks
from policies.rules import Rule, site_stack

PACKS = (AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks, GxPChecks, ResidencyChecks)
# The rules a control may name: ours, which the gate can evaluate itself.
CONTROL_RULES: dict[str, Rule] = {
    f"{pack.pack}::{pack.pack}-{rule.suffix}": rule for pack in (GxPChecks, ResidencyChecks) for rule in pack.rules
}


def apply_compliance_gate(app: App) -> list[str]:
    """Add every pack to ``app``; any unacknowledged finding then fails the synth, and so does an acknowledgment
    whose compensating control is absent (``BackedControls``). Returns the pack names."""
    packs = [pack(app) for pack in PACKS]
    Validations.of(app).add_plugins(*packs)
    app.node.add_validation(BackedControls(app))
    return [pack.name for pack in packs]


@jsii.implements(IValidation)
class BackedControls:
    """Fails the synth for each backed acknowledgment (``acknowledge(..., backed_by=...)``) whose control does
    not hold: a construct control must be present in the acknowledged resource's site stack (the top-level stack
    with its nested stacks); a rule control must find the acknowledged resources of its types compliant."""

    def __init__(self, root: IConstruct) -> None:
        self._root = root

    def validate(self) -> list[str]:
        problems: list[str] = []
        classes: dict[str, set[str]] = {}
        for entry in backed_acknowledgments(self._root):
            site = site_stack(entry.scope)
            for control in entry.controls:
                if control in CONTROL_RULES:
                    problems += _rule_problems(entry, control, CONTROL_RULES[control])
                elif "::" in control:
                    problems.append(
                        f"{entry.scope.node.path}: backed_by names {control}, which is not a rule of our packs; "
                        f"fix: name one of {', '.join(sorted(CONTROL_RULES))}"
                    )
                else:
                    if site.node.path not in classes:
                        classes[site.node.path] = {type(construct).__name__ for construct in site.node.find_all()}
                    if control not in classes[site.node.path]:
                        problems.append(
                            f"{entry.scope.node.path}: the acknowledgment of {', '.join(entry.rule_ids)} relies on "
                            f"{control}, which stack {site.node.path} does not contain; fix: add the {control} "
                            "construct to the site, or drop the claim from the reason and backed_by"
                        )
        return problems


def _rule_problems(entry: BackedAcknowledgment, control: str, rule: Rule) -> list[str]:
    scope = entry.scope
    resources = [node for node in scope.node.find_all() if isinstance(node, CfnResource)]
    checked = [node for node in resources if node.cfn_resource_type in rule.resource_types]
    if not checked:
        return [
            f"{scope.node.path}: the acknowledgment of {', '.join(entry.rule_ids)} relies on {control}, which checks "
            "none of its resources; fix: acknowledge on the resource the rule checks, or drop the claim"
        ]
    return [
        f"{node.node.path}: the acknowledgment of {', '.join(entry.rule_ids)} relies on {control}, which does not "
        f"hold here ({rule.info}); fix: {rule.explanation}"
        for node in checked
        if rule.evaluate(node) != NagRuleCompliance.COMPLIANT
    ]
