"""LakeBucket on a bare stack: defaults, each option, validations, grants, removal policy, nag."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import pytest
from aws_cdk import CfnParameter, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template

from construct_helpers import ACCOUNT, access_logs, bare_stack, role_statements, site_keys, unacknowledged_findings
from factory_constructs.lake.lake_bucket import LakeBucket
from policies import tag_keys

pytestmark = pytest.mark.synth

DESTROY_WARNING = (
    "the raw zone bucket is deleted with its stack (removal_policy DESTROY); its data is lost "
    "[ack: dmc:lake-bucket-destroyed]"
)


class Built(NamedTuple):
    stack: Stack
    key: kms.IKey
    logs: s3.IBucket
    zone: LakeBucket

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)


def build(*, audit_trail: bool = False, **props: Any) -> Built:
    """A LakeBucket with its id "Zone" and only the required props unless ``props`` override them."""
    stack = bare_stack(audit_trail=audit_trail)
    key = site_keys(stack).data
    logs = access_logs(stack)
    zone = LakeBucket(stack, "Zone", key=key, access_logs=logs, **{"zone": "raw", "expiration_days": 365, **props})
    return Built(stack, key, logs, zone)


def new(**props: Any) -> LakeBucket:
    """Only the constructor (for validation tests): no template is synthesized."""
    stack = bare_stack()
    return LakeBucket(stack, "Zone", key=site_keys(stack).data, access_logs=access_logs(stack), **props)


def zone_bucket(zone: str, properties: dict[str, Any]) -> dict[str, Any]:
    """Properties of the bucket tagged with ``zone`` (the access-log bucket beside it has no zone tag)."""
    return {"Tags": Match.array_with([{"Key": tag_keys.ZONE, "Value": zone}]), **properties}


def lifecycle_rule(**extra: Any) -> dict[str, Any]:
    return {
        "Id": "ZoneRetention",
        "Status": "Enabled",
        "ExpirationInDays": 365,
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        **extra,
    }


# --- defaults ---------------------------------------------------------------------------------------


def test_defaults_encrypt_with_the_given_key_and_bucket_keys_version_block_public_access_and_log_under_the_zone() -> (
    None
):
    built = build()
    built.template().has_resource_properties(
        "AWS::S3::Bucket",
        zone_bucket(
            "raw",
            {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        Match.exact(
                            {
                                "BucketKeyEnabled": True,
                                "ServerSideEncryptionByDefault": {
                                    "SSEAlgorithm": "aws:kms",
                                    "KMSMasterKeyID": built.resolve(built.key.key_arn),
                                },
                            }
                        )
                    ]
                },
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LoggingConfiguration": Match.exact(
                    {"DestinationBucketName": built.resolve(built.logs.bucket_name), "LogFilePrefix": "raw/"}
                ),
            },
        ),
    )
    assert built.zone.zone == "raw"


def test_defaults_expire_objects_and_old_versions_abort_uploads_and_never_move_to_infrequent_access() -> None:
    build().template().has_resource_properties(
        "AWS::S3::Bucket",
        zone_bucket("raw", {"LifecycleConfiguration": {"Rules": [Match.exact(lifecycle_rule())]}}),
    )


def test_defaults_have_no_object_lock() -> None:
    build().template().has_resource_properties(
        "AWS::S3::Bucket",
        zone_bucket("raw", {"ObjectLockEnabled": False, "ObjectLockConfiguration": Match.absent()}),
    )


def test_bucket_policy_refuses_plain_http_non_kms_writes_and_other_accounts() -> None:
    built = build()
    bucket_arn = built.resolve(built.zone.bucket.bucket_arn)
    objects = built.resolve(built.zone.bucket.arn_for_objects("*"))
    built.template().has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": built.resolve(built.zone.bucket.bucket_name),
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.exact(
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Action": "s3:*",
                                "Resource": [bucket_arn, objects],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ),
                        Match.exact(
                            {
                                "Sid": "DenyNonKmsWrites",
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Action": "s3:PutObject",
                                "Resource": objects,
                                "Condition": {
                                    "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}
                                },
                            }
                        ),
                        Match.exact(
                            {
                                "Sid": "DenyOtherAccounts",
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Action": "s3:*",
                                "Resource": [bucket_arn, objects],
                                "Condition": {
                                    "StringNotEquals": {"aws:PrincipalAccount": ACCOUNT},
                                    "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
                                },
                            }
                        ),
                    ]
                )
            },
        },
    )


# --- customisations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["conformed", "curated"])
def test_zone_names_the_tag_and_the_access_log_prefix(zone: str) -> None:
    built = build(zone=zone)
    built.template().has_resource_properties(
        "AWS::S3::Bucket", zone_bucket(zone, {"LoggingConfiguration": {"LogFilePrefix": f"{zone}/"}})
    )
    assert built.zone.zone == zone


def test_expiration_days_sets_when_current_versions_expire() -> None:
    build(expiration_days=3650).template().has_resource_properties(
        "AWS::S3::Bucket",
        zone_bucket("raw", {"LifecycleConfiguration": {"Rules": [Match.exact(lifecycle_rule(ExpirationInDays=3650))]}}),
    )


def test_infrequent_access_after_days_moves_objects_to_standard_ia_from_30_days_on() -> None:
    transitions = [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    build(infrequent_access_after_days=30).template().has_resource_properties(
        "AWS::S3::Bucket",
        zone_bucket(
            "raw", {"LifecycleConfiguration": {"Rules": [Match.exact(lifecycle_rule(Transitions=transitions))]}}
        ),
    )


def test_object_lock_days_locks_objects_in_compliance_mode_for_that_many_days() -> None:
    build(object_lock_days=30).template().has_resource_properties(
        "AWS::S3::Bucket",
        zone_bucket(
            "raw",
            {
                "ObjectLockEnabled": True,
                "ObjectLockConfiguration": Match.exact(
                    {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}}}
                ),
            },
        ),
    )


def test_object_lock_may_last_as_long_as_objects_are_kept() -> None:
    build(expiration_days=365, object_lock_days=365).template().has_resource_properties(
        "AWS::S3::Bucket",
        zone_bucket("raw", {"ObjectLockConfiguration": {"Rule": {"DefaultRetention": {"Days": 365}}}}),
    )


# --- validations ------------------------------------------------------------------------------------


def test_zone_must_be_raw_conformed_or_curated() -> None:
    message = "LakeBucket Zone: zone 'landing' is not one of raw, conformed, curated; fix: use one of them"
    with pytest.raises(ValueError, match=re.escape(message)):
        new(zone="landing", expiration_days=365)


def test_expiration_days_must_be_at_least_one() -> None:
    message = "LakeBucket Zone: expiration_days 0 is below 1; fix: keep objects at least a day"
    with pytest.raises(ValueError, match=re.escape(message)):
        new(zone="raw", expiration_days=0)


def test_infrequent_access_after_days_must_be_at_least_30() -> None:
    message = (
        "LakeBucket Zone: infrequent_access_after_days 29 is below 30, S3's earliest transition to Standard-IA; "
        "fix: raise it to at least 30, or None to stay in S3 Standard"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        new(zone="raw", expiration_days=365, infrequent_access_after_days=29)


def test_infrequent_access_after_days_must_be_below_expiration_days() -> None:
    message = (
        "LakeBucket Zone: infrequent_access_after_days 365 must be below expiration_days 365; "
        "fix: lower it or keep objects longer"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        new(zone="raw", expiration_days=365, infrequent_access_after_days=365)


@pytest.mark.parametrize("days", [0, 366])
def test_object_lock_days_must_be_between_one_and_expiration_days(days: int) -> None:
    message = (
        f"LakeBucket Zone: object_lock_days {days} is outside 1-365 (expiration_days); "
        "fix: lock objects at least a day and no longer than they are kept"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        new(zone="raw", expiration_days=365, object_lock_days=days)


def test_every_problem_is_reported_at_once() -> None:
    message = (
        "LakeBucket Zone: zone 'landing' is not one of raw, conformed, curated; fix: use one of them; "
        "expiration_days 0 is below 1; fix: keep objects at least a day; "
        "infrequent_access_after_days 10 is below 30, S3's earliest transition to Standard-IA; "
        "fix: raise it to at least 30, or None to stay in S3 Standard; "
        "infrequent_access_after_days 10 must be below expiration_days 0; fix: lower it or keep objects longer; "
        "object_lock_days 5 is outside 1-0 (expiration_days); "
        "fix: lock objects at least a day and no longer than they are kept"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(zone="landing", expiration_days=0, infrequent_access_after_days=10, object_lock_days=5)


def test_day_counts_given_as_tokens_are_left_to_deploy_time() -> None:
    stack = bare_stack()
    days = CfnParameter(stack, "Days", type="Number").value_as_number
    LakeBucket(
        stack,
        "Zone",
        zone="raw",
        key=site_keys(stack).data,
        access_logs=access_logs(stack),
        expiration_days=days,  # type: ignore[arg-type]  # a number token, as CDK passes it
        infrequent_access_after_days=days,  # type: ignore[arg-type]
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::S3::Bucket",
        zone_bucket(
            "raw",
            {
                "LifecycleConfiguration": {
                    "Rules": [
                        Match.object_like(
                            {
                                "ExpirationInDays": {"Ref": "Days"},
                                "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": {"Ref": "Days"}}],
                            }
                        )
                    ]
                }
            },
        ),
    )


# --- grants -----------------------------------------------------------------------------------------


def reader_role(built: Built) -> iam.Role:
    return iam.Role(built.stack, "Reader", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))


def test_grant_read_gives_object_and_bucket_reads_and_decrypt_with_the_site_key() -> None:
    built = build()
    role = reader_role(built)
    built.zone.bucket.grant_read(role)
    role_statements(
        built.stack,
        role,
        [
            {
                "Action": ["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
                "Effect": "Allow",
                "Resource": [
                    built.resolve(built.zone.bucket.bucket_arn),
                    built.resolve(built.zone.bucket.arn_for_objects("*")),
                ],
            },
            {
                "Action": ["kms:Decrypt", "kms:DescribeKey"],
                "Effect": "Allow",
                "Resource": built.resolve(built.key.key_arn),
            },
        ],
    )


def test_grant_read_write_adds_writes_and_deletes_and_encrypt_with_the_site_key() -> None:
    built = build()
    role = reader_role(built)
    built.zone.bucket.grant_read_write(role)
    role_statements(
        built.stack,
        role,
        [
            {
                "Action": [
                    "s3:GetObject*",
                    "s3:GetBucket*",
                    "s3:List*",
                    "s3:DeleteObject*",
                    "s3:PutObject",
                    "s3:PutObjectLegalHold",
                    "s3:PutObjectRetention",
                    "s3:PutObjectTagging",
                    "s3:PutObjectVersionTagging",
                    "s3:Abort*",
                ],
                "Effect": "Allow",
                "Resource": [
                    built.resolve(built.zone.bucket.bucket_arn),
                    built.resolve(built.zone.bucket.arn_for_objects("*")),
                ],
            },
            {
                "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
                "Effect": "Allow",
                "Resource": built.resolve(built.key.key_arn),
            },
        ],
    )


# --- removal policy ---------------------------------------------------------------------------------


def test_bucket_is_retained_by_default_without_a_warning() -> None:
    built = build()
    built.template().has_resource(
        "AWS::S3::Bucket",
        {"Properties": zone_bucket("raw", {}), "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"},
    )
    Annotations.from_stack(built.stack).has_no_warning("*", Match.string_like_regexp("deleted with its stack"))


def test_destroy_deletes_the_bucket_with_its_stack_and_warns_in_the_synth() -> None:
    built = build(removal_policy=RemovalPolicy.DESTROY)
    built.template().has_resource(
        "AWS::S3::Bucket",
        {"Properties": zone_bucket("raw", {}), "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"},
    )
    Annotations.from_stack(built.stack).has_warning("/Test/Zone", DESTROY_WARNING)


# --- nag --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "lock"),
    [("raw", 30), ("conformed", None), ("curated", None)],
)
def test_a_zone_bucket_alone_on_an_audit_trail_stack_has_no_unacknowledged_findings(
    zone: str, lock: int | None
) -> None:
    built = build(audit_trail=True, zone=zone, object_lock_days=lock, infrequent_access_after_days=30)
    assert unacknowledged_findings(built.stack) == []


def test_an_unlocked_raw_zone_on_an_audit_trail_stack_is_a_raw_object_lock_finding() -> None:
    built = build(audit_trail=True, zone="raw")
    assert unacknowledged_findings(built.stack) == ["GxP-RawObjectLock at Test/Zone/Bucket/Resource"]
