"""ConfigRecorder on a bare stack: what it records, where it delivers, its role, validation and the packs."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest
from aws_cdk import CfnElement, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from construct_helpers import ACCOUNT, access_logs, bare_stack, keys_of, site_keys, unacknowledged_findings
from factory_constructs.audit.config_recorder import ConfigRecorder
from factory_constructs.lake.lake_bucket import LakeBucket

pytestmark = pytest.mark.synth


def logical_id(stack: Stack, construct: Any) -> str:
    return stack.resolve(stack.get_logical_id(cast(CfnElement, construct.node.default_child)))


def build(**props: Any) -> tuple[Stack, s3.IBucket, ConfigRecorder]:
    stack = bare_stack()
    keys = site_keys(stack)
    bucket = LakeBucket(
        stack, "Audit", zone="curated", key=keys.logs, access_logs=access_logs(stack), expiration_days=None
    ).bucket
    recorder = ConfigRecorder(stack, "Recorder", bucket=bucket, key=keys.logs, **props)
    return stack, bucket, recorder


@pytest.fixture(scope="module")
def default() -> tuple[Stack, s3.IBucket, ConfigRecorder]:
    return build()


def test_it_records_every_regional_type_continuously_with_its_own_role(
    default: tuple[Stack, s3.IBucket, ConfigRecorder],
) -> None:
    stack, _, recorder = default
    Template.from_stack(stack).has_resource_properties(
        "AWS::Config::ConfigurationRecorder",
        {
            "RoleARN": {"Fn::GetAtt": [logical_id(stack, recorder.role), "Arn"]},
            "RecordingGroup": {"AllSupported": True, "IncludeGlobalResourceTypes": False},
            "RecordingMode": {"RecordingFrequency": "CONTINUOUS"},
        },
    )


def test_it_delivers_daily_snapshots_to_the_bucket_under_its_prefix_encrypted_with_the_key(
    default: tuple[Stack, s3.IBucket, ConfigRecorder],
) -> None:
    stack, bucket, recorder = default
    template = Template.from_stack(stack)
    template.has_resource(
        "AWS::Config::DeliveryChannel",
        {
            "Properties": {
                "S3BucketName": {"Ref": logical_id(stack, bucket)},
                "S3KeyPrefix": "config",
                "S3KmsKeyArn": {"Fn::GetAtt": [logical_id(stack, keys_of(stack).logs), "Arn"]},
                "ConfigSnapshotDeliveryProperties": {"DeliveryFrequency": "TwentyFour_Hours"},
            },
            "DependsOn": [stack.resolve(stack.get_logical_id(recorder.recorder))],
        },
    )


def test_the_role_is_awss_config_role_and_writes_only_under_the_prefix(
    default: tuple[Stack, s3.IBucket, ConfigRecorder],
) -> None:
    stack, bucket, recorder = default
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "config.amazonaws.com"}}
                ]
            },
            "ManagedPolicyArns": [
                {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/service-role/AWS_ConfigRole"]]}
            ],
        },
    )
    arn = {"Fn::GetAtt": [logical_id(stack, bucket), "Arn"]}
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [stack.resolve(recorder.role.role_name)],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {"Action": ["s3:GetBucketAcl", "s3:ListBucket"], "Effect": "Allow", "Resource": arn},
                        {
                            "Action": "s3:PutObject",
                            "Effect": "Allow",
                            "Resource": {"Fn::Join": ["", [arn, f"/config/AWSLogs/{ACCOUNT}/Config/*"]]},
                        },
                        Match.object_like({"Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Effect": "Allow"}),
                    ]
                )
            },
        },
    )


def test_the_recorder_starts_only_once_its_role_may_deliver(default: tuple[Stack, s3.IBucket, ConfigRecorder]) -> None:
    stack, _, recorder = default
    policy = recorder.role.node.find_child("DefaultPolicy")
    Template.from_stack(stack).has_resource(
        "AWS::Config::ConfigurationRecorder", {"DependsOn": [logical_id(stack, policy)]}
    )


def test_a_prefix_is_honoured_and_a_bad_one_rejected() -> None:
    stack, _, _ = build(prefix="audit/config")
    Template.from_stack(stack).has_resource_properties("AWS::Config::DeliveryChannel", {"S3KeyPrefix": "audit/config"})
    with pytest.raises(
        ValueError,
        match=re.escape(
            "ConfigRecorder Recorder: prefix '/config/' is not an S3 key prefix without a leading or trailing '/'; "
            "fix: use e.g. config"
        ),
    ):
        build(prefix="/config/")


def test_the_recorder_alone_has_no_unacknowledged_findings() -> None:
    stack, _, _ = build()
    assert unacknowledged_findings(stack) == []
