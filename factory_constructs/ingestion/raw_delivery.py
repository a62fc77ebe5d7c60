"""Firehose from the site's Kinesis stream into the raw zone, validated and partitioned."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from aws_cdk import CfnResource, Duration, RemovalPolicy, Size, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from factory_constructs.grant_findings import acknowledge_grant_policy, resource_wildcard
from factory_constructs.site_function import LOG_RETENTION, FunctionPlacement, SiteFunction
from policies.acknowledge import acknowledge

TRANSFORM_HANDLER = Path(__file__).resolve().parent / "transform_handler"
# The transform Lambda names each record's partition (see transform_handler/handler.py).
RAW_PREFIX = (
    "!{partitionKeyFromLambda:kind}/area=!{partitionKeyFromLambda:area}/line=!{partitionKeyFromLambda:line}/"
    "date=!{partitionKeyFromLambda:date}/hour=!{partitionKeyFromLambda:hour}/"
)
# Records the transform itself could not process (Lambda errors, timeouts).
ERROR_PREFIX = "errors/!{firehose:error-output-type}/date=!{timestamp:yyyy-MM-dd}/"
# Firehose's limits for a destination with dynamic partitioning.
MIN_BUFFER_MB, MAX_BUFFER_MB = 64, 128
MIN_BUFFER_SECONDS, MAX_BUFFER_SECONDS = 60, 900
# How long Firehose retries delivering a partition before the records go to ERROR_PREFIX.
PARTITIONING_RETRY = Duration.seconds(300)
# Firehose hands the transform small batches, soon: a record waits at most a minute before its check.
TRANSFORM_BUFFER_SIZE, TRANSFORM_BUFFER_INTERVAL, TRANSFORM_RETRIES = Size.mebibytes(1), Duration.seconds(60), 3


class RawDelivery(Construct):
    """Kinesis -> transform Lambda (envelope check, partition keys) -> S3 raw, GZIP, KMS.

    Invalid records land under ``failed/`` with their reason; nothing is dropped.
    ``buffer_mb`` (64-128) / ``buffer_seconds`` (60-900): Firehose buffering towards S3;
    dynamic partitioning needs at least 64 MB.
    ``removal_policy`` (default RETAIN): applies to the delivery and transform log groups.

    ``delivery_stream`` is the L2 stream (``metric_*``, ``grant_*``); ``role`` is the one role
    Firehose assumes to read the stream, invoke ``transform``, write the bucket and ``log_group``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stream: kinesis.IStream,
        raw_bucket: s3.IBucket,
        placement: FunctionPlacement,
        key: kms.IKey,
        logs_key: kms.IKey,
        buffer_mb: int,
        buffer_seconds: int,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if not Token.is_unresolved(buffer_mb) and not MIN_BUFFER_MB <= buffer_mb <= MAX_BUFFER_MB:
            problems.append(
                f"buffer_mb {buffer_mb} is outside {MIN_BUFFER_MB}-{MAX_BUFFER_MB}; "
                "fix: dynamic partitioning needs at least 64 MB and Firehose buffers at most 128 MB"
            )
        if not Token.is_unresolved(buffer_seconds) and not MIN_BUFFER_SECONDS <= buffer_seconds <= MAX_BUFFER_SECONDS:
            problems.append(
                f"buffer_seconds {buffer_seconds} is outside {MIN_BUFFER_SECONDS}-{MAX_BUFFER_SECONDS}; "
                "fix: dynamic partitioning needs at least 60 s and Firehose buffers at most 900 s"
            )
        if problems:
            raise ValueError(f"RawDelivery {construct_id}: " + "; ".join(problems))
        self.transform = SiteFunction(
            self,
            "Transform",
            handler_package=TRANSFORM_HANDLER,
            handler="transform_handler.handler.handler",
            description="Validates tag envelopes and names their raw-zone partition",
            placement=placement,
            environment_key=key,
            logs_key=logs_key,
            removal_policy=removal_policy,
            timeout=Duration.minutes(3),
            reserved_concurrency=10,
        )
        acknowledge(
            self.transform.function,
            ["HIPAA.Security::HIPAA.Security-LambdaDLQ", "NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ"],
            "Firehose invokes the transform synchronously, so a dead-letter queue never receives anything; "
            "records it fails on go to the raw bucket's errors/ prefix.",
        )
        self.log_group = logs.LogGroup(
            self, "Logs", encryption_key=logs_key, retention=LOG_RETENTION, removal_policy=removal_policy
        )
        # One role for source and destination (the L2 would make two): the L2 grants it exactly
        # stream read, bucket read/write, key encrypt/decrypt, transform invoke and log writes.
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"))
        self.delivery_stream = firehose.DeliveryStream(
            self,
            "DeliveryStream",
            source=firehose.KinesisStreamSource(stream),
            role=self.role,
            destination=firehose.S3Bucket(
                raw_bucket,
                role=self.role,
                data_output_prefix=RAW_PREFIX,
                error_output_prefix=ERROR_PREFIX,
                compression=firehose.Compression.GZIP,
                buffering_size=Size.mebibytes(buffer_mb),
                buffering_interval=Duration.seconds(buffer_seconds),
                encryption_key=key,
                logging_config=firehose.EnableLogging(self.log_group),
                dynamic_partitioning=firehose.DynamicPartitioningProps(enabled=True, retry_duration=PARTITIONING_RETRY),
                processors=[
                    firehose.LambdaFunctionProcessor(
                        self.transform.function,
                        buffer_size=TRANSFORM_BUFFER_SIZE,
                        buffer_interval=TRANSFORM_BUFFER_INTERVAL,
                        retries=TRANSFORM_RETRIES,
                    )
                ],
            ),
        )
        acknowledge_grant_policy(
            self.role,
            [
                (
                    resource_wildcard(raw_bucket, "/*"),
                    "Firehose writes objects under generated, partitioned keys anywhere in the raw bucket; the "
                    "wildcard covers that one bucket's objects.",
                ),
                (
                    resource_wildcard(self.transform.function, ":*"),
                    "Firehose may invoke any published version of its own transform function; the wildcard "
                    "covers versions of that one function.",
                ),
            ],
        )
        acknowledge(
            cast(CfnResource, self.delivery_stream.node.default_child),
            "AwsSolutions::AwsSolutions-KDF1",
            "A delivery stream reading from Kinesis cannot enable its own SSE; records stay encrypted by the "
            "source stream's site key and are written to S3 with the same key.",
        )
