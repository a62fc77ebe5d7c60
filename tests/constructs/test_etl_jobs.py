"""EtlJobs on a bare stack (with the LakeCatalog it runs against): security configuration, jobs and their
arguments, workflow, the role's grants, validation, nag."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aws_cdk import CfnParameter, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from construct_helpers import ACCOUNT, REGION, access_logs, bare_stack, site_keys, unacknowledged_findings
from factory_constructs.etl.etl_jobs import GLUE_JOBS, EtlJobs
from factory_constructs.etl.lake_catalog import LakeCatalog
from factory_constructs.lake.lake_bucket import LakeBucket
from site_model.etl_config import site_config_argument
from synth_helpers import example_sites

pytestmark = pytest.mark.synth

ASSETS_BUCKET = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"
READ = ["s3:GetObject*", "s3:GetBucket*", "s3:List*"]
READ_WRITE = [
    *READ,
    "s3:DeleteObject*",
    "s3:PutObject",
    "s3:PutObjectLegalHold",
    "s3:PutObjectRetention",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:Abort*",
]
ENCRYPT_DECRYPT = ["kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"]
FIX = "fix: pass the site's ETL config as a JSON object text, e.g. json.dumps of a dict"
ICEBERG_TABLES = {
    "conformed": ["tag_values", "rejects"],
    "curated": ["tag_minute", "tag_hour", "line_shift_oee", "downtime_events"],
}


def glue_arn(resource: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":glue:{REGION}:{ACCOUNT}:{resource}"]]}


# The Data Catalog resources of the lake's Iceberg tables: the catalog, the two databases, the six tables.
ICEBERG_RESOURCE_ARNS = [
    glue_arn("catalog"),
    glue_arn("database/planta_conformed"),
    glue_arn("database/planta_curated"),
    *(glue_arn(f"table/planta_{zone}/{table}") for zone, tables in ICEBERG_TABLES.items() for table in tables),
]
ICEBERG_CONF = (
    "spark.sql.extensions=org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
    " --conf spark.sql.catalog.glue_catalog=org.apache.iceberg.spark.SparkCatalog"
    " --conf spark.sql.catalog.glue_catalog.catalog-impl=org.apache.iceberg.aws.glue.GlueCatalog"
    " --conf spark.sql.catalog.glue_catalog.io-impl=org.apache.iceberg.aws.s3.S3FileIO"
    " --conf spark.sql.catalog.glue_catalog.warehouse=s3://"
)


def plant_a_config() -> str:
    return site_config_argument(example_sites()["plantA"])


class Built(NamedTuple):
    stack: Stack
    buckets: dict[str, s3.IBucket]
    key: kms.IKey
    logs_key: kms.IKey
    etl: EtlJobs

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)

    def s3_url(self, zone: str, path: str) -> Any:
        return self.resolve(f"s3://{self.buckets[zone].bucket_name}/{path}")

    def ref(self, construct: Any) -> Any:
        return self.resolve(construct.ref)

    def job_properties(self, job_id: str) -> dict[str, Any]:
        job = self.etl.node.find_child(job_id)
        return self.template().to_json()["Resources"][self.stack.get_logical_id(job)]["Properties"]  # type: ignore[arg-type]

    def staged_asset(self, url: str) -> Path:
        """The file or folder that a ``s3://<assets bucket>/<hash>.<ext>`` URL ships, as the synth staged it."""
        match = re.fullmatch(rf"s3://{re.escape(ASSETS_BUCKET)}/([0-9a-f]{{64}})\.(py|zip)", url)
        assert match, url
        digest, extension = match.groups()
        outdir = Path(self.stack.node.root.outdir)  # type: ignore[attr-defined]
        return outdir / (f"asset.{digest}.py" if extension == "py" else f"asset.{digest}")


def catalog(stack: Stack, key: kms.IKey, buckets: Mapping[str, s3.IBucket]) -> LakeCatalog:
    """The catalog of site plantA's lake on ``buckets``."""
    return LakeCatalog(
        stack,
        "Catalog",
        site_id="plantA",
        areas=["filling"],
        lines=["line1"],
        raw=buckets["raw"],
        conformed=buckets["conformed"],
        curated=buckets["curated"],
        key=key,
        conformed_retention_days=400,
        curated_retention_days=400,
    )


def build(site_config: str | None = None, *, stack: Stack | None = None, with_bus: bool = False) -> Built:
    """EtlJobs "Etl" of site plantA on plain buckets, their catalog and the site keys; ``site_config``
    defaults to plantA's; ``with_bus``: an event bus "Bus" (encrypted with the data key) to announce on."""
    stack = stack or bare_stack()
    keys = site_keys(stack)
    buckets: dict[str, s3.IBucket] = {zone: s3.Bucket(stack, zone.title()) for zone in ("raw", "conformed", "curated")}
    etl = EtlJobs(
        stack,
        "Etl",
        site_id="plantA",
        site_config=plant_a_config() if site_config is None else site_config,
        catalog=catalog(stack, keys.data, buckets),
        key=keys.data,
        logs_key=keys.logs,
        event_bus=events.EventBus(stack, "Bus", kms_key=keys.data) if with_bus else None,
    )
    return Built(stack, buckets, keys.data, keys.logs, etl)


@pytest.fixture(scope="module")
def default() -> Built:
    return build()


# --- security configuration -----------------------------------------------------------------------------


def test_security_configuration_encrypts_output_and_bookmarks_with_the_key_and_logs_with_the_logs_key(
    default: Built,
) -> None:
    key_arn, logs_key_arn = default.resolve(default.key.key_arn), default.resolve(default.logs_key.key_arn)
    default.template().has_resource_properties(
        "AWS::Glue::SecurityConfiguration",
        Match.exact(
            {
                "Name": f"plantA-etl-{REGION}",
                "EncryptionConfiguration": {
                    "S3Encryptions": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": key_arn}],
                    "CloudWatchEncryption": {"CloudWatchEncryptionMode": "SSE-KMS", "KmsKeyArn": logs_key_arn},
                    "JobBookmarksEncryption": {"JobBookmarksEncryptionMode": "CSE-KMS", "KmsKeyArn": key_arn},
                },
            }
        ),
    )


# --- jobs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("job_id", "workers"), [("RawToConformed", 4), ("ConformedToCurated", 2)])
def test_each_job_runs_glue_5_1_on_g1x_workers_once_at_a_time_under_the_security_configuration(
    default: Built, job_id: str, workers: int
) -> None:
    properties = default.job_properties(job_id)
    # No "Name": Glue job names are generated.
    assert {key: value for key, value in properties.items() if key not in ("Command", "DefaultArguments", "Tags")} == {
        "GlueVersion": "5.1",
        "WorkerType": "G.1X",
        "NumberOfWorkers": workers,
        "Timeout": 120,
        "MaxRetries": 1,
        "ExecutionProperty": {"MaxConcurrentRuns": 1},
        "Role": default.resolve(default.etl.role.role_arn),
        "SecurityConfiguration": default.ref(default.etl.security_configuration),
    }
    assert {key: value for key, value in properties["Command"].items() if key != "ScriptLocation"} == {
        "Name": "glueetl",
        "PythonVersion": "3",
    }


@pytest.mark.parametrize(
    ("job_id", "script"), [("RawToConformed", "raw_to_conformed.py"), ("ConformedToCurated", "conformed_to_curated.py")]
)
def test_each_jobs_script_location_is_an_asset_of_its_own_script(default: Built, job_id: str, script: str) -> None:
    location = default.job_properties(job_id)["Command"]["ScriptLocation"]
    assert default.staged_asset(location).read_bytes() == (GLUE_JOBS / script).read_bytes()


def common_arguments(built: Built, arguments: dict[str, Any]) -> dict[str, Any]:
    """What both jobs get: the Iceberg catalog and its settings, the conformed database, the site config,
    the library, and metrics and logs."""
    return {
        "--catalog": "glue_catalog",
        "--conformed_database": "planta_conformed",
        "--site_config": plant_a_config(),
        "--datalake-formats": "iceberg",
        "--conf": {
            "Fn::Join": ["", [ICEBERG_CONF, built.resolve(built.buckets["curated"].bucket_name), "/warehouse/"]]
        },
        "--extra-py-files": arguments["--extra-py-files"],
        "--job-bookmark-option": "job-bookmark-disable",
        "--enable-metrics": "true",
        "--enable-observability-metrics": "true",
        "--enable-continuous-cloudwatch-log": "true",
        "--job-language": "python",
    }


def test_the_conformed_job_gets_the_raw_folder_its_watermark_folder_and_the_conformed_database(
    default: Built,
) -> None:
    arguments = default.job_properties("RawToConformed")["DefaultArguments"]
    assert arguments == {
        "--raw_path": default.s3_url("raw", "tags/"),
        "--watermark_path": default.s3_url("conformed", "_state/raw_to_conformed/"),
        "--retention_days": "400",  # the catalog's conformed retention: the job deletes older days
        **common_arguments(default, arguments),
    }


def test_the_curated_job_gets_both_databases_and_its_state_folder(default: Built) -> None:
    arguments = default.job_properties("ConformedToCurated")["DefaultArguments"]
    # No --lookback_days: the job recomputes the windows that received new rows; a backfill passes it.
    assert arguments == {
        "--curated_database": "planta_curated",
        "--state_path": default.s3_url("curated", "_state/conformed_to_curated/"),
        "--retention_days": "400",  # the catalog's curated retention
        **common_arguments(default, arguments),
    }


@pytest.fixture(scope="module")
def announcing() -> Built:
    return build(with_bus=True)


def bus_arn(built: Built) -> Any:
    bus = built.stack.node.find_child("Bus")
    assert isinstance(bus, events.EventBus)
    return built.resolve(bus.event_bus_arn)


def test_with_an_event_bus_the_curated_job_gets_it_and_the_conformed_job_does_not(announcing: Built) -> None:
    assert announcing.job_properties("ConformedToCurated")["DefaultArguments"]["--event_bus"] == bus_arn(announcing)
    assert "--event_bus" not in announcing.job_properties("RawToConformed")["DefaultArguments"]


def put_events_statements(built: Built) -> list[dict[str, Any]]:
    """The statements of the role's policy that allow events:PutEvents."""
    (policy,) = (
        built.template()
        .find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [built.resolve(built.etl.role.role_name)]}})
        .values()
    )
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = [[s["Action"]] if isinstance(s["Action"], str) else s["Action"] for s in statements]
    return [statement for statement, allowed in zip(statements, actions, strict=True) if "events:PutEvents" in allowed]


def test_with_an_event_bus_the_role_may_put_events_on_that_bus_only(announcing: Built) -> None:
    # No KMS action for the bus key: EventBridge encrypts under its own grant in the key's policy.
    assert put_events_statements(announcing) == [
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": bus_arn(announcing)}
    ]


def test_without_an_event_bus_the_job_gets_no_bus_and_the_role_may_put_no_events(default: Built) -> None:
    assert "--event_bus" not in default.job_properties("ConformedToCurated")["DefaultArguments"]
    assert put_events_statements(default) == []


def test_the_iceberg_settings_name_the_glue_catalog_with_the_curated_warehouse(default: Built) -> None:
    """--conf is one Glue argument holding every Spark setting, joined by " --conf "."""
    conf = default.job_properties("RawToConformed")["DefaultArguments"]["--conf"]["Fn::Join"][1]
    settings = dict(setting.split("=", 1) for setting in (conf[0] + "<curated>" + conf[2]).split(" --conf "))
    assert settings == {
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        "spark.sql.catalog.glue_catalog": "org.apache.iceberg.spark.SparkCatalog",
        "spark.sql.catalog.glue_catalog.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
        "spark.sql.catalog.glue_catalog.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        "spark.sql.catalog.glue_catalog.warehouse": "s3://<curated>/warehouse/",
    }


def test_the_extra_py_files_are_the_etl_library_with_the_envelope_beside_it(default: Built) -> None:
    urls = {
        default.job_properties(job_id)["DefaultArguments"]["--extra-py-files"]
        for job_id in ("RawToConformed", "ConformedToCurated")
    }
    (url,) = urls
    library = default.staged_asset(url)
    assert (library / "dmc_etl" / "config.py").read_bytes() == (GLUE_JOBS / "dmc_etl" / "config.py").read_bytes()
    assert (library / "envelope" / "tag_envelope.py").is_file()
    assert sorted(child.name for child in library.iterdir()) == ["dmc_etl", "envelope"]


def test_site_config_is_passed_exactly_as_given() -> None:
    text = '{"timezone": "UTC",  "canonical_units": {}, "lines": []}'
    built = build(text)
    for job_id in ("RawToConformed", "ConformedToCurated"):
        assert built.job_properties(job_id)["DefaultArguments"]["--site_config"] == text


def test_a_site_config_token_is_left_to_deploy_time() -> None:
    stack = bare_stack()
    parameter = CfnParameter(stack, "SiteConfig")
    built = build(parameter.value_as_string, stack=stack)
    assert built.job_properties("RawToConformed")["DefaultArguments"]["--site_config"] == {"Ref": "SiteConfig"}


# --- workflow -----------------------------------------------------------------------------------------


def test_the_workflow_starts_the_conformed_job_hourly_at_a_quarter_past(default: Built) -> None:
    template = default.template()
    template.has_resource_properties(
        "AWS::Glue::Workflow", Match.exact({"Description": "Hourly lake refresh of plantA", "Tags": Match.any_value()})
    )
    template.has_resource_properties(
        "AWS::Glue::Trigger",
        {
            "Type": "SCHEDULED",
            "Schedule": "cron(15 * * * ? *)",
            "StartOnCreation": True,
            "WorkflowName": default.ref(default.etl.workflow),
            "Actions": [Match.exact({"JobName": default.ref(default.etl.raw_to_conformed)})],
            "Predicate": Match.absent(),
        },
    )


def test_the_curated_job_runs_only_after_the_conformed_job_succeeded(default: Built) -> None:
    default.template().has_resource_properties(
        "AWS::Glue::Trigger",
        {
            "Type": "CONDITIONAL",
            "StartOnCreation": True,
            "WorkflowName": default.ref(default.etl.workflow),
            "Predicate": Match.exact(
                {
                    "Conditions": [
                        {
                            "JobName": default.ref(default.etl.raw_to_conformed),
                            "LogicalOperator": "EQUALS",
                            "State": "SUCCEEDED",
                        }
                    ]
                }
            ),
            "Actions": [Match.exact({"JobName": default.ref(default.etl.conformed_to_curated)})],
            "Schedule": Match.absent(),
        },
    )
    default.template().resource_count_is("AWS::Glue::Trigger", 2)


# --- the role and its grants ----------------------------------------------------------------------------


def test_the_role_is_assumed_by_glue_with_the_glue_service_policy(default: Built) -> None:
    default.template().has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    Match.exact(
                        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}}
                    )
                ]
            },
            "ManagedPolicyArns": [
                {
                    "Fn::Join": [
                        "",
                        ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/service-role/AWSGlueServiceRole"],
                    ]
                }
            ],
        },
    )


def test_the_role_reads_raw_and_assets_rewrites_conformed_and_curated_uses_both_keys_and_commits_to_the_iceberg_tables(
    default: Built,
) -> None:
    def bucket_and_objects(zone: str) -> list[Any]:
        bucket = default.buckets[zone]
        return [default.resolve(bucket.bucket_arn), default.resolve(bucket.arn_for_objects("*"))]

    assets = [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":s3:::{ASSETS_BUCKET}{suffix}"]]}
        for suffix in ("", "/*")
    ]
    default.template().has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [default.resolve(default.etl.role.role_name)],
            "PolicyDocument": {
                # The three asset grants (scripts and library) collapse into one statement on the bootstrap bucket.
                "Statement": Match.exact(
                    [
                        {"Action": READ, "Effect": "Allow", "Resource": assets},
                        {"Action": READ, "Effect": "Allow", "Resource": bucket_and_objects("raw")},
                        {"Action": READ_WRITE, "Effect": "Allow", "Resource": bucket_and_objects("conformed")},
                        {"Action": READ_WRITE, "Effect": "Allow", "Resource": bucket_and_objects("curated")},
                        {
                            "Action": ENCRYPT_DECRYPT,
                            "Effect": "Allow",
                            "Resource": default.resolve(default.key.key_arn),
                        },
                        {
                            "Action": ENCRYPT_DECRYPT,
                            "Effect": "Allow",
                            "Resource": default.resolve(default.logs_key.key_arn),
                        },
                        {
                            "Action": ["glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"],
                            "Effect": "Allow",
                            "Resource": ICEBERG_RESOURCE_ARNS,
                        },
                        # AWSGlueServiceRole allows glue:* on everything: the Data Catalog stays the lake's.
                        {
                            "Sid": "OnlyTheLakesIcebergTables",
                            "Action": ["glue:*Database*", "glue:*Table*", "glue:*Partition*"],
                            "Effect": "Deny",
                            "NotResource": ICEBERG_RESOURCE_ARNS,
                        },
                    ]
                )
            },
        },
    )


# --- validation ---------------------------------------------------------------------------------------


def test_site_config_must_be_json() -> None:
    message = (
        "EtlJobs Etl: site_config 'timezone=Europe/Berlin' is not JSON "
        f"(Expecting value: line 1 column 1 (char 0)); {FIX}"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        build("timezone=Europe/Berlin")


def test_an_empty_site_config_is_not_json() -> None:
    message = f"EtlJobs Etl: site_config '' is not JSON (Expecting value: line 1 column 1 (char 0)); {FIX}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        build("")


@pytest.mark.parametrize(
    ("site_config", "kind"),
    [
        ('[{"timezone": "UTC"}]', "an array"),
        ('"plantA"', "a string"),
        ("42", "a number"),
        ("true", "a boolean"),
        ("null", "null"),
    ],
)
def test_site_config_must_be_a_json_object(site_config: str, kind: str) -> None:
    message = f"EtlJobs Etl: site_config {site_config!r} is {kind}, not a JSON object; {FIX}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        build(site_config)


def test_a_long_bad_site_config_is_shown_cut_to_60_characters() -> None:
    site_config = "[" + ", ".join(str(number) for number in range(40)) + "]"
    shown = site_config[:57] + "..."
    message = f"EtlJobs Etl: site_config {shown!r} is an array, not a JSON object; {FIX}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        build(site_config)


# --- nag ------------------------------------------------------------------------------------------------


def test_the_etl_alone_on_an_audit_trail_stack_has_no_unacknowledged_findings() -> None:
    """With real lake zones (raw locked) and the site keys as collaborators."""
    stack = bare_stack(audit_trail=True)
    keys = site_keys(stack)
    logs = access_logs(stack)
    zones = {
        zone: LakeBucket(
            stack,
            zone.title(),
            zone=zone,
            key=keys.data,
            access_logs=logs,
            expiration_days=400,
            object_lock_days=30 if zone == "raw" else None,
        ).bucket
        for zone in ("raw", "conformed", "curated")
    }
    EtlJobs(
        stack,
        "Etl",
        site_id="plantA",
        site_config=plant_a_config(),
        catalog=catalog(stack, keys.data, zones),
        key=keys.data,
        logs_key=keys.logs,
    )
    assert unacknowledged_findings(stack) == []
