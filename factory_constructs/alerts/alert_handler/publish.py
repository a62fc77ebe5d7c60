"""Publishing alerts to the site's SNS topic and EventBridge bus; the clients are passed in.

Every failure raises: Lambda then retries the window's final invoke (bounded by the event source
mapping), and the deterministic ``alert_id`` lets subscribers drop the copies a retry republishes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .window import Alert

SOURCE = "dmc.stream-alerts"
DETAIL_TYPES = {
    "heartbeat-missing": "Gateway Heartbeat Missing",
    "data-loss": "Data Loss Reported",
    "client-count": "Client Count High",
    "retransmission-rate": "Retransmission Rate High",
    "malformed-records": "Malformed Records",
}
_PUT_EVENTS_MAX_ENTRIES = 10
# SNS rejects subjects with control or non-ASCII characters, and envelope gateway names may hold any.
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class PublishError(RuntimeError):
    """EventBridge accepted the call but refused some entries."""


def subject(alert: Alert) -> str:
    """An e-mail subject: ASCII, at most 100 characters, as SNS requires."""
    text = f"[{alert.site}] {DETAIL_TYPES[alert.kind]}: {alert.gateway or alert.window.shard_id}"
    return _UNPRINTABLE.sub("?", text)[:100]


def publish_alerts(alerts: list[Alert], *, sns: Any, events: Any, topic_arn: str, bus_name: str) -> None:
    """Publish each alert to SNS (one message each) and to EventBridge (in batches of 10)."""
    for alert in alerts:
        sns.publish(
            TopicArn=topic_arn,
            Subject=subject(alert),
            Message=json.dumps(alert.detail()),
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": alert.kind},
                "site": {"DataType": "String", "StringValue": alert.site},
            },
        )
    for start in range(0, len(alerts), _PUT_EVENTS_MAX_ENTRIES):
        chunk = alerts[start : start + _PUT_EVENTS_MAX_ENTRIES]
        response = events.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": DETAIL_TYPES[alert.kind],
                    "Detail": json.dumps(alert.detail()),
                    "EventBusName": bus_name,
                }
                for alert in chunk
            ]
        )
        # PutEvents reports refused entries in its answer instead of raising.
        if response.get("FailedEntryCount"):
            codes = sorted({entry["ErrorCode"] for entry in response["Entries"] if "ErrorCode" in entry})
            raise PublishError(f"EventBridge refused {response['FailedEntryCount']} alert(s): {', '.join(codes)}")
