"""Data capability of a site: lake, IoT Core, stream, raw delivery, catalog and ETL, stream alerts."""

from __future__ import annotations

from aws_cdk import NestedStack
from constructs import Construct

from factory_constructs.alerts.stream_alerts import StreamAlerts
from factory_constructs.etl.etl_jobs import EtlJobs
from factory_constructs.etl.lake_catalog import LakeCatalog
from factory_constructs.ingestion.raw_delivery import RawDelivery
from factory_constructs.ingestion.tag_stream import TagStream
from factory_constructs.iot.site_iot import SiteIot
from factory_constructs.lake.data_lake import DataLake
from site_model import Site
from site_model.etl_config import site_config_argument
from site_model.sizing import shards, throughput
from stacks.foundation_stack import FoundationStack, removal_policy


class DataStack(NestedStack):
    def __init__(self, scope: Construct, construct_id: str, *, site: Site, foundation: FoundationStack) -> None:
        super().__init__(scope, construct_id, description=f"{site.display_name}: IoT, streaming, lake, ETL, alerts")
        keys = foundation.keys
        placement = foundation.network.function_placement
        removal = removal_policy(site)
        retention = site.lake.retention
        self.lake = DataLake(
            self,
            "Lake",
            key=keys.data,
            access_logs=foundation.access_logs.bucket,
            raw_days=retention.raw_days,
            infrequent_access_after_days=retention.infrequent_access_after_days,
            raw_object_lock_days=site.lake.object_lock_days,
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
        self.delivery = RawDelivery(
            self,
            "RawDelivery",
            stream=self.stream.stream,
            raw_bucket=self.lake.raw.bucket,
            placement=placement,
            key=keys.data,
            logs_key=keys.logs,
            buffer_mb=site.ingestion.firehose_buffer_mb,
            buffer_seconds=site.ingestion.firehose_buffer_seconds,
            removal_policy=removal,
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
            key=keys.data,
            conformed_retention_days=retention.conformed_days,
            curated_retention_days=retention.curated_days,
            # The raw originals are immutable for the audit window; the Iceberg snapshots keep it too.
            audit_window_days=site.lake.object_lock_days,
            removal_policy=removal,
        )
        alerts = site.alerts
        self.alerts = StreamAlerts(
            self,
            "StreamAlerts",
            site_id=site.id,
            stream=self.stream.stream,
            placement=placement,
            key=keys.data,
            logs_key=keys.logs,
            window_s=alerts.window_s,
            client_ratio_threshold=alerts.client_ratio_threshold,
            retransmission_rate_threshold=alerts.retransmission_rate_threshold,
            email=alerts.email,
            lines_keep_their_shard=site.edge.transport == "mqtt",
            removal_policy=removal,
        )
        self.etl = EtlJobs(
            self,
            "Etl",
            site_id=site.id,
            site_config=site_config_argument(site),
            catalog=self.catalog,
            key=keys.data,
            logs_key=keys.logs,
            # The site's one bus (the stream alerts'): the curated job announces new data and KPIs there.
            event_bus=self.alerts.bus,
        )
