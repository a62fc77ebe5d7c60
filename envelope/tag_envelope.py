"""Tag envelope v1: what a gateway sends, and how every consumer checks it.

Standard library only: this module ships inside Greengrass artifacts, Lambda
assets and Glue jobs. Two message kinds travel on the wire as JSON objects:

* ``tags``: a batch of tag values of ONE ISA-95 line (the line is the Kinesis
  partition key, so order holds per line). ``batch_seq`` counts the batches of
  one (gateway, line) from 0 without gaps: a gap is lost data, a repeat is a
  retransmission.
* ``heartbeat``: a gateway's health figures, read by the stream alerts.

A tag value is a number, a boolean or a string; a number is finite (JSON has
no NaN or infinity: a gateway sends quality ``bad`` with the last value
instead). Every tag value carries the gateway's monotonic sequence number and an
idempotency key, because MQTT, stream manager and Firehose all deliver at
least once: consumers deduplicate on ``id``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

SCHEMA_VERSION = 1
KIND_TAGS = "tags"
KIND_HEARTBEAT = "heartbeat"
QUALITIES = ("good", "uncertain", "bad")

# IoT Core refuses messages above 128 KB; a batch stays well under it.
MAX_MESSAGE_BYTES = 128 * 1024
# NaN, Infinity and -Infinity are not JSON numbers, though Python's json module reads and writes them;
# strict readers refuse them (the conform job reads with allowNonNumericNumbers=false). One message for all.
_NOT_FINITE = "not a finite number (NaN or infinity); send quality 'bad' with the last value"
_INF = math.inf

# enterprise/site/area/line for a line; enterprise/site/area/line/cell/tag for a tag.
_SEGMENT = r"[A-Za-z0-9_.\-]+"
LINE_PATH_RE = re.compile(rf"^{_SEGMENT}(/{_SEGMENT}){{3}}$")
TAG_PATH_RE = re.compile(rf"^{_SEGMENT}(/{_SEGMENT}){{5}}$")
_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


def topic(site: str, gateway: str, channel: str) -> str:
    """The MQTT topic of one gateway's channel: ``dmc/<site>/<gateway>/<channel>``.

    Channels: ``telemetry``, ``health``, ``commands``, ``commands/audit``.
    """
    return f"dmc/{site}/{gateway}/{channel}"


def idempotency_key(gateway: str, seq: int) -> str:
    """Unique per value for ever: the gateway's sequence number survives restarts."""
    return f"{gateway}:{seq}"


def line_of(tag_path: str) -> str:
    """The ISA-95 line path (enterprise/site/area/line) that a tag path belongs to."""
    return tag_path.rsplit("/", 2)[0]


def utc_timestamp(epoch_s: float) -> str:
    """Envelope timestamp: ISO 8601, UTC, millisecond precision, ``Z`` suffix."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """The aware UTC datetime of an envelope timestamp (raises ValueError if malformed)."""
    if not isinstance(text, str) or not _TS_RE.match(text):
        raise ValueError(f"timestamp {text!r} is not ISO 8601 UTC like 2026-01-31T08:00:00.000Z")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def tag_value(
    *, path: str, value: float | int | bool | str, unit: str, quality: str, ts: str, seq: int, gateway: str
) -> dict[str, Any]:
    """One tag value as it sits in a batch's ``values`` list."""
    return {
        "path": path,
        "value": value,
        "unit": unit,
        "quality": quality,
        "ts": ts,
        "seq": seq,
        "id": idempotency_key(gateway, seq),
    }


def tag_batch(*, site: str, gateway: str, line: str, batch_seq: int, values: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``tags`` message: values of one line from one gateway."""
    return {
        "v": SCHEMA_VERSION,
        "kind": KIND_TAGS,
        "site": site,
        "gateway": gateway,
        "line": line,
        "batch_seq": batch_seq,
        "values": values,
    }


def heartbeat(
    *,
    site: str,
    gateway: str,
    ts: str,
    seq: int,
    interval_s: int,
    clients: int,
    max_clients: int,
    sent: int,
    received: int,
    retransmissions: int,
    lost: int,
    spool_depth: int,
    dropped_overflow: int,
) -> dict[str, Any]:
    """A ``heartbeat`` message. Counters are cumulative since the gateway's first start."""
    return {
        "v": SCHEMA_VERSION,
        "kind": KIND_HEARTBEAT,
        "site": site,
        "gateway": gateway,
        "ts": ts,
        "seq": seq,
        "interval_s": interval_s,
        "clients": clients,
        "max_clients": max_clients,
        "sent": sent,
        "received": received,
        "retransmissions": retransmissions,
        "lost": lost,
        "spool_depth": spool_depth,
        "dropped_overflow": dropped_overflow,
    }


def encode(message: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the wire form."""
    return json.dumps(message, separators=(",", ":")).encode()


_VALUE_FIELDS = frozenset(("path", "value", "unit", "quality", "ts", "seq", "id"))


@lru_cache(maxsize=65536)
def _path_ok(path: str, site: str, line: str) -> bool:
    # A gateway sends the same few thousand paths again and again: check each once.
    return bool(TAG_PATH_RE.match(path)) and line_of(path) == line and path.split("/")[1] == site


def _value_ok(item: Any, site: str, line: str) -> bool:
    """True for a well-formed value, cheaply: the common case skips building any message."""
    if type(item) is not dict or item.keys() != _VALUE_FIELDS:
        return False
    path, value, seq, ts = item["path"], item["value"], item["seq"], item["ts"]
    return (
        type(path) is str
        and _path_ok(path, site, line)
        and type(value) in (int, float, bool, str)
        and (type(value) is not float or -_INF < value < _INF)  # False for NaN and both infinities
        and type(item["unit"]) is str
        and item["quality"] in QUALITIES
        and type(seq) is int
        and seq >= 0
        and type(item["id"]) is str
        and bool(item["id"])
        and type(ts) is str
        and _TS_RE.match(ts) is not None
        and _valid_date(ts)
    )


def _valid_date(ts: str) -> bool:
    try:
        datetime.fromisoformat(ts[:-1])
    except ValueError:
        return False
    return True


def _check_value(index: int, item: Any, site: str, line: str) -> list[str]:
    where = f"values[{index}]"
    if not isinstance(item, dict):
        return [f"{where}: expected an object, got {type(item).__name__}"]
    errors = []
    missing = [key for key in ("path", "value", "unit", "quality", "ts", "seq", "id") if key not in item]
    if missing:
        errors.append(f"{where}: missing {', '.join(missing)}")
    extra = sorted(set(item) - {"path", "value", "unit", "quality", "ts", "seq", "id"})
    if extra:
        errors.append(f"{where}: unknown field(s) {', '.join(extra)}")
    path = item.get("path")
    if "path" in item and (not isinstance(path, str) or not TAG_PATH_RE.match(path)):
        errors.append(f"{where}.path: {path!r} is not enterprise/site/area/line/cell/tag")
    elif isinstance(path, str) and line and line_of(path) != line:
        errors.append(f"{where}.path: {path!r} is not on the batch's line {line!r}")
    elif isinstance(path, str) and path.split("/")[1] != site:
        errors.append(f"{where}.path: {path!r} is not under site {site!r}")
    value = item.get("value")
    if "value" in item and (value is None or not isinstance(value, (int, float, bool, str))):
        errors.append(f"{where}.value: {value!r} is not a number, boolean or string")
    if isinstance(value, float) and not math.isfinite(value):
        errors.append(f"{where}.value: {_NOT_FINITE}")
    if "unit" in item and not isinstance(item["unit"], str):
        errors.append(f"{where}.unit: {item['unit']!r} is not a string")
    if "quality" in item and item["quality"] not in QUALITIES:
        errors.append(f"{where}.quality: {item['quality']!r} is not one of {', '.join(QUALITIES)}")
    if "ts" in item:
        try:
            parse_timestamp(item["ts"])
        except ValueError as error:
            errors.append(f"{where}.ts: {error}")
    seq = item.get("seq")
    if "seq" in item and (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0):
        errors.append(f"{where}.seq: {seq!r} is not a non-negative integer")
    if "id" in item and (not isinstance(item["id"], str) or not item["id"]):
        errors.append(f"{where}.id: {item['id']!r} is not a non-empty string")
    return errors


_HEARTBEAT_COUNTERS = (
    "seq",
    "interval_s",
    "clients",
    "max_clients",
    "sent",
    "received",
    "retransmissions",
    "lost",
    "spool_depth",
    "dropped_overflow",
)


def validate(message: Any) -> list[str]:
    """Every problem of one decoded message, as readable strings; empty when valid."""
    if not isinstance(message, dict):
        return [f"message: expected a JSON object, got {type(message).__name__}"]
    if message.get("v") != SCHEMA_VERSION:
        return [f"v: {message.get('v')!r} is not the supported schema version {SCHEMA_VERSION}"]
    errors = []
    for key in ("site", "gateway"):
        if not isinstance(message.get(key), str) or not message.get(key):
            errors.append(f"{key}: {message.get(key)!r} is not a non-empty string")
    kind = message.get("kind")
    if kind == KIND_TAGS:
        line = message.get("line")
        if not isinstance(line, str) or not LINE_PATH_RE.match(line):
            errors.append(f"line: {line!r} is not enterprise/site/area/line")
            line = ""
        batch_seq = message.get("batch_seq")
        if not isinstance(batch_seq, int) or isinstance(batch_seq, bool) or batch_seq < 0:
            errors.append(f"batch_seq: {batch_seq!r} is not a non-negative integer")
        values = message.get("values")
        if not isinstance(values, list) or not values:
            errors.append("values: expected a non-empty list of tag values")
        else:
            site = message["site"] if isinstance(message.get("site"), str) else ""
            for index, item in enumerate(values):
                if not _value_ok(item, site, line):
                    errors.extend(_check_value(index, item, site, line))
    elif kind == KIND_HEARTBEAT:
        try:
            parse_timestamp(message.get("ts"))  # type: ignore[arg-type]
        except ValueError as error:
            errors.append(f"ts: {error}")
        for key in _HEARTBEAT_COUNTERS:
            count = message.get(key)
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                errors.append(f"{key}: {count!r} is not a non-negative integer")
    else:
        errors.append(f"kind: {kind!r} is not one of {KIND_TAGS}, {KIND_HEARTBEAT}")
    return errors


def decode(payload: bytes | str) -> dict[str, Any]:
    """Parse and validate one wire message; raises ValueError naming every problem."""
    try:
        message = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"not JSON: {error}") from error
    errors = validate(message)
    if errors:
        raise ValueError("; ".join(errors))
    return message


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the envelope, exported for other tools."""
    segment = "[A-Za-z0-9_.\\-]+"
    counter = {"type": "integer", "minimum": 0}
    value = {
        "type": "object",
        "additionalProperties": False,
        "required": ["path", "value", "unit", "quality", "ts", "seq", "id"],
        "properties": {
            "path": {"type": "string", "pattern": f"^{segment}(/{segment}){{5}}$"},
            "value": {"type": ["number", "boolean", "string"]},
            "unit": {"type": "string"},
            "quality": {"enum": list(QUALITIES)},
            "ts": {"type": "string", "format": "date-time"},
            "seq": counter,
            "id": {"type": "string", "minLength": 1},
        },
    }
    common = {
        "v": {"const": SCHEMA_VERSION},
        "site": {"type": "string", "minLength": 1},
        "gateway": {"type": "string", "minLength": 1},
    }
    tags = {
        "type": "object",
        "required": ["v", "kind", "site", "gateway", "line", "batch_seq", "values"],
        "properties": {
            **common,
            "kind": {"const": KIND_TAGS},
            "line": {"type": "string", "pattern": f"^{segment}(/{segment}){{3}}$"},
            "batch_seq": counter,
            "values": {"type": "array", "minItems": 1, "items": value},
        },
    }
    beat = {
        "type": "object",
        "required": ["v", "kind", "site", "gateway", "ts", *_HEARTBEAT_COUNTERS],
        "properties": {
            **common,
            "kind": {"const": KIND_HEARTBEAT},
            "ts": {"type": "string", "format": "date-time"},
            **{key: counter for key in _HEARTBEAT_COUNTERS},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "dmc-tag-envelope-v1",
        "title": "Digital Manufacturing Cloud tag envelope v1",
        "oneOf": [tags, beat],
    }


if __name__ == "__main__":
    import sys
    from pathlib import Path

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("tag-envelope.schema.json")
    target.write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target}")
