"""The envelope's contract: what it accepts, each problem it names, and its exported schema."""

import json
import math
from pathlib import Path

import pytest

from envelope.tag_envelope import (
    decode,
    encode,
    heartbeat,
    json_schema,
    tag_batch,
    tag_value,
    topic,
    utc_timestamp,
    validate,
)

LINE = "acme/plantA/filling/line1"


def value(**changes: object) -> dict:
    item = tag_value(
        path=f"{LINE}/filler/temperature",
        value=21.5,
        unit="degC",
        quality="good",
        ts="2026-11-21T08:00:00.000Z",
        seq=7,
        gateway="gw-01",
    )
    item.update(changes)
    return item


def batch(*values: dict) -> dict:
    return tag_batch(site="plantA", gateway="gw-01", line=LINE, batch_seq=3, values=list(values) or [value()])


def test_a_well_formed_batch_and_heartbeat_pass_and_round_trip() -> None:
    assert validate(batch()) == []
    assert decode(encode(batch())) == batch()
    beat = heartbeat(
        site="plantA",
        gateway="gw-01",
        ts=utc_timestamp(0),
        seq=1,
        interval_s=60,
        clients=1,
        max_clients=8,
        sent=5,
        received=9,
        retransmissions=0,
        lost=0,
        spool_depth=0,
        dropped_overflow=0,
    )
    assert validate(beat) == []
    assert beat["ts"] == "1970-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"path": "acme/plantA/filling/line2/filler/t"},
            "values[0].path: 'acme/plantA/filling/line2/filler/t' is not on the batch's line "
            "'acme/plantA/filling/line1'",
        ),
        (
            {"path": "acme/plantA/filling"},
            "values[0].path: 'acme/plantA/filling' is not enterprise/site/area/line/cell/tag",
        ),
        ({"value": None}, "values[0].value: None is not a number, boolean or string"),
        ({"value": [1]}, "values[0].value: [1] is not a number, boolean or string"),
        ({"quality": "ok"}, "values[0].quality: 'ok' is not one of good, uncertain, bad"),
        ({"ts": "2026-13-01T08:00:00.000Z"}, "values[0].ts: "),
        ({"ts": "2026-11-21 08:00:00"}, "values[0].ts: timestamp '2026-11-21 08:00:00' is not ISO 8601 UTC"),
        ({"seq": True}, "values[0].seq: True is not a non-negative integer"),
        ({"seq": -1}, "values[0].seq: -1 is not a non-negative integer"),
        ({"id": ""}, "values[0].id: '' is not a non-empty string"),
        ({"unit": 5}, "values[0].unit: 5 is not a string"),
        ({"extra": 1}, "values[0]: unknown field(s) extra"),
    ],
)
def test_each_bad_value_is_named(changes: dict, problem: str) -> None:
    (error,) = validate(batch(value(**changes)))
    assert error.startswith(problem)


NOT_FINITE = "values[0].value: not a finite number (NaN or infinity); send quality 'bad' with the last value"


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf], ids=["nan", "+inf", "-inf"])
def test_a_value_that_is_not_a_finite_number_is_refused_with_one_message(number: float) -> None:
    assert validate(batch(value(value=number))) == [NOT_FINITE]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_on_the_wire_is_refused(literal: str) -> None:
    # Python's json writes these non-JSON literals for float("nan") and the infinities, and reads them back.
    wire = encode(batch()).replace(b'"value":21.5', b'"value":' + literal.encode())
    assert literal.encode() in wire
    with pytest.raises(ValueError) as caught:
        decode(wire)
    assert str(caught.value) == NOT_FINITE


def test_finite_numbers_of_every_kind_pass() -> None:
    extremes = [
        value(value=number, seq=index) for index, number in enumerate((1.7976931348623157e308, -0.0, 10**30, 0))
    ]
    assert validate(batch(*extremes)) == []


def test_a_missing_field_is_named() -> None:
    item = value()
    del item["ts"]
    assert validate(batch(item)) == ["values[0]: missing ts"]


def test_only_the_bad_values_of_a_batch_are_reported() -> None:
    errors = validate(batch(value(), value(quality="ok"), value(), value(seq="9")))
    assert [error.split(":")[0] for error in errors] == ["values[1].quality", "values[3].seq"]


def test_message_level_problems() -> None:
    assert validate([]) == ["message: expected a JSON object, got list"]
    assert validate({**batch(), "v": 2}) == ["v: 2 is not the supported schema version 1"]
    assert validate({**batch(), "kind": "x"}) == ["kind: 'x' is not one of tags, heartbeat"]
    assert validate({**batch(), "values": []}) == ["values: expected a non-empty list of tag values"]
    assert validate({**batch(), "batch_seq": -1}) == ["batch_seq: -1 is not a non-negative integer"]
    with pytest.raises(ValueError, match="not JSON"):
        decode(b"\xff{")


def test_topics_are_scoped_to_site_and_gateway() -> None:
    assert topic("plantA", "gw-01", "commands/audit") == "dmc/plantA/gw-01/commands/audit"


def test_exported_schema_file_is_current() -> None:
    exported = Path(__file__).resolve().parents[2] / "envelope" / "tag-envelope.schema.json"
    assert json.loads(exported.read_text()) == json_schema(), "run `python -m envelope.tag_envelope`"
