"""Stream alerts Lambda on the site's Kinesis stream, with a tumbling window (the event source mapping's).

Thin entry point: reads its settings, creates boto3 clients on first use, and hands plain data to
``window`` (the logic), ``publish`` (SNS + EventBridge) and ``carry_store`` (DynamoDB).

Environment:
    SITE_ID                        site id put in every alert
    ALERT_TOPIC_ARN                SNS topic the alerts are published to
    ALERT_BUS_NAME                 EventBridge bus the alerts are put on (source "dmc.stream-alerts")
    CARRY_TABLE_NAME               DynamoDB table keeping each shard's carry between windows
    HEARTBEAT_GRACE_FACTOR         silence allowed, in heartbeat intervals (default 2)
    CLIENT_RATIO_THRESHOLD         clients / max_clients that raises an alert, inclusive (default 0.8)
    RETRANSMISSION_RATE_THRESHOLD  retransmission share above which an alert is raised (default 0.05)
    SEQUENCE_GAP_ALERTS            "false" when records of one line may land on several shards (default "true")

Packaging: this folder is a package (relative imports), so the asset holds ``alert_handler/`` and
``envelope/`` side by side and the Lambda handler is ``alert_handler.handler.handler``.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from .carry_store import load_carry, save_carry, shard_key
from .publish import publish_alerts
from .window import Thresholds, Window, evaluate, fold, start_state, state_size


@dataclass(frozen=True)
class Config:
    site: str
    topic_arn: str
    bus_name: str
    carry_table: str
    thresholds: Thresholds


def config_from_env(env: Mapping[str, str]) -> Config:
    """The handler's settings; raises ValueError naming every missing or bad variable."""
    problems = []
    required = {}
    for name in ("SITE_ID", "ALERT_TOPIC_ARN", "ALERT_BUS_NAME", "CARRY_TABLE_NAME"):
        required[name] = env.get(name, "")
        if not required[name]:
            problems.append(f"{name} is not set")

    def number(name: str, default: float, highest: float) -> float:
        text = env.get(name, "")
        try:
            value = float(text) if text else default
        except ValueError:
            value = -1.0
        if not 0 < value <= highest:
            problems.append(f"{name}={text!r} is not a number in (0, {highest:g}]")
        return value

    gaps = env.get("SEQUENCE_GAP_ALERTS", "true")
    if gaps not in ("true", "false"):
        problems.append(f"SEQUENCE_GAP_ALERTS={gaps!r} is not true or false")
    thresholds = Thresholds(
        sequence_gaps=gaps == "true",
        grace_factor=number("HEARTBEAT_GRACE_FACTOR", 2.0, 100.0),
        client_ratio=number("CLIENT_RATIO_THRESHOLD", 0.8, 1.0),
        retransmission_rate=number("RETRANSMISSION_RATE_THRESHOLD", 0.05, 1.0),
    )
    if problems:
        raise ValueError("stream alerts misconfigured: " + "; ".join(problems))
    return Config(
        site=required["SITE_ID"],
        topic_arn=required["ALERT_TOPIC_ARN"],
        bus_name=required["ALERT_BUS_NAME"],
        carry_table=required["CARRY_TABLE_NAME"],
        thresholds=thresholds,
    )


@functools.cache
def aws_client(service: str) -> Any:
    """One boto3 client per service, created on first use and kept while the execution environment lives."""
    return boto3.client(service)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Tumbling-window entry point: returns the state during the window, acts at its final invoke."""
    config = config_from_env(os.environ)
    key = shard_key(event["eventSourceARN"], event["shardId"])
    records = event.get("Records", [])  # a final invoke may come without new records
    # Lambda starts each window (and the rest of an early-ended one) with an empty state.
    state = event.get("state") or start_state(load_carry(aws_client("dynamodb"), table=config.carry_table, key=key))
    fold(state, records)
    terminated_early = bool(event.get("isWindowTerminatedEarly"))
    final = bool(event.get("isFinalInvokeForWindow")) or terminated_early
    kinds: list[str] = []
    if final:
        window = Window(
            start=event["window"]["start"],
            end=event["window"]["end"],
            shard_id=event["shardId"],
            terminated_early=terminated_early,
        )
        alerts, carry = evaluate(state, window, config.thresholds, config.site)
        publish_alerts(
            alerts,
            sns=aws_client("sns"),
            events=aws_client("events"),
            topic_arn=config.topic_arn,
            bus_name=config.bus_name,
        )
        # Saved only once every alert is out: a failed publish retries the window with the old carry.
        save_carry(aws_client("dynamodb"), carry, table=config.carry_table, key=key, now=time.time())
        kinds = [alert.kind for alert in alerts]
    print(
        json.dumps(
            {
                "message": "stream-alerts",
                "shard_id": event["shardId"],
                "records": len(records),
                "final": final,
                "alerts": kinds,
                "malformed": state["malformed"]["count"],
                "untracked": state["untracked"],
                "state_bytes": state_size(state),
            }
        )
    )
    # Lambda drops the state after the final invoke (the carry store keeps what the next window needs).
    # No record is ever reported failed: a poison record is alerted on, since retrying it cannot help,
    # and a failed publish raises so the whole window is retried.
    return {"state": {} if final else state, "batchItemFailures": []}
