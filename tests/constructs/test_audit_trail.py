"""AuditTrail on a bare stack: the trail, its bucket, its log group, CloudTrail's key grant, options,
validations, removal policy and the packs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple, cast

import pytest
from aws_cdk import App, CfnElement, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from construct_helpers import ACCOUNT, REGION, access_logs, bare_stack, site_keys, unacknowledged_findings
from factory_constructs.audit.audit_trail import AuditTrail
from factory_constructs.lake.lake_bucket import LakeBucket
from policies import tag_keys
from policies.acknowledge import in_regulatory_packs

pytestmark = pytest.mark.synth

TRAIL_ARN = {
    "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":cloudtrail:{REGION}:{ACCOUNT}:trail/plantA-audit"]]
}


class Built(NamedTuple):
    stack: Stack
    key: kms.IKey
    logs: s3.IBucket
    data: s3.IBucket
    trail: AuditTrail

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def logical_id(self, construct: Any) -> str:
        return self.stack.resolve(self.stack.get_logical_id(cast(CfnElement, construct.node.default_child)))


def build(*, audit_trail: bool = False, **props: Any) -> Built:
    """An AuditTrail "Audit" over one data bucket, with only the required props unless ``props`` override them."""
    stack = bare_stack(audit_trail=audit_trail)
    keys = site_keys(stack)
    key = keys.logs
    logs_bucket = access_logs(stack)
    data = LakeBucket(
        stack, "Data", zone="curated", key=keys.data, access_logs=logs_bucket, expiration_days=None
    ).bucket
    trail = AuditTrail(
        stack,
        "Audit",
        **{
            "name": "plantA-audit",
            "key": key,
            "access_logs": logs_bucket,
            "data_event_buckets": [data],
            "retention_days": 3650,
            "log_retention": logs.RetentionDays.THIRTEEN_MONTHS,
            **props,
        },
    )
    return Built(stack, key, logs_bucket, data, trail)


def data_selector(*logical_ids: str) -> dict[str, Any]:
    return {
        "DataResources": [
            {
                "Type": "AWS::S3::Object",
                "Values": [
                    {"Fn::Join": ["", [{"Fn::GetAtt": [logical_id, "Arn"]}, "/"]]} for logical_id in logical_ids
                ],
            }
        ],
        "IncludeManagementEvents": False,
        "ReadWriteType": "All",
    }


def trail_bucket(properties: dict[str, Any]) -> dict[str, Any]:
    """Properties of the trail's bucket (the only one tagged as an audit record)."""
    return {"Tags": Match.array_with([{"Key": tag_keys.RECORD, "Value": tag_keys.AUDIT_RECORD}]), **properties}


# --- defaults -------------------------------------------------------------------------------------------------


def test_a_single_region_logging_trail_validates_its_files_and_records_only_the_buckets_data_events() -> None:
    built = build()
    built.template().has_resource_properties(
        "AWS::CloudTrail::Trail",
        {
            "TrailName": "plantA-audit",
            "IsLogging": True,
            "EnableLogFileValidation": True,
            "IsMultiRegionTrail": False,
            "IncludeGlobalServiceEvents": False,
            "KMSKeyId": {"Fn::GetAtt": [built.logical_id(built.key), "Arn"]},
            "S3BucketName": {"Ref": built.logical_id(built.trail.bucket)},
            "CloudWatchLogsLogGroupArn": {"Fn::GetAtt": [built.logical_id(built.trail.log_group), "Arn"]},
            "EventSelectors": [data_selector(built.logical_id(built.data))],
        },
    )


def test_the_trail_bucket_is_encrypted_versioned_private_access_logged_and_kept_for_retention_days() -> None:
    built = build()
    built.template().has_resource_properties(
        "AWS::S3::Bucket",
        trail_bucket(
            {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "BucketKeyEnabled": True,
                            "ServerSideEncryptionByDefault": {
                                "KMSMasterKeyID": {"Fn::GetAtt": [built.logical_id(built.key), "Arn"]},
                                "SSEAlgorithm": "aws:kms",
                            },
                        }
                    ]
                },
                "VersioningConfiguration": {"Status": "Enabled"},
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LoggingConfiguration": {
                    "DestinationBucketName": {"Ref": built.logical_id(built.logs)},
                    "LogFilePrefix": "trail/",
                },
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "TrailRetention",
                            "Status": "Enabled",
                            "ExpirationInDays": 3650,
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 3650},
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                        }
                    ]
                },
                "ObjectLockEnabled": False,
            }
        ),
    )


def test_the_bucket_admits_cloudtrail_and_this_account_only_and_tls_only() -> None:
    built = build()
    bucket = built.logical_id(built.trail.bucket)
    arn = {"Fn::GetAtt": [bucket, "Arn"]}
    built.template().has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
                        {
                            "Sid": "DenyOtherAccounts",
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Action": "s3:*",
                            "Resource": [arn, {"Fn::Join": ["", [arn, "/*"]]}],
                            "Condition": {
                                "StringNotEquals": {"aws:PrincipalAccount": ACCOUNT},
                                "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
                            },
                        },
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                                "Action": "s3:PutObject",
                                "Resource": {"Fn::Join": ["", [arn, f"/AWSLogs/{ACCOUNT}/*"]]},
                            }
                        ),
                    ]
                )
            },
        },
    )


def test_the_key_policy_lets_cloudtrail_encrypt_for_this_trail_only() -> None:
    built = build()
    built.template().has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "CloudTrailEncryptsItsLogFiles",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudtrail.amazonaws.com"},
                            "Action": "kms:GenerateDataKey*",
                            "Resource": "*",
                            "Condition": {
                                "StringEquals": {"aws:SourceArn": TRAIL_ARN},
                                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": TRAIL_ARN},
                            },
                        },
                        {
                            "Sid": "CloudTrailDescribesTheKey",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudtrail.amazonaws.com"},
                            "Action": "kms:DescribeKey",
                            "Resource": "*",
                            "Condition": {"StringEquals": {"aws:SourceArn": TRAIL_ARN}},
                        },
                    ]
                )
            }
        },
    )


def test_the_cloudwatch_copy_is_encrypted_and_kept_log_retention() -> None:
    built = build()
    built.template().has_resource_properties(
        "AWS::Logs::LogGroup",
        {"KmsKeyId": {"Fn::GetAtt": [built.logical_id(built.key), "Arn"]}, "RetentionInDays": 400},
    )


# --- customisation --------------------------------------------------------------------------------------------


def test_management_events_add_a_management_selector_and_the_global_services() -> None:
    built = build(management_events=True)
    built.template().has_resource_properties(
        "AWS::CloudTrail::Trail",
        {
            "IncludeGlobalServiceEvents": True,
            "EventSelectors": [
                {"IncludeManagementEvents": True, "ReadWriteType": "All"},
                data_selector(built.logical_id(built.data)),
            ],
        },
    )


def test_a_management_trail_without_buckets_records_management_events_only() -> None:
    built = build(management_events=True, data_event_buckets=[])
    built.template().has_resource_properties(
        "AWS::CloudTrail::Trail", {"EventSelectors": [{"IncludeManagementEvents": True, "ReadWriteType": "All"}]}
    )


def test_lock_days_lock_the_log_files_in_compliance_mode() -> None:
    built = build(lock_days=2555)
    built.template().has_resource_properties(
        "AWS::S3::Bucket",
        trail_bucket(
            {
                "ObjectLockEnabled": True,
                "ObjectLockConfiguration": {
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2555}},
                },
            }
        ),
    )


def test_every_bucket_given_is_in_the_one_data_selector() -> None:
    stack = bare_stack()
    buckets = [s3.Bucket(stack, name, versioned=True, enforce_ssl=True) for name in ("Raw", "Curated")]
    AuditTrail(
        stack,
        "Audit",
        name="plantA-audit",
        key=site_keys(stack).logs,
        access_logs=access_logs(stack),
        data_event_buckets=buckets,
        retention_days=30,
        log_retention=logs.RetentionDays.THIRTEEN_MONTHS,
    )
    ids = [stack.resolve(stack.get_logical_id(cast(CfnElement, bucket.node.default_child))) for bucket in buckets]
    Template.from_stack(stack).has_resource_properties(
        "AWS::CloudTrail::Trail", {"EventSelectors": [data_selector(*ids)]}
    )


# --- validation -----------------------------------------------------------------------------------------------


def test_invalid_props_are_reported_together() -> None:
    with pytest.raises(ValueError) as caught:
        build(name="-bad name", data_event_buckets=[], retention_days=0)
    assert str(caught.value) == (
        "AuditTrail Audit: name '-bad name' is not 3-128 letters, digits, '.', '_' or '-' starting and ending with a "
        "letter or digit; fix: use e.g. plantA-audit; the trail would record nothing (no data_event_buckets and no "
        "management_events); fix: name the site's buckets or record management events; retention_days 0 is below 1; "
        "fix: keep log files at least a day"
    )


@pytest.mark.parametrize("days", [0, 3651])
def test_lock_days_outside_the_retention_are_rejected(days: int) -> None:
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"AuditTrail Audit: lock_days {days} is outside 1-3650 (retention_days); "
            "fix: lock log files at least a day and no longer than they are kept"
        ),
    ):
        build(lock_days=days)


def test_an_imported_key_is_rejected_because_cloudtrail_needs_its_grant_in_the_key_policy() -> None:
    stack = bare_stack()
    key = kms.Key.from_key_arn(
        stack, "Imported", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    with pytest.raises(
        ValueError,
        match=re.escape(
            "AuditTrail Audit: key Test/Imported does not accept key-policy statements (an imported key); fix: pass "
            "the site's kms.Key, whose policy this construct extends for CloudTrail"
        ),
    ):
        build_with_key(stack, key)


def build_with_key(stack: Stack, key: kms.IKey) -> AuditTrail:
    return AuditTrail(
        stack,
        "Audit",
        name="plantA-audit",
        key=key,
        access_logs=access_logs(stack),
        data_event_buckets=[s3.Bucket(stack, "Data")],
        retention_days=30,
        log_retention=logs.RetentionDays.THIRTEEN_MONTHS,
    )


# --- removal policy -------------------------------------------------------------------------------------------


def test_retain_keeps_the_bucket_and_the_log_group() -> None:
    template = build().template()
    template.has_resource("AWS::S3::Bucket", {"Properties": trail_bucket({}), "DeletionPolicy": "Retain"})
    template.has_resource("AWS::Logs::LogGroup", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})


def test_destroy_deletes_them_with_the_stack() -> None:
    template = build(removal_policy=RemovalPolicy.DESTROY).template()
    template.has_resource("AWS::Logs::LogGroup", {"DeletionPolicy": "Delete"})
    template.has_resource("AWS::S3::Bucket", {"Properties": trail_bucket({}), "DeletionPolicy": "Delete"})


# --- packs ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def under_the_packs() -> tuple[list[str], dict[str, str]]:
    """(unacknowledged findings, acknowledged rule -> reason on the trail's bucket) of the trail alone."""
    built = build(audit_trail=True, lock_days=2555, management_events=True)
    unacknowledged = unacknowledged_findings(built.stack)
    report = json.loads(
        (Path(cast(App, built.stack.node.root).outdir) / "validation-report.json").read_text(encoding="utf-8")
    )
    on_bucket = {
        item["ruleName"]: item["reason"]
        for plugin in report["pluginReports"]
        for item in plugin["suppressedViolations"]
        for construct in item["violatingConstructs"]
        if construct["constructPath"] == "Test/Audit/Bucket/Resource"
    }
    return unacknowledged, on_bucket


def test_the_trail_alone_on_an_audit_trail_stack_has_no_unacknowledged_findings(
    under_the_packs: tuple[list[str], dict[str, str]],
) -> None:
    assert under_the_packs[0] == []


def test_only_replication_is_acknowledged_on_the_bucket_backed_by_its_versioning(
    under_the_packs: tuple[list[str], dict[str, str]],
) -> None:
    assert sorted(under_the_packs[1]) == sorted(
        rule_id.split("::")[1] for rule_id in in_regulatory_packs("S3BucketReplicationEnabled")
    )
    assert all(reason.endswith("[control: GxP::GxP-S3Versioned]") for reason in under_the_packs[1].values())
