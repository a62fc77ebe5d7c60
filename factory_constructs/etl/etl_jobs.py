"""The two Glue jobs of a site's lake and the workflow that runs them hourly, in order."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Stack, Token
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as assets
from constructs import Construct

from factory_constructs.grant_findings import acknowledge_grant_policy, asset_objects, resource_wildcard
from factory_constructs.packaging import ENVELOPE, staged
from policies.acknowledge import acknowledge

GLUE_JOBS = Path(__file__).resolve().parent / "glue_jobs"
GLUE_VERSION = "5.0"
# Late data from a gateway's spool is picked up by the next hourly run.
SCHEDULE = "cron(15 * * * ? *)"
GLUE_SERVICE_POLICY = "service-role/AWSGlueServiceRole"
# How much of a bad --site_config a message shows.
_SHOWN_CHARS = 60
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


class EtlJobs(Construct):
    """raw -> conformed and conformed -> curated, as Glue jobs whose code ships as assets.

    Both run under a security configuration with the site keys (S3 output, logs,
    bookmarks), with metrics and continuous logs on, in a workflow: hourly, then the
    curated job on the conformed job's success. raw_to_conformed reads only raw objects
    modified since its last successful run (its watermark); conformed_to_curated
    recomputes the last ``--lookback_days`` days.

    ``site_config`` is passed verbatim as ``--site_config``: the text of a JSON object, which the
    jobs parse with ``dmc_etl.config.parse_site_config`` before any Spark work.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_id: str,
        site_config: str,
        raw: s3.IBucket,
        conformed: s3.IBucket,
        curated: s3.IBucket,
        key: kms.IKey,
        logs_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        problem = _site_config_problem(site_config)
        if problem:
            raise ValueError(f"EtlJobs {construct_id}: {problem}")
        stack = Stack.of(self)
        self.security_configuration = glue.CfnSecurityConfiguration(
            self,
            "SecurityConfiguration",
            name=f"{site_id}-etl-{stack.region}",
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(
                        s3_encryption_mode="SSE-KMS", kms_key_arn=key.key_arn
                    )
                ],
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=logs_key.key_arn
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=key.key_arn
                ),
            ),
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(GLUE_SERVICE_POLICY)],
        )
        library = assets.Asset(self, "Library", path=str(staged(GLUE_JOBS / "dmc_etl", ENVELOPE)))
        library.grant_read(self.role)
        raw.grant_read(self.role)
        conformed.grant_read_write(self.role)
        curated.grant_read_write(self.role)
        key.grant_encrypt_decrypt(self.role)
        logs_key.grant_encrypt_decrypt(self.role)
        arguments = {
            "--raw_path": f"s3://{raw.bucket_name}/tags/",
            "--conformed_path": f"s3://{conformed.bucket_name}/tag_values/",
            "--rejects_path": f"s3://{conformed.bucket_name}/rejects/",
            "--watermark_path": f"s3://{conformed.bucket_name}/_state/raw_to_conformed/",
            "--curated_path": f"s3://{curated.bucket_name}/",
            "--site_config": site_config,
            "--extra-py-files": library.s3_object_url,
            # Glue bookmarks only track DynamicFrame reads; raw_to_conformed parses raw lines itself and keeps
            # the equivalent high-water mark of object modification times under --watermark_path.
            "--job-bookmark-option": "job-bookmark-disable",
            "--enable-metrics": "true",
            "--enable-observability-metrics": "true",
            "--enable-continuous-cloudwatch-log": "true",
            "--job-language": "python",
        }
        self.raw_to_conformed = self._job("RawToConformed", "raw_to_conformed.py", arguments, workers=4)
        self.conformed_to_curated = self._job("ConformedToCurated", "conformed_to_curated.py", arguments, workers=2)
        self.workflow = glue.CfnWorkflow(self, "Workflow", description=f"Hourly lake refresh of {site_id}")
        glue.CfnTrigger(
            self,
            "Hourly",
            type="SCHEDULED",
            schedule=SCHEDULE,
            start_on_creation=True,
            workflow_name=self.workflow.ref,
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.raw_to_conformed.ref)],
        )
        glue.CfnTrigger(
            self,
            "AfterConformed",
            type="CONDITIONAL",
            start_on_creation=True,
            workflow_name=self.workflow.ref,
            predicate=glue.CfnTrigger.PredicateProperty(
                conditions=[
                    glue.CfnTrigger.ConditionProperty(
                        job_name=self.raw_to_conformed.ref, logical_operator="EQUALS", state="SUCCEEDED"
                    )
                ]
            ),
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.conformed_to_curated.ref)],
        )
        acknowledge(
            self.role,
            "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSGlueServiceRole]",
            "Glue jobs need the service's own role policy for their runtime (CloudWatch metrics, ENIs, the "
            "Glue API); the lake, key and asset access is granted separately per resource.",
        )
        acknowledge_grant_policy(
            self.role,
            [
                (
                    resource_wildcard(bucket, "/*"),
                    f"The ETL reads or rewrites partitions anywhere in the {zone} zone; the wildcard covers that "
                    "one bucket's objects.",
                )
                for zone, bucket in (("raw", raw), ("conformed", conformed), ("curated", curated))
            ]
            + [asset_objects(stack, "The jobs")],
        )

    def _job(self, construct_id: str, script: str, arguments: dict[str, str], *, workers: int) -> glue.CfnJob:
        code = assets.Asset(self, f"{construct_id}Script", path=str(GLUE_JOBS / script))
        code.grant_read(self.role)
        return glue.CfnJob(
            self,
            construct_id,
            role=self.role.role_arn,
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3", script_location=code.s3_object_url
            ),
            glue_version=GLUE_VERSION,
            worker_type="G.1X",
            number_of_workers=workers,
            max_retries=1,
            timeout=120,
            default_arguments=arguments,
            security_configuration=self.security_configuration.ref,
            execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=1),
        )


def _site_config_problem(site_config: str) -> str | None:
    """Why ``site_config`` is not the text of a JSON object, or None (also for an unresolved token)."""
    if Token.is_unresolved(site_config):
        return None
    shown = site_config if len(site_config) <= _SHOWN_CHARS else site_config[: _SHOWN_CHARS - 3] + "..."
    fix = "fix: pass the site's ETL config as a JSON object text, e.g. json.dumps of a dict"
    try:
        value = json.loads(site_config)
    except json.JSONDecodeError as error:
        return f"site_config {shown!r} is not JSON ({error}); {fix}"
    if not isinstance(value, dict):
        kind = "null" if value is None else _JSON_TYPES[type(value)]
        return f"site_config {shown!r} is {kind}, not a JSON object; {fix}"
    return None
