"""The latest-value table: one item per tag path, written by the stream consumer, read by the API.

Item attributes (partition key ``path``; GSI ``by_line`` on ``line_path`` + ``path``):

======================  =====  ==============================================================
path                    S      enterprise/site/area/line/cell/tag
area, line, cell, tag   S      the path's segments (``line`` is the line segment)
line_path               S      ``area/line``: the GSI's partition, the API's ``area~line``
gateway                 S      the gateway that sent the value
ts                      S      the value's envelope timestamp, as sent (the source time)
ts_us                   N      the same as epoch microseconds: what "newer" compares first
seq                     N      the gateway's sequence number: what "newer" compares second
id                      S      the value's idempotency key (``gateway:seq``)
kind                    S      number | boolean | string, and exactly one of
value_number / value_bool / value_string (N / BOOL / S)
unit, quality           S      as sent (the conformed zone converts units; this table does not)
arrival_ts              S      when the site's stream received the record (ISO, ms)
======================  =====  ==============================================================

Low-level attribute values, not boto3's resource layer: the consumer writes many items per batch and
the API reads a few, and both know every attribute's type.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from envelope.tag_envelope import parse_timestamp

LINE_INDEX = "by_line"
# What the catalog and the values routes read; the consumer's bookkeeping (ts_us, id) stays out. Every
# name goes through an expression attribute name: DynamoDB reserves hundreds of words (PATH among them).
_READ = (
    "path", "area", "line", "cell", "tag", "line_path", "gateway", "ts", "seq", "kind",
    "value_number", "value_bool", "value_string", "unit", "quality", "arrival_ts",
)  # fmt: skip
PROJECTION = ", ".join(f"#a{index}" for index in range(len(_READ)))
PROJECTION_NAMES = {f"#a{index}": name for index, name in enumerate(_READ)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(ts: str) -> int:
    """Microseconds since the epoch of an envelope timestamp: exact, unlike a float of seconds."""
    return (parse_timestamp(ts) - _EPOCH) // timedelta(microseconds=1)


def _number_text(value: int | float) -> str:
    return str(value) if isinstance(value, int) else repr(value)


def item(value: dict[str, Any], *, gateway: str, arrival_ts: str) -> dict[str, dict[str, Any]]:
    """The item of one envelope tag value (already validated by ``decode``)."""
    _, _, area, line, cell, tag = value["path"].split("/")
    raw = value["value"]
    typed: dict[str, dict[str, Any]]
    if isinstance(raw, bool):
        kind, typed = "boolean", {"value_bool": {"BOOL": raw}}
    elif isinstance(raw, (int, float)):
        kind, typed = "number", {"value_number": {"N": _number_text(raw)}}
    else:
        kind, typed = "string", {"value_string": {"S": raw}}
    return {
        "path": {"S": value["path"]},
        "area": {"S": area},
        "line": {"S": line},
        "cell": {"S": cell},
        "tag": {"S": tag},
        "line_path": {"S": f"{area}/{line}"},
        "gateway": {"S": gateway},
        "ts": {"S": value["ts"]},
        "ts_us": {"N": str(epoch_us(value["ts"]))},
        "seq": {"N": str(value["seq"])},
        "id": {"S": value["id"]},
        "kind": {"S": kind},
        **typed,
        "unit": {"S": value["unit"]},
        "quality": {"S": value["quality"]},
        "arrival_ts": {"S": arrival_ts},
    }


def _number(text: str) -> int | float:
    return int(text) if text.lstrip("-").isdigit() else float(text)


def scalar(found: dict[str, dict[str, Any]]) -> int | float | bool | str:
    """The tag value an item holds, in its JSON type."""
    if "value_bool" in found:
        return bool(found["value_bool"]["BOOL"])
    if "value_number" in found:
        return _number(found["value_number"]["N"])
    return str(found["value_string"]["S"])


def _iso(ts: str) -> str:
    # Envelope timestamps are valid RFC 3339 UTC already; re-parse only to refuse a corrupted item loudly.
    parse_timestamp(ts)
    return ts


def latest_value(found: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ``LatestValue`` of an item."""
    return {
        "path": found["path"]["S"],
        "value": scalar(found),
        "kind": found["kind"]["S"],
        "unit": found["unit"]["S"],
        "quality": found["quality"]["S"],
        "sourceTs": _iso(found["ts"]["S"]),
        "arrivalTs": _iso(found["arrival_ts"]["S"]),
        "seq": int(found["seq"]["N"]),
        "gateway": found["gateway"]["S"],
    }


def tag(found: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The catalog ``Tag`` of an item."""
    return {
        "path": found["path"]["S"],
        "area": found["area"]["S"],
        "line": found["line"]["S"],
        "cell": found["cell"]["S"],
        "tag": found["tag"]["S"],
        "unit": found["unit"]["S"],
        "kind": found["kind"]["S"],
        "gateway": found["gateway"]["S"],
        "lastSeen": _iso(found["ts"]["S"]),
    }
