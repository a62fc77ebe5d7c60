"""The site's CloudTrail trail in its region: who read or changed its records, kept tamper-evident."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import cast

from aws_cdk import Duration, RemovalPolicy, Stack, Tags, Token
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from factory_constructs.grant_findings import acknowledge_grant_policy
from factory_constructs.site_bucket import deny_other_accounts, site_bucket
from policies import tag_keys
from policies.acknowledge import acknowledge, in_regulatory_packs

# CloudTrail's rule for trail names (CreateTrail): 3-128 letters, digits, periods, underscores and dashes,
# starting and ending with a letter or digit.
TRAIL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]$")
# One basic event selector holds at most 250 data resources (CloudTrail PutEventSelectors).
MAX_DATA_EVENT_BUCKETS = 250
ACCESS_LOG_PREFIX = "trail/"


class AuditTrail(Construct):
    """A single-region trail named ``name`` that records every object-level read and write (S3 data events) of
    ``data_event_buckets`` and, with ``management_events``, the region's management events.

    Log-file validation is on (CloudTrail signs a digest file every hour, so a changed or deleted log file is
    detected). The log files go to the trail's own bucket: encrypted with ``key`` (SSE-KMS, bucket keys),
    versioned, TLS only, this account's principals and AWS services only, server access logs to
    ``access_logs`` under ``trail/``, kept ``retention_days`` and, with ``lock_days``, under Object Lock in
    compliance mode for that many days (no one, not even root, can delete or overwrite them sooner). A copy goes
    to a CloudWatch Logs group encrypted with ``key`` and kept ``log_retention``, for queries and alarms.
    When ``access_logs`` is one of ``data_event_buckets`` (a site's is), S3's delivery of the trail bucket's
    access logs is itself a data event of a later log file: a small steady overhead, not a growing loop, because
    S3 batches access logs and CloudTrail batches events into files it delivers every few minutes anyway.

    ``name``: unique in the account and region (the key policy admits CloudTrail for this one trail).
    ``key``: must be a key of this app (a ``kms.Key``): the trail adds CloudTrail's grant to its key policy.
    ``management_events`` (default False): one trail per account and region records them (the site that
    provides the region baseline); a second copy would double the bill and the evidence to reconcile.
    ``lock_days`` (default None): no Object Lock; at most ``retention_days``.
    ``removal_policy`` (default RETAIN): the bucket and the log group; the trail itself always goes with its stack.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        key: kms.IKey,
        access_logs: s3.IBucket,
        data_event_buckets: Sequence[s3.IBucket],
        retention_days: int,
        log_retention: logs.RetentionDays,
        management_events: bool = False,
        lock_days: int | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if not Token.is_unresolved(name) and not TRAIL_NAME.match(name):
            problems.append(
                f"name {name!r} is not 3-128 letters, digits, '.', '_' or '-' starting and ending with a letter "
                "or digit; fix: use e.g. plantA-audit"
            )
        if not data_event_buckets and not management_events:
            problems.append(
                "the trail would record nothing (no data_event_buckets and no management_events); "
                "fix: name the site's buckets or record management events"
            )
        if len(data_event_buckets) > MAX_DATA_EVENT_BUCKETS:
            problems.append(
                f"{len(data_event_buckets)} data_event_buckets exceed the {MAX_DATA_EVENT_BUCKETS} one event "
                "selector holds; fix: record fewer buckets"
            )
        known_retention = None if Token.is_unresolved(retention_days) else retention_days
        if known_retention is not None and known_retention < 1:
            problems.append(f"retention_days {known_retention} is below 1; fix: keep log files at least a day")
        known_lock = None if lock_days is None or Token.is_unresolved(lock_days) else lock_days
        if known_lock is not None and known_retention is not None and not 1 <= known_lock <= known_retention:
            problems.append(
                f"lock_days {known_lock} is outside 1-{known_retention} (retention_days); "
                "fix: lock log files at least a day and no longer than they are kept"
            )
        if problems:
            raise ValueError(f"AuditTrail {construct_id}: " + "; ".join(problems))
        stack = Stack.of(self)
        self.name = name
        self.data_event_buckets = tuple(data_event_buckets)
        self.bucket = site_bucket(
            self,
            "Bucket",
            key=key,
            access_logs=access_logs,
            access_log_prefix=ACCESS_LOG_PREFIX,
            object_lock_days=lock_days,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="TrailRetention",
                    expiration=Duration.days(retention_days),
                    # CloudTrail never overwrites a log file: a noncurrent version is one somebody deleted,
                    # which stays recoverable as long as the file would have been kept.
                    noncurrent_version_expiration=Duration.days(retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=removal_policy,
        )
        Tags.of(self.bucket).add(tag_keys.RECORD, tag_keys.AUDIT_RECORD)
        deny_other_accounts(self.bucket)
        trail_arn = stack.format_arn(service="cloudtrail", resource="trail", resource_name=name)
        self._admit_cloudtrail(key, trail_arn)
        self.log_group = logs.LogGroup(
            self, "LogGroup", encryption_key=key, retention=log_retention, removal_policy=removal_policy
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            trail_name=name,
            bucket=self.bucket,
            encryption_key=key,
            enable_file_validation=True,
            is_multi_region_trail=False,
            # Global services (IAM, STS, CloudFront) log to us-east-1; only the management trail takes them.
            include_global_service_events=management_events,
            management_events=cloudtrail.ReadWriteType.ALL if management_events else cloudtrail.ReadWriteType.NONE,
            send_to_cloud_watch_logs=True,
            cloud_watch_log_group=self.log_group,
        )
        if data_event_buckets:
            self.trail.add_s3_event_selector(
                [cloudtrail.S3EventSelector(bucket=bucket) for bucket in data_event_buckets],
                read_write_type=cloudtrail.ReadWriteType.ALL,
                include_management_events=False,  # the management selector above takes them, once
            )
        acknowledge(
            cast(s3.CfnBucket, self.bucket.node.default_child),
            in_regulatory_packs("S3BucketReplicationEnabled"),
            "The trail's log files stay in the site's region for residency; each is signed by log-file "
            "validation and versioned, and a replica region is a site-model decision not yet offered.",
            backed_by=("GxP::GxP-S3Versioned",),
        )
        logs_role = self.trail.node.find_child("LogsRole")
        acknowledge_grant_policy(cast(iam.IRole, logs_role))

    def _admit_cloudtrail(self, key: kms.IKey, trail_arn: str) -> None:
        """CloudTrail encrypts this trail's files with ``key`` (AWS CloudTrail user guide, 'Configure AWS KMS key
        policies for CloudTrail'): scoped to this trail by its ARN and the encryption context."""
        service = iam.ServicePrincipal("cloudtrail.amazonaws.com")
        added = [
            key.add_to_resource_policy(statement).statement_added
            for statement in (
                iam.PolicyStatement(
                    sid="CloudTrailEncryptsItsLogFiles",
                    principals=[service],
                    actions=["kms:GenerateDataKey*"],
                    resources=["*"],  # in a key policy "*" means this key
                    conditions={
                        "StringEquals": {"aws:SourceArn": trail_arn},
                        "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trail_arn},
                    },
                ),
                iam.PolicyStatement(
                    sid="CloudTrailDescribesTheKey",
                    principals=[service],
                    actions=["kms:DescribeKey"],
                    resources=["*"],
                    conditions={"StringEquals": {"aws:SourceArn": trail_arn}},
                ),
            )
        ]
        if not all(added):
            raise ValueError(
                f"AuditTrail {self.node.id}: key {key.node.path} does not accept key-policy statements (an imported "
                "key); fix: pass the site's kms.Key, whose policy this construct extends for CloudTrail"
            )
