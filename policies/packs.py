"""Our own nag packs: GxP (Part 11 / Annex 11 controls) and data residency."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import CfnResource, IPolicyValidationContext, PolicyValidationPluginReport
from cdk_nag import NagPack, NagRuleCompliance
from constructs import IConstruct

from policies import EVALUATIONS_FOLDER
from policies.rules import AppliedRule, Rule
from policies.rules.api_minimum_tls import API_MINIMUM_TLS
from policies.rules.api_operations_authorized import API_OPERATIONS_AUTHORIZED
from policies.rules.api_regional_endpoint import API_REGIONAL_ENDPOINT
from policies.rules.api_requests_validated import API_REQUESTS_VALIDATED
from policies.rules.audit_table_pitr import AUDIT_TABLE_PITR
from policies.rules.backup_coverage import BACKUP_COVERAGE
from policies.rules.event_targets_resident import EVENT_TARGETS_RESIDENT
from policies.rules.kms_rotation import KMS_ROTATION
from policies.rules.log_retention import LOG_RETENTION
from policies.rules.no_external_egress import NO_EXTERNAL_EGRESS
from policies.rules.no_foreign_principal import NO_FOREIGN_PRINCIPAL
from policies.rules.raw_object_lock import RAW_OBJECT_LOCK
from policies.rules.s3_versioned import S3_VERSIONED
from policies.rules.sagemaker_customer_key import SAGEMAKER_CUSTOMER_KEY
from policies.rules.sagemaker_domain_vpc_only import SAGEMAKER_DOMAIN_VPC_ONLY
from policies.rules.sagemaker_profile_inherits import SAGEMAKER_PROFILE_INHERITS
from policies.rules.stack_region import STACK_REGION
from policies.rules.stateful_retained import STATEFUL_RETAINED
from policies.rules.trail_data_events import TRAIL_DATA_EVENTS


class _RulePack(NagPack):
    """A pack that applies a fixed list of ``Rule``s to every resource.

    It records what it evaluated: every resource of a rule's types with the rule's result, written beside the
    templates (``EVALUATIONS_FOLDER``/<stack>.<pack>.json, with each rule's clauses), so the evidence names the
    resources a rule really checked in this synth.
    """

    pack: str
    rules: tuple[Rule, ...]

    def __init__(self, scope: IConstruct | None = None) -> None:
        super().__init__(scope)
        self._pack_name = self.pack
        self.evaluations: list[dict[str, str]] = []

    def validate_scope(self, scope: IConstruct) -> PolicyValidationPluginReport:
        self.evaluations = []
        return super().validate_scope(scope)

    def validate(self, context: IPolicyValidationContext) -> PolicyValidationPluginReport:
        report = super().validate(context)
        self._write_evaluations([Path(path) for path in context.template_paths])
        return report

    def _write_evaluations(self, templates: list[Path]) -> None:
        """One file per top-level stack (nested stacks' resources belong to theirs), even with no evaluation."""
        rules = [
            {"rule": f"{self.pack}-{rule.suffix}", "explanation": rule.explanation, "clauses": list(rule.clauses)}
            for rule in self.rules
        ]
        for template in templates:
            if template.name.endswith(".nested.template.json"):
                continue
            stack = template.name.removesuffix(".template.json")
            evaluations = [item for item in self.evaluations if item["path"].split("/", 1)[0] == stack]
            record = {"pack": self.pack, "stack": stack, "rules": rules, "evaluations": evaluations}
            folder = template.parent / EVALUATIONS_FOLDER
            folder.mkdir(exist_ok=True)
            (folder / f"{stack}.{self.pack}.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")

    @property
    def name(self) -> str:
        return self.pack

    def _check_resource(self, node: CfnResource) -> None:
        kind = _resource_type(node)
        path = ""
        for rule in self.rules:
            if kind not in rule.resource_types:
                continue
            # Only a finding goes through cdk-nag (its report, the acknowledgments): applying a rule
            # costs several callbacks, which a compliant or not-applicable resource does not need.
            try:
                result = _RESULTS[rule.evaluate(node)]
            except Exception:  # cdk-nag re-runs the rule and reports the error as a finding
                result = "error"
            path = path or node.node.path
            rule_id = f"{self.pack}-{rule.suffix}"
            self.evaluations.append({"rule": rule_id, "path": path, "type": kind, "result": result})
            if result not in ("non-compliant", "error"):
                continue
            # jsii reads IApplyRule's members as properties; its typing stub declares them settable.
            self._apply_rule(AppliedRule(rule, node))  # type: ignore[arg-type]


_RESULTS = {
    NagRuleCompliance.COMPLIANT: "compliant",
    NagRuleCompliance.NON_COMPLIANT: "non-compliant",
    NagRuleCompliance.NOT_APPLICABLE: "not-applicable",
}
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
    rules = (
        S3_VERSIONED,
        RAW_OBJECT_LOCK,
        KMS_ROTATION,
        LOG_RETENTION,
        STATEFUL_RETAINED,
        API_OPERATIONS_AUTHORIZED,
        API_REQUESTS_VALIDATED,
        API_MINIMUM_TLS,
        SAGEMAKER_CUSTOMER_KEY,
        SAGEMAKER_PROFILE_INHERITS,
        TRAIL_DATA_EVENTS,
        AUDIT_TABLE_PITR,
        BACKUP_COVERAGE,
        NO_FOREIGN_PRINCIPAL,
    )


class ResidencyChecks(_RulePack):
    pack = "Residency"
    rules = (
        STACK_REGION,
        NO_EXTERNAL_EGRESS,
        API_REGIONAL_ENDPOINT,
        EVENT_TARGETS_RESIDENT,
        SAGEMAKER_DOMAIN_VPC_ONLY,
    )
