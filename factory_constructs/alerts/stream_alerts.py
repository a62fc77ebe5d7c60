"""Heartbeat, data-loss, client-count and retransmission alerts on the site's stream."""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from factory_constructs.site_function import FunctionPlacement, SiteFunction
from policies.acknowledge import acknowledge, in_regulatory_packs

ALERT_HANDLER = Path(__file__).resolve().parent / "alert_handler"
# A bad batch is split until the poison record is isolated, retried a bounded number of
# times, and then handed to the on-failure queue: the shard never stalls.
RETRY_ATTEMPTS = 3
MAX_RECORD_AGE = Duration.hours(6)
# Lambda's tumbling windows last at most 15 minutes.
MIN_WINDOW_S, MAX_WINDOW_S = 60, 900
# SNS refuses a subscription endpoint that is not an address at deploy time.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")


class StreamAlerts(Construct):
    """A tumbling-window Lambda on the stream; alerts go to an SNS topic and an EventBridge bus,
    and an alarm on the stream's incoming records catches total silence (no records, no invocation).

    The window state of each shard is carried between windows in a DynamoDB table.
    Failed batches (after bisecting and bounded retries) go to an SQS queue.
    ``window_s``: the tumbling window, 60-900 s in whole minutes; the silence alarm uses the same period
    (CloudWatch alarm periods above 30 s are multiples of 60).
    ``client_ratio_threshold`` / ``retransmission_rate_threshold``: alert when clients/max reaches,
    or the retransmission rate exceeds, that share (above 0, at most 1).
    ``email`` (default None): an address subscribed to the alert topic.
    ``lines_keep_their_shard`` (default True): every batch of a line arrives on one shard, so a gap
    in its batch_seq is loss. False when a producer picks random partition keys (stream manager).
    ``key`` encrypts the topic, bus, table, queue and the function's environment; ``logs_key`` its logs.
    ``removal_policy`` (default RETAIN): the carry table, the queue and the function's logs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_id: str,
        stream: kinesis.IStream,
        placement: FunctionPlacement,
        key: kms.IKey,
        logs_key: kms.IKey,
        window_s: int,
        client_ratio_threshold: float,
        retransmission_rate_threshold: float,
        email: str | None = None,
        lines_keep_their_shard: bool = True,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if not MIN_WINDOW_S <= window_s <= MAX_WINDOW_S:
            problems.append(
                f"window_s {window_s} is outside {MIN_WINDOW_S}-{MAX_WINDOW_S}; fix: Lambda tumbling windows last "
                "at most 15 minutes"
            )
        elif window_s % 60:
            problems.append(
                f"window_s {window_s} is not a whole number of minutes; fix: use a multiple of 60, the silence "
                "alarm's period must be one"
            )
        for name, value in (
            ("client_ratio_threshold", client_ratio_threshold),
            ("retransmission_rate_threshold", retransmission_rate_threshold),
        ):
            if not 0 < value <= 1:
                problems.append(f"{name} {value} is outside (0, 1]; fix: give a share, e.g. 0.8")
        if email is not None and not Token.is_unresolved(email) and not EMAIL_RE.match(email):
            problems.append(f"email {email!r} is not an e-mail address; fix: give one like ops@example.com, or None")
        if problems:
            raise ValueError(f"StreamAlerts {construct_id}: " + "; ".join(problems))
        self.topic = sns.Topic(self, "Topic", display_name=f"{site_id} stream alerts", master_key=key, enforce_ssl=True)
        if email is not None:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self.bus = events.EventBus(self, "Bus", kms_key=key)
        self.carry_table = dynamodb.TableV2(
            self,
            "CarryTable",
            partition_key=dynamodb.Attribute(name="shard_key", type=dynamodb.AttributeType.STRING),
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(key),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="expires_at",
            removal_policy=removal_policy,
        )
        self.failures = sqs.Queue(
            self,
            "FailedBatches",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal_policy,
        )
        acknowledge(
            self.failures,
            "AwsSolutions::AwsSolutions-SQS3",
            "This queue is itself the dead-letter destination of the alert Lambda's stream mapping; a queue "
            "behind it would only move the same failed batch descriptions once more.",
        )
        self.handler = SiteFunction(
            self,
            "Handler",
            handler_package=ALERT_HANDLER,
            handler="alert_handler.handler.handler",
            description="Tumbling-window stream alerts: heartbeat, data loss, clients, retransmissions",
            placement=placement,
            environment_key=key,
            logs_key=logs_key,
            removal_policy=removal_policy,
            environment={
                "SITE_ID": site_id,
                "ALERT_TOPIC_ARN": self.topic.topic_arn,
                "ALERT_BUS_NAME": self.bus.event_bus_name,
                "CARRY_TABLE_NAME": self.carry_table.table_name,
                "HEARTBEAT_GRACE_FACTOR": "2",
                "CLIENT_RATIO_THRESHOLD": str(client_ratio_threshold),
                "RETRANSMISSION_RATE_THRESHOLD": str(retransmission_rate_threshold),
                "SEQUENCE_GAP_ALERTS": "true" if lines_keep_their_shard else "false",
            },
            reserved_concurrency=5,
            timeout=Duration.minutes(2),
        )
        function = self.handler.function
        self.topic.grant_publish(function)
        self.bus.grant_put_events_to(function)
        self.carry_table.grant_read_write_data(function)
        function.add_event_source(
            sources.KinesisEventSource(
                stream,
                # LATEST: a first deploy must not replay 72 h of history into alerts about the past.
                starting_position=lambda_.StartingPosition.LATEST,
                tumbling_window=Duration.seconds(window_s),
                bisect_batch_on_error=True,
                retry_attempts=RETRY_ATTEMPTS,
                max_record_age=MAX_RECORD_AGE,
                report_batch_item_failures=True,
                batch_size=500,
                on_failure=sources.SqsDlq(self.failures),
            )
        )
        # A silent stream invokes no Lambda at all: an alarm covers the total outage.
        self.silence_alarm = cloudwatch.Alarm(
            self,
            "StreamSilent",
            alarm_description=f"No record reached the {site_id} stream in {window_s} s: gateways or rules down",
            metric=stream.metric_incoming_records(period=Duration.seconds(window_s), statistic="Sum"),
            threshold=0,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        self.silence_alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        self._let_alarms_publish(key)
        acknowledge(
            function,
            in_regulatory_packs("LambdaDLQ"),
            "The function is driven by a Kinesis event source mapping, not invoked asynchronously; its failed "
            "batches go to the mapping's SQS on-failure destination instead.",
        )

    def _let_alarms_publish(self, key: kms.IKey) -> None:
        """CloudWatch publishes alarm actions as its service principal: the topic's policy (which enforce_ssl
        makes explicit, so nothing is allowed by default) and the topic's key must both admit it."""
        stack = Stack.of(self)
        alarms_here = stack.format_arn(
            service="cloudwatch", resource="alarm", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        conditions = {"StringEquals": {"aws:SourceAccount": stack.account}, "ArnLike": {"aws:SourceArn": alarms_here}}
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=conditions,
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToEncryptedTopics",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy "*" means this key
                conditions=conditions,
            )
        )
