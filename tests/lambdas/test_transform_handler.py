"""The Firehose transform: valid records partitioned by event time, invalid ones kept with their reason."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from lambda_events import GATEWAY, OTHER_LINE, T0, beat, firehose_event, firehose_record, tags

from envelope.tag_envelope import encode
from factory_constructs.ingestion.transform_handler.handler import handler


def transform(*records: dict[str, Any]) -> list[dict[str, Any]]:
    return handler(firehose_event(list(records)), None)["records"]


def body(result: dict[str, Any]) -> bytes:
    return base64.b64decode(result["data"])


def test_tags_batch_is_one_compact_json_line_partitioned_by_line_and_event_hour() -> None:
    # Arrives 08:00 UTC, measured from 05:59:59.998 to 06:00:00.000 (replayed from a spool): the hour of
    # the first value wins.
    message = tags(batch_seq=7, line=OTHER_LINE, ts=T0 - 2 * 3600 - 0.0015, count=3)
    assert [value["ts"] for value in message["values"]][::2] == ["2027-01-15T05:59:59.998Z", "2027-01-15T06:00:00.000Z"]
    spaced = json.dumps(message, indent=2).encode()  # the producer's whitespace is not kept

    (result,) = transform(firehose_record(spaced, record_id="1", arrival=T0))

    assert result["recordId"] == "1"
    assert result["result"] == "Ok"
    assert body(result) == encode(message) + b"\n"
    assert result["metadata"]["partitionKeys"] == {
        "kind": "tags",
        "area": "packing",
        "line": "line7",
        "date": "2027-01-15",
        "hour": "05",
    }


def test_heartbeat_goes_to_health_partition_of_its_gateway_dated_by_its_timestamp() -> None:
    message = beat(seq=3, ts=T0 - 8 * 3600 - 1)  # 2027-01-14T23:59:59Z

    (result,) = transform(firehose_record(message, record_id="1"))

    assert body(result) == encode(message) + b"\n"
    assert result["metadata"]["partitionKeys"] == {
        "kind": "health",
        "area": "_",
        "line": GATEWAY,
        "date": "2027-01-14",
        "hour": "23",
    }


def failed_body(result: dict[str, Any]) -> dict[str, Any]:
    assert result["result"] == "Ok"  # never dropped, never a failed batch
    assert result["metadata"]["partitionKeys"] == {
        "kind": "failed",
        "area": "_",
        "line": "_",
        "date": "2027-01-15",
        "hour": "08",
    }
    raw = body(result)
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    return json.loads(raw)


def test_schema_errors_are_all_kept_with_the_original_bytes_under_failed() -> None:
    message = tags(batch_seq=1)
    message["values"][0]["quality"] = "excellent"
    del message["values"][1]["unit"]
    original = encode(message)
    arrival = T0 + 12.345

    (result,) = transform(firehose_record(original, record_id="42", arrival=arrival))

    failure = failed_body(result)
    assert "values[0].quality: 'excellent' is not one of good, uncertain, bad" in failure["error"]
    assert "values[1]: missing unit" in failure["error"]
    assert failure["received_at"] == "2027-01-15T08:00:12.345Z"
    assert failure["record_id"] == "42"
    assert base64.b64decode(failure["data_base64"]) == original


@pytest.mark.parametrize(
    ("poison", "reason"),
    [
        (b"PLC says hello", "not JSON"),
        (b"\xff\xfe\x00garbage\x80", "not JSON"),  # not UTF-8
        (b"[" * 100_000, "not JSON"),  # nesting beyond the parser's recursion limit
        (b'{"v": 1, "kind": "tags", "values": []}', "site: None is not a non-empty string"),
        (b'"just a string"', "expected a JSON object"),
        (b"", "not JSON"),
    ],
)
def test_poison_records_never_raise_and_keep_their_reason(poison: bytes, reason: str) -> None:
    (result,) = transform(firehose_record(poison, record_id="9"))

    failure = failed_body(result)
    assert reason in failure["error"]
    assert base64.b64decode(failure["data_base64"]) == poison


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf], ids=["nan", "+inf", "-inf"])
def test_a_value_that_is_not_a_finite_number_fails_the_record_with_one_reason(number: float) -> None:
    # Python's json.dumps writes NaN, Infinity and -Infinity, which are not JSON: written under tags/ they
    # would break every reader of the raw zone.
    message = tags(batch_seq=1)
    message["values"][1]["value"] = number
    original = encode(message)

    (result,) = transform(firehose_record(original, record_id="5"))

    failure = failed_body(result)
    assert failure["error"] == (
        "values[1].value: not a finite number (NaN or infinity); send quality 'bad' with the last value"
    )
    assert base64.b64decode(failure["data_base64"]) == original


def test_data_that_is_not_base64_is_kept_as_received() -> None:
    record = {**firehose_record(b"", record_id="7"), "data": "%%% not base64 %%%"}

    failure = failed_body(transform(record)[0])

    assert failure["error"].startswith("not base64: ")
    assert failure["data_base64"] == "%%% not base64 %%%"


def test_heartbeat_gateway_that_cannot_name_a_prefix_is_failed_not_written_elsewhere() -> None:
    (result,) = transform(firehose_record(beat(seq=1, gateway="gw/../../etc"), record_id="1"))

    assert "gateway: 'gw/../../etc' cannot name an S3 prefix" in failed_body(result)["error"]


def test_duplicates_and_order_pass_through_one_output_per_input(capsys: pytest.CaptureFixture[str]) -> None:
    batch = tags(batch_seq=5)
    records = [
        firehose_record(batch, record_id="a"),
        firehose_record(b"not json", record_id="b"),
        firehose_record(batch, record_id="c"),  # a redelivery: the conformed layer deduplicates on id
        firehose_record(tags(batch_seq=4), record_id="d"),  # out of order: partitioned like any other
    ]

    results = transform(*records)

    assert [result["recordId"] for result in results] == ["a", "b", "c", "d"]
    assert body(results[0]) == body(results[2]) == encode(batch) + b"\n"
    assert [result["metadata"]["partitionKeys"]["kind"] for result in results] == ["tags", "failed", "tags", "tags"]
    log = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert log == {"message": "transform", "invocation_id": "c3a7e0b4-invocation", "records": 4, "ok": 3, "failed": 1}
