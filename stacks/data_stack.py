"""Data capability of a site: lake, IoT Core, stream, raw delivery, catalog and ETL, stream alerts."""

from __future__ import annotations

from aws_cdk import NestedStack
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from factory_constructs.alerts.stream_alerts import StreamAlerts
from factory_constructs.etl.etl_jobs import EtlJobs, site_config_argument
from factory_constructs.etl.lake_catalog import LakeCatalog
from factory_constructs.ingestion.raw_delivery import RawDelivery
from factory_constructs.ingestion.tag_stream import TagStream
from factory_constructs.iot.site_iot import SiteIot
from factory_constructs.lake.data_lake import DataLake
from factory_constructs.site_function import FunctionPlacement
from site_model import Site
from site_model.sizing import shards, throughput
from stacks.foundation_stack import FoundationStack, removal_policy


class DataStack(NestedStack):
    def __init__(self, scope: Construct, construct_id: str, *, site: Site, foundation: FoundationStack) -> None:
        super().__init__(scope, construct_id, description=f"{site.display_name}: IoT, streaming, lake, ETL, alerts")
        keys = foundation.keys
        network = foundation.network
        removal = removal_policy(site)
        self.lake = DataLake(
            self,
            "Lake",
            lake=site.lake,
            key=keys.data,
            access_logs=foundation.access_logs.bucket,
            lock_raw=site.audit_trail,
            removal_policy=removal,
        )
        self.stream = TagStream(
            self,
            "TagStream",
            key=keys.data,
            retention_hours=site.ingestion.stream_retention_hours,
            shards=shards(site, throughput(site)).count,
            removal_policy=removal,
        )
        self.iot = SiteIot(
            self,
            "Iot",
            site_id=site.id,
            thing_group_name=site.edge.thing_group,
            stream=self.stream.stream,
            raw_bucket=self.lake.raw.bucket,
        )
        self.functions_security_group = ec2.SecurityGroup(
            self,
            "FunctionSecurityGroup",
            vpc=network.vpc,
            description="Site Lambda functions: HTTPS out to the VPC endpoints only",
            allow_all_outbound=False,
        )
        self.functions_security_group.add_egress_rule(
            ec2.Peer.ipv4(site.network.cidr), ec2.Port.tcp(443), "HTTPS to the interface endpoints"
        )
        placement = FunctionPlacement(
            vpc=network.vpc,
            subnets=network.private_subnets,
            security_group=self.functions_security_group,
            key=keys.data,
            logs_key=keys.logs,
            removal_policy=removal,
        )
        self.delivery = RawDelivery(
            self,
            "RawDelivery",
            stream=self.stream.stream,
            raw_bucket=self.lake.raw.bucket,
            placement=placement,
            buffer_mb=site.ingestion.firehose_buffer_mb,
            buffer_seconds=site.ingestion.firehose_buffer_seconds,
        )
        self.catalog = LakeCatalog(
            self,
            "Catalog",
            site_id=site.id,
            areas=[line.area for line in site.lines],
            lines=[line.line for line in site.lines],
            raw=self.lake.raw.bucket,
            conformed=self.lake.conformed.bucket,
            curated=self.lake.curated.bucket,
            removal_policy=removal,
        )
        self.etl = EtlJobs(
            self,
            "Etl",
            site_id=site.id,
            site_config=site_config_argument(site),
            raw=self.lake.raw.bucket,
            conformed=self.lake.conformed.bucket,
            curated=self.lake.curated.bucket,
            key=keys.data,
            logs_key=keys.logs,
        )
        self.alerts = StreamAlerts(
            self,
            "StreamAlerts",
            site_id=site.id,
            alerts=site.alerts,
            stream=self.stream.stream,
            placement=placement,
            lines_keep_their_shard=site.edge.transport == "mqtt",
        )
