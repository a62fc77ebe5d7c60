"""The Athena workgroup the site API queries the lake through, and the bucket of its query results."""

from __future__ import annotations

import re
from typing import cast

from aws_cdk import Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_athena as athena
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from factory_constructs.site_bucket import deny_non_kms_writes, deny_other_accounts, site_bucket
from policies.acknowledge import acknowledge, in_regulatory_packs

ENGINE_VERSION = "Athena engine version 3"  # the engine that reads Iceberg tables
RESULTS_PREFIX = "results/"
# Athena refuses a per-query cutoff below 10 MB.
MIN_SCAN_LIMIT_BYTES = 10_000_000
WORKGROUP_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# An API cursor pages through one query's results: they outlive any cursor a caller still holds.
DEFAULT_RESULTS_DAYS = 7


class QueryWorkgroup(Construct):
    """An Athena workgroup named ``name`` (1-128 of ``A-Z a-z 0-9 . _ -``) whose settings override the
    client's: engine version 3, results under ``results/`` of its own bucket, encrypted with ``key``
    (SSE-KMS), a query cancelled after scanning ``scan_limit_bytes`` (at least 10 MB), CloudWatch metrics on.

    The results bucket has the lake's controls (site key, versioning, TLS only, KMS-only writes, this
    account only, access logs to ``access_logs`` under ``athena-results/``) and expires results after
    ``results_days`` (default 7): they are copies of lake rows, not records.
    ``removal_policy`` (default RETAIN): the results bucket. Grant querying with ``grant_query``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        key: kms.IKey,
        access_logs: s3.IBucket,
        scan_limit_bytes: int,
        results_days: int = DEFAULT_RESULTS_DAYS,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if not Token.is_unresolved(name) and not WORKGROUP_NAME.match(name):
            problems.append(f"name {name!r} is not 1-128 characters of A-Z a-z 0-9 . _ -; fix: use e.g. plantA-api")
        if not Token.is_unresolved(scan_limit_bytes) and scan_limit_bytes < MIN_SCAN_LIMIT_BYTES:
            problems.append(
                f"scan_limit_bytes {scan_limit_bytes} is below {MIN_SCAN_LIMIT_BYTES}, Athena's smallest cutoff; "
                "fix: raise it"
            )
        if not Token.is_unresolved(results_days) and results_days < 1:
            problems.append(f"results_days {results_days} is below 1; fix: keep results at least a day")
        if problems:
            raise ValueError(f"QueryWorkgroup {construct_id}: " + "; ".join(problems))
        stack = Stack.of(self)
        self.name = name
        self.results = site_bucket(
            self,
            "Results",
            key=key,
            access_logs=access_logs,
            access_log_prefix="athena-results/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireResults",
                    expiration=Duration.days(results_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal_policy,
        )
        deny_non_kms_writes(self.results)
        deny_other_accounts(self.results)
        acknowledge(
            cast(s3.CfnBucket, self.results.node.default_child),
            in_regulatory_packs("S3BucketReplicationEnabled"),
            "Query results are short-lived copies of lake rows that expire within days and can be recomputed "
            "from the lake; a replica in another region would only move plant data out of its home region.",
        )
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=name,
            description="Site API queries over the conformed and curated zones",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=scan_limit_bytes,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version=ENGINE_VERSION),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results.bucket_name}/{RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                    expected_bucket_owner=stack.account,
                ),
            ),
        )
        self.workgroup_arn = stack.format_arn(service="athena", resource="workgroup", resource_name=name)

    def grant_query(self, grantee: iam.IGrantable) -> iam.Grant:
        """Run queries in this workgroup and read their results: Athena writes and reads the results with the
        caller's permissions. The tables' catalog entries and data are granted separately."""
        self.results.grant_read_write(grantee, f"{RESULTS_PREFIX}*")
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "athena:GetWorkGroup",
                "athena:StartQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:StopQueryExecution",
            ],
            resource_arns=[self.workgroup_arn],
        )
