"""The two Glue jobs of a site's lake and the workflow that runs them hourly, in order."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as assets
from constructs import Construct

from factory_constructs.etl.glue_jobs.dmc_etl.catalog import GLUE_CATALOG, glue_catalog_conf, glue_conf_argument
from factory_constructs.etl.lake_catalog import LakeCatalog
from factory_constructs.grant_findings import acknowledge_grant_policy, asset_objects, resource_wildcard
from factory_constructs.packaging import ENVELOPE, staged
from policies.acknowledge import acknowledge

GLUE_JOBS = Path(__file__).resolve().parent / "glue_jobs"
# Spark 3.5.6 with Iceberg 1.10.0 (--datalake-formats iceberg): the engine the ETL tests run on.
GLUE_VERSION = "5.1"
# The Glue Data Catalog actions an Iceberg job could reach; the job role is denied them outside the
# lake's Iceberg tables, because the Glue service policy the jobs run with allows glue:* everywhere.
CATALOG_ACTIONS = ["glue:*Database*", "glue:*Table*", "glue:*Partition*"]
# Late data from a gateway's spool is picked up by the next hourly run.
SCHEDULE = "cron(15 * * * ? *)"
GLUE_SERVICE_POLICY = "service-role/AWSGlueServiceRole"
# How much of a bad --site_config a message shows.
_SHOWN_CHARS = 60
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


class EtlJobs(Construct):
    """raw -> conformed and conformed -> curated, as Glue jobs whose code ships as assets.

    Both run on Glue 5.1 with Iceberg, under a security configuration with the site keys (S3 output,
    logs, bookmarks), with metrics and continuous logs on, in a workflow: hourly, then the curated job
    on the conformed job's success. They read and write the lake ``catalog`` describes: raw_to_conformed
    reads the raw objects modified since its last successful run (its watermark, under
    ``s3://<conformed bucket>/_state/raw_to_conformed/``) and merges them into the conformed Iceberg
    tables; conformed_to_curated recomputes the curated windows that received new conformed rows since
    the snapshot it last processed (kept under ``s3://<curated bucket>/_state/conformed_to_curated/``).
    Tables are named ``glue_catalog.<database>.<table>``: the Spark catalog ``glue_catalog`` is the
    account's Glue Data Catalog (``--conf``), with ``s3://<curated bucket>/warehouse/`` for tables the
    jobs would create (the stack creates them all). The job role may use the Data Catalog for the
    conformed and curated databases and tables only.

    ``site_config`` is passed verbatim as ``--site_config``: the text of a JSON object, which the
    jobs parse with ``dmc_etl.config.parse_site_config`` before any Spark work.

    ``event_bus`` (default None: the jobs publish nothing): the site's bus, on which conformed_to_curated
    publishes a "new curated data" event and the KPI summaries of the shifts it recomputed
    (``dmc_etl.events``) once its tables have committed; the role may put events on that bus only.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_id: str,
        site_config: str,
        catalog: LakeCatalog,
        key: kms.IKey,
        logs_key: kms.IKey,
        event_bus: events.IEventBus | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        problem = _site_config_problem(site_config)
        if problem:
            raise ValueError(f"EtlJobs {construct_id}: {problem}")
        stack = Stack.of(self)
        raw, conformed, curated = (catalog.buckets[zone] for zone in ("raw", "conformed", "curated"))
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
        catalog.grant_iceberg_commits(self.role)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="OnlyTheLakesIcebergTables",
                effect=iam.Effect.DENY,
                actions=CATALOG_ACTIONS,
                not_resources=catalog.iceberg_resource_arns,
            )
        )
        common = {
            "--catalog": GLUE_CATALOG,
            "--conformed_database": catalog.database_names["conformed"],
            "--site_config": site_config,
            "--datalake-formats": "iceberg",
            "--conf": glue_conf_argument(glue_catalog_conf(GLUE_CATALOG, f"s3://{curated.bucket_name}/warehouse/")),
            "--extra-py-files": library.s3_object_url,
            # Glue bookmarks only track DynamicFrame reads; raw_to_conformed parses raw lines itself and keeps
            # the equivalent high-water mark of object modification times under --watermark_path.
            "--job-bookmark-option": "job-bookmark-disable",
            "--enable-metrics": "true",
            "--enable-observability-metrics": "true",
            "--enable-continuous-cloudwatch-log": "true",
            "--job-language": "python",
        }
        self.raw_to_conformed = self._job(
            "RawToConformed",
            "raw_to_conformed.py",
            {
                "--raw_path": f"s3://{raw.bucket_name}/tags/",
                "--watermark_path": f"s3://{conformed.bucket_name}/_state/raw_to_conformed/",
                "--retention_days": str(catalog.retention_days["conformed"]),
                **common,
            },
            workers=4,
        )
        announcing: dict[str, str] = {}
        if event_bus is not None:
            announcing["--event_bus"] = event_bus.event_bus_arn
            # PutEvents alone: EventBridge encrypts with a bus's customer key under its own grant in that
            # key's policy (EventBus(kms_key=...) adds it), not with the caller's, so the role needs no KMS
            # action for the bus. Glue jobs run outside the VPC: no endpoint either.
            event_bus.grant_put_events_to(self.role)
        self.conformed_to_curated = self._job(
            "ConformedToCurated",
            "conformed_to_curated.py",
            {
                "--curated_database": catalog.database_names["curated"],
                "--state_path": f"s3://{curated.bucket_name}/_state/conformed_to_curated/",
                "--retention_days": str(catalog.retention_days["curated"]),
                **announcing,
                **common,
            },
            workers=2,
        )
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
            "Glue API); the lake, key and asset access is granted separately per resource, and the role's "
            "own policy denies the Data Catalog outside the lake's Iceberg tables.",
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
