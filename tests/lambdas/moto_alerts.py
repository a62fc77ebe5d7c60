"""moto-backed AWS for the stream alerts handler: topic -> SQS queue, event bus, carry table (fixture in conftest)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lambda_events import SHARD, SITE, STREAM_ARN
from moto import mock_aws

from factory_constructs.alerts.alert_handler.carry_store import load_carry, shard_key
from factory_constructs.alerts.alert_handler.handler import aws_client

TABLE = "plantA-alert-carry"


@dataclass
class AlertAws:
    """The handler's AWS world, and what it published."""

    sqs: Any
    dynamodb: Any
    queue_url: str
    put_events: list[dict[str, Any]] = field(default_factory=list)

    def sns_alerts(self) -> list[dict[str, Any]]:
        """Every alert delivered through the topic so far (raw delivery: the body is the message)."""
        alerts: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return alerts
            for message in messages:
                alerts.append({**json.loads(message["Body"]), "attributes": message["MessageAttributes"]})
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def bus_entries(self) -> list[dict[str, Any]]:
        """Every PutEvents entry the handler sent (moto's rule targets need an extra package)."""
        return [entry for call in self.put_events for entry in call["Entries"]]

    def carry(self) -> dict[str, Any] | None:
        return load_carry(self.dynamodb, table=TABLE, key=shard_key(STREAM_ARN, SHARD))


@contextmanager
def alert_world() -> Iterator[tuple[AlertAws, dict[str, str]]]:
    """moto resources, and the environment that points the handler at them.

    The clients are the handler's own cached ones, created inside the mock; the cache is emptied on the
    way in and out so no client outlives its mock.
    """
    with mock_aws():
        aws_client.cache_clear()
        sns, sqs, events, dynamodb = (aws_client(name) for name in ("sns", "sqs", "events", "dynamodb"))
        topic_arn = sns.create_topic(Name="plantA-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="plantA-alerts-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        events.create_event_bus(Name="plantA-alerts")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "shard_key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "shard_key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        world = AlertAws(sqs=sqs, dynamodb=dynamodb, queue_url=queue_url)

        def record_put_events(params: dict[str, Any], **_: Any) -> None:
            world.put_events.append(params)

        events.meta.events.register("provide-client-params.events.PutEvents", record_put_events)
        environment = {
            "SITE_ID": SITE,
            "ALERT_TOPIC_ARN": topic_arn,
            "ALERT_BUS_NAME": "plantA-alerts",
            "CARRY_TABLE_NAME": TABLE,
        }
        try:
            yield world, environment
        finally:
            aws_client.cache_clear()
