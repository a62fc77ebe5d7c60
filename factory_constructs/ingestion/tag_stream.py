"""The site's Kinesis stream of tag batches and heartbeats."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Token
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from policies.acknowledge import acknowledge

MIN_RETENTION_HOURS = 72  # long enough to replay an incident over a weekend
MAX_RETENTION_HOURS = 8760  # Kinesis keeps records at most 365 days


class TagStream(Construct):
    """KMS-encrypted stream; ``shards=None`` means on-demand capacity.

    Partition keys: the ISA-95 line for tag batches (order holds per line), the
    gateway for heartbeats.

    ``key``: encrypts the stream. ``retention_hours``: 72 to 8760. ``shards``: provisioned
    shard count (at least 1), or None for on-demand capacity.
    ``removal_policy`` (default RETAIN): DESTROY deletes the stream, with its unread records, with its stack.
    Grant access and read metrics on ``stream``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        retention_hours: int,
        shards: int | None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        # A token (e.g. a CfnParameter) is checked by Kinesis at deploy time, not here.
        if not Token.is_unresolved(retention_hours):
            if retention_hours < MIN_RETENTION_HOURS:
                problems.append(f"retention_hours {retention_hours} is below {MIN_RETENTION_HOURS}; fix: raise it")
            if retention_hours > MAX_RETENTION_HOURS:
                problems.append(
                    f"retention_hours {retention_hours} is above {MAX_RETENTION_HOURS}, the most Kinesis keeps; "
                    "fix: lower it"
                )
        if shards is not None and not Token.is_unresolved(shards) and shards < 1:
            problems.append(f"shards {shards} is below 1; fix: use at least 1, or None for on-demand capacity")
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
