"""Data nested stack: every security-relevant setting of lake, IoT, stream, delivery and alerts."""

import json
from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template

from policies import tag_keys
from site_model.sizing import shards, throughput
from stacks.site_app import build
from synth_helpers import example_sites, nested_template, variant

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def templates(site_stack) -> dict[str, Template]:
    """plantA (Annex 11: locked raw zone), plantB (stream manager), plantC (no regime, on-demand stream)."""
    return {site: nested_template(site_stack(site), "Data") for site in ("plantA", "plantB", "plantC")}


def bucket_of_zone(template: Template, zone: str) -> Mapping[str, Any]:
    (bucket,) = [
        resource
        for resource in template.find_resources("AWS::S3::Bucket").values()
        if {"Key": tag_keys.ZONE, "Value": zone} in resource["Properties"]["Tags"]
    ]
    return bucket


@pytest.mark.parametrize("zone", ["raw", "conformed", "curated"])
def test_lake_buckets_use_the_site_key_with_bucket_keys_versioning_and_logs(templates, zone) -> None:
    bucket = bucket_of_zone(templates["plantA"], zone)
    properties = bucket["Properties"]
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["BucketKeyEnabled"] is True
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert "KMSMasterKeyID" in rule["ServerSideEncryptionByDefault"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["LoggingConfiguration"]["LogFilePrefix"] == f"{zone}/"
    assert properties["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert bucket["DeletionPolicy"] == "Retain"


def test_lifecycle_follows_the_site_models_retention(templates) -> None:
    raw = bucket_of_zone(templates["plantA"], "raw")["Properties"]["LifecycleConfiguration"]["Rules"][0]
    assert raw["ExpirationInDays"] == 3650
    assert raw["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    # The Iceberg zones' rows are expired by their jobs (--retention_days), not by object lifecycle.
    curated = bucket_of_zone(templates["plantC"], "curated")["Properties"]["LifecycleConfiguration"]["Rules"][0]
    assert "ExpirationInDays" not in curated


def test_raw_zone_of_an_annex_11_site_is_locked_in_compliance_mode(templates) -> None:
    raw = bucket_of_zone(templates["plantA"], "raw")["Properties"]
    assert raw["ObjectLockEnabled"] is True
    assert raw["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Days": 2555, "Mode": "COMPLIANCE"}},
    }
    assert "ObjectLockConfiguration" not in bucket_of_zone(templates["plantC"], "raw")["Properties"]


@pytest.mark.parametrize(("site_id", "regimes"), [("plantA", ["gdpr"]), ("plantC", ["none"])])
def test_a_site_without_an_audit_regime_that_sets_object_lock_days_gets_its_raw_zone_locked(
    tmp_path, site_id, regimes
) -> None:
    site = variant(example_sites()[site_id], compliance=regimes, lake={"object_lock_days": 30})
    assert not site.audit_trail
    app = App(outdir=str(tmp_path), context={"site": site_id})
    (stack,) = build(app, {site_id: site})
    raw = bucket_of_zone(nested_template(stack, "Data"), "raw")["Properties"]
    assert raw["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Days": 30, "Mode": "COMPLIANCE"}},
    }


def test_bucket_policies_deny_plain_http_non_kms_writes_and_other_accounts(templates) -> None:
    templates["plantA"].has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
                        Match.object_like(
                            {
                                "Sid": "DenyNonKmsWrites",
                                "Effect": "Deny",
                                "Action": "s3:PutObject",
                                "Condition": {
                                    "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}
                                },
                            }
                        ),
                        Match.object_like(
                            {
                                "Sid": "DenyOtherAccounts",
                                "Effect": "Deny",
                                "Condition": {
                                    "StringNotEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}},
                                    "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
                                },
                            }
                        ),
                    ]
                )
            }
        },
    )


def test_stream_is_encrypted_kept_72h_and_sized_by_the_plan(templates) -> None:
    plant_a = example_sites()["plantA"]
    assert shards(plant_a, throughput(plant_a)).count == 2
    templates["plantA"].has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "RetentionPeriodHours": 72,
            # What the capacity plan computes for plantA (tests/site_model/test_sizing.py checks it by hand).
            "ShardCount": shards(plant_a, throughput(plant_a)).count,
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": Match.any_value()},
        },
    )
    templates["plantC"].has_resource_properties(
        "AWS::Kinesis::Stream", {"StreamModeDetails": {"StreamMode": "ON_DEMAND"}, "ShardCount": Match.absent()}
    )


def test_firehose_partitions_dynamically_through_the_transform_into_raw(templates) -> None:
    templates["plantA"].has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {
            "DeliveryStreamType": "KinesisStreamAsSource",
            "ExtendedS3DestinationConfiguration": Match.object_like(
                {
                    "Prefix": "!{partitionKeyFromLambda:kind}/area=!{partitionKeyFromLambda:area}/"
                    "line=!{partitionKeyFromLambda:line}/date=!{partitionKeyFromLambda:date}/"
                    "hour=!{partitionKeyFromLambda:hour}/",
                    "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/date=!{timestamp:yyyy-MM-dd}/",
                    "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 300},
                    "EncryptionConfiguration": {"KMSEncryptionConfig": {"AWSKMSKeyARN": Match.any_value()}},
                    "CloudWatchLoggingOptions": Match.object_like({"Enabled": True}),
                    "DynamicPartitioningConfiguration": {"Enabled": True, "RetryOptions": {"DurationInSeconds": 300}},
                    "ProcessingConfiguration": {
                        "Enabled": True,
                        "Processors": [Match.object_like({"Type": "Lambda"})],
                    },
                }
            ),
        },
    )


def test_functions_run_in_the_vpc_with_encrypted_environment_and_bounded_concurrency(templates) -> None:
    for function in templates["plantA"].find_resources("AWS::Lambda::Function").values():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.14"
        assert properties["VpcConfig"]["SubnetIds"]
        assert properties["ReservedConcurrentExecutions"] > 0
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert "KmsKeyArn" in properties


def test_gap_alerts_only_where_each_line_keeps_its_shard(templates) -> None:
    def gap_setting(template: Template) -> set[str]:
        return {
            function["Properties"]["Environment"]["Variables"]["SEQUENCE_GAP_ALERTS"]
            for function in template.find_resources("AWS::Lambda::Function").values()
            if "SEQUENCE_GAP_ALERTS" in function["Properties"].get("Environment", {}).get("Variables", {})
        }

    assert gap_setting(templates["plantA"]) == {"true"}  # MQTT: the topic rule keys records by line
    assert gap_setting(templates["plantB"]) == {"false"}  # stream manager: random partition keys


def test_alert_mapping_never_blocks_a_shard(templates) -> None:
    templates["plantA"].has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": 3,
            "MaximumRecordAgeInSeconds": 21600,
            "TumblingWindowInSeconds": 300,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}},
        },
    )
    templates["plantA"].has_resource_properties(
        "AWS::SQS::Queue", {"KmsMasterKeyId": Match.any_value(), "MessageRetentionPeriod": 1209600}
    )
    templates["plantA"].has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    templates["plantA"].has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {"TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True}},
    )


def test_topic_rules_route_by_line_and_gateway_with_a_dead_letter_action(templates) -> None:
    template = templates["plantA"]
    for channel, partition_key in (("telemetry", "${line}"), ("health", "${gateway}")):
        template.has_resource_properties(
            "AWS::IoT::TopicRule",
            {
                "TopicRulePayload": Match.object_like(
                    {
                        "Sql": f"SELECT * FROM 'dmc/plantA/+/{channel}'",
                        "Actions": [{"Kinesis": Match.object_like({"PartitionKey": partition_key})}],
                        "ErrorAction": {
                            "S3": Match.object_like(
                                {"Key": "dead-letter/iot-rules/${topic()}/${timestamp()}-${newuuid()}.json"}
                            )
                        },
                    }
                )
            },
        )


def test_gateway_policy_scopes_every_action_to_its_own_thing(templates) -> None:
    (policy,) = templates["plantA"].find_resources("AWS::IoT::Policy").values()
    statements = {statement["Sid"]: statement for statement in policy["Properties"]["PolicyDocument"]["Statement"]}
    rendered = str(statements["PublishOwnChannels"]["Resource"])
    assert "topic/dmc/plantA/${iot:Connection.Thing.ThingName}/telemetry" in rendered
    assert "dmc/plantA/+" not in rendered and "dmc/plantA/#" not in rendered
    assert "client/${iot:Connection.Thing.ThingName}" in str(statements["ConnectAsOwnThing"]["Resource"])
    assert statements["ConnectAsOwnThing"]["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    templates["plantA"].has_resource_properties(
        "AWS::IoT::RoleAlias", {"RoleAlias": "plantA-greengrass-tes", "CredentialDurationSeconds": 3600}
    )


def test_a_silent_stream_raises_an_alarm_to_the_alert_topic(templates) -> None:
    templates["plantA"].has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "IncomingRecords",
            "Namespace": "AWS/Kinesis",
            "Statistic": "Sum",
            "Period": 300,
            "ComparisonOperator": "LessThanOrEqualToThreshold",
            "Threshold": 0,
            "TreatMissingData": "breaching",
            "AlarmActions": [Match.any_value()],
        },
    )


def test_glue_jobs_run_glue_5_1_with_iceberg_under_the_site_keys_with_metrics_and_their_state(templates) -> None:
    template = templates["plantA"]
    template.has_resource_properties(
        "AWS::Glue::SecurityConfiguration",
        {
            "EncryptionConfiguration": {
                "S3Encryptions": [Match.object_like({"S3EncryptionMode": "SSE-KMS"})],
                "CloudWatchEncryption": Match.object_like({"CloudWatchEncryptionMode": "SSE-KMS"}),
                "JobBookmarksEncryption": Match.object_like({"JobBookmarksEncryptionMode": "CSE-KMS"}),
            }
        },
    )
    jobs = template.find_resources("AWS::Glue::Job")
    assert len(jobs) == 2
    states = set()
    for job in jobs.values():
        properties = job["Properties"]
        arguments = properties["DefaultArguments"]
        assert properties["GlueVersion"] == "5.1"
        assert "Ref" in properties["SecurityConfiguration"]
        assert arguments["--datalake-formats"] == "iceberg"
        assert arguments["--catalog"] == "glue_catalog"
        assert arguments["--conformed_database"] == "planta_conformed"
        assert "spark.sql.catalog.glue_catalog.catalog-impl=org.apache.iceberg.aws.glue.GlueCatalog" in json.dumps(
            arguments["--conf"]
        )
        assert not {"--conformed_path", "--rejects_path", "--curated_path"} & set(arguments)
        state = arguments.get("--watermark_path") or arguments["--state_path"]
        states.add(state["Fn::Join"][1][-1])
        assert arguments["--job-bookmark-option"] == "job-bookmark-disable"
        assert arguments["--enable-metrics"] == "true"
        assert "--extra-py-files" in arguments
        site_config = json.loads(arguments["--site_config"])
        assert site_config["timezone"] == "Europe/Berlin"
        assert site_config["lines"][0]["line_path"] == "acme/plantA/filling/line1"
        assert [shift["name"] for shift in site_config["lines"][0]["shifts"]] == ["early", "late", "night"]
    assert states == {"/_state/raw_to_conformed/", "/_state/conformed_to_curated/"}


def test_the_curated_job_runs_after_the_conformed_job_succeeds(templates) -> None:
    templates["plantA"].has_resource_properties(
        "AWS::Glue::Trigger", {"Type": "SCHEDULED", "Schedule": "cron(15 * * * ? *)", "StartOnCreation": True}
    )
    templates["plantA"].has_resource_properties(
        "AWS::Glue::Trigger",
        {
            "Type": "CONDITIONAL",
            "Predicate": {"Conditions": [Match.object_like({"State": "SUCCEEDED", "LogicalOperator": "EQUALS"})]},
        },
    )


def test_the_raw_table_projects_partitions_from_the_site_model_and_the_others_are_iceberg(templates) -> None:
    template = templates["plantA"]
    template.has_resource_properties(
        "AWS::Glue::Database", {"DatabaseInput": {"Name": "planta_raw", "Description": Match.any_value()}}
    )
    tables = {
        resource["Properties"].get("Name") or resource["Properties"]["TableInput"]["Name"]: resource["Properties"]
        for resource in template.find_resources("AWS::Glue::Table").values()
    }
    assert sorted(tables) == [
        "downtime_events",
        "line_shift_oee",
        "rejects",
        "tag_hour",
        "tag_minute",
        "tag_values",
        "tags",
    ]
    raw = tables["tags"]["TableInput"]["Parameters"]
    assert raw["projection.enabled"] == "true"
    assert raw["projection.area.values"] == "filling"
    assert raw["projection.line.values"] == "line1"
    assert raw["projection.hour.range"] == "0,23"
    assert json.dumps(raw["storage.location.template"]).endswith(
        '"/tags/area=${area}/line=${line}/date=${date}/hour=${hour}/"]]}'
    )
    for name in ("tag_values", "rejects", "tag_minute", "tag_hour", "line_shift_oee", "downtime_events"):
        iceberg = tables[name]["OpenTableFormatInput"]["IcebergInput"]
        assert (iceberg["MetadataOperation"], iceberg["Version"]) == ("CREATE", "2"), name
        assert iceberg["IcebergTableInput"]["Properties"]["write.parquet.compression-codec"] == "zstd", name
        assert "TableInput" not in tables[name], name
    conformed = tables["tag_values"]["OpenTableFormatInput"]["IcebergInput"]["IcebergTableInput"]
    assert [(field["Name"], field["Transform"]) for field in conformed["PartitionSpec"]["Fields"]] == [
        ("area", "identity"),
        ("line", "identity"),
        ("date", "identity"),
    ]
    template.all_resources("AWS::Glue::Database", {"DeletionPolicy": "Retain"})


def snapshot_retention(template: Template) -> dict[str, int]:
    """Table name -> the days its retention optimizer keeps snapshots."""
    return {
        resource["Properties"]["TableName"]: resource["Properties"]["TableOptimizerConfiguration"][
            "RetentionConfiguration"
        ]["IcebergConfiguration"]["SnapshotRetentionPeriodInDays"]
        for resource in template.find_resources(
            "AWS::Glue::TableOptimizer", {"Properties": {"Type": "retention"}}
        ).values()
    }


def test_snapshots_of_an_annex_11_site_are_kept_for_its_object_lock_window_within_each_zones_retention(
    templates,
) -> None:
    """plantA locks raw 2555 days and keeps conformed 3650 and curated 1825 days."""
    assert snapshot_retention(templates["plantA"]) == {
        "tag_values": 2555,
        "rejects": 2555,
        "tag_minute": 1825,
        "tag_hour": 1825,
        "line_shift_oee": 1825,
        "downtime_events": 1825,
    }


def test_snapshots_of_a_site_without_an_audit_trail_are_kept_a_week(templates) -> None:
    assert set(snapshot_retention(templates["plantC"]).values()) == {7}


def test_every_iceberg_table_is_compacted_and_cleaned_of_orphan_files(templates) -> None:
    optimizers = templates["plantA"].find_resources("AWS::Glue::TableOptimizer").values()
    kinds: dict[str, list[str]] = {}
    for resource in optimizers:
        properties = resource["Properties"]
        kinds.setdefault(properties["TableName"], []).append(properties["Type"])
        assert properties["TableOptimizerConfiguration"]["Enabled"] is True
    assert {table: sorted(types) for table, types in kinds.items()} == {
        table: ["compaction", "orphan_file_deletion", "retention"]
        for table in ("tag_values", "rejects", "tag_minute", "tag_hour", "line_shift_oee", "downtime_events")
    }
