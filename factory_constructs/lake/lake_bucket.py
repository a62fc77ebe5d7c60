"""One zone of the data lake: an S3 bucket with the site's controls built in."""

from __future__ import annotations

from typing import cast

from aws_cdk import Annotations, Duration, RemovalPolicy, Stack, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from policies import tag_keys
from policies.acknowledge import acknowledge, in_regulatory_packs

ZONES = ("raw", "conformed", "curated")


class LakeBucket(Construct):
    """A zone bucket: site key with bucket keys, versioning, TLS only, KMS-only writes,
    only principals of the site's account, access logs, lifecycle and optional Object Lock.

    ``expiration_days``: objects (current versions) expire after that many days.
    ``infrequent_access_after_days`` (default None): None keeps objects in S3 Standard until they expire.
    ``object_lock_days`` (default None): when set, objects are immutable for that many
    days in COMPLIANCE mode (no one, not even root, can shorten it); None means no Object Lock.
    ``removal_policy`` (default RETAIN): DESTROY deletes the bucket with its stack and warns in the synth.
    Grant access on ``bucket`` (its grants include the site key).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        zone: str,
        key: kms.IKey,
        access_logs: s3.IBucket,
        expiration_days: int,
        infrequent_access_after_days: int | None = None,
        object_lock_days: int | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if zone not in ZONES:
            problems.append(f"zone {zone!r} is not one of {', '.join(ZONES)}; fix: use one of them")
        if expiration_days < 1:
            problems.append(f"expiration_days {expiration_days} is below 1; fix: keep objects at least a day")
        if infrequent_access_after_days is not None and infrequent_access_after_days >= expiration_days:
            problems.append(
                f"infrequent_access_after_days {infrequent_access_after_days} must be below expiration_days "
                f"{expiration_days}; fix: lower it or keep objects longer"
            )
        if object_lock_days is not None and not 1 <= object_lock_days <= expiration_days:
            problems.append(
                f"object_lock_days {object_lock_days} is outside 1-{expiration_days} (expiration_days); "
                "fix: lock objects at least a day and no longer than they are kept"
            )
        if problems:
            raise ValueError(f"LakeBucket {construct_id}: " + "; ".join(problems))
        if removal_policy == RemovalPolicy.DESTROY:
            Annotations.of(self).add_warning_v2(
                "dmc:lake-bucket-destroyed",
                f"the {zone} zone bucket is deleted with its stack (removal_policy DESTROY); its data is lost",
            )
        self.zone = zone
        lock = object_lock_days is not None
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=f"{zone}/",
            object_lock_enabled=lock,
            object_lock_default_retention=(
                s3.ObjectLockRetention.compliance(Duration.days(object_lock_days))
                if object_lock_days is not None
                else None
            ),
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ZoneRetention",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(infrequent_access_after_days),
                        )
                    ]
                    if infrequent_access_after_days is not None
                    else None,
                    expiration=Duration.days(expiration_days),
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=removal_policy,
        )
        Tags.of(self.bucket).add(tag_keys.ZONE, zone)
        account = Stack.of(self).account
        # Writers must not pick another encryption than the site key's KMS.
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyNonKmsWrites",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects("*")],
                conditions={"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            )
        )
        # Plant data stays in the site's account: any other principal is refused,
        # AWS services acting for this account (e.g. Firehose, Glue) excepted.
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyOtherAccounts",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:*"],
                resources=[self.bucket.bucket_arn, self.bucket.arn_for_objects("*")],
                conditions={
                    "StringNotEquals": {"aws:PrincipalAccount": account},
                    "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
                },
            )
        )
        acknowledge(
            cast(s3.CfnBucket, self.bucket.node.default_child),
            in_regulatory_packs("S3BucketReplicationEnabled"),
            "The lake stays in the site's home region for residency; durability comes from S3's multi-AZ "
            "storage, versioning and RETAIN, and a replica region is a site-model decision not yet offered.",
        )
