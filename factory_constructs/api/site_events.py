"""The site's EventBridge bus as the integration plane uses it: an archive of everything the site publishes
on it, and the one rule that lets KPI summaries (and nothing else) leave for a cross-site bus.

The bus itself is the one the stream alerts publish to (``StreamAlerts.bus``): a site has one bus.
"""

from __future__ import annotations

from aws_cdk import Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

# The one event a site may send to another bus, defined where the curated job publishes it.
from factory_constructs.etl.glue_jobs.dmc_etl.events import KPI_SUMMARY_DETAIL_TYPE, KPI_SUMMARY_SOURCE
from factory_constructs.grant_findings import acknowledge_grant_policy

# Every source the site's own publishers use starts with this (dmc.stream-alerts, dmc.kpi, ...).
SOURCE_PREFIX = "dmc."
# Detail fields that would identify a person (the caller of a command, a user): an event carrying one at
# the top level of its detail is never forwarded, whatever its type says.
PERSONAL_FIELDS = ("who", "user", "caller", "sub", "email", "userArn")
# EventBridge keeps an archive's events for 1 day up to indefinitely; a bounded archive is the choice here.
MIN_ARCHIVE_DAYS, MAX_ARCHIVE_DAYS = 1, 3650


class SiteEvents(Construct):
    """An archive of ``bus`` (events whose source starts with ``dmc.``), encrypted with ``key``, kept
    ``archive_days`` (1-3650): events can be replayed into the bus after an incident.

    ``kpi_destination`` (default None): a bus, usually of a cross-site account, that receives the site's
    KPI summaries (source ``dmc.kpi``, detail type ``dmc.kpi-summary``, ``detail.site`` this site) through a
    rule, unless their detail holds a personal field (``PERSONAL_FIELDS``). None: nothing leaves the bus.
    The destination's own bus policy must admit this account; its region must be one of the site's data
    regions (the site model and the Residency pack both check it).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_id: str,
        bus: events.IEventBus,
        key: kms.IKey,
        archive_days: int,
        kpi_destination: events.IEventBus | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not Token.is_unresolved(archive_days) and not MIN_ARCHIVE_DAYS <= archive_days <= MAX_ARCHIVE_DAYS:
            raise ValueError(
                f"SiteEvents {construct_id}: archive_days {archive_days} is outside "
                f"{MIN_ARCHIVE_DAYS}-{MAX_ARCHIVE_DAYS}; fix: keep events at least a day and at most ten years"
            )
        stack = Stack.of(self)
        # Named, so that the key's policy can name the archive without a reference back into this stack.
        self.archive_name = f"{site_id}-events"
        self.archive = events.CfnArchive(
            self,
            "Archive",
            archive_name=self.archive_name,
            source_arn=bus.event_bus_arn,
            description=f"Every event site {site_id} publishes on its bus",
            event_pattern={"source": [{"prefix": SOURCE_PREFIX}]},
            retention_days=archive_days,
            kms_key_identifier=key.key_arn,
        )
        archive_arn = stack.format_arn(service="events", resource="archive", resource_name=self.archive_name)
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"EventBridgeArchive{site_id}",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncrypt*", "kms:DescribeKey"],
                resources=["*"],  # in a key policy "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": stack.account, "aws:SourceArn": archive_arn}},
            )
        )
        self.kpi_rule: events.Rule | None = None
        if kpi_destination is not None:
            role = iam.Role(self, "KpiForwardingRole", assumed_by=iam.ServicePrincipal("events.amazonaws.com"))
            self.kpi_rule = events.Rule(
                self,
                "KpiForwarding",
                event_bus=bus,
                description=f"KPI summaries of site {site_id} to the cross-site bus",
                event_pattern=events.EventPattern(
                    source=[KPI_SUMMARY_SOURCE],
                    detail_type=[KPI_SUMMARY_DETAIL_TYPE],
                    detail={
                        "site": [site_id],
                        **{field: events.Match.does_not_exist() for field in PERSONAL_FIELDS},
                    },
                ),
                targets=[targets.EventBus(kpi_destination, role=role)],
            )
            acknowledge_grant_policy(role)
