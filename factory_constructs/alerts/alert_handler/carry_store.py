"""Keeps a shard's carry between tumbling windows in DynamoDB; the client is passed in.

Lambda drops the window state after the final invoke, so what the next window needs lives in one item per
(stream, shard): table key ``shard_key`` (string), attribute ``carry`` (JSON: a few KB for a real site,
under 370 KB at the window module's caps, below DynamoDB's 400 KB item limit) and ``expires_at`` for TTL,
so the items of closed shards (after resharding) go away by themselves.
"""

from __future__ import annotations

import json
from typing import Any

from .window import Carry

KEEP_S = 7 * 24 * 3600  # a shard idle for a week starts afresh


def shard_key(stream_arn: str, shard_id: str) -> str:
    return f"{stream_arn}#{shard_id}"


def load_carry(dynamodb: Any, *, table: str, key: str) -> Carry | None:
    """The carry the previous window of this shard stored, or None for a shard seen the first time."""
    item = dynamodb.get_item(TableName=table, Key={"shard_key": {"S": key}}, ConsistentRead=True).get("Item")
    return json.loads(item["carry"]["S"]) if item else None


def save_carry(dynamodb: Any, carry: Carry, *, table: str, key: str, now: float) -> None:
    dynamodb.put_item(
        TableName=table,
        Item={
            "shard_key": {"S": key},
            "carry": {"S": json.dumps(carry, separators=(",", ":"))},
            "expires_at": {"N": str(int(now + KEEP_S))},
        },
    )
