"""SiteBackup on a bare stack: vault, plan, selection, role, vault lock, validations, removal policy, packs."""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import pytest
from aws_cdk import CfnElement, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from construct_helpers import access_logs, bare_stack, site_keys, unacknowledged_findings
from factory_constructs.audit.site_backup import SERVICE_POLICIES, BackupSchedule, SiteBackup
from factory_constructs.lake.lake_bucket import LakeBucket

pytestmark = pytest.mark.synth

SCHEDULES = [
    BackupSchedule(name="daily", frequency="daily", retention_days=35),
    BackupSchedule(name="weekly", frequency="weekly", retention_days=90),
    BackupSchedule(name="monthly", frequency="monthly", retention_days=2555),
]


class Built(NamedTuple):
    stack: Stack
    key: kms.IKey
    table: dynamodb.TableV2
    bucket: s3.IBucket
    backup: SiteBackup

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def logical_id(self, construct: Any) -> str:
        return self.stack.resolve(self.stack.get_logical_id(cast(CfnElement, construct.node.default_child)))


def build(*, audit_trail: bool = False, **props: Any) -> Built:
    stack = bare_stack(audit_trail=audit_trail)
    key = site_keys(stack).data
    table = dynamodb.TableV2(
        stack,
        "Table",
        partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
        encryption=dynamodb.TableEncryptionV2.customer_managed_key(key),
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
    )
    bucket = LakeBucket(
        stack, "Lake", zone="curated", key=key, access_logs=access_logs(stack), expiration_days=None
    ).bucket
    backup = SiteBackup(
        stack,
        "Backup",
        **{
            "name": "plantB-backup",
            "key": key,
            "schedules": SCHEDULES,
            "tables": [table],
            "buckets": [bucket],
            **props,
        },
    )
    return Built(stack, key, table, bucket, backup)


@pytest.fixture(scope="module")
def default() -> Built:
    return build()


# --- defaults -------------------------------------------------------------------------------------------------


def test_the_vault_is_encrypted_with_the_key_and_unlocked_by_default(default: Built) -> None:
    default.template().has_resource_properties(
        "AWS::Backup::BackupVault",
        {
            "EncryptionKeyArn": {"Fn::GetAtt": [default.logical_id(default.key), "Arn"]},
            "LockConfiguration": Match.absent(),
            "AccessPolicy": Match.absent(),
        },
    )


def test_each_schedule_is_a_rule_of_the_named_plan_at_the_start_hour(default: Built) -> None:
    vault = {"Fn::GetAtt": [default.logical_id(default.backup.vault), "BackupVaultName"]}

    def rule(name: str, cron: str, days: int) -> dict[str, Any]:
        return {
            "RuleName": name,
            "ScheduleExpression": cron,
            "StartWindowMinutes": 60,
            "CompletionWindowMinutes": 480,
            "Lifecycle": {"DeleteAfterDays": days},
            "TargetBackupVault": vault,
        }

    default.template().has_resource_properties(
        "AWS::Backup::BackupPlan",
        {
            "BackupPlan": {
                "BackupPlanName": "plantB-backup",
                "BackupPlanRule": [
                    rule("daily", "cron(0 3 * * ? *)", 35),
                    rule("weekly", "cron(0 3 ? * SUN *)", 90),
                    rule("monthly", "cron(0 3 1 * ? *)", 2555),
                ],
            }
        },
    )


def test_the_selection_names_every_table_and_bucket_with_the_backup_role(default: Built) -> None:
    default.template().has_resource_properties(
        "AWS::Backup::BackupSelection",
        {
            "BackupSelection": {
                "IamRoleArn": {"Fn::GetAtt": [default.logical_id(default.backup.role), "Arn"]},
                "SelectionName": "Resources",
                "Resources": [
                    {"Fn::GetAtt": [default.logical_id(default.table), "Arn"]},
                    {"Fn::GetAtt": [default.logical_id(default.bucket), "Arn"]},
                ],
            }
        },
    )


def test_the_role_holds_the_services_backup_restore_and_s3_policies_and_the_key(default: Built) -> None:
    template = default.template()
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}}
                ]
            },
            "ManagedPolicyArns": [
                {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::aws:policy/{name}"]]}
                for name in SERVICE_POLICIES
            ],
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [default.stack.resolve(default.backup.role.role_name)],
            "PolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {"Effect": "Allow", "Resource": {"Fn::GetAtt": [default.logical_id(default.key), "Arn"]}}
                    )
                ]
            },
        },
    )


def test_the_most_frequent_rule_is_what_config_checks(default: Built) -> None:
    assert (default.backup.frequency_days, default.backup.frequency_retention_days) == (1, 35)
    weekly = build(schedules=SCHEDULES[1:]).backup
    assert (weekly.frequency_days, weekly.frequency_retention_days) == (7, 90)


# --- lock -----------------------------------------------------------------------------------------------------


def test_lock_locks_the_vault_in_compliance_mode_for_the_shortest_retention_and_denies_deletes() -> None:
    built = build(lock=True)
    built.template().has_resource_properties(
        "AWS::Backup::BackupVault",
        {
            "LockConfiguration": {"MinRetentionDays": 35, "ChangeableForDays": 3},
            "AccessPolicy": {
                "Statement": [
                    Match.object_like(
                        {
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Action": Match.array_with(["backup:DeleteRecoveryPoint"]),
                        }
                    )
                ]
            },
        },
    )


# --- validation -----------------------------------------------------------------------------------------------


def test_invalid_props_are_reported_together() -> None:
    with pytest.raises(ValueError) as caught:
        build(
            name="plant B backup",
            schedules=[
                BackupSchedule(name="daily", frequency="daily", retention_days=0),
                BackupSchedule(name="daily", frequency="hourly", retention_days=35),  # type: ignore[arg-type]
            ],
            start_hour_utc=24,
            tables=[],
            buckets=[],
        )
    assert str(caught.value) == (
        "SiteBackup Backup: name 'plant B backup' is not 1-50 of A-Z a-z 0-9 _ . -; fix: use e.g. plantA-backup; "
        "schedule 'daily' retention_days 0 is below 1; fix: keep recovery points at least a day; schedule 'daily' "
        "frequency 'hourly' is not one of daily, weekly, monthly; fix: use one of them; schedules repeat the name "
        "['daily']; fix: name each once; start_hour_utc 24 is not an hour 0-23; fix: use e.g. 3; nothing to back up "
        "(no tables, no buckets); fix: pass the site's tables and buckets"
    )


def test_no_schedule_is_rejected() -> None:
    with pytest.raises(ValueError, match="SiteBackup Backup: no schedules; fix: give at least one"):
        build(schedules=[])


# --- removal policy -------------------------------------------------------------------------------------------


def test_the_vault_is_retained_unless_destroy_is_asked(default: Built) -> None:
    default.template().has_resource("AWS::Backup::BackupVault", {"DeletionPolicy": "Retain"})
    build(removal_policy=RemovalPolicy.DESTROY).template().has_resource(
        "AWS::Backup::BackupVault", {"DeletionPolicy": "Delete"}
    )


# --- packs ----------------------------------------------------------------------------------------------------


def test_the_backup_alone_on_an_audit_trail_stack_has_no_unacknowledged_findings() -> None:
    built = build(audit_trail=True, lock=True)
    assert unacknowledged_findings(built.stack) == []
