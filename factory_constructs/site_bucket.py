"""What every S3 bucket of a site that holds its data has in common, and the deny statements they add.

Encrypted with the site key (bucket keys on), no public access, TLS only, versioned, owner-enforced
objects, its access logged under ``access_log_prefix`` of the site's access-log bucket, and Object Lock in
compliance mode when ``object_lock_days`` is given. The caller chooses the lifecycle, and which of the deny
statements below its writers and readers allow.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct


def site_bucket(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    access_logs: s3.IBucket,
    access_log_prefix: str,
    lifecycle_rules: Sequence[s3.LifecycleRule],
    removal_policy: RemovalPolicy,
    object_lock_days: int | None = None,
) -> s3.Bucket:
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=access_log_prefix,
        object_lock_enabled=object_lock_days is not None,
        object_lock_default_retention=(
            s3.ObjectLockRetention.compliance(Duration.days(object_lock_days)) if object_lock_days is not None else None
        ),
        lifecycle_rules=list(lifecycle_rules),
        removal_policy=removal_policy,
    )


def deny_non_kms_writes(bucket: s3.Bucket) -> None:
    """Writers must not pick another encryption than the site key's KMS."""
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="DenyNonKmsWrites",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:PutObject"],
            resources=[bucket.arn_for_objects("*")],
            conditions={"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
        )
    )


def deny_other_accounts(bucket: s3.Bucket) -> None:
    """The data stays in the site's account: any other principal is refused, AWS services acting for this
    account (Firehose, Glue, CloudTrail) excepted."""
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="DenyOtherAccounts",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:*"],
            resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
            conditions={
                "StringNotEquals": {"aws:PrincipalAccount": Stack.of(bucket).account},
                "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
            },
        )
    )
