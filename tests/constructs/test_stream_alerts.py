"""StreamAlerts on a bare stack: topic, bus, carry table, failure queue, handler, mapping, silence alarm,
grants, validations, removal policy, nag."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import pytest
from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from construct_helpers import KINESIS_READ_ACTIONS, bare_stack, placement, site_keys, unacknowledged_findings
from factory_constructs.alerts.stream_alerts import StreamAlerts
from factory_constructs.ingestion.tag_stream import TagStream

pytestmark = pytest.mark.synth

REQUIRED = {"site_id": "plantA", "window_s": 300, "client_ratio_threshold": 0.8, "retransmission_rate_threshold": 0.05}


class Built(NamedTuple):
    stack: Stack
    key: kms.IKey
    logs_key: kms.IKey
    stream: kinesis.IStream
    alerts: StreamAlerts

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)

    def key_arn(self) -> Any:
        return self.resolve(self.key.key_arn)


def build(*, audit_trail: bool = False, **props: Any) -> Built:
    """StreamAlerts "Alerts" of site plantA on a one-shard TagStream, with only the required props unless
    ``props`` override them."""
    stack = bare_stack(audit_trail=audit_trail)
    keys = site_keys(stack)
    stream = TagStream(
        stack, "TagStream", key=keys.data, retention_hours=72, shards=1, removal_policy=RemovalPolicy.RETAIN
    )
    alerts = StreamAlerts(
        stack,
        "Alerts",
        stream=stream.stream,
        placement=placement(stack, keys),
        key=keys.data,
        logs_key=keys.logs,
        **{**REQUIRED, **props},
    )
    return Built(stack, keys.data, keys.logs, stream.stream, alerts)


def new(**props: Any) -> StreamAlerts:
    """Only the constructor (for validation tests): no template is synthesized."""
    stack = bare_stack()
    key = kms.Key(stack, "Key")
    stream = kinesis.Stream(stack, "Stream")
    return StreamAlerts(
        stack,
        "Alerts",
        stream=stream,
        placement=placement(stack, site_keys(stack)),
        key=key,
        logs_key=key,
        **{**REQUIRED, **props},
    )


def handler_environment(built: Built, **changes: str) -> dict[str, Any]:
    alerts = built.alerts
    return {
        "SITE_ID": "plantA",
        "ALERT_TOPIC_ARN": built.resolve(alerts.topic.topic_arn),
        "ALERT_BUS_NAME": built.resolve(alerts.bus.event_bus_name),
        "CARRY_TABLE_NAME": built.resolve(alerts.carry_table.table_name),
        "HEARTBEAT_GRACE_FACTOR": "2",
        "CLIENT_RATIO_THRESHOLD": "0.8",
        "RETRANSMISSION_RATE_THRESHOLD": "0.05",
        "SEQUENCE_GAP_ALERTS": "true",
        **changes,
    }


def environment_of(built: Built) -> dict[str, Any]:
    function = built.alerts.handler.function.node.default_child
    resource = built.template().to_json()["Resources"][built.stack.get_logical_id(function)]  # type: ignore[arg-type]
    return resource["Properties"]["Environment"]["Variables"]


@pytest.fixture(scope="module")
def default() -> Built:
    return build()


# --- defaults ---------------------------------------------------------------------------------------


def test_topic_is_encrypted_with_the_key_and_refuses_publishing_without_tls(default: Built) -> None:
    template = default.template()
    topic_ref = default.resolve(default.alerts.topic.topic_arn)
    template.has_resource_properties(
        "AWS::SNS::Topic", {"DisplayName": "plantA stream alerts", "KmsMasterKeyId": default.key_arn()}
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [topic_ref],
            "PolicyDocument": {
                "Statement": [
                    Match.exact(
                        {
                            "Sid": "AllowPublishThroughSSLOnly",
                            "Action": "sns:Publish",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Resource": topic_ref,
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ),
                    Match.object_like({"Sid": "CloudWatchAlarmsOfThisAccount"}),
                ]
            },
        },
    )


# CloudWatch publishes an alarm action as its service principal, from alarms of this account and region.
ALARMS_OF_THIS_ACCOUNT = {
    "StringEquals": {"aws:SourceAccount": "123456789012"},
    "ArnLike": {
        "aws:SourceArn": {
            "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":cloudwatch:eu-central-1:123456789012:alarm:*"]]
        }
    },
}


def test_alarms_of_this_account_may_publish_to_the_topic_and_use_its_key(default: Built) -> None:
    template = default.template()
    topic_ref = default.resolve(default.alerts.topic.topic_arn)
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "CloudWatchAlarmsOfThisAccount",
                            "Action": "sns:Publish",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Resource": topic_ref,
                            "Condition": ALARMS_OF_THIS_ACCOUNT,
                        }
                    ]
                )
            }
        },
    )
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "CloudWatchAlarmsPublishToEncryptedTopics",
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Resource": "*",
                            "Condition": ALARMS_OF_THIS_ACCOUNT,
                        }
                    ]
                )
            }
        },
    )


def test_without_an_email_the_topic_has_no_subscription(default: Built) -> None:
    default.template().resource_count_is("AWS::SNS::Subscription", 0)


def test_bus_is_encrypted_with_the_key(default: Built) -> None:
    default.template().has_resource_properties("AWS::Events::EventBus", {"KmsKeyIdentifier": default.key_arn()})


def test_carry_table_is_keyed_by_shard_encrypted_with_the_key_recoverable_and_expires_rows(default: Built) -> None:
    default.template().has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "KeySchema": [{"AttributeName": "shard_key", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "shard_key", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS"},
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "Replicas": [
                Match.object_like(
                    {
                        "Region": "eu-central-1",
                        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                        "SSESpecification": {"KMSMasterKeyId": default.key_arn()},
                    }
                )
            ],
        },
    )


def test_failure_queue_is_encrypted_with_the_key_keeps_14_days_and_refuses_plain_http(default: Built) -> None:
    template = default.template()
    queue_arn = default.resolve(default.alerts.failures.queue_arn)
    template.has_resource_properties(
        "AWS::SQS::Queue", {"KmsMasterKeyId": default.key_arn(), "MessageRetentionPeriod": 14 * 24 * 3600}
    )
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.exact(
                        {
                            "Action": "sqs:*",
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Resource": queue_arn,
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    )
                ]
            }
        },
    )


def test_handler_gets_exactly_the_environment_it_reads(default: Built) -> None:
    assert environment_of(default) == handler_environment(default)


def test_handler_is_bounded_and_encrypts_its_environment_and_logs_with_the_site_keys(default: Built) -> None:
    template = default.template()
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "alert_handler.handler.handler",
            "ReservedConcurrentExecutions": 5,
            "Timeout": 120,
            "KmsKeyArn": default.key_arn(),
            "LoggingConfig": {"LogGroup": default.resolve(default.alerts.handler.log_group.log_group_name)},
        },
    )
    template.has_resource_properties(
        "AWS::Logs::LogGroup", {"KmsKeyId": default.resolve(default.logs_key.key_arn), "RetentionInDays": 400}
    )


def test_the_mapping_reads_latest_in_tumbling_windows_bisects_and_hands_failures_to_the_queue(default: Built) -> None:
    default.template().has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        Match.exact(
            {
                "EventSourceArn": default.resolve(default.stream.stream_arn),
                "FunctionName": default.resolve(default.alerts.handler.function.function_name),
                "StartingPosition": "LATEST",
                "TumblingWindowInSeconds": 300,
                "BisectBatchOnFunctionError": True,
                "MaximumRetryAttempts": 3,
                "MaximumRecordAgeInSeconds": 6 * 3600,
                "BatchSize": 500,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "DestinationConfig": {"OnFailure": {"Destination": default.resolve(default.alerts.failures.queue_arn)}},
                "Tags": Match.any_value(),
            }
        ),
    )


def test_a_silent_stream_breaches_the_alarm_which_notifies_the_topic(default: Built) -> None:
    default.template().has_resource_properties(
        "AWS::CloudWatch::Alarm",
        Match.exact(
            {
                "AlarmDescription": "No record reached the plantA stream in 300 s: gateways or rules down",
                "Namespace": "AWS/Kinesis",
                "MetricName": "IncomingRecords",
                "Dimensions": [{"Name": "StreamName", "Value": default.resolve(default.stream.stream_name)}],
                "Statistic": "Sum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "LessThanOrEqualToThreshold",
                "TreatMissingData": "breaching",
                "AlarmActions": [default.resolve(default.alerts.topic.topic_arn)],
                "Tags": Match.any_value(),
            }
        ),
    )


# --- customisations ---------------------------------------------------------------------------------


def test_an_email_is_subscribed_to_the_topic() -> None:
    built = build(email="ops@example.com")
    built.template().has_resource_properties(
        "AWS::SNS::Subscription",
        Match.exact(
            {
                "Protocol": "email",
                "Endpoint": "ops@example.com",
                "TopicArn": built.resolve(built.alerts.topic.topic_arn),
            }
        ),
    )


def test_lines_that_do_not_keep_their_shard_turn_sequence_gap_alerts_off() -> None:
    built = build(lines_keep_their_shard=False)
    assert environment_of(built) == handler_environment(built, SEQUENCE_GAP_ALERTS="false")


def test_thresholds_reach_the_handler_as_given() -> None:
    built = build(client_ratio_threshold=1, retransmission_rate_threshold=0.125)
    assert environment_of(built) == handler_environment(
        built, CLIENT_RATIO_THRESHOLD="1", RETRANSMISSION_RATE_THRESHOLD="0.125"
    )


def test_window_s_sets_the_tumbling_window_and_the_silence_alarms_period() -> None:
    template = build(window_s=600).template()
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {"TumblingWindowInSeconds": 600})
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"Period": 600, "AlarmDescription": "No record reached the plantA stream in 600 s: gateways or rules down"},
    )


@pytest.mark.parametrize("window_s", [60, 900])
def test_window_s_may_be_one_or_fifteen_minutes(window_s: int) -> None:
    new(window_s=window_s)


# --- validations ------------------------------------------------------------------------------------


@pytest.mark.parametrize("window_s", [59, 901, 0])
def test_window_s_must_be_within_lambdas_tumbling_window_range(window_s: int) -> None:
    message = (
        f"StreamAlerts Alerts: window_s {window_s} is outside 60-900; fix: Lambda tumbling windows last at most "
        "15 minutes"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(window_s=window_s)


def test_window_s_must_be_whole_minutes_for_the_alarm_period() -> None:
    message = (
        "StreamAlerts Alerts: window_s 90 is not a whole number of minutes; fix: use a multiple of 60, the silence "
        "alarm's period must be one"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(window_s=90)


@pytest.mark.parametrize("name", ["client_ratio_threshold", "retransmission_rate_threshold"])
@pytest.mark.parametrize("value", [0, -0.1, 1.01])
def test_thresholds_must_be_shares_above_zero_and_at_most_one(name: str, value: float) -> None:
    message = f"StreamAlerts Alerts: {name} {value} is outside (0, 1]; fix: give a share, e.g. 0.8"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(**{name: value})


@pytest.mark.parametrize("email", ["", "ops", "ops@", "ops @example.com"])
def test_email_must_be_an_address(email: str) -> None:
    message = (
        f"StreamAlerts Alerts: email {email!r} is not an e-mail address; fix: give one like ops@example.com, or None"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(email=email)


def test_every_problem_is_reported_at_once() -> None:
    message = (
        "StreamAlerts Alerts: window_s 1200 is outside 60-900; fix: Lambda tumbling windows last at most 15 minutes; "
        "client_ratio_threshold 0 is outside (0, 1]; fix: give a share, e.g. 0.8; "
        "retransmission_rate_threshold 2 is outside (0, 1]; fix: give a share, e.g. 0.8; "
        "email 'ops' is not an e-mail address; fix: give one like ops@example.com, or None"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        new(window_s=1200, client_ratio_threshold=0, retransmission_rate_threshold=2, email="ops")


# --- grants -------------------------------------------------------------------------------------------


def test_the_handler_may_publish_to_the_topic_put_events_on_the_bus_and_read_and_write_the_table(
    default: Built,
) -> None:
    alerts = default.alerts
    key_arn = default.key_arn()
    table_arn = default.resolve(alerts.carry_table.table_arn)
    default.template().has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [default.resolve(alerts.handler.role.role_name)],
            "PolicyDocument": {
                "Statement": Match.exact(
                    [
                        # SiteFunction's tracing.
                        {
                            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                            "Effect": "Allow",
                            "Resource": "*",
                        },
                        # topic.grant_publish
                        {
                            "Action": "sns:Publish",
                            "Effect": "Allow",
                            "Resource": default.resolve(alerts.topic.topic_arn),
                        },
                        {"Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Effect": "Allow", "Resource": key_arn},
                        # bus.grant_put_events_to
                        {
                            "Action": "events:PutEvents",
                            "Effect": "Allow",
                            "Resource": default.resolve(alerts.bus.event_bus_arn),
                        },
                        # carry_table.grant_read_write_data
                        {
                            "Action": [
                                "kms:Decrypt",
                                "kms:DescribeKey",
                                "kms:Encrypt",
                                "kms:ReEncrypt*",
                                "kms:GenerateDataKey*",
                            ],
                            "Effect": "Allow",
                            "Resource": key_arn,
                        },
                        {
                            "Action": [
                                "dynamodb:BatchGetItem",
                                "dynamodb:Query",
                                "dynamodb:GetItem",
                                "dynamodb:Scan",
                                "dynamodb:ConditionCheckItem",
                                "dynamodb:BatchWriteItem",
                                "dynamodb:PutItem",
                                "dynamodb:UpdateItem",
                                "dynamodb:DeleteItem",
                                "dynamodb:DescribeTable",
                            ],
                            "Effect": "Allow",
                            "Resource": table_arn,
                        },
                        {
                            "Action": ["dynamodb:GetRecords", "dynamodb:GetShardIterator"],
                            "Effect": "Allow",
                            "Resource": table_arn,
                        },
                        # The mapping's on-failure destination.
                        {
                            "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                            "Effect": "Allow",
                            "Resource": default.resolve(alerts.failures.queue_arn),
                        },
                        {
                            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
                            "Effect": "Allow",
                            "Resource": key_arn,
                        },
                        # The mapping reads the stream.
                        {
                            "Action": KINESIS_READ_ACTIONS,
                            "Effect": "Allow",
                            "Resource": default.resolve(default.stream.stream_arn),
                        },
                        {"Action": "kms:Decrypt", "Effect": "Allow", "Resource": key_arn},
                    ]
                )
            },
        },
    )


# --- removal policy -----------------------------------------------------------------------------------

STATEFUL = ("AWS::DynamoDB::GlobalTable", "AWS::SQS::Queue", "AWS::Logs::LogGroup")


def deletion_policies(built: Built) -> dict[str, set[tuple[str, str]]]:
    """Per stateful type, the deletion policies of the construct's resources (the network's flow-log group left out)."""
    template = built.template()
    return {
        kind: {
            (resource["DeletionPolicy"], resource["UpdateReplacePolicy"])
            for logical_id, resource in template.find_resources(kind).items()
            if logical_id.startswith("Alerts")
        }
        for kind in STATEFUL
    }


def test_table_queue_and_logs_are_retained_by_default(default: Built) -> None:
    assert deletion_policies(default) == {kind: {("Retain", "Retain")} for kind in STATEFUL}


def test_destroy_deletes_table_queue_and_logs_with_their_stack() -> None:
    built = build(removal_policy=RemovalPolicy.DESTROY)
    assert deletion_policies(built) == {kind: {("Delete", "Delete")} for kind in STATEFUL}


# --- nag ----------------------------------------------------------------------------------------------


def test_the_alerts_alone_on_an_audit_trail_stack_have_no_unacknowledged_findings() -> None:
    built = build(audit_trail=True, email="ops@example.com")
    assert unacknowledged_findings(built.stack) == []
