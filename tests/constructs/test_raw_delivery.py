"""RawDelivery on a bare stack: defaults, buffering, validations, the role's grants, metrics, removal policy, nag."""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple, cast

import pytest
from aws_cdk import CfnParameter, CfnResource, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from constructs import IConstruct

from construct_helpers import (
    KINESIS_READ_ACTIONS,
    access_logs,
    bare_stack,
    placement,
    site_keys,
    unacknowledged_findings,
)
from factory_constructs.foundation.keys import SiteKeys
from factory_constructs.ingestion.raw_delivery import ERROR_PREFIX, RAW_PREFIX, RawDelivery
from factory_constructs.ingestion.tag_stream import TagStream
from factory_constructs.lake.lake_bucket import LakeBucket

pytestmark = pytest.mark.synth

REQUIRED = {"buffer_mb": 64, "buffer_seconds": 300}


class Built(NamedTuple):
    stack: Stack
    keys: SiteKeys
    stream: kinesis.IStream
    raw: s3.IBucket
    delivery: RawDelivery

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)

    def logical_id(self, construct: IConstruct) -> str:
        return self.stack.get_logical_id(cast(CfnResource, construct.node.default_child))


def build(*, audit_trail: bool = False, **props: Any) -> Built:
    """A RawDelivery with its id "Delivery" and only the required props unless ``props`` override them.

    Its collaborators are the site's own (compliant) stream and raw zone bucket, the bucket locked as an
    audit-trail site's raw zone is (GxP-RawObjectLock), so the nag test sees only RawDelivery's findings.
    """
    stack = bare_stack(audit_trail=audit_trail)
    keys = site_keys(stack)
    stream = TagStream(stack, "Stream", key=keys.data, retention_hours=72, shards=1).stream
    raw = LakeBucket(
        stack,
        "Raw",
        zone="raw",
        key=keys.data,
        access_logs=access_logs(stack),
        expiration_days=365,
        object_lock_days=365 if audit_trail else None,
    ).bucket
    delivery = RawDelivery(
        stack,
        "Delivery",
        stream=stream,
        raw_bucket=raw,
        placement=placement(stack, keys),
        key=keys.data,
        logs_key=keys.logs,
        **{**REQUIRED, **props},
    )
    return Built(stack, keys, stream, raw, delivery)


def new(**props: Any) -> RawDelivery:
    """Only the constructor (for validation tests), with plain collaborators: no template is synthesized."""
    stack = bare_stack()
    keys = site_keys(stack)
    return RawDelivery(
        stack,
        "Delivery",
        stream=kinesis.Stream(stack, "Stream"),
        raw_bucket=s3.Bucket(stack, "Raw"),
        placement=placement(stack, keys),
        key=keys.data,
        logs_key=keys.logs,
        **props,
    )


def destination(built: Built) -> dict[str, Any]:
    (stream,) = built.template().find_resources("AWS::KinesisFirehose::DeliveryStream").values()
    return cast(dict[str, Any], stream["Properties"]["ExtendedS3DestinationConfiguration"])


def as_set(statements: list[dict[str, Any]]) -> list[str]:
    """IAM statements in a comparable form: their order carries no meaning."""
    return sorted(json.dumps(statement, sort_keys=True) for statement in statements)


# --- defaults ---------------------------------------------------------------------------------------


def test_defaults_read_the_stream_and_write_gzip_objects_under_lambda_named_partitions_with_the_site_key() -> None:
    built = build()
    role_arn = built.resolve(built.delivery.role.role_arn)
    built.template().has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {
            "DeliveryStreamType": "KinesisStreamAsSource",
            "KinesisStreamSourceConfiguration": Match.exact(
                {"KinesisStreamARN": built.resolve(built.stream.stream_arn), "RoleARN": role_arn}
            ),
            # A Kinesis-sourced stream cannot encrypt itself; the source stream's key protects the records.
            "DeliveryStreamEncryptionConfigurationInput": Match.absent(),
            "ExtendedS3DestinationConfiguration": Match.object_like(
                {
                    "BucketARN": built.resolve(built.raw.bucket_arn),
                    "RoleARN": role_arn,
                    "Prefix": RAW_PREFIX,
                    "ErrorOutputPrefix": ERROR_PREFIX,
                    "CompressionFormat": "GZIP",
                    "BufferingHints": Match.exact({"SizeInMBs": 64, "IntervalInSeconds": 300}),
                    "EncryptionConfiguration": Match.exact(
                        {"KMSEncryptionConfig": {"AWSKMSKeyARN": built.resolve(built.keys.data.key_arn)}}
                    ),
                    "DynamicPartitioningConfiguration": Match.exact(
                        {"Enabled": True, "RetryOptions": {"DurationInSeconds": 300}}
                    ),
                    "S3BackupMode": Match.absent(),
                }
            ),
        },
    )


def test_the_raw_prefix_is_partitioned_by_the_keys_the_transform_names() -> None:
    assert RAW_PREFIX == (
        "!{partitionKeyFromLambda:kind}/area=!{partitionKeyFromLambda:area}/line=!{partitionKeyFromLambda:line}/"
        "date=!{partitionKeyFromLambda:date}/hour=!{partitionKeyFromLambda:hour}/"
    )
    assert ERROR_PREFIX == "errors/!{firehose:error-output-type}/date=!{timestamp:yyyy-MM-dd}/"


def test_defaults_pass_records_through_the_transform_in_small_batches_with_three_retries() -> None:
    built = build()
    processing = destination(built)["ProcessingConfiguration"]
    assert processing["Enabled"] is True
    (processor,) = processing["Processors"]
    assert processor["Type"] == "Lambda"
    assert {parameter["ParameterName"]: parameter["ParameterValue"] for parameter in processor["Parameters"]} == {
        "LambdaArn": built.resolve(built.delivery.transform.function.function_arn),
        "RoleArn": built.resolve(built.delivery.role.role_arn),
        "NumberOfRetries": "3",
        "BufferSizeInMBs": "1",
        "BufferIntervalInSeconds": "60",
    }


def test_defaults_run_the_transform_handler_with_three_minutes_and_ten_reserved_executions() -> None:
    built = build()
    built.template().has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "transform_handler.handler.handler",
            "Timeout": 180,
            "ReservedConcurrentExecutions": 10,
            "KmsKeyArn": built.resolve(built.keys.data.key_arn),
        },
    )


def test_defaults_log_delivery_errors_to_the_constructs_own_encrypted_log_group_for_13_months() -> None:
    built = build()
    log_group = built.delivery.log_group
    properties = built.template().to_json()["Resources"][built.logical_id(log_group)]["Properties"]
    assert properties["KmsKeyId"] == built.resolve(built.keys.logs.key_arn)
    assert properties["RetentionInDays"] == 400
    assert "LogGroupName" not in properties  # generated, like every physical name
    logging = destination(built)["CloudWatchLoggingOptions"]
    (log_stream_id,) = built.template().find_resources(
        "AWS::Logs::LogStream", {"Properties": {"LogGroupName": built.resolve(log_group.log_group_name)}}
    )
    assert logging == {
        "Enabled": True,
        "LogGroupName": built.resolve(log_group.log_group_name),
        "LogStreamName": {"Ref": log_stream_id},
    }


# --- customisations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("buffer_mb", "buffer_seconds"), [(64, 60), (128, 900), (100, 450)])
def test_buffer_mb_and_buffer_seconds_set_firehoses_buffering_towards_s3(buffer_mb: int, buffer_seconds: int) -> None:
    built = build(buffer_mb=buffer_mb, buffer_seconds=buffer_seconds)
    assert destination(built)["BufferingHints"] == {"SizeInMBs": buffer_mb, "IntervalInSeconds": buffer_seconds}


def test_buffering_given_as_tokens_is_left_to_firehose_to_check_at_deploy_time() -> None:
    stack = bare_stack()
    size = CfnParameter(stack, "BufferMb", type="Number").value_as_number
    interval = CfnParameter(stack, "BufferSeconds", type="Number").value_as_number
    keys = site_keys(stack)
    RawDelivery(
        stack,
        "Delivery",
        stream=kinesis.Stream(stack, "Stream"),
        raw_bucket=s3.Bucket(stack, "Raw"),
        placement=placement(stack, keys),
        key=keys.data,
        logs_key=keys.logs,
        buffer_mb=cast(int, size),
        buffer_seconds=cast(int, interval),
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {
            "ExtendedS3DestinationConfiguration": Match.object_like(
                {"BufferingHints": {"SizeInMBs": {"Ref": "BufferMb"}, "IntervalInSeconds": {"Ref": "BufferSeconds"}}}
            )
        },
    )


# --- validations ------------------------------------------------------------------------------------


@pytest.mark.parametrize("buffer_mb", [63, 129])
def test_buffer_mb_outside_64_to_128_is_refused(buffer_mb: int) -> None:
    message = (
        f"RawDelivery Delivery: buffer_mb {buffer_mb} is outside 64-128; "
        "fix: dynamic partitioning needs at least 64 MB and Firehose buffers at most 128 MB"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(buffer_mb=buffer_mb, buffer_seconds=300)


@pytest.mark.parametrize("buffer_seconds", [59, 901])
def test_buffer_seconds_outside_60_to_900_is_refused(buffer_seconds: int) -> None:
    message = (
        f"RawDelivery Delivery: buffer_seconds {buffer_seconds} is outside 60-900; "
        "fix: dynamic partitioning needs at least 60 s and Firehose buffers at most 900 s"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(buffer_mb=64, buffer_seconds=buffer_seconds)


def test_every_buffering_problem_is_reported_at_once() -> None:
    message = (
        "RawDelivery Delivery: buffer_mb 5 is outside 64-128; "
        "fix: dynamic partitioning needs at least 64 MB and Firehose buffers at most 128 MB; "
        "buffer_seconds 0 is outside 60-900; "
        "fix: dynamic partitioning needs at least 60 s and Firehose buffers at most 900 s"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(buffer_mb=5, buffer_seconds=0)


# --- the role ---------------------------------------------------------------------------------------


def test_only_firehose_assumes_the_role_and_it_has_no_managed_policy() -> None:
    built = build()
    role = built.template().to_json()["Resources"][built.logical_id(built.delivery.role)]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"}}
    ]
    assert "ManagedPolicyArns" not in role


def test_the_role_may_read_the_stream_write_the_raw_bucket_use_the_key_invoke_the_transform_and_write_its_logs() -> (
    None
):
    built = build()
    stream = built.resolve(built.stream.stream_arn)
    bucket = built.resolve(built.raw.bucket_arn)
    objects = built.resolve(built.raw.arn_for_objects("*"))
    key = built.resolve(built.keys.data.key_arn)
    transform = built.resolve(built.delivery.transform.function.function_arn)
    (policy,) = (
        built.template()
        .find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [built.resolve(built.delivery.role.role_name)]}})
        .values()
    )
    expected = [
        {  # read the source stream (stream.grant_read) ...
            "Action": KINESIS_READ_ACTIONS,
            "Effect": "Allow",
            "Resource": stream,
        },
        {"Action": "kms:Decrypt", "Effect": "Allow", "Resource": key},  # ... which the site key encrypts
        {  # write the raw bucket (bucket.grant_read_write) ...
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
            "Resource": [bucket, objects],
        },
        {  # ... whose default key is the site key
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
            "Effect": "Allow",
            "Resource": key,
        },
        {  # encrypt the objects it writes with the site key
            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
            "Effect": "Allow",
            "Resource": key,
        },
        {  # invoke the transform, any version of that one function
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": [transform, {"Fn::Join": ["", [transform, ":*"]]}],
        },
        {  # write error logs to its own log group
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": built.resolve(built.delivery.log_group.log_group_arn),
        },
    ]
    assert as_set(policy["Properties"]["PolicyDocument"]["Statement"]) == as_set(expected)


def test_the_delivery_stream_waits_for_the_roles_policy() -> None:
    built = build()
    delivery_stream = built.template().to_json()["Resources"][built.logical_id(built.delivery.delivery_stream)]
    policy = built.delivery.role.node.find_child("DefaultPolicy")
    assert built.logical_id(policy) in delivery_stream["DependsOn"]


# --- metrics ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric_of", "name"),
    [
        (lambda stream: stream.metric_incoming_records(), "IncomingRecords"),
        (lambda stream: stream.metric_incoming_bytes(), "IncomingBytes"),
    ],
)
def test_metrics_of_the_delivery_stream_sum_its_firehose_metrics(metric_of: Any, name: str) -> None:
    built = build()
    metric = metric_of(built.delivery.delivery_stream)
    assert (metric.namespace, metric.metric_name, metric.statistic) == ("AWS/Firehose", name, "Sum")
    assert built.resolve(metric.dimensions) == {
        "DeliveryStreamName": {"Ref": built.logical_id(built.delivery.delivery_stream)}
    }


def test_an_alarm_on_incoming_records_watches_this_delivery_stream() -> None:
    built = build()
    cloudwatch.Alarm(
        built.stack,
        "NoRecords",
        metric=built.delivery.delivery_stream.metric_incoming_records(),
        threshold=1,
        evaluation_periods=3,
        comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    )
    built.template().has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Firehose",
            "MetricName": "IncomingRecords",
            "Statistic": "Sum",
            "Period": 300,
            "Dimensions": [
                {"Name": "DeliveryStreamName", "Value": {"Ref": built.logical_id(built.delivery.delivery_stream)}}
            ],
        },
    )


# --- removal policy ---------------------------------------------------------------------------------


def log_group_policies(built: Built) -> dict[str, tuple[str, str]]:
    resources = built.template().to_json()["Resources"]
    return {
        name: (
            resources[built.logical_id(group)]["DeletionPolicy"],
            resources[built.logical_id(group)]["UpdateReplacePolicy"],
        )
        for name, group in (("delivery", built.delivery.log_group), ("transform", built.delivery.transform.log_group))
    }


def test_log_groups_are_retained_by_default() -> None:
    assert log_group_policies(build()) == {"delivery": ("Retain", "Retain"), "transform": ("Retain", "Retain")}


def test_removal_policy_destroy_deletes_both_log_groups_with_the_stack() -> None:
    built = build(removal_policy=RemovalPolicy.DESTROY)
    assert log_group_policies(built) == {"delivery": ("Delete", "Delete"), "transform": ("Delete", "Delete")}


# --- nag --------------------------------------------------------------------------------------------


def test_raw_delivery_alone_has_no_unacknowledged_finding() -> None:
    assert unacknowledged_findings(build(audit_trail=True).stack) == []
