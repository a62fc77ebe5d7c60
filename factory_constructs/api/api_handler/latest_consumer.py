"""Keeps the latest-value table current from the site's Kinesis stream (the tag batches the IoT rule forwards).

* Each record is one envelope message (``envelope.tag_envelope``); heartbeats are not tag values and are
  skipped, and so is a malformed record (counted in the log: retrying it cannot make it valid, and the
  stream alerts and the conformed zone's rejects already report it).
* Within a batch only the newest value per path is written (newest: larger source ``ts``, then larger
  ``seq``), so a burst of one tag costs one write.
* Every write is conditional: "no item yet, or the stored value is older". Kinesis and IoT deliver at
  least once and shards replay after a failure, so an older or the very same value (same ``id``: same
  ts and seq) arriving again fails the condition and is dropped: idempotent on the value's key, never
  older over newer.
* A write DynamoDB refuses for any other reason (throttling, a service error) is reported in
  ``batchItemFailures`` as the record that carried the value; Lambda then retries from it (the event
  source mapping needs ``ReportBatchItemFailures``), and the records after it come again, harmlessly.
"""

from __future__ import annotations

import base64
import binascii
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from envelope.tag_envelope import KIND_TAGS, decode, utc_timestamp

from . import latest_store

# Writes are independent single-item calls; a few threads hide DynamoDB's round trip.
_WRITERS = 8
_NEWER = "attribute_not_exists(#p) OR #us < :us OR (#us = :us AND #seq < :seq)"
_NAMES = {"#p": "path", "#us": "ts_us", "#seq": "seq"}


@dataclass(frozen=True)
class Candidate:
    """The newest value of one path in this batch, and the record that brought it."""

    order: tuple[int, int]  # (ts_us, seq)
    item: dict[str, dict[str, Any]]
    sequence_number: str


@dataclass(frozen=True)
class Outcome:
    """What one batch did: Lambda's answer and the figures for the log."""

    failures: list[str]  # sequence numbers of records to retry from
    reasons: dict[str, int]  # DynamoDB error code -> refused writes
    records: int
    values: int
    written: int
    stale: int
    skipped: int


def newest_values(records: list[dict[str, Any]]) -> tuple[dict[str, Candidate], int, int]:
    """The newest value per path of a Kinesis batch; also the count of values and of records skipped."""
    newest: dict[str, Candidate] = {}
    values = skipped = 0
    for record in records:
        kinesis = record["kinesis"]
        try:
            message = decode(base64.b64decode(kinesis["data"], validate=True))
        except (binascii.Error, ValueError, RecursionError):
            skipped += 1
            continue
        if message["kind"] != KIND_TAGS:
            skipped += 1
            continue
        arrival = utc_timestamp(float(kinesis["approximateArrivalTimestamp"]))
        for value in message["values"]:
            values += 1
            order = (latest_store.epoch_us(value["ts"]), value["seq"])
            held = newest.get(value["path"])
            if held is None or order > held.order:
                built = latest_store.item(value, gateway=message["gateway"], arrival_ts=arrival)
                newest[value["path"]] = Candidate(order, built, kinesis["sequenceNumber"])
    return newest, values, skipped


def _put(dynamodb: Any, table: str, candidate: Candidate) -> str:
    """Returns "written", "stale" (the table holds this value or a newer one) or "failed:<error code>"."""
    try:
        dynamodb.put_item(
            TableName=table,
            Item=candidate.item,
            ConditionExpression=_NEWER,
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={":us": candidate.item["ts_us"], ":seq": candidate.item["seq"]},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return "stale"
    except Exception as error:  # any other refusal is retried through batchItemFailures
        code = getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
        return f"failed:{code}"
    return "written"


def consume(records: list[dict[str, Any]], *, dynamodb: Any, table: str) -> Outcome:
    """Write the batch's newest values; the records to retry from are those whose write was refused."""
    newest, values, skipped = newest_values(records)
    candidates = list(newest.values())
    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        results = list(pool.map(lambda candidate: _put(dynamodb, table, candidate), candidates))
    refused = [(c, result) for c, result in zip(candidates, results, strict=True) if result.startswith("failed:")]
    reasons: dict[str, int] = {}
    for _, result in refused:
        reasons[result.removeprefix("failed:")] = reasons.get(result.removeprefix("failed:"), 0) + 1
    return Outcome(
        failures=sorted({candidate.sequence_number for candidate, _ in refused}, key=int),
        reasons=reasons,
        records=len(records),
        values=values,
        written=results.count("written"),
        stale=results.count("stale"),
        skipped=skipped,
    )
