"""The site's Kinesis stream of tag batches and heartbeats."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from policies.acknowledge import acknowledge

MIN_RETENTION_HOURS = 72  # long enough to replay an incident over a weekend


class TagStream(Construct):
    """KMS-encrypted stream; ``shards=None`` means on-demand capacity.

    Partition keys: the ISA-95 line for tag batches (order holds per line), the
    gateway for heartbeats.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        retention_hours: int,
        shards: int | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if retention_hours < MIN_RETENTION_HOURS:
            problems.append(f"retention_hours {retention_hours} is below {MIN_RETENTION_HOURS}; fix: raise it")
        if shards is not None and shards < 1:
            problems.append(f"shards {shards} must be at least 1, or None for on-demand")
        if problems:
            raise ValueError(f"TagStream {construct_id}: " + "; ".join(problems))
        self.stream = kinesis.Stream(
            self,
            "Stream",
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=key,
            retention_period=Duration.hours(retention_hours),
            shard_count=shards,
            stream_mode=kinesis.StreamMode.PROVISIONED if shards else kinesis.StreamMode.ON_DEMAND,
            removal_policy=removal_policy,
        )
        acknowledge(
            self.stream,
            "AwsSolutions::AwsSolutions-KDS3",
            "The stream is encrypted with the site's own customer-managed key on purpose: per-site key "
            "policies and rotation are part of the tenant isolation, which the shared aws/kinesis key lacks.",
        )
