"""Our own nag packs: GxP (Part 11 / Annex 11 controls) and data residency."""

from __future__ import annotations

from aws_cdk import CfnResource
from cdk_nag import NagPack, NagRuleCompliance
from constructs import IConstruct

from policies.rules import AppliedRule, Rule
from policies.rules.kms_rotation import KMS_ROTATION
from policies.rules.log_retention import LOG_RETENTION
from policies.rules.no_external_egress import NO_EXTERNAL_EGRESS
from policies.rules.raw_object_lock import RAW_OBJECT_LOCK
from policies.rules.s3_versioned import S3_VERSIONED
from policies.rules.stack_region import STACK_REGION
from policies.rules.stateful_retained import STATEFUL_RETAINED


class _RulePack(NagPack):
    """A pack that applies a fixed list of ``Rule``s to every resource."""

    pack: str
    rules: tuple[Rule, ...]

    def __init__(self, scope: IConstruct | None = None) -> None:
        super().__init__(scope)
        self._pack_name = self.pack

    @property
    def name(self) -> str:
        return self.pack

    def _check_resource(self, node: CfnResource) -> None:
        kind = _resource_type(node)
        for rule in self.rules:
            if kind not in rule.resource_types:
                continue
            # Only a finding goes through cdk-nag (its report, the acknowledgments): applying a rule
            # costs several callbacks, which a compliant or not-applicable resource does not need.
            try:
                finding = rule.evaluate(node) == NagRuleCompliance.NON_COMPLIANT
            except Exception:  # cdk-nag re-runs the rule and reports the error as a finding
                finding = True
            if not finding:
                continue
            # jsii reads IApplyRule's members as properties; its typing stub declares them settable.
            self._apply_rule(AppliedRule(rule, node))  # type: ignore[arg-type]


_TYPE_OF_CLASS: dict[type, str] = {}


def _resource_type(node: CfnResource) -> str:
    """The CloudFormation type, read once per L1 class (each read crosses into jsii)."""
    cls = type(node)
    if cls is CfnResource:  # a generic resource: its type is per instance
        return node.cfn_resource_type
    if cls not in _TYPE_OF_CLASS:
        _TYPE_OF_CLASS[cls] = node.cfn_resource_type
    return _TYPE_OF_CLASS[cls]


class GxPChecks(_RulePack):
    pack = "GxP"
    rules = (S3_VERSIONED, RAW_OBJECT_LOCK, KMS_ROTATION, LOG_RETENTION, STATEFUL_RETAINED)


class ResidencyChecks(_RulePack):
    pack = "Residency"
    rules = (STACK_REGION, NO_EXTERNAL_EGRESS)
