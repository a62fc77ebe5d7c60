"""AccessLogBucket on a bare stack: its controls, retention, validation, what a logging bucket gets, the packs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

import pytest
from aws_cdk import CfnElement, CfnParameter, RemovalPolicy, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from construct_helpers import ACCOUNT, bare_stack, unacknowledged_findings
from factory_constructs.foundation.access_logs import AccessLogBucket
from policies.acknowledge import in_regulatory_packs

pytestmark = pytest.mark.synth


def build(stack: Stack, *, retention_days: int = 400, removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> str:
    """The bucket's logical id."""
    logs = AccessLogBucket(stack, "AccessLogs", retention_days=retention_days, removal_policy=removal_policy)
    return logical_id(logs.bucket)


def logical_id(bucket: s3.IBucket) -> str:
    stack = Stack.of(bucket)
    return stack.resolve(stack.get_logical_id(cast(CfnElement, bucket.node.default_child)))


def bucket_arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def objects_of(logical_id: str, prefix: str = "") -> dict[str, Any]:
    return {"Fn::Join": ["", [bucket_arn(logical_id), f"/{prefix}*"]]}


# --- defaults -------------------------------------------------------------------------------------------------


def test_bucket_is_sse_s3_encrypted_private_versioned_and_owner_enforced() -> None:
    stack = bare_stack()
    build(stack)
    Template.from_stack(stack).has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LoggingConfiguration": Match.absent(),
        },
    )


def test_logs_expire_after_retention_days_and_replaced_versions_after_30_days() -> None:
    stack = bare_stack()
    build(stack)
    Template.from_stack(stack).has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "ExpirationInDays": 400,
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                        "Status": "Enabled",
                    }
                ]
            }
        },
    )


def test_bucket_policy_denies_every_request_without_tls() -> None:
    stack = bare_stack()
    bucket = build(stack)
    Template.from_stack(stack).has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket},
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": "s3:*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        "Effect": "Deny",
                        "Principal": {"AWS": "*"},
                        "Resource": [bucket_arn(bucket), objects_of(bucket)],
                    }
                ],
                "Version": "2012-10-17",
            },
        },
    )


# --- customisation --------------------------------------------------------------------------------------------


def test_retention_days_sets_the_expiration() -> None:
    stack = bare_stack()
    build(stack, retention_days=30)
    Template.from_stack(stack).has_resource_properties(
        "AWS::S3::Bucket",
        {"LifecycleConfiguration": {"Rules": [Match.object_like({"ExpirationInDays": 30})]}},
    )


def test_unresolved_retention_days_is_not_validated() -> None:
    stack = bare_stack()
    build(stack, retention_days=CfnParameter(stack, "Days", type="Number").value_as_number)  # type: ignore[arg-type]
    Template.from_stack(stack).has_resource_properties(
        "AWS::S3::Bucket",
        {"LifecycleConfiguration": {"Rules": [Match.object_like({"ExpirationInDays": {"Ref": "Days"}})]}},
    )


# --- validation -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("days", [0, -5])
def test_retention_days_below_one_is_rejected(days: int) -> None:
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"AccessLogBucket AccessLogs: retention_days {days} is below 1; fix: keep access logs at least one day "
            "(an S3 lifecycle expiration takes a positive number of days)"
        ),
    ):
        build(bare_stack(), retention_days=days)


# --- what a bucket that logs into it gets ---------------------------------------------------------------------


def test_a_bucket_logging_into_it_lets_only_s3_logging_write_under_its_prefix_for_that_source() -> None:
    stack = bare_stack()
    logs = AccessLogBucket(stack, "AccessLogs", retention_days=400, removal_policy=RemovalPolicy.RETAIN)
    source = s3.Bucket(stack, "Source", server_access_logs_bucket=logs.bucket, server_access_logs_prefix="source/")
    target = logical_id(logs.bucket)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": target},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "s3:PutObject",
                            "Condition": {
                                "ArnLike": {"aws:SourceArn": bucket_arn(logical_id(source))},
                                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                            },
                            "Effect": "Allow",
                            "Principal": {"Service": "logging.s3.amazonaws.com"},
                            "Resource": objects_of(target, "source/"),
                        }
                    ]
                )
            },
        },
    )
    logging = {"DestinationBucketName": {"Ref": target}, "LogFilePrefix": "source/"}
    template.has_resource_properties("AWS::S3::Bucket", {"LoggingConfiguration": logging})


# --- removal policy -------------------------------------------------------------------------------------------


def test_retain_keeps_the_bucket() -> None:
    stack = bare_stack()
    build(stack)
    Template.from_stack(stack).has_resource(
        "AWS::S3::Bucket", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )


def test_destroy_deletes_the_bucket_but_never_its_objects() -> None:
    stack = bare_stack()
    build(stack, removal_policy=RemovalPolicy.DESTROY)
    template = Template.from_stack(stack)
    template.has_resource("AWS::S3::Bucket", {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"})
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0)


# --- packs ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def under_the_packs() -> tuple[list[str], list[str]]:
    """(unacknowledged findings, acknowledged findings as '<rule> at <path>') of the bucket alone."""
    stack = bare_stack(audit_trail=True)
    build(stack)
    unacknowledged = unacknowledged_findings(stack)
    report = json.loads((Path(stack.node.root.outdir) / "validation-report.json").read_text(encoding="utf-8"))
    acknowledged = sorted(
        f"{item['ruleName']} at {construct['constructPath']}"
        for plugin in report["pluginReports"]
        for item in plugin["suppressedViolations"]
        for construct in item["violatingConstructs"]
    )
    return unacknowledged, acknowledged


def test_bucket_alone_has_no_unacknowledged_finding_on_an_audit_trail_site(
    under_the_packs: tuple[list[str], list[str]],
) -> None:
    assert under_the_packs[0] == []


def test_only_self_logging_sse_s3_and_replication_are_acknowledged_on_the_bucket(
    under_the_packs: tuple[list[str], list[str]],
) -> None:
    rules = [
        "AwsSolutions-S1",
        *(
            rule_id.split("::")[1]
            for name in ("S3BucketLoggingEnabled", "S3DefaultEncryptionKMS", "S3BucketReplicationEnabled")
            for rule_id in in_regulatory_packs(name)
        ),
    ]
    assert under_the_packs[1] == sorted(f"{rule} at Test/AccessLogs/Bucket/Resource" for rule in rules)
