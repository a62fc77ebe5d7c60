"""The bucket that receives S3 server access logs of the site's buckets."""

from __future__ import annotations

from typing import cast

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from policies.acknowledge import acknowledge, in_regulatory_packs


class AccessLogBucket(Construct):
    """Versioned, TLS-only, private; keeps logs ``retention_days``.

    S3 server access logging delivers only to buckets encrypted with SSE-S3,
    so this one bucket cannot use the site key.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, retention_days: int, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(retention_days),
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=False,
        )
        cfn = cast(s3.CfnBucket, self.bucket.node.default_child)
        acknowledge(
            cfn,
            ["AwsSolutions::AwsSolutions-S1", *in_regulatory_packs("S3BucketLoggingEnabled")],
            "This bucket is the site's access-log target; logging its own access into itself would recurse, and "
            "CloudTrail data events cover reads of it.",
        )
        acknowledge(
            cfn,
            in_regulatory_packs("S3DefaultEncryptionKMS"),
            "S3 server access logging delivers only to SSE-S3 encrypted target buckets; the logs hold request "
            "metadata, never plant data.",
        )
        acknowledge(
            cfn,
            in_regulatory_packs("S3BucketReplicationEnabled"),
            "Access logs are operational evidence kept in-region under versioning; copying them to another region "
            "adds no control the residency rules would allow for every site.",
        )
