"""The latest-value consumer on Kinesis batches of real envelope messages, against moto's DynamoDB:
newest per path, never older over newer, idempotent on the value's key, partial-batch failures."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from api_world import GATEWAY, LATEST_TABLE, LINE_PATH, SITE, ApiAws, environment
from botocore.exceptions import ClientError

from envelope.tag_envelope import heartbeat, tag_batch, tag_value
from factory_constructs.api.api_handler import entry
from factory_constructs.api.api_handler.latest_consumer import consume

TEMP = f"{LINE_PATH}/cell1/temp"


def values(*items: tuple[str, Any, str, int], gateway: str = GATEWAY) -> dict[str, Any]:
    """A tags batch of (cell/tag, value, ts, seq)."""
    return tag_batch(
        site=SITE,
        gateway=gateway,
        line=LINE_PATH,
        batch_seq=0,
        values=[
            tag_value(
                path=f"{LINE_PATH}/{tag}", value=value, unit="degC", quality="good", ts=ts, seq=seq, gateway=gateway
            )
            for tag, value, ts, seq in items
        ],
    )


def stored(aws: ApiAws, path: str = TEMP) -> dict[str, Any] | None:
    item: dict[str, Any] | None = aws.dynamodb.get_item(TableName=LATEST_TABLE, Key={"path": {"S": path}}).get("Item")
    return item


def run(aws: ApiAws, *messages: dict[str, Any]) -> Any:
    return consume([aws.record(message) for message in messages], dynamodb=aws.dynamodb, table=LATEST_TABLE)


def test_the_newest_value_of_each_path_in_a_batch_is_written_once(aws: ApiAws) -> None:
    outcome = run(
        aws,
        values(
            ("cell1/temp", 20.0, "2026-01-05T08:00:00.000Z", 1), ("cell1/temp", 22.0, "2026-01-05T08:00:02.000Z", 3)
        ),
        values(("cell1/temp", 21.0, "2026-01-05T08:00:01.000Z", 2), ("cell1/run", True, "2026-01-05T08:00:00Z", 4)),
    )
    assert (outcome.records, outcome.values, outcome.written, outcome.stale, outcome.failures) == (2, 4, 2, 0, [])
    item = stored(aws)
    assert item is not None
    assert (item["value_number"]["N"], item["seq"]["N"], item["ts"]["S"], item["kind"]["S"]) == (
        "22.0",
        "3",
        "2026-01-05T08:00:02.000Z",
        "number",
    )
    assert (item["line_path"]["S"], item["area"]["S"], item["line"]["S"]) == ("press/line1", "press", "line1")
    flag = stored(aws, f"{LINE_PATH}/cell1/run")
    assert flag is not None and flag["value_bool"] == {"BOOL": True} and "value_number" not in flag


def test_an_older_value_never_replaces_a_newer_one(aws: ApiAws) -> None:
    run(aws, values(("cell1/temp", 22.0, "2026-01-05T08:00:02.000Z", 3)))
    outcome = run(aws, values(("cell1/temp", 19.0, "2026-01-05T08:00:01.999Z", 900)))
    assert (outcome.written, outcome.stale) == (0, 1)
    assert stored(aws)["value_number"]["N"] == "22.0"  # type: ignore[index]


def test_timestamps_compare_as_instants_not_as_text(aws: ApiAws) -> None:
    # "…:02Z" sorts after "…:02.500Z" as text, but is the earlier instant
    run(aws, values(("cell1/temp", 1.0, "2026-01-05T08:00:02.500Z", 5)))
    assert run(aws, values(("cell1/temp", 2.0, "2026-01-05T08:00:02Z", 6))).stale == 1
    assert stored(aws)["value_number"]["N"] == "1.0"  # type: ignore[index]


def test_at_the_same_instant_the_larger_sequence_number_wins(aws: ApiAws) -> None:
    run(aws, values(("cell1/temp", 1.0, "2026-01-05T08:00:00.000Z", 5)))
    assert run(aws, values(("cell1/temp", 2.0, "2026-01-05T08:00:00.000Z", 6))).written == 1
    assert run(aws, values(("cell1/temp", 3.0, "2026-01-05T08:00:00.000Z", 4))).stale == 1
    assert stored(aws)["value_number"]["N"] == "2.0"  # type: ignore[index]


def test_a_redelivered_value_changes_nothing(aws: ApiAws) -> None:
    batch = values(("cell1/temp", 7, "2026-01-05T08:00:00.000Z", 5))
    run(aws, batch)
    before = stored(aws)
    assert run(aws, batch).stale == 1
    assert stored(aws) == before and before is not None and before["value_number"]["N"] == "7"


def test_a_value_changing_type_leaves_no_stale_typed_attribute(aws: ApiAws) -> None:
    run(aws, values(("cell1/temp", 7, "2026-01-05T08:00:00.000Z", 5)))
    run(aws, values(("cell1/temp", "fault", "2026-01-05T08:00:01.000Z", 6)))
    item = stored(aws)
    assert item is not None and item["value_string"] == {"S": "fault"} and "value_number" not in item


def test_heartbeats_and_malformed_records_are_skipped_not_retried(aws: ApiAws) -> None:
    beat = heartbeat(
        site=SITE, gateway=GATEWAY, ts="2026-01-05T08:00:00.000Z", seq=1, interval_s=30, clients=1, max_clients=5,
        sent=1, received=1, retransmissions=0, lost=0, spool_depth=0, dropped_overflow=0,
    )  # fmt: skip
    broken = aws.record(values(("cell1/temp", 1.0, "2026-01-05T08:00:00.000Z", 1)))
    broken["kinesis"]["data"] = base64.b64encode(b'{"v": 1, "kind": "tags"}').decode()
    not_base64 = aws.record(values(("cell1/temp", 1.0, "2026-01-05T08:00:00.000Z", 1)))
    not_base64["kinesis"]["data"] = "%%%"
    outcome = consume([aws.record(beat), broken, not_base64], dynamodb=aws.dynamodb, table=LATEST_TABLE)
    assert (outcome.skipped, outcome.written, outcome.failures) == (3, 0, [])


class Refusing:
    """DynamoDB that throttles writes of some paths and passes the rest to moto."""

    def __init__(self, real: Any, refused: set[str]) -> None:
        self._real = real
        self._refused = refused
        self.exceptions = real.exceptions

    def put_item(self, **arguments: Any) -> Any:
        if arguments["Item"]["path"]["S"] in self._refused:
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
            raise ClientError(error, "PutItem")  # type: ignore[arg-type]
        return self._real.put_item(**arguments)


def test_a_refused_write_reports_the_record_that_carried_the_value(aws: ApiAws) -> None:
    first = aws.record(
        values(("cell1/temp", 1.0, "2026-01-05T08:00:00.000Z", 1), ("cell1/a", 1.0, "2026-01-05T08:00:00.000Z", 2))
    )
    second = aws.record(values(("cell1/b", 1.0, "2026-01-05T08:00:00.000Z", 3)))
    third = aws.record(values(("cell1/temp", 2.0, "2026-01-05T08:00:05.000Z", 4)))
    refusing = Refusing(aws.dynamodb, {TEMP, f"{LINE_PATH}/cell1/b"})
    outcome = consume([first, second, third], dynamodb=refusing, table=LATEST_TABLE)
    # temp's newest value came with the third record, b's with the second: Lambda retries from the second
    assert outcome.failures == [second["kinesis"]["sequenceNumber"], third["kinesis"]["sequenceNumber"]]
    assert outcome.reasons == {"ProvisionedThroughputExceededException": 2}
    assert stored(aws, f"{LINE_PATH}/cell1/a") is not None and stored(aws) is None


def test_the_entry_point_answers_batch_item_failures(
    aws: ApiAws, fresh_entry: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in environment().items():
        monkeypatch.setenv(name, value)
    event = {"Records": [aws.record(values(("cell1/temp", 3.5, "2026-01-05T08:00:00.000Z", 1)))]}
    context = type("Context", (), {"aws_request_id": "req-1"})()
    assert entry.latest_consumer(event, context) == {"batchItemFailures": []}
    assert stored(aws)["value_number"]["N"] == "3.5"  # type: ignore[index]
    assert '"message":"latest-consumer","request_id":"req-1"' in capsys.readouterr().out


def test_the_entry_point_refuses_to_run_without_its_table(fresh_entry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITE_ID", SITE)
    monkeypatch.delenv("LATEST_TABLE", raising=False)
    with pytest.raises(ValueError, match="latest_consumer function misconfigured: LATEST_TABLE is not set"):
        entry.latest_consumer({"Records": []}, None)
