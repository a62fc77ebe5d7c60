"""Audit nested stack of the example sites: trail, Config rules and recorder, backup plan, from the site files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from factory_constructs.audit.config_rules import config_rule_name, config_rules_for
from site_model import Site
from stacks.audit_stack import AuditStack
from stacks.site_stack import SiteStack
from synth_helpers import example_sites, nested_template, synth, variant

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def audit(site_stack: Callable[[str], SiteStack]) -> Callable[[str], Template]:
    return lambda site_id: nested_template(site_stack(site_id), "Audit")


def parameter_of(stack: SiteStack, construct: Any) -> dict[str, Any]:
    """How the audit stack's template refers to a resource of a sibling nested stack (a parameter of its ARN)."""
    audit_stack = stack.audit
    assert isinstance(audit_stack, AuditStack)
    return audit_stack.resolve(construct)  # type: ignore[no-any-return]


def lake_arns(stack: SiteStack) -> list[Any]:
    lake = stack.data.lake
    return [parameter_of(stack, zone.bucket.bucket_arn) for zone in (lake.raw, lake.conformed, lake.curated)]


# --- the trail ------------------------------------------------------------------------------------------------


def test_the_baseline_site_records_management_events_and_every_lake_and_access_log_bucket(
    site_stack: Callable[[str], SiteStack], audit: Callable[[str], Template]
) -> None:
    stack = site_stack("plantA")
    buckets = [*lake_arns(stack), parameter_of(stack, stack.foundation.access_logs.bucket.bucket_arn)]
    audit("plantA").has_resource_properties(
        "AWS::CloudTrail::Trail",
        {
            "TrailName": "plantA-audit",
            "EnableLogFileValidation": True,
            "IsLogging": True,
            "EventSelectors": [
                {"IncludeManagementEvents": True, "ReadWriteType": "All"},
                {
                    "DataResources": [
                        {"Type": "AWS::S3::Object", "Values": [{"Fn::Join": ["", [arn, "/"]]} for arn in buckets]}
                    ],
                    "IncludeManagementEvents": False,
                    "ReadWriteType": "All",
                },
            ],
            "KMSKeyId": parameter_of(stack, stack.foundation.keys.logs.key_arn),
        },
    )


@pytest.mark.parametrize(("site_id", "lock"), [("plantA", 2555), ("plantB", 2555), ("plantC", None)])
def test_an_audit_trail_sites_log_files_are_locked_for_its_audit_window_and_kept_as_long_as_its_records(
    audit: Callable[[str], Template], site_id: str, lock: int | None
) -> None:
    site = example_sites()[site_id]
    lifecycle = {"Rules": [Match.object_like({"Id": "TrailRetention", "ExpirationInDays": site.records_days})]}
    locked = (
        {
            "ObjectLockConfiguration": {
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": lock}},
            }
        }
        if lock
        else {"ObjectLockConfiguration": Match.absent()}
    )
    audit(site_id).has_resource_properties("AWS::S3::Bucket", {"LifecycleConfiguration": lifecycle, **locked})


# --- Config ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("site_id", ["plantA", "plantB", "plantC"])
def test_each_site_gets_the_config_rules_of_its_regimes_scoped_to_it(
    audit: Callable[[str], Template], site_id: str
) -> None:
    site = example_sites()[site_id]
    template = audit(site_id)
    expected = config_rules_for(site.compliance)
    names = sorted(
        rule["Properties"]["ConfigRuleName"] for rule in template.find_resources("AWS::Config::ConfigRule").values()
    )
    assert names == sorted(config_rule_name(site_id, identifier) for identifier in expected)
    for identifier in expected:
        template.has_resource_properties(
            "AWS::Config::ConfigRule",
            {
                "Source": {"Owner": "AWS", "SourceIdentifier": identifier},
                "Scope": {"TagKey": "dmc:site", "TagValue": site_id},
            },
        )


def test_the_baseline_sites_rules_wait_for_its_recorder(audit: Callable[[str], Template]) -> None:
    template = audit("plantB")
    (recorder,) = template.find_resources("AWS::Config::ConfigurationRecorder")
    (channel,) = template.find_resources("AWS::Config::DeliveryChannel")
    rules = template.find_resources("AWS::Config::ConfigRule")
    assert rules
    assert all({recorder, channel} <= set(rule["DependsOn"]) for rule in rules.values())


def test_the_recorder_delivers_into_the_sites_trail_bucket_under_config(audit: Callable[[str], Template]) -> None:
    template = audit("plantA")
    (bucket,) = template.find_resources("AWS::S3::Bucket")
    template.has_resource_properties(
        "AWS::Config::DeliveryChannel", {"S3BucketName": {"Ref": bucket}, "S3KeyPrefix": "config"}
    )


# --- backup ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("site_id", ["plantA", "plantB", "plantC"])
def test_the_backup_selection_covers_every_table_and_lake_bucket_of_the_site(
    site_stack: Callable[[str], SiteStack], audit: Callable[[str], Template], site_id: str
) -> None:
    stack = site_stack(site_id)
    tables = [stack.data.alerts.carry_table]
    if stack.integration is not None:
        api = stack.integration.tables
        tables += [api.latest, api.commands, api.alerts]
    audit(site_id).has_resource_properties(
        "AWS::Backup::BackupSelection",
        {
            "BackupSelection": Match.object_like(
                {"Resources": [*(parameter_of(stack, table.table_arn) for table in tables), *lake_arns(stack)]}
            )
        },
    )


@pytest.mark.parametrize("site_id", ["plantA", "plantB", "plantC"])
def test_the_plan_has_the_site_files_rules_and_an_audit_trail_site_a_locked_vault(
    audit: Callable[[str], Template], site_id: str
) -> None:
    site = example_sites()[site_id]
    template = audit(site_id)
    template.has_resource_properties(
        "AWS::Backup::BackupPlan",
        {
            "BackupPlan": {
                "BackupPlanName": f"{site_id}-backup",
                "BackupPlanRule": [
                    Match.object_like({"RuleName": rule.name, "Lifecycle": {"DeleteAfterDays": rule.retention_days}})
                    for rule in site.backup.rules
                ],
            }
        },
    )
    shortest = min(rule.retention_days for rule in site.backup.rules)
    template.has_resource_properties(
        "AWS::Backup::BackupVault",
        {
            "LockConfiguration": {"MinRetentionDays": shortest, "ChangeableForDays": 3}
            if site.audit_trail
            else Match.absent()
        },
    )


# --- another region, another site -----------------------------------------------------------------------------


def test_a_site_in_a_region_it_does_not_own_adds_only_its_data_trail_and_rules(tmp_path: Any) -> None:
    site: Site = variant(example_sites()["plantC"], audit={"region_baseline": []})
    _, (stack,) = synth({"plantC": site}, tmp_path)
    template = Template.from_stack(stack.audit)
    template.resource_count_is("AWS::Config::ConfigurationRecorder", 0)
    template.resource_count_is("AWS::Config::DeliveryChannel", 0)
    template.has_resource_properties(
        "AWS::CloudTrail::Trail",
        {
            "IncludeGlobalServiceEvents": False,
            "EventSelectors": [Match.object_like({"IncludeManagementEvents": False})],
        },
    )
