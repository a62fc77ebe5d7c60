"""One zone of the data lake: an S3 bucket with the site's controls built in."""

from __future__ import annotations

from typing import cast

from aws_cdk import Annotations, Duration, RemovalPolicy, Tags, Token
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from factory_constructs.site_bucket import deny_non_kms_writes, deny_other_accounts, site_bucket
from policies import tag_keys
from policies.acknowledge import acknowledge, in_regulatory_packs

ZONES = ("raw", "conformed", "curated")
# S3 refuses a lifecycle transition to Standard-IA earlier than this (PutBucketLifecycleConfiguration).
MIN_INFREQUENT_ACCESS_DAYS = 30


def _known(days: int | None) -> int | None:
    """The value to validate, or None when it is unset or a token (S3 checks a token at deploy time)."""
    return None if days is None or Token.is_unresolved(days) else days


class LakeBucket(Construct):
    """A zone bucket: site key with bucket keys, versioning, TLS only, KMS-only writes,
    only principals of the site's account, access logs, lifecycle and optional Object Lock.

    ``expiration_days``: objects (current versions) expire after that many days; None: never by lifecycle
    (a bucket of Iceberg tables, whose jobs expire rows and snapshots: a lifecycle rule would delete data
    files that live snapshots still reference).
    ``infrequent_access_after_days`` (default None): objects move to S3 Standard-IA after that many days
    (at least 30, below ``expiration_days``); None keeps them in S3 Standard until they expire.
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
        expiration_days: int | None,
        infrequent_access_after_days: int | None = None,
        object_lock_days: int | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if zone not in ZONES:
            problems.append(f"zone {zone!r} is not one of {', '.join(ZONES)}; fix: use one of them")
        expiration = _known(expiration_days)
        if expiration is not None and expiration < 1:
            problems.append(f"expiration_days {expiration} is below 1; fix: keep objects at least a day")
        infrequent_access = _known(infrequent_access_after_days)
        if infrequent_access is not None and infrequent_access < MIN_INFREQUENT_ACCESS_DAYS:
            problems.append(
                f"infrequent_access_after_days {infrequent_access} is below {MIN_INFREQUENT_ACCESS_DAYS}, "
                "S3's earliest transition to Standard-IA; "
                f"fix: raise it to at least {MIN_INFREQUENT_ACCESS_DAYS}, or None to stay in S3 Standard"
            )
        if infrequent_access is not None and expiration is not None and infrequent_access >= expiration:
            problems.append(
                f"infrequent_access_after_days {infrequent_access} must be below expiration_days "
                f"{expiration}; fix: lower it or keep objects longer"
            )
        lock_days = _known(object_lock_days)
        if lock_days is not None and expiration is not None and not 1 <= lock_days <= expiration:
            problems.append(
                f"object_lock_days {lock_days} is outside 1-{expiration} (expiration_days); "
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
        self.bucket = site_bucket(
            self,
            "Bucket",
            key=key,
            access_logs=access_logs,
            access_log_prefix=f"{zone}/",
            object_lock_days=object_lock_days,
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
                    expiration=Duration.days(expiration_days) if expiration_days is not None else None,
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=removal_policy,
        )
        Tags.of(self.bucket).add(tag_keys.ZONE, zone)
        deny_non_kms_writes(self.bucket)
        deny_other_accounts(self.bucket)
        acknowledge(
            cast(s3.CfnBucket, self.bucket.node.default_child),
            in_regulatory_packs("S3BucketReplicationEnabled"),
            "The lake stays in the site's home region for residency; durability comes from S3's multi-AZ "
            "storage, versioning and RETAIN, and a replica region is a site-model decision not yet offered.",
            backed_by=("GxP::GxP-S3Versioned",),
        )
