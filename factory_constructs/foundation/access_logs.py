"""The bucket that receives S3 server access logs of the site's buckets."""

from __future__ import annotations

from typing import cast

from aws_cdk import Duration, RemovalPolicy, Token
from aws_cdk import aws_s3 as s3
from constructs import Construct

from policies.acknowledge import acknowledge, in_regulatory_packs


class AccessLogBucket(Construct):
    """Versioned, TLS-only, private; keeps logs ``retention_days``.

    S3 server access logging delivers only to buckets encrypted with SSE-S3,
    so this one bucket cannot use the site key.

    ``retention_days`` (at least 1): days a log object is kept; replaced versions go after 30 days.
    ``removal_policy``: applies to the bucket; its objects are never deleted automatically.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, retention_days: int, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if not Token.is_unresolved(retention_days) and retention_days < 1:
            problems.append(
                f"retention_days {retention_days} is below 1; fix: keep access logs at least one day "
                "(an S3 lifecycle expiration takes a positive number of days)"
            )
        if problems:
            raise ValueError(f"AccessLogBucket {construct_id}: " + "; ".join(problems))
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
            "This bucket is the site's access-log target; logging its own access into itself would recurse. "
            "Versioning keeps every log object's history and the bucket policy denies every request without TLS.",
            backed_by=("GxP::GxP-S3Versioned",),
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
            backed_by=("GxP::GxP-S3Versioned",),
        )
