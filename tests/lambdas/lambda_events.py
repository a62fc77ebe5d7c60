"""Builders of envelope messages and of the events Firehose and Kinesis hand the two Lambdas."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from envelope.tag_envelope import encode, heartbeat, tag_batch, tag_value, utc_timestamp

SITE = "plantA"
GATEWAY = "plantA-gw-01"
OTHER_GATEWAY = "plantA-gw-02"
LINE = "acme/plantA/filling/line1"
OTHER_LINE = "acme/plantA/packing/line7"
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, the start of the first window in these tests
WINDOW_S = 300
STREAM_ARN = "arn:aws:kinesis:eu-central-1:123456789012:stream/plantA-telemetry"
SHARD = "shardId-000000000000"


def tags(*, batch_seq: int, gateway: str = GATEWAY, line: str = LINE, ts: float = T0, count: int = 2) -> dict[str, Any]:
    """A valid ``tags`` batch whose values are stamped ``ts``, ``ts`` + 1 ms, ..."""
    values = [
        tag_value(
            path=f"{line}/filler/temperature_{index}",
            value=20.5 + index,
            unit="degC",
            quality="good",
            ts=utc_timestamp(ts + index / 1000),
            seq=batch_seq * count + index,
            gateway=gateway,
        )
        for index in range(count)
    ]
    return tag_batch(site=SITE, gateway=gateway, line=line, batch_seq=batch_seq, values=values)


def beat(
    *,
    seq: int,
    gateway: str = GATEWAY,
    ts: float = T0,
    interval_s: int = 60,
    clients: int = 1,
    max_clients: int = 10,
    sent: int = 0,
    retransmissions: int = 0,
    lost: int = 0,
) -> dict[str, Any]:
    """A valid ``heartbeat`` with the figures the alerts read."""
    return heartbeat(
        site=SITE,
        gateway=gateway,
        ts=utc_timestamp(ts),
        seq=seq,
        interval_s=interval_s,
        clients=clients,
        max_clients=max_clients,
        sent=sent,
        received=sent,
        retransmissions=retransmissions,
        lost=lost,
        spool_depth=0,
        dropped_overflow=0,
    )


def _bytes(payload: dict[str, Any] | bytes) -> bytes:
    return payload if isinstance(payload, bytes) else encode(payload)


def firehose_record(payload: dict[str, Any] | bytes, *, record_id: str, arrival: float = T0) -> dict[str, Any]:
    """One record of a Firehose transformation event whose source is a Kinesis stream."""
    return {
        "recordId": record_id,
        "approximateArrivalTimestamp": int(arrival * 1000),
        "data": base64.b64encode(_bytes(payload)).decode(),
        "kinesisRecordMetadata": {
            "shardId": SHARD,
            "partitionKey": LINE,
            "sequenceNumber": f"4959{record_id.zfill(52)}",
            "subsequenceNumber": 0,
            "approximateArrivalTimestamp": int(arrival * 1000),
        },
    }


def firehose_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "invocationId": "c3a7e0b4-invocation",
        "deliveryStreamArn": "arn:aws:firehose:eu-central-1:123456789012:deliverystream/plantA-raw",
        "sourceKinesisStreamArn": STREAM_ARN,
        "region": "eu-central-1",
        "records": records,
    }


def kinesis_record(
    payload: dict[str, Any] | bytes, *, sequence_number: int, arrival: float, partition_key: str = LINE
) -> dict[str, Any]:
    """One record of a Kinesis event, as Lambda's event source mapping delivers it."""
    number = f"4959{sequence_number:052d}"
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": number,
            "data": base64.b64encode(_bytes(payload)).decode(),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{SHARD}:{number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/stream-alerts",
        "awsRegion": "eu-central-1",
        "eventSourceARN": STREAM_ARN,
    }


def window_bounds(index: int) -> tuple[str, str]:
    """ISO bounds of the ``index``-th window after T0, written the way Lambda writes them."""

    def iso(epoch: float) -> str:
        return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    start = T0 + index * WINDOW_S
    return iso(start), iso(start + WINDOW_S)


def window_event(
    records: list[dict[str, Any]],
    *,
    state: dict[str, Any],
    window: int = 0,
    final: bool = False,
    terminated_early: bool = False,
) -> dict[str, Any]:
    """A tumbling-window invocation of the stream alerts Lambda."""
    start, end = window_bounds(window)
    return {
        "Records": records,
        "window": {"start": start, "end": end},
        "state": state,
        "shardId": SHARD,
        "eventSourceARN": STREAM_ARN,
        "isFinalInvokeForWindow": final,
        "isWindowTerminatedEarly": terminated_early,
    }
