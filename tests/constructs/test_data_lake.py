"""DataLake on a bare stack: three zones, their retention, infrequent access, raw Object Lock, removal, nag."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import pytest
from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template

from construct_helpers import access_logs, bare_stack, site_keys, unacknowledged_findings
from factory_constructs.lake.data_lake import DataLake
from policies import tag_keys

pytestmark = pytest.mark.synth

RAW_DAYS = 3650
ZONES = ("raw", "conformed", "curated")


class Built(NamedTuple):
    stack: Stack
    key: kms.IKey
    logs: s3.IBucket
    lake: DataLake

    def template(self) -> Template:
        return Template.from_stack(self.stack)


def build(*, audit_trail: bool = False, **props: Any) -> Built:
    """A DataLake "Lake" keeping raw objects 3650 days unless ``props`` override it."""
    stack = bare_stack(audit_trail=audit_trail)
    key = site_keys(stack).data
    logs = access_logs(stack)
    lake = DataLake(stack, "Lake", key=key, access_logs=logs, **{"raw_days": RAW_DAYS, **props})
    return Built(stack, key, logs, lake)


def zone_bucket(zone: str, properties: dict[str, Any]) -> dict[str, Any]:
    """Properties of the bucket tagged with ``zone``."""
    return {"Tags": Match.array_with([{"Key": tag_keys.ZONE, "Value": zone}]), **properties}


def first_rule(properties: dict[str, Any]) -> dict[str, Any]:
    return {"LifecycleConfiguration": {"Rules": [Match.object_like(properties)]}}


# --- defaults ---------------------------------------------------------------------------------------


def test_defaults_are_three_zone_buckets_under_the_given_key_logging_under_their_zone() -> None:
    built = build()
    template = built.template()
    key_arn = built.stack.resolve(built.key.key_arn)
    for zone in ZONES:
        template.has_resource_properties(
            "AWS::S3::Bucket",
            zone_bucket(
                zone,
                {
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            Match.object_like(
                                {"ServerSideEncryptionByDefault": Match.object_like({"KMSMasterKeyID": key_arn})}
                            )
                        ]
                    },
                    "LoggingConfiguration": {
                        "DestinationBucketName": built.stack.resolve(built.logs.bucket_name),
                        "LogFilePrefix": f"{zone}/",
                    },
                },
            ),
        )
    assert (built.lake.raw.zone, built.lake.conformed.zone, built.lake.curated.zone) == ZONES
    template.resource_count_is("AWS::S3::Bucket", 4)  # the three zones and the access-log bucket


def test_raw_expires_objects_after_its_days_and_stays_in_standard_by_default() -> None:
    build().template().has_resource_properties(
        "AWS::S3::Bucket", zone_bucket("raw", first_rule({"ExpirationInDays": RAW_DAYS, "Transitions": Match.absent()}))
    )


@pytest.mark.parametrize("zone", ["conformed", "curated"])
def test_iceberg_zones_expire_no_object_by_lifecycle(zone: str) -> None:
    # Their jobs delete old rows and the table optimizers expire snapshots: a lifecycle rule would delete
    # data files that live snapshots still reference.
    build().template().has_resource_properties(
        "AWS::S3::Bucket",
        zone_bucket(
            zone, first_rule({"ExpirationInDays": Match.absent(), "NoncurrentVersionExpiration": Match.any_value()})
        ),
    )


@pytest.mark.parametrize("zone", ZONES)
def test_no_zone_is_locked_by_default(zone: str) -> None:
    build().template().has_resource_properties(
        "AWS::S3::Bucket",
        zone_bucket(zone, {"ObjectLockEnabled": False, "ObjectLockConfiguration": Match.absent()}),
    )


# --- customisations ---------------------------------------------------------------------------------


def test_infrequent_access_applies_to_raw_only_when_it_keeps_objects_longer_and_always_to_iceberg_zones() -> None:
    template = build(raw_days=365, infrequent_access_after_days=365).template()
    for zone in ("conformed", "curated"):
        template.has_resource_properties(
            "AWS::S3::Bucket",
            zone_bucket(zone, first_rule({"Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": 365}]})),
        )
    # raw keeps objects exactly 365 days: no transition (S3 needs it below the expiration).
    template.has_resource_properties(
        "AWS::S3::Bucket", zone_bucket("raw", first_rule({"ExpirationInDays": 365, "Transitions": Match.absent()}))
    )


def test_raw_object_lock_days_locks_raw_only_in_compliance_mode() -> None:
    template = build(raw_object_lock_days=2555).template()
    template.has_resource_properties(
        "AWS::S3::Bucket",
        zone_bucket(
            "raw",
            {
                "ObjectLockEnabled": True,
                "ObjectLockConfiguration": Match.exact(
                    {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2555}}}
                ),
            },
        ),
    )
    for zone in ("conformed", "curated"):
        template.has_resource_properties(
            "AWS::S3::Bucket",
            zone_bucket(zone, {"ObjectLockEnabled": False, "ObjectLockConfiguration": Match.absent()}),
        )


# --- validation (each zone's LakeBucket checks its own props) ---------------------------------------


def test_a_raw_lock_longer_than_raw_retention_is_reported_by_the_raw_zone() -> None:
    message = (
        "LakeBucket Raw: object_lock_days 4000 is outside 1-3650 (expiration_days); "
        "fix: lock objects at least a day and no longer than they are kept"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        build(raw_object_lock_days=4000)


# --- removal policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "deletion_policy"),
    [({}, "Retain"), ({"removal_policy": RemovalPolicy.DESTROY}, "Delete")],
    ids=["retain-by-default", "destroy"],
)
def test_removal_policy_applies_to_all_three_zones(props: dict[str, Any], deletion_policy: str) -> None:
    template = build(**props).template()
    for zone in ZONES:
        template.has_resource(
            "AWS::S3::Bucket", {"Properties": zone_bucket(zone, {}), "DeletionPolicy": deletion_policy}
        )


def test_destroy_warns_for_each_zone() -> None:
    annotations = Annotations.from_stack(build(removal_policy=RemovalPolicy.DESTROY).stack)
    for construct_id, zone in (("Raw", "raw"), ("Conformed", "conformed"), ("Curated", "curated")):
        annotations.has_warning(
            f"/Test/Lake/{construct_id}",
            f"the {zone} zone bucket is deleted with its stack (removal_policy DESTROY); its data is lost "
            "[ack: dmc:lake-bucket-destroyed]",
        )


# --- nag --------------------------------------------------------------------------------------------


def test_a_locked_lake_alone_on_an_audit_trail_stack_has_no_unacknowledged_findings() -> None:
    built = build(audit_trail=True, infrequent_access_after_days=30, raw_object_lock_days=2555)
    assert unacknowledged_findings(built.stack) == []


def test_an_unlocked_lake_on_an_audit_trail_stack_is_a_raw_object_lock_finding_on_raw_only() -> None:
    built = build(audit_trail=True)
    assert unacknowledged_findings(built.stack) == ["GxP-RawObjectLock at Test/Lake/Raw/Bucket/Resource"]
