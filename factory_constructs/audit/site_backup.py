"""The site's AWS Backup plan: recovery points of its DynamoDB tables and lake buckets in its own vault."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from aws_cdk import Duration, RemovalPolicy, Token
from aws_cdk import aws_backup as backup
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from factory_constructs.grant_findings import acknowledge_grant_policy
from policies.acknowledge import acknowledge

Frequency = Literal["daily", "weekly", "monthly"]
# The longest gap between two recovery points of a rule, in days (a month: up to 31).
FREQUENCY_DAYS: dict[str, int] = {"daily": 1, "weekly": 7, "monthly": 31}
# AWS Backup's rule for plan and rule names.
NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,50}$")
# AWS Backup's service-role policies (backup and restore of every supported type; S3 needs its own pair).
SERVICE_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
    "AWSBackupServiceRolePolicyForS3Backup",
    "AWSBackupServiceRolePolicyForS3Restore",
)
# A vault lock becomes immutable (compliance mode) this long after it is set: AWS Backup's shortest grace time.
LOCK_GRACE = Duration.days(3)


@dataclass(frozen=True)
class BackupSchedule:
    """One rule of the plan: ``name`` (1-50 of A-Z a-z 0-9 _ . -), how often and how long its points are kept."""

    name: str
    frequency: Frequency
    retention_days: int


class SiteBackup(Construct):
    """A backup vault encrypted with ``key``, a plan named ``name`` (unique in the account and region, 1-50 of
    A-Z a-z 0-9 _ . -) of ``schedules`` (each starting at ``start_hour_utc``; weekly on Sundays, monthly on the
    1st) and one selection of ``tables`` and ``buckets``.

    AWS Backup restores S3 only from versioned buckets (every lake bucket is) and reads their objects with the
    backup role, which may use ``key`` (it encrypts the lake and the tables). With ``lock`` (an audit-trail
    site) the vault is locked in compliance mode after a three-day grace time: no recovery point can be deleted,
    nor its retention shortened, before the shortest ``retention_days`` of the plan, by anyone; and the vault's
    access policy denies deleting recovery points by hand.

    ``frequency_days`` and ``frequency_retention_days``: the most frequent rule (AWS Config checks the plan
    against them). ``removal_policy`` (default RETAIN): the vault (AWS Backup deletes a vault only when empty).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        key: kms.IKey,
        schedules: Sequence[BackupSchedule],
        tables: Sequence[dynamodb.ITableV2],
        buckets: Sequence[s3.IBucket],
        start_hour_utc: int = 3,
        lock: bool = False,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if not Token.is_unresolved(name) and not NAME.match(name):
            problems.append(f"name {name!r} is not 1-50 of A-Z a-z 0-9 _ . -; fix: use e.g. plantA-backup")
        if not schedules:
            problems.append("no schedules; fix: give at least one, e.g. daily kept 35 days")
        names = [schedule.name for schedule in schedules]
        for schedule in schedules:
            if not NAME.match(schedule.name):
                problems.append(
                    f"schedule name {schedule.name!r} is not 1-50 of A-Z a-z 0-9 _ . -; fix: use e.g. daily"
                )
            if schedule.frequency not in FREQUENCY_DAYS:
                problems.append(
                    f"schedule {schedule.name!r} frequency {schedule.frequency!r} is not one of "
                    f"{', '.join(FREQUENCY_DAYS)}; fix: use one of them"
                )
            if not Token.is_unresolved(schedule.retention_days) and schedule.retention_days < 1:
                problems.append(
                    f"schedule {schedule.name!r} retention_days {schedule.retention_days} is below 1; "
                    "fix: keep recovery points at least a day"
                )
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            problems.append(f"schedules repeat the name {repeated}; fix: name each once")
        if not 0 <= start_hour_utc <= 23:
            problems.append(f"start_hour_utc {start_hour_utc} is not an hour 0-23; fix: use e.g. 3")
        if not tables and not buckets:
            problems.append("nothing to back up (no tables, no buckets); fix: pass the site's tables and buckets")
        if problems:
            raise ValueError(f"SiteBackup {construct_id}: " + "; ".join(problems))
        frequent = min(schedules, key=lambda schedule: (FREQUENCY_DAYS[schedule.frequency], -schedule.retention_days))
        self.frequency_days = FREQUENCY_DAYS[frequent.frequency]
        self.frequency_retention_days = frequent.retention_days
        shortest = min(schedule.retention_days for schedule in schedules)
        self.vault = backup.BackupVault(
            self,
            "Vault",
            encryption_key=key,
            lock_configuration=backup.LockConfiguration(
                min_retention=Duration.days(shortest), changeable_for=LOCK_GRACE
            )
            if lock
            else None,
            block_recovery_point_deletion=lock,
            removal_policy=removal_policy,
        )
        self.plan = backup.BackupPlan(
            self,
            "Plan",
            backup_plan_name=name,
            backup_vault=self.vault,
            backup_plan_rules=[
                backup.BackupPlanRule(
                    rule_name=schedule.name,
                    schedule_expression=_schedule(schedule.frequency, start_hour_utc),
                    start_window=Duration.hours(1),
                    completion_window=Duration.hours(8),
                    delete_after=Duration.days(schedule.retention_days),
                )
                for schedule in schedules
            ],
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(name) for name in SERVICE_POLICIES],
            description="AWS Backup: backs up and restores the site's tables and lake buckets",
        )
        key.grant_encrypt_decrypt(self.role)
        self.tables = tuple(tables)
        self.buckets = tuple(buckets)
        self.selection = self.plan.add_selection(
            "Resources",
            resources=[
                *(backup.BackupResource.from_arn(table.table_arn) for table in tables),
                *(backup.BackupResource.from_arn(bucket.bucket_arn) for bucket in buckets),
            ],
            role=self.role,
            disable_default_backup_policy=True,  # the role holds it already, with the S3 and restore policies
        )
        acknowledge(
            self.role,
            [
                f"AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]"
                for name in SERVICE_POLICIES
            ],
            "The backup service's own service-role policies: AWS keeps them to what backing up and restoring "
            "each supported resource type needs; the selection names which of the site's resources the role reaches.",
        )
        acknowledge_grant_policy(self.role)


def _schedule(frequency: str, hour: int) -> events.Schedule:
    if frequency == "daily":
        return events.Schedule.cron(minute="0", hour=str(hour))
    if frequency == "weekly":
        return events.Schedule.cron(minute="0", hour=str(hour), week_day="SUN")
    return events.Schedule.cron(minute="0", hour=str(hour), day="1")
