"""The site API's Lambda functions: the four route handlers, and the three that keep its tables current.

Each runs ``api_handler.entry.<name>`` from the package beside this file, with exactly the variables
``api_handler.settings.VARIABLES`` names for it, checked here by the handlers' own parser before anything
is built; each holds only the permissions its routes or its trigger need.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from aws_cdk import Duration, Names, NestedStack, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from envelope.tag_envelope import topic
from factory_constructs.alerts.alert_handler.publish import SOURCE as ALERT_SOURCE
from factory_constructs.api.api_handler.command_audit import rule_sql
from factory_constructs.api.api_handler.contract import HANDLERS
from factory_constructs.api.api_handler.settings import VARIABLES, parse_environment
from factory_constructs.api.api_tables import ApiTables
from factory_constructs.api.query_workgroup import RESULTS_PREFIX, QueryWorkgroup
from factory_constructs.etl.lake_catalog import LakeCatalog
from factory_constructs.grant_findings import acknowledge_grant_policy, resource_wildcard
from factory_constructs.site_function import FunctionPlacement, SiteFunction
from policies.acknowledge import acknowledge, in_regulatory_packs

API_HANDLER = Path(__file__).resolve().parent / "api_handler"
# API Gateway gives up on an integration after 29 s: a route handler must answer before that.
API_TIMEOUT_LIMIT_S = 29
# The stream consumer: a bad batch is split until the poison record is isolated and retried a bounded
# number of times, then described to the failure queue; the shard never stalls.
STREAM_RETRY_ATTEMPTS = 3
# Asynchronous invocations (EventBridge, IoT rules) retried by Lambda before the dead-letter queue.
ASYNC_RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.hours(6)
# Catalog entries a reader of the lake's Iceberg tables needs (Athena plans from the table's metadata).
GLUE_READ_ACTIONS = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables"]


@dataclass(frozen=True)
class CommandRange:
    """A tag a command may write, and the inclusive range of setpoints it accepts."""

    path: str
    min: float
    max: float


@dataclass(frozen=True)
class _Spec:
    description: str
    timeout_s: int
    memory_mb: int
    concurrency: int


# Handler -> its function. Route handlers answer within API Gateway's limit; values waits on Athena.
SPECS: dict[str, _Spec] = {
    "catalog": _Spec("Site API: tag catalog and the lake's datasets", 10, 512, 5),
    "values": _Spec("Site API: latest values, history, interpolation, OEE", 28, 1024, 10),
    "commands": _Spec("Site API: setpoint commands to the gateways, and their state", 10, 512, 5),
    "alerts": _Spec("Site API: recent stream alerts", 10, 512, 5),
    "latest_consumer": _Spec("Latest value of every tag from the site's stream", 60, 512, 5),
    "alert_recorder": _Spec("Stream alerts from the site's bus into the API's alerts table", 30, 256, 2),
    "command_audit": _Spec("Gateways' command audit records into the API's commands table", 30, 256, 2),
}


class ApiFunctions(Construct):
    """One ``SiteFunction`` per handler of ``api_handler`` (``functions``, by handler name), in ``placement``.

    Route handlers (``route_handlers``: catalog, values, commands, alerts) are invoked by API Gateway; their
    invoke permissions come with the API. ``latest_consumer`` reads ``stream`` (from its oldest record, so a
    first deploy fills the catalog from the stream's retention; writes are conditional, so replays are
    harmless), ``alert_recorder`` receives the stream alerts (source ``dmc.stream-alerts``) from
    ``alerts_bus``, ``command_audit`` the gateways' audit records from an IoT topic rule on
    ``dmc/<site>/+/commands/audit``, and puts the results they settle on the same bus. What fails for good
    lands in ``failures`` (an SQS queue under ``key``): descriptions of stream batches, the events and audit
    records Lambda could not process, and the audit records the topic rule could not deliver.

    ``lines``: the site's "area/line" pairs; ``gateways``: its thing names (commands go to
    ``dmc/<site>/<gateway>/commands``); ``command_ranges``: the allow-list. ``max_range_days`` and
    ``page_limit_max`` bound the routes. ``key`` also encrypts the functions' environments, ``logs_key`` their
    logs. ``removal_policy`` (default RETAIN): the queue and the functions' log groups.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_id: str,
        enterprise: str,
        placement: FunctionPlacement,
        key: kms.IKey,
        logs_key: kms.IKey,
        tables: ApiTables,
        catalog: LakeCatalog,
        workgroup: QueryWorkgroup,
        stream: kinesis.IStream,
        alerts_bus: events.IEventBus,
        lines: Sequence[str],
        gateways: Sequence[str],
        command_ranges: Sequence[CommandRange],
        max_range_days: int,
        page_limit_max: int,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        if set(VARIABLES) != set(SPECS):
            raise ValueError(
                f"ApiFunctions {construct_id}: api_handler.settings.VARIABLES has handlers {sorted(VARIABLES)}, "
                f"ApiFunctions builds {sorted(SPECS)}; fix: give every handler a _Spec and drop the rest"
            )
        values = {
            "SITE_ID": site_id,
            "ENTERPRISE": enterprise,
            "LATEST_TABLE": tables.latest.table_name,
            "COMMANDS_TABLE": tables.commands.table_name,
            "ALERTS_TABLE": tables.alerts.table_name,
            "CONFORMED_DATABASE": catalog.database_names["conformed"],
            "CURATED_DATABASE": catalog.database_names["curated"],
            "ATHENA_WORKGROUP": workgroup.name,
            "EVENT_BUS": alerts_bus.event_bus_name,
            "COMMAND_ALLOW_LIST": json.dumps(
                [{"path": point.path, "min": point.min, "max": point.max} for point in command_ranges]
            ),
            "GATEWAYS": json.dumps(list(gateways)),
            "LINES": json.dumps(list(lines)),
            "MAX_RANGE_DAYS": str(max_range_days),
            "PAGE_LIMIT_MAX": str(page_limit_max),
        }
        environments = {handler: _environment(construct_id, handler, values) for handler in SPECS}
        self.failures = sqs.Queue(
            self,
            "Failures",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal_policy,
        )
        acknowledge(
            self.failures,
            "AwsSolutions::AwsSolutions-SQS3",
            "This queue is itself the dead-letter destination of the API's stream consumer, alert recorder and "
            "audit recorder; a queue behind it would only move the same failed records once more.",
        )
        self.functions = {
            handler: SiteFunction(
                self,
                "".join(part.title() for part in handler.split("_")),
                handler_package=API_HANDLER,
                handler=f"{API_HANDLER.name}.entry.{handler}",
                description=spec.description,
                placement=placement,
                environment_key=key,
                logs_key=logs_key,
                environment=environments[handler],
                removal_policy=removal_policy,
                reserved_concurrency=spec.concurrency,
                timeout=Duration.seconds(spec.timeout_s),
                memory_mb=spec.memory_mb,
            )
            for handler, spec in SPECS.items()
        }
        self.route_handlers: dict[str, lambda_.IFunction] = {
            handler: self.functions[handler].function for handler in HANDLERS
        }
        self._grant_routes(tables, catalog, workgroup, site_id, gateways, command_ranges)
        self._consume_stream(tables, stream)
        self._record_alerts(tables, alerts_bus)
        self._record_audits(tables, site_id, alerts_bus)
        for handler in HANDLERS:
            acknowledge(
                self.functions[handler].function,
                in_regulatory_packs("LambdaDLQ"),
                "API Gateway invokes this function synchronously and hands its error to the caller as the "
                "response; a dead-letter queue receives only asynchronous invocations, which never happen here.",
            )
        for handler in SPECS:
            acknowledge_grant_policy(self.functions[handler].role, self._wildcards(handler, catalog, workgroup))

    def _grant_routes(
        self,
        tables: ApiTables,
        catalog: LakeCatalog,
        workgroup: QueryWorkgroup,
        site_id: str,
        gateways: Sequence[str],
        command_ranges: Sequence[CommandRange],
    ) -> None:
        functions = {handler: function.function for handler, function in self.functions.items()}
        # GET /tags scans the catalog, or queries one line's tags through by_line.
        tables.grant(functions["catalog"], tables.latest, "dynamodb:Scan", "dynamodb:Query")
        # Latest values one by one or in batches; short ranges from the latest-value store.
        tables.grant(functions["values"], tables.latest, "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")
        for handler in ("catalog", "values"):
            iam.Grant.add_to_principal(
                grantee=functions[handler], actions=GLUE_READ_ACTIONS, resource_arns=catalog.iceberg_resource_arns
            )
        workgroup.grant_query(functions["values"])
        for zone in ("conformed", "curated"):
            catalog.buckets[zone].grant_read(functions["values"])
        # A command records its old value, is stored before it is published, and its state is read back.
        tables.grant(functions["commands"], tables.latest, "dynamodb:GetItem")
        tables.grant(
            functions["commands"], tables.commands, "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"
        )
        if command_ranges:  # a site without an allow-list refuses every command before publishing
            stack = Stack.of(self)
            functions["commands"].add_to_role_policy(
                iam.PolicyStatement(
                    actions=["iot:Publish"],
                    resources=[
                        stack.format_arn(
                            service="iot", resource="topic", resource_name=topic(site_id, gateway, "commands")
                        )
                        for gateway in gateways
                    ],
                )
            )
        tables.grant(functions["alerts"], tables.alerts, "dynamodb:Query")

    def _consume_stream(self, tables: ApiTables, stream: kinesis.IStream) -> None:
        function = self.functions["latest_consumer"].function
        # Conditional writes: a value is stored only if it is newer than the one held.
        tables.grant(function, tables.latest, "dynamodb:PutItem", "dynamodb:UpdateItem")
        function.add_event_source(
            sources.KinesisEventSource(
                stream,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=500,
                max_batching_window=Duration.seconds(1),
                bisect_batch_on_error=True,
                retry_attempts=STREAM_RETRY_ATTEMPTS,
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(self.failures),
            )
        )
        acknowledge(
            function,
            in_regulatory_packs("LambdaDLQ"),
            "The function is driven by a Kinesis event source mapping, not invoked asynchronously; its failed "
            "batches go to the mapping's SQS on-failure destination instead.",
        )

    def _record_alerts(self, tables: ApiTables, alerts_bus: events.IEventBus) -> None:
        function = self.functions["alert_recorder"].function
        tables.grant(function, tables.alerts, "dynamodb:PutItem")
        self.alert_rule = events.Rule(
            self,
            "AlertRule",
            event_bus=alerts_bus,
            description="Stream alerts into the site API's alerts table",
            event_pattern=events.EventPattern(source=[ALERT_SOURCE]),
            targets=[
                targets.LambdaFunction(function, retry_attempts=ASYNC_RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE)
            ],
        )
        self._dead_letters(function)

    def _record_audits(self, tables: ApiTables, site_id: str, bus: events.IEventBus) -> None:
        function = self.functions["command_audit"].function
        tables.grant(function, tables.commands, "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem")
        bus.grant_put_events_to(function)  # the results the answers settle (source dmc.commands)
        rule_role = iam.Role(self, "AuditRuleRole", assumed_by=iam.ServicePrincipal("iot.amazonaws.com"))
        self.failures.grant_send_messages(rule_role)
        self.audit_rule = iot.CfnTopicRule(
            self,
            "AuditRule",
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=rule_sql(site_id),
                aws_iot_sql_version="2016-03-23",
                rule_disabled=False,
                actions=[
                    iot.CfnTopicRule.ActionProperty(
                        lambda_=iot.CfnTopicRule.LambdaActionProperty(function_arn=function.function_arn)
                    )
                ],
                error_action=iot.CfnTopicRule.ActionProperty(
                    sqs=iot.CfnTopicRule.SqsActionProperty(
                        queue_url=self.failures.queue_url, role_arn=rule_role.role_arn, use_base64=False
                    )
                ),
            ),
        )
        function.add_permission(
            "InvokedByAuditRule",
            principal=iam.ServicePrincipal("iot.amazonaws.com"),
            source_arn=self.audit_rule.attr_arn,
            source_account=Stack.of(self).account,
        )
        acknowledge_grant_policy(rule_role)
        self._dead_letters(function)

    def _dead_letters(self, function: lambda_.Function) -> None:
        """Lambda retries an asynchronous invocation twice, then hands the event to the failure queue."""
        function.configure_async_invoke(retry_attempts=ASYNC_RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE)
        cfn = cast(lambda_.CfnFunction, function.node.default_child)
        cfn.dead_letter_config = lambda_.CfnFunction.DeadLetterConfigProperty(target_arn=self.failures.queue_arn)
        self.failures.grant_send_messages(function)

    def _wildcards(self, handler: str, catalog: LakeCatalog, workgroup: QueryWorkgroup) -> list[tuple[str, str]]:
        """The object wildcards of a function's grants, each with its reason."""
        if handler != "values":
            return []
        return [
            (
                resource_wildcard(workgroup.results, f"/{RESULTS_PREFIX}*"),
                "Athena writes each query's results under a new key in the results folder of the API's own "
                "results bucket; the wildcard covers only that folder.",
            ),
            *(
                (
                    _referenced_wildcard(self, catalog.buckets[zone], "/*"),
                    f"History and OEE read the {zone} zone's Iceberg data and metadata files, whose keys the "
                    "table commits choose; the grant is read-only on that one bucket's objects.",
                )
                for zone in ("conformed", "curated")
            ),
        ]


def _environment(construct_id: str, handler: str, values: Mapping[str, str]) -> dict[str, str]:
    """Exactly the variables ``handler`` reads, checked by its own parser (tokens pass as opaque names)."""
    unknown = [name for name in VARIABLES[handler] if name not in values]
    if unknown:
        raise ValueError(
            f"ApiFunctions {construct_id}: the {handler} handler reads {unknown}, which ApiFunctions does not "
            "provide; fix: add them to the values it sets"
        )
    environment = {name: values[name] for name in VARIABLES[handler]}
    try:
        parse_environment(handler, environment)
    except ValueError as error:
        raise ValueError(f"ApiFunctions {construct_id}: {error}") from None
    return environment


def _referenced_wildcard(consumer: IConstruct, bucket: s3.IBucket, suffix: str) -> str:
    """The IAM5 finding id of ``<bucket ARN><suffix>`` in ``consumer``'s stack, also when the bucket is in a
    sibling nested stack. There the ARN arrives as a parameter that CDK names after the reference it carries
    (``reference-to-`` the producer's nested stack resource, its output, the attribute), which the finding
    shows; the gate tests of every site fail if CDK ever names it otherwise."""
    cfn = cast(s3.CfnBucket, bucket.node.default_child)
    producer = Stack.of(cfn)
    if producer is Stack.of(consumer):
        return resource_wildcard(bucket, suffix)
    output = f"{Names.node_unique_id(cfn.node)}Arn"
    nested = producer.nested_stack_resource if isinstance(producer, NestedStack) else None
    parameter = f"referenceto{Names.node_unique_id(nested.node)}Outputs{output}" if nested else f"referenceto{output}"
    return f"AwsSolutions::AwsSolutions-IAM5[Resource::<{parameter}>{suffix}]"
