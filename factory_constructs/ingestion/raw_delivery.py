"""Firehose from the site's Kinesis stream into the raw zone, validated and partitioned."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
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


class RawDelivery(Construct):
    """Kinesis -> transform Lambda (envelope check, partition keys) -> S3 raw, GZIP, KMS.

    Invalid records land under ``failed/`` with their reason; nothing is dropped.
    ``buffer_mb`` / ``buffer_seconds``: Firehose buffering (64+ MB with dynamic partitioning).
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
        if not 64 <= buffer_mb <= 128 or not 60 <= buffer_seconds <= 900:
            raise ValueError(
                f"RawDelivery {construct_id}: buffer {buffer_mb} MB / {buffer_seconds} s is outside 64-128 MB / "
                "60-900 s; fix: dynamic partitioning needs at least 64 MB"
            )
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
        log_stream = self.log_group.add_stream("S3Delivery")
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"))
        stream.grant_read(self.role)
        raw_bucket.grant_read_write(self.role)
        key.grant_encrypt_decrypt(self.role)
        self.transform.function.grant_invoke(self.role)
        self.log_group.grant_write(self.role)
        self.delivery_stream = firehose.CfnDeliveryStream(
            self,
            "DeliveryStream",
            delivery_stream_type="KinesisStreamAsSource",
            kinesis_stream_source_configuration=firehose.CfnDeliveryStream.KinesisStreamSourceConfigurationProperty(
                kinesis_stream_arn=stream.stream_arn, role_arn=self.role.role_arn
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=raw_bucket.bucket_arn,
                role_arn=self.role.role_arn,
                prefix=RAW_PREFIX,
                error_output_prefix=ERROR_PREFIX,
                compression_format="GZIP",
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    size_in_m_bs=buffer_mb, interval_in_seconds=buffer_seconds
                ),
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=key.key_arn
                    )
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=self.log_group.log_group_name,
                    log_stream_name=log_stream.log_stream_name,
                ),
                dynamic_partitioning_configuration=firehose.CfnDeliveryStream.DynamicPartitioningConfigurationProperty(
                    enabled=True, retry_options=firehose.CfnDeliveryStream.RetryOptionsProperty(duration_in_seconds=300)
                ),
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        firehose.CfnDeliveryStream.ProcessorProperty(
                            type="Lambda",
                            parameters=[
                                _parameter("LambdaArn", self.transform.function.function_arn),
                                _parameter("NumberOfRetries", "3"),
                                _parameter("BufferSizeInMBs", "1"),
                                _parameter("BufferIntervalInSeconds", "60"),
                            ],
                        )
                    ],
                ),
            ),
        )
        self.delivery_stream.node.add_dependency(self.role)
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
            self.delivery_stream,
            "AwsSolutions::AwsSolutions-KDF1",
            "A delivery stream reading from Kinesis cannot enable its own SSE; records stay encrypted by the "
            "source stream's site key and are written to S3 with the same key.",
        )


def _parameter(name: str, value: str) -> firehose.CfnDeliveryStream.ProcessorParameterProperty:
    return firehose.CfnDeliveryStream.ProcessorParameterProperty(parameter_name=name, parameter_value=value)
