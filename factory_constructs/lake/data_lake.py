"""The site's three lake zones, configured from the site model's retention and lock."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from factory_constructs.lake.lake_bucket import LakeBucket
from site_model.model import Lake


class DataLake(Construct):
    """raw (Object Lock when ``lock_raw``), conformed and curated buckets under one site key."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake: Lake,
        key: kms.IKey,
        access_logs: s3.IBucket,
        lock_raw: bool,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        retention = lake.retention
        ia_days = retention.infrequent_access_after_days

        def zone(zone_id: str, name: str, days: int, lock_days: int | None = None) -> LakeBucket:
            return LakeBucket(
                self,
                zone_id,
                zone=name,
                key=key,
                access_logs=access_logs,
                expiration_days=days,
                infrequent_access_after_days=ia_days if ia_days < days else None,
                removal_policy=removal_policy,
                object_lock_days=lock_days,
            )

        self.raw = zone("Raw", "raw", retention.raw_days, lake.object_lock_days if lock_raw else None)
        self.conformed = zone("Conformed", "conformed", retention.conformed_days)
        self.curated = zone("Curated", "curated", retention.curated_days)
