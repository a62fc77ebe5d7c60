"""Firehose data transformation: check every record against the envelope and name its S3 partition.

The delivery stream reads the site's Kinesis stream and partitions dynamically with the prefix
``!{partitionKeyFromLambda:kind}/area=!{...:area}/line=!{...:line}/date=!{...:date}/hour=!{...:hour}/``.

* A valid ``tags`` batch is written as one compact JSON line under ``tags/``, in the area and line of its
  ISA-95 line path, dated by event time (the UTC timestamp of its first value): a batch replayed from an
  edge spool lands in the hour it was measured, not the hour it arrived.
* A valid ``heartbeat`` goes under ``health/area=_/line=<gateway>/``, dated by its own timestamp.
* Anything else (not JSON, not UTF-8, wrong schema, a gateway name unfit for a prefix) is still returned
  "Ok" but rewritten as a ``failed/`` record that carries every problem and the original bytes. Nothing is
  dropped silently, and one bad record never fails the batch (a "ProcessingFailed" result would send the
  raw bytes to Firehose's error prefix without the reason).

Duplicates pass through on purpose: IoT Core, Kinesis and Firehose all deliver at least once, so a
transform cannot know which copy is the last one. The conformed layer deduplicates on each value's ``id``.

Standard library and the envelope only, so the asset needs no dependencies. Packaged like the stream
alerts: ``transform_handler/`` and ``envelope/`` side by side, handler ``transform_handler.handler.handler``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from envelope.tag_envelope import KIND_TAGS, decode, encode, utc_timestamp

# The envelope restricts line paths to safe segments but lets a gateway be any string; a heartbeat's
# gateway becomes a prefix segment, so it must not carry "/", spaces or characters S3 keys mangle.
_PREFIX_SAFE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


def _partition(kind: str, area: str, line: str, ts: str) -> dict[str, str]:
    # Envelope timestamps are validated ISO 8601 UTC ("2026-01-31T08:00:00.000Z"): slicing is exact.
    return {"kind": kind, "area": area, "line": line, "date": ts[:10], "hour": ts[11:13]}


def _ok(record_id: str, payload: bytes, partition: dict[str, str]) -> dict[str, Any]:
    return {
        "recordId": record_id,
        "result": "Ok",
        "data": base64.b64encode(payload).decode("ascii"),
        "metadata": {"partitionKeys": partition},
    }


def _failed(record: dict[str, Any], problem: str) -> dict[str, Any]:
    # Firehose gives the arrival time in epoch milliseconds; the failed prefix is dated by it.
    received_at = utc_timestamp(record["approximateArrivalTimestamp"] / 1000)
    body = {
        "error": problem,
        "received_at": received_at,
        "record_id": record["recordId"],
        "data_base64": record["data"],
    }
    payload = json.dumps(body, separators=(",", ":")).encode() + b"\n"
    return _ok(record["recordId"], payload, _partition("failed", "_", "_", received_at))


def transform_record(record: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """One Firehose output record for one input record, and whether the input was valid."""
    try:
        message = decode(base64.b64decode(record["data"], validate=True))
    except binascii.Error as error:
        return _failed(record, f"not base64: {error}"), False
    except ValueError as error:  # decode() names every problem of the message
        return _failed(record, str(error)), False
    except RecursionError:  # json gives up on absurdly nested input instead of raising ValueError
        return _failed(record, "not JSON: nested too deeply"), False

    payload = encode(message) + b"\n"
    if message["kind"] == KIND_TAGS:
        _, _, area, line = message["line"].split("/")
        return _ok(record["recordId"], payload, _partition("tags", area, line, message["values"][0]["ts"])), True
    gateway = message["gateway"]
    if not _PREFIX_SAFE.match(gateway):
        problem = f"gateway: {gateway!r} cannot name an S3 prefix; fix: use a thing name of letters, digits, _ . -"
        return _failed(record, problem), False
    return _ok(record["recordId"], payload, _partition("health", "_", gateway, message["ts"])), True


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Firehose transformation entry point: every input record comes back, in order, as "Ok"."""
    output = []
    failed = 0
    for record in event["records"]:
        transformed, valid = transform_record(record)
        output.append(transformed)
        if not valid:
            failed += 1
    print(
        json.dumps(
            {
                "message": "transform",
                "invocation_id": event.get("invocationId"),
                "records": len(output),
                "ok": len(output) - failed,
                "failed": failed,
            }
        )
    )
    return {"records": output}
