"""The site's three lake zones under one key."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from factory_constructs.lake.lake_bucket import LakeBucket


class DataLake(Construct):
    """raw, conformed and curated buckets encrypted with ``key``, logging to ``access_logs``.

    ``raw_days``: how long the raw zone keeps objects. The conformed and curated zones hold Iceberg
    tables: no lifecycle rule expires their objects (it would delete files that live snapshots still
    reference); their jobs delete rows older than the zone's retention and the catalog's table
    optimizers expire snapshots and orphan files.
    ``infrequent_access_after_days`` (default None): objects move to S3 Standard-IA after that many
    days (at least 30) in every zone that keeps them longer; None keeps them in S3 Standard.
    ``raw_object_lock_days`` (default None): raw objects are under Object Lock (compliance mode) for
    that many days exactly when it is set; the other zones are never locked (the ETL rewrites them).
    ``removal_policy`` (default RETAIN): applies to all three buckets.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        access_logs: s3.IBucket,
        raw_days: int,
        infrequent_access_after_days: int | None = None,
        raw_object_lock_days: int | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)

        def zone(zone_id: str, name: str, days: int | None, lock_days: int | None = None) -> LakeBucket:
            ia_days = infrequent_access_after_days
            return LakeBucket(
                self,
                zone_id,
                zone=name,
                key=key,
                access_logs=access_logs,
                expiration_days=days,
                infrequent_access_after_days=ia_days
                if ia_days is not None and (days is None or ia_days < days)
                else None,
                object_lock_days=lock_days,
                removal_policy=removal_policy,
            )

        self.raw = zone("Raw", "raw", raw_days, raw_object_lock_days)
        self.conformed = zone("Conformed", "conformed", None)
        self.curated = zone("Curated", "curated", None)
