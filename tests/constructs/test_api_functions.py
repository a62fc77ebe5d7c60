"""ApiFunctions on a bare stack (with the tables, lake catalog, workgroup, stream and bus it works with): each
function's handler, environment and placement, each role's grants, the three triggers and their dead letters,
validation, nag."""

from __future__ import annotations

import json
from typing import Any, NamedTuple, cast

import pytest
from aws_cdk import CfnElement, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk.assertions import Match, Template

from construct_helpers import (
    ACCOUNT,
    KINESIS_READ_ACTIONS,
    REGION,
    access_logs,
    bare_stack,
    keys_of,
    placement,
    site_keys,
    unacknowledged_findings,
)
from factory_constructs.api.api_functions import SPECS, ApiFunctions, CommandRange
from factory_constructs.api.api_handler.command_audit import rule_sql
from factory_constructs.api.api_handler.settings import VARIABLES
from factory_constructs.api.api_tables import ApiTables
from factory_constructs.api.query_workgroup import QueryWorkgroup
from factory_constructs.etl.lake_catalog import LakeCatalog
from factory_constructs.foundation.network import SiteNetwork
from factory_constructs.ingestion.tag_stream import TagStream
from factory_constructs.lake.data_lake import DataLake

pytestmark = pytest.mark.synth

RANGES = [CommandRange(path="acme/plantA/filling/line1/filler/temperature_setpoint", min=2, max=8)]
REQUIRED: dict[str, Any] = {
    "site_id": "plantA",
    "enterprise": "acme",
    "lines": ["filling/line1"],
    "gateways": ["plantA-gw-01", "plantA-gw-02"],
    "command_ranges": RANGES,
    "max_range_days": 31,
    "page_limit_max": 500,
}


class Built(NamedTuple):
    stack: Stack
    tables: ApiTables
    catalog: LakeCatalog
    workgroup: QueryWorkgroup
    stream: TagStream
    bus: events.EventBus
    functions: ApiFunctions

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)

    def function(self, handler: str) -> dict[str, Any]:
        cfn = cast(CfnElement, self.functions.functions[handler].function.node.default_child)
        resource: dict[str, Any] = self.template().to_json()["Resources"][self.stack.get_logical_id(cfn)]
        return resource

    def statements(self, handler: str) -> list[dict[str, Any]]:
        role = self.resolve(self.functions.functions[handler].role.role_name)
        (policy,) = self.template().find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [role]}}).values()
        statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
        return statements


def build(*, audit_trail: bool = False, **props: Any) -> Built:
    stack = bare_stack(audit_trail=audit_trail)
    keys = site_keys(stack)
    logs_bucket = access_logs(stack)
    lake = DataLake(stack, "Lake", key=keys.data, access_logs=logs_bucket, raw_days=400, raw_object_lock_days=30)
    catalog = LakeCatalog(
        stack,
        "Catalog",
        site_id="plantA",
        areas=["filling"],
        lines=["line1"],
        raw=lake.raw.bucket,
        conformed=lake.conformed.bucket,
        curated=lake.curated.bucket,
        key=keys.data,
        conformed_retention_days=400,
        curated_retention_days=400,
    )
    tables = ApiTables(stack, "Tables", key=keys.data)
    workgroup = QueryWorkgroup(
        stack, "Queries", name="plantA-api", key=keys.data, access_logs=logs_bucket, scan_limit_bytes=10**10
    )
    stream = TagStream(stack, "TagStream", key=keys.data, retention_hours=72, shards=1)
    bus = events.EventBus(stack, "Bus", kms_key=keys.data)
    functions = ApiFunctions(
        stack,
        "Functions",
        placement=placement(stack, keys),
        key=keys.data,
        logs_key=keys.logs,
        tables=tables,
        catalog=catalog,
        workgroup=workgroup,
        stream=stream.stream,
        alerts_bus=bus,
        **{**REQUIRED, **props},
    )
    return Built(stack, tables, catalog, workgroup, stream, bus, functions)


@pytest.fixture(scope="module")
def default() -> Built:
    return build()


# --- functions ------------------------------------------------------------------------------------------------


def test_one_function_per_handler_of_the_package_runs_its_entry_point(default: Built) -> None:
    assert sorted(default.functions.functions) == sorted(VARIABLES)
    assert sorted(default.functions.route_handlers) == ["alerts", "catalog", "commands", "values"]
    for handler in VARIABLES:
        properties = default.function(handler)["Properties"]
        assert properties["Handler"] == f"api_handler.entry.{handler}"
        assert properties["Timeout"] == SPECS[handler].timeout_s
        assert properties["ReservedConcurrentExecutions"] == SPECS[handler].concurrency


def test_route_handlers_answer_within_api_gateways_29_seconds() -> None:
    assert {handler: SPECS[handler].timeout_s < 29 for handler in ("catalog", "values", "commands", "alerts")} == {
        "catalog": True,
        "values": True,
        "commands": True,
        "alerts": True,
    }


def test_every_function_runs_in_the_site_vpc_behind_its_security_group(default: Built) -> None:
    network = default.stack.node.find_child("Network")
    assert isinstance(network, SiteNetwork)
    expected = {
        "SecurityGroupIds": [default.resolve(network.function_security_group.security_group_id)],
        "SubnetIds": default.resolve(network.vpc.select_subnets(subnet_group_name="Private").subnet_ids),
    }
    assert {handler: default.function(handler)["Properties"]["VpcConfig"] for handler in VARIABLES} == {
        handler: expected for handler in VARIABLES
    }


def test_each_function_gets_exactly_the_variables_its_handler_reads(default: Built) -> None:
    tables = default.tables
    values = {
        "SITE_ID": "plantA",
        "ENTERPRISE": "acme",
        "LATEST_TABLE": default.resolve(tables.latest.table_name),
        "COMMANDS_TABLE": default.resolve(tables.commands.table_name),
        "ALERTS_TABLE": default.resolve(tables.alerts.table_name),
        "CONFORMED_DATABASE": "planta_conformed",
        "CURATED_DATABASE": "planta_curated",
        "ATHENA_WORKGROUP": "plantA-api",
        "EVENT_BUS": default.resolve(default.bus.event_bus_name),
        "COMMAND_ALLOW_LIST": json.dumps([{"path": RANGES[0].path, "min": 2, "max": 8}]),
        "GATEWAYS": '["plantA-gw-01", "plantA-gw-02"]',
        "LINES": '["filling/line1"]',
        "MAX_RANGE_DAYS": "31",
        "PAGE_LIMIT_MAX": "500",
    }
    assert {handler: default.function(handler)["Properties"]["Environment"]["Variables"] for handler in VARIABLES} == {
        handler: {name: values[name] for name in names} for handler, names in VARIABLES.items()
    }


# --- grants ---------------------------------------------------------------------------------------------------


def actions_on(statements: list[dict[str, Any]], resource: Any) -> list[str]:
    """Every action of the statements naming ``resource`` (alone or in a list)."""
    found = []
    for statement in statements:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if resource in resources:
            action = statement["Action"]
            found += action if isinstance(action, list) else [action]
    return sorted(found)


def test_table_grants_are_the_routes_and_triggers_needs(default: Built) -> None:
    arns = {name: default.resolve(getattr(default.tables, name).table_arn) for name in ("latest", "commands", "alerts")}
    grants = {
        handler: {name: actions_on(default.statements(handler), arn) for name, arn in arns.items()}
        for handler in VARIABLES
    }
    assert grants == {
        "catalog": {"latest": ["dynamodb:Query", "dynamodb:Scan"], "commands": [], "alerts": []},
        "values": {
            "latest": ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"],
            "commands": [],
            "alerts": [],
        },
        "commands": {
            "latest": ["dynamodb:GetItem"],
            "commands": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            "alerts": [],
        },
        "alerts": {"latest": [], "commands": [], "alerts": ["dynamodb:Query"]},
        "latest_consumer": {"latest": ["dynamodb:PutItem", "dynamodb:UpdateItem"], "commands": [], "alerts": []},
        "alert_recorder": {"latest": [], "commands": [], "alerts": ["dynamodb:PutItem"]},
        "command_audit": {
            "latest": [],
            "commands": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            "alerts": [],
        },
    }


def test_catalog_and_values_read_only_the_iceberg_tables_catalog_entries(default: Built) -> None:
    arns = default.resolve(default.catalog.iceberg_resource_arns)
    for handler in VARIABLES:
        glue = [statement for statement in default.statements(handler) if "glue:GetTable" in statement["Action"]]
        expected = (
            [{"Action": ["glue:GetDatabase", "glue:GetTable", "glue:GetTables"], "Effect": "Allow", "Resource": arns}]
            if handler in ("catalog", "values")
            else []
        )
        assert glue == expected, handler


def test_only_values_queries_athena_and_reads_the_zones(default: Built) -> None:
    workgroup_arn = default.resolve(default.workgroup.workgroup_arn)
    zone_arns = [default.resolve(default.catalog.buckets[zone].bucket_arn) for zone in ("conformed", "curated")]
    for handler in VARIABLES:
        statements = default.statements(handler)
        queries = bool(actions_on(statements, workgroup_arn))
        reads = [bool(actions_on(statements, arn)) for arn in zone_arns]
        assert (queries, reads) == ((True, [True, True]) if handler == "values" else (False, [False, False])), handler


def test_commands_may_publish_only_to_the_sites_gateways_command_topics(default: Built) -> None:
    (publish,) = [statement for statement in default.statements("commands") if statement["Action"] == "iot:Publish"]
    assert publish["Resource"] == [
        {
            "Fn::Join": [
                "",
                ["arn:", {"Ref": "AWS::Partition"}, f":iot:{REGION}:{ACCOUNT}:topic/dmc/plantA/{gateway}/commands"],
            ]
        }
        for gateway in ("plantA-gw-01", "plantA-gw-02")
    ]
    assert not any(
        "iot:Publish" in statement["Action"]
        for handler in VARIABLES
        if handler != "commands"
        for statement in default.statements(handler)
    )


def test_only_command_audit_may_put_events_and_only_on_the_sites_bus(default: Built) -> None:
    put_events = {
        handler: [statement for statement in default.statements(handler) if "events:PutEvents" in statement["Action"]]
        for handler in VARIABLES
    }
    assert put_events == {
        handler: (
            [{"Action": "events:PutEvents", "Effect": "Allow", "Resource": default.resolve(default.bus.event_bus_arn)}]
            if handler == "command_audit"
            else []
        )
        for handler in VARIABLES
    }


def test_a_site_without_an_allow_list_may_publish_nothing() -> None:
    built = build(command_ranges=[])
    assert [statement for statement in built.statements("commands") if statement["Action"] == "iot:Publish"] == []


# --- triggers -------------------------------------------------------------------------------------------------


def test_the_stream_consumer_reads_from_the_oldest_record_bisects_and_sends_failures_to_the_queue(
    default: Built,
) -> None:
    default.template().has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": default.resolve(default.stream.stream.stream_arn),
            "FunctionName": default.resolve(default.functions.functions["latest_consumer"].function.function_name),
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 500,
            "MaximumBatchingWindowInSeconds": 1,
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": 3,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "DestinationConfig": {"OnFailure": {"Destination": default.resolve(default.functions.failures.queue_arn)}},
        },
    )
    assert actions_on(
        default.statements("latest_consumer"), default.resolve(default.stream.stream.stream_arn)
    ) == sorted(KINESIS_READ_ACTIONS)


def test_stream_alerts_on_the_bus_reach_the_alert_recorder(default: Built) -> None:
    default.template().has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventBusName": default.resolve(default.bus.event_bus_name),
            "EventPattern": {"source": ["dmc.stream-alerts"]},
            "Targets": [
                Match.object_like(
                    {
                        "Arn": default.resolve(default.functions.functions["alert_recorder"].function.function_arn),
                        "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 6 * 3600},
                    }
                )
            ],
        },
    )


def test_the_gateways_audit_records_reach_command_audit_and_undeliverable_ones_the_queue(default: Built) -> None:
    function = default.functions.functions["command_audit"].function
    default.template().has_resource_properties(
        "AWS::IoT::TopicRule",
        {
            "TopicRulePayload": {
                "Sql": rule_sql("plantA"),
                "AwsIotSqlVersion": "2016-03-23",
                "RuleDisabled": False,
                "Actions": [{"Lambda": {"FunctionArn": default.resolve(function.function_arn)}}],
                "ErrorAction": {
                    "Sqs": {
                        "QueueUrl": default.resolve(default.functions.failures.queue_url),
                        "RoleArn": Match.any_value(),
                        "UseBase64": False,
                    }
                },
            }
        },
    )
    default.template().has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "FunctionName": default.resolve(function.function_arn),
            "Principal": "iot.amazonaws.com",
            "SourceArn": default.resolve(default.functions.audit_rule.attr_arn),
            "SourceAccount": ACCOUNT,
        },
    )


@pytest.mark.parametrize("handler", ["alert_recorder", "command_audit"])
def test_asynchronously_invoked_functions_retry_twice_then_dead_letter(default: Built, handler: str) -> None:
    function = default.functions.functions[handler].function
    queue_arn = default.resolve(default.functions.failures.queue_arn)
    assert default.function(handler)["Properties"]["DeadLetterConfig"] == {"TargetArn": queue_arn}
    assert "sqs:SendMessage" in actions_on(default.statements(handler), queue_arn)
    default.template().has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": default.resolve(function.function_name),
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 6 * 3600,
        },
    )


def test_the_failure_queue_is_encrypted_with_the_key_and_retained(default: Built) -> None:
    default.template().has_resource(
        "AWS::SQS::Queue",
        {
            "DeletionPolicy": "Retain",
            "Properties": {
                "KmsMasterKeyId": default.resolve(keys_of(default.stack).data.key_arn),
                "MessageRetentionPeriod": 14 * 24 * 3600,
            },
        },
    )


def test_removal_policy_reaches_the_queue_and_the_log_groups() -> None:
    built = build(removal_policy=RemovalPolicy.DESTROY)
    logs = built.template().find_resources("AWS::Logs::LogGroup")
    function_logs = [
        built.stack.get_logical_id(cast(CfnElement, built.functions.functions[handler].log_group.node.default_child))
        for handler in VARIABLES
    ]
    assert {logs[logical_id]["DeletionPolicy"] for logical_id in function_logs} == {"Delete"}
    built.template().has_resource("AWS::SQS::Queue", {"DeletionPolicy": "Delete"})


# --- validation and nag ---------------------------------------------------------------------------------------


def test_values_the_handlers_parser_refuses_are_refused_at_synth() -> None:
    with pytest.raises(ValueError) as raised:
        build(enterprise="acme/eu", page_limit_max=0)
    assert str(raised.value) == (
        "ApiFunctions Functions: catalog function misconfigured: ENTERPRISE='acme/eu' is not one path segment "
        "[A-Za-z0-9_.-]; fix: use the site file's id; PAGE_LIMIT_MAX='0': is not a whole number from 1 to 1000; "
        "fix: set one"
    )


def test_an_out_of_range_allow_list_entry_is_refused_at_synth() -> None:
    with pytest.raises(
        ValueError, match=r"^ApiFunctions Functions: commands function misconfigured: COMMAND_ALLOW_LIST="
    ):
        build(command_ranges=[CommandRange(path="acme/plantA/filling/line1/filler/speed", min=9, max=1)])


def test_the_functions_alone_on_an_audit_trail_stack_have_no_unacknowledged_findings() -> None:
    built = build(audit_trail=True)
    assert unacknowledged_findings(built.stack) == []


def test_route_handlers_are_invoked_synchronously_so_they_have_no_dead_letter_queue(default: Built) -> None:
    for handler in ("catalog", "values", "commands", "alerts"):
        assert "DeadLetterConfig" not in default.function(handler)["Properties"]
