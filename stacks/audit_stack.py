"""Audit capability of a site: its CloudTrail trail, AWS Config rules, AWS Backup plan, and, where the site
provides its account's region baseline, the Config recorder (and the trail records management events)."""

from __future__ import annotations

from aws_cdk import NestedStack
from aws_cdk import aws_logs as logs
from constructs import Construct

from factory_constructs.audit.audit_trail import AuditTrail
from factory_constructs.audit.config_recorder import ConfigRecorder
from factory_constructs.audit.config_rules import SiteConfigRules
from factory_constructs.audit.site_backup import BackupSchedule, SiteBackup
from site_model import Site
from stacks.data_stack import DataStack
from stacks.foundation_stack import FoundationStack, removal_policy
from stacks.integration_stack import IntegrationStack

# The trail's CloudWatch Logs copy serves queries and alarms; its S3 log files are the record (site_model trail_days).
TRAIL_LOG_RETENTION = logs.RetentionDays.THIRTEEN_MONTHS


class AuditStack(NestedStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site: Site,
        region: str,
        foundation: FoundationStack,
        data: DataStack,
        integration: IntegrationStack | None,
    ) -> None:
        super().__init__(scope, construct_id, description=f"{site.display_name}: audit trail, Config rules, backup")
        keys = foundation.keys
        removal = removal_policy(site)
        baseline = site.region_baseline(region)
        lake = data.lake
        lake_buckets = [lake.raw.bucket, lake.conformed.bucket, lake.curated.bucket]
        self.trail = AuditTrail(
            self,
            "Trail",
            name=f"{site.id}-audit",
            key=keys.logs,
            access_logs=foundation.access_logs.bucket,
            data_event_buckets=[*lake_buckets, foundation.access_logs.bucket],
            retention_days=site.trail_days,
            lock_days=site.trail_lock_days,
            log_retention=TRAIL_LOG_RETENTION,
            management_events=baseline,
            removal_policy=removal,
        )
        api_tables = integration.tables if integration else None
        self.backup = SiteBackup(
            self,
            "Backup",
            name=f"{site.id}-backup",
            key=keys.data,
            schedules=[
                BackupSchedule(name=rule.name, frequency=rule.frequency, retention_days=rule.retention_days)
                for rule in site.backup.rules
            ],
            tables=[
                data.alerts.carry_table,
                *((api_tables.latest, api_tables.commands, api_tables.alerts) if api_tables else ()),
            ],
            buckets=lake_buckets,
            start_hour_utc=site.backup.start_hour_utc,
            lock=site.audit_trail,
            removal_policy=removal,
        )
        # One recorder per account and region: the site that owns the region baseline provides it
        # (site_model/loader.py checks that exactly one site does); the others' rules report to it.
        self.recorder = ConfigRecorder(self, "Recorder", bucket=self.trail.bucket, key=keys.logs) if baseline else None
        self.config_rules = SiteConfigRules(
            self,
            "ConfigRules",
            site_id=site.id,
            regimes=site.compliance,
            backup_frequency_days=self.backup.frequency_days,
            backup_retention_days=self.backup.frequency_retention_days,
        )
        if self.recorder is not None:
            self.config_rules.node.add_dependency(self.recorder.recorder, self.recorder.delivery_channel)
